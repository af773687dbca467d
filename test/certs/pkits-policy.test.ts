/**
 * PKITS policy output: for every case the suite expects to validate, the user-constrained policy
 * set validateChain reports is the one PKITS 1.0.1 states (pkits.test.ts checks the verdicts).
 */
import { describe, expect, it } from 'vitest';
import { validateChain } from '../../src/certs/index.js';
import { caseLeaf, caseOptions, loadPkitsCases } from '../helpers/pkits.js';
import { EXCLUDED, KNOWN_DISAGREEMENTS } from './pkits-known.js';

const valid = loadPkitsCases().filter((c) => c.expectValid && !(c.key in EXCLUDED) && !(c.key in KNOWN_DISAGREEMENTS));

describe('PKITS user-constrained-policy-set', () => {
  it('covers every valid case of the policy sections (45 of 88)', () => {
    expect(valid.filter((c) => /^4\.(8|9|10|11|12)\./.test(c.key)).length).toBe(45);
  });

  for (const c of valid)
    it(`${c.key} ${c.name}: {${c.userConstrainedPolicySet.join(', ')}}`, async () => {
      const r = await validateChain(caseLeaf(c), caseOptions(c));
      expect(r.ok).toBe(true);
      expect(r.policies?.userConstrainedPolicySet).toEqual([...c.userConstrainedPolicySet].sort());
    });
});
