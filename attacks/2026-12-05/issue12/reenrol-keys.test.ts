/**
 * atk12: a decommissioned mailbox enrolled again by another owner keeps the same identity id, and the
 * decryption-key history is per identity id — so the new holder's getDecryptor / exportDecryptionKeys
 * hands out the previous holder's kept keys (mail encrypted to the previous holder becomes readable by
 * the new one). Expected: the new life's decryptor holds only the new life's keys.
 */
import { describe, expect, it } from 'vitest';
import { harness } from '/work/wt/atk12/test/lifecycle/helpers.js';

describe('re-enrolled mailbox and the old holder decryption keys', () => {
  it('the new holder (other team) does not get the previous holder keys', async () => {
    const h = await harness();
    const old = await h.manager.enroll({ mailbox: 'legal@example.com', owner: { team: 'treasury' }, use: 'encryption', keyType: 'ec-p256' }, { actor: 'a' });
    const [oldCred] = await h.manager.credentials(old.id);
    h.clock.advanceDays(10);
    await h.manager.decommission(old.id, { actor: 'owner', reason: 'employee left' });
    h.clock.advanceDays(1);
    const fresh = await h.manager.enroll({ mailbox: 'legal@example.com', owner: { team: 'hr' }, use: 'encryption', keyType: 'ec-p256' }, { actor: 'b' });
    expect(fresh.owner.team).toBe('hr');
    const keys = await h.manager.getDecryptor('legal@example.com', { actor: 'hr-gateway', reason: 'inbound mail for the new holder' });
    const serials = keys.map((k) => k.certificate.serialNumber);
    // Observed: [new serial, old serial]: the old holder's key goes to hr's gateway.
    expect(serials).not.toContain(oldCred!.serialNumber);
  });
});
