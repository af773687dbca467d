/**
 * The plugin signs the header fields a client shows (RFC 9788 header protection, hp="clear") by default, so a
 * Subject changed in transit is reported (outside review of issue 13, attacks/2026-12-05/issue13/
 * plugin-unsigned-subject.test.ts: the plugin signed the body only and a changed Subject verified silently).
 */
import { describe, expect, it } from 'vitest';
import { mailpkiPlugin, type MailpkiPluginOptions, type NodemailerMail } from '../../src/nodemailer/index.js';
import { verifyMessage } from '../../src/smime/index.js';
import { bufferTransport, clock, mailFixture, paymentMail } from './fixtures.js';

const f = await mailFixture();
const SUBJECT = 'Subject: Payment instruction 2026-118';
const FORGED = 'Subject: URGENT new beneficiary DE00 6666 6666';

async function sendAndTamper(smimeOptions?: NonNullable<MailpkiPluginOptions['smime']>['options']) {
  const plugin = mailpkiPlugin({
    smime: { signer: f.payments, ...(smimeOptions && { options: smimeOptions }) },
    preflight: { clock, trustAnchors: [f.root], revocation: { policy: 'hard-fail', checker: f.checker() } },
  });
  const t = bufferTransport();
  t.use('stream', (m, cb) => plugin(m as unknown as NodemailerMail, cb));
  const sent = new TextDecoder('latin1').decode((await t.sendMail(paymentMail())).message as Buffer);
  expect(sent.split('\r\n\r\n')[0]).toContain(SUBJECT);
  const tampered = sent.replace(SUBJECT, FORGED);
  expect(tampered).not.toBe(sent);
  const verify = (text: string) => verifyMessage(new TextEncoder().encode(text), { trustAnchors: [f.root], clock, revocation: { policy: 'hard-fail', crls: f.crls } });
  return { sent: await verify(sent), tampered: await verify(tampered) };
}

describe('mailpkiPlugin: RFC 9788 header protection', () => {
  it('by default From, To, Subject, Message-ID and Date are signed (hp="clear"); a changed Subject is SMIME_OUTER_HEADER_MISMATCH', async () => {
    const { sent, tampered } = await sendAndTamper();
    expect(sent.valid).toBe(true);
    expect(sent.warnings).toEqual([]);
    expect(sent.signedHeaders.map((h) => h.name)).toEqual(['From', 'To', 'Subject', 'Message-ID', 'Date', 'Content-Transfer-Encoding', 'Content-Type']);
    // The signature still holds (only the unsigned outer copy changed); the verdict names the change and keeps the signed value.
    expect(tampered.valid).toBe(true);
    expect(tampered.signedHeaders.find((h) => h.name === 'Subject')).toEqual({ name: 'Subject', value: 'Payment instruction 2026-118' });
    expect(tampered.warnings).toEqual([
      {
        code: 'SMIME_OUTER_HEADER_MISMATCH',
        header: 'Subject',
        message: 'the unsigned outer Subject "URGENT new beneficiary DE00 6666 6666" differs from the signed Subject "Payment instruction 2026-118" in the signed part',
      },
    ]);
    expect(tampered.headerProtection).toEqual([
      expect.objectContaining({
        hp: 'clear',
        differences: [{ name: 'Subject', outer: ['URGENT new beneficiary DE00 6666 6666'], protected: ['Payment instruction 2026-118'], cause: 'unexplained' }],
      }),
    ]);
  });

  it('smime.options.headerProtection: false signs the content only, as before RFC 9788: the change goes unnoticed', async () => {
    const { sent, tampered } = await sendAndTamper({ headerProtection: false });
    expect(sent.signedHeaders.map((h) => h.name)).toEqual(['Content-Transfer-Encoding', 'Content-Type']);
    expect(tampered.valid).toBe(true);
    expect(tampered.warnings).toEqual([]);
    expect(tampered.headerProtection ?? []).toEqual([]);
  });
});
