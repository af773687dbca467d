/**
 * A raw SMTP client for attack tests: sends the DATA bytes exactly as given (only the final
 * "CRLF.CRLF" added), one command at a time, and returns every reply. swaks and nodemailer both
 * rewrite line ends (bare CR, bare LF) before sending, which is exactly what these tests must not do.
 */
import { Socket } from 'node:net';

export interface RawSmtpResult {
  /** Each reply in order (greeting, EHLO, MAIL, each RCPT, DATA, end of data, QUIT), lines joined with \n. */
  replies: string[];
  /** The reply to the end of the data (or the last reply when the transaction stopped earlier). */
  final: string;
}

/**
 * One transaction on 127.0.0.1:port. `data` goes as it is: dot-stuff it yourself if a line starts
 * with '.'. Stops (and QUITs) at the first 4xx/5xx reply before DATA.
 */
export function rawSmtp(
  port: number,
  envelope: { from: string; to: readonly string[] },
  data: Uint8Array | string,
  options: {
    timeoutMs?: number;
    /** XCLIENT attributes (Postfix smtpd_authorized_xclient_hosts): e.g. a remote client's ADDR and NAME. */
    xclient?: string;
    /** The client's own address, e.g. 127.0.0.2: a loopback client that is not one of Postfix's inet_interfaces (127.0.0.1), so not "local" to it. */
    localAddress?: string;
  } = {},
): Promise<RawSmtpResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : Buffer.from(data);
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    const replies: string[] = [];
    let buffered = '';
    let current: string[] = [];
    let waiting: ((reply: string) => void) | undefined;
    const queue: string[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`raw SMTP: no answer within ${timeoutMs} ms; replies so far: ${JSON.stringify(replies)}`));
    }, timeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).replace(/\r$/, '');
        buffered = buffered.slice(nl + 1);
        current.push(line);
        if (/^\d{3}(?: |$)/.test(line)) {
          const reply = current.join('\n');
          current = [];
          replies.push(reply);
          if (waiting) {
            const w = waiting;
            waiting = undefined;
            w(reply);
          } else queue.push(reply);
        }
      }
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    const next = () => new Promise<string>((res) => (queue.length ? res(queue.shift()!) : (waiting = res)));
    const say = async (line: string | Buffer) => {
      socket.write(line);
      return next();
    };
    const ok = (reply: string) => /^[23]/.test(reply);
    socket.connect({ port, host: '127.0.0.1', ...(options.localAddress ? { localAddress: options.localAddress } : {}) }, async () => {
      try {
        await next();
        await say('EHLO attacker.example\r\n');
        if (options.xclient) {
          const r = await say(`XCLIENT ${options.xclient}\r\n`);
          if (!/^220/.test(r)) throw new Error(`XCLIENT refused: ${r}`);
          await say('EHLO attacker.example\r\n');
        }
        let last = await say(`MAIL FROM:<${envelope.from}>\r\n`);
        if (ok(last)) {
          let anyRcpt = false;
          for (const t of envelope.to) if (ok((last = await say(`RCPT TO:<${t}>\r\n`)))) anyRcpt = true;
          if (anyRcpt) {
            last = await say('DATA\r\n');
            if (ok(last)) last = await say(Buffer.concat([bytes, Buffer.from(bytes.length && bytes[bytes.length - 1] === 10 ? '.\r\n' : '\r\n.\r\n')]));
          }
        }
        await say('QUIT\r\n');
        clearTimeout(timer);
        socket.destroy();
        resolve({ replies, final: last });
      } catch (e) {
        clearTimeout(timer);
        socket.destroy();
        reject(e);
      }
    });
  });
}
