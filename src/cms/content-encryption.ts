/**
 * Content encryption for EnvelopedData / AuthEnvelopedData: AES-GCM (RFC 5084) and AES-CBC
 * (RFC 3565) through WebCrypto. GCM: 12-byte nonce, 16-byte tag, and WebCrypto checks the tag
 * before it hands out any plaintext.
 */
import { MailPkiError } from '../errors.js';
import { copyBytes } from '../internal/bytes.js';
import { Tag, int, octets, oid, seq, tlv } from '../internal/der.js';
import { randomBytes } from '../internal/crypto.js';
import { CONTENT_ENCRYPTION_OID, type ContentEncryption, type ContentEncryptionAlgorithm } from './enveloped-data.js';

export const GCM_NONCE_BYTES = 12;
export const GCM_TAG_BYTES = 16;

export const isGcm = (a: ContentEncryptionAlgorithm): a is 'aes-256-gcm' | 'aes-128-gcm' => a.endsWith('-gcm');

export interface EncryptedContent {
  /** contentEncryptionAlgorithm AlgorithmIdentifier DER. */
  algorithmDer: Uint8Array;
  /** A view of WebCrypto's output: ciphertext without the tag. */
  ciphertext: Uint8Array;
  /** GCM only. */
  tag?: Uint8Array;
}

export async function encryptContent(
  crypto: Crypto,
  algorithm: ContentEncryptionAlgorithm,
  cek: Uint8Array,
  content: Uint8Array,
  aad?: Uint8Array,
): Promise<EncryptedContent> {
  if (isGcm(algorithm)) {
    const nonce = randomBytes(crypto, GCM_NONCE_BYTES);
    const key = await crypto.subtle.importKey('raw', copyBytes(cek), 'AES-GCM', false, ['encrypt']);
    const params: AesGcmParams = { name: 'AES-GCM', iv: copyBytes(nonce), tagLength: GCM_TAG_BYTES * 8 };
    if (aad) params.additionalData = copyBytes(aad);
    const out = new Uint8Array(await crypto.subtle.encrypt(params, key, content as Uint8Array<ArrayBuffer>));
    return {
      // GCMParameters { aes-nonce, aes-ICVlen 16 } (16 differs from the DEFAULT 12, so DER writes it)
      algorithmDer: seq(oid(CONTENT_ENCRYPTION_OID[algorithm]), seq(octets(nonce), int(GCM_TAG_BYTES))),
      ciphertext: out.subarray(0, out.length - GCM_TAG_BYTES),
      tag: out.subarray(out.length - GCM_TAG_BYTES),
    };
  }
  const iv = randomBytes(crypto, 16);
  const key = await crypto.subtle.importKey('raw', copyBytes(cek), 'AES-CBC', false, ['encrypt']);
  const out = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-CBC', iv: copyBytes(iv) }, key, content as Uint8Array<ArrayBuffer>));
  return { algorithmDer: seq(oid(CONTENT_ENCRYPTION_OID[algorithm]), tlv(Tag.OCTET_STRING, iv)), ciphertext: out };
}

/**
 * Decrypts the content. `ciphertextAndTag` is, for GCM, the ciphertext with the tag appended
 * (WebCrypto's form). Any failure is ERR_CMS_DECRYPTION_FAILED and nothing is returned.
 */
export async function decryptContent(
  crypto: Crypto,
  enc: ContentEncryption,
  cek: Uint8Array,
  ciphertextAndTag: Uint8Array,
  aad?: Uint8Array,
): Promise<Uint8Array> {
  const gcm = 'nonce' in enc;
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey('raw', copyBytes(cek), gcm ? 'AES-GCM' : 'AES-CBC', false, ['decrypt']);
  } catch (e) {
    throw new MailPkiError('ERR_CMS_DECRYPTION_FAILED', 'the content could not be decrypted: the recovered key does not fit the content algorithm', { cause: e });
  }
  if (key.algorithm && (key.algorithm as AesKeyAlgorithm).length !== (enc.algorithm.startsWith('aes-256') ? 256 : 128))
    throw new MailPkiError('ERR_CMS_DECRYPTION_FAILED', 'the content could not be decrypted: the recovered key does not fit the content algorithm');
  try {
    if (gcm) {
      const params: AesGcmParams = { name: 'AES-GCM', iv: copyBytes(enc.nonce), tagLength: enc.tagLength * 8 };
      if (aad) params.additionalData = copyBytes(aad);
      return new Uint8Array(await crypto.subtle.decrypt(params, key, ciphertextAndTag as Uint8Array<ArrayBuffer>));
    }
    return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-CBC', iv: copyBytes(enc.iv) }, key, ciphertextAndTag as Uint8Array<ArrayBuffer>));
  } catch (e) {
    throw new MailPkiError(
      'ERR_CMS_DECRYPTION_FAILED',
      gcm
        ? 'the encrypted content failed its authentication check (altered message or wrong key); nothing was decrypted'
        : 'the encrypted content could not be decrypted (bad padding: altered message or wrong key)',
      { cause: e },
    );
  }
}
