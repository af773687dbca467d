/**
 * The webhook sink: each event is POSTed as JSON, signed with HMAC-SHA256 over "<t>.<body>"
 * (the Stripe scheme, so receivers already know how to check it), retried with exponential
 * backoff on network errors, timeouts, 5xx, 408 and 429. `fetch`, the clock, WebCrypto and the
 * sleep function are injected; nothing here needs Node.
 *
 * The queue is bounded: when `maxQueue` deliveries are waiting, `deliver` rejects at once (code
 * ERR_INPUT_TOO_LARGE) instead of dropping the oldest. The manager then leaves the event in the
 * outbox and retries it later, so a full queue delays events but never loses one.
 */
import { z } from 'zod';
import { MailPkiError } from '../errors.js';
import { concatBytes, copyBytes, fromHex, toHex, utf8 } from '../internal/bytes.js';
import { systemClock, type Clock } from '../internal/clock.js';
import { resolveCrypto } from '../internal/crypto.js';
import { parseInput } from '../internal/validate.js';
import type { EventSink, LifecycleEvent } from './events.js';

export const SIGNATURE_HEADER = 'Mailpki-Signature';
export const EVENT_ID_HEADER = 'Mailpki-Event-Id';

export interface WebhookSinkOptions {
  url: string;
  /** The shared secret (at least 16 bytes). Never logged, never in an error. */
  secret: string | Uint8Array;
  fetch?: typeof fetch;
  clock?: Clock;
  crypto?: Crypto;
  /** Deliveries waiting (not in flight) before `deliver` rejects. Default 1000. */
  maxQueue?: number;
  /** Retries after the first attempt. Default 5. */
  retries?: number;
  /** A base (doubled per retry) or the list of delays; the last one repeats. Default 500 ms base. */
  backoffMs?: number | number[];
  /** Per attempt. Default 10 s. */
  timeoutMs?: number;
  /** Deliveries in flight at once. Default 4. */
  concurrency?: number;
  /** Injected for tests; default setTimeout. */
  sleep?: (ms: number) => Promise<void>;
}

const optionsSchema = z
  .object({
    url: z.url({ protocol: /^https?$/ }),
    secret: z.union([z.string().min(16, 'at least 16 characters'), z.custom<Uint8Array>((v) => v instanceof Uint8Array && v.length >= 16, 'at least 16 bytes')]),
    fetch: z.custom<typeof fetch>((v) => typeof v === 'function').optional(),
    clock: z.custom<Clock>((v) => typeof v === 'function').optional(),
    crypto: z.any().optional(),
    maxQueue: z.number().int().min(1).max(1_000_000).default(1000),
    retries: z.number().int().min(0).max(20).default(5),
    backoffMs: z.union([z.number().min(0).max(3_600_000), z.array(z.number().min(0).max(3_600_000)).min(1)]).default(500),
    timeoutMs: z.number().int().min(1).max(300_000).default(10_000),
    concurrency: z.number().int().min(1).max(64).default(4),
    sleep: z.custom<(ms: number) => Promise<void>>((v) => typeof v === 'function').optional(),
  })
  .strict();

export interface WebhookSink extends EventSink {
  /** Deliveries waiting, and in flight. */
  readonly pending: { queued: number; inFlight: number };
}

/** The delay before retry number `attempt` (0-based). */
export function backoffDelay(backoff: number | readonly number[], attempt: number): number {
  if (typeof backoff === 'number') return backoff * 2 ** attempt;
  return backoff[Math.min(attempt, backoff.length - 1)]!;
}

/**
 * An EventSink that POSTs each event to `url`.
 *
 * @example
 * const sink = createWebhookSink({ url: 'https://hooks.example.com/mailpki', secret: process.env.HOOK_SECRET! });
 * const manager = new LifecycleManager({ ..., sinks: [sink] });
 * await manager.deliverEvents();
 */
export function createWebhookSink(options: WebhookSinkOptions): WebhookSink {
  const o = parseInput(optionsSchema, options, 'webhook sink options');
  const doFetch = o.fetch ?? ((globalThis as { fetch?: typeof fetch }).fetch as typeof fetch);
  if (typeof doFetch !== 'function') throw new MailPkiError('ERR_UNSUPPORTED_RUNTIME', 'no fetch available: pass one with the `fetch` option');
  const clock = o.clock ?? systemClock;
  const crypto = resolveCrypto(o.crypto as Crypto | undefined);
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const keyPromise = hmacKey(crypto, o.secret);
  const queue: Array<{ event: LifecycleEvent; resolve: () => void; reject: (e: unknown) => void }> = [];
  let inFlight = 0;

  const attempt = async (event: LifecycleEvent, body: string): Promise<{ retry: boolean; error?: MailPkiError }> => {
    const t = Math.floor(clock().getTime() / 1000);
    const signature = await signPayload(await keyPromise, crypto, t, body);
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), o.timeoutMs);
    try {
      const res = await doFetch(o.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [SIGNATURE_HEADER]: `t=${t},v1=${signature}`,
          [EVENT_ID_HEADER]: event.id,
        },
        body,
        signal: abort.signal,
      });
      // The body is not needed; reading it frees the connection.
      await res.arrayBuffer().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return { retry: false };
      const retry = res.status >= 500 || res.status === 408 || res.status === 429;
      return { retry, error: new MailPkiError('ERR_IO', `webhook ${o.url} answered HTTP ${res.status}`, { details: { status: res.status } }) };
    } catch (e) {
      const what = abort.signal.aborted ? `timed out after ${o.timeoutMs} ms` : `failed: ${(e as Error).message}`;
      return { retry: true, error: new MailPkiError('ERR_IO', `webhook POST to ${o.url} ${what}`, { cause: e }) };
    } finally {
      clearTimeout(timer);
    }
  };

  const send = async (event: LifecycleEvent): Promise<void> => {
    const body = JSON.stringify(event);
    for (let i = 0; ; i++) {
      const r = await attempt(event, body);
      if (!r.error) return;
      if (!r.retry || i >= o.retries) throw r.error;
      await sleep(backoffDelay(o.backoffMs, i));
    }
  };

  const pump = (): void => {
    while (inFlight < o.concurrency && queue.length > 0) {
      const job = queue.shift()!;
      inFlight++;
      send(job.event)
        .then(job.resolve, job.reject)
        .finally(() => {
          inFlight--;
          pump();
        });
    }
  };

  return {
    name: `webhook ${o.url}`,
    get pending() {
      return { queued: queue.length, inFlight };
    },
    deliver(event: LifecycleEvent): Promise<void> {
      if (queue.length >= o.maxQueue)
        return Promise.reject(
          new MailPkiError('ERR_INPUT_TOO_LARGE', `webhook queue is full (${o.maxQueue} waiting); the event stays in the outbox`, {
            details: { limit: o.maxQueue },
          }),
        );
      return new Promise<void>((resolve, reject) => {
        queue.push({ event, resolve, reject });
        pump();
      });
    },
  };
}

async function hmacKey(crypto: Crypto, secret: string | Uint8Array): Promise<CryptoKey> {
  const raw = typeof secret === 'string' ? utf8(secret) : secret;
  return crypto.subtle.importKey('raw', copyBytes(raw), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
}

async function signPayload(key: CryptoKey, crypto: Crypto, t: number, body: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.sign('HMAC', key, copyBytes(utf8(`${t}.${body}`)))));
}

/** The `Mailpki-Signature` value for a body (what the sink sends; for receivers' tests). */
export async function signWebhookBody(
  body: string,
  secret: string | Uint8Array,
  options: { now?: Date; crypto?: Crypto } = {},
): Promise<string> {
  const crypto = resolveCrypto(options.crypto);
  const t = Math.floor((options.now ?? new Date()).getTime() / 1000);
  return `t=${t},v1=${await signPayload(await hmacKey(crypto, secret), crypto, t, body)}`;
}

export type WebhookSignatureResult =
  | { ok: true; timestamp: Date }
  | { ok: false; problem: 'malformed-header' | 'timestamp-out-of-tolerance' | 'signature-mismatch'; message: string };

/**
 * Checks a received webhook: the header must carry `t=<unix seconds>` within `toleranceSec`
 * (default 300) of `now` and a `v1=` HMAC of "<t>.<body>" under `secret` (several v1 entries
 * are accepted, for secret rotation). Compared in constant time by WebCrypto. Returns a verdict;
 * only a caller mistake throws.
 *
 * @example
 * const r = await verifyWebhookSignature(rawBody, req.headers['mailpki-signature'], secret);
 * if (!r.ok) return res.writeHead(400).end(r.problem);
 */
export async function verifyWebhookSignature(
  body: string | Uint8Array,
  header: string | undefined | null,
  secret: string | Uint8Array,
  options: { toleranceSec?: number; now?: Date; crypto?: Crypto } = {},
): Promise<WebhookSignatureResult> {
  const crypto = resolveCrypto(options.crypto);
  const tolerance = options.toleranceSec ?? 300;
  const now = options.now ?? new Date();
  const parts = (header ?? '').split(',').map((p) => p.trim());
  let t: number | undefined;
  const sigs: Uint8Array[] = [];
  for (const p of parts) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    const k = p.slice(0, eq);
    const v = p.slice(eq + 1);
    if (k === 't' && /^\d{1,12}$/.test(v)) t = Number(v);
    else if (k === 'v1' && /^[0-9a-f]{64}$/i.test(v)) sigs.push(fromHex(v.toLowerCase()));
  }
  if (t === undefined || sigs.length === 0)
    return { ok: false, problem: 'malformed-header', message: `${SIGNATURE_HEADER} must be "t=<unix seconds>,v1=<hex HMAC-SHA256>"` };
  if (Math.abs(now.getTime() / 1000 - t) > tolerance)
    return { ok: false, problem: 'timestamp-out-of-tolerance', message: `signature time ${t} is more than ${tolerance} s from now` };
  const key = await hmacKey(crypto, secret);
  const data = copyBytes(concatBytes([utf8(`${t}.`), typeof body === 'string' ? utf8(body) : body]));
  for (const sig of sigs) if (await crypto.subtle.verify('HMAC', key, copyBytes(sig), data)) return { ok: true, timestamp: new Date(t * 1000) };
  return { ok: false, problem: 'signature-mismatch', message: 'no v1 signature matches this body and secret' };
}
