/** Regressions from the attack on the evidence an auditor relies on (h/atk-audit): `mailpki evidence export` as the auditor's tools read it. */
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { expect, it } from 'vitest';
import { openSqliteEvidenceStore } from '../../src/node/sqlite-evidence.js';
import { describeWithPeers, runStatus, tempDir } from '../helpers/peers.js';
import { certificate, record } from '../filter/evidence-contract.js';
import { cli } from './helpers.js';

describeWithPeers('evidence export read line by line', ['python3'], () => {
  it('a record holding a sender\'s U+2028, U+2029 or NEL (a Message-ID, a certificate subject) is still one line for a reader that splits on Unicode line breaks, as Python\'s splitlines() does (was: the record split in three, none of them JSON)', async () => {
    const t = tempDir('mailpki-export-lines-');
    try {
      const db = t.path('store.db');
      const store = await openSqliteEvidenceStore(db);
      const hostile = record(1, { messageId: '<a\u2028b\u2029c\u0085d@evil.example>' });
      await store.put(hostile);
      await store.put(record(2));
      await store.close();
      const r = await cli(['evidence', 'export', '--db', db, '--out', t.path('evidence.jsonl')]);
      expect(r.code).toBe(0);
      const out = readFileSync(t.path('evidence.jsonl'));
      // The auditor's script: one record per line.
      const py = runStatus('python3', ['-c', 'import sys, json\nfor line in sys.stdin.buffer.read().decode("utf-8").splitlines(): print(json.loads(line)["messageId"].encode("unicode_escape").decode())'], { input: out });
      expect(py.stderr).toBe('');
      expect(py.stdout.trim().split('\n')).toEqual(['<a\\u2028b\\u2029c\\x85d@evil.example>', '<m2@example.com>']);
      // And JSON.parse still gives the record as kept.
      expect(JSON.parse(out.toString('utf8').split('\n')[0]!)).toEqual(hostile);
    } finally {
      t.cleanup();
    }
  });
});

it('a row damaged into a record nested too deep to write out as JSON is named and passed over, the others exported (was: a RangeError ended the export at it, exit 1, the records after it never written)', async () => {
  const t = tempDir('mailpki-export-deep-');
  try {
    const db = t.path('store.db');
    const store = await openSqliteEvidenceStore(db);
    for (let n = 1; n <= 3; n++) await store.put(record(n));
    await store.close();
    // Another hand (or the disk) makes record 2's verdict 100 000 levels deep: it parses, but cannot be written out again.
    const raw = new Database(db);
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const row = raw.prepare('SELECT record FROM filter_evidence WHERE id = ?').pluck().get(record(2).id) as string;
    raw.prepare('UPDATE filter_evidence SET record = ? WHERE id = ?').run(row.replace('"verdict":{', `"verdict":{"x":${deep},`), record(2).id);
    raw.close();
    const r = await cli(['evidence', 'export', '--db', db]);
    const ids = r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { id: string }).id);
    expect(ids).toEqual([record(1).id, record(3).id]);
    expect(r.stderr).toContain(`filter_evidence ${record(2).id}`);
    expect(r.code).toBe(2);
  } finally {
    t.cleanup();
  }
});

it('evidence export --since before the oldest record kept says where the store\'s records begin (was: "0 evidence record(s) exported" and exit 0, read as "nothing happened then" where retention had pruned it)', async () => {
  const t = tempDir('mailpki-export-retention-');
  try {
    const db = t.path('store.db');
    const store = await openSqliteEvidenceStore(db);
    for (let n = 1; n <= 5; n++) await store.put(record(n));
    // Retention: records 1 and 2 pruned.
    expect(await store.prune(new Date(record(3).receivedAt))).toBe(2);
    await store.close();
    const before = await cli(['evidence', 'export', '--db', db, '--since', '2025-12-01', '--until', record(3).receivedAt]);
    expect(before.code).toBe(0);
    expect(before.stdout).toBe('');
    expect(before.stderr).toContain('0 evidence record(s) exported');
    expect(before.stderr).toContain(`the store held no record received before ${record(3).receivedAt}`);
    // From within what is kept: nothing to say.
    const within = await cli(['evidence', 'export', '--db', db, '--since', record(3).receivedAt]);
    expect(within.stdout.split('\n').filter(Boolean)).toHaveLength(3);
    expect(within.stderr).toBe('3 evidence record(s) exported\n');
    // An empty store says so too.
    const empty = await openSqliteEvidenceStore(t.path('empty.db'));
    await empty.close();
    expect((await cli(['evidence', 'export', '--db', t.path('empty.db'), '--since', '2026-01-01'])).stderr).toContain('held no record received before now (it was empty)');
  } finally {
    t.cleanup();
  }
});

it('one damaged certificate row (kept once for every record naming it: the issuing CA\'s) no longer keeps every record naming it out of the export: each is exported without that certificate, the damage named, exit 2 (was: all of them passed over — their verdicts, OCSP responses and outcomes intact — for one shared row)', async () => {
  const t = tempDir('mailpki-export-shared-cert-');
  try {
    const db = t.path('store.db');
    const store = await openSqliteEvidenceStore(db);
    const [a, b, ca] = [certificate('a'), certificate('b'), certificate('ca')];
    await store.put(record(1, { certificates: [a, ca] }));
    await store.put(record(2, { certificates: [b, ca] }));
    await store.put(record(3));
    await store.close();
    const raw = new Database(db);
    raw.prepare("UPDATE filter_evidence_certificates SET der = CAST(X'00' || substr(der, 2) AS BLOB) WHERE sha256 = ?").run(ca.sha256);
    raw.close();
    const r = await cli(['evidence', 'export', '--db', db, '--out', t.path('out.jsonl')]);
    const lines = readFileSync(t.path('out.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: string; certificates?: unknown[] });
    expect(lines.map((l) => [l.id, l.certificates])).toEqual([
      ['id-0001', [a]],
      ['id-0002', [b]],
      ['id-0003', undefined],
    ]);
    expect(r.stderr).toContain(`filter_evidence id-0001: certificate ${ca.sha256} is damaged`);
    expect(r.stderr).toContain(`filter_evidence id-0002: certificate ${ca.sha256} is damaged`);
    expect(r.stderr).toMatch(/exported without it/);
    expect(r.code).toBe(2);
  } finally {
    t.cleanup();
  }
});
