/**
 * Regression (atk13, attacks/2026-12-05/issue13/dkim-extra-header.test.ts): a message DKIM-signed by a
 * signer that does not over-sign (mailauth: h=from:to:subject:date, each once), with a second Subject
 * added on top, got dkim=pass, facts.dkimAligned true and the `require: { dkimAligned: true }` rule
 * accepted it, while a mail client shows the added Subject.
 */
import { generateKeyPairSync } from 'node:crypto';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { describe, expect, it } from 'vitest';
import { staticResolver } from '../../src/dkim/index.js';
import { inspectMessage } from '../../src/filter/inspect.js';
import { decideDisposition, parseFilterPolicy } from '../../src/filter/policy.js';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const resolver = staticResolver({ 's1._domainkey.example.com': `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}` });
const clock = (): Date => new Date('2026-03-15T12:00:00Z');
const msg = 'From: cfo@example.com\r\nTo: ap@example.com\r\nSubject: Lunch on Friday\r\nDate: Sun, 15 Mar 2026 12:00:00 +0000\r\n\r\nsee you\r\n';
const policy = parseFilterPolicy({ version: 1, rules: [{ recipients: ['ap@example.com'], require: { dkimAligned: true }, otherwise: 'reject' }] });

async function signed(): Promise<string> {
  const r = await dkimSign(msg, {
    // mailauth 4.13 without signTime computes t= twice (Math.round(Date.now()/1000), once for the hash, once for the header): across a half second they differ and its own signature does not verify.
    signTime: new Date(),
    signatureData: [{ signingDomain: 'example.com', selector: 's1', privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }), headerList: 'from:to:subject:date' }],
  } as unknown as Parameters<typeof dkimSign>[1]);
  return r.signatures + msg;
}

async function inspect(message: string) {
  const i = await inspectMessage(new TextEncoder().encode(message), { authservId: 'mx.example.com', dkim: { resolver, clock } });
  return {
    dkim: i.dkim?.results.map((r) => [r.result, r.unsignedInstances]),
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
});
