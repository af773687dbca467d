/**
 * NIST PKITS 1.0.1, all 249 cases, through validateChain (test/helpers/pkits.ts). A case agrees
 * with the suite, or is listed in pkits-known.ts and must still disagree, or is excluded by
 * design and must fail with its coded error.
 */
import { describe, expect, it } from 'vitest';
import { loadPkitsCases, runPkitsCase, type PkitsCase } from '../helpers/pkits.js';
import { EXCLUDED, KNOWN_DISAGREEMENTS } from './pkits-known.js';

const cases = loadPkitsCases();

/** Numeric order of keys such as "4.8.1/2" (section parts, then sub-case). */
function compareKeys(a: string, b: string): number {
  const pa = a.split(/[./]/).map(Number);
  const pb = b.split(/[./]/).map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? -1) - (pb[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

describe('PKITS data', () => {
  it('has the 249 cases of PKITS 1.0.1, each key once, 114 expected to validate', () => {
    expect(cases).toHaveLength(249);
    expect(new Set(cases.map((c) => c.key)).size).toBe(249);
    expect(cases.filter((c) => c.expectValid)).toHaveLength(114);
  });

  it('lists known disagreements and exclusions for existing cases only, sorted by section, none in both', () => {
    const keys = new Set(cases.map((c) => c.key));
    for (const table of [KNOWN_DISAGREEMENTS, EXCLUDED]) {
      const listed = Object.keys(table);
      expect(listed.filter((k) => !keys.has(k))).toEqual([]);
      expect(listed).toEqual([...listed].sort(compareKeys));
    }
    expect(Object.keys(KNOWN_DISAGREEMENTS).filter((k) => k in EXCLUDED)).toEqual([]);
  });
});

const bySection = new Map<string, PkitsCase[]>();
for (const c of cases) {
  const s = c.section.split('.').slice(0, 2).join('.');
  bySection.set(s, [...(bySection.get(s) ?? []), c]);
}

for (const [section, list] of bySection) {
  describe(`PKITS ${section}`, () => {
    for (const c of list) {
      const excluded = EXCLUDED[c.key];
      const known = KNOWN_DISAGREEMENTS[c.key];
      if (excluded) {
        it(`${c.key} ${c.name}: excluded (${excluded.reason}), fails with ${excluded.code}`, async () => {
          expect(await runPkitsCase(c)).toEqual({ valid: false, code: excluded.code });
        });
      } else if (known) {
        it(`${c.key} ${c.name}: still disagrees (${known})`, async () => {
          expect((await runPkitsCase(c)).valid).toBe(!c.expectValid);
        });
      } else {
        it(`${c.key} ${c.name}: ${c.expectValid ? 'valid' : 'invalid'}`, async () => {
          const r = await runPkitsCase(c);
          expect(r.valid, `outcome ${JSON.stringify(r)}`).toBe(c.expectValid);
          if (!c.expectValid) expect(r.code).toMatch(/^(CHAIN_|ERR_)/);
        });
      }
    }
  });
}
