/** Base64 as mail uses it (RFC 2045 §6.8): lenient decoding, 76-character lines when encoding. */
import { toBase64 } from '../internal/bytes.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const INDEX = new Int16Array(256).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) INDEX[ALPHABET.charCodeAt(i)] = i;
const PAD = 0x3d;

/**
 * Decodes a base64 body. As RFC 2045 asks, characters outside the alphabet (line breaks, spaces,
 * stray junk) are ignored, and decoding stops at the first "=" (end of data). Never throws.
 */
export function decodeBase64Body(input: Uint8Array | string): Uint8Array {
  const out = new Uint8Array(Math.floor((input.length * 3) / 4) + 3);
  // Two monomorphic loops: the per-character type test cost a third of the time on large bodies.
  const n = typeof input === 'string' ? decodeString(input, out) : decodeBytes(input, out);
  return out.slice(0, n);
}

/*
 * Both loops take four alphabet characters at a time while the input is aligned (every 76-character
 * line is), and fall back to one character at a time for anything else: line breaks, junk, padding.
 */
function decodeBytes(src: Uint8Array, out: Uint8Array): number {
  const len = src.length;
  let acc = 0;
  let bits = 0;
  let n = 0;
  let i = 0;
  while (i < len) {
    if (bits === 0 && i + 4 <= len) {
      const q = (INDEX[src[i]!]! << 18) | (INDEX[src[i + 1]!]! << 12) | (INDEX[src[i + 2]!]! << 6) | INDEX[src[i + 3]!]!;
      if (q >= 0) {
        out[n] = q >> 16;
        out[n + 1] = (q >> 8) & 0xff;
        out[n + 2] = q & 0xff;
        n += 3;
        i += 4;
        continue;
      }
    }
    const c = src[i++]!;
    if (c === PAD) break;
    const v = INDEX[c]!;
    if (v < 0) continue;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  return n;
}

function decodeString(src: string, out: Uint8Array): number {
  const len = src.length;
  const at = (k: number) => {
    const c = src.charCodeAt(k);
    return c < 256 ? INDEX[c]! : -1;
  };
  let acc = 0;
  let bits = 0;
  let n = 0;
  let i = 0;
  while (i < len) {
    if (bits === 0 && i + 4 <= len) {
      const a = at(i);
      const b = at(i + 1);
      const c = at(i + 2);
      const d = at(i + 3);
      if ((a | b | c | d) >= 0) {
        const q = (a << 18) | (b << 12) | (c << 6) | d;
        out[n] = q >> 16;
        out[n + 1] = (q >> 8) & 0xff;
        out[n + 2] = q & 0xff;
        n += 3;
        i += 4;
        continue;
      }
    }
    const c = src.charCodeAt(i++);
    if (c === PAD) break;
    const v = c < 256 ? INDEX[c]! : -1;
    if (v < 0) continue;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  return n;
}

/** Base64 in lines of `lineLength` characters joined by CRLF, without a final CRLF. */
export function encodeBase64Lines(bytes: Uint8Array, lineLength = 76): string {
  const b64 = toBase64(bytes);
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += lineLength) lines.push(b64.slice(i, i + lineLength));
  return lines.join('\r\n');
}

const ALPHABET_BYTES = Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0));

/**
 * {@link encodeBase64Lines} straight into bytes (76-character lines, CRLF between them, none at the
 * end): what a message body needs, without building the text first.
 */
export function encodeBase64LineBytes(bytes: Uint8Array): Uint8Array {
  const chars = Math.ceil(bytes.length / 3) * 4;
  const out = new Uint8Array(chars + 2 * Math.max(0, Math.ceil(chars / 76) - 1));
  const a = ALPHABET_BYTES;
  let o = 0;
  let col = 0;
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    if (col === 76) {
      out[o++] = 13;
      out[o++] = 10;
      col = 0;
    }
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o++] = a[n >> 18]!;
    out[o++] = a[(n >> 12) & 63]!;
    out[o++] = a[(n >> 6) & 63]!;
    out[o++] = a[n & 63]!;
    col += 4;
  }
  const rest = bytes.length - i;
  if (rest > 0) {
    if (col === 76) {
      out[o++] = 13;
      out[o++] = 10;
    }
    const n = (bytes[i]! << 16) | (rest === 2 ? bytes[i + 1]! << 8 : 0);
    out[o++] = a[n >> 18]!;
    out[o++] = a[(n >> 12) & 63]!;
    out[o++] = rest === 2 ? a[(n >> 6) & 63]! : PAD;
    out[o++] = PAD;
  }
  return out;
}
