/** `mailpki filter` start-up checks and `mailpki evidence export`. */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { formatFilterLogLine } from '../../src/cli/filter.js';
import { openSqliteEvidenceStore } from '../../src/node/sqlite-evidence.js';
import { record } from '../filter/evidence-contract.js';
import { tempDir } from '../helpers/peers.js';
import { cli } from './helpers.js';

const tmp = tempDir('mailpki-cli-filter-');
afterAll(() => tmp.cleanup());
const trust = tmp.path('root.pem');
writeFileSync(trust, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');

it("the log line of a retry shows the retry's time, not the first attempt's (it printed receivedAt, the first attempt's)", () => {
  const first = record(1);
  expect(formatFilterLogLine(first)).toBe(`${first.receivedAt} id-0001 <m1@example.com> smime=pass dkim=pass delivered ap@example.com:accept\n`);
  const retry = record(1, { attempts: 2, lastAttemptAt: '2026-01-01T06:00:00.000Z', outcome: 'deferred' });
  expect(formatFilterLogLine(retry)).toMatch(/^2026-01-01T06:00:00\.000Z id-0001 .* deferred ap@example\.com:accept\n$/);
});

describe('mailpki filter: the policy file is checked at start', () => {
  it.each([
    ['{"version":1,"rules":[{"recipients":["ap@example.com"],"require":{"smime":true},"otherwise":"drop"}]}', /filter policy: rules\.0\.otherwise: /],
    ['{"version":1,"rules":[{"recipients":["ap@example.com"],"require":{"smime":true},"otherwise":"quarantine"}]}', /filter policy: quarantine: a rule quarantines: say where/],
    ['{"version":1,', /--policy .*: not JSON/],
  ])('%s → ERR_INVALID_INPUT naming the field, nothing started', async (json, message) => {
    const policy = tmp.path(`policy-${Math.random()}.json`);
    writeFileSync(policy, json);
    const r = await cli(['filter', '--listen', '127.0.0.1:0', '--reinject', '127.0.0.1:10026', '--trust', trust, '--policy', policy]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain('ERR_INVALID_INPUT');
  });

  it('a malformed --reinject is a usage error', async () => {
    const r = await cli(['filter', '--reinject', 'localhost', '--trust', trust]);
    expect(r.stderr).toMatch(/--reinject must be HOST:PORT/);
  });
});

describe('mailpki evidence export', () => {
  it('writes one JSON record per line, oldest first, filtered by date and message-id', async () => {
    const db = tmp.path('store.db');
    const s = await openSqliteEvidenceStore(db);
    for (const n of [3, 1, 2]) await s.put(record(n));
    await s.close();
    const all = await cli(['evidence', 'export', '--db', db]);
    expect(all.code).toBe(0);
    expect(all.stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual([record(1), record(2), record(3)]);
    expect(all.stderr).toBe('3 evidence record(s) exported\n');
    const one = await cli(['evidence', 'export', '--db', db, '--message-id', '<m2@example.com>']);
    expect(one.stdout.trim().split('\n').map((l) => JSON.parse(l).id)).toEqual(['id-0002']);
    const out = tmp.path('export.jsonl');
    const since = await cli(['evidence', 'export', '--db', db, '--since', record(2).receivedAt, '--out', out]);
    expect(since.code).toBe(0);
    expect(readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l).id)).toEqual(['id-0002', 'id-0003']);
    expect((await cli(['evidence', 'export', '--db', db, '--since', 'yesterday'])).stderr).toMatch(/--since must be an ISO 8601 date/);
  });
});
