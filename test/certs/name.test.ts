import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import { MAX_PREPARED_NAME_BYTES, nameMatchKey, nameWithinSubtree, namesMatch, prepareDirectoryString, type Name } from '../../src/certs/name.js';
import { Tag, oid, seq, setOf, tlv } from '../../src/internal/der.js';
import { OID } from '../../src/internal/oids.js';

const enc = new TextEncoder();
const utf8 = (s: string) => tlv(Tag.UTF8_STRING, enc.encode(s));
const printable = (s: string) => tlv(Tag.PRINTABLE_STRING, enc.encode(s));
function bmp(s: string): Uint8Array {
  const b = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) (b[2 * i] = s.charCodeAt(i) >> 8), (b[2 * i + 1] = s.charCodeAt(i) & 0xff);
  return tlv(Tag.BMP_STRING, b);
}
const atv = (type: string, value: Uint8Array) => seq(oid(type), value);
/** A Name from RDNs, each a list of [type, encoded value]. */
const name = (...rdns: [string, Uint8Array][][]): Name => ({ der: seq(...rdns.map((r) => setOf(...r.map(([t, v]) => atv(t, v))))), rdns: [] });
const cn = (v: Uint8Array) => name([[OID.countryName, printable('US')]], [[OID.organizationName, printable('Test Certificates 2011')]], [[OID.commonName, v]]);
const code = (f: () => unknown): string | undefined => {
  try {
    f();
    return undefined;
  } catch (e) {
    return e instanceof MailPkiError ? e.code : `uncoded ${String(e)}`;
  }
};

describe('prepareDirectoryString (RFC 4518)', () => {
  const p = (s: string, tag: number = Tag.UTF8_STRING) => prepareDirectoryString(tag, enc.encode(s));
  it('folds case, removes insignificant spaces, maps spaces and soft hyphens, applies NFKC', () => {
    expect(p('  Good   CA ')).toBe('good ca');
    expect(p('Good\u00a0\tCA')).toBe('good ca');
    expect(p('Go\u00adod\u200bCA')).toBe('goodca');
    expect(p('\ufb01le')).toBe('file');
    expect(p('STRASSE')).toBe(p('straße'));
    expect(p('ÉCOLE')).toBe('école');
    expect(p('   ')).toBe('');
  });
  it('refuses what RFC 4518 prohibits and bad encodings, with ERR_CERT_MALFORMED', () => {
    expect(code(() => p('a\ue000'))).toBe('ERR_CERT_MALFORMED');
    expect(code(() => p('a\ufffd'))).toBe('ERR_CERT_MALFORMED');
    expect(code(() => p('\ufdd0'))).toBe('ERR_CERT_MALFORMED');
    expect(code(() => prepareDirectoryString(Tag.UTF8_STRING, new Uint8Array([0x61, 0xc3])))).toBe('ERR_CERT_MALFORMED');
    expect(code(() => prepareDirectoryString(Tag.BMP_STRING, new Uint8Array([0, 0x61, 0])))).toBe('ERR_CERT_MALFORMED');
    expect(code(() => prepareDirectoryString(Tag.BMP_STRING, new Uint8Array([0xd8, 0x00])))).toBe('ERR_CERT_MALFORMED');
    expect(code(() => prepareDirectoryString(Tag.UNIVERSAL_STRING, new Uint8Array([0, 0x11, 0, 0])))).toBe('ERR_CERT_MALFORMED');
    expect(code(() => prepareDirectoryString(Tag.OCTET_STRING, new Uint8Array([0x61])))).toBe('ERR_CERT_MALFORMED');
  });
  it('hostile strings of every string type give a string or a coded error, never a crash, bounded in size', () => {
    const tags = [Tag.UTF8_STRING, Tag.PRINTABLE_STRING, Tag.T61_STRING, Tag.IA5_STRING, Tag.BMP_STRING, Tag.UNIVERSAL_STRING, 0x1a, 0x12, Tag.OCTET_STRING];
    fc.assert(
      fc.property(fc.constantFrom(...tags), fc.uint8Array({ maxLength: 64 }), (tag, bytes) => {
        try {
          const s = prepareDirectoryString(tag, bytes);
          // NFKC grows a character at most 18-fold (U+FDFA).
          expect(s.length).toBeLessThanOrEqual(18 * bytes.length);
        } catch (e) {
          expect(e).toBeInstanceOf(MailPkiError);
        }
      }),
      { numRuns: 2000 },
    );
  });
  it('any Unicode string is prepared the same from UTF8String and from UniversalString', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 16 }), (s) => {
        const cps = [...s].map((ch) => ch.codePointAt(0)!);
        const ucs4 = new Uint8Array(cps.length * 4);
        cps.forEach((cp, i) => new DataView(ucs4.buffer).setUint32(i * 4, cp));
        const a = code(() => prepareDirectoryString(Tag.UTF8_STRING, enc.encode(s)));
        const b = code(() => prepareDirectoryString(Tag.UNIVERSAL_STRING, ucs4));
        expect(a).toBe(b);
        if (a === undefined) expect(prepareDirectoryString(Tag.UTF8_STRING, enc.encode(s))).toBe(prepareDirectoryString(Tag.UNIVERSAL_STRING, ucs4));
      }),
    );
  });
});

describe('namesMatch (RFC 5280 §7.1)', () => {
  it('matches names that differ in case, spaces and string type (PKITS 4.3.3–4.3.11 forms)', () => {
    const base = cn(printable('Good CA'));
    expect(namesMatch(base, cn(printable('good ca')))).toBe(true);
    expect(namesMatch(base, cn(printable('  Good    CA  ')))).toBe(true);
    expect(namesMatch(base, cn(utf8('Good CA')))).toBe(true);
    expect(namesMatch(base, cn(bmp('GOOD CA')))).toBe(true);
    expect(namesMatch(cn(utf8('Ünïcode CA')), cn(utf8('üNÏCODE ca')))).toBe(true);
  });
  it('does not match other values, other attribute types, other RDN counts or RDN order', () => {
    const base = cn(printable('Good CA'));
    expect(namesMatch(base, cn(printable('Good CA2')))).toBe(false);
    expect(namesMatch(base, cn(printable('GoodCA')))).toBe(false);
    expect(namesMatch(name([[OID.commonName, printable('x')]]), name([[OID.organizationName, printable('x')]]))).toBe(false);
    expect(namesMatch(name([[OID.commonName, printable('x')]]), name([[OID.commonName, printable('x')]], [[OID.commonName, printable('x')]]))).toBe(false);
    const a = name([[OID.organizationName, printable('o')]], [[OID.commonName, printable('c')]]);
    const b = name([[OID.commonName, printable('c')]], [[OID.organizationName, printable('o')]]);
    expect(namesMatch(a, b)).toBe(false);
  });
  it('a multi-valued RDN is a set: its attributes match in any order', () => {
    const a = name([
      [OID.commonName, printable('c')],
      [OID.organizationName, utf8('O')],
    ]);
    const b = name([
      [OID.organizationName, printable('o')],
      [OID.commonName, utf8('C')],
    ]);
    expect(namesMatch(a, b)).toBe(true);
  });
  it('values that are not strings compare as their DER', () => {
    const x = name([['1.2.3.4', tlv(Tag.OCTET_STRING, enc.encode('A'))]]);
    expect(namesMatch(x, name([['1.2.3.4', tlv(Tag.OCTET_STRING, enc.encode('A'))]]))).toBe(true);
    expect(namesMatch(x, name([['1.2.3.4', tlv(Tag.OCTET_STRING, enc.encode('a'))]]))).toBe(false);
    expect(namesMatch(x, name([['1.2.3.4', utf8('A')]]))).toBe(false);
  });
  it('a name that cannot be prepared matches only its own encoding', () => {
    const bad = cn(utf8('Good CA\ue000'));
    expect(namesMatch(bad, cn(utf8('Good CA\ue000')))).toBe(true);
    expect(namesMatch(bad, cn(utf8('good ca\ue000')))).toBe(false);
  });
  it(`a name beyond MAX_PREPARED_NAME_BYTES (${MAX_PREPARED_NAME_BYTES}) matches only byte for byte`, () => {
    const long = 'A'.repeat(MAX_PREPARED_NAME_BYTES);
    expect(namesMatch(cn(utf8(long)), cn(utf8(long)))).toBe(true);
    expect(namesMatch(cn(utf8(long)), cn(printable(long)))).toBe(false);
    expect(code(() => nameWithinSubtree(cn(utf8(long)), cn(printable(long))))).toBe('ERR_INPUT_TOO_LARGE');
  });
  it('caller mistakes throw ERR_INVALID_INPUT', () => {
    expect(code(() => namesMatch({} as Name, cn(utf8('x'))))).toBe('ERR_INVALID_INPUT');
    expect(code(() => nameWithinSubtree(cn(utf8('x')), null as unknown as Name))).toBe('ERR_INVALID_INPUT');
  });
  it('hostile DER never throws from namesMatch; nameWithinSubtree gives a boolean or a coded error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 96 }), fc.uint8Array({ maxLength: 96 }), (x, y) => {
        const a: Name = { der: x, rdns: [] };
        const b: Name = { der: y, rdns: [] };
        expect(namesMatch(a, b)).toBe(nameMatchKey(a) === nameMatchKey(b));
        expect(namesMatch(a, a)).toBe(true);
        const r = code(() => nameWithinSubtree(a, b));
        expect(r === undefined || r === 'ERR_CERT_MALFORMED' || r === 'ERR_DER_MALFORMED').toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
  it('case and space variations of a name always match it, and the match is symmetric', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9]+( [A-Za-z0-9]+){0,3}$/),
        fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
        fc.nat(3),
        (s, flips, pad) => {
          const varied = [...s].map((ch, i) => (flips[i % 40] ? ch.toUpperCase() : ch.toLowerCase())).join('').replace(/ /g, ' '.repeat(pad + 1));
          const a = cn(printable(s));
          const b = cn(utf8(`${' '.repeat(pad)}${varied}`));
          expect(namesMatch(a, b)).toBe(true);
          expect(namesMatch(b, a)).toBe(true);
        },
      ),
    );
  });
});

describe('nameWithinSubtree (directoryName constraints)', () => {
  const base = name([[OID.countryName, printable('US')]], [[OID.organizationName, printable('Test Certificates 2011')]]);
  it('the subtree is a prefix of RDNs, compared after preparation', () => {
    expect(nameWithinSubtree(cn(utf8('Anyone')), base)).toBe(true);
    expect(nameWithinSubtree(cn(utf8('Anyone')), name([[OID.countryName, utf8('us')]], [[OID.organizationName, utf8('test  certificates 2011')]]))).toBe(true);
    expect(nameWithinSubtree(base, base)).toBe(true);
    expect(nameWithinSubtree(base, cn(utf8('Anyone')))).toBe(false);
    expect(nameWithinSubtree(cn(utf8('x')), name([[OID.countryName, printable('CA')]]))).toBe(false);
  });
  it('an RDN that cannot be prepared is undecidable where it is compared (coded), and irrelevant beyond the subtree', () => {
    const hostile = name([[OID.countryName, utf8('U\ue000S')]], [[OID.organizationName, printable('Test Certificates 2011')]], [[OID.commonName, utf8('x')]]);
    expect(code(() => nameWithinSubtree(hostile, base))).toBe('ERR_CERT_MALFORMED');
    expect(nameWithinSubtree(cn(utf8('bad \ue000')), base)).toBe(true);
  });
});
