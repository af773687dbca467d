/** The filter's return port in tests: an SMTP sink (smtp-server on loopback) that keeps each copy passed on, and refuses what it is told to. */
import { SMTPServer } from 'smtp-server';

export interface SinkCopy {
  to: string[];
  text: string;
}

export interface FilterSinkOptions {
  /** The reply refusing a recipient at RCPT (4xx for now, 5xx for good), or undefined to take it. */
  rcpt?: (address: string) => { code: number; text: string } | undefined;
  /** Refuse every message at the end of its data with this reply. */
  data?: { code: number; text: string };
}

export async function startFilterSink(options: FilterSinkOptions = {}): Promise<{ got: SinkCopy[]; port: number; close: () => Promise<void> }> {
  const got: SinkCopy[] = [];
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
        got.push({ to: session.envelope.rcptTo.map((r) => r.address), text: Buffer.concat(chunks).toString('latin1') });
        cb();
      });
    },
  });
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.server.address() as { port: number }).port)));
  return { got, port, close: () => new Promise<void>((r) => server.close(() => r())) };
}
