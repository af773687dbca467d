/**
 * ECDH ephemeral-static key agreement for CMS (RFC 5753 §3.1, RFC 8551 §2.7.1.2): the X9.63 KDF
 * over ECC-CMS-SharedInfo, then AES key wrap (RFC 3394) of the content-encryption key.
 */
import { MailPkiError } from '../errors.js';
import { copyBytes } from '../internal/bytes.js';
import { explicit, octets, oid, seq } from '../internal/der.js';
import { ENVELOPE_OID, type KdfHash } from './enveloped-data.js';
import { cachedPublicKey } from './rsa.js';

export type NistCurve = 'P-256' | 'P-384' | 'P-521';
export type KeyWrap = 'aes-128-wrap' | 'aes-192-wrap' | 'aes-256-wrap';

const WRAP_BYTES: Record<KeyWrap, number> = { 'aes-128-wrap': 16, 'aes-192-wrap': 24, 'aes-256-wrap': 32 };
const WRAP_OID: Record<KeyWrap, string> = {
  'aes-128-wrap': ENVELOPE_OID.aes128Wrap,
  'aes-192-wrap': ENVELOPE_OID.aes192Wrap,
  'aes-256-wrap': ENVELOPE_OID.aes256Wrap,
};
const CURVE_BITS: Record<NistCurve, number> = { 'P-256': 256, 'P-384': 384, 'P-521': 528 };
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
): Promise<Uint8Array> {
  const keyBytes = WRAP_BYTES[wrap];
  const suppPubInfo = new Uint8Array(4);
  new DataView(suppPubInfo.buffer).setUint32(0, keyBytes * 8);
  const sharedInfo = seq(wrapAlgorithmDer, ...(ukm ? [explicit(0, octets(ukm))] : []), explicit(2, octets(suppPubInfo)));
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

/** Ephemeral-static ECDH to one recipient: a fresh key pair, Z, the KEK, and the wrapped CEK. */
export async function agreeAndWrap(crypto: Crypto, recipientSpki: Uint8Array, curve: NistCurve, cek: Uint8Array): Promise<AgreedKey> {
  const params = { name: 'ECDH', namedCurve: curve };
  const recipient = await cachedPublicKey(crypto, recipientSpki, `ECDH ${curve}`, () => crypto.subtle.importKey('spki', copyBytes(recipientSpki), params, false, []));
  const eph = (await crypto.subtle.generateKey(params, true, ['deriveBits'])) as CryptoKeyPair;
  const z = new Uint8Array(await crypto.subtle.deriveBits({ name: 'ECDH', public: recipient }, eph.privateKey, CURVE_BITS[curve]));
  const ephemeralPoint = new Uint8Array(await crypto.subtle.exportKey('raw', eph.publicKey));
  const { hash, oid: kdfOid } = KDF_FOR_CURVE[curve];
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
  curve: NistCurve,
  originatorPoint: Uint8Array,
  kdfHash: KdfHash,
  wrapAlgorithmDer: Uint8Array,
  wrap: KeyWrap,
  encryptedKey: Uint8Array,
  ukm?: Uint8Array,
): Promise<Uint8Array> {
  let pub: CryptoKey;
  try {
    pub = await crypto.subtle.importKey('raw', copyBytes(originatorPoint), { name: 'ECDH', namedCurve: curve }, false, []);
  } catch (e) {
    throw new MailPkiError('ERR_CMS_MALFORMED', `invalid CMS: the originator's ephemeral key is not a point on ${curve}`, { cause: e });
  }
  let z: Uint8Array;
  try {
    z = new Uint8Array(await crypto.subtle.deriveBits({ name: 'ECDH', public: pub }, privateKey, CURVE_BITS[curve]));
  } catch (e) {
    throw new MailPkiError('ERR_CMS_UNWRAP_UNAVAILABLE', `ECDH with this private key failed (${(e as Error).message}); import it for decryption: importPrivateKey(…, { usage: 'decrypt' })`, { cause: e });
  }
  const kek = await deriveKek(crypto, z, kdfHash, wrapAlgorithmDer, wrap, ukm);
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
