import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseCertificate } from '../../src/certs/certificate.js';
import { decryptData, encryptData } from '../../src/cms/index.js';
import { equalBytes } from '../../src/internal/bytes.js';
import { importPrivateKey } from '../../src/keys/index.js';
import { nodeRawRsaDecrypt } from '../../src/node/index.js';
import { run, tempDir } from '../helpers/peers.js';
import { readFileSync } from 'node:fs';

describe('nodeRawRsaDecrypt', () => {
  it('opens RSA PKCS#1 v1.5 and OAEP messages with a non-extractable key, and refuses non-RSA keys', async () => {
    const tmp = tempDir('mailpki-node-rsa-');
    run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', tmp.path('k.pem'), '-out', tmp.path('c.pem'), '-subj', '/CN=node', '-days', '2']);
    const pem = readFileSync(tmp.path('k.pem'), 'utf8');
    const certificate = parseCertificate(readFileSync(tmp.path('c.pem'), 'utf8'));
    const privateKey = await importPrivateKey(pem, { usage: 'decrypt', oaepHash: 'SHA-512' }); // bound to another hash: only the raw path works
    const key = { privateKey, certificate, rawRsaDecrypt: nodeRawRsaDecrypt(pem) };
    const content = new TextEncoder().encode('hello');
    for (const keyTransport of ['rsa-pkcs1', 'rsa-oaep'] as const) {
      const r = await decryptData(await encryptData(content, [{ certificate, keyTransport }]), [key]);
      expect(equalBytes(r.content, content)).toBe(true);
      expect(r.keyManagement).toBe(keyTransport);
    }
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    expect(() => nodeRawRsaDecrypt(ec)).toThrow(expect.objectContaining({ code: 'ERR_KEY_UNSUPPORTED' }));
    expect(() => nodeRawRsaDecrypt('not a key')).toThrow(expect.objectContaining({ code: 'ERR_KEY_MALFORMED' }));
  });
});
