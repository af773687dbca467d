import { describe, expect, it } from 'vitest';
import { DkimManager, checkInventoryOwners, exportAuditLog, verifyAuditLog } from '../../src/lifecycle/index.js';
import { chainAudit, type AuditRecord, type Store } from '../../src/store/index.js';
import { at, harness, keyProtector } from './helpers.js';

/** The same store, but its audit log read back through `edit`: what an attacker with database access could do. */
function tampered(store: Store, edit: (records: AuditRecord[]) => AuditRecord[]): Pick<Store, 'listAudit'> {
  return { listAudit: async (f) => edit(await store.listAudit(f)) };
}

async function populated() {
  const h = await harness();
  await h.manager.enroll({ mailbox: 'p@example.com', owner: { team: 'treasury' } }, { actor: 'alice' });
  await h.manager.renew('p@example.com', { actor: 'bob', reason: 'rotation' });
  await h.manager.revoke('p@example.com', { actor: 'carol', reason: 'keyCompromise' });
  return h;
}

describe('audit evidence', () => {
  it('every operation is recorded: who, what, when, why, before/after; the chain verifies', async () => {
    const h = await populated();
    const records = await h.store.listAudit();
    expect(records.map((r) => [r.seq, r.actor, r.action, r.reason])).toEqual([
      [1, 'alice', 'identity.created', expect.stringMatching(/^enroll: new key /)],
      [2, 'alice', 'identity.enrolled', 'enrollment'],
      [3, 'bob', 'issuance.started', expect.stringMatching(/^renew: new key /)],
      [4, 'bob', 'certificate.renewed', 'rotation'],
      [5, 'carol', 'certificate.revoked', 'keyCompromise'],
    ]);
    expect(records[4]!.before).toMatchObject({ status: 'active' });
    expect(records[4]!.after).toMatchObject({ status: 'revoked', credential: { status: 'revoked', revocationReason: 'keyCompromise' } });
    expect(await verifyAuditLog(h.store)).toEqual({ ok: true, checked: 5 });
    const last = records.at(-1)!;
    expect(await verifyAuditLog(h.store, { head: { seq: last.seq, hash: last.hash } })).toEqual({ ok: true, checked: 5 });
  });

  it('detects a changed, a removed and a reordered record, and a log cut short (with a kept head)', async () => {
    const h = await populated();
    const changed = tampered(h.store, (rs) => rs.map((r) => (r.seq === 2 ? { ...r, actor: 'mallory' } : r)));
    expect(await verifyAuditLog(changed)).toEqual({ ok: false, checked: 1, firstBadSeq: 2, problem: 'changed' });
    const removed = tampered(h.store, (rs) => rs.filter((r) => r.seq !== 3));
    expect(await verifyAuditLog(removed)).toMatchObject({ ok: false, firstBadSeq: 3, problem: 'removed' });
    const reordered = tampered(h.store, (rs) => [rs[0]!, rs[2]!, rs[1]!, ...rs.slice(3)]);
    expect(await verifyAuditLog(reordered)).toMatchObject({ ok: false, problem: 'reordered' });
    const records = await h.store.listAudit();
    const head = { seq: records.at(-1)!.seq, hash: records.at(-1)!.hash };
    const cut = tampered(h.store, (rs) => rs.slice(0, -1));
    expect(await verifyAuditLog(cut)).toEqual({ ok: true, checked: 4 }); // an unkeyed chain alone cannot see a cut end
    expect(await verifyAuditLog(cut, { head })).toMatchObject({ ok: false, problem: 'removed', firstBadSeq: 5 });
  });

  it('a kept head catches a log rewritten from some record on and re-hashed (same length, or longer): verifyAuditLog never compared the head hash', async () => {
    const h = await populated();
    const records = await h.store.listAudit();
    const head = { seq: records.at(-1)!.seq, hash: records.at(-1)!.hash };
    // The insider's edit: seq 3 now names mallory, and every record from it on is chained again.
    const rewrite = (rs: AuditRecord[], extra = 0): AuditRecord[] => {
      const out = rs.slice(0, 2);
      for (const r of rs.slice(2)) {
        const { seq: _s, prevHash: _p, hash: _h, ...body } = r;
        out.push(chainAudit(r.seq === 3 ? { ...body, actor: 'mallory' } : body, out.at(-1)));
      }
      for (let i = 0; i < extra; i++) out.push(chainAudit({ id: `x${i}`, at: new Date(), actor: 'mallory', action: 'notice.sent' }, out.at(-1)));
      return out;
    };
    const sameLength = tampered(h.store, (rs) => (rs.length && rs[0]!.seq === 1 ? rewrite(rs) : []));
    expect(await verifyAuditLog(sameLength)).toEqual({ ok: true, checked: 5 }); // consistent: an unkeyed chain cannot tell
    expect(await verifyAuditLog(sameLength, { head })).toEqual({ ok: false, checked: 5, firstBadSeq: 5, problem: 'changed' });
    const longer = tampered(h.store, (rs) => (rs.length && rs[0]!.seq === 1 ? rewrite(rs, 2) : []));
    expect(await verifyAuditLog(longer, { head })).toEqual({ ok: false, checked: 7, firstBadSeq: 5, problem: 'changed' });
    // A head from before the log grew still verifies.
    const earlier = { seq: records[2]!.seq, hash: records[2]!.hash };
    expect(await verifyAuditLog(h.store, { head: earlier })).toEqual({ ok: true, checked: 5 });
    expect(await verifyAuditLog(sameLength, { head: earlier })).toMatchObject({ ok: false, firstBadSeq: 3, problem: 'changed' });
  });

  it('a head that is no (seq, hash) is a caller mistake (ERR_INVALID_INPUT), not a verdict', async () => {
    const h = await populated();
    for (const head of [{ seq: 0, hash: 'a'.repeat(64) }, { seq: 1.5, hash: 'a'.repeat(64) }, { seq: 1, hash: 'A'.repeat(64) }, { seq: 1, hash: 'abc' }])
      await expect(verifyAuditLog(h.store, { head })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
  });

  it('exports JSON Lines, one record per line, in seq order', async () => {
    const h = await populated();
    const jsonl = await exportAuditLog(h.store);
    const lines = jsonl.trimEnd().split('\n');
    expect(lines).toHaveLength(5);
    const parsed = lines.map((l) => JSON.parse(l) as { seq: number; hash: string; actor: string });
    expect(parsed.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(parsed[0]!.actor).toBe('alice');
    expect(await exportAuditLog(h.store, { fromSeq: 4 })).toBe(lines.slice(3).join('\n') + '\n');
  });
});

describe('audit verify over a damaged SQLite row (atk-trail)', () => {
  // A row edited into something no writer writes (empty actor, JSON that does not parse, an upper-case hash, a
  // date as text) made verifyAuditLog throw ERR_STORE_CORRUPT, naming no record: `audit verify` exited 2
  // ("bad input") instead of saying the log is broken and where.
  it.each([
    ['an empty actor', "UPDATE audit SET actor = '' WHERE seq = 3", 'changed', 3],
    ['before that is not JSON', "UPDATE audit SET before_json = '{' WHERE seq = 3", 'changed', 3],
    ['an upper-case hash', 'UPDATE audit SET hash = upper(hash) WHERE seq = 3', 'changed', 3],
    ['a date as text', "UPDATE audit SET at = 'yesterday' WHERE seq = 3", 'changed', 3],
    ['a blob actor', "UPDATE audit SET actor = x'414243' WHERE seq = 3", 'changed', 3],
    ['a seq between two others', 'UPDATE audit SET seq = 2.5 WHERE seq = 3', 'removed', 3],
    ['the last seq beyond 2^53', 'UPDATE audit SET seq = 9007199254740993 WHERE seq = 5', 'changed', 5],
  ])('%s: BROKEN at the record, the records before it checked', async (_what, sql, problem, firstBadSeq) => {
    const [{ mkdtempSync }, { tmpdir }, { join }, { openSqliteStore }, { default: Database }] = await Promise.all([
      import('node:fs'),
      import('node:os'),
      import('node:path'),
      import('../../src/node/sqlite-store.js'),
      import('better-sqlite3'),
    ]);
    const path = join(mkdtempSync(join(tmpdir(), 'mailpki-audit-')), 'a.db');
    const store = await openSqliteStore(path);
    for (let i = 1; i <= 5; i++) await store.transaction((tx) => tx.appendAudit({ id: `a${i}`, at: new Date(Date.UTC(2030, 0, i)), actor: 'alice', action: 'renew', before: { n: i } }));
    await store.close();
    const db = new Database(path);
    db.exec(sql);
    db.close();
    const reopened = await openSqliteStore(path, { create: false });
    try {
      expect(await verifyAuditLog(reopened)).toEqual({ ok: false, checked: firstBadSeq - 1, firstBadSeq, problem });
    } finally {
      await reopened.close();
    }
  });
});

describe('checkInventoryOwners (atk-trail)', () => {
  async function sqliteHarness() {
    const [{ mkdtempSync }, { tmpdir }, { join }, { openSqliteStore }] = await Promise.all([import('node:fs'), import('node:os'), import('node:path'), import('../../src/node/sqlite-store.js')]);
    const path = join(mkdtempSync(join(tmpdir(), 'mailpki-owners-')), 'o.db');
    const h = await harness({ policy: { allowedDomainsByOwner: { treasury: ['example.com'], hr: ['example.com'], exec: ['example.com'] } } }, await openSqliteStore(path));
    return { h, path };
  }

  it('every way the library changes an identity keeps its owner and its last audit record agreeing', async () => {
    const { h } = await sqliteHarness();
    await h.manager.enroll({ mailbox: 'p@example.com', owner: { team: 'treasury' } }, { actor: 'alice' });
    await h.manager.enroll({ mailbox: 'q@example.com', owner: { team: 'hr', contact: 'hr@example.com' } }, { actor: 'alice' });
    await h.manager.renew('p@example.com', { actor: 'bob' });
    await h.manager.suspend('q@example.com', { actor: 'bob' });
    await h.manager.reinstate('q@example.com', { actor: 'bob' });
    await h.manager.revoke('q@example.com', { actor: 'bob', reason: 'keyCompromise' });
    await h.manager.decommission('p@example.com', { actor: 'carol', reason: 'moved' });
    await expect(h.manager.enroll({ mailbox: 'p@example.com', owner: { team: 'nobody' } }, { actor: 'eve' })).rejects.toMatchObject({ code: 'ERR_POLICY_DENIED' });
    await h.manager.enroll({ mailbox: 'p@example.com', owner: { team: 'exec' } }, { actor: 'dave' }); // a new life, another team
    const dkim = new DkimManager({ store: h.store, keyProtector: keyProtector(), resolver: async () => [], clock: h.clock });
    await dkim.create({ domain: 'example.com', owner: { team: 'mail' }, algorithm: ['ed25519'] }, { actor: 'alice' });
    h.clock.set(at(400));
    await h.manager.runDue(h.clock(), { actor: 'sweep' });
    expect(await checkInventoryOwners(h.store)).toEqual({ checked: 3, mismatches: [] });
  });

  it("an owner changed in the identities table, or an identity row inserted, with no audit record: named, with what the log says", async () => {
    const { h, path } = await sqliteHarness();
    await h.manager.enroll({ mailbox: 'p@example.com', owner: { team: 'treasury' } }, { actor: 'alice' });
    await h.manager.enroll({ mailbox: 'q@example.com', owner: { team: 'hr' } }, { actor: 'alice' });
    const dkim = new DkimManager({ store: h.store, keyProtector: keyProtector(), resolver: async () => [], clock: h.clock });
    await dkim.create({ domain: 'example.com', owner: { team: 'mail' }, algorithm: ['ed25519'] }, { actor: 'alice' });
    const lastOfP = (await h.store.listAudit()).filter((r) => r.identityId === 'smime:p@example.com').at(-1)!; // identity.enrolled
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(path);
    db.exec("UPDATE identities SET owner_team = 'mallory' WHERE id IN ('smime:p@example.com', 'dkim:example.com')");
    db.exec("CREATE TEMP TABLE z AS SELECT * FROM identities WHERE id = 'smime:q@example.com'");
    db.exec("UPDATE z SET id = 'smime:z@example.com', name = 'z@example.com', owner_team = 'mallory', current_credential_id = NULL, encryption_credential_id = NULL");
    db.exec('INSERT INTO identities SELECT * FROM z');
    db.close();
    const r = await checkInventoryOwners(h.store);
    expect(r).toEqual({
      checked: 4,
      mismatches: [
        { identityId: 'dkim:example.com', owner: 'mallory', audited: 'mail', seq: expect.any(Number) },
        { identityId: 'smime:p@example.com', owner: 'mallory', audited: 'treasury', seq: lastOfP.seq },
        { identityId: 'smime:z@example.com', owner: 'mallory' },
      ],
    });
  });
});
