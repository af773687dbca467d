import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import { fromHex, toHex } from '../../src/internal/bytes.js';
import {
  childrenOf,
  cursor,
  int,
  namedBits,
  oid,
  parseDer,
  readOid,
  readSmallInt,
  readTime,
  readUnsignedHex,
  seq,
  setOf,
  time,
  uintBytes,
} from '../../src/internal/der.js';

const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as MailPkiError).code;
  }
  return undefined;
};

describe('DER reader strictness', () => {
  it.each([
    ['indefinite length', '3080020101 0000'],
    ['non-minimal long length', '30810302 0101'],
    ['leading zero in length', '3082000302 0101'],
    ['trailing bytes', '3003020101 00'],
    ['content past the end', '3005020101'],
    ['high tag number', '1f0100'],
    ['truncated header', '30'],
  ])('refuses %s', (_, hex) => {
    expect(codeOf(() => parseDer(fromHex(hex)))).toBe('ERR_DER_MALFORMED');
  });

  it('reads nested values and exact offsets', () => {
    const der = seq(int(5), seq(oid('1.2.840.113549.1.1.11')));
    const root = parseDer(der);
    const [a, b] = childrenOf(root);
    expect(readSmallInt(a!)).toBe(5);
    expect(readOid(cursor(b!).next())).toBe('1.2.840.113549.1.1.11');
    expect(root.end).toBe(der.length);
  });

  it('sorts SET OF by encoding', () => {
    expect(toHex(setOf(int(300), int(2)))).toBe('31070201020202012c');
  });

  it('encodes named bits without trailing zero bits (keyUsage digitalSignature+keyEncipherment = 03 02 05 a0)', () => {
    expect(toHex(namedBits([true, false, true]))).toBe('030205a0');
  });

  it('adds a sign byte to unsigned integers and strips leading zeros', () => {
    expect(toHex(uintBytes(Uint8Array.of(0, 0, 0x80)))).toBe('02020080');
    expect(readUnsignedHex(parseDer(uintBytes(Uint8Array.of(0x80, 1))))).toBe('8001');
  });

  it('uses UTCTime until 2049 and GeneralizedTime from 2050 (RFC 5280)', () => {
    expect(toHex(time(new Date('2049-12-31T23:59:59Z')))).toBe(toHex(new TextEncoder().encode('\x17\x0d491231235959Z')));
    expect(readTime(parseDer(time(new Date('2050-01-01T00:00:00Z'))))).toEqual(new Date('2050-01-01T00:00:00Z'));
    expect(codeOf(() => readTime(parseDer(fromHex('170d3236303233303030303030305a'))))).toBe('ERR_DER_MALFORMED'); // Feb 30
  });

  it('round-trips OIDs (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 39 }), fc.array(fc.integer({ min: 0, max: 2 ** 40 }), { maxLength: 8 }), (a, b, rest) => {
        const dotted = [a, b, ...rest].join('.');
        expect(readOid(parseDer(oid(dotted)))).toBe(dotted);
      }),
    );
  });

  it('hostile bytes give a coded error or a value, never another exception (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        try {
          const root = parseDer(bytes);
          if (root.tag & 0x20) childrenOf(root);
        } catch (e) {
          expect(e).toBeInstanceOf(MailPkiError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('serial numbers have one form', () => {
  it('normalizeSerialHex: whole bytes, no leading zero bytes, lower case', async () => {
    const { normalizeSerialHex } = await import('../../src/internal/bytes.js');
    expect(['0x0A:33', '0a33', 'A33', '000a33', '00', '0', 'ff'].map(normalizeSerialHex)).toEqual(['0a33', '0a33', '0a33', '0a33', '00', '00', 'ff']);
    expect(readUnsignedHex(parseDer(uintBytes(Uint8Array.of(0x0a, 0x33))))).toBe('0a33');
  });
});
