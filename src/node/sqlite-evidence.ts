/**
 * Filter evidence in the SQLite store file (table filter_evidence, schema migration 4). Opened on
 * the same file as the lifecycle store: openSqliteStore checks and migrates it first.
 */
import Database from 'better-sqlite3';
import { MailPkiError } from '../errors.js';
import { checkEvidenceQuery, checkEvidenceRecord, evidenceRecordSchema, type EvidenceQuery, type EvidenceRecord, type EvidenceStore } from '../filter/evidence.js';
import { openSqliteStore } from './sqlite-store.js';

type EvidenceRow = [id: string, messageId: string | null, receivedAt: number, record: string];

/**
 * Puts are committed in groups: every put made before the event loop next turns (the messages
 * finishing together) goes into one transaction, one fsync (synchronous = FULL: the commit is on
 * disk, as the filter's "250 only after the evidence is kept" needs), and each put resolves only
 * after that commit — or rejects with it. A group is as large as the puts in flight, which the
 * filter bounds by its connection limit.
 */
export class SqliteEvidenceStore implements EvidenceStore {
  private readonly upsert: Database.Statement<EvidenceRow>;
  /** Read once per message (the retry check): prepared once, not per call. */
  private readonly selectById: Database.Statement<[string]>;
  private readonly writeGroup: (rows: EvidenceRow[]) => void;
  private pending: { row: EvidenceRow; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private flushing: Promise<void> | undefined;

  /** @internal Use openSqliteEvidenceStore. */
  constructor(private readonly db: Database.Database) {
    this.upsert = db.prepare(
      'INSERT INTO filter_evidence (id, message_id, received_at, record) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET message_id = excluded.message_id, received_at = excluded.received_at, record = excluded.record',
    );
    this.selectById = db.prepare('SELECT id, record FROM filter_evidence WHERE id = ?');
    this.writeGroup = db.transaction((rows: EvidenceRow[]) => {
      for (const row of rows) this.upsert.run(...row);
    });
  }

  async put(record: EvidenceRecord): Promise<void> {
    const r = checkEvidenceRecord(record);
    const row: EvidenceRow = [r.id, r.messageId ?? null, Date.parse(r.receivedAt), JSON.stringify(r)];
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ row, resolve, reject });
      this.flushing ??= new Promise<void>((done) => setImmediate(() => (this.flush(), done())));
    });
  }

  /** Commits the puts waiting, in one transaction. */
  private flush(): void {
    this.flushing = undefined;
    const group = this.pending;
    this.pending = [];
    try {
      this.writeGroup(group.map((p) => p.row));
    } catch (e) {
      for (const p of group) p.reject(e);
      return;
    }
    for (const p of group) p.resolve();
  }

  private read(row: { id: string; record: string }): EvidenceRecord {
    let value: unknown;
    try {
      value = JSON.parse(row.record);
    } catch (e) {
      throw new MailPkiError('ERR_STORE_CORRUPT', `filter_evidence ${row.id}: not JSON`, { cause: e });
    }
    const r = evidenceRecordSchema.safeParse(value);
    if (!r.success) throw new MailPkiError('ERR_STORE_CORRUPT', `filter_evidence ${row.id}: not an evidence record`, { cause: r.error });
    return r.data as EvidenceRecord;
  }

  async get(id: string): Promise<EvidenceRecord | undefined> {
    const row = this.selectById.get(id) as { id: string; record: string } | undefined;
    return row && this.read(row);
  }

  async list(query: EvidenceQuery = {}): Promise<EvidenceRecord[]> {
    const limit = checkEvidenceQuery(query);
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (query.since) (where.push('received_at >= ?'), args.push(query.since.getTime()));
    if (query.until) (where.push('received_at < ?'), args.push(query.until.getTime()));
    if (query.messageId !== undefined) (where.push('message_id = ?'), args.push(query.messageId));
    if (query.after !== undefined) {
      const a = this.db.prepare('SELECT received_at FROM filter_evidence WHERE id = ?').get(query.after) as { received_at: number } | undefined;
      if (!a) return [];
      where.push('(received_at > ? OR (received_at = ? AND id > ?))');
      args.push(a.received_at, a.received_at, query.after);
    }
    const sql = `SELECT id, record FROM filter_evidence${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY received_at, id LIMIT ${limit}`;
    return (this.db.prepare(sql).all(...args) as { id: string; record: string }[]).map((row) => this.read(row));
  }

  async prune(before: Date): Promise<number> {
    if (!(before instanceof Date) || Number.isNaN(before.getTime())) throw new MailPkiError('ERR_INVALID_INPUT', 'prune: before must be a valid Date', { details: { field: 'before' } });
    return this.db.prepare('DELETE FROM filter_evidence WHERE received_at < ?').run(before.getTime()).changes;
  }

  async close(): Promise<void> {
    await this.flushing;
    this.db.close();
  }
}

/**
 * Opens (creating and migrating when needed; with `create: false` only an existing store, else
 * ERR_IO) the store file at `path` for filter evidence.
 *
 * @example
 * const evidence = await openSqliteEvidenceStore('./mailpki.db');
 * await evidence.prune(new Date(Date.now() - 400 * 86_400_000)); // keep 400 days
 */
export async function openSqliteEvidenceStore(path: string, options: { busyTimeoutMs?: number; create?: boolean } = {}): Promise<SqliteEvidenceStore> {
  // create: false (an auditor's export): a path that holds no store is an error, and no file is made.
  const store = await openSqliteStore(path, { create: options.create ?? true, ...(options.busyTimeoutMs !== undefined ? { busyTimeoutMs: options.busyTimeoutMs } : {}) });
  await store.close();
  const db = new Database(path, { fileMustExist: true });
  // Before anything else on this connection, so that no statement meets another process's lock unprepared.
  db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
  // synchronous is per connection, and better-sqlite3's default in WAL mode is NORMAL (no fsync at commit).
  db.pragma('synchronous = FULL');
  return new SqliteEvidenceStore(db);
}
