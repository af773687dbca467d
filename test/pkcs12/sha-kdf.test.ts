import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../src/internal/bytes.js';
import { bmpPassword, pkcs12Kdf } from '../../src/pkcs12/kdf.js';
import { hashSync, rehash, type Pkcs12Hash } from '../../src/internal/sha.js';
import { describeWithPeers, run } from '../helpers/peers.js';

const HASHES: Pkcs12Hash[] = ['SHA-1', 'SHA-256', 'SHA-384', 'SHA-512'];

describe('synchronous SHA (used by the PKCS#12 KDF)', () => {
  it('equals WebCrypto digest for every length around the block boundaries', async () => {
    for (const hash of HASHES)
      for (const n of [0, 1, 55, 56, 63, 64, 65, 111, 112, 119, 120, 127, 128, 129, 1000]) {
        const data = crypto.getRandomValues(new Uint8Array(n));
        expect(toHex(hashSync(hash, data))).toBe(toHex(new Uint8Array(await crypto.subtle.digest(hash, data))));
      }
  });

  it('equals WebCrypto digest on random input (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...HASHES), fc.uint8Array({ maxLength: 700 }), async (hash, data) => {
        expect(toHex(hashSync(hash, data))).toBe(toHex(new Uint8Array(await crypto.subtle.digest(hash, data))));
      }),
      { numRuns: 300 },
    );
  });

  it('rehash(h, d, n) is n more applications of the hash', () => {
    for (const hash of HASHES) {
      const d = hashSync(hash, Uint8Array.of(1, 2, 3));
      let expected = d;
      for (let i = 0; i < 17; i++) expected = hashSync(hash, expected);
      expect(toHex(rehash(hash, d, 17))).toBe(toHex(expected));
      expect(toHex(rehash(hash, d, 0))).toBe(toHex(d));
    }
  });
});

describe('PKCS#12 KDF (RFC 7292 Appendix B.2)', () => {
  it('bmpPassword is UTF-16BE with a two-byte terminator', () => {
    expect(toHex(bmpPassword('smeg'))).toBe('0073006d006500670000');
    expect(toHex(bmpPassword(''))).toBe('0000');
    expect(toHex(bmpPassword('ä€'))).toBe('00e420ac0000');
  });

  // Vectors: the first two are BouncyCastle's PKCS12 test vectors ("smeg"); all were reproduced with
  // `openssl kdf -keylen N -kdfopt digest:D -kdfopt hexpass:P -kdfopt hexsalt:S -kdfopt iter:I -kdfopt id:ID PKCS12KDF`
  // (OpenSSL 3.0.19), P being the BMPString password with its terminator.
  const vectors: [Pkcs12Hash, string, string, 1 | 2 | 3, number, string][] = [
    ['SHA-1', 'smeg', '0a58cf64530d823f', 1, 1, '8aaae6297b6cb04642ab5b077851284eb7128f1a2a7fbca3'],
    ['SHA-1', 'smeg', '0a58cf64530d823f', 2, 1, '79993dfe048d3b76'],
    [
      'SHA-1', 'smeg', '0a58cf64530d823f', 1, 1000,
      '65a0185313e1be626a62223edc56a602e45d07570bd6c4473ed445ecb448cfe709046958' + '06c29d709dd015fc4d2234080cbfa8e6c9f0158c782e0edd95339d4a',
    ],
    ['SHA-256', 'secret', '0102030405060708', 3, 2048, 'f5482fd03f702689b4e96cbbea867c6b16e5bda934929f2ecaf4da9e1c67be8f'],
    [
      'SHA-512', '', '00', 3, 3,
      '54877a88a6b12c6cd6402732bcceb870fb28a70be037cb408498937' + '77fceda8b3b9a50b006b73634517753dfbbcfac519812256248773356' +
        '51e78b7f86c4c49a43b8be460f22abf85c6379050b14a3ce5dea1ab4f1c3c139fe248f8e3cc21fe238fd1ae4',
    ],
  ];
  it('matches the published and OpenSSL-computed vectors', () => {
    for (const [hash, pass, salt, id, iter, out] of vectors)
      expect(toHex(pkcs12Kdf(hash, bmpPassword(pass), fromHex(salt), id, iter, out.length / 2))).toBe(out);
  });
});

describeWithPeers('PKCS#12 KDF against openssl kdf', ['openssl'], () => {
  it('agrees on random passwords, salts, ids and lengths', () => {
    const digest: Record<Pkcs12Hash, string> = { 'SHA-1': 'SHA1', 'SHA-256': 'SHA256', 'SHA-384': 'SHA384', 'SHA-512': 'SHA512' };
    fc.assert(
      fc.property(
        fc.constantFrom(...HASHES),
        fc.string({ maxLength: 20 }),
        fc.uint8Array({ minLength: 1, maxLength: 40 }),
        fc.constantFrom(1, 2, 3),
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 150 }),
        (hash, pass, salt, id, iter, n) => {
          const ours = toHex(pkcs12Kdf(hash, bmpPassword(pass), salt, id as 1 | 2 | 3, iter, n));
          const theirs = run('openssl', [
            'kdf', '-keylen', String(n), '-kdfopt', `digest:${digest[hash]}`, '-kdfopt', `hexpass:${toHex(bmpPassword(pass))}`,
            '-kdfopt', `hexsalt:${toHex(salt)}`, '-kdfopt', `iter:${iter}`, '-kdfopt', `id:${id}`, 'PKCS12KDF',
          ]);
          expect(ours).toBe(theirs.replace(/[:\s]/g, '').toLowerCase());
        },
      ),
      { numRuns: 40 },
    );
  });
});
