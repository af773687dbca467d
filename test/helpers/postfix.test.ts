/** The Postfix helper itself: swaks → a real Postfix in a temporary directory → a Maildir. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithPeers } from './peers.js';
import { POSTFIX_PEERS, startPostfix, swaks, type Postfix } from './postfix.js';

describeWithPeers('Postfix test helper (swaks → Postfix → Maildir)', POSTFIX_PEERS, () => {
  let mta: Postfix;
  beforeAll(async () => {
    mta = await startPostfix();
  });
  afterAll(async () => {
    await mta?.stop();
  });

  it('delivers a message sent with swaks to the Maildir, marked with its recipient, unchanged in its body', async () => {
    const r = swaks(mta.smtpPort, ['--to', 'ap@example.org', '--from', 'a@example.com', '--header', 'Subject: smoke', '--body', 'hello through postfix']);
    expect(r.status, r.stderr).toBe(0);
    const [msg] = await mta.waitForDelivery('ap@example.org');
    const text = msg!.content.toString('latin1');
    expect(text).toMatch(/^Return-Path: <a@example\.com>\r?\n/);
    expect(text).toContain('Subject: smoke');
    expect(text).toMatch(/\r?\n\r?\nhello through postfix\r?\n/);
    expect(mta.delivered('other@example.org')).toEqual([]);
  });

  it('gives each recipient its own copy (one message to two mailboxes: one copy each)', async () => {
    const r = swaks(mta.smtpPort, ['--to', 'one@example.net,two@example.net', '--from', 'a@example.com', '--body', 'two copies']);
    expect(r.status, r.stdout).toBe(0);
    const [one] = await mta.waitForDelivery('one@example.net');
    const [two] = await mta.waitForDelivery('two@example.net');
    expect(one!.content.toString('latin1')).toContain('Delivered-To: one@example.net');
    expect(two!.content.toString('latin1')).toContain('Delivered-To: two@example.net');
    expect(mta.delivered('one@example.net')).toHaveLength(1);
  });
});
