/** Byte helpers that work in every runtime (no Buffer). */
import { MailPkiError } from '../errors.js';

export type BytesLike = Uint8Array | ArrayBuffer | ArrayBufferView;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const latin1Decoder = new TextDecoder('latin1');

/** A plain Uint8Array over the given bytes (no copy when already one). */
export function toBytes(input: BytesLike | string): Uint8Array {
  if (typeof input === 'string') return utf8Encoder.encode(input);
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  throw new MailPkiError('ERR_INVALID_INPUT', 'expected bytes or a string', { details: { field: 'input' } });
}

/** Whether the ASCII `needle` (not empty) occurs in `hay`, searched in the bytes (no text copy of them). */
export function includesAscii(hay: Uint8Array, needle: string): boolean {
  const first = needle.charCodeAt(0);
  for (let i = hay.indexOf(first); i >= 0 && i + needle.length <= hay.length; i = hay.indexOf(first, i + 1)) {
    let j = 1;
    while (j < needle.length && hay[i + j] === needle.charCodeAt(j)) j++;
    if (j === needle.length) return true;
  }
  return false;
}

/** A copy backed by its own ArrayBuffer: what WebCrypto's BufferSource typing wants. */
export function copyBytes(input: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(input.byteLength);
  out.set(input);
  return out;
}

export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** Strict UTF-8 decoding; throws TypeError on invalid sequences. */
export function fromUtf8(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

/** Each byte as one char (for 8-bit MIME and header handling). */
export function fromLatin1(bytes: Uint8Array): string {
  return latin1Decoder.decode(bytes);
}

export function latin1(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]!];
  return s;
}

export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/[\s:]/g, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) throw new MailPkiError('ERR_INVALID_INPUT', 'not a hex string', { details: { field: 'hex' } });
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = new Int16Array(256).fill(-1);
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charCodeAt(i)] = i;
const B64_CODES = Uint8Array.from(B64, (c) => c.charCodeAt(0));

/**
 * Base64 (RFC 4648 §4, padded). The characters are written into a byte array and made a string in
 * a few large pieces: a string grown 4 characters at a time is a chain of thousands of small
 * strings that every later reader (JSON, a regular expression, a hash) first has to flatten.
 */
export function toBase64(bytes: Uint8Array): string {
  const out = new Uint8Array(Math.ceil(bytes.length / 3) * 4);
  let o = 0;
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o++] = B64_CODES[n >> 18]!;
    out[o++] = B64_CODES[(n >> 12) & 63]!;
    out[o++] = B64_CODES[(n >> 6) & 63]!;
    out[o++] = B64_CODES[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest > 0) {
    const n = (bytes[i]! << 16) | (rest === 2 ? bytes[i + 1]! << 8 : 0);
    out[o++] = B64_CODES[n >> 18]!;
    out[o++] = B64_CODES[(n >> 12) & 63]!;
    out[o++] = rest === 2 ? B64_CODES[(n >> 6) & 63]! : 0x3d;
    out[o++] = 0x3d;
  }
  let s = '';
  // In pieces: String.fromCharCode takes its arguments on the stack.
  for (let at = 0; at < out.length; at += 0x8000) s += String.fromCharCode.apply(null, out.subarray(at, at + 0x8000) as unknown as number[]);
  return s;
}

/**
 * Decodes base64, ignoring ASCII white space. Returns undefined for any other stray
 * character or bad padding, so callers can raise their own coded error.
 */
export function fromBase64(text: string): Uint8Array | undefined {
  const out = new Uint8Array(Math.floor((text.length * 3) / 4) + 3);
  let acc = 0;
  let bits = 0;
  let n = 0;
  let pad = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue;
    if (c === 0x3d) {
      pad++;
      continue;
    }
    if (pad > 0) return undefined;
    const v = c < 256 ? B64_INDEX[c]! : -1;
    if (v < 0) return undefined;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  if (pad > 2) return undefined;
  // Leftover bits must be padding-compatible: 0 (full), 2 (one pad) or 4 (two pads).
  if (bits === 6) return undefined;
  if (pad > 0 && (bits === 0 || (bits === 2 && pad !== 1) || (bits === 4 && pad !== 2))) return undefined;
  return out.slice(0, n);
}

/**
 * A serial number in the one form used everywhere (as `Certificate.serialNumber`): lower-case
 * hex of whole bytes, no leading zero bytes ("0x0A:33" → "0a33", "00ab" → "ab").
 */
export function normalizeSerialHex(serial: string): string {
  const digits = serial.trim().toLowerCase().replace(/^0x/, '').replace(/:/g, '').replace(/^0+/, '');
  return digits.length % 2 ? `0${digits}` : digits || '00';
}
