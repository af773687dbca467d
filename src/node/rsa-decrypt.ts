/**
 * The raw RSA private operation from OpenSSL (node:crypto, RSA_NO_PADDING) for mailpki/cms
 * decryptData's `rawRsaDecrypt`: constant-time and blinded by OpenSSL, unlike the BigInt fallback.
 */
import { constants, createPrivateKey, privateDecrypt, type KeyObject } from 'node:crypto';
import { MailPkiError } from '../errors.js';

/**
 * A `rawRsaDecrypt` for a PEM/DER RSA private key (the key stays in a node:crypto KeyObject).
 *
 * @example
 * const key = { privateKey, certificate, rawRsaDecrypt: nodeRawRsaDecrypt(readFileSync('me.key')) };
 */
export function nodeRawRsaDecrypt(key: string | Uint8Array | KeyObject, options: { passphrase?: string } = {}): (c: Uint8Array) => Promise<Uint8Array> {
  let keyObject: KeyObject;
  const pass = options.passphrase !== undefined ? { passphrase: options.passphrase } : {};
  try {
    if (typeof key === 'string') keyObject = createPrivateKey({ key, format: 'pem', ...pass });
    else if (key instanceof Uint8Array)
      keyObject = isPem(key)
        ? createPrivateKey({ key: Buffer.from(key).toString('latin1'), format: 'pem', ...pass })
        : createPrivateKey({ key: Buffer.from(key), format: 'der', type: 'pkcs8', ...pass });
    else keyObject = key;
  } catch (e) {
    throw new MailPkiError('ERR_KEY_MALFORMED', `the RSA private key could not be read: ${(e as Error).message}`, { cause: e });
  }
  if (keyObject.type !== 'private' || keyObject.asymmetricKeyType !== 'rsa')
    throw new MailPkiError('ERR_KEY_UNSUPPORTED', 'nodeRawRsaDecrypt needs an RSA private key');
  return async (c: Uint8Array) => new Uint8Array(privateDecrypt({ key: keyObject, padding: constants.RSA_NO_PADDING }, c));
}

function isPem(bytes: Uint8Array): boolean {
  return bytes.length > 10 && Buffer.from(bytes.subarray(0, 11)).toString('latin1') === '-----BEGIN ';
}
