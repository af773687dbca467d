/** The CLI's one input reader: stdin and files stop at the limit instead of being read whole first. */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/peers.js';
import { cli } from './helpers.js';

const t = tempDir('mailpki-cli-input-');
afterAll(() => t.cleanup());
const BIN = fileURLToPath(new URL('../../src/cli/bin.ts', import.meta.url));
const MiB = 1024 * 1024;

/** A child process that writes `mib` MiB of header-like bytes to stdout as fast as the reader takes them. */
const GENERATOR = `
const chunk = Buffer.alloc(1 << 20, 'X-Filler: ' + 'a'.repeat(60) + '\\r\\n');
let left = Number(process.argv[1]);
process.stdout.on('error', () => process.exit(0)); // EPIPE: the reader stopped, as it should
(function write() {
  while (left > 0) { left--; if (!process.stdout.write(chunk)) return process.stdout.once('drain', write); }
})();`;

describe('CLI input is read up to the limit, not whole (finding 6)', () => {
  it.runIf(existsSync('/usr/bin/time'))(
    '512 MiB piped into mailpki verify from a generator: ERR_INPUT_TOO_LARGE quickly, with bounded RSS (finding 6)',
    async () => {
      const trust = t.path('ca');
      expect((await cli(['ca', 'init', '--dir', trust])).code).toBe(0);
      // sh runs: generator | time -v mailpki verify; time's report goes to a file so stderr stays the CLI's.
      const report = t.path('time.txt');
      const script = `"$NODE" -e "$GEN" 512 | /usr/bin/time -v -o "$REPORT" "$NODE" --import tsx "$BIN" verify --trust "$TRUST"`;
      const started = Date.now();
      const r = spawnSync('sh', ['-c', script], {
        env: { ...process.env, NODE: process.execPath, GEN: GENERATOR, REPORT: report, BIN, TRUST: `${trust}/root.pem` },
        encoding: 'utf8',
        timeout: 120_000,
      });
      const seconds = (Date.now() - started) / 1000;
      const time = spawnSync('cat', [report], { encoding: 'utf8' }).stdout;
      const maxRssKiB = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(time)?.[1]);
      expect(r.stderr).toContain('[ERR_INPUT_TOO_LARGE]');
      expect(r.status).toBe(2);
      // The limit is 64 MiB; node + tsx is ~150 MiB. Reading all 512 MiB first peaked above 1.5 GB.
      expect(maxRssKiB * 1024).toBeLessThan(400 * MiB);
      expect(seconds).toBeLessThan(60);
    },
    150_000,
  );

  it('a file larger than the limit is refused before it is read (finding 6)', async () => {
    const big = t.path('big.eml');
    // Sparse: 65 MiB of size, nothing on disk; the size check refuses it without reading.
    writeFileSync(big, '');
    spawnSync('truncate', ['-s', `${65 * MiB}`, big]);
    const r = await cli(['verify', '--trust', big, '--in', big]);
    expect(r.stderr).toContain('[ERR_INPUT_TOO_LARGE]');
    expect(r.code).toBe(2);
  });

  it('stdin over the limit in-process: ERR_INPUT_TOO_LARGE, exit 2 (finding 6)', async () => {
    writeFileSync(t.path('anchor.pem'), '');
    const r = await cli(['verify', '--trust', t.path('anchor.pem')], {}, new Uint8Array(64 * MiB + 1));
    expect(r.stderr).toMatch(/standard input is larger than 67108864 bytes.*\[ERR_INPUT_TOO_LARGE\]/);
    expect(r.code).toBe(2);
  });

  it('repeated --trust files cannot add up: each certificate file is capped at 4 MiB (finding 6)', async () => {
    const big = t.path('bundle.pem');
    writeFileSync(big, '');
    spawnSync('truncate', ['-s', `${5 * MiB}`, big]);
    const r = await cli(['verify', ...Array.from({ length: 50 }, () => ['--trust', big]).flat()], {}, 'From: a@example.com\r\n\r\nx\r\n');
    expect(r.stderr).toMatch(/bundle\.pem is larger than 4194304 bytes.*\[ERR_INPUT_TOO_LARGE\]/);
    expect(r.code).toBe(2);
  });
});
