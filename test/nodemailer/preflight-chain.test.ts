/**
 * The preflight validates the signing certificate's chain to the caller's trust anchors (outside review of issue 13,
 * attacks/2026-12-05/issue13/preflight-chain.test.ts: a signer from a CA nobody trusts passed a hard-fail preflight),
 * and checks the revocation of every certificate of that chain, not the leaf alone.
 */
import { describe, expect, it } from 'vitest';
import { LocalCA } from '../../src/ca/local-ca.js';
import { MemoryCaStorage } from '../../src/ca/storage.js';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { mailpkiPlugin, preflight, type NodemailerMail } from '../../src/nodemailer/index.js';
import { RevocationChecker } from '../../src/revocation/checker.js';
import { bufferTransport, CA_START, clock, mailFixture, NOW, paymentMail } from './fixtures.js';

const f = await mailFixture();
const message = 'From: Payments <payments@example.com>\r\nTo: approvers@example.com\r\nSubject: Payment instruction\r\nMessage-ID: <pf.1@example.com>\r\n\r\nPay 1,250.00 EUR\r\n';

/** payments@example.com from a second CA ("Rogue CA") with its own good CRLs: fit in every way but trust. */
async function rogueSigner() {
  let t = CA_START.getTime();
  const rogue = await LocalCA.create(new MemoryCaStorage(), { name: 'Rogue CA', allowedDomains: ['example.com'] }, { clock: () => new Date(t) });
  const pair = await generateKeyPair('ec-p256', { extractable: true });
  const r = await rogue.issue({ mailbox: 'payments@example.com', publicKey: await exportSpki(pair.publicKey), profile: 'strict', notBefore: CA_START, validityDays: 365 });
  t = NOW.getTime() - 3_600_000;
  const crls = [await rogue.createCrl(), (await rogue.rootCrl())!];
  const checker = new RevocationChecker({ crls, clock, fetch: async () => { throw new Error('no fetch'); } });
  return { signer: { key: pair.privateKey, certificate: parseCertificate(r.certificate), chain: [rogue.issuingCertificate] }, checker, root: rogue.rootCertificate };
}

const checkOf = (r: Awaited<ReturnType<typeof preflight>>, name: string) => r.checks.find((c) => c.check === name);

describe('preflight: certificate-chain', () => {
  it('a signer from a CA that is not a trust anchor fails certificate-chain (every other check passes)', async () => {
    const rogue = await rogueSigner();
    const r = await preflight(message, { smime: { signer: rogue.signer }, revocation: { policy: 'hard-fail', checker: rogue.checker }, clock, trustAnchors: [f.root] });
    expect(r.ok).toBe(false);
    expect(r.failed).toEqual(['certificate-chain']);
    expect(checkOf(r, 'certificate-chain')!.message).toMatch(/^the certificate [0-9a-f]+ does not chain to a trust anchor: CHAIN_/);
    expect(r.chain).toBeUndefined();
    // The same signer with its own root as the anchor passes: the check is about trust, nothing else.
    const own = await preflight(message, { smime: { signer: rogue.signer }, revocation: { policy: 'hard-fail', checker: rogue.checker }, clock, trustAnchors: [rogue.root] });
    expect(own.ok).toBe(true);
    expect(checkOf(own, 'certificate-chain')).toEqual({ check: 'certificate-chain', outcome: 'pass', message: expect.stringMatching(/^the certificate chains to the trust anchor .*Rogue CA.* \(3 certificate\(s\)\)$/) });
  });

  it('without trust anchors certificate-chain fails and says why (the library trusts nothing implicitly)', async () => {
    const r = await preflight(message, { smime: { signer: f.payments }, revocation: { policy: 'hard-fail', checker: f.checker() }, clock });
    expect(r.failed).toEqual(['certificate-chain']);
    expect(checkOf(r, 'certificate-chain')!.message).toBe(
      'no trust anchors given (trustAnchors): the chain of the signing certificate cannot be validated, so a certificate from a CA your recipients do not trust would pass',
    );
    // The leaf's revocation is still checked and reported.
    expect(r.revocation).toMatchObject({ status: 'good', serialNumber: f.payments.certificate.serialNumber });
  });

  it('the plugin refuses to send with a signer from an untrusted CA: ERR_PREFLIGHT_FAILED, nothing sent', async () => {
    const rogue = await rogueSigner();
    const plugin = mailpkiPlugin({ smime: { signer: rogue.signer }, preflight: { clock, trustAnchors: [f.root], revocation: { policy: 'hard-fail', checker: rogue.checker } } });
    const t = bufferTransport();
    let sent = 0;
    t.use('stream', (m, cb) => plugin(m as unknown as NodemailerMail, (e) => { if (!e) sent++; cb(e); }));
    const err = await t.sendMail(paymentMail()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_PREFLIGHT_FAILED', details: { failed: ['certificate-chain'] } });
    expect(sent).toBe(0);
  });

  it('a revoked CA certificate in the path fails revocation (each certificate of the path is checked, not the leaf only)', async () => {
    const issuing: Certificate = f.ca.issuingCertificate;
    const real = f.checker();
    // The issuing CA revoked by its root, as a CRL of the root would say.
    const checker = {
      check: async (c: Certificate, issuer: Certificate, at?: Date) =>
        c.serialNumber === issuing.serialNumber ? { serialNumber: c.serialNumber, subject: 'Mail Test CA S/MIME Issuing CA', status: 'revoked' as const, reason: 'cACompromise' as const, method: 'crl' as const } : real.check(c, issuer, at),
    } as unknown as RevocationChecker;
    const r = await preflight(message, { smime: { signer: f.payments }, revocation: { policy: 'hard-fail', checker }, clock, trustAnchors: [f.root] });
    expect(r.failed).toEqual(['revocation']);
    expect(checkOf(r, 'revocation')!.message).toBe(`the CA certificate Mail Test CA S/MIME Issuing CA (${issuing.serialNumber}) is revoked (cACompromise)`);
    expect(r.revocation).toMatchObject({ status: 'good', serialNumber: f.payments.certificate.serialNumber });
  });

  it('unreadable trust anchors or intermediates are a caller mistake: ERR_INVALID_INPUT naming the field, at mailpkiPlugin()', () => {
    expect(() => mailpkiPlugin({ smime: { signer: f.payments }, preflight: { trustAnchors: ['not a certificate'] } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT', details: { field: 'trustAnchors[0]' } }));
    expect(() => mailpkiPlugin({ smime: { signer: f.payments }, preflight: { trustAnchors: [] } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT', details: { field: 'trustAnchors' } }));
    expect(() => mailpkiPlugin({ smime: { signer: f.payments }, preflight: { trustAnchors: [f.root], intermediates: [new Uint8Array([1])] } })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_INPUT', details: { field: 'intermediates[0]' } }),
    );
  });
});
