/**
 * Regression: the same message handed to the filter twice at once (Postfix hands it again after a timeout while the
 * first attempt still waits on a slow return port; two connections of one filter, or two filters on one store). Each
 * attempt read the record, passed its copies on and wrote the record whole: both passed copies on (double delivery),
 * and the last write won, so a delivery made under the other attempt's verdict vanished from the evidence.
 * Now an attempt claims the message atomically (EvidenceStore.update): while another attempt's claim holds (its record
 * pending, within the lease) the second answers 451 and passes nothing on; after the lease (a filter that died) it takes
 * over; and an attempt's final write merges into the record as stored, losing no delivery.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MemoryEvidenceStore, evidenceAttempts, type EvidenceRecord, type EvidenceStore } from '../../src/filter/evidence.js';
import { createFilter, recentRecords, type RunningFilter } from '../../src/node/filter.js';
import { openSqliteEvidenceStore } from '../../src/node/sqlite-evidence.js';
import { tempDir } from '../helpers/peers.js';
import { handOver, startSink } from '../helpers/smtp-sink.js';
import { plainMessage } from '../smime/fixtures.js';

const TO = ['ap@example.com', 'ar@example.com'];
/** The lease of a claim with the default reinjectTimeoutMs (30 s × REINJECT_DEADLINE_FACTOR 10 × 2). */
const LEASE_MS = 10 * 60_000;

/** Sends like Postfix's content_filter client: the SMTP reply code of DATA. */
const deliver = (port: number, raw: string, to = TO) => handOver(port, { from: 'payments@example.com', to }, raw);

const start = (port: number, evidence?: EvidenceStore, clock?: () => Date) =>
  createFilter({ listen: { port: 0 }, reinject: { port }, authservId: 'mx.example.com', ...(evidence ? { evidence } : {}), ...(clock ? { clock } : {}) });

/** A filter process that dies once its claim is written: its copies go on, no write after them ever comes (dead() tells when). */
function dyingAfterClaim(evidence: EvidenceStore): { store: EvidenceStore; dead: () => boolean } {
  let dead = false;
  const store: EvidenceStore = {
    get: (id) => evidence.get(id),
    put: (r, o) => evidence.put(r, o),
    list: (q) => evidence.list(q),
    prune: (before) => evidence.prune(before),
    update: (id, change, o) => (dead ? new Promise<undefined>(() => undefined) : evidence.update(id, change, o).finally(() => (dead = true))),
  };
  return { store, dead: () => dead };
}

/** The lease tests' scene: a return port, a memory store, a fake clock at t0 (set time.now), and the store as a filter that dies after its claim sees it. */
async function leaseScene() {
  const sink = await startSink();
  const evidence = new MemoryEvidenceStore();
  const t0 = Date.parse('2026-03-16T08:00:00Z');
  const time = { now: t0 };
  return { sink, evidence, t0, time, clock: () => new Date(time.now), ...dyingAfterClaim(evidence) };
}

/** Every recipient the return port got a copy for, sorted (a recipient twice: delivered twice). */
const copies = (got: { to: string[] }[]) => got.flatMap((g) => g.to).sort();

describe('regression: the same message handed over twice at once', () => {
  for (const kind of ['memory store', 'SQLite store, two filters on one file', 'no store (the filter\'s recent records)'] as const)
    it(`${kind}: one attempt passes the copies on, the other answers 451 and passes nothing on; no delivery vanishes from the record`, async () => {
      const sink = await startSink({ delayMs: 1500 });
      const tmp = tempDir('mailpki-concurrent-');
      const stores: (EvidenceStore & { close?: () => Promise<void> })[] =
        kind === 'memory store' ? [new MemoryEvidenceStore()] : kind.startsWith('SQLite') ? [await openSqliteEvidenceStore(tmp.path('s.db')), await openSqliteEvidenceStore(tmp.path('s.db'))] : [];
      const filters: RunningFilter[] = stores.length === 2 ? [await start(sink.port, stores[0]), await start(sink.port, stores[1])] : [await start(sink.port, stores[0])];
      const raw = plainMessage({ to: TO.join(', '), subject: `at once, ${kind}` });
      try {
        const codes = await Promise.all([deliver(filters[0]!.port, raw), deliver(filters[filters.length - 1]!.port, raw)]);
        // Observed before: [250, 250] and each recipient got two copies.
        expect(codes.sort()).toEqual([250, 451]);
        expect(copies(sink.got)).toEqual(TO);
        // Postfix retries the 451 later: nothing more is passed on.
        expect(await deliver(filters[0]!.port, raw)).toBe(250);
        expect(copies(sink.got)).toEqual(TO);
        if (stores[0]) {
          const [rec] = await stores[0].list();
          expect(rec).toMatchObject({ outcome: 'delivered', attempts: 2, delivered: TO });
          expect(rec!.deliveries).toEqual(TO.map((recipient) => ({ recipient, attempt: 1 })));
        }
      } finally {
        for (const f of filters) await f.close(1000);
        for (const s of stores) await s.close?.();
        await sink.close();
        tmp.cleanup();
      }
    });

  it('an attempt taken over after its lease while its copy was still in flight: both attempts\' deliveries stay in the record (neither final write loses the other\'s)', async () => {
    const sink = await startSink({ delayMs: 1500 });
    const evidence = new MemoryEvidenceStore();
    const first = await start(sink.port, evidence);
    // A second filter whose clock is past the first attempt's lease: it takes the message over (the first looks dead).
    const second = await start(sink.port, evidence, () => new Date(Date.now() + LEASE_MS + 60_000));
    const raw = plainMessage({ to: TO.join(', '), subject: 'taken over' });
    try {
      const one = deliver(first.port, raw);
      // The first attempt's copy is at the return port, its answer not yet back.
      for (let i = 0; i < 200 && sink.got.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      const two = deliver(second.port, raw);
      expect(await Promise.all([one, two])).toEqual([250, 250]);
    } finally {
      await first.close(1000);
      await second.close(1000);
      await sink.close();
    }
    // Past the lease the copies go again (at least once, never lost) — and the record says so.
    expect(copies(sink.got)).toEqual([...TO, ...TO].sort());
    const [rec] = await evidence.list();
    expect(rec).toMatchObject({ attempts: 2, outcome: 'delivered' });
    // Observed before: the second attempt's write replaced the record — attempt 1's deliveries gone, its attempt left 'pending'.
    expect(rec!.deliveries).toEqual(expect.arrayContaining([...TO.map((recipient) => ({ recipient, attempt: 1 })), ...TO.map((recipient) => ({ recipient, attempt: 2 }))]));
    expect(rec!.deliveries).toHaveLength(4);
    expect(evidenceAttempts(rec!).map((a) => [a.attempt, a.outcome, a.delivered])).toEqual([
      [1, 'delivered', TO],
      [2, 'delivered', TO],
    ]);
  });

  it('lease (fake clock): a pending record left by a filter that died is answered 451 with no copy within the lease, taken over after it', async () => {
    // The first process dies once its claim (pending) is written: its copies go, no write after them ever comes.
    const { sink, evidence, t0, time, clock, store: dying, dead } = await leaseScene();
    const first = await start(sink.port, dying, clock);
    const second = await start(sink.port, evidence, clock);
    const raw = plainMessage({ to: TO.join(', '), subject: 'lease' });
    try {
      void deliver(first.port, raw);
      // Its copy is out; the record stays pending.
      for (let i = 0; i < 300 && !(dead() && sink.got.length > 0); i++) await new Promise((r) => setTimeout(r, 10));
      expect(copies(sink.got)).toEqual(TO);
      const [left] = await evidence.list();
      expect(left).toMatchObject({ outcome: 'pending', attempts: 1 });
      const copiesBefore = sink.got.length;
      time.now = t0 + LEASE_MS - 1000;
      expect(await deliver(second.port, raw)).toBe(451);
      expect(sink.got.length).toBe(copiesBefore);
      expect(await evidence.get(left!.id)).toEqual(left);
      time.now = t0 + LEASE_MS + 1000;
      expect(await deliver(second.port, raw)).toBe(250);
      expect(copies(sink.got.slice(copiesBefore))).toEqual(TO);
      const rec = (await evidence.get(left!.id))!;
      expect(rec).toMatchObject({ attempts: 2, outcome: 'delivered', lastAttemptAt: new Date(t0 + LEASE_MS + 1000).toISOString() });
      expect(rec.deliveries).toEqual(TO.map((recipient) => ({ recipient, attempt: 2 })));
      expect(rec.earlier?.map((a) => [a.attempt, a.outcome])).toEqual([[1, 'pending']]);
    } finally {
      await first.close(100);
      await second.close(1000);
      await sink.close();
    }
  });

  it('filters with different reinjection timeouts on one store: a claim holds for the claiming filter\'s own lease (leaseMs in its record), not the reader\'s', async () => {
    const { sink, evidence, t0, time, clock, store: dying, dead } = await leaseScene();
    // 60 s reinjection timeout: a 20 min lease; the other filter has the default 30 s (10 min).
    const first = await createFilter({ listen: { port: 0 }, reinject: { port: sink.port }, reinjectTimeoutMs: 60_000, authservId: 'mx.example.com', evidence: dying, clock });
    const second = await start(sink.port, evidence, clock);
    const raw = plainMessage({ to: TO.join(', '), subject: 'two leases' });
    try {
      void deliver(first.port, raw);
      for (let i = 0; i < 300 && !(dead() && sink.got.length > 0); i++) await new Promise((r) => setTimeout(r, 10));
      const [left] = await evidence.list();
      expect(left).toMatchObject({ outcome: 'pending', attempts: 1, leaseMs: 2 * LEASE_MS });
      const copiesBefore = sink.got.length;
      // Past the second filter's own lease, within the first's: the first may still be passing copies on.
      time.now = t0 + LEASE_MS + 60_000;
      expect(await deliver(second.port, raw)).toBe(451);
      expect(sink.got.length).toBe(copiesBefore);
      time.now = t0 + 2 * LEASE_MS + 1000;
      expect(await deliver(second.port, raw)).toBe(250);
      expect(copies(sink.got.slice(copiesBefore))).toEqual(TO);
      expect(await evidence.get(left!.id)).toMatchObject({ attempts: 2, outcome: 'delivered', leaseMs: LEASE_MS });
    } finally {
      await first.close(100);
      await second.close(1000);
      await sink.close();
    }
  });

  it('a store of the caller\'s own that hands over a claim with a lease out of range (negative, past a day): the reader counts its own lease instead — no takeover at once, no message held for ever', async () => {
    for (const [leaseMs, afterMs, code] of [
      [-1, LEASE_MS - 60_000, 451],
      [1e12, LEASE_MS + 60_000, 250],
    ] as const) {
      const { sink, evidence, t0, time, clock, store: dying, dead } = await leaseScene();
      // Reads as stored, but the pending claim's leaseMs replaced (the store does not check what it reads).
      const tamper = (r: EvidenceRecord | undefined) => (r?.outcome === 'pending' ? { ...r, leaseMs } : r);
      const unchecked: EvidenceStore = { ...dying, get: async (id) => tamper(await evidence.get(id)), update: (id, change, o) => evidence.update(id, (c) => change(tamper(c)), o) };
      const first = await start(sink.port, dying, clock);
      const second = await start(sink.port, unchecked, clock);
      const raw = plainMessage({ to: TO.join(', '), subject: `lease ${leaseMs}` });
      try {
        void deliver(first.port, raw);
        for (let i = 0; i < 300 && !(dead() && sink.got.length > 0); i++) await new Promise((r) => setTimeout(r, 10));
        const copiesBefore = sink.got.length;
        time.now = t0 + afterMs;
        expect(await deliver(second.port, raw)).toBe(code);
        expect(sink.got.length > copiesBefore).toBe(code === 250);
      } finally {
        await first.close(100);
        await second.close(1000);
        await sink.close();
      }
    }
  });

  it('a reinjection timeout whose lease would pass a day (or is not a positive integer) is refused at start', async () => {
    for (const reinjectTimeoutMs of [0, -1, 1.5, Number.NaN, 4999, 4_320_001])
      await expect(createFilter({ listen: { port: 0 }, reinject: { port: 25 }, reinjectTimeoutMs, authservId: 'mx.example.com' })).rejects.toMatchObject({
        code: 'ERR_INVALID_INPUT',
        details: { field: 'reinjectTimeoutMs' },
      });
    const longest = await createFilter({ listen: { port: 0 }, reinject: { port: 25 }, reinjectTimeoutMs: 4_320_000, authservId: 'mx.example.com' });
    await longest.close(100);
  });

  it('a refused reinjection timeout leaves nothing behind: the quarantine directory of its policy is not made (it was, before the refusal)', async () => {
    const tmp = tempDir('mailpki-lease-refused-');
    const quarantine = tmp.path('quarantine');
    try {
      await expect(
        createFilter({ listen: { port: 0 }, reinject: { port: 25 }, reinjectTimeoutMs: 4_320_001, authservId: 'mx.example.com', policy: { version: 1, quarantine: { directory: quarantine }, rules: [] } }),
      ).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'reinjectTimeoutMs' } });
      expect(existsSync(quarantine)).toBe(false);
    } finally {
      tmp.cleanup();
    }
  });

  it('lease (fake clock): an attempt whose lease would end before its copy is surely out passes nothing on, answers 451 and leaves the record deferred', async () => {
    const sink = await startSink();
    const evidence = new MemoryEvidenceStore();
    let now = Date.parse('2026-03-16T08:00:00Z');
    const update = evidence.update.bind(evidence);
    // Verification and the claim took 5 min and 1 s: one copy may take 5 min (30 s × REINJECT_DEADLINE_FACTOR), the lease is 10.
    evidence.update = (id, change, o) => update(id, change, o).finally(() => (now += 5 * 60_000 + 1000));
    const filter = await start(sink.port, evidence, () => new Date(now));
    try {
      expect(await deliver(filter.port, plainMessage({ to: TO.join(', '), subject: 'late' }))).toBe(451);
    } finally {
      await filter.close(1000);
      await sink.close();
    }
    expect(sink.got).toEqual([]);
    const [rec] = await evidence.list();
    expect(rec).toMatchObject({ outcome: 'deferred', delivered: [] });
    expect(rec!.faults.join('\n')).toMatch(/ran out of time/);
  });
});

describe('regression (attack on the lease): the end of a lease', () => {
  it('a copy starts only with a margin (a tenth of its deadline) before the point after which it may end with the lease: the final evidence write must land before a takeover (a claim that took 4 min 31 s passed copies on that could end 1 s before the lease, then a slow final write let a takeover send them again)', async () => {
    const sink = await startSink();
    const evidence = new MemoryEvidenceStore();
    let now = Date.parse('2026-03-16T08:00:00Z');
    const update = evidence.update.bind(evidence);
    evidence.update = (id, change, o) => update(id, change, o).finally(() => (now += 4 * 60_000 + 31_000));
    const filter = await start(sink.port, evidence, () => new Date(now));
    try {
      expect(await deliver(filter.port, plainMessage({ to: TO.join(', '), subject: 'margin' }))).toBe(451);
    } finally {
      await filter.close(1000);
      await sink.close();
    }
    expect(sink.got).toEqual([]);
  });

  it('the final write\'s margin is at least 10 s (twice the SQLite store\'s lock wait): with a 5 s reinjection timeout (lease 100 s, a copy up to 50 s) no copy starts 41 s after the message came; 39 s after, it does', async () => {
    for (const [afterMs, code] of [
      [41_000, 451],
      [39_000, 250],
    ] as const) {
      const sink = await startSink();
      const evidence = new MemoryEvidenceStore();
      let now = Date.parse('2026-03-16T08:00:00Z');
      const update = evidence.update.bind(evidence);
      let first = true;
      // The claim (the first update) takes `afterMs`: the first copy would start then.
      evidence.update = (id, change, o) => update(id, change, o).finally(() => first && ((first = false), (now += afterMs)));
      const filter = await createFilter({ listen: { port: 0 }, reinject: { port: sink.port }, reinjectTimeoutMs: 5000, authservId: 'mx.example.com', evidence, clock: () => new Date(now) });
      try {
        expect(await deliver(filter.port, plainMessage({ to: TO.join(', '), subject: `margin ${afterMs}` }))).toBe(code);
      } finally {
        await filter.close(1000);
        await sink.close();
      }
      expect(copies(sink.got)).toEqual(code === 250 ? TO : []);
    }
  });

  it('without a store, the recent records never drop a pending one (an attempt still passing copies on): a duplicate after 10 000 other messages still finds the claim (it was the oldest, so it was dropped first)', async () => {
    const recent = recentRecords(2);
    const rec = (id: string, outcome: 'pending' | 'delivered') => () => ({ id, receivedAt: '2026-03-16T08:00:00.000Z', envelope: { from: '', to: [] }, sha256: 'a'.repeat(64), size: 1, authenticationResults: 'x; none', smime: { result: 'none' }, dispositions: [], outcome, faults: [], attempts: 1 });
    await recent.update('held', rec('held', 'pending'));
    for (const id of ['b', 'c', 'd']) await recent.update(id, rec(id, 'delivered'));
    expect((await recent.get('held'))?.outcome).toBe('pending');
    expect(await recent.get('b')).toBeUndefined();
    expect(await recent.get('c')).toBeUndefined();
    expect((await recent.get('d'))?.outcome).toBe('delivered');
    // Only pending ones (attempts that never wrote their outcome): still bounded, the oldest goes.
    for (const id of ['p1', 'p2']) await recent.update(id, rec(id, 'pending'));
    expect(await recent.get('held')).toBeUndefined();
    expect(await recent.get('d')).toBeUndefined();
    expect((await recent.get('p2'))?.outcome).toBe('pending');
  });
});

describe('regression: an attempt passes no copy on once another may take the message over', () => {
  it('a copy that waited for a return-port connection past its lease is not passed on: one copy per recipient', async () => {
    // One connection to a slow return port: a copy waits for it behind another message's.
    const sink = await startSink({ delayMs: 1500 });
    const evidence = new MemoryEvidenceStore();
    const t0 = Date.parse('2026-03-16T08:00:00Z');
    let now = t0;
    const filter = await createFilter({ listen: { port: 0 }, reinject: { port: sink.port }, reinjectConnections: 1, authservId: 'mx.example.com', evidence, clock: () => new Date(now) });
    const raw = plainMessage({ to: TO.join(', '), subject: 'queued past its lease' });
    try {
      const other = deliver(filter.port, plainMessage({ to: 'other@example.com', subject: 'holds the connection' }), ['other@example.com']);
      for (let i = 0; i < 300 && sink.got.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      // The message claims (pending) and waits for the connection.
      const first = deliver(filter.port, raw);
      const pending = async () => (await evidence.list()).find((r) => r.envelope.to.length === 2 && r.outcome === 'pending');
      for (let i = 0; i < 300 && !(await pending()); i++) await new Promise((r) => setTimeout(r, 10));
      expect(await pending()).toBeDefined();
      await new Promise((r) => setTimeout(r, 100));
      // The wait lasted past the lease (a long queue before a slow return port): Postfix's retry takes the message over.
      now = t0 + LEASE_MS + 1000;
      const retry = deliver(filter.port, raw);
      const codes = await Promise.all([other, first, retry]);
      // Observed before: [250, 250, 250], every recipient of the message got two copies.
      expect(codes).toEqual([250, 451, 250]);
      expect(copies(sink.got.filter((g) => g.to[0] !== 'other@example.com'))).toEqual(TO);
      const rec = (await evidence.list()).find((r) => r.envelope.to.length === 2)!;
      expect(rec).toMatchObject({ attempts: 2, outcome: 'delivered' });
      expect(rec.deliveries).toEqual(TO.map((recipient) => ({ recipient, attempt: 2 })));
    } finally {
      await filter.close(1000);
      await sink.close();
    }
  });

  it('the clock set back by more than a lease after an attempt\'s claim: the attempt passes nothing on (any other attempt may take the message over now)', async () => {
    const sink = await startSink({ delayMs: 1500 });
    const evidence = new MemoryEvidenceStore();
    const t0 = Date.parse('2026-03-16T08:00:00Z');
    let now = t0;
    const update = evidence.update.bind(evidence);
    let claims = 0;
    // Right after the first attempt's claim the clock is set back: its record now reads as dated more than a lease ahead.
    evidence.update = (id, change, o) => update(id, change, o).finally(() => claims++ === 0 && (now = t0 - LEASE_MS - 60_000));
    const filter = await start(sink.port, evidence, () => new Date(now));
    const raw = plainMessage({ to: TO.join(', '), subject: 'clock set back' });
    try {
      const first = deliver(filter.port, raw);
      for (let i = 0; i < 300 && claims === 0; i++) await new Promise((r) => setTimeout(r, 10));
      // Postfix hands it again meanwhile: the record looks abandoned (dated more than a lease ahead), so this attempt takes it over.
      const second = deliver(filter.port, raw);
      // Observed before: [250, 250], each recipient got two copies (the first attempt went on as if its lease held).
      expect(await Promise.all([first, second])).toEqual([451, 250]);
      expect(copies(sink.got)).toEqual(TO);
    } finally {
      await filter.close(1000);
      await sink.close();
    }
  });
});

describe('regression: a store whose update() wrote nothing though the claim asked it to', () => {
  it('no copy leaves without its pending record: 451, nothing passed on', async () => {
    const sink = await startSink();
    const evidence = new MemoryEvidenceStore();
    // Resolves as "nothing written" without applying the change (a store that lost the write, or one that does not implement it).
    evidence.update = async () => undefined;
    const filter = await start(sink.port, evidence);
    try {
      // Observed before: 451 only after both copies had gone (the record never written: every retry passed them on again).
      expect(await deliver(filter.port, plainMessage({ to: TO.join(', '), subject: 'not kept' }))).toBe(451);
      expect(sink.got).toEqual([]);
    } finally {
      await filter.close(1000);
      await sink.close();
    }
  });
});
