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
export const reasonSchema = (min = 0) => freeText(4096).min(min);

/** Free text of an identity (purpose, contact, tags): anything but a lone surrogate, which SQLite would store as U+FFFD. */
export const freeText = (max: number) => z.string().max(max).refine((v) => !LONE_SURROGATE.test(v), 'a lone surrogate (not well-formed UTF-16)');

/** A name an identity is accountable to (owner team, approver): trimmed, the actor's rule. */
export const nameText = (max: number) =>
  z
    .string()
    .trim()
    .max(max)
    .refine((v) => !HIDDEN.test(v), 'no control character, line separator, bidirectional control or lone surrogate');

/** No control character or lone surrogate (for a mailbox's local part, which the address pattern leaves open). */
export const hasHiddenCharacter = (v: string): boolean => HIDDEN.test(v);
