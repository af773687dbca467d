/**
 * AES-GCM from node:crypto for mailpki/cms encryptData/decryptData's `aesGcm` option. WebCrypto
 * must copy its whole input and allocate its whole output; node:crypto's streaming cipher lets the
 * content go through in slices, written straight into the output mailpki has already placed, so a
 * 50 MiB message costs one large buffer instead of three. The tag is checked by `final()` before
 * decryptData returns anything.
 */
import { createCipheriv, createDecipheriv, type CipherGCMTypes } from 'node:crypto';
import type { AesGcmCipher } from '../cms/content-encryption.js';

/**
 * Bytes node:crypto ciphers per call: small enough that its temporary output stays in the
 * allocator's warm memory (and in cache) instead of being a fresh mapping for every message.
 */
export const NODE_AES_GCM_SLICE_BYTES = 256 * 1024;

/** The cipher runs on the main thread: it lets other work run after every this many bytes. */
export const NODE_AES_GCM_YIELD_BYTES = 8 * 1024 * 1024;

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

function cipherName(key: Uint8Array): CipherGCMTypes {
  if (key.length === 32) return 'aes-256-gcm';
  if (key.length === 16) return 'aes-128-gcm';
  if (key.length === 24) return 'aes-192-gcm';
  throw new RangeError(`AES-GCM: a ${key.length}-byte key`);
}

/**
 * Runs `update` over `input` in slices, writing each result into `out` where it belongs. BER may
 * hold the content in many tiny chunks: those are gathered into one slice first, so the number of
 * `update` calls is about bytes / slice, not the number of chunks.
 */
async function pump(update: (slice: Uint8Array) => Buffer, input: readonly Uint8Array[], out: Uint8Array): Promise<void> {
  let at = 0;
  let sinceYield = 0;
  const staging = new Uint8Array(Math.min(NODE_AES_GCM_SLICE_BYTES, out.length));
  let staged = 0;
  const feed = async (slice: Uint8Array) => {
    const piece = update(slice);
    if (at + piece.length > out.length) throw new RangeError('AES-GCM: more output than input');
    out.set(piece, at);
    at += piece.length;
    if ((sinceYield += piece.length) >= NODE_AES_GCM_YIELD_BYTES) {
      sinceYield = 0;
      await yieldToLoop();
    }
  };
  const flush = async () => {
    if (staged === 0) return;
    await feed(staging.subarray(0, staged));
    staged = 0;
  };
  for (const chunk of input) {
    if (staged + chunk.length <= staging.length) {
      staging.set(chunk, staged);
      staged += chunk.length;
      if (staged === staging.length) await flush();
      continue;
    }
    await flush();
    for (let i = 0; i < chunk.length; i += NODE_AES_GCM_SLICE_BYTES) await feed(chunk.subarray(i, Math.min(chunk.length, i + NODE_AES_GCM_SLICE_BYTES)));
  }
  await flush();
  if (at !== out.length) throw new RangeError('AES-GCM: output length differs from input length');
}

/**
 * An `aesGcm` for mailpki/cms (and what builds on it) backed by node:crypto.
 *
 * @example
 * const der = await encryptData(big, [{ certificate }], { aesGcm: nodeAesGcm() });
 * const { content } = await decryptData(der, [key], { aesGcm: nodeAesGcm() });
 */
export function nodeAesGcm(): AesGcmCipher {
  return {
    async encrypt(key, nonce, aad, content, out, tagLength) {
      const cipher = createCipheriv(cipherName(key), key, nonce, { authTagLength: tagLength });
      if (aad) cipher.setAAD(aad);
      await pump((s) => cipher.update(s), [content], out);
      cipher.final();
      return new Uint8Array(cipher.getAuthTag());
    },
    async decrypt(key, nonce, aad, ciphertext, tag, out) {
      const decipher = createDecipheriv(cipherName(key), key, nonce, { authTagLength: tag.length });
      decipher.setAuthTag(tag);
      if (aad) decipher.setAAD(aad);
      await pump((s) => decipher.update(s), ciphertext, out);
      decipher.final(); // throws on a tag mismatch; decryptData then wipes `out` and returns nothing
    },
  };
}
