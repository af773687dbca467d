/**
 * Where a LocalCA keeps its state. The core only needs whole-object reads and atomic
 * whole-object writes; the Node adapter (`mailpki/node`) maps them to files written by
 * temp-file + fsync + rename, so a crash never leaves a half-written file.
 *
 * Several LocalCA objects (in one process or in several) may share one storage: every change
 * runs under `lock`, so two issuances never interleave, an idempotency key is looked up and
 * recorded by one writer at a time, and an issuance found half-done under the lock is known to
 * belong to a writer that died.
 */
export interface CaStorage {
  /** The bytes stored under `name`, or undefined when absent. */
  read(name: string): Promise<Uint8Array | undefined>;
  /** Replaces `name` atomically: readers see the old bytes or the new, never a mix. */
  write(name: string, data: Uint8Array): Promise<void>;
  /** Names stored under a prefix (e.g. "certs/"). */
  list(prefix: string): Promise<string[]>;
  /**
   * Runs `fn` while holding the storage's write lock: no other holder, in this process or another,
   * runs at the same time, and the lock is released when `fn` settles or its process dies.
   * Without it a LocalCA serialises only its own calls (one process, one CA object).
   */
  lock?<T>(fn: () => Promise<T>): Promise<T>;
  /** Removes what interrupted writes left behind (temporary files); called under `lock` on open. Returns what it removed. */
  cleanup?(): Promise<string[]>;
}

/** One holder at a time, in call order (a promise chain). */
export class AsyncMutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** In-memory storage, for tests and for building a CA before it is written out. */
export class MemoryCaStorage implements CaStorage {
  readonly files = new Map<string, Uint8Array>();
  private readonly mutex = new AsyncMutex();

  async read(name: string): Promise<Uint8Array | undefined> {
    const v = this.files.get(name);
    return v && v.slice();
  }

  async write(name: string, data: Uint8Array): Promise<void> {
    this.files.set(name, data.slice());
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.files.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  /** Every LocalCA opened on this object shares the lock (what separate processes share on disk). */
  lock<T>(fn: () => Promise<T>): Promise<T> {
    return this.mutex.run(fn);
  }
}
