/**
 * The filter's way back into the MTA: a small pooled SMTP client (RFC 5321) for the return port on
 * loopback. It does only what re-injection needs — EHLO once per connection, then per message
 * MAIL/RCPT/DATA pipelined in one write (RFC 2920, when offered) and the dot-stuffed message with
 * its end mark in a second — where a general mail client (nodemailer) builds a mail object,
 * runs plugins and streams the body in several writes for each message. Any reply other than the
 * expected one drops the connection (which aborts the transaction at the MTA) and fails the send,
 * so the filter answers 451 and the MTA keeps the message.
 */
import { connect, type Socket } from 'node:net';

/** The longest reply (all its lines) accepted from the return port, in bytes. */
export const MAX_REINJECT_REPLY_BYTES = 64 * 1024;

export interface ReinjectOptions {
  host: string;
  port: number;
  /** The name given in EHLO. */
  name: string;
  /** Connections kept open to the return port at most. */
  connections: number;
  /** Connect, greeting and per-reply timeout (ms). */
  timeoutMs: number;
}

interface Reply {
  code: number;
  text: string;
}

class ReinjectError extends Error {
  constructor(
    message: string,
    /** True when the failure came before the MTA answered anything of this transaction (safe to try again). */
    readonly beforeTransaction = false,
    /** The MTA's reply code when it refused (a 5xx is permanent: the filter passes it on). */
    readonly responseCode?: number,
  ) {
    super(message);
  }
}

/** A recipient the return port refused at RCPT while it took others (the message went to those). */
export interface RefusedRecipient {
  recipient: string;
  code: number;
  text: string;
}

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

/**
 * The message as SMTP DATA wants it: lines ending CRLF (a bare CR or LF becomes CRLF, as
 * nodemailer does — a receiver that takes a lone CR or LF for a line end must not find the end
 * of data inside the message), a dot starting a line doubled, and the end mark.
 */
export function stuffMessage(message: Uint8Array): Buffer {
  const parts: Uint8Array[] = [];
  let from = 0;
  for (let i = 0; i < message.length; i++) {
    const b = message[i]!;
    const prev = i > 0 ? message[i - 1]! : LF;
    let insert: string | undefined;
    if (prev === CR && b !== LF) insert = b === DOT ? '\n.' : '\n';
    else if (b === LF && prev !== CR) insert = '\r';
    else if (b === DOT && prev === LF) insert = '.';
    if (insert !== undefined) {
      parts.push(message.subarray(from, i), Buffer.from(insert, 'latin1'));
      from = i;
    }
  }
  parts.push(message.subarray(from));
  const last = message.length ? message[message.length - 1]! : undefined;
  parts.push(Buffer.from(last === LF ? '.\r\n' : last === CR ? '\n.\r\n' : '\r\n.\r\n', 'latin1'));
  return Buffer.concat(parts);
}

const isAscii = (s: string) => !/[^\x20-\x7e]/.test(s);

function has8bit(message: Uint8Array): boolean {
  for (let i = 0; i < message.length; i++) if (message[i]! > 0x7f) return true;
  return false;
}

class Connection {
  private buffered = '';
  private lines: string[] = [];
  /** Bytes of the reply being read (its lines so far and what is buffered). */
  private replyBytes = 0;
  private waiters: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  private failure: Error | undefined;
  readonly extensions = new Set<string>();
  size = 0;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.read(chunk.toString('latin1')));
    socket.on('error', (e) => this.fail(new ReinjectError(`return port: ${e.message}`)));
    socket.on('close', () => this.fail(new ReinjectError('return port closed the connection')));
  }

  get usable(): boolean {
    return this.failure === undefined;
  }

  static async open(o: ReinjectOptions): Promise<Connection> {
    const socket = connect({ host: o.host, port: o.port });
    socket.setTimeout(o.timeoutMs, () => socket.destroy(new Error(`no answer within ${o.timeoutMs} ms`)));
    const c = new Connection(socket);
    try {
      const greeting = await c.reply();
      if (greeting.code !== 220) throw new ReinjectError(`return port greeted with ${greeting.code} ${greeting.text}`);
      const ehlo = await c.command(`EHLO ${o.name}`);
      if (ehlo.code !== 250) throw new ReinjectError(`return port refused EHLO: ${ehlo.code} ${ehlo.text}`);
      for (const line of ehlo.text.split('\n').slice(1)) {
        const [keyword, arg] = line.trim().toUpperCase().split(/\s+/);
        if (keyword) c.extensions.add(keyword);
        if (keyword === 'SIZE' && arg) c.size = Number(arg) || 0;
      }
    } catch (e) {
      c.destroy();
      throw e;
    }
    return c;
  }

  private read(text: string): void {
    this.buffered += text;
    this.replyBytes += text.length;
    if (this.replyBytes > MAX_REINJECT_REPLY_BYTES) return this.fail(new ReinjectError(`return port sent a reply longer than ${MAX_REINJECT_REPLY_BYTES} bytes`), true);
    let eol: number;
    while ((eol = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, eol).replace(/\r$/, '');
      this.buffered = this.buffered.slice(eol + 1);
      if (!/^[2-5]\d\d([ -]|$)/.test(line)) return this.fail(new ReinjectError(`return port sent something that is not an SMTP reply: ${JSON.stringify(line.slice(0, 100))}`), true);
      this.lines.push(line);
      if (line[3] === '-') continue;
      const reply = { code: Number(line.slice(0, 3)), text: this.lines.map((l) => l.slice(4)).join('\n') };
      this.lines = [];
      this.replyBytes = this.buffered.length;
      const w = this.waiters.shift();
      // A reply nobody waits for: the MTA is out of step with us; stop using this connection.
      if (!w) return this.fail(new ReinjectError(`return port sent an unexpected reply: ${reply.code} ${reply.text}`), true);
      w.resolve(reply);
    }
  }

  private fail(e: Error, destroy = false): void {
    this.failure ??= e;
    for (const w of this.waiters.splice(0)) w.reject(this.failure);
    if (destroy) this.socket.destroy();
  }

  /** The next reply. */
  reply(): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  command(line: string): Promise<Reply> {
    const r = this.reply();
    this.write(`${line}\r\n`);
    return r;
  }

  /** One transaction: MAIL, RCPT for each recipient, DATA, the message. */
  async transact(from: string, to: readonly string[], message: Uint8Array): Promise<RefusedRecipient[]> {
    const utf8 = !isAscii(from) || to.some((t) => !isAscii(t));
    if (utf8 && !this.extensions.has('SMTPUTF8')) throw new ReinjectError('return port does not offer SMTPUTF8, needed for an internationalised address');
    const params = [
      ...(this.extensions.has('SIZE') ? [`SIZE=${message.length}`] : []),
      ...(this.extensions.has('8BITMIME') && has8bit(message) ? ['BODY=8BITMIME'] : []),
      ...(utf8 ? ['SMTPUTF8'] : []),
    ];
    const commands = [`MAIL FROM:<${from}>${params.map((p) => ` ${p}`).join('')}`, ...to.map((t) => `RCPT TO:<${t}>`), 'DATA'];
    const expect = [[250], ...to.map(() => [250, 251]), [354]];
    const replies: Promise<Reply>[] = [];
    if (this.extensions.has('PIPELINING')) {
      for (let i = 0; i < commands.length; i++) replies.push(this.reply());
      this.write(commands.map((c) => `${c}\r\n`).join(''));
      // The replies after a refusal are never awaited: the connection is dropped and they reject unheard.
      for (const p of replies) p.catch(() => undefined);
    }
    const refused: RefusedRecipient[] = [];
    for (let i = 0; i < commands.length; i++) {
      if (i === commands.length - 1 && !replies[i] && refused.length === to.length) break;
      let r: Reply;
      try {
        r = await (replies[i] ?? this.command(commands[i]!));
      } catch (e) {
        throw i === 0 ? new ReinjectError((e as Error).message, true) : e;
      }
      // A recipient refused while others are taken: the message goes to the others, the caller hears who was refused.
      if (i > 0 && i <= to.length && !expect[i]!.includes(r.code)) {
        refused.push({ recipient: to[i - 1]!, code: r.code, text: r.text.replace(/\n/g, ' ') });
        continue;
      }
      if (refused.length === to.length) break;
      // Leaving mid-transaction (the socket is dropped) makes the MTA discard it.
      if (!expect[i]!.includes(r.code)) throw new ReinjectError(`return port refused ${commands[i]!.split(' ').slice(0, 2).join(' ')}: ${r.code} ${r.text.replace(/\n/g, ' ')}`, false, r.code);
    }
    if (refused.length === to.length) {
      const first = refused[0]!;
      // Every recipient refused: the connection is dropped (the MTA discards the transaction) and the first refusal is the answer.
      throw new ReinjectError(`return port refused RCPT TO:<${first.recipient}>: ${first.code} ${first.text}`, false, refused.every((x) => x.code >= 500) ? first.code : refused.find((x) => x.code < 500)!.code);
    }
    const done = this.reply();
    this.write(stuffMessage(message));
    const r = await done;
    if (r.code !== 250) throw new ReinjectError(`return port refused the message: ${r.code} ${r.text.replace(/\n/g, ' ')}`, false, r.code);
    return refused;
  }

  quit(): void {
    if (this.failure) return;
    this.failure = new ReinjectError('connection closed by the filter');
    this.socket.end('QUIT\r\n');
  }

  destroy(): void {
    this.fail(new ReinjectError('connection dropped by the filter'), true);
  }
}

/** A checked address: no brackets, spaces or control characters that would break the command line. */
function checkAddress(a: string): string {
  if (a.length > 1000 || /[\x00-\x20<>\x7f]/.test(a)) throw new ReinjectError(`envelope address not usable on the return port: ${JSON.stringify(a.slice(0, 100))}`);
  return a;
}

/** Pooled connections to the return port. */
export class ReinjectPool {
  private readonly idle: Connection[] = [];
  private open = 0;
  private readonly queue: (() => void)[] = [];
  private closed = false;

  constructor(private readonly options: ReinjectOptions) {}

  /**
   * Passes one message on; resolves once the return port answered 250 to its data, with the
   * recipients it refused at RCPT (the message went to the others). Throws when it went to nobody
   * (`responseCode` set when the MTA refused).
   */
  async send(from: string, to: readonly string[], message: Uint8Array): Promise<RefusedRecipient[]> {
    if (to.length === 0) throw new ReinjectError('no recipients');
    checkAddress(from === '' ? 'x' : from);
    for (const t of to) checkAddress(t);
    await this.slot();
    try {
      let c: Connection | undefined;
      // Skip connections the MTA closed (or timed out) while they sat idle.
      while ((c = this.idle.pop()) && !c.usable);
      const reused = c !== undefined;
      let refused: RefusedRecipient[];
      try {
        c ??= await Connection.open(this.options);
        refused = await c.transact(from, to, message);
      } catch (e) {
        c?.destroy();
        // A pooled connection the MTA closed while it sat idle fails before any transaction: one more try on a new one.
        if (!(reused && e instanceof ReinjectError && e.beforeTransaction)) throw e;
        c = await Connection.open(this.options);
        try {
          refused = await c.transact(from, to, message);
        } catch (e2) {
          c.destroy();
          throw e2;
        }
      }
      if (this.closed) c.quit();
      else this.idle.push(c);
      return refused;
    } finally {
      this.release();
    }
  }

  private slot(): Promise<void> {
    if (this.closed) return Promise.reject(new ReinjectError('the filter is closing'));
    if (this.open < this.options.connections) {
      this.open++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.queue.push(resolve));
  }

  private release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.open--;
  }

  /** Closes idle connections (QUIT); connections in use close when their message is done. */
  close(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.quit();
  }
}
