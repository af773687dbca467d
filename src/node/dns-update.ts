/**
 * The Node transport for DNS updates: TCP for messages over 512 bytes (a DKIM RSA record always
 * is) or when asked, else UDP with a TCP retry when the answer is truncated. Every exchange is
 * bounded by one timeout; a server that does not answer is ERR_DNS_UNAVAILABLE.
 */
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { connect } from 'node:net';
import { dnsError } from '../dns/errors.js';
import type { DnsTransport } from '../dns/rfc2136.js';
import { MailPkiError } from '../errors.js';

export interface NodeDnsTransportOptions {
  /** 'tcp' always, 'udp' first (TCP when truncated or too large), default 'auto' = TCP above 512 bytes. */
  protocol?: 'auto' | 'tcp' | 'udp';
}

const MAX_MESSAGE = 65535;

/** 'host:port', '[v6]:port', or a bare host (port 53). */
export function parseServer(server: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(server) ?? /^([^:]+)(?::(\d+))?$/.exec(server);
  const host = m?.[1];
  const port = m?.[2] === undefined ? 53 : Number(m[2]);
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535 || (server.startsWith('[') && isIP(host) !== 6))
    throw new MailPkiError('ERR_INVALID_INPUT', `DNS server: expected host:port or [ipv6]:port, got ${JSON.stringify(server)}`, { details: { field: 'server' } });
  return { host, port };
}

function unavailable(server: string, what: string, cause?: unknown) {
  return dnsError('ERR_DNS_UNAVAILABLE', `DNS server ${server}: ${what}`, cause === undefined ? {} : { cause });
}

function exchangeUdp(message: Uint8Array, host: string, port: number, server: string, timeoutMs: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
    const id = (message[0]! << 8) | message[1]!;
    const done = (err: Error | undefined, value?: Uint8Array) => {
      clearTimeout(timer);
      socket.close();
      if (err) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(() => done(unavailable(server, `no answer within ${timeoutMs} ms (UDP)`)), timeoutMs);
    socket.on('error', (e) => done(unavailable(server, e.message, e)));
    socket.on('message', (msg, rinfo) => {
      // Only an answer from the server with our id counts; anything else is ignored until the timeout.
      if (rinfo.port !== port || msg.length < 12 || ((msg[0]! << 8) | msg[1]!) !== id) return;
      done(undefined, new Uint8Array(msg));
    });
    socket.send(message, port, host, (e) => {
      if (e) done(unavailable(server, e.message, e));
    });
  });
}

function exchangeTcp(message: Uint8Array, host: string, port: number, server: string, timeoutMs: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let buf = new Uint8Array(0);
    let settled = false;
    const done = (err: Error | undefined, value?: Uint8Array) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(() => done(unavailable(server, `no answer within ${timeoutMs} ms (TCP)`)), timeoutMs);
    socket.on('error', (e) => done(unavailable(server, e.message, e)));
    socket.on('close', () => done(unavailable(server, 'connection closed before a whole answer arrived')));
    socket.on('connect', () => {
      const framed = new Uint8Array(message.length + 2);
      framed[0] = message.length >>> 8;
      framed[1] = message.length & 0xff;
      framed.set(message, 2);
      socket.write(framed);
    });
    socket.on('data', (chunk: Buffer) => {
      const next = new Uint8Array(buf.length + chunk.length);
      next.set(buf);
      next.set(chunk, buf.length);
      buf = next;
      if (buf.length < 2) return;
      const len = (buf[0]! << 8) | buf[1]!;
      if (buf.length >= len + 2) done(undefined, buf.slice(2, len + 2));
    });
  });
}

/**
 * @example
 * const publisher = rfc2136Publisher({ server: '127.0.0.1:53', zone: 'example.com', tsig, transport: nodeDnsTransport() });
 */
export function nodeDnsTransport(options: NodeDnsTransportOptions = {}): DnsTransport {
  const protocol = options.protocol ?? 'auto';
  return async (message, { server, timeoutMs }) => {
    if (!(message instanceof Uint8Array) || message.length < 12 || message.length > MAX_MESSAGE) throw new MailPkiError('ERR_INVALID_INPUT', 'DNS message: 12 to 65535 bytes', { details: { field: 'message' } });
    const { host, port } = parseServer(server);
    if (protocol === 'tcp' || (protocol === 'auto' && message.length > 512)) return exchangeTcp(message, host, port, server, timeoutMs);
    const answer = await exchangeUdp(message, host, port, server, timeoutMs);
    // TC: the answer did not fit in UDP; ask again over TCP (RFC 7766).
    if ((answer[2]! & 0x02) !== 0) return exchangeTcp(message, host, port, server, timeoutMs);
    return answer;
  };
}
