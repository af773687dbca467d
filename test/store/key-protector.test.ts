import { describe, expect, it } from 'vitest';
import { kekKeyProtector, passphraseKeyProtector, type ProtectedKey } from '../../src/store/index.js';

const code = (p: Promise<unknown>) => p.then(() => 'resolved', (e: { code?: string; name?: string }) => e.code ?? e.name);
const secret = new TextEncoder().encode('PKCS#8 bytes would go here, 0123456789');

/** Counts PBKDF2 derivations through a wrapped WebCrypto. */
function countingCrypto(): { crypto: Crypto; derivations: () => number } {
  let n = 0;
  const subtle = globalThis.crypto.subtle;
  const wrapped = new Proxy(subtle, {
    get(target, prop) {
      if (prop === 'deriveKey') {
        return (...args: Parameters<SubtleCrypto['deriveKey']>) => {
          n++;
          return target.deriveKey(...args);
        };
      }
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const crypto = { subtle: wrapped, getRandomValues: (a: Uint8Array<ArrayBuffer>) => globalThis.crypto.getRandomValues(a) } as unknown as Crypto;
  return { crypto, derivations: () => n };
}

describe('passphraseKeyProtector', () => {
  it('round-trips, JSON-serialisable, with the PBKDF2 parameters inside', async () => {
    const p = passphraseKeyProtector('correct horse', { iterations: 1000 });
    const sealed = await p.protect(secret);
    expect(sealed).toMatchObject({ protectorId: 'passphrase', alg: 'A256GCM', kdf: { name: 'PBKDF2-SHA256', iterations: 1000 } });
    const json = JSON.parse(JSON.stringify(sealed)) as ProtectedKey;
    expect(await p.unprotect(json)).toEqual(secret);
    expect(JSON.stringify(sealed)).not.toContain('correct horse');
    // A new protector with only the passphrase opens it (salt and iterations come from the record).
    expect(await passphraseKeyProtector('correct horse', { iterations: 5000 }).unprotect(json)).toEqual(secret);
  });

  it('defaults to 600,000 iterations', async () => {
    const sealed = await passphraseKeyProtector('pw').protect(secret);
    expect(sealed.kdf?.iterations).toBe(600_000);
  });

  it('uses a fresh IV each time and one salt per protector', async () => {
    const p = passphraseKeyProtector('pw', { iterations: 1000 });
    const a = await p.protect(secret);
    const b = await p.protect(secret);
    expect(a.iv).not.toBe(b.iv);
    expect(a.ciphertext).not.toBe(b.ciphertext);
    expect(a.kdf!.salt).toBe(b.kdf!.salt);
  });

  it('derives the KEK once per salt', async () => {
    const { crypto, derivations } = countingCrypto();
    const p = passphraseKeyProtector('pw', { iterations: 1000, crypto });
    const sealed = await Promise.all([1, 2, 3].map(() => p.protect(secret)));
    for (const s of sealed) await p.unprotect(s);
    expect(derivations()).toBe(1);
    const other = await passphraseKeyProtector('pw', { iterations: 1000, salt: new Uint8Array(16).fill(7) }).protect(secret);
    await p.unprotect(other);
    await p.unprotect(other);
    expect(derivations()).toBe(2);
  });

  it('wrong passphrase, altered ciphertext, another protector: ERR_STORE_KEY_PROTECTION', async () => {
    const sealed = await passphraseKeyProtector('right', { iterations: 1000 }).protect(secret);
    expect(await code(passphraseKeyProtector('wrong', { iterations: 1000 }).unprotect(sealed))).toBe('ERR_STORE_KEY_PROTECTION');
    const ct = sealed.ciphertext;
    const flipped = (ct[0] === 'A' ? 'B' : 'A') + ct.slice(1);
    expect(await code(passphraseKeyProtector('right').unprotect({ ...sealed, ciphertext: flipped }))).toBe('ERR_STORE_KEY_PROTECTION');
    expect(await code(passphraseKeyProtector('right', { id: 'other' }).unprotect(sealed))).toBe('ERR_STORE_KEY_PROTECTION');
    const { kdf: _k, ...noKdf } = sealed;
    expect(await code(passphraseKeyProtector('right').unprotect(noKdf))).toBe('ERR_STORE_KEY_PROTECTION');
  });

  it('refuses a damaged record (ERR_STORE_CORRUPT) before any PBKDF2 work, including a huge iteration count', async () => {
    const sealed = await passphraseKeyProtector('pw', { iterations: 1000 }).protect(secret);
    const p = passphraseKeyProtector('pw');
    expect(await code(p.unprotect({ ...sealed, kdf: { ...sealed.kdf!, iterations: 2_000_000_000 } }))).toBe('ERR_STORE_CORRUPT');
    expect(await code(p.unprotect({ ...sealed, iv: '!!' }))).toBe('ERR_STORE_CORRUPT');
    expect(await code(p.unprotect({ ...sealed, iv: 'AAAA' }))).toBe('ERR_STORE_CORRUPT');
    expect(await code(p.unprotect({ ...sealed, alg: 'A128CBC' } as never))).toBe('ERR_STORE_CORRUPT');
  });

  it('refuses bad options', async () => {
    expect(() => passphraseKeyProtector('')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
    expect(() => passphraseKeyProtector('pw', { iterations: 10 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
    expect(() => passphraseKeyProtector('pw', { salt: new Uint8Array(4) })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
    expect(await code(passphraseKeyProtector('pw', { iterations: 1000 }).protect(new Uint8Array(0)))).toBe('ERR_INVALID_INPUT');
  });
});

describe('kekKeyProtector', () => {
  it('round-trips under a raw 256-bit KEK and refuses another KEK', async () => {
    const kek = globalThis.crypto.getRandomValues(new Uint8Array(32));
    const p = kekKeyProtector(kek, { id: 'kms:test' });
    const sealed = await p.protect(secret);
    expect(sealed.kdf).toBeUndefined();
    expect(await p.unprotect(sealed)).toEqual(secret);
    const other = kekKeyProtector(globalThis.crypto.getRandomValues(new Uint8Array(32)), { id: 'kms:test' });
    expect(await code(other.unprotect(sealed))).toBe('ERR_STORE_KEY_PROTECTION');
    expect(() => kekKeyProtector(new Uint8Array(16), { id: 'x' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
  });

  it('accepts a non-extractable CryptoKey', async () => {
    const key = await globalThis.crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
    const p = kekKeyProtector(key, { id: 'hsm' });
    expect(await p.unprotect(await p.protect(secret))).toEqual(secret);
  });
});
