/** retryWhileBusy: the wait for another connection's lock. */
import { afterEach, expect, it, vi } from 'vitest';
import { retryWhileBusy } from '../../src/node/sqlite-busy.js';

afterEach(() => {
  vi.restoreAllMocks();
});

const busy = () => Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });

it('a wall clock set back by an hour while it waits does not make it wait an hour (the deadline was Date.now() + timeoutMs)', async () => {
  const real = Date.now.bind(Date);
  let calls = 0;
  vi.spyOn(Date, 'now').mockImplementation(() => real() - (calls++ > 0 ? 3_600_000 : 0));
  const started = performance.now();
  const outcome = await Promise.race([
    retryWhileBusy(
      () => {
        throw busy();
      },
      100,
      (e, timedOut) => ({ e, timedOut }),
    ).catch((x: unknown) => x),
    new Promise((r) => setTimeout(() => r('still waiting'), 2000)),
  ]);
  expect(outcome).toMatchObject({ timedOut: true, e: { code: 'SQLITE_BUSY' } });
  expect(performance.now() - started).toBeLessThan(1000);
});

it('not busy: thrown at once as fail makes it; busy until the lock is free: the step\'s result', async () => {
  const ioError = () => {
    throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' });
  };
  await expect(retryWhileBusy(ioError, 1000, (e, b) => ({ b, code: (e as { code: string }).code }))).rejects.toEqual({ b: false, code: 'SQLITE_IOERR' });
  let n = 0;
  const freeAtTheFourth = () => {
    if (n++ < 3) throw busy();
    return 'done';
  };
  expect(await retryWhileBusy(freeAtTheFourth, 1000, (e) => e)).toBe('done');
  expect(n).toBe(4);
});
