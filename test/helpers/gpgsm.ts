/**
 * One GNUPGHOME for a gpgsm interop test: created 0700 in the test's temp dir, CRL checks off
 * (the fixture CAs publish no CRLs gpgsm could fetch), a root trusted through trustlist.txt, and
 * gpgsm run in batch mode with status lines on stdout and a timeout on every call.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { run, type tempDir } from './peers.js';

export interface GpgsmResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Arguments that let gpgsm read a passphrase from stdin (pass it as `input`, newline-terminated). */
export const GPGSM_PASSPHRASE_ARGS = ['--pinentry-mode', 'loopback', '--passphrase-fd', '0'] as const;

/** pbeWithSHAAnd3-KeyTripleDES-CBC (RFC 7292 appendix C) as DER: tag, length, OID. */
const PBE_SHA1_3DES = Buffer.from('060a2a864886f70d010c0103', 'hex');

const repeatTo = (b: Uint8Array, n: number) => Buffer.from(Array.from({ length: n }, (_, i) => b[i % b.length]!));
const sha1 = (b: Uint8Array) => createHash('sha1').update(b).digest();
const toBigInt = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).toString('hex')}`);

/**
 * Whether gpgsm 2.2 derives a wrong 3DES key for a .p12's pbeWithSHAAnd3-KeyTripleDES-CBC salt.
 * GnuPG 2.2's minip12.c `string_to_key` (the RFC 7292 appendix B KDF) writes each I_j + B + 1
 * back with `gcry_mpi_print`, which does not left-pad: when the sum's top byte is 0 the block
 * shifts and every byte of the key after the first 20 is wrong. A 24-byte 3DES key needs that
 * step, so about 2 salts in 256 make gpgsm fail with "decryption failed; trying charset …" for
 * the right passphrase (seen in CI; a fixture in test/smime/interop-gpgsm.test.ts pins it).
 * Returns true if any 3DES-encrypted bag in `der` has such a salt (ASCII passphrases only).
 */
export function hitsGpgsmKdfFault(der: Uint8Array, passphrase: string): boolean {
  const bytes = Buffer.from(der);
  const bmp = Buffer.alloc(passphrase.length * 2 + 2);
  for (let i = 0; i < passphrase.length; i++) bmp[2 * i + 1] = passphrase.charCodeAt(i);
  for (let at = bytes.indexOf(PBE_SHA1_3DES); at >= 0; at = bytes.indexOf(PBE_SHA1_3DES, at + 1)) {
    // pkcs-12PbeParams ::= SEQUENCE { salt OCTET STRING, iterations INTEGER }, short lengths.
    let p = at + PBE_SHA1_3DES.length;
    if (bytes[p] !== 0x30 || bytes[p + 2] !== 0x04) continue;
    p += 2;
    const salt = bytes.subarray(p + 2, p + 2 + bytes[p + 1]!);
    p += 2 + salt.length;
    if (bytes[p] !== 0x02) continue;
    const iterations = Number(toBigInt(bytes.subarray(p + 2, p + 2 + bytes[p + 1]!)));
    const I = Buffer.concat([repeatTo(salt, 64), repeatTo(bmp, 64)]);
    let a = sha1(Buffer.concat([Buffer.alloc(64, 1), I]));
    for (let i = 1; i < iterations; i++) a = sha1(a);
    const bPlusOne = toBigInt(repeatTo(a, 64)) + 1n;
    for (const j of [0, 64]) if ((toBigInt(I.subarray(j, j + 64)) + bPlusOne) % (1n << 512n) < 1n << 504n) return true;
  }
  return false;
}

/**
 * Packs a key and certificate as a .p12 that gpgsm 2.2 reads: `openssl pkcs12 -export -legacy`
 * (3DES key bag, RC2-40 certificates, SHA-1 MAC), packed again with a new salt while the salt
 * hits gpgsm 2.2's key-derivation fault (see hitsGpgsmKdfFault).
 */
export function packLegacyP12(out: string, files: { key: string; cert: string; chain: string }, passphrase: string): void {
  for (let attempt = 0; ; attempt++) {
    run('openssl', ['pkcs12', '-export', '-legacy', '-inkey', files.key, '-in', files.cert, '-certfile', files.chain, '-passout', `pass:${passphrase}`, '-out', out]);
    if (!hitsGpgsmKdfFault(readFileSync(out), passphrase)) return;
    if (attempt === 20) throw new Error('openssl pkcs12 -legacy gave 20 salts in a row that gpgsm 2.2 derives wrongly; the salt check is broken');
  }
}

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
