/**
 * Structured MIME header values: Content-Type (RFC 2045 §5), Content-Disposition (RFC 2183),
 * Content-Transfer-Encoding, and their parameters with RFC 2231 continuations and charsets.
 */
import { utf8 } from '../internal/bytes.js';
import { decodeCharset, decodeUtf8OrLatin1 } from './charset.js';
import { decodeEncodedWords } from './encoded-word.js';
import { hexPair } from './quoted-printable.js';

export interface ContentType {
  /** Lower-case top-level type, e.g. "multipart". */
  readonly type: string;
  /** Lower-case subtype, e.g. "signed". */
  readonly subtype: string;
  /** "type/subtype", lower-case. */
  readonly mediaType: string;
  /** Parameters by lower-case name, decoded (RFC 2231, quoted strings unescaped). */
  readonly params: ReadonlyMap<string, string>;
  /** Parameter names given more than once (the first value is kept): a hint of a crafted message. */
  readonly duplicateParams: readonly string[];
  /** False when the field was absent or unparseable and the RFC 2045 default was used instead. */
  readonly explicit: boolean;
}

export interface ContentDisposition {
  /** Lower-case disposition type, usually "inline" or "attachment" ("" when unparseable). */
  readonly type: string;
  readonly params: ReadonlyMap<string, string>;
  /** The decoded filename parameter, if any. */
  readonly filename: string | undefined;
}

const DEFAULT_TEXT: ContentType = Object.freeze({
  type: 'text',
  subtype: 'plain',
  mediaType: 'text/plain',
  params: new Map([['charset', 'us-ascii']]),
  duplicateParams: [],
  explicit: false,
});

/** The default Content-Type where none is given: text/plain, or message/rfc822 inside multipart/digest. */
export function defaultContentType(inDigest: boolean): ContentType {
  if (!inDigest) return DEFAULT_TEXT;
  return { type: 'message', subtype: 'rfc822', mediaType: 'message/rfc822', params: new Map(), duplicateParams: [], explicit: false };
}

/**
 * Parses a Content-Type value. An unparseable value gives the RFC 2045 §5.2 default
 * (text/plain; charset=us-ascii) with `explicit: false`.
 *
 * @example parseContentType('multipart/signed; protocol="application/pkcs7-signature"; boundary=b1').params.get('boundary') // 'b1'
 */
export function parseContentType(value: string, inDigest = false): ContentType {
  const c = new Cursor(value);
  c.skipCfws();
  const type = c.readToken().toLowerCase();
  c.skipCfws();
  if (!type || !c.eat('/')) return defaultContentType(inDigest);
  c.skipCfws();
  const subtype = c.readToken().toLowerCase();
  if (!subtype) return defaultContentType(inDigest);
  const { params, duplicates } = combineParameters(readParameters(c));
  return { type, subtype, mediaType: `${type}/${subtype}`, params, duplicateParams: duplicates, explicit: true };
}

/** Parses a Content-Disposition value; never throws. */
export function parseContentDisposition(value: string): ContentDisposition {
  const c = new Cursor(value);
  c.skipCfws();
  const type = c.readToken().toLowerCase();
  const { params } = combineParameters(readParameters(c));
  return { type, params, filename: params.get('filename') };
}

/** The lower-case Content-Transfer-Encoding token, "7bit" when absent (RFC 2045 §6.1). */
export function parseTransferEncoding(value: string | undefined): string {
  if (value === undefined) return '7bit';
  const c = new Cursor(value);
  c.skipCfws();
  return c.readToken().toLowerCase() || '7bit';
}

interface RawParameter {
  name: string;
  value: string;
}

function readParameters(c: Cursor): RawParameter[] {
  const out: RawParameter[] = [];
  for (;;) {
    c.skipCfws();
    if (c.done()) return out;
    if (!c.eat(';')) {
      c.skipTo(';');
      continue;
    }
    c.skipCfws();
    const name = c.readToken().toLowerCase();
    c.skipCfws();
    if (!name || !c.eat('=')) {
      c.skipTo(';');
      continue;
    }
    c.skipCfws();
    out.push({ name, value: c.peek() === '"' ? c.readQuoted() : c.readLooseValue() });
  }
}

interface Sections {
  plain: string | undefined;
  parts: Map<number, { value: string; extended: boolean }>;
}

/** Joins RFC 2231 sections (name*0, name*1*, ...) and decodes charset'lang'%XX values. */
function combineParameters(raw: RawParameter[]): { params: Map<string, string>; duplicates: string[] } {
  const groups = new Map<string, Sections>();
  const duplicates = new Set<string>();
  for (const p of raw) {
    const { base, section, extended } = splitParameterName(p.name);
    let g = groups.get(base);
    if (!g) groups.set(base, (g = { plain: undefined, parts: new Map() }));
    if (section === undefined && !extended) {
      if (g.plain !== undefined) duplicates.add(base);
      else g.plain = p.value;
    } else {
      const index = section ?? 0;
      if (g.parts.has(index)) duplicates.add(base);
      else g.parts.set(index, { value: p.value, extended });
    }
  }
  const params = new Map<string, string>();
  for (const [name, g] of groups) {
    // RFC 2231 §4: a reader that understands the extended form prefers it.
    let value = g.parts.has(0) ? joinSections(g.parts) : g.plain;
    if (value === undefined) continue;
    if (name === 'filename' || name === 'name') value = decodeEncodedWords(value);
    params.set(name, value);
  }
  return { params, duplicates: [...duplicates] };
}

function splitParameterName(name: string): { base: string; section: number | undefined; extended: boolean } {
  const extended = name.endsWith('*');
  const stem = extended ? name.slice(0, -1) : name;
  const star = stem.lastIndexOf('*');
  const digits = star >= 0 ? stem.slice(star + 1) : '';
  if (star > 0 && /^\d{1,4}$/.test(digits)) return { base: stem.slice(0, star), section: Number(digits), extended };
  return { base: stem, section: undefined, extended };
}

function joinSections(parts: Map<number, { value: string; extended: boolean }>): string {
  const chunks: Uint8Array[] = [];
  let charset: string | undefined;
  for (let k = 0; parts.has(k); k++) {
    const part = parts.get(k)!;
    let text = part.value;
    if (part.extended && k === 0) {
      const first = text.indexOf("'");
      const second = first >= 0 ? text.indexOf("'", first + 1) : -1;
      if (second >= 0) {
        charset = text.slice(0, first) || undefined;
        text = text.slice(second + 1);
      }
    }
    chunks.push(part.extended ? percentDecode(text) : utf8(text));
  }
  const bytes = concat(chunks);
  return (charset !== undefined ? decodeCharset(bytes, charset) : undefined) ?? decodeUtf8OrLatin1(bytes);
}

function percentDecode(text: string): Uint8Array {
  const src = utf8(text);
  const out = new Uint8Array(src.length);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const v = src[i] === 0x25 ? hexPair(src[i + 1], src[i + 2]) : -1;
    if (v >= 0) {
      out[n++] = v;
      i += 2;
    } else {
      out[n++] = src[i]!;
    }
  }
  return out.slice(0, n);
}


function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

const TSPECIALS = new Set('()<>@,;:\\"/[]?='.split(''));

/** A read position in a header value; every method advances or stops, so parsing is linear. */
class Cursor {
  private i = 0;
  constructor(private readonly s: string) {}

  done(): boolean {
    return this.i >= this.s.length;
  }

  peek(): string | undefined {
    return this.s[this.i];
  }

  eat(ch: string): boolean {
    if (this.s[this.i] !== ch) return false;
    this.i++;
    return true;
  }

  /** Skips white space and (nested) comments. */
  skipCfws(): void {
    let depth = 0;
    while (this.i < this.s.length) {
      const ch = this.s[this.i]!;
      if (depth > 0 && ch === '\\') {
        this.i += 2;
        continue;
      }
      if (ch === '(') depth++;
      else if (depth > 0 && ch === ')') depth--;
      else if (depth === 0 && ch !== ' ' && ch !== '\t' && ch !== '\r' && ch !== '\n') return;
      this.i++;
    }
  }

  readToken(): string {
    const start = this.i;
    while (this.i < this.s.length && isTokenChar(this.s.charCodeAt(this.i), this.s[this.i]!)) this.i++;
    return this.s.slice(start, this.i);
  }

  readQuoted(): string {
    this.i++;
    let out = '';
    while (this.i < this.s.length) {
      const ch = this.s[this.i++]!;
      if (ch === '"') return out;
      if (ch === '\\' && this.i < this.s.length) out += this.s[this.i++]!;
      else out += ch;
    }
    return out;
  }

  // Real mail often leaves tspecials such as "=" unquoted (boundary=----=_Part_1): take up to ";" or white space.
  readLooseValue(): string {
    const start = this.i;
    while (this.i < this.s.length && !' \t\r\n;('.includes(this.s[this.i]!)) this.i++;
    return this.s.slice(start, this.i);
  }

  skipTo(ch: string): void {
    const at = this.s.indexOf(ch, this.i);
    this.i = at < 0 ? this.s.length : at;
  }
}

function isTokenChar(code: number, ch: string): boolean {
  return code > 0x20 && code !== 0x7f && !TSPECIALS.has(ch);
}
