/**
 * Checking one SignerInfo against content and a certificate. The outcome is data: a bad
 * signature is `ok: false` with problem codes, never an exception. Chain building, trust and
 * revocation are not done here (that is the layer above).
 */
import type { Certificate } from '../certs/certificate.js';
import { MailPkiError } from '../errors.js';
import { copyBytes, equalBytes } from '../internal/bytes.js';
import { resolveCrypto } from '../internal/crypto.js';
import { verifyBytes, type DigestAlgorithm, type WeakDigestAlgorithm } from '../keys/algorithms.js';
import type { PublicKeyBudget } from '../keys/budget.js';
import type { CmsDigestAlgorithm, EssCertId } from './attributes.js';
import { CMS_OID } from './oids.js';
import { preferSyncSha256, sha256 } from '../internal/sha.js';
import type { CmsSignatureAlgorithm, SignerIdentifier, SignerInfo } from './signed-data.js';

/** Stable codes of what can be wrong with one signature; see docs/cms.md. */
export type CmsProblemCode =
  | 'CMS_DIGEST_MISMATCH'
  | 'CMS_SIGNATURE_INVALID'
  | 'CMS_CONTENT_TYPE_MISMATCH'
  | 'CMS_SIGNED_ATTRIBUTES_MISSING_REQUIRED'
  | 'CMS_ALGORITHM_UNSUPPORTED'
  | 'CMS_WEAK_ALGORITHM'
  | 'CMS_SIGNING_CERTIFICATE_MISMATCH'
  | 'CMS_WORK_LIMIT_EXCEEDED';

export interface CmsProblem {
  code: CmsProblemCode;
  message: string;
}

export interface SignerVerification {
  /** True when no problem other than CMS_WEAK_ALGORITHM was found. */
  ok: boolean;
  problems: CmsProblem[];
  digestAlgorithm: CmsDigestAlgorithm;
  signatureAlgorithm: CmsSignatureAlgorithm;
  signingTime?: Date;
  /** MD5 or SHA-1 in the digest or signature: the caller decides whether to refuse. */
  weak: boolean;
}

export interface VerifySignerOptions {
  /** The signed content: the detached part, or the SignedData's eContent. */
  content: Uint8Array;
  /** SignedData's eContentType. Default id-data. */
  eContentType?: string;
  /** The certificate to check against (see `findSignerCertificate`). */
  certificate: Certificate;
  crypto?: Crypto;
  /**
   * Digests of `content` by algorithm, shared between the SignerInfos of one message so each
   * algorithm runs once. One map per content: never reuse it for other content.
   */
  digestCache?: Map<string, Promise<Uint8Array>>;
  /**
   * Public-key operations the signature check may draw on, shared with the rest of a
   * verification. When it is spent the signature is not checked: CMS_WORK_LIMIT_EXCEEDED.
   */
  budget?: PublicKeyBudget;
}

const SINGLE_VALUED = [
  [CMS_OID.contentType, 'contentType', true],
  [CMS_OID.messageDigest, 'messageDigest', true],
  [CMS_OID.signingTime, 'signingTime', false],
  [CMS_OID.signingCertificateV2, 'signingCertificateV2', false],
  [CMS_OID.signingCertificate, 'signingCertificate', false],
] as const;

function isWeak(h: DigestAlgorithm | WeakDigestAlgorithm): boolean {
  return h === 'SHA-1' || h === 'MD5';
}

function asBuffer(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return b.buffer instanceof ArrayBuffer ? (b as Uint8Array<ArrayBuffer>) : copyBytes(b);
}

function digest(crypto: Crypto, hash: 'SHA-1' | DigestAlgorithm, content: Uint8Array, cache?: Map<string, Promise<Uint8Array>>): Promise<Uint8Array> {
  const hit = cache?.get(hash);
  if (hit) return hit;
  // Hashed synchronously where that is faster than a WebCrypto round trip (see preferSyncSha256).
  const p =
    hash === 'SHA-256' && preferSyncSha256(content.length)
      ? Promise.resolve(sha256(content))
      : crypto.subtle.digest(hash, asBuffer(content)).then((d) => new Uint8Array(d));
  cache?.set(hash, p);
  return p;
}

const certHashCache = new WeakMap<Certificate, Map<string, Promise<Uint8Array>>>();

function certHash(crypto: Crypto, cert: Certificate, hash: 'SHA-1' | DigestAlgorithm): Promise<Uint8Array> {
  let m = certHashCache.get(cert);
  if (!m) certHashCache.set(cert, (m = new Map()));
  return digest(crypto, hash, cert.der, m);
}

/**
 * Verifies one SignerInfo: signed attributes, content digest, signature, ESS signing
 * certificate. Throws only for caller mistakes; a bad or unverifiable signature is reported.
 *
 * @example
 * const sd = parseSignedData(der);
 * for (const si of sd.signerInfos) {
 *   const cert = findSignerCertificate(si.sid, certs);
 *   if (cert) results.push(await verifySignerInfo(si, { content, eContentType: sd.eContentType, certificate: cert }));
 * }
 */
export async function verifySignerInfo(signerInfo: SignerInfo, options: VerifySignerOptions): Promise<SignerVerification> {
  if (!(options?.content instanceof Uint8Array)) throw new MailPkiError('ERR_INVALID_INPUT', 'verifySignerInfo: content must be a Uint8Array');
  if (!options.certificate?.publicKey) throw new MailPkiError('ERR_INVALID_INPUT', 'verifySignerInfo: certificate must be a parsed Certificate');
  const crypto = resolveCrypto(options.crypto);
  const eContentType = options.eContentType ?? CMS_OID.data;
  const { content, certificate, digestCache } = options;
  const problems: CmsProblem[] = [];
  const add = (code: CmsProblemCode, message: string) => problems.push({ code, message });
  const weakNames: string[] = [];

  const d = signerInfo.digestAlgorithm;
  const sa = signerInfo.signatureAlgorithm;
  let digestAlg: 'SHA-1' | DigestAlgorithm | undefined;
  if (typeof d !== 'string') add('CMS_ALGORITHM_UNSUPPORTED', `unsupported digest algorithm ${d.unsupported}`);
  else {
    if (isWeak(d)) weakNames.push(`digest ${d}`);
    if (d === 'MD5') add('CMS_ALGORITHM_UNSUPPORTED', 'MD5 digests are not computed (broken)');
    else digestAlg = d;
  }
  let canVerify = false;
  if ('unsupported' in sa) add('CMS_ALGORITHM_UNSUPPORTED', `unsupported signature algorithm ${sa.unsupported}`);
  else {
    if (isWeak(sa.hash)) weakNames.push(`signature ${sa.scheme} with ${sa.hash}`);
    const kind = certificate.publicKey.kind;
    const fits = kind === 'rsa' ? sa.scheme === 'rsa-pkcs1' || sa.scheme === 'rsa-pss' : kind === 'ec' ? sa.scheme === 'ecdsa' : sa.scheme === 'ed25519';
    if (sa.hash === 'MD5') add('CMS_ALGORITHM_UNSUPPORTED', 'MD5 signatures are not verified (broken)');
    else if (!fits) add('CMS_SIGNATURE_INVALID', `the certificate holds a ${kind} key; the signature is ${sa.scheme}`);
    else canVerify = true;
  }
  if (weakNames.length) add('CMS_WEAK_ALGORITHM', `weak algorithm: ${weakNames.join(', ')}`);

  const attrs = signerInfo.signedAttrs;
  const checks: Promise<void>[] = [];
  const checkSignature = (signed: Uint8Array) => {
    if (!canVerify || 'unsupported' in sa) return;
    if (options.budget && !options.budget.take(certificate.publicKey)) {
      add('CMS_WORK_LIMIT_EXCEEDED', `the signature was not checked: the budget of ${options.budget.limit} public-key operations is spent`);
      return;
    }
    checks.push(
      verifyBytes(crypto, certificate.publicKey, sa, signed, signerInfo.signature).then(
        (valid) => {
          if (!valid) add('CMS_SIGNATURE_INVALID', 'the signature does not verify with the certificate key');
        },
        (e: unknown) => {
          if (e instanceof MailPkiError && (e.code === 'ERR_ALGORITHM_UNSUPPORTED' || e.code === 'ERR_KEY_UNSUPPORTED'))
            add('CMS_ALGORITHM_UNSUPPORTED', e.message);
          else add('CMS_SIGNATURE_INVALID', `the certificate key could not verify: ${(e as Error)?.message ?? String(e)}`);
        },
      ),
    );
  };

  if (attrs) {
    for (const [id, name, required] of SINGLE_VALUED) {
      const found = attrs.all.filter((a) => a.oid === id);
      if (found.length === 0 && required) add('CMS_SIGNED_ATTRIBUTES_MISSING_REQUIRED', `signed attribute ${name} is missing`);
      else if (found.length > 1 || (found.length === 1 && found[0]!.values.length !== 1))
        add('CMS_SIGNED_ATTRIBUTES_MISSING_REQUIRED', `signed attribute ${name} must appear once with one value`);
    }
    if (attrs.contentType !== undefined && attrs.contentType !== eContentType)
      add('CMS_CONTENT_TYPE_MISMATCH', `signed contentType ${attrs.contentType} differs from eContentType ${eContentType}`);
    if (digestAlg && attrs.messageDigest) {
      const expected = attrs.messageDigest;
      checks.push(
        digest(crypto, digestAlg, content, digestCache).then((got) => {
          if (!equalBytes(got, expected)) add('CMS_DIGEST_MISMATCH', `the ${digestAlg} digest of the content differs from the signed messageDigest`);
        }),
      );
    }
    checkSignature(attrs.der);
    const ess = attrs.signingCertificateV2?.[0] ?? attrs.signingCertificate?.[0];
    if (ess) checks.push(checkEss(crypto, ess, certificate, add));
  } else {
    // RFC 5652 §5.3: signed attributes MUST be present when the content is not id-data.
    if (eContentType !== CMS_OID.data)
      add('CMS_SIGNED_ATTRIBUTES_MISSING_REQUIRED', `signed attributes are required for content type ${eContentType}`);
    checkSignature(content);
  }
  await Promise.all(checks);

  const result: SignerVerification = {
    ok: problems.every((p) => p.code === 'CMS_WEAK_ALGORITHM'),
    problems,
    digestAlgorithm: d,
    signatureAlgorithm: sa,
    weak: weakNames.length > 0,
  };
  if (attrs?.signingTime) result.signingTime = attrs.signingTime;
  return result;
}

async function checkEss(crypto: Crypto, ess: EssCertId, cert: Certificate, add: (code: CmsProblemCode, message: string) => void): Promise<void> {
  const h = ess.hashAlgorithm;
  if (typeof h !== 'string' || h === 'MD5') {
    add('CMS_ALGORITHM_UNSUPPORTED', `unsupported ESS certificate hash ${typeof h === 'string' ? h : h.unsupported}`);
    return;
  }
  const got = await certHash(crypto, cert, h);
  if (!equalBytes(got, ess.certHash)) {
    add('CMS_SIGNING_CERTIFICATE_MISMATCH', `the ESS signing certificate ${h} hash does not match the certificate`);
    return;
  }
  const is = ess.issuerSerial;
  if (is && (!is.issuerName || !equalBytes(is.issuerName, cert.issuer.der) || !equalBytes(is.serial, cert.serialBytes)))
    add('CMS_SIGNING_CERTIFICATE_MISMATCH', 'the ESS signing certificate issuer and serial do not match the certificate');
}

/** The certificate a SignerInfo names: issuer Name DER and serial byte-exact, or subjectKeyIdentifier. */
export function findSignerCertificate(sid: SignerIdentifier, certificates: readonly Certificate[]): Certificate | undefined {
  if ('subjectKeyIdentifier' in sid) {
    return certificates.find((c) => c.subjectKeyIdentifier !== undefined && equalBytes(c.subjectKeyIdentifier, sid.subjectKeyIdentifier));
  }
  return certificates.find((c) => equalBytes(c.serialBytes, sid.serial) && equalBytes(c.issuer.der, sid.issuer));
}
