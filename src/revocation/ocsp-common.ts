/**
 * What OCSP requests, responses and their validation share (RFC 6960): CertID, the nonce
 * extension, status and reason names, limits, and the error wrapping that keeps every parser
 * failure a coded MailPkiError.
 */
import { MailPkiError, type MailPkiErrorCode } from '../errors.js';
import { equalBytes } from '../internal/bytes.js';
import { Tag, cursor, encodedOf, nul, octets, oid, parseDer, readBoolean, readOctetString, readOid, readUnsignedHex, seq, tlv, type Der } from '../internal/der.js';
import { OID } from '../internal/oids.js';
import { hashSync } from '../internal/sha.js';
import type { Certificate } from '../certs/certificate.js';
import { REVOCATION_REASONS, type RevocationReason } from '../ca/types.js';

/** Largest OCSP request accepted by `parseOcspRequest`, in bytes. */
export const MAX_OCSP_REQUEST_BYTES = 64 * 1024;
/** Largest OCSP response accepted by `parseOcspResponse`, in bytes. */
export const MAX_OCSP_RESPONSE_BYTES = 1024 * 1024;
/** Most CertIDs in one request, and most SingleResponses in one response. */
export const MAX_OCSP_ENTRIES = 1000;
/** Most certificates in a BasicOCSPResponse `certs` field. */
export const MAX_OCSP_CERTS = 16;
/** Longest nonce accepted in a request (RFC 8954 §2.1: 1 to 32 octets; 128 tolerated for old clients). */
export const MAX_OCSP_NONCE_BYTES = 128;

export const OCSP_OID = {
  idPkixOcspBasic: '1.3.6.1.5.5.7.48.1.1',
  idPkixOcspNonce: '1.3.6.1.5.5.7.48.1.2',
  /** RFC 6960 §4.4.8: "revoked" also covers certificates that were never issued. */
  idPkixOcspExtendedRevoke: '1.3.6.1.5.5.7.48.1.9',
} as const;

/** CertID hash algorithms mailpki can compute. SHA-1 is what deployed responders expect. */
export type OcspHash = 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512';

const HASH_OIDS: Record<OcspHash, string> = {
  'SHA-1': OID.sha1,
  'SHA-256': OID.sha256,
  'SHA-384': OID.sha384,
  'SHA-512': OID.sha512,
};
const HASH_BY_OID: Record<string, OcspHash> = Object.fromEntries(Object.entries(HASH_OIDS).map(([k, v]) => [v, k as OcspHash]));

/** RFC 6960 §4.1.1 CertID. */
export interface CertId {
  /** 'SHA-1', 'SHA-256', 'SHA-384', 'SHA-512', or the dotted OID of another algorithm. */
  readonly hashAlgorithm: OcspHash | (string & {});
  readonly issuerNameHash: Uint8Array;
  readonly issuerKeyHash: Uint8Array;
  /** Serial number as lower-case hex without leading zeros (as `Certificate.serialNumber`). */
  readonly serialNumber: string;
  /** The CertID DER exactly as received or built (responders echo it byte for byte). */
  readonly der: Uint8Array;
}

export type OcspResponseStatus = 'successful' | 'malformedRequest' | 'internalError' | 'tryLater' | 'sigRequired' | 'unauthorized';
export const OCSP_RESPONSE_STATUS: Record<OcspResponseStatus, number> = {
  successful: 0,
  malformedRequest: 1,
  internalError: 2,
  tryLater: 3,
  sigRequired: 5,
  unauthorized: 6,
};
export const OCSP_STATUS_BY_NUMBER = new Map<number, OcspResponseStatus>(
  Object.entries(OCSP_RESPONSE_STATUS).map(([k, v]) => [v, k as OcspResponseStatus]),
);

export type OcspCertStatus = 'good' | 'revoked' | 'unknown';

export const REASON_BY_NUMBER = new Map<number, RevocationReason>(
  Object.entries(REVOCATION_REASONS).map(([k, v]) => [v, k as RevocationReason]),
);

export function isOcspHash(name: string): name is OcspHash {
  return Object.hasOwn(HASH_OIDS, name);
}

export function ocspHashName(oidDotted: string): OcspHash | undefined {
  return HASH_BY_OID[oidDotted];
}

/** The subjectPublicKey BIT STRING contents (no unused-bits byte): what KeyHash and issuerKeyHash hash. */
export function publicKeyBits(cert: Certificate): Uint8Array {
  const c = cursor(parseDer(cert.publicKey.spki));
  c.next(Tag.SEQUENCE);
  // RFC 6960 §4.1.1: the BIT STRING value without tag, length and unused-bits count.
  const bits = c.next(Tag.BIT_STRING);
  return bits.bytes.subarray(Math.min(bits.contentStart + 1, bits.end), bits.end);
}

/** SHA-1 of the certificate's public key bits: the ResponderID byKey value (RFC 6960 §4.2.1). */
export function responderKeyHash(cert: Certificate): Uint8Array {
  return hashSync('SHA-1', publicKeyBits(cert));
}

/** The issuer name and key hashes of `issuer` under `hash`. */
export function issuerHashes(issuer: Certificate, hash: OcspHash): { nameHash: Uint8Array; keyHash: Uint8Array } {
  return { nameHash: hashSync(hash, issuer.subject.der), keyHash: hashSync(hash, publicKeyBits(issuer)) };
}

/** Builds the CertID of `certificate` issued by `issuer`. */
export function buildCertId(certificate: Certificate, issuer: Certificate, hash: OcspHash = 'SHA-1'): CertId {
  const { nameHash, keyHash } = issuerHashes(issuer, hash);
  // The serial INTEGER is copied as encoded, so negative or padded legacy serials survive.
  const der = seq(seq(oid(HASH_OIDS[hash]), nul()), octets(nameHash), octets(keyHash), tlv(Tag.INTEGER, certificate.serialBytes));
  return Object.freeze({ hashAlgorithm: hash, issuerNameHash: nameHash, issuerKeyHash: keyHash, serialNumber: certificate.serialNumber, der });
}

export function readCertId(node: Der): CertId {
  const c = cursor(node);
  const alg = cursor(c.next(Tag.SEQUENCE));
  const algOid = readOid(alg.next(Tag.OID));
  const params = alg.optional(Tag.NULL);
  if (params && params.end !== params.contentStart) malformed('CertID hash parameters must be NULL or absent');
  alg.end();
  const issuerNameHash = readOctetString(c.next(Tag.OCTET_STRING));
  const issuerKeyHash = readOctetString(c.next(Tag.OCTET_STRING));
  const serialNumber = readUnsignedHex(c.next(Tag.INTEGER));
  c.end();
  return Object.freeze({
    hashAlgorithm: ocspHashName(algOid) ?? algOid,
    issuerNameHash,
    issuerKeyHash,
    serialNumber,
    der: encodedOf(node),
  });
}

/** Same certificate: same hash algorithm, issuer hashes and serial (parameters encoding ignored). */
export function sameCertId(a: CertId, b: CertId): boolean {
  return (
    a.hashAlgorithm === b.hashAlgorithm &&
    a.serialNumber === b.serialNumber &&
    equalBytes(a.issuerNameHash, b.issuerNameHash) &&
    equalBytes(a.issuerKeyHash, b.issuerKeyHash)
  );
}

/** Whether `id` names a certificate of `issuer` (any supported hash; false for others). */
export function certIdMatchesIssuer(id: CertId, issuer: Certificate): boolean {
  if (!isOcspHash(id.hashAlgorithm)) return false;
  const hash = id.hashAlgorithm;
  const { nameHash, keyHash } = issuerHashes(issuer, hash);
  return equalBytes(nameHash, id.issuerNameHash) && equalBytes(keyHash, id.issuerKeyHash);
}

export interface OcspExtension {
  oid: string;
  critical: boolean;
  value: Uint8Array;
}

/** Reads an Extensions SEQUENCE (duplicates refused). */
export function readOcspExtensions(node: Der): OcspExtension[] {
  const out: OcspExtension[] = [];
  const c = cursor(node);
  while (!c.done) {
    const e = cursor(c.next(Tag.SEQUENCE));
    const id = readOid(e.next(Tag.OID));
    const crit = e.optional(Tag.BOOLEAN);
    const value = readOctetString(e.next(Tag.OCTET_STRING));
    e.end();
    if (out.some((x) => x.oid === id)) malformed(`extension ${id} appears twice`);
    out.push({ oid: id, critical: crit ? readBoolean(crit) : false, value });
  }
  return out;
}

/**
 * The nonce inside an id-pkix-ocsp-nonce extnValue. RFC 8954 says it is an OCTET STRING; some
 * old clients put the raw bytes there, which are then taken as they are.
 */
export function nonceFromExtensionValue(value: Uint8Array): Uint8Array {
  if (value.length >= 2 && value[0] === Tag.OCTET_STRING) {
    const l = value[1]!;
    if (l < 0x80 && l + 2 === value.length) return value.subarray(2);
    if (l === 0x81 && value.length >= 3 && value[2]! >= 0x80 && value[2]! + 3 === value.length) return value.subarray(3);
  }
  return value;
}

export function nonceExtension(extnValue: Uint8Array): Uint8Array {
  return seq(oid(OCSP_OID.idPkixOcspNonce), octets(extnValue));
}

/** A whole buffer that must be exactly one SEQUENCE. */
export function sequence(bytes: Uint8Array): Der {
  const node = parseDer(bytes);
  if (node.tag !== Tag.SEQUENCE) malformed('expected a SEQUENCE');
  return node;
}

export function malformed(detail: string): never {
  throw new MailPkiError('ERR_DER_MALFORMED', `invalid OCSP data: ${detail}`);
}

/**
 * Runs a parser so that only MailPkiErrors with the allowed codes leave it: anything else
 * (a bug, or a code from a lower layer like ERR_CERT_MALFORMED) becomes ERR_DER_MALFORMED
 * with the original as `cause`.
 */
export function guardParse<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof MailPkiError && ALLOWED.has(e.code)) throw e;
    const msg = e instanceof Error ? e.message : String(e);
    throw new MailPkiError('ERR_DER_MALFORMED', `invalid ${what}: ${msg}`, { cause: e });
  }
}
const ALLOWED = new Set<MailPkiErrorCode>(['ERR_INPUT_TOO_LARGE', 'ERR_DER_MALFORMED']);

