/**
 * Who did it and why, as the audit log records them (one definition for every manager).
 *
 * An actor is a name a reader must be able to trust to be what it looks like: trimmed, 1–500 characters,
 * no control character (a line break shows one actor as two lines, NUL ends it for C tools), no line or
 * paragraph separator, no bidirectional control ('\u202Eecila' shows as 'alice') and no lone surrogate.
 * A reason is free text (line breaks allowed) without a lone surrogate: SQLite stores one as U+FFFD and the
 * record would no longer match its hash. Both are refused before anything is generated, asked or written.
 */
import { z } from 'zod';

// \p{Cc}: C0, DEL, C1. \p{Cs}: a lone surrogate (a well-formed pair is one code point under /u).
const HIDDEN = /[\p{Cc}\p{Cs}\u061C\u200E\u200F\u2028\u2029\u202A-\u202E\u2066-\u2069]/u;
const LONE_SURROGATE = /\p{Cs}/u;

export const actorSchema = z
  .string()
  .trim()
  .min(1, 'who did it: a non-empty actor string')
  .max(500)
  .refine((v) => !HIDDEN.test(v), 'no control character, line separator, bidirectional control or lone surrogate');

/** A reason (or other free text) that goes into an audit record's column. */
export const reasonSchema = (min = 0) =>
  z
    .string()
    .min(min)
    .max(4096)
    .refine((v) => !LONE_SURROGATE.test(v), 'a lone surrogate (not well-formed UTF-16)');
