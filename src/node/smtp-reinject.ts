/**
 * The filter's way back into the MTA: nodemailer's SMTPConnection (RFC 5321; pipelined MAIL/RCPT/DATA
 * when PIPELINING is offered, dot-stuffing, bare CR/LF made CRLF) on a few kept-open connections to
 * the return port. Each message is one `send()` on a free connection (EHLO once per connection, no
 * login, no TLS on loopback), so the per-message cost is the transaction alone — not nodemailer's
 * transport, which builds a mail object and runs its plugin pipeline for every message.
 *
 * The delivery contract the filter relies on: recipients refused at RCPT while others were taken are
 * returned (the message went to the others); a send that reached nobody throws with the MTA's
 * `responseCode` when it answered (5xx permanent, 4xx temporary) and without one when the return port
 * could not be talked to. Replies are bounded (MAX_REINJECT_REPLY_BYTES) and every wait has a timeout.
 *
 * A send is tried a second time (on a new connection) only when a kept connection failed before the
 * message's data was handed to it: the MTA had dropped it while idle. Once the data went out, a lost
 * reply may hide a message the MTA queued, so the send fails (`dataSent`) and the filter answers 451.
 */
import { Readable } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection';

/** The longest reply (all its lines) accepted from the return port, in bytes. */
export const MAX_REINJECT_REPLY_BYTES = 64 * 1024;

export interface ReinjectOptions {
  host: string;
  port: number;
  /** The name given in EHLO. */
  name: string;
  /** Connections kept open to the return port at most. */
  connections: number;
  /** Connect, greeting and inactivity timeout (ms): the longest wait for any reply. */
  timeoutMs: number;
}

/**
 * The longest one transaction may take, as a multiple of `timeoutMs` (30 s → 5 min, inside Postfix's
 * 600 s smtp_data_done_timeout for the filter's own answer): a return port that trickles its replies,
 * a byte just inside the inactivity timeout, would otherwise hold a pooled connection for ever.
 */
export const REINJECT_DEADLINE_FACTOR = 10;

/** A recipient the return port refused at RCPT while it took others (the message went to those). */
export interface RefusedRecipient {
  recipient: string;
  code: number;
  text: string;
}

export class ReinjectError extends Error {
  constructor(
    message: string,
    /** The MTA's reply code when it refused (a 5xx is permanent: the filter passes it on). */
    readonly responseCode?: number,
    /** The message's data was handed to the connection (after the MTA's 354): without a reply, the MTA may have queued it. */
    readonly dataSent = false,
  ) {
    super(message);
  }
}

/** What nodemailer puts on its errors (NodemailerError). */
interface SmtpFailure extends Error {
  code?: string;
  response?: string;
  responseCode?: number;
  command?: string;
  recipient?: string;
  rejectedErrors?: SmtpFailure[];
}

const oneLine = (s: string) => s.replace(/\r?\n/g, ' ').slice(0, 400);
/** A reply without its code: "550 5.1.1 no such user" → "5.1.1 no such user". */
const replyText = (reply: string | undefined) => oneLine((reply ?? '').replace(/^\d{3}[ -]?/, ''));

function has8bit(message: Uint8Array): boolean {
  for (let i = 0; i < message.length; i++) if (message[i]! > 0x7f) return true;
  return false;
}

const isAscii = (s: string) => !/[^\x20-\x7e]/.test(s);

/** A checked address: no brackets, spaces or control characters that would break the command line. */
function checkAddress(a: string): string {
  if (a.length > 1000 || /[\x00-\x20<>\x7f]/.test(a)) throw new ReinjectError(`envelope address not usable on the return port: ${JSON.stringify(a.slice(0, 100))}`);
  return a;
}

/** One kept-open SMTPConnection and whether it can take another message. */
class Connection {
  /** False once the connection failed, ended or was closed: it is never used again. */
  usable = true;
  /** The reply to EHLO (or HELO): the extensions the return port offers. */
  private ehlo = '';
  private constructor(
    readonly smtp: SMTPConnection,
    private readonly timeoutMs: number,
  ) {}

  static open(o: ReinjectOptions): Promise<Connection> {
    const smtp = new SMTPConnection({
      host: o.host,
      port: o.port,
      name: o.name,
      // Loopback to our own MTA: no STARTTLS even when offered, no DNS beyond the host given.
      ignoreTLS: true,
      connectionTimeout: o.timeoutMs,
      greetingTimeout: o.timeoutMs,
      socketTimeout: o.timeoutMs,
      socketCloseTimeout: 1000,
      maxResponseSize: MAX_REINJECT_REPLY_BYTES,
      logger: false,
    });
    const c = new Connection(smtp, o.timeoutMs);
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (e: Error) => {
        c.usable = false;
        if (!settled) {
          settled = true;
          smtp.close();
          reject(describe(e as SmtpFailure, [], o.timeoutMs));
        }
      };
      // An 'error' without a listener would be thrown by the EventEmitter; a send in flight also gets it through its callback.
      smtp.on('error', fail);
      smtp.on('end', () => {
        c.usable = false;
        fail(new Error('connection closed before the greeting and EHLO were done'));
      });
      smtp.connect((e) => {
        if (e) return fail(e);
        settled = true;
        // lastServerResponse is the reply just handled: the one to EHLO that completed the handshake.
        c.ehlo = smtp.lastServerResponse || '';
        resolve(c);
      });
    });
  }

  /**
   * SMTPUTF8 among the EHLO keywords (nodemailer sends a non-ASCII address without it otherwise).
   * nodemailer keeps its list of extensions private; this is its own test, on the same reply.
   */
  get offersSmtpUtf8(): boolean {
    return /[ -]SMTPUTF8\b/im.test(this.ehlo);
  }

  /**
   * Runs one nodemailer call to its callback, or to the connection's end: nodemailer's close()
   * forgets the callbacks of replies still awaited, which would otherwise wait for ever.
   */
  private untilEnd<T>(call: (done: (result: T) => void) => void, ended: () => T): Promise<T> {
    return new Promise((resolve) => {
      let settled = false;
      const done = (result: T) => {
        if (settled) return;
        settled = true;
        this.smtp.off('end', onEnd);
        resolve(result);
      };
      // A failure emits 'end' before nodemailer hands the send its error: that error, when it comes, is the better one.
      const onEnd = () => setImmediate(() => done(ended()));
      this.smtp.once('end', onEnd);
      call(done);
    });
  }

  /** One transaction; resolves with the recipients refused at RCPT while others were taken. */
  async transact(from: string, to: readonly string[], message: Uint8Array): Promise<RefusedRecipient[]> {
    if ((!isAscii(from) || to.some((t) => !isAscii(t))) && !this.offersSmtpUtf8)
      throw new ReinjectError('return port does not offer SMTPUTF8, needed for an internationalised address');
    // nodemailer reads the message only once the MTA answered DATA with 354: until then the MTA cannot have it.
    let dataSent = false;
    const body = new Readable({
      read() {
        dataSent = true;
        this.push(Buffer.from(message.buffer, message.byteOffset, message.byteLength));
        this.push(null);
      },
    });
    // The whole transaction has a deadline: closing the connection ends the send (untilEnd).
    let expired = false;
    const deadlineMs = this.timeoutMs * REINJECT_DEADLINE_FACTOR;
    const deadline = setTimeout(() => ((expired = true), this.destroy()), deadlineMs);
    const outcome = await this.untilEnd<{ err: SmtpFailure } | { refused: RefusedRecipient[] }>(
      (done) =>
        // An empty sender is the null reverse-path (a bounce): nodemailer writes MAIL FROM:<> for it.
        this.smtp.send({ from, to: [...to], size: message.length, use8BitMime: has8bit(message) }, body, (err, info) => {
          if (err) return done({ err: err as SmtpFailure });
          done({ refused: (info?.rejectedErrors ?? []).map((e: SmtpFailure) => ({ recipient: e.recipient ?? '', code: e.responseCode ?? 0, text: replyText(e.response) })) });
        }),
      () => ({ err: Object.assign(new Error('Connection closed'), { command: 'CONN' }) }),
    );
    clearTimeout(deadline);
    if (expired) throw new ReinjectError(`return port: the transaction took longer than ${deadlineMs} ms; connection dropped`, undefined, dataSent);
    if ('err' in outcome) throw describe(outcome.err, to, this.timeoutMs, dataSent);
    return outcome.refused;
  }

  /** RSET after a refused transaction, so the connection can be kept; false when it cannot. */
  reset(): Promise<boolean> {
    if (!this.usable) return Promise.resolve(false);
    return this.untilEnd((done) => this.smtp.reset((err) => done(!err)), () => false);
  }

  quit(): void {
    if (!this.usable) return;
    this.usable = false;
    this.smtp.quit();
  }

  destroy(): void {
    this.usable = false;
    this.smtp.close();
  }
}

/** nodemailer's error as the filter wants it: what was refused, with the MTA's code when it answered. */
function describe(err: SmtpFailure, to: readonly string[], timeoutMs: number, dataSent = false): ReinjectError {
  // A reply that is neither a refusal (4xx, 5xx) nor what the command wanted — a 354 read as the
  // reply to the data, a 2xx or 3xx where an error was found: the replies are out of step with the
  // commands (a return port answering twice). Not a refusal; the session is dropped, not RSET.
  if (err.responseCode !== undefined && !(err.responseCode >= 400 && err.responseCode < 600) && err.response)
    return new ReinjectError(`return port: reply out of step with the commands (${err.command ?? 'command'}: ${oneLine(err.response)})`, undefined, dataSent);
  if (err.command === 'RCPT TO' && err.rejectedErrors?.length) {
    // Every recipient refused. A 4xx among them makes the whole refusal temporary (the MTA retries).
    const all = err.rejectedErrors;
    const first = all[0]!;
    const temporary = all.find((e) => (e.responseCode ?? 0) < 500);
    const code = (temporary ?? first).responseCode;
    return new ReinjectError(`return port refused RCPT TO:<${first.recipient ?? to[0]}>: ${oneLine(first.response ?? err.message)}`, code);
  }
  // Refused by nodemailer before sending, from the SIZE the return port announced: as the MTA would (552, permanent).
  if (err.code === 'EMESSAGE' && err.command === 'MAIL FROM' && !err.response) return new ReinjectError(`return port: ${oneLine(err.message)}`, 552);
  if (err.command === 'MAIL FROM' && err.response) return new ReinjectError(`return port refused MAIL FROM: ${oneLine(err.response)}`, err.responseCode);
  if (err.command === 'DATA' && err.response && err.code === 'EENVELOPE') return new ReinjectError(`return port refused DATA: ${oneLine(err.response)}`, err.responseCode);
  if (err.command === 'DATA' && err.response) return new ReinjectError(`return port refused the message: ${oneLine(err.response)}`, err.responseCode);
  // The connection failed (closed, timed out, unreadable reply): no code, the filter answers 451.
  if (err.code === 'ETIMEDOUT') return new ReinjectError(`return port: no answer within ${timeoutMs} ms`, undefined, dataSent);
  return new ReinjectError(`return port: ${oneLine(err.message)}`, undefined, dataSent);
}

/**
 * A kept connection that failed without a reply before the message's data was handed to it: the MTA
 * had dropped it while idle, so it cannot have the message and a new connection may carry it. After
 * the data, the MTA may have queued it and closed before its 250 reached us: no second copy then.
 */
const droppedWhileIdle = (e: unknown) =>
  e instanceof ReinjectError && e.responseCode === undefined && !e.dataSent && /closed|ECONNRESET|EPIPE|destroyed/i.test(e.message);

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
   * (`responseCode` set when the MTA refused). `beforeTransaction` runs right before each transaction
   * starts (after the wait for a connection, which has no deadline): what it throws ends the send, nothing passed on.
   */
  async send(from: string, to: readonly string[], message: Uint8Array, beforeTransaction?: () => void): Promise<RefusedRecipient[]> {
    if (to.length === 0) throw new ReinjectError('no recipients');
    checkAddress(from === '' ? 'x' : from);
    for (const t of to) checkAddress(t);
    await this.slot();
    try {
      let c: Connection | undefined;
      // Skip connections the MTA closed (or that timed out) while they sat idle.
      while ((c = this.idle.pop()) && !c.usable);
      let reused = c !== undefined;
      for (;;) {
        try {
          const open = (c ??= await Connection.open(this.options));
          try {
            beforeTransaction?.();
          } catch (e) {
            // Not started: the connection stays as good as it was.
            c = undefined;
            this.keep(open);
            throw e;
          }
          const refused = await c.transact(from, to, message);
          this.keep(c);
          return refused;
        } catch (e) {
          // A refusal leaves the session usable once reset; anything else drops the connection.
          if (c && e instanceof ReinjectError && e.responseCode !== undefined && (await c.reset())) this.keep(c);
          else c?.destroy();
          if (!(reused && droppedWhileIdle(e))) throw e;
          reused = false;
          c = undefined;
        }
      }
    } finally {
      this.release();
    }
  }

  private keep(c: Connection): void {
    if (this.closed) c.quit();
    else if (c.usable) this.idle.push(c);
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
