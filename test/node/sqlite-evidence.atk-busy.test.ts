/**
 * Regressions found attacking the SQLite evidence store's own wait for the write lock (busy_timeout 0,
 * retryWhileBusy): what happens to calls in flight while it waits, and to a very large group.
 */
import Database from 'better-sqlite3';
import { afterEach, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import { openSqliteEvidenceStore, type SqliteEvidenceStore } from '../../src/node/sqlite-evidence.js';
import { record } from '../filter/evidence-contract.js';
import { tempDir } from '../helpers/peers.js';

const tmp = tempDir('mailpki-evidence-atk-busy-');
const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const c of open.splice(0).reverse()) await c.close();
});

async function setUp(busyTimeoutMs: number): Promise<{ store: SqliteEvidenceStore; other: Database.Database }> {
  const path = tmp.path(`e-${Math.random().toString(36).slice(2)}.db`);
  const store = await openSqliteEvidenceStore(path, { busyTimeoutMs });
  open.push(store);
  const other = new Database(path);
  open.push(other);
  return { store, other };
}

it('close() while a prune waits for the lock: close waits for it, and the prune ends as a prune does (it was a TypeError "The database connection is not open")', async () => {
  const { store, other } = await setUp(5000);
  await store.put(record(1));
  other.exec('BEGIN IMMEDIATE');
  const prune = store.prune(new Date(Date.UTC(2027, 0, 1)));
  await new Promise((r) => setTimeout(r, 50));
  setTimeout(() => other.exec('COMMIT'), 100);
  await store.close();
  expect(await prune).toBe(1);
});

it('a call after close(): a coded error, not a TypeError', async () => {
  const { store } = await setUp(5000);
  await store.close();
  for (const call of [() => store.put(record(1)), () => store.update('id-0001', () => record(1)), () => store.get('id-0001'), () => store.list(), () => store.prune(new Date())]) {
    const e = await call().then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(MailPkiError);
    expect((e as MailPkiError).code).toBe('ERR_INVALID_INPUT');
  }
});

it('a group larger than a spread of arguments holds (about 125 000 in V8): every update settles (the group was emptied, then the spread threw, and none of its promises ever settled)', async () => {
  const { store } = await setUp(5000);
  const n = 300_000;
  const updates: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) updates.push(store.update(`u-${i}`, () => undefined));
  const settled = await Promise.race([Promise.allSettled(updates), new Promise((r) => setTimeout(() => r('unsettled'), 20_000))]);
  expect(settled).not.toBe('unsettled');
  expect((settled as PromiseSettledResult<unknown>[]).filter((r) => r.status === 'rejected')).toEqual([]);
}, 60_000);

it('a write that joins a waiting group late waits its own busyTimeoutMs, not what is left of the group\'s (it failed after 50 ms when the lock stayed a little longer than the first write\'s timeout)', async () => {
  const { store, other } = await setUp(400);
  other.exec('BEGIN IMMEDIATE');
  const first = store.put(record(1));
  await new Promise((r) => setTimeout(r, 350));
  const late = store.update('id-0002', () => record(2));
  setTimeout(() => other.exec('COMMIT'), 150);
  const [a, b] = await Promise.allSettled([first, late]);
  expect(a.status).toBe('rejected');
  expect((a as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_STORE_CONFLICT' });
  expect(b.status).toBe('fulfilled');
  expect((await store.list()).map((r) => r.id)).toEqual(['id-0002']);
});
