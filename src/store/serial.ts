/**
 * One operation at a time per store object, in call order. A store call made from inside a
 * running transaction would wait for itself forever; with an async context (Node's
 * AsyncLocalStorage and its equivalents in Deno, Bun and workerd) it is refused instead.
 */

import { runtimeBuiltin } from '../internal/runtime.js';
import { MailPkiError } from '../errors.js';

/** The part of AsyncLocalStorage the serialiser needs. */
export interface AsyncContextLike {
  run<R>(store: object, fn: () => R): R;
  getStore(): unknown;
}

type AlsConstructor = new () => AsyncContextLike;

/** AsyncLocalStorage when the runtime has one (found without importing a Node module), else undefined. */
export function defaultAsyncContext(): AsyncContextLike | undefined {
  const Als = (globalThis as { AsyncLocalStorage?: AlsConstructor }).AsyncLocalStorage ?? runtimeBuiltin<{ AsyncLocalStorage: AlsConstructor }>('node:async_hooks')?.AsyncLocalStorage;
  return Als ? new Als() : undefined;
}

export class Serializer {
  private tail: Promise<unknown> = Promise.resolve();
  private readonly token = {};
  private closed = false;

  constructor(
    private readonly name: string,
    private readonly context: AsyncContextLike | undefined = defaultAsyncContext(),
  ) {}

  /** Runs `fn` after everything queued before it. */
  run<T>(fn: () => Promise<T> | T): Promise<T> {
    if (this.closed) return Promise.reject(new MailPkiError('ERR_INVALID_INPUT', `${this.name} is closed`, { details: { field: 'store' } }));
    if (this.context && this.context.getStore() === this.token) {
      return Promise.reject(new MailPkiError('ERR_INVALID_INPUT', `${this.name}: store calls inside a transaction are not allowed (nested transaction); use the tx object`, { details: { field: 'store' } }));
    }
    const ctx = this.context;
    const next = this.tail.then(() => (ctx ? ctx.run(this.token, fn) : fn()));
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** Waits for queued work, then refuses new work. */
  async close(): Promise<void> {
    if (this.closed) return;
    const last = this.tail;
    this.closed = true;
    await last;
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

/** Wraps a transaction object so that using it after its transaction ended is refused (ERR_INVALID_INPUT). */
export function scopedTx<T extends object>(tx: T, isOpen: () => boolean, mapError?: (e: unknown) => unknown): T {
  return new Proxy(tx, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (!isOpen()) return Promise.reject(new MailPkiError('ERR_INVALID_INPUT', 'the transaction has ended; this tx object can no longer be used', { details: { field: 'tx' } }));
        const r = (v as (...a: unknown[]) => unknown).apply(target, args);
        return mapError && r instanceof Promise ? r.catch((e: unknown) => Promise.reject(mapError(e))) : r;
      };
    },
  });
}
