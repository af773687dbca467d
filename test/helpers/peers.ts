/**
 * Real peers (OpenSSL, gpgsm, ...) for interop tests. A missing peer skips its tests with a loud
 * message under plain `npm test`, and fails them when MAILPKI_REQUIRE_PEERS=1 (as in CI).
 */
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';

const found = new Map<string, boolean>();

export function hasCommand(cmd: string): boolean {
  let ok = found.get(cmd);
  if (ok === undefined) {
    ok = spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
    found.set(cmd, ok);
  }
  return ok;
}

export const peersRequired = process.env.MAILPKI_REQUIRE_PEERS === '1';

/**
 * `describe` for a block that needs the given commands. Missing and not required: skipped, with
 * a warning on stderr. Missing and required: one failing test says what is missing.
 */
export function describeWithPeers(name: string, commands: readonly string[], body: () => void): void {
  const missing = commands.filter((c) => !hasCommand(c));
  if (missing.length === 0) {
    describe(name, body);
    return;
  }
  if (peersRequired) {
    describe(name, () => {
      it(`needs ${missing.join(', ')}`, () => {
        throw new Error(`MAILPKI_REQUIRE_PEERS=1 but ${missing.join(', ')} not installed (see .ci/run)`);
      });
    });
    return;
  }
  process.stderr.write(`\n!!! SKIPPED "${name}": peer(s) not installed: ${missing.join(', ')} (run .ci/run, or install them)\n`);
  describe.skip(name, body);
}

/** Runs a command; returns stdout. Throws with stderr included on a non-zero exit. */
export function run(cmd: string, args: readonly string[], options: { input?: string | Uint8Array; cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  return execFileSync(cmd, args, {
    input: options.input,
    cwd: options.cwd,
    env: options.env ?? process.env,
    encoding: 'latin1',
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: 60_000,
  });
}

/** Runs a command and returns its exit status and output, never throwing on a non-zero exit. */
export function runStatus(cmd: string, args: readonly string[], options: { input?: string | Uint8Array; cwd?: string; env?: NodeJS.ProcessEnv } = {}): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, {
    input: options.input,
    cwd: options.cwd,
    env: options.env ?? process.env,
    encoding: 'latin1',
    timeout: 60_000,
  });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** A temporary directory removed by the returned cleanup function. */
export function tempDir(prefix = 'mailpki-test-'): { dir: string; path: (name: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, path: (name) => join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Waits until a child process prints `pattern` (stdout or stderr); rejects with what it printed when it
 * exits first or `timeoutMs` passes. Generous by default: a CLI started with tsx on a loaded 2-core CI
 * machine can take well over ten seconds to be ready.
 */
export function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs = 90_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    const done = (f: () => void) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      f();
    };
    const onData = (d: Buffer | string) => {
      out += d;
      const m = pattern.exec(out);
      if (m) done(() => resolve(m));
    };
    const onExit = (code: number | null) => done(() => reject(new Error(`process exited (${code}) before printing ${pattern}: ${out}`)));
    const timer = setTimeout(() => done(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms: ${out}`))), timeoutMs);
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', onExit);
  });
}
