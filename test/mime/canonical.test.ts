/** endHeaderAtNonField: the header block ends where Postfix's cleanup ends it (mime_state.c, is_header_buf). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { endHeaderAtNonField, isHeaderFieldLine } from '../../src/mime/canonical.js';

const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const text = (b: Uint8Array) => String.fromCharCode(...b);

describe('endHeaderAtNonField', () => {
  it('a well-formed message is returned as it is (the same array), obsolete "Name :" and folded fields included', () => {
    for (const m of ['From: a@example.com\r\nSubject : x\r\n\tfolded\r\n\r\nbody\r\nno: header\r\n', 'From: a@example.com\r\n', 'From: a@example.com', '']) {
      const b = bytes(m);
      expect(endHeaderAtNonField(b)).toBe(b);
    }
  });

  it.each([
    ['a line without a colon', 'From: a@example.com\r\nPay the new account instead\r\n\r\nbody\r\n', 'From: a@example.com\r\n\r\nPay the new account instead\r\n\r\nbody\r\n'],
    ['a word, a space, then text before the colon', 'From: a@example.com\r\nPay to: DE99\r\n\r\nb\r\n', 'From: a@example.com\r\n\r\nPay to: DE99\r\n\r\nb\r\n'],
    ['an 8-bit byte in the name', 'From: a@example.com\r\nSubj\xe9ct: x\r\nTo: b@example.com\r\n\r\nb\r\n', 'From: a@example.com\r\n\r\nSubj\xe9ct: x\r\nTo: b@example.com\r\n\r\nb\r\n'],
    ['a control byte in the name', 'From: a@example.com\r\nX\x00Y: x\r\n\r\nb\r\n', 'From: a@example.com\r\n\r\nX\x00Y: x\r\n\r\nb\r\n'],
    ['a line starting with ":"', 'From: a@example.com\r\n: x\r\n\r\nb\r\n', 'From: a@example.com\r\n\r\n: x\r\n\r\nb\r\n'],
    ['a first line starting with white space (continuing nothing)', '\t; dkim=pass\r\nFrom: a@example.com\r\n\r\nb\r\n', '\r\n\t; dkim=pass\r\nFrom: a@example.com\r\n\r\nb\r\n'],
    ['a NUL in a field\'s value (Postfix keeps the line only up to it)', 'To: b@example.com\r\nFrom: cfo@example.com\x00<m@attacker.example>\r\nSubject: x\r\n\r\nb\r\n', 'To: b@example.com\r\n\r\nFrom: cfo@example.com\x00<m@attacker.example>\r\nSubject: x\r\n\r\nb\r\n'],
    ['a NUL in a continuation line', 'From: a@example.com\r\nSubject: x\r\n y\x00z\r\n\r\nb\r\n', 'From: a@example.com\r\nSubject: x\r\n\r\n y\x00z\r\n\r\nb\r\n'],
    ['a non-field line in a message without body', 'From: a@example.com\r\nnot a field', 'From: a@example.com\r\n\r\nnot a field'],
  ])('%s starts the body, after an empty line', (_what, input, expected) => {
    expect(text(endHeaderAtNonField(bytes(input)))).toBe(expected);
  });

  it('a name whose colon is not within the first 998 octets of its line is no field (Postfix looks for "name:" only in the first line_length_limit octets, 2048 by default): the line starts the body', () => {
    const at = (n: number) => `From: a@example.com\r\n${'_'.repeat(n)}: Pay the new account\r\n\r\nb\r\n`;
    expect(endHeaderAtNonField(bytes(at(997)))).toEqual(bytes(at(997)));
    expect(text(endHeaderAtNonField(bytes(at(998))))).toBe(`From: a@example.com\r\n\r\n${'_'.repeat(998)}: Pay the new account\r\n\r\nb\r\n`);
    expect(text(endHeaderAtNonField(bytes(at(2100))))).toBe(`From: a@example.com\r\n\r\n${'_'.repeat(2100)}: Pay the new account\r\n\r\nb\r\n`);
    // White space before the colon counts too.
    const spaced = `From: a@example.com\r\nX${' '.repeat(1000)}: y\r\n\r\nb\r\n`;
    expect(text(endHeaderAtNonField(bytes(spaced)))).toBe(`From: a@example.com\r\n\r\nX${' '.repeat(1000)}: y\r\n\r\nb\r\n`);
    expect(isHeaderFieldLine(`${'_'.repeat(997)}: x`)).toBe(true);
    expect(isHeaderFieldLine(`${'_'.repeat(998)}: x`)).toBe(false);
    expect(isHeaderFieldLine('From: cfo@example.com\0<m@attacker.example>')).toBe(false);
    expect(isHeaderFieldLine('Subject: x\r\n y\0')).toBe(false);
  });

  it('a NUL in the body is left alone (Postfix keeps it there)', () => {
    const b = bytes('From: a@example.com\r\n\r\nb\x00c\r\n');
    expect(endHeaderAtNonField(b)).toBe(b);
  });

  it('property: idempotent, and only ever inserts one CRLF', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('From: a', 'X: \x00', ' \x00', 'X : y', '\tcont', ' cont', 'junk line', 'J\xe9: x', '', ':x', 'A:'), { maxLength: 8 }), (lines) => {
        const input = bytes(lines.join('\r\n'));
        const once = endHeaderAtNonField(input);
        expect(once.length - input.length === 0 || once.length - input.length === 2).toBe(true);
        expect(text(endHeaderAtNonField(once))).toBe(text(once));
      }),
    );
  });
});
