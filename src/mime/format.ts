/** Writing header fields: folding, mailboxes, parameters (RFC 2231), dates. */
import { utf8 } from '../internal/bytes.js';
import { encodeEncodedWords, needsEncodedWords } from './encoded-word.js';

const FOLD_WIDTH = 78;
const ATOM_PHRASE = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;

/**
 * "Name: value" with a final CRLF, folded at spaces so lines stay within 78 chars where the
 * value allows it (a single longer word stays whole: RFC 5322 only forbids lines over 998).
 */
export function foldHeader(name: string, value: string): string {
  const pieces = `${name}: ${value}`.split(' ');
  const lines: string[] = [];
  let current = pieces[0]!;
  for (let i = 1; i < pieces.length; i++) {
    const word = pieces[i]!;
    if (word !== '' && current.length + 1 + word.length > FOLD_WIDTH) {
      lines.push(current);
      current = ' ' + word;
    } else {
      current += ' ' + word;
    }
  }
  lines.push(current);
  return lines.join('\r\n') + '\r\n';
}

export interface MailboxParts {
  readonly name?: string | undefined;
  readonly address: string;
}

/** `Name <a@b>` with the name as atoms, a quoted string or encoded words as needed. */
export function formatMailbox(m: MailboxParts | string): string {
  if (typeof m === 'string') return m;
  if (!m.name) return m.address;
  return `${formatPhrase(m.name)} <${m.address}>`;
}

function formatPhrase(name: string): string {
  if (needsEncodedWords(name)) return encodeEncodedWords(name);
  if (ATOM_PHRASE.test(name)) return name;
  return `"${name.replace(/(["\\])/g, '\\$1')}"`;
}

/** Unstructured text (Subject, extra fields): encoded words when non-ASCII or a word is too long to fold. */
export function formatUnstructured(text: string): string {
  const longWord = text.split(' ').some((w) => w.length > FOLD_WIDTH - 20);
  return encodeEncodedWords(text, { always: longWord });
}

const TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`{|}~-]+$/;
const MAX_PLAIN_PARAM = 60;

/**
 * One parameter as `name=value`: a token as is, other ASCII quoted, non-ASCII or long values in
 * RFC 2231 form `name*=utf-8''%XX`, split into `name*0*`, `name*1*`... when long.
 */
export function formatParameter(name: string, value: string): string[] {
  const ascii = /^[\x20-\x7e]*$/.test(value);
  if (ascii && value.length <= MAX_PLAIN_PARAM) {
    return [TOKEN.test(value) ? `${name}=${value}` : `${name}="${value.replace(/(["\\])/g, '\\$1')}"`];
  }
  const encoded = percentEncode(value);
  if (encoded.length + 7 <= MAX_PLAIN_PARAM) return [`${name}*=utf-8''${encoded}`];
  return splitEncoded(encoded).map((chunk, i) => `${name}*${i}*=${i === 0 ? "utf-8''" : ''}${chunk}`);
}

function splitEncoded(encoded: string): string[] {
  const chunks: string[] = [];
  let i = 0;
  while (i < encoded.length) {
    let end = Math.min(i + MAX_PLAIN_PARAM - 10, encoded.length);
    // Never cut a %XX escape in two.
    if (encoded[end - 1] === '%') end -= 1;
    else if (encoded[end - 2] === '%') end -= 2;
    chunks.push(encoded.slice(i, end));
    i = end;
  }
  return chunks;
}

// RFC 2231 attribute-char: token chars minus "*", "'" and "%".
function percentEncode(value: string): string {
  let out = '';
  for (const b of utf8(value)) {
    const ch = String.fromCharCode(b);
    out += /[A-Za-z0-9!#$&+.^_`|~-]/.test(ch) ? ch : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** `type/subtype; p1=v1; p2=v2` ready for {@link foldHeader}. */
export function formatParameterized(base: string, params: readonly (readonly [string, string])[]): string {
  return [base, ...params.flatMap(([n, v]) => formatParameter(n, v))].join('; ');
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** RFC 5322 §3.3 date-time in UTC: "Tue, 01 Jul 2025 10:52:37 +0000". */
export function formatDate(d: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`
  );
}
