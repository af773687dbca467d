/** The filter's re-injection client: exact bytes on the wire, pipelining, refusals, idle connections, hostile return ports. */
import { createServer, type Server, type Socket } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_REINJECT_REPLY_BYTES, ReinjectPool, stuffMessage } from '../../src/node/smtp-reinject.js';

const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
const text = (b: Uint8Array) => Buffer.from(b).toString('latin1');

describe('stuffMessage', () => {
  it('doubles a dot starting a line and adds the end mark', () => {
    expect(text(stuffMessage(bytes('.a\r\nb\r\n.\r\n..c\r\n')))).toBe('..a\r\nb\r\n..\r\n...c\r\n.\r\n');
  });
  it('makes bare LF and bare CR into CRLF, stuffing a dot after them too (no end of data hidden in the message)', () => {
    expect(text(stuffMessage(bytes('a\n.\nb\r.\rc')))).toBe('a\r\n..\r\nb\r\n..\r\nc\r\n.\r\n');
  });
  it('ends a message without a final line break with CRLF before the mark; an empty one is just the mark after CRLF', () => {
    expect(text(stuffMessage(bytes('a')))).toBe('a\r\n.\r\n');
    expect(text(stuffMessage(bytes('a\r')))).toBe('a\r\n.\r\n');
    expect(text(stuffMessage(bytes('')))).toBe('\r\n.\r\n');
  });
});

/** A scripted return port: greets, answers EHLO with `extensions`, then lets `onLine` answer each line. */
function fakeMta(opts: { extensions?: string[]; greeting?: string | null; onLine?: (line: string, s: Socket, state: { data: boolean; message: string }) => void }) {
  const lines: string[] = [];
  const writes: string[] = [];
  let connections = 0;
  const server: Server = createServer((s) => {
    connections++;
    const state = { data: false, message: '' };
    let buf = '';
    if (opts.greeting !== null) s.write(`${opts.greeting ?? '220 fake ESMTP'}\r\n`);
    s.on('data', (c: Buffer) => {
      writes.push(c.toString('latin1'));
      buf += c.toString('latin1');
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (state.data) {
          if (line === '.') {
            state.data = false;
            lines.push('<data>');
            (opts.onLine ?? (() => s.write('250 2.0.0 queued\r\n')))('<end>', s, state);
          } else state.message += `${line}\r\n`;
          continue;
        }
        lines.push(line);
        if (/^EHLO /.test(line)) s.write(['fake', ...(opts.extensions ?? ['PIPELINING', '8BITMIME'])].map((l, k, a) => `250${k === a.length - 1 ? ' ' : '-'}${l}\r\n`).join(''));
        else if (opts.onLine) opts.onLine(line, s, state);
        else if (line === 'DATA') (state.data = true), s.write('354 go\r\n');
        else if (line === 'QUIT') s.end('221 bye\r\n');
        else s.write('250 ok\r\n');
      }
    });
    s.on('error', () => undefined);
  });
  return {
    lines,
    writes,
    get connections() {
      return connections;
    },
    listen: () => new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port))),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const pools: ReinjectPool[] = [];
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) p.close();
  for (const c of closers.splice(0)) await c();
});
const pool = (port: number, extra: { timeoutMs?: number; connections?: number } = {}) => {
  const p = new ReinjectPool({ host: '127.0.0.1', port, name: 'mx.example.test', connections: extra.connections ?? 2, timeoutMs: extra.timeoutMs ?? 5000 });
  pools.push(p);
  return p;
};

describe('ReinjectPool', () => {
  it('against smtp-server: the message arrives byte for byte with its envelope; one connection serves messages sent one after another', async () => {
    const got: { from: string; to: string[]; body: string }[] = [];
    let connects = 0;
    const sink = new SMTPServer({
      authOptional: true,
      disabledCommands: ['AUTH', 'STARTTLS'],
      logger: false,
      onConnect: (_s, cb) => (connects++, cb()),
      onData(stream, session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          got.push({ from: (session.envelope.mailFrom as { address: string }).address, to: session.envelope.rcptTo.map((r) => r.address), body: Buffer.concat(chunks).toString('latin1') });
          cb();
        });
      },
    });
    const port = await new Promise<number>((r) => sink.listen(0, '127.0.0.1', () => r((sink.server.address() as { port: number }).port)));
    closers.push(() => new Promise<void>((r) => sink.close(() => r())));
    const p = pool(port);
    const msg = 'From: a@example.com\r\nSubject: caf\xe9\r\n\r\n.leading dot\r\n..two\r\nend\r\n';
    await p.send('a@example.com', ['b@example.com', 'c@example.com'], bytes(msg));
    await p.send('', ['d@example.com'], bytes(msg));
    expect(got).toEqual([
      { from: 'a@example.com', to: ['b@example.com', 'c@example.com'], body: msg },
      { from: '', to: ['d@example.com'], body: msg },
    ]);
    expect(connects).toBe(1);
  });

  it('with PIPELINING: MAIL, RCPT and DATA go in one write, the message with its end mark in the next; 8BITMIME and SIZE are declared', async () => {
    const mta = fakeMta({ extensions: ['PIPELINING', '8BITMIME', 'SIZE 1000000'] });
    const port = await mta.listen();
    closers.push(mta.close);
    await pool(port).send('a@example.com', ['b@example.com', 'c@example.com'], bytes('Subject: \xe9\r\n\r\nx\r\n'));
    expect(mta.writes.slice(1)).toEqual(['MAIL FROM:<a@example.com> SIZE=17 BODY=8BITMIME\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n', 'Subject: \xe9\r\n\r\nx\r\n.\r\n']);
  });

  it('without PIPELINING: one command at a time, each after its reply', async () => {
    const mta = fakeMta({ extensions: ['8BITMIME'] });
    const port = await mta.listen();
    closers.push(mta.close);
    await pool(port).send('a@example.com', ['b@example.com'], bytes('Subject: x\r\n\r\nx\r\n'));
    expect(mta.writes.slice(1)).toEqual(['MAIL FROM:<a@example.com>\r\n', 'RCPT TO:<b@example.com>\r\n', 'DATA\r\n', 'Subject: x\r\n\r\nx\r\n.\r\n']);
  });

  it('one recipient refused: the message goes to the others and the refusal is reported; all refused: the send fails with the code, no data sent', async () => {
    const mta = fakeMta({
      onLine: (line, s, st) => {
        if (line === 'RCPT TO:<bad@example.com>') s.write('550 5.1.1 no such user\r\n');
        else if (line === 'RCPT TO:<later@example.com>') s.write('450 4.2.1 try later\r\n');
        else if (line === 'DATA') (st.data = true), s.write('354 go\r\n');
        else s.write('250 ok\r\n');
      },
    });
    const port = await mta.listen();
    closers.push(mta.close);
    const p = pool(port);
    expect(await p.send('a@example.com', ['ok@example.com', 'bad@example.com', 'later@example.com'], bytes('x\r\n'))).toEqual([
      { recipient: 'bad@example.com', code: 550, text: '5.1.1 no such user' },
      { recipient: 'later@example.com', code: 450, text: '4.2.1 try later' },
    ]);
    expect(mta.lines.filter((l) => l === '<data>')).toHaveLength(1);
    await expect(p.send('a@example.com', ['bad@example.com'], bytes('x\r\n'))).rejects.toMatchObject({ message: 'return port refused RCPT TO:<bad@example.com>: 550 5.1.1 no such user', responseCode: 550 });
    await expect(p.send('a@example.com', ['bad@example.com', 'later@example.com'], bytes('x\r\n'))).rejects.toMatchObject({ responseCode: 450 });
    expect(mta.lines.filter((l) => l === '<data>')).toHaveLength(1);
    await p.send('a@example.com', ['ok@example.com'], bytes('x\r\n'));
    expect(mta.lines.filter((l) => l === '<data>')).toHaveLength(2);
  });

  it('the message refused at the end of data (451): the send fails with the reply', async () => {
    const mta = fakeMta({ onLine: (line, s, st) => (line === '<end>' ? s.write('451 4.3.0 try later\r\n') : line === 'DATA' ? ((st.data = true), s.write('354 go\r\n')) : s.write('250 ok\r\n')) });
    const port = await mta.listen();
    closers.push(mta.close);
    await expect(pool(port).send('a@example.com', ['b@example.com'], bytes('x\r\n'))).rejects.toThrow('return port refused the message: 451 4.3.0 try later');
  });

  it('an idle connection the MTA closed is not used again', async () => {
    const mta = fakeMta({ onLine: (line, s, st) => (line === '<end>' ? s.end('250 ok, and goodbye\r\n') : line === 'DATA' ? ((st.data = true), s.write('354 go\r\n')) : s.write('250 ok\r\n')) });
    const port = await mta.listen();
    closers.push(mta.close);
    const p = pool(port);
    await p.send('a@example.com', ['b@example.com'], bytes('x\r\n'));
    await new Promise((r) => setTimeout(r, 50));
    await p.send('a@example.com', ['b@example.com'], bytes('y\r\n'));
    expect(mta.connections).toBe(2);
  });

  it('hostile return ports: no greeting (timeout), a reply that is not SMTP, a reply longer than the limit — each fails the send', async () => {
    const silent = fakeMta({ greeting: null });
    const garbage = fakeMta({ greeting: 'HTTP/1.1 400 Bad Request' });
    const endless = fakeMta({ greeting: `220-${'x'.repeat(1000)}\r\n`.repeat(Math.ceil(MAX_REINJECT_REPLY_BYTES / 1000) + 1) + '220 hi' });
    for (const m of [silent, garbage, endless]) closers.push(m.close);
    await expect(pool(await silent.listen(), { timeoutMs: 200 }).send('a@example.com', ['b@example.com'], bytes('x\r\n'))).rejects.toThrow('no answer within 200 ms');
    await expect(pool(await garbage.listen()).send('a@example.com', ['b@example.com'], bytes('x\r\n'))).rejects.toThrow('return port sent something that is not an SMTP reply: "HTTP/1.1 400 Bad Request"');
    await expect(pool(await endless.listen()).send('a@example.com', ['b@example.com'], bytes('x\r\n'))).rejects.toThrow(`return port sent a reply longer than ${MAX_REINJECT_REPLY_BYTES} bytes`);
  });

  it('an envelope address that would break the command line is refused before connecting; an internationalised one needs SMTPUTF8', async () => {
    const mta = fakeMta({});
    const port = await mta.listen();
    closers.push(mta.close);
    const p = pool(port);
    await expect(p.send('a@example.com', ['b@example.com>\r\nRCPT TO:<c@example.com'], bytes('x\r\n'))).rejects.toThrow('envelope address not usable on the return port');
    await expect(p.send('a@example.com', ['b@example.com> NOTIFY=NEVER'], bytes('x\r\n'))).rejects.toThrow('envelope address not usable on the return port');
    expect(mta.connections).toBe(0);
    await expect(p.send('a@example.com', ['jörg@example.com'], bytes('x\r\n'))).rejects.toThrow('return port does not offer SMTPUTF8');
  });

  it('at most `connections` at once; more sends wait for one to be free', async () => {
    const mta = fakeMta({});
    const port = await mta.listen();
    closers.push(mta.close);
    const p = pool(port, { connections: 2 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => p.send('a@example.com', [`r${i}@example.com`], bytes('x\r\n'))));
    expect(mta.connections).toBe(2);
    expect(mta.lines.filter((l) => l === '<data>')).toHaveLength(10);
  });
});
