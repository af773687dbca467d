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
    const init: RequestInit = { method: o.method ?? 'GET', signal: controller.signal, redirect: 'follow' };
    const headers: Record<string, string> = {};
    if (o.contentType) headers['content-type'] = o.contentType;
    if (o.accept) headers.accept = o.accept;
    init.headers = headers;
    if (o.body) init.body = o.body.slice();
    let res: Response;
    try {
      res = await o.fetch(url, init);
    } catch (e) {
      throw unavailable(url, controller.signal.aborted ? `no answer within ${o.timeoutMs} ms` : `cannot connect (${(e as Error)?.message ?? e})`, e);
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
