/** Byte-as-char text helpers for header canonicalisation (no locale, no Unicode case rules). */
import { MailPkiError } from '../../errors.js';

export const isWsp = (c: number): boolean => c === 32 || c === 9;

/** Lower-cases A–Z only; String#toLowerCase would also fold Latin-1 letters of 8-bit headers. */
export function asciiLower(s: string): string {
  let upper = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Beyond ASCII, only A–Z may change: the slow path.
    if (c > 0x7f) return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
    if (c >= 65 && c <= 90) upper = true;
  }
  return upper ? s.toLowerCase() : s;
}

/** Bytes to a string of one char per byte (not a decoding: 0x80–0xFF stay themselves). */
export function bytesToBinary(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192) as unknown as number[]);
  return s;
}

export function binaryToBytes(s: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/**
 * A header canonicaliser's output as a string. The field must be a binary string (each char one
 * byte, as message.ts makes them): a char above 0xFF is refused (ERR_INVALID_INPUT), not a silent truncation.
 */
export function headerString(field: string, write: (field: string, out: Uint8Array, o: number) => number): string {
  if (typeof field !== 'string') throw new MailPkiError('ERR_INVALID_INPUT', 'expected the header field as a string', { details: { field: 'field' } });
  for (let i = 0; i < field.length; i++)
    if (field.charCodeAt(i) > 0xff) throw new MailPkiError('ERR_INVALID_INPUT', 'header fields are binary strings (one char per byte); encode the text first', { details: { field: 'field' } });
  const out = new Uint8Array(field.length + 3);
  return bytesToBinary(out.subarray(0, write(field, out, 0)));
}
