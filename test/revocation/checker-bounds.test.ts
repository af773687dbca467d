/**
 * What one certificate (and so one message) can make the revocation checker do, and keep: a CA the
 * relying party trusts — perhaps only for some names — writes whatever AIA and CRL URLs it likes into the
 * certificates it issues. Unit test with an injected fetch that counts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  authorityInfoAccessValue,
  authorityKeyIdentifierValue,
  crlDistributionPointsValue,
  keySigner,
  randomSerial,
  signCertificate,
  type ExtensionInput,
  type TbsSigner,
} from '../../src/certs/builder.js';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { encodeName } from '../../src/certs/name.js';
import { OID } from '../../src/internal/oids.js';
import { defaultSignatureAlgorithm } from '../../src/keys/algorithms.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { MAX_CERTIFICATE_URLS_PER_METHOD, MAX_HELD_CRLS, RevocationChecker } from '../../src/revocation/checker.js';
import { createCrl } from '../../src/revocation/crl-create.js';
import { selfSignedCaCertificate } from './ocsp-fixtures.js';

const DAY = 86_400_000;
const now = new Date('2026-11-01T10:00:00Z');
const clock = () => now;

let ca: Certificate;
let signer: TbsSigner;
let leafSpki: Uint8Array;

beforeAll(async () => {
  const keys = await generateKeyPair('ec-p256');
  signer = keySigner(keys.privateKey, defaultSignatureAlgorithm(keys.privateKey));
  const spki = await exportSpki(keys.publicKey);
  const subject = encodeName([{ type: 'CN', value: 'Partner CA' }]);
  ca = parseCertificate(
    await selfSignedCaCertificate(subject, spki, signer, now),
  );
  leafSpki = await exportSpki((await generateKeyPair('ec-p256')).publicKey);
});

async function leaf(urls: { ocsp: string[]; crl: string[] }): Promise<Certificate> {
  const extensions: ExtensionInput[] = [{ oid: OID.authorityKeyIdentifier, critical: false, value: authorityKeyIdentifierValue(ca.subjectKeyIdentifier!) }];
  if (urls.ocsp.length) extensions.push({ oid: OID.authorityInfoAccess, critical: false, value: authorityInfoAccessValue({ ocsp: urls.ocsp }) });
  if (urls.crl.length) extensions.push({ oid: OID.cRLDistributionPoints, critical: false, value: crlDistributionPointsValue(urls.crl) });
  return parseCertificate(
    await signCertificate(
      {
        serial: randomSerial(globalThis.crypto),
        issuer: ca.subject.der,
        subject: encodeName([{ type: 'CN', value: 'someone@partner.example' }]),
        notBefore: new Date(now.getTime() - DAY),
        notAfter: new Date(now.getTime() + 90 * DAY),
        spki: leafSpki,
        extensions,
      },
      signer,
    ),
  );
}

describe('RevocationChecker bounds what a certificate can make it do', () => {
  it('asks at most MAX_CERTIFICATE_URLS_PER_METHOD distinct responders and distribution points of each kind a certificate names', async () => {
    const asked: string[] = [];
    const fetch = async (url: string) => (asked.push(url), new Response('down', { status: 503 }));
    const many = (base: string) => Array.from({ length: 40 }, (_, i) => `${base}/${i}`);
    const cert = await leaf({ ocsp: many('http://ocsp.partner.example'), crl: many('http://crl.partner.example') });
    // Before: every one of the 80 URLs was asked in turn, each with its own timeout (80 × 5 s for one certificate).
    const r = await new RevocationChecker({ fetch, clock }).check(cert, ca, now);
    expect(r.status).toBe('unchecked');
    expect(asked).toHaveLength(2 * MAX_CERTIFICATE_URLS_PER_METHOD);
    expect(r.error).toMatch(/36 more OCSP responder/);
    // The same URL named again and again is asked once.
    asked.length = 0;
    const repeated = await leaf({ ocsp: Array.from({ length: 40 }, () => 'http://ocsp.partner.example/'), crl: [] });
    await new RevocationChecker({ fetch, clock }).check(repeated, ca, now);
    expect(asked).toEqual(['http://ocsp.partner.example/']);
  });

  it('holds at most MAX_HELD_CRLS fetched CRLs: distribution point after distribution point does not grow the process', async () => {
    const crl = new Uint8Array(
      await createCrl({ issuer: ca, signer, thisUpdate: now, nextUpdate: new Date(now.getTime() + 365 * DAY), crlNumber: 1n, entries: [] }),
    );
    const asked: string[] = [];
    const fetch = async (url: string) => (asked.push(url), new Response(crl));
    const checker = new RevocationChecker({ fetch, clock, order: ['crl'] });
    const first = await leaf({ ocsp: [], crl: ['http://crl.partner.example/0.crl'] });
    expect((await checker.check(first, ca, now)).status).toBe('good');
    for (let i = 1; i <= MAX_HELD_CRLS; i++)
      expect((await checker.check(await leaf({ ocsp: [], crl: [`http://crl.partner.example/${i}.crl`] }), ca, now)).status).toBe('good');
    expect(asked).toHaveLength(MAX_HELD_CRLS + 1);
    // Another serial behind the first URL: its CRL was let go (the oldest), so it is fetched again.
    // Before: every CRL fetched was held until its nextUpdate, however many URLs (up to 64 MiB each).
    const again = await leaf({ ocsp: [], crl: ['http://crl.partner.example/0.crl'] });
    expect((await checker.check(again, ca, now)).status).toBe('good');
    expect(asked).toHaveLength(MAX_HELD_CRLS + 2);
  });

  it('many checks at once behind one distribution point (messages arriving as the held CRL expires) download it once', async () => {
    const crl = new Uint8Array(await createCrl({ issuer: ca, signer, thisUpdate: now, nextUpdate: new Date(now.getTime() + DAY), crlNumber: 1n, entries: [] }));
    let downloads = 0;
    const fetch = async () => {
      downloads++;
      await new Promise((r) => setTimeout(r, 20));
      return new Response(crl);
    };
    const checker = new RevocationChecker({ fetch, clock, order: ['crl'] });
    const certs = await Promise.all(Array.from({ length: 10 }, () => leaf({ ocsp: [], crl: ['http://crl.partner.example/big.crl'] })));
    const results = await Promise.all(certs.map((c) => checker.check(c, ca, now)));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill('good'));
    // Before: each serial is its own cache key, so every check in a free slot downloaded (and parsed) the CRL: 4 at once.
    expect(downloads).toBe(1);
  });

  it('holds CRLs up to a total size', async () => {
    const entries = Array.from({ length: 200 }, (_, i) => ({ serialNumber: (0x1000 + i).toString(16), revocationDate: now }));
    const crl = new Uint8Array(await createCrl({ issuer: ca, signer, thisUpdate: now, nextUpdate: new Date(now.getTime() + 365 * DAY), crlNumber: 1n, entries }));
    const asked: string[] = [];
    const fetch = async (url: string) => (asked.push(url), new Response(crl));
    // Room for two of these CRLs: the third one fetched lets the first go.
    const checker = new RevocationChecker({ fetch, clock, order: ['crl'], maxCrlBytes: crl.length, maxHeldCrlBytes: 2 * crl.length + 10 });
    const urls = ['http://crl.partner.example/a.crl', 'http://crl.partner.example/b.crl', 'http://crl.partner.example/c.crl', 'http://crl.partner.example/a.crl'];
    for (const u of urls) expect((await checker.check(await leaf({ ocsp: [], crl: [u] }), ca, now)).status).toBe('good');
    expect(asked).toEqual(urls);
  });
});
