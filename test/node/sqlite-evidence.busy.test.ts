/**
 * The SQLite evidence store while another connection holds the file's write lock (another filter
 * process, `mailpki evidence export`, the lifecycle store): its puts, updates, reads and prunes wait
 * for the lock without blocking the event loop (every other SMTP session of the filter goes on), up
 * to busyTimeoutMs, then fail with ERR_STORE_CONFLICT. Before, SQLite's own busy_timeout (5 s) held
 * the whole process.
 */
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import { openSqliteEvidenceStore, type SqliteEvidenceStore } from '../../src/node/sqlite-evidence.js';
import { record } from '../filter/evidence-contract.js';
import { tempDir } from '../helpers/peers.js';

const tmp = tempDir('mailpki-evidence-busy-');
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

/** How many 5 ms timers fired while `p` was pending, and how it ended. */
async function ticksWhile<T>(p: Promise<T>): Promise<{ ticks: number; result: PromiseSettledResult<T> }> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const [result] = await Promise.allSettled([p]);
  clearInterval(timer);
  return { ticks, result };
}

describe('SQLite evidence store: another connection holds the write lock', () => {
  it('an update waits for the lock with the event loop turning, and is written once the lock is free', async () => {
    const { store, other } = await setUp(5000);
    other.exec('BEGIN IMMEDIATE');
    const started = Date.now();
    const update = store.update('id-0001', () => record(1, { outcome: 'pending' }));
    setTimeout(() => other.exec('COMMIT'), 400);
    const { ticks, result } = await ticksWhile(update);
    expect(result.status).toBe('fulfilled');
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    // About 80 at 5 ms; blocked in SQLite's busy handler it was 0 (the timers fire only after it returns).
    expect(ticks).toBeGreaterThan(20);
    expect((await store.get('id-0001'))?.outcome).toBe('pending');
  });

  it('puts and updates made while a group waits join it; each is written once', async () => {
    const { store, other } = await setUp(5000);
    other.exec('BEGIN IMMEDIATE');
    const first = store.put(record(1));
    await new Promise((r) => setTimeout(r, 50));
    const later = [store.put(record(2)), store.update('id-0003', () => record(3)), store.update('id-0001', (c) => c && { ...c, faults: ['seen again'] })];
    setTimeout(() => other.exec('COMMIT'), 100);
    await Promise.all([first, ...later]);
    expect((await store.list()).map((r) => [r.id, r.faults])).toEqual([
      ['id-0001', ['seen again']],
      ['id-0002', []],
      ['id-0003', []],
    ]);
  });

  it('past busyTimeoutMs: ERR_STORE_CONFLICT, nothing written, the event loop turning all along; the next write works', async () => {
    const { store, other } = await setUp(300);
    other.exec('BEGIN IMMEDIATE');
    const { ticks, result } = await ticksWhile(store.update('id-0001', () => record(1)));
    expect(result.status).toBe('rejected');
    const e = (result as PromiseRejectedResult).reason as MailPkiError;
    expect(e).toBeInstanceOf(MailPkiError);
    expect(e.code).toBe('ERR_STORE_CONFLICT');
    expect(ticks).toBeGreaterThan(20);
    await expect(store.prune(new Date())).rejects.toMatchObject({ code: 'ERR_STORE_CONFLICT' });
    other.exec('ROLLBACK');
    expect(await store.get('id-0001')).toBeUndefined();
    await store.put(record(2));
    expect((await store.list()).map((r) => r.id)).toEqual(['id-0002']);
  });

  it('reads do not wait for a writer (WAL); a prune waits for the lock, then prunes', async () => {
    const { store, other } = await setUp(5000);
    await store.put(record(1));
    other.exec('BEGIN IMMEDIATE');
    expect((await store.get('id-0001'))?.id).toBe('id-0001');
    expect(await store.list()).toHaveLength(1);
    const prune = store.prune(new Date(Date.UTC(2027, 0, 1)));
    setTimeout(() => other.exec('COMMIT'), 200);
    const { ticks, result } = await ticksWhile(prune);
    expect(result).toEqual({ status: 'fulfilled', value: 1 });
    expect(ticks).toBeGreaterThan(10);
  });
});

// Found attacking the change (h/atk-busy): calls in flight while the store waits, a very large group, a late joiner's deadline.

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
