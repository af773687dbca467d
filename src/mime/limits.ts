/** Resource limits for MIME parsing, so hostile input gives a coded error instead of exhausting memory or stack. */
import { z } from 'zod';
import { parseInput } from '../internal/validate.js';

export interface MimeLimits {
  /** Largest message accepted, in bytes, before and after line-end canonicalisation. */
  readonly maxMessageBytes: number;
  /** Deepest entity accepted: the root is depth 0, each multipart or message/rfc822 level adds 1. */
  readonly maxDepth: number;
  /** Most entities (root included) in one message. */
  readonly maxParts: number;
  /** Most header fields in one entity's header block. */
  readonly maxHeaderFields: number;
  /** Longest physical header line, in bytes, without its CRLF (RFC 5322 says 998; real mail is sloppier). */
  readonly maxHeaderLineLength: number;
}

export const DEFAULT_MIME_LIMITS: MimeLimits = Object.freeze({
  maxMessageBytes: 64 * 1024 * 1024,
  maxDepth: 32,
  maxParts: 1000,
  maxHeaderFields: 1000,
  maxHeaderLineLength: 32 * 1024,
});

// The parser keeps open entities on its own stack, not the call stack, so any accepted depth is safe
// whatever the JavaScript stack size; maxDepth is capped because each entity's path grows with it.
const positive = z.number().int().positive();
const limitsSchema = z
  .object({
    maxMessageBytes: positive.max(2 ** 31 - 1),
    maxDepth: positive.max(1000),
    maxParts: positive,
    maxHeaderFields: positive,
    maxHeaderLineLength: positive,
  })
  .partial()
  .strict();

/** Defaults overridden by the caller's (validated) values. */
export function resolveMimeLimits(limits: Partial<MimeLimits> | undefined): MimeLimits {
  if (limits === undefined) return DEFAULT_MIME_LIMITS;
  const given = parseInput(limitsSchema, limits, 'MIME limits');
  return { ...DEFAULT_MIME_LIMITS, ...stripUndefined(given) };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
