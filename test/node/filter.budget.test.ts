/**
 * Regression (atk13 memory): the filter held every message in flight with no global cap (100 clients ×
 * 25 MiB × ~5 copies). Now a byte budget over all connections (maxInFlightBytes): a message that does not
 * fit is answered 452 4.3.1 — at MAIL when it declares its SIZE, at the end of data when it does not —
 * and the MTA retries; the budget is given back when a message is done.
 */
import { connect } from 'node:net';
import nodemailer from 'nodemailer';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import { createFilter, type RunningFilter } from '../../src/node/filter.js';

/** A return port that holds each message until `release()`. */
async function startHoldingSink() {
  const got: number[] = [];
  let waiting: (() => void)[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onData(stream, _s, cb) {
      let n = 0;
      stream.on('data', (c: Buffer) => (n += c.length));
      stream.on('end', () => waiting.push(() => (got.push(n), cb())));
    },
  });
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.server.address() as { port: number }).port)));
  return {
    got,
    port,
    held: () => waiting.length,
    release: () => {
      const w = waiting;
      waiting = [];
      for (const f of w) f();
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const message = (n: number) => `From: a@example.com\r\nTo: b@example.com\r\nSubject: big\r\n\r\n${`${'A'.repeat(76)}\r\n`.repeat(Math.ceil(n / 78))}`;

/** Sends without declaring SIZE (as a client that ignores the extension): the budget is met during the data. */
function sendWithoutSize(port: number, raw: string): Promise<{ code?: number; response?: string }> {
  return new Promise((resolve) => {
    const c = new SMTPConnection({ host: '127.0.0.1', port, ignoreTLS: true, logger: false });
    c.on('error', () => undefined);
    c.connect((e) => {
      if (e) return resolve({ response: e.message });
      c.send({ from: 'a@example.com', to: ['b@example.com'] }, Buffer.from(raw), (err, info) => {
        c.quit();
        const x = err as { responseCode?: number; response?: string } | null;
        resolve(x ? { code: x.responseCode, response: x.response } : { code: 250, response: info.response });
      });
    });
  });
}

describe('regression (atk13 memory): a global in-flight byte budget', () => {
  let sink: Awaited<ReturnType<typeof startHoldingSink>>;
  let filter: RunningFilter;
  beforeAll(async () => {
    sink = await startHoldingSink();
    filter = await createFilter({ listen: { port: 0 }, reinject: { port: sink.port }, authservId: 'mx.example.com', maxMessageBytes: 100_000, maxInFlightBytes: 150_000 });
  });
  afterAll(async () => {
    sink.release();
    await filter.close(1000);
    await sink.close();
  });

  it('a second 80 kB message while one is held: 452 4.3.1 at MAIL (SIZE declared) and at the end of data (not declared); after the first is done, the next is taken', async () => {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: filter.port, secure: false, ignoreTLS: true });
    const first = t.sendMail({ envelope: { from: 'a@example.com', to: ['b@example.com'] }, raw: message(80_000) });
    for (let i = 0; i < 200 && sink.held() === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(sink.held()).toBe(1);

    const t2 = nodemailer.createTransport({ host: '127.0.0.1', port: filter.port, secure: false, ignoreTLS: true });
    const declared = await t2.sendMail({ envelope: { from: 'a@example.com', to: ['b@example.com'] }, raw: message(80_000) }).then(
      () => ({ code: 250, response: '' }),
      (e: { responseCode?: number; response?: string }) => ({ code: e.responseCode, response: e.response }),
    );
    t2.close();
    expect(declared).toEqual({ code: 452, response: '452 4.3.1 The filter holds 150000 bytes of mail already; try again later' });
    expect(await sendWithoutSize(filter.port, message(80_000))).toEqual({ code: 452, response: '452 4.3.1 The filter holds 150000 bytes of mail already; try again later' });
    // A small one still fits beside the held one.
    const small = sendWithoutSize(filter.port, message(1000));
    for (let i = 0; i < 200 && sink.held() < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(sink.held()).toBe(2);

    sink.release();
    await first;
    expect((await small).code).toBe(250);
    t.close();
    // Everything given back: a message of the full size limit fits again.
    const again = sendWithoutSize(filter.port, message(90_000));
    for (let i = 0; i < 200 && sink.held() === 0; i++) await new Promise((r) => setTimeout(r, 10));
    sink.release();
    expect((await again).code).toBe(250);
    expect(sink.got).toHaveLength(3);
  });

  it('a client that goes away in the middle of its data gives its bytes back (the budget does not leak)', async () => {
    for (let k = 0; k < 3; k++) {
      const s = connect(filter.port, '127.0.0.1');
      await new Promise<void>((resolve) => {
        let step = 0;
        s.on('data', (d: Buffer) => {
          const reply = d.toString('latin1');
          if (step === 0 && reply.startsWith('220')) (step = 1), s.write('EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n');
          else if (step === 1 && /^354/m.test(reply)) (step = 2), s.write(message(80_000), () => setTimeout(() => (s.destroy(), resolve()), 50));
        });
      });
    }
    await new Promise((r) => setTimeout(r, 100));
    const whole = sendWithoutSize(filter.port, message(90_000));
    for (let i = 0; i < 200 && sink.held() === 0; i++) await new Promise((r) => setTimeout(r, 10));
    sink.release();
    expect((await whole).code).toBe(250);
  });

  it('a budget smaller than the largest message is refused at start (it would defer that message for ever)', async () => {
    const err = await createFilter({ listen: { port: 0 }, reinject: { port: 1 }, authservId: 'mx.example.com', maxMessageBytes: 100_000, maxInFlightBytes: 99_999 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MailPkiError);
    expect((err as MailPkiError).code).toBe('ERR_INVALID_INPUT');
    expect((err as MailPkiError).details).toEqual({ field: 'maxInFlightBytes' });
    // Without maxInFlightBytes, a size limit above the default budget raises the budget with it.
    const big = await createFilter({ listen: { port: 0 }, reinject: { port: 1 }, authservId: 'mx.example.com', maxMessageBytes: 300 * 1024 * 1024 });
    await big.close(100);
  });
});
