/** Header fields as parsed, and lookup by name. */
import { decodeUtf8OrLatin1 } from './charset.js';

export interface HeaderField {
  /** The field name as written (trailing white space before the colon removed). */
  readonly name: string;
  /** The unfolded value: CRLFs removed, leading/trailing white space trimmed; encoded words not decoded. */
  readonly value: string;
  /** Offset of the field in the canonical message. */
  readonly start: number;
  /** Offset just past the field's final CRLF (or past its last byte when the entity ends there). */
  readonly end: number;
  /** The exact bytes of the field, folding and final CRLF included (a view: do not modify). */
  readonly raw: Uint8Array;
}

/** Anything with header fields: a parsed entity. */
export interface HasHeaders {
  readonly headers: readonly HeaderField[];
}

/**
 * All fields named `name` (case-insensitive), in message order. Returns every occurrence so
 * callers can refuse ambiguous messages, e.g. two From fields.
 */
export function getHeaders(entity: HasHeaders, name: string): HeaderField[] {
  const wanted = name.toLowerCase();
  return entity.headers.filter((h) => h.name.toLowerCase() === wanted);
}

/** Unfolds (RFC 5322 §2.2.3) and decodes a field's value bytes: UTF-8 when valid, else latin1. */
export function unfoldValue(valueBytes: Uint8Array): string {
  let n = 0;
  const out = new Uint8Array(valueBytes.length);
  for (const b of valueBytes) if (b !== 0x0d && b !== 0x0a) out[n++] = b;
  return trimWsp(decodeUtf8OrLatin1(out.subarray(0, n)));
}

function trimWsp(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s[a] === ' ' || s[a] === '\t')) a++;
  while (b > a && (s[b - 1] === ' ' || s[b - 1] === '\t')) b--;
  return s.slice(a, b);
}
