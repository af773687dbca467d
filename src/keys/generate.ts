/** Key pair generation for the key types mailpki issues and signs with. */
import { MailPkiError } from '../errors.js';
import { resolveCrypto } from '../internal/crypto.js';

/**
 * The key types mailpki generates. RSA below 2048 bits and curves beyond P-384 are left out on
 * purpose. 'x25519' (RFC 8410) only agrees keys: an encryption certificate's key (RFC 8418), never a
 * signing one.
 */
export type KeyType = 'rsa-2048' | 'rsa-3072' | 'rsa-4096' | 'ec-p256' | 'ec-p384' | 'ed25519' | 'x25519';

export const KEY_TYPES: readonly KeyType[] = Object.freeze([
  'rsa-2048',
  'rsa-3072',
  'rsa-4096',
  'ec-p256',
  'ec-p384',
  'ed25519',
  'x25519',
]);

export interface GenerateKeyPairOptions {
  /** WebCrypto implementation; default `globalThis.crypto`. */
  crypto?: Crypto;
  /**
   * Whether the private key may be exported (to PKCS#8 or PKCS#12). Default false: signing never
   * needs it, and a key that cannot leave the process cannot leak through a log or a dump.
   */
  extractable?: boolean;
}

const RSA_EXPONENT = Uint8Array.of(1, 0, 1);

/** WebCrypto parameters of each key type. RSA keys are bound to PKCS#1 v1.5 with SHA-256, the S/MIME and DKIM default. */
export function keyGenParams(type: KeyType): RsaHashedKeyGenParams | EcKeyGenParams | Algorithm {
  switch (type) {
    case 'rsa-2048':
    case 'rsa-3072':
    case 'rsa-4096':
      return { name: 'RSASSA-PKCS1-v1_5', modulusLength: Number(type.slice(4)), publicExponent: RSA_EXPONENT, hash: 'SHA-256' };
    case 'ec-p256':
      return { name: 'ECDSA', namedCurve: 'P-256' };
    case 'ec-p384':
      return { name: 'ECDSA', namedCurve: 'P-384' };
    case 'ed25519':
      return { name: 'Ed25519' };
    case 'x25519':
      return { name: 'X25519' };
  }
}

/** Whether keys of this type can sign (an X25519 key only agrees keys, RFC 8410 §3). */
export function keyTypeSigns(type: KeyType): boolean {
  return type !== 'x25519';
}

/** Whether keys of this type can receive encrypted mail (an Ed25519 key only signs). */
export function keyTypeDecrypts(type: KeyType): boolean {
  return type !== 'ed25519';
}

/** Throws ERR_KEY_UNSUPPORTED, listing the valid types, unless `type` is a KeyType. */
export function assertKeyType(type: unknown): asserts type is KeyType {
  if (typeof type !== 'string' || !(KEY_TYPES as readonly string[]).includes(type))
    throw new MailPkiError(
      'ERR_KEY_UNSUPPORTED',
      `unsupported key type ${JSON.stringify(type)}; use one of ${KEY_TYPES.join(', ')}`,
      { details: { field: 'type', valid: [...KEY_TYPES] } },
    );
}

/**
 * Generates a signing key pair (for 'x25519', a key-agreement pair: usage deriveBits). The private
 * key is non-extractable unless asked otherwise, because the usual life of a mail-signing key is
 * "generate, get a certificate, sign" and only backups or PKCS#12 delivery need the key bytes.
 *
 * @example
 * const { privateKey, publicKey } = await generateKeyPair('ec-p256');
 */
export async function generateKeyPair(type: KeyType, options: GenerateKeyPairOptions = {}): Promise<CryptoKeyPair> {
  assertKeyType(type);
  const crypto = resolveCrypto(options.crypto);
  const usages: KeyUsage[] = keyTypeSigns(type) ? ['sign', 'verify'] : ['deriveBits'];
  const pair = await crypto.subtle.generateKey(keyGenParams(type), options.extractable ?? false, usages);
  return pair as CryptoKeyPair;
}
