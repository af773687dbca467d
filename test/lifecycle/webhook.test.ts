import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  EVENT_ID_HEADER,
  backoffDelay,
  createWebhookSink,
  signWebhookBody,
  verifyWebhookSignature,
  type LifecycleEvent,
} from '../../src/lifecycle/index.js';
import { harness } from './helpers.js';

const SECRET = 'whsec_0123456789abcdef0123';

interface Receiver {
  url: string;
  requests: Array<{ id: string; body: string; signature: string; verified: boolean }>;
  /** Unique events accepted (de-duplicated by id), in arrival order. */
  accepted: LifecycleEvent[];
  /** Status to answer for the next requests, in order; afterwards 200. */
  script: number[];
  delayMs: number;
}

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** A real HTTP receiver on 127.0.0.1 that checks signatures and de-duplicates by event id. */
async function startReceiver(): Promise<Receiver> {
  const rx: Receiver = { url: '', requests: [], accepted: [], script: [], delayMs: 0 };
  const seen = new Set<string>();
  server = createServer(async (req, res) => {
    const body = await readBody(req);
    const signature = String(req.headers['mailpki-signature'] ?? '');
    const id = String(req.headers[EVENT_ID_HEADER.toLowerCase()] ?? '');
    const v = await verifyWebhookSignature(body, signature, SECRET);
    rx.requests.push({ id, body, signature, verified: v.ok });
    if (rx.delayMs) await new Promise((r) => setTimeout(r, rx.delayMs));
    if (!v.ok) return void res.writeHead(400).end(v.problem);
    const status = rx.script.shift() ?? 200;
    if (status === 200 && !seen.has(id)) {
      seen.add(id);
      rx.accepted.push(JSON.parse(body) as LifecycleEvent);
    }
    res.writeHead(status).end();
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  rx.url = `http://127.0.0.1:${(server!.address() as AddressInfo).port}/hooks/mailpki`;
  return rx;
}

const sampleEvent = (id = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b'): LifecycleEvent => ({
  id,
  type: 'certificate.expiring',
  occurredAt: '2026-01-05T00:00:00.000Z',
  owner: { team: 'treasury' },
  identity: { id: 'smime:p@example.com', kind: 'smime', name: 'p@example.com' },
  certificate: { serialNumber: '1a', fingerprint: 'ab'.repeat(32), notBefore: '2026-01-05T00:00:00.000Z', notAfter: '2027-01-05T00:00:00.000Z' },
  data: { daysLeft: 7, noticeDays: 7 },
});

describe('webhook sink against a real local HTTP receiver', () => {
  it('signs, retries on 500 twice then 200, and the receiver de-duplicates a redelivery by id', async () => {
    const rx = await startReceiver();
    rx.script = [500, 500];
    const sink = createWebhookSink({ url: rx.url, secret: SECRET, backoffMs: [10, 20] });
    const event = sampleEvent();
    await sink.deliver(event);
    expect(rx.requests.map((r) => [r.id, r.verified])).toEqual([
      [event.id, true],
      [event.id, true],
      [event.id, true],
    ]);
    expect(JSON.parse(rx.requests[0]!.body)).toEqual(event);
    expect(rx.requests[0]!.signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    // At least once: the same event again is accepted by HTTP but counted once by the receiver.
    await sink.deliver(event);
    expect(rx.requests).toHaveLength(4);
    expect(rx.accepted).toEqual([event]);
  });

  it('does not retry a 4xx other than 408/429; retries 429; gives up after `retries`', async () => {
    const rx = await startReceiver();
    const sink = createWebhookSink({ url: rx.url, secret: SECRET, backoffMs: 1, retries: 2 });
    rx.script = [404];
    await expect(sink.deliver(sampleEvent('a'))).rejects.toMatchObject({ code: 'ERR_IO', details: { status: 404 } });
    expect(rx.requests).toHaveLength(1);
    rx.script = [429, 408];
    await sink.deliver(sampleEvent('b'));
    expect(rx.requests).toHaveLength(4);
    rx.script = [503, 503, 503];
    await expect(sink.deliver(sampleEvent('c'))).rejects.toThrow('answered HTTP 503');
    expect(rx.requests).toHaveLength(7);
  });

  it('a wrong secret is refused by the receiver (400, not retried)', async () => {
    const rx = await startReceiver();
    const sink = createWebhookSink({ url: rx.url, secret: 'another-secret-0123456789', backoffMs: 1 });
    await expect(sink.deliver(sampleEvent())).rejects.toMatchObject({ details: { status: 400 } });
    expect(rx.requests.map((r) => r.verified)).toEqual([false]);
    expect(rx.accepted).toEqual([]);
  });

  it('times out slow receivers and retries; network errors are retried', async () => {
    const rx = await startReceiver();
    rx.delayMs = 200;
    const slow = createWebhookSink({ url: rx.url, secret: SECRET, timeoutMs: 50, retries: 1, backoffMs: 1 });
    await expect(slow.deliver(sampleEvent())).rejects.toThrow(/timed out after 50 ms/);
    let calls = 0;
    const flaky = createWebhookSink({
      url: 'http://127.0.0.1:9/x',
      secret: SECRET,
      backoffMs: 1,
      fetch: async (...args: Parameters<typeof fetch>) => {
        if (++calls === 1) throw new TypeError('fetch failed');
        return fetch(rx.url, args[1]);
      },
    });
    rx.delayMs = 0;
    await flaky.deliver(sampleEvent('n'));
    expect(calls).toBe(2);
  });

  it('bounded queue: when full, deliver rejects at once (the event stays in the outbox)', async () => {
    const rx = await startReceiver();
    rx.delayMs = 100;
    const sink = createWebhookSink({ url: rx.url, secret: SECRET, maxQueue: 1, concurrency: 1 });
    const first = sink.deliver(sampleEvent('1'));
    const second = sink.deliver(sampleEvent('2'));
    expect(sink.pending).toEqual({ queued: 1, inFlight: 1 });
    await expect(sink.deliver(sampleEvent('3'))).rejects.toMatchObject({ code: 'ERR_INPUT_TOO_LARGE', details: { limit: 1 } });
    await Promise.all([first, second]);
    expect(rx.accepted.map((e) => e.id)).toEqual(['1', '2']);
  });

  it('through the manager: outbox → webhook, every event signed, retried across passes until the receiver takes it', async () => {
    const rx = await startReceiver();
    const h = await harness();
    const sink = createWebhookSink({ url: rx.url, secret: SECRET, retries: 0 });
    const m = h.make({ sinks: [sink], deliveryBackoffMs: 1000 });
    await m.enroll({ mailbox: 'p@example.com', owner: { team: 'treasury' } }, { actor: 'a' });
    rx.script = [500];
    const t = h.clock().getTime();
    expect(await m.deliverEvents({ now: new Date(t) })).toMatchObject({ delivered: 1, failed: 1 });
    expect(await m.deliverEvents({ now: new Date(t + 1000) })).toMatchObject({ delivered: 1, failed: 0 });
    expect(rx.accepted.map((e) => e.type).sort()).toEqual(['certificate.issued', 'identity.enrolled']);
    expect(rx.requests.every((r) => r.verified)).toBe(true);
  });
});

describe('verifyWebhookSignature', () => {
  const body = JSON.stringify(sampleEvent());
  const now = new Date('2026-03-01T12:00:00Z');

  it('accepts the signature the sink makes, within tolerance; several v1 entries for rotation', async () => {
    const header = await signWebhookBody(body, SECRET, { now });
    expect(await verifyWebhookSignature(body, header, SECRET, { now })).toEqual({ ok: true, timestamp: new Date(Math.floor(now.getTime() / 1000) * 1000) });
    const other = (await signWebhookBody(body, 'old-secret-0123456789abc', { now })).split(',')[1];
    expect((await verifyWebhookSignature(body, `${header},${other}`, 'old-secret-0123456789abc', { now })).ok).toBe(true);
    expect((await verifyWebhookSignature(new TextEncoder().encode(body), header, SECRET, { now })).ok).toBe(true);
  });

  it('refuses a changed body, a wrong secret, an old timestamp and a malformed header', async () => {
    const header = await signWebhookBody(body, SECRET, { now });
    expect(await verifyWebhookSignature(body.replace('treasury', 'treasurx'), header, SECRET, { now })).toMatchObject({ ok: false, problem: 'signature-mismatch' });
    expect(await verifyWebhookSignature(body, header, 'wrong-secret-0123456789', { now })).toMatchObject({ ok: false, problem: 'signature-mismatch' });
    expect(await verifyWebhookSignature(body, header, SECRET, { now: new Date(now.getTime() + 301_000) })).toMatchObject({
      ok: false,
      problem: 'timestamp-out-of-tolerance',
    });
    for (const bad of [undefined, '', 'v1=abc', `t=1,v1=${'0'.repeat(63)}`])
      expect(await verifyWebhookSignature(body, bad, SECRET, { now })).toMatchObject({ ok: false, problem: 'malformed-header' });
  });

  it('backoff: a base doubles; a list is used in order and its last value repeats', () => {
    expect([0, 1, 2, 3].map((i) => backoffDelay(500, i))).toEqual([500, 1000, 2000, 4000]);
    expect([0, 1, 2, 3].map((i) => backoffDelay([10, 50], i))).toEqual([10, 50, 50, 50]);
  });

  it('refuses bad options naming the field', () => {
    expect(() => createWebhookSink({ url: 'ftp://x', secret: SECRET })).toThrow(expect.objectContaining({ details: { field: 'url' } }));
    expect(() => createWebhookSink({ url: 'https://x.example', secret: 'short' })).toThrow(expect.objectContaining({ details: { field: 'secret' } }));
  });
});
