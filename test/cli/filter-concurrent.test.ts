/**
 * Regression: two `mailpki filter` processes on one --db given the same message at once (Postfix hands it to
 * the second after a timeout while the first still waits on a slow return port). Both passed the copies on,
 * and the record said whichever wrote last. Now one claims the message (the record's update is one SQLite write
 * transaction), the other answers 451 and passes nothing on; the retry passes nothing on again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { encodePem } from '../../src/internal/pem.js';
import { openSqliteEvidenceStore } from '../../src/node/sqlite-evidence.js';
import { tempDir } from '../helpers/peers.js';
import { handOver, startSink } from '../helpers/smtp-sink.js';
import { makeSmimeFixture } from '../smime/fixtures.js';

const BIN = fileURLToPath(new URL('../../src/cli/bin.ts', import.meta.url));
const tmp = tempDir('mailpki-cli-filter-concurrent-');
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  tmp.cleanup();
});

/** Starts `mailpki filter` on `db`; resolves with its port once it listens. */
function startFilter(args: string[]): Promise<{ port: number; child: ChildProcess; stopped: Promise<number | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', BIN, 'filter', '--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const stopped = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve({ port: Number(m[1]), child, stopped });
    });
    child.on('exit', () => reject(new Error(`filter exited early: ${err}`)));
  });
}

const deliver = (port: number, raw: string, to: string[]) => handOver(port, { from: 'a@example.org', to }, raw);

it('two filter processes on one --db, the same message at once through a slow return port: one copy per recipient, the other attempt answers 451', async () => {
  const f = await makeSmimeFixture();
  const trust = tmp.path('root.pem');
  writeFileSync(trust, encodePem('CERTIFICATE', f.anchors[0]!.der));
  // Each copy is answered 1.5 s after its data: the two attempts overlap.
  const sink = await startSink({ delayMs: 1500 });
  const db = tmp.path('store.db');
  const args = ['--reinject', `127.0.0.1:${sink.port}`, '--trust', trust, '--authserv-id', 'mx.example.test', '--db', db, '--revocation', 'off'];
  // One after the other: the first creates and migrates the store file.
  const a = await startFilter(args);
  const b = await startFilter(args);
  const to = ['x@example.org', 'y@example.org'];
  const raw = 'From: a@example.org\r\nMessage-ID: <at-once@example.org>\r\nSubject: twice at once\r\n\r\nbody\r\n';
  try {
    const codes = await Promise.all([deliver(a.port, raw, to), deliver(b.port, raw, to)]);
    // Observed before: [250, 250], two copies for each recipient.
    expect(codes.sort()).toEqual([250, 451]);
    expect(sink.got.flatMap((g) => g.to).sort()).toEqual(to);
    // Postfix retries the 451 (at either process): nothing is passed on again.
    expect(await deliver(b.port, raw, to)).toBe(250);
    expect(sink.got.flatMap((g) => g.to).sort()).toEqual(to);
  } finally {
    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
    await Promise.all([a.stopped, b.stopped]);
    await sink.close();
  }
  const store = await openSqliteEvidenceStore(db);
  const [rec] = await store.list({ messageId: '<at-once@example.org>' });
  await store.close();
  expect(rec).toMatchObject({ outcome: 'delivered', attempts: 2, delivered: to });
  expect(rec!.deliveries).toEqual(to.map((recipient) => ({ recipient, attempt: 1 })));
}, 60_000);
