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
  const len = input.length;
  const out = new Uint8Array(Math.floor((len * 3) / 4) + 3);
  let acc = 0;
  let bits = 0;
  let n = 0;
  for (let i = 0; i < len; i++) {
    const c = typeof input === 'string' ? input.charCodeAt(i) : input[i]!;
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
  return out.slice(0, n);
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
