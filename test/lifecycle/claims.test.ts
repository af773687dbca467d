/** Claims on identities during sweeps (finding 12), in one process with injected lease clocks. */
import { describe, expect, it } from 'vitest';
import { DkimManager } from '../../src/lifecycle/dkim.js';
import { MemoryStore, passphraseKeyProtector, type Store, type StoreTx } from '../../src/store/index.js';
import { at, fakeClock, harness } from './helpers.js';

const owner = { team: 'treasury' };
const LEASE_NOW = new Date('2026-06-01T00:00:00Z');

describe('runDue claims each identity (finding 12)', () => {
  it('a second worker skips the identity another worker holds: not renewed, not failed, the CA not asked', async () => {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'p@example.com', owner }, { actor: 'x' });
    h.clock.set(at(340));
    const calls = h.ca.issueCalls;
    expect(await h.store.claimIdentity('smime:p@example.com', 'the-other-worker', new Date(), 60_000)).toBe(true);
    const s = await h.manager.runDue();
    expect(s).toMatchObject({ scanned: 1, renewed: [], failed: [], skipped: ['smime:p@example.com'] });
    expect(h.ca.issueCalls).toBe(calls);
    // Released: the next sweep renews it.
    await h.store.releaseIdentity('smime:p@example.com', 'the-other-worker');
    expect((await h.manager.runDue()).renewed).toEqual(['smime:p@example.com']);
  });

  it('a worker that died holding the claim after the CA issued is taken over once its lease runs out, with the very certificate the CA signed', async () => {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'p@example.com', owner }, { actor: 'x' });
    h.clock.set(at(340));
    // Worker A: the CA signs, then A "dies" before the inventory records it (its claim stays behind).
    let lease = LEASE_NOW;
    const a = h.make({ instanceId: 'worker-a', leaseClock: () => lease, claimLeaseMs: 60_000 });
    let signed: string | undefined;
    h.ca.afterIssue = () => {
      signed = h.ca.local.issued.at(-1)!.serialNumber;
      throw new Error('killed');
    };
    const first = await a.runDue();
    h.ca.afterIssue = undefined;
    expect(first.failed.map((f) => f.identityId)).toEqual(['smime:p@example.com']);
    expect(await h.store.claimIdentity('smime:p@example.com', 'worker-a', lease, 60_000)).toBe(true);
    // Worker B, while A's lease runs: skips. Its retry is due after retryDelayMs.
    const b = h.make({ instanceId: 'worker-b', leaseClock: () => lease, claimLeaseMs: 60_000 });
    h.clock.set(new Date(at(340).getTime() + 2 * 3_600_000));
    expect((await b.runDue()).skipped).toEqual(['smime:p@example.com']);
    // A's lease runs out: B completes A's issuance, and the CA hands back the certificate it signed for A.
    lease = new Date(LEASE_NOW.getTime() + 60_000);
    const s = await b.runDue();
    expect(s).toMatchObject({ renewed: ['smime:p@example.com'], failed: [], skipped: [] });
    const creds = await h.manager.credentials('p@example.com');
    expect(creds.map((c) => c.status)).toEqual(['previous', 'current']);
    expect(creds[1]!.serialNumber).toBe(signed);
    expect(h.ca.local.issued).toHaveLength(2);
  });

  it('a worker whose claim ran out while another renewed the identity does not renew it a second time (decided on an older record)', async () => {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'p@example.com', owner }, { actor: 'x' });
    h.clock.set(at(340));
    // Worker A sees every claim as run out (its lease clock is an hour ahead).
    const a = h.make({ instanceId: 'worker-a', leaseClock: () => new Date(Date.now() + 3_600_000) });
    // Worker B stalls after deciding to renew (its first look at the identity), and A renews meanwhile.
    let transactions = 0;
    let stalled = false;
    const stalling: Store = Object.create(h.store, {
      transaction: {
        value: async <T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> => {
          // 1: list the page, 2: sweepOne's look, 3: renewAt's look.
          if (++transactions === 3 && !stalled) {
            stalled = true;
            expect((await a.runDue()).renewed).toEqual(['smime:p@example.com']);
          }
          return h.store.transaction(fn);
        },
      },
    });
    const b = h.make({ instanceId: 'worker-b', store: stalling });
    const s = await b.runDue();
    expect(stalled).toBe(true);
    expect(s).toMatchObject({ renewed: [], failed: [], skipped: ['smime:p@example.com'] });
    expect((await h.manager.credentials('p@example.com')).map((c) => c.status)).toEqual(['previous', 'current']);
    expect(h.ca.local.issued).toHaveLength(2);
  });

  it('refuses a bad lease length with ERR_INVALID_INPUT', async () => {
    const h = await harness();
    expect(() => h.make({ claimLeaseMs: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
    expect(() => h.make({ claimLeaseMs: 1.5 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
  });
});

describe('DKIM runDue claims each domain (finding 12)', () => {
  it('skips a domain another worker holds, and drives it once the claim is released', async () => {
    const store = new MemoryStore();
    const clock = fakeClock();
    const zone = new Map<string, string[][]>();
    const manager = new DkimManager({
      store,
      clock,
      keyProtector: passphraseKeyProtector('dkim claims', { iterations: 1000 }),
      resolver: async (name) => zone.get(name) ?? [],
      publisher: { name: 'fake', automatic: true, publish: async (r) => void zone.set(r.name, [[r.value]]), retire: async () => undefined, remove: async () => undefined },
    });
    await manager.create({ domain: 'example.com', owner: { team: 'mail' }, algorithm: 'ed25519' }, { actor: 'a' });
    expect(await store.claimIdentity('dkim:example.com', 'other', new Date(), 60_000)).toBe(true);
    const s = await manager.runDue();
    expect(s).toMatchObject({ scanned: 1, transitions: [], failed: [], skipped: ['dkim:example.com'] });
    expect(zone.size).toBe(0);
    await store.releaseIdentity('dkim:example.com', 'other');
    expect((await manager.runDue()).transitions.length).toBeGreaterThan(0);
  });
});
