/**
 * atk12: SQLite migration 3 backfills the decryption-key history with EVERY stored key of an S/MIME
 * certificate — Ed25519 keys included, which can never decrypt (new issuance leaves them out:
 * receivesEncryptedMail says keyType ed25519 receives no encrypted mail). Consequences after upgrade:
 * decommission no longer destroys such a signing-only key (it is "kept until retention ends", notAfter
 * + 7 years), and getDecryptor fails with ERR_KEY_UNSUPPORTED instead of saying no key is held.
 * Expected: the backfill leaves Ed25519 keys out.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { MAILPKI_APPLICATION_ID, MIGRATIONS } from '/work/wt/atk12/src/node/sqlite-schema.js';
import { openSqliteStore } from '/work/wt/atk12/src/node/sqlite-store.js';

describe('migration 3 backfill and Ed25519 keys', () => {
  it('an Ed25519 certificate key does not enter the decryption-key history', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'atk12-')), 's.db');
    const db = new Database(path);
    db.pragma(`application_id = ${MAILPKI_APPLICATION_ID}`);
    for (const m of MIGRATIONS.filter((x) => x.version <= 2)) {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }
    const t = Date.UTC(2026, 0, 1);
    db.prepare("INSERT INTO identities (id, kind, name, domain, owner_team, tags, key_type, status, version, created_at, updated_at) VALUES ('smime:ed@example.com', 'smime', 'ed@example.com', 'example.com', 'treasury', '[]', 'ed25519', 'active', 1, ?, ?)").run(t, t);
    db.prepare("INSERT INTO credentials (id, identity_id, kind, fingerprint, key_id, not_before, not_after, status, created_at) VALUES ('c-ed', 'smime:ed@example.com', 'certificate', 'f', 'k-ed', ?, ?, 'current', ?)").run(t, t + 365 * 86400000, t);
    db.prepare("INSERT INTO private_keys (id, identity_id, algorithm, protected_key, created_at) VALUES ('k-ed', 'smime:ed@example.com', 'ed25519', '{}', ?)").run(t);
    db.close();
    const s = await openSqliteStore(path, { create: false });
    const history = await s.transaction((tx) => tx.listDecryptionKeys('smime:ed@example.com'));
    await s.close();
    // Observed: [{ credentialId: 'c-ed', keyId: 'k-ed', retainUntil: notAfter + 2555 days, ... }]
    expect(history).toEqual([]);
  });
});
