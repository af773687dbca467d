/**
 * RFC 5322 §3.4 address lists (with the obsolete forms of §4.4), for From/Sender checks.
 * Parsing never throws: problems are reported in `errors` and the rest is still returned.
 */
import { lowerCaseDomain, mailboxKey, mailboxParts } from '../internal/mailbox.js';
import { decodeEncodedWords } from './encoded-word.js';

export interface Mailbox {
  /** Decoded display name; for the old form `a@b (Name)`, the comment. Undefined when none. */
  readonly name: string | undefined;
  /** `local@domain` as written (a quoted local part kept quoted only when it must be). */
  readonly address: string;
  readonly local: string;
  readonly domain: string;
  /** Name of the group this mailbox was listed in, if any. */
  readonly group: string | undefined;
  /** The obsolete source route of RFC 5322 §4.4 (`@relay1,@relay2` in `<@relay1,@relay2:user@host>`), left out of `address`. */
  readonly route?: string;
}

export interface AddressGroup {
  readonly name: string;
  readonly mailboxes: readonly Mailbox[];
}

export interface AddressList {
  /** Every mailbox, group members included, in order. */
  readonly mailboxes: readonly Mailbox[];
  readonly groups: readonly AddressGroup[];
  /** One message per problem; an entry that could not be read adds no mailbox. */
  readonly errors: readonly string[];
  /**
   * The comments of the field that are not a display name (decoded, RFC 2047 §5 (2), in order): a
   * client may show them beside the mailbox (`Payments <p@example.com> (NEW IBAN …)`). The comment
   * of the old form `a@b (Name)` is the mailbox's name, and not listed again here.
   */
  readonly comments: readonly string[];
}

type SpecialChar = '<' | '>' | '@' | ',' | ';' | ':' | '.';
type Token =
  | { readonly kind: 'atom' | 'quoted' | 'literal' | 'comment'; readonly text: string; readonly spaceBefore: boolean }
  | { readonly kind: 'special'; readonly text: SpecialChar; readonly spaceBefore: boolean };

const SPECIALS = '<>@,;:.';
const ATOM_STOP = new Set([...'<>@,;:.()[]"', ' ', '\t', '\r', '\n']);

/**
 * Parses an address-list header value (From, To, Cc, Sender, Reply-To).
 *
 * @example parseAddressList('"Bank CEO" <ceo@bank.com>, team: a@x.org, b@x.org;').mailboxes.length // 3
 */
export function parseAddressList(value: string): AddressList {
  const errors: string[] = [];
  const tokens = tokenize(value, errors);
  const mailboxes: Mailbox[] = [];
  const groups: AddressGroup[] = [];
  const names = new Set<Token>();
  let i = 0;
  while (i < tokens.length) {
    if (isSpecial(tokens[i], ',') || tokens[i]!.kind === 'comment') {
      i++;
      continue;
    }
    const colon = groupColonAt(tokens, i);
    if (colon >= 0) {
      i = readGroup(tokens, i, colon, { mailboxes, groups, errors, names });
    } else {
      const end = segmentEnd(tokens, i, false);
      const m = readMailbox(tokens.slice(i, end), undefined, errors, names);
      if (m) mailboxes.push(m);
      i = end;
    }
  }
  const comments = tokens.filter((t) => t.kind === 'comment' && !names.has(t)).map((t) => decodeEncodedWords(t.text));
  return { mailboxes, groups, errors, comments };
}

interface Sink {
  mailboxes: Mailbox[];
  groups: AddressGroup[];
  errors: string[];
  /** Comment tokens taken as a display name (the old form `a@b (Name)`). */
  names: Set<Token>;
}

function readGroup(tokens: Token[], start: number, colon: number, sink: Sink): number {
  const name = phraseText(tokens.slice(start, colon));
  const members: Mailbox[] = [];
  let i = colon + 1;
  for (;;) {
    if (i >= tokens.length) {
      sink.errors.push(`group "${name}" is not closed with ";"`);
      break;
    }
    if (isSpecial(tokens[i], ';')) {
      i++;
      break;
    }
    if (isSpecial(tokens[i], ',') || tokens[i]!.kind === 'comment') {
      i++;
      continue;
    }
    const end = segmentEnd(tokens, i, true);
    const m = readMailbox(tokens.slice(i, end), name, sink.errors, sink.names);
    if (m) members.push(m);
    i = end;
  }
  sink.groups.push({ name, mailboxes: members });
  sink.mailboxes.push(...members);
  return i;
}

/** Index of the ":" that makes tokens[start..] a group (a phrase then ":"), or -1. */
function groupColonAt(tokens: Token[], start: number): number {
  for (let j = start; j < tokens.length; j++) {
    const t = tokens[j]!;
    if (t.kind === 'atom' || t.kind === 'quoted' || t.kind === 'comment' || isSpecial(t, '.')) continue;
    return isSpecial(t, ':') ? j : -1;
  }
  return -1;
}

/** End of one mailbox: the next "," (or ";" inside a group) outside angle brackets. */
function segmentEnd(tokens: Token[], start: number, inGroup: boolean): number {
  let inAngle = false;
  for (let j = start; j < tokens.length; j++) {
    const t = tokens[j]!;
    if (isSpecial(t, '<')) inAngle = true;
    else if (isSpecial(t, '>')) inAngle = false;
    else if (!inAngle && (isSpecial(t, ',') || (inGroup && isSpecial(t, ';')))) return j;
  }
  return tokens.length;
}

/** @internal How the error about an unquoted special in a display name starts (mime/author.ts folds it into its own problem). */
export const UNQUOTED_IN_NAME = 'display name holds an unquoted';

function readMailbox(seg: Token[], group: string | undefined, errors: string[], names: Set<Token>): Mailbox | undefined {
  const lt = seg.findIndex((t) => isSpecial(t, '<'));
  if (lt < 0) return readBareAddress(seg, group, errors, names);
  const gtRel = seg.slice(lt + 1).findIndex((t) => isSpecial(t, '>'));
  const gt = gtRel < 0 ? seg.length : lt + 1 + gtRel;
  if (gtRel < 0) errors.push('angle address is not closed with ">"');
  const after = seg.slice(gt + 1).filter((t) => t.kind !== 'comment');
  if (after.length > 0) errors.push(`unexpected text after angle address: "${tokensText(after)}"`);
  // RFC 5322 §3.2.5 (and obs-phrase, §4.1): a display name is words, dots and comments.
  const special = seg.slice(0, lt).find((t) => t.kind === 'special' && t.text !== '.');
  if (special) errors.push(`${UNQUOTED_IN_NAME} "${special.text}": "${tokensText(seg.slice(0, lt))}"`);
  const { route, spec: specTokens } = splitRoute(seg.slice(lt + 1, gt));
  const spec = readAddrSpec(specTokens, errors);
  if (!spec) return undefined;
  const name = phraseText(seg.slice(0, lt));
  return { name: name || undefined, ...spec, group, ...(route !== undefined ? { route } : {}) };
}

// A bare addr-spec; the obsolete "a@b (Name)" form gives its comment as the name.
function readBareAddress(seg: Token[], group: string | undefined, errors: string[], names: Set<Token>): Mailbox | undefined {
  if (!seg.some((t) => isSpecial(t, '@'))) {
    const text = tokensText(seg);
    if (text) errors.push(`no address in "${text}"`);
    return undefined;
  }
  const spec = readAddrSpec(seg, errors);
  if (!spec) return undefined;
  const commentTokens = seg.filter((t) => t.kind === 'comment');
  for (const t of commentTokens) names.add(t);
  const name = commentTokens.map((t) => decodeEncodedWords(t.text.trim())).filter((c) => c).join(' ');
  return { name: name || undefined, ...spec, group };
}

// RFC 5322 §4.4 obs-route: "<@relay1,@relay2:user@host>", the route is split off.
function splitRoute(angle: Token[]): { route: string | undefined; spec: Token[] } {
  const significant = angle.filter((t) => t.kind !== 'comment');
  if (!isSpecial(significant[0], '@')) return { route: undefined, spec: significant };
  const colon = significant.findIndex((t) => isSpecial(t, ':'));
  if (colon < 0) return { route: undefined, spec: significant };
  return { route: significant.slice(0, colon).map((t) => t.text).join(''), spec: significant.slice(colon + 1) };
}

function readAddrSpec(seg: Token[], errors: string[]): { address: string; local: string; domain: string } | undefined {
  const ts = seg.filter((t) => t.kind !== 'comment');
  const at = ts.findIndex((t) => isSpecial(t, '@'));
  if (at < 0) {
    errors.push(ts.length ? `no "@" in address "${tokensText(ts)}"` : 'empty address');
    return undefined;
  }
  const localTokens = ts.slice(0, at);
  const domainTokens = ts.slice(at + 1);
  const bad = [...localTokens, ...domainTokens].find((t) => t.kind === 'special' && t.text !== '.');
  if (bad || localTokens.length === 0 || domainTokens.length === 0) {
    errors.push(`malformed address "${tokensText(ts)}"`);
    return undefined;
  }
  // word *("." word) @ atom *("." atom) / domain-literal (RFC 5322 §3.4.1, §4.4): two words with
  // nothing between them ("a b@c", "\"<x@y>\" z@c") or an empty label are not an address.
  if (!dotSeparated(localTokens, false) || !(dotSeparated(domainTokens, true) || (domainTokens.length === 1 && domainTokens[0]!.kind === 'literal')))
    errors.push(`malformed address "${tokensText(ts)}"`);
  const local = formatLocalPart(localTokens.map((t) => t.text).join(''));
  const domain = domainTokens.map((t) => t.text).join('');
  return { address: `${local}@${domain}`, local, domain };
}

function dotSeparated(tokens: Token[], atomsOnly: boolean): boolean {
  if (tokens.length % 2 === 0) return false;
  return tokens.every((t, k) => (k % 2 === 1 ? isSpecial(t, '.') : t.kind === 'atom' || (!atomsOnly && t.kind === 'quoted')));
}

const DOT_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uffff-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uffff-]+)*$/;

/** A local part in its shortest correct form: bare when it is a dot-atom, else quoted. */
function formatLocalPart(text: string): string {
  return DOT_ATOM.test(text) ? text : `"${text.replace(/(["\\])/g, '\\$1')}"`;
}

function phraseText(tokens: Token[]): string {
  let out = '';
  let pendingSpace = false;
  for (const t of tokens) {
    if (t.kind === 'comment') {
      pendingSpace = true;
      continue;
    }
    if (out && (t.spaceBefore || pendingSpace)) out += ' ';
    out += t.text;
    pendingSpace = false;
  }
  return decodeEncodedWords(out).trim();
}

function tokensText(tokens: Token[]): string {
  return tokens
    .filter((t) => t.kind !== 'comment')
    .map((t) => (t.spaceBefore ? ' ' : '') + t.text)
    .join('')
    .trim();
}

function isSpecial(t: Token | undefined, ch: SpecialChar): boolean {
  return t !== undefined && t.kind === 'special' && t.text === ch;
}

function tokenize(s: string, errors: string[]): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let space = false;
  while (i < s.length) {
    const ch = s[i]!;
    if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n') {
      space = true;
      i++;
      continue;
    }
    let token: Token;
    if (ch === '"') [token, i] = readQuoted(s, i, space, errors);
    else if (ch === '(') [token, i] = readComment(s, i, space, errors);
    else if (ch === '[') [token, i] = readLiteral(s, i, space, errors);
    else if (SPECIALS.includes(ch)) [token, i] = [{ kind: 'special', text: ch as SpecialChar, spaceBefore: space }, i + 1];
    else [token, i] = readAtom(s, i, space, errors);
    tokens.push(token);
    space = token.kind === 'comment';
  }
  return tokens;
}

// atext (RFC 5322 §3.2.3) and, for RFC 6532, any non-ASCII character but the C1 controls.
const ATEXT = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u00a0-\uffff-]+$/;

function readAtom(s: string, start: number, space: boolean, errors: string[]): [Token, number] {
  let i = start;
  // Stray ")", "]", "\\" or control characters are taken into the atom rather than stalling the tokenizer, and reported.
  do i++;
  while (i < s.length && !ATOM_STOP.has(s[i]!));
  const text = s.slice(start, i);
  if (!ATEXT.test(text)) errors.push(`invalid character in "${text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}"`);
  return [{ kind: 'atom', text, spaceBefore: space }, i];
}

function readQuoted(s: string, start: number, space: boolean, errors: string[]): [Token, number] {
  let out = '';
  let i = start + 1;
  while (i < s.length && s[i] !== '"') {
    if (s[i] === '\\' && i + 1 < s.length) i++;
    if (s[i] !== '\r' && s[i] !== '\n') out += s[i];
    i++;
  }
  if (i >= s.length) errors.push('quoted string is not closed');
  return [{ kind: 'quoted', text: out, spaceBefore: space }, i + 1];
}

function readComment(s: string, start: number, space: boolean, errors: string[]): [Token, number] {
  let depth = 0;
  let out = '';
  let i = start;
  for (; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '\\' && i + 1 < s.length) {
      out += s[++i];
      continue;
    }
    if (ch === '(' && depth++ === 0) continue;
    if (ch === ')' && --depth === 0) break;
    out += ch;
  }
  if (depth > 0) errors.push('comment is not closed');
  return [{ kind: 'comment', text: out, spaceBefore: space }, i + 1];
}

function readLiteral(s: string, start: number, space: boolean, errors: string[]): [Token, number] {
  const close = s.indexOf(']', start);
  if (close < 0) errors.push('domain literal is not closed');
  const end = close < 0 ? s.length : close + 1;
  return [{ kind: 'literal', text: s.slice(start, end), spaceBefore: space }, end];
}

/** `local@domain` with the domain lower-cased; the local part is kept exactly (it may be case-sensitive). IDNA labels are not converted. */
export function normalizeAddress(address: string): string {
  const a = address.trim();
  const at = a.lastIndexOf('@');
  if (at < 0) return a;
  return a.slice(0, at + 1) + lowerCaseDomain(a.slice(at + 1));
}

export interface DisplayNameAddress {
  readonly mailbox: Mailbox;
  /** Address-like strings found in the display name, normalised. */
  readonly addresses: readonly string[];
  /** Those of them that are not the mailbox's own address (shownAs). */
  readonly others: readonly string[];
  /** True when one of them is not the mailbox's own address: the classic spoof `"ceo@bank.com" <attacker@evil.com>`. */
  readonly mismatch: boolean;
}

// Look-alikes of "@" that render as one in a mail client.
const AT_LOOKALIKES = /[\uFF20\uFE6B]/g;
const ADDRESS_STOP = new Set([...'<>()[]",;:@\'', ' ', '\t', '\r', '\n']);

/** An address shown in a From compared with the From's own: mailboxKey, the local part case-insensitively. */
export const shownKey = (address: string): string => mailboxKey(address).toLowerCase();

/**
 * Whether an address shown in a From is the From's own mailbox to a reader: the same shownKey and,
 * when only the A-label conversion makes it so (the name shows a U-label the address writes as its
 * A-label), no shown label that mixes scripts: `"ceo@аpple.com" <ceo@xn--pple-43d.com>` (a Cyrillic
 * "а") reads as apple.com, and clients show such a label's A-label rather than its Unicode. A label in
 * one script (UTS #39 §5.1, Han with kana, Hangul or Bopomofo counting as one) is the same mailbox.
 */
export function shownAs(own: string): (shown: string) => boolean {
  const key = shownKey(own);
  const written = writtenDomain(own);
  return (shown) => shownKey(shown) === key && (writtenDomain(shown) === written || (mailboxParts(shown)?.domain ?? '').split('.').every(singleScript));
}

/** The domain as written, canonically equivalent text and case aside (no A-label conversion). */
const writtenDomain = (address: string) => lowerCaseDomain((mailboxParts(address)?.domain ?? '').normalize('NFC'));

// The scripts of domain labels (Script_Extensions); a letter of none of them counts as mixed (fails closed).
const SCRIPTS = 'Latin Greek Cyrillic Armenian Georgian Hebrew Arabic Syriac Thaana Nko Samaritan Mandaic Devanagari Bengali Gurmukhi Gujarati Oriya Tamil Telugu Kannada Malayalam Sinhala Thai Lao Tibetan Myanmar Khmer Mongolian Ethiopic Cherokee Canadian_Aboriginal Tifinagh Hangul Hiragana Katakana Bopomofo Han Yi Javanese Balinese Sundanese Vai Ol_Chiki Tai_Tham Tai_Viet New_Tai_Lue Lisu Adlam'
  .split(' ')
  .map((name) => [name, new RegExp(`\\p{scx=${name}}`, 'u')] as const);
// UTS #39's augmented script sets: Japanese, Korean and Chinese with Bopomofo are one script each.
const AUGMENTED: Record<string, string[]> = { Han: ['Jpan', 'Kore', 'Hanb'], Hiragana: ['Jpan'], Katakana: ['Jpan'], Hangul: ['Kore'], Bopomofo: ['Hanb'] };
const COMMON = /[\p{scx=Zyyy}\p{scx=Zinh}]/u;

function singleScript(label: string): boolean {
  if (/^[\x00-\x7f]*$/.test(label)) return true; // Latin and Common only
  let shared: Set<string> | undefined;
  // After the first letter only the scripts still shared can matter: a letter is tested against those, not all 49.
  let candidates: readonly (typeof SCRIPTS)[number][] = SCRIPTS;
  for (const c of label) {
    if (COMMON.test(c)) continue;
    const scripts = new Set<string>();
    for (const [name, re] of candidates) if (re.test(c)) for (const s of [name, ...(AUGMENTED[name] ?? [])]) scripts.add(s);
    shared = shared ? new Set([...shared].filter((s) => scripts.has(s))) : scripts;
    if (shared.size === 0) return false;
    const still = shared;
    candidates = candidates.filter(([name]) => still.has(name) || (AUGMENTED[name] ?? []).some((s) => still.has(s)));
  }
  return true;
}

/**
 * Mailboxes whose display name itself looks like an address (`"ceo@bank.com" <x@evil.com>`,
 * `ceo@bank.com <x@evil.com>`; compatibility forms such as full-width "＠ｅ" and invisible format
 * characters are normalised first, see revealLookalikes), so a verifier can flag them.
 *
 * @example findAddressesInDisplayNames(parseAddressList('"ceo@bank.com" <x@evil.com>'))[0]!.mismatch // true
 */
export function findAddressesInDisplayNames(list: AddressList | readonly Mailbox[]): DisplayNameAddress[] {
  const mailboxes = 'mailboxes' in list ? list.mailboxes : list;
  const out: DisplayNameAddress[] = [];
  for (const mailbox of mailboxes) {
    if (!mailbox.name) continue;
    const addresses = addressesIn(revealLookalikes(mailbox.name));
    if (addresses.length === 0) continue;
    // As mailboxes (the binding's key; the local part's case aside, as before): a domain in NFD or
    // A-labels is the same mailbox; a local part that only looks the same (NFD) or a domain that
    // reads the same only after NFKC (full-width letters) is another one; so is a U-label mixing scripts (shownAs).
    const own = shownAs(mailbox.address);
    const others = addresses.filter((a) => !own(a));
    out.push({ mailbox, addresses, others, mismatch: others.length > 0 });
  }
  return out;
}

/**
 * Every address-like string in a piece of text as a reader sees it (after revealLookalikes): for
 * callers that must fail closed on anything a client could show as an address.
 *
 * @example findAddressesInText('"cfo@example.com"@evil.test') // ['cfo@example.com']
 */
export function findAddressesInText(text: string): string[] {
  return addressesIn(revealLookalikes(text));
}

// Grows left and right from each "@" over address chars; "@" itself stops growth, so this is linear.
function addressesIn(text: string): string[] {
  const found: string[] = [];
  for (let at = text.indexOf('@'); at >= 0; at = text.indexOf('@', at + 1)) {
    let a = at;
    while (a > 0 && !ADDRESS_STOP.has(text[a - 1]!)) a--;
    let b = at + 1;
    while (b < text.length && !ADDRESS_STOP.has(text[b]!)) b++;
    while (b > at + 1 && text[b - 1] === '.') b--;
    if (a < at && b > at + 1) found.push(normalizeAddress(text.slice(a, b)));
  }
  return found;
}

// Invisible format characters (Unicode Cf: zero-width spaces and joiners, bidi controls, soft
// hyphens...) and the other characters a reader never sees (Default_Ignorable_Code_Point: variation
// selectors, the combining grapheme joiner, Hangul fillers), which also break a naive scan, e.g.
// "ceo@exa\u200Bmple.com", and make "ceo@bank\uFE0F.example" look like ceo@bank.example.
const FORMAT_CHARS = /[\p{Cf}\p{Default_Ignorable_Code_Point}]/gu;

/**
 * Text as a reader sees it, for address scanning: NFKC (full-width "＠ｅｘａｍｐｌｅ．ｃｏｍ" and the
 * small "﹫" become ASCII), invisible format characters removed.
 */
export function revealLookalikes(text: string): string {
  return text.normalize('NFKC').replace(FORMAT_CHARS, '').replace(AT_LOOKALIKES, '@');
}

/** True when the text holds bidirectional controls, which can show characters in another order than stored. */
export function hasBidiControls(text: string): boolean {
  return /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/.test(text);
}

// An address spelled out so that no "@" is written: "ceo at example.com", "ceo (at) example dot com",
// "ceo [at] example[.]com", "ceo @ example.com". Words are matched whole and case-insensitively.
// Each white-space run is entered only at its start ((?<!\s)), so every pattern is linear.
// "at" also with the Cyrillic а/т that look like Latin a/t, and joined by "-" or "_" (ceo-at-example.com).
const SPELLED_AT = /(?<!\s)\s*[([{<]\s*[aа][tт]\s*[)\]}>]\s*|(?<!\s)\s+[aа][tт]\s+|(?<![\s_-])[-_][aа][tт][-_](?![\s_-])|(?<!\s)\s+@\s*|@\s+/giu;
const SPELLED_DOT = /(?<!\s)\s*[([{<]\s*(?:[dԁ][oо]t|\.)\s*[)\]}>]\s*|(?<!\s)\s+[dԁ][oо][tт]\s+|(?<!\s)\s+\.\s+/giu;
// Characters a reader takes for "@" or "." in a spelled-out address: circled and squared a (ⓐ, Ⓐ, 🄰, 🅐, 🅰,
// which NFKC would turn into a letter), the ideographic and half-width full stops IDNA treats as dots (U+3002, U+FF61,
// U+FF0E), the middle dot, katakana middle dots and the one-dot leader.
const AT_SHAPES = /[\u24D0\u24B6\u{1F130}\u{1F150}\u{1F170}]/gu;
const DOT_SHAPES = /[\u3002\uFF61\uFF0E\u00B7\u30FB\uFF65\u2024]/g;
// What a spelled-out domain must look like to count: labels and an alphabetic top-level label.
const SPELLED_DOMAIN = /^[^.]+(?:\.[^.]+)*\.\p{L}{2,}$/u;

/**
 * Addresses written in a display name in disguise, without a literal "@" (after revealLookalikes):
 * "ceo at example.com", "ceo (at) example (dot) com", "ceo @ example . com". Such a name is not
 * an address to a parser but reads as one; a verifier reports those other than the mailbox's own.
 * Only candidates whose domain has a dot and an alphabetic last label count ("Meet at noon" does not).
 *
 * @example findDisguisedAddresses('CEO at example.com') // ['CEO@example.com']
 */
export function findDisguisedAddresses(name: string): string[] {
  const plain = new Set(addressesIn(revealLookalikes(name)).map((a) => a.toLowerCase()));
  const text = revealLookalikes(name.replace(AT_SHAPES, '@')).replace(DOT_SHAPES, '.');
  const spelled = text.replace(SPELLED_DOT, '.').replace(SPELLED_AT, '@');
  const found = new Set<string>();
  for (const a of addressesIn(spelled)) {
    const domain = a.slice(a.lastIndexOf('@') + 1);
    if (!plain.has(a.toLowerCase()) && SPELLED_DOMAIN.test(domain)) found.add(a);
  }
  return [...found];
}
