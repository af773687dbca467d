/** The incremental SHA-256 behind DKIM body hashes, CMS digests and the audit chain, against WebCrypto. */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { toHex } from '../../src/internal/bytes.js';
import { Sha256, createSha256, hasNativeSha256, preferSyncSha256, type Sha256Hash } from '../../src/internal/sha.js';

const webDigest = async (data: Uint8Array): Promise<string> => toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', data as Uint8Array<ArrayBuffer>)));

/** Both implementations behind createSha256: the JavaScript round loop, and the runtime's own where it has one. */
const implementations: [string, () => Sha256Hash][] = [
  ['Sha256 (JavaScript)', () => new Sha256()],
  ['createSha256 (native in Node)', createSha256],
];

describe.each(implementations)('%s', (_name, newHash) => {
  const sha256 = (data: Uint8Array): Uint8Array => newHash().update(data).digest();

  it('equals WebCrypto for every length around the block and padding boundaries', async () => {
    for (const n of [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 191, 192, 4096, 5121]) {
      const data = crypto.getRandomValues(new Uint8Array(n));
      expect(toHex(sha256(data)), `length ${n}`).toBe(await webDigest(data));
    }
  });

  it('gives the same digest however the input is split into update() calls (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 1500 }), fc.array(fc.nat(), { maxLength: 12 }), async (data, cuts) => {
        const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
        const h = newHash();
        let at = 0;
        for (const p of [...points, data.length]) {
          h.update(data.subarray(at, p));
          at = p;
        }
        expect(toHex(h.digest())).toBe(await webDigest(data));
      }),
      { numRuns: 200 },
    );
  });

  it('update(data, start, end) hashes only that range, and reads inputs at any byte offset', async () => {
    const data = crypto.getRandomValues(new Uint8Array(300));
    expect(toHex(newHash().update(data, 7, 250).digest())).toBe(await webDigest(data.subarray(7, 250)));
    const shifted = new Uint8Array(data.buffer, 3, 200);
    expect(toHex(sha256(shifted))).toBe(await webDigest(shifted.slice()));
  });

  it('the published FIPS 180-4 examples', () => {
    const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
    expect(toHex(sha256(ascii('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(toHex(sha256(ascii('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')))).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
    const million = newHash();
    const chunk = ascii('a'.repeat(1000));
    for (let i = 0; i < 1000; i++) million.update(chunk);
    expect(toHex(million.digest())).toBe('cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
  });
});

describe('createSha256', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.resetModules();
  });

  it('uses the native SHA-256 in Node, and gives a plain Uint8Array of its own', () => {
    expect(hasNativeSha256()).toBe(true);
    expect([preferSyncSha256(1 << 20), preferSyncSha256((1 << 20) + 1)]).toEqual([true, false]);
    const h = createSha256();
    expect(h).not.toBeInstanceOf(Sha256);
    const d = h.update(new Uint8Array(3)).digest();
    expect(Object.getPrototypeOf(d)).toBe(Uint8Array.prototype);
    expect(d.byteOffset).toBe(0);
    expect(d.buffer.byteLength).toBe(32);
  });

  it('falls back to the JavaScript one where the runtime has no node:crypto (browsers, workers)', async () => {
    vi.stubGlobal('process', { ...process, getBuiltinModule: undefined });
    vi.resetModules();
    const fresh = await import('../../src/internal/sha.js');
    expect(fresh.hasNativeSha256()).toBe(false);
    // Large inputs then go to WebCrypto's digest, small ones stay synchronous.
    expect([fresh.preferSyncSha256(64 * 1024), fresh.preferSyncSha256(64 * 1024 + 1)]).toEqual([true, false]);
    const h = fresh.createSha256();
    expect(h).toBeInstanceOf(fresh.Sha256);
    expect(toHex(h.update(new TextEncoder().encode('abc')).digest())).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('does not use a createHash that does not compute SHA-256 (a stub)', async () => {
    const stub = () => ({ update: () => undefined, digest: () => new Uint8Array(32) });
    vi.stubGlobal('process', { ...process, getBuiltinModule: (id: string) => (id === 'node:crypto' ? { createHash: stub } : undefined) });
    vi.resetModules();
    const fresh = await import('../../src/internal/sha.js');
    expect(fresh.hasNativeSha256()).toBe(false);
    expect(toHex(fresh.sha256(new Uint8Array(0)))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});
