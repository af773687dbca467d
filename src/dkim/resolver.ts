/** The DNS lookup DKIM verification needs, injected so the core runs anywhere. */

/**
 * Looks up the TXT records of `name`. Each record is a list of character-strings (joined by the
 * verifier) or one string. "No such name" or "no TXT record" is an empty list (or an error whose
 * `code` is ENOTFOUND, ENODATA or NXDOMAIN); any other error (timeout, SERVFAIL) is temporary.
 */
export type DkimResolver = (name: string) => Promise<readonly (readonly string[])[] | readonly string[]>;

const NOT_FOUND = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN', 'NODATA']);

/** True for an error that means the name or record does not exist (a permanent answer). */
export function isNotFound(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && NOT_FOUND.has(code);
}

/** An in-memory resolver from a map of name to TXT value(s), for tests and cached keys. */
export function staticResolver(records: Readonly<Record<string, string | readonly string[]>>): DkimResolver {
  const map = new Map(Object.entries(records).map(([k, v]) => [k.toLowerCase().replace(/\.$/, ''), typeof v === 'string' ? [v] : [...v]]));
  return async (name) => map.get(name.toLowerCase().replace(/\.$/, '')) ?? [];
}
