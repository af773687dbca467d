/** Where WebCrypto comes from: the caller, else the runtime's global. Never a Node import. */
import { MailPkiError } from '../errors.js';

export interface CryptoOption {
  /** A WebCrypto implementation (e.g. @peculiar/webcrypto, a PKCS#11-backed provider). Default: globalThis.crypto. */
  crypto?: Crypto;
}

export function resolveCrypto(crypto?: Crypto): Crypto {
  const c = crypto ?? (globalThis as { crypto?: Crypto }).crypto;
  if (!c || !c.subtle) {
    throw new MailPkiError('ERR_UNSUPPORTED_RUNTIME', 'no WebCrypto implementation found: pass one with the `crypto` option');
  }
  return c;
}

export function randomBytes(crypto: Crypto, n: number): Uint8Array {
  const out = new Uint8Array(n);
  crypto.getRandomValues(out);
  return out;
}
