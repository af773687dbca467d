/**
 * Loading a private key for CMS decryption from PEM/DER or a PKCS#12 file. RSA keys get a
 * non-extractable RSA-OAEP (SHA-256) CryptoKey for the common case plus a `rawRsaDecrypt` kept in
 * a closure, so PKCS#1 v1.5 and OAEP with other hashes work without an extractable CryptoKey.
 */
import { MailPkiError } from '../errors.js';
import { parseCertificate, type Certificate } from '../certs/certificate.js';
import { copyBytes, toBase64 } from '../internal/bytes.js';
import { resolveCrypto } from '../internal/crypto.js';
import { x25519PublicKeyBytes } from '../keys/algorithms.js';
import { importPrivateKeyInfo, readPrivateKeyInfoInput } from '../keys/pkcs8.js';
import { requireX25519 } from './key-agreement.js';
import { parsePrivateKeyInfo } from '../keys/private-key-info.js';
import { importPkcs12 } from '../pkcs12/import.js';
import type { CmsDecryptionKey } from './decrypt.js';
import { rawRsaDecryptWith, readRsaPrivateNumbers, readRsaPublicNumbers } from './rsa.js';

export interface ImportDecryptionKeyOptions {
  /** For an encrypted PKCS#8 key. */
  passphrase?: string;
  crypto?: Crypto;
}

function certificateOf(input: Certificate | string | Uint8Array): Certificate {
  if (typeof input === 'string' || input instanceof Uint8Array) return parseCertificate(input);
  if (typeof input !== 'object' || input === null || !(input.der instanceof Uint8Array))
    throw new MailPkiError('ERR_INVALID_INPUT', 'certificate: must be a parsed Certificate, PEM text or DER bytes', { details: { field: 'certificate' } });
  return input;
}

/**
 * A decryption key from a DER PrivateKeyInfo and its parsed certificate (the lifecycle manager's
 * stored keys come this way); the caller wipes `pkcs8` afterwards. Not exported from mailpki/cms.
 */
export async function decryptionKeyFromPrivateKeyInfo(crypto: Crypto, pkcs8: Uint8Array, certificate: Certificate): Promise<CmsDecryptionKey> {
  const info = parsePrivateKeyInfo(pkcs8);
  const pub = certificate.publicKey;
  if (info.kind === 'rsa') {
    if (pub.kind !== 'rsa') throw new MailPkiError('ERR_KEY_MISMATCH', `the private key is RSA but the certificate has a ${pub.kind} key`);
    const numbers = readRsaPrivateNumbers(info.der);
    if (numbers.n !== readRsaPublicNumbers(pub.spki).n) throw new MailPkiError('ERR_KEY_MISMATCH', 'the private key does not belong to the certificate');
    const privateKey = await importPrivateKeyInfo(crypto, info, { usage: 'decrypt' });
    return { privateKey, certificate, rawRsaDecrypt: rawRsaDecryptWith(numbers, crypto) };
  }
  if (info.kind === 'ec') {
    if (pub.kind !== 'ec' || pub.curve !== info.curve)
      throw new MailPkiError('ERR_KEY_MISMATCH', `the private key is EC ${info.curve} but the certificate has a ${pub.kind} ${pub.curve ?? ''} key`.trimEnd());
    // The public point, to compare with the certificate's: WebCrypto computes it from the private scalar.
    const probe = await crypto.subtle.importKey('pkcs8', copyBytes(info.der), { name: 'ECDH', namedCurve: info.curve! }, true, ['deriveBits']);
    const jwk = await crypto.subtle.exportKey('jwk', probe);
    const certPub = await crypto.subtle.importKey('spki', copyBytes(pub.spki), { name: 'ECDH', namedCurve: info.curve! }, true, []);
    const certJwk = await crypto.subtle.exportKey('jwk', certPub);
    if (jwk.x !== certJwk.x || jwk.y !== certJwk.y) throw new MailPkiError('ERR_KEY_MISMATCH', 'the private key does not belong to the certificate');
    return { privateKey: await importPrivateKeyInfo(crypto, info, { usage: 'decrypt' }), certificate };
  }
  if (info.kind === 'x25519') {
    if (pub.kind !== 'x25519') throw new MailPkiError('ERR_KEY_MISMATCH', `the private key is X25519 but the certificate has a ${pub.kind} key`);
    await requireX25519(crypto);
    // The public key, to compare with the certificate's: WebCrypto computes it from the private scalar.
    const probe = await crypto.subtle.importKey('pkcs8', copyBytes(info.der), { name: 'X25519' }, true, ['deriveBits']);
    const jwk = await crypto.subtle.exportKey('jwk', probe);
    if (jwk.x !== toBase64(x25519PublicKeyBytes(pub)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')) throw new MailPkiError('ERR_KEY_MISMATCH', 'the private key does not belong to the certificate');
    return { privateKey: await importPrivateKeyInfo(crypto, info, { usage: 'decrypt' }), certificate };
  }
  throw new MailPkiError('ERR_KEY_UNSUPPORTED', 'an Ed25519 key cannot decrypt: S/MIME encryption needs an RSA, EC or X25519 key');
}

/**
 * A decryption key from a private key (PEM or DER: PKCS#8, encrypted PKCS#8, PKCS#1, SEC1) and
 * its certificate. Throws ERR_KEY_MISMATCH when they do not belong together.
 *
 * @example
 * const key = await importDecryptionKey(await readFile('me.key', 'utf8'), await readFile('me.pem', 'utf8'));
 * const { content } = await decryptData(der, [key]);
 */
export async function importDecryptionKey(
  key: string | Uint8Array,
  certificate: Certificate | string | Uint8Array,
  options: ImportDecryptionKeyOptions = {},
): Promise<CmsDecryptionKey> {
  const crypto = resolveCrypto(options.crypto);
  const cert = certificateOf(certificate);
  const info = await readPrivateKeyInfoInput(crypto, key, options.passphrase);
  return decryptionKeyFromPrivateKeyInfo(crypto, info.der, cert);
}

/** A decryption key from a PKCS#12 (.p12/.pfx) file holding one key and its certificate. */
export async function importDecryptionKeyFromPkcs12(p12: Uint8Array, passphrase: string, options: { crypto?: Crypto } = {}): Promise<CmsDecryptionKey> {
  const crypto = resolveCrypto(options.crypto);
  const contents = await importPkcs12(p12, passphrase, { crypto, extractable: true });
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', contents.privateKey));
  try {
    return await decryptionKeyFromPrivateKeyInfo(crypto, pkcs8, parseCertificate(contents.certificate));
  } finally {
    pkcs8.fill(0);
  }
}
