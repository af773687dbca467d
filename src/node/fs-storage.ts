/** Node adapter: a CaStorage over a directory, with atomic writes (temp file, fsync, rename). */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import { MailPkiError } from '../errors.js';
import { MemoryCaStorage, type CaStorage } from '../ca/storage.js';
import { CA_FILES, LocalCA, type CreateLocalCaOptions, type LocalCaRuntime } from '../ca/local-ca.js';

function ioError(what: string, e: unknown): MailPkiError {
  const code = (e as NodeJS.ErrnoException)?.code;
  return new MailPkiError('ERR_IO', `${what}${code ? ` (${code})` : ''}`, { cause: e });
}

/** Writes `data` to `path` atomically; private files get mode 0600. */
export async function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o600): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw ioError(`could not write ${path}`, e);
  }
}

export class DirectoryCaStorage implements CaStorage {
  constructor(readonly dir: string) {}

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
    await writeFileAtomic(p, data, name.startsWith('keys/') || name === CA_FILES.state ? 0o600 : 0o644);
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

