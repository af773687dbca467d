/** Attacks on the bounds evidence keeps of a sender's text (atk-mid). Named after what broke. */
import { expect, it } from 'vitest';
import { evidenceDkimResults, MAX_EVIDENCE_VERDICT_TEXT } from '../../src/filter/evidence.js';

it('a signature whose b= takes the text budget, then a pass by d=bank.com.<padding>.evil.example: the kept domain still ends in evil.example, the name that signed (was: cut to its first 64 characters, "bank.com.xxx…")', () => {
  const signer = `bank.com.${'x'.repeat(60)}.evil.example`;
  const results = [
    { result: 'fail', reason: 'signature did not verify', domain: 'evil.example', selector: 's', signature: 'A'.repeat(MAX_EVIDENCE_VERDICT_TEXT - 10) },
    { result: 'pass', reason: 'signature verified', domain: signer, identity: `@${signer}`, selector: 's', aligned: false },
  ];
  const kept = evidenceDkimResults(results);
  expect(kept.evidenceCut?.characters).toBeGreaterThan(0);
  const pass = kept.results[1] as { domain: string; identity: string };
  // Cut, but what identifies the signer — the end of a domain — is kept, and the cut is marked.
  expect(pass.domain).toContain('…');
  expect(pass.domain.endsWith('.evil.example')).toBe(true);
  expect(pass.identity.endsWith('.evil.example')).toBe(true);
  expect(pass.domain.startsWith('bank.com.')).toBe(true);
  expect(pass.domain.length).toBeLessThanOrEqual(65);
});
