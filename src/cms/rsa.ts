/**
 * The RSA pieces WebCrypto lacks for CMS key transport: RSAES-PKCS1-v1_5 (RFC 8017 §7.2) both
 * ways, and OAEP decoding over a raw RSA decryption (for keys WebCrypto bound to another hash,
 * or an injected `rawRsaDecrypt`). The private operation uses CRT with base blinding and checks
 * its result; BigInt arithmetic is not constant time, so a caller with an HSM or node:crypto
 * should inject `rawRsaDecrypt` instead (docs/cms.md).
 */
import { MailPkiError } from '../errors.js';
import { Tag, cursor, parseDer, readIntegerBytes, readOctetString, readOid, readSmallInt } from '../internal/der.js';
import { OID } from '../internal/oids.js';
import { copyBytes } from '../internal/bytes.js';
import { randomBytes } from '../internal/crypto.js';
import type { OaepHash } from './enveloped-data.js';

export interface RsaPublicNumbers {
  n: bigint;
  e: bigint;
  /** Modulus length in bytes. */
  k: number;
}

export interface RsaPrivateNumbers extends RsaPublicNumbers {
  d: bigint;
  p: bigint;
  q: bigint;
  dp: bigint;
  dq: bigint;
  qinv: bigint;
}

export function bytesToBigInt(bytes: Uint8Array): bigint {
  let hex = '0x0';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return BigInt(hex);
}

export function bigIntToBytes(v: bigint, length: number): Uint8Array {
  const hex = v.toString(16).padStart(length * 2, '0');
  if (hex.length > length * 2) throw new MailPkiError('ERR_CMS_DECRYPTION_FAILED', 'RSA result longer than the modulus');
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** base^exp mod m with a 4-bit fixed window (a multiply every window, whatever the exponent bits). */
export function modPow(base: bigint, exp: bigint, m: bigint): bigint {
  if (m === 1n) return 0n;
  base %= m;
  const table: bigint[] = [1n];
  for (let i = 1; i < 16; i++) table.push((table[i - 1]! * base) % m);
  const bits = exp.toString(16);
  let r = 1n;
  for (const digit of bits) {
    r = (r * r) % m;
    r = (r * r) % m;
    r = (r * r) % m;
    r = (r * r) % m;
    r = (r * table[parseInt(digit, 16)]!) % m;
  }
  return r;
}

function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [a % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  if (oldR !== 1n) throw new MailPkiError('ERR_KEY_MALFORMED', 'RSA blinding value not invertible');
  return ((oldS % m) + m) % m;
}

/** The numbers of an RSA PrivateKeyInfo (PKCS#8, already checked by parsePrivateKeyInfo). */
export function readRsaPrivateNumbers(pkcs8: Uint8Array): RsaPrivateNumbers {
  const what = 'invalid RSA private key';
  const c = cursor(parseDer(pkcs8, 'ERR_KEY_MALFORMED', what), 'ERR_KEY_MALFORMED', what);
  c.next(Tag.INTEGER);
  const alg = cursor(c.next(Tag.SEQUENCE), 'ERR_KEY_MALFORMED', what);
  if (readOid(alg.next(Tag.OID)) !== OID.rsaEncryption) throw new MailPkiError('ERR_KEY_UNSUPPORTED', 'not an RSA key');
  const inner = readOctetString(c.next(Tag.OCTET_STRING));
  const r = cursor(parseDer(inner, 'ERR_KEY_MALFORMED', what), 'ERR_KEY_MALFORMED', what);
  if (readSmallInt(r.next(Tag.INTEGER)) !== 0) throw new MailPkiError('ERR_KEY_UNSUPPORTED', 'multi-prime RSA keys are not supported');
  const [n, e, d, p, q, dp, dq, qinv] = Array.from({ length: 8 }, () => bytesToBigInt(readIntegerBytes(r.next(Tag.INTEGER))));
  return { n: n!, e: e!, d: d!, p: p!, q: q!, dp: dp!, dq: dq!, qinv: qinv!, k: Math.ceil(n!.toString(2).length / 8) };
}

/** The numbers of an RSA SubjectPublicKeyInfo. */
export function readRsaPublicNumbers(spki: Uint8Array): RsaPublicNumbers {
  const what = 'invalid RSA public key';
  const c = cursor(parseDer(spki, 'ERR_KEY_MALFORMED', what), 'ERR_KEY_MALFORMED', what);
  c.next(Tag.SEQUENCE);
  const bits = c.next(Tag.BIT_STRING);
  const key = bits.bytes.subarray(bits.contentStart + 1, bits.end);
  const r = cursor(parseDer(key, 'ERR_KEY_MALFORMED', what), 'ERR_KEY_MALFORMED', what);
  const n = bytesToBigInt(readIntegerBytes(r.next(Tag.INTEGER)));
  const e = bytesToBigInt(readIntegerBytes(r.next(Tag.INTEGER)));
  return { n, e, k: Math.ceil(n.toString(2).length / 8) };
}

/**
 * RSADP (RFC 8017 §5.1.2) with CRT, base blinding (a fresh r per call) and a check that the
 * result encrypts back to the input (a faulty CRT half would otherwise leak a factor).
 */
export function rsaPrivateRaw(key: RsaPrivateNumbers, c: Uint8Array, crypto: Crypto): Uint8Array {
  if (c.length !== key.k) throw new MailPkiError('ERR_CMS_WRONG_KEY', 'the wrapped key does not have the length of the RSA modulus');
  const cv = bytesToBigInt(c);
  if (cv >= key.n) throw new MailPkiError('ERR_CMS_WRONG_KEY', 'the wrapped key is not smaller than the RSA modulus');
  let r: bigint;
  do r = bytesToBigInt(randomBytes(crypto, key.k)) % key.n;
  while (r < 2n);
  const blinded = (cv * modPow(r, key.e, key.n)) % key.n;
  const m1 = modPow(blinded % key.p, key.dp, key.p);
  const m2 = modPow(blinded % key.q, key.dq, key.q);
  const h = (key.qinv * (((m1 - m2) % key.p) + key.p)) % key.p;
  const mb = m2 + h * key.q;
  if (modPow(mb, key.e, key.n) !== blinded) throw new MailPkiError('ERR_CMS_WRONG_KEY', 'the RSA private operation failed its self-check');
  const m = (mb * modInverse(r, key.n)) % key.n;
  return bigIntToBytes(m, key.k);
}

/**
 * A `rawRsaDecrypt` (CmsDecryptionKey) over numbers that live on only in its closure, so a
 * non-extractable CryptoKey can still serve PKCS#1 v1.5 and OAEP with other hashes. A block of
 * the wrong length or not below n is the caller's mistake (ERR_INVALID_INPUT); decryptData turns
 * any failure into ERR_CMS_WRONG_KEY.
 */
export function rawRsaDecryptWith(key: RsaPrivateNumbers, crypto: Crypto): (c: Uint8Array) => Promise<Uint8Array> {
  return async (c: Uint8Array) => {
    if (!(c instanceof Uint8Array) || c.length !== key.k)
      throw new MailPkiError('ERR_INVALID_INPUT', `rawRsaDecrypt: the ciphertext must be ${key.k} bytes (the modulus length)`, { details: { field: 'ciphertext' } });
    if (bytesToBigInt(c) >= key.n) throw new MailPkiError('ERR_INVALID_INPUT', 'rawRsaDecrypt: the ciphertext is not below the modulus', { details: { field: 'ciphertext' } });
    return rsaPrivateRaw(key, c, crypto);
  };
}

/** RSAEP: m^e mod n. */
export function rsaPublicRaw(key: RsaPublicNumbers, m: Uint8Array): Uint8Array {
  return bigIntToBytes(modPow(bytesToBigInt(m), key.e, key.n), key.k);
}

/** RSAES-PKCS1-v1_5 encryption (RFC 8017 §7.2.1): 00 02 PS(≥8 non-zero random bytes) 00 M. */
export function pkcs1Encrypt(key: RsaPublicNumbers, message: Uint8Array, crypto: Crypto): Uint8Array {
  const psLen = key.k - message.length - 3;
  if (psLen < 8) throw new MailPkiError('ERR_KEY_WEAK', 'the RSA key is too small to carry the content-encryption key');
  const em = new Uint8Array(key.k);
  em[1] = 2;
  const ps = em.subarray(2, 2 + psLen);
  let filled = 0;
  while (filled < psLen) {
    for (const b of randomBytes(crypto, psLen)) if (b !== 0 && filled < psLen) ps[filled++] = b;
  }
  em.set(message, 3 + psLen);
  return rsaPublicRaw(key, em);
}

/**
 * RSAES-PKCS1-v1_5 decoding without a padding oracle (RFC 3218 §2.3, the "implicit rejection"
 * of TLS): every byte is looked at whatever the padding, and on any defect — bad header, PS
 * shorter than 8, no separator, a key of the wrong length — `fallback` (derived by the caller from
 * the decrypted block, so one ciphertext always fails alike) is returned instead. The caller learns nothing; the content check fails later
 * with the same error as any other wrong key.
 */
export function pkcs1DecodeImplicit(em: Uint8Array, expectedLength: number, fallback: Uint8Array): Uint8Array {
  const k = em.length;
  let bad = em[0]! | (em[1]! ^ 2);
  let sepIndex = 0;
  let found = 0;
  for (let i = 2; i < k; i++) {
    const isZero = ((em[i]! - 1) >>> 8) & 1; // 1 when em[i] === 0
    const first = isZero & (found ^ 1);
    sepIndex |= -first & i;
    found |= isZero;
  }
  bad |= found ^ 1;
  bad |= sepIndex < 10 ? 1 : 0;
  bad |= k - sepIndex - 1 !== expectedLength ? 1 : 0;
  const out = new Uint8Array(expectedLength);
  const mask = -(((bad | -bad) >>> 31) & 1) & 0xff; // 0xff when any defect was seen
  const start = k - expectedLength;
  for (let i = 0; i < expectedLength; i++) out[i] = (em[start + i]! & ~mask) | (fallback[i]! & mask);
  return out;
}

const HASH_LENGTH: Record<OaepHash, number> = { 'SHA-1': 20, 'SHA-256': 32, 'SHA-384': 48, 'SHA-512': 64 };

async function mgf1(crypto: Crypto, hash: OaepHash, seed: Uint8Array, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  const h = HASH_LENGTH[hash];
  const input = new Uint8Array(seed.length + 4);
  input.set(seed);
  for (let counter = 0, at = 0; at < length; counter++, at += h) {
    new DataView(input.buffer).setUint32(seed.length, counter);
    const block = new Uint8Array(await crypto.subtle.digest(hash, input));
    out.set(block.subarray(0, Math.min(h, length - at)), at);
  }
  return out;
}

/**
 * EME-OAEP decoding (RFC 8017 §7.1.2 step 3), empty label. Every defect gives the same error,
 * after the whole block was examined (Manger's attack needs them told apart).
 */
export async function oaepDecode(crypto: Crypto, em: Uint8Array, hash: OaepHash, mgfHash: OaepHash): Promise<Uint8Array> {
  const hLen = HASH_LENGTH[hash];
  const k = em.length;
  const fail = (): never => {
    throw new MailPkiError('ERR_CMS_WRONG_KEY', 'the RSA-OAEP wrapped key could not be decrypted with this key');
  };
  if (k < 2 * hLen + 2) fail();
  const maskedSeed = em.subarray(1, 1 + hLen);
  const maskedDb = em.subarray(1 + hLen);
  const seedMask = await mgf1(crypto, mgfHash, maskedDb, hLen);
  const seed = maskedSeed.map((b, i) => b ^ seedMask[i]!);
  const dbMask = await mgf1(crypto, mgfHash, seed, k - hLen - 1);
  const db = maskedDb.map((b, i) => b ^ dbMask[i]!);
  const lHash = new Uint8Array(await crypto.subtle.digest(hash, new Uint8Array(0)));
  let bad = em[0]!;
  for (let i = 0; i < hLen; i++) bad |= db[i]! ^ lHash[i]!;
  let oneIndex = 0;
  let found = 0;
  let padBad = 0;
  for (let i = hLen; i < db.length; i++) {
    const isOne = db[i] === 1 ? 1 : 0;
    const isZero = db[i] === 0 ? 1 : 0;
    const first = isOne & (found ^ 1);
    oneIndex |= -first & i;
    padBad |= (found ^ 1) & (isZero ^ 1) & (isOne ^ 1);
    found |= isOne;
  }
  if (bad | padBad | (found ^ 1)) fail();
  return db.slice(oneIndex + 1);
}

/** RSA-OAEP encryption through WebCrypto (hash and MGF1 hash the same, as WebCrypto has it). */
export async function oaepEncrypt(crypto: Crypto, spki: Uint8Array, hash: OaepHash, message: Uint8Array): Promise<Uint8Array> {
  const key = await cachedPublicKey(crypto, spki, hash, () => crypto.subtle.importKey('spki', copyBytes(spki), { name: 'RSA-OAEP', hash }, false, ['encrypt']));
  return new Uint8Array(await crypto.subtle.encrypt({ name: 'RSA-OAEP' }, key, copyBytes(message)));
}

/**
 * Imported recipient public keys, per WebCrypto and per SPKI buffer (a parsed Certificate keeps one): importing
 * an RSA key costs more than the OAEP encryption itself, and a sender encrypts to the same people again and again.
 */
const publicKeyCache = new WeakMap<Crypto, WeakMap<Uint8Array, Map<string, Promise<CryptoKey>>>>();

export function cachedPublicKey(crypto: Crypto, spki: Uint8Array, kind: string, load: () => Promise<CryptoKey>): Promise<CryptoKey> {
  let perCrypto = publicKeyCache.get(crypto);
  if (!perCrypto) publicKeyCache.set(crypto, (perCrypto = new WeakMap()));
  let perKey = perCrypto.get(spki);
  if (!perKey) perCrypto.set(spki, (perKey = new Map()));
  let p = perKey.get(kind);
  if (!p) {
    p = load();
    perKey.set(kind, p);
    p.catch(() => perKey.delete(kind));
  }
  return p;
}
