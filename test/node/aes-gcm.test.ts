/**
 * nodeAesGcm (mailpki/node): the same bytes as WebCrypto's AES-GCM, across slice boundaries and BER
 * chunks; a wrong tag rejects; through encryptData/decryptData both ways with OpenSSL, tampered fails.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { decryptData, encryptData, importDecryptionKey, parseEnvelopedData, type CmsDecryptionKey } from '../../src/cms/index.js';
import { equalBytes } from '../../src/internal/bytes.js';
import { NODE_AES_GCM_SLICE_BYTES, nodeAesGcm } from '../../src/node/index.js';
import { describeWithPeers, run, runStatus, tempDir } from '../helpers/peers.js';

const subtle = globalThis.crypto.subtle;
const S = NODE_AES_GCM_SLICE_BYTES;

async function webGcm(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array | undefined, content: Uint8Array): Promise<Uint8Array> {
  const k = await subtle.importKey('raw', key.slice(), 'AES-GCM', false, ['encrypt']);
  return new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: nonce.slice(), ...(aad ? { additionalData: aad.slice() } : {}) }, k, content.slice()));
}

/** Bytes of a deterministic pattern (no need for randomness, only for every position to differ). */
const pattern = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7 + (i >> 8)) & 0xff);

describe('nodeAesGcm', () => {
  const aesGcm = nodeAesGcm();
  const nonce = pattern(12, 3);

  it('encrypt: the same ciphertext and tag as WebCrypto for lengths around the slice size, AES-128/256, with and without AAD', async () => {
    for (const keyLength of [16, 32]) {
      const key = pattern(keyLength, keyLength);
      for (const n of [0, 1, 15, S - 1, S, S + 1, 2 * S + 17]) {
        for (const aad of [undefined, pattern(40, 9)]) {
          const content = pattern(n);
          const out = new Uint8Array(n);
          const tag = await aesGcm.encrypt(key, nonce, aad, content, out, 16);
          const expected = await webGcm(key, nonce, aad, content);
          expect(equalBytes(out, expected.subarray(0, n)), `length ${n}`).toBe(true);
          expect(equalBytes(tag, expected.subarray(n)), `tag, length ${n}`).toBe(true);
        }
      }
    }
  });

  it('decrypt: WebCrypto ciphertext given as uneven chunks (as BER holds it) comes back whole; a changed tag, ciphertext byte or AAD rejects', async () => {
    const key = pattern(32, 5);
    const aad = pattern(20, 2);
    const content = pattern(3 * S + 5);
    const sealed = await webGcm(key, nonce, aad, content);
    const ct = sealed.subarray(0, content.length);
    const tag = sealed.subarray(content.length);
    const cuts = [0, 1000, S - 3, S + 900, 2 * S, ct.length];
    const chunks = cuts.slice(1).map((end, i) => ct.subarray(cuts[i], end));
    const out = new Uint8Array(ct.length);
    await aesGcm.decrypt(key, nonce, aad, chunks, tag, out);
    expect(equalBytes(out, content)).toBe(true);

    const badTag = tag.slice();
    badTag[0]! ^= 1;
    await expect(aesGcm.decrypt(key, nonce, aad, chunks, badTag, new Uint8Array(ct.length))).rejects.toThrow();
    const badCt = ct.slice();
    badCt[S + 1]! ^= 1;
    await expect(aesGcm.decrypt(key, nonce, aad, [badCt], tag, new Uint8Array(ct.length))).rejects.toThrow();
    await expect(aesGcm.decrypt(key, nonce, pattern(20, 3), [ct], tag, new Uint8Array(ct.length))).rejects.toThrow();
    await expect(aesGcm.decrypt(key, nonce, aad, [ct], tag, new Uint8Array(ct.length - 1))).rejects.toThrow(RangeError);
  });

  it('decrypt: thousands of tiny BER-like chunks between large ones (gathered into slices), and a 12-byte tag as RFC 5084 allows', async () => {
    const key = pattern(16, 4);
    const content = pattern(S + 40_000, 6);
    const sealed = await webGcm(key, nonce, undefined, content);
    const ct = sealed.subarray(0, content.length);
    const chunks: Uint8Array[] = [ct.subarray(0, 1000)];
    let at = 1000;
    for (let i = 0; at < 31_000; i++) chunks.push(ct.subarray(at, (at += 1 + (i % 7))));
    chunks.push(ct.subarray(at, at + S), ct.subarray(at + S));
    expect(chunks.length).toBeGreaterThan(7000);
    const out = new Uint8Array(ct.length);
    await aesGcm.decrypt(key, nonce, undefined, chunks, sealed.subarray(content.length), out);
    expect(equalBytes(out, content)).toBe(true);

    const k = await subtle.importKey('raw', key.slice(), 'AES-GCM', false, ['encrypt']);
    const short = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: nonce.slice(), tagLength: 96 }, k, content.slice()));
    const out12 = new Uint8Array(content.length);
    await aesGcm.decrypt(key, nonce, undefined, [short.subarray(0, content.length)], short.subarray(content.length), out12);
    expect(short.length - content.length).toBe(12);
    expect(equalBytes(out12, content)).toBe(true);
  });
});

type Who = 'rsa' | 'p256';

describeWithPeers('nodeAesGcm through encryptData/decryptData, with OpenSSL', ['openssl'], () => {
  const tmp = tempDir('mailpki-node-gcm-');
  const ids = {} as Record<Who, { certFile: string; keyFile: string; cert: Certificate; key: CmsDecryptionKey }>;
  const aesGcm = nodeAesGcm();
  // Larger than two slices, and not a multiple of anything
  const content = pattern(2 * S + 4321, 11);
  const dataFile = tmp.path('data.bin');

  beforeAll(async () => {
    writeFileSync(dataFile, content);
    for (const [who, args] of [['rsa', ['-newkey', 'rsa:2048']], ['p256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']]] as const) {
      const keyFile = tmp.path(`${who}.key`);
      const certFile = tmp.path(`${who}.pem`);
      run('openssl', ['req', '-x509', ...args, '-nodes', '-keyout', keyFile, '-out', certFile, '-subj', `/CN=${who}`, '-days', '2']);
      const cert = parseCertificate(readFileSync(certFile, 'utf8'));
      ids[who] = { certFile, keyFile, cert, key: await importDecryptionKey(readFileSync(keyFile, 'utf8'), cert) };
    }
  }, 60_000);
  afterAll(() => tmp.cleanup());

  const opensslDecrypt = (der: Uint8Array, who: Who, name: string) => {
    writeFileSync(tmp.path(`${name}.der`), der);
    const r = runStatus('openssl', ['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', tmp.path(`${name}.der`), '-recip', ids[who].certFile, '-inkey', ids[who].keyFile, '-out', tmp.path(`${name}.out`)]);
    return { status: r.status, content: r.status === 0 ? new Uint8Array(readFileSync(tmp.path(`${name}.out`))) : undefined };
  };

  it('mailpki (nodeAesGcm) encrypts, OpenSSL decrypts, AES-256/128-GCM; a changed ciphertext byte or tag fails in OpenSSL', async () => {
    for (const contentEncryption of ['aes-256-gcm', 'aes-128-gcm'] as const) {
      const der = await encryptData(content, [{ certificate: ids.rsa.cert }, { certificate: ids.p256.cert }], { contentEncryption, aesGcm });
      for (const who of ['rsa', 'p256'] as Who[]) {
        const r = opensslDecrypt(der, who, `${contentEncryption}-${who}`);
        expect(r.status).toBe(0);
        expect(equalBytes(r.content!, content)).toBe(true);
      }
      const ed = parseEnvelopedData(der);
      for (const [part, at] of [[ed.encryptedContent![0]!, S + 7], [ed.mac!, 15]] as const) {
        const m = der.slice();
        m[part.byteOffset - der.byteOffset + at]! ^= 1;
        expect(opensslDecrypt(m, 'p256', `tampered-${contentEncryption}-${at}`).status).not.toBe(0);
      }
    }
  });

  it('OpenSSL encrypts (DER, and -stream BER with chunked content), mailpki (nodeAesGcm) decrypts; a changed byte is ERR_CMS_DECRYPTION_FAILED', async () => {
    for (const extra of [[], ['-stream']]) {
      const out = tmp.path(`ossl${extra.length}.der`);
      run('openssl', ['cms', '-encrypt', '-binary', '-aes-256-gcm', '-in', dataFile, '-outform', 'DER', '-out', out, '-recip', ids.p256.certFile, ...extra]);
      const der = new Uint8Array(readFileSync(out));
      const ed = parseEnvelopedData(der);
      if (extra.length) expect(ed.encryptedContent!.length).toBeGreaterThan(2); // really chunked
      const got = await decryptData(der, [ids.p256.key], { aesGcm });
      expect(got.integrityProtected).toBe(true);
      expect(equalBytes(got.content, content)).toBe(true);
      const m = der.slice();
      const last = ed.encryptedContent!.at(-1)!;
      if (!extra.length) {
        m[last.byteOffset - der.byteOffset + S]! ^= 1;
        await expect(decryptData(m, [ids.p256.key], { aesGcm })).rejects.toMatchObject({ code: 'ERR_CMS_DECRYPTION_FAILED' });
      } else {
        // BER: the parsed chunks are views into the normalised copy, so find the byte in the input by content
        const i = indexOf(der, last.subarray(0, 32));
        m[i + 5]! ^= 1;
        await expect(decryptData(m, [ids.p256.key], { aesGcm })).rejects.toMatchObject({ code: 'ERR_CMS_DECRYPTION_FAILED' });
      }
    }
  });
});

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
