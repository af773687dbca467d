/**
 * The one input reader of the CLI: stdin and files alike stop at a byte limit. A file's size is
 * checked before anything is read; a stream (stdin, a pipe, a FIFO) is read until the limit is
 * passed and then destroyed, so a hostile gigabyte costs the limit, not the gigabyte.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { MailPkiError } from '../errors.js';
import { DEFAULT_MIME_LIMITS } from '../mime/index.js';

/** Largest input any command reads: the largest message the MIME parser accepts (64 MiB). */
export const MAX_INPUT_BYTES = DEFAULT_MIME_LIMITS.maxMessageBytes;
/** Largest certificate, key, PKCS#12, trust bundle or policy file read (4 MiB: a large CA bundle is < 1 MiB). */
export const MAX_SMALL_INPUT_BYTES = 4 * 1024 * 1024;

function tooLarge(what: string, maxBytes: number): MailPkiError {
  return new MailPkiError('ERR_INPUT_TOO_LARGE', `${what} is larger than ${maxBytes} bytes (reading stopped at the limit)`, {
    details: { limit: maxBytes },
  });
}

/** Reads a stream up to `maxBytes`; one byte more destroys the stream and throws ERR_INPUT_TOO_LARGE. */
export async function readStreamLimited(stream: Readable | AsyncIterable<Uint8Array>, maxBytes: number, what: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    // Leaving the loop early (the throw) ends the iterator, which destroys a Readable.
    for await (const chunk of stream as AsyncIterable<Uint8Array | string>) {
      const bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : chunk;
      total += bytes.length;
      if (total > maxBytes) throw tooLarge(what, maxBytes);
      chunks.push(bytes);
    }
  } finally {
    if (total > maxBytes && 'destroy' in stream && typeof stream.destroy === 'function') stream.destroy();
  }
  return new Uint8Array(Buffer.concat(chunks, total));
}

/** Reads a file (a regular file's size is checked first; anything else is streamed with the same limit). */
export async function readFileLimited(path: string, maxBytes: number): Promise<Uint8Array> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    throw new MailPkiError('ERR_IO', `cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e });
  }
  try {
    const s = await handle.stat();
    if (s.isDirectory()) throw new MailPkiError('ERR_IO', `cannot read ${path} (EISDIR)`);
    if (s.isFile() && s.size > maxBytes) throw tooLarge(path, maxBytes);
    // The file may grow between stat and read: the stream keeps the same limit.
    const stream = createReadStream('', { fd: handle, autoClose: false });
    try {
      return await readStreamLimited(stream, maxBytes, path);
    } catch (e) {
      if (e instanceof MailPkiError) throw e;
      throw new MailPkiError('ERR_IO', `cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e });
    }
  } finally {
    await handle.close().catch(() => undefined);
  }
}
