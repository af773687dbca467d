/**
 * Making CMS SignedData (RFC 5652 §5) for S/MIME (RFC 8551): encoded straight with the DER
 * writer, the content digested once per digest algorithm, per-certificate parts cached.
 */
import { z } from 'zod';
import { MailPkiError } from '../errors.js';
import type { Certificate } from '../certs/certificate.js';
import { copyBytes, equalBytes } from '../internal/bytes.js';
import { systemClock, type Clock } from '../internal/clock.js';
import { resolveCrypto } from '../internal/crypto.js';
import { Tag, compareBytes, explicit, implicit, int, nul, octets, oid, retag, seq, setOf, tlv } from '../internal/der.js';
import { OID } from '../internal/oids.js';
import { parseInput } from '../internal/validate.js';
import {
  defaultSignatureAlgorithm,
  digestAlgorithmIdentifier,
  schemeOfKey,
  signBytes,
  signatureAlgorithmIdentifier,
  type DigestAlgorithm,
  type SignatureAlgorithm,
} from '../keys/algorithms.js';
import {
  contentTypeAttribute,
  messageDigestAttribute,
  signingCertificateV2Attribute,
  signingTimeAttribute,
  smimeCapabilitiesAttribute,
} from './attributes.js';
import { CMS_OID } from './oids.js';
import { preferSyncSha256, sha256 } from '../internal/sha.js';

/** One signer: key, certificate, and which attributes to sign (MimeKit's CmsSigner). */
export interface CmsSigner {
  /** Private key; may be non-extractable when it was created for `algorithm`. */
  key: CryptoKey;
  certificate: Certificate;
  /** Default: from the key (`defaultSignatureAlgorithm`). Ed25519 requires SHA-512 (RFC 8419). */
  algorithm?: SignatureAlgorithm;
  /** Default: now, from the `now` option. `false` leaves the attribute out. */
  signingTime?: Date | false;
  /** Add SMIMECapabilities (RFC 8551 §2.5.2). Default true. */
  smimeCapabilities?: boolean;
  /** Add ESS signingCertificateV2 (RFC 5035). Default true. */
  signingCertificateV2?: boolean;
  /** How the SignerInfo names the certificate. Default 'issuerAndSerialNumber'. */
  sid?: 'issuerAndSerialNumber' | 'subjectKeyIdentifier';
}

export interface SignDataOptions {
  signers: CmsSigner[];
  /** Leave the content out of the SignedData (multipart/signed). Default true. */
  detached?: boolean;
  /**
   * Certificates (DER) to include: signer and chain; duplicates are dropped. Default: the
   * signers' certificates. `[]` includes none.
   */
  certificates?: Uint8Array[];
  /** Dotted OID. Default id-data. */
  eContentType?: string;
  /** Clock for signingTime. Default: the system clock. */
  now?: Clock;
  crypto?: Crypto;
}

const isCryptoKey = (v: unknown): v is CryptoKey =>
  typeof v === 'object' && v !== null && 'algorithm' in v && 'type' in v && 'usages' in v;
const isCertificate = (v: unknown): v is Certificate =>
  typeof v === 'object' &&
  v !== null &&
  (v as Certificate).der instanceof Uint8Array &&
  (v as Certificate).serialBytes instanceof Uint8Array &&
  (v as Certificate).issuer?.der instanceof Uint8Array &&
  typeof (v as Certificate).publicKey?.kind === 'string';
const digestName = z.enum(['SHA-256', 'SHA-384', 'SHA-512']);

const signerSchema = z.object({
  key: z.custom<CryptoKey>(isCryptoKey, 'expected a CryptoKey'),
  certificate: z.custom<Certificate>(isCertificate, 'expected a parsed Certificate (parseCertificate)'),
  algorithm: z.object({ scheme: z.enum(['rsa-pkcs1', 'rsa-pss', 'ecdsa', 'ed25519']), hash: digestName }).optional(),
  signingTime: z.union([z.date(), z.literal(false)]).optional(),
  smimeCapabilities: z.boolean().optional(),
  signingCertificateV2: z.boolean().optional(),
  sid: z.enum(['issuerAndSerialNumber', 'subjectKeyIdentifier']).optional(),
});
const optionsSchema = z.object({
  signers: z.array(signerSchema).min(1).max(64),
  detached: z.boolean().optional(),
  certificates: z.array(z.instanceof(Uint8Array)).max(256).optional(),
  eContentType: z.string().regex(/^[0-2](\.(0|[1-9]\d*))+$/, 'expected a dotted OID').optional(),
  now: z.custom<Clock>((v) => typeof v === 'function', 'expected a function returning a Date').optional(),
  crypto: z.custom<Crypto>((v) => typeof v === 'object' && v !== null && 'subtle' in v, 'expected a WebCrypto object').optional(),
});

interface Plan {
  signer: CmsSigner;
  alg: SignatureAlgorithm;
  useSki: boolean;
}

const sidCache = new WeakMap<Certificate, Uint8Array>();
const essCache = new WeakMap<Certificate, Promise<Uint8Array>>();

function signerInvalid(message: string, cause?: unknown): MailPkiError {
  return new MailPkiError('ERR_SIGNER_INVALID', message, cause === undefined ? {} : { cause });
}

/** Checks one signer before any crypto runs. */
function plan(signer: CmsSigner, index: number): Plan {
  const who = `signer ${index}`;
  let scheme;
  try {
    scheme = schemeOfKey(signer.key);
  } catch (e) {
    throw signerInvalid(`${who}: ${(e as Error).message}`, e);
  }
  if (signer.key.type !== 'private') throw signerInvalid(`${who}: the key is not a private key`);
  const alg = signer.algorithm ?? defaultSignatureAlgorithm(signer.key);
  const pk = signer.certificate.publicKey;
  const isRsa = scheme === 'rsa-pkcs1' || scheme === 'rsa-pss';
  const algRsa = alg.scheme === 'rsa-pkcs1' || alg.scheme === 'rsa-pss';
  if (isRsa !== algRsa || (!isRsa && alg.scheme !== scheme))
    throw signerInvalid(`${who}: a ${signer.key.algorithm.name} key cannot make ${alg.scheme} signatures`);
  const certKind = pk.kind === 'rsa' ? algRsa : pk.kind === 'ec' ? alg.scheme === 'ecdsa' : alg.scheme === 'ed25519';
  if (!certKind) throw signerInvalid(`${who}: the certificate holds a ${pk.kind} key, the private key is ${signer.key.algorithm.name}`);
  if (pk.kind === 'ec' && (signer.key.algorithm as EcKeyAlgorithm).namedCurve !== pk.curve)
    throw signerInvalid(`${who}: the certificate key is on ${pk.curve}, the private key on ${(signer.key.algorithm as EcKeyAlgorithm).namedCurve}`);
  if (alg.scheme === 'ed25519' && alg.hash !== 'SHA-512') throw signerInvalid(`${who}: Ed25519 in CMS uses SHA-512 (RFC 8419 §3)`);
  const ku = signer.certificate.keyUsage;
  if (ku && !ku.includes('digitalSignature') && !ku.includes('nonRepudiation'))
    throw signerInvalid(`${who}: the certificate's keyUsage allows neither digitalSignature nor nonRepudiation`);
  const useSki = signer.sid === 'subjectKeyIdentifier';
  if (useSki && !signer.certificate.subjectKeyIdentifier)
    throw signerInvalid(`${who}: sid 'subjectKeyIdentifier' asked for, but the certificate has no subjectKeyIdentifier extension`);
  return { signer, alg, useSki };
}

/**
 * The signatureAlgorithm field. RSA PKCS#1 v1.5 is written as rsaEncryption, as OpenSSL,
 * Outlook and Thunderbird do: RFC 3370 §3.2 makes it the identifier every CMS verifier MUST
 * accept, while sha256WithRSAEncryption is only a MAY there.
 */
function cmsSignatureAlgorithmIdentifier(alg: SignatureAlgorithm): Uint8Array {
  return alg.scheme === 'rsa-pkcs1' ? seq(oid(OID.rsaEncryption), nul()) : signatureAlgorithmIdentifier(alg);
}

function sidOf(cert: Certificate, useSki: boolean): Uint8Array {
  if (useSki) return implicit(0, cert.subjectKeyIdentifier!);
  let hit = sidCache.get(cert);
  if (!hit) {
    hit = seq(cert.issuer.der, tlv(Tag.INTEGER, cert.serialBytes));
    sidCache.set(cert, hit);
  }
  return hit;
}

function essAttribute(crypto: Crypto, cert: Certificate): Promise<Uint8Array> {
  let hit = essCache.get(cert);
  if (!hit) {
    hit = crypto.subtle.digest('SHA-256', copyBytes(cert.der)).then((h) => signingCertificateV2Attribute(cert, new Uint8Array(h)));
    essCache.set(cert, hit);
    hit.catch(() => essCache.delete(cert));
  }
  return hit;
}

/**
 * Signs `content` as CMS SignedData and returns the ContentInfo DER (application/pkcs7-signature
 * when detached, application/pkcs7-mime; smime-type=signed-data when not).
 *
 * @example
 * const der = await signData(mimePartBytes, { signers: [{ key, certificate: parseCertificate(pem) }] });
 */
export async function signData(content: Uint8Array, options: SignDataOptions): Promise<Uint8Array> {
  if (!(content instanceof Uint8Array)) throw new MailPkiError('ERR_INVALID_INPUT', 'signData: content must be a Uint8Array');
  const opts = parseInput(optionsSchema, options, 'signData options') as SignDataOptions;
  const crypto = resolveCrypto(opts.crypto);
  const now = opts.now ?? systemClock;
  const eContentType = opts.eContentType ?? CMS_OID.data;
  const plans = opts.signers.map(plan);

  const data = content.buffer instanceof ArrayBuffer ? (content as Uint8Array<ArrayBuffer>) : copyBytes(content);
  const digests = new Map<DigestAlgorithm, Promise<Uint8Array>>();
  const digestOf = (hash: DigestAlgorithm): Promise<Uint8Array> => {
    let p = digests.get(hash);
    if (!p) {
      p =
        hash === 'SHA-256' && preferSyncSha256(data.length)
          ? Promise.resolve(sha256(data))
          : crypto.subtle.digest(hash, data).then((b) => new Uint8Array(b));
      digests.set(hash, p);
    }
    return p;
  };
  const contentTypeAttr = contentTypeAttribute(eContentType);

  const signerInfos = await Promise.all(
    plans.map(async ({ signer, alg, useSki }, index) => {
      const [digest, ess] = await Promise.all([
        digestOf(alg.hash),
        signer.signingCertificateV2 === false ? undefined : essAttribute(crypto, signer.certificate),
      ]);
      const attrs = [contentTypeAttr, messageDigestAttribute(digest)];
      const at = signer.signingTime === undefined ? now() : signer.signingTime;
      if (at !== false) {
        if (!(at instanceof Date) || Number.isNaN(at.getTime())) throw new MailPkiError('ERR_INVALID_INPUT', 'signData: the clock gave an invalid Date');
        attrs.push(signingTimeAttribute(at));
      }
      if (signer.smimeCapabilities !== false) attrs.push(smimeCapabilitiesAttribute());
      if (ess) attrs.push(ess);
      const signedAttrs = setOf(...attrs);
      let signature: Uint8Array;
      try {
        signature = await signBytes(crypto, signer.key, alg, signedAttrs);
      } catch (e) {
        if (e instanceof MailPkiError && e.code !== 'ERR_KEY_UNSUPPORTED') throw e;
        throw signerInvalid(`signer ${index}: ${(e as Error).message}`, e);
      }
      return seq(
        int(useSki ? 3 : 1),
        sidOf(signer.certificate, useSki),
        digestAlgorithmIdentifier(alg.hash),
        retag(signedAttrs, 0),
        cmsSignatureAlgorithmIdentifier(alg),
        octets(signature),
      );
    }),
  );

  // RFC 5652 §5.1: only X.509 certificates and CRLs are written, so the version is 1 or 3.
  const version = eContentType !== CMS_OID.data || plans.some((p) => p.useSki) ? 3 : 1;
  const hashes = [...new Set(plans.map((p) => p.alg.hash))];
  const certs = dedupe(opts.certificates ?? opts.signers.map((s) => s.certificate.der));
  const encap = opts.detached === false ? seq(oid(eContentType), explicit(0, octets(content))) : seq(oid(eContentType));
  const signedData = seq(
    int(version),
    setOf(...hashes.map(digestAlgorithmIdentifier)),
    encap,
    ...(certs.length ? [tlv(0xa0, ...certs.sort(compareBytes))] : []),
    setOf(...signerInfos),
  );
  return seq(oid(CMS_OID.signedData), explicit(0, signedData));
}

function dedupe(list: readonly Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const c of list) if (!out.some((o) => equalBytes(o, c))) out.push(c);
  return out;
}
