/** A tiny benchmark harness: ops/s over a fixed time budget, after a warm-up. */
export interface Result {
  name: string;
  opsPerSec: number;
  n: number;
}

export async function measure(name: string, fn: () => Promise<unknown> | unknown, ms = 1500, warmMs = Math.min(300, ms / 4)): Promise<Result> {
  const warm = performance.now() + warmMs;
  while (performance.now() < warm) await fn();
  let n = 0;
  const start = performance.now();
  const end = start + ms;
  while (performance.now() < end) {
    await fn();
    n++;
  }
  const secs = (performance.now() - start) / 1000;
  return { name, opsPerSec: n / secs, n };
}

export function report(title: string, rows: Result[], baseline?: Result): void {
  console.log(`\n## ${title}`);
  for (const r of rows) {
    const ratio = baseline && r !== baseline ? `  ${(r.opsPerSec / baseline.opsPerSec).toFixed(2)}× ${baseline.name}` : '';
    console.log(`  ${r.name.padEnd(52)} ${r.opsPerSec.toFixed(0).padStart(8)} ops/s${ratio}`);
  }
}

export interface Candidate {
  name: string;
  fn: () => Promise<unknown> | unknown;
}

/** A result measured in interleaved rounds: ops/s per round, and over all rounds together. */
export interface RoundsResult extends Result {
  rounds: number[];
  /** Seconds measured over all rounds (opsPerSec = n / seconds). */
  seconds: number;
}

/** The median of xs (the mean of the middle two for an even count). */
export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Measures candidates in interleaved rounds (each round runs every candidate for `ms`, starting
 * with a different one each time), so the drift of a noisy machine falls on all of them alike.
 * opsPerSec is each candidate's rate over all its rounds together: every garbage collection its
 * own allocations cause is in it. Compare two candidates with {@link roundsRatio}.
 *
 * The heap is collected once, before the warm-ups, not before every round: a forced full
 * collection resets V8's young generation to its smallest size, and the candidate that allocates
 * most then pays for regrowing it in every round, a cost no long-running signer has (measured on
 * RSA DKIM signing, median of 15 rounds of 250 ms: 0.81× raw with a collection per round,
 * 0.87–0.92× without).
 */
export async function measureRounds(candidates: readonly Candidate[], { rounds = 9, ms = 200 } = {}): Promise<RoundsResult[]> {
  (await collector())();
  for (const c of candidates) await measure(c.name, c.fn, 150);
  const out = candidates.map((c) => ({ name: c.name, opsPerSec: 0, n: 0, seconds: 0, rounds: [] as number[] }));
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < candidates.length; j++) {
      const i = (r + j) % candidates.length;
      const one = await measure(candidates[i]!.name, candidates[i]!.fn, ms);
      out[i]!.rounds.push(one.opsPerSec);
      out[i]!.n += one.n;
      out[i]!.seconds += one.n / one.opsPerSec;
    }
  }
  for (const o of out) o.opsPerSec = o.n / o.seconds;
  return out;
}

/** a's rate over all rounds divided by b's (both measured in the same rounds). */
export function roundsRatio(a: RoundsResult, b: RoundsResult): number {
  return a.opsPerSec / b.opsPerSec;
}

/** The median over rounds of a's rate divided by b's: how much the rounds agree, beside {@link roundsRatio}. */
export function medianRoundRatio(a: RoundsResult, b: RoundsResult): number {
  return median(a.rounds.map((x, i) => x / b.rounds[i]!));
}

/** A full garbage collection, where V8 lets us have one (it does in Node). */
async function collector(): Promise<() => void> {
  try {
    const { setFlagsFromString } = await import('node:v8');
    const { runInNewContext } = await import('node:vm');
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    return () => gc();
  } catch {
    return () => {};
  }
}

/** Prints rows with each one's ratio to the baseline over all rounds (and the median of per-round ratios). */
export function reportRounds(title: string, rows: readonly RoundsResult[], baseline: RoundsResult): void {
  console.log(`\n## ${title}`);
  for (const r of rows) {
    const ratio = r !== baseline ? `  ${roundsRatio(r, baseline).toFixed(2)}× ${baseline.name} (rounds' median ${medianRoundRatio(r, baseline).toFixed(2)}×)` : '';
    console.log(`  ${r.name.padEnd(52)} ${r.opsPerSec.toFixed(0).padStart(8)} ops/s${ratio}`);
  }
}

/**
 * Pins this process (every thread, and the threads it starts later) to one CPU, for targets
 * stated "on one core": WebCrypto's worker threads then share the core with the JavaScript.
 * Linux only (taskset from util-linux); returns a function that undoes it, or undefined.
 * MAILPKI_BENCH_ALL_CORES=1 leaves the process on every core, to compare.
 */
export async function pinToOneCore(): Promise<(() => void) | undefined> {
  const { execFileSync } = await import('node:child_process');
  const { availableParallelism } = await import('node:os');
  if (process.env.MAILPKI_BENCH_ALL_CORES === '1') {
    console.log('  (MAILPKI_BENCH_ALL_CORES=1: not pinned, every core in use)');
    return () => {};
  }
  if (process.platform !== 'linux' || availableParallelism() < 2) return () => {};
  try {
    const before = execFileSync('taskset', ['-p', '-c', String(process.pid)], { encoding: 'utf8' }).split(':').pop()!.trim();
    const cpu = before.split(/[,-]/)[0]!;
    execFileSync('taskset', ['-a', '-p', '-c', cpu, String(process.pid)], { stdio: 'ignore' });
    console.log(`  (pinned to CPU ${cpu} of ${before}: the targets are per core)`);
    return () => execFileSync('taskset', ['-a', '-p', '-c', before, String(process.pid)], { stdio: 'ignore' });
  } catch {
    console.log('  ** could not pin to one core (no taskset): these numbers use every core **');
    return undefined;
  }
}
