/**
 * Regression (atk13, disposition bypass): an unsigned message that a policy says must be S/MIME-valid
 * ("mail to ap@example.com claiming From *@example.com must be S/MIME-valid, else quarantine",
 * the issue's own example and docs/mail-flow.md's "ap" rule) reaches the return port (the mailbox)
 * as an ordinary accepted copy. Each From below is shown by mail clients as a mailbox @example.com.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryEvidenceStore } from '../../src/filter/evidence.js';
import { createFilter, type RunningFilter } from '../../src/node/filter.js';
import { startSink } from '../helpers/smtp-sink.js';
import { makeSmimeFixture, NOW } from '../smime/fixtures.js';
import { staticResolver } from '../../src/dkim/index.js';


describe('createFilter (atk13 regression): unsigned mail "from" example.com reaches ap@example.com despite the quarantine rule', () => {
  let sink: Awaited<ReturnType<typeof startSink>>;
  let filter: RunningFilter;
  const quarantine = mkdtempSync(join(tmpdir(), 'mailpki-bypass-q-'));
  const evidence = new MemoryEvidenceStore();
  beforeAll(async () => {
    sink = await startSink();
    const f = await makeSmimeFixture();
    filter = await createFilter({
      listen: { port: 0 },
      reinject: { port: sink.port },
      authservId: 'mx.example.com',
      evidence,
      smime: { trustAnchors: f.anchors, at: NOW },
      policy: {
        version: 1,
        quarantine: { directory: quarantine },
        rules: [{ name: 'ap', recipients: ['ap@example.com'], from: ['*@example.com'], require: { smime: true, revocation: 'hard-fail' }, otherwise: 'quarantine' }],
      },
    });
  });
  afterAll(async () => {
    await filter.close(1000);
    await sink.close();
  });

  async function send(fromLines: string, rcpt = 'ap@example.com') {
    sink.got.length = 0;
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: filter.port, secure: false, ignoreTLS: true });
    await t.sendMail({ envelope: { from: 'attacker@evil.test', to: [rcpt] }, raw: `${fromLines}To: ap@example.com\r\nSubject: Pay invoice 4711 to DE00 6666\r\nMessage-ID: <x${Math.random()}@evil.test>\r\n\r\nplease pay\r\n` });
    t.close();
  }

  // Control: the plain form is quarantined (this passes today).
  it('control: From: cfo@example.com is quarantined, nothing reaches the mailbox', async () => {
    const before = readdirSync(quarantine).length;
    await send('From: cfo@example.com\r\n');
    expect(sink.got).toHaveLength(0);
    expect(readdirSync(quarantine).length).toBe(before + 1);
  });

  // Held (quarantined today): "cfo@example.com" <cfo@example.com>; two From both @example.com; From : (space before
  // colon); <@route:cfo@example.com>; group syntax; cfo@(comment)example.com. What breaks: the policy reads only the
  // FIRST mailbox of the FIRST From field (readAuthor's `shown`) although readAuthor itself says clients show others.
  const forms: [string, string][] = [
    ['two From fields, the second @example.com (clients that show the last one show cfo@example.com)', 'From: billing@evil.test\r\nFrom: cfo@example.com\r\n'],
    ['two mailboxes in one From, the second @example.com (clients show both)', 'From: billing@evil.test, cfo@example.com\r\n'],
    ['display name is an @example.com address', 'From: "cfo@example.com" <billing@evil.test>\r\n'],
    ['display name is an encoded-word @example.com address', 'From: =?utf-8?q?cfo=40example=2Ecom?= <billing@evil.test>\r\n'],
    ['encoded-word domain (some clients decode it to cfo@example.com)', 'From: cfo@=?utf-8?q?example.com?=\r\n'],
    ['trailing dot on the domain (the same host name)', 'From: cfo@example.com.\r\n'],
    ['address in the quoted local part', 'From: "cfo@example.com"@evil.test\r\n'],
    ['RTL override display name that renders as cfo@example.com', 'From: "\u202emoc.elpmaxe@ofc" <x@evil.test>\r\n'],
  ];
  for (const [what, from] of forms)
    it(`${what}: quarantined, not delivered`, async () => {
      await send(from);
      // Observed today: one accepted copy with "X-Mailpki-Disposition: accept" (no rule matched, facts.from undefined).
      expect(sink.got.map((g) => g.text.match(/X-Mailpki-Disposition: [^\r\n]*/)?.[0])).toEqual([]);
    });

  it('subaddress ap+x@example.com (Postfix recipient_delimiter=+ delivers it to ap): the ap rule applies', async () => {
    await send('From: cfo@example.com\r\n', 'ap+x@example.com');
    expect(sink.got.map((g) => g.text.match(/X-Mailpki-Disposition: [^\r\n]*/)?.[0])).toEqual([]);
  });
});

describe('createFilter (atk13 regression): DKIM-only filter (no smime options): an ambiguous From skips every rule with `from`', () => {
  let sink: Awaited<ReturnType<typeof startSink>>;
  let filter: RunningFilter;
  const quarantine = mkdtempSync(join(tmpdir(), 'mailpki-bypass-q2-'));
  beforeAll(async () => {
    sink = await startSink();
    filter = await createFilter({
      listen: { port: 0 },
      reinject: { port: sink.port },
      authservId: 'mx.example.com',
      dkim: { resolver: staticResolver({}) },
      policy: {
        version: 1,
        quarantine: { directory: quarantine },
        rules: [{ name: 'ap', recipients: ['ap@example.com'], from: ['*@example.com'], require: { dkimAligned: true }, otherwise: 'quarantine' }],
      },
    });
  });
  afterAll(async () => {
    await filter.close(1000);
    await sink.close();
  });
  for (const [what, from] of [
    ['control: plain From', 'From: cfo@example.com\r\n'],
    ['Outlook-style "cfo@example.com" <cfo@example.com>', 'From: "cfo@example.com" <cfo@example.com>\r\n'],
    ['two From fields, both @example.com', 'From: cfo@example.com\r\nFrom: ceo@example.com\r\n'],
  ] as const)
    it(`${what}: quarantined, not delivered`, async () => {
      sink.got.length = 0;
      const t = nodemailer.createTransport({ host: '127.0.0.1', port: filter.port, secure: false, ignoreTLS: true });
      await t.sendMail({ envelope: { from: 'attacker@evil.test', to: ['ap@example.com'] }, raw: `${from}To: ap@example.com\r\nSubject: Pay\r\n\r\nplease pay\r\n` });
      t.close();
      expect(sink.got.map((g) => g.text.match(/X-Mailpki-Disposition: [^\r\n]*/)?.[0])).toEqual([]);
    });
});
