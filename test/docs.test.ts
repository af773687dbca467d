import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderErrorsDoc } from '../scripts/docs-errors.js';

describe('docs stay true', () => {
  it('docs/errors.md lists every error code (npm run docs:errors regenerates it)', () => {
    expect(readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8')).toBe(renderErrorsDoc());
  });
});

describe('docs/verifying.md names every verdict code', () => {
  it('every SmimeProblemCode and SmimeWarningCode in src/smime/verdict.ts is documented', () => {
    const src = readFileSync(new URL('../src/smime/verdict.ts', import.meta.url), 'utf8');
    const codes = [...new Set(src.match(/'SMIME_[A-Z_]+'/g)!.map((c) => c.slice(1, -1)))];
    const doc = readFileSync(new URL('../docs/verifying.md', import.meta.url), 'utf8');
    expect(codes.length).toBeGreaterThan(20);
    expect(codes.filter((c) => !doc.includes(`\`${c}\``))).toEqual([]);
  });
});
