/**
 * What the evidence tells an auditor about a message whose `mailpki filter` was killed (kill -9) while a copy was
 * at the return port (h/atk-audit): the record is there, `pending`, the copy not in `delivered` — and the export
 * reads it. docs/mail-flow.md ("Reading a record") says what `pending` means; this holds the store to it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { encodePem } from '../../src/internal/pem.js';
import { makeSmimeFixture } from '../smime/fixtures.js';
import { tempDir } from '../helpers/peers.js';
import { handOver, startSink } from '../helpers/smtp-sink.js';
import { cli } from './helpers.js';

const BIN = fileURLToPath(new URL('../../src/cli/bin.ts', import.meta.url));
const tmp = tempDir('mailpki-cli-filter-kill-');
let child: ChildProcess | undefined;
afterAll(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  tmp.cleanup();
});

it('kill -9 while a copy is at the return port: the record stays pending with nobody in delivered, though the return port holds the copy — what docs/mail-flow.md tells the auditor pending means; the export reads it (exit 0)', async () => {
  const f = await makeSmimeFixture();
  const trust = tmp.path('root.pem');
  writeFileSync(trust, encodePem('CERTIFICATE', f.anchors[0]!.der));
  // The return port takes the copy, then answers its data only after 30 s: the filter is killed meanwhile.
  const sink = await startSink({ delayMs: 30_000 });
  const db = tmp.path('store.db');
  child = spawn(process.execPath, ['--import', 'tsx', BIN, 'filter', '--listen', '127.0.0.1:0', '--reinject', `127.0.0.1:${sink.port}`, '--trust', trust, '--authserv-id', 'mx.example.test', '--db', db, '--revocation', 'off'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child!.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child!.on('exit', () => reject(new Error(`filter exited early: ${out}`)));
  });
  const raw = 'From: a@example.org\r\nMessage-ID: <killed@example.org>\r\nSubject: pay\r\n\r\nbody\r\n';
  const answered = handOver(port, { from: 'a@example.org', to: ['ap@example.org'] }, raw);
  const deadline = Date.now() + 60_000;
  while (sink.got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(sink.got.map((m) => m.to)).toEqual([['ap@example.org']]);
  child.kill('SIGKILL');
  // The MTA saw the connection drop: no answer (it will retry).
  expect(await answered).toBe(-1);
  await sink.close().catch(() => undefined);

  const exported = await cli(['evidence', 'export', '--db', db, '--message-id', '<killed@example.org>']);
  expect(exported.code).toBe(0);
  const [record, ...more] = exported.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { outcome: string; delivered?: string[]; dispositions: { recipient: string; action: string }[]; attempts?: number });
  expect(more).toEqual([]);
  expect(record).toMatchObject({ outcome: 'pending', delivered: [], attempts: 1, dispositions: [{ recipient: 'ap@example.org', action: 'accept' }] });
}, 120_000);
