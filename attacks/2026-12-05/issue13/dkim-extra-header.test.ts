/**
 * atk13 — "does our AR say pass for what the mail client will show?": inbound mail DKIM-signed by a signer that
 * does not oversign (mailauth here, like many senders: h=from:to:subject:date, each once). Anyone on the path adds a
 * second Subject above the signed one; DKIM verifies the bottom instance (RFC 6376 §5.4.2), the client shows the
 * top one. The filter writes dkim=pass, facts.dkimAligned=true, and a `require: { dkimAligned: true }` rule
 * accepts. Expected: a signed header field that appears more often than h= covers it (RFC 6376 §8.15) is not
 * "pass and aligned" for the policy (the From equivalent is already refused: readAuthor several-fields).
 */
import { generateKeyPairSync } from 'node:crypto';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { describe, expect, it } from 'vitest';
import { staticResolver } from '../../src/dkim/index.js';
import { inspectMessage } from '../../src/filter/inspect.js';
import { decideDisposition, parseFilterPolicy } from '../../src/filter/policy.js';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const resolver = staticResolver({ 's1._domainkey.example.com': `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}` });
const clock = () => new Date('2026-03-15T12:00:00Z');
const msg = 'From: cfo@example.com\r\nTo: ap@example.com\r\nSubject: Lunch on Friday\r\nDate: Sun, 15 Mar 2026 12:00:00 +0000\r\n\r\nsee you\r\n';

async function signed(): Promise<string> {
  const r = await dkimSign(msg, { signatureData: [{ signingDomain: 'example.com', selector: 's1', privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }), headerList: 'from:to:subject:date' }] });
  return r.signatures + msg;
}

describe('atk13: DKIM pass for a Subject nobody signed', () => {
  it('control: as signed, dkim=pass and aligned', async () => {
    const i = await inspectMessage(new TextEncoder().encode(await signed()), { authservId: 'mx.example.com', dkim: { resolver, clock } });
    expect(i.facts.dkimAligned).toBe(true);
  });

  it('a second Subject added on top: not pass-and-aligned, and the dkimAligned rule does not accept it', async () => {
    const forged = `Subject: URGENT: new bank details, pay DE00 6666 6666 today\r\n${await signed()}`;
    const i = await inspectMessage(new TextEncoder().encode(forged), { authservId: 'mx.example.com', dkim: { resolver, clock } });
    const policy = parseFilterPolicy({ version: 1, rules: [{ recipients: ['ap@example.com'], require: { dkimAligned: true }, otherwise: 'reject' }] });
    // Observed today: dkim=pass (signature verified), facts.dkimAligned true, disposition accept.
    expect({ aligned: i.facts.dkimAligned, action: decideDisposition(policy, i.facts, 'ap@example.com').action }).toEqual({ aligned: false, action: 'reject' });
  });
});
