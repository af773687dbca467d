/**
 * One GNUPGHOME for a gpgsm interop test: created 0700 in the test's temp dir, CRL checks off
 * (the fixture CAs publish no CRLs gpgsm could fetch), a root trusted through trustlist.txt, and
 * gpgsm run in batch mode with status lines on stdout and a timeout on every call.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { run, type tempDir } from './peers.js';

export interface GpgsmResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Arguments that let gpgsm read a passphrase from stdin (pass it as `input`, newline-terminated). */
export const GPGSM_PASSPHRASE_ARGS = ['--pinentry-mode', 'loopback', '--passphrase-fd', '0'] as const;

const FINGERPRINT = /^fpr:(?:[^:]*:){8}([0-9A-F]{40}):/m;

export function gpgsmHome(tmp: ReturnType<typeof tempDir>) {
  const home = tmp.path('gnupg');
  const env = { ...process.env, GNUPGHOME: home };
  /** gpgsm with status lines on stdout; every call bounded by a timeout. */
  function gpgsm(args: readonly string[], input?: string): GpgsmResult {
    const r = spawnSync('gpgsm', ['--batch', '--status-fd', '1', ...args], { env, input, encoding: 'latin1', timeout: 60_000 });
    return { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }
  /** A file in the test's temp dir. */
  function file(name: string, data: string | Uint8Array): string {
    const f = tmp.path(name);
    writeFileSync(f, data);
    return f;
  }
  /** The fingerprint of the first (secret) key gpgsm lists. */
  function fingerprint(secret = false): string | undefined {
    return FINGERPRINT.exec(run('gpgsm', ['--with-colons', secret ? '--list-secret-keys' : '--list-keys'], { env }))?.[1];
  }
  return {
    home,
    env,
    gpgsm,
    file,
    fingerprint,
    /** Creates the home and trusts `rootPem` (imported, then listed in trustlist.txt). */
    init(rootPem: string): GpgsmResult {
      mkdirSync(home, { mode: 0o700 });
      writeFileSync(`${home}/gpgsm.conf`, 'disable-crl-checks\n');
      const imported = gpgsm(['--import', file('root.pem', rootPem)]);
      const fpr = fingerprint();
      if (fpr) writeFileSync(`${home}/trustlist.txt`, `${fpr} S relax\n`);
      return imported;
    },
    /** Stops the agent the test started. */
    kill(): void {
      spawnSync('gpgconf', ['--kill', 'all'], { env, timeout: 30_000 });
    },
  };
}
