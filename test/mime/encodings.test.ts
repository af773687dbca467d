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
