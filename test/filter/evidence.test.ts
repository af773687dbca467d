/** EvidenceStore implementations against the contract, and the SQLite one across reopen. */
import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { expect, it } from 'vitest';
import { MemoryEvidenceStore } from '../../src/filter/evidence.js';
import { openSqliteEvidenceStore } from '../../src/node/sqlite-evidence.js';
import { tempDir } from '../helpers/peers.js';
import { certificate, record, runEvidenceContract } from './evidence-contract.js';

runEvidenceContract('memory', async () => ({ store: new MemoryEvidenceStore(), close: async () => undefined }));

runEvidenceContract('SQLite', async () => {
  const tmp = tempDir('mailpki-evidence-');
  const store = await openSqliteEvidenceStore(tmp.path('store.db'));
  return {
    store,
    close: async () => {
      await store.close();
      tmp.cleanup();
    },
  };
});

/** A store file in a temporary directory, removed after `f`. */
async function withStoreFile(f: (path: string) => Promise<void>): Promise<void> {
  const tmp = tempDir('mailpki-evidence-');
  try {
    await f(tmp.path('store.db'));
  } finally {
    tmp.cleanup();
  }
}

it('SQLite evidence survives reopening; the store file is 0600', () =>
  withStoreFile(async (path) => {
    const a = await openSqliteEvidenceStore(path);
    await a.put(record(7));
    await a.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const b = await openSqliteEvidenceStore(path);
    expect(await b.get('id-0007')).toEqual(record(7));
    await b.close();
  }));

it('SQLite evidence: a certificate named by many records is stored once; pruning drops it when no record names it any more', () =>
  withStoreFile(async (path) => {
    const s = await openSqliteEvidenceStore(path);
    const [ca, a, b] = [certificate('ca'), certificate('a'), certificate('b')];
    for (let n = 1; n <= 50; n++) await s.put(record(n, { certificates: [n % 2 ? a : b, ca] }));
    await s.put(record(60, { certificates: [b] }));
    const db = new Database(path, { readonly: true });
    const stored = () => (db.prepare('SELECT sha256 FROM filter_evidence_certificates ORDER BY sha256').pluck().all() as string[]).join(',');
    const sorted = (...c: { sha256: string }[]) => c.map((x) => x.sha256).sort().join(',');
    expect(stored()).toBe(sorted(ca, a, b));
    // The record's own JSON names its certificates by fingerprint only.
    expect(JSON.parse(db.prepare("SELECT record FROM filter_evidence WHERE id = 'id-0001'").pluck().get() as string).certificates).toEqual([{ sha256: a.sha256 }, { sha256: ca.sha256 }]);
    expect(await s.prune(new Date(record(51).receivedAt))).toBe(50);
    expect(stored()).toBe(sorted(b));
    expect((await s.get('id-0060'))!.certificates).toEqual([b]);
    expect(await s.prune(new Date(record(61).receivedAt))).toBe(1);
    expect(stored()).toBe('');
    expect(db.prepare('SELECT count(*) FROM filter_evidence_certificate_refs').pluck().get()).toBe(0);
    db.close();
    await s.close();
  }));

it('SQLite evidence: a record naming a certificate the store lost is ERR_STORE_CORRUPT, not a record without it', () =>
  withStoreFile(async (path) => {
    const s = await openSqliteEvidenceStore(path);
    await s.put(record(1, { certificates: [certificate('a')] }));
    const db = new Database(path);
    db.prepare('DELETE FROM filter_evidence_certificates').run();
    db.close();
    await expect(s.get('id-0001')).rejects.toMatchObject({ code: 'ERR_STORE_CORRUPT' });
    await expect(s.list()).rejects.toMatchObject({ code: 'ERR_STORE_CORRUPT' });
    await s.close();
  }));

it('SQLite evidence: a row this store wrote, then changed by another hand, is checked again — not a record, not JSON or a certificate too large is ERR_STORE_CORRUPT on get, list and update', () =>
  withStoreFile(async (path) => {
    const s = await openSqliteEvidenceStore(path);
    await s.put(record(1));
    await s.update('id-0002', () => record(2, { certificates: [certificate('a')] }));
    // Read back unchanged (the text it wrote) before the damage: the store knows these rows.
    expect(await s.get('id-0001')).toEqual(record(1));
    expect(await s.get('id-0002')).toEqual(record(2, { certificates: [certificate('a')] }));
    const db = new Database(path);
    const corrupt = async (id: string) => {
      await expect(s.get(id)).rejects.toMatchObject({ code: 'ERR_STORE_CORRUPT' });
      await expect(s.list()).rejects.toMatchObject({ code: 'ERR_STORE_CORRUPT' });
      await expect(s.update(id, (current) => current)).rejects.toMatchObject({ code: 'ERR_STORE_CORRUPT' });
    };
    try {
      const text = db.prepare("SELECT record FROM filter_evidence WHERE id = 'id-0001'").pluck().get() as string;
      db.prepare("UPDATE filter_evidence SET record = ? WHERE id = 'id-0001'").run(JSON.stringify({ ...JSON.parse(text), outcome: 'lost' }));
      await corrupt('id-0001');
      db.prepare("UPDATE filter_evidence SET record = ? WHERE id = 'id-0001'").run(text.slice(0, -1));
      await corrupt('id-0001');
      db.prepare("UPDATE filter_evidence SET record = ? WHERE id = 'id-0001'").run(text);
      expect(await s.get('id-0001')).toEqual(record(1));
      db.prepare('UPDATE filter_evidence_certificates SET der = ?').run(Buffer.alloc(64 * 1024 + 1));
      await corrupt('id-0002');
    } finally {
      db.close();
      await s.close();
    }
  }));

it('SQLite evidence: listEntries gives a damaged row in its place (id, time, ERR_STORE_CORRUPT) and the others as records — one whose certificate is gone without it, with the error — where list fails the page', () =>
  withStoreFile(async (path) => {
    const s = await openSqliteEvidenceStore(path);
    for (const n of [1, 2, 3]) await s.put(record(n, n === 3 ? { certificates: [certificate('a')] } : {}));
    const db = new Database(path);
    db.prepare("UPDATE filter_evidence SET record = '[]' WHERE id = 'id-0001'").run();
    db.prepare('DELETE FROM filter_evidence_certificates').run();
    db.close();
    await expect(s.list()).rejects.toMatchObject({ code: 'ERR_STORE_CORRUPT' });
    const entries = await s.listEntries();
    expect(entries.map((e) => ('record' in e ? `${e.record.id}${e.error ? ` ${e.error.code}` : ''}` : `${e.id} ${e.receivedAt} ${e.error.code}`))).toEqual([
      `id-0001 ${record(1).receivedAt} ERR_STORE_CORRUPT`,
      'id-0002',
      'id-0003 ERR_STORE_CORRUPT',
    ]);
    expect(entries[1]).toEqual({ record: record(2) });
    // The record as kept, but for the certificate the store no longer holds; the error names it.
    expect(entries[2]).toMatchObject({ record: record(3, { certificates: [] }), error: { message: `filter_evidence id-0003: names a certificate the store does not hold (${certificate('a').sha256})` } });
    expect(await s.listEntries({ after: 'id-0001', limit: 1 })).toEqual([{ record: record(2) }]);
    await s.close();
  }));

it('SQLite evidence: puts made together are committed together, each resolving only once its record is readable from another connection', async () => {
  const tmp = tempDir('mailpki-evidence-');
  const path = tmp.path('store.db');
  const store = await openSqliteEvidenceStore(path);
  const other = new Database(path, { readonly: true });
  try {
    const seen: number[] = [];
    const count = () => (other.prepare('SELECT count(*) AS n FROM filter_evidence').get() as { n: number }).n;
    const puts = [1, 2, 3, 4].map((n) => store.put(record(n)).then(() => seen.push(count())));
    // Nothing is written while the caller's turn of the event loop goes on: the group is still forming.
    expect(count()).toBe(0);
    await Promise.all(puts);
    // Committed as one: the first put to resolve already saw all four records, none saw a partial group.
    expect(seen).toEqual([4, 4, 4, 4]);
    await store.put(record(5));
    expect(count()).toBe(5);
  } finally {
    other.close();
    await store.close();
    tmp.cleanup();
  }
});

it('SQLite evidence: updates and puts made together are committed together (one transaction, no extra commit); an update reads what the puts before it in the group wrote; durable as put', async () => {
  const tmp = tempDir('mailpki-evidence-');
  const path = tmp.path('store.db');
  const store = await openSqliteEvidenceStore(path);
  const other = new Database(path, { readonly: true });
  const db = (store as unknown as { db: Database.Database }).db;
  try {
    const seen: number[] = [];
    const count = () => (other.prepare('SELECT count(*) AS n FROM filter_evidence').get() as { n: number }).n;
    const dataVersion = () => other.pragma('data_version', { simple: true }) as number;
    const before = dataVersion();
    const writes = [
      store.put(record(1)),
      store.update('id-0001', (c) => c && { ...c, faults: ['seen the put'] }),
      store.update('id-0002', () => record(2)),
    ].map((p) => p.then(() => seen.push(count())));
    expect(count()).toBe(0);
    await Promise.all(writes);
    expect(seen).toEqual([2, 2, 2]);
    // One commit by another connection for the three writes.
    expect(dataVersion()).toBe(before + 1);
    expect((await store.get('id-0001'))!.faults).toEqual(['seen the put']);
    await store.update('id-0002', (c) => c, { durable: false });
    expect(db.pragma('synchronous', { simple: true })).toBe(1);
    await store.update('id-0002', (c) => c);
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
  } finally {
    other.close();
    await store.close();
    tmp.cleanup();
  }
});

it('SQLite evidence: when the group commit fails (the file is locked by another writer), every put of the group rejects and none is kept', async () => {
  const tmp = tempDir('mailpki-evidence-');
  const path = tmp.path('store.db');
  const store = await openSqliteEvidenceStore(path, { busyTimeoutMs: 10 });
  const locker = new Database(path);
  try {
    locker.exec('BEGIN IMMEDIATE');
    const results = await Promise.allSettled([1, 2, 3].map((n) => store.put(record(n))));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(results.map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(['ERR_STORE_CONFLICT', 'ERR_STORE_CONFLICT', 'ERR_STORE_CONFLICT']);
    locker.exec('ROLLBACK');
    expect(await store.list()).toEqual([]);
    // The store is usable again once the lock is gone.
    await store.put(record(4));
    expect((await store.list()).map((r) => r.id)).toEqual(['id-0004']);
  } finally {
    locker.close();
    await store.close();
    tmp.cleanup();
  }
});

it('SQLite evidence: close() waits for the puts already made', async () => {
  const tmp = tempDir('mailpki-evidence-');
  const path = tmp.path('store.db');
  try {
    const a = await openSqliteEvidenceStore(path);
    const put = a.put(record(9));
    await a.close();
    await put;
    const b = await openSqliteEvidenceStore(path);
    expect(await b.get('id-0009')).toEqual(record(9));
    await b.close();
  } finally {
    tmp.cleanup();
  }
});

it('SQLite evidence commits with synchronous=FULL (the connection ran NORMAL, better-sqlite3\'s default in WAL mode, so a put resolved before its commit was on disk)', async () => {
  const tmp = tempDir('mailpki-evidence-');
  try {
    const store = await openSqliteEvidenceStore(tmp.path('store.db'));
    await store.put(record(1));
    // White box: durability is not observable short of a power cut; the connection's setting is.
    const db = (store as unknown as { db: Database.Database }).db;
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    await store.close();
  } finally {
    tmp.cleanup();
  }
});

it('SQLite evidence: a group of only durable: false puts commits with synchronous=NORMAL; any durable put in a group makes it FULL; options.durable must be a boolean', () =>
  withStoreFile(async (path) => {
    const store = await openSqliteEvidenceStore(path);
    const db = (store as unknown as { db: Database.Database }).db;
    const synchronous = () => db.pragma('synchronous', { simple: true });
    await store.put(record(1), { durable: false });
    expect(synchronous()).toBe(1);
    await store.put(record(2));
    expect(synchronous()).toBe(2);
    await Promise.all([store.put(record(3), { durable: false }), store.put(record(4), { durable: true })]);
    expect(synchronous()).toBe(2);
    await store.put(record(5), { durable: false });
    expect(synchronous()).toBe(1);
    expect((await store.list()).map((r) => r.id)).toEqual(['id-0001', 'id-0002', 'id-0003', 'id-0004', 'id-0005']);
    await expect(store.put(record(6), { durable: 'yes' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'durable' } });
    await store.close();
  }));
