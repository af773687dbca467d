/**
 * mailpkiPlugin({ encrypt }) encrypts each message to ITS readers only (To, Cc, the envelope's Bcc) + encryptToSelf,
 * and refuses a Bcc recipient that the RecipientInfos would disclose (outside review of issue 13,
 * attacks/2026-12-05/issue13/plugin-encrypt.test.ts: a Bcc without a certificate got an unreadable message, and
 * every configured certificate could open every message).
 */
import { describe, expect, it } from 'vitest';
import { parseCertificate } from '../../src/certs/certificate.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { mailpkiPlugin, preflight, type NodemailerMail } from '../../src/nodemailer/index.js';
import { verifyMessage } from '../../src/smime/index.js';
import { bufferTransport, CA_START, clock, mailFixture, NOW, paymentMail } from './fixtures.js';

const f = await mailFixture();

async function person(mailbox: string) {
  const pair = await generateKeyPair('ec-p256', { extractable: true });
  const r = await f.ca.issue({ mailbox, publicKey: await exportSpki(pair.publicKey), profile: 'strict', notBefore: CA_START, validityDays: 365 });
  return { privateKey: pair.privateKey, certificate: parseCertificate(r.certificate) };
}
const [approver, cfo, auditor] = await Promise.all([person('approvers@example.com'), person('cfo@example.com'), person('auditor@example.com')]);

function plugin(certs = [approver.certificate, cfo.certificate, auditor.certificate]) {
  return mailpkiPlugin({
    smime: { signer: f.payments },
    encrypt: { recipients: certs, at: NOW, revocation: { policy: 'hard-fail', crls: f.crls } },
    preflight: { clock, trustAnchors: [f.root], intermediates: [f.ca.issuingCertificate], revocation: { policy: 'hard-fail', checker: f.checker() } },
  });
}

async function send(p: ReturnType<typeof mailpkiPlugin>, mail: Record<string, unknown>) {
  const t = bufferTransport();
  let sent = 0;
  t.use('stream', (m, cb) => p(m as unknown as NodemailerMail, (e) => { if (!e) sent++; cb(e); }));
  try {
    const info = await t.sendMail(mail);
    return { sent, envelope: info.envelope, bytes: new Uint8Array(info.message as Buffer) };
  } catch (e) {
    return { sent, error: e as { code: string; message: string; details: { failed: string[]; encryption: unknown } } };
  }
}

const open = async (bytes: Uint8Array, who: { privateKey: CryptoKey; certificate: unknown }) => {
  const v = await verifyMessage(bytes, { trustAnchors: [f.root], clock, decryptionKeys: [who as never], revocation: { policy: 'hard-fail', crls: f.crls } });
  return v.layers[0]!.kind === 'encrypted' && (v.layers[0] as { opened?: boolean }).opened === true && v.valid;
};

describe('mailpkiPlugin encrypt: the readers of each message', () => {
  it('a message is encrypted to its own recipients only: a configured certificate it is not addressed to cannot open it', async () => {
    const r = await send(plugin(), paymentMail());
    expect(r.error).toBeUndefined();
    expect(await open(r.bytes!, approver)).toBe(true);
    expect(await open(r.bytes!, cfo)).toBe(false);
    expect(await open(r.bytes!, auditor)).toBe(false);
    // With the cfo in Cc, the cfo opens it too.
    const cc = await send(plugin(), paymentMail({ cc: 'cfo@example.com' }));
    expect(await open(cc.bytes!, cfo)).toBe(true);
    expect(await open(cc.bytes!, auditor)).toBe(false);
  });

  it('a Bcc recipient without a certificate stops the send (ERR_PREFLIGHT_FAILED, encryption-recipients naming it); nothing sent', async () => {
    const r = await send(plugin([approver.certificate]), paymentMail({ bcc: 'auditor@example.com' }));
    expect(r.sent).toBe(0);
    expect(r.error!.code).toBe('ERR_PREFLIGHT_FAILED');
    expect(r.error!.details.failed).toEqual(['encryption-recipients']);
    expect(r.error!.details.encryption).toEqual({ missing: ['auditor@example.com'], invalid: [], readers: ['approvers@example.com', 'auditor@example.com'], certificates: [0] });
    expect(r.error!.message).toBe(
      'not sent: the preflight failed (encryption-recipients: auditor@example.com is a Bcc (or envelope-only) recipient: an encrypted message names the certificate of every recipient, so the others would see it; send each Bcc recipient a copy of its own (envelope: { to: that address }); no recipient certificate names auditor@example.com: they could not read the message)',
    );
  });

  it('a Bcc recipient WITH a certificate is refused too: the RecipientInfos would show it to the To recipients', async () => {
    const r = await send(plugin(), paymentMail({ bcc: 'auditor@example.com' }));
    expect(r.sent).toBe(0);
    expect(r.error!.details.failed).toEqual(['encryption-recipients']);
    expect(r.error!.details.encryption).toEqual({ missing: [], invalid: [], readers: ['approvers@example.com', 'auditor@example.com'], certificates: [0, 2] });
    expect(r.error!.message).toMatch(/auditor@example\.com is a Bcc \(or envelope-only\) recipient: .*send each Bcc recipient a copy of its own/);
    // An envelope recipient the header does not show is the same thing.
    const env = await send(plugin(), paymentMail({ envelope: { from: 'payments@example.com', to: ['approvers@example.com', 'cfo@example.com'] } }));
    expect(env.sent).toBe(0);
    expect(env.error!.message).toMatch(/cfo@example\.com is a Bcc \(or envelope-only\) recipient/);
  });

  it("the Bcc recipient's own copy (envelope to that address alone) is sent, and only it and the To recipients can open it", async () => {
    const r = await send(plugin(), paymentMail({ envelope: { from: 'payments@example.com', to: ['auditor@example.com'] } }));
    expect(r.error).toBeUndefined();
    expect(r.envelope).toEqual({ from: 'payments@example.com', to: ['auditor@example.com'] });
    expect(await open(r.bytes!, auditor)).toBe(true);
    expect(await open(r.bytes!, cfo)).toBe(false);
    // The To copy itself, sent separately, does not name the auditor.
    const main = await send(plugin(), paymentMail());
    expect(await open(main.bytes!, auditor)).toBe(false);
  });

  it('two Bcc recipients in one copy are refused (each would see the other)', async () => {
    const r = await send(plugin(), paymentMail({ envelope: { from: 'payments@example.com', to: ['auditor@example.com', 'cfo@example.com'] } }));
    expect(r.sent).toBe(0);
    expect(r.error!.message).toMatch(/auditor@example\.com, cfo@example\.com are Bcc \(or envelope-only\) recipients/);
  });
});

describe('mailpkiPlugin encrypt: certificates and limits', () => {
  it("a reader's revoked certificate beside a fit one is not used; with the revoked one alone the send stops", async () => {
    const pair = await generateKeyPair('ec-p256', { extractable: true });
    const old = parseCertificate((await f.ca.issue({ mailbox: 'approvers@example.com', publicKey: await exportSpki(pair.publicKey), profile: 'strict', notBefore: CA_START, validityDays: 365 })).certificate);
    // The revocation the recipients are checked with says `old` is revoked.
    const rc = f.checker();
    const real = rc.check.bind(rc);
    rc.check = async (c, i, at) => (c.serialNumber === old.serialNumber ? { serialNumber: c.serialNumber, subject: 'approvers', status: 'revoked' as const } : real(c, i, at));
    const revokedOld = {
      smime: { signer: f.payments },
      encrypt: { recipients: [old, approver.certificate], at: NOW, revocation: { policy: 'hard-fail' as const, checker: rc } },
      preflight: { clock, trustAnchors: [f.root], intermediates: [f.ca.issuingCertificate], revocation: { policy: 'hard-fail' as const, checker: f.checker() } },
    };
    const r = await send(mailpkiPlugin(revokedOld), paymentMail());
    expect(r.error).toBeUndefined();
    expect(await open(r.bytes!, approver)).toBe(true);
    expect(await open(r.bytes!, { privateKey: pair.privateKey, certificate: old })).toBe(false);
    const alone = await send(mailpkiPlugin({ ...revokedOld, encrypt: { ...revokedOld.encrypt, recipients: [old] } }), paymentMail());
    expect(alone.sent).toBe(0);
    expect(alone.error!.details.encryption).toMatchObject({ missing: [], invalid: [{ recipient: 0, mailboxes: ['approvers@example.com'], problems: [expect.stringMatching(/^SMIME_CERTIFICATE_REVOKED: /)] }], certificates: [] });
  });

  it('a message to more readers than MAX_RECIPIENTS is refused, and the sentence lists 20 addresses, not all', async () => {
    const to = Array.from({ length: 300 }, (_, i) => `r${i}@example.com`);
    const r = await send(plugin(), paymentMail({ to }));
    expect(r.sent).toBe(0);
    expect(r.error!.message).toBe('not sent: the preflight failed (encryption-recipients: 300 recipients, more than MAX_RECIPIENTS (256))');
    const some = Array.from({ length: 30 }, (_, i) => `r${i}@example.com`);
    const m = await send(plugin(), paymentMail({ to: some }));
    expect(m.error!.message).toMatch(/no recipient certificate names r0@example\.com, .*, r19@example\.com and 10 more: they could not read the message\)$/);
  });
});

describe('preflight() dry run with an envelope', () => {
  const bytes = 'From: Payments <payments@example.com>\r\nTo: approvers@example.com\r\nSubject: Payment instruction\r\nMessage-ID: <pf.2@example.com>\r\n\r\nPay 1,250.00 EUR\r\n';
  const config = () => ({
    smime: { signer: f.payments },
    encrypt: { recipients: [approver.certificate, auditor.certificate], at: NOW },
    clock,
    trustAnchors: [f.root],
    intermediates: [f.ca.issuingCertificate],
    revocation: { policy: 'off' as const },
  });

  it('the envelope names the readers a dry run cannot see in the header; a malformed envelope is ERR_INVALID_INPUT', async () => {
    const plain = await preflight(bytes, config());
    expect(plain.ok).toBe(true);
    expect(plain.encryption).toEqual({ missing: [], invalid: [], readers: ['approvers@example.com'], certificates: [0] });
    const withBcc = await preflight(bytes, config(), { envelope: { to: ['approvers@example.com', 'auditor@example.com'] } });
    expect(withBcc.failed).toEqual(['encryption-recipients']);
    const own = await preflight(bytes, config(), { envelope: { to: ['auditor@example.com'] } });
    expect(own.ok).toBe(true);
    expect(own.encryption!.certificates).toEqual([0, 1]);
    await expect(preflight(bytes, config(), { envelope: { to: 'auditor@example.com' } as never })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'envelope' } });
  });

  it('envelope readers are matched as A-labels without look-alike folding: an upper-case domain is the reader, a full-width "ｅ" is another one (it was folded to example.com)', async () => {
    const upper = await preflight(bytes, config(), { envelope: { to: ['approvers@EXAMPLE.com'] } });
    expect(upper.ok).toBe(true);
    const fullWidth = await preflight(bytes, config(), { envelope: { to: ['approvers@\uFF45xample.com'] } });
    expect(fullWidth.failed).toEqual(['encryption-recipients']);
    expect(fullWidth.encryption!.missing).toEqual(['approvers@\uFF45xample.com']);
  });
});
