/**
 * Filter evidence in the SQLite store file (table filter_evidence, schema migration 4). Opened on
 * the same file as the lifecycle store: openSqliteStore checks and migrates it first. A record's
 * certificates are kept once over all records (filter_evidence_certificates, migration 8: the same
 * signer and CA certificates recur in every message); the record's JSON names them by SHA-256
 * (filter_evidence_certificate_refs links them, so pruning drops those no record names any more).
 */
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { MAX_CERTIFICATE_BYTES } from '../certs/certificate.js';
import { MailPkiError } from '../errors.js';
import {
  checkEvidencePutOptions,
  checkEvidenceQuery,
  checkEvidenceRecord,
  checkEvidenceUpdate,
  checkEvidenceUpdateArguments,
  evidenceRecordSchema,
  type EvidenceChange,
  type EvidencePutOptions,
  type EvidenceQuery,
  type EvidenceRecord,
  type EvidenceStore,
} from '../filter/evidence.js';
import { nestedDeeperThan } from '../internal/json.js';
import { retryWhileBusy } from './sqlite-busy.js';
import { mapSqlite, openSqliteStore } from './sqlite-store.js';

type EvidenceRow = [id: string, messageId: string | null, receivedAt: number, record: string];
/** A row and the certificates (DER) it names; `named` (a retried message's record): those are all it names now, references to others are dropped. */
type EvidenceWrite = { row: EvidenceRow; certificates: [sha256: string, der: Buffer][]; named: boolean };
/** A put (its write) or an update (read, changed and written inside the group's transaction). */
type GroupItem = { write: EvidenceWrite } | { id: string; change: EvidenceChange };
/** What became of an update in the group: the record written (or undefined), or the error that kept it from being written. */
type ItemResult = { ok: true; written?: EvidenceWrite } | { ok: false; error: unknown };
type Row = { id: string; record: string };
type PageRow = Row & { received_at: unknown };
/**
 * A row of listEntries: its record (with `error` when a certificate it names is missing or damaged: left out of
 * `certificates`, the rest of the record as kept), or why it does not read (the row's id, and its receivedAt when the column holds a time).
 */
export type EvidenceEntry = { record: EvidenceRecord; error?: MailPkiError } | { id: string; receivedAt: string | undefined; error: MailPkiError };
/** `since`: when it was put or updated (performance.now(), as retryWhileBusy's deadline): it waits busyTimeoutMs from then, whichever group it ends in. */
type Pending = { item: GroupItem; durable: boolean; since: number; resolve: (w: EvidenceWrite | undefined) => void; reject: (e: unknown) => void };

/** A checked record as its row: the certificates kept apart, named by SHA-256 in the JSON. */
function toWrite(r: EvidenceRecord): EvidenceWrite {
  const certificates: EvidenceWrite['certificates'] = (r.certificates ?? []).map((c) => [c.sha256, Buffer.from(c.der, 'base64')]);
  const json = JSON.stringify(r.certificates ? { ...r, certificates: r.certificates.map((c) => ({ sha256: c.sha256 })) } : r);
  return { row: [r.id, r.messageId ?? null, Date.parse(r.receivedAt), json], certificates, named: (r.attempts ?? 1) > 1 };
}

/**
 * The record a write stored, as get() reads it back (its JSON parsed: a copy sharing no object with
 * the record the caller gave, at about a third of structuredClone's cost on a filter's record).
 */
function asStored({ row, certificates }: EvidenceWrite): EvidenceRecord {
  const r = JSON.parse(row[3]) as EvidenceRecord;
  if (r.certificates) r.certificates = certificates.map(([sha256, der]) => ({ sha256, der: der.toString('base64') }));
  return r;
}

/**
 * Puts are committed in groups: every put made before the event loop next turns (the messages
 * finishing together) goes into one transaction, one fsync (synchronous = FULL: the commit is on
 * disk, as the filter's "no copy leaves before its evidence is kept" needs), and each put resolves
 * only after that commit — or rejects with it. A group of only `durable: false` puts commits with
 * synchronous = NORMAL (in WAL mode: committed, fsynced with the next durable group or checkpoint).
 * A group is as large as the puts in flight, which the filter bounds by its connection limit.
 * Updates go in the same groups: the transaction is BEGIN IMMEDIATE (the write lock first), then each
 * update reads its record, changes and writes it — so no other process writes between its read and
 * its write, at no extra commit. While another process holds the write lock the group waits for it
 * (each put or update up to busyTimeoutMs from when it was made, then ERR_STORE_CONFLICT) without
 * blocking the event loop, and what is put or updated meanwhile joins the group; one group is committed at a time.
 */
export class SqliteEvidenceStore implements EvidenceStore {
  private readonly upsert: Database.Statement<EvidenceRow>;
  /** Read once per message (the retry check): prepared once, not per call. */
  private readonly selectById: Database.Statement<[string]>;
  private readonly insertCertificate: Database.Statement<[string, Buffer]>;
  private readonly insertReference: Database.Statement<[string, string]>;
  private readonly deleteReferences: Database.Statement<[string]>;
  private readonly selectCertificate: Database.Statement<[string]>;
  private readonly writeGroup: Database.Transaction<(items: GroupItem[]) => ItemResult[]>;
  /** A read transaction (snapshot), made once: db.transaction() builds its wrapper on every call. */
  private readonly readGroup: Database.Transaction<(reads: () => unknown) => unknown>;
  private pending: Pending[] = [];
  private flushing: Promise<void> | undefined;
  /** Reads and prunes that may be waiting for a lock: close() waits for them too. */
  private readonly waiting = new Set<Promise<unknown>>();
  /** The connection's synchronous setting now: openSqliteEvidenceStore sets FULL. */
  private synchronous: 'FULL' | 'NORMAL' = 'FULL';

  /** @internal Use openSqliteEvidenceStore (it sets the connection's busy_timeout to 0: this store waits for locks itself). */
  constructor(
    private readonly db: Database.Database,
    private readonly busyTimeoutMs = 5000,
  ) {
    this.upsert = db.prepare(
      'INSERT INTO filter_evidence (id, message_id, received_at, record) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET message_id = excluded.message_id, received_at = excluded.received_at, record = excluded.record',
    );
    this.selectById = db.prepare('SELECT id, record FROM filter_evidence WHERE id = ?');
    // Kept once: a row already there is left as it is — unless its bytes are not these (damaged), which were checked against their SHA-256 (checkEvidenceRecord): then written whole again, for every record naming it.
    this.insertCertificate = db.prepare(
      'INSERT INTO filter_evidence_certificates (sha256, der) VALUES (?, ?) ON CONFLICT (sha256) DO UPDATE SET der = excluded.der WHERE der IS NOT excluded.der',
    );
    // A record written again for the same attempt names the same certificates: references are only added.
    this.insertReference = db.prepare('INSERT OR IGNORE INTO filter_evidence_certificate_refs (evidence_id, sha256) VALUES (?, ?)');
    // A retry's record drops the certificates of the earlier attempts it no longer keeps: their references go too (the certificates at the next prune).
    this.deleteReferences = db.prepare('DELETE FROM filter_evidence_certificate_refs WHERE evidence_id = ?');
    this.selectCertificate = db.prepare('SELECT der FROM filter_evidence_certificates WHERE sha256 = ?').pluck();
    this.readGroup = db.transaction((reads: () => unknown) => reads());
    /** `held`: certificates read (in this transaction) for the row as it stands, so in the table: not inserted again. */
    const apply = ({ row, certificates, named }: EvidenceWrite, held?: ReadonlySet<string>) => {
      this.upsert.run(...row);
      if (named) this.deleteReferences.run(row[0]);
      for (const [sha256, der] of certificates) {
        if (!held?.has(sha256)) this.insertCertificate.run(sha256, der);
        this.insertReference.run(row[0], sha256);
      }
    };
    this.writeGroup = db.transaction((items: GroupItem[]) =>
      items.map((item): ItemResult => {
        if ('write' in item) return apply(item.write), { ok: true };
        let w: EvidenceWrite | undefined;
        let held: Set<string> | undefined;
        try {
          // Read and changed before anything is written for it: a bad change fails this update alone.
          const row = this.selectById.get(item.id) as Row | undefined;
          let current: EvidenceRecord | undefined;
          if (row) {
            current = this.read(row);
            held = new Set(current.certificates?.map((c) => c.sha256));
          }
          const next = item.change(current);
          w = next === undefined ? undefined : toWrite(checkEvidenceUpdate(item.id, next));
        } catch (error) {
          return { ok: false, error };
        }
        if (w) apply(w, held);
        return { ok: true, ...(w ? { written: w } : {}) };
      }),
    );
  }

  async put(record: EvidenceRecord, options?: EvidencePutOptions): Promise<void> {
    const durable = checkEvidencePutOptions(options);
    const write = toWrite(checkEvidenceRecord(record));
    await this.enqueue({ write }, durable);
  }

  async update(id: string, change: EvidenceChange, options?: EvidencePutOptions): Promise<EvidenceRecord | undefined> {
    const durable = checkEvidencePutOptions(options);
    checkEvidenceUpdateArguments(id, change);
    // A copy: the caller's record object is not the one checked and written.
    const written = await this.enqueue({ id, change }, durable);
    return written && asStored(written);
  }

  private enqueue(item: GroupItem, durable: boolean): Promise<EvidenceWrite | undefined> {
    if (!this.db.open) return Promise.reject(closedError());
    return new Promise<EvidenceWrite | undefined>((resolve, reject) => {
      this.pending.push({ item, durable, since: performance.now(), resolve, reject });
      this.flushing ??= this.flushAll();
    });
  }

  /** Commits what waits, group after group (one connection: one transaction at a time), until nothing does. */
  private async flushAll(): Promise<void> {
    // The first group: everything put or updated before the event loop next turns.
    try {
      await new Promise<void>((r) => setImmediate(r));
      while (this.pending.length) await this.flush();
    } finally {
      this.flushing = undefined;
    }
  }

  /** Commits the puts and updates waiting, in one transaction (waiting for another process's write lock). */
  private async flush(): Promise<void> {
    const group: Pending[] = [];
    let results: ItemResult[];
    let timedOut = false;
    try {
      results = await retryWhileBusy(
        () => {
          // Those that came while the group waited for the lock join it (one by one: a spread of a large group throws).
          for (const p of this.pending.splice(0)) group.push(p);
          const synchronous = group.some((p) => p.durable) ? 'FULL' : 'NORMAL';
          if (synchronous !== this.synchronous) {
            // exec, not pragma(): the filter switches twice per message, and pragma() builds a Statement (and its result
            // rows) each time, about 3× exec's cost. (A statement prepared once cannot do it: SQLite applies this
            // pragma when the statement is prepared, not when it runs.)
            this.db.exec(`PRAGMA synchronous = ${synchronous}`);
            this.synchronous = synchronous;
          }
          // Busy only before anything ran (BEGIN IMMEDIATE) or at COMMIT (rolled back): an update's change may run
          // again on the next try, as EvidenceChange allows.
          return this.writeGroup.immediate(group.map((p) => p.item));
        },
        // Until the oldest waiting (pending is in order) has waited its busyTimeoutMs.
        Math.max(0, this.pending[0]!.since + this.busyTimeoutMs - performance.now()),
        (e, busy) => ((timedOut = busy), mapSqlite(e, 'filter evidence: could not write')),
      );
    } catch (e) {
      // Still busy: only those that waited busyTimeoutMs fail; those that joined later wait on, in the next group.
      const now = performance.now();
      const waitOn: Pending[] = [];
      for (const p of group) {
        if (timedOut && p.since + this.busyTimeoutMs > now) waitOn.push(p);
        else p.reject(e);
      }
      this.pending = waitOn.concat(this.pending);
      return;
    }
    group.forEach((p, i) => {
      const r = results[i]!;
      if (r.ok) p.resolve(r.written);
      else p.reject(r.error);
    });
  }

  /**
   * The record of a row. A certificate it names that is missing or damaged is ERR_STORE_CORRUPT — or, given
   * `damaged` (an export), left out of the record's `certificates` and its error added there: the row is one
   * record's, the certificate row is shared by every record naming it (an issuing CA's: all of them).
   */
  private read(row: Row, damaged?: MailPkiError[]): EvidenceRecord {
    let value: unknown;
    try {
      value = JSON.parse(row.record);
    } catch (e) {
      throw new MailPkiError('ERR_STORE_CORRUPT', `filter_evidence ${row.id}: not JSON`, { cause: e });
    }
    // The certificates it names, from the shared table.
    const named = (value as { certificates?: unknown } | null)?.certificates;
    if (Array.isArray(named))
      (value as { certificates: unknown[] }).certificates = named.flatMap((c) => {
        try {
          return [this.readCertificate(row, c)];
        } catch (e) {
          if (!damaged || !(e instanceof MailPkiError) || e.code !== 'ERR_STORE_CORRUPT') throw e;
          damaged.push(e);
          return [];
        }
      });
    const r = evidenceRecordSchema.safeParse(value);
    if (!r.success) throw new MailPkiError('ERR_STORE_CORRUPT', `filter_evidence ${row.id}: not an evidence record`, { cause: r.error });
    return r.data as EvidenceRecord;
  }

  /** A certificate a record names (`{ sha256 }` in its JSON), from the shared table: its DER checked against its name. */
  private readCertificate(row: Row, c: unknown): { sha256: string; der: string } {
    const sha256 = (c as { sha256?: unknown } | null)?.sha256;
    const der = typeof sha256 === 'string' ? (this.selectCertificate.get(sha256) as unknown) : undefined;
    if (der === undefined || der === null) throw new MailPkiError('ERR_STORE_CORRUPT', `filter_evidence ${row.id}: names a certificate the store does not hold (${String(sha256).slice(0, 64)})`);
    // Before it is made base64 (the record's check below would refuse it only after).
    if (Buffer.isBuffer(der) && der.length > MAX_CERTIFICATE_BYTES) throw new MailPkiError('ERR_STORE_CORRUPT', `filter_evidence ${row.id}: certificate ${String(sha256).slice(0, 64)} is larger than ${MAX_CERTIFICATE_BYTES} bytes`);
    // Bytes whose SHA-256 is the name they are kept under (as put checked them): not a number, text, or other bytes.
    if (!Buffer.isBuffer(der) || createHash('sha256').update(der).digest('hex') !== sha256)
      throw new MailPkiError('ERR_STORE_CORRUPT', `filter_evidence ${row.id}: certificate ${String(sha256).slice(0, 64)} is damaged (${Buffer.isBuffer(der) ? 'its bytes are not those of that SHA-256' : `not bytes but ${typeof der}`})`);
    return { sha256: sha256 as string, der: der.toString('base64') };
  }

  async get(id: string): Promise<EvidenceRecord | undefined> {
    return this.snapshot(() => {
      const row = this.selectById.get(id) as Row | undefined;
      return row && this.read(row);
    });
  }

  /**
   * Runs reads in one read transaction: a record and the certificates it names are read as of one
   * moment. Otherwise another process's prune between the two statements removes certificates of
   * a record already read, which would read as ERR_STORE_CORRUPT.
   */
  private snapshot<T>(reads: () => T): Promise<T> {
    return this.wait(() => this.readGroup(reads) as T, 'filter evidence: could not read');
  }

  /** retryWhileBusy, counted in `waiting` (close() lets it end first); refused once closed. */
  private wait<T>(step: () => T, what: string): Promise<T> {
    if (!this.db.open) return Promise.reject(closedError());
    const p = retryWhileBusy(step, this.busyTimeoutMs, (e) => mapSqlite(e, what));
    this.waiting.add(p);
    const done = () => void this.waiting.delete(p);
    p.then(done, done);
    return p;
  }

  async list(query: EvidenceQuery = {}): Promise<EvidenceRecord[]> {
    const limit = checkEvidenceQuery(query);
    return this.snapshot(() => this.page(query, limit).map((row) => this.read(row)));
  }

  /**
   * A page of list(query), with each row that does not read as a record — damaged by another hand or the
   * disk: not JSON, not an evidence record, naming a certificate the store lost — in its place as
   * `{ id, receivedAt, error }` (ERR_STORE_CORRUPT), where list() fails the whole page; so is a record
   * whose id or receivedAt is not its row's (the id and time pages are ordered by), or one nested deeper
   * than JSON.stringify can write out again. A certificate a record names that is missing or damaged
   * does not keep the record out (one certificate row serves every record naming it): the record comes
   * without it, with `error` saying which. For an auditor's
   * export, which must hand over every record it can and name the rest; the damaged row stays as it is.
   */
  async listEntries(query: EvidenceQuery = {}): Promise<EvidenceEntry[]> {
    const limit = checkEvidenceQuery(query);
    return this.snapshot(() =>
      this.page(query, limit).map((row): EvidenceEntry => {
        try {
          const damaged: MailPkiError[] = [];
          const record = this.read(row, damaged);
          // The columns order the pages (and an export's cursor goes on from the last row's): a record
          // that says another id or time was changed by another hand, and is named rather than trusted.
          if (record.id !== row.id) throw new MailPkiError('ERR_STORE_CORRUPT', `filter_evidence ${row.id}: its record says it is ${record.id.slice(0, 200)}`);
          if (Date.parse(record.receivedAt) !== row.received_at) {
            const column = typeof row.received_at === 'number' && !Number.isNaN(new Date(row.received_at).getTime()) ? new Date(row.received_at).toISOString() : 'unreadable';
            throw new MailPkiError('ERR_STORE_CORRUPT', `filter_evidence ${row.id}: its record says received ${record.receivedAt}, its received_at column ${column}`);
          }
          // JSON.parse reads any depth, JSON.stringify (the export writing it out) does not: deeper than any record the filter writes is damage.
          if (nestedDeeperThan(record)) throw new MailPkiError('ERR_STORE_CORRUPT', `filter_evidence ${row.id}: nested deeper than any record the filter writes`);
          return damaged.length ? { record, error: new MailPkiError('ERR_STORE_CORRUPT', damaged.map((e) => e.message).join('; ')) } : { record };
        } catch (e) {
          if (!(e instanceof MailPkiError && e.code === 'ERR_STORE_CORRUPT')) throw e;
          // The column as a time, if it holds one (it may be damaged too).
          const at = typeof row.received_at === 'number' ? new Date(row.received_at) : undefined;
          return { id: row.id, receivedAt: at && !Number.isNaN(at.getTime()) ? at.toISOString() : undefined, error: e };
        }
      }),
    );
  }

  private page(query: EvidenceQuery, limit: number): PageRow[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (query.since) (where.push('received_at >= ?'), args.push(query.since.getTime()));
    if (query.until) (where.push('received_at < ?'), args.push(query.until.getTime()));
    if (query.messageId !== undefined) (where.push('message_id = ?'), args.push(query.messageId));
    if (query.after !== undefined) {
      const a = this.db.prepare('SELECT received_at FROM filter_evidence WHERE id = ?').pluck().get(query.after) as number | undefined;
      // Gone (pruned since the last page): after where it stood, at `since` (the caller's cursor).
      const at = a ?? query.since?.getTime();
      if (at !== undefined) {
        where.push('(received_at > ? OR (received_at = ? AND id > ?))');
        args.push(at, at, query.after);
      }
    }
    const sql = `SELECT id, record, received_at FROM filter_evidence${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY received_at, id LIMIT ${limit}`;
    return this.db.prepare(sql).all(...args) as PageRow[];
  }

  async prune(before: Date): Promise<number> {
    if (!(before instanceof Date) || Number.isNaN(before.getTime())) throw new MailPkiError('ERR_INVALID_INPUT', 'prune: before must be a valid Date', { details: { field: 'before' } });
    const at = before.getTime();
    const prune = this.db.transaction(() => {
      this.db.prepare('DELETE FROM filter_evidence_certificate_refs WHERE evidence_id IN (SELECT id FROM filter_evidence WHERE received_at < ?)').run(at);
      const n = this.db.prepare('DELETE FROM filter_evidence WHERE received_at < ?').run(at).changes;
      // Certificates no record names any more.
      this.db.prepare('DELETE FROM filter_evidence_certificates WHERE sha256 NOT IN (SELECT sha256 FROM filter_evidence_certificate_refs)').run();
      return n;
    });
    return this.wait(() => prune.immediate(), 'filter evidence: could not prune');
  }

  async close(): Promise<void> {
    while (this.flushing || this.waiting.size) await Promise.allSettled([this.flushing, ...this.waiting]);
    this.db.close();
  }
}

const closedError = () => new MailPkiError('ERR_INVALID_INPUT', 'SqliteEvidenceStore is closed', { details: { field: 'store' } });

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
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { fileMustExist: true });
    // While the statements are prepared (they read the schema), SQLite may wait for another process's lock;
    // after that never: the store waits itself, without blocking the event loop (retryWhileBusy).
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    // synchronous is per connection, and better-sqlite3's default in WAL mode is NORMAL (no fsync at commit).
    db.pragma('synchronous = FULL');
    const evidence = new SqliteEvidenceStore(db, busyTimeoutMs);
    db.pragma('busy_timeout = 0');
    return evidence;
  } catch (e) {
    // The file changed under it since openSqliteStore checked it (removed, locked exclusively, damaged): no connection left open.
    db?.close();
    throw mapSqlite(e, `could not open the filter evidence in ${path}`);
  }
}
