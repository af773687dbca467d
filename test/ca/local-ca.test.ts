import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCA } from '../../src/ca/local-ca.js';
import { MemoryCaStorage } from '../../src/ca/storage.js';
import { PROFILE_RULES } from '../../src/ca/profiles.js';
import { validatedCa } from '../../src/ca/validated.js';
import type { IssuedCertificate, SmimeProfile } from '../../src/ca/types.js';
import { certificateEmails, parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { createCsr, parseCsr } from '../../src/certs/csr.js';
import { OID } from '../../src/internal/oids.js';
import { encodePem } from '../../src/internal/pem.js';
import { exportSpki, generateKeyPair, KEY_TYPES, type KeyType } from '../../src/keys/index.js';
import { describeWithPeers, run, runStatus, tempDir } from '../helpers/peers.js';
import { runCaContract } from './contract.js';
import { parseCrl } from '../../src/revocation/crl-parse.js';
import { verifyCrl } from '../../src/revocation/crl-verify.js';

const NOW = new Date('2026-11-01T10:00:00Z');
const clock = () => NOW;
const PROFILES: SmimeProfile[] = ['strict', 'multipurpose', 'legacy'];
/** The key types issued here with the default usage (signing): an X25519 key has its own 'encryption' tests. */
const SIGNING_KEY_TYPES = KEY_TYPES.filter((t) => t !== 'x25519');

const keyCache = new Map<KeyType, Promise<CryptoKeyPair>>();
function keysFor(type: KeyType): Promise<CryptoKeyPair> {
  let p = keyCache.get(type);
  if (!p) keyCache.set(type, (p = generateKeyPair(type, { extractable: true })));
  return p;
}

const newCa = (options: Parameters<typeof LocalCA.create>[1] = {}) =>
  LocalCA.create(new MemoryCaStorage(), { allowedDomains: ['example.com'], ...options }, { clock });

/** The same storage opened by a second LocalCA object: what another process sees. */
const storages = new WeakMap<object, MemoryCaStorage>();
const newSharedCa = async () => {
  const storage = new MemoryCaStorage();
  const ca = await LocalCA.create(storage, { allowedDomains: ['example.com'] }, { clock });
  storages.set(ca, storage);
  return ca;
};

runCaContract('LocalCA', newSharedCa, { another: async (ca) => LocalCA.open(storages.get(ca)!, { clock }) });
runCaContract(
  'validatedCa(LocalCA)',
  async () => {
    const ca = await newSharedCa();
    const wrapped = validatedCa(ca);
    storages.set(wrapped, storages.get(ca)!);
    return wrapped;
  },
  { another: async (ca) => validatedCa(await LocalCA.open(storages.get(ca)!, { clock })) },
);

describe('LocalCA issuance by profile', () => {
  let ca: LocalCA;
  const issued = new Map<string, { cert: Certificate; raw: IssuedCertificate }>();

  beforeAll(async () => {
    ca = await newCa({ baseUrl: 'http://127.0.0.1:8099/' });
    for (const profile of PROFILES)
      for (const type of SIGNING_KEY_TYPES) {
        const keys = await keysFor(type);
        const raw = await ca.issue({ mailbox: `${profile}.${type}@example.com`, profile, publicKey: await exportSpki(keys.publicKey) });
        issued.set(`${profile}/${type}`, { cert: parseCertificate(raw.certificate), raw });
      }
  }, 120_000);

  for (const profile of PROFILES)
    for (const type of SIGNING_KEY_TYPES) {
      it(`${profile} × ${type}: extensions match the profile, field by field`, () => {
        const { cert, raw } = issued.get(`${profile}/${type}`)!;
        const mailbox = `${profile}.${type}@example.com`;
        expect(cert.version).toBe(3);
        expect(cert.subject.rdns).toEqual([[{ type: OID.commonName, shortName: 'CN', value: mailbox }]]);
        expect(cert.issuer.der).toEqual(ca.issuingCertificate.subject.der);
        expect(cert.subjectAltName?.rfc822Names).toEqual([mailbox]);
        expect(certificateEmails(cert)).toEqual([mailbox]);
        expect(cert.extensions.get(OID.subjectAltName)?.critical).toBe(false);
        expect(cert.basicConstraints).toEqual({ ca: false });
        expect(cert.extensions.get(OID.basicConstraints)?.critical).toBe(true);
        const expectedKu =
          type === 'ed25519'
            ? ['digitalSignature']
            : type.startsWith('rsa')
              ? ['digitalSignature', 'keyEncipherment']
              : ['digitalSignature', 'keyAgreement'];
        expect(cert.keyUsage).toEqual(expectedKu);
        expect(cert.extensions.get(OID.keyUsage)?.critical).toBe(true);
        expect(cert.extKeyUsage).toEqual([...PROFILE_RULES[profile].extKeyUsage]);
        if (profile === 'strict') expect(cert.extKeyUsage).toEqual([OID.idKpEmailProtection]);
        expect(cert.policies).toEqual([PROFILE_RULES[profile].policyOid]);
        expect(cert.authorityKeyIdentifier).toEqual(ca.issuingCertificate.subjectKeyIdentifier);
        expect(cert.subjectKeyIdentifier?.length).toBe(20);
        expect(cert.crlDistributionPoints).toEqual(['http://127.0.0.1:8099/crl/issuing.crl']);
        expect(cert.ocspUrls).toEqual(['http://127.0.0.1:8099/ocsp']);
        expect(cert.caIssuersUrls).toEqual(['http://127.0.0.1:8099/ca/issuing.cer']);
        // ≥ 64 random bits, positive: 16 bytes with the top bit clear.
        expect(cert.serialBytes.length).toBe(16);
        expect(cert.serialBytes[0]! & 0x80).toBe(0);
        expect(cert.notBefore).toEqual(NOW);
        expect(cert.notAfter.getTime() - NOW.getTime()).toBe(365 * 86_400_000);
        expect(raw.serialNumber).toBe(cert.serialNumber);
        expect(cert.signatureAlgorithm).toEqual({ scheme: 'ecdsa', hash: 'SHA-256' });
      });
    }

  it("usage sets keyUsage: signing → digitalSignature; encryption → keyEncipherment (RSA) / keyAgreement (EC) only; Ed25519 cannot encrypt (ERR_KEY_UNSUPPORTED, nothing issued)", async () => {
    const c = await newCa();
    const ku = async (type: KeyType, usage: 'signing' | 'encryption' | 'dual-use') =>
      parseCertificate((await c.issue({ mailbox: `u.${type}.${usage}@example.com`, profile: 'strict', usage, publicKey: await exportSpki((await keysFor(type)).publicKey) })).certificate).keyUsage;
    expect(await ku('rsa-2048', 'encryption')).toEqual(['keyEncipherment']);
    expect(await ku('ec-p256', 'encryption')).toEqual(['keyAgreement']);
    expect(await ku('ec-p384', 'signing')).toEqual(['digitalSignature']);
    expect(await ku('rsa-2048', 'dual-use')).toEqual(['digitalSignature', 'keyEncipherment']);
    const before = c.issued.length;
    await expect(ku('ed25519', 'encryption')).rejects.toMatchObject({ code: 'ERR_KEY_UNSUPPORTED' });
    expect(c.issued.length).toBe(before);
  });

  it('serials differ', () => {
    const serials = new Set([...issued.values()].map((x) => x.cert.serialNumber));
    expect(serials.size).toBe(issued.size);
  });

  describeWithPeers('OpenSSL accepts every profile × key type for S/MIME signing', ['openssl'], () => {
    const t = tempDir();
    afterAll(() => t.cleanup());
    it('openssl verify -purpose smimesign, and x509 -text shows the profile', async () => {
      writeFileSync(t.path('root.pem'), encodePem('CERTIFICATE', ca.rootCertificate.der));
      writeFileSync(t.path('chain.pem'), (await ca.getChain()).map((c) => encodePem('CERTIFICATE', c)).join(''));
      for (const [key, { cert }] of issued) {
        const file = t.path(`${key.replace('/', '-')}.pem`);
        writeFileSync(file, encodePem('CERTIFICATE', cert.der));
        const r = runStatus('openssl', ['verify', '-purpose', 'smimesign', '-attime', String(NOW.getTime() / 1000 + 60), '-CAfile', t.path('root.pem'), '-untrusted', t.path('chain.pem'), file]);
        expect(r.stdout + r.stderr, key).toContain(': OK');
        expect(r.status, key).toBe(0);
        const text = run('openssl', ['x509', '-in', file, '-noout', '-text']);
        expect(text).toContain(`Policy: ${PROFILE_RULES[key.split('/')[0] as SmimeProfile].policyOid}`);
        expect(text).toMatch(/X509v3 Key Usage: critical/);
        expect(text).toContain('E-mail Protection');
        expect(text).toContain(`email:${key.split('/')[0]}.`);
      }
    });
  });
});

describe('LocalCA refuses what the profile forbids', () => {
  let ca: LocalCA;
  let spki: Uint8Array;
  beforeAll(async () => {
    ca = await newCa();
    spki = await exportSpki((await keysFor('ec-p256')).publicKey);
  });

  it('a mailbox outside the allowed domains', async () => {
    await expect(ca.issue({ mailbox: 'ceo@evil.test', publicKey: spki })).rejects.toMatchObject({ code: 'ERR_CA_MAILBOX_NOT_ALLOWED' });
    await expect(ca.issue({ mailbox: 'ceo@sub.example.com', publicKey: spki })).rejects.toMatchObject({ code: 'ERR_CA_MAILBOX_NOT_ALLOWED' });
  });

  it('subdomains only when listed with a leading dot', async () => {
    const wide = await newCa({ allowedDomains: ['.example.com'] });
    await expect(wide.issue({ mailbox: 'a@mail.example.com', publicKey: spki })).resolves.toBeTruthy();
    await expect(wide.issue({ mailbox: 'a@example.com', publicKey: spki })).rejects.toMatchObject({ code: 'ERR_CA_MAILBOX_NOT_ALLOWED' });
  });

  it('RSA below 2048 bits', async () => {
    const weak = (await crypto.subtle.generateKey(
      { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      true,
      ['sign', 'verify'],
    )) as CryptoKeyPair;
    const weakSpki = new Uint8Array(await crypto.subtle.exportKey('spki', weak.publicKey));
    await expect(ca.issue({ mailbox: 'a@example.com', publicKey: weakSpki })).rejects.toMatchObject({
      code: 'ERR_KEY_WEAK',
      message: expect.stringMatching(/2048.*1024/),
    });
  });

  it('validity beyond the profile cap', async () => {
    await expect(ca.issue({ mailbox: 'a@example.com', publicKey: spki, validityDays: 826 })).rejects.toMatchObject({
      code: 'ERR_CA_VALIDITY_EXCEEDED',
    });
    const ok = await ca.issue({ mailbox: 'a@example.com', publicKey: spki, validityDays: 825 });
    expect(ok.notAfter.getTime() - ok.notBefore.getTime()).toBe(825 * 86_400_000);
    const legacy = await ca.issue({ mailbox: 'a@example.com', publicKey: spki, profile: 'legacy', validityDays: 1185 });
    expect(legacy.profile).toBe('legacy');
    await expect(ca.issue({ mailbox: 'a@example.com', publicKey: spki, profile: 'legacy', validityDays: 1186 })).rejects.toMatchObject({
      code: 'ERR_CA_VALIDITY_EXCEEDED',
    });
  });

  it('requests with both or neither of csr and publicKey', async () => {
    await expect(ca.issue({ mailbox: 'a@example.com' })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    await expect(ca.issue({ mailbox: 'a@example.com', publicKey: spki, csr: spki })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
  });

  it('an unknown profile, naming the field', async () => {
    await expect(ca.issue({ mailbox: 'a@example.com', publicKey: spki, profile: 'tls' as SmimeProfile })).rejects.toMatchObject({
      code: 'ERR_INVALID_INPUT',
      details: { field: 'profile' },
    });
  });
});

describe('LocalCA with certificate requests', () => {
  it('issues from a CSR made by createCsr, for the validated mailbox only', async () => {
    const ca = await newCa();
    const keys = await keysFor('ec-p384');
    const csr = await createCsr({ privateKey: keys.privateKey, publicKey: keys.publicKey, email: 'payments@example.com' });
    expect(parseCsr(csr).emails).toEqual(['payments@example.com']);
    const issued = await ca.issue({ mailbox: 'payments@example.com', csr });
    const cert = parseCertificate(issued.certificate);
    expect(cert.publicKey.spki).toEqual(await exportSpki(keys.publicKey));
    expect(certificateEmails(cert)).toEqual(['payments@example.com']);
  });

  it('refuses a CSR whose signature does not verify', async () => {
    const ca = await newCa();
    const keys = await keysFor('ec-p256');
    const csr = await createCsr({ privateKey: keys.privateKey, publicKey: keys.publicKey, email: 'payments@example.com' });
    const tampered = csr.slice();
    tampered[tampered.length - 5]! ^= 0x01;
    await expect(ca.issue({ mailbox: 'payments@example.com', csr: tampered })).rejects.toMatchObject({ code: 'ERR_CSR_SIGNATURE_INVALID' });
  });

  describeWithPeers('OpenSSL CSRs', ['openssl'], () => {
    const t = tempDir();
    afterAll(() => t.cleanup());
    it('a CSR from openssl req is accepted; ours passes openssl req -verify', async () => {
      run('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', t.path('k.pem'), '-subj', '/CN=ap@example.com', '-out', t.path('r.pem')]);
      const ca = await newCa();
      const issued = await ca.issue({ mailbox: 'ap@example.com', csr: parseCsr(run('openssl', ['req', '-in', t.path('r.pem')])).der });
      expect(parseCertificate(issued.certificate).publicKey.bits).toBe(2048);
      const keys = await keysFor('rsa-2048');
      const ours = await createCsr({ privateKey: keys.privateKey, publicKey: keys.publicKey, email: 'x@example.com' });
      writeFileSync(t.path('ours.der'), ours);
      const out = runStatus('openssl', ['req', '-inform', 'DER', '-in', t.path('ours.der'), '-noout', '-verify', '-text']);
      expect(out.status).toBe(0);
      expect(out.stdout + out.stderr).toMatch(/verify OK/i);
      expect(out.stdout).toContain('email:x@example.com');
    });
  });
});

describe('LocalCA revocation records', () => {
  it('hold and reinstate; only a held certificate comes back', async () => {
    const ca = await newCa();
    const spki = await exportSpki((await keysFor('ec-p256')).publicKey);
    const a = await ca.issue({ mailbox: 'hold@example.com', publicKey: spki });
    await ca.revoke({ serialNumber: a.serialNumber, reason: 'certificateHold' });
    expect(ca.issued.find((r) => r.serialNumber === a.serialNumber)?.revocation?.reason).toBe('certificateHold');
    await ca.revoke({ serialNumber: a.serialNumber, reason: 'removeFromCRL' });
    expect(ca.issued.find((r) => r.serialNumber === a.serialNumber)?.revocation).toBeUndefined();
    await expect(ca.revoke({ serialNumber: a.serialNumber, reason: 'removeFromCRL' })).rejects.toMatchObject({ code: 'ERR_CA_REJECTED' });
    const r = await ca.revoke({ serialNumber: `0x${a.serialNumber.toUpperCase()}`, reason: 'keyCompromise' });
    expect(r.revokedAt).toEqual(NOW);
  });

  it('serialises concurrent issuance without losing records', async () => {
    const ca = await newCa();
    const spki = await exportSpki((await keysFor('ec-p256')).publicKey);
    const all = await Promise.all(Array.from({ length: 10 }, (_, i) => ca.issue({ mailbox: `c${i}@example.com`, publicKey: spki })));
    expect(new Set(all.map((x) => x.serialNumber)).size).toBe(10);
    expect(ca.issued.length).toBe(10);
  });
});

describe('LocalCA root CRL renewal', () => {
  it('signs the next root CRL with the root key read from storage; cRLNumber only goes up', async () => {
    const storage = new MemoryCaStorage();
    let now = NOW;
    const ca = await LocalCA.create(storage, { allowedDomains: ['example.com'], passphrase: 'pw' }, { clock: () => now });
    const first = parseCrl((await ca.rootCrl())!);
    expect(first.crlNumber).toBe(1n);
    expect(first.nextUpdate).toEqual(new Date(NOW.getTime() + 365 * 86_400_000));

    now = new Date(NOW.getTime() + 300 * 86_400_000);
    await expect(ca.renewRootCrl()).rejects.toMatchObject({ code: 'ERR_PASSPHRASE_REQUIRED' });
    await expect(ca.renewRootCrl({ passphrase: 'wrong' })).rejects.toMatchObject({ code: 'ERR_PASSPHRASE_WRONG' });
    await expect(ca.renewRootCrl({ passphrase: 'pw', validityDays: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    const der = await ca.renewRootCrl({ passphrase: 'pw', validityDays: 90 });
    const next = parseCrl(der);
    expect(next.crlNumber).toBe(2n);
    expect(next.thisUpdate).toEqual(now);
    expect(next.nextUpdate).toEqual(new Date(now.getTime() + 90 * 86_400_000));
    expect(next.entryCount).toBe(0);
    expect(await ca.rootCrl()).toEqual(der);
    const check = await verifyCrl(next, ca.rootCertificate, { at: now });
    expect(check).toMatchObject({ ok: true });
    // Another process opening the same storage continues the numbering.
    const other = await LocalCA.open(storage, { passphrase: 'pw', clock: () => now });
    expect(parseCrl(await other.renewRootCrl({ passphrase: 'pw' })).crlNumber).toBe(3n);
  });

  it('refuses a stored root key that is not the root certificate’s, and publishes nothing', async () => {
    const storage = new MemoryCaStorage();
    const ca = await LocalCA.create(storage, { allowedDomains: ['example.com'] }, { clock });
    const before = await ca.rootCrl();
    await storage.write('keys/root.key.pem', await storage.read('keys/issuing.key.pem') as Uint8Array);
    await expect(ca.renewRootCrl()).rejects.toMatchObject({ code: 'ERR_CA_STATE_INVALID' });
    expect(await ca.rootCrl()).toEqual(before);
  });
});
