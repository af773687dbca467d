/** A tiny benchmark harness: ops/s over a fixed time budget, after a warm-up. */
export interface Result {
  name: string;
  opsPerSec: number;
  n: number;
}

export async function measure(name: string, fn: () => Promise<unknown> | unknown, ms = 1500): Promise<Result> {
  const warm = performance.now() + Math.min(300, ms / 4);
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
