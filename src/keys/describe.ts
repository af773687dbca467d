/** What a key is, in the words policies use: kind, size, curve and the matching KeyType. */
import { MailPkiError } from '../errors.js';
import { readPublicKeyInfo } from './algorithms.js';
import type { KeyType } from './generate.js';

export interface KeyDescription {
  kind: 'rsa' | 'ec' | 'ed25519' | 'x25519';
  /** RSA modulus size, EC field size, 256 for Ed25519 and X25519. */
  bits: number;
  curve?: 'P-256' | 'P-384' | 'P-521';
  /** The KeyType this key would have been generated as; absent for sizes and curves mailpki does not generate. */
  keyType?: KeyType;
}

const CURVE_BITS = { 'P-256': 256, 'P-384': 384, 'P-521': 521 } as const;

/**
 * Describes a CryptoKey (public or private, extractable or not) or SPKI DER bytes without
 * exporting anything, so policies ("RSA ≥ 3072 or P-384") can be checked on any key, including
 * one held in a hardware-backed provider.
 *
 * @example
 * describeKey(pair.publicKey) // { kind: 'ec', bits: 256, curve: 'P-256', keyType: 'ec-p256' }
 */
export function describeKey(key: CryptoKey | Uint8Array): KeyDescription {
  if (key instanceof Uint8Array) {
    const info = readPublicKeyInfo(key);
    return withKeyType(info.curve ? { kind: info.kind, bits: info.bits, curve: info.curve } : { kind: info.kind, bits: info.bits });
  }
  if (typeof key !== 'object' || key === null || typeof key.algorithm !== 'object')
    throw new MailPkiError('ERR_INVALID_INPUT', 'key: must be a CryptoKey or SPKI DER bytes', { details: { field: 'key' } });
  const alg = key.algorithm;
  switch (alg.name) {
    case 'RSASSA-PKCS1-v1_5':
    case 'RSA-PSS':
    case 'RSA-OAEP':
      return withKeyType({ kind: 'rsa', bits: (alg as RsaKeyAlgorithm).modulusLength });
    case 'ECDSA': {
      const curve = (alg as EcKeyAlgorithm).namedCurve;
      if (!(curve in CURVE_BITS)) throw new MailPkiError('ERR_KEY_UNSUPPORTED', `unsupported elliptic curve ${curve}`);
      const c = curve as keyof typeof CURVE_BITS;
      return withKeyType({ kind: 'ec', bits: CURVE_BITS[c], curve: c });
    }
    case 'Ed25519':
      return withKeyType({ kind: 'ed25519', bits: 256 });
    case 'X25519':
      return { kind: 'x25519', bits: 256 };
    default:
      throw new MailPkiError('ERR_KEY_UNSUPPORTED', `unsupported key algorithm ${alg.name}`);
  }
}

function withKeyType(d: KeyDescription): KeyDescription {
  let keyType: KeyType | undefined;
  if (d.kind === 'rsa' && (d.bits === 2048 || d.bits === 3072 || d.bits === 4096)) keyType = `rsa-${d.bits}`;
  else if (d.curve === 'P-256') keyType = 'ec-p256';
  else if (d.curve === 'P-384') keyType = 'ec-p384';
  else if (d.kind === 'ed25519') keyType = 'ed25519';
  return keyType ? { ...d, keyType } : d;
}
