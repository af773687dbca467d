/**
 * Filter evidence in the SQLite store file (table filter_evidence, schema migration 4). Opened on
 * the same file as the lifecycle store: openSqliteStore checks and migrates it first. A record's
 * certificates are kept once over all records (filter_evidence_certificates, migration 8: the same
 * signer and CA certificates recur in every message); the record's JSON names them by SHA-256
 * (filter_evidence_certificate_refs links them, so pruning drops those no record names any more).
 */
import { open } from 'node:fs/promises';
import Database from 'better-sqlite3';
import { MailPkiError } from '../errors.js';
import { checkEvidenceQuery, checkEvidenceRecord, evidenceRecordSchema, type EvidenceQuery, type EvidenceRecord, type EvidenceStore } from '../filter/evidence.js';
import { openSqliteStore } from './sqlite-store.js';

/** Syncs a connection's WAL file: what synchronous = FULL does at each commit, here off the event loop. */
export interface WalSync {
  sync(): Promise<void>;
  close(): Promise<void>;
}

type EvidenceRow = [id: string, messageId: string | null, receivedAt: number, record: string];
/** A row and the certificates (DER) it names. */
type EvidenceWrite = { row: EvidenceRow; certificates: [sha256: string, der: Buffer][] };

/**
 * Puts are committed in groups, and each put resolves only once its commit is on disk (as the
 * filter's "250 only after the evidence is kept" needs) — or rejects with the commit or the sync.
 * The puts made before the event loop next turns go into one transaction; the WAL is then synced
 * (fdatasync, what synchronous = FULL does at commit) off the event loop, and the puts made while
 * that sync runs wait and form the next group: one sync in flight at a time, covering every commit
 * before it. A group is as large as the puts in flight, which the filter bounds by its connection limit.
 */
export class SqliteEvidenceStore implements EvidenceStore {
  private readonly upsert: Database.Statement<EvidenceRow>;
  /** Read once per message (the retry check): prepared once, not per call. */
  private readonly selectById: Database.Statement<[string]>;
  private readonly insertCertificate: Database.Statement<[string, Buffer]>;
  private readonly insertReference: Database.Statement<[string, string]>;
  private readonly selectCertificate: Database.Statement<[string]>;
  private readonly writeGroup: (writes: EvidenceWrite[]) => void;
  private pending: { write: EvidenceWrite; resolve: () => void; reject: (e: unknown) => void }[] = [];
  /** A group being committed and synced (from the turn it is scheduled until its puts are settled). */
  private flushing: Promise<void> | undefined;

  /**
   * @internal Use openSqliteEvidenceStore. `wal` makes the commits made so far durable (the WAL's
   * fdatasync); without it the connection must sync at commit itself (synchronous = FULL).
   */
  constructor(
    private readonly db: Database.Database,
    private readonly wal?: WalSync,
  ) {
    this.upsert = db.prepare(
      'INSERT INTO filter_evidence (id, message_id, received_at, record) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET message_id = excluded.message_id, received_at = excluded.received_at, record = excluded.record',
    );
    this.selectById = db.prepare('SELECT id, record FROM filter_evidence WHERE id = ?');
    this.insertCertificate = db.prepare('INSERT OR IGNORE INTO filter_evidence_certificates (sha256, der) VALUES (?, ?)');
    // A record written again names the same certificates (same message): references are only added.
    this.insertReference = db.prepare('INSERT OR IGNORE INTO filter_evidence_certificate_refs (evidence_id, sha256) VALUES (?, ?)');
    this.selectCertificate = db.prepare('SELECT der FROM filter_evidence_certificates WHERE sha256 = ?').pluck();
    this.writeGroup = db.transaction((writes: EvidenceWrite[]) => {
      for (const { row, certificates } of writes) {
        this.upsert.run(...row);
        for (const [sha256, der] of certificates) {
          this.insertCertificate.run(sha256, der);
          this.insertReference.run(row[0], sha256);
        }
      }
    });
  }

  async put(record: EvidenceRecord): Promise<void> {
    const r = checkEvidenceRecord(record);
    const certificates: EvidenceWrite['certificates'] = [];
    for (const c of r.certificates ?? []) {
      certificates.push([c.sha256, Buffer.from(c.der, 'base64')]);
    }
    const json = JSON.stringify(r.certificates ? { ...r, certificates: r.certificates.map((c) => ({ sha256: c.sha256 })) } : r);
    const write: EvidenceWrite = { row: [r.id, r.messageId ?? null, Date.parse(r.receivedAt), json], certificates };
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ write, resolve, reject });
      this.schedule();
    });
  }

  /** Starts a group on the next turn, unless one is in flight (its end starts the next). */
  private schedule(): void {
    this.flushing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.flush());
  }

  /** Commits the puts waiting, in one transaction, then syncs; settles them. */
  private async flush(): Promise<void> {
    const group = this.pending;
    this.pending = [];
    try {
      this.writeGroup(group.map((p) => p.write));
      await this.wal?.sync();
      for (const p of group) p.resolve();
    } catch (e) {
      for (const p of group) p.reject(e);
    } finally {
      this.flushing = undefined;
      if (this.pending.length) this.schedule();
    }
  }

  private read(row: { id: string; record: string }): EvidenceRecord {
    let value: unknown;
    try {
      value = JSON.parse(row.record);
    } catch (e) {
      throw new MailPkiError('ERR_STORE_CORRUPT', `filter_evidence ${row.id}: not JSON`, { cause: e });
    }
    // The certificates it names, from the shared table.
    const named = (value as { certificates?: unknown } | null)?.certificates;
    if (Array.isArray(named))
      (value as { certificates: unknown[] }).certificates = named.map((c) => {
        const sha256 = (c as { sha256?: unknown } | null)?.sha256;
        const der = typeof sha256 === 'string' ? (this.selectCertificate.get(sha256) as Buffer | undefined) : undefined;
        if (!der) throw new MailPkiError('ERR_STORE_CORRUPT', `filter_evidence ${row.id}: names a certificate the store does not hold (${String(sha256).slice(0, 64)})`);
        return { sha256, der: der.toString('base64') };
      });
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
    const at = before.getTime();
    return this.db.transaction(() => {
      this.db.prepare('DELETE FROM filter_evidence_certificate_refs WHERE evidence_id IN (SELECT id FROM filter_evidence WHERE received_at < ?)').run(at);
      const n = this.db.prepare('DELETE FROM filter_evidence WHERE received_at < ?').run(at).changes;
      // Certificates no record names any more.
      this.db.prepare('DELETE FROM filter_evidence_certificates WHERE sha256 NOT IN (SELECT sha256 FROM filter_evidence_certificate_refs)').run();
      return n;
    })();
  }

  async close(): Promise<void> {
    while (this.flushing) await this.flushing;
    this.db.close();
    await this.wal?.close();
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
  // synchronous is per connection (better-sqlite3's default in WAL mode is NORMAL: no sync at commit).
  // In WAL mode the store syncs the WAL itself after each group's commit, off the event loop.
  if (db.pragma('journal_mode', { simple: true }) !== 'wal') {
    db.pragma('synchronous = FULL');
    return new SqliteEvidenceStore(db);
  }
  db.pragma('synchronous = NORMAL');
  let file: Awaited<ReturnType<typeof open>> | undefined;
  return new SqliteEvidenceStore(db, {
    async sync() {
      // The WAL exists once something was committed; the connection keeps it (SQLite removes it with the last connection).
      file ??= await open(`${path}-wal`, 'r+');
      await file.datasync();
    },
    async close() {
      await file?.close();
    },
  });
}
