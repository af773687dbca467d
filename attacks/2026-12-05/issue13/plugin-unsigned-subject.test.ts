/**
 * atk13 — "what is sent ≠ what was signed": mailpkiPlugin S/MIME-signs the body only. The Subject, To and Date of a
 * payment instruction are outside the signature (signMessage's headerProtection defaults to false, and the plugin's
 * typed `smime.options` is Pick<'opaque' | 'digest' | 'rsaPadding'>, so it cannot even be asked for). An on-path
 * change of the Subject (or a relay that strips DKIM) leaves smime=pass in the filter's Authentication-Results.
 * Expected: the plugin signs the header fields a client shows (RFC 9788 hp="clear"), so a verifier sees them signed.
 */
import { describe, expect, it } from 'vitest';
import { mailpkiPlugin, type NodemailerMail } from '../../src/nodemailer/index.js';
import { verifyMessage } from '../../src/smime/index.js';
import { bufferTransport, clock, mailFixture, paymentMail } from '../nodemailer/fixtures.js';

const f = await mailFixture();

describe('atk13: plugin signature coverage', () => {
  it('the Subject of a plugin-signed payment instruction is among the signed header fields', async () => {
    const plugin = mailpkiPlugin({ smime: { signer: f.payments }, preflight: { clock, revocation: { policy: 'hard-fail', checker: f.checker() } } });
    const t = bufferTransport();
    t.use('stream', (m, cb) => plugin(m as unknown as NodemailerMail, cb));
    const info = await t.sendMail(paymentMail());
    const sent = new TextDecoder('latin1').decode(info.message as Buffer);
    const tampered = sent.replace('Subject: Payment instruction 2026-118', 'Subject: URGENT new beneficiary DE00 6666 6666');
    const v = await verifyMessage(new TextEncoder().encode(tampered), { trustAnchors: [f.root], clock, revocation: { policy: 'hard-fail', crls: f.crls } });
    // Observed today: v.valid true, v.signedHeaders [] — the tampered Subject verifies as signed mail.
    expect(v.valid).toBe(true);
    expect(v.signedHeaders.map((h) => h.name.toLowerCase())).toContain('subject');
  });
});
