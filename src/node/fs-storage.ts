/**
 * Node adapter: a CaStorage over a directory, with atomic writes (temp file, fsync, rename, fsync
 * of the directory) and a write lock that several processes share and a killed process releases.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import Database from 'better-sqlite3';
import { MailPkiError } from '../errors.js';
import { retryWhileBusy } from './sqlite-busy.js';
import { AsyncMutex, MemoryCaStorage, type CaStorage } from '../ca/storage.js';
import { CA_FILES, LocalCA, type CreateLocalCaOptions, type LocalCaRuntime } from '../ca/local-ca.js';

function ioError(what: string, e: unknown): MailPkiError {
  const code = (e as NodeJS.ErrnoException)?.code;
  return new MailPkiError('ERR_IO', `${what}${code ? ` (${code})` : ''}`, { cause: e });
}

/** The temporary name writeFileAtomic uses beside its target: `.<name>.<12 hex>.tmp`. */
const TMP_NAME = /^\..+\.[0-9a-f]{12}\.tmp$/;

/**
 * Writes `data` to `path` atomically; private files get mode 0600. The rename is made durable
 * with an fsync of the directory, so a record written before a crash is there after it.
 * With `signal`: once it is aborted (a caller that gave up waiting), a write not yet renamed into place never is — its
 * temporary file is removed and it rejects; a rename already under way completes.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o600, options: { signal?: AbortSignal } = {}): Promise<void> {
  const { signal } = options;
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    signal?.throwIfAborted();
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    signal?.throwIfAborted();
    await rename(tmp, path);
    await syncDirectory(dirname(path));
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw ioError(`could not write ${path}`, e);
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY).catch(() => undefined);
  if (!fh) return;
  try {
    await fh.sync();
  } catch {
    // Some file systems cannot fsync a directory; the rename is still atomic there.
  } finally {
    await fh.close();
  }
}

/** Files readers outside the CA need (relying parties, the HTTP handler); everything else is 0600. */
const PUBLIC_FILES: ReadonlySet<string> = new Set([CA_FILES.root, CA_FILES.issuing, CA_FILES.chain, CA_FILES.rootCrl]);

/** The lock file inside a CA directory (hidden: `list` never shows it). */
export const CA_LOCK_FILE = '.lock';

export interface DirectoryCaStorageOptions {
  /** How long `lock` waits for another process before ERR_CA_UNAVAILABLE. Default 30 s. */
  lockTimeoutMs?: number;
}

export class DirectoryCaStorage implements CaStorage {
  private readonly mutex = new AsyncMutex();
  private lockDb: Database.Database | undefined;
  private readonly lockTimeoutMs: number;

  constructor(
    readonly dir: string,
    options: DirectoryCaStorageOptions = {},
  ) {
    this.lockTimeoutMs = options.lockTimeoutMs ?? 30_000;
  }

  /**
   * The write lock: a write transaction (BEGIN IMMEDIATE) on the SQLite file `.lock` in the
   * directory. SQLite takes it with a POSIX advisory lock, which the kernel drops when the holder
   * dies (kill -9 included), so a crashed process never leaves the CA locked. Waited for without
   * blocking the event loop. Local file systems only (NFS locks are not to be trusted).
   */
  lock<T>(fn: () => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      const db = await this.openLock();
      await retryWhileBusy(() => db.exec('BEGIN IMMEDIATE'), this.lockTimeoutMs, (e, busy) =>
        busy
          ? new MailPkiError('ERR_CA_UNAVAILABLE', `the CA in ${this.dir} stayed locked by another process for ${this.lockTimeoutMs} ms; retry`, { cause: e })
          : ioError(`could not lock the CA in ${this.dir}`, e),
      );
      try {
        return await fn();
      } finally {
        db.exec('ROLLBACK');
      }
    });
  }

  private async openLock(): Promise<Database.Database> {
    if (this.lockDb) return this.lockDb;
    const path = join(this.dir, CA_LOCK_FILE);
    try {
      // Created 0600 before SQLite opens it (SQLite would use 0644 under umask 022).
      await (await open(path, constants.O_RDWR | constants.O_CREAT, 0o600)).close();
      const db = new Database(path);
      db.pragma('busy_timeout = 0');
      this.lockDb = db;
      return db;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException)?.code;
      // A CA directory this process may only read (a responder's read-only mount): no lock, no writes.
      if (code === 'EACCES' || code === 'EROFS' || code === 'EPERM')
        throw new MailPkiError('ERR_IO', `the CA in ${this.dir} is read-only here: it cannot be changed (${code})`, { cause: e, details: { readOnly: true } });
      throw ioError(`could not open the CA lock ${path}`, e);
    }
  }

  /** Closes the lock file (the storage can still be used: it reopens on the next lock). */
  close(): void {
    this.lockDb?.close();
    this.lockDb = undefined;
  }

  /** Removes temporary files of writes a crash interrupted (`.<name>.<hex>.tmp`), in every folder. */
  async cleanup(): Promise<string[]> {
    const removed: string[] = [];
    const walk = async (rel: string): Promise<void> => {
      const abs = rel ? this.resolve(rel) : this.dir;
      let entries;
      try {
        entries = await readdir(abs, { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw ioError(`could not list ${abs}`, e);
      }
      for (const entry of entries) {
        const name = rel ? `${rel}/${entry.name}` : entry.name;
        if (entry.isDirectory()) await walk(name);
        else if (entry.isFile() && TMP_NAME.test(entry.name)) {
          await rm(join(abs, entry.name), { force: true }).catch((e: unknown) => {
            throw ioError(`could not remove ${name}`, e);
          });
          removed.push(name);
        }
      }
    };
    await walk('');
    return removed;
  }

  private resolve(name: string): string {
    const p = join(this.dir, name);
    const rel = relative(this.dir, p);
    if (rel.startsWith('..') || rel.includes(`..${sep}`)) throw new MailPkiError('ERR_INVALID_INPUT', `bad storage name ${name}`);
    return p;
  }

  async read(name: string): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.resolve(name)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw ioError(`could not read ${name}`, e);
    }
  }

  async write(name: string, data: Uint8Array): Promise<void> {
    const p = this.resolve(name);
    await mkdir(dirname(p), { recursive: true, mode: 0o700 }).catch((e) => {
      throw ioError(`could not create ${dirname(p)}`, e);
    });
    await writeFileAtomic(p, data, PUBLIC_FILES.has(name) ? 0o644 : 0o600);
  }

  async list(prefix: string): Promise<string[]> {
    const dir = this.resolve(prefix.endsWith('/') ? prefix : dirname(prefix));
    try {
      const names = await readdir(dir);
      const base = prefix.endsWith('/') ? prefix : `${dirname(prefix)}/`;
      return names
        .filter((n) => !n.startsWith('.'))
        .map((n) => `${base === './' ? '' : base}${n}`)
        .filter((n) => n.startsWith(prefix))
        .sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw ioError(`could not list ${prefix}`, e);
    }
  }
}

/**
 * Creates a LocalCA in `dir`, which must not exist or be empty. The CA is built in a sibling
 * temporary directory and renamed into place, so a failure never leaves a half-written CA.
 */
export async function initLocalCaDirectory(dir: string, options: CreateLocalCaOptions = {}, runtime: LocalCaRuntime = {}): Promise<LocalCA> {
  const existing = await stat(dir).catch(() => undefined);
  if (existing) {
    if (!existing.isDirectory()) throw new MailPkiError('ERR_CA_EXISTS', `${dir} exists and is not a directory`);
    if ((await readdir(dir)).length > 0) throw new MailPkiError('ERR_CA_EXISTS', `${dir} is not empty; a CA is never written over existing files`);
  }
  const memory = new MemoryCaStorage();
  await LocalCA.create(memory, options, runtime);
  const tmp = `${dir.replace(/[/\\]+$/, '')}.partial-${randomBytes(6).toString('hex')}`;
  try {
    await mkdir(tmp, { recursive: true, mode: 0o700 });
    const staged = new DirectoryCaStorage(tmp);
    for (const [name, data] of memory.files) await staged.write(name, data);
    if (existing) await rmdir(dir);
    await rename(tmp, dir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw e instanceof MailPkiError ? e : ioError(`could not create the CA in ${dir}`, e);
  }
  return LocalCA.open(new DirectoryCaStorage(dir), { ...runtime, ...(options.passphrase !== undefined && { passphrase: options.passphrase }) });
}

export async function openLocalCaDirectory(dir: string, options: { passphrase?: string } & LocalCaRuntime = {}): Promise<LocalCA> {
  const s = await stat(dir).catch(() => undefined);
  if (!s?.isDirectory()) throw new MailPkiError('ERR_CA_STATE_INVALID', `no CA directory at ${dir}`);
  return LocalCA.open(new DirectoryCaStorage(dir), options);
}

