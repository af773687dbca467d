/**
 * Where a LocalCA keeps its state. The core only needs whole-object reads and atomic
 * whole-object writes; the Node adapter (`mailpki/node`) maps them to files written by
 * temp-file + rename, so a crash never leaves a half-written file.
 */
export interface CaStorage {
  /** The bytes stored under `name`, or undefined when absent. */
  read(name: string): Promise<Uint8Array | undefined>;
  /** Replaces `name` atomically: readers see the old bytes or the new, never a mix. */
  write(name: string, data: Uint8Array): Promise<void>;
  /** Names stored under a prefix (e.g. "certs/"). */
  list(prefix: string): Promise<string[]>;
}

/** In-memory storage, for tests and for building a CA before it is written out. */
export class MemoryCaStorage implements CaStorage {
  readonly files = new Map<string, Uint8Array>();

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
}
