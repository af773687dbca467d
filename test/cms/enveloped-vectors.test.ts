/** The OpenSSL-made encryption vectors of test/vectors/cms-enveloped (provenance in its README and make.sh). */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { decryptData, importDecryptionKey, type CmsDecryptionKey } from '../../src/cms/index.js';
import { equalBytes } from '../../src/internal/bytes.js';

const dir = new URL('../vectors/cms-enveloped/', import.meta.url);
const read = (name: string) => new Uint8Array(readFileSync(new URL(name, dir)));
const text = (name: string) => readFileSync(new URL(name, dir), 'utf8');

describe('OpenSSL-made EnvelopedData / AuthEnvelopedData vectors', () => {
  const keys: Record<string, CmsDecryptionKey> = {};
  const plain = read('plain.txt');
  beforeAll(async () => {
    for (const who of ['rsa', 'p256', 'p384']) keys[who] = await importDecryptionKey(text(`${who}.key`), text(`${who}.pem`));
  });

  const cases: [string, string[], string, string, boolean][] = [
    ['aes256gcm-oaep-sha256.der', ['rsa'], 'aes-256-gcm', 'rsa-oaep', true],
    ['aes128gcm-pkcs1.der', ['rsa'], 'aes-128-gcm', 'rsa-pkcs1', true],
    ['aes256cbc-p256-sha1kdf.der', ['p256'], 'aes-256-cbc', 'ecdh', false],
    ['aes128cbc-p384-sha384kdf.der', ['p384'], 'aes-128-cbc', 'ecdh', false],
    ['aes256gcm-mixed-stream.der', ['rsa', 'p256', 'p384'], 'aes-256-gcm', '', true],
  ];
  for (const [file, whos, alg, km, integrity] of cases) {
    it(file, async () => {
      for (const who of whos) {
        const r = await decryptData(read(file), [keys[who]!]);
        expect(equalBytes(r.content, plain)).toBe(true);
        expect(r.contentEncryption).toBe(alg);
        expect(r.keyManagement).toBe(km || (who === 'rsa' ? 'rsa-oaep' : 'ecdh'));
        expect(r.integrityProtected).toBe(integrity);
        expect(r.recipients).toHaveLength(whos.length);
      }
    });
  }

  it('des3-pkcs1.der is refused as weak, with a hint', async () => {
    await expect(decryptData(read('des3-pkcs1.der'), [keys.rsa!])).rejects.toMatchObject({ code: 'ERR_ALGORITHM_WEAK', message: expect.stringMatching(/3DES.*AES/) });
  });
});
