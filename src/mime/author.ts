/**
 * The author of a message (RFC 5322 §3.6.2 From), read once and strictly for everything that binds
 * or aligns with it: S/MIME signer binding, DKIM alignment, Authentication-Results. A From that
 * readers could show differently (Composition Kills, Chen et al., USENIX Security 2020) has no
 * author, only named problems.
 */
import { decodeEncodedWords, readEncodedWords } from './encoded-word.js';
import { findAddressesInDisplayNames, findAddressesInText, findDisguisedAddresses, hasBidiControls, normalizeAddress, parseAddressList, UNQUOTED_IN_NAME, type Mailbox } from './address.js';
import type { HasHeaders } from './headers.js';
import { lowerCaseAddress, lowerCaseDomain } from '../internal/mailbox.js';

export type AuthorProblemCode =
  /** No From field. */
  | 'missing'
  /** More than one From field: clients show different ones, DKIM signs the last. */
  | 'several-fields'
  /** A From field with nothing in it. */
  | 'empty'
  /** No mailbox address could be read (a name only, an encoded word, ...). */
  | 'no-address'
  /** More than one mailbox: several authors. */
  | 'several-mailboxes'
  /** Group syntax (`name: a@b;`), which From does not allow. */
  | 'group'
  /** Not well-formed RFC 5322: text after the address, two words without a dot, an unquoted special, a bad character... */
  | 'malformed'
  /** The display name or a comment holds another address (`"ceo@bank.example" <x@evil.example>`). */
  | 'display-name-address'
  /** The local part holds an address of its own (`"ceo@bank.example"@evil.example`). */
  | 'address-in-local-part'
  /**
   * An RFC 2047 encoded word in a charset that cannot be decoded here (unknown to the runtime, or
   * UTF-7): a client that knows it may show an address there (`=?x-user-defined?Q?ceo=40bank.example?=`).
   */
  | 'undecodable-encoded-word'
  /** An RFC 2047 encoded word where an address is (`=?utf-8?q?ceo=40bank.example?=`), which RFC 2047 §5 forbids. */
  | 'encoded-word-address'
  /** The obsolete source route (`<@evil.example:ceo@bank.example>`), shown by some clients and not others. */
  | 'route-address'
  /** White space between "From" and the colon (RFC 5322 §4.5 obsolete syntax), which not every reader takes as From. */
  | 'space-before-colon'
  /** NUL, other control bytes, a bare CR or LF, or a bidirectional-text control. */
  | 'control-character'
  /** 8-bit bytes that are not UTF-8: each reader guesses another charset. */
  | 'not-utf8';

export interface AuthorProblem {
  readonly code: AuthorProblemCode;
  /** A sentence a person understands, with the offending text (control characters escaped). */
  readonly message: string;
}

export interface Author {
  readonly mailbox: Mailbox;
  /** The address with its domain lower-cased (see normalizeAddress). */
  readonly address: string;
  /** The domain, lower-cased. */
  readonly domain: string;
}

export interface AuthorReading {
  /** The single author, set only when there are no problems: the one thing to bind or align with. */
  readonly author: Author | undefined;
  /**
   * The first mailbox of the first From field, also when there are problems: what to name in a
   * message to a person. Never bind or align with it.
   */
  readonly shown: Author | undefined;
  readonly problems: readonly AuthorProblem[];
}

/** The longest From field value read, in bytes (folding included). */
export const MAX_FROM_BYTES = 16 * 1024;
const FROM = [0x66, 0x72, 0x6f, 0x6d]; // "from"
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const C1 = /[\u0080-\u009f]/;
const ENCODED_WORD = /=\?[^?]*\?[bBqQ]\?[^?]*\?=/;
const LABEL = String.raw`[\p{L}\p{N}\p{M}_](?:[\p{L}\p{N}\p{M}_-]*[\p{L}\p{N}\p{M}_])?`;
// Two or more labels of letters (any script: RFC 6532), digits, "-" and "_"; no literal, no empty label.
const HOST_NAME = new RegExp(`^${LABEL}(?:\\.${LABEL})+$`, 'u');
const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

/**
 * Reads the author from a message's header fields: the parsed entity's (parseMessage), or each
 * field's exact bytes as in the message (folding included, the final CRLF optional).
 *
 * @example
 * const r = readAuthor(parseMessage(bytes));
 * if (r.author) align(r.author.domain); else for (const p of r.problems) console.log(p.code, p.message);
 */
export function readAuthor(header: HasHeaders | readonly Uint8Array[]): AuthorReading {
  const raws = Array.isArray(header) ? (header as readonly Uint8Array[]) : (header as HasHeaders).headers.map((h) => h.raw);
  const fields: { value: Uint8Array; spaceBeforeColon: boolean }[] = [];
  for (const raw of raws) {
    const f = fromField(raw);
    if (f) fields.push(f);
  }
  if (fields.length === 0) return none([{ code: 'missing', message: 'the message has no From field' }]);
  const problems: AuthorProblem[] = [];
  if (fields.length > 1) problems.push({ code: 'several-fields', message: `the message has ${fields.length} From fields; clients show different ones` });
  const field = fields[0]!;
  // A From names one author: far below this. The cap bounds the work a message can ask for.
  if (field.value.length > MAX_FROM_BYTES)
    return none([...problems, { code: 'malformed', message: `the From field is ${field.value.length} bytes long; more than ${MAX_FROM_BYTES} is not read` }]);
  const { text, problems: byteProblems } = fieldText(field.value);
  if (field.spaceBeforeColon)
    byteProblems.unshift({ code: 'space-before-colon', message: 'the From field has white space before its colon, which not every reader takes as From' });
  const value = text.trim();
  const undecodable = readEncodedWords(value).undecodable;
  if (undecodable.length > 0)
    byteProblems.unshift({
      code: 'undecodable-encoded-word',
      message: `the From field holds an encoded word in the charset "${visible(undecodable[0]!)}", which cannot be decoded here; a client that knows it may show another address`,
    });
  if (value === '') return none([...problems, { code: 'empty', message: 'the From field is empty' }, ...byteProblems]);
  const shownText = visible(decodeEncodedWords(value));
  const list = parseAddressList(value);
  if (list.mailboxes.length === 0) {
    problems.push({ code: 'no-address', message: `the From field holds no mailbox address: "${shownText}"` });
    if (ENCODED_WORD.test(value) && findAddressesInDisplayNames([{ name: decodeEncodedWords(value), address: '', local: '', domain: '', group: undefined }]).length > 0)
      problems.push({ code: 'encoded-word-address', message: `the From field's address is an encoded word, shown by some clients as "${shownText}"` });
    return none([...problems, ...byteProblems]);
  }
  const first = list.mailboxes[0]!;
  // The whole decoded field, not only the parsed display name: comments and group names are
  // shown by some clients too, e.g. `(payments@bank.example) <x@evil.test>`. With several
  // mailboxes the other addresses are the problem.
  const scanned = list.mailboxes.length === 1 ? [{ ...first, name: decodeEncodedWords(value) }] : [first];
  const shownAddresses = findAddressesInDisplayNames(scanned).filter((d) => d.mismatch);
  // An unquoted "@" in the display name that is part of an address: a problem when that address
  // is another one (below), none when it repeats the mailbox's own (`joe@example.com <joe@example.com>`).
  const nameAddress = list.mailboxes.length === 1 && findAddressesInDisplayNames([first]).length > 0;
  const errors = shownAddresses.length > 0 || nameAddress ? list.errors.filter((e) => !e.startsWith(`${UNQUOTED_IN_NAME} "@"`)) : list.errors;
  if (list.mailboxes.length > 1)
    problems.push({
      code: 'several-mailboxes',
      message: `the From field names ${list.mailboxes.length} mailboxes: ${list.mailboxes.slice(0, 5).map((m) => visible(m.address)).join(', ')}${list.mailboxes.length > 5 ? ', …' : ''}`,
    });
  else if (errors.length > 0) problems.push({ code: 'malformed', message: `the From field is not a single well-formed mailbox (${visible(errors[0]!)})` });
  // RFC 5322 §3.6.2: From is a mailbox-list; a group's name is shown like a display name.
  if (list.groups.length > 0 && list.mailboxes.length === 1 && errors.length === 0)
    problems.push({
      code: 'group',
      message: `the From field uses group syntax ("${visible(list.groups[0]!.name)}:"), which RFC 5322 does not allow in From`,
    });
  for (const d of shownAddresses)
    problems.push({
      code: 'display-name-address',
      message: `the From field shows ${d.others.slice(0, 5).map(visible).join(', ')} but the address is ${visible(first.address)}`,
    });
  if (first.route !== undefined)
    problems.push({ code: 'route-address', message: `the From address carries the obsolete route "${visible(first.route)}:", which some clients show as the address` });
  if (ENCODED_WORD.test(first.address))
    problems.push({ code: 'encoded-word-address', message: `the From address ${visible(first.address)} holds an encoded word (RFC 2047 §5 forbids it), shown by some clients as ${visible(decodeEncodedWords(first.address))}` });
  if (first.local.startsWith('"') && /[@<>]/.test(first.local))
    problems.push({ code: 'address-in-local-part', message: `the From address ${visible(first.address)} has a quoted local part that reads like another address` });
  const domain = lowerCaseDomain(first.domain);
  if (!problems.some((p) => p.code === 'malformed') && !HOST_NAME.test(domain))
    problems.push({ code: 'malformed', message: `the From field is not a single well-formed mailbox (the domain "${visible(first.domain)}" is not a host name)` });
  problems.push(...byteProblems);
  const shown: Author = { mailbox: first, address: normalizeAddress(first.address), domain };
  return { author: problems.length === 0 ? shown : undefined, shown, problems };
}

/** The most author candidates readAuthorCandidates returns; beyond it the reading is incomplete. */
export const MAX_AUTHOR_CANDIDATES = 64;

/**
 * The most bytes of From field values readAuthorCandidates reads in one call (four fields of MAX_FROM_BYTES): fields
 * beyond are counted, not read, and the reading is incomplete. One From field is what RFC 5322 allows; without this
 * bound a header of a thousand 16 KiB From fields cost seconds to read, and nothing more could be decided from it.
 */
export const MAX_AUTHOR_BYTES = 4 * MAX_FROM_BYTES;

/** The longest domain (as written, RFC 1035's 253 characters) of a candidate; one longer names no host: the reading is incomplete. */
const MAX_CANDIDATE_DOMAIN = 253;

export interface AuthorCandidates {
  /**
   * Every address a reader could take as the author, normalised (lower case, quotes around the local
   * part and trailing dots of the domain removed, invisible and bidi controls removed): each mailbox
   * of each From field, and each address-like text in the fields (display names and comments, after
   * decoding encoded words, also read right-to-left when bidi controls are present).
   */
  readonly addresses: readonly string[];
  /**
   * Those of `addresses` with other than ASCII letters in another case than their normalised form (`cfo@НЅВС.com`), as written
   * (the rest normalised as in `addresses`): a client shows a From as written, and Cyrillic and Greek capitals read as
   * Latin ones where their lower case does not ("нѕвс" reads as nothing Latin, "НЅВС" as HSBC: latinLookalike).
   */
  readonly asWritten: readonly string[];
  /**
   * False when some From field could not be read whole (over MAX_FROM_BYTES, past MAX_AUTHOR_BYTES, an undecodable encoded
   * word, over MAX_AUTHOR_CANDIDATES, an address whose domain is longer than a domain can be): a reader may see an address not listed.
   */
  readonly complete: boolean;
  /** More than one From field, or more than one mailbox in them: no single author. */
  readonly ambiguous: boolean;
}

/** `"cfo"@Example.COM.` → `cfo@Example.COM` (lower-cased, `cfo@example.com`, for `addresses`); undefined for what is not local@domain. */
function candidateAddress(address: string): string | undefined {
  const a = address.replace(/[\p{Cf}\s]/gu, '');
  const at = a.lastIndexOf('@');
  if (at < 1 || at === a.length - 1) return undefined;
  let local = a.slice(0, at);
  if (local.length >= 2 && local.startsWith('"') && local.endsWith('"')) local = local.slice(1, -1).replace(/\\(.)/g, '$1');
  const domain = a.slice(at + 1).replace(/^\[|\]$/g, '').replace(/\.+$/, '');
  return local && domain ? `${local}@${domain}` : undefined;
}

/**
 * Every address that some reader could show as a message's author, for decisions that must fail
 * closed (a policy that applies to mail "from" a domain applies when any of them matches). Unlike
 * readAuthor, which names one author only when there is no doubt, this lists all of them.
 *
 * @example readAuthorCandidates(parseMessage(bytes)).addresses // ['billing@evil.test', 'cfo@example.com']
 */
export function readAuthorCandidates(header: HasHeaders | readonly Uint8Array[]): AuthorCandidates {
  const raws = Array.isArray(header) ? (header as readonly Uint8Array[]) : (header as HasHeaders).headers.map((h) => h.raw);
  const found = new Set<string>();
  const written = new Set<string>();
  let complete = true;
  let fields = 0;
  let mailboxes = 0;
  let read = 0;
  const add = (a: string) => {
    const w = candidateAddress(a);
    if (!w) return;
    if (w.length - w.lastIndexOf('@') - 1 > MAX_CANDIDATE_DOMAIN) {
      complete = false;
      return;
    }
    const c = lowerCaseAddress(w);
    if (found.size >= MAX_AUTHOR_CANDIDATES) complete = false;
    else found.add(c);
    // ASCII reads the same in any case (an A-label's digits too): only other letters' capitals can read otherwise.
    if (written.has(w) || w.replace(/[A-Z]+/g, (m) => m.toLowerCase()) === c) return;
    if (written.size >= MAX_AUTHOR_CANDIDATES) complete = false;
    else written.add(w);
  };
  for (const raw of raws) {
    const f = fromField(raw);
    if (!f) continue;
    fields++;
    // Past the bounds (or with no room for another candidate) a field is counted, not read: what it holds is not known.
    if (f.value.length > MAX_FROM_BYTES || read + f.value.length > MAX_AUTHOR_BYTES || found.size >= MAX_AUTHOR_CANDIDATES) {
      complete = false;
      continue;
    }
    read += f.value.length;
    const text = fieldText(f.value).text;
    if (readEncodedWords(text).undecodable.length > 0) complete = false;
    const decoded = decodeEncodedWords(text);
    const list = parseAddressList(text);
    mailboxes += list.mailboxes.length;
    for (const m of list.mailboxes) add(m.address);
    for (const m of parseAddressList(decoded).mailboxes) add(m.address);
    const texts = [text, decoded];
    // An override shows the stored characters in reverse: "\u202emoc.elpmaxe@ofc" reads cfo@example.com.
    if (hasBidiControls(decoded)) texts.push([...decoded].reverse().join(''));
    for (const t of texts) for (const a of [...findAddressesInText(t), ...findDisguisedAddresses(t)]) add(a);
  }
  return { addresses: [...found], asWritten: [...written], complete, ambiguous: fields > 1 || mailboxes > 1 };
}

function none(problems: AuthorProblem[]): AuthorReading {
  return { author: undefined, shown: undefined, problems };
}

/** The value bytes of a From field (name matched case-insensitively, WSP before the colon allowed), or undefined. */
function fromField(raw: Uint8Array): { value: Uint8Array; spaceBeforeColon: boolean } | undefined {
  if (raw.length < 5) return undefined;
  for (let i = 0; i < 4; i++) if ((raw[i]! | 0x20) !== FROM[i]) return undefined;
  let p = 4;
  while (p < raw.length && (raw[p] === 0x20 || raw[p] === 0x09)) p++;
  if (raw[p] !== 0x3a) return undefined;
  let end = raw.length;
  if (end >= 2 && raw[end - 2] === 0x0d && raw[end - 1] === 0x0a) end -= 2;
  return { value: raw.subarray(p + 1, end), spaceBeforeColon: p > 4 };
}

/** Unfolds and decodes the value, naming what readers would show differently. */
function fieldText(bytes: Uint8Array): { text: string; problems: AuthorProblem[] } {
  const problems: AuthorProblem[] = [];
  const out = new Uint8Array(bytes.length);
  let n = 0;
  let control: number | undefined;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    // A fold is CRLF then WSP; anything else with CR or LF is a line break some reader sees.
    if (b === 0x0d && bytes[i + 1] === 0x0a && (bytes[i + 2] === 0x20 || bytes[i + 2] === 0x09)) {
      i++;
      continue;
    }
    if ((b < 0x20 && b !== 0x09) || b === 0x7f) control ??= b;
    out[n++] = b;
  }
  let text: string;
  try {
    text = utf8.decode(out.subarray(0, n));
  } catch {
    text = latin1.decode(out.subarray(0, n));
    problems.push({ code: 'not-utf8', message: 'the From field has 8-bit bytes that are not UTF-8; clients guess a charset and may show another text' });
  }
  if (control !== undefined)
    problems.push({ code: 'control-character', message: `the From field holds the control byte 0x${control.toString(16).padStart(2, '0')}, which clients show or cut differently` });
  else if (C1.test(text) || BIDI.test(text))
    problems.push({ code: 'control-character', message: 'the From field holds a control or bidirectional-text character that changes what clients show' });
  return { text, problems };
}

/** Control and bidi characters escaped, so a message shows what is there; long text cut. */
function visible(s: string): string {
  const v = s.slice(0, 400).replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return v.length > 200 || s.length > 400 ? `${v.slice(0, 200)}…` : v;
}
