/**
 * Real peers (OpenSSL, gpgsm, ...) for interop tests. A missing peer skips its tests with a loud
 * message under plain `npm test`, and fails them when MAILPKI_REQUIRE_PEERS=1 (as in CI).
 */
import { execFileSync, spawnSync } from 'node:child_process';
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
