/** Relaxed and simple canonicalisation (RFC 6376 §3.4), byte for byte, and chunking independence. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalizeBody, relaxedHeader, simpleHeader } from '../../src/dkim/index.js';
import { bodyCanonicalizer, signedHeaderData } from '../../src/dkim/canonicalization/index.js';
import { parseHeaderBlock } from '../../src/dkim/message.js';

const enc = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const body = (alg: 'relaxed' | 'simple', s: string): string => Buffer.from(canonicalizeBody(alg, enc(s))).toString('latin1');

describe('body canonicalisation', () => {
  it('empty body: simple is one CRLF, relaxed is empty', () => {
    expect(body('simple', '')).toBe('\r\n');
    expect(body('relaxed', '')).toBe('');
    expect(body('simple', '\r\n\r\n')).toBe('\r\n');
    expect(body('relaxed', ' \t\r\n\r\n')).toBe('');
  });
  it('trailing empty lines are removed, a missing final CRLF is added', () => {
    expect(body('simple', 'a\r\n\r\n\r\n')).toBe('a\r\n');
    expect(body('simple', 'a')).toBe('a\r\n');
    expect(body('relaxed', 'a  \r\n \r\n\t\r\n')).toBe('a\r\n');
    expect(body('relaxed', 'a')).toBe('a\r\n');
  });
  it('WSP runs become one space in relaxed, and line-end WSP goes; simple keeps them', () => {
    expect(body('relaxed', ' x \t y\t\r\n')).toBe(' x y\r\n');
    expect(body('simple', ' x \t y\t\r\n')).toBe(' x \t y\t\r\n');
  });
  it('inner empty lines stay; a bare LF counts as CRLF; a bare CR is content', () => {
    expect(body('relaxed', 'a\n\nb\n')).toBe('a\r\n\r\nb\r\n');
    expect(body('simple', 'a\rb\r\n')).toBe('a\rb\r\n');
    expect(body('relaxed', 'a \r b\r\n')).toBe('a \r b\r\n');
    expect(body('simple', 'a\r')).toBe('a\r\r\n');
  });
  it('gives the same bytes however the input is chunked (split between CR and LF, inside WSP runs)', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', ' ', '\t', '\r', '\n', 'é', '\r\n'), maxLength: 200 }), fc.array(fc.nat(200), { maxLength: 8 }), fc.constantFrom('relaxed' as const, 'simple' as const), (s, cuts, alg) => {
        const bytes = enc(s);
        const whole = canonicalizeBody(alg, bytes);
        const parts: number[] = [];
        const c = bodyCanonicalizer(alg, (b) => parts.push(...b));
        let at = 0;
        for (const cut of [...cuts].sort((x, y) => x - y)) {
          const to = Math.min(cut, bytes.length);
          if (to < at) continue;
          c.update(bytes.subarray(at, to));
          at = to;
        }
        c.update(bytes.subarray(at));
        c.finish();
        expect(Uint8Array.from(parts)).toEqual(whole);
      }),
    );
  });
  it('matches the RFC 6376 §3.4.3/§3.4.4 rules written plainly, for bodies with long canonical stretches and irregular lines, chunked anywhere', () => {
    // The rules as the RFC states them, on a binary string: a bare LF is a line end (as after
    // SMTP), a bare CR is content.
    const lines = (s: string): string[] => s.replace(/\r?\n/g, '\r\n').split('\r\n');
    const reference = (alg: 'relaxed' | 'simple', s: string): string => {
      const ls = lines(s);
      const last = ls.pop()!; // after the final line end: '' or a line without its CRLF
      if (last !== '') ls.push(last);
      const out = alg === 'relaxed' ? ls.map((l) => l.replace(/[ \t]+/g, ' ').replace(/ $/, '')) : ls;
      while (out.length > 0 && out[out.length - 1] === '') out.pop();
      // An empty body: nothing in relaxed, one CRLF in simple.
      if (out.length === 0) return alg === 'relaxed' ? '' : '\r\n';
      return out.map((l) => `${l}\r\n`).join('');
    };
    const unit = fc.constantFrom('a', 'word ', ' ', '\t', '\r', '\n', '\r\n', '\u00e9', 'x'.repeat(300), 'Plain text, one space apart.\r\n'.repeat(12));
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 40 }), fc.array(fc.nat(4000), { maxLength: 6 }), fc.constantFrom('relaxed' as const, 'simple' as const), (s, cuts, alg) => {
        const bytes = enc(s);
        const parts: number[] = [];
        const c = bodyCanonicalizer(alg, (b) => {
          for (const x of b) parts.push(x);
        });
        let at = 0;
        for (const cut of [...cuts].sort((x, y) => x - y)) {
          const to = Math.min(cut, bytes.length);
          c.update(bytes.subarray(at, to));
          at = to;
        }
        c.update(bytes.subarray(at));
        c.finish();
        expect(Buffer.from(parts).toString('latin1')).toBe(reference(alg, s));
      }),
      { numRuns: 500 },
    );
  });
  it('is idempotent: canonicalising canonical output changes nothing', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('x', ' ', '\t', '\r', '\n', '\r\n'), maxLength: 200 }), fc.constantFrom('relaxed' as const, 'simple' as const), (s, alg) => {
        const once = canonicalizeBody(alg, enc(s));
        if (alg === 'relaxed' && once.length === 0) return;
        expect(canonicalizeBody(alg, once)).toEqual(once);
      }),
    );
  });
  it('bodies in progress at the same time keep their own buffers, also when buffers are reused', () => {
    const texts = ['a  b\r\n\r\nc\r\n'.repeat(300), 'x\ty \n'.repeat(500), 'plain\r\n'];
    for (let round = 0; round < 3; round++) {
      const outs = texts.map(() => [] as number[]);
      const cs = texts.map((_, i) => bodyCanonicalizer('relaxed', (b) => outs[i]!.push(...b)));
      for (let at = 0; at < 4000; at += 700) cs.forEach((c, i) => c.update(enc(texts[i]!.slice(at, at + 700))));
      cs.forEach((c) => c.finish());
      texts.forEach((t, i) => expect(Buffer.from(outs[i]!).toString('latin1')).toBe(body('relaxed', t)));
      expect(() => cs[0]!.update(enc('more'))).toThrow(/after finish/);
      expect(() => cs[0]!.finish()).toThrow(/twice/);
    }
  });
  it('handles a body larger than one internal piece (bare LF doubling across piece boundaries)', () => {
    const big = 'x \n'.repeat(20000);
    expect(body('relaxed', big)).toBe('x\r\n'.repeat(20000));
    expect(body('simple', big)).toBe('x \r\n'.repeat(20000));
  });
});

describe('header canonicalisation', () => {
  it('relaxed: lower-cased name, unfolded, WSP runs to one space, no WSP around the colon or at the ends', () => {
    expect(relaxedHeader('SubJect \t:  Is \t dinner\r\n\t ready?  ')).toBe('subject:Is dinner ready?\r\n');
    expect(relaxedHeader('X-Empty:   ')).toBe('x-empty:\r\n');
  });
  it('relaxed: 8-bit bytes are neither case-folded nor trimmed', () => {
    expect(relaxedHeader('X-\u00c9: \u00a0caf\u00e9\u00a0')).toBe('x-\u00c9:\u00a0caf\u00e9\u00a0\r\n');
  });
  it('simple: unchanged, with CRLF', () => {
    expect(simpleHeader('Subject:  a\r\n\tb ')).toBe('Subject:  a\r\n\tb \r\n');
  });
  it('folded fields are kept whole; bare LF folding becomes CRLF', () => {
    const h = parseHeaderBlock(enc('Subject: a\n b\nTo: x\n\n'));
    expect(h.map((f) => [f.key, f.raw])).toEqual([
      ['subject', 'Subject: a\r\n b'],
      ['to', 'To: x'],
    ]);
  });
  it('relaxed equals the RFC 6376 §3.4.2 steps done one char at a time, for any field', () => {
    // The steps as the RFC lists them, written plainly: the reference for the optimised code.
    const reference = (field: string): string => {
      const colon = field.indexOf(':');
      const name = (colon < 0 ? field : field.slice(0, colon)).replace(/[ \t]+$/, '').replace(/[A-Z]/g, (c) => c.toLowerCase());
      let out = '';
      let space = false;
      const value = colon < 0 ? '' : field.slice(colon + 1);
      for (let i = 0; i < value.length; i++) {
        if (value[i] === '\r' && value[i + 1] === '\n') {
          i++;
          continue;
        }
        if (value[i] === ' ' || value[i] === '\t') {
          space = true;
          continue;
        }
        if (space && out.length > 0) out += ' ';
        space = false;
        out += value[i];
      }
      return `${name}:${out}\r\n`;
    };
    const unit = fc.constantFrom('A', 'z', ' ', '\t', ':', '\r', '\n', '\r\n', '\r\n ', '\u00c9', '\u00ff', ';');
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 40 }), (s) => {
        expect(relaxedHeader(s)).toBe(reference(s));
      }),
    );
  });
  it('names: only A–Z are lower-cased, whatever other bytes the name holds', () => {
    const unit = fc.integer({ min: 0x21, max: 0xff }).map((c) => String.fromCharCode(c === 0x3a ? 0x41 : c));
    fc.assert(
      fc.property(fc.string({ unit, minLength: 1, maxLength: 20 }), (name) => {
        expect(relaxedHeader(`${name}:v`)).toBe(`${name.replace(/[A-Z]/g, (c) => c.toLowerCase())}:v\r\n`);
      }),
    );
  });
  it('refuses a field that is not a binary string, rather than truncating chars', () => {
    expect(() => relaxedHeader('Subject: \u20ac')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
    expect(() => simpleHeader('Subject: \u20ac')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
  });
  it('signed header data: named fields bottom-up, each once, then the own field without CRLF', () => {
    const headers = parseHeaderBlock(enc('To: a\r\nSubject:  one \r\nSubject: two\r\nFrom: x@example.com\r\n\r\n'));
    const own = 'DKIM-Signature: v=1; b=';
    for (const alg of ['relaxed', 'simple'] as const) {
      const canon = alg === 'relaxed' ? relaxedHeader : simpleHeader;
      const data = signedHeaderData(alg, headers, ['from', 'subject', 'subject', 'subject', 'cc'], own);
      const expected = canon('From: x@example.com') + canon('Subject: two') + canon('Subject:  one ') + canon(own).slice(0, -2);
      expect(Buffer.from(data).toString('latin1')).toBe(expected);
    }
  });
  it('is idempotent on relaxed output', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('A', 'b', ' ', '\t', ':', '\r\n '), maxLength: 60 }), (s) => {
        const field = `N${s}`;
        const once = relaxedHeader(field).slice(0, -2);
        expect(relaxedHeader(once)).toBe(`${once}\r\n`);
      }),
    );
  });
});
