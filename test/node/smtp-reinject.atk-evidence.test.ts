/**
 * Regressions from the attack on the evidence/re-injection change (h/atk-evidence): a return port
 * that answers the end of the data twice desynchronises the pooled connection; one that trickles its
 * replies holds a pooled connection for ever.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { ReinjectPool } from '../../src/node/smtp-reinject.js';

const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));

/** A scripted return port: greets, then hands each CRLF-terminated line it reads to `onLine`. */
function scriptedServer(onLine: (s: Socket, line: string) => void): Server {
  return createServer((s: Socket) => {
    s.on('error', () => undefined);
    s.write('220 fake ESMTP\r\n');
    let buf = '';
    s.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        onLine(s, line);
      }
    });
  });
}

/** A return port with PIPELINING that queues each message and answers its end of data with `250` twice, the second late (just before the reply to the next command). */
function doubleAnsweringMta() {
  const queued: string[] = [];
  let connections = 0;
  // Per connection: whether it is in DATA, the message so far, and whether a late 250 is owed.
  const state = new WeakMap<Socket, { data: boolean; message: string; owed: boolean }>();
  const server = scriptedServer((s, line) => {
    let st = state.get(s);
    if (!st) (state.set(s, (st = { data: false, message: '', owed: false })), connections++);
    if (st.data) {
      if (line === '.') {
        st.data = false;
        queued.push(st.message);
        st.message = '';
        s.write('250 2.0.0 queued\r\n');
        st.owed = true;
      } else st.message += `${line}\r\n`;
      return;
    }
    // The late second 250 for the previous message goes out before anything else is answered.
    const stray = st.owed ? '250 2.0.0 queued (again)\r\n' : '';
    st.owed = false;
    if (line.startsWith('EHLO')) s.write('250-fake\r\n250-PIPELINING\r\n250 8BITMIME\r\n');
    else if (line === 'DATA') ((st.data = true), s.write(`${stray}354 go\r\n`));
    else if (line === 'QUIT') s.end(`${stray}221 bye\r\n`);
    else s.write(`${stray}250 ok\r\n`);
  });
  return {
    queued,
    get connections() {
      return connections;
    },
    listen: () => new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port))),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

it('a return port that answers 250 twice to the data: no message reported failed after it was queued, none queued twice through the kept connection', async () => {
  const mta = doubleAnsweringMta();
  const port = await mta.listen();
  closers.push(mta.close);
  const p = new ReinjectPool({ host: '127.0.0.1', port, name: 'mx.example.test', connections: 1, timeoutMs: 3000 });
  closers.push(() => p.close());
  const outcomes: string[] = [];
  for (const n of [1, 2, 3, 4]) {
    const r = await p.send('a@example.com', ['b@example.com'], bytes(`message ${n}\r\n`)).then(
      () => 'sent',
      (e: { responseCode?: number; dataSent?: boolean }) => `failed ${e.responseCode ?? 'no code'}`,
    );
    outcomes.push(r);
  }
  const times = (n: number) => mta.queued.filter((m) => m === `message ${n}\r\n`).length;
  // A reply that is not a refusal where a refusal was read (354 to the end of the data: the
  // replies are one behind the commands) is not the return port refusing the message, and the
  // session is out of step: the send fails without a code (the filter answers 451; the return port
  // may have queued it, so the MTA's retry may deliver it twice — at-least-once) and the
  // connection is dropped, not RSET and kept (where every later message went the same way).
  for (const [i, o] of outcomes.entries()) {
    if (o === 'sent') expect(times(i + 1), `message ${i + 1}`).toBeGreaterThanOrEqual(1);
    else if (o !== 'failed no code') expect([o, times(i + 1)], `message ${i + 1}: a reply code is a refusal, and a refused message was not queued`).toEqual([expect.stringMatching(/^failed [45]\d\d$/), 0]);
  }
  expect(outcomes).toContain('failed no code');
  // The out-of-step connection was not kept: a later message went on a new one.
  expect(mta.connections).toBeGreaterThan(1);
});

it('a return port that trickles its replies (a byte just inside the inactivity timeout): the send ends at the deadline, the slot is free again, the message not sent twice', async () => {
  const received: string[] = [];
  let trickling: NodeJS.Timeout | undefined;
  const server = scriptedServer((s, line) => {
    received.push(line);
    if (line.startsWith('EHLO')) s.write('250-fake\r\n250 8BITMIME\r\n');
    else if (line.startsWith('MAIL FROM')) {
      // An endless multi-line reply, one byte every 100 ms (inactivity timeout 300 ms).
      const reply = '250-still thinking\r\n';
      let n = 0;
      trickling = setInterval(() => s.write(reply[n++ % reply.length]!), 100);
    }
  });
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port)));
  closers.push(() => (clearInterval(trickling), new Promise<void>((r) => (server.close(() => r()), server.unref()))));
  const p = new ReinjectPool({ host: '127.0.0.1', port, name: 'mx.example.test', connections: 1, timeoutMs: 300 });
  closers.push(() => p.close());
  const started = Date.now();
  const e = await p.send('a@example.com', ['b@example.com'], bytes('hello\r\n')).catch((x: unknown) => x as { message: string; responseCode?: number; dataSent?: boolean });
  const took = Date.now() - started;
  expect(e).toMatchObject({ message: expect.stringContaining('took longer than 3000 ms'), dataSent: false });
  expect((e as { responseCode?: number }).responseCode).toBeUndefined();
  expect(took).toBeGreaterThanOrEqual(2900);
  expect(took).toBeLessThan(10_000);
  // One MAIL FROM: a deadline is not a connection the MTA dropped while idle, so it is not retried.
  expect(received.filter((l) => l.startsWith('MAIL FROM'))).toHaveLength(1);
  // The one slot is free: the next send gets a connection (and meets the same trickle).
  clearInterval(trickling);
  const next = await p.send('a@example.com', ['b@example.com'], bytes('hello\r\n')).catch((x: unknown) => x as { message: string });
  expect((next as { message: string }).message).toContain('took longer than');
}, 30_000);
