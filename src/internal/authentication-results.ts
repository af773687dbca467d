/**
 * Authentication-Results (RFC 8601): the one place its syntax is written — the authserv-id, method
 * results with a comment, and property values quoted where they must be. DKIM's results (RFC 6376)
 * and the filter's S/MIME results (RFC 7281) are both formatted here.
 */
import { MailPkiError } from '../errors.js';

const TSPECIAL = /[()<>@,;:\\"/[\]?=\s]/;

/** A property value: a token as it is, otherwise a quoted-string. */
export function arValue(v: string): string {
  return v.length > 0 && !TSPECIAL.test(v) ? v : `"${v.replace(/[\r\n]+/g, ' ').replace(/["\\]/g, '\\$&')}"`;
}

/** A comment: parentheses and backslashes escaped, line breaks folded away. */
export function arComment(text: string): string {
  return `(${text.replace(/[()\\]/g, '\\$&').replace(/[\r\n]+/g, ' ')})`;
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

/**
 * The longest property value written. A value is often the sender's own text (a DKIM s= that did not parse, of any
 * length; the issuer name of a self-made certificate, up to 64 KiB): a longer one is left out, the result and its
 * comment say what was wrong. Real ones are far shorter (a domain name is at most 253 characters, a CA's name a few hundred).
 */
export const MAX_AR_VALUE = 1024;

export function formatArMethod(m: ArMethodResult): string {
  let s = `${m.method}=${m.result}`;
  if (m.comment) s += ` ${arComment(m.comment)}`;
  for (const [k, v] of m.properties ?? []) if (v.length <= MAX_AR_VALUE) s += ` ${k}=${arValue(v)}`;
  return s;
}

/** The header value (without the field name): the authserv-id, then each result on its own folded line. */
export function formatAuthenticationResults(authservId: string, results: readonly ArMethodResult[]): string {
  const id = checkAuthservId(authservId);
  if (results.length === 0) return `${id}; none`;
  return `${id};\r\n\t${results.map(formatArMethod).join(';\r\n\t')}`;
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
 * a zero-width space) and a trailing dot. Only the filter writes fields of its own id (RFC 8601 §5),
 * so removing one that merely resembles it costs nothing.
 */
export function claimsAuthservId(value: string, authservId: string): boolean {
  const ours = authservKey(authservId);
  const unfolded = value.replace(/\r\n/g, '');
  for (const v of [unfolded.replace(/[^\x09\x20-\x7e]/g, ' '), unfolded.replace(/[^\x09\x20-\x7e]/g, '')]) {
    const read = readAuthservId(v);
    if (read !== undefined && authservKey(read) === ours) return true;
  }
  return false;
}
