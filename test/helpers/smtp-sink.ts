/** A return port for filter tests: an smtp-server on a free loopback port that keeps every message it is given. */
import { SMTPServer } from 'smtp-server';

export interface SinkMessage {
  /** The envelope recipients (RCPT TO). */
  to: string[];
  /** The message as received, one char per byte. */
  text: string;
}

export async function startSink(): Promise<{ got: SinkMessage[]; port: number; close(): Promise<void> }> {
  const got: SinkMessage[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        got.push({ to: session.envelope.rcptTo.map((r) => r.address), text: Buffer.concat(chunks).toString('latin1') });
        cb();
      });
    },
  });
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.server.address() as { port: number }).port)));
  return { got, port, close: () => new Promise<void>((r) => server.close(() => r())) };
}
