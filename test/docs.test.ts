import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderErrorsDoc } from '../scripts/docs-errors.js';

describe('docs stay true', () => {
  it('docs/errors.md lists every error code (npm run docs:errors regenerates it)', () => {
    expect(readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8')).toBe(renderErrorsDoc());
  });
});
