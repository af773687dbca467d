/**
 * ECDH ephemeral-static key agreement for CMS (RFC 5753 §3.1, RFC 8551 §2.7.1.2), on the NIST curves
 * and on X25519 (RFC 8418): the X9.63 KDF (or HKDF, RFC 8418 §2.2) over ECC-CMS-SharedInfo, then AES
 * key wrap (RFC 3394) of the content-encryption key.
 */
import { MailPkiError } from '../errors.js';
import { copyBytes } from '../internal/bytes.js';
import { explicit, octets, oid, seq } from '../internal/der.js';
import { ENVELOPE_OID, type KdfHash } from './enveloped-data.js';
import { cachedPublicKey } from './rsa.js';
import { X25519_KEY_BYTES, isLowOrderX25519 } from '../keys/algorithms.js';

export type NistCurve = 'P-256' | 'P-384' | 'P-521';
/** The groups key agreement runs on: the NIST curves (RFC 5753) and X25519 (RFC 8418). */
export type AgreementCurve = NistCurve | 'X25519';
/** How the KEK is derived from Z: ANSI X9.63 (RFC 5753 §7.2) or HKDF (RFC 8418 §2.2). */
export type KdfKind = 'x963' | 'hkdf';
export type KeyWrap = 'aes-128-wrap' | 'aes-192-wrap' | 'aes-256-wrap';

const WRAP_BYTES: Record<KeyWrap, number> = { 'aes-128-wrap': 16, 'aes-192-wrap': 24, 'aes-256-wrap': 32 };
const WRAP_OID: Record<KeyWrap, string> = {
  'aes-128-wrap': ENVELOPE_OID.aes128Wrap,
  'aes-192-wrap': ENVELOPE_OID.aes192Wrap,
  'aes-256-wrap': ENVELOPE_OID.aes256Wrap,
};
const CURVE_BITS: Record<AgreementCurve, number> = { 'P-256': 256, 'P-384': 384, 'P-521': 528, X25519: 256 };
/**
 * RFC 8418 §2.1: X25519 with the X9.63 KDF and SHA-256 (dhSinglePass-stdDH-sha256kdf-scheme, the same OID as for
 * P-256), what RFC 8418 requires every implementation to support and what Bouncy Castle writes.
 */
export const X25519_KDF = { hash: 'SHA-256' as KdfHash, oid: ENVELOPE_OID.dhSinglePassStdDhSha256Kdf };
/** RFC 5753 §8 / RFC 8551 §2.7.1.2 pairings: the KDF hash grows with the curve. */
export const KDF_FOR_CURVE: Record<NistCurve, { hash: KdfHash; oid: string }> = {
  'P-256': { hash: 'SHA-256', oid: ENVELOPE_OID.dhSinglePassStdDhSha256Kdf },
  'P-384': { hash: 'SHA-384', oid: ENVELOPE_OID.dhSinglePassStdDhSha384Kdf },
  'P-521': { hash: 'SHA-512', oid: ENVELOPE_OID.dhSinglePassStdDhSha512Kdf },
};
const HASH_BYTES: Record<KdfHash, number> = { 'SHA-1': 20, 'SHA-256': 32, 'SHA-384': 48, 'SHA-512': 64 };

/** The key wrap AlgorithmIdentifier mailpki writes: parameters absent (RFC 3565 §2.3.2). */
export function wrapAlgorithmIdentifier(wrap: KeyWrap): Uint8Array {
  return seq(oid(WRAP_OID[wrap]));
}

/**
 * ANSI X9.63 KDF (SEC 1 §3.6.1) with ECC-CMS-SharedInfo (RFC 5753 §7.2) as SharedInfo:
 * K = Hash(Z || 00000001 || SharedInfo) || Hash(Z || 00000002 || SharedInfo) …
 */
export async function deriveKek(
  crypto: Crypto,
  z: Uint8Array,
  hash: KdfHash,
  wrapAlgorithmDer: Uint8Array,
  wrap: KeyWrap,
  ukm?: Uint8Array,
  kdf: KdfKind = 'x963',
): Promise<Uint8Array> {
  const keyBytes = WRAP_BYTES[wrap];
  const suppPubInfo = new Uint8Array(4);
  new DataView(suppPubInfo.buffer).setUint32(0, keyBytes * 8);
  const sharedInfo = seq(wrapAlgorithmDer, ...(ukm ? [explicit(0, octets(ukm))] : []), explicit(2, octets(suppPubInfo)));
  if (kdf === 'hkdf') {
    // RFC 8418 §2.2: HKDF-Extract(salt, Z), HKDF-Expand with SharedInfo as info. Without a ukm there is no salt
    // (HKDF's zero-filled default); with one, senders differ on its use, so that case is refused, not guessed.
    if (ukm)
      throw new MailPkiError('ERR_ALGORITHM_UNSUPPORTED', 'key agreement with HKDF and user keying material (ukm) is not supported; the X9.63 KDF with a ukm is');
    const ikm = await crypto.subtle.importKey('raw', copyBytes(z), 'HKDF', false, ['deriveBits']);
    const params = { name: 'HKDF', hash, salt: new Uint8Array(0), info: sharedInfo };
    return new Uint8Array(await crypto.subtle.deriveBits(params, ikm, keyBytes * 8));
  }
  const out = new Uint8Array(keyBytes);
  const input = new Uint8Array(z.length + 4 + sharedInfo.length);
  input.set(z);
  input.set(sharedInfo, z.length + 4);
  const view = new DataView(input.buffer);
  for (let counter = 1, at = 0; at < keyBytes; counter++, at += HASH_BYTES[hash]) {
    view.setUint32(z.length, counter);
    const block = new Uint8Array(await crypto.subtle.digest(hash, input));
    out.set(block.subarray(0, Math.min(block.length, keyBytes - at)), at);
  }
  input.fill(0);
  return out;
}

/** The wrap that matches the content-encryption key size (what OpenSSL and RFC 8551 pick). */
export function wrapForKeyLength(bytes: number): KeyWrap {
  return bytes === 16 ? 'aes-128-wrap' : bytes === 24 ? 'aes-192-wrap' : 'aes-256-wrap';
}

export interface AgreedKey {
  /** The ephemeral public key, uncompressed point. */
  ephemeralPoint: Uint8Array;
  kdfOid: string;
  wrap: KeyWrap;
  encryptedKey: Uint8Array;
}

const paramsOf = (curve: AgreementCurve): Algorithm | EcKeyImportParams => (curve === 'X25519' ? { name: 'X25519' } : { name: 'ECDH', namedCurve: curve });

/** Ephemeral-static ECDH to one recipient: a fresh key pair, Z, the KEK, and the wrapped CEK. */
export async function agreeAndWrap(crypto: Crypto, recipientSpki: Uint8Array, curve: AgreementCurve, cek: Uint8Array): Promise<AgreedKey> {
  const params = paramsOf(curve);
  const x25519 = curve === 'X25519';
  const lowOrder = "the recipient's X25519 key is a low-order point (the shared secret would be all zero, RFC 7748 §6.1): it cannot receive encrypted mail";
  if (x25519) {
    await requireX25519(crypto);
    // readPublicKeyInfo checked the SPKI: parameters absent, the 32-byte u-coordinate at its end.
    if (isLowOrderX25519(recipientSpki.subarray(recipientSpki.length - X25519_KEY_BYTES))) throw new MailPkiError('ERR_KEY_MALFORMED', lowOrder);
  }
  const recipient = await cachedPublicKey(crypto, recipientSpki, `ECDH ${curve}`, () => crypto.subtle.importKey('spki', copyBytes(recipientSpki), params, false, []));
  const eph = (await crypto.subtle.generateKey(params, true, ['deriveBits'])) as CryptoKeyPair;
  const z = new Uint8Array(await crypto.subtle.deriveBits({ name: params.name, public: recipient } as EcdhKeyDeriveParams, eph.privateKey, CURVE_BITS[curve]));
  if (x25519 && isAllZero(z)) throw new MailPkiError('ERR_KEY_MALFORMED', lowOrder);
  const ephemeralPoint = new Uint8Array(await crypto.subtle.exportKey('raw', eph.publicKey));
  const { hash, oid: kdfOid } = curve === 'X25519' ? X25519_KDF : KDF_FOR_CURVE[curve];
  const wrap = wrapForKeyLength(cek.length);
  const kek = await deriveKek(crypto, z, hash, wrapAlgorithmIdentifier(wrap), wrap);
  z.fill(0);
  const encryptedKey = await aesKeyWrap(crypto, kek, cek);
  kek.fill(0);
  return { ephemeralPoint, kdfOid, wrap, encryptedKey };
}

/** RFC 3394 AES key wrap through WebCrypto (AES-KW). */
async function aesKeyWrap(crypto: Crypto, kek: Uint8Array, cek: Uint8Array): Promise<Uint8Array> {
  const kw = await crypto.subtle.importKey('raw', copyBytes(kek), 'AES-KW', false, ['wrapKey']);
  // WebCrypto wraps keys, not bytes: the CEK is imported as a throwaway extractable key to be wrapped.
  const k = await crypto.subtle.importKey('raw', copyBytes(cek), { name: 'AES-CBC' }, true, ['encrypt']);
  return new Uint8Array(await crypto.subtle.wrapKey('raw', k, kw, 'AES-KW'));
}

/**
 * The recipient side: Z from our static key and the originator's ephemeral point, the KEK, and
 * the unwrapped CEK as raw bytes. A failed unwrap (RFC 3394 integrity check) is ERR_CMS_WRONG_KEY.
 */
export async function agreeAndUnwrap(
  crypto: Crypto,
  privateKey: CryptoKey,
  curve: AgreementCurve,
  originatorPoint: Uint8Array,
  kdfHash: KdfHash,
  wrapAlgorithmDer: Uint8Array,
  wrap: KeyWrap,
  encryptedKey: Uint8Array,
  ukm?: Uint8Array,
  kdf: KdfKind = 'x963',
): Promise<Uint8Array> {
  const x25519 = curve === 'X25519';
  if (x25519) {
    await requireX25519(crypto);
    if (originatorPoint.length !== X25519_KEY_BYTES)
      throw new MailPkiError('ERR_CMS_MALFORMED', `invalid CMS: the originator's X25519 key is ${originatorPoint.length} bytes, not ${X25519_KEY_BYTES}`);
    // Refused before any arithmetic, whatever the runtime does with such a point (RFC 7748 §6.1).
    if (isLowOrderX25519(originatorPoint))
      throw new MailPkiError('ERR_CMS_MALFORMED', "invalid CMS: the originator's X25519 key is a low-order point, which would make the shared secret all zero (RFC 7748 §6.1)");
  }
  let pub: CryptoKey;
  try {
    pub = await crypto.subtle.importKey('raw', copyBytes(originatorPoint), paramsOf(curve), false, []);
  } catch (e) {
    throw new MailPkiError('ERR_CMS_MALFORMED', `invalid CMS: the originator's ephemeral key is not a point on ${curve}`, { cause: e });
  }
  let z: Uint8Array;
  try {
    z = new Uint8Array(await crypto.subtle.deriveBits({ name: x25519 ? 'X25519' : 'ECDH', public: pub } as EcdhKeyDeriveParams, privateKey, CURVE_BITS[curve]));
  } catch (e) {
    throw new MailPkiError('ERR_CMS_UNWRAP_UNAVAILABLE', `ECDH with this private key failed (${(e as Error).message}); import it for decryption: importPrivateKey(…, { usage: 'decrypt' })`, { cause: e });
  }
  if (x25519 && isAllZero(z))
    throw new MailPkiError('ERR_CMS_MALFORMED', 'invalid CMS: the X25519 shared secret is all zero (a low-order originator key, RFC 7748 §6.1)');
  const kek = await deriveKek(crypto, z, kdfHash, wrapAlgorithmDer, wrap, ukm, kdf);
  z.fill(0);
  if (encryptedKey.length < 24 || encryptedKey.length % 8 !== 0)
    throw new MailPkiError('ERR_CMS_WRONG_KEY', 'the wrapped key has an impossible length for AES key wrap');
  try {
    const kw = await crypto.subtle.importKey('raw', copyBytes(kek), 'AES-KW', false, ['unwrapKey']);
    const k = await crypto.subtle.unwrapKey('raw', copyBytes(encryptedKey), kw, 'AES-KW', { name: 'AES-CBC' }, true, ['decrypt']);
    return new Uint8Array(await crypto.subtle.exportKey('raw', k));
  } catch (e) {
    throw new MailPkiError('ERR_CMS_WRONG_KEY', 'the ECDH-wrapped key could not be unwrapped with this key (wrong key, or the message was altered)', { cause: e });
  } finally {
    kek.fill(0);
  }
}

function isAllZero(z: Uint8Array): boolean {
  let acc = 0;
  for (const b of z) acc |= b;
  return acc === 0;
}

const x25519Support = new WeakMap<Crypto, Promise<boolean>>();

/** Whether this WebCrypto does X25519 (Node ≥ 20, recent browsers); probed once per Crypto object. */
export function hasX25519(crypto: Crypto): Promise<boolean> {
  let p = x25519Support.get(crypto);
  if (!p) {
    p = Promise.resolve()
      .then(() => crypto.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits']))
      .then(
        (k) => typeof k === 'object' && k !== null && 'privateKey' in k,
        () => false,
      );
    x25519Support.set(crypto, p);
  }
  return p;
}

/** ERR_KEY_UNSUPPORTED, with a sentence, when the runtime's WebCrypto lacks X25519. */
export async function requireX25519(crypto: Crypto): Promise<void> {
  if (!(await hasX25519(crypto)))
    throw new MailPkiError(
      'ERR_KEY_UNSUPPORTED',
      "this runtime's WebCrypto has no X25519, so mail to or from an X25519 certificate cannot be encrypted or decrypted here: use Node 20 or later (or a browser with X25519), or an RSA or EC (P-256, P-384) certificate",
    );
}
