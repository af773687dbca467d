import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalizeLineEndings,
  decodeBase64Body,
  decodeEncodedWords,
  decodeQuotedPrintable,
  encodeBase64Lines,
  encodeEncodedWords,
  encodeQuotedPrintable,
  isCanonical,
} from '../../src/mime/index.js';
import { encodeBase64LineBytes } from '../../src/mime/base64.js';

const enc = new TextEncoder();
const str = (b: Uint8Array) => new TextDecoder('latin1').decode(b);
const utf8 = (b: Uint8Array) => new TextDecoder().decode(b);

describe('canonicalizeLineEndings', () => {
  it.each([
    ['a\nb', 'a\r\nb'],
    ['a\rb', 'a\r\nb'],
    ['a\r\nb', 'a\r\nb'],
    ['\n\r\r\n\n', '\r\n\r\n\r\n\r\n'],
    ['\r', '\r\n'],
    ['', ''],
  ])('%j -> %j', (input, want) => {
    const out = canonicalizeLineEndings(enc.encode(input));
    expect(str(out)).toBe(want);
    expect(isCanonical(out)).toBe(true);
  });

  it('returns a copy even when nothing changes', () => {
    const input = enc.encode('a\r\n');
    expect(canonicalizeLineEndings(input)).not.toBe(input);
  });
});

describe('quoted-printable', () => {
  it('encodes "=", 8-bit bytes and trailing white space, and keeps CRLF hard breaks', () => {
    expect(encodeQuotedPrintable('a=b caf\u00e9 \r\nend\t')).toBe('a=3Db caf=C3=A9=20\r\nend=09');
  });

  it('wraps at 76 characters with soft breaks and never splits an escape', () => {
    const out = encodeQuotedPrintable('x'.repeat(74) + '\u00e9' + 'y'.repeat(100));
    const lines = out.split('\r\n');
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(76);
    expect(lines[0]).toBe('x'.repeat(74) + '=');
    expect(lines[1]!.startsWith('=C3=A9')).toBe(true);
    expect(utf8(decodeQuotedPrintable(out))).toBe('x'.repeat(74) + '\u00e9' + 'y'.repeat(100));
  });

  it('fits exactly 76 characters on a final line without a soft break', () => {
    expect(encodeQuotedPrintable('a'.repeat(76))).toBe('a'.repeat(76));
    expect(encodeQuotedPrintable('a'.repeat(77))).toBe('a'.repeat(75) + '=\r\naa');
  });

  it('encodes bare CR and LF so decoding gives back the exact bytes', () => {
    const input = new Uint8Array([0x61, 0x0a, 0x62, 0x0d, 0x63, 0x0d, 0x0a]);
    expect(encodeQuotedPrintable(input)).toBe('a=0Ab=0Dc\r\n');
    expect([...decodeQuotedPrintable(encodeQuotedPrintable(input))]).toEqual([...input]);
  });

  it('protects "From " at the start of a line (mbox)', () => {
    expect(encodeQuotedPrintable('From me\r\nFrom')).toBe('=46rom me\r\nFrom');
  });

  it('decodes leniently: lower-case hex, stray "=", transport padding, LF soft breaks', () => {
    expect(str(decodeQuotedPrintable('caf=c3=a9'))).toBe('caf\u00c3\u00a9');
    expect(str(decodeQuotedPrintable('a=zz=4'))).toBe('a=zz=4');
    expect(str(decodeQuotedPrintable('line  \t\r\nnext'))).toBe('line\r\nnext');
    expect(str(decodeQuotedPrintable('soft= \r\nbreak=\nhere'))).toBe('softbreakhere');
    expect(str(decodeQuotedPrintable('end='))).toBe('end');
  });
});

describe('base64 bodies', () => {
  it('ignores white space and characters outside the alphabet, and stops at "="', () => {
    expect(str(decodeBase64Body('SGVs\r\nbG8g\t d29y*bGQ='))).toBe('Hello world');
    expect(str(decodeBase64Body('SGk=junk'))).toBe('Hi');
    expect(str(decodeBase64Body(enc.encode('SGk')))).toBe('Hi');
  });

  it('encodes in 76-character CRLF lines', () => {
    const out = encodeBase64Lines(new Uint8Array(100));
    expect(out.split('\r\n').map((l) => l.length)).toEqual([76, 60]);
  });

  it('the byte encoder writes exactly the text encoder\'s lines, for every length around the line and group edges', () => {
    for (let n = 0; n <= 200; n++) {
      const data = crypto.getRandomValues(new Uint8Array(n));
      expect(str(encodeBase64LineBytes(data)), `length ${n}`).toBe(encodeBase64Lines(data));
    }
    const big = crypto.getRandomValues(new Uint8Array(4096));
    expect(str(encodeBase64LineBytes(big))).toBe(encodeBase64Lines(big));
    expect(decodeBase64Body(encodeBase64LineBytes(big))).toEqual(big);
  });

  /** RFC 2045's rule one character at a time: the reference the four-at-a-time decoder must equal. */
  function referenceDecode(text: string): Uint8Array {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const out: number[] = [];
    let acc = 0;
    let bits = 0;
    for (const ch of text) {
      if (ch === '=') break;
      const v = alphabet.indexOf(ch);
      if (v < 0) continue;
      acc = ((acc << 6) | v) & 0xffffff;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out.push((acc >> bits) & 0xff);
      }
    }
    return Uint8Array.from(out);
  }

  it('decodes exactly as the one-character-at-a-time rule, for strings and bytes with junk, breaks, padding and non-Latin-1 characters anywhere', () => {
    const piece = fc.oneof(
      fc.constantFrom('A', 'z', '0', '+', '/', 'Q', '=', '\r\n', ' ', '\t', '*', '-', '_', '\u00e9', '\u20ac', 'SGVs', 'bG8g'),
      fc.string({ maxLength: 8 }),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 60 }), (pieces) => {
        const text = pieces.join('');
        const want = referenceDecode(text);
        expect(decodeBase64Body(text)).toEqual(want);
        // As bytes (what a raw message holds), each UTF-16 unit above 255 becomes one junk byte.
        const bytes = Uint8Array.from(text, (c) => (c.charCodeAt(0) < 256 ? c.charCodeAt(0) : 0x7f));
        expect(decodeBase64Body(bytes)).toEqual(referenceDecode(Array.from(bytes, (b) => String.fromCharCode(b)).join('')));
      }),
      { numRuns: 2000 },
    );
  });

  it('decodes a large 76-column body like Node does', () => {
    const data = Uint8Array.from({ length: 300_001 }, (_, i) => (i * 7919 + (i >> 8)) & 0xff);
    const text = encodeBase64Lines(data);
    expect(decodeBase64Body(text)).toEqual(data);
    expect(decodeBase64Body(enc.encode(text))).toEqual(data);
    expect(Buffer.from(decodeBase64Body(text))).toEqual(Buffer.from(text, 'base64'));
  });
});

describe('RFC 2047 encoded words', () => {
  it.each([
    // RFC 2047 §8 examples
    ['(=?ISO-8859-1?Q?a?=)', '(a)'],
    ['(=?ISO-8859-1?Q?a?= b)', '(a b)'],
    ['(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)', '(ab)'],
    ['(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)', '(ab)'],
    ['(=?ISO-8859-1?Q?a_b?=)', '(a b)'],
    ['(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)', '(a b)'],
    ['=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=', 'Keld Jørn Simonsen'],
    ['=?US-ASCII?Q?Keith_Moore?=', 'Keith Moore'],
    ['=?utf-8?B?w6k=?=', 'é'],
    ['=?UTF-8*en?Q?caf=C3=A9?=', 'café'],
    ['=?windows-1252?Q?=80_rates?=', '€ rates'],
    // A UTF-8 character split across two words.
    ['=?UTF-8?Q?=E2=82?= =?UTF-8?Q?=AC?=', '€'],
    ['=?x-unknown?Q?abc?= =?utf-8?Q?d?=', '=?x-unknown?Q?abc?= d'],
    ['plain =? text ?=', 'plain =? text ?='],
    ['=?utf-8?X?abc?=', '=?utf-8?X?abc?='],
  ])('%s -> %s', (input, want) => {
    expect(decodeEncodedWords(input)).toBe(want);
  });

  it('leaves ASCII text alone and encodes non-ASCII in words of at most 75 chars', () => {
    expect(encodeEncodedWords('Hello world')).toBe('Hello world');
    expect(encodeEncodedWords('Grüße')).toBe('=?UTF-8?B?R3LDvMOfZQ==?=');
    const long = 'Ünïcödé '.repeat(20) + '😀'.repeat(30);
    for (const encoding of ['B', 'Q'] as const) {
      const out = encodeEncodedWords(long, { encoding });
      const words = out.split(' ');
      expect(words.length).toBeGreaterThan(1);
      for (const w of words) {
        expect(w.length).toBeLessThanOrEqual(75);
        // Each word decodes on its own: characters are never split across words.
        expect(decodeEncodedWords(w)).not.toContain('\ufffd');
      }
      expect(decodeEncodedWords(out)).toBe(long);
    }
  });

  it('uses only phrase-safe characters in the Q form', () => {
    expect(encodeEncodedWords('a "b" <c>, é', { encoding: 'Q' })).toBe('=?UTF-8?Q?a_=22b=22_=3Cc=3E=2C_=C3=A9?=');
  });

  it('encodes text that would otherwise read as an encoded word', () => {
    const tricky = '=?utf-8?Q?x?=';
    expect(decodeEncodedWords(encodeEncodedWords(tricky))).toBe(tricky);
  });
});
