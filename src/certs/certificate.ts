/**
 * X.509 certificates (RFC 5280), parsed once into an immutable view that keeps the exact
 * bytes that were signed. Parsing is strict DER and bounded; it never verifies anything.
 */
import { MailPkiError } from '../errors.js';
import { copyBytes, fromLatin1, toBytes, toHex } from '../internal/bytes.js';
import { Tag, contentOf, cursor, encodedOf, parseDer, parseDerSequence, readBitString, readSmallInt, readTime, readUnsignedHex } from '../internal/der.js';
import { mailboxKey } from '../internal/mailbox.js';
import { OID } from '../internal/oids.js';
import { sha256 } from '../internal/sha.js';
import { decodePemBlocks, encodePem, looksLikePem } from '../internal/pem.js';
import { parseSignatureAlgorithm, readPublicKeyInfo, type ParsedSignatureAlgorithm, type PublicKeyInfo } from '../keys/algorithms.js';
import {
  readAuthorityInfoAccess,
  readAuthorityKeyIdentifier,
  readBasicConstraints,
  readCertificatePolicies,
  readCrlDistributionPoints,
  readExtKeyUsage,
  readExtensions,
  readKeyUsage,
  readSubjectAltName,
  readSubjectKeyIdentifier,
  type BasicConstraints,
  type Extension,
  type GeneralNames,
  type KeyUsageName,
} from './extensions.js';
import { nameValues, namesMatch, readName, type Name } from './name.js';

/** Largest certificate accepted, in bytes. */
export const MAX_CERTIFICATE_BYTES = 64 * 1024;

export interface Certificate {
  /** The whole certificate DER. */
  readonly der: Uint8Array;
  /** The TBSCertificate DER: what the issuer signed. */
  readonly tbs: Uint8Array;
  readonly version: number;
  /** Serial number as lower-case hex, no leading zeros. */
  readonly serialNumber: string;
  /** Raw INTEGER content of the serial (for IssuerAndSerialNumber matching). */
  readonly serialBytes: Uint8Array;
  readonly signatureAlgorithm: ParsedSignatureAlgorithm | { unsupported: string };
  readonly signatureValue: Uint8Array;
  readonly issuer: Name;
  readonly subject: Name;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly publicKey: PublicKeyInfo;
  readonly extensions: ReadonlyMap<string, Extension>;
  readonly basicConstraints?: BasicConstraints;
  readonly keyUsage?: KeyUsageName[];
  readonly extKeyUsage?: string[];
  readonly subjectAltName?: GeneralNames;
  readonly subjectKeyIdentifier?: Uint8Array;
  readonly authorityKeyIdentifier?: Uint8Array;
  readonly policies: string[];
  readonly crlDistributionPoints: string[];
  readonly ocspUrls: string[];
  readonly caIssuersUrls: string[];
}

const ERR = 'ERR_CERT_MALFORMED' as const;
const WHAT = 'invalid certificate';

/** Parses one certificate from DER or PEM ("CERTIFICATE"). */
export function parseCertificate(input: Uint8Array | string): Certificate {
  const der = certificateDer(input);
  if (der.length > MAX_CERTIFICATE_BYTES)
    throw new MailPkiError('ERR_INPUT_TOO_LARGE', `certificate is larger than ${MAX_CERTIFICATE_BYTES} bytes`);
  const root = parseDerSequence(der, ERR, WHAT);
  const c = cursor(root, ERR, WHAT);
  const tbsNode = c.next(Tag.SEQUENCE);
  const sigAlgNode = c.next(Tag.SEQUENCE);
  const sigNode = c.next(Tag.BIT_STRING);
  c.end();
  const { bits: signatureValue, unused } = readBitString(sigNode);
  if (unused !== 0) throw new MailPkiError(ERR, `${WHAT}: signature has padding bits`);

  const t = cursor(tbsNode, ERR, WHAT);
  const versionNode = t.optional(0xa0);
  const version = versionNode ? readSmallInt(cursor(versionNode, ERR, WHAT).next(Tag.INTEGER)) + 1 : 1;
  if (version < 1 || version > 3) throw new MailPkiError(ERR, `${WHAT}: unknown version ${version}`);
  const serialNode = t.next(Tag.INTEGER);
  const innerSigAlg = t.next(Tag.SEQUENCE);
  const issuer = readName(t.next(Tag.SEQUENCE));
  const validity = cursor(t.next(Tag.SEQUENCE), ERR, WHAT);
  const notBefore = readTime(validity.next());
  const notAfter = readTime(validity.next());
  validity.end();
  const subject = readName(t.next(Tag.SEQUENCE));
  const publicKey = readPublicKeyInfoLenient(t.next(Tag.SEQUENCE));
  t.optional(0x81); // issuerUniqueID
  t.optional(0x82); // subjectUniqueID
  const extNode = t.optional(0xa3);
  t.end();
  if (!equalDer(encodedOf(innerSigAlg), encodedOf(sigAlgNode)))
    throw new MailPkiError(ERR, `${WHAT}: the signature algorithm inside and outside the signed part differ`);

  let signatureAlgorithm: Certificate['signatureAlgorithm'];
  try {
    signatureAlgorithm = parseSignatureAlgorithm(sigAlgNode);
  } catch (e) {
    if (!(e instanceof MailPkiError) || e.code !== 'ERR_ALGORITHM_UNSUPPORTED') throw e;
    signatureAlgorithm = { unsupported: e.message };
  }

  const extensions = extNode ? readExtensions(cursor(extNode, ERR, WHAT).next(Tag.SEQUENCE)) : new Map<string, Extension>();
  const get = (id: string) => extensions.get(id)?.value;
  const bc = get(OID.basicConstraints);
  const ku = get(OID.keyUsage);
  const eku = get(OID.extKeyUsage);
  const san = get(OID.subjectAltName);
  const ski = get(OID.subjectKeyIdentifier);
  const aki = get(OID.authorityKeyIdentifier);
  const pol = get(OID.certificatePolicies);
  const cdp = get(OID.cRLDistributionPoints);
  const aia = get(OID.authorityInfoAccess);
  const aiaValue = aia ? readAuthorityInfoAccess(aia) : { ocsp: [], caIssuers: [] };

  const cert: Certificate = {
    der,
    tbs: encodedOf(tbsNode),
    version,
    serialNumber: readUnsignedHex(serialNode),
    serialBytes: contentOf(serialNode),
    signatureAlgorithm,
    signatureValue,
    issuer,
    subject,
    notBefore,
    notAfter,
    publicKey,
    extensions,
    ...(bc && { basicConstraints: readBasicConstraints(bc) }),
    ...(ku && { keyUsage: readKeyUsage(ku) }),
    ...(eku && { extKeyUsage: readExtKeyUsage(eku) }),
    ...(san && { subjectAltName: readSubjectAltName(san) }),
    ...(ski && { subjectKeyIdentifier: readSubjectKeyIdentifier(ski) }),
    ...(aki && readAuthorityKeyIdentifier(aki).keyIdentifier && { authorityKeyIdentifier: readAuthorityKeyIdentifier(aki).keyIdentifier! }),
    policies: pol ? readCertificatePolicies(pol) : [],
    crlDistributionPoints: cdp ? readCrlDistributionPoints(cdp) : [],
    ocspUrls: aiaValue.ocsp,
    caIssuersUrls: aiaValue.caIssuers,
  };
  return Object.freeze(cert);
}

function readPublicKeyInfoLenient(node: ReturnType<typeof parseDer>): PublicKeyInfo {
  try {
    return readPublicKeyInfo(node);
  } catch (e) {
    if (e instanceof MailPkiError && e.code === 'ERR_KEY_MALFORMED') throw new MailPkiError(ERR, `${WHAT}: ${e.message}`, { cause: e });
    throw e;
  }
}

function equalDer(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function certificateDer(input: Uint8Array | string): Uint8Array {
  if (typeof input === 'string' || looksLikePem(input)) {
    const text = typeof input === 'string' ? input : new TextDecoder('latin1').decode(input);
    const blocks = decodePemBlocks(text).filter((b) => b.label === 'CERTIFICATE' || b.label === 'X509 CERTIFICATE');
    if (blocks.length === 0) throw new MailPkiError('ERR_PEM_MALFORMED', 'no PEM block labelled "CERTIFICATE" found');
    return blocks[0]!.der;
  }
  const der = toBytes(input);
  if (der[0] !== 0x30) throw new MailPkiError(ERR, 'not a certificate: neither PEM ("-----BEGIN CERTIFICATE-----") nor DER');
  return der;
}

const CACHE_MAX = 512;
const cache = new Map<string, Certificate>();

/**
 * parseCertificate for DER that recurs (certificates carried in every message of a sender): the
 * same bytes give the same frozen Certificate object, so per-object caches (chain signature
 * checks, ESS hashes) keep working across messages. Bounded; oldest entries leave first.
 */
export function parseCertificateCached(der: Uint8Array): Certificate {
  const key = fromLatin1(der);
  const hit = cache.get(key);
  if (hit) return hit;
  const cert = parseCertificate(der.slice());
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(key, cert);
  return cert;
}

/** Every certificate in a PEM bundle (or one DER certificate). */
export function parseCertificates(input: Uint8Array | string): Certificate[] {
  if (typeof input !== 'string' && !looksLikePem(input)) return [parseCertificate(input)];
  const text = typeof input === 'string' ? input : new TextDecoder('latin1').decode(input);
  const blocks = decodePemBlocks(text).filter((b) => b.label === 'CERTIFICATE' || b.label === 'X509 CERTIFICATE');
  return blocks.map((b) => parseCertificate(b.der));
}

export function certificateToPem(cert: Certificate | Uint8Array): string {
  return encodePem('CERTIFICATE', cert instanceof Uint8Array ? cert : cert.der);
}

/** Which mail addresses a certificate binds, and where they come from. */
export interface CertificateMailboxes {
  /** The addresses the certificate vouches for (see certificateMailboxes). */
  readonly emails: string[];
  /**
   * 'subjectAltName': the SAN rfc822Names and SmtpUTF8Mailboxes (RFC 8398); 'subject': legacy emailAddress attributes of the
   * subject, used only because the SAN names no mailbox; 'none': no address at all.
   */
  readonly source: 'subjectAltName' | 'subject' | 'none';
  /** Subject emailAddress values that bind nothing because the SAN names mailboxes. */
  readonly ignored: string[];
}

/**
 * The mailboxes a certificate binds (RFC 5280 §4.2.1.6, RFC 8550 §3, RFC 8398): when the subjectAltName holds
 * any rfc822Name or SmtpUTF8Mailbox otherName, only those; a subject emailAddress counts only in a certificate whose SAN names
 * no mailbox (a legacy certificate), and `source` says so. A subject address beside SAN addresses
 * was never validated by the CA for that purpose (`openssl x509 -checkemail` refuses it too).
 *
 * @example certificateMailboxes(cert) // { emails: ['payments@example.com'], source: 'subjectAltName', ignored: ['ceo@example.com'] }
 */
export function certificateMailboxes(cert: Certificate): CertificateMailboxes {
  // An SmtpUTF8Mailbox (RFC 8398) is a SAN mailbox like an rfc822Name, as `openssl x509 -checkemail` takes it.
  // An rfc822Name is an IA5String in A-labels (RFC 9598 §3): one with other bytes (read as Latin-1, 0xFC
  // would be "ü") names no mailbox, yet still makes this a certificate whose SAN names mailboxes.
  const rfc822Names = cert.subjectAltName?.rfc822Names ?? [];
  const smtpUtf8Mailboxes = cert.subjectAltName?.smtpUtf8Mailboxes ?? [];
  const ascii = (e: string) => /^[\x00-\x7f]*$/.test(e);
  const san = unique([...rfc822Names.filter(ascii), ...smtpUtf8Mailboxes]);
  // A subject emailAddress is an IA5String too (PKCS #9): one with other characters names no mailbox.
  const subject = unique(nameValues(cert.subject, OID.emailAddress).filter(ascii));
  if (rfc822Names.length + smtpUtf8Mailboxes.length > 0) {
    const bound = new Set(san.map(mailboxKey));
    return { emails: san, source: 'subjectAltName', ignored: subject.filter((e) => !bound.has(mailboxKey(e))) };
  }
  return { emails: subject, source: subject.length > 0 ? 'subject' : 'none', ignored: [] };
}

/** The mailboxes a certificate binds: certificateMailboxes(cert).emails. */
export function certificateEmails(cert: Certificate): string[] {
  return certificateMailboxes(cert).emails;
}

// Keyed by the compared form, so a certificate with thousands of names costs linear time.
function unique(list: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const e of list) {
    const key = mailboxKey(e);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(e);
  }
  return out;
}

// The domain compares case-insensitively, the local part exactly (RFC 5321 §2.4), as S/MIME binding does.

const sha256Fingerprints = new WeakMap<Certificate, string>();

/**
 * The SHA-256 fingerprint of the certificate's DER, hex, computed without a WebCrypto round trip
 * and kept with the (cached, parsed) certificate: for hot paths such as a verdict per message. For
 * SHA-1 or an injected crypto, certificateFingerprint.
 */
export function certificateSha256(cert: Certificate): string {
  let f = sha256Fingerprints.get(cert);
  if (f === undefined) sha256Fingerprints.set(cert, (f = toHex(sha256(cert.der))));
  return f;
}

export async function certificateFingerprint(cert: Certificate, hash: 'SHA-256' | 'SHA-1' = 'SHA-256', crypto: Crypto = globalThis.crypto): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest(hash, copyBytes(cert.der)));
  return toHex(d);
}

/** Issuer and subject are the same name (RFC 5280 §7.1 comparison, as chaining uses). */
export function isSelfIssued(cert: Certificate): boolean {
  return namesMatch(cert.issuer, cert.subject);
}
