/** Byte-as-char text helpers for header canonicalisation (no locale, no Unicode case rules). */

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
