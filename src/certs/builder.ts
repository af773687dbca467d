/**
 * Building and signing X.509 certificates. The issuer's signature comes from a `TbsSigner`, so
 * a key held by an HSM or a remote service signs the same way as an in-memory CryptoKey.
 */
import { copyBytes } from '../internal/bytes.js';
import { resolveCrypto } from '../internal/crypto.js';
import {
  Tag,
  bitString,
  bool,
  cursor,
  explicit,
  ia5String,
  implicit,
  int,
  namedBits,
  octets,
  oid,
  parseDer,
  readBitString,
  retag,
  seq,
  time,
  tlv,
  uintBytes,
} from '../internal/der.js';
import { OID } from '../internal/oids.js';
import { signBytes, signatureAlgorithmIdentifier, type SignatureAlgorithm } from '../keys/algorithms.js';
import { KEY_USAGE_BITS, type KeyUsageName } from './extensions.js';

/** Signs to-be-signed bytes; implement it for an HSM or a remote signing service. */
export interface TbsSigner {
  readonly algorithm: SignatureAlgorithm;
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/** A TbsSigner over a WebCrypto private key (extractable or not). */
export function keySigner(key: CryptoKey, algorithm: SignatureAlgorithm, crypto?: Crypto): TbsSigner {
  const c = resolveCrypto(crypto);
  return { algorithm, sign: (data) => signBytes(c, key, algorithm, data) };
}

export interface ExtensionInput {
  oid: string;
  critical: boolean;
  /** DER of the extension value (what goes inside extnValue). */
  value: Uint8Array;
}

export interface TbsCertificateInput {
  /** Unsigned big-endian serial bytes. */
  serial: Uint8Array;
  issuer: Uint8Array;
  subject: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  /** SubjectPublicKeyInfo DER. */
  spki: Uint8Array;
  extensions: readonly ExtensionInput[];
}

/** Encodes and signs a v3 certificate; returns its DER. */
export async function signCertificate(input: TbsCertificateInput, signer: TbsSigner): Promise<Uint8Array> {
  const sigAlg = signatureAlgorithmIdentifier(signer.algorithm);
  const exts = input.extensions.map((e) =>
    e.critical ? seq(oid(e.oid), bool(true), octets(e.value)) : seq(oid(e.oid), octets(e.value)),
  );
  const tbs = seq(
    explicit(0, int(2)),
    uintBytes(input.serial),
    sigAlg,
    input.issuer,
    seq(time(input.notBefore), time(input.notAfter)),
    input.subject,
    input.spki,
    ...(exts.length ? [explicit(3, seq(...exts))] : []),
  );
  const signature = await signer.sign(tbs);
  return seq(tbs, sigAlg, bitString(signature));
}

// Extension value encoders (RFC 5280 §4.2).

export function basicConstraintsValue(ca: boolean, pathLen?: number): Uint8Array {
  return seq(...(ca ? [bool(true)] : []), ...(ca && pathLen !== undefined ? [int(pathLen)] : []));
}

export function keyUsageValue(usages: readonly KeyUsageName[]): Uint8Array {
  return namedBits(KEY_USAGE_BITS.map((u) => usages.includes(u)));
}

export function extKeyUsageValue(oids: readonly string[]): Uint8Array {
  return seq(...oids.map((o) => oid(o)));
}

export function subjectAltNameValue(names: { rfc822Names?: readonly string[]; dnsNames?: readonly string[] }): Uint8Array {
  return seq(
    ...(names.rfc822Names ?? []).map((e) => implicitString(1, e)),
    ...(names.dnsNames ?? []).map((d) => implicitString(2, d)),
  );
}

function implicitString(n: number, s: string): Uint8Array {
  const enc = ia5String(s);
  return implicit(n, enc.subarray(enc.length - s.length));
}

export function certificatePoliciesValue(oids: readonly string[]): Uint8Array {
  return seq(...oids.map((o) => seq(oid(o))));
}

/** policyMappings (RFC 5280 §4.2.1.5): [issuerDomainPolicy, subjectDomainPolicy] pairs. */
export function policyMappingsValue(mappings: readonly (readonly [string, string])[]): Uint8Array {
  return seq(...mappings.map(([issuer, subject]) => seq(oid(issuer), oid(subject))));
}

/** policyConstraints (RFC 5280 §4.2.1.11); give at least one of the two. */
export function policyConstraintsValue(c: { requireExplicitPolicy?: number; inhibitPolicyMapping?: number }): Uint8Array {
  return seq(
    ...(c.requireExplicitPolicy !== undefined ? [retag(int(c.requireExplicitPolicy), 0)] : []),
    ...(c.inhibitPolicyMapping !== undefined ? [retag(int(c.inhibitPolicyMapping), 1)] : []),
  );
}

/** inhibitAnyPolicy (RFC 5280 §4.2.1.14): SkipCerts. */
export function inhibitAnyPolicyValue(skipCerts: number): Uint8Array {
  return int(skipCerts);
}

export function crlDistributionPointsValue(urls: readonly string[]): Uint8Array {
  return seq(...urls.map((u) => seq(tlv(0xa0, tlv(0xa0, implicitString(6, u))))));
}

export function authorityInfoAccessValue(access: { ocsp?: readonly string[]; caIssuers?: readonly string[] }): Uint8Array {
  return seq(
    ...(access.ocsp ?? []).map((u) => seq(oid(OID.idAdOcsp), implicitString(6, u))),
    ...(access.caIssuers ?? []).map((u) => seq(oid(OID.idAdCaIssuers), implicitString(6, u))),
  );
}

export function authorityKeyIdentifierValue(keyId: Uint8Array): Uint8Array {
  return seq(implicit(0, keyId));
}

export function subjectKeyIdentifierValue(keyId: Uint8Array): Uint8Array {
  return octets(keyId);
}

/**
 * Key identifier per RFC 7093 §2 method 1: SHA-256 of the subjectPublicKey bits, truncated to
 * 160 bits (same length as RFC 5280's SHA-1 method, without SHA-1).
 */
export async function computeKeyIdentifier(spki: Uint8Array, crypto?: Crypto): Promise<Uint8Array> {
  const c = cursor(parseDer(spki, 'ERR_KEY_MALFORMED', 'invalid public key'));
  c.next(Tag.SEQUENCE);
  const { bits } = readBitString(c.next(Tag.BIT_STRING));
  const d = new Uint8Array(await resolveCrypto(crypto).subtle.digest('SHA-256', copyBytes(bits)));
  return d.subarray(0, 20);
}

/** A random positive serial of `bytes` bytes (≥ 64 bits of CSPRNG output, per the CA/B Forum). */
export function randomSerial(crypto: Crypto, bytes = 16): Uint8Array {
  const s = new Uint8Array(bytes);
  crypto.getRandomValues(s);
  s[0] = (s[0]! & 0x7f) | 0x40; // positive, and no leading zero byte to strip
  return s;
}
