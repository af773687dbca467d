/** Runs the CLI in-process (fast) or as a real process (exit codes, stdin). */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function cli(args: string[], env: Record<string, string> = {}, stdin: Uint8Array | string = ''): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (t) => (stdout += t),
    stdoutBytes: (b) => (stdout += new TextDecoder('latin1').decode(b)),
    stderr: (t) => (stderr += t),
    env: { ...env },
    stdin: async function* () {
      yield typeof stdin === 'string' ? new TextEncoder().encode(stdin) : stdin;
    },
  });
  return { code, stdout, stderr };
}

const BIN = fileURLToPath(new URL('../../src/cli/bin.ts', import.meta.url));

/** The real command in a child process (through tsx, so no build is needed). */
export function cliProcess(args: string[], options: { env?: Record<string, string>; input?: string | Uint8Array } = {}): CliResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', BIN, ...args], {
    env: { ...process.env, ...options.env },
    input: options.input ?? '',
    encoding: 'latin1',
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
