/**
 * Decryption keys handed out by the lifecycle manager: a stored PKCS#8 key imported
 * non-extractable for RSA-OAEP (SHA-256) or ECDH, and for RSA a raw RSA operation (for PKCS#1
 * v1.5 key transport and OAEP with other hashes, which WebCrypto binds at import) computed from
 * the key inside a closure, so the key itself never leaves the manager.
 */
import { MailPkiError } from '../errors.js';
import { copyBytes } from '../internal/bytes.js';
import { randomBytes } from '../internal/crypto.js';
import type { Certificate } from '../certs/certificate.js';
import { parsePrivateKeyInfo } from '../keys/private-key-info.js';

/** The CMS layer's key shape (`decryptMessage(raw, { keys })`): one per certificate of the history. */
export interface DecryptionKey {
  /** Non-extractable: RSA-OAEP with SHA-256 (decrypt, unwrapKey) or ECDH (deriveBits, deriveKey). */
  privateKey: CryptoKey;
  certificate: Certificate;
  /**
   * RSA only: c^d mod n for a ciphertext of exactly the modulus length, as bytes of that length
   * (the caller removes the padding, without a padding oracle). Blinded, and checked (m^e = c).
   */
  rawRsaDecrypt?: (c: Uint8Array) => Promise<Uint8Array>;
}

/** Imports a PrivateKeyInfo for decryption; the caller wipes `pkcs8` afterwards. */
export async function importDecryptionKey(pkcs8: Uint8Array, certificate: Certificate, crypto: Crypto): Promise<DecryptionKey> {
  const info = parsePrivateKeyInfo(pkcs8);
  if (info.kind === 'ec') {
    const privateKey = await crypto.subtle.importKey('pkcs8', copyBytes(pkcs8), { name: 'ECDH', namedCurve: info.curve! }, false, ['deriveBits', 'deriveKey']);
    return { privateKey, certificate };
  }
  if (info.kind !== 'rsa') throw new MailPkiError('ERR_KEY_UNSUPPORTED', `a ${info.kind} key cannot decrypt`);
  const privateKey = await crypto.subtle.importKey('pkcs8', copyBytes(pkcs8), { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['decrypt', 'unwrapKey']);
  // The numbers leave WebCrypto once, here, and live on only in the closure below.
  const jwk = await crypto.subtle.exportKey('jwk', await crypto.subtle.importKey('pkcs8', copyBytes(pkcs8), { name: 'RSA-OAEP', hash: 'SHA-256' }, true, ['decrypt']));
  return { privateKey, certificate, rawRsaDecrypt: rawRsa(jwk, crypto) };
}

function rawRsa(jwk: JsonWebKey, crypto: Crypto): (c: Uint8Array) => Promise<Uint8Array> {
  const n = b64uInt(jwk.n);
  const e = b64uInt(jwk.e);
  const p = b64uInt(jwk.p);
  const q = b64uInt(jwk.q);
  const dp = b64uInt(jwk.dp);
  const dq = b64uInt(jwk.dq);
  const qi = b64uInt(jwk.qi);
  const k = (n.toString(16).length + 1) >> 1;
  return async (c: Uint8Array) => {
    if (!(c instanceof Uint8Array) || c.length !== k)
      throw new MailPkiError('ERR_INVALID_INPUT', `rawRsaDecrypt: the ciphertext must be ${k} bytes (the modulus length)`, { details: { field: 'ciphertext' } });
    const ci = bytesInt(c);
    if (ci >= n) throw new MailPkiError('ERR_INVALID_INPUT', 'rawRsaDecrypt: the ciphertext is not below the modulus', { details: { field: 'ciphertext' } });
    // Blinding: the exponentiation works on c·r^e, unrelated to c, so its timing tells nothing about c.
    let r: bigint;
    do r = bytesInt(randomBytes(crypto, k)) % n;
    while (r < 2n || gcd(r, n) !== 1n);
    const blinded = (ci * modPow(r, e, n)) % n;
    const m1 = modPow(blinded % p, dp, p);
    const m2 = modPow(blinded % q, dq, q);
    const h = (qi * ((m1 - m2 + p) % p)) % p;
    const mb = m2 + h * q;
    const m = (mb * modInverse(r, n)) % n;
    // A faulty CRT result would leak a factor of n: never hand it out.
    if (modPow(m, e, n) !== ci) throw new MailPkiError('ERR_KEY_MALFORMED', 'rawRsaDecrypt: the RSA operation failed its check');
    return intBytes(m, k);
  };
}

function b64uInt(s: string | undefined): bigint {
  if (!s) throw new MailPkiError('ERR_KEY_MALFORMED', 'the RSA key lacks a CRT parameter');
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));
  let hex = '';
  for (let i = 0; i < bin.length; i++) hex += bin.charCodeAt(i).toString(16).padStart(2, '0');
  return BigInt(`0x${hex || '0'}`);
}

function bytesInt(b: Uint8Array): bigint {
  let hex = '';
  for (const x of b) hex += x.toString(16).padStart(2, '0');
  return BigInt(`0x${hex || '0'}`);
}

function intBytes(v: bigint, k: number): Uint8Array {
  const hex = v.toString(16).padStart(k * 2, '0');
  const out = new Uint8Array(k);
  for (let i = 0; i < k; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n;
  let b = base % mod;
  let x = exp;
  while (x > 0n) {
    if (x & 1n) result = (result * b) % mod;
    b = (b * b) % mod;
    x >>= 1n;
  }
  return result;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b) [a, b] = [b, a % b];
  return a;
}

function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [a % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const qt = oldR / r;
    [oldR, r] = [r, oldR - qt * r];
    [oldS, s] = [s, oldS - qt * s];
  }
  return ((oldS % m) + m) % m;
}
