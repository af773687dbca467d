/** RFC 2047 encoded words ("=?charset?B|Q?text?=") in header text. */
import { latin1, toBase64, utf8 } from '../internal/bytes.js';
import { decodeBase64Body } from './base64.js';
import { decodeCharset } from './charset.js';
import { hexPair } from './quoted-printable.js';

// Charset and text exclude "?" and white space, so every attempt stops at the next "?": linear time.
const ENCODED_WORD = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;
const MAX_WORD_LENGTH = 75;
const WORD_BUDGET = MAX_WORD_LENGTH - '=?UTF-8?B?'.length - '?='.length;
// Whole base64 quanta only, so each word decodes on its own.
const B_BYTES = Math.floor(WORD_BUDGET / 4) * 3;

interface Word {
  start: number;
  end: number;
  charset: string;
  bytes: Uint8Array;
}

/**
 * Decodes the encoded words in a header value. White space between two adjacent encoded words
 * is dropped (RFC 2047 §6.2); adjacent words in one charset are joined before decoding, so a
 * character split across words survives. A word in a charset the runtime does not know (or in
 * UTF-7, UTF-16 or UTF-32, see readEncodedWords) is left as written. Never throws.
 *
 * @example decodeEncodedWords('=?utf-8?Q?caf=C3=A9?= menu') // 'café menu'
 */
export function decodeEncodedWords(text: string): string {
  return readEncodedWords(text).text;
}

export interface EncodedWordsReading {
  /** The value with its encoded words decoded (see decodeEncodedWords). */
  readonly text: string;
  /**
   * The charsets (as written) of encoded words left as written because they cannot be decoded
   * here: a client that knows the charset shows other text, e.g. `=?x-user-defined?Q?ceo=40bank.example?=`
   * as an address. UTF-7 counts as undecodable on purpose (it spells "@" as "+AEA-"), and so do
   * UTF-16 and UTF-32, whose byte order readers guess differently.
   */
  readonly undecodable: readonly string[];
}

/** decodeEncodedWords, also naming the encoded words that could not be decoded. Never throws. */
export function readEncodedWords(text: string): EncodedWordsReading {
  if (!text.includes('=?')) return { text, undecodable: [] };
  const words = findWords(text);
  const undecodable: string[] = [];
  let out = '';
  let at = 0;
  for (let i = 0; i < words.length; ) {
    const first = words[i]!;
    let j = i + 1;
    while (j < words.length && isBlank(text, words[j - 1]!.end, words[j]!.start) && sameCharset(first, words[j]!)) j++;
    const decoded = decodeGroup(words.slice(i, j));
    if (decoded === undefined && undecodable.length < MAX_REPORTED) undecodable.push(first.charset);
    out += text.slice(at, first.start) + (decoded ?? text.slice(first.start, words[j - 1]!.end));
    at = words[j - 1]!.end;
    // White space between two decoded words of different charsets is dropped too.
    if (decoded !== undefined && j < words.length && isBlank(text, at, words[j]!.start)) at = words[j]!.start;
    i = j;
  }
  return { text: out + text.slice(at), undecodable };
}

const MAX_REPORTED = 16;
// Never decoded, see EncodedWordsReading.undecodable: UTF-7 (RFC 2152) hides "@" as "+AEA-", and
// in the UTF-16/UTF-32 family readers disagree on the byte order (a byte-order mark honoured by one
// and not by another turns "payments@example.com" into CJK text and back).
const NEVER_DECODED = /^(?:utf-?7|unicode-1-1-utf-7|csunicode11utf7|x-unicode20utf7|utf-?16(?:le|be)?|utf-?32(?:le|be)?|ucs-?2|ucs-?4|unicode|unicodefeff|unicodefffe|csunicode|iso-10646-ucs-2)(?:\*.*)?$/i;

function findWords(text: string): Word[] {
  const words: Word[] = [];
  for (const m of text.matchAll(ENCODED_WORD)) {
    const charset = m[1]!;
    const encoding = m[2]!.toUpperCase();
    const payload = m[3]!;
    const bytes = encoding === 'B' ? decodeBase64Body(payload) : decodeQ(payload);
    words.push({ start: m.index, end: m.index + m[0].length, charset, bytes });
  }
  return words;
}

function decodeGroup(group: Word[]): string | undefined {
  const total = group.reduce((n, w) => n + w.bytes.length, 0);
  const bytes = new Uint8Array(total);
  let n = 0;
  for (const w of group) {
    bytes.set(w.bytes, n);
    n += w.bytes.length;
  }
  const charset = group[0]!.charset;
  return NEVER_DECODED.test(charset.trim()) ? undefined : decodeCharset(bytes, charset);
}

function decodeQ(payload: string): Uint8Array {
  const src = latin1(payload.replace(/_/g, ' '));
  const out = new Uint8Array(src.length);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const hex = src[i] === 0x3d && i + 2 < src.length ? hexPair(src[i + 1], src[i + 2]) : -1;
    if (hex >= 0) {
      out[n++] = hex;
      i += 2;
    } else {
      out[n++] = src[i]!;
    }
  }
  return out.slice(0, n);
}


function isBlank(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a) return false;
  }
  return true;
}

function sameCharset(a: Word, b: Word): boolean {
  return a.charset.toLowerCase() === b.charset.toLowerCase();
}

export interface EncodeWordsOptions {
  /** "B" (base64, the default) or "Q" (quoted-printable-like, more readable for mostly-ASCII text). */
  readonly encoding?: 'B' | 'Q';
  /** Encode even plain ASCII (e.g. to split a word too long to fold). */
  readonly always?: boolean;
}

/** True when `text` cannot go into a header as is: non-ASCII, control chars, or something that would decode as an encoded word. */
export function needsEncodedWords(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return true;
  }
  return text.includes('=?');
}

/**
 * Encodes `text` as UTF-8 encoded words of at most 75 chars each, split on character boundaries
 * and separated by single spaces (where a header may be folded). Text that needs no encoding is
 * returned unchanged. Safe for Subject and for display names (the Q form uses the RFC 2047 §5(3)
 * "phrase" character set).
 *
 * @example encodeEncodedWords('Grüße') // '=?UTF-8?B?R3LDvMOfZQ==?='
 */
export function encodeEncodedWords(text: string, options: EncodeWordsOptions = {}): string {
  if (!options.always && !needsEncodedWords(text)) return text;
  const encoding = options.encoding ?? 'B';
  const words: string[] = [];
  let chunk: string[] = [];
  let chunkLength = 0;
  for (const ch of text) {
    const bytes = utf8(ch);
    const piece = encoding === 'B' ? '' : encodeQChar(bytes);
    const cost = encoding === 'B' ? bytes.length : piece.length;
    const limit = encoding === 'B' ? B_BYTES : WORD_BUDGET;
    if (chunkLength + cost > limit && chunk.length > 0) {
      words.push(finishWord(chunk, encoding));
      chunk = [];
      chunkLength = 0;
    }
    chunk.push(encoding === 'B' ? ch : piece);
    chunkLength += cost;
  }
  if (chunk.length > 0) words.push(finishWord(chunk, encoding));
  return words.join(' ');
}

function finishWord(chunk: string[], encoding: 'B' | 'Q'): string {
  const payload = encoding === 'B' ? toBase64(utf8(chunk.join(''))) : chunk.join('');
  return `=?UTF-8?${encoding}?${payload}?=`;
}

function encodeQChar(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    if (b === 0x20) out += '_';
    else if (isQLiteral(b)) out += String.fromCharCode(b);
    else out += '=' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

// RFC 2047 §5(3): the only literal chars allowed in an encoded word inside a phrase.
function isQLiteral(b: number): boolean {
  return (
    (b >= 0x30 && b <= 0x39) ||
    (b >= 0x41 && b <= 0x5a) ||
    (b >= 0x61 && b <= 0x7a) ||
    b === 0x21 ||
    b === 0x2a ||
    b === 0x2b ||
    b === 0x2d ||
    b === 0x2f
  );
}
