/** Text decoding by MIME charset name, shared by RFC 2047 and RFC 2231 decoding. */

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const latin1Decoder = new TextDecoder('latin1');
const decoders = new Map<string, TextDecoder>();

/** Decodes `bytes` in `charset`, or undefined when the runtime does not know that charset. */
export function decodeCharset(bytes: Uint8Array, charset: string): string | undefined {
  const decoder = decoderFor(charset);
  if (!decoder) return undefined;
  // WHATWG maps latin1/us-ascii labels to windows-1252, but Node 20 decodes them as plain latin1: do it ourselves, everywhere alike.
  return decoder.encoding === 'windows-1252' ? decodeWindows1252(bytes) : decoder.decode(bytes);
}

// 0x80-0x9F of windows-1252 (WHATWG index); the rest of the range is latin1.
const CP1252_HIGH = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
  0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
];

function decodeWindows1252(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += String.fromCharCode(b >= 0x80 && b <= 0x9f ? CP1252_HIGH[b - 0x80]! : b);
  return out;
}

/** UTF-8 when the bytes are valid UTF-8 (RFC 6532 headers), else one char per byte. */
export function decodeUtf8OrLatin1(bytes: Uint8Array): string {
  if (isAscii(bytes)) return latin1Decoder.decode(bytes);
  try {
    return strictUtf8.decode(bytes);
  } catch {
    // Not UTF-8: legacy 8-bit header text; latin1 keeps every byte visible and reversible.
    return latin1Decoder.decode(bytes);
  }
}

export function isAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! > 0x7f) return false;
  return true;
}

function decoderFor(charset: string): TextDecoder | undefined {
  // RFC 2231 allows a language suffix on RFC 2047 charsets: "utf-8*en".
  const label = charset.split('*')[0]!.trim().toLowerCase();
  let decoder = decoders.get(label);
  if (decoder) return decoder;
  try {
    decoder = new TextDecoder(label);
  } catch {
    // RangeError is TextDecoder's only way to say "unknown label"; callers keep the text undecoded.
    return undefined;
  }
  if (decoders.size < 64) decoders.set(label, decoder);
  return decoder;
}

const hex = (b: number) => `0x${b.toString(16).toUpperCase().padStart(2, '0')}`;

/**
 * Why `bytes` (one header field, folding CRLFs included) are not header text as RFC 6532 §3.1
 * allows it, or undefined when they are: well-formed UTF-8 (RFC 3629: no overlong form, no
 * surrogate, nothing above U+10FFFF, no continuation byte alone, no sequence cut short), CR only
 * before LF and LF only after CR, and no control character but TAB (C0, DEL, C1).
 */
export function headerTextFault(bytes: Uint8Array): string | undefined {
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]!;
    if (b < 0x80) {
      if (b === 0x0d ? bytes[i + 1] !== 0x0a : b === 0x0a ? bytes[i - 1] !== 0x0d : (b < 0x20 && b !== 0x09) || b === 0x7f)
        return `the control character ${hex(b)} at offset ${i}`;
      i++;
      continue;
    }
    // RFC 3629 §4: the lead byte fixes the length and the range of the second byte.
    const [length, low, high, what] =
      b < 0xc2 ? [0, 0, 0, b < 0xc0 ? 'a continuation byte without a lead byte' : 'an overlong encoding']
      : b < 0xe0 ? [2, 0x80, 0xbf, '']
      : b === 0xe0 ? [3, 0xa0, 0xbf, 'an overlong encoding']
      : b === 0xed ? [3, 0x80, 0x9f, 'a UTF-16 surrogate (U+D800-U+DFFF), which UTF-8 must not encode']
      : b < 0xf0 ? [3, 0x80, 0xbf, '']
      : b === 0xf0 ? [4, 0x90, 0xbf, 'an overlong encoding']
      : b < 0xf4 ? [4, 0x80, 0xbf, '']
      : b === 0xf4 ? [4, 0x80, 0x8f, 'a code point above U+10FFFF']
      : [0, 0, 0, 'a code point above U+10FFFF'];
    const at = `the byte ${hex(b)} at offset ${i}`;
    if (length === 0) return `${at} is not UTF-8 (${what})`;
    const second = bytes[i + 1];
    if (second === undefined || second < 0x80 || second > 0xbf) return `${at} begins a UTF-8 sequence that is cut short`;
    if (second < low || second > high) return `${at} begins ${what}`;
    for (let k = 2; k < length; k++) {
      const c = bytes[i + k];
      if (c === undefined || c < 0x80 || c > 0xbf) return `${at} begins a UTF-8 sequence that is cut short`;
    }
    // U+0080-U+009F (C1 controls) are C2 80-C2 9F.
    if (b === 0xc2 && second < 0xa0) return `the control character U+00${second.toString(16).toUpperCase()} at offset ${i}`;
    i += length;
  }
  return undefined;
}
