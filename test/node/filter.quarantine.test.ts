/**
 * The quarantine directory as the filter writes it, under faults:
 * - a directory that cannot be written answers 451 and passes nothing on; the retry quarantines;
 * - a write that hangs (a stale network mount) answered nothing until the MTA's own timeout, past the evidence lease:
 *   now it answers 451 after the reinjection timeout, as a copy passed on would;
 * - an attempt that takes the message over after one that wrote its quarantine file and died before recording it
 *   wrote a second file for the same message (the name carried the attempt's time): now it replaces that file.
 *
 * Real parts: the filter's SMTP server, a real directory and files, SMTP sinks as the return port. The hanging write is
 * a fake (no file system here hangs on demand): writeFileAtomic replaced, for that test only.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { MemoryEvidenceStore, type EvidenceStore } from '../../src/filter/evidence.js';
import { createFilter } from '../../src/node/filter.js';
import { tempDir } from '../helpers/peers.js';
import { handOver, startSink } from '../helpers/smtp-sink.js';
import { plainMessage } from '../smime/fixtures.js';

const hang = vi.hoisted(() => ({ on: false }));
vi.mock('../../src/node/fs-storage.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/node/fs-storage.js')>();
  return { ...real, writeFileAtomic: (...a: Parameters<typeof real.writeFileAtomic>) => (hang.on ? new Promise<void>(() => undefined) : real.writeFileAtomic(...a)) };
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
      expect(held(dir)).toEqual([`${t0}-${left!.id}.eml`]);
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
});
