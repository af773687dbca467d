/**
 * CRLs at scale: create, parse + verify + index, and look up in a 100,000-entry CRL, beside
 * `openssl ca -gencrl` and `openssl crl` on the same machine in the same run.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { CA_FILES, LocalCA, MemoryCaStorage } from '../src/ca/index.js';
import { keySigner } from '../src/certs/builder.js';
import { certificateToPem } from '../src/certs/certificate.js';
import { fromUtf8 } from '../src/internal/bytes.js';
import { defaultSignatureAlgorithm, importPrivateKey } from '../src/keys/index.js';
import { createCrl, crlToPem, parseCrl, verifyCrl, type CrlEntryInput } from '../src/revocation/crl.js';
import type { RevocationReason } from '../src/ca/types.js';

const N = 100_000;
const REASONS: (RevocationReason | undefined)[] = [undefined, 'keyCompromise', 'superseded', 'cessationOfOperation', 'affiliationChanged'];

function entries(n: number): CrlEntryInput[] {
  const out: CrlEntryInput[] = [];
  const base = Date.UTC(2026, 0, 1);
  const bytes = new Uint8Array(16);
  for (let i = 0; i < n; i++) {
    crypto.getRandomValues(bytes);
    bytes[0] = (bytes[0]! & 0x7f) | 0x40;
    const reason = REASONS[i % REASONS.length];
    out.push({
      serialNumber: Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(''),
      revocationDate: new Date(base + i * 1000),
      ...(reason && { reason }),
      ...(i % 10 === 0 && { invalidityDate: new Date(base + i * 1000 - 86_400_000) }),
    });
  }
  return out;
}

async function time<T>(fn: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const t = performance.now();
  const value = await fn();
  return { ms: performance.now() - t, value };
}

async function best<T>(runs: number, fn: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  let b: { ms: number; value: T } | undefined;
  for (let i = 0; i < runs; i++) {
    const r = await time(fn);
    if (!b || r.ms < b.ms) b = r;
  }
  return b!;
}

function row(name: string, value: string, note = ''): void {
  console.log(`  ${name.padEnd(58)} ${value.padStart(12)}${note ? `  ${note}` : ''}`);
}

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

// A full GC before each reading, so the delta is what the parsed CRL keeps, not garbage.
setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

function memNow(): number {
  gc();
  gc(); // a second pass frees the ArrayBuffers released by the first
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function openssl(args: string[], cwd: string): { ms: number; ok: boolean; out: string } {
  const t = performance.now();
  const r = spawnSync('openssl', args, { cwd, encoding: 'latin1', maxBuffer: 256 * 1024 * 1024 });
  return { ms: performance.now() - t, ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

export async function benchCrl(): Promise<void> {
  const hasOpenssl = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
  const list = entries(N);
  for (const keyType of ['rsa-2048', 'ec-p256'] as const) {
    const storage = new MemoryCaStorage();
    const ca = await LocalCA.create(storage, { keyType });
    const keyPem = fromUtf8((await storage.read(CA_FILES.issuingKey))!);
    const key = await importPrivateKey(keyPem);
    const signer = keySigner(key, defaultSignatureAlgorithm(key));
    const issuer = ca.issuingCertificate;
    const thisUpdate = new Date(Date.UTC(2026, 5, 1));
    const nextUpdate = new Date(thisUpdate.getTime() + 7 * 86_400_000);
    const at = new Date(thisUpdate.getTime() + 3600_000);

    console.log(`\n## CRL, ${N.toLocaleString('en')} entries, ${keyType} issuer`);
    const create = await best(3, () => createCrl({ issuer, signer, thisUpdate, nextUpdate, crlNumber: 1, entries: list }));
    const der = create.value;
    row('mailpki createCrl (sorted, reasons, 10% invalidityDate)', `${create.ms.toFixed(0)} ms`, `${mib(der.length)} DER`);

    // Parse + verify + index, one cold run for memory, then best of 5 for time.
    const before = memNow();
    const cold = await time(async () => {
      const crl = parseCrl(der);
      const v = await verifyCrl(crl, issuer, { at });
      if (!v.ok) throw new Error(`verify failed: ${JSON.stringify(v.problems)}`);
      return crl;
    });
    const kept = cold.value;
    const extra = memNow() - before;
    const warm = await best(5, async () => {
      const crl = parseCrl(der);
      await verifyCrl(crl, issuer, { at });
      return crl;
    });
    const parseOnly = await best(5, () => parseCrl(der));
    row('mailpki parseCrl + verifyCrl + index', `${warm.ms.toFixed(0)} ms`, `cold ${cold.ms.toFixed(0)} ms; retains ${mib(extra)} beyond the CRL bytes`);
    row('mailpki parseCrl + index only', `${parseOnly.ms.toFixed(0)} ms`);

    const probes = 1_000_000;
    const hits = list.map((e) => e.serialNumber);
    let found = 0;
    const look = await time(() => {
      for (let i = 0; i < probes; i++) {
        const s = i & 1 ? hits[(i * 7919) % N]! : `7${(i * 2654435761).toString(16)}`;
        if (kept.lookup(s)) found++;
      }
    });
    if (found < probes / 2) throw new Error(`lookup found ${found} of ${probes / 2} revoked serials`);
    row('mailpki lookup (half hits, half misses)', `${((look.ms * 1000) / probes).toFixed(2)} µs`, `${probes.toLocaleString('en')} lookups`);

    if (!hasOpenssl) {
      console.log('  (openssl not installed: OpenSSL lines skipped)');
      continue;
    }
    const dir = mkdtempSync(join(tmpdir(), 'mailpki-bench-crl-'));
    try {
      writeFileSync(join(dir, 'key.pem'), keyPem);
      writeFileSync(join(dir, 'cert.pem'), certificateToPem(issuer));
      writeFileSync(join(dir, 'chain.pem'), certificateToPem(issuer) + certificateToPem(ca.rootCertificate));
      writeFileSync(join(dir, 'ours.crl'), crlToPem(der));
      const ossReason: Record<string, string> = { keyCompromise: 'keyCompromise', superseded: 'superseded', cessationOfOperation: 'cessationOfOperation', affiliationChanged: 'affiliationChanged' };
      const lines = list.map((e, i) => {
        const rev = utc(e.revocationDate) + (e.reason ? `,${ossReason[e.reason]}` : '');
        return `R\t${utc(nextUpdate)}\t${rev}\t${e.serialNumber.toUpperCase()}\tunknown\t/CN=user${i}\n`;
      });
      writeFileSync(join(dir, 'index.txt'), lines.join(''));
      writeFileSync(join(dir, 'index.txt.attr'), 'unique_subject = no\n');
      writeFileSync(join(dir, 'crlnumber'), '01\n');
      writeFileSync(
        join(dir, 'ca.cnf'),
        ['[ ca ]', 'default_ca = d', '[ d ]', `database = ${join(dir, 'index.txt')}`, `crlnumber = ${join(dir, 'crlnumber')}`,
          'default_md = default', 'default_crl_days = 7', 'crl_extensions = crl_ext', 'unique_subject = no', '[ crl_ext ]', 'authorityKeyIdentifier = keyid:always', ''].join('\n'),
      );
      const gen = openssl(['ca', '-config', 'ca.cnf', '-gencrl', '-keyfile', 'key.pem', '-cert', 'cert.pem', '-out', 'openssl.crl', '-batch'], dir);
      if (!gen.ok) throw new Error(`openssl ca -gencrl failed: ${gen.out}`);
      row('openssl ca -gencrl', `${gen.ms.toFixed(0)} ms`, `${(create.ms / gen.ms).toFixed(2)}× time of OpenSSL (process start included)`);
      const parseOss = openssl(['crl', '-in', 'ours.crl', '-noout'], dir);
      row('openssl crl -noout (parse our CRL)', `${parseOss.ms.toFixed(0)} ms`, parseOss.ok ? '' : 'FAILED');
      const verOss = openssl(['crl', '-in', 'ours.crl', '-CAfile', 'chain.pem', '-noout'], dir);
      row('openssl crl -CAfile -noout (parse + verify our CRL)', `${verOss.ms.toFixed(0)} ms`, verOss.ok && /verify OK/.test(verOss.out) ? 'verify OK' : `FAILED: ${verOss.out.trim()}`);
      row('  mailpki parse + verify + index, for comparison', `${warm.ms.toFixed(0)} ms`, `${(warm.ms / verOss.ms).toFixed(2)}× time of OpenSSL`);
      const theirs = readFileSync(join(dir, 'openssl.crl'), 'latin1');
      const t = await best(5, async () => {
        const crl = parseCrl(theirs);
        const v = await verifyCrl(crl, issuer, { at: new Date() });
        if (!v.ok) throw new Error(`verify of OpenSSL's CRL failed: ${JSON.stringify(v.problems)}`);
        return crl;
      });
      const sample = list[12_345]!;
      const hit = t.value.lookup(sample.serialNumber);
      const ok = t.value.entryCount === N && hit?.revocationDate.getTime() === sample.revocationDate.getTime();
      row("mailpki parse + verify + index of OpenSSL's CRL (PEM)", `${t.ms.toFixed(0)} ms`, ok ? `${t.value.entryCount} entries, lookups agree` : 'MISMATCH');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

function utc(d: Date): string {
  return d.toISOString().replace(/^\d\d(\d\d)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d).*$/, '$1$2$3$4$5$6Z');
}

if (import.meta.url === `file://${process.argv[1]}`) await benchCrl();
