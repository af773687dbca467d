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

const publicPools = new WeakMap<Crypto, { buf: Uint8Array<ArrayBuffer>; at: number }>();

/**
 * Random bytes for values that are published anyway — MIME boundaries, Message-IDs — drawn from a
 * buffer refilled 384 bytes at a time (one getRandomValues per ~30 messages, as Node pools
 * randomUUID). The buffer holds bytes not yet handed out, so never use this for keys, IVs, salts or
 * nonces: {@link randomBytes} is for those.
 */
export function publicRandomBytes(crypto: Crypto, n: number): Uint8Array {
  if (n > 64) return randomBytes(crypto, n);
  let pool = publicPools.get(crypto);
  if (!pool) publicPools.set(crypto, (pool = { buf: new Uint8Array(new ArrayBuffer(384)), at: 384 }));
  if (pool.at + n > pool.buf.length) {
    crypto.getRandomValues(pool.buf);
    pool.at = 0;
  }
  pool.at += n;
  return pool.buf.slice(pool.at - n, pool.at);
}
