/**
 * atk13 — mailpkiPlugin({ encrypt }): the recipient set is fixed per plugin, not per message.
 * 1. A Bcc (or envelope-only) recipient with no certificate gets a message they cannot read, and the send succeeds
 *    (the check covers only To/Cc header addresses, not the envelope nodemailer will deliver to).
 * 2. Every certificate configured on the plugin can open every message it sends — also messages that person was
 *    never sent: a payment instruction to approvers@ is readable by cfo@ because cfo@ got an earlier one.
 */
import { describe, expect, it } from 'vitest';
import { parseCertificate } from '../../src/certs/certificate.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { mailpkiPlugin, type NodemailerMail } from '../../src/nodemailer/index.js';
import { verifyMessage } from '../../src/smime/index.js';
import { bufferTransport, CA_START, clock, mailFixture, NOW, paymentMail } from '../nodemailer/fixtures.js';

const f = await mailFixture();
const revocation = () => ({ policy: 'hard-fail' as const, checker: f.checker() });

async function send(plugin: ReturnType<typeof mailpkiPlugin>, mail: Record<string, unknown>) {
  const t = bufferTransport();
  t.use('stream', (m, cb) => plugin(m as unknown as NodemailerMail, cb));
  const info = await t.sendMail(mail);
  return { envelope: info.envelope, sent: new Uint8Array(info.message as Buffer) };
}

async function person(mailbox: string) {
  const pair = await generateKeyPair('ec-p256', { extractable: true });
  const r = await f.ca.issue({ mailbox, publicKey: await exportSpki(pair.publicKey), profile: 'strict', notBefore: CA_START, validityDays: 365 });
  return { privateKey: pair.privateKey, certificate: parseCertificate(r.certificate) };
}

describe('atk13: mailpkiPlugin encrypt', () => {
  it('a Bcc recipient without a certificate stops the send with ERR_RECIPIENT_MISSING (today: sent, unreadable for the Bcc)', async () => {
    const approver = await person('approvers@example.com');
    const plugin = mailpkiPlugin({
      smime: { signer: f.payments },
      encrypt: { recipients: [approver.certificate], at: NOW, trustAnchors: [f.root], intermediates: [f.ca.issuingCertificate] },
      preflight: { clock, revocation: revocation() },
    });
    const r = await send(plugin, paymentMail({ bcc: 'auditor@example.com' })).catch((e: unknown) => e as { code?: string });
    expect('code' in r ? r.code : `sent to ${JSON.stringify((r as { envelope: unknown }).envelope)}`).toBe('ERR_RECIPIENT_MISSING');
  });

  it('a message is encrypted only to its own recipients: a configured certificate of someone it is not addressed to cannot open it', async () => {
    const approver = await person('approvers@example.com');
    const cfo = await person('cfo@example.com');
    const plugin = mailpkiPlugin({
      smime: { signer: f.payments },
      encrypt: { recipients: [approver.certificate, cfo.certificate], at: NOW, trustAnchors: [f.root], intermediates: [f.ca.issuingCertificate] },
      preflight: { clock, revocation: revocation() },
    });
    // To approvers@ only (paymentMail's To); cfo@ is neither To, Cc nor Bcc.
    const { sent } = await send(plugin, paymentMail());
    const v = await verifyMessage(sent, { trustAnchors: [f.root], clock, decryptionKeys: [cfo], revocation: { policy: 'hard-fail', crls: f.crls } });
    // Observed today: opened true — the cfo's key decrypts the approvers' payment instruction.
    expect(v.layers[0]).toMatchObject({ kind: 'encrypted', opened: false });
  });
});
