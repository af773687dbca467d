/** `mailpki filter` as a real process: SIGTERM while a message is in flight → the message still goes through, exit 0. */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { afterAll, expect, it } from 'vitest';
import { encodePem } from '../../src/internal/pem.js';
import { tempDir } from '../helpers/peers.js';
import { makeSmimeFixture } from '../smime/fixtures.js';

const BIN = fileURLToPath(new URL('../../src/cli/bin.ts', import.meta.url));
const tmp = tempDir('mailpki-cli-filter-proc-');
afterAll(() => tmp.cleanup());

it('SIGTERM finishes the message in flight, then exits 0; the evidence is in --db', async () => {
  const f = await makeSmimeFixture();
  const trust = tmp.path('root.pem');
  writeFileSync(trust, encodePem('CERTIFICATE', f.anchors[0]!.der));
  const got: string[] = [];
  // A return port that takes 1.5 s to accept: the message is in flight when SIGTERM arrives.
  const sink = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onData(stream, _s, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => setTimeout(() => (got.push(Buffer.concat(chunks).toString('latin1')), cb()), 1500));
    },
  });
  const sinkPort = await new Promise<number>((r) => sink.listen(0, '127.0.0.1', () => r((sink.server.address() as { port: number }).port)));
  const db = tmp.path('store.db');
  const child = spawn(process.execPath, ['--import', 'tsx', BIN, 'filter', '--listen', '127.0.0.1:0', '--reinject', `127.0.0.1:${sinkPort}`, '--trust', trust, '--authserv-id', 'mx.example.test', '--db', db, '--revocation', 'off'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', () => reject(new Error(`filter exited early: ${err}`)));
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const t = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  const sending = t.sendMail({ envelope: { from: 'a@example.org', to: ['x@example.org'] }, raw: 'From: a@example.org\r\nMessage-ID: <sigterm@example.org>\r\nSubject: in flight\r\n\r\nbody\r\n' });
  await new Promise((r) => setTimeout(r, 700));
  child.kill('SIGTERM');
  const info = await sending;
  expect(info.response).toMatch(/^250 2\.0\.0 Ok: verified/);
  expect(await exited).toBe(0);
  expect(got).toHaveLength(1);
  expect(got[0]).toMatch(/^Authentication-Results: mx\.example\.test;/);
  expect(out).toContain('finishing messages in flight');
  await new Promise<void>((r) => sink.close(() => r()));
  const { openSqliteEvidenceStore } = await import('../../src/node/sqlite-evidence.js');
  const store = await openSqliteEvidenceStore(db);
  expect((await store.list({ messageId: '<sigterm@example.org>' })).map((r) => r.outcome)).toEqual(['delivered']);
  await store.close();
}, 60_000);
