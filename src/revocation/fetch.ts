/** HTTP for revocation: injected fetch, a timeout, a size cap, and bounded concurrency. */
import { MailPkiError } from '../errors.js';
import { concatBytes } from '../internal/bytes.js';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface HttpGetOptions {
  fetch: FetchLike;
  timeoutMs: number;
  maxBytes: number;
  method?: 'GET' | 'POST';
  body?: Uint8Array;
  contentType?: string;
  accept?: string;
}

const unavailable = (url: string, why: string, cause?: unknown) =>
  new MailPkiError('ERR_REVOCATION_UNAVAILABLE', `${url}: ${why}`, cause === undefined ? {} : { cause });

/** Fetches `url` and returns the body; every failure is ERR_REVOCATION_UNAVAILABLE with the reason. */
export async function httpFetchBytes(url: string, o: HttpGetOptions): Promise<Uint8Array> {
  if (!/^https?:\/\//i.test(url)) throw unavailable(url, 'only http and https URLs are fetched');
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), o.timeoutMs);
  try {
    const headers: Record<string, string> = {};
    if (o.contentType) headers['content-type'] = o.contentType;
    if (o.accept) headers.accept = o.accept;
    let res!: Response;
    // Redirects are followed here, on the same host only: the URL is a CA's (or, on plain HTTP, whoever is on the
    // path), and a checker inside a network must not be sent to another host by it.
    for (let hop = 0, at = url; ; hop++) {
      const init: RequestInit = { method: o.method ?? 'GET', signal: controller.signal, redirect: 'manual', headers };
      if (o.body) init.body = o.body.slice();
      try {
        res = await o.fetch(at, init);
      } catch (e) {
        throw unavailable(url, controller.signal.aborted ? `no answer within ${o.timeoutMs} ms` : `cannot connect (${(e as Error)?.message ?? e})`, e);
      }
      if (!REDIRECTS.has(res.status)) break;
      await res.body?.cancel().catch(() => undefined);
      const next = redirectTarget(at, res.headers.get('location'));
      if (!next) throw unavailable(url, `HTTP ${res.status} without a usable http(s) Location`);
      // Host and port (a scheme's default port is no port: http://h/ → https://h/ is followed; h:6379 is another service).
      if (next.host !== new URL(url).host) throw unavailable(url, `HTTP ${res.status}: redirect to another host (${next.host}) not followed`);
      if (hop + 1 > MAX_REDIRECTS) throw unavailable(url, `more than ${MAX_REDIRECTS} redirects`);
      at = next.href;
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw unavailable(url, `HTTP ${res.status}`);
    }
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > o.maxBytes) {
      await res.body?.cancel().catch(() => undefined);
      throw unavailable(url, `answer of ${declared} bytes is over the ${o.maxBytes}-byte limit`);
    }
    if (!res.body) return new Uint8Array(await res.arrayBuffer());
    const reader = res.body.getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        throw unavailable(url, controller.signal.aborted ? `no complete answer within ${o.timeoutMs} ms` : 'the connection broke', e);
      }
      if (r.done) break;
      total += r.value.length;
      if (total > o.maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw unavailable(url, `answer is over the ${o.maxBytes}-byte limit`);
      }
      chunks.push(r.value);
    }
    return concatBytes(chunks);
  } finally {
    clearTimeout(timer);
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Same-host redirects followed at most (e.g. http → https, a moved path). */
export const MAX_REDIRECTS = 3;

function redirectTarget(from: string, location: string | null): URL | undefined {
  if (!location) return undefined;
  try {
    const u = new URL(location, from);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u : undefined;
  } catch {
    return undefined;
  }
}

/** At most `limit` tasks at once; the rest wait their turn. */
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}
