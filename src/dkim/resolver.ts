/** The DNS lookup DKIM verification needs, injected so the core runs anywhere. */
import type { dohResolver } from './doh.js';
import { runtimeBuiltin } from '../internal/runtime.js';

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

/** Options of a resolver on the runtime's DNS client. */
export interface DnsClientOptions {
  /** DNS servers ('127.0.0.1:5353', '[::1]:53'); default the system's. */
  servers?: readonly string[];
  /** Per-try timeout in milliseconds; default 5000. */
  timeoutMs?: number;
  /** Tries per server; default 2. */
  tries?: number;
}

/** The part of node:dns/promises' Resolver (also in Deno and Bun) a DkimResolver needs. */
export interface DnsClient {
  resolveTxt(name: string): Promise<string[][]>;
  setServers(servers: string[]): void;
}
export type DnsClientConstructor = new (options?: { timeout?: number; tries?: number }) => DnsClient;

/**
 * A DkimResolver on a node:dns-style Resolver class. NXDOMAIN and "no TXT record" come back as an
 * empty list (verify reports permerror "no key"); timeouts, SERVFAIL and refusals throw (verify
 * reports temperror).
 */
export function dnsClientResolver(Resolver: DnsClientConstructor, options: DnsClientOptions = {}): DkimResolver {
  const r = new Resolver({ timeout: options.timeoutMs ?? 5000, tries: options.tries ?? 2 });
  if (options.servers?.length) r.setServers([...options.servers]);
  return async (name) => {
    try {
      return await r.resolveTxt(name);
    } catch (e) {
      if (isNotFound(e)) return [];
      throw e;
    }
  };
}

/**
 * A resolver on the runtime's own DNS client (node:dns in Node, Deno and Bun), found without
 * importing a Node module so this file runs anywhere; undefined where there is none (browsers,
 * workers): use {@link dohResolver} there.
 */
export function systemDnsResolver(options: DnsClientOptions = {}): DkimResolver | undefined {
  const Resolver = runtimeBuiltin<{ promises: { Resolver?: DnsClientConstructor } }>('node:dns')?.promises?.Resolver;
  return Resolver ? dnsClientResolver(Resolver, options) : undefined;
}
