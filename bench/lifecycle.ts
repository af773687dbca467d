/**
 * runDue over a large inventory (issue #5): finding what is due must not grow with the identities
 * that are not due (an index on nextDueAt), measured at 10,000 and 100,000 identities with 1% due,
 * then one full sweep over 100,000 that renews the 1,000 due ones.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalCA, MemoryCaStorage } from '../src/ca/index.js';
import { LifecycleManager } from '../src/lifecycle/index.js';
import { openSqliteStore } from '../src/node/sqlite-store.js';
import { passphraseKeyProtector } from '../src/store/index.js';
import { seedIdentities } from '../test/store/seed.js';

async function timed<T>(f: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t = performance.now();
  const value = await f();
  return { ms: performance.now() - t, value };
}

export async function benchLifecycle(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mailpki-bench-'));
  try {
    console.log('\n## runDue over an inventory (SQLite, embedded default): 1,000 due among 10,000 and among 100,000');
    const find: Record<number, number> = {};
    for (const n of [10_000, 100_000]) {
      const store = await openSqliteStore(join(dir, `inv-${n}.db`));
      // The same 1,000 due identities; only the number of identities that are not due changes.
      const seeded = await timed(() => seedIdentities(store, n, 1000 / n));
      // Best of 5: the query that runDue starts with.
      let best = Infinity;
      let found = 0;
      for (let i = 0; i < 5; i++) {
        const r = await timed(() => store.transaction((tx) => tx.listIdentities({ dueBefore: seeded.value.now, limit: 10_000 })));
        best = Math.min(best, r.ms);
        found = r.value.length;
      }
      find[n] = best;
      console.log(`  ${String(n).padStart(7)} identities: seeded in ${(seeded.ms / 1000).toFixed(1)} s; found ${found} due in ${best.toFixed(1)} ms`);
      if (n === 100_000) {
        let now = seeded.value.now;
        const ca = await LocalCA.create(new MemoryCaStorage(), {}, { clock: () => now });
        const manager = new LifecycleManager({ ca, store, clock: () => now, keyProtector: passphraseKeyProtector('bench', { iterations: 10_000 }) });
        const sweep = await timed(() => manager.runDue(now));
        const s = sweep.value;
        console.log(
          `  full sweep over 100,000: scanned ${s.scanned} due, renewed ${s.renewed.length}, failed ${s.failed.length} in ${(sweep.ms / 1000).toFixed(2)} s ` +
            `(${Math.round(s.scanned / (sweep.ms / 1000))} due identities/s, inventory ${Math.round(100_000 / (sweep.ms / 1000))} identities/s)`,
        );
        const again = await timed(() => manager.runDue(now));
        console.log(`  second sweep (nothing due): ${again.value.scanned} scanned in ${again.ms.toFixed(1)} ms`);
        now = new Date(now.getTime());
      }
      await store.close();
    }
    console.log(`  finding 1,000 due among 100k vs among 10k identities: ${(find[100_000]! / find[10_000]!).toFixed(2)}× (1.0 = does not grow with the identities not due)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
