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
  /** Recipients whose RCPT TO the sink refuses (550), as a server that does not know them; change it any time. */
  refuse: Set<string>;
  /** MAIL FROM commands seen: a send that never began a transaction leaves it unchanged. */
  transactions: () => number;
  /** A nodemailer transport to the sink (plain SMTP on loopback). */
  transport(): ReturnType<typeof nodemailer.createTransport>;
  close(): Promise<void>;
}

export async function startSink(options: { keep?: boolean } = {}): Promise<Sink> {
  const delivered: Delivered[] = [];
  const refuse = new Set<string>();
  let transactions = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    // A reverse lookup of 127.0.0.1 per connection would dominate every figure.
    disableReverseLookup: true,
    onMailFrom(_address, _session, callback) {
      transactions++;
      callback();
    },
    onRcptTo(address, _session, callback) {
      if (refuse.has(address.address)) callback(Object.assign(new Error(`<${address.address}>: Recipient address rejected: User unknown`), { responseCode: 550 }));
      else callback();
    },
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
    refuse,
    transactions: () => transactions,
    transport: () => nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: false }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
