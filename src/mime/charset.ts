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
