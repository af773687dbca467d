/** Public keys in and out as SubjectPublicKeyInfo (RFC 5280), PEM "PUBLIC KEY" or DER. */
import { MailPkiError } from '../errors.js';
import { copyBytes, fromLatin1 } from '../internal/bytes.js';
import { resolveCrypto } from '../internal/crypto.js';
import { decodePem, encodePem, looksLikePem } from '../internal/pem.js';
import { readPublicKeyInfo, type SignatureAlgorithm } from './algorithms.js';
import { MAX_KEY_INPUT_BYTES } from './limits.js';

export interface ImportPublicKeyOptions {
  /** For RSA keys, the scheme and hash to verify with; default rsa-pkcs1 with SHA-256. */
  algorithm?: SignatureAlgorithm;
  crypto?: Crypto;
}

/**
 * The SubjectPublicKeyInfo DER of a public key: the form certificates, CSRs and DKIM records
 * carry. Public keys are always extractable in WebCrypto, so this works for every key pair.
 */
export async function exportSpki(publicKey: CryptoKey, options: { crypto?: Crypto } = {}): Promise<Uint8Array> {
  if (typeof publicKey !== 'object' || publicKey === null || publicKey.type !== 'public')
    throw new MailPkiError('ERR_INVALID_INPUT', 'publicKey: must be a public CryptoKey (use keyPair.publicKey)', {
      details: { field: 'publicKey' },
    });
  const crypto = resolveCrypto(options.crypto);
  return new Uint8Array(await crypto.subtle.exportKey('spki', publicKey));
}

/** exportSpki as PEM ("PUBLIC KEY"), the form `openssl pkey -pubout` writes. */
export async function exportSpkiPem(publicKey: CryptoKey, options: { crypto?: Crypto } = {}): Promise<string> {
  return encodePem('PUBLIC KEY', await exportSpki(publicKey, options));
}

/** The SPKI DER from PEM text or DER bytes, size-checked. */
export function readSpkiInput(input: string | Uint8Array): Uint8Array {
  if (typeof input !== 'string' && !(input instanceof Uint8Array))
    throw new MailPkiError('ERR_INVALID_INPUT', 'input: must be PEM text or DER bytes', { details: { field: 'input' } });
  if (input.length > MAX_KEY_INPUT_BYTES)
    throw new MailPkiError('ERR_INPUT_TOO_LARGE', `public key input is larger than ${MAX_KEY_INPUT_BYTES} bytes`, {
      details: { limit: MAX_KEY_INPUT_BYTES },
    });
  if (typeof input !== 'string' && !looksLikePem(input)) return input;
  return decodePem(typeof input === 'string' ? input : fromLatin1(input), ['PUBLIC KEY']).der;
}

/**
 * Imports a SubjectPublicKeyInfo (PEM or DER) for verifying. The key kind and curve are read
 * from the SPKI; only an RSA key needs to be told which scheme and hash it will verify.
 */
export async function importPublicKey(input: string | Uint8Array, options: ImportPublicKeyOptions = {}): Promise<CryptoKey> {
  const crypto = resolveCrypto(options.crypto);
  const info = readPublicKeyInfo(readSpkiInput(input));
  const alg = options.algorithm;
  let params: RsaHashedImportParams | EcKeyImportParams | Algorithm;
  if (info.kind === 'rsa') {
    const scheme = alg?.scheme ?? 'rsa-pkcs1';
    if (scheme !== 'rsa-pkcs1' && scheme !== 'rsa-pss') throw mismatch(info.kind, scheme);
    params = { name: scheme === 'rsa-pss' ? 'RSA-PSS' : 'RSASSA-PKCS1-v1_5', hash: alg?.hash ?? 'SHA-256' };
  } else if (info.kind === 'ec') {
    if (alg && alg.scheme !== 'ecdsa') throw mismatch(info.kind, alg.scheme);
    params = { name: 'ECDSA', namedCurve: info.curve! };
  } else if (info.kind === 'x25519') {
    throw new MailPkiError('ERR_KEY_UNSUPPORTED', 'an X25519 key is for key agreement (encryption) only: it cannot verify signatures');
  } else {
    if (alg && alg.scheme !== 'ed25519') throw mismatch(info.kind, alg.scheme);
    params = { name: 'Ed25519' };
  }
  try {
    return await crypto.subtle.importKey('spki', copyBytes(info.spki), params, true, ['verify']);
  } catch (e) {
    throw new MailPkiError('ERR_KEY_MALFORMED', `the ${info.kind} public key was refused by WebCrypto: ${(e as Error).message}`, { cause: e });
  }
}

function mismatch(kind: string, scheme: string): MailPkiError {
  return new MailPkiError('ERR_KEY_UNSUPPORTED', `an ${kind.toUpperCase()} key cannot verify ${scheme} signatures`);
}
