/**
 * Waiting for another connection's SQLite lock without blocking the event loop. Connections that
 * use it keep busy_timeout at 0: SQLite's own wait (its busy handler) would hold the whole process —
 * every other request, timer and SMTP session — for as long.
 */

/** SQLITE_BUSY (another connection holds the lock) or SQLITE_LOCKED (a conflict within the process). */
export const isBusy = (e: unknown): boolean => /^SQLITE_(BUSY|LOCKED)/.test(String((e as { code?: unknown })?.code ?? ''));

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs `step` (one synchronous step that takes a lock: BEGIN IMMEDIATE, or a whole short
 * transaction) and, while the lock is busy, runs it again after a short, growing, jittered sleep
 * (1 → 50 ms) until `timeoutMs` has passed. What `step` throws otherwise, or the busy error at the
 * deadline, is thrown as `fail` makes it (`busy`: the deadline passed).
 */
export async function retryWhileBusy<T>(step: () => T, timeoutMs: number, fail: (e: unknown, busy: boolean) => unknown): Promise<T> {
  // A monotonic clock: the wall clock set back while it waits would make the wait as much longer.
  const deadline = performance.now() + timeoutMs;
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    try {
      return step();
    } catch (e) {
      const busy = isBusy(e);
      if (!busy || performance.now() >= deadline) throw fail(e, busy);
    }
    await sleep(delay + Math.random() * delay);
  }
}
