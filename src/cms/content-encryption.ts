/**
 * Content encryption for EnvelopedData / AuthEnvelopedData: AES-GCM (RFC 5084) and AES-CBC
 * (RFC 3565) through WebCrypto, or AES-GCM through an injected `AesGcmCipher` (mailpki/node's
 * nodeAesGcm). GCM: 12-byte nonce, 16-byte tag, and the tag is checked before any plaintext is
 * handed out.
 *
 * Large content is where the time goes, and on many machines a fresh large buffer costs more
 * (page faults) than the AES over it: every big allocation here is counted (docs/encrypting.md).
 */
import { z } from 'zod';
import { MailPkiError } from '../errors.js';
import { concatBytes, copyBytes } from '../internal/bytes.js';
import { Tag, int, octets, oid, seq, tlv } from '../internal/der.js';
import { randomBytes } from '../internal/crypto.js';
import { CONTENT_ENCRYPTION_OID, type ContentEncryption, type ContentEncryptionAlgorithm } from './enveloped-data.js';

export const GCM_NONCE_BYTES = 12;
export const GCM_TAG_BYTES = 16;

export const isGcm = (a: ContentEncryptionAlgorithm): a is 'aes-256-gcm' | 'aes-128-gcm' => a.endsWith('-gcm');

/**
 * AES-GCM over caller-given buffers, to inject instead of WebCrypto's (which must copy its input
 * and allocate its output): `nodeAesGcm()` from mailpki/node streams node:crypto into the output
 * in place. Both operations write exactly as many bytes as they read.
 */
export interface AesGcmCipher {
  /** Encrypts `content` into `out` (same length) and resolves to the tag (`tagLength` bytes). */
  encrypt(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array | undefined, content: Uint8Array, out: Uint8Array, tagLength: number): Promise<Uint8Array>;
  /**
   * Decrypts the ciphertext (in order, possibly several BER chunks) into `out` (their total length)
   * and resolves only when the tag matched; rejects otherwise. What it wrote into `out` before it
   * rejects is wiped by the caller and never returned.
   */
  decrypt(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array | undefined, ciphertext: readonly Uint8Array[], tag: Uint8Array, out: Uint8Array): Promise<void>;
}

export const isAesGcmCipher = (v: unknown): v is AesGcmCipher =>
  typeof v === 'object' && v !== null && typeof (v as AesGcmCipher).encrypt === 'function' && typeof (v as AesGcmCipher).decrypt === 'function';

/** The `aesGcm` option at every edge that takes one (mailpki/cms and the message-level API). */
export const aesGcmCipherSchema = z.custom<AesGcmCipher>(isAesGcmCipher, 'expected an object with encrypt and decrypt functions (e.g. nodeAesGcm())');

/** The contentEncryptionAlgorithm AlgorithmIdentifier (DER) and what the cipher needs, drawn before any encryption. */
export interface ContentEncryptionParams {
  algorithm: ContentEncryptionAlgorithm;
  algorithmDer: Uint8Array;
  /** GCM nonce or CBC IV. */
  iv: Uint8Array;
  /** Bytes of ciphertext for `contentLength` bytes of content (CBC adds PKCS#7 padding; the GCM tag is apart). */
  ciphertextLength: (contentLength: number) => number;
}

export function contentEncryptionParams(crypto: Crypto, algorithm: ContentEncryptionAlgorithm): ContentEncryptionParams {
  if (isGcm(algorithm)) {
    const nonce = randomBytes(crypto, GCM_NONCE_BYTES);
    return {
      algorithm,
      // GCMParameters { aes-nonce, aes-ICVlen 16 } (16 differs from the DEFAULT 12, so DER writes it)
      algorithmDer: seq(oid(CONTENT_ENCRYPTION_OID[algorithm]), seq(octets(nonce), int(GCM_TAG_BYTES))),
      iv: nonce,
      ciphertextLength: (n) => n,
    };
  }
  const iv = randomBytes(crypto, 16);
  return { algorithm, algorithmDer: seq(oid(CONTENT_ENCRYPTION_OID[algorithm]), tlv(Tag.OCTET_STRING, iv)), iv, ciphertextLength: (n) => (Math.floor(n / 16) + 1) * 16 };
}

/**
 * Encrypts `content` into the view `place()` gives (exactly `ciphertextLength(content.length)`
 * bytes: its place in the DER being written) and returns the GCM tag. An injected AesGcmCipher
 * writes there itself; WebCrypto's result is copied there once, and `place()` (which allocates
 * the output) runs while WebCrypto works off the main thread.
 */
export async function encryptContentInto(
  crypto: Crypto,
  p: ContentEncryptionParams,
  cek: Uint8Array,
  content: Uint8Array,
  place: () => Uint8Array,
  aad: Uint8Array | undefined,
  aesGcm: AesGcmCipher | undefined,
): Promise<Uint8Array | undefined> {
  if (isGcm(p.algorithm) && aesGcm) {
    const tag = await aesGcm.encrypt(cek, p.iv, aad, content, place(), GCM_TAG_BYTES);
    if (!(tag instanceof Uint8Array) || tag.length !== GCM_TAG_BYTES)
      throw new MailPkiError('ERR_INVALID_INPUT', `aesGcm: the injected cipher returned a tag that is not ${GCM_TAG_BYTES} bytes`, { details: { field: 'aesGcm' } });
    return tag;
  }
  const gcm = isGcm(p.algorithm);
  const key = await crypto.subtle.importKey('raw', copyBytes(cek), gcm ? 'AES-GCM' : 'AES-CBC', false, ['encrypt']);
  const params: AesGcmParams | AesCbcParams = gcm
    ? { name: 'AES-GCM', iv: copyBytes(p.iv), tagLength: GCM_TAG_BYTES * 8, ...(aad ? { additionalData: copyBytes(aad) } : {}) }
    : { name: 'AES-CBC', iv: copyBytes(p.iv) };
  const pending = crypto.subtle.encrypt(params, key, content as Uint8Array<ArrayBuffer>);
  let out: Uint8Array;
  try {
    out = place();
  } catch (e) {
    await pending.catch(() => undefined);
    throw e;
  }
  const result = new Uint8Array(await pending);
  const ctLength = result.length - (gcm ? GCM_TAG_BYTES : 0);
  if (ctLength !== out.length) throw new MailPkiError('ERR_UNSUPPORTED_RUNTIME', 'WebCrypto returned a ciphertext of an unexpected length');
  out.set(result.subarray(0, ctLength));
  return gcm ? result.slice(ctLength) : undefined;
}

const authFailure = (cause: unknown) =>
  new MailPkiError('ERR_CMS_DECRYPTION_FAILED', 'the encrypted content failed its authentication check (altered message or wrong key); nothing was decrypted', { cause });

/**
 * Decrypts the content, given as the chunks the message holds it in (one for DER). Any failure is
 * ERR_CMS_DECRYPTION_FAILED and nothing is returned. `owner` is the whole input the chunks are
 * views of (see webCryptoGcmDecrypt).
 */
export async function decryptContent(
  crypto: Crypto,
  enc: ContentEncryption,
  cek: Uint8Array,
  chunks: readonly Uint8Array[],
  tag: Uint8Array | undefined,
  aad: Uint8Array | undefined,
  options: { owner?: Uint8Array; aesGcm?: AesGcmCipher } = {},
): Promise<Uint8Array> {
  const gcm = 'nonce' in enc;
  const keyBits = enc.algorithm.startsWith('aes-256') ? 256 : 128;
  if (cek.length * 8 !== keyBits)
    throw new MailPkiError('ERR_CMS_DECRYPTION_FAILED', 'the content could not be decrypted: the recovered key does not fit the content algorithm');
  if (gcm && options.aesGcm) {
    let total = 0;
    for (const c of chunks) total += c.length;
    const out = new Uint8Array(total);
    try {
      await options.aesGcm.decrypt(cek, enc.nonce, aad, chunks, tag!, out);
    } catch (e) {
      out.fill(0);
      throw authFailure(e);
    }
    return out;
  }
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey('raw', copyBytes(cek), gcm ? 'AES-GCM' : 'AES-CBC', false, ['decrypt']);
  } catch (e) {
    throw new MailPkiError('ERR_CMS_DECRYPTION_FAILED', 'the content could not be decrypted: the recovered key does not fit the content algorithm', { cause: e });
  }
  try {
    if (gcm) {
      const params: AesGcmParams = { name: 'AES-GCM', iv: copyBytes(enc.nonce), tagLength: enc.tagLength * 8 };
      if (aad) params.additionalData = copyBytes(aad);
      return new Uint8Array(await webCryptoGcmDecrypt(crypto, params, key, chunks, tag!, options.owner));
    }
    return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-CBC', iv: copyBytes(enc.iv) }, key, gather(chunks) as Uint8Array<ArrayBuffer>));
  } catch (e) {
    if (gcm) throw authFailure(e);
    throw new MailPkiError('ERR_CMS_DECRYPTION_FAILED', 'the encrypted content could not be decrypted (bad padding: altered message or wrong key)', { cause: e });
  }
}

/**
 * WebCrypto wants ciphertext and tag in one buffer; in DER the tag comes a few bytes after the
 * ciphertext. Joining them costs a copy of the whole content, so when the ciphertext is one view of
 * `owner` (the caller's input) with room after it, the tag is written right after it, the call
 * made, and the bytes put back — all before anything else can run: WebCrypto copies its input
 * synchronously, when it is called (W3C WebCrypto, "get a copy of the buffer source"); an injected
 * `crypto` that read it later would see the original bytes and fail the tag check, never succeed
 * wrongly. A SharedArrayBuffer (another thread could look), an immutable buffer or BER chunks get
 * the joined copy instead.
 */
function webCryptoGcmDecrypt(crypto: Crypto, params: AesGcmParams, key: CryptoKey, chunks: readonly Uint8Array[], tag: Uint8Array, owner: Uint8Array | undefined): Promise<ArrayBuffer> {
  const ct = chunks.length === 1 ? chunks[0]! : undefined;
  const end = ct ? ct.byteOffset + ct.length : 0;
  const inPlace =
    ct !== undefined &&
    owner !== undefined &&
    ct.buffer === owner.buffer &&
    !(typeof SharedArrayBuffer !== 'undefined' && owner.buffer instanceof SharedArrayBuffer) &&
    (owner.buffer as { immutable?: boolean }).immutable !== true &&
    ct.byteOffset >= owner.byteOffset &&
    end + tag.length <= owner.byteOffset + owner.length;
  if (!inPlace) return crypto.subtle.decrypt(params, key, gather(chunks, tag) as Uint8Array<ArrayBuffer>);
  const tagCopy = tag.slice(); // the tag itself lies in the bytes about to be overwritten
  const after = new Uint8Array(ct.buffer, end, tagCopy.length);
  const saved = after.slice();
  after.set(tagCopy);
  try {
    return crypto.subtle.decrypt(params, key, new Uint8Array(ct.buffer as ArrayBuffer, ct.byteOffset, ct.length + tagCopy.length));
  } finally {
    after.set(saved);
  }
}

/** The chunks (and GCM tag) in one buffer: a single copy, however many BER chunks; none for one chunk alone. */
function gather(chunks: readonly Uint8Array[], tag?: Uint8Array): Uint8Array {
  if (!tag && chunks.length === 1) return chunks[0]!;
  return concatBytes(tag ? [...chunks, tag] : chunks);
}
