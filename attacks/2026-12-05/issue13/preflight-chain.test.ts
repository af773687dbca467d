/**
 * atk13 — preflight "the certificate is valid now": only the leaf's notBefore/notAfter are compared with the clock.
 * The chain is never validated (PreflightOptions has no trust anchors; checkValidity looks at dates; revocation is
 * asked for the leaf only, against whatever issuer the signer's own chain names). A signer issued by a CA nobody
 * trusts — here a second LocalCA with its own good CRL — passes every check under hard-fail and the message goes out
 * with a signature every recipient's client shows as untrusted. Expected: with the trust anchors given, the
 * preflight fails (certificate-validity or a chain check). Same gap: a revoked or expired issuing CA.
 */
import { describe, expect, it } from 'vitest';
import { LocalCA } from '../../src/ca/local-ca.js';
import { MemoryCaStorage } from '../../src/ca/storage.js';
import { parseCertificate } from '../../src/certs/certificate.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { preflight, type PreflightConfig } from '../../src/nodemailer/index.js';
import { RevocationChecker } from '../../src/revocation/checker.js';
import { CA_START, clock, mailFixture, NOW } from '../nodemailer/fixtures.js';

const f = await mailFixture();
const message = 'From: Payments <payments@example.com>\r\nTo: approvers@example.com\r\nSubject: Payment instruction\r\nMessage-ID: <pf.1@example.com>\r\n\r\nPay 1,250.00 EUR\r\n';

describe('atk13: preflight and the certificate chain', () => {
  it('a signer from a CA that is not a trust anchor fails the preflight (today: ok, every check passes)', async () => {
    let t = CA_START.getTime();
    const rogue = await LocalCA.create(new MemoryCaStorage(), { name: 'Rogue CA', allowedDomains: ['example.com'] }, { clock: () => new Date(t) });
    const pair = await generateKeyPair('ec-p256', { extractable: true });
    const r = await rogue.issue({ mailbox: 'payments@example.com', publicKey: await exportSpki(pair.publicKey), profile: 'strict', notBefore: CA_START, validityDays: 365 });
    t = NOW.getTime() - 3_600_000;
    const crls = [await rogue.createCrl(), (await rogue.rootCrl())!];
    const checker = new RevocationChecker({ crls, clock, fetch: async () => { throw new Error('no fetch'); } });
    const config = {
      smime: { signer: { key: pair.privateKey, certificate: parseCertificate(r.certificate), chain: [rogue.issuingCertificate] } },
      revocation: { policy: 'hard-fail', checker },
      clock,
      trustAnchors: [f.root],
    } as unknown as PreflightConfig;
    const result = await preflight(message, config);
    expect(result.ok).toBe(false);
  });
});
