/**
 * Signature algorithms: their AlgorithmIdentifiers, the WebCrypto parameters, and signing /
 * verifying with the encodings X.509 and CMS use (ECDSA as a DER SEQUENCE, not raw r||s).
 */
import { MailPkiError } from '../errors.js';
import { copyBytes, fromLatin1 } from '../internal/bytes.js';
import {
  Tag,
  contentOf,
  cursor,
  encodedOf,
  explicit,
  int,
  nul,
  oid,
  parseDer,
  parseDerSequence,
  readBitString,
  readIntegerBytes,
  readOid,
  readSmallInt,
  seq,
  uintBytes,
  type Der,
} from '../internal/der.js';
import { OID } from '../internal/oids.js';
import { MAX_RSA_EXPONENT_BITS, MAX_RSA_MODULUS_BITS } from './limits.js';

export type DigestAlgorithm = 'SHA-256' | 'SHA-384' | 'SHA-512';
export type WeakDigestAlgorithm = 'SHA-1' | 'MD5';
export type SignatureScheme = 'rsa-pkcs1' | 'rsa-pss' | 'ecdsa' | 'ed25519';

export interface SignatureAlgorithm {
  scheme: SignatureScheme;
  /** The message digest (Ed25519 hashes internally with SHA-512). */
  hash: DigestAlgorithm;
}

/** A signature algorithm read from DER; may name a weak digest so the caller can refuse it. */
export interface ParsedSignatureAlgorithm {
  scheme: SignatureScheme;
  hash: DigestAlgorithm | WeakDigestAlgorithm;
  /** RSA-PSS salt length from the parameters. */
  saltLength?: number;
}

export const DIGEST_OIDS: Record<DigestAlgorithm, string> = {
  'SHA-256': OID.sha256,
  'SHA-384': OID.sha384,
  'SHA-512': OID.sha512,
};

const DIGEST_BY_OID: Record<string, DigestAlgorithm | WeakDigestAlgorithm> = {
  [OID.sha256]: 'SHA-256',
  [OID.sha384]: 'SHA-384',
  [OID.sha512]: 'SHA-512',
  [OID.sha1]: 'SHA-1',
  [OID.md5]: 'MD5',
};

export const DIGEST_LENGTH: Record<DigestAlgorithm, number> = { 'SHA-256': 32, 'SHA-384': 48, 'SHA-512': 64 };

const RSA_PKCS1_OIDS: Record<DigestAlgorithm, string> = {
  'SHA-256': OID.sha256WithRSAEncryption,
  'SHA-384': OID.sha384WithRSAEncryption,
  'SHA-512': OID.sha512WithRSAEncryption,
};
const ECDSA_OIDS: Record<DigestAlgorithm, string> = {
  'SHA-256': OID.ecdsaWithSHA256,
  'SHA-384': OID.ecdsaWithSHA384,
  'SHA-512': OID.ecdsaWithSHA512,
};

const SIG_BY_OID: Record<string, ParsedSignatureAlgorithm> = {
  [OID.sha256WithRSAEncryption]: { scheme: 'rsa-pkcs1', hash: 'SHA-256' },
  [OID.sha384WithRSAEncryption]: { scheme: 'rsa-pkcs1', hash: 'SHA-384' },
  [OID.sha512WithRSAEncryption]: { scheme: 'rsa-pkcs1', hash: 'SHA-512' },
  [OID.sha1WithRSAEncryption]: { scheme: 'rsa-pkcs1', hash: 'SHA-1' },
  [OID.md5WithRSAEncryption]: { scheme: 'rsa-pkcs1', hash: 'MD5' },
  [OID.ecdsaWithSHA256]: { scheme: 'ecdsa', hash: 'SHA-256' },
  [OID.ecdsaWithSHA384]: { scheme: 'ecdsa', hash: 'SHA-384' },
  [OID.ecdsaWithSHA512]: { scheme: 'ecdsa', hash: 'SHA-512' },
  [OID.ecdsaWithSHA1]: { scheme: 'ecdsa', hash: 'SHA-1' },
  [OID.idEd25519]: { scheme: 'ed25519', hash: 'SHA-512' },
};

/** DER AlgorithmIdentifier of a digest (parameters absent, as RFC 5754 prefers). */
export function digestAlgorithmIdentifier(hash: DigestAlgorithm): Uint8Array {
  return seq(oid(DIGEST_OIDS[hash]));
}

export function parseDigestAlgorithm(node: Der): DigestAlgorithm | WeakDigestAlgorithm | undefined {
  const c = cursor(node);
  return DIGEST_BY_OID[readOid(c.next(Tag.OID))];
}

function pssParams(hash: DigestAlgorithm): Uint8Array {
  const hashAlg = seq(oid(DIGEST_OIDS[hash]), nul());
  return seq(
    explicit(0, hashAlg),
    explicit(1, seq(oid(OID.idMGF1), hashAlg)),
    explicit(2, int(DIGEST_LENGTH[hash])),
  );
}

/** DER AlgorithmIdentifier for a signature. */
export function signatureAlgorithmIdentifier(alg: SignatureAlgorithm): Uint8Array {
  switch (alg.scheme) {
    case 'rsa-pkcs1':
      return seq(oid(RSA_PKCS1_OIDS[alg.hash]), nul());
    case 'rsa-pss':
      return seq(oid(OID.idRSASSAPSS), pssParams(alg.hash));
    case 'ecdsa':
      return seq(oid(ECDSA_OIDS[alg.hash]));
    case 'ed25519':
      return seq(oid(OID.idEd25519));
  }
}

/**
 * Reads a signature AlgorithmIdentifier. `keyAlgorithmFallback` handles CMS, where the
 * signatureAlgorithm is often just rsaEncryption and the digest comes from digestAlgorithm.
 */
export function parseSignatureAlgorithm(
  node: Der,
  digestFromContext?: DigestAlgorithm | WeakDigestAlgorithm,
): ParsedSignatureAlgorithm {
  const c = cursor(node);
  const id = readOid(c.next(Tag.OID));
  const known = SIG_BY_OID[id];
  if (known) return { ...known };
  if (id === OID.rsaEncryption && digestFromContext) return { scheme: 'rsa-pkcs1', hash: digestFromContext };
  if (id === OID.idRSASSAPSS) {
    let hash: DigestAlgorithm | WeakDigestAlgorithm = 'SHA-1';
    let mgfHash: DigestAlgorithm | WeakDigestAlgorithm = 'SHA-1';
    let saltLength = 20;
    const params = c.next(Tag.SEQUENCE);
    const p = cursor(params);
    const h = p.optional(0xa0);
    if (h) hash = parseDigestAlgorithm(cursor(h).next(Tag.SEQUENCE)) ?? unsupported('RSA-PSS hash');
    const m = p.optional(0xa1);
    if (m) {
      const mc = cursor(cursor(m).next(Tag.SEQUENCE));
      if (readOid(mc.next(Tag.OID)) !== OID.idMGF1) unsupported('RSA-PSS mask generation function');
      mgfHash = parseDigestAlgorithm(mc.next(Tag.SEQUENCE)) ?? unsupported('RSA-PSS MGF1 hash');
    }
    const s = p.optional(0xa2);
    if (s) saltLength = readSmallInt(cursor(s).next(Tag.INTEGER));
    const t = p.optional(0xa3);
    if (t && readSmallInt(cursor(t).next(Tag.INTEGER)) !== 1) unsupported('RSA-PSS trailer field');
    if (mgfHash !== hash) unsupported('RSA-PSS with an MGF1 hash different from the message hash');
    return { scheme: 'rsa-pss', hash, saltLength };
  }
  return unsupported(`signature algorithm ${id}`);
}

function unsupported(what: string): never {
  throw new MailPkiError('ERR_ALGORITHM_UNSUPPORTED', `unsupported ${what}`);
}

/** Which scheme a CryptoKey can do, from its WebCrypto algorithm. */
export function schemeOfKey(key: CryptoKey): SignatureScheme {
  switch (key.algorithm.name) {
    case 'RSASSA-PKCS1-v1_5':
      return 'rsa-pkcs1';
    case 'RSA-PSS':
      return 'rsa-pss';
    case 'ECDSA':
      return 'ecdsa';
    case 'Ed25519':
      return 'ed25519';
    default:
      throw new MailPkiError('ERR_KEY_UNSUPPORTED', `keys of type ${key.algorithm.name} cannot sign here`);
  }
}

/** The default signature algorithm for a key: its own hash for RSA, by curve for ECDSA. */
export function defaultSignatureAlgorithm(key: CryptoKey): SignatureAlgorithm {
  const scheme = schemeOfKey(key);
  if (scheme === 'ed25519') return { scheme, hash: 'SHA-512' };
  if (scheme === 'ecdsa') {
    const curve = (key.algorithm as EcKeyAlgorithm).namedCurve;
    return { scheme, hash: curve === 'P-384' ? 'SHA-384' : curve === 'P-521' ? 'SHA-512' : 'SHA-256' };
  }
  const hash = ((key.algorithm as RsaHashedKeyAlgorithm).hash?.name ?? 'SHA-256') as DigestAlgorithm;
  return { scheme, hash };
}

function signParams(alg: SignatureAlgorithm): AlgorithmIdentifier | RsaPssParams | EcdsaParams {
  switch (alg.scheme) {
    case 'rsa-pkcs1':
      return { name: 'RSASSA-PKCS1-v1_5' };
    case 'rsa-pss':
      return { name: 'RSA-PSS', saltLength: DIGEST_LENGTH[alg.hash] } as RsaPssParams;
    case 'ecdsa':
      return { name: 'ECDSA', hash: alg.hash } as EcdsaParams;
    case 'ed25519':
      return { name: 'Ed25519' };
  }
}

const rebound = new WeakMap<CryptoKey, Map<string, CryptoKey>>();

/**
 * A key usable for `alg`. WebCrypto binds RSA keys to one scheme and hash; an extractable key
 * is re-imported for another, a non-extractable one cannot be and is refused with a clear reason.
 */
export async function bindSigningKey(crypto: Crypto, key: CryptoKey, alg: SignatureAlgorithm): Promise<CryptoKey> {
  if (key.type !== 'private') throw new MailPkiError('ERR_KEY_UNSUPPORTED', 'a private key is needed to sign');
  const scheme = schemeOfKey(key);
  const isRsa = scheme === 'rsa-pkcs1' || scheme === 'rsa-pss';
  const wantRsa = alg.scheme === 'rsa-pkcs1' || alg.scheme === 'rsa-pss';
  if (isRsa !== wantRsa || (!isRsa && scheme !== alg.scheme))
    throw new MailPkiError('ERR_KEY_UNSUPPORTED', `a ${key.algorithm.name} key cannot make ${alg.scheme} signatures`);
  if (!isRsa) return key;
  const keyHash = (key.algorithm as RsaHashedKeyAlgorithm).hash?.name;
  if (scheme === alg.scheme && keyHash === alg.hash) return key;
  const cacheKey = `${alg.scheme}/${alg.hash}`;
  const hit = rebound.get(key)?.get(cacheKey);
  if (hit) return hit;
  if (!key.extractable)
    throw new MailPkiError(
      'ERR_KEY_UNSUPPORTED',
      `this non-extractable key was created for ${key.algorithm.name} with ${keyHash}; it cannot sign ${alg.scheme} with ${alg.hash}. ` +
        'Create or import the key for that algorithm.',
    );
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', key);
  const name = alg.scheme === 'rsa-pss' ? 'RSA-PSS' : 'RSASSA-PKCS1-v1_5';
  const bound = await crypto.subtle.importKey('pkcs8', pkcs8, { name, hash: alg.hash }, false, ['sign']);
  let m = rebound.get(key);
  if (!m) rebound.set(key, (m = new Map()));
  m.set(cacheKey, bound);
  return bound;
}

/** ECDSA raw r||s (WebCrypto) to the DER Ecdsa-Sig-Value that X.509 and CMS carry. */
export function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  const n = raw.length / 2;
  return seq(uintBytes(raw.subarray(0, n)), uintBytes(raw.subarray(n)));
}

/** DER Ecdsa-Sig-Value to raw r||s of the curve's size; undefined when malformed. */
export function ecdsaDerToRaw(der: Uint8Array, size: number): Uint8Array | undefined {
  try {
    const c = cursor(parseDerSequence(der));
    const r = readIntegerBytes(c.next(Tag.INTEGER));
    const s = readIntegerBytes(c.next(Tag.INTEGER));
    c.end();
    const out = new Uint8Array(size * 2);
    for (const [v, at] of [
      [r, 0],
      [s, size],
    ] as const) {
      let i = 0;
      while (i < v.length - 1 && v[i] === 0) i++;
      const body = v.subarray(i);
      if (body.length > size) return undefined;
      out.set(body, at + size - body.length);
    }
    return out;
  } catch {
    return undefined;
  }
}

/** Signs `data`; the result is in the X.509/CMS encoding. */
export async function signBytes(
  crypto: Crypto,
  key: CryptoKey,
  alg: SignatureAlgorithm,
  data: Uint8Array,
): Promise<Uint8Array> {
  const bound = await bindSigningKey(crypto, key, alg);
  const sig = new Uint8Array(await crypto.subtle.sign(signParams(alg), bound, copyIfShared(data)));
  return alg.scheme === 'ecdsa' ? ecdsaRawToDer(sig) : sig;
}

function copyIfShared(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return b.buffer instanceof ArrayBuffer && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength
    ? (b as Uint8Array<ArrayBuffer>)
    : copyBytes(b);
}

export const CURVE_BY_OID: Record<string, 'P-256' | 'P-384' | 'P-521'> = {
  [OID.secp256r1]: 'P-256',
  [OID.secp384r1]: 'P-384',
  [OID.secp521r1]: 'P-521',
};

/** An X25519 public or private key, and the shared secret Z, in bytes (RFC 7748 §5). */
export const X25519_KEY_BYTES = 32;

/** The 32-byte u-coordinate inside an X25519 SubjectPublicKeyInfo already read by readPublicKeyInfo. */
export function x25519PublicKeyBytes(info: PublicKeyInfo): Uint8Array {
  const c = cursor(parseDerSequence(info.spki, 'ERR_KEY_MALFORMED', 'invalid public key'), 'ERR_KEY_MALFORMED', 'invalid public key');
  c.next(Tag.SEQUENCE);
  return readBitString(c.next(Tag.BIT_STRING)).bits;
}

/**
 * The u-coordinates of small order on Curve25519 and its twist, and their non-canonical twins
 * (p-1, p, p+1), with the top bit cleared as X25519 ignores it: with any of them Z is all zero.
 */
const LOW_ORDER_X25519 = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];

/** Whether a 32-byte X25519 public key is one of the low-order points (top bit ignored, as X25519 does). */
export function isLowOrderX25519(u: Uint8Array): boolean {
  if (u.length !== X25519_KEY_BYTES) return false;
  const masked = Array.from(u, (b, i) => (i === 31 ? b & 0x7f : b).toString(16).padStart(2, '0')).join('');
  return LOW_ORDER_X25519.includes(masked);
}

export const CURVE_SIZE: Record<string, number> = { 'P-256': 32, 'P-384': 48, 'P-521': 66 };

/** What a SubjectPublicKeyInfo holds, read without importing it. */
export interface PublicKeyInfo {
  kind: 'rsa' | 'ec' | 'ed25519' | 'x25519';
  /** Modulus size for RSA, field size for EC, 256 for Ed25519 and X25519. */
  bits: number;
  curve?: 'P-256' | 'P-384' | 'P-521';
  /** RSA only: the size of the public exponent e in bits (17 for 65537). */
  exponentBits?: number;
  /** The SPKI DER as given. */
  spki: Uint8Array;
}

/** Bit length of an unsigned big-endian integer (leading zero bytes allowed). */
function bitLength(v: Uint8Array): number {
  let i = 0;
  while (i < v.length && v[i] === 0) i++;
  return i === v.length ? 0 : (v.length - i - 1) * 8 + (32 - Math.clz32(v[i]!));
}

export function readPublicKeyInfo(spki: Uint8Array | Der): PublicKeyInfo {
  const node = spki instanceof Uint8Array ? parseDerSequence(spki, 'ERR_KEY_MALFORMED', 'invalid public key') : spki;
  const c = cursor(node, 'ERR_KEY_MALFORMED', 'invalid public key');
  const algId = cursor(c.next(Tag.SEQUENCE), 'ERR_KEY_MALFORMED', 'invalid public key');
  const keyOid = readOid(algId.next(Tag.OID));
  const bitString = c.next(Tag.BIT_STRING);
  c.end();
  const spkiBytes = encodedOf(node);
  if (keyOid === OID.rsaEncryption) {
    const key = contentOf(bitString).subarray(1);
    const rc = cursor(parseDer(key, 'ERR_KEY_MALFORMED', 'invalid RSA public key'), 'ERR_KEY_MALFORMED', 'invalid RSA public key');
    const n = readIntegerBytes(rc.next(Tag.INTEGER));
    const e = readIntegerBytes(rc.next(Tag.INTEGER));
    rc.end();
    const bits = bitLength(n);
    const exponentBits = bitLength(e);
    // RFC 8017 §3.1: n and e are positive, e odd, 3 ≤ e < n. A verify costs one modular
    // exponentiation by e, so the size of e (and of n) is the cost an attacker chooses: both are
    // bounded here, where every certificate, CMS signer and DKIM key passes.
    if ((n[0]! & 0x80) !== 0 || (e[0]! & 0x80) !== 0) throw new MailPkiError('ERR_KEY_MALFORMED', 'invalid RSA public key: negative modulus or exponent');
    if ((n[n.length - 1]! & 1) === 0) throw new MailPkiError('ERR_KEY_MALFORMED', 'invalid RSA public key: the modulus is even');
    if ((e[e.length - 1]! & 1) === 0 || exponentBits < 2)
      throw new MailPkiError('ERR_KEY_MALFORMED', 'invalid RSA public key: the public exponent must be odd and at least 3');
    if (exponentBits >= bits) throw new MailPkiError('ERR_KEY_MALFORMED', 'invalid RSA public key: the public exponent is not smaller than the modulus');
    if (exponentBits > MAX_RSA_EXPONENT_BITS)
      throw new MailPkiError('ERR_KEY_UNSUPPORTED', `RSA public exponent of ${exponentBits} bits refused (at most ${MAX_RSA_EXPONENT_BITS}; 65537 has 17)`, {
        details: { limit: 'MAX_RSA_EXPONENT_BITS', value: MAX_RSA_EXPONENT_BITS },
      });
    if (bits > MAX_RSA_MODULUS_BITS)
      throw new MailPkiError('ERR_KEY_UNSUPPORTED', `RSA key of ${bits} bits refused (at most ${MAX_RSA_MODULUS_BITS})`, {
        details: { limit: 'MAX_RSA_MODULUS_BITS', value: MAX_RSA_MODULUS_BITS },
      });
    return { kind: 'rsa', bits, exponentBits, spki: spkiBytes };
  }
  if (keyOid === OID.idEcPublicKey) {
    const curveNode = algId.next();
    const curve = curveNode.tag === Tag.OID ? CURVE_BY_OID[readOid(curveNode)] : undefined;
    if (!curve) throw new MailPkiError('ERR_KEY_UNSUPPORTED', 'unsupported elliptic curve (P-256, P-384 and P-521 are supported)');
    return { kind: 'ec', bits: curve === 'P-256' ? 256 : curve === 'P-384' ? 384 : 521, curve, spki: spkiBytes };
  }
  if (keyOid === OID.idEd25519) return { kind: 'ed25519', bits: 256, spki: spkiBytes };
  if (keyOid === OID.idX25519) {
    // RFC 8410 §3: parameters MUST be absent; the key is the 32-byte u-coordinate (RFC 7748 §5).
    if (!algId.done) throw new MailPkiError('ERR_KEY_MALFORMED', 'invalid X25519 public key: the algorithm parameters must be absent (RFC 8410)');
    const { bits: u, unused } = readBitString(bitString);
    if (unused !== 0 || u.length !== X25519_KEY_BYTES)
      throw new MailPkiError('ERR_KEY_MALFORMED', `invalid X25519 public key: it must be ${X25519_KEY_BYTES} bytes, this one has ${u.length}`);
    return { kind: 'x25519', bits: 256, spki: spkiBytes };
  }
  throw new MailPkiError('ERR_KEY_UNSUPPORTED', `unsupported public key algorithm ${keyOid}`);
}

const verifyKeyCache = new Map<string, Promise<CryptoKey>>();
const MAX_VERIFY_KEY_CACHE = 1024;

/** Imports an SPKI for verifying with `alg` (cached: the same issuer key verifies many times). */
export function importVerifyKey(crypto: Crypto, info: PublicKeyInfo, alg: ParsedSignatureAlgorithm): Promise<CryptoKey> {
  let params: RsaHashedImportParams | EcKeyImportParams | AlgorithmIdentifier;
  if (info.kind === 'rsa') {
    if (alg.scheme !== 'rsa-pkcs1' && alg.scheme !== 'rsa-pss') throw mismatch(info, alg);
    params = { name: alg.scheme === 'rsa-pss' ? 'RSA-PSS' : 'RSASSA-PKCS1-v1_5', hash: alg.hash };
  } else if (info.kind === 'ec') {
    if (alg.scheme !== 'ecdsa') throw mismatch(info, alg);
    params = { name: 'ECDSA', namedCurve: info.curve! };
  } else {
    // An X25519 key only agrees keys (RFC 8410 §3): it verifies nothing.
    if (alg.scheme !== 'ed25519' || info.kind !== 'ed25519') throw mismatch(info, alg);
    params = { name: 'Ed25519' };
  }
  const cacheKey = `${alg.scheme}/${alg.hash}/${binaryKey(info.spki)}`;
  const hit = verifyKeyCache.get(cacheKey);
  if (hit && crypto === globalThis.crypto) return hit;
  const p = crypto.subtle.importKey('spki', copyBytes(info.spki), params, false, ['verify']);
  if (crypto === globalThis.crypto) {
    if (verifyKeyCache.size >= MAX_VERIFY_KEY_CACHE) verifyKeyCache.clear();
    verifyKeyCache.set(cacheKey, p);
    p.catch(() => verifyKeyCache.delete(cacheKey));
  }
  return p;
}

function binaryKey(b: Uint8Array): string {
  return fromLatin1(b);
}

function mismatch(info: PublicKeyInfo, alg: ParsedSignatureAlgorithm): MailPkiError {
  return new MailPkiError('ERR_ALGORITHM_UNSUPPORTED', `a ${info.kind} key cannot verify a ${alg.scheme} signature`);
}

/**
 * Verifies a signature made with the key in `info`. Returns false for a bad signature or a
 * malformed signature value; throws only for algorithms it cannot run.
 */
export async function verifyBytes(
  crypto: Crypto,
  info: PublicKeyInfo,
  alg: ParsedSignatureAlgorithm,
  data: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  if (alg.hash === 'MD5') unsupported('MD5 signatures (refused as broken)');
  let key: CryptoKey;
  try {
    key = await importVerifyKey(crypto, info, alg);
  } catch (e) {
    if (e instanceof MailPkiError) throw e;
    // A provider that refuses the key (DataError, NotSupportedError) cannot verify with it.
    throw new MailPkiError('ERR_KEY_UNSUPPORTED', `the public key cannot be used to verify: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  }
  let sig = signature;
  let params: AlgorithmIdentifier | RsaPssParams | EcdsaParams;
  if (alg.scheme === 'ecdsa') {
    const raw = ecdsaDerToRaw(signature, CURVE_SIZE[info.curve!]!);
    if (!raw) return false;
    sig = raw;
    params = { name: 'ECDSA', hash: alg.hash } as EcdsaParams;
  } else if (alg.scheme === 'rsa-pss') {
    params = { name: 'RSA-PSS', saltLength: alg.saltLength ?? 20 } as RsaPssParams;
  } else if (alg.scheme === 'rsa-pkcs1') params = { name: 'RSASSA-PKCS1-v1_5' };
  else params = { name: 'Ed25519' };
  try {
    return await crypto.subtle.verify(params, key, copyIfShared(sig), copyIfShared(data));
  } catch {
    return false;
  }
}
