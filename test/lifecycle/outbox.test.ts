import { describe, expect, it } from 'vitest';
import { toBase64, toHex } from '../../src/internal/bytes.js';
import type { EventSink, LifecycleEvent } from '../../src/lifecycle/index.js';
import { PASSPHRASE, at, harness, keyProtector } from './helpers.js';

const owner = { team: 'treasury', contact: 'ops@example.com' };

function recordingSink(failTimes = 0): EventSink & { got: LifecycleEvent[]; calls: number } {
  const s = {
    got: [] as LifecycleEvent[],
    calls: 0,
    async deliver(e: LifecycleEvent) {
      s.calls++;
      if (s.calls <= failTimes) throw new Error(`receiver down (${s.calls})`);
      s.got.push(e);
    },
  };
  return s;
}

describe('outbox delivery', () => {
  it('survives a crash: events written with the change are delivered by a new manager over the same store', async () => {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'p@example.com', owner }, { actor: 'a' });
    await h.manager.revoke('p@example.com', { actor: 'a', reason: 'superseded' });
    // The first process "dies" here, before any delivery.
    expect((await h.store.listEvents({ undeliveredOnly: true })).map((e) => e.type)).toEqual([
      'identity.enrolled',
      'certificate.issued',
      'certificate.revoked',
    ]);
    const sink = recordingSink();
    const m2 = h.make({ sinks: [sink] });
    expect(await m2.deliverEvents()).toEqual({ delivered: 3, failed: 0, errors: [] });
    expect(sink.got.map((e) => e.type)).toEqual(['identity.enrolled', 'certificate.issued', 'certificate.revoked']);
    expect(sink.got.map((e) => e.id)).toEqual(h.events.map((e) => e.id));
    expect(sink.got[0]).toEqual(JSON.parse(JSON.stringify(h.events[0])));
    expect(await h.store.listEvents({ undeliveredOnly: true })).toEqual([]);
    expect(await m2.deliverEvents()).toEqual({ delivered: 0, failed: 0, errors: [] });
  });

  it('an event leased by a process that died is delivered once its lease runs out', async () => {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'p@example.com', owner }, { actor: 'a' });
    const now = h.clock();
    expect(await h.store.leaseEvents('dead-process', now, 60_000, 100)).toHaveLength(2);
    const sink = recordingSink();
    const m2 = h.make({ sinks: [sink] });
    expect((await m2.deliverEvents({ now: new Date(now.getTime() + 30_000) })).delivered).toBe(0);
    expect((await m2.deliverEvents({ now: new Date(now.getTime() + 61_000) })).delivered).toBe(2);
  });

  it('a failing sink: marked failed with exponential backoff, delivered on a later pass (at least once)', async () => {
    const h = await harness();
    const sink = recordingSink(2);
    const m = h.make({ sinks: [sink], deliveryBackoffMs: 10_000 });
    await m.enroll({ mailbox: 'p@example.com', owner }, { actor: 'a' });
    const t = h.clock().getTime();
    const r1 = await m.deliverEvents({ now: new Date(t) });
    expect(r1).toMatchObject({ delivered: 0, failed: 2 });
    expect(r1.errors.map((e) => e.message)).toEqual(['receiver down (1)', 'receiver down (2)']);
    const [first] = await h.store.listEvents({ undeliveredOnly: true });
    expect(first).toMatchObject({ attempts: 1, lastError: 'receiver down (1)', nextAttemptAt: new Date(t + 10_000) });
    expect((await m.deliverEvents({ now: new Date(t + 9_999) })).delivered).toBe(0);
    expect((await m.deliverEvents({ now: new Date(t + 10_000) })).delivered).toBe(2);
  });

  it('no event and no audit record ever holds key material, a passphrase or a secret', async () => {
    const h = await harness();
    const sink = recordingSink();
    const m = h.make({ sinks: [sink] });
    const seen: LifecycleEvent[] = [];
    m.on('*', (e) => {
      seen.push(e);
    });
    await m.enroll({ mailbox: 'p@example.com', owner, purpose: 'payments' }, { actor: 'a' });
    await m.enroll({ mailbox: 'q@example.com', owner }, { actor: 'a' });
    await m.enroll({ mailbox: 'x@evil.example.net', owner }, { actor: 'a' }).catch(() => undefined);
    await m.renew('p@example.com', { actor: 'a', rekey: false });
    await m.suspend('q@example.com', { actor: 'a' });
    await m.reinstate('q@example.com', { actor: 'a' });
    h.clock.set(at(340));
    await m.runDue();
    await m.revoke('p@example.com', { actor: 'a', reason: 'keyCompromise' });
    // Every private key ever stored, read before the decommission destroys q's.
    const keys = [];
    for (const id of ['smime:p@example.com', 'smime:q@example.com'])
      for (const c of await m.credentials(id)) keys.push((await h.store.transaction((tx) => tx.getKey(c.keyId!)))!);
    await m.decommission('q@example.com', { actor: 'a', reason: 'done' });
    await m.deliverEvents();

    const outbox = await h.store.listEvents({});
    const types = new Set(outbox.map((e) => e.type));
    for (const t of ['identity.enrolled', 'certificate.issued', 'certificate.renewed', 'certificate.revoked', 'identity.suspended', 'identity.reinstated', 'identity.decommissioned', 'policy.denied'])
      expect(types).toContain(t);
    const text = [JSON.stringify(seen), JSON.stringify(sink.got), JSON.stringify(outbox), JSON.stringify(await h.store.listAudit())].join('\n');
    expect(text).not.toMatch(/-----BEGIN/);
    expect(text).not.toContain(PASSPHRASE);
    const protector = keyProtector();
    expect(keys.length).toBeGreaterThanOrEqual(3);
    for (const key of keys) {
      const pkcs8 = await protector.unprotect(key.protectedKey);
      // The whole key and its last 32 bytes (where the EC private scalar sits) in every usual encoding.
      for (const b of [pkcs8, pkcs8.subarray(pkcs8.length - 32)]) {
        expect(text).not.toContain(toBase64(b).replace(/=+$/, '').slice(0, 40));
        expect(text).not.toContain(toHex(b).slice(0, 40));
      }
      expect(text).not.toContain(key.protectedKey.ciphertext.slice(0, 40));
    }
  });
});
