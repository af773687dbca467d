/** The filter's re-injection client (nodemailer's SMTPConnection, pooled): exact bytes on the wire, pipelining, refusals, idle connections, hostile return ports. */
import { createServer, type Server, type Socket } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_REINJECT_REPLY_BYTES, ReinjectPool } from '../../src/node/smtp-reinject.js';

const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));

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
    expect(mta.writes[1]).toBe('MAIL FROM:<a@example.com> BODY=8BITMIME SIZE=17\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n');
    expect(mta.writes.slice(2).join('')).toBe('Subject: \xe9\r\n\r\nx\r\n.\r\n');
  });

  it('without PIPELINING: one command at a time, each after its reply', async () => {
    const mta = fakeMta({ extensions: ['8BITMIME'] });
    const port = await mta.listen();
    closers.push(mta.close);
    await pool(port).send('a@example.com', ['b@example.com'], bytes('Subject: x\r\n\r\nx\r\n'));
    expect(mta.writes.slice(1, 4)).toEqual(['MAIL FROM:<a@example.com>\r\n', 'RCPT TO:<b@example.com>\r\n', 'DATA\r\n']);
    expect(mta.writes.slice(4).join('')).toBe('Subject: x\r\n\r\nx\r\n.\r\n');
  });

  it('on the wire: a dot starting a line doubled, bare LF and bare CR made CRLF (a dot after them stuffed too: no end of data hidden in the message), the end mark after a last line without a break', async () => {
    const mta = fakeMta({ extensions: ['PIPELINING'] });
    const port = await mta.listen();
    closers.push(mta.close);
    const p = pool(port);
    const wire = async (message: string) => {
      const before = mta.writes.length;
      await p.send('a@example.com', ['b@example.com'], bytes(message));
      const all = mta.writes.slice(before).join('');
      return all.slice(all.indexOf('DATA\r\n') + 6);
    };
    expect(await wire('.a\r\nb\r\n.\r\n..c\r\n')).toBe('..a\r\nb\r\n..\r\n...c\r\n.\r\n');
    expect(await wire('a\n.\nb\r.\rc')).toBe('a\r\n..\r\nb\r\n..\r\nc\r\n.\r\n');
    expect(await wire('a')).toBe('a\r\n.\r\n');
    expect(await wire('a\r')).toBe('a\r\n.\r\n');
    expect(mta.lines.filter((l) => l === '<data>')).toHaveLength(4);
  });

  it('one recipient refused: the message goes to the others and the refusal is reported; all refused: the send fails with the code, no data sent', async () => {
    let taken = false;
    const mta = fakeMta({
      onLine: (line, s, st) => {
        // As Postfix: DATA without an accepted recipient is refused (554), RSET forgets them.
        if (line === 'RCPT TO:<bad@example.com>') s.write('550 5.1.1 no such user\r\n');
        else if (line === 'RCPT TO:<later@example.com>') s.write('450 4.2.1 try later\r\n');
        else if (line.startsWith('RCPT TO:')) (taken = true), s.write('250 ok\r\n');
        else if (line === 'DATA') taken ? ((st.data = true), (taken = false), s.write('354 go\r\n')) : s.write('554 5.5.1 Error: no valid recipients\r\n');
        else if (line === 'RSET') (taken = false), s.write('250 ok\r\n');
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
    // A refused transaction is ended with RSET and the connection kept.
    expect(mta.lines.filter((l) => l === 'RSET')).toHaveLength(2);
    expect(mta.connections).toBe(1);
  });

  it('refusals at MAIL, at DATA and of the message keep the reply code (5xx permanent, 4xx temporary); the SIZE announced refuses a larger message as 552 before sending it', async () => {
    const mta = fakeMta({
      extensions: ['PIPELINING', 'SIZE 1000'],
      onLine: (line, s, st) => {
        // As a real MTA: after a refused MAIL, RCPT and DATA get 503.
        if (line.startsWith('MAIL FROM:<blocked@')) (st.message = 'nomail'), s.write('553 5.7.1 sender refused\r\n');
        else if (st.message === 'nomail' && (line.startsWith('RCPT') || line === 'DATA')) s.write('503 5.5.1 need MAIL\r\n');
        else if (line === 'DATA' && st.message === 'nodata') s.write('554 5.5.1 no\r\n');
        else if (line === 'DATA') (st.data = true), s.write('354 go\r\n');
        else if (line === '<end>') st.message.includes('virus') ? s.write('554 5.7.0 content refused\r\n') : s.write('250 ok\r\n');
        else if (line === 'RCPT TO:<nodata@example.com>') (st.message = 'nodata'), s.write('250 ok\r\n');
        else if (line === 'RSET') (st.message = ''), s.write('250 ok\r\n');
        else s.write('250 ok\r\n');
      },
    });
    const port = await mta.listen();
    closers.push(mta.close);
    const p = pool(port, { connections: 1 });
    await expect(p.send('blocked@example.com', ['b@example.com'], bytes('x\r\n'))).rejects.toMatchObject({ message: 'return port refused MAIL FROM: 553 5.7.1 sender refused', responseCode: 553 });
    await expect(p.send('a@example.com', ['nodata@example.com'], bytes('x\r\n'))).rejects.toMatchObject({ message: 'return port refused DATA: 554 5.5.1 no', responseCode: 554 });
    await expect(p.send('a@example.com', ['b@example.com'], bytes('virus\r\n'))).rejects.toMatchObject({ message: 'return port refused the message: 554 5.7.0 content refused', responseCode: 554 });
    await expect(p.send('a@example.com', ['b@example.com'], bytes('x'.repeat(1001)))).rejects.toMatchObject({ responseCode: 552 });
    expect(await p.send('a@example.com', ['b@example.com'], bytes('fine\r\n'))).toEqual([]);
    expect(mta.lines.filter((l) => l === '<data>')).toHaveLength(2);
    expect(mta.connections).toBe(1);
  });

  it('a 421 mid-session (the MTA shutting down) fails the send without a permanent code and the next send opens a new connection', async () => {
    let n = 0;
    const mta = fakeMta({ onLine: (line, s, st) => (line.startsWith('MAIL') && n++ === 0 ? s.end('421 4.3.2 shutting down\r\n') : line === 'DATA' ? ((st.data = true), s.write('354 go\r\n')) : s.write('250 ok\r\n')) });
    const port = await mta.listen();
    closers.push(mta.close);
    const p = pool(port);
    await expect(p.send('a@example.com', ['b@example.com'], bytes('x\r\n'))).rejects.toMatchObject({ responseCode: 421 });
    expect(await p.send('a@example.com', ['b@example.com'], bytes('x\r\n'))).toEqual([]);
    expect(mta.connections).toBe(2);
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

  for (const [at, extensions] of [['MAIL', ['PIPELINING']], ['RCPT', ['8BITMIME']]] as const)
    it(`a kept connection the MTA drops as our transaction starts (closed at ${at}${at === 'RCPT' ? ', without PIPELINING' : ''}, no data sent): sent again on a fresh connection, the message arrives once`, async () => {
      // The first connection serves one message, then drops on the next command without replying (its idle timeout racing our send).
      const mta = fakeMta({
        extensions: [...extensions],
        onLine: (line, s, st) => {
          if (line.startsWith(at) && st.message === 'served') return void s.destroy();
          if (line === 'DATA') (st.data = true), s.write('354 go\r\n');
          else if (line === '<end>') (st.message = 'served'), s.write('250 ok\r\n');
          else s.write('250 ok\r\n');
        },
      });
      const port = await mta.listen();
      closers.push(mta.close);
      const p = pool(port, { connections: 1 });
      await p.send('a@example.com', ['b@example.com'], bytes('first\r\n'));
      expect(await p.send('a@example.com', ['b@example.com'], bytes('second\r\n'))).toEqual([]);
      expect(mta.lines.filter((l) => l === '<data>')).toHaveLength(2);
      expect(mta.connections).toBe(2);
    });

  for (const drop of ['close', 'reset'] as const)
    it(`connection lost after the whole message was sent (the MTA read the data, then ${drop === 'close' ? 'closed' : 'reset the connection'} without replying): the send fails without a code and is not sent again`, async () => {
      // The MTA may have queued it before its 250 was lost: a second transaction could deliver it twice. The filter answers 451 instead.
      const mta = fakeMta({
        onLine: (line, s, st) => {
          if (line === 'DATA') (st.data = true), s.write('354 go\r\n');
          else if (line === '<end>' && st.message.includes('second')) drop === 'close' ? s.destroy() : s.resetAndDestroy();
          else s.write('250 ok\r\n');
        },
      });
      const port = await mta.listen();
      closers.push(mta.close);
      const p = pool(port, { connections: 1 });
      await p.send('a@example.com', ['b@example.com'], bytes('first\r\n'));
      const e = (await p.send('a@example.com', ['b@example.com'], bytes('second\r\n')).then(() => undefined, (x: unknown) => x)) as { message: string; responseCode?: number };
      expect(e).toBeInstanceOf(Error);
      expect(e.responseCode).toBeUndefined();
      expect(e.message).toMatch(drop === 'close' ? /closed/ : /ECONNRESET/);
      expect(mta.lines.filter((l) => l === '<data>')).toHaveLength(2);
      expect(mta.lines.filter((l) => l.startsWith('MAIL'))).toHaveLength(2);
      expect(mta.connections).toBe(1);
      // The pool is still usable: the next message goes on a fresh connection.
      expect(await p.send('a@example.com', ['b@example.com'], bytes('third\r\n'))).toEqual([]);
      expect(mta.connections).toBe(2);
    });

  it('a refusal followed by the MTA closing during RSET: the send fails with the refusal and its slot is freed (no hang)', async () => {
    const mta = fakeMta({
      onLine: (line, s, st) => {
        if (line === 'DATA') (st.data = true), s.write('354 go\r\n');
        else if (line === '<end>' && st.message.includes('virus')) s.write('554 5.7.0 content refused\r\n');
        else if (line === 'RSET') s.destroy();
        else s.write('250 ok\r\n');
      },
    });
    const port = await mta.listen();
    closers.push(mta.close);
    const p = pool(port, { connections: 1, timeoutMs: 60_000 });
    await expect(p.send('a@example.com', ['b@example.com'], bytes('virus\r\n'))).rejects.toMatchObject({ responseCode: 554 });
    expect(await p.send('a@example.com', ['b@example.com'], bytes('fine\r\n'))).toEqual([]);
    expect(mta.connections).toBe(2);
  }, 10_000);

  it('hostile return ports: no greeting (timeout), a reply that is not SMTP, a reply longer than the limit, silence after the data — each fails the send with no reply code (the filter answers 451)', async () => {
    const silent = fakeMta({ greeting: null });
    const garbage = fakeMta({ greeting: 'HTTP/1.1 400 Bad Request' });
    const endless = fakeMta({ greeting: `220-${'x'.repeat(1000)}\r\n`.repeat(Math.ceil(MAX_REINJECT_REPLY_BYTES / 1000) + 1) + '220 hi' });
    const mute = fakeMta({ onLine: (line, s, st) => (line === '<end>' ? undefined : line === 'DATA' ? ((st.data = true), s.write('354 go\r\n')) : s.write('250 ok\r\n')) });
    for (const m of [silent, garbage, endless, mute]) closers.push(m.close);
    const send = (port: number, timeoutMs = 5000) => pool(port, { timeoutMs }).send('a@example.com', ['b@example.com'], bytes('x\r\n'));
    const failure = async (p: Promise<unknown>) => {
      const e = (await p.then(() => undefined, (x: unknown) => x)) as { message: string; responseCode?: number };
      return { message: e.message, responseCode: e.responseCode };
    };
    expect(await failure(send(await silent.listen(), 200))).toEqual({ message: 'return port: no answer within 200 ms', responseCode: undefined });
    expect(await failure(send(await garbage.listen()))).toEqual({ message: 'return port: Invalid greeting. response=HTTP/1.1 400 Bad Request: HTTP/1.1 400 Bad Request', responseCode: undefined });
    expect(await failure(send(await endless.listen()))).toEqual({ message: 'return port: Server response exceeds maximum allowed size', responseCode: undefined });
    expect(await failure(send(await mute.listen(), 300))).toEqual({ message: 'return port: no answer within 300 ms', responseCode: undefined });
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
    // Offered in EHLO: the address goes out in UTF-8 with the SMTPUTF8 keyword.
    const utf8 = fakeMta({ extensions: ['PIPELINING', 'SMTPUTF8'] });
    closers.push(utf8.close);
    expect(await pool(await utf8.listen()).send('jörg@example.com', ['b@example.com'], bytes('x\r\n'))).toEqual([]);
    expect(utf8.lines).toContain(`MAIL FROM:<${Buffer.from('jörg@example.com').toString('latin1')}> SMTPUTF8`);
    expect(utf8.lines.filter((l) => l === '<data>')).toHaveLength(1);
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

  it('beforeTransaction runs once a connection is free, right before the transaction: what it throws ends the send with nothing sent, and the connection is kept', async () => {
    const mta = fakeMta({});
    const port = await mta.listen();
    closers.push(mta.close);
    const p = pool(port, { connections: 1 });
    let late = false;
    const first = p.send('a@example.com', ['r1@example.com'], bytes('x\r\n'), () => (late = true));
    // Waits for the one connection; by the time it gets it, it may no longer start.
    const second = p.send('a@example.com', ['r2@example.com'], bytes('y\r\n'), () => {
      if (late) throw new Error('too late');
    });
    await first;
    await expect(second).rejects.toThrow('too late');
    expect(mta.lines.filter((l) => l.startsWith('RCPT'))).toEqual(['RCPT TO:<r1@example.com>']);
    await p.send('a@example.com', ['r3@example.com'], bytes('z\r\n'));
    expect(mta.connections).toBe(1);
  });
});
