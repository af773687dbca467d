/**
 * Encryption interop with OpenSSL 3 `openssl cms -encrypt/-decrypt`, both directions, tampered
 * cases failing on both sides. Keys and certificates are made by OpenSSL itself in a temp dir.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import {
  CMS_OID,
  decryptData,
  encryptData,
  importDecryptionKey,
  parseEnvelopedData,
  type CmsDecryptionKey,
  type CmsRecipient,
  type ContentEncryptionAlgorithm,
} from '../../src/cms/index.js';
import { MailPkiError } from '../../src/errors.js';
import { equalBytes } from '../../src/internal/bytes.js';
import { describeWithPeers, run, runStatus, tempDir } from '../helpers/peers.js';

type Who = 'rsa' | 'rsa2' | 'p256' | 'p384';
const GENKEY: Record<Who, string[]> = {
  rsa: ['-newkey', 'rsa:2048'],
  rsa2: ['-newkey', 'rsa:3072'],
  p256: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  p384: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'],
};
const ALGS: ContentEncryptionAlgorithm[] = ['aes-128-gcm', 'aes-256-gcm', 'aes-128-cbc', 'aes-256-cbc'];

interface Id {
  certFile: string;
  keyFile: string;
  cert: Certificate;
  key: CmsDecryptionKey;
}

const content = new TextEncoder().encode(
  'Content-Type: text/plain; charset=utf-8\r\n\r\nPayment instruction: 10,000.00 EUR to DE89 3704 0044 0532 0130 00.\r\n'.repeat(30),
);

describeWithPeers('CMS encryption interop with OpenSSL', ['openssl'], () => {
  const tmp = tempDir('mailpki-cms-env-');
  const ids = {} as Record<Who, Id>;
  const dataFile = tmp.path('data.bin');
  let n = 0;
  const file = (name: string) => tmp.path(`${n++}-${name}`);

  beforeAll(async () => {
    writeFileSync(dataFile, content);
    for (const who of Object.keys(GENKEY) as Who[]) {
      const keyFile = tmp.path(`${who}.key`);
      const certFile = tmp.path(`${who}.pem`);
      run('openssl', ['req', '-x509', ...GENKEY[who], '-nodes', '-keyout', keyFile, '-out', certFile, '-subj', `/CN=${who} recipient`, '-days', '30']);
      const cert = parseCertificate(readFileSync(certFile, 'utf8'));
      ids[who] = { certFile, keyFile, cert, key: await importDecryptionKey(readFileSync(keyFile, 'utf8'), cert) };
    }
  }, 60_000);

  /** openssl cms -encrypt with per-recipient -keyopt; returns DER (or BER with -stream). */
  function opensslEncrypt(alg: ContentEncryptionAlgorithm, recips: { who: Who; keyopt?: string[] }[], extra: string[] = []): Uint8Array {
    const out = file('enc.der');
    const args = ['cms', '-encrypt', '-binary', `-${alg}`, '-in', dataFile, '-outform', 'DER', '-out', out, ...extra];
    for (const r of recips) {
      args.push('-recip', ids[r.who].certFile);
      for (const k of r.keyopt ?? []) args.push('-keyopt', k);
    }
    run('openssl', args);
    return new Uint8Array(readFileSync(out));
  }

  /** openssl cms -decrypt; returns the status and the plaintext. */
  function opensslDecrypt(der: Uint8Array, who: Who): { status: number; content: Uint8Array; stderr: string } {
    const inFile = file('in.der');
    const out = file('out.bin');
    writeFileSync(inFile, der);
    const r = runStatus('openssl', ['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', inFile, '-recip', ids[who].certFile, '-inkey', ids[who].keyFile, '-out', out]);
    let plain = new Uint8Array(0);
    try {
      plain = new Uint8Array(readFileSync(out));
    } catch {
      // no output written
    }
    return { status: r.status, content: plain, stderr: r.stderr };
  }

  const OAEP = ['rsa_padding_mode:oaep', 'rsa_oaep_md:sha256', 'rsa_mgf1_md:sha256'];

  describe('OpenSSL encrypts, mailpki decrypts', () => {
    for (const alg of ALGS) {
      it(`${alg}: RSA PKCS#1 v1.5, RSA-OAEP SHA-256, ECDH P-256, ECDH P-384`, async () => {
        const cases: [string, { who: Who; keyopt?: string[] }, string][] = [
          ['pkcs1', { who: 'rsa' }, 'rsa-pkcs1'],
          ['oaep', { who: 'rsa', keyopt: OAEP }, 'rsa-oaep'],
          ['p256', { who: 'p256' }, 'ecdh'],
          ['p384', { who: 'p384' }, 'ecdh'],
        ];
        for (const [, r, km] of cases) {
          const der = opensslEncrypt(alg, [r]);
          expect(parseEnvelopedData(der).kind).toBe(alg.endsWith('gcm') ? 'auth-enveloped-data' : 'enveloped-data');
          const got = await decryptData(der, [ids[r.who].key]);
          expect(equalBytes(got.content, content)).toBe(true);
          expect(got.contentEncryption).toBe(alg);
          expect(got.keyManagement).toBe(km);
          expect(got.integrityProtected).toBe(alg.endsWith('gcm'));
        }
      });
    }

    it('RSA-OAEP with OpenSSL defaults (SHA-1) and SHA-512, ECDH with SHA-256/SHA-384 KDFs', async () => {
      for (const r of [
        { who: 'rsa' as Who, keyopt: ['rsa_padding_mode:oaep'] },
        { who: 'rsa' as Who, keyopt: ['rsa_padding_mode:oaep', 'rsa_oaep_md:sha512', 'rsa_mgf1_md:sha512'] },
        { who: 'rsa' as Who, keyopt: ['rsa_padding_mode:oaep', 'rsa_oaep_md:sha256', 'rsa_mgf1_md:sha1'] },
        { who: 'p256' as Who, keyopt: ['ecdh_kdf_md:sha256'] },
        { who: 'p384' as Who, keyopt: ['ecdh_kdf_md:sha384'] },
      ]) {
        const der = opensslEncrypt('aes-256-gcm', [r]);
        expect(equalBytes((await decryptData(der, [ids[r.who].key])).content, content)).toBe(true);
      }
    });

    it('three mixed recipients (OAEP, PKCS#1, ECDH): each opens it', async () => {
      const der = opensslEncrypt('aes-256-gcm', [{ who: 'rsa', keyopt: OAEP }, { who: 'rsa2' }, { who: 'p384' }]);
      for (const who of ['rsa', 'rsa2', 'p384'] as Who[]) {
        const got = await decryptData(der, [ids[who].key]);
        expect(equalBytes(got.content, content)).toBe(true);
        expect(got.recipients).toHaveLength(3);
      }
      await expect(decryptData(der, [ids.p256.key])).rejects.toMatchObject({ code: 'ERR_CMS_NOT_FOR_RECIPIENT' });
    });

    it('-stream (BER, indefinite lengths, chunked content) is read', async () => {
      for (const alg of ['aes-256-gcm', 'aes-128-cbc'] as const) {
        const der = opensslEncrypt(alg, [{ who: 'p256' }, { who: 'rsa', keyopt: OAEP }], ['-stream']);
        expect(der[1]).toBe(0x80); // indefinite length: really BER
        for (const who of ['p256', 'rsa'] as Who[]) expect(equalBytes((await decryptData(der, [ids[who].key])).content, content)).toBe(true);
      }
    });

    it('tampered OpenSSL output fails: GCM tag, GCM ciphertext, wrapped keys', async () => {
      const der = opensslEncrypt('aes-256-gcm', [{ who: 'rsa', keyopt: OAEP }, { who: 'p256' }]);
      const ed = parseEnvelopedData(der);
      const at = (part: Uint8Array) => part.byteOffset - der.byteOffset;
      const flip = (i: number) => {
        const m = der.slice();
        m[i]! ^= 0x04;
        return m;
      };
      await expect(decryptData(flip(at(ed.mac!) + 3), [ids.rsa.key])).rejects.toMatchObject({ code: 'ERR_CMS_DECRYPTION_FAILED' });
      await expect(decryptData(flip(at(ed.encryptedContent![0]!) + 50), [ids.p256.key])).rejects.toMatchObject({ code: 'ERR_CMS_DECRYPTION_FAILED' });
      for (const r of ed.recipients) {
        const who: Who = r.type === 'ktri' ? 'rsa' : 'p256';
        const ek = (r as { encryptedKey: Uint8Array }).encryptedKey;
        await expect(decryptData(flip(at(ek) + 7), [ids[who].key])).rejects.toMatchObject({ code: 'ERR_CMS_WRONG_KEY' });
      }
    });

    it('OpenSSL with 3DES is refused as weak', async () => {
      const der = opensslEncrypt('des3' as ContentEncryptionAlgorithm, [{ who: 'rsa' }]);
      const e = await decryptData(der, [ids.rsa.key]).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(MailPkiError);
      expect((e as MailPkiError).code).toBe('ERR_ALGORITHM_WEAK');
    });
  });

  describe('mailpki encrypts, OpenSSL decrypts', () => {
    for (const alg of ALGS) {
      it(`${alg}: RSA-OAEP SHA-256, RSA PKCS#1 v1.5, ECDH P-256, ECDH P-384`, async () => {
        const cases: [Who, CmsRecipient['keyTransport']][] = [
          ['rsa', undefined],
          ['rsa', 'rsa-pkcs1'],
          ['p256', undefined],
          ['p384', undefined],
        ];
        for (const [who, keyTransport] of cases) {
          const der = await encryptData(content, [{ certificate: ids[who].cert, ...(keyTransport ? { keyTransport } : {}) }], { contentEncryption: alg });
          const r = opensslDecrypt(der, who);
          expect(r.stderr).toBe('');
          expect(r.status).toBe(0);
          expect(equalBytes(r.content, content)).toBe(true);
        }
      });
    }

    it('three mixed recipients, subjectKeyIdentifier for one: OpenSSL opens it as each', async () => {
      const der = await encryptData(content, [
        { certificate: ids.rsa.cert },
        { certificate: ids.rsa2.cert, keyTransport: 'rsa-pkcs1', identifier: 'subjectKeyIdentifier' },
        { certificate: ids.p384.cert },
      ]);
      for (const who of ['rsa', 'rsa2', 'p384'] as Who[]) {
        const r = opensslDecrypt(der, who);
        expect(r.status).toBe(0);
        expect(equalBytes(r.content, content)).toBe(true);
      }
    });

    it('a non-data content type with authAttrs: OpenSSL accepts the AAD', async () => {
      const der = await encryptData(content, [{ certificate: ids.p256.cert }], { contentType: CMS_OID.signedData });
      const inFile = file('ct.der');
      writeFileSync(inFile, der);
      const r = runStatus('openssl', ['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', inFile, '-recip', ids.p256.certFile, '-inkey', ids.p256.keyFile, '-out', file('ct.out')]);
      expect(r.status).toBe(0);
    });

    it('tampered mailpki output fails in OpenSSL: GCM tag, GCM ciphertext, wrapped keys', async () => {
      const der = await encryptData(content, [{ certificate: ids.rsa.cert }, { certificate: ids.p256.cert }]);
      const ed = parseEnvelopedData(der);
      const at = (part: Uint8Array) => part.byteOffset - der.byteOffset;
      const flip = (i: number) => {
        const m = der.slice();
        m[i]! ^= 0x04;
        return m;
      };
      for (const [who, i] of [
        ['rsa', at(ed.mac!) + 5],
        ['p256', at(ed.encryptedContent![0]!) + 100],
        ...ed.recipients.map((r) => [r.type === 'ktri' ? 'rsa' : 'p256', at((r as { encryptedKey: Uint8Array }).encryptedKey) + 9] as const),
      ] as [Who, number][]) {
        const r = opensslDecrypt(flip(i), who);
        expect(r.status).not.toBe(0);
        expect(r.content.length).toBe(0);
      }
    });
  });
});
