/**
 * The filter through a real MTA: swaks → Postfix → mailpki filter → Postfix (return port) → Maildir.
 * Delivered files are checked with OpenSSL (S/MIME) and dkimpy (DKIM) after Postfix handled them.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, Socket, type Server } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signDkimMessage, staticResolver, type DkimKey } from '../../src/dkim/index.js';
import { MemoryEvidenceStore, type EvidenceRecord } from '../../src/filter/evidence.js';
import { encodePem } from '../../src/internal/pem.js';
import { createFilter, type RunningFilter } from '../../src/node/filter.js';
import { testKey } from '../dkim/fixtures.js';
import { describeWithPeers, run, runStatus, tempDir } from '../helpers/peers.js';
import { POSTFIX_PEERS, startPostfix, swaks, swaksAsync, type Postfix } from '../helpers/postfix.js';
import { makeSmimeFixture, plainMessage, sign, type SmimeFixture } from '../smime/fixtures.js';

const ID = 'filter.example.test';
const DKIMPY = fileURLToPath(new URL('../dkim/dkimpy-job.py', import.meta.url));

/** A TCP forwarder in front of Postfix's return port that the test can take down and bring back. */
function forwarder(listenPort: number, targetPort: number) {
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  return {
    up: () =>
      new Promise<void>((resolve) => {
        server = createServer((client) => {
          const upstream = new Socket();
          sockets.add(client).add(upstream);
          const drop = () => {
            client.destroy();
            upstream.destroy();
          };
          client.on('error', drop).on('close', drop);
          upstream.on('error', drop).on('close', drop);
          upstream.connect(targetPort, '127.0.0.1', () => {
            client.pipe(upstream);
            upstream.pipe(client);
          });
        });
        server.listen(listenPort, '127.0.0.1', () => resolve());
      }),
    down: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        sockets.clear();
        if (!server) return resolve();
        server.close(() => resolve());
        server = undefined;
      }),
  };
}

describeWithPeers('filter through Postfix (swaks → Postfix → filter → Postfix → Maildir)', [...POSTFIX_PEERS, 'openssl', 'python3'], () => {
  let mta: Postfix;
  let filter: RunningFilter;
  let f: SmimeFixture;
  let key: DkimKey;
  let proxy: ReturnType<typeof forwarder>;
  const evidence = new MemoryEvidenceStore();
  const tmp = tempDir('mailpki-filter-');
  const quarantine = join(tmp.dir, 'quarantine');
  let rootFile = '';
  let signed = '';

  beforeAll(async () => {
    f = await makeSmimeFixture();
    key = await testKey('ed25519');
    rootFile = tmp.path('root.pem');
    writeFileSync(rootFile, encodePem('CERTIFICATE', f.anchors[0]!.der));
    mta = await startPostfix({ contentFilter: true });
    proxy = forwarder(mta.sparePort, mta.returnPort);
    await proxy.up();
    filter = await createFilter({
      listen: { port: mta.filterPort },
      reinject: { port: mta.sparePort },
      authservId: ID,
      smime: { trustAnchors: f.anchors, intermediates: [f.payments.chain[0]!] },
      dkim: { resolver: staticResolver({ [key.record.name]: key.record.value }) },
      evidence,
      maxMessageBytes: 64 * 1024,
      reinjectTimeoutMs: 5000,
      policy: {
        version: 1,
        quarantine: { directory: quarantine },
        tag: { subjectPrefix: '[UNVERIFIED] ' },
        rules: [
          { name: 'ap', recipients: ['ap@example.com'], from: ['*@example.com'], require: { smime: true }, otherwise: 'quarantine' },
          { name: 'board', recipients: ['board@example.com'], require: { smime: true }, otherwise: 'reject' },
          { name: 'staff', recipients: ['example.net'], require: { dkimAligned: true }, otherwise: 'tag' },
        ],
      },
    });
    const smime = await sign(plainMessage({ to: 'ap@example.com', subject: 'Payment run' }), f.payments);
    signed = await signDkimMessage(smime, [{ domain: 'example.com', selector: 'ed', privateKey: key.privateKey }]);
  });

  afterAll(async () => {
    await filter?.close(5000);
    await proxy?.down();
    await mta?.stop();
    tmp.cleanup();
  });

  const send = (to: string, message: string) => {
    const file = tmp.path(`msg-${Math.random().toString(36).slice(2)}.eml`);
    writeFileSync(file, message, 'latin1');
    const r = swaks(mta.smtpPort, ['--to', to, '--from', 'payments@example.com', '--data', file]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
  };

  it('S/MIME + DKIM signed, with a forged Authentication-Results: delivered with ONE of ours, still valid for OpenSSL and dkimpy', async () => {
    const forged = `Authentication-Results: ${ID}; smime=pass body.smime-identifier=ceo@example.com\r\n`;
    send('ap@example.com', forged + signed);
    const [msg] = await mta.waitForDelivery('ap@example.com');
    const text = msg!.content.toString('latin1');
    const ours = text.match(/^Authentication-Results:[ \t]*filter\.example\.test;[^]*?(?=\r?\n\S)/gim) ?? [];
    expect(ours).toHaveLength(1);
    expect(ours[0]).toMatch(/smime=pass \(valid\) body\.smime-identifier="payments@example\.com"/);
    expect(ours[0]).toMatch(/dkim=pass \(signature verified\) header\.d=example\.com header\.s=ed/);
    expect(text).not.toContain('ceo@example.com');
    expect(text).toMatch(/^X-Mailpki-Disposition: accept; rule=ap\r?$/m);
    const cms = runStatus('openssl', ['cms', '-verify', '-in', msg!.path, '-CAfile', rootFile, '-certfile', tmp.path('root.pem'), '-purpose', 'smimesign', '-out', '/dev/null']);
    expect(cms.status, cms.stderr).toBe(0);
    const tampered = tmp.path('tampered.eml');
    writeFileSync(tampered, text.replace('1,250.00', '9,250.00'), 'latin1');
    expect(runStatus('openssl', ['cms', '-verify', '-in', tampered, '-CAfile', rootFile, '-purpose', 'smimesign', '-out', '/dev/null']).status).not.toBe(0);
    const job = JSON.stringify({ records: { [key.record.name]: key.record.value }, verify: [msg!.content.toString('base64'), Buffer.from(text.replace('1,250.00', '9,250.00'), 'latin1').toString('base64')] });
    expect(JSON.parse(run('/usr/bin/python3', [DKIMPY], { input: job })).verify).toEqual([true, false]);
    const [rec] = await evidence.list({ messageId: '<fixture.1@example.com>' });
    expect(rec).toMatchObject({ outcome: 'delivered', envelope: { from: 'payments@example.com', to: ['ap@example.com'] }, smime: { result: 'pass' }, dkim: { result: 'pass' } });
    expect(rec!.dispositions).toEqual([{ recipient: 'ap@example.com', action: 'accept', rule: 'ap', failed: [] }]);
  });

  it('unsigned mail to ap@ claiming an example.com From: quarantined to the directory, not delivered', async () => {
    send('ap@example.com', plainMessage({ from: 'CFO <cfo@example.com>', to: 'ap@example.com', subject: 'Urgent wire' }).replace('<fixture.1@', '<quarantine.1@'));
    await mta.waitForLog(/to=<ap@example\.com>.*status=sent \(250 2\.0\.0 Ok: verified[^]*to=<ap@example\.com>.*status=sent \(250 2\.0\.0 Ok: verified/);
    const deadline = Date.now() + 20_000;
    while (readdirSafe(quarantine).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const files = readdirSafe(quarantine);
    expect(files).toHaveLength(1);
    const held = readFileSync(join(quarantine, files[0]!), 'latin1');
    expect(held).toMatch(/^Authentication-Results: filter\.example\.test;\r\n\tsmime=none \(SMIME_NOT_SIGNED\);\r\n\tdkim=none\r\n/);
    expect(held).toContain('X-Mailpki-Quarantined-For: ap@example.com');
    expect(mta.delivered('ap@example.com').map((m) => m.content.toString('latin1')).some((t) => t.includes('Urgent wire'))).toBe(false);
    const [rec] = await evidence.list({ messageId: '<quarantine.1@example.com>' });
    expect(rec!.dispositions).toEqual([{ recipient: 'ap@example.com', action: 'quarantine', rule: 'ap', failed: ['smime'] }]);
  });

  it('unsigned mail to board@: the filter answers 550 5.7.1 and Postfix bounces it; to example.net: tagged', async () => {
    send('board@example.com', plainMessage({ to: 'board@example.com' }).replace('<fixture.1@', '<reject.1@'));
    await mta.waitForLog(/said: 550 5\.7\.1 Rejected by policy board: smime not verified/);
    send('staff@example.net', plainMessage({ to: 'staff@example.net', subject: 'Lunch' }).replace('<fixture.1@', '<tag.1@'));
    const [msg] = await mta.waitForDelivery('staff@example.net');
    const text = msg!.content.toString('latin1');
    expect(text).toMatch(/^Subject: \[UNVERIFIED\] Lunch\r?$/m);
    expect(text).toMatch(/^X-Mailpki-Disposition: tag; rule=staff; failed=dkim\r?$/m);
    expect(mta.delivered('board@example.com')).toEqual([]);
  });

  it('return port down: the filter answers 4xx, Postfix keeps the message, and delivers it once the port is back', async () => {
    await proxy.down();
    send('x@example.org', plainMessage({ to: 'x@example.org', subject: 'Retry me' }).replace('<fixture.1@', '<retry.1@'));
    await mta.waitForLog(/said: 451 4\.3\.0 Cannot pass the message on now/);
    expect(mta.delivered('x@example.org')).toEqual([]);
    expect(mta.queue()).toContain('x@example.org');
    await proxy.up();
    mta.flush();
    const [msg] = await mta.waitForDelivery('x@example.org', 1, 30_000);
    expect(msg!.content.toString('latin1')).toContain('Subject: Retry me');
    // The evidence of the retry is kept just after the copy went through; wait for it.
    const deadline = Date.now() + 10_000;
    let records: EvidenceRecord[] = [];
    while (!records.some((r) => r.outcome === 'delivered') && Date.now() < deadline) {
      records = await evidence.list({ messageId: '<retry.1@example.com>' });
      await new Promise((r) => setTimeout(r, 100));
    }
    // One record per message (same bytes and envelope): the retry updated the deferred one.
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ outcome: 'delivered', delivered: ['x@example.org'] });
    expect(records[0]!.attempts).toBeGreaterThanOrEqual(2);
    expect(records[0]!.faults.some((f) => f.startsWith('4.3.0 Cannot pass the message on now'))).toBe(true);
  });

  it('over the filter\'s size limit: Postfix sees the advertised SIZE and bounces; a client that ignores SIZE gets 552 after DATA', async () => {
    const big = plainMessage({ to: 'big@example.org', body: `${'x'.repeat(998)}\r\n`.repeat(80) });
    send('big@example.org', big);
    await mta.waitForLog(/to=<big@example\.org>.*status=bounced \(message size \d+ exceeds size limit 65536 of server 127\.0\.0\.1/);
    const file = tmp.path('big.eml');
    writeFileSync(file, big);
    const direct = await swaksAsync(mta.filterPort, ['--to', 'big@example.org', '--from', 'payments@example.com', '--data', file]);
    expect(direct.stdout).toMatch(/552 5\.3\.4 Message too big for this filter \(limit 65536 bytes\)/);
    expect(mta.delivered('big@example.org')).toEqual([]);
  });
});

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => n.endsWith('.eml'));
  } catch {
    return [];
  }
}
