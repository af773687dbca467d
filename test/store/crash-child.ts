/** Run by sqlite.test.ts: writes inside a transaction, then dies without committing. */
import { openSqliteStore } from '../../src/node/sqlite-store.js';
import { seedIdentities } from './seed.js';

const path = process.argv[2]!;
const store = await openSqliteStore(path, { create: false });
await store.transaction(async (t) => {
  await seedIdentities({ transaction: (fn: (x: typeof t) => unknown) => fn(t) } as never, 20_000, 0.5, { prefix: 'crash' });
  process.stdout.write('inserted 20000, exiting\n', () => process.exit(137));
  await new Promise(() => undefined);
});
