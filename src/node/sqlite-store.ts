/**
 * The embedded Store: one SQLite file (better-sqlite3), WAL mode, schema migrations.
 *
 * Several processes may share the file: every write runs in BEGIN IMMEDIATE (one writer at a
 * time, waited for asynchronously so the event loop keeps running), identities carry a version
 * for conditional updates, and the outbox hands events out under leases. A file that is not a
 * mailpki store, or is from a newer version, is refused with ERR_STORE_CORRUPT and left untouched.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { constants } from 'node:fs';
import { chmod, open as openFile, stat } from 'node:fs/promises';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { MailPkiError } from '../errors.js';
import { retryWhileBusy } from './sqlite-busy.js';
import { chainAudit } from '../store/audit.js';
import { identityMatches } from '../store/memory.js';
import { checkClaim, checkDate, checkLease } from '../store/outbox.js';
import { Serializer, scopedTx } from '../store/serial.js';
import {
  MAX_AUDIT_LIST_LIMIT,
  MAX_EVENT_ERROR_LENGTH,
  MAX_LIST_LIMIT,
  auditListFilterSchema,
  auditRecordSchema,
  checkInput,
  checkRow,
  credentialRecordSchema,
  decryptionKeyRecordSchema,
  eventListFilterSchema,
  identityListFilterSchema,
  identityRecordSchema,
  keyRecordSchema,
  newAuditSchema,
  newEventSchema,
  noticeRecordSchema,
  outboxRecordSchema,
  pendingIssuanceSchema,
  type AuditListFilter,
  type AuditRecord,
  type CredentialRecord,
  type DecryptionKeyRecord,
  type EventListFilter,
  type IdentityFilter,
  type IdentityListFilter,
  type IdentityRecord,
  type KeyRecord,
  type NewAuditRecord,
  type NewEvent,
  type NewIdentityRecord,
  type NoticeRecord,
  type OutboxRecord,
  type PendingIssuance,
  type Store,
  type StoreTx,
} from '../store/types.js';
import { MAILPKI_APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION } from './sqlite-schema.js';

type Db = Database.Database;
type Row = Record<string, unknown>;

export interface OpenSqliteStoreOptions {
  /** Create the file (or adopt an empty SQLite file) when there is no store yet. Default true. */
  create?: boolean;
  /** How long to wait for another writer before giving up with ERR_STORE_CONFLICT. Default 5000 ms. */
  busyTimeoutMs?: number;
}

const SQLITE_MAGIC = 'SQLite format 3\0';

function sqlError(e: unknown, what: string): MailPkiError {
  if (e instanceof MailPkiError) return e;
  const code = String((e as { code?: unknown })?.code ?? '');
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return new MailPkiError('ERR_STORE_CORRUPT', `${what}: the database is damaged or not a database (${code})`, { cause: e });
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new MailPkiError('ERR_STORE_CONFLICT', `${what}: the database is busy (another writer); retry`, { cause: e });
  }
  return new MailPkiError('ERR_IO', `${what}${code ? ` (${code})` : ''}`, { cause: e });
}

/** Maps better-sqlite3 errors to coded ones; anything else (the caller's own errors) passes unchanged. */
export function mapSqlite(e: unknown, what: string): unknown {
  return e instanceof Database.SqliteError ? sqlError(e, what) : e;
}

const isConstraint = (e: unknown, kind: string): boolean => String((e as { code?: unknown })?.code ?? '') === `SQLITE_CONSTRAINT_${kind}`;

/**
 * Opens (or creates) the store at `path`. Refuses, without writing anything, a file that is not
 * SQLite, a SQLite database of another application, or a store from a newer mailpki.
 *
 * @example
 * const store = await openSqliteStore('./mailpki.db');
 * await store.transaction(async (tx) => tx.getIdentity('smime:payments@example.com'));
 */
export async function openSqliteStore(path: string, options: OpenSqliteStoreOptions = {}): Promise<SqliteStore> {
  if (typeof path !== 'string' || path.length === 0) throw new MailPkiError('ERR_INVALID_INPUT', 'openSqliteStore: path must be a non-empty string', { details: { field: 'path' } });
  if (path === ':memory:' || path.startsWith('file:')) throw new MailPkiError('ERR_INVALID_INPUT', 'openSqliteStore: give a file path (use MemoryStore for memory)', { details: { field: 'path' } });
  const create = options.create ?? true;
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0) throw new MailPkiError('ERR_INVALID_INPUT', 'openSqliteStore: busyTimeoutMs must be a non-negative integer', { details: { field: 'busyTimeoutMs' } });

  const size = await fileSize(path);
  if (size === undefined && !create) throw new MailPkiError('ERR_IO', `no store at ${path} (open with create: true to make one)`);
  if (size !== undefined && size > 0) {
    await checkMagic(path, size);
    inspect(path, create, busyTimeoutMs);
  } else if (!create) {
    throw new MailPkiError('ERR_STORE_CORRUPT', `${path} is an empty file, not a mailpki store (open with create: true to make one)`);
  }

  await privateFiles(path, size === undefined);
  let db: Db;
  try {
    db = new Database(path);
  } catch (e) {
    throw sqlError(e, `could not open ${path}`);
  }
  try {
    // First of all: even cache_size reads the schema, which another process creating the file may
    // have locked for a moment. migrate() goes back to busy_timeout 0 (the store retries itself).
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    // 32 MiB of page cache: bulk inserts into five indexes otherwise spill constantly.
    db.pragma('cache_size = -32768');
    const store = new SqliteStore(db, path, busyTimeoutMs);
    await store.migrate();
    return store;
  } catch (e) {
    db.close();
    throw sqlError(e, `could not open ${path}`);
  }
}

/**
 * The store holds private keys (encrypted, but under the same passphrase as the CA's 0600 key
 * files): it is created 0600 whatever the umask, and an existing one readable by others is
 * tightened to 0600. SQLite gives its -wal and -shm files the mode of the database file.
 */
async function privateFiles(path: string, create: boolean): Promise<void> {
  try {
    if (create) await (await openFile(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600)).close();
    for (const p of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) {
      const s = await stat(p).catch(() => undefined);
      // Not ours to change (another user's file): left as it is, the open goes on.
      if (s?.isFile() && (s.mode & 0o077) !== 0) await chmod(p, s.mode & 0o700).catch(() => undefined);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return; // another process created it just now, 0600 too
    throw sqlError(e, `could not create ${path}`);
  }
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new MailPkiError('ERR_IO', `${path} is not a file`);
    return s.size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw sqlError(e, `could not read ${path}`);
  }
}

async function checkMagic(path: string, size: number): Promise<void> {
  const head = new Uint8Array(16);
  try {
    const fh = await openFile(path, 'r');
    try {
      await fh.read(head, 0, 16, 0);
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw sqlError(e, `could not read ${path}`);
  }
  if (size < 100 || new TextDecoder('latin1').decode(head) !== SQLITE_MAGIC) {
    throw new MailPkiError('ERR_STORE_CORRUPT', `${path} is not a SQLite database, so not a mailpki store; it was left unchanged`);
  }
}

/** Looks at an existing SQLite file through a read-only connection: ours, empty, or refused. */
function inspect(path: string, create: boolean, busyTimeoutMs: number): void {
  let ro: Db | undefined;
  try {
    ro = new Database(path, { readonly: true, fileMustExist: true, timeout: busyTimeoutMs });
    const state = readState(ro);
    checkState(state, path, create);
  } catch (e) {
    throw sqlError(e, `could not read ${path}`);
  } finally {
    ro?.close();
  }
}

interface DbState {
  applicationId: number;
  userVersion: number;
  tables: number;
}

/**
 * The three values that say whose file this is, read from one snapshot. Read one statement at a
 * time, another process creating the store could commit between them: application_id 0 read before
 * its commit and its tables after made a new mailpki store look like another application's.
 * @internal Exported for its test.
 */
export function readState(db: Pick<Db, 'pragma' | 'prepare' | 'exec' | 'inTransaction'>): DbState {
  const own = !db.inTransaction;
  if (own) db.exec('BEGIN');
  try {
    return {
      applicationId: Number(db.pragma('application_id', { simple: true })),
      userVersion: Number(db.pragma('user_version', { simple: true })),
      tables: Number((db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number }).n),
    };
  } finally {
    if (own && db.inTransaction) db.exec('COMMIT');
  }
}

/** Throws unless the database is a mailpki store this code can use, or an empty database (when creating). */
function checkState(s: DbState, path: string, create: boolean): 'ours' | 'empty' {
  if (s.applicationId === MAILPKI_APPLICATION_ID) {
    if (s.userVersion > SCHEMA_VERSION) {
      throw new MailPkiError('ERR_STORE_CORRUPT', `${path} is a mailpki store of schema ${s.userVersion}, newer than this version understands (${SCHEMA_VERSION}); it was left unchanged`, {
        details: { schemaVersion: s.userVersion, supported: SCHEMA_VERSION },
      });
    }
    return 'ours';
  }
  if (s.applicationId === 0 && s.userVersion === 0 && s.tables === 0) {
    if (!create) throw new MailPkiError('ERR_STORE_CORRUPT', `${path} is an empty SQLite database, not a mailpki store (open with create: true)`);
    return 'empty';
  }
  throw new MailPkiError('ERR_STORE_CORRUPT', `${path} is a SQLite database of another application (application_id ${s.applicationId}), not a mailpki store; it was left unchanged`, {
    details: { applicationId: s.applicationId },
  });
}

export class SqliteStore implements Store {
  private readonly serial = new Serializer('SqliteStore', new AsyncLocalStorage<object>());
  private readonly stmts = new Map<string, Database.Statement>();

  /** @internal Use openSqliteStore (the constructor takes better-sqlite3 types, which stay out of the public .d.ts). */
  constructor(
    private readonly db: Db,
    readonly path: string,
    private readonly busyTimeoutMs: number,
  ) {}

  /** Applies pending migrations, each in its own transaction (another process may be doing the same). */
  async migrate(): Promise<void> {
    // Only now, with the file known to be ours or empty, is anything written. Switching to WAL needs
    // the database lock, which another process opening the same new file may hold for a moment: wait
    // for it (busy_timeout) like every other writer, then go back to the store's own retry loop.
    // SQLite does not call the busy handler in every case (a connection recovering the WAL index),
    // so a busy answer is also retried here until the same deadline.
    await retryWhileBusy(
      () => {
        this.db.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
        try {
          this.db.pragma('journal_mode = WAL');
          this.db.pragma('synchronous = FULL');
          this.db.pragma('foreign_keys = ON');
          // Deleted rows (destroyed private keys above all) are overwritten, not left in free pages.
          this.db.pragma('secure_delete = ON');
        } finally {
          this.db.pragma('busy_timeout = 0');
        }
      },
      this.busyTimeoutMs,
      (e) => e,
    );
    for (;;) {
      const applied = await this.serial.run(async () => {
        await this.begin();
        try {
          const state = readState(this.db);
          const kind = checkState(state, this.path, true);
          const next = MIGRATIONS.find((m) => m.version === state.userVersion + 1);
          if (!next) {
            this.db.exec('ROLLBACK');
            return false;
          }
          if (kind === 'empty' || state.userVersion === 0) this.db.pragma(`application_id = ${MAILPKI_APPLICATION_ID}`);
          this.db.exec(next.sql);
          this.db.pragma(`user_version = ${next.version}`);
          this.db.exec('COMMIT');
          return true;
        } catch (e) {
          if (this.db.inTransaction) this.db.exec('ROLLBACK');
          throw e;
        }
      });
      if (!applied) return;
    }
  }

  /** The schema version of the file (PRAGMA user_version). */
  get schemaVersion(): number {
    return Number(this.db.pragma('user_version', { simple: true }));
  }

  /** BEGIN IMMEDIATE, retried without blocking the event loop while another connection writes. */
  private async begin(): Promise<void> {
    await retryWhileBusy(() => this.db.exec('BEGIN IMMEDIATE'), this.busyTimeoutMs, (e) => mapSqlite(e, 'could not start a transaction'));
  }

  private stmt(sql: string): Database.Statement {
    let s = this.stmts.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.stmts.set(sql, s);
    }
    return s;
  }

  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    if (typeof fn !== 'function') return Promise.reject(new MailPkiError('ERR_INVALID_INPUT', 'transaction: fn must be a function', { details: { field: 'fn' } }));
    return this.serial.run(async () => {
      await this.begin();
      let open = true;
      const tx = scopedTx(new SqliteTx((sql) => this.stmt(sql)), () => open, (e) => mapSqlite(e, 'store operation failed'));
      try {
        const result = await fn(tx);
        open = false;
        this.db.exec('COMMIT');
        return result;
      } catch (e) {
        open = false;
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw mapSqlite(e, 'transaction failed');
      }
    });
  }

  /** A write outside business transactions (outbox delivery), in its own short BEGIN IMMEDIATE. */
  private write<T>(what: string, fn: () => T): Promise<T> {
    return this.serial.run(async () => {
      await this.begin();
      try {
        const r = fn();
        this.db.exec('COMMIT');
        return r;
      } catch (e) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw sqlError(e, what);
      }
    });
  }

  private read<T>(what: string, fn: () => T): Promise<T> {
    return this.serial.run(() => {
      try {
        return fn();
      } catch (e) {
        throw sqlError(e, what);
      }
    });
  }

  async close(): Promise<void> {
    if (this.serial.isClosed) return;
    await this.serial.close();
    this.stmts.clear();
    try {
      this.db.pragma('optimize');
    } catch {
      // Only a planner hint; closing matters more.
    }
    this.db.close();
  }

  async leaseEvents(owner: string, now: Date, leaseMs: number, limit: number): Promise<OutboxRecord[]> {
    checkLease(owner, now, leaseMs, limit);
    const t = now.getTime();
    return this.write('could not lease events', () => {
      const ids = this.stmt(
        'SELECT id FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?) ORDER BY created_at, id LIMIT ?',
      ).all(t, t, limit) as { id: string }[];
      const take = this.stmt(
        'UPDATE outbox SET lease_owner = ?, lease_until = ?, attempts = attempts + 1 WHERE id = ? AND delivered_at IS NULL AND (lease_until IS NULL OR lease_until <= ?)',
      );
      const get = this.stmt('SELECT * FROM outbox WHERE id = ?');
      const out: OutboxRecord[] = [];
      for (const { id } of ids) {
        if (take.run(owner, t + leaseMs, id, t).changes === 1) out.push(rowToEvent(get.get(id) as Row));
      }
      return out;
    });
  }

  async claimIdentity(identityId: string, owner: string, now: Date, leaseMs: number): Promise<boolean> {
    checkClaim('claimIdentity', identityId, owner, now, leaseMs);
    const t = now.getTime();
    // One conditional upsert: taken when free, expired, or already ours; else no row changes.
    return this.write('could not claim the identity', () =>
      this.stmt(
        'INSERT INTO identity_claims (identity_id, owner, claimed_until) VALUES (?, ?, ?) ON CONFLICT (identity_id) DO UPDATE SET owner = excluded.owner, claimed_until = excluded.claimed_until WHERE identity_claims.claimed_until <= ? OR identity_claims.owner = excluded.owner',
      ).run(identityId, owner, t + leaseMs, t).changes === 1,
    );
  }

  async releaseIdentity(identityId: string, owner: string): Promise<void> {
    checkClaim('releaseIdentity', identityId, owner);
    await this.write('could not release the identity', () => {
      this.stmt('DELETE FROM identity_claims WHERE identity_id = ? AND owner = ?').run(identityId, owner);
    });
  }

  async markEventDelivered(id: string, at: Date): Promise<void> {
    checkDate(at, 'markEventDelivered: at');
    await this.write('could not mark the event delivered', () => {
      const r = this.stmt('UPDATE outbox SET delivered_at = ?, lease_owner = NULL, lease_until = NULL WHERE id = ? AND delivered_at IS NULL').run(at.getTime(), id);
      if (r.changes === 0) this.mustHaveEvent(id);
    });
  }

  async markEventFailed(id: string, error: string, nextAttemptAt: Date): Promise<void> {
    checkDate(nextAttemptAt, 'markEventFailed: nextAttemptAt');
    await this.write('could not mark the event failed', () => {
      const r = this.stmt(
        'UPDATE outbox SET last_error = ?, next_attempt_at = ?, lease_owner = NULL, lease_until = NULL WHERE id = ? AND delivered_at IS NULL',
      ).run(String(error).slice(0, MAX_EVENT_ERROR_LENGTH), nextAttemptAt.getTime(), id);
      if (r.changes === 0) this.mustHaveEvent(id);
    });
  }

  private mustHaveEvent(id: string): void {
    if (!this.stmt('SELECT 1 AS x FROM outbox WHERE id = ?').get(id)) {
      throw new MailPkiError('ERR_INVALID_INPUT', `no event with id ${id}`, { details: { field: 'id' } });
    }
  }

  async listEvents(filter: EventListFilter): Promise<OutboxRecord[]> {
    const f = checkInput(eventListFilterSchema, filter ?? {}, 'listEvents filter');
    const where: string[] = [];
    const params: unknown[] = [];
    if (f.undeliveredOnly) where.push('delivered_at IS NULL');
    if (f.afterCreatedAt) {
      const t = f.afterCreatedAt.getTime();
      if (f.afterId !== undefined) {
        where.push('(created_at > ? OR (created_at = ? AND id > ?))');
        params.push(t, t, f.afterId);
      } else {
        where.push('created_at > ?');
        params.push(t);
      }
    }
    const sql = `SELECT * FROM outbox${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, id LIMIT ?`;
    return this.read('could not list events', () => (this.stmt(sql).all(...params, f.limit ?? MAX_LIST_LIMIT) as Row[]).map(rowToEvent));
  }

  async listAudit(filter: AuditListFilter = {}): Promise<AuditRecord[]> {
    const f = checkInput(auditListFilterSchema, filter, 'listAudit filter');
    return this.read('could not list the audit log', () =>
      (this.stmt('SELECT * FROM audit WHERE seq >= ? ORDER BY seq LIMIT ?').all(f.fromSeq ?? 1, f.limit ?? MAX_AUDIT_LIST_LIMIT) as Row[]).map(rowToAudit),
    );
  }

  /** Deletes events delivered before `before`; returns how many. The outbox otherwise grows forever. */
  async deleteDeliveredEvents(before: Date): Promise<number> {
    checkDate(before, 'deleteDeliveredEvents: before');
    return this.write('could not delete delivered events', () => this.stmt('DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?').run(before.getTime()).changes);
  }
}

// ---- rows <-> records ------------------------------------------------------------------------

/** Drops undefined members so records compare equal however they were built. */
function compact<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

const opt = <T>(v: unknown, f: (x: NonNullable<unknown>) => T): T | undefined => (v === null || v === undefined ? undefined : f(v));
const toDate = (v: unknown): Date => new Date(typeof v === 'number' ? v : Number.NaN);
const optDate = (v: unknown): Date | undefined => opt(v, toDate);
const optStr = (v: unknown): string | undefined => opt(v, (x) => x as string);
const ms = (d: Date | undefined): number | null => (d === undefined ? null : d.getTime());
const json = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));

function parseJson(v: unknown, what: string): unknown {
  if (v === null || v === undefined) return undefined;
  if (typeof v !== 'string') throw new MailPkiError('ERR_STORE_CORRUPT', `corrupt ${what} in store: not JSON text`);
  try {
    return JSON.parse(v);
  } catch (e) {
    throw new MailPkiError('ERR_STORE_CORRUPT', `corrupt ${what} in store: not valid JSON`, { cause: e });
  }
}

function toBlob(b: Uint8Array | undefined): Buffer | null {
  return b === undefined ? null : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function rowToIdentity(r: Row): IdentityRecord {
  return checkRow(
    identityRowSchema,
    compact({
      id: r.id,
      kind: r.kind,
      name: r.name,
      domain: r.domain,
      owner: compact({ team: r.owner_team, contact: optStr(r.owner_contact) }),
      purpose: optStr(r.purpose),
      approvedBy: optStr(r.approved_by),
      tags: parseJson(r.tags, 'identity tags'),
      caId: optStr(r.ca_id),
      profile: optStr(r.profile),
      keyType: r.key_type,
      use: optStr(r.key_use),
      certificates: optStr(r.certificates),
      policy: parseJson(r.policy, 'identity policy'),
      status: r.status,
      decommissionAt: optDate(r.decommission_at),
      currentCredentialId: optStr(r.current_credential_id),
      encryptionCredentialId: optStr(r.encryption_credential_id),
      notAfter: optDate(r.not_after),
      nextDueAt: optDate(r.next_due_at),
      attributes: parseJson(r.attributes, 'identity attributes'),
      version: r.version,
      createdAt: toDate(r.created_at),
      updatedAt: toDate(r.updated_at),
    }),
    'identity',
  );
}

function identityParams(r: IdentityRecord): unknown[] {
  return [
    r.id,
    r.kind,
    r.name,
    r.domain,
    r.owner.team,
    r.owner.contact ?? null,
    r.purpose ?? null,
    r.approvedBy ?? null,
    JSON.stringify(r.tags),
    r.caId ?? null,
    r.profile ?? null,
    r.keyType,
    json(r.policy),
    r.status,
    ms(r.decommissionAt),
    r.currentCredentialId ?? null,
    ms(r.notAfter),
    ms(r.nextDueAt),
    json(r.attributes),
    r.version,
    r.createdAt.getTime(),
    r.updatedAt.getTime(),
    r.use ?? null,
    r.certificates ?? null,
    r.encryptionCredentialId ?? null,
  ];
}

const IDENTITY_COLUMNS =
  'id, kind, name, domain, owner_team, owner_contact, purpose, approved_by, tags, ca_id, profile, key_type, policy, status, decommission_at, current_credential_id, not_after, next_due_at, attributes, version, created_at, updated_at, key_use, certificates, encryption_credential_id';

const INSERT_IDENTITY = `INSERT INTO identities (${IDENTITY_COLUMNS}) VALUES (${IDENTITY_COLUMNS.split(',').map(() => '?').join(', ')})`;

// Rows are built here, so the unknown-key check of the strict input schemas buys nothing on read (and halves parse time).
const identityRowSchema = z.object(identityRecordSchema.shape);
const credentialRowSchema = z.object(credentialRecordSchema.shape);

function rowToCredential(r: Row): CredentialRecord {
  return checkRow(
    credentialRowSchema,
    compact({
      id: r.id,
      identityId: r.identity_id,
      kind: r.kind,
      serialNumber: optStr(r.serial_number),
      fingerprint: r.fingerprint,
      certificate: opt(r.certificate, (b) => (b instanceof Uint8Array ? new Uint8Array(b) : b)),
      keyId: optStr(r.key_id),
      selector: optStr(r.selector),
      notBefore: toDate(r.not_before),
      notAfter: toDate(r.not_after),
      status: r.status,
      revokedAt: optDate(r.revoked_at),
      revocationReason: optStr(r.revocation_reason),
      attributes: parseJson(r.attributes, 'credential attributes'),
      createdAt: toDate(r.created_at),
    }),
    'credential',
  );
}

function rowToKey(r: Row): KeyRecord {
  return checkRow(
    keyRecordSchema,
    { id: r.id, identityId: r.identity_id, algorithm: r.algorithm, protectedKey: parseJson(r.protected_key, 'protected key'), createdAt: toDate(r.created_at) },
    'key',
  );
}

function rowToDecryptionKey(r: Row): DecryptionKeyRecord {
  return checkRow(
    decryptionKeyRecordSchema,
    compact({
      credentialId: r.credential_id,
      identityId: r.identity_id,
      keyId: r.key_id,
      retainUntil: toDate(r.retain_until),
      destroyedAt: optDate(r.destroyed_at),
      createdAt: toDate(r.created_at),
      ownerTeam: r.owner_team ?? undefined,
      lifeEndedAt: optDate(r.life_ended_at),
    }),
    'decryption key',
  );
}

function rowToNotice(r: Row): NoticeRecord {
  return checkRow(noticeRecordSchema, { identityId: r.identity_id, credentialId: r.credential_id, noticeKey: r.notice_key, sentAt: toDate(r.sent_at) }, 'notice');
}

function rowToEvent(r: Row): OutboxRecord {
  return checkRow(
    outboxRecordSchema,
    compact({
      id: r.id,
      type: r.type,
      payload: parseJson(r.payload, 'event payload'),
      createdAt: toDate(r.created_at),
      attempts: r.attempts,
      nextAttemptAt: toDate(r.next_attempt_at),
      deliveredAt: optDate(r.delivered_at),
      lastError: optStr(r.last_error),
      leaseOwner: optStr(r.lease_owner),
      leaseUntil: optDate(r.lease_until),
    }),
    'event',
  );
}

function rowToAudit(r: Row): AuditRecord {
  // Named by seq (when it is a number at all), so a damaged log says where.
  const which = `audit record ${typeof r.seq === 'number' || typeof r.seq === 'bigint' ? String(r.seq) : '?'}`;
  return checkRow(
    auditRecordSchema,
    compact({
      seq: r.seq,
      id: r.id,
      at: toDate(r.at),
      actor: r.actor,
      action: r.action,
      identityId: optStr(r.identity_id),
      reason: optStr(r.reason),
      before: parseJson(r.before_json, `${which} before`),
      after: parseJson(r.after_json, `${which} after`),
      prevHash: r.prev_hash,
      hash: r.hash,
    }),
    which,
  );
}

function rowToPending(r: Row): PendingIssuance {
  return checkRow(
    pendingIssuanceSchema,
    compact({ identityId: r.identity_id, idempotencyKey: r.idempotency_key, requestedAt: toDate(r.requested_at), status: r.status, credentialId: optStr(r.credential_id), certificate: optStr(r.certificate) }),
    'pending issuance',
  );
}

/** WHERE clauses for an identity filter. Range filters go through a sub-select so the planner uses their index. */
export function identityWhere(f: IdentityFilter & { afterId?: string }): { where: string[]; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  if (f.dueBefore) {
    where.push('id IN (SELECT id FROM identities WHERE next_due_at <= ?)');
    params.push(f.dueBefore.getTime());
  }
  if (f.expiringBefore) {
    where.push(f.dueBefore ? 'not_after <= ?' : 'id IN (SELECT id FROM identities WHERE not_after <= ?)');
    params.push(f.expiringBefore.getTime());
  }
  if (f.owner !== undefined) {
    where.push('owner_team = ?');
    params.push(f.owner);
  }
  if (f.domain !== undefined) {
    where.push('domain = ?');
    params.push(f.domain);
  }
  if (f.kind !== undefined) {
    where.push('kind = ?');
    params.push(f.kind);
  }
  if (f.status !== undefined) {
    if (f.status.length === 0) where.push('1 = 0');
    else {
      where.push(`status IN (${f.status.map(() => '?').join(', ')})`);
      params.push(...f.status);
    }
  }
  if (f.afterId !== undefined) {
    where.push('id > ?');
    params.push(f.afterId);
  }
  return { where, params };
}

/** The SQL `listIdentities` runs for a filter (for EXPLAIN QUERY PLAN in tests and benchmarks). */
export function listIdentitiesSql(filter: IdentityListFilter): { sql: string; params: unknown[] } {
  const { where, params } = identityWhere(filter);
  return {
    sql: `SELECT * FROM identities${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ?`,
    params: [...params, filter.limit ?? MAX_LIST_LIMIT],
  };
}

class SqliteTx implements StoreTx {
  constructor(private readonly stmt: (sql: string) => Database.Statement) {}

  async getIdentity(id: string): Promise<IdentityRecord | undefined> {
    const r = this.stmt('SELECT * FROM identities WHERE id = ?').get(id) as Row | undefined;
    return r && rowToIdentity(r);
  }

  async listIdentities(filter: IdentityListFilter): Promise<IdentityRecord[]> {
    const f = checkInput(identityListFilterSchema, filter ?? {}, 'listIdentities filter');
    const { sql, params } = listIdentitiesSql(f);
    const rows = (this.stmt(sql).all(...params) as Row[]).map(rowToIdentity);
    // The SQL already filtered; this keeps both stores to one definition of the filter.
    return rows.filter((r) => identityMatches(r, f));
  }

  async countIdentities(filter: IdentityFilter = {}): Promise<number> {
    const f = checkInput(identityListFilterSchema, filter, 'countIdentities filter');
    const { where, params } = identityWhere(f);
    const sql = `SELECT count(*) AS n FROM identities${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`;
    return Number((this.stmt(sql).get(...params) as { n: number }).n);
  }

  async insertIdentity(rec: NewIdentityRecord): Promise<void> {
    const r = checkInput(identityRecordSchema, { ...rec, version: 1 }, 'identity');
    try {
      this.stmt(INSERT_IDENTITY).run(...identityParams(r));
    } catch (e) {
      if (isConstraint(e, 'PRIMARYKEY')) throw new MailPkiError('ERR_IDENTITY_EXISTS', `identity ${r.id} already exists`, { cause: e });
      throw e;
    }
  }

  async updateIdentity(rec: IdentityRecord, expectedVersion: number): Promise<number> {
    if (!Number.isInteger(expectedVersion)) throw new MailPkiError('ERR_INVALID_INPUT', 'updateIdentity: expectedVersion must be an integer', { details: { field: 'expectedVersion' } });
    const r = checkInput(identityRecordSchema, { ...rec, version: expectedVersion + 1 }, 'identity');
    const p = identityParams(r);
    // Every column but id, kind and created_at; the version check makes it a compare-and-set.
    const res = this.stmt(
      `UPDATE identities SET name = ?, domain = ?, owner_team = ?, owner_contact = ?, purpose = ?, approved_by = ?, tags = ?, ca_id = ?, profile = ?, key_type = ?, policy = ?, status = ?, decommission_at = ?, current_credential_id = ?, not_after = ?, next_due_at = ?, attributes = ?, version = ?, updated_at = ?, key_use = ?, certificates = ?, encryption_credential_id = ? WHERE id = ? AND version = ?`,
    ).run(...p.slice(2, 20), p[21], p[22], p[23], p[24], r.id, expectedVersion);
    if (res.changes === 1) return r.version;
    const stored = this.stmt('SELECT version FROM identities WHERE id = ?').get(r.id) as { version: number } | undefined;
    if (!stored) throw new MailPkiError('ERR_IDENTITY_NOT_FOUND', `identity ${r.id} does not exist`);
    throw new MailPkiError('ERR_STORE_CONFLICT', `identity ${r.id} changed: version ${stored.version}, expected ${expectedVersion}`, {
      details: { id: r.id, version: stored.version, expectedVersion },
    });
  }

  async insertCredential(rec: CredentialRecord): Promise<void> {
    const r = checkInput(credentialRecordSchema, rec, 'credential');
    try {
      this.stmt(
        'INSERT INTO credentials (id, identity_id, kind, serial_number, fingerprint, certificate, key_id, selector, not_before, not_after, status, revoked_at, revocation_reason, attributes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ).run(r.id, r.identityId, ...credentialValues(r), r.createdAt.getTime());
    } catch (e) {
      throw insertError(e, 'credential', r.id, r.identityId);
    }
  }

  async updateCredential(rec: CredentialRecord): Promise<void> {
    const r = checkInput(credentialRecordSchema, rec, 'credential');
    const res = this.stmt(
      'UPDATE credentials SET kind = ?, serial_number = ?, fingerprint = ?, certificate = ?, key_id = ?, selector = ?, not_before = ?, not_after = ?, status = ?, revoked_at = ?, revocation_reason = ?, attributes = ? WHERE id = ? AND identity_id = ?',
    ).run(...credentialValues(r), r.id, r.identityId);
    if (res.changes !== 1) throw new MailPkiError('ERR_STORE_CONFLICT', `credential ${r.id} of ${r.identityId} does not exist`);
  }

  async getCredential(id: string): Promise<CredentialRecord | undefined> {
    const r = this.stmt('SELECT * FROM credentials WHERE id = ?').get(id) as Row | undefined;
    return r && rowToCredential(r);
  }

  async listCredentials(identityId: string): Promise<CredentialRecord[]> {
    return (this.stmt('SELECT * FROM credentials WHERE identity_id = ? ORDER BY created_at, id').all(identityId) as Row[]).map(rowToCredential);
  }

  async putKey(rec: KeyRecord): Promise<void> {
    const r = checkInput(keyRecordSchema, rec, 'key');
    try {
      this.stmt('INSERT INTO private_keys (id, identity_id, algorithm, protected_key, created_at) VALUES (?, ?, ?, ?, ?)').run(
        r.id,
        r.identityId,
        r.algorithm,
        JSON.stringify(r.protectedKey),
        r.createdAt.getTime(),
      );
    } catch (e) {
      throw insertError(e, 'key', r.id, r.identityId);
    }
  }

  async getKey(id: string): Promise<KeyRecord | undefined> {
    const r = this.stmt('SELECT * FROM private_keys WHERE id = ?').get(id) as Row | undefined;
    return r && rowToKey(r);
  }

  async deleteKey(id: string): Promise<boolean> {
    return this.stmt('DELETE FROM private_keys WHERE id = ?').run(id).changes > 0;
  }

  async putDecryptionKey(rec: DecryptionKeyRecord): Promise<void> {
    const r = checkInput(decryptionKeyRecordSchema, rec, 'decryption key');
    let res;
    try {
      // An upsert that never moves an entry to another identity.
      res = this.stmt(
        'INSERT INTO decryption_keys (credential_id, identity_id, key_id, retain_until, destroyed_at, created_at, owner_team, life_ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (credential_id) DO UPDATE SET key_id = excluded.key_id, retain_until = excluded.retain_until, destroyed_at = excluded.destroyed_at, created_at = excluded.created_at, owner_team = excluded.owner_team, life_ended_at = excluded.life_ended_at WHERE decryption_keys.identity_id = excluded.identity_id',
      ).run(r.credentialId, r.identityId, r.keyId, r.retainUntil.getTime(), ms(r.destroyedAt), r.createdAt.getTime(), r.ownerTeam ?? null, ms(r.lifeEndedAt));
    } catch (e) {
      throw insertError(e, 'decryption key', r.credentialId, r.identityId);
    }
    if (res.changes !== 1) throw new MailPkiError('ERR_STORE_CONFLICT', `the decryption key of credential ${r.credentialId} belongs to another identity`);
  }

  async listDecryptionKeys(identityId: string): Promise<DecryptionKeyRecord[]> {
    return (this.stmt('SELECT * FROM decryption_keys WHERE identity_id = ? ORDER BY created_at, credential_id').all(identityId) as Row[]).map(rowToDecryptionKey);
  }

  async recordNotice(n: NoticeRecord): Promise<boolean> {
    const r = checkInput(noticeRecordSchema, n, 'notice');
    try {
      const res = this.stmt('INSERT INTO notices (identity_id, credential_id, notice_key, sent_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING').run(
        r.identityId,
        r.credentialId,
        r.noticeKey,
        r.sentAt.getTime(),
      );
      return res.changes === 1;
    } catch (e) {
      throw insertError(e, 'notice', r.noticeKey, r.identityId);
    }
  }

  async listNotices(identityId: string): Promise<NoticeRecord[]> {
    return (this.stmt('SELECT * FROM notices WHERE identity_id = ? ORDER BY sent_at, notice_key').all(identityId) as Row[]).map(rowToNotice);
  }

  async enqueueEvent(e: NewEvent): Promise<void> {
    const r = checkInput(newEventSchema, e, 'event');
    try {
      this.stmt('INSERT INTO outbox (id, type, payload, created_at, attempts, next_attempt_at) VALUES (?, ?, ?, ?, 0, ?)').run(
        r.id,
        r.type,
        JSON.stringify(r.payload),
        r.createdAt.getTime(),
        r.createdAt.getTime(),
      );
    } catch (x) {
      throw insertError(x, 'event', r.id);
    }
  }

  async appendAudit(input: NewAuditRecord): Promise<AuditRecord> {
    const r = checkInput(newAuditSchema, input, 'audit record');
    const lastRow = this.stmt('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string } | undefined;
    const rec = chainAudit(r, lastRow && { seq: Number(lastRow.seq), hash: String(lastRow.hash) });
    try {
      this.stmt(
        'INSERT INTO audit (seq, id, at, actor, action, identity_id, reason, before_json, after_json, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ).run(rec.seq, rec.id, rec.at.getTime(), rec.actor, rec.action, rec.identityId ?? null, rec.reason ?? null, json(rec.before), json(rec.after), rec.prevHash, rec.hash);
    } catch (e) {
      throw insertError(e, 'audit record', rec.id);
    }
    return rec;
  }

  async getPendingIssuance(identityId: string): Promise<PendingIssuance | undefined> {
    const r = this.stmt('SELECT * FROM pending_issuances WHERE identity_id = ?').get(identityId) as Row | undefined;
    return r && rowToPending(r);
  }

  async putPendingIssuance(p: PendingIssuance): Promise<void> {
    const r = checkInput(pendingIssuanceSchema, p, 'pending issuance');
    try {
      this.stmt(
        'INSERT INTO pending_issuances (identity_id, idempotency_key, requested_at, status, credential_id, certificate) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (identity_id) DO UPDATE SET idempotency_key = excluded.idempotency_key, requested_at = excluded.requested_at, status = excluded.status, credential_id = excluded.credential_id, certificate = excluded.certificate',
      ).run(r.identityId, r.idempotencyKey, r.requestedAt.getTime(), r.status, r.credentialId ?? null, r.certificate ?? null);
    } catch (e) {
      throw insertError(e, 'pending issuance', r.identityId, r.identityId);
    }
  }

  async deletePendingIssuance(identityId: string): Promise<void> {
    this.stmt('DELETE FROM pending_issuances WHERE identity_id = ?').run(identityId);
  }
}

function insertError(e: unknown, what: string, id: string, identityId?: string): unknown {
  if (isConstraint(e, 'PRIMARYKEY') || isConstraint(e, 'UNIQUE')) return new MailPkiError('ERR_STORE_CONFLICT', `${what} ${id} already exists`, { cause: e });
  if (isConstraint(e, 'FOREIGNKEY')) return new MailPkiError('ERR_IDENTITY_NOT_FOUND', `identity ${identityId ?? '?'} does not exist`, { cause: e });
  return e;
}

/** The credential columns INSERT and UPDATE share, in the order both statements name them. */
function credentialValues(r: CredentialRecord): (string | number | Buffer | null)[] {
  return [
    r.kind,
    r.serialNumber ?? null,
    r.fingerprint,
    toBlob(r.certificate),
    r.keyId ?? null,
    r.selector ?? null,
    r.notBefore.getTime(),
    r.notAfter.getTime(),
    r.status,
    ms(r.revokedAt),
    r.revocationReason ?? null,
    json(r.attributes),
  ];
}
