/**
 * The contract every Store implementation passes. Call `runStoreContract(name, factory)` from a
 * test file; the factory returns a fresh, empty store and raw access for tamper tests.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import {
  exportAuditJsonl,
  verifyAuditChain,
  type CredentialRecord,
  type KeyRecord,
  type Store,
  type StoreTx,
} from '../../src/store/index.js';
import { T0, at, identity, stored } from './seed.js';

export interface StoreHarness {
  store: Store;
  /** Raw edits below the Store interface, as an attacker with file access would make them. */
  tamper: {
    setAuditReason(seq: number, reason: string): Promise<void>;
    deleteAudit(seq: number): Promise<void>;
    /** Exchanges the seq numbers of two records (so listAudit returns them swapped). */
    swapAuditSeq(a: number, b: number): Promise<void>;
  };
  /**
   * Another client of the same data, as another process would open it (SQLite: a second
   * connection to the file). Default: the same store object.
   */
  another?(): Promise<Store>;
  cleanup?(): Promise<void>;
}

const code = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
  } catch (e) {
    if (e instanceof MailPkiError) return e.code;
    if (e instanceof TypeError) return 'TypeError';
    throw e;
  }
  return 'resolved';
};

export function credential(identityId: string, id: string, extra: Partial<CredentialRecord> = {}): CredentialRecord {
  return {
    id,
    identityId,
    kind: 'certificate',
    serialNumber: '0a1b',
    fingerprint: `sha256:${id}`,
    certificate: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x05]),
    keyId: `key-${id}`,
    notBefore: T0,
    notAfter: at(365),
    status: 'current',
    createdAt: T0,
    ...extra,
  };
}

export function keyRecord(identityId: string, id: string): KeyRecord {
  return {
    id,
    identityId,
    algorithm: 'ec-p256',
    protectedKey: { protectorId: 'passphrase', alg: 'A256GCM', iv: 'AAAAAAAAAAAAAAAA', ciphertext: 'c2VjcmV0', kdf: { name: 'PBKDF2-SHA256', salt: 'c2FsdHNhbHRzYWx0c2FsdA==', iterations: 1000 } },
    createdAt: T0,
  };
}

export function runStoreContract(name: string, factory: () => Promise<StoreHarness>): void {
  describe(`Store contract: ${name}`, () => {
    let h: StoreHarness;
    let store: Store;
    const tx = <T>(fn: (tx: StoreTx) => Promise<T>) => store.transaction(fn);

    beforeEach(async () => {
      h = await factory();
      store = h.store;
    });
    afterEach(async () => {
      await store.close();
      await h.cleanup?.();
    });

    describe('identities', () => {
      it('round-trips every field and starts at version 1', async () => {
        const rec = identity('payments@example.com', {
          owner: { team: 'treasury', contact: 'treasury@example.com' },
          purpose: 'payment instructions',
          approvedBy: 'ciso',
          tags: ['finance', 'critical'],
          caId: 'local',
          profile: 'strict',
          policy: { renewBeforeDays: 30, notices: [30, 14, 7, 1], nested: { a: null, b: true } },
          decommissionAt: at(400),
          currentCredentialId: 'c1',
          notAfter: at(365),
          nextDueAt: at(335),
          attributes: { selectors: ['s1'] },
          use: 'encryption',
        });
        await tx((t) => t.insertIdentity(rec));
        expect(await tx((t) => t.getIdentity(rec.id))).toStrictEqual(stored(rec));
        expect(await tx((t) => t.getIdentity('smime:nobody@example.com'))).toBeUndefined();
      });

      it('round-trips separate certificates (certificates, encryptionCredentialId) and clears them on update', async () => {
        const rec = identity('pair@example.com', { use: 'both', certificates: 'separate', currentCredentialId: 'c-sign', encryptionCredentialId: 'c-enc', notAfter: at(300) });
        await tx((t) => t.insertIdentity(rec));
        const got = await tx((t) => t.getIdentity(rec.id));
        expect(got).toStrictEqual(stored(rec));
        expect([got!.certificates, got!.encryptionCredentialId]).toEqual(['separate', 'c-enc']);
        const { encryptionCredentialId: _gone, ...without } = got!;
        await tx((t) => t.updateIdentity(without, 1));
        expect((await tx((t) => t.getIdentity(rec.id)))!.encryptionCredentialId).toBeUndefined();
        expect(await code(tx((t) => t.insertIdentity(identity('bad@example.com', { certificates: 'triple' as never }))))).toBe('ERR_INVALID_INPUT');
      });

      it('stores the minimal record without inventing fields', async () => {
        const rec = identity('min@example.com');
        await tx((t) => t.insertIdentity(rec));
        expect(await tx((t) => t.getIdentity(rec.id))).toStrictEqual(stored(rec));
      });

      it('refuses a duplicate id with ERR_IDENTITY_EXISTS', async () => {
        await tx((t) => t.insertIdentity(identity('dup@example.com')));
        expect(await code(tx((t) => t.insertIdentity(identity('dup@example.com', { purpose: 'other' }))))).toBe('ERR_IDENTITY_EXISTS');
      });

      it('refuses invalid records with ERR_INVALID_INPUT naming the field', async () => {
        const bad = { ...identity('bad@example.com'), status: 'alive' } as never;
        const e = await tx((t) => t.insertIdentity(bad)).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(MailPkiError);
        expect((e as MailPkiError).code).toBe('ERR_INVALID_INPUT');
        expect((e as MailPkiError).message).toMatch(/status/);
        expect(await code(tx((t) => t.insertIdentity({ ...identity('x@example.com'), createdAt: new Date(Number.NaN) })))).toBe('ERR_INVALID_INPUT');
        expect(await code(tx((t) => t.insertIdentity({ ...identity('y@example.com'), extra: 1 } as never)))).toBe('ERR_INVALID_INPUT');
        expect(await code(tx((t) => t.insertIdentity({ ...identity('z@example.com'), policy: { n: Number.POSITIVE_INFINITY } })))).toBe('ERR_INVALID_INPUT');
      });

      it('hands out copies: changing a returned record changes nothing stored', async () => {
        await tx((t) => t.insertIdentity(identity('copy@example.com', { tags: ['a'] })));
        const got = (await tx((t) => t.getIdentity('smime:copy@example.com')))!;
        got.tags.push('b');
        got.owner.team = 'mallory';
        expect(await tx((t) => t.getIdentity('smime:copy@example.com'))).toMatchObject({ tags: ['a'], owner: { team: 'treasury' } });
      });

      it('updates conditionally: bumps the version, and a stale version is ERR_STORE_CONFLICT', async () => {
        await tx((t) => t.insertIdentity(identity('upd@example.com')));
        const v1 = (await tx((t) => t.getIdentity('smime:upd@example.com')))!;
        const v = await tx((t) => t.updateIdentity({ ...v1, status: 'suspended', nextDueAt: at(5), updatedAt: at(1) }, 1));
        expect(v).toBe(2);
        const v2 = (await tx((t) => t.getIdentity('smime:upd@example.com')))!;
        expect(v2).toStrictEqual({ ...v1, status: 'suspended', nextDueAt: at(5), updatedAt: at(1), version: 2 });
        // A second writer that read version 1 loses.
        const e = await tx((t) => t.updateIdentity({ ...v1, status: 'revoked' }, 1)).catch((x: unknown) => x);
        expect((e as MailPkiError).code).toBe('ERR_STORE_CONFLICT');
        expect((e as MailPkiError).details).toMatchObject({ version: 2, expectedVersion: 1 });
        expect((await tx((t) => t.getIdentity('smime:upd@example.com')))!.status).toBe('suspended');
        expect(await code(tx((t) => t.updateIdentity({ ...v1, id: 'smime:gone@example.com' }, 1)))).toBe('ERR_IDENTITY_NOT_FOUND');
      });

      it('never changes id, kind or createdAt on update; clears optional fields left out', async () => {
        await tx((t) => t.insertIdentity(identity('keep@example.com', { purpose: 'p', nextDueAt: at(3) })));
        const cur = (await tx((t) => t.getIdentity('smime:keep@example.com')))!;
        const { purpose: _p, nextDueAt: _n, ...rest } = cur;
        await tx((t) => t.updateIdentity({ ...rest, kind: 'dkim', createdAt: at(9) }, 1));
        const after = (await tx((t) => t.getIdentity('smime:keep@example.com')))!;
        expect(after.kind).toBe('smime');
        expect(after.createdAt).toEqual(T0);
        expect(after.purpose).toBeUndefined();
        expect(after.nextDueAt).toBeUndefined();
        expect(await tx((t) => t.listIdentities({ dueBefore: at(10) }))).toEqual([]);
      });

      it('lists and counts by owner, domain, status, kind, expiringBefore and dueBefore (inclusive), ordered by id', async () => {
        await tx(async (t) => {
          await t.insertIdentity(identity('a@one.example', { owner: { team: 'red' }, notAfter: at(10), nextDueAt: at(5) }));
          await t.insertIdentity(identity('b@one.example', { owner: { team: 'blue' }, notAfter: at(20), nextDueAt: at(15), status: 'suspended' }));
          await t.insertIdentity(identity('c@two.example', { owner: { team: 'red' }, notAfter: at(30), nextDueAt: at(25) }));
          await t.insertIdentity({ ...identity('two.example'), id: 'dkim:two.example', kind: 'dkim', name: 'two.example', domain: 'two.example', owner: { team: 'red' } });
        });
        const ids = async (f: Parameters<StoreTx['listIdentities']>[0]) => (await tx((t) => t.listIdentities(f))).map((r) => r.id);
        expect(await ids({})).toEqual(['dkim:two.example', 'smime:a@one.example', 'smime:b@one.example', 'smime:c@two.example']);
        expect(await ids({ owner: 'red' })).toEqual(['dkim:two.example', 'smime:a@one.example', 'smime:c@two.example']);
        expect(await ids({ domain: 'one.example' })).toEqual(['smime:a@one.example', 'smime:b@one.example']);
        expect(await ids({ status: ['suspended', 'revoked'] })).toEqual(['smime:b@one.example']);
        expect(await ids({ status: [] })).toEqual([]);
        expect(await ids({ kind: 'dkim' })).toEqual(['dkim:two.example']);
        expect(await ids({ expiringBefore: at(20) })).toEqual(['smime:a@one.example', 'smime:b@one.example']);
        expect(await ids({ dueBefore: at(15) })).toEqual(['smime:a@one.example', 'smime:b@one.example']);
        expect(await ids({ dueBefore: at(14) })).toEqual(['smime:a@one.example']);
        expect(await ids({ dueBefore: at(30), owner: 'red', status: ['active'] })).toEqual(['smime:a@one.example', 'smime:c@two.example']);
        expect(await ids({ dueBefore: at(30), expiringBefore: at(20) })).toEqual(['smime:a@one.example', 'smime:b@one.example']);
        expect(await tx((t) => t.countIdentities())).toBe(4);
        expect(await tx((t) => t.countIdentities({ owner: 'red', dueBefore: at(100) }))).toBe(2);
        expect(await tx((t) => t.countIdentities({ expiringBefore: at(25) }))).toBe(2);
      });

      it('pages with limit and afterId', async () => {
        await tx(async (t) => {
          for (let i = 0; i < 7; i++) await t.insertIdentity(identity(`p${i}@example.com`, { nextDueAt: at(i) }));
        });
        const seen: string[] = [];
        let afterId: string | undefined;
        for (;;) {
          const page = await tx((t) => t.listIdentities({ dueBefore: at(10), limit: 3, ...(afterId ? { afterId } : {}) }));
          if (page.length === 0) break;
          seen.push(...page.map((r) => r.id));
          afterId = page[page.length - 1]!.id;
        }
        expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `smime:p${i}@example.com`));
        expect(await code(tx((t) => t.listIdentities({ limit: 0 })))).toBe('ERR_INVALID_INPUT');
      });
    });

    describe('credentials, keys, notices, pending issuances', () => {
      beforeEach(async () => {
        await tx((t) => t.insertIdentity(identity('cred@example.com')));
      });
      const iid = 'smime:cred@example.com';

      it('credentials: insert, get, list (oldest first), update', async () => {
        const c1 = credential(iid, 'c1', { attributes: { chain: ['x'] } });
        const c2 = credential(iid, 'c2', { createdAt: at(1), kind: 'dkim-key', certificate: undefined, selector: 's2025', serialNumber: undefined });
        delete (c2 as Partial<CredentialRecord>).certificate;
        delete (c2 as Partial<CredentialRecord>).serialNumber;
        await tx(async (t) => {
          await t.insertCredential(c2);
          await t.insertCredential(c1);
        });
        expect(await tx((t) => t.getCredential('c1'))).toStrictEqual(c1);
        expect((await tx((t) => t.getCredential('c1')))!.certificate).toBeInstanceOf(Uint8Array);
        expect(await tx((t) => t.listCredentials(iid))).toStrictEqual([c1, c2]);
        const revoked = { ...c1, status: 'revoked' as const, revokedAt: at(2), revocationReason: 'keyCompromise' };
        await tx((t) => t.updateCredential(revoked));
        expect(await tx((t) => t.getCredential('c1'))).toStrictEqual(revoked);
        expect(await tx((t) => t.getCredential('nope'))).toBeUndefined();
        expect(await tx((t) => t.listCredentials('smime:other@example.com'))).toEqual([]);
      });

      it('credentials: duplicate is ERR_STORE_CONFLICT, unknown identity ERR_IDENTITY_NOT_FOUND, unknown update ERR_STORE_CONFLICT', async () => {
        await tx((t) => t.insertCredential(credential(iid, 'c1')));
        expect(await code(tx((t) => t.insertCredential(credential(iid, 'c1'))))).toBe('ERR_STORE_CONFLICT');
        expect(await code(tx((t) => t.insertCredential(credential('smime:ghost@example.com', 'c9'))))).toBe('ERR_IDENTITY_NOT_FOUND');
        expect(await code(tx((t) => t.updateCredential(credential(iid, 'c404'))))).toBe('ERR_STORE_CONFLICT');
        expect(await code(tx((t) => t.insertCredential({ ...credential(iid, 'c5'), fingerprint: '' })))).toBe('ERR_INVALID_INPUT');
      });

      it('keys: put once, get back the protected form', async () => {
        const k = keyRecord(iid, 'k1');
        await tx((t) => t.putKey(k));
        expect(await tx((t) => t.getKey('k1'))).toStrictEqual(k);
        expect(await tx((t) => t.getKey('k2'))).toBeUndefined();
        expect(await code(tx((t) => t.putKey(k)))).toBe('ERR_STORE_CONFLICT');
        expect(await code(tx((t) => t.putKey(keyRecord('smime:ghost@example.com', 'k3'))))).toBe('ERR_IDENTITY_NOT_FOUND');
        const plain = { ...keyRecord(iid, 'k4'), protectedKey: { pkcs8: 'MIGHAgEAMBMG' } } as never;
        expect(await code(tx((t) => t.putKey(plain)))).toBe('ERR_INVALID_INPUT');
      });

      it('keys: deleted for good, and the deletion rolls back with its transaction', async () => {
        await tx((t) => t.putKey(keyRecord(iid, 'kd')));
        await expect(
          tx(async (t) => {
            expect(await t.deleteKey('kd')).toBe(true);
            expect(await t.getKey('kd')).toBeUndefined();
            throw new Error('abort');
          }),
        ).rejects.toThrow('abort');
        expect(await tx((t) => t.getKey('kd'))).toBeDefined();
        expect(await tx((t) => t.deleteKey('kd'))).toBe(true);
        expect(await tx((t) => t.getKey('kd'))).toBeUndefined();
        expect(await tx((t) => t.deleteKey('kd'))).toBe(false);
      });

      it('decryption keys: put, replace (destroyed), list oldest first; never moved to another identity', async () => {
        await tx((t) => t.insertIdentity(identity('other@example.com')));
        const d1 = { credentialId: 'c1', identityId: iid, keyId: 'k1', retainUntil: at(3000), createdAt: at(1) };
        const d0 = { credentialId: 'c0', identityId: iid, keyId: 'k0', retainUntil: at(2000), createdAt: T0 };
        await tx(async (t) => {
          await t.putDecryptionKey(d1);
          await t.putDecryptionKey(d0);
        });
        expect(await tx((t) => t.listDecryptionKeys(iid))).toStrictEqual([d0, d1]);
        const destroyed = { ...d0, destroyedAt: at(2000) };
        await tx((t) => t.putDecryptionKey(destroyed));
        expect(await tx((t) => t.listDecryptionKeys(iid))).toStrictEqual([destroyed, d1]);
        expect(await tx((t) => t.listDecryptionKeys('smime:other@example.com'))).toEqual([]);
        expect(await code(tx((t) => t.putDecryptionKey({ ...d1, identityId: 'smime:other@example.com' })))).toBe('ERR_STORE_CONFLICT');
        expect(await code(tx((t) => t.putDecryptionKey({ ...d1, credentialId: 'c9', identityId: 'smime:ghost@example.com' })))).toBe('ERR_IDENTITY_NOT_FOUND');
        expect(await code(tx((t) => t.putDecryptionKey({ ...d1, retainUntil: new Date(NaN) })))).toBe('ERR_INVALID_INPUT');
        await expect(
          tx(async (t) => {
            await t.putDecryptionKey({ ...d1, destroyedAt: at(5) });
            throw new Error('abort');
          }),
        ).rejects.toThrow('abort');
        expect(await tx((t) => t.listDecryptionKeys(iid))).toStrictEqual([destroyed, d1]);
      });

      it('decryption keys: the owner team and the end of the life they were issued in are kept, and cleared by a replacement without them', async () => {
        const d = { credentialId: 'c1', identityId: iid, keyId: 'k1', retainUntil: at(3000), createdAt: at(1), ownerTeam: 'treasury' };
        await tx((t) => t.putDecryptionKey(d));
        expect(await tx((t) => t.listDecryptionKeys(iid))).toStrictEqual([d]);
        const ended = { ...d, lifeEndedAt: at(20) };
        await tx((t) => t.putDecryptionKey(ended));
        expect(await tx((t) => t.listDecryptionKeys(iid))).toStrictEqual([ended]);
        const { ownerTeam: _team, lifeEndedAt: _ended, ...bare } = ended;
        await tx((t) => t.putDecryptionKey(bare));
        expect(await tx((t) => t.listDecryptionKeys(iid))).toStrictEqual([bare]);
        expect(await code(tx((t) => t.putDecryptionKey({ ...d, ownerTeam: '' })))).toBe('ERR_INVALID_INPUT');
      });

      it('notices: each (identity, credential, key) once', async () => {
        const n = { identityId: iid, credentialId: 'c1', noticeKey: 'expiring:30', sentAt: at(1) };
        expect(await tx((t) => t.recordNotice(n))).toBe(true);
        expect(await tx((t) => t.recordNotice({ ...n, sentAt: at(2) }))).toBe(false);
        expect(await tx((t) => t.recordNotice({ ...n, noticeKey: 'expiring:14' }))).toBe(true);
        expect(await tx((t) => t.recordNotice({ ...n, credentialId: 'c2' }))).toBe(true);
        expect(await tx((t) => t.listNotices(iid))).toStrictEqual([n, { ...n, noticeKey: 'expiring:14' }, { ...n, credentialId: 'c2' }].sort((a, b) => (a.noticeKey < b.noticeKey ? -1 : 1)).sort((a, b) => a.sentAt.getTime() - b.sentAt.getTime()));
      });

      it('pending issuances: put, replace, get, delete', async () => {
        const p = { identityId: iid, idempotencyKey: 'idem-1', requestedAt: at(1), status: 'started' as const };
        await tx((t) => t.putPendingIssuance(p));
        expect(await tx((t) => t.getPendingIssuance(iid))).toStrictEqual(p);
        const done = { ...p, status: 'completed' as const, credentialId: 'c7' };
        await tx((t) => t.putPendingIssuance(done));
        expect(await tx((t) => t.getPendingIssuance(iid))).toStrictEqual(done);
        await tx((t) => t.deletePendingIssuance(iid));
        expect(await tx((t) => t.getPendingIssuance(iid))).toBeUndefined();
        await tx((t) => t.deletePendingIssuance(iid));
        expect(await code(tx((t) => t.putPendingIssuance({ ...p, identityId: 'smime:ghost@example.com' })))).toBe('ERR_IDENTITY_NOT_FOUND');
        // Which certificate of a separate pair the issuance is for: kept, and replaced with the record.
        const enc = { ...p, idempotencyKey: 'idem-2', certificate: 'encryption' as const };
        await tx((t) => t.putPendingIssuance(enc));
        expect(await tx((t) => t.getPendingIssuance(iid))).toStrictEqual(enc);
        await tx((t) => t.putPendingIssuance(p));
        expect(await tx((t) => t.getPendingIssuance(iid))).toStrictEqual(p);
        await tx((t) => t.deletePendingIssuance(iid));
      });
    });

    describe('transactions', () => {
      it('a throwing transaction leaves nothing behind (identity, credential, key, notice, outbox, audit, pending) and rethrows the same error', async () => {
        await tx(async (t) => {
          await t.insertIdentity(identity('base@example.com'));
          await t.appendAudit({ id: 'a0', at: T0, actor: 'test', action: 'seed' });
        });
        const before = await snapshot(store);
        const boom = new Error('boom');
        const e = await tx(async (t) => {
          await t.insertIdentity(identity('ghost@example.com'));
          const base = (await t.getIdentity('smime:base@example.com'))!;
          await t.updateIdentity({ ...base, status: 'revoked' }, 1);
          await t.insertCredential(credential('smime:ghost@example.com', 'gc'));
          await t.putKey(keyRecord('smime:ghost@example.com', 'gk'));
          await t.recordNotice({ identityId: 'smime:base@example.com', credentialId: 'x', noticeKey: 'expiring:1', sentAt: T0 });
          await t.enqueueEvent({ id: 'ev-ghost', type: 'identity.enrolled', payload: { id: 'ghost' }, createdAt: T0 });
          await t.appendAudit({ id: 'a-ghost', at: T0, actor: 'test', action: 'enroll' });
          await t.putPendingIssuance({ identityId: 'smime:base@example.com', idempotencyKey: 'k', requestedAt: T0, status: 'started' });
          expect(await t.getIdentity('smime:ghost@example.com')).toBeDefined();
          throw boom;
        }).catch((x: unknown) => x);
        expect(e).toBe(boom);
        expect(await snapshot(store)).toStrictEqual(before);
        // The chain continues from the last committed record.
        const next = await tx((t) => t.appendAudit({ id: 'a1', at: T0, actor: 'test', action: 'next' }));
        expect(next.seq).toBe(2);
      });

      it('a failing store call rolls back what the transaction did before it', async () => {
        await tx((t) => t.insertIdentity(identity('one@example.com')));
        expect(
          await code(
            tx(async (t) => {
              await t.insertIdentity(identity('two@example.com'));
              await t.insertIdentity(identity('one@example.com'));
            }),
          ),
        ).toBe('ERR_IDENTITY_EXISTS');
        expect(await tx((t) => t.countIdentities())).toBe(1);
      });

      it('runs transactions one at a time, in call order', async () => {
        const log: string[] = [];
        const run = (name: string) =>
          tx(async (t) => {
            log.push(`${name}:start`);
            const n = await t.countIdentities();
            await new Promise((r) => setTimeout(r, 5));
            await t.insertIdentity(identity(`${name}${n}@example.com`));
            log.push(`${name}:end`);
          });
        await Promise.all([run('a'), run('b'), run('c')]);
        expect(log).toEqual(['a:start', 'a:end', 'b:start', 'b:end', 'c:start', 'c:end']);
        expect((await tx((t) => t.listIdentities({}))).map((r) => r.id)).toEqual(['smime:a0@example.com', 'smime:b1@example.com', 'smime:c2@example.com']);
      });

      it('refuses a nested transaction and a tx used after its transaction (ERR_INVALID_INPUT)', async () => {
        expect(await code(tx(() => store.transaction(async () => 1)))).toBe('ERR_INVALID_INPUT');
        expect(await code(tx(() => store.listAudit()))).toBe('ERR_INVALID_INPUT');
        let leaked: StoreTx | undefined;
        await tx(async (t) => {
          leaked = t;
        });
        expect(await code(leaked!.getIdentity('x'))).toBe('ERR_INVALID_INPUT');
        // The store still works.
        expect(await tx(async () => 'ok')).toBe('ok');
      });

      it('returns the function result', async () => {
        expect(await tx(async (t) => (await t.countIdentities()) + 41)).toBe(41);
      });
    });

    describe('outbox', () => {
      const ev = (id: string, minutes: number) => ({ id, type: 'certificate.issued', payload: { identity: 'smime:x@example.com', n: minutes }, createdAt: new Date(T0.getTime() + minutes * 60_000) });
      const now = at(1);

      it('enqueues with the change and lists in (createdAt, id) order', async () => {
        await tx(async (t) => {
          await t.enqueueEvent(ev('e2', 2));
          await t.enqueueEvent(ev('e1', 1));
          await t.enqueueEvent(ev('e0', 1));
        });
        const all = await store.listEvents({});
        expect(all.map((e) => e.id)).toEqual(['e0', 'e1', 'e2']);
        expect(all[2]).toStrictEqual({ ...ev('e2', 2), attempts: 0, nextAttemptAt: ev('e2', 2).createdAt });
        expect((await store.listEvents({ afterCreatedAt: ev('e1', 1).createdAt })).map((e) => e.id)).toEqual(['e2']);
        expect((await store.listEvents({ afterCreatedAt: ev('e1', 1).createdAt, afterId: 'e0' })).map((e) => e.id)).toEqual(['e1', 'e2']);
        expect((await store.listEvents({ limit: 1 })).map((e) => e.id)).toEqual(['e0']);
        expect(await code(tx((t) => t.enqueueEvent(ev('e1', 5))))).toBe('ERR_STORE_CONFLICT');
      });

      it('leases, delivers, fails and retries', async () => {
        await tx(async (t) => {
          await t.enqueueEvent(ev('e1', 1));
          await t.enqueueEvent(ev('e2', 2));
        });
        const l1 = await store.leaseEvents('worker-a', now, 30_000, 10);
        expect(l1.map((e) => [e.id, e.attempts, e.leaseOwner, e.leaseUntil?.getTime()])).toEqual([
          ['e1', 1, 'worker-a', now.getTime() + 30_000],
          ['e2', 1, 'worker-a', now.getTime() + 30_000],
        ]);
        // While the lease runs nobody else gets them.
        expect(await store.leaseEvents('worker-b', new Date(now.getTime() + 29_999), 30_000, 10)).toEqual([]);
        await store.markEventDelivered('e1', now);
        await store.markEventFailed('e2', 'HTTP 500', new Date(now.getTime() + 60_000));
        const listed = await store.listEvents({});
        expect(listed[0]).toMatchObject({ id: 'e1', deliveredAt: now });
        expect(listed[0]!.leaseOwner).toBeUndefined();
        expect(listed[1]).toMatchObject({ id: 'e2', lastError: 'HTTP 500', nextAttemptAt: new Date(now.getTime() + 60_000) });
        expect(listed[1]!.leaseUntil).toBeUndefined();
        expect((await store.listEvents({ undeliveredOnly: true })).map((e) => e.id)).toEqual(['e2']);
        // Not before its retry time; then again, with attempts counted.
        expect(await store.leaseEvents('worker-b', new Date(now.getTime() + 59_999), 30_000, 10)).toEqual([]);
        const l2 = await store.leaseEvents('worker-b', new Date(now.getTime() + 60_000), 30_000, 10);
        expect(l2.map((e) => [e.id, e.attempts, e.leaseOwner])).toEqual([['e2', 2, 'worker-b']]);
        // Delivered stays delivered; a late failure report changes nothing.
        await store.markEventFailed('e1', 'late', new Date(now.getTime() + 1));
        await store.markEventDelivered('e1', at(5));
        expect((await store.listEvents({}))[0]).toMatchObject({ id: 'e1', deliveredAt: now });
        expect((await store.listEvents({}))[0]!.lastError).toBeUndefined();
        expect(await code(store.markEventDelivered('nope', now))).toBe('ERR_INVALID_INPUT');
        expect(await code(store.markEventFailed('nope', 'x', now))).toBe('ERR_INVALID_INPUT');
      });

      it('re-leases an event whose lease ran out (a crashed deliverer)', async () => {
        await tx((t) => t.enqueueEvent(ev('e1', 1)));
        expect(await store.leaseEvents('crashed', now, 1000, 10)).toHaveLength(1);
        const again = await store.leaseEvents('rescuer', new Date(now.getTime() + 1000), 1000, 10);
        expect(again.map((e) => [e.id, e.leaseOwner, e.attempts])).toEqual([['e1', 'rescuer', 2]]);
      });

      it('two leasers at once never get the same event', async () => {
        await tx(async (t) => {
          for (let i = 0; i < 20; i++) await t.enqueueEvent(ev(`e${String(i).padStart(2, '0')}`, i));
        });
        const [a, b, c] = await Promise.all([
          store.leaseEvents('a', now, 60_000, 7),
          store.leaseEvents('b', now, 60_000, 7),
          store.leaseEvents('c', now, 60_000, 7),
        ]);
        const ids = [...a!, ...b!, ...c!].map((e) => e.id);
        expect(ids).toHaveLength(20);
        expect(new Set(ids).size).toBe(20);
      });

      it('an event enqueued in a rolled-back transaction is never delivered', async () => {
        await tx(async (t) => {
          await t.enqueueEvent(ev('e1', 1));
          throw new Error('abort');
        }).catch(() => undefined);
        expect(await store.leaseEvents('w', now, 1000, 10)).toEqual([]);
      });

      it('refuses bad lease arguments (ERR_INVALID_INPUT)', async () => {
        expect(await code(store.leaseEvents('', now, 1000, 1))).toBe('ERR_INVALID_INPUT');
        expect(await code(store.leaseEvents('w', now, 0, 1))).toBe('ERR_INVALID_INPUT');
        expect(await code(store.leaseEvents('w', new Date(Number.NaN), 1000, 1))).toBe('ERR_INVALID_INPUT');
        expect(await code(store.leaseEvents('w', now, 1000, 0))).toBe('ERR_INVALID_INPUT');
      });
    });

    describe('identity claims (finding 12)', () => {
      const now = new Date('2026-03-01T12:00:00Z');
      const later = (ms: number) => new Date(now.getTime() + ms);

      it('one worker at a time: a second owner is refused while the lease runs, takes it when it has run out', async () => {
        expect(await store.claimIdentity('smime:a@example.com', 'worker-a', now, 30_000)).toBe(true);
        expect(await store.claimIdentity('smime:a@example.com', 'worker-b', later(29_999), 30_000)).toBe(false);
        // The holder extends its own claim.
        expect(await store.claimIdentity('smime:a@example.com', 'worker-a', later(20_000), 30_000)).toBe(true);
        expect(await store.claimIdentity('smime:a@example.com', 'worker-b', later(49_999), 30_000)).toBe(false);
        // worker-a died: its lease runs out and another worker takes over.
        expect(await store.claimIdentity('smime:a@example.com', 'worker-b', later(50_000), 30_000)).toBe(true);
        expect(await store.claimIdentity('smime:a@example.com', 'worker-a', later(50_001), 30_000)).toBe(false);
        // Other identities are independent.
        expect(await store.claimIdentity('smime:b@example.com', 'worker-a', later(50_001), 30_000)).toBe(true);
      });

      it('release frees only the holder\'s claim', async () => {
        expect(await store.claimIdentity('smime:a@example.com', 'worker-a', now, 30_000)).toBe(true);
        await store.releaseIdentity('smime:a@example.com', 'worker-b');
        expect(await store.claimIdentity('smime:a@example.com', 'worker-b', now, 30_000)).toBe(false);
        await store.releaseIdentity('smime:a@example.com', 'worker-a');
        expect(await store.claimIdentity('smime:a@example.com', 'worker-b', now, 30_000)).toBe(true);
        await store.releaseIdentity('smime:unknown@example.com', 'worker-b');
      });

      it('of many workers on two clients claiming at once, exactly one wins each identity', async () => {
        const other = (await h.another?.()) ?? store;
        try {
          const ids = Array.from({ length: 20 }, (_, i) => `smime:u${i}@example.com`);
          const tries = ids.flatMap((id) =>
            ['a', 'b', 'c', 'd'].map(async (w, i) => ({ id, w, won: await (i % 2 ? other : store).claimIdentity(id, `worker-${w}`, now, 60_000) })),
          );
          const results = await Promise.all(tries);
          for (const id of ids) expect(results.filter((r) => r.id === id && r.won)).toHaveLength(1);
        } finally {
          if (other !== store) await other.close();
        }
      });

      it('refuses bad arguments with ERR_INVALID_INPUT', async () => {
        expect(await code(store.claimIdentity('', 'w', now, 1000))).toBe('ERR_INVALID_INPUT');
        expect(await code(store.claimIdentity('smime:a@example.com', '', now, 1000))).toBe('ERR_INVALID_INPUT');
        expect(await code(store.claimIdentity('smime:a@example.com', 'w', new Date(Number.NaN), 1000))).toBe('ERR_INVALID_INPUT');
        expect(await code(store.claimIdentity('smime:a@example.com', 'w', now, 0))).toBe('ERR_INVALID_INPUT');
        expect(await code(store.releaseIdentity('smime:a@example.com', ''))).toBe('ERR_INVALID_INPUT');
      });
    });

    describe('audit', () => {
      async function appendMany(n: number): Promise<void> {
        for (let i = 1; i <= n; i++) {
          await tx((t) =>
            t.appendAudit({
              id: `audit-${i}`,
              at: at(i),
              actor: 'alice',
              action: i === 1 ? 'enroll' : 'renew',
              identityId: 'smime:payments@example.com',
              reason: `step ${i}`,
              before: i === 1 ? null : { serial: `0${i - 1}`, days: [30, 14] },
              after: { serial: `0${i}`, ok: true, note: 'ünïcode ✓' },
            }),
          );
        }
      }

      it('chains records: seq 1, 2, …, prevHash = previous hash, verified', async () => {
        await appendMany(5);
        const recs = await store.listAudit();
        expect(recs.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
        expect(recs[0]!.prevHash).toBe('0'.repeat(64));
        for (let i = 1; i < recs.length; i++) expect(recs[i]!.prevHash).toBe(recs[i - 1]!.hash);
        expect(recs[0]).toMatchObject({ id: 'audit-1', actor: 'alice', action: 'enroll', before: null, reason: 'step 1' });
        expect(verifyAuditChain(recs)).toEqual({ ok: true, checked: 5 });
        expect((await store.listAudit({ fromSeq: 2, limit: 2 })).map((r) => r.seq)).toEqual([2, 3]);
        const lines = exportAuditJsonl(recs).split('\n');
        expect(lines).toHaveLength(6);
        expect(lines[5]).toBe('');
        expect(JSON.parse(lines[0]!)).toMatchObject({ seq: 1, id: 'audit-1', at: at(1).toISOString() });
        expect(await code(tx((t) => t.appendAudit({ id: 'audit-1', at: T0, actor: 'x', action: 'y' })))).toBe('ERR_STORE_CONFLICT');
      });

      it('what appendAudit returns is what listAudit returns', async () => {
        const r = await tx((t) => t.appendAudit({ id: 'only', at: T0, actor: 'bob', action: 'revoke', after: { list: [1, 2.5, 'x', null] } }));
        expect(await store.listAudit()).toStrictEqual([r]);
      });

      it('refuses a text field that is not well-formed UTF-16 (a lone surrogate): SQLite stored U+FFFD, and verify called the honest record changed', async () => {
        // A caller's actor or reason from JSON ("\ud800") reached the TEXT column as replacement characters:
        // that record and every later one failed verification, hiding real tampering behind a false alarm.
        for (const bad of [{ actor: 'eve\uD800' }, { reason: 'r\uDC00' }, { identityId: 'smime:\uD800@example.com' }, { action: 'x\uD800' }, { id: 'a\uDFFF' }]) {
          expect(await code(tx((t) => t.appendAudit({ id: 'a1', at: T0, actor: 'bob', action: 'revoke', ...bad })))).toBe('ERR_INVALID_INPUT');
        }
        // A well-formed pair (an emoji), NUL and other code points round-trip and verify.
        await tx((t) => t.appendAudit({ id: 'ok', at: T0, actor: 'bob \u{1F600}', action: 'revoke', reason: 'a\u0000b', after: { k: '\uD800' } }));
        const recs = await store.listAudit();
        expect(recs.map((r) => [r.actor, r.reason])).toEqual([['bob \u{1F600}', 'a\u0000b']]);
        expect(verifyAuditChain(recs)).toEqual({ ok: true, checked: 1 });
      });

      it('detects a changed record', async () => {
        await appendMany(5);
        const head = (await store.listAudit()).at(-1)!;
        await h.tamper.setAuditReason(3, 'nothing to see');
        expect(verifyAuditChain(await store.listAudit())).toEqual({ ok: false, checked: 2, firstBadSeq: 3, problem: 'changed' });
        expect(verifyAuditChain(await store.listAudit(), { head: { seq: head.seq, hash: head.hash } }).ok).toBe(false);
      });

      it('detects a removed record', async () => {
        await appendMany(5);
        await h.tamper.deleteAudit(2);
        expect(verifyAuditChain(await store.listAudit())).toEqual({ ok: false, checked: 1, firstBadSeq: 2, problem: 'removed' });
      });

      it('detects a removed last record against a kept head', async () => {
        await appendMany(5);
        const head = (await store.listAudit()).at(-1)!;
        await h.tamper.deleteAudit(5);
        expect(verifyAuditChain(await store.listAudit())).toEqual({ ok: true, checked: 4 });
        expect(verifyAuditChain(await store.listAudit(), { head: { seq: head.seq, hash: head.hash } })).toEqual({ ok: false, checked: 4, firstBadSeq: 5, problem: 'removed' });
      });

      it('detects reordered records', async () => {
        await appendMany(5);
        await h.tamper.swapAuditSeq(2, 4);
        const v = verifyAuditChain(await store.listAudit());
        expect(v.ok).toBe(false);
        expect(v.firstBadSeq).toBe(2);
        // Reordering the exported records themselves is reported as such.
        const recs = await store.listAudit();
        await h.tamper.swapAuditSeq(2, 4);
        const clean = await store.listAudit();
        expect(verifyAuditChain(clean).ok).toBe(true);
        expect(verifyAuditChain([clean[0]!, clean[2]!, clean[1]!, clean[3]!, clean[4]!])).toEqual({ ok: false, checked: 1, firstBadSeq: 2, problem: 'reordered' });
        expect(recs).toHaveLength(5);
      });
    });

    it('after close, calls are refused (ERR_INVALID_INPUT)', async () => {
      await store.close();
      expect(await code(store.transaction(async () => 1))).toBe('ERR_INVALID_INPUT');
      expect(await code(store.listAudit())).toBe('ERR_INVALID_INPUT');
      await store.close();
    });
  });
}

/** Everything a store holds, through the interface. */
async function snapshot(store: Store): Promise<unknown> {
  return {
    identities: await store.transaction(async (t) => {
      const ids = await t.listIdentities({});
      return Promise.all(
        ids.map(async (i) => ({
          i,
          creds: await t.listCredentials(i.id),
          notices: await t.listNotices(i.id),
          pending: await t.getPendingIssuance(i.id),
        })),
      );
    }),
    key: await store.transaction((t) => t.getKey('gk')),
    events: await store.listEvents({}),
    audit: await store.listAudit(),
  };
}
