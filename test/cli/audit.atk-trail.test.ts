/**
 * `mailpki audit verify` against an insider with write access to the SQLite file (atk-trail): what it prints
 * must be true. An unkeyed chain cannot see a cut end or a log re-chained from some record on; verify prints
 * the head to keep elsewhere and checks it with --expect-head SEQ:HASH.
 */
import { copyFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/peers.js';
import { cli } from './helpers.js';
import { chainAudit, type AuditRecord } from '../../src/store/index.js';
import { openSqliteStore } from '../../src/node/sqlite-store.js';

const t = tempDir('mailpki-cli-audit-');
afterAll(() => t.cleanup());
const base = t.path('inv.db');
const env = { MAILPKI_PASSPHRASE: 'store passphrase', USER: 'eve' };
let n = 0;

/** A copy of the store with `sql` applied through a raw connection. */
function tamperedCopy(sql: string | ((db: Database.Database) => void)): string {
  const p = t.path(`copy${++n}.db`);
  copyFileSync(base, p);
  const db = new Database(p);
  if (typeof sql === 'string') db.exec(sql);
  else sql(db);
  db.close();
  return p;
}

const verify = (db: string, ...extra: string[]) => cli(['audit', 'verify', '--db', db, ...extra], env);
let head = '';

describe('mailpki audit verify', () => {
  beforeAll(async () => {
    expect((await cli(['init', '--domains', 'example.com', '--db', base], env)).code).toBe(0);
    expect((await cli(['enroll', '--email', 'me@example.com', '--owner', 'eve', '--db', base], env)).code).toBe(0);
    expect((await cli(['enroll', '--email', 'boss@example.com', '--owner', 'exec', '--db', base], env)).code).toBe(0);
    expect((await cli(['revoke', 'boss@example.com', '--reason', 'keyCompromise', '--db', base], env)).code).toBe(0);
    const s = await openSqliteStore(base, { create: false });
    const last = (await s.listAudit()).at(-1)!;
    await s.close();
    head = `${last.seq}:${last.hash}`;
  });

  it('prints the head to keep elsewhere and says what it cannot see without it', async () => {
    const r = await verify(base);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `Audit log intact: 5 hash-chained records; head ${head}\n` +
        `Without a head kept outside this store, records cut from the end or a log re-chained from some record on also read intact: keep the head elsewhere and check with --expect-head ${head}\n` +
        'Inventory: 2 identities, each owned by the team its last audit record names\n',
    );
    expect(JSON.parse((await verify(base, '--json')).stdout)).toEqual({ ok: true, checked: 5, head: { seq: 5, hash: head.slice(2) }, inventory: { checked: 2, mismatches: [] } });
    const withHead = await verify(base, '--expect-head', head);
    expect(withHead.code).toBe(0);
    expect(withHead.stdout).toBe(`Audit log intact: 5 hash-chained records; head ${head}; record 5 has the expected hash\nInventory: 2 identities, each owned by the team its last audit record names\n`);
  });

  it('the revoke record deleted from the end: intact without a head (said so), BROKEN with it', async () => {
    const cut = tamperedCopy('DELETE FROM audit WHERE seq = 5');
    expect((await verify(cut)).stdout).toMatch(/^Audit log intact: 4 hash-chained records; head 4:[0-9a-f]{64}\nWithout a head kept outside/);
    const r = await verify(cut, '--expect-head', head);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('Audit log BROKEN at record 5 (removed)\nInventory not compared with a broken audit log\n');
    const all = await verify(tamperedCopy('DELETE FROM audit'), '--expect-head', head);
    expect(all.code).toBe(1);
    expect(all.stdout).toBe('Audit log BROKEN at record 1 (removed)\nInventory not compared with a broken audit log\n');
    expect((await verify(tamperedCopy('DELETE FROM audit'))).stdout).toMatch(/^Audit log intact: 0 hash-chained records; no head \(empty\)\n/);
  });

  it('the actor of record 1 changed and the chain recomputed from it: BROKEN at the kept head', async () => {
    const rechained = tamperedCopy((db) => {
      const rows = db.prepare('SELECT * FROM audit ORDER BY seq').all() as Record<string, unknown>[];
      let prev: AuditRecord | undefined;
      for (const row of rows) {
        const rec = chainAudit(
          {
            id: row.id as string,
            at: new Date(row.at as number),
            actor: row.seq === 1 ? 'someone-else' : (row.actor as string),
            action: row.action as string,
            ...(row.identity_id != null && { identityId: row.identity_id as string }),
            ...(row.reason != null && { reason: row.reason as string }),
            ...(row.before_json != null && { before: JSON.parse(row.before_json as string) }),
            ...(row.after_json != null && { after: JSON.parse(row.after_json as string) }),
          },
          prev,
        );
        db.prepare('UPDATE audit SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?').run(rec.actor, rec.prevHash, rec.hash, rec.seq);
        prev = rec;
      }
    });
    expect((await verify(rechained)).code).toBe(0);
    const r = await verify(rechained, '--expect-head', head);
    expect([r.code, r.stdout]).toEqual([1, 'Audit log BROKEN at record 5 (changed)\nInventory not compared with a broken audit log\n']);
    expect(JSON.parse((await verify(rechained, '--expect-head', head, '--json')).stdout)).toEqual({ ok: false, checked: 5, firstBadSeq: 5, problem: 'changed' });
  });

  it("eve makes herself the owner of the CEO's mailbox in the identities table, with no audit record: exit 1, named", async () => {
    const edited = tamperedCopy("UPDATE identities SET owner_team = 'eve' || char(10) || 'ok' WHERE id = 'smime:boss@example.com'");
    const r = await verify(edited);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^Audit log intact: 5 hash-chained records; /);
    // Quoted: the line break she put in the name does not start a line of its own.
    expect(r.stdout).toContain('Inventory DIFFERS from the audit log: "smime:boss@example.com" is owned by "eve\\nok", the audit log says "exec" (record 5)\n');
    expect(JSON.parse((await verify(edited, '--json')).stdout).inventory).toEqual({ checked: 2, mismatches: [{ identityId: 'smime:boss@example.com', owner: 'eve\nok', audited: 'exec', seq: 5 }] });
  });

  it('a row edited into what no writer writes: BROKEN at it (exit 1), not an error (exit 2)', async () => {
    const r = await verify(tamperedCopy("UPDATE audit SET actor = '' WHERE seq = 3"));
    expect([r.code, r.stdout, r.stderr]).toEqual([1, 'Audit log BROKEN at record 3 (changed)\nInventory not compared with a broken audit log\n', '']);
  });

  it('a head that is no SEQ:HASH is a usage error (exit 2), not a verdict', async () => {
    for (const bad of ['5', `0:${'a'.repeat(64)}`, `x:${'a'.repeat(64)}`, `5:${'a'.repeat(63)}`, `5:${'g'.repeat(64)}`, `99999999999999999:${'a'.repeat(64)}`]) {
      const r = await verify(base, '--expect-head', bad);
      expect(r.code, bad).toBe(2);
      expect(r.stderr).toContain('--expect-head');
    }
    // The hash is hex in either case.
    expect((await verify(base, '--expect-head', head.toUpperCase())).code).toBe(0);
  });
});
