/**
 * Signed fields with unsigned twins (RFC 6376 §5.4.2, §8.15): a verifier takes a signed field's
 * instances from the bottom up, so a second Subject added on top of a message whose signer listed
 * Subject once leaves the signature valid while a mail client shows the added one.
 */
import type { RawHeaderField } from './message.js';

/**
 * Fields a message carries at most once: RFC 5322 §3.6's table (Date, From, Sender, Reply-To, To,
 * Cc, Bcc, Message-ID, In-Reply-To, References, Subject) and the top-level MIME fields of RFC 2045
 * §3 (MIME-Version, Content-Type, Content-Transfer-Encoding), which decide how the body is shown.
 * Fields that may repeat (Received, Comments, Keywords, Resent-*, trace fields) are not here.
 */
export const SINGLE_INSTANCE_FIELDS: readonly string[] = Object.freeze([
  'date',
  'from',
  'sender',
  'reply-to',
  'to',
  'cc',
  'bcc',
  'message-id',
  'in-reply-to',
  'references',
  'subject',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
]);

const SINGLE = new Set(SINGLE_INSTANCE_FIELDS);

/** A field the signature signs fewer times than the message carries it. */
export interface UnsignedInstance {
  /** The field name, lower-cased ('subject'). */
  readonly field: string;
  /** How many instances h= covers (its count of the name). */
  readonly signed: number;
  /** How many instances the message has. */
  readonly present: number;
}

/** How many fields of each single-instance name the message has (names matched as h= matches them). */
export function countSingleInstanceFields(headers: readonly RawHeaderField[]): ReadonlyMap<string, number> {
  const counts = new Map<string, number>();
  for (const h of headers) if (SINGLE.has(h.key)) counts.set(h.key, (counts.get(h.key) ?? 0) + 1);
  return counts;
}

/**
 * The single-instance fields that h= signs at least once but fewer times than the message has them:
 * the instances above the signed ones are unsigned, and a reader may show one of them. A field h=
 * does not list at all is not reported (the signer vouched for none of it); one h= over-signs
 * (lists more often than present) cannot gain an instance without breaking the signature.
 */
export function findUnsignedInstances(counts: ReadonlyMap<string, number>, signedNames: readonly string[]): UnsignedInstance[] {
  const signed = new Map<string, number>();
  for (const n of signedNames) if (SINGLE.has(n)) signed.set(n, (signed.get(n) ?? 0) + 1);
  const out: UnsignedInstance[] = [];
  for (const [field, n] of signed) {
    const present = counts.get(field) ?? 0;
    if (present > n) out.push({ field, signed: n, present });
  }
  return out;
}

/**
 * Fields a mail client shows beside the author and a reader acts on: what the message is about
 * (Subject) and who stands behind it or gets the answer (Sender, Reply-To). A signature that does not
 * list one the message carries vouches for none of it (RFC 6376 §5.4 recommends signing them).
 */
export const SHOWN_FIELDS: readonly string[] = Object.freeze(['subject', 'sender', 'reply-to']);

/** The SHOWN_FIELDS the message carries that h= does not list at all: anyone may have written them. */
export function findUnsignedShownFields(counts: ReadonlyMap<string, number>, signedNames: readonly string[]): string[] {
  return SHOWN_FIELDS.filter((f) => (counts.get(f) ?? 0) > 0 && !signedNames.includes(f));
}

const DISPLAY: Record<string, string> = { 'message-id': 'Message-ID', 'mime-version': 'MIME-Version', cc: 'Cc', bcc: 'Bcc' };

/** 'subject' → 'Subject', 'reply-to' → 'Reply-To', for sentences. */
export function fieldDisplayName(field: string): string {
  return DISPLAY[field] ?? field.replace(/(^|-)([a-z])/g, (_, d: string, c: string) => d + c.toUpperCase());
}
