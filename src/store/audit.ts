/**
 * The audit hash chain. Each record commits to the one before it:
 *
 *   hash = hex(SHA-256(UTF-8(prevHash) || UTF-8(canonicalJson(record without `hash`))))
 *
 * with prevHash = 64 zeros for seq 1. See docs/store.md for the canonical JSON rules.
 */
import { toHex, utf8 } from '../internal/bytes.js';
import { sha256 } from '../internal/sha.js';
import { z } from 'zod';
import type { AuditRecord, NewAuditRecord } from './types.js';
import { MailPkiError } from '../errors.js';
import { parseInput } from '../internal/validate.js';

/** prevHash of the first record. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * Canonical JSON (RFC 8785 JCS for the values audit records hold): object members sorted by key
 * (UTF-16 code units), members whose value is undefined left out, no white space, strings and
 * numbers as JSON.stringify writes them, Date as its ISO 8601 string (`toISOString`). Non-finite
 * numbers, bigint, functions, symbols and other objects than plain ones, arrays and Dates are refused.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new MailPkiError('ERR_INVALID_INPUT', 'canonicalJson: non-finite number', { details: { field: 'payload' } });
      return JSON.stringify(value);
    case 'object': {
      if (value instanceof Date) {
        if (Number.isNaN(value.getTime())) throw new MailPkiError('ERR_INVALID_INPUT', 'canonicalJson: invalid date', { details: { field: 'payload' } });
        return JSON.stringify(value.toISOString());
      }
      if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) throw new MailPkiError('ERR_INVALID_INPUT', 'canonicalJson: only plain objects, arrays and dates', { details: { field: 'payload' } });
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
    }
    default:
      throw new MailPkiError('ERR_INVALID_INPUT', `canonicalJson: cannot encode a ${typeof value}`, { details: { field: 'payload' } });
  }
}

/** The hash a record must carry, given its fields (seq and prevHash included). */
export function auditHash(record: Omit<AuditRecord, 'hash'> & { hash?: string }): string {
  const { hash: _ignored, ...rest } = record;
  return toHex(sha256(utf8(record.prevHash + canonicalJson(rest))));
}

/** Builds the next record of the chain after `last` (undefined: the first). */
export function chainAudit(r: NewAuditRecord, last: { seq: number; hash: string } | undefined): AuditRecord {
  const unsigned = { ...r, seq: last ? last.seq + 1 : 1, prevHash: last ? last.hash : GENESIS_HASH };
  return { ...unsigned, hash: auditHash(unsigned) };
}

export type AuditProblem = 'changed' | 'removed' | 'reordered' | 'inserted';

export interface AuditVerification {
  ok: boolean;
  /** Records that verified before the first problem (all of them when ok). */
  checked: number;
  /** The seq where the chain first fails (for 'removed' and 'reordered': the seq expected there). */
  firstBadSeq?: number;
  problem?: AuditProblem;
}

export interface VerifyAuditOptions {
  /**
   * Where the records start when they are not the whole log: the seq and hash of the record just
   * before the first one given.
   */
  anchor?: { seq: number; hash: string };
  /**
   * A (seq, hash) kept somewhere else (a ticket, a second system): the log must still contain that
   * record with that hash. Without one, a chain cut at the end or entirely rewritten from some record on
   * still verifies: an unkeyed hash chain only proves consistency. Records after the head (the log
   * grew since) are checked for consistency only. A head before the anchor (outside the slice) is not checked.
   */
  head?: { seq: number; hash: string };
}

const auditPointSchema = z.object({ seq: z.number().int().min(1), hash: z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits') }).strict();

/** Checks a kept head or an anchor: a caller's (seq, hash), ERR_INVALID_INPUT naming the field otherwise. */
export function parseAuditPoint(value: unknown, what: 'head' | 'anchor'): { seq: number; hash: string } {
  return parseInput(auditPointSchema, value, `audit ${what}`);
}

/**
 * Checks records in the order given (as `listAudit` returns them): consecutive seq from 1 (or the
 * anchor), each hash recomputed, each prevHash the previous hash.
 *
 * A record edited in place is 'changed' at its seq; edited and re-hashed, the next record's link
 * breaks and it is reported 'changed' at the edited seq. A missing seq is 'removed', a seq out of
 * order 'reordered', a duplicate seq 'inserted'.
 */
export function verifyAuditChain(records: readonly AuditRecord[], options: VerifyAuditOptions = {}): AuditVerification {
  if (options.anchor) parseAuditPoint(options.anchor, 'anchor');
  if (options.head) parseAuditPoint(options.head, 'head');
  let expectedSeq = options.anchor ? options.anchor.seq + 1 : 1;
  let expectedPrev = options.anchor ? options.anchor.hash : GENESIS_HASH;
  const seen = new Set<number>();
  const bad = (checked: number, firstBadSeq: number, problem: AuditProblem): AuditVerification => ({ ok: false, checked, firstBadSeq, problem });

  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    if (r.seq !== expectedSeq) {
      if (seen.has(r.seq)) return bad(i, r.seq, 'inserted');
      const later = records.slice(i + 1).some((x) => x.seq === expectedSeq);
      if (r.seq < expectedSeq || later) return bad(i, expectedSeq, 'reordered');
      return bad(i, expectedSeq, 'removed');
    }
    let own: string;
    try {
      own = auditHash(r);
    } catch {
      return bad(i, r.seq, 'changed');
    }
    if (own !== r.hash) return bad(i, r.seq, 'changed');
    // Own hash fine but the link broken: the record before was edited and re-hashed (or this one forged).
    if (r.prevHash !== expectedPrev) return bad(Math.max(0, i - 1), i === 0 ? r.seq : r.seq - 1, 'changed');
    seen.add(r.seq);
    expectedSeq = r.seq + 1;
    expectedPrev = r.hash;
  }

  if (options.head) {
    const h = options.head;
    const at = records.find((r) => r.seq === h.seq);
    if (!at) {
      const last = records.length ? records[records.length - 1]!.seq : (options.anchor?.seq ?? 0);
      if (last < h.seq) return bad(records.length, last + 1, 'removed');
      // The head is the anchor itself: its hash is all there is to compare.
      if (options.anchor && h.seq === options.anchor.seq && h.hash !== options.anchor.hash) return bad(records.length, h.seq, 'changed');
    } else if (at.hash !== h.hash) {
      return bad(records.length, h.seq, 'changed');
    }
  }
  return { ok: true, checked: records.length };
}

/** JSON Lines: one canonical JSON object per record (dates as ISO strings), each line ending in \n. */
export function exportAuditJsonl(records: readonly AuditRecord[]): string {
  return records.map((r) => `${canonicalJson(r)}\n`).join('');
}
