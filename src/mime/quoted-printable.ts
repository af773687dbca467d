/** Quoted-printable (RFC 2045 §6.7). */
import { latin1, toBytes } from '../internal/bytes.js';

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const TAB = 0x09;
const EQ = 0x3d;
const MAX_LINE = 76;
const HEX = '0123456789ABCDEF';

export interface QuotedPrintableOptions {
  /** Longest encoded line, soft-break "=" included (RFC 2045: at most 76). */
  readonly lineLength?: number;
}

/**
 * Encodes bytes (a string is taken as UTF-8) as quoted-printable text with CRLF line ends.
 * CRLF in the input stays a hard line break; bare CR or LF are encoded (=0D, =0A) so that
 * decoding gives back the exact input. Trailing white space, "=", control and 8-bit bytes are
 * encoded, and so is the "F" of a line starting "From " (mbox-safe, so signatures survive).
 */
export function encodeQuotedPrintable(input: Uint8Array | string, options: QuotedPrintableOptions = {}): string {
  const bytes = toBytes(input);
  const lineLength = Math.max(4, Math.min(options.lineLength ?? MAX_LINE, MAX_LINE));
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    const atEnd = i === bytes.length;
    if (atEnd || (bytes[i] === CR && bytes[i + 1] === LF)) {
      out.push(wrapTokens(tokenizeLine(bytes, start, i), lineLength));
      if (!atEnd) out.push('\r\n');
      start = i + 2;
      i++;
    }
  }
  return out.join('');
}

/** One token per input byte: the literal char or its =XX escape. */
function tokenizeLine(bytes: Uint8Array, from: number, to: number): string[] {
  const tokens: string[] = [];
  for (let i = from; i < to; i++) {
    const b = bytes[i]!;
    const trailing = i === to - 1;
    if ((b >= 33 && b <= 126 && b !== EQ) || ((b === SP || b === TAB) && !trailing)) tokens.push(String.fromCharCode(b));
    else tokens.push(escapeByte(b));
  }
  return tokens;
}

function escapeByte(b: number): string {
  return '=' + HEX[b >> 4]! + HEX[b & 15]!;
}

// Greedy wrap: a line followed by a soft break holds at most lineLength-1 chars plus "=".
function wrapTokens(tokens: string[], lineLength: number): string {
  let out = '';
  let lineLen = 0;
  for (let i = 0; i < tokens.length; i++) {
    let tok = tokens[i]!;
    if (lineLen === 0 && startsFromLine(tokens, i)) tok = '=46';
    const limit = i === tokens.length - 1 ? lineLength : lineLength - 1;
    if (lineLen > 0 && lineLen + tok.length > limit) {
      out += '=\r\n';
      lineLen = 0;
      if (startsFromLine(tokens, i)) tok = '=46';
    }
    out += tok;
    lineLen += tok.length;
  }
  return out;
}

function startsFromLine(tokens: string[], i: number): boolean {
  return tokens[i] === 'F' && tokens[i + 1] === 'r' && tokens[i + 2] === 'o' && tokens[i + 3] === 'm' && tokens[i + 4] === ' ';
}

/**
 * Decodes quoted-printable. Lenient as RFC 2045 allows: trailing white space on a line is
 * dropped (transport padding), "=" not followed by two hex digits is kept literally, lower-case
 * hex is accepted, and a soft break may end in LF alone. Never throws.
 */
export function decodeQuotedPrintable(input: Uint8Array | string): Uint8Array {
  const bytes = typeof input === 'string' ? latin1(input) : input;
  const out = new Uint8Array(bytes.length);
  let n = 0;
  let lineStart = 0;
  while (lineStart <= bytes.length) {
    const lf = bytes.indexOf(LF, lineStart);
    const hasBreak = lf >= 0;
    const breakStart = hasBreak ? (lf > lineStart && bytes[lf - 1] === CR ? lf - 1 : lf) : bytes.length;
    let contentEnd = breakStart;
    while (contentEnd > lineStart && (bytes[contentEnd - 1] === SP || bytes[contentEnd - 1] === TAB)) contentEnd--;
    // A final "=" is always a soft break: an escape ends in a hex digit, never in "=".
    const soft = contentEnd > lineStart && bytes[contentEnd - 1] === EQ;
    n = decodeLineInto(bytes, lineStart, soft ? contentEnd - 1 : contentEnd, out, n);
    if (!hasBreak) break;
    if (!soft) for (let i = breakStart; i <= lf; i++) out[n++] = bytes[i]!;
    lineStart = lf + 1;
  }
  return out.slice(0, n);
}

function decodeLineInto(bytes: Uint8Array, from: number, to: number, out: Uint8Array, n: number): number {
  for (let i = from; i < to; i++) {
    const b = bytes[i]!;
    if (b === EQ && i + 2 < to) {
      const v = hexPair(bytes[i + 1], bytes[i + 2]);
      if (v >= 0) {
        out[n++] = v;
        i += 2;
        continue;
      }
    }
    out[n++] = b;
  }
  return n;
}

/** The byte written as two hex digits (either case) `a` `b`, or -1 (quoted-printable, RFC 2047 Q, RFC 2231 %). */
export function hexPair(a: number | undefined, b: number | undefined): number {
  const hi = hexDigit(a);
  const lo = hexDigit(b);
  return hi < 0 || lo < 0 ? -1 : (hi << 4) | lo;
}

function hexDigit(c: number | undefined): number {
  if (c === undefined) return -1;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}
