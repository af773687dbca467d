/**
 * Authentication-Results (RFC 8601): the one place its syntax is written — the authserv-id, method
 * results with a comment, and property values quoted where they must be. DKIM's results (RFC 6376)
 * and the filter's S/MIME results (RFC 7281) are both formatted here.
 */
import { MailPkiError } from '../errors.js';

const TSPECIAL = /[()<>@,;:\\"/[\]?=]/;

/**
 * Octets of one property value or comment as written (escapes included; a cut one keeps its start and end, "..." between): the
 * text often comes from the sender — a certificate's issuer or mailbox, a DKIM-Signature's i= — and can be of any
 * length, while a header line may hold at most 998 (RFC 5322 §2.1.1). The evidence record keeps the whole value.
 */
export const MAX_AR_TEXT_OCTETS = 400;
/** Method results written in one field; more are counted in a closing comment (the evidence record keeps them all). */
export const MAX_AR_RESULTS = 16;
/** A line of the field is folded before an item that would take it past this (RFC 5322 §2.1.1: 998 at most). */
const MAX_LINE_OCTETS = 998;

const utf8 = new TextEncoder();
const octets = (s: string) => utf8.encode(s).length;

/**
 * Text from a message or certificate as it may stand in the field: controls (C0 with CR, LF and tab, DEL, C1), format
 * characters (bidi overrides, zero-width) and line or paragraph separators become one space — none is allowed in a
 * quoted-string or comment (RFC 5322 §3.2.4, RFC 6532), and a strict reader (Thunderbird's DKIM Verifier) drops a
 * field holding one, result and all — then escaped by `escape` and cut to MAX_AR_TEXT_OCTETS.
 */
function fieldText(text: string, escape: (ch: string) => string): string {
  const clean = text.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]+/gu, ' ');
  let out = '';
  let size = 0;
  for (const ch of clean) {
    const e = escape(ch);
    size += octets(e);
    if (size > MAX_AR_TEXT_OCTETS) return cutMiddle(clean, escape);
    out += e;
  }
  return out;
}

/**
 * Text over MAX_AR_TEXT_OCTETS as its first and last octets (half the bound each, whole characters and escapes) with
 * "..." between: what names a signer is often at the end (i=cfo@example.com<padding>@evil.example, cut after its
 * start, read as cfo@example.com).
 */
function cutMiddle(clean: string, escape: (ch: string) => string): string {
  const half = Math.floor(MAX_AR_TEXT_OCTETS / 2);
  const chars = Array.from(clean);
  let head = '';
  let size = 0;
  for (const ch of chars) {
    const e = escape(ch);
    if (size + octets(e) > half) break;
    head += e;
    size += octets(e);
  }
  let tail = '';
  size = 0;
  for (let i = chars.length - 1; i >= 0; i--) {
    const e = escape(chars[i]!);
    if (size + octets(e) > half) break;
    tail = e + tail;
    size += octets(e);
  }
  return `${head}...${tail}`;
}

/** A property value: a token (RFC 2045: printable ASCII but tspecials) as it is, otherwise a quoted-string. */
export function arValue(v: string): string {
  if (/^[\x21-\x7e]+$/.test(v) && !TSPECIAL.test(v) && v.length <= MAX_AR_TEXT_OCTETS) return v;
  return `"${fieldText(v, (ch) => (ch === '"' || ch === '\\' ? `\\${ch}` : ch))}"`;
}

/** A comment: parentheses and backslashes escaped, line breaks and other controls made spaces. */
export function arComment(text: string): string {
  return `(${fieldText(text, (ch) => (ch === '(' || ch === ')' || ch === '\\' ? `\\${ch}` : ch))})`;
}

/** An authserv-id is a host name-like token: printable ASCII, no ';'. */
export function checkAuthservId(id: unknown, field = 'authservId'): string {
  if (typeof id !== 'string' || !/^[\x21-\x7e]+$/.test(id) || id.includes(';') || id.length > 255)
    throw new MailPkiError('ERR_INVALID_INPUT', `${field} must be a host name (printable ASCII, no ';')`, { details: { field } });
  return id;
}

/** One method result: `method=result (comment) ptype.property=value …`. */
export interface ArMethodResult {
  method: string;
  result: string;
  comment?: string;
  properties?: [string, string][];
}

/** One method result on its line (after the tab), folded before an item that would take the line past 998 octets. */
export function formatArMethod(m: ArMethodResult): string {
  const items = [`${m.method}=${m.result}`, ...(m.comment ? [arComment(m.comment)] : []), ...(m.properties ?? []).map(([k, v]) => `${k}=${arValue(v)}`)];
  let s = items[0]!;
  // The tab before the method counts; a result's closing ';' may follow the last item.
  let line = 1 + octets(s);
  for (const item of items.slice(1)) {
    const n = octets(item);
    if (line + 1 + n + 1 > MAX_LINE_OCTETS) {
      s += `\r\n\t${item}`;
      line = 1 + n;
    } else {
      s += ` ${item}`;
      line += 1 + n;
    }
  }
  return s;
}

/**
 * The header value (without the field name): the authserv-id, then each result on its own folded line — at most
 * MAX_AR_RESULTS of them, the others counted in a comment after the last.
 */
export function formatAuthenticationResults(authservId: string, results: readonly ArMethodResult[]): string {
  const id = checkAuthservId(authservId);
  if (results.length === 0) return `${id}; none`;
  const shown = results.slice(0, MAX_AR_RESULTS).map(formatArMethod).join(';\r\n\t');
  const more = results.length - MAX_AR_RESULTS;
  return `${id};\r\n\t${shown}${more > 0 ? `\r\n\t(${more} more results not listed)` : ''}`;
}

/**
 * The authserv-id of an Authentication-Results field value (RFC 8601 §2.2: the first token,
 * after CFWS; a version number may follow it). Undefined when none can be read.
 */
export function readAuthservId(value: string): string | undefined {
  let s = value;
  // Drop leading white space and comments (nested).
  for (;;) {
    s = s.replace(/^[\s]+/, '');
    if (!s.startsWith('(')) break;
    let depth = 0;
    let i = 0;
    for (; i < s.length; i++) {
      const c = s[i];
      if (c === '\\') i++;
      else if (c === '(') depth++;
      else if (c === ')' && --depth === 0) break;
    }
    if (i >= s.length) return undefined;
    s = s.slice(i + 1);
  }
  const m = /^("(?:[^"\\]|\\.)*"|[^\s;()]+)/.exec(s);
  if (!m) return undefined;
  const tok = m[1]!;
  return tok.startsWith('"') ? tok.slice(1, -1).replace(/\\(.)/g, '$1') : tok;
}

/** An authserv-id as readers may compare it: case, white space, bytes outside printable ASCII and trailing dots left out. */
function authservKey(id: string): string {
  return id
    .replace(/[^\x21-\x7e]/g, '')
    .toLowerCase()
    .replace(/\.+$/, '');
}

/**
 * Does an Authentication-Results field value (one char per byte, as the header gives it) claim
 * `authservId`, as any reader could take it? Fails towards "yes": the id compared without case,
 * white space (also inside its quotes — a reader may drop the space before the closing quote),
 * bytes outside printable ASCII (read either as white space or as nothing: an 8-bit no-break space,
 * a zero-width space) and a trailing dot; and an id written with an RFC 2047 encoded word (`=?`) is
 * taken as ours whatever it decodes to: a Sieve `header` test compares the value decoded (RFC 5228
 * §2.7.2), Dovecot in any charset iconv knows — `=?IBM037?b?lKdLhaeBlJeThUuDlpQ=?=` is mx.example.com
 * to it — and no verifier writes its id so. Only the filter writes fields of its own id (RFC 8601 §5),
 * so removing one that merely resembles it costs nothing.
 */
export function claimsAuthservId(value: string, authservId: string): boolean {
  const ours = authservKey(authservId);
  const unfolded = value.replace(/\r\n/g, '');
  for (const v of [unfolded.replace(/[^\x09\x20-\x7e]/g, ' '), unfolded.replace(/[^\x09\x20-\x7e]/g, '')]) {
    const read = readAuthservId(v);
    if (read !== undefined && (authservKey(read) === ours || read.includes('=?'))) return true;
  }
  return false;
}
