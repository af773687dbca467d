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
