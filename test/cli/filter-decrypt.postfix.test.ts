/**
 * swaks → Postfix → `mailpki filter` (a real process, with --p12 decryption keys) → Postfix → Maildir,
 * for signed-then-encrypted mail: the delivered copy carries Authentication-Results with smime=pass,
 * is still the encrypted message byte for byte (OpenSSL still opens and verifies it), and a copy with
 * a changed ciphertext byte is delivered with smime=fail.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithPeers, run, runStatus, tempDir } from '../helpers/peers.js';
import { POSTFIX_PEERS, startPostfix, swaks, type Postfix } from '../helpers/postfix.js';
import { cli } from './helpers.js';

const BIN = fileURLToPath(new URL('../../src/cli/bin.ts', import.meta.url));
const ID = 'mx-filter.example.test';
const IBAN = 'DE89 3704 0044 0532 0130 00';
const env = { CA_PW: 'ca pw', P12_PW: 'p12 pw', KEY_PW: 'key pw' };

/** Changes one base64 character of the body, well inside the encrypted content. */
function tamper(eml: string): string {
  const at = eml.indexOf('\r\n\r\n') + 4;
  const body = eml.slice(at);
  let j = Math.floor(body.length * 0.6);
  while (!/[A-Za-z0-9]/.test(body[j]!)) j++;
  return eml.slice(0, at) + body.slice(0, j) + (body[j] === 'A' ? 'B' : 'A') + body.slice(j + 1);
}

describeWithPeers('swaks → Postfix → mailpki filter --p12 → Postfix → Maildir (signed, then encrypted)', [...POSTFIX_PEERS, 'openssl'], () => {
  const t = tempDir('mailpki-filter-decrypt-postfix-');
  const ca = t.path('ca');
  let mta: Postfix;
  let child: ChildProcess | undefined;
  let encrypted = '';

  beforeAll(async () => {
    expect((await cli(['ca', 'init', '--dir', ca, '--domains', 'example.com', '--passphrase-env', 'CA_PW'], env)).code).toBe(0);
    for (const [name, mailbox] of [['finance', 'finance@example.com'], ['approver', 'approver@example.com']] as const) {
      const r = await cli(
        ['issue', '--ca', ca, '--email', mailbox, '--key-type', 'rsa-2048', '--usage', 'dual-use', '--out', t.path(name), '--passphrase-env', 'CA_PW',
          '--p12-passphrase-env', 'P12_PW', '--key-passphrase-env', 'KEY_PW'],
        env,
      );
      expect([r.code, r.stderr]).toEqual([0, '']);
    }
    writeFileSync(
      t.path('msg.eml'),
      'From: Finance <finance@example.com>\r\nTo: approver@example.com\r\nDate: Sat, 05 Dec 2026 09:00:00 +0000\r\nMessage-ID: <pay-77@example.com>\r\n' +
        `Subject: Payment instruction 77\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nPlease pay 1,250.00 EUR to ${IBAN} by Friday.\r\n`,
    );
    const s = await cli(['sign', '--p12', t.path('finance.p12'), '--passphrase-env', 'P12_PW', '--to', t.path('approver.cert.pem'), '--in', t.path('msg.eml')], env);
    expect([s.code, s.stderr]).toEqual([0, '']);
    encrypted = s.stdout;

    mta = await startPostfix({ contentFilter: true });
    child = spawn(
      process.execPath,
      ['--import', 'tsx', BIN, 'filter', '--listen', `127.0.0.1:${mta.filterPort}`, '--reinject', `127.0.0.1:${mta.returnPort}`, '--trust', `${ca}/root.pem`,
        '--authserv-id', ID, '--db', t.path('evidence.db'), '--revocation', 'off', '--p12', t.path('approver.p12'), '--passphrase-env', 'P12_PW'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } },
    );
    let out = '';
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    await new Promise<void>((resolve, reject) => {
      child!.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('listening on')) resolve();
      });
      child!.on('exit', () => reject(new Error(`filter exited early: ${err}`)));
    });
    expect(out).toContain('1 decryption key(s)');
  }, 120_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.on('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await mta?.stop();
    t.cleanup();
  });

  const send = (name: string, message: string) => {
    writeFileSync(t.path(name), message, 'latin1');
    const r = swaks(mta.smtpPort, ['--to', 'approver@example.com', '--from', 'finance@example.com', '--data', t.path(name)]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
  };
  /** The fields Postfix and the filter put above the message as it was sent. */
  const ADDED = /^(Return-Path|X-Original-To|Delivered-To|Received|Authentication-Results):/i;
  function split(delivered: string): { added: string[]; rest: string } {
    const lines = delivered.split('\n');
    const added: string[] = [];
    let i = 0;
    while (i < lines.length && (ADDED.test(lines[i]!) || (added.length > 0 && /^[ \t]/.test(lines[i]!)))) {
      if (/^[ \t]/.test(lines[i]!)) added[added.length - 1] += `\n${lines[i]}`;
      else added.push(lines[i]!);
      i++;
    }
    return { added, rest: lines.slice(i).join('\n') };
  }

  it('smime=pass in the one Authentication-Results of the filter; the delivered message is still the encrypted one, which OpenSSL opens and verifies', async () => {
    send('se.eml', encrypted);
    const [msg] = await mta.waitForDelivery('approver@example.com');
    const text = msg!.content.toString('latin1');
    const { added, rest } = split(text);
    const ours = added.filter((h) => h.startsWith('Authentication-Results:'));
    expect(ours).toHaveLength(1);
    expect(ours[0]).toMatch(new RegExp(`^Authentication-Results: ${ID.replace(/\./g, '\\.')};\\s+smime=pass \\(valid\\) body\\.smime-identifier="finance@example\\.com"`));
    // Byte for byte what swaks sent (Maildir keeps LF line ends; swaks sends CRLF before its "." after the file's own last CRLF).
    expect(rest).toBe(`${encrypted.replace(/\r\n/g, '\n')}\n`);
    expect(text).toContain('smime-type=authEnveloped-data');
    expect(text).not.toContain(IBAN);
    const dec = runStatus('openssl', ['cms', '-decrypt', '-in', msg!.path, '-recip', t.path('approver.cert.pem'), '-inkey', t.path('approver.key.pem'), '-passin', 'env:KEY_PW', '-out', t.path('inner.eml')], {
      env: { ...process.env, KEY_PW: env.KEY_PW },
    });
    expect([dec.status, dec.stderr]).toEqual([0, '']);
    const ver = runStatus('openssl', ['cms', '-verify', '-in', t.path('inner.eml'), '-CAfile', `${ca}/root.pem`, '-purpose', 'smimesign', '-out', t.path('shown.txt')]);
    expect(ver.stderr).toMatch(/Verification successful/);
    expect(run('cat', [t.path('shown.txt')])).toContain(IBAN);
  });

  it('a changed ciphertext byte: delivered (no policy: headers only) with smime=fail, never pass', async () => {
    send('tampered.eml', tamper(encrypted).replace('<pay-77@', '<pay-77-tampered@'));
    const all = await mta.waitForDelivery('approver@example.com', 2);
    const text = all[1]!.content.toString('latin1');
    expect(text).toContain('<pay-77-tampered@example.com>');
    const ours = split(text).added.filter((h) => h.startsWith('Authentication-Results:'));
    expect(ours).toHaveLength(1);
    expect(ours[0]).toMatch(/;\s+smime=fail \(SMIME_DECRYPTION_FAILED\)/);
  });

  it('the evidence in --db has both verdicts and none of the decrypted content', async () => {
    const { openSqliteEvidenceStore } = await import('../../src/node/sqlite-evidence.js');
    const store = await openSqliteEvidenceStore(t.path('evidence.db'));
    const records = await store.list();
    await store.close();
    expect(records.map((r) => [r.messageId, r.smime.result, r.outcome])).toEqual([
      ['<pay-77@example.com>', 'pass', 'delivered'],
      ['<pay-77-tampered@example.com>', 'fail', 'delivered'],
    ]);
    expect(JSON.stringify(records)).not.toContain(IBAN);
    expect(JSON.stringify(records)).not.toContain('Please pay');
  });
});
