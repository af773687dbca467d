/**
 * atk13 — an IDN domain cannot be protected: policy patterns accept only [a-z0-9-] labels (so the A-label
 * `xn--bcher-kva.example`), but a SMTPUTF8 client's RCPT TO arrives in U-labels (`ap@bücher.example`, which the filter
 * advertises SMTPUTF8 for and re-injects as is), and matchesPattern compares strings. Postfix looks both forms up as the
 * same domain (IDNA A-labels for table lookups with smtputf8_enable=yes), so the mailbox gets the mail with no rule
 * applied. Expected: recipient and pattern compared after IDNA (or U-label patterns accepted and normalised).
 */
import { expect, it } from 'vitest';
import { decideDisposition, parseFilterPolicy } from '../../src/filter/policy.js';

it('a rule for ap@xn--bcher-kva.example governs RCPT TO:<ap@bücher.example>', () => {
  const policy = parseFilterPolicy({ version: 1, rules: [{ recipients: ['ap@xn--bcher-kva.example'], require: { smime: true }, otherwise: 'reject' }] });
  const facts = { smimeValid: false, revocationGood: false, dkimAligned: false };
  expect(decideDisposition(policy, facts, 'ap@xn--bcher-kva.example').action).toBe('reject'); // control
  // Observed today: 'accept' (no rule matched).
  expect(decideDisposition(policy, facts, 'ap@bücher.example').action).toBe('reject');
});
