/**
 * Decryption keys handed out by the lifecycle manager: a stored PKCS#8 key through the CMS layer's
 * importer (the one behind mailpki/cms importDecryptionKey), so there is one place that turns a key
 * into a CMS decryption key: non-extractable RSA-OAEP (SHA-256) or ECDH, checked against its
 * certificate, and for RSA a raw RSA operation (PKCS#1 v1.5 key transport, OAEP with other hashes)
 * over numbers kept in a closure, so the key itself never leaves the manager.
 */
import type { Certificate } from '../certs/certificate.js';
import type { CmsDecryptionKey } from '../cms/decrypt.js';
import { decryptionKeyFromPrivateKeyInfo } from '../cms/decryption-key.js';

/** The CMS layer's key shape (`decryptMessage(raw, { keys })`): one per certificate of the history. */
export type DecryptionKey = CmsDecryptionKey;

/**
 * Imports a DER PrivateKeyInfo for decryption; the caller wipes `pkcs8` afterwards. The same as
 * mailpki/cms `importDecryptionKey(pkcs8, certificate, { crypto })` for a DER key and a parsed
 * certificate (ERR_KEY_MISMATCH when they do not belong together).
 */
export function importDecryptionKey(pkcs8: Uint8Array, certificate: Certificate, crypto: Crypto): Promise<DecryptionKey> {
  return decryptionKeyFromPrivateKeyInfo(crypto, pkcs8, certificate);
}
