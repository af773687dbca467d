/**
 * The lifecycle store: records, their zod schemas and the `Store` interface every backend implements.
 * Schemas are used twice: on write (a bad record from the caller is ERR_INVALID_INPUT) and on read
 * (a bad row in the database is ERR_STORE_CORRUPT, never a crash further up).
 */
import { z } from 'zod';
import { parseInput } from '../internal/validate.js';
import { protectedKeySchema } from './key-protector.js';

export const IDENTITY_KINDS = ['smime', 'dkim'] as const;
export type IdentityKind = (typeof IDENTITY_KINDS)[number];

export const IDENTITY_STATUSES = ['pending', 'active', 'suspended', 'revoked', 'expired', 'decommissioned'] as const;
export type IdentityStatus = (typeof IDENTITY_STATUSES)[number];

/** What an S/MIME identity's certificate is for (absent: 'both', as before the field existed). */
export const IDENTITY_USES = ['signing', 'encryption', 'both'] as const;
export type IdentityUse = (typeof IDENTITY_USES)[number];

/**
 * How many certificates an S/MIME identity of use 'both' holds: 'single' (one dual-use certificate,
 * as before the field existed; absent means single) or 'separate' (a signing certificate and an
 * encryption certificate, each with its own key, renewed on its own schedule).
 */
export const IDENTITY_CERTIFICATES = ['single', 'separate'] as const;
export type IdentityCertificates = (typeof IDENTITY_CERTIFICATES)[number];

/** Which certificate of a 'separate' identity a credential or an issuance is. */
export const CERTIFICATE_ROLES = ['signing', 'encryption'] as const;
export type CertificateRole = (typeof CERTIFICATE_ROLES)[number];

export const CREDENTIAL_KINDS = ['certificate', 'dkim-key'] as const;
export type CredentialKind = (typeof CREDENTIAL_KINDS)[number];

export const CREDENTIAL_STATUSES = ['current', 'previous', 'revoked', 'expired', 'retired'] as const;
export type CredentialStatus = (typeof CREDENTIAL_STATUSES)[number];

/** Any JSON value (what policy, attributes, payloads and audit before/after may hold). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

const jsonValue: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([
    z.null(),
    z.boolean(),
    z.number().refine(Number.isFinite, 'not a finite number'),
    z.string(),
    z.array(jsonValue),
    z.record(z.string(), jsonValue),
  ]),
);
const jsonObject = z.record(z.string(), jsonValue);
const id = z.string().min(1).max(512);
const text = z.string().max(4096);
// z.date() already refuses an Invalid Date.
const date = z.date();
const bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array && v.length > 0, 'expected non-empty bytes');

export const identityRecordSchema = z
  .object({
    /** 'smime:payments@example.com' or 'dkim:example.com'. */
    id,
    kind: z.enum(IDENTITY_KINDS),
    /** The mailbox (S/MIME) or domain (DKIM). */
    name: z.string().min(1).max(320),
    domain: z.string().min(1).max(253),
    owner: z.object({ team: z.string().min(1).max(200), contact: text.optional() }).strict(),
    purpose: text.optional(),
    approvedBy: text.optional(),
    tags: z.array(z.string().max(200)).max(100),
    caId: id.optional(),
    profile: z.string().max(100).optional(),
    keyType: z.string().min(1).max(100),
    /** S/MIME: signing, encryption or both (absent means both). Decides the certificate's keyUsage. */
    use: z.enum(IDENTITY_USES).optional(),
    /** S/MIME: one certificate or separate signing and encryption certificates (absent means single). */
    certificates: z.enum(IDENTITY_CERTIFICATES).optional(),
    /** Per-identity policy overrides (the manager validates their meaning). */
    policy: jsonObject.optional(),
    status: z.enum(IDENTITY_STATUSES),
    decommissionAt: date.optional(),
    /** The current certificate; for a 'separate' identity, the current signing certificate. */
    currentCredentialId: id.optional(),
    /** 'separate' identities only: the current encryption certificate. */
    encryptionCredentialId: id.optional(),
    /** notAfter of the current credential (of a 'separate' identity: the earlier of the two). Indexed: `expiringBefore`. */
    notAfter: date.optional(),
    /** Earliest time a sweep must look at this identity again. Indexed: `dueBefore`. */
    nextDueAt: date.optional(),
    /** Kind-specific data (DKIM selectors, …). */
    attributes: jsonObject.optional(),
    /** Starts at 1; each successful `updateIdentity` adds 1. */
    version: z.number().int().min(1),
    createdAt: date,
    updatedAt: date,
  })
  .strict();
export type IdentityRecord = z.infer<typeof identityRecordSchema>;
/** What `insertIdentity` takes: the store sets `version` to 1. */
export type NewIdentityRecord = Omit<IdentityRecord, 'version'> & { version?: number };

export const credentialRecordSchema = z
  .object({
    id,
    identityId: id,
    kind: z.enum(CREDENTIAL_KINDS),
    serialNumber: z.string().max(200).optional(),
    fingerprint: z.string().min(1).max(200),
    /** The certificate (DER), for kind 'certificate'. */
    certificate: bytes.optional(),
    keyId: id.optional(),
    /** DKIM selector, for kind 'dkim-key'. */
    selector: z.string().max(200).optional(),
    notBefore: date,
    notAfter: date,
    status: z.enum(CREDENTIAL_STATUSES),
    revokedAt: date.optional(),
    revocationReason: z.string().max(100).optional(),
    attributes: jsonObject.optional(),
    createdAt: date,
  })
  .strict();
export type CredentialRecord = z.infer<typeof credentialRecordSchema>;

export const keyRecordSchema = z
  .object({
    id,
    identityId: id,
    algorithm: z.string().min(1).max(100),
    /** Never plaintext: see KeyProtector. */
    protectedKey: protectedKeySchema,
    createdAt: date,
  })
  .strict();
export type KeyRecord = z.infer<typeof keyRecordSchema>;

/**
 * One entry of an identity's decryption-key history: the key of one certificate that could
 * receive encrypted mail, kept (encrypted at rest, in the keys table) until `retainUntil`, then
 * destroyed by the sweep. One entry per credential; a key reused by a renewal has one per certificate.
 */
export const decryptionKeyRecordSchema = z
  .object({
    credentialId: id,
    identityId: id,
    keyId: id,
    retainUntil: date,
    /** Set when the sweep destroyed the key (the entry stays as history). */
    destroyedAt: date.optional(),
    createdAt: date,
    /** The team that owned the identity in the life this key was issued in. */
    ownerTeam: z.string().min(1).max(200).optional(),
    /**
     * Set when the mailbox was enrolled again (decommissioned, then a new life under the same id):
     * the key belongs to the earlier life and its owner, and is not handed to the new one.
     */
    lifeEndedAt: date.optional(),
  })
  .strict();
export type DecryptionKeyRecord = z.infer<typeof decryptionKeyRecordSchema>;

export const noticeRecordSchema = z
  .object({
    identityId: id,
    credentialId: id,
    /** e.g. 'expiring:30'. */
    noticeKey: z.string().min(1).max(200),
    sentAt: date,
  })
  .strict();
export type NoticeRecord = z.infer<typeof noticeRecordSchema>;

export const newEventSchema = z
  .object({
    /** The event id: receivers de-duplicate by it. */
    id,
    type: z.string().min(1).max(200),
    payload: jsonObject,
    createdAt: date,
  })
  .strict();
export type NewEvent = z.infer<typeof newEventSchema>;

export const outboxRecordSchema = newEventSchema
  .extend({
    /** How many times the event was leased for delivery. */
    attempts: z.number().int().min(0),
    nextAttemptAt: date,
    deliveredAt: date.optional(),
    lastError: z.string().optional(),
    leaseOwner: z.string().optional(),
    leaseUntil: date.optional(),
  })
  .strict();
export type OutboxRecord = z.infer<typeof outboxRecordSchema>;

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits');

/**
 * Audit text columns hold well-formed UTF-16 only: a lone surrogate is stored by SQLite as U+FFFD, so the
 * record read back no longer matches its hash (a false 'changed' that hides any later tampering).
 * before/after are JSON text, where JSON.stringify escapes a lone surrogate, so they keep it.
 */
const wellFormed = <S extends z.ZodString>(s: S) => s.refine((v) => !/\p{Cs}/u.test(v), 'a lone surrogate (not well-formed UTF-16)');

export const newAuditSchema = z
  .object({
    id: wellFormed(id),
    at: date,
    actor: wellFormed(z.string().min(1).max(500)),
    action: wellFormed(z.string().min(1).max(200)),
    identityId: wellFormed(id).optional(),
    reason: wellFormed(text).optional(),
    before: jsonValue.optional(),
    after: jsonValue.optional(),
  })
  .strict();
export type NewAuditRecord = z.infer<typeof newAuditSchema>;

export const auditRecordSchema = newAuditSchema
  .extend({ seq: z.number().int().min(1), prevHash: hex64, hash: hex64 })
  .strict();
export type AuditRecord = z.infer<typeof auditRecordSchema>;

export const pendingIssuanceSchema = z
  .object({
    identityId: id,
    /** Passed to the CA adapter, so a retry after a crash gets the same certificate back. */
    idempotencyKey: z.string().min(1).max(200),
    requestedAt: date,
    /** `withdrawn`: a revoke, suspend or decommission took it back; no recording takes its certificate (docs/lifecycle.md). */
    status: z.enum(['started', 'completed', 'withdrawn']),
    credentialId: id.optional(),
    /** 'separate' identities: which of the two certificates is being issued (absent: the identity's only certificate). */
    certificate: z.enum(CERTIFICATE_ROLES).optional(),
  })
  .strict();
export type PendingIssuance = z.infer<typeof pendingIssuanceSchema>;

export interface IdentityFilter {
  /** owner.team equals. */
  owner?: string;
  domain?: string;
  status?: IdentityStatus[];
  kind?: IdentityKind;
  /** notAfter ≤ expiringBefore (inclusive). Uses the notAfter index. */
  expiringBefore?: Date;
  /** nextDueAt ≤ dueBefore (inclusive, so a sweep at `now` sees what is due exactly now). Uses the nextDueAt index. */
  dueBefore?: Date;
}

export interface IdentityListFilter extends IdentityFilter {
  /** Default and maximum: 10,000. */
  limit?: number;
  /** Keyset pagination: ids strictly greater than this. Results are always ordered by id. */
  afterId?: string;
}

export const identityListFilterSchema = z
  .object({
    owner: z.string().optional(),
    domain: z.string().optional(),
    status: z.array(z.enum(IDENTITY_STATUSES)).optional(),
    kind: z.enum(IDENTITY_KINDS).optional(),
    expiringBefore: date.optional(),
    dueBefore: date.optional(),
    limit: z.number().int().min(1).max(10_000).optional(),
    afterId: z.string().optional(),
  })
  .strict();

export interface EventListFilter {
  undeliveredOnly?: boolean;
  /** createdAt strictly after this; with `afterId`, (createdAt, id) strictly after (afterCreatedAt, afterId). */
  afterCreatedAt?: Date;
  afterId?: string;
  /** Default and maximum: 10,000. */
  limit?: number;
}

export const eventListFilterSchema = z
  .object({
    undeliveredOnly: z.boolean().optional(),
    afterCreatedAt: date.optional(),
    afterId: z.string().optional(),
    limit: z.number().int().min(1).max(10_000).optional(),
  })
  .strict()
  .refine((f) => f.afterId === undefined || f.afterCreatedAt !== undefined, {
    message: 'afterId needs afterCreatedAt',
    path: ['afterId'],
  });

export interface AuditListFilter {
  /** First seq to return (default 1). */
  fromSeq?: number;
  /** Default and maximum: 100,000. */
  limit?: number;
}

export const auditListFilterSchema = z
  .object({ fromSeq: z.number().int().min(1).optional(), limit: z.number().int().min(1).max(100_000).optional() })
  .strict();

export const MAX_LIST_LIMIT = 10_000;
export const MAX_AUDIT_LIST_LIMIT = 100_000;

/**
 * Everything done inside one transaction. Valid only until the transaction's function settles;
 * using it afterwards is refused (ERR_INVALID_INPUT).
 */
export interface StoreTx {
  getIdentity(id: string): Promise<IdentityRecord | undefined>;
  /** Ordered by id. `dueBefore` and `expiringBefore` are answered from an index. */
  listIdentities(filter: IdentityListFilter): Promise<IdentityRecord[]>;
  countIdentities(filter?: IdentityFilter): Promise<number>;
  /** Stores the record with version 1. Duplicate id: ERR_IDENTITY_EXISTS. */
  insertIdentity(rec: NewIdentityRecord): Promise<void>;
  /**
   * Replaces the record if its stored version is still `expectedVersion`; the stored version becomes
   * expectedVersion + 1, which is returned. Otherwise ERR_STORE_CONFLICT (ERR_IDENTITY_NOT_FOUND when gone).
   * `rec.version` is ignored; `id`, `kind` and `createdAt` never change.
   */
  updateIdentity(rec: IdentityRecord, expectedVersion: number): Promise<number>;

  /** Duplicate id: ERR_STORE_CONFLICT; unknown identity: ERR_IDENTITY_NOT_FOUND. */
  insertCredential(rec: CredentialRecord): Promise<void>;
  /** Replaces a stored credential (same id and identity). Unknown id: ERR_STORE_CONFLICT. */
  updateCredential(rec: CredentialRecord): Promise<void>;
  getCredential(id: string): Promise<CredentialRecord | undefined>;
  /** Oldest first (createdAt, then id). */
  listCredentials(identityId: string): Promise<CredentialRecord[]>;

  /** Insert only (keys are immutable). Duplicate id: ERR_STORE_CONFLICT. */
  putKey(rec: KeyRecord): Promise<void>;
  getKey(id: string): Promise<KeyRecord | undefined>;
  /**
   * Destroys a stored private key (its identity is decommissioned, or the key was removed): true
   * when it was there. Credentials keep their keyId; getKey returns undefined afterwards. Rolled
   * back with the transaction like any write.
   */
  deleteKey(id: string): Promise<boolean>;

  /**
   * Insert or replace the history entry of `rec.credentialId`. Unknown identity: ERR_IDENTITY_NOT_FOUND;
   * a credential id held by another identity: ERR_STORE_CONFLICT.
   */
  putDecryptionKey(rec: DecryptionKeyRecord): Promise<void>;
  /** The identity's decryption-key history, oldest first (createdAt, then credentialId). */
  listDecryptionKeys(identityId: string): Promise<DecryptionKeyRecord[]>;

  /** False when this (identity, credential, noticeKey) was already recorded. */
  recordNotice(n: NoticeRecord): Promise<boolean>;
  /** Notices recorded for an identity, oldest first. */
  listNotices(identityId: string): Promise<NoticeRecord[]>;

  /** Outbox: written with the change it describes. attempts 0, nextAttemptAt = createdAt. Duplicate id: ERR_STORE_CONFLICT. */
  enqueueEvent(e: NewEvent): Promise<void>;

  /** Chains the record to the last one (seq, prevHash, hash) inside this transaction. */
  appendAudit(r: NewAuditRecord): Promise<AuditRecord>;

  getPendingIssuance(identityId: string): Promise<PendingIssuance | undefined>;
  /** Insert or replace (one per identity). */
  putPendingIssuance(p: PendingIssuance): Promise<void>;
  deletePendingIssuance(identityId: string): Promise<void>;
}

export interface Store {
  /**
   * Runs `fn` all-or-nothing: if it throws, nothing it wrote stays. Transactions are serialised
   * (per store object; SQLite also across processes with BEGIN IMMEDIATE). Calling `transaction`
   * (or any Store method) from inside `fn` is a caller mistake: ERR_INVALID_INPUT.
   */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  close(): Promise<void>;

  /**
   * Leases up to `limit` undelivered events whose nextAttemptAt ≤ now and whose lease is free or
   * expired, oldest first: sets leaseOwner, leaseUntil = now + leaseMs, attempts + 1. Two leasers
   * never get the same event while a lease runs.
   */
  leaseEvents(owner: string, now: Date, leaseMs: number, limit: number): Promise<OutboxRecord[]>;
  /** Sets deliveredAt and frees the lease. Unknown id: ERR_INVALID_INPUT; already delivered: no change. */
  markEventDelivered(id: string, at: Date): Promise<void>;
  /** Records the error, frees the lease, retries at nextAttemptAt. Already delivered: no change. */
  markEventFailed(id: string, error: string, nextAttemptAt: Date): Promise<void>;
  /**
   * Claims an identity for one worker (a sweep working on it): true when `owner` holds the claim
   * until now + leaseMs — it was free, its lease had run out (its worker died or stalled), or
   * `owner` held it already (extended). Atomic: of two workers asking at once, in this process or
   * another, exactly one gets true while the lease runs. Outside business transactions; claims
   * are not identity changes (no version bump, no audit).
   */
  claimIdentity(identityId: string, owner: string, now: Date, leaseMs: number): Promise<boolean>;
  /** Gives up the claim if `owner` holds it; anyone else's claim is left alone. */
  releaseIdentity(identityId: string, owner: string): Promise<void>;
  /** Ordered by (createdAt, id). */
  listEvents(filter: EventListFilter): Promise<OutboxRecord[]>;
  /** Ordered by seq. */
  listAudit(filter?: AuditListFilter): Promise<AuditRecord[]>;
}

export const MAX_EVENT_ERROR_LENGTH = 2000;

/** Validates a record the caller hands in. */
export function checkInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  return parseInput(schema, value, what);
}

/** Validates what the database handed back. */
export function checkRow<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  return parseInput(schema, value, `corrupt ${what} in store`, 'ERR_STORE_CORRUPT');
}
