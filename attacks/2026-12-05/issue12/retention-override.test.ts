/**
 * atk12: the organisation's retention (LifecyclePolicy.decryptionKeyRetentionDays, "regulated mail is kept
 * for years") is an identity-level override anyone who enrolls can set: enroll({ policy:
 * { decryptionKeyRetentionDays: 0 } }) makes the sweep destroy the key at the certificate's notAfter,
 * so mail encrypted to it is unreadable the day after expiry — against the manager's 2555-day policy,
 * with no policy.denied, no approval question about it. Expected: an override may lengthen retention,
 * not shorten it below the manager's policy (or it is refused like the other policy rules).
 */
import { describe, expect, it } from 'vitest';
import { harness } from '/work/wt/atk12/test/lifecycle/helpers.js';

describe('retention override at enrollment', () => {
  it('cannot shorten the manager-wide retention', async () => {
    const h = await harness({ policy: { allowedDomainsByOwner: { treasury: ['example.com'] }, decryptionKeyRetentionDays: 2555 } });
    let rec;
    try {
      rec = await h.manager.enroll({ mailbox: 'legal@example.com', owner: { team: 'treasury' }, use: 'encryption', keyType: 'ec-p256', policy: { decryptionKeyRetentionDays: 0 } }, { actor: 'legal-intern' });
    } catch {
      return; // refused: fine
    }
    const [entry] = await h.manager.decryptionKeys(rec.id);
    const [cred] = await h.manager.credentials(rec.id);
    // Observed: retainUntil === notAfter (0 days), not notAfter + 2555 days.
    expect(entry!.retainUntil.getTime()).toBeGreaterThanOrEqual(cred!.notAfter.getTime() + 2555 * 86_400_000);
  });
});
