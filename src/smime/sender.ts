/**
 * Sender binding: which mailbox the message claims to be from, read strictly enough that the
 * spoofing tricks (two From fields, two mailboxes, a name that holds another address, an
 * empty or name-only From, a different Sender) are problems rather than guesses.
 */
import { mailboxKey, mailboxParts } from '../internal/mailbox.js';
import { decodeEncodedWords, getHeaders, normalizeAddress, parseAddressList, readAuthor, type AuthorProblemCode, type MimeEntity } from '../mime/index.js';
import { findDisguisedAddresses, hasBidiControls, shownAs } from '../mime/address.js';
import { describeLatinLookalike, latinLookalike } from '../mime/lookalike-domain.js';
import type { SmimeProblem, SmimeWarning } from './verdict.js';

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
  // What a client that knows the charset shows may be another address.
  'undecodable-encoded-word': 'SMIME_FROM_DISPLAY_NAME_ADDRESS',
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

/**
 * Mailbox equality: the local part exactly (RFC 5321 §2.4), the domain case-insensitively and as
 * A-labels (RFC 9598 §5), so `user@bücher.example` is `user@xn--bcher-kva.example` (see mailboxKey).
 */
export function sameMailbox(a: string, b: string): boolean {
  return mailboxKey(a) === mailboxKey(b);
}

/**
 * sameMailbox against one address, its key made once: for comparing a From with every mailbox of
 * certificates (a certificate may name thousands, and the A-label conversion of a 16 kB From is not cheap).
 */
export function sameMailboxAs(a: string): (b: string) => boolean {
  const key = mailboxKey(a);
  return (b) => mailboxKey(b) === key;
}

/**
 * What a reader sees in a single-mailbox From beyond the bound address, as warnings (the address
 * itself is bound; these do not make a verdict invalid): another address spelled out in the display
 * name or a comment without an "@" ("ceo at example.com" <payments@…>, "ceo (at) example (dot) com"),
 * bidirectional controls, which can show the name's characters in another order, and a domain
 * with a label written wholly in Cyrillic or Greek letters that look Latin (pay@раураӏ.com, A-label
 * xn--80aa0cbo65f.com: a client that shows U-labels shows what reads as paypal.com) or mixing them
 * with Latin ones (pay@аpple.com, xn--pple-43d.com; latinLookalike).
 * `where` prefixes the messages ("in the wrapped message: ...").
 */
export function fromDisplayWarnings(entity: MimeEntity, where = ''): SmimeWarning[] {
  const fields = getHeaders(entity, 'From');
  if (fields.length !== 1) return [];
  const list = parseAddressList(fields[0]!.value);
  if (list.mailboxes.length !== 1) return [];
  const own = list.mailboxes[0]!.address;
  // The whole decoded field, as readFrom scans it: comments and names are shown alike.
  const shown = decodeEncodedWords(fields[0]!.value);
  const out: SmimeWarning[] = [];
  // As mailboxes (the local part's case aside): its own address in A-labels or NFD is no other one,
  // unless the name writes it as a mixed-script U-label (shownAs).
  const isOwn = shownAs(own);
  const others = findDisguisedAddresses(shown).filter((a) => !isOwn(a));
  if (others.length > 0)
    out.push({
      code: 'SMIME_FROM_DISPLAY_NAME_LOOKALIKE',
      message: `${where}the From field reads as ${listed(others)} (written without "@") but the address is ${own}`,
    });
  if (hasBidiControls(shown))
    out.push({
      code: 'SMIME_FROM_DISPLAY_NAME_LOOKALIKE',
      message: `${where}the From field holds bidirectional control characters: its name may be shown in another order than written`,
    });
  const lookalike = latinLookalike(mailboxParts(own)?.domain ?? '');
  if (lookalike) out.push({ code: 'SMIME_FROM_DOMAIN_LOOKALIKE', message: `${where}the From domain ${describeLatinLookalike(lookalike)}` });
  return out;
}

/**
 * Fields that tell a client where to send a reply or a receipt: Reply-To (RFC 5322), Mail-Reply-To
 * and Mail-Followup-To (honoured by mutt and Thunderbird), Disposition-Notification-To (RFC 8098).
 */
export const REPLY_HEADERS = ['Reply-To', 'Mail-Reply-To', 'Mail-Followup-To', 'Disposition-Notification-To'] as const;

/**
 * Reply-To (and each of REPLY_HEADERS) naming a mailbox outside the From domain (and its
 * subdomains): replies would go to someone the signature does not vouch for. A field that cannot
 * be read as mailboxes, or is repeated, is reported too (clients guess differently). One warning
 * per field, its message naming the field.
 */
export function replyToWarnings(entity: MimeEntity, fromAddress: string | undefined, where = ''): SmimeWarning[] {
  if (fromAddress === undefined) return [];
  const out: SmimeWarning[] = [];
  for (const name of REPLY_HEADERS) {
    const w = replyFieldWarning(entity, name, domainOf(fromAddress), shownDomain(fromAddress), where);
    if (w) out.push(w);
  }
  return out;
}

function replyFieldWarning(entity: MimeEntity, name: string, fromDomain: string, shown: string, where: string): SmimeWarning | undefined {
  const fields = getHeaders(entity, name);
  if (fields.length === 0) return undefined;
  const elsewhere: string[] = [];
  const seen = new Set<string>();
  let unreadable = fields.length > 1;
  for (const field of fields) {
    const list = parseAddressList(field.value);
    if (list.mailboxes.length === 0 || list.errors.length > 0) unreadable = true;
    for (const m of list.mailboxes) {
      const key = mailboxKey(m.address);
      const d = domainOf(key);
      if (d !== fromDomain && !d.endsWith(`.${fromDomain}`) && !seen.has(key)) {
        seen.add(key);
        elsewhere.push(m.address);
      }
    }
  }
  const goes = name === 'Disposition-Notification-To' ? 'read receipts' : 'replies';
  if (elsewhere.length > 0)
    return {
      code: 'SMIME_REPLY_TO_OTHER_DOMAIN',
      message: `${where}${name} sends ${goes} to ${listed(elsewhere)}, outside ${shown}, the domain of the From mailbox`,
    };
  if (unreadable)
    return {
      code: 'SMIME_REPLY_TO_OTHER_DOMAIN',
      message: `${where}${name} is ${fields.length > 1 ? `repeated (${fields.length} fields)` : 'not a readable mailbox list'}: clients may send ${goes} elsewhere than ${shown}`,
    };
  return undefined;
}

/** The domain of a mailbox's key: lower-case A-labels, so `bücher.example` and `xn--bcher-kva.example` are one domain. */
const domainOf = (address: string) => {
  const key = mailboxKey(address);
  return key.slice(key.lastIndexOf('@') + 1);
};
/** The From domain as written (lower-cased), for messages a person reads. */
const shownDomain = (address: string) => normalizeAddress(address).slice(normalizeAddress(address).lastIndexOf('@') + 1);

/** The first few of a list, for a message a person reads (a hostile header can name thousands). */
const listed = (list: readonly string[]) => `${list.slice(0, 5).join(', ')}${list.length > 5 ? `, … (${list.length} in all)` : ''}`;
