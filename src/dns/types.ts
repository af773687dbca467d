/** What the DKIM lifecycle needs from DNS: a way to publish records, and a way to read them back. */

/** A TXT record to publish. `value` is the whole record; publishers cut it into ≤ 255-byte strings. */
export interface DnsTxtRecord {
  /** Owner name, e.g. `mp2026011._domainkey.example.com` (no trailing dot needed). */
  name: string;
  value: string;
  /** Seconds; default the publisher's. */
  ttl?: number;
}

/**
 * Publishes DKIM key records. `publish` replaces whatever TXT the name held; `retire` replaces it
 * with a revocation record (`p=` empty, RFC 6376 §3.6.1); `remove` deletes the TXT RRset.
 * All three are idempotent: the lifecycle calls them again after a crash or a failure.
 */
export interface DnsPublisher {
  /** Shown in audit records: 'manual', 'rfc2136', … */
  readonly name: string;
  /** True when the publisher changes DNS itself; false when people do it from the events. */
  readonly automatic: boolean;
  publish(record: DnsTxtRecord): Promise<void>;
  /** `value` defaults to `v=DKIM1; p=`. */
  retire(record: { name: string; value?: string; ttl?: number }): Promise<void>;
  remove(record: { name: string }): Promise<void>;
}

/**
 * Looks up the TXT records at a name: one entry per record, each the record's character-strings
 * (or the record as one string). Resolves `[]` when there is none (NXDOMAIN, NODATA); throws when
 * the lookup failed (an error whose `code` is ENOTFOUND, ENODATA or NXDOMAIN also means "none").
 * The same shape as `DkimResolver`, so `nodeDnsResolver()` and `dohResolver()` fit as they are.
 */
export type DnsTxtResolver = (name: string) => Promise<readonly (readonly string[])[] | readonly string[]>;
