/**
 * The quarantine directory as the filter writes it, under faults:
 * - a directory that cannot be written answers 451 and passes nothing on; the retry quarantines;
 * - a write that hangs (a stale network mount) answered nothing until the MTA's own timeout, past the evidence lease:
 *   now it answers 451 after the reinjection timeout, as a copy passed on would;
 * - an attempt that takes the message over after one that wrote its quarantine file and died before recording it
 *   wrote a second file for the same message (the name carried the attempt's time): now it replaces that file;
 * - a write that timed out and went on later renamed its (stale) copy over the retry's, or into a quarantine the retry had
 *   not used: now a write past its deadline is not renamed into place;
 * - a record whose first receivedAt is damaged named the file `-62198755200000-<id>.eml` or `NaN-<id>.eml`: now `<id>-….eml`;
 * - a retry that quarantined other recipients than an earlier attempt (the verdict changed for them) replaced the earlier
 *   attempt's file, named by the message alone: a quarantined copy lost. Now the name holds the recipients' digest too.
 *
 * Real parts: the filter's SMTP server, a real directory and files, SMTP sinks as the return port. The hanging write is
 * a fake (no file system here hangs on demand): writeFileAtomic replaced, for that test only; the write that stalls and
 * recovers is the real writeFileAtomic over a file handle whose write waits for the test (node:fs/promises open wrapped).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { MemoryEvidenceStore, type EvidenceRecord, type EvidenceStore } from '../../src/filter/evidence.js';
import { createFilter } from '../../src/node/filter.js';
import { tempDir } from '../helpers/peers.js';
import { handOver, startSink } from '../helpers/smtp-sink.js';
import { plainMessage } from '../smime/fixtures.js';

const hang = vi.hoisted(() => ({ on: false }));
vi.mock('../../src/node/fs-storage.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/node/fs-storage.js')>();
  return { ...real, writeFileAtomic: (...a: Parameters<typeof real.writeFileAtomic>) => (hang.on ? new Promise<void>(() => undefined) : real.writeFileAtomic(...a)) };
});
/**
 * A write that stalls in the middle (its temporary file open, its bytes not yet written) until `release()`, then goes on:
 * a network mount that hangs and recovers. For the files opened while `on`; the real write otherwise.
 */
const stall = vi.hoisted(() => {
  const s = { on: false, release: () => undefined as void, opened: 0 };
  let gate: Promise<void> = Promise.resolve();
  return Object.assign(s, {
    arm() {
      s.on = true;
      gate = new Promise<void>((r) => (s.release = () => r()));
    },
    wait: () => gate,
  });
});
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const open = (async (...a: Parameters<typeof real.open>) => {
    const fh = await real.open(...a);
    if (!stall.on) return fh;
    stall.opened++;
    const gate = stall.wait();
    return { writeFile: async (d: Uint8Array) => (await gate, fh.writeFile(d)), sync: () => fh.sync(), close: () => fh.close() };
  }) as typeof real.open;
  return { ...real, default: { ...real, open }, open };
});

const TO = ['ap@example.com'];
/** The lease of a claim with the default reinjectTimeoutMs (30 s × REINJECT_DEADLINE_FACTOR 10 × 2). */
const LEASE_MS = 10 * 60_000;
const deliver = (port: number, raw: string) => handOver(port, { from: 'payments@example.com', to: TO }, raw);
/** Unsigned mail to ap@ must be S/MIME-valid, else it is quarantined to `directory`. */
const policy = (directory: string): Parameters<typeof createFilter>[0]['policy'] => ({
  version: 1,
  quarantine: { directory },
  rules: [{ name: 'ap', recipients: ['ap@example.com'], require: { smime: true }, otherwise: 'quarantine' }],
});
/** The quarantined files (writeFileAtomic's temporary files start with "."). */
const held = (dir: string) => readdirSync(dir).filter((f) => !f.startsWith('.'));

describe('filter: writing to the quarantine directory', () => {
  it('a quarantine directory that cannot be written: 451, nothing passed on, evidence deferred; the retry quarantines', async () => {
    const tmp = tempDir('mailpki-quarantine-');
    const dir = tmp.path('q');
    const sink = await startSink();
    const evidence = new MemoryEvidenceStore();
    const filter = await createFilter({ listen: { port: 0 }, reinject: { port: sink.port }, authservId: 'mx.example.com', policy: policy(dir), evidence });
    const raw = plainMessage({ to: TO[0], subject: 'not writable' });
    try {
      // The directory made at start is gone and a file stands in its place (root ignores permission bits).
      rmSync(dir, { recursive: true });
      writeFileSync(dir, 'not a directory');
      expect(await deliver(filter.port, raw)).toBe(451);
      expect(sink.got).toHaveLength(0);
      const [rec] = await evidence.list();
      expect(rec).toMatchObject({ outcome: 'deferred', delivered: [] });
      expect(rec!.faults.join(' ')).toMatch(/Cannot write to quarantine now/);
      rmSync(dir);
      // Made again by the operator: the MTA's retry quarantines it.
      mkdirSync(dir, { mode: 0o700 });
      expect(await deliver(filter.port, raw)).toBe(250);
      expect(held(dir)).toHaveLength(1);
      expect(await evidence.get(rec!.id)).toMatchObject({ outcome: 'delivered', delivered: TO });
    } finally {
      await filter.close(1000);
      await sink.close();
      tmp.cleanup();
    }
  });

  it('a write that hangs: 451 after the reinjection timeout (not at the MTA\'s own timeout, past the lease); the retry quarantines, one file', async () => {
    const tmp = tempDir('mailpki-quarantine-');
    const dir = tmp.path('q');
    const sink = await startSink();
    const evidence = new MemoryEvidenceStore();
    const filter = await createFilter({ listen: { port: 0 }, reinject: { port: sink.port }, reinjectTimeoutMs: 5000, authservId: 'mx.example.com', policy: policy(dir), evidence });
    const raw = plainMessage({ to: TO[0], subject: 'hung mount' });
    try {
      hang.on = true;
      const t = performance.now();
      expect(await deliver(filter.port, raw)).toBe(451);
      expect(performance.now() - t).toBeGreaterThanOrEqual(4900);
      expect(performance.now() - t).toBeLessThan(20_000);
      const [rec] = await evidence.list();
      expect(rec).toMatchObject({ outcome: 'deferred', delivered: [] });
      expect(rec!.faults.join(' ')).toMatch(/Cannot write to quarantine now \(writing to the quarantine directory took longer than 5000 ms\)/);
      hang.on = false;
      expect(await deliver(filter.port, raw)).toBe(250);
      expect(held(dir)).toHaveLength(1);
    } finally {
      hang.on = false;
      await filter.close(1000);
      await sink.close();
      tmp.cleanup();
    }
  }, 30_000);

  it('an attempt that takes over after one that wrote its quarantine file and died before recording it: the file is replaced, not doubled', async () => {
    const tmp = tempDir('mailpki-quarantine-');
    const dir = tmp.path('q');
    const sink = await startSink();
    const evidence = new MemoryEvidenceStore();
    // The first filter process dies once its claim is written: its quarantine file is written, no record of it follows.
    let dead = false;
    const dying: EvidenceStore = {
      get: (id) => evidence.get(id),
      put: (r, o) => evidence.put(r, o),
      list: (q) => evidence.list(q),
      prune: (before) => evidence.prune(before),
      update: (id, change, o) => (dead ? new Promise<undefined>(() => undefined) : evidence.update(id, change, o).finally(() => (dead = true))),
    };
    const t0 = Date.parse('2026-03-16T08:00:00Z');
    const time = { now: t0 };
    const clock = () => new Date(time.now);
    const first = await createFilter({ listen: { port: 0 }, reinject: { port: sink.port }, authservId: 'mx.example.com', policy: policy(dir), evidence: dying, clock });
    const second = await createFilter({ listen: { port: 0 }, reinject: { port: sink.port }, authservId: 'mx.example.com', policy: policy(dir), evidence, clock });
    const raw = plainMessage({ to: TO[0], subject: 'taken over in quarantine' });
    try {
      void deliver(first.port, raw);
      for (let i = 0; i < 300 && !(dead && held(dir).length > 0); i++) await new Promise((r) => setTimeout(r, 10));
      expect(held(dir)).toHaveLength(1);
      const [left] = await evidence.list();
      expect(left).toMatchObject({ outcome: 'pending', attempts: 1, delivered: [] });
      // Past the first attempt's lease, the MTA's retry is taken over.
      time.now = t0 + LEASE_MS + 1000;
      expect(await deliver(second.port, raw)).toBe(250);
      // Observed before: two files, `${t0}-<id>.eml` and `${t0 + LEASE_MS + 1000}-<id>.eml`.
      expect(held(dir)).toEqual([expect.stringMatching(new RegExp(`^${t0}-${left!.id}-[0-9a-f]{16}\\.eml$`))]);
      expect(readFileSync(`${dir}/${held(dir)[0]}`, 'latin1')).toMatch(/^Subject: taken over in quarantine\r$/m);
      expect(await evidence.get(left!.id)).toMatchObject({ outcome: 'delivered', attempts: 2, delivered: TO });
      expect(sink.got).toHaveLength(0);
    } finally {
      await first.close(100);
      await second.close(1000);
      await sink.close();
      tmp.cleanup();
    }
  });
  it('a write that timed out and finishes later does not replace the retry\'s file, nor add one the evidence does not know', async () => {
    // Attempt 1 (rule "first") stalls writing, answers 451 and records `deferred`; the MTA's retry reaches a filter whose
    // policy has changed since (as when a revocation status did): rule "second" quarantines it, or the message is
    // accepted. Then the stalled write recovers. Observed before: its rename put attempt 1's copy (rule=first) in place of
    // the retry's, or a quarantine file for a message the evidence says was delivered to the mailbox.
    for (const retry of ['quarantine', 'accept'] as const) {
      const tmp = tempDir('mailpki-quarantine-');
      const dir = tmp.path('q');
      const sink = await startSink();
      const evidence = new MemoryEvidenceStore();
      const named = (name: string, otherwise: 'quarantine' | 'accept') => ({ ...policy(dir)!, rules: [{ name, recipients: TO, require: { smime: true }, otherwise }] });
      const first = await createFilter({ listen: { port: 0 }, reinject: { port: sink.port }, reinjectTimeoutMs: 5000, authservId: 'mx.example.com', policy: named('first', 'quarantine'), evidence });
      const second = await createFilter({ listen: { port: 0 }, reinject: { port: sink.port }, reinjectTimeoutMs: 5000, authservId: 'mx.example.com', policy: named('second', retry), evidence });
      const raw = plainMessage({ to: TO[0], subject: `late write, retry ${retry}` });
      try {
        stall.arm();
        expect(await deliver(first.port, raw)).toBe(451);
        expect(stall.opened).toBe(1);
        stall.on = false;
        expect(await deliver(second.port, raw)).toBe(250);
        const [rec] = await evidence.list();
        expect(rec).toMatchObject({ outcome: 'delivered', delivered: TO, dispositions: [{ action: retry, rule: 'second' }] });
        const before = held(dir);
        expect(before).toEqual(retry === 'quarantine' ? [expect.stringMatching(new RegExp(`^${Date.parse(rec!.receivedAt)}-${rec!.id}-[0-9a-f]{16}\\.eml$`))] : []);
        // The mount recovers: the stalled write goes on.
        stall.release();
        for (let i = 0; i < 50; i++) await new Promise((r) => setTimeout(r, 10));
        expect(held(dir)).toEqual(before);
        // Nor is its temporary file left behind.
        expect(readdirSync(dir)).toEqual(before);
        if (retry === 'quarantine') expect(readFileSync(`${dir}/${before[0]}`, 'latin1')).toMatch(/^X-Mailpki-Disposition: quarantine; rule=second;/m);
        else expect(sink.got.map((m) => m.to)).toEqual([TO]);
      } finally {
        stall.on = false;
        stall.release();
        stall.opened = 0;
        await first.close(1000);
        await second.close(1000);
        await sink.close();
        tmp.cleanup();
      }
    }
  }, 60_000);
  it('a record whose first receivedAt is damaged (a store of the caller\'s own): the file name still starts with no "-" and holds no "NaN"', async () => {
    // Observed before: `-62198755200000-<id>.eml`, which `ls`, `rm`, `grep … *` in the quarantine directory read as options.
    for (const damaged of ['-000001-01-01T00:00:00.000Z', 'not a time']) {
      const tmp = tempDir('mailpki-quarantine-');
      const dir = tmp.path('q');
      const sink = await startSink();
      const raw = plainMessage({ to: TO[0], subject: 'damaged receivedAt' });
      // A store that reads the first attempt's time back damaged (and keeps what it is given).
      const kept = new Map<string, EvidenceRecord>();
      const careless: EvidenceStore = {
        get: async (id) => kept.get(id),
        put: async (r) => void kept.set(r.id, r),
        list: async () => [...kept.values()],
        prune: async () => 0,
        update: async (id, change) => {
          const current = kept.get(id);
          const next = change(current && { ...current, receivedAt: damaged });
          if (next) kept.set(id, next);
          return next;
        },
      };
      const filter = await createFilter({ listen: { port: 0 }, reinject: { port: sink.port }, authservId: 'mx.example.com', policy: policy(dir), evidence: careless });
      try {
        // A first attempt, deferred (the directory is not there), leaves a record; the retry quarantines.
        rmSync(dir, { recursive: true });
        expect(await deliver(filter.port, raw)).toBe(451);
        mkdirSync(dir, { mode: 0o700 });
        expect(await deliver(filter.port, raw)).toBe(250);
        const [rec] = [...kept.values()];
        expect(rec).toMatchObject({ outcome: 'delivered', delivered: TO });
        expect(held(dir)).toEqual([expect.stringMatching(new RegExp(`^${rec!.id}-[0-9a-f]{16}\\.eml$`))]);
      } finally {
        await filter.close(1000);
        await sink.close();
        tmp.cleanup();
      }
    }
  });
  it('a retry that quarantines other recipients of the message than an earlier attempt did (its verdict changed meanwhile): both copies stay', async () => {
    // Attempt 1 quarantines ap@ (its rule) and passes ar@ on, which the return port refuses for now: 451, ap@ recorded as
    // served. By the retry the verdict for ar@ has changed (a revocation, a new policy): ar@ is quarantined too. Observed
    // before: the retry's file, named by the message's record alone, replaced attempt 1's — ap@'s quarantined copy was
    // gone while the evidence said it was quarantined.
    const tmp = tempDir('mailpki-quarantine-');
    const dir = tmp.path('q');
    let refuseAr = true;
    const sink = await startSink({ rcpt: (a) => (a === 'ar@example.com' && refuseAr ? { code: 451, text: 'try later' } : undefined) });
    const evidence = new MemoryEvidenceStore();
    const both = ['ap@example.com', 'ar@example.com'];
    const first = await createFilter({ listen: { port: 0 }, reinject: { port: sink.port }, authservId: 'mx.example.com', policy: policy(dir), evidence });
    const later = { ...policy(dir)!, rules: [{ name: 'both', recipients: both, require: { smime: true }, otherwise: 'quarantine' as const }] };
    const second = await createFilter({ listen: { port: 0 }, reinject: { port: sink.port }, authservId: 'mx.example.com', policy: later, evidence });
    const raw = plainMessage({ to: both.join(', '), subject: 'quarantined in two steps' });
    try {
      expect(await handOver(first.port, { from: 'payments@example.com', to: both }, raw)).toBe(451);
      expect(await evidence.list()).toMatchObject([{ outcome: 'deferred', delivered: ['ap@example.com'] }]);
      expect(held(dir)).toHaveLength(1);
      refuseAr = false;
      expect(await handOver(second.port, { from: 'payments@example.com', to: both }, raw)).toBe(250);
      expect(await evidence.list()).toMatchObject([{ outcome: 'delivered', delivered: both }]);
      expect(sink.got).toHaveLength(0);
      const copies = held(dir).map((f) => readFileSync(`${dir}/${f}`, 'latin1').match(/^X-Mailpki-Quarantined-For: (.*)\r$/m)?.[1]);
      expect(copies.sort()).toEqual(['ap@example.com', 'ar@example.com']);
    } finally {
      await first.close(1000);
      await second.close(1000);
      await sink.close();
      tmp.cleanup();
    }
  });
});
