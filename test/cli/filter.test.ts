/** `mailpki filter` start-up checks and `mailpki evidence export`. */
import { readFileSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { formatFilterLogLine } from '../../src/cli/filter.js';
import { openSqliteEvidenceStore } from '../../src/node/sqlite-evidence.js';
import { certificate, record } from '../filter/evidence-contract.js';
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

/**
 * A store of `n` records (record(1)…record(n)), damaged by `damage` on a connection of its own, then
 * exported to a file: the export's result and the ids it wrote, in order.
 */
async function exportDamaged(name: string, n: number, damage: (raw: Database.Database) => void) {
  const db = tmp.path(`${name}.db`);
  const s = await openSqliteEvidenceStore(db);
  await Promise.all(Array.from({ length: n }, (_, i) => s.put(record(i + 1))));
  await s.close();
  const raw = new Database(db);
  damage(raw);
  raw.close();
  const out = tmp.path(`${name}.jsonl`);
  const r = await cli(['evidence', 'export', '--db', db, '--out', out]);
  const ids = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l).id as string);
  /** Every id but those given, in order: what the export must write. */
  const allBut = (...bad: string[]) => Array.from({ length: n }, (_, i) => record(i + 1).id).filter((id) => !bad.includes(id));
  return { db, r, ids, allBut };
}

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

  it('a damaged row is named on stderr and passed over; every other record is exported, across pages, and the exit status says not all were (was: the export stopped at the damaged row, ERR_STORE_CORRUPT, with the records after it never written)', async () => {
    // 1002 records: the 2nd, the 1000th (the last row of the first page: the cursor goes on from a damaged row) and the 1002nd (the last of all) damaged.
    const { db, r, ids, allBut } = await exportDamaged('damaged', 1002, (raw) => {
      const damage = raw.prepare('UPDATE filter_evidence SET record = ? WHERE id = ?');
      damage.run('{"not":', 'id-0002');
      damage.run(JSON.stringify({ ...record(1000), outcome: 'lost' }), 'id-1000');
      // Its time damaged too: the export still goes on past it.
      raw.prepare("UPDATE filter_evidence SET record = 'x', received_at = 'yesterday' WHERE id = 'id-1002'").run();
    });
    expect(r.code).toBe(2);
    expect(ids).toEqual(allBut('id-0002', 'id-1000', 'id-1002'));
    expect(r.stderr).toMatch(/filter_evidence id-0002: not JSON \(received 2026-01-01T00:02:00\.000Z\); not exported, the row is left in the store as it is/);
    expect(r.stderr).toMatch(/filter_evidence id-1000: not an evidence record/);
    expect(r.stderr).toMatch(/filter_evidence id-1002: not JSON \(received at an unreadable time\)/);
    expect(r.stderr).toMatch(/999 evidence record\(s\) exported\nmailpki: 3 evidence record\(s\) could not be read and were not exported \(named above\); the 999 others were \[ERR_STORE_CORRUPT\]\n$/);
    // Left as they were.
    const after = new Database(db, { readonly: true });
    expect(after.prepare("SELECT record FROM filter_evidence WHERE id = 'id-0002'").pluck().get()).toBe('{"not":');
    after.close();
  }, 60_000);

  it("a row whose record says another time than its received_at column is damaged: named, and the export goes on from the column's time (was: the cursor took the record's time, a later one, and the records between were skipped with exit status 0)", async () => {
    const { r, ids, allBut } = await exportDamaged('retimed', 1002, (raw) =>
      // The last row of the first page, its record changed to say a year later.
      raw.prepare('UPDATE filter_evidence SET record = ? WHERE id = ?').run(JSON.stringify(record(1000, { receivedAt: '2027-01-01T00:00:00.000Z' })), 'id-1000'),
    );
    expect(ids).toEqual(allBut('id-1000'));
    expect(r.stderr).toMatch(/filter_evidence id-1000: its record says received 2027-01-01T00:00:00\.000Z, its received_at column 2026-01-01T16:40:00\.000Z \(received 2026-01-01T16:40:00\.000Z\)/);
    expect(r.code).toBe(2);
  }, 60_000);

  it("a row whose record names another row's id is damaged: named, and the export goes on after the row itself (was: exported as that id, twice — the cursor went on after the row named)", async () => {
    const { r, ids, allBut } = await exportDamaged('renamed', 2001, (raw) =>
      // The last row of the second page says it is the last row of the first.
      raw.prepare('UPDATE filter_evidence SET record = ? WHERE id = ?').run(JSON.stringify(record(2000, { id: 'id-1000' })), 'id-2000'),
    );
    expect(ids).toEqual(allBut('id-2000'));
    expect(r.stderr).toMatch(/filter_evidence id-2000: its record says it is id-1000/);
    expect(r.code).toBe(2);
  }, 60_000);

  it.each([
    ['12345', 'an integer (was: an internal error, toString() radix, and nothing exported)'],
    ["'AAAA'", 'text (was: exported as the certificate, exit status 0)'],
    ["CAST(X'00' || substr(der, 2) AS BLOB)", 'bytes with another first byte (was: exported as the certificate, exit status 0)'],
  ])("a record naming a certificate whose row's der is damaged to %s is exported without it, the damage named, exit 2: %s", async (value) => {
    const db = tmp.path(`der-${Math.random()}.db`);
    const s = await openSqliteEvidenceStore(db);
    await s.put(record(1, { certificates: [certificate('a')] }));
    await s.put(record(2));
    await s.close();
    const raw = new Database(db);
    raw.prepare(`UPDATE filter_evidence_certificates SET der = ${value}`).run();
    raw.close();
    const r = await cli(['evidence', 'export', '--db', db]);
    // Not the damaged certificate: the record without it (one certificate row serves every record naming it).
    expect(r.stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual([record(1, { certificates: [] }), record(2)]);
    expect(r.stderr).toMatch(new RegExp(`filter_evidence id-0001: certificate ${certificate('a').sha256} is damaged.*; the record was exported without it`));
    expect(r.stderr).toContain('ERR_STORE_CORRUPT');
    expect(r.code).toBe(2);
  });
});
