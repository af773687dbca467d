import { describe, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import type { Store } from '../../src/store/index.js';
import { at, auditActions, brief, createTestStore, harness } from './helpers.js';

const owner = { team: 'treasury' };

/** A store whose next transaction runs, then throws (rolled back) once `crashNext` is set: the process "dies" before the commit. */
function crashingStore(inner: Store): Store & { crashNext: boolean } {
  const s = {
    crashNext: false,
    transaction<T>(fn: Parameters<Store['transaction']>[0]): Promise<T> {
      if (!s.crashNext) return inner.transaction(fn) as Promise<T>;
      s.crashNext = false;
      return inner.transaction(async (tx) => {
        await fn(tx);
        throw new Error('simulated crash before commit');
      });
    },
    close: () => inner.close(),
    leaseEvents: inner.leaseEvents.bind(inner),
    claimIdentity: inner.claimIdentity.bind(inner),
    releaseIdentity: inner.releaseIdentity.bind(inner),
    markEventDelivered: inner.markEventDelivered.bind(inner),
    markEventFailed: inner.markEventFailed.bind(inner),
    listEvents: inner.listEvents.bind(inner),
    listAudit: inner.listAudit.bind(inner),
  };
  return s;
}

describe('faults', () => {
  it('CA failure mid-renewal: the old certificate stays current, issuance.failed + audit, the error is rethrown', async () => {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'p@example.com', owner }, { actor: 'a' });
    const before = await h.manager.get('p@example.com');
    h.events.length = 0;
    h.ca.failIssue.push(new MailPkiError('ERR_CA_UNAVAILABLE', 'upstream CA timed out'));
    h.clock.set(at(5));
    await expect(h.manager.renew('p@example.com', { actor: 'ops', reason: 'rotation' })).rejects.toMatchObject({ code: 'ERR_CA_UNAVAILABLE' });
    const after = await h.manager.get('p@example.com');
    expect(after.currentCredentialId).toBe(before.currentCredentialId);
    expect(after.status).toBe('active');
    expect((await h.manager.credentials('p@example.com')).map((c) => c.status)).toEqual(['current']);
    expect(brief(h.events)).toEqual(['issuance.failed p@example.com']);
    expect(h.events[0]!.data).toEqual({ code: 'ERR_CA_UNAVAILABLE', message: 'upstream CA timed out', operation: 'renew' });
    const audit = await h.store.listAudit();
    expect(audit.at(-1)).toMatchObject({ action: 'issuance.failed', actor: 'ops', identityId: 'smime:p@example.com', reason: 'ERR_CA_UNAVAILABLE: upstream CA timed out' });
    // The signer still works with the old certificate.
    await expect(h.manager.getSigner('p@example.com')).resolves.toBeDefined();
    // The next attempt completes with the same key and idempotency key.
    await h.manager.renew('p@example.com', { actor: 'ops' });
    expect(h.ca.idempotencyKeys.at(-1)).toBe(h.ca.idempotencyKeys.at(-2));
  });

  it('a CA refusal frees the pending issuance: the next attempt uses a fresh idempotency key', async () => {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'p@example.com', owner }, { actor: 'a' });
    h.ca.failIssue.push(new MailPkiError('ERR_CA_REJECTED', 'no'));
    await expect(h.manager.renew('p@example.com', { actor: 'ops' })).rejects.toMatchObject({ code: 'ERR_CA_REJECTED' });
    await h.manager.renew('p@example.com', { actor: 'ops' });
    expect(h.ca.idempotencyKeys.at(-1)).not.toBe(h.ca.idempotencyKeys.at(-2));
  });

  it('crash between "CA issued" and "store written" during enroll: the retry gets the same certificate, no second issuance', async () => {
    const inner = await createTestStore();
    const store = crashingStore(inner);
    const h = await harness({}, store);
    h.ca.afterIssue = () => {
      store.crashNext = true;
    };
    await expect(h.manager.enroll({ mailbox: 'p@example.com', owner }, { actor: 'a' })).rejects.toThrow('simulated crash before commit');
    h.ca.afterIssue = undefined;
    expect(h.ca.local.issued).toHaveLength(1);
    expect((await h.manager.get('p@example.com')).status).toBe('pending');

    // A new process over the same store: the sweep completes the enrollment.
    const m2 = h.make();
    const summary = await m2.runDue();
    expect(summary.renewed).toEqual(['smime:p@example.com']);
    expect(h.ca.local.issued).toHaveLength(1);
    const rec = await m2.get('p@example.com');
    expect(rec.status).toBe('active');
    const [cred] = await m2.credentials('p@example.com');
    expect(cred!.serialNumber).toBe(h.ca.local.issued[0]!.serialNumber);
    await expect(m2.getSigner('p@example.com')).resolves.toBeDefined();
    expect(await auditActions(inner)).toEqual(['identity.created', 'identity.enrolled']);
  });

  it('crash between "CA issued" and "store written" during renew: renew again → same certificate, one issuance', async () => {
    const inner = await createTestStore();
    const store = crashingStore(inner);
    const h = await harness({}, store);
    await h.manager.enroll({ mailbox: 'p@example.com', owner }, { actor: 'a' });
    h.clock.set(at(3));
    h.ca.afterIssue = () => {
      store.crashNext = true;
    };
    await expect(h.manager.renew('p@example.com', { actor: 'ops' })).rejects.toThrow('simulated crash');
    h.ca.afterIssue = undefined;
    expect(h.ca.local.issued).toHaveLength(2);
    expect((await h.manager.credentials('p@example.com')).map((c) => c.status)).toEqual(['current']);

    // Also safe when the retry asks for the other key mode: the written-down issuance wins.
    await h.make().renew('p@example.com', { actor: 'ops', rekey: false });
    expect(h.ca.local.issued).toHaveLength(2);
    const creds = await h.manager.credentials('p@example.com');
    expect(creds.map((c) => c.status)).toEqual(['previous', 'current']);
    expect(creds[1]!.serialNumber).toBe(h.ca.local.issued[1]!.serialNumber);
    expect(h.ca.issueCalls).toBe(3);
  });

  it('enrolling again after an interrupted enrollment completes it (same owner), refuses another owner', async () => {
    const inner = await createTestStore();
    const store = crashingStore(inner);
    const h = await harness({}, store);
    h.ca.afterIssue = () => {
      store.crashNext = true;
    };
    await expect(h.manager.enroll({ mailbox: 'p@example.com', owner }, { actor: 'a' })).rejects.toThrow();
    h.ca.afterIssue = undefined;
    await expect(h.manager.enroll({ mailbox: 'p@example.com', owner: { team: 'hr' } }, { actor: 'a' })).rejects.toMatchObject({
      code: 'ERR_IDENTITY_EXISTS',
    });
    expect((await h.manager.enroll({ mailbox: 'p@example.com', owner }, { actor: 'a' })).status).toBe('active');
    expect(h.ca.local.issued).toHaveLength(1);
  });
});
