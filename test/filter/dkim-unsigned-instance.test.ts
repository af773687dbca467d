/**
 * Regression (atk13, attacks/2026-12-05/issue13/dkim-extra-header.test.ts): a message DKIM-signed by a
 * signer that does not over-sign (mailauth: h=from:to:subject:date, each once), with a second Subject
 * added on top, got dkim=pass, facts.dkimAligned true and the `require: { dkimAligned: true }` rule
 * accepted it, while a mail client shows the added Subject.
 */
import { generateKeyPairSync } from 'node:crypto';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { describe, expect, it } from 'vitest';
import { signDkimMessage, staticResolver } from '../../src/dkim/index.js';
import { inspectMessage } from '../../src/filter/inspect.js';
import { decideDisposition, parseFilterPolicy } from '../../src/filter/policy.js';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const resolver = staticResolver({ 's1._domainkey.example.com': `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}` });
const clock = (): Date => new Date('2026-03-15T12:00:00Z');
const msg = 'From: cfo@example.com\r\nTo: ap@example.com\r\nSubject: Lunch on Friday\r\nDate: Sun, 15 Mar 2026 12:00:00 +0000\r\n\r\nsee you\r\n';
const policy = parseFilterPolicy({ version: 1, rules: [{ recipients: ['ap@example.com'], require: { dkimAligned: true }, otherwise: 'reject' }] });

async function signed(message = msg, headerList = 'from:to:subject:date'): Promise<string> {
  const r = await dkimSign(message, {
    // mailauth 4.13 without signTime computes t= twice (Math.round(Date.now()/1000), once for the hash, once for the header): across a half second they differ and its own signature does not verify.
    signTime: new Date(),
    signatureData: [{ signingDomain: 'example.com', selector: 's1', privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }), headerList }],
  } as unknown as Parameters<typeof dkimSign>[1]);
  return r.signatures + message;
}

/** Signed by mailpki with exactly `headers` in h= (mailauth adds Subject to any headerList). */
async function signedWithout(message: string, headers: string[]): Promise<string> {
  const key = await crypto.subtle.importKey('pkcs8', privateKey.export({ type: 'pkcs8', format: 'der' }), { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
  return signDkimMessage(message, [{ domain: 'example.com', selector: 's1', privateKey: key, headers, overSign: false, clock }]);
}

async function inspect(message: string) {
  const i = await inspectMessage(new TextEncoder().encode(message), { authservId: 'mx.example.com', dkim: { resolver, clock } });
  return {
    dkim: i.dkim?.results.map((r) => [r.result, r.unsignedInstances, ...(r.unsignedFields ? [r.unsignedFields] : [])]),
    aligned: i.facts.dkimAligned,
    action: decideDisposition(policy, i.facts, 'ap@example.com').action,
    ar: /dkim=(\w+)/.exec(i.authenticationResults)?.[1],
  };
}

describe('filter: DKIM pass for a Subject nobody signed (atk13)', () => {
  it('control: as signed, dkim=pass, aligned, accepted', async () => {
    expect(await inspect(await signed())).toEqual({ dkim: [['pass', undefined]], aligned: true, action: 'accept', ar: 'pass' });
  });

  it('a second Subject added on top: dkim=policy, not aligned-pass, and the dkimAligned rule rejects it', async () => {
    const forged = `Subject: URGENT: new bank details, pay DE00 6666 6666 today\r\n${await signed()}`;
    expect(await inspect(forged)).toEqual({
      dkim: [['policy', [{ field: 'subject', signed: 1, present: 2 }]]],
      aligned: false,
      action: 'reject',
      ar: 'policy',
    });
  });

  it('the same with a second To below the signature (any place in the header counts)', async () => {
    const s = await signed();
    const forged = s.replace('\r\n\r\n', '\r\nTo: attacker@evil.example\r\n\r\n');
    // Added at the bottom, the new To is the one h= selects: the signature breaks instead.
    expect((await inspect(forged)).dkim).toEqual([['fail', [{ field: 'to', signed: 1, present: 2 }]]]);
  });

  // A signer that does not list Subject (or Reply-To, Sender) at all vouches for none of it: the
  // signature verifies whatever is written there, so a Subject or Reply-To anyone put in is shown
  // beside a dkim=pass. RFC 6376 lets a signer choose; the rule's dkimAligned does not count such a pass.
  it('signed without Subject in h= (h=from:to:date; mailauth always adds Subject, so mailpki signs), carrying a Subject: dkim=pass saying "not signed: Subject"; not aligned for the rule, which rejects it', async () => {
    const m = await signedWithout(msg, ['From', 'To', 'Date']);
    expect(m).toMatch(/h=from:from:to:date;/);
    const i = await inspect(m);
    expect(i).toEqual({ dkim: [['pass', undefined, ['subject']]], aligned: false, action: 'reject', ar: 'pass' });
    const full = await inspectMessage(new TextEncoder().encode(m), { authservId: 'mx.example.com', dkim: { resolver, clock } });
    expect(full.authenticationResults).toMatch(/dkim=pass \(signature verified; not signed: Subject\)/);
  });

  it('a Reply-To added on top of a message whose signer did not list Reply-To: not aligned, rejected; the same message without it is accepted', async () => {
    const s = await signed();
    expect(await inspect(s)).toMatchObject({ aligned: true, action: 'accept' });
    expect(await inspect(`Reply-To: treasury@evil.example\r\n${s}`)).toEqual({ dkim: [['pass', undefined, ['reply-to']]], aligned: false, action: 'reject', ar: 'pass' });
  });

  it('a message with no Subject, signed without one: nothing unsigned is shown, aligned', async () => {
    const bare = msg.replace(/Subject: [^\r]*\r\n/, '');
    expect(await inspect(await signedWithout(bare, ['From', 'To', 'Date']))).toEqual({ dkim: [['pass', undefined]], aligned: true, action: 'accept', ar: 'pass' });
  });
});
