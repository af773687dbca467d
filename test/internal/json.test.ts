import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import { copyAsJson } from '../../src/internal/json.js';

const viaText = (v: unknown, replacer?: (k: string, v: unknown) => unknown) => {
  const text = JSON.stringify(v, replacer as never);
  return text === undefined ? undefined : JSON.parse(text);
};

describe('copyAsJson', () => {
  it('equals JSON.parse(JSON.stringify(v)) for any value JSON can write (fast-check: boxed values, dates, maps, sparse arrays, null prototypes, -0, NaN, undefined, __proto__ keys)', () => {
    const anything = fc.anything({ withBoxedValues: true, withDate: true, withMap: true, withSet: true, withSparseArray: true, withNullPrototype: true, withObjectString: true, withTypedArray: true, withBigInt: false });
    fc.assert(
      fc.property(anything, (v) => {
        const got = copyAsJson(v);
        expect(got).toStrictEqual(viaText(v));
        // The same text too (key order, -0 written as 0).
        expect(JSON.stringify(got)).toBe(JSON.stringify(v));
      }),
      { numRuns: 2000 },
    );
  });

  it('omit drops an object field as a replacer returning undefined would', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string(), (v, s) => {
        const withDer = { a: v, list: [{ der: s, sha256: 'x' }, { der: 1 }], nested: { der: s, keep: v } };
        const omit = (k: string, x: unknown) => k === 'der' && typeof x === 'string';
        expect(copyAsJson(withDer, omit)).toStrictEqual(viaText(withDer, (k, x) => (omit(k, x) ? undefined : x)));
      }),
    );
  });

  it('shares no object with its input; toJSON is called with its key; a BigInt or a cycle is ERR_INVALID_INPUT (one error type)', () => {
    const input = { a: { b: [1, { c: 2 }] }, when: new Date('2026-01-01T00:00:00Z'), t: { toJSON: (k: string) => `key:${k}` } };
    const out = copyAsJson(input) as typeof input;
    expect(out.a).not.toBe(input.a);
    expect(out.a.b).not.toBe(input.a.b);
    expect(out).toEqual({ a: { b: [1, { c: 2 }] }, when: '2026-01-01T00:00:00.000Z', t: 'key:t' });
    expect(() => copyAsJson({ n: 1n })).toThrow(MailPkiError);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => copyAsJson(cyclic)).toThrow(MailPkiError);
  });
});

// JSON.stringify calls toJSON on any object, a function too, and writes a boxed BigInt as it does a
// BigInt (it throws); copyAsJson skipped a function's toJSON and copied Object(1n) as {}.
describe('regression: copyAsJson as JSON for a function with toJSON and a boxed BigInt', () => {
  it('a function with toJSON is what toJSON returns; Object(1n) throws', () => {
    const f = Object.assign(() => 1, { toJSON: () => 'f' });
    expect(copyAsJson({ f, list: [f] })).toStrictEqual(viaText({ f, list: [f] }));
    expect(() => JSON.stringify({ n: Object(1n) })).toThrow(TypeError);
    expect(() => copyAsJson({ n: Object(1n) })).toThrow(MailPkiError);
  });
  it('toJSON is read once, as JSON reads it', () => {
    let reads = 0;
    const v = {
      get toJSON() {
        reads++;
        return () => 'x';
      },
    };
    expect(copyAsJson({ v })).toStrictEqual({ v: 'x' });
    expect(reads).toBe(1);
  });
});
