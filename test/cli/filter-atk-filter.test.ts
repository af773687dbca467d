/**
 * `mailpki filter` as a real process, attacked by a sender (atk-filter): a recipient that the MTA routes to a protected
 * mailbox only after the filter, and a Message-ID written to forge the filter's log line. Named after what broke.
 */
import { spawn } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { encodePem } from '../../src/internal/pem.js';
import { tempDir } from '../helpers/peers.js';
import { rawSmtp } from '../helpers/raw-smtp.js';
import { startSink } from '../helpers/smtp-sink.js';
import { makeSmimeFixture, plainMessage } from '../smime/fixtures.js';

const BIN = fileURLToPath(new URL('../../src/cli/bin.ts', import.meta.url));
const tmp = tempDir('mailpki-cli-filter-atk-');
afterAll(() => tmp.cleanup());

it('a Message-ID "<x@attacker.example> smime=pass dkim=pass delivered ap@example.com:accept" forged the filter\'s log line (its own smime=, outcome and dispositions after it) for a quarantined message; and through the real process, RCPT TO:<ap%example.com@mx.example.test> is quarantined by the ap rule', async () => {
  const f = await makeSmimeFixture();
  const trust = tmp.path('root.pem');
  writeFileSync(trust, encodePem('CERTIFICATE', f.anchors[0]!.der));
  const quarantine = tmp.path('quarantine');
  const policy = tmp.path('policy.json');
  writeFileSync(
    policy,
    JSON.stringify({ version: 1, quarantine: { directory: quarantine }, rules: [{ name: 'ap', recipients: ['ap@example.com'], from: ['*@example.com'], require: { smime: true }, otherwise: 'quarantine' }] }),
  );
  const sink = await startSink();
  const child = spawn(process.execPath, ['--import', 'tsx', BIN, 'filter', '--listen', '127.0.0.1:0', '--reinject', `127.0.0.1:${sink.port}`, '--trust', trust, '--authserv-id', 'mx.example.test', '--policy', policy, '--revocation', 'off', '--dns', '127.0.0.1:9'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d;
        const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', () => reject(new Error(`filter exited early: ${err}`)));
    });
    const forged = '<x@attacker.example> smime=pass dkim=pass delivered ap@example.com:accept\x1b[2K';
    const msg = plainMessage({ from: 'CFO <cfo@example.com>', to: 'ap@example.com', subject: 'Urgent wire' }).replace('Message-ID: <fixture.1@example.com>', `Message-ID: ${forged}`);
    const r = await rawSmtp(port, { from: 'mallory@attacker.example', to: ['ap%example.com@mx.example.test'] }, msg);
    expect(r.final).toMatch(/^250 /);
    // Quarantined (the MTA would deliver ap%example.com@its-own-name to ap@example.com), nothing passed on.
    expect(readdirSync(quarantine).filter((n) => n.endsWith('.eml'))).toHaveLength(1);
    expect(sink.got).toEqual([]);
    const deadline = Date.now() + 10_000;
    while (!/ delivered \S+:quarantine\n/.test(out) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    // A line when the record is pending, one when it is done: each with one smime= and one outcome, the
    // filter's; the Message-ID shows, escaped, as one token.
    const lines = out.split('\n').filter((l) => l.includes('attacker.example'));
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line.match(/smime=/g)).toHaveLength(1);
      expect(line).not.toContain('\x1b');
    }
    expect(lines[1]).toMatch(/ smime=none dkim=none delivered ap%25example\.com@mx\.example\.test:quarantine$/);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
    await sink.close();
  }
}, 60_000);
