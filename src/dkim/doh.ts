/** A DKIM key resolver over DNS-over-HTTPS (the JSON form served by Google, Cloudflare, …), `fetch` injected. */
import { MailPkiError } from '../errors.js';
import type { DkimResolver } from './resolver.js';

export interface DohResolverOptions {
  /** The JSON API endpoint, e.g. 'https://cloudflare-dns.com/dns-query'. */
  url: string;
  /** Default globalThis.fetch. */
  fetch?: typeof fetch;
  /** Default 5000. */
  timeoutMs?: number;
}

/**
 * A resolver that asks `url?name=…&type=TXT` with `accept: application/dns-json`. NXDOMAIN
 * (Status 3) and an empty answer are "not found"; other statuses and HTTP errors throw (temperror).
 *
 * @example
 * const resolver = dohResolver({ url: 'https://cloudflare-dns.com/dns-query' });
 */
export function dohResolver(options: DohResolverOptions): DkimResolver {
  const f = options?.fetch ?? (globalThis as { fetch?: typeof fetch }).fetch;
  if (typeof f !== 'function') throw new MailPkiError('ERR_UNSUPPORTED_RUNTIME', 'no fetch available: pass one with the `fetch` option');
  let base: URL;
  try {
    base = new URL(options.url);
  } catch (e) {
    throw new MailPkiError('ERR_INVALID_INPUT', 'url: not a URL', { cause: e, details: { field: 'url' } });
  }
  const timeoutMs = options.timeoutMs ?? 5000;
  return async (name) => {
    const url = new URL(base);
    url.searchParams.set('name', name);
    url.searchParams.set('type', 'TXT');
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), timeoutMs);
    let body: unknown;
    try {
      let res: Response;
      try {
        res = await f(url.toString(), { headers: { accept: 'application/dns-json' }, signal: ac.signal });
      } catch (e) {
        throw new MailPkiError('ERR_DNS_UNAVAILABLE', ac.signal.aborted ? `DNS-over-HTTPS: no answer within ${timeoutMs} ms` : 'DNS-over-HTTPS: cannot connect', { cause: e });
      }
      if (!res.ok) throw new MailPkiError('ERR_DNS_UNAVAILABLE', `DNS-over-HTTPS answered HTTP ${res.status}`);
      try {
        body = await res.json();
      } catch (e) {
        throw new MailPkiError('ERR_DNS_RESPONSE_INVALID', 'DNS-over-HTTPS answer is not JSON', { cause: e });
      }
    } finally {
      clearTimeout(timer);
    }
    const b = body as { Status?: unknown; Answer?: unknown };
    if (b?.Status === 3) return [];
    if (b?.Status !== 0) throw new MailPkiError('ERR_DNS_UNAVAILABLE', `DNS-over-HTTPS status ${String(b?.Status)}`);
    if (!Array.isArray(b.Answer)) return [];
    const out: string[][] = [];
    for (const a of b.Answer as { type?: unknown; data?: unknown }[]) {
      if (a?.type !== 16 || typeof a.data !== 'string') continue;
      out.push(parseTxtData(a.data));
    }
    return out;
  };
}

/** TXT data as presentation text: `"a" "b"` (with \" \\ \DDD escapes), or one bare string. */
export function parseTxtData(data: string): string[] {
  const s = data.trim();
  if (!s.startsWith('"')) return [s];
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    if (s[i] === ' ' || s[i] === '\t') {
      i++;
      continue;
    }
    if (s[i] !== '"') {
      const sp = s.indexOf(' ', i);
      out.push(s.slice(i, sp < 0 ? undefined : sp));
      i = sp < 0 ? s.length : sp;
      continue;
    }
    let cur = '';
    i++;
    while (i < s.length && s[i] !== '"') {
      if (s[i] === '\\' && i + 1 < s.length) {
        const dec = /^[0-9]{3}/.exec(s.slice(i + 1, i + 4));
        if (dec) {
          cur += String.fromCharCode(Number(dec[0]) & 0xff);
          i += 4;
        } else {
          cur += s[i + 1];
          i += 2;
        }
      } else cur += s[i++];
    }
    i++;
    out.push(cur);
  }
  return out;
}
