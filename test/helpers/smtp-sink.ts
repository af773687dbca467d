/** A return port for filter tests: an smtp-server on a free loopback port that keeps every copy it is given, and refuses what it is told to. */
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';

export interface SinkMessage {
  /** The envelope recipients (RCPT TO). */
  to: string[];
  /** The message as received, one char per byte. */
  text: string;
}

export interface SinkOptions {
  /** The reply refusing a recipient at RCPT (4xx for now, 5xx for good), or undefined to take it. */
  rcpt?: (address: string) => { code: number; text: string } | undefined;
  /** Refuse every message at the end of its data with this reply. */
  data?: { code: number; text: string };
  /** Answer the end of each message's data only after this many ms (a slow return port). */
  delayMs?: number;
}

export async function startSink(options: SinkOptions = {}): Promise<{ got: SinkMessage[]; port: number; close: () => Promise<void> }> {
  const got: SinkMessage[] = [];
  const refusal = (r: { code: number; text: string }) => Object.assign(new Error(r.text), { responseCode: r.code });
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onRcptTo(address, _s, cb) {
      const refused = options.rcpt?.(address.address);
      cb(refused && refusal(refused));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (options.data) return cb(refusal(options.data));
        const to = session.envelope.rcptTo.map((r) => r.address);
        // Kept once taken (as an MTA queues it), answered after the delay.
        got.push({ to, text: Buffer.concat(chunks).toString('latin1') });
        if (options.delayMs) setTimeout(() => cb(), options.delayMs);
        else cb();
      });
    },
  });
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.server.address() as { port: number }).port)));
  return { got, port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** Hands a message to `port` as Postfix's content_filter client does (one connection, MAIL/RCPT/DATA): the reply code of DATA (250, or the refusal's; -1 without one). */
export async function handOver(port: number, envelope: { from: string; to: string[] }, raw: string | Uint8Array): Promise<number> {
  const t = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  try {
    await t.sendMail({ envelope, raw: typeof raw === 'string' ? raw : Buffer.from(raw) });
    return 250;
  } catch (e) {
    return (e as { responseCode?: number }).responseCode ?? -1;
  } finally {
    t.close();
  }
}
