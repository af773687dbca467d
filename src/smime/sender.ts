/**
 * Sender binding: which mailbox the message claims to be from, read strictly enough that the
 * spoofing tricks (two From fields, two mailboxes, a name that holds another address, an
 * empty or name-only From, a different Sender) are problems rather than guesses.
 */
import { getHeaders, normalizeAddress, parseAddressList, readAuthor, type AuthorProblemCode, type MimeEntity } from '../mime/index.js';
import type { SmimeProblem } from './verdict.js';

export interface FromResult {
  address?: string;
  name?: string;
  problems: SmimeProblem[];
}

export function readFrom(entity: MimeEntity): FromResult {
  // One author reader for S/MIME binding, DKIM alignment and Authentication-Results (mime/author.ts).
  const r = readAuthor(entity);
  // Without a mailbox, SMIME_FROM_NO_ADDRESS already names the decoded encoded word.
  const problems: SmimeProblem[] = r.problems
    .filter((p) => r.shown || p.code !== 'encoded-word-address')
    .map((p) => ({ code: SMIME_CODE[p.code], message: p.message }));
  if (!r.shown) return { problems };
  const out: FromResult = { address: r.shown.address, problems };
  if (r.shown.mailbox.name !== undefined) out.name = r.shown.mailbox.name;
  return out;
}

const SMIME_CODE: Record<AuthorProblemCode, SmimeProblem['code']> = {
  missing: 'SMIME_FROM_MISSING',
  'several-fields': 'SMIME_FROM_MULTIPLE_FIELDS',
  empty: 'SMIME_FROM_EMPTY',
  'no-address': 'SMIME_FROM_NO_ADDRESS',
  'several-mailboxes': 'SMIME_FROM_MULTIPLE_MAILBOXES',
  group: 'SMIME_FROM_MULTIPLE_MAILBOXES',
  malformed: 'SMIME_FROM_MULTIPLE_MAILBOXES',
  'route-address': 'SMIME_FROM_MULTIPLE_MAILBOXES',
  'space-before-colon': 'SMIME_FROM_MULTIPLE_MAILBOXES',
  'control-character': 'SMIME_FROM_MULTIPLE_MAILBOXES',
  'not-utf8': 'SMIME_FROM_MULTIPLE_MAILBOXES',
  'display-name-address': 'SMIME_FROM_DISPLAY_NAME_ADDRESS',
  'address-in-local-part': 'SMIME_FROM_DISPLAY_NAME_ADDRESS',
  'encoded-word-address': 'SMIME_FROM_DISPLAY_NAME_ADDRESS',
};

/** RFC 5322 Sender: when present it must be the From mailbox, or clients show another author. */
export function checkSender(entity: MimeEntity, fromAddress: string | undefined): SmimeProblem[] {
  const fields = getHeaders(entity, 'Sender');
  if (fields.length === 0) return [];
  if (fields.length > 1) return [{ code: 'SMIME_SENDER_MISMATCH', message: `the message has ${fields.length} Sender fields` }];
  const list = parseAddressList(fields[0]!.value);
  const sender = list.mailboxes[0];
  if (!sender || list.mailboxes.length !== 1)
    return [{ code: 'SMIME_SENDER_MISMATCH', message: 'the Sender field is not a single mailbox' }];
  if (fromAddress === undefined || !sameMailbox(sender.address, fromAddress))
    return [{ code: 'SMIME_SENDER_MISMATCH', message: `the Sender ${sender.address} differs from the From mailbox ${fromAddress ?? '(none)'}` }];
  return [];
}

/** Mailbox equality: the domain case-insensitively, the local part exactly (RFC 5321 §2.4). */
export function sameMailbox(a: string, b: string): boolean {
  return normalizeAddress(a) === normalizeAddress(b);
}
