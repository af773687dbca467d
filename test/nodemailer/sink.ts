/** A local SMTP sink (smtp-server on loopback) that keeps every delivered message's bytes, for the nodemailer tests and bench. */
import type { AddressInfo } from 'node:net';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';

export interface Delivered {
  from: string;
  to: string[];
  bytes: Buffer;
}

export interface Sink {
  port: number;
  delivered: Delivered[];
  /** A nodemailer transport to the sink (plain SMTP on loopback). */
  transport(): ReturnType<typeof nodemailer.createTransport>;
  close(): Promise<void>;
}

export async function startSink(options: { keep?: boolean } = {}): Promise<Sink> {
  const delivered: Delivered[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (options.keep !== false)
          delivered.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), bytes: Buffer.concat(chunks) });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    delivered,
    transport: () => nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: false }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
