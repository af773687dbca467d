/** Run by audit-concurrency.atk-trail.test.ts: appends audit records in a loop until killed, printing each committed id. */
import { openSqliteStore } from '../../src/node/sqlite-store.js';

const [path, name] = [process.argv[2]!, process.argv[3]!];
const store = await openSqliteStore(path, { create: false });
for (let i = 0; ; i++) {
  const ids = Array.from({ length: 1 + (i % 3) }, (_, k) => `${name}-${i}-${k}`);
  await store.transaction(async (tx) => {
    for (const id of ids) {
      await tx.appendAudit({ id, at: new Date(), actor: name, action: 'test.write', reason: `round ${i}`, after: { i, k: id } });
      // Give the event loop (and a SIGKILL) a chance between the records of one transaction.
      await new Promise((r) => setImmediate(r));
    }
  });
  await new Promise<void>((r) => process.stdout.write(`${ids.join(' ')}\n`, () => r()));
}
