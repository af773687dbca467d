/**
 * atk13 — memory per message: a 24 MiB message split into three dispositions (accept, tag, quarantine
 * to a mailbox) costs the filter ~5.3× its size in RSS (chunks + concat + Uint8Array copy + one rewritten copy per
 * disposition + parsing), linear in concurrency with no global budget: DEFAULT_FILTER_MAX_CLIENTS (100) ×
 * DEFAULT_FILTER_MAX_MESSAGE_BYTES (25 MiB) × 5.3 ≈ 13 GiB; with Postfix's default concurrency of 20, ≈ 2.6 GiB.
 * Expected: a bounded footprint (a byte budget across connections, or streaming the copies), here at most
 * 2.5× the message per message in flight. Measures RSS, so run it alone: `npx vitest run test/atk13/memory.test.ts`.
 */
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { expect, it } from 'vitest';
import { staticResolver } from '../../src/dkim/index.js';
import { createFilter } from '../../src/node/filter.js';
import { makeSmimeFixture, NOW } from '../smime/fixtures.js';

it('four 24 MiB messages in flight: RSS growth ≤ 2.5× their total size', async () => {
  const f = await makeSmimeFixture();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    size: 100 * 1024 * 1024,
    onData(stream, _s, cb) {
      stream.on('data', () => undefined);
      stream.on('end', () => cb());
    },
  });
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.server.address() as { port: number }).port)));
  const filter = await createFilter({
    listen: { port: 0 },
    reinject: { port },
    authservId: 'mx.example.com',
    smime: { trustAnchors: f.anchors, at: NOW },
    dkim: { resolver: staticResolver({}) },
    policy: {
      version: 1,
      quarantine: { mailbox: 'q@example.com' },
      rules: [
        { recipients: ['a.example.com'], require: { smime: true }, otherwise: 'tag' },
        { recipients: ['b.example.com'], require: { smime: true }, otherwise: 'quarantine' },
      ],
    },
  });
  const N = 4;
  const line = `${'A'.repeat(76)}\r\n`;
  const raw = Buffer.from(`From: cfo@example.com\r\nTo: x@a.example.com\r\nSubject: big\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${line.repeat(Math.floor((24 * 1024 * 1024) / line.length))}`);
  const base = process.memoryUsage().rss;
  let peak = base;
  const iv = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  try {
    await Promise.all(
      Array.from({ length: N }, () => {
        const t = nodemailer.createTransport({ host: '127.0.0.1', port: filter.port, secure: false, ignoreTLS: true });
        return t.sendMail({ envelope: { from: 'cfo@example.com', to: ['x@a.example.com', 'y@b.example.com', 'z@c.example.com'] }, raw }).finally(() => t.close());
      }),
    );
  } finally {
    clearInterval(iv);
    await filter.close(1000);
    await new Promise<void>((r) => server.close(() => r()));
  }
  // Observed today: ≈ 5.3 (511 MiB for 4 × 24 MiB).
  expect((peak - base) / (N * raw.length)).toBeLessThanOrEqual(2.5);
});
