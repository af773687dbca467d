/**
 * Sender binding: which mailbox the message claims to be from, read strictly enough that the
 * spoofing tricks (two From fields, two mailboxes, a name that holds another address, an
 * empty or name-only From, a different Sender) are problems rather than guesses.
 */
import { findAddressesInDisplayNames, getHeaders, normalizeAddress, parseAddressList, type MimeEntity } from '../mime/index.js';
import { decodeEncodedWords } from '../mime/index.js';
import { findDisguisedAddresses, hasBidiControls } from '../mime/address.js';
import type { SmimeProblem, SmimeWarning } from './verdict.js';

export interface FromResult {
  address?: string;
  name?: string;
  problems: SmimeProblem[];
}

export function readFrom(entity: MimeEntity): FromResult {
  const problems: SmimeProblem[] = [];
  const fields = getHeaders(entity, 'From');
  if (fields.length === 0) return { problems: [{ code: 'SMIME_FROM_MISSING', message: 'the message has no From field' }] };
  if (fields.length > 1)
    problems.push({ code: 'SMIME_FROM_MULTIPLE_FIELDS', message: `the message has ${fields.length} From fields; clients show different ones` });
  const value = fields[0]!.value;
  if (value.trim() === '') return { problems: [...problems, { code: 'SMIME_FROM_EMPTY', message: 'the From field is empty' }] };
  const list = parseAddressList(value);
  if (list.mailboxes.length === 0) {
    problems.push({
      code: 'SMIME_FROM_NO_ADDRESS',
      message: `the From field holds no mailbox address: "${decodeEncodedWords(value).slice(0, 200)}"`,
    });
    return { problems };
  }
  if (list.mailboxes.length > 1 || list.errors.length > 0)
    problems.push({
      code: 'SMIME_FROM_MULTIPLE_MAILBOXES',
      message:
        list.mailboxes.length > 1
          ? `the From field names ${list.mailboxes.length} mailboxes: ${list.mailboxes.map((m) => m.address).join(', ')}`
          : `the From field is not a single well-formed mailbox (${list.errors[0]})`,
    });
  const first = list.mailboxes[0]!;
  // RFC 5322 §3.6.2: From is a mailbox-list; a group's name is shown like a display name.
  if (list.groups.length > 0 && list.mailboxes.length === 1 && list.errors.length === 0)
    problems.push({
      code: 'SMIME_FROM_MULTIPLE_MAILBOXES',
      message: `the From field uses group syntax ("${list.groups[0]!.name.slice(0, 200)}:"), which RFC 5322 does not allow in From`,
    });
  // Scan the whole decoded field, not only the parsed display name: comments and group names
  // are shown by some clients too, e.g. `(payments@bank.example) <x@evil.test>`. With several
  // mailboxes the other addresses are already the problem above.
  const shown = list.mailboxes.length === 1 ? [{ ...first, name: decodeEncodedWords(value) }] : [first];
  for (const d of findAddressesInDisplayNames(shown)) {
    if (d.mismatch)
      problems.push({
        code: 'SMIME_FROM_DISPLAY_NAME_ADDRESS',
        message: `the From field shows ${d.addresses.filter((a) => !sameMailbox(a, first.address)).join(', ')} but the address is ${first.address}`,
      });
  }
  const out: FromResult = { address: normalizeAddress(first.address), problems };
  if (first.name !== undefined) out.name = first.name;
  return out;
}

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

/**
 * What a reader sees in a single-mailbox From beyond the bound address, as warnings (the address
 * itself is bound; these do not make a verdict invalid): another address spelled out in the display
 * name or a comment without an "@" ("ceo at example.com" <payments@…>, "ceo (at) example (dot) com"),
 * and bidirectional controls, which can show the name's characters in another order. `where`
 * prefixes the messages ("in the wrapped message: ...").
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
  const others = findDisguisedAddresses(shown).filter((a) => a.toLowerCase() !== own.toLowerCase());
  if (others.length > 0)
    out.push({
      code: 'SMIME_FROM_DISPLAY_NAME_LOOKALIKE',
      message: `${where}the From field reads as ${others.join(', ')} (written without "@") but the address is ${own}`,
    });
  if (hasBidiControls(shown))
    out.push({
      code: 'SMIME_FROM_DISPLAY_NAME_LOOKALIKE',
      message: `${where}the From field holds bidirectional control characters: its name may be shown in another order than written`,
    });
  return out;
}

/**
 * Reply-To naming a mailbox outside the From domain (and its subdomains): replies would go to
 * someone the signature does not vouch for. A Reply-To that cannot be read as mailboxes is
 * reported too (clients guess differently).
 */
export function replyToWarnings(entity: MimeEntity, fromAddress: string | undefined, where = ''): SmimeWarning[] {
  const fields = getHeaders(entity, 'Reply-To');
  if (fields.length === 0 || fromAddress === undefined) return [];
  const fromDomain = domainOf(fromAddress);
  const elsewhere: string[] = [];
  let unreadable = fields.length > 1;
  for (const field of fields) {
    const list = parseAddressList(field.value);
    if (list.mailboxes.length === 0 || list.errors.length > 0) unreadable = true;
    for (const m of list.mailboxes) {
      const d = domainOf(m.address);
      if (d !== fromDomain && !d.endsWith(`.${fromDomain}`) && !elsewhere.includes(m.address)) elsewhere.push(m.address);
    }
  }
  const out: SmimeWarning[] = [];
  if (elsewhere.length > 0)
    out.push({
      code: 'SMIME_REPLY_TO_OTHER_DOMAIN',
      message: `${where}Reply-To sends replies to ${elsewhere.join(', ')}, outside ${fromDomain}, the domain of the From mailbox`,
    });
  else if (unreadable)
    out.push({
      code: 'SMIME_REPLY_TO_OTHER_DOMAIN',
      message: `${where}Reply-To is ${fields.length > 1 ? `repeated (${fields.length} fields)` : 'not a readable mailbox list'}: clients may send replies elsewhere than ${fromDomain}`,
    });
  return out;
}

const domainOf = (address: string) => normalizeAddress(address).slice(normalizeAddress(address).lastIndexOf('@') + 1);
