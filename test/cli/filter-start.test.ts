/**
 * Regression (atk13): `mailpki filter` / `mailpki evidence export` start-up checks:
 * 1. --trust naming a file with no certificate in it: the filter starts ("listening") and then answers 451 to
 *    every message (verifyMessage refuses the anchors per message), so Postfix defers all inbound mail for days.
 *    The issue: options are checked at start with coded errors naming the field.
 * 2. `evidence export --db` with a path that does not exist: creates a new, empty store file, prints
 *    "0 evidence record(s) exported" and exits 0 — an auditor with a typo is told there is no evidence.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../src/cli/bin.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mailpki-atk13-cli-'));
const run = (args: string[], timeout: number) => spawnSync(process.execPath, ['--import', 'tsx', BIN, ...args], { encoding: 'utf8', timeout });

describe('regression (atk13): mailpki filter --trust', () => {
  it.each([
    ['not PEM at all', 'these are not certificates\n'],
    ['a PEM block that is not a certificate', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'],
  ])('%s: refused at start with ERR_INVALID_INPUT naming --trust (today: starts and listens)', (_what, pem) => {
    const trust = join(dir, `trust-${Math.random()}.pem`);
    writeFileSync(trust, pem);
    const r = run(['filter', '--listen', '127.0.0.1:0', '--reinject', '127.0.0.1:10026', '--trust', trust], 60_000);
    // Observed today: killed by the timeout (status null), stdout "mailpki filter listening on 127.0.0.1:…".
    expect(r.stdout).not.toMatch(/listening/);
    expect(r.status).not.toBe(null);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/ERR_INVALID_INPUT/);
    expect(r.stderr).toMatch(/trust/);
  });
});

describe('mailpki filter --max-in-flight', () => {
  it('smaller than --max-size: refused at start with ERR_INVALID_INPUT naming maxInFlightBytes (it would defer the largest messages for ever)', () => {
    const trust = fileURLToPath(new URL('../vectors/cms-x25519/ca.pem', import.meta.url));
    const r = run(['filter', '--listen', '127.0.0.1:0', '--reinject', '127.0.0.1:10026', '--trust', trust, '--max-size', '2000000', '--max-in-flight', '1000000'], 60_000);
    expect(r.stdout).not.toMatch(/listening/);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/ERR_INVALID_INPUT/);
    expect(r.stderr).toMatch(/maxInFlightBytes/);
  });
});

describe('regression (atk13): mailpki evidence export --db', () => {
  it('a store file that does not exist is an error, and no file is created (today: creates it, exports 0, exit 0)', () => {
    const db = join(dir, 'typo.db');
    const r = run(['evidence', 'export', '--db', db], 60_000);
    expect(existsSync(db)).toBe(false);
    expect(r.status).not.toBe(0);
  });
});
