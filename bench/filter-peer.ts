/**
 * The filter bench's other side, in its own process (forked by bench/filter.ts) so that the
 * filter's process does only filtering: an SMTP sink standing for the MTA's return port, and
 * the SMTP client standing for the MTA that hands messages to the filter. Talks to its parent
 * over the IPC channel:
 *   → { sinkPort }                         once the sink listens
 *   ← { run: { port, raw, inFlight, ms } } send raw to port for ms, inFlight at a time
 *   → { sent, seconds, received, tagged }  messages answered 250, time taken, messages the sink got
 *   ← { stop: true }
 */
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';

interface Run {
  port: number;
  raw: string;
  inFlight: number;
  ms: number;
  warmMs: number;
  authservId: string;
}

let received = 0;
let queued = 0;
let tagged = 0;
let needle = '';
const sink = new SMTPServer({
  authOptional: true,
  disabledCommands: ['AUTH', 'STARTTLS'],
  logger: false,
  onData(stream, _session, cb) {
    // Only the start is looked at: did the filter put its Authentication-Results on top?
    let head = '';
    stream.on('data', (c: Buffer) => {
      if (head.length < 200) head += c.toString('latin1', 0, 200);
    });
    stream.on('end', () => {
      received++;
      if (needle && head.startsWith(needle)) tagged++;
      cb();
    });
  },
});

async function run(r: Run): Promise<{ sent: number; seconds: number; received: number; tagged: number }> {
  needle = `Authentication-Results: ${r.authservId};`;
  const client = nodemailer.createTransport({ host: '127.0.0.1', port: r.port, secure: false, ignoreTLS: true, pool: true, maxConnections: r.inFlight, maxMessages: Infinity });
  const raw = Buffer.from(r.raw, 'base64');
  // Each copy gets its own Received field on top, as Postfix writes one (with its queue id) before
  // the content filter: the filter takes the same bytes and envelope again for an MTA retry and
  // passes nothing on twice (so `queued` counts over every run).
  const send = () => client.sendMail({ envelope: { from: 'payments@example.com', to: ['ap@example.com'] }, raw: Buffer.concat([Buffer.from(`Received: from app.example.com by mx.example.com with ESMTP id Q${++queued}\r\n`), raw]) });
  try {
    let end = performance.now() + r.warmMs;
    const loop = async (count: boolean): Promise<number> => {
      let n = 0;
      while (performance.now() < end) {
        await send();
        if (count) n++;
      }
      return n;
    };
    await Promise.all(Array.from({ length: r.inFlight }, () => loop(false)));
    received = tagged = 0;
    const start = performance.now();
    end = start + r.ms;
    process.send!({ started: true });
    const sent = (await Promise.all(Array.from({ length: r.inFlight }, () => loop(true)))).reduce((a, b) => a + b, 0);
    return { sent, seconds: (performance.now() - start) / 1000, received, tagged };
  } finally {
    client.close();
  }
}

sink.listen(0, '127.0.0.1', () => {
  process.send!({ sinkPort: (sink.server.address() as { port: number }).port });
});
process.on('message', (m: { run?: Run; stop?: true }) => {
  if (m.stop) {
    sink.close(() => process.exit(0));
    return;
  }
  if (m.run)
    run(m.run).then(
      (result) => process.send!(result),
      (e: Error) => process.send!({ error: e.message }),
    );
});
