/**
 * httpFetchBytes against real HTTP servers on loopback (the runtime's fetch): where a redirect may take a
 * revocation request. A responder or distribution point URL is written by a CA, and on plain HTTP anyone on the
 * path answers for it: a redirect must not send the checker (a filter inside the network) to another host.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import { httpFetchBytes } from '../../src/revocation/fetch.js';

let front: Server;
let inside: Server;
let frontPort: number;
let insidePort: number;
const insideHits: string[] = [];

const listen = (s: Server, host = '127.0.0.1') => new Promise<number>((resolve) => s.listen(0, host, () => resolve((s.address() as AddressInfo).port)));

beforeAll(async () => {
  // "inside": a service the filter can reach and the sender cannot (here: another loopback address).
  inside = createServer((req, res) => {
    insideHits.push(`${req.method} ${req.url}`);
    res.end('secret');
  });
  insidePort = await listen(inside, '127.0.0.2');
  front = createServer((req, res) => {
    if (req.url === '/to-inside') res.writeHead(302, { location: `http://127.0.0.2:${insidePort}/admin?delete=all` }).end();
    else if (req.url === '/other-port') res.writeHead(302, { location: `http://127.0.0.1:${insidePort}/` }).end();
    else if (req.url === '/moved') res.writeHead(301, { location: '/crl/current.crl' }).end();
    else if (req.url === '/loop') res.writeHead(302, { location: '/loop' }).end();
    else if (req.url === '/crl/current.crl') res.end('CRL BYTES');
    else res.writeHead(404).end();
  });
  frontPort = await listen(front);
});
afterAll(async () => {
  await new Promise((r) => front.close(r));
  await new Promise((r) => inside.close(r));
});

const get = (path: string, method: 'GET' | 'POST' = 'GET') =>
  httpFetchBytes(`http://127.0.0.1:${frontPort}${path}`, {
    fetch: globalThis.fetch,
    timeoutMs: 5000,
    maxBytes: 1024,
    method,
    ...(method === 'POST' && { body: Uint8Array.of(0x30, 0x00), contentType: 'application/ocsp-request' }),
  });

describe('httpFetchBytes and redirects', () => {
  it('does not follow a redirect to another host: the request never reaches it', async () => {
    // Before: fetch followed it (redirect: 'follow') to any host and port — a CRL's GET, and an OCSP POST as a GET.
    for (const method of ['GET', 'POST'] as const) {
      const e = await get('/to-inside', method).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(MailPkiError);
      expect((e as MailPkiError).code).toBe('ERR_REVOCATION_UNAVAILABLE');
      expect((e as MailPkiError).message).toMatch(new RegExp(`redirect to another host \\(127\\.0\\.0\\.2:${insidePort}\\) not followed`));
    }
    expect(insideHits).toEqual([]);
    // The same host name on another port is another service.
    await expect(get('/other-port')).rejects.toThrow(/redirect to another host \(127\.0\.0\.1:\d+\) not followed/);
  });

  it('follows a redirect on the same host, a few times at most', async () => {
    expect(new TextDecoder().decode(await get('/moved'))).toBe('CRL BYTES');
    await expect(get('/loop')).rejects.toThrow(/more than 3 redirects/);
  });
});
