/** The PKCS#12 key derivation (RFC 7292 Appendix B.2), used here only for the integrity MAC (ID 3). */
import { HASH_SIZES, hashSync, rehash, type Pkcs12Hash } from '../internal/sha.js';

/** Purpose byte of the derivation: 1 = cipher key, 2 = IV, 3 = MAC key. */
export type Pkcs12KdfId = 1 | 2 | 3;

/**
 * The password as PKCS#12 wants it: BMPString (UTF-16 big-endian) with a two-byte zero
 * terminator. Characters outside the BMP become surrogate pairs, as OpenSSL writes them.
 */
export function bmpPassword(passphrase: string): Uint8Array {
  const out = new Uint8Array(passphrase.length * 2 + 2);
  for (let i = 0; i < passphrase.length; i++) {
    const c = passphrase.charCodeAt(i);
    out[i * 2] = c >> 8;
    out[i * 2 + 1] = c & 0xff;
  }
  return out;
}

/** `src` repeated to fill `length` bytes. */
function repeatTo(src: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = src[i % src.length]!;
  return out;
}

/** Derives `n` bytes from a BMPString password (see bmpPassword) and salt. */
export function pkcs12Kdf(
  hash: Pkcs12Hash,
  password: Uint8Array,
  salt: Uint8Array,
  id: Pkcs12KdfId,
  iterations: number,
  n: number,
): Uint8Array {
  const { u, v } = HASH_SIZES[hash];
  const S = repeatTo(salt, v * Math.ceil(salt.length / v));
  const P = repeatTo(password, v * Math.ceil(password.length / v));
  const D = new Uint8Array(v).fill(id);
  const I = new Uint8Array(S.length + P.length);
  I.set(S);
  I.set(P, S.length);
  const blocks = Math.ceil(n / u);
  const out = new Uint8Array(blocks * u);
  const DI = new Uint8Array(v + I.length);
  for (let i = 0; i < blocks; i++) {
    DI.set(D);
    DI.set(I, v);
    const A = rehash(hash, hashSync(hash, DI), iterations - 1);
    out.set(A, i * u);
    if (i < blocks - 1) addBlockPlusOne(I, repeatTo(A, v), v);
  }
  return out.subarray(0, n);
}

/** I_j = (I_j + B + 1) mod 2^(8v) for each v-byte block I_j of I (step 6C). */
function addBlockPlusOne(I: Uint8Array, B: Uint8Array, v: number): void {
  for (let j = 0; j < I.length; j += v) {
    let carry = 1;
    for (let k = v - 1; k >= 0; k--) {
      const sum = I[j + k]! + B[k]! + carry;
      I[j + k] = sum & 0xff;
      carry = sum >> 8;
    }
  }
}
