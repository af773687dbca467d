import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { MAILPKI_APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION } from '../../src/node/sqlite-schema.js';
import { listIdentitiesSql, openSqliteStore, type SqliteStore } from '../../src/node/sqlite-store.js';
import { passphraseKeyProtector, verifyAuditChain } from '../../src/store/index.js';
import { runStoreContract } from './contract.js';
import { T0, at, identity, seedIdentities } from './seed.js';

const dir = mkdtempSync(join(tmpdir(), 'mailpki-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const tempPath = () => join(dir, `s${++n}.db`);
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

/** A store file as an older mailpki left it: the migrations up to `version` only. */
function migrateTo(db: Database.Database, version: number): void {
  db.pragma(`application_id = ${MAILPKI_APPLICATION_ID}`);
  for (const m of MIGRATIONS.filter((x) => x.version <= version)) {
    db.exec(m.sql);
    db.pragma(`user_version = ${m.version}`);
  }
}

/** A second, raw connection: what someone with write access to the file could do. */
function raw<T>(path: string, fn: (db: Database.Database) => T): T {
  const db = new Database(path);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

runStoreContract('SqliteStore', async () => {
  const path = tempPath();
  const store = await openSqliteStore(path);
  return {
    store,
    another: () => openSqliteStore(path),
    tamper: {
      async setAuditReason(seq, reason) {
        raw(path, (db) => db.prepare('UPDATE audit SET reason = ? WHERE seq = ?').run(reason, seq));
      },
      async deleteAudit(seq) {
        raw(path, (db) => db.prepare('DELETE FROM audit WHERE seq = ?').run(seq));
      },
      async swapAuditSeq(a, b) {
        raw(path, (db) =>
          db.transaction(() => {
            db.prepare('UPDATE audit SET seq = -1 WHERE seq = ?').run(a);
            db.prepare('UPDATE audit SET seq = ? WHERE seq = ?').run(a, b);
            db.prepare('UPDATE audit SET seq = ? WHERE seq = -1').run(b);
          })(),
        );
      },
    },
  };
});

const code = (p: Promise<unknown>) => p.then(() => 'resolved', (e: { code?: string }) => e.code ?? String(e));

describe('SqliteStore: the file', () => {
  it('persists across reopen', async () => {
    const path = tempPath();
    const s1 = await openSqliteStore(path);
    await s1.transaction(async (t) => {
      await t.insertIdentity(identity('keep@example.com', { nextDueAt: at(3) }));
      await t.appendAudit({ id: 'a1', at: T0, actor: 'test', action: 'enroll' });
      await t.enqueueEvent({ id: 'e1', type: 'identity.enrolled', payload: { x: 1 }, createdAt: T0 });
    });
    await s1.close();
    const s2 = await openSqliteStore(path, { create: false });
    expect((await s2.transaction((t) => t.getIdentity('smime:keep@example.com')))?.nextDueAt).toEqual(at(3));
    expect(verifyAuditChain(await s2.listAudit())).toEqual({ ok: true, checked: 1 });
    expect((await s2.listEvents({})).map((e) => e.id)).toEqual(['e1']);
    await s2.close();
  });

  it('creates the schema from nothing, from an empty file and from an empty SQLite database', async () => {
    const fresh = tempPath();
    const empty = tempPath();
    writeFileSync(empty, '');
    const emptyDb = tempPath();
    raw(emptyDb, (db) => db.pragma('user_version'));
    for (const path of [fresh, empty, emptyDb]) {
      const s = await openSqliteStore(path);
      expect(s.schemaVersion).toBe(SCHEMA_VERSION);
      await s.close();
      raw(path, (db) => {
        expect(db.pragma('application_id', { simple: true })).toBe(MAILPKI_APPLICATION_ID);
        expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
        expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
        const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
        expect(tables).toEqual(['audit', 'credentials', 'decryption_keys', 'filter_evidence', 'filter_evidence_certificate_refs', 'filter_evidence_certificates', 'identities', 'identity_claims', 'notices', 'outbox', 'pending_issuances', 'private_keys']);
      });
    }
  });

  it('migration 3 backfills: S/MIME identities use both, DKIM none; stored S/MIME certificate keys enter the decryption-key history (notAfter + 2555 days)', async () => {
    const path = tempPath();
    raw(path, (db) => {
      migrateTo(db, 2);
      const t = T0.getTime();
      const ins = db.prepare(
        "INSERT INTO identities (id, kind, name, domain, owner_team, tags, key_type, status, version, created_at, updated_at) VALUES (?, ?, ?, 'example.com', 'treasury', '[]', 'ec-p256', 'active', 1, ?, ?)",
      );
      ins.run('smime:old@example.com', 'smime', 'old@example.com', t, t);
      ins.run('dkim:example.com', 'dkim', 'example.com', t, t);
      const cred = db.prepare("INSERT INTO credentials (id, identity_id, kind, fingerprint, key_id, not_before, not_after, status, created_at) VALUES (?, ?, ?, 'f', ?, ?, ?, 'current', ?)");
      cred.run('c-kept', 'smime:old@example.com', 'certificate', 'k-kept', t, at(365).getTime(), t);
      cred.run('c-gone', 'smime:old@example.com', 'certificate', 'k-gone', t, at(10).getTime(), t);
      cred.run('c-dkim', 'dkim:example.com', 'dkim-key', 'k-dkim', t, at(365).getTime(), t);
      const key = db.prepare("INSERT INTO private_keys (id, identity_id, algorithm, protected_key, created_at) VALUES (?, ?, 'ec-p256', '{}', ?)");
      key.run('k-kept', 'smime:old@example.com', t);
      key.run('k-dkim', 'dkim:example.com', t);
    });
    const s = await openSqliteStore(path, { create: false });
    expect(s.schemaVersion).toBe(SCHEMA_VERSION);
    expect((await s.transaction((t) => t.getIdentity('smime:old@example.com')))!.use).toBe('both');
    expect((await s.transaction((t) => t.getIdentity('dkim:example.com')))!.use).toBeUndefined();
    expect(await s.transaction((t) => t.listDecryptionKeys('smime:old@example.com'))).toStrictEqual([
      { credentialId: 'c-kept', identityId: 'smime:old@example.com', keyId: 'k-kept', retainUntil: at(365 + 2555), createdAt: T0, ownerTeam: 'treasury' }, // owner: migration 7
    ]);
    expect(await s.transaction((t) => t.listDecryptionKeys('dkim:example.com'))).toEqual([]);
    await s.close();
  });

  it('migration 6 removes the Ed25519 keys migration 3 put into the decryption-key history, and nothing else (outside review of issue 12)', async () => {
    const path = tempPath();
    raw(path, (db) => {
      migrateTo(db, 2);
      const t = T0.getTime();
      const ins = db.prepare(
        "INSERT INTO identities (id, kind, name, domain, owner_team, tags, key_type, status, version, created_at, updated_at) VALUES (?, 'smime', ?, 'example.com', 'treasury', '[]', ?, 'active', 1, ?, ?)",
      );
      ins.run('smime:ed@example.com', 'ed@example.com', 'ed25519', t, t);
      ins.run('smime:ec@example.com', 'ec@example.com', 'ec-p256', t, t);
      const cred = db.prepare("INSERT INTO credentials (id, identity_id, kind, fingerprint, key_id, not_before, not_after, status, created_at) VALUES (?, ?, 'certificate', 'f', ?, ?, ?, ?, ?)");
      // An identity enrolled again with another key type: its Ed25519 life goes, its EC life stays.
      cred.run('c-ed', 'smime:ed@example.com', 'k-ed', t, at(365).getTime(), 'previous', t);
      cred.run('c-ed-ec', 'smime:ed@example.com', 'k-ed-ec', t, at(365).getTime(), 'current', t + 1);
      cred.run('c-ec', 'smime:ec@example.com', 'k-ec', t, at(365).getTime(), 'current', t);
      const key = db.prepare("INSERT INTO private_keys (id, identity_id, algorithm, protected_key, created_at) VALUES (?, ?, ?, '{}', ?)");
      key.run('k-ed', 'smime:ed@example.com', 'ed25519', t);
      key.run('k-ed-ec', 'smime:ed@example.com', 'ec-p256', t);
      key.run('k-ec', 'smime:ec@example.com', 'ec-p256', t);
      for (const m of MIGRATIONS.filter((x) => x.version >= 3 && x.version <= 5)) {
        db.exec(m.sql);
        db.pragma(`user_version = ${m.version}`);
      }
      expect((db.prepare('SELECT credential_id FROM decryption_keys ORDER BY credential_id').all() as Array<{ credential_id: string }>).map((r) => r.credential_id)).toEqual(['c-ec', 'c-ed', 'c-ed-ec']);
    });
    const s = await openSqliteStore(path, { create: false });
    expect(s.schemaVersion).toBe(SCHEMA_VERSION);
    expect((await s.transaction((t) => t.listDecryptionKeys('smime:ed@example.com'))).map((d) => d.credentialId)).toEqual(['c-ed-ec']);
    expect((await s.transaction((t) => t.listDecryptionKeys('smime:ec@example.com'))).map((d) => d.credentialId)).toEqual(['c-ec']);
    await s.close();
    // The keys themselves are not the migration's to delete.
    expect(raw(path, (db) => (db.prepare('SELECT id FROM private_keys ORDER BY id').all() as Array<{ id: string }>).map((r) => r.id))).toEqual(['k-ec', 'k-ed', 'k-ed-ec']);
  });

  it('migration 7: kept keys of a mailbox enrolled again before it are bound to the earlier life (its owner from the identity.reenrolled record), the others to the current owner', async () => {
    const path = tempPath();
    raw(path, (db) => {
      migrateTo(db, 6);
      const t = T0.getTime();
      db.prepare(
        "INSERT INTO identities (id, kind, name, domain, owner_team, tags, key_type, status, version, created_at, updated_at, key_use) VALUES ('smime:legal@example.com', 'smime', 'legal@example.com', 'example.com', 'hr', '[]', 'ec-p256', 'active', 5, ?, ?, 'both')",
      ).run(t, t);
      const dk = db.prepare("INSERT INTO decryption_keys (credential_id, identity_id, key_id, retain_until, destroyed_at, created_at) VALUES (?, 'smime:legal@example.com', ?, ?, NULL, ?)");
      dk.run('c-life1', 'k1', at(3000).getTime(), t);
      dk.run('c-life2', 'k2', at(3000).getTime(), at(20).getTime());
      dk.run('c-life3', 'k3', at(3000).getTime(), at(40).getTime());
      const audit = db.prepare("INSERT INTO audit (seq, id, at, actor, action, identity_id, reason, before_json, after_json, prev_hash, hash) VALUES (?, ?, ?, 'a', 'identity.reenrolled', 'smime:legal@example.com', 'enroll', ?, NULL, 'p', 'h')");
      audit.run(1, 'a1', at(10).getTime(), JSON.stringify({ status: 'decommissioned', owner: { team: 'treasury' } }));
      // The second re-enrollment at the very time the new life's key was recorded: that key is the new life's.
      audit.run(2, 'a2', at(40).getTime(), JSON.stringify({ status: 'decommissioned', owner: { team: 'sales' } }));
    });
    const s = await openSqliteStore(path, { create: false });
    const got = await s.transaction((t) => t.listDecryptionKeys('smime:legal@example.com'));
    expect(got.map((d) => [d.credentialId, d.ownerTeam, d.lifeEndedAt])).toEqual([
      ['c-life1', 'treasury', at(10)],
      ['c-life2', 'sales', at(40)],
      ['c-life3', 'hr', undefined],
    ]);
    await s.close();
  });

  it('migration 7 with a damaged identity.reenrolled record (before is not JSON): the upgrade goes on, that life ends with no owner', async () => {
    const path = tempPath();
    raw(path, (db) => {
      migrateTo(db, 6);
      const t = T0.getTime();
      db.prepare(
        "INSERT INTO identities (id, kind, name, domain, owner_team, tags, key_type, status, version, created_at, updated_at, key_use) VALUES ('smime:legal@example.com', 'smime', 'legal@example.com', 'example.com', 'hr', '[]', 'ec-p256', 'active', 5, ?, ?, 'both')",
      ).run(t, t);
      db.prepare("INSERT INTO decryption_keys (credential_id, identity_id, key_id, retain_until, destroyed_at, created_at) VALUES ('c-old', 'smime:legal@example.com', 'k1', ?, NULL, ?)").run(at(3000).getTime(), t);
      db.prepare("INSERT INTO audit (seq, id, at, actor, action, identity_id, reason, before_json, after_json, prev_hash, hash) VALUES (1, 'a1', ?, 'a', 'identity.reenrolled', 'smime:legal@example.com', 'enroll', '{not json', NULL, 'p', 'h')").run(at(10).getTime());
    });
    const s = await openSqliteStore(path, { create: false });
    expect(s.schemaVersion).toBe(SCHEMA_VERSION);
    expect((await s.transaction((t) => t.listDecryptionKeys('smime:legal@example.com'))).map((d) => [d.ownerTeam, d.lifeEndedAt])).toEqual([[undefined, at(10)]]);
    await s.close();
  });

  it('migration 5 (separate certificates) changes the meaning of no stored identity: one certificate, the same current one, no pending role', async () => {
    const path = tempPath();
    let before: unknown;
    raw(path, (db) => {
      migrateTo(db, 4);
      const t = T0.getTime();
      db.prepare(
        "INSERT INTO identities (id, kind, name, domain, owner_team, tags, key_type, status, current_credential_id, not_after, version, created_at, updated_at, key_use) VALUES ('smime:old@example.com', 'smime', 'old@example.com', 'example.com', 'treasury', '[]', 'ec-p256', 'active', 'c1', ?, 3, ?, ?, 'both')",
      ).run(at(365).getTime(), t, t);
      db.prepare("INSERT INTO pending_issuances (identity_id, idempotency_key, requested_at, status) VALUES ('smime:old@example.com', 'mailpki1.k.u', ?, 'started')").run(t);
      before = db.prepare('SELECT * FROM identities').get();
    });
    const s = await openSqliteStore(path, { create: false });
    expect(s.schemaVersion).toBe(SCHEMA_VERSION);
    const got = (await s.transaction((t) => t.getIdentity('smime:old@example.com')))!;
    expect([got.certificates, got.encryptionCredentialId, got.currentCredentialId, got.use, got.version, got.notAfter]).toEqual([undefined, undefined, 'c1', 'both', 3, at(365)]);
    expect(await s.transaction((t) => t.getPendingIssuance('smime:old@example.com'))).toStrictEqual({ identityId: 'smime:old@example.com', idempotencyKey: 'mailpki1.k.u', requestedAt: T0, status: 'started' });
    await s.close();
    raw(path, (db) => expect(db.prepare('SELECT * FROM identities').get()).toEqual({ ...(before as object), certificates: null, encryption_credential_id: null }));
  });

  it('with create: false, refuses a missing file (ERR_IO) and an empty one (ERR_STORE_CORRUPT) without creating anything', async () => {
    const missing = tempPath();
    expect(await code(openSqliteStore(missing, { create: false }))).toBe('ERR_IO');
    expect(existsSync(missing)).toBe(false);
    const empty = tempPath();
    writeFileSync(empty, '');
    expect(await code(openSqliteStore(empty, { create: false }))).toBe('ERR_STORE_CORRUPT');
    expect(readFileSync(empty)).toHaveLength(0);
  });

  it("refuses another application's SQLite database and leaves it byte for byte unchanged", async () => {
    const path = tempPath();
    raw(path, (db) => {
      db.exec("CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('x')");
      db.pragma('application_id = 1234');
    });
    const before = sha(path);
    const e = await openSqliteStore(path).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'ERR_STORE_CORRUPT' });
    expect((e as Error).message).toMatch(/another application/);
    expect(sha(path)).toBe(before);
    expect(existsSync(`${path}-wal`)).toBe(false);
    // Also a foreign database without an application_id.
    const plain = tempPath();
    raw(plain, (db) => db.exec('CREATE TABLE t (x)'));
    const plainBefore = sha(plain);
    expect(await code(openSqliteStore(plain))).toBe('ERR_STORE_CORRUPT');
    expect(sha(plain)).toBe(plainBefore);
  });

  it('refuses a text file and a truncated header, unchanged', async () => {
    const text = tempPath();
    writeFileSync(text, 'name,owner\npayments@example.com,treasury\n'.repeat(10));
    const before = sha(text);
    expect(await code(openSqliteStore(text))).toBe('ERR_STORE_CORRUPT');
    expect(sha(text)).toBe(before);
    const short = tempPath();
    writeFileSync(short, 'SQLite format 3\0');
    expect(await code(openSqliteStore(short))).toBe('ERR_STORE_CORRUPT');
    expect(readFileSync(short).toString('latin1')).toBe('SQLite format 3\0');
  });

  it('refuses a store from a newer schema version, unchanged', async () => {
    const path = tempPath();
    await (await openSqliteStore(path)).close();
    raw(path, (db) => {
      db.pragma('journal_mode = DELETE');
      db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    });
    const before = sha(path);
    const e = await openSqliteStore(path).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'ERR_STORE_CORRUPT', details: { schemaVersion: SCHEMA_VERSION + 1 } });
    expect(sha(path)).toBe(before);
  });

  it('gives ERR_STORE_CORRUPT, not a crash, for a damaged row', async () => {
    const path = tempPath();
    const s = await openSqliteStore(path);
    await s.transaction(async (t) => {
      await t.insertIdentity(identity('a@example.com'));
      await t.insertIdentity(identity('b@example.com'));
      await t.insertIdentity(identity('c@example.com'));
      await t.appendAudit({ id: 'a1', at: T0, actor: 'x', action: 'y' });
    });
    raw(path, (db) => {
      db.prepare("UPDATE identities SET tags = 'not json' WHERE id = 'smime:a@example.com'").run();
      db.prepare("UPDATE identities SET status = 'zombie' WHERE id = 'smime:b@example.com'").run();
      db.prepare("UPDATE identities SET created_at = 'yesterday' WHERE id = 'smime:c@example.com'").run();
      db.prepare("UPDATE audit SET hash = 'xyz'").run();
    });
    for (const id of ['a', 'b', 'c']) {
      expect(await code(s.transaction((t) => t.getIdentity(`smime:${id}@example.com`)))).toBe('ERR_STORE_CORRUPT');
    }
    expect(await code(s.transaction((t) => t.listIdentities({})))).toBe('ERR_STORE_CORRUPT');
    expect(await code(s.listAudit())).toBe('ERR_STORE_CORRUPT');
    // The message names the record, so `audit export` on a damaged log says where (atk-trail).
    await expect(s.listAudit()).rejects.toThrow(/^corrupt audit record 1 in store: hash: /);
    raw(path, (db) => db.prepare("UPDATE audit SET hash = ?, before_json = '{'").run('0'.repeat(64)));
    await expect(s.listAudit()).rejects.toThrow(/^corrupt audit record 1 before in store: not valid JSON$/);
    await s.close();
  });

  it('a transaction that throws leaves the data as it was, and so does a process killed mid-transaction', async () => {
    const path = tempPath();
    const s = await openSqliteStore(path);
    await seedIdentities(s, 50, 0.1);
    await s.close();
    const dump = () =>
      raw(path, (db) => JSON.stringify(['identities', 'credentials', 'outbox', 'audit'].map((t) => db.prepare(`SELECT * FROM ${t} ORDER BY 1`).all())));
    const before = dump();

    const s2 = await openSqliteStore(path);
    await s2
      .transaction(async (t) => {
        await seedIdentities({ transaction: (fn: (x: typeof t) => unknown) => fn(t) } as never, 5000, 0.5, { prefix: 'ghost' });
        await t.appendAudit({ id: 'ghost', at: T0, actor: 'x', action: 'y' });
        throw new Error('crash');
      })
      .catch(() => undefined);
    await s2.close();
    expect(dump()).toBe(before);

    // A real crash: a child process writes inside a transaction and exits without committing.
    const child = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
    const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));
    const res = spawnSync(tsx, [child, path], { encoding: 'utf8', timeout: 60_000 });
    expect(res.stdout).toMatch(/inserted 20000, exiting/);
    expect(res.status).toBe(137);
    expect(dump()).toBe(before);
    raw(path, (db) => expect(db.pragma('integrity_check', { simple: true })).toBe('ok'));
    const s3 = await openSqliteStore(path);
    expect(await s3.transaction((t) => t.countIdentities())).toBe(50);
    await s3.close();
  });

  it('stores keys only in protected form: the plaintext is nowhere in the file', async () => {
    const path = tempPath();
    const s = await openSqliteStore(path);
    const protector = passphraseKeyProtector('correct horse battery staple', { iterations: 1000 });
    const secret = new TextEncoder().encode('-----PRIVATE KEY MATERIAL 0123456789abcdef-----'.repeat(4));
    const protectedKey = await protector.protect(secret);
    await s.transaction(async (t) => {
      await t.insertIdentity(identity('k@example.com'));
      await t.putKey({ id: 'k1', identityId: 'smime:k@example.com', algorithm: 'ec-p256', protectedKey, createdAt: T0 });
    });
    const got = await s.transaction((t) => t.getKey('k1'));
    expect(await protector.unprotect(got!.protectedKey)).toEqual(secret);
    const files = [path, `${path}-wal`].filter(existsSync).map((p) => readFileSync(p));
    expect(files.length).toBeGreaterThan(0);
    await s.close();
    files.push(readFileSync(path));
    const needle = Buffer.from(secret.subarray(0, 24));
    for (const f of files) expect(f.indexOf(needle)).toBe(-1);
    expect(await code(passphraseKeyProtector('wrong', { iterations: 1000 }).unprotect(got!.protectedKey))).toBe('ERR_STORE_KEY_PROTECTION');
  });
});

describe('SqliteStore: destroyed keys', () => {
  it('a deleted key is overwritten in the file (secure_delete), not left in a free page', async () => {
    const path = tempPath();
    const protector = passphraseKeyProtector('correct horse battery staple', { iterations: 1000 });
    const protectedKey = await protector.protect(new TextEncoder().encode('a private key'.repeat(20)));
    const s = await openSqliteStore(path);
    await s.transaction(async (t) => {
      await t.insertIdentity(identity('gone@example.com'));
      await t.putKey({ id: 'k-gone', identityId: 'smime:gone@example.com', algorithm: 'ec-p256', protectedKey, createdAt: T0 });
    });
    await s.close();
    const needle = Buffer.from(protectedKey.ciphertext.slice(0, 40));
    expect(readFileSync(path).indexOf(needle)).toBeGreaterThan(-1);
    const s2 = await openSqliteStore(path);
    expect(await s2.transaction((t) => t.deleteKey('k-gone'))).toBe(true);
    await s2.close();
    expect(readFileSync(path).indexOf(needle)).toBe(-1);
  });
});

describe('SqliteStore: indexes', () => {
  it('answers dueBefore from the next_due_at index and expiringBefore from the not_after index', async () => {
    const path = tempPath();
    const s = await openSqliteStore(path);
    await s.close();
    const plan = (f: Parameters<typeof listIdentitiesSql>[0]) => {
      const { sql, params } = listIdentitiesSql(f);
      return raw(path, (db) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail).join('\n'));
    };
    const due = plan({ dueBefore: T0, limit: 500, afterId: 'smime:a' });
    expect(due).toMatch(/USING (COVERING )?INDEX identities_next_due_at \(next_due_at<\?\)/);
    expect(due).not.toMatch(/^SCAN identities/m);
    expect(plan({ expiringBefore: T0 })).toMatch(/USING (COVERING )?INDEX identities_not_after \(not_after<\?\)/);
    expect(plan({ dueBefore: T0, status: ['active'], kind: 'smime' })).toMatch(/INDEX identities_next_due_at/);
  });

  it('finds 1% due among 10,000 in a time that does not depend on the rest', async () => {
    const s = await openSqliteStore(tempPath());
    const { now, due } = await seedIdentities(s, 10_000, 0.01);
    const got = await s.transaction((t) => t.listIdentities({ dueBefore: now }));
    expect(got).toHaveLength(due);
    expect(due).toBe(100);
    expect(await s.transaction((t) => t.countIdentities({ dueBefore: now }))).toBe(100);
    await s.close();
  });
});

describe('SqliteStore: two processes on one file (two store objects)', () => {
  async function pair(): Promise<[SqliteStore, SqliteStore]> {
    const path = tempPath();
    const a = await openSqliteStore(path);
    const b = await openSqliteStore(path);
    return [a, b];
  }

  it('opening the same new file twice at once migrates once', async () => {
    const path = tempPath();
    const [a, b] = await Promise.all([openSqliteStore(path), openSqliteStore(path)]);
    expect([a.schemaVersion, b.schemaVersion]).toEqual([SCHEMA_VERSION, SCHEMA_VERSION]);
    await Promise.all([a.close(), b.close()]);
  });

  it('a conditional update loses to the other process: ERR_STORE_CONFLICT', async () => {
    const [a, b] = await pair();
    await a.transaction((t) => t.insertIdentity(identity('shared@example.com')));
    const seenByA = (await a.transaction((t) => t.getIdentity('smime:shared@example.com')))!;
    const seenByB = (await b.transaction((t) => t.getIdentity('smime:shared@example.com')))!;
    await b.transaction((t) => t.updateIdentity({ ...seenByB, status: 'suspended' }, seenByB.version));
    expect(await code(a.transaction((t) => t.updateIdentity({ ...seenByA, status: 'revoked' }, seenByA.version)))).toBe('ERR_STORE_CONFLICT');
    expect((await a.transaction((t) => t.getIdentity('smime:shared@example.com')))!.status).toBe('suspended');
    await Promise.all([a.close(), b.close()]);
  });

  it('transactions from both interleave safely (BEGIN IMMEDIATE, waited for without blocking)', async () => {
    const [a, b] = await pair();
    const work = (s: SqliteStore, name: string) =>
      Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          s.transaction(async (t) => {
            await t.insertIdentity(identity(`${name}${i}@example.com`));
            await new Promise((r) => setTimeout(r, 2));
            await t.appendAudit({ id: `${name}-${i}`, at: T0, actor: name, action: 'enroll' });
          }),
        ),
      );
    await Promise.all([work(a, 'a'), work(b, 'b')]);
    expect(await a.transaction((t) => t.countIdentities())).toBe(20);
    const audit = await b.listAudit();
    expect(audit.map((r) => r.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(verifyAuditChain(audit).ok).toBe(true);
    await Promise.all([a.close(), b.close()]);
  });

  it('two leasers on two connections never get the same event', async () => {
    const [a, b] = await pair();
    await a.transaction(async (t) => {
      for (let i = 0; i < 60; i++) await t.enqueueEvent({ id: `e${String(i).padStart(2, '0')}`, type: 't', payload: {}, createdAt: new Date(T0.getTime() + i) });
    });
    const now = at(1);
    const rounds = await Promise.all([
      ...Array.from({ length: 4 }, () => a.leaseEvents('a', now, 60_000, 9)),
      ...Array.from({ length: 4 }, () => b.leaseEvents('b', now, 60_000, 9)),
    ]);
    const ids = rounds.flat().map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(60);
    await Promise.all([a.close(), b.close()]);
  });

  it('gives up with ERR_STORE_CONFLICT when the other writer holds the lock too long', async () => {
    const path = tempPath();
    await (await openSqliteStore(path)).close();
    const s = await openSqliteStore(path, { busyTimeoutMs: 50 });
    const blocker = new Database(path);
    blocker.exec('BEGIN IMMEDIATE');
    try {
      expect(await code(s.transaction(async () => 1))).toBe('ERR_STORE_CONFLICT');
    } finally {
      blocker.exec('ROLLBACK');
      blocker.close();
    }
    expect(await s.transaction(async () => 2)).toBe(2);
    await s.close();
  });
});

describe('SqliteStore: file modes', () => {
  it('creates mailpki.db and its -wal and -shm 0600 under umask 022, and tightens an existing 0644 store (finding 14)', async () => {
    const old = process.umask(0o022);
    try {
      const dir = mkdtempSync(join(tmpdir(), 'mailpki-modes-'));
      const path = join(dir, 'mailpki.db');
      const s = await openSqliteStore(path);
      await s.transaction(async (t) => t.appendAudit({ id: 'm1', at: T0, actor: 'x', action: 'y' }));
      const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
      for (const p of [path, `${path}-wal`, `${path}-shm`]) expect([p, mode(p)]).toEqual([p, '600']);
      await s.close();
      chmodSync(path, 0o644);
      const again = await openSqliteStore(path);
      await again.transaction(async (t) => t.appendAudit({ id: 'm2', at: T0, actor: 'x', action: 'y' }));
      for (const p of [path, `${path}-wal`, `${path}-shm`]) expect([p, mode(p)]).toEqual([p, '600']);
      await again.close();
      rmSync(dir, { recursive: true, force: true });
    } finally {
      process.umask(old);
    }
  });
});
