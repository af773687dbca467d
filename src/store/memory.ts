/**
 * The in-memory Store (tests, demos, short-lived tools). Transactions keep an undo log, so a
 * throwing transaction costs only what it changed; records are deep-copied in and out, so a caller
 * mutating a returned object changes nothing stored.
 */
import { MailPkiError } from '../errors.js';
import { chainAudit } from './audit.js';
import { Serializer, scopedTx, type AsyncContextLike } from './serial.js';
import {
  MAX_AUDIT_LIST_LIMIT,
  MAX_EVENT_ERROR_LENGTH,
  MAX_LIST_LIMIT,
  auditListFilterSchema,
  checkInput,
  credentialRecordSchema,
  decryptionKeyRecordSchema,
  eventListFilterSchema,
  identityListFilterSchema,
  identityRecordSchema,
  keyRecordSchema,
  newAuditSchema,
  newEventSchema,
  noticeRecordSchema,
  pendingIssuanceSchema,
  type AuditListFilter,
  type AuditRecord,
  type CredentialRecord,
  type DecryptionKeyRecord,
  type EventListFilter,
  type IdentityFilter,
  type IdentityListFilter,
  type IdentityRecord,
  type KeyRecord,
  type NewAuditRecord,
  type NewEvent,
  type NewIdentityRecord,
  type NoticeRecord,
  type OutboxRecord,
  type PendingIssuance,
  type Store,
  type StoreTx,
} from './types.js';
import { checkClaim, checkDate, checkLease } from './outbox.js';

const clone = <T>(v: T): T => structuredClone(v);

/** True when the identity passes every condition of the filter (the same meaning SQL gives it). */
export function identityMatches(r: IdentityRecord, f: IdentityFilter): boolean {
  if (f.owner !== undefined && r.owner.team !== f.owner) return false;
  if (f.domain !== undefined && r.domain !== f.domain) return false;
  if (f.kind !== undefined && r.kind !== f.kind) return false;
  if (f.status !== undefined && !f.status.includes(r.status)) return false;
  if (f.expiringBefore !== undefined && !(r.notAfter && r.notAfter.getTime() <= f.expiringBefore.getTime())) return false;
  if (f.dueBefore !== undefined && !(r.nextDueAt && r.nextDueAt.getTime() <= f.dueBefore.getTime())) return false;
  return true;
}

interface State {
  identities: Map<string, IdentityRecord>;
  credentials: Map<string, CredentialRecord>;
  keys: Map<string, KeyRecord>;
  decryptionKeys: Map<string, DecryptionKeyRecord>;
  notices: Map<string, NoticeRecord>;
  outbox: Map<string, OutboxRecord>;
  audit: AuditRecord[];
  auditIds: Set<string>;
  pending: Map<string, PendingIssuance>;
  claims: Map<string, { owner: string; until: number }>;
}

export interface MemoryStoreOptions {
  /** For refusing nested transactions; default: the runtime's AsyncLocalStorage if it has one. */
  asyncContext?: AsyncContextLike;
}

export class MemoryStore implements Store {
  private readonly state: State = {
    identities: new Map(),
    credentials: new Map(),
    keys: new Map(),
    decryptionKeys: new Map(),
    notices: new Map(),
    outbox: new Map(),
    audit: [],
    auditIds: new Set(),
    pending: new Map(),
    claims: new Map(),
  };
  private readonly serial: Serializer;

  constructor(options: MemoryStoreOptions = {}) {
    this.serial = new Serializer('MemoryStore', options.asyncContext);
  }

  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    if (typeof fn !== 'function') return Promise.reject(new MailPkiError('ERR_INVALID_INPUT', 'transaction: fn must be a function', { details: { field: 'fn' } }));
    return this.serial.run(async () => {
      const undo: Array<() => void> = [];
      let open = true;
      const tx = scopedTx(new MemoryTx(this.state, undo), () => open);
      try {
        const result = await fn(tx);
        open = false;
        return result;
      } catch (e) {
        open = false;
        for (let i = undo.length - 1; i >= 0; i--) undo[i]!();
        throw e;
      }
    });
  }

  close(): Promise<void> {
    return this.serial.close();
  }

  async leaseEvents(owner: string, now: Date, leaseMs: number, limit: number): Promise<OutboxRecord[]> {
    checkLease(owner, now, leaseMs, limit);
    return this.serial.run(() => {
      const t = now.getTime();
      const out: OutboxRecord[] = [];
      for (const e of sortedEvents(this.state.outbox)) {
        if (out.length >= limit) break;
        if (e.deliveredAt || e.nextAttemptAt.getTime() > t) continue;
        if (e.leaseUntil && e.leaseUntil.getTime() > t) continue;
        e.leaseOwner = owner;
        e.leaseUntil = new Date(t + leaseMs);
        e.attempts += 1;
        out.push(clone(e));
      }
      return out;
    });
  }

  async claimIdentity(identityId: string, owner: string, now: Date, leaseMs: number): Promise<boolean> {
    checkClaim('claimIdentity', identityId, owner, now, leaseMs);
    return this.serial.run(() => {
      const t = now.getTime();
      const held = this.state.claims.get(identityId);
      if (held && held.owner !== owner && held.until > t) return false;
      this.state.claims.set(identityId, { owner, until: t + leaseMs });
      return true;
    });
  }

  async releaseIdentity(identityId: string, owner: string): Promise<void> {
    checkClaim('releaseIdentity', identityId, owner);
    return this.serial.run(() => {
      if (this.state.claims.get(identityId)?.owner === owner) this.state.claims.delete(identityId);
    });
  }

  async markEventDelivered(id: string, at: Date): Promise<void> {
    checkDate(at, 'markEventDelivered: at');
    return this.serial.run(() => {
      const e = this.event(id);
      if (e.deliveredAt) return;
      e.deliveredAt = new Date(at.getTime());
      delete e.leaseOwner;
      delete e.leaseUntil;
    });
  }

  async markEventFailed(id: string, error: string, nextAttemptAt: Date): Promise<void> {
    checkDate(nextAttemptAt, 'markEventFailed: nextAttemptAt');
    return this.serial.run(() => {
      const e = this.event(id);
      if (e.deliveredAt) return;
      e.lastError = String(error).slice(0, MAX_EVENT_ERROR_LENGTH);
      e.nextAttemptAt = new Date(nextAttemptAt.getTime());
      delete e.leaseOwner;
      delete e.leaseUntil;
    });
  }

  async listEvents(filter: EventListFilter): Promise<OutboxRecord[]> {
    const f = checkInput(eventListFilterSchema, filter ?? {}, 'listEvents filter');
    return this.serial.run(() => {
      const limit = f.limit ?? MAX_LIST_LIMIT;
      const out: OutboxRecord[] = [];
      for (const e of sortedEvents(this.state.outbox)) {
        if (out.length >= limit) break;
        if (f.undeliveredOnly && e.deliveredAt) continue;
        if (f.afterCreatedAt) {
          const a = f.afterCreatedAt.getTime();
          const t = e.createdAt.getTime();
          if (t < a || (t === a && (f.afterId === undefined || e.id <= f.afterId))) continue;
        }
        out.push(clone(e));
      }
      return out;
    });
  }

  async listAudit(filter: AuditListFilter = {}): Promise<AuditRecord[]> {
    const f = checkInput(auditListFilterSchema, filter, 'listAudit filter');
    return this.serial.run(() => {
      const from = f.fromSeq ?? 1;
      // Normally seq n sits at index n - 1; search from there so a tampered array still lists right.
      let i = Math.min(from - 1, this.state.audit.length);
      while (i > 0 && this.state.audit[i - 1]!.seq >= from) i--;
      while (i < this.state.audit.length && this.state.audit[i]!.seq < from) i++;
      return clone(this.state.audit.slice(i, i + (f.limit ?? MAX_AUDIT_LIST_LIMIT)));
    });
  }

  /** Direct access for tests that tamper with records. Not part of the Store interface. */
  get unsafeState(): State {
    return this.state;
  }

  private event(id: string): OutboxRecord {
    const e = this.state.outbox.get(id);
    if (!e) throw new MailPkiError('ERR_INVALID_INPUT', `no event with id ${id}`, { details: { field: 'id' } });
    return e;
  }
}

function sortedEvents(outbox: Map<string, OutboxRecord>): OutboxRecord[] {
  return [...outbox.values()].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

class MemoryTx implements StoreTx {
  constructor(
    private readonly s: State,
    private readonly undo: Array<() => void>,
  ) {}

  /** Sets a map entry, remembering how to put it back. */
  private put<K, V>(map: Map<K, V>, key: K, value: V): void {
    const had = map.has(key);
    const prev = map.get(key);
    map.set(key, value);
    this.undo.push(() => (had ? map.set(key, prev as V) : map.delete(key)));
  }

  private remove<K, V>(map: Map<K, V>, key: K): void {
    if (!map.has(key)) return;
    const prev = map.get(key) as V;
    map.delete(key);
    this.undo.push(() => map.set(key, prev));
  }

  async getIdentity(id: string): Promise<IdentityRecord | undefined> {
    const r = this.s.identities.get(id);
    return r && clone(r);
  }

  async listIdentities(filter: IdentityListFilter): Promise<IdentityRecord[]> {
    const f = checkInput(identityListFilterSchema, filter ?? {}, 'listIdentities filter');
    const hits: IdentityRecord[] = [];
    for (const r of this.s.identities.values()) {
      if (f.afterId !== undefined && r.id <= f.afterId) continue;
      if (identityMatches(r, f)) hits.push(r);
    }
    hits.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return clone(hits.slice(0, f.limit ?? MAX_LIST_LIMIT));
  }

  async countIdentities(filter: IdentityFilter = {}): Promise<number> {
    const f = checkInput(identityListFilterSchema, filter, 'countIdentities filter');
    let n = 0;
    for (const r of this.s.identities.values()) if (identityMatches(r, f)) n++;
    return n;
  }

  async insertIdentity(rec: NewIdentityRecord): Promise<void> {
    const r = checkInput(identityRecordSchema, { ...rec, version: 1 }, 'identity');
    if (this.s.identities.has(r.id)) throw new MailPkiError('ERR_IDENTITY_EXISTS', `identity ${r.id} already exists`);
    this.put(this.s.identities, r.id, clone(r));
  }

  async updateIdentity(rec: IdentityRecord, expectedVersion: number): Promise<number> {
    if (!Number.isInteger(expectedVersion)) throw new MailPkiError('ERR_INVALID_INPUT', 'updateIdentity: expectedVersion must be an integer', { details: { field: 'expectedVersion' } });
    const r = checkInput(identityRecordSchema, { ...rec, version: expectedVersion + 1 }, 'identity');
    const stored = this.s.identities.get(r.id);
    if (!stored) throw new MailPkiError('ERR_IDENTITY_NOT_FOUND', `identity ${r.id} does not exist`);
    if (stored.version !== expectedVersion) {
      throw new MailPkiError('ERR_STORE_CONFLICT', `identity ${r.id} changed: version ${stored.version}, expected ${expectedVersion}`, {
        details: { id: r.id, version: stored.version, expectedVersion },
      });
    }
    this.put(this.s.identities, r.id, clone({ ...r, kind: stored.kind, createdAt: stored.createdAt }));
    return r.version;
  }

  async insertCredential(rec: CredentialRecord): Promise<void> {
    const r = checkInput(credentialRecordSchema, rec, 'credential');
    if (!this.s.identities.has(r.identityId)) throw new MailPkiError('ERR_IDENTITY_NOT_FOUND', `identity ${r.identityId} does not exist`);
    if (this.s.credentials.has(r.id)) throw new MailPkiError('ERR_STORE_CONFLICT', `credential ${r.id} already exists`);
    this.put(this.s.credentials, r.id, clone(r));
  }

  async updateCredential(rec: CredentialRecord): Promise<void> {
    const r = checkInput(credentialRecordSchema, rec, 'credential');
    const stored = this.s.credentials.get(r.id);
    if (!stored || stored.identityId !== r.identityId) {
      throw new MailPkiError('ERR_STORE_CONFLICT', `credential ${r.id} of ${r.identityId} does not exist`);
    }
    this.put(this.s.credentials, r.id, clone({ ...r, createdAt: stored.createdAt }));
  }

  async getCredential(id: string): Promise<CredentialRecord | undefined> {
    const r = this.s.credentials.get(id);
    return r && clone(r);
  }

  async listCredentials(identityId: string): Promise<CredentialRecord[]> {
    const out = [...this.s.credentials.values()].filter((c) => c.identityId === identityId);
    out.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return clone(out);
  }

  async putKey(rec: KeyRecord): Promise<void> {
    const r = checkInput(keyRecordSchema, rec, 'key');
    if (!this.s.identities.has(r.identityId)) throw new MailPkiError('ERR_IDENTITY_NOT_FOUND', `identity ${r.identityId} does not exist`);
    if (this.s.keys.has(r.id)) throw new MailPkiError('ERR_STORE_CONFLICT', `key ${r.id} already exists`);
    this.put(this.s.keys, r.id, clone(r));
  }

  async getKey(id: string): Promise<KeyRecord | undefined> {
    const r = this.s.keys.get(id);
    return r && clone(r);
  }

  async deleteKey(id: string): Promise<boolean> {
    if (!this.s.keys.has(id)) return false;
    this.remove(this.s.keys, id);
    return true;
  }

  async putDecryptionKey(rec: DecryptionKeyRecord): Promise<void> {
    const r = checkInput(decryptionKeyRecordSchema, rec, 'decryption key');
    if (!this.s.identities.has(r.identityId)) throw new MailPkiError('ERR_IDENTITY_NOT_FOUND', `identity ${r.identityId} does not exist`);
    const stored = this.s.decryptionKeys.get(r.credentialId);
    if (stored && stored.identityId !== r.identityId) throw new MailPkiError('ERR_STORE_CONFLICT', `decryption key of credential ${r.credentialId} belongs to ${stored.identityId}`);
    this.put(this.s.decryptionKeys, r.credentialId, clone(r));
  }

  async listDecryptionKeys(identityId: string): Promise<DecryptionKeyRecord[]> {
    const out = [...this.s.decryptionKeys.values()].filter((d) => d.identityId === identityId);
    out.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.credentialId < b.credentialId ? -1 : a.credentialId > b.credentialId ? 1 : 0));
    return clone(out);
  }

  async recordNotice(n: NoticeRecord): Promise<boolean> {
    const r = checkInput(noticeRecordSchema, n, 'notice');
    if (!this.s.identities.has(r.identityId)) throw new MailPkiError('ERR_IDENTITY_NOT_FOUND', `identity ${r.identityId} does not exist`);
    const key = JSON.stringify([r.identityId, r.credentialId, r.noticeKey]);
    if (this.s.notices.has(key)) return false;
    this.put(this.s.notices, key, clone(r));
    return true;
  }

  async listNotices(identityId: string): Promise<NoticeRecord[]> {
    const out = [...this.s.notices.values()].filter((n) => n.identityId === identityId);
    out.sort((a, b) => a.sentAt.getTime() - b.sentAt.getTime() || (a.noticeKey < b.noticeKey ? -1 : 1));
    return clone(out);
  }

  async enqueueEvent(e: NewEvent): Promise<void> {
    const r = checkInput(newEventSchema, e, 'event');
    if (this.s.outbox.has(r.id)) throw new MailPkiError('ERR_STORE_CONFLICT', `event ${r.id} already exists`);
    this.put(this.s.outbox, r.id, clone({ ...r, attempts: 0, nextAttemptAt: r.createdAt }));
  }

  async appendAudit(input: NewAuditRecord): Promise<AuditRecord> {
    const r = checkInput(newAuditSchema, input, 'audit record');
    if (this.s.auditIds.has(r.id)) throw new MailPkiError('ERR_STORE_CONFLICT', `audit record ${r.id} already exists`);
    const last = this.s.audit[this.s.audit.length - 1];
    const rec = chainAudit(r, last);
    this.s.audit.push(clone(rec));
    this.s.auditIds.add(rec.id);
    this.undo.push(() => {
      this.s.audit.pop();
      this.s.auditIds.delete(rec.id);
    });
    return rec;
  }

  async getPendingIssuance(identityId: string): Promise<PendingIssuance | undefined> {
    const r = this.s.pending.get(identityId);
    return r && clone(r);
  }

  async putPendingIssuance(p: PendingIssuance): Promise<void> {
    const r = checkInput(pendingIssuanceSchema, p, 'pending issuance');
    if (!this.s.identities.has(r.identityId)) throw new MailPkiError('ERR_IDENTITY_NOT_FOUND', `identity ${r.identityId} does not exist`);
    this.put(this.s.pending, r.identityId, clone(r));
  }

  async deletePendingIssuance(identityId: string): Promise<void> {
    this.remove(this.s.pending, identityId);
  }
}
