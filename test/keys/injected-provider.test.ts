/**
 * Keys held by an injected WebCrypto provider sign everything mailpki signs: here
 * @peculiar/webcrypto stands in for a PKCS#11/HSM-backed provider. Its keys are non-extractable
 * and foreign to Node's WebCrypto; every signature must go through the provider.
 */
import { Crypto as PeculiarCrypto } from '@peculiar/webcrypto';
import { describe, expect, it } from 'vitest';
import { LocalCA } from '../../src/ca/local-ca.js';
import { MemoryCaStorage } from '../../src/ca/storage.js';
import { parseCertificate } from '../../src/certs/certificate.js';
import { createCsr, parseCsr, verifyCsr } from '../../src/certs/csr.js';
import { generateKeyPair } from '../../src/keys/index.js';
import { signMessage, verifyMessage } from '../../src/smime/index.js';

function countingProvider(): { crypto: Crypto; signs: () => number } {
  const inner = new PeculiarCrypto() as unknown as Crypto;
  let n = 0;
  const subtle = new Proxy(inner.subtle, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (prop === 'sign') return (...a: Parameters<SubtleCrypto['sign']>) => (n++, target.sign(...a));
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  const crypto = { subtle, getRandomValues: inner.getRandomValues.bind(inner), randomUUID: () => globalThis.crypto.randomUUID() } as unknown as Crypto;
  return { crypto, signs: () => n };
}

describe('an injected WebCrypto provider holding non-extractable keys', () => {
  it.each(['ec-p256', 'rsa-2048'] as const)('%s: CSR, issuance from the CSR, and an S/MIME signature that verifies elsewhere', async (type) => {
    const p = countingProvider();
    const keys = await generateKeyPair(type, { crypto: p.crypto, extractable: false });
    expect(keys.privateKey.extractable).toBe(false);
    const csr = await createCsr({ privateKey: keys.privateKey, publicKey: keys.publicKey, email: 'payments@example.com', crypto: p.crypto });
    await verifyCsr(parseCsr(csr)); // by Node's own WebCrypto
    const ca = await LocalCA.create(new MemoryCaStorage(), { allowedDomains: ['example.com'] });
    const issued = await ca.issue({ mailbox: 'payments@example.com', csr });
    const before = p.signs();
    const signed = await signMessage(
      { from: 'payments@example.com', to: 'ap@example.com', subject: 'Pay', text: 'Pay 10 EUR.' },
      { key: keys.privateKey, certificate: issued.certificate, chain: [issued.chain[0]!] },
      { crypto: p.crypto },
    );
    expect(p.signs() - before).toBe(1);
    const v = await verifyMessage(signed, { trustAnchors: [ca.rootCertificate], revocation: { policy: 'off' } });
    expect(v.valid).toBe(true);
    expect(parseCertificate(issued.certificate).publicKey.kind).toBe(type === 'rsa-2048' ? 'rsa' : 'ec');
  });

  it('a LocalCA whose keys live in the injected provider issues certificates Node verifies', async () => {
    const p = countingProvider();
    const ca = await LocalCA.create(new MemoryCaStorage(), { allowedDomains: ['example.com'] }, { crypto: p.crypto });
    const keys = await generateKeyPair('ec-p256');
    const spki = new Uint8Array(await crypto.subtle.exportKey('spki', keys.publicKey));
    const before = p.signs();
    const issued = await ca.issue({ mailbox: 'a@example.com', publicKey: spki });
    expect(p.signs() - before).toBe(1);
    const signed = await signMessage({ from: 'a@example.com', to: 'b@example.com', subject: 's', text: 't' }, { key: keys.privateKey, certificate: issued.certificate, chain: [issued.chain[0]!] });
    expect((await verifyMessage(signed, { trustAnchors: [ca.rootCertificate], revocation: { policy: 'off' } })).valid).toBe(true);
  });
});
