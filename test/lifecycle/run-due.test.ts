import { describe, expect, it } from 'vitest';
import { at, auditActions, brief, harness } from './helpers.js';

const owner = { team: 'treasury' };

describe('runDue', () => {
  it('over a mixed inventory: exact events, in order, and an exact summary', async () => {
    const h = await harness();
    const m = h.manager;
    // At T0: four identities with 365-day certificates (renewal at 30 days left).
    await m.enroll({ mailbox: 'b-notice@example.com', owner, policy: { renewal: {}, notices: [30, 7] } }, { actor: 'x' });
    await m.enroll({ mailbox: 'c-renew@example.com', owner }, { actor: 'x' });
    await m.enroll({ mailbox: 'd-retire@example.com', owner, decommissionAt: at(200) }, { actor: 'x' });
    await m.enroll({ mailbox: 'e-lapsed@example.com', owner, policy: { validityDays: 300 } }, { actor: 'x' });
    await m.suspend('e-lapsed@example.com', { actor: 'x' });
    await m.enroll({ mailbox: 'f-revoked@example.com', owner }, { actor: 'x' });
    await m.revoke('f-revoked@example.com', { actor: 'x', reason: 'superseded' });
    h.clock.set(at(100));
    await m.enroll({ mailbox: 'a-steady@example.com', owner }, { actor: 'x' }); // expires at day 465
    const issuedBefore = h.ca.issueCalls;

    h.clock.set(at(340));
    h.events.length = 0;
    const summary = await m.runDue();
    expect(summary).toEqual({
      scanned: 4,
      renewed: ['smime:c-renew@example.com'],
      notices: [{ identityId: 'smime:b-notice@example.com', noticeKey: 'expiring:30', daysLeft: 25 }],
      expired: ['smime:e-lapsed@example.com'],
      decommissioned: ['smime:d-retire@example.com'],
      failed: [],
      skipped: [],
      decryptionKeysDestroyed: [],
    });
    expect(brief(h.events)).toEqual([
      'certificate.expiring b-notice@example.com',
      'certificate.issued c-renew@example.com',
      'certificate.renewed c-renew@example.com',
      'certificate.revoked d-retire@example.com',
      'identity.decommissioned d-retire@example.com',
      'certificate.expired e-lapsed@example.com',
    ]);
    expect(h.events[0]!.data).toEqual({ daysLeft: 25, noticeDays: 30 });
    expect(h.events[2]!.data).toMatchObject({ reason: '25 days left, renewal at 30 days', rekeyed: true });
    expect(h.events.every((e) => e.occurredAt === at(340).toISOString())).toBe(true);
    expect(h.ca.issueCalls).toBe(issuedBefore + 1);
    // The outbox holds the same events in the same order.
    const outbox = await h.store.listEvents({ afterCreatedAt: new Date(at(340).getTime() - 1) });
    expect(outbox.map((e) => e.id)).toEqual(h.events.map((e) => e.id));

    const statuses = Object.fromEntries((await m.list()).map((i) => [i.name, i.status]));
    expect(statuses).toEqual({
      'a-steady@example.com': 'active',
      'b-notice@example.com': 'active',
      'c-renew@example.com': 'active',
      'd-retire@example.com': 'decommissioned',
      'e-lapsed@example.com': 'expired',
      'f-revoked@example.com': 'revoked',
    });
    const audit = (await h.store.listAudit()).filter((r) => r.at.getTime() === at(340).getTime());
    expect(audit.map((r) => [r.action, r.identityId, r.actor])).toEqual([
      ['notice.sent', 'smime:b-notice@example.com', 'mailpki:runDue'],
      ['issuance.started', 'smime:c-renew@example.com', 'mailpki:runDue'],
      ['certificate.renewed', 'smime:c-renew@example.com', 'mailpki:runDue'],
      ['identity.decommissioned', 'smime:d-retire@example.com', 'mailpki:runDue'],
      ['certificate.expired', 'smime:e-lapsed@example.com', 'mailpki:runDue'],
    ]);
  });

  it('is idempotent: a second run right after does nothing (no events, no audit, no CA calls)', async () => {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'a@example.com', owner }, { actor: 'x' });
    await h.manager.enroll({ mailbox: 'b@example.com', owner, policy: { renewal: {} } }, { actor: 'x' });
    await h.manager.enroll({ mailbox: 'c@example.com', owner, decommissionAt: at(10) }, { actor: 'x' });
    h.clock.set(at(350));
    const first = await h.manager.runDue();
    expect(first.scanned).toBe(3);
    const events = (await h.store.listEvents({})).length;
    const audit = (await h.store.listAudit()).length;
    const calls = h.ca.issueCalls;
    const second = await h.manager.runDue();
    expect(second).toEqual({ scanned: 0, renewed: [], notices: [], expired: [], decommissioned: [], failed: [], skipped: [], decryptionKeysDestroyed: [] });
    expect((await h.store.listEvents({})).length).toBe(events);
    expect((await h.store.listAudit()).length).toBe(audit);
    expect(h.ca.issueCalls).toBe(calls);
  });

  it('notice schedule: each notice once, at its day, then expiry', async () => {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'n@example.com', owner, policy: { renewal: {} } }, { actor: 'x' });
    h.events.length = 0;
    let scanned = 0;
    for (let day = 1; day <= 400; day++) {
      h.clock.set(at(day));
      scanned += (await h.manager.runDue()).scanned;
    }
    expect(brief(h.events)).toEqual([
      'certificate.expiring n@example.com',
      'certificate.expiring n@example.com',
      'certificate.expiring n@example.com',
      'certificate.expiring n@example.com',
      'certificate.expired n@example.com',
    ]);
    expect(h.events.map((e) => [e.occurredAt, e.data])).toEqual([
      [at(335).toISOString(), { daysLeft: 30, noticeDays: 30 }],
      [at(351).toISOString(), { daysLeft: 14, noticeDays: 14 }],
      [at(358).toISOString(), { daysLeft: 7, noticeDays: 7 }],
      [at(364).toISOString(), { daysLeft: 1, noticeDays: 1 }],
      [at(365).toISOString(), {}],
    ]);
    expect(scanned).toBe(5); // the index sends the sweep only to what is due
  });

  it('notice schedule: none for the old certificate after renewal; the new one starts its own', async () => {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'n@example.com', owner, policy: { renewal: { beforeDays: 10 } } }, { actor: 'x' });
    h.events.length = 0;
    for (let day = 1; day <= 400; day++) {
      h.clock.set(at(day));
      await h.manager.runDue();
    }
    expect(h.events.map((e) => `${e.occurredAt.slice(0, 10)} ${e.type} ${'daysLeft' in e.data ? e.data.daysLeft : ''}`.trim())).toEqual([
      `${at(335).toISOString().slice(0, 10)} certificate.expiring 30`,
      `${at(351).toISOString().slice(0, 10)} certificate.expiring 14`,
      `${at(355).toISOString().slice(0, 10)} certificate.issued`,
      `${at(355).toISOString().slice(0, 10)} certificate.renewed`,
    ]);
    const notices = await h.store.transaction((tx) => tx.listNotices('smime:n@example.com'));
    expect(notices.map((n) => n.noticeKey)).toEqual(['expiring:30', 'expiring:14']);
  });

  it('a failed automatic renewal is recorded, retried after retryDelayMs, and the owner still gets notices', async () => {
    const h = await harness({ retryDelayMs: 2 * 86_400_000 });
    await h.manager.enroll({ mailbox: 'r@example.com', owner, policy: { renewal: { beforeDays: 30 }, notices: [30] } }, { actor: 'x' });
    h.events.length = 0;
    const { MailPkiError } = await import('../../src/errors.js');
    h.ca.failIssue.push(new MailPkiError('ERR_CA_UNAVAILABLE', 'CA down'));
    h.clock.set(at(336));
    const s1 = await h.manager.runDue();
    expect(s1.failed).toEqual([{ identityId: 'smime:r@example.com', code: 'ERR_CA_UNAVAILABLE', message: 'CA down' }]);
    expect(s1.notices).toEqual([{ identityId: 'smime:r@example.com', noticeKey: 'expiring:30', daysLeft: 29 }]);
    expect(brief(h.events)).toEqual(['issuance.failed r@example.com', 'certificate.expiring r@example.com']);
    expect(h.events[0]!.data).toEqual({ code: 'ERR_CA_UNAVAILABLE', message: 'CA down', operation: 'renew', retryAt: at(338).toISOString() });
    expect((await h.manager.get('r@example.com')).nextDueAt).toEqual(at(338));
    expect((await h.manager.runDue()).scanned).toBe(0); // still idempotent
    h.clock.set(at(338));
    const s2 = await h.manager.runDue();
    expect(s2.renewed).toEqual(['smime:r@example.com']);
    // The retry reused the idempotency key written before the failed call.
    expect(h.ca.idempotencyKeys.slice(-2)[0]).toBe(h.ca.idempotencyKeys.slice(-1)[0]);
    expect(await auditActions(h.store)).toEqual([
      'identity.created',
      'identity.enrolled',
      'issuance.started',
      'issuance.failed',
      'notice.sent',
      'certificate.renewed',
    ]);
  });
});

describe('runDue progress', () => {
  it('reports each processed identity against the number due', async () => {
    const { manager, clock } = await progressFixture();
    const seen: [number, number][] = [];
    const s = await manager.runDue(clock(), { onProgress: (p, total) => seen.push([p.scanned, total]) });
    expect(s.scanned).toBe(2);
    expect(seen).toEqual([
      [1, 2],
      [2, 2],
    ]);
  });
});

async function progressFixture() {
  const { LocalCA } = await import('../../src/ca/local-ca.js');
  const { MemoryCaStorage } = await import('../../src/ca/storage.js');
  const { MemoryStore, passphraseKeyProtector } = await import('../../src/store/index.js');
  const { LifecycleManager } = await import('../../src/lifecycle/index.js');
  let now = new Date('2026-01-01T00:00:00Z');
  const clock = () => now;
  const ca = await LocalCA.create(new MemoryCaStorage(), { allowedDomains: ['example.com'] }, { clock });
  const manager = new LifecycleManager({ ca, store: new MemoryStore(), clock, keyProtector: passphraseKeyProtector('p', { iterations: 1000 }) });
  for (const m of ['a@example.com', 'b@example.com']) await manager.enroll({ mailbox: m, owner: { team: 't' } }, { actor: 'test' });
  now = new Date(now.getTime() + 340 * 86_400_000);
  return { manager, clock };
}
