/**
 * The lifecycle manager: an owned inventory of mail-signing identities over a CA and a Store.
 *
 * Every state change is one store transaction holding the change, its outbox events and its audit
 * record; a CA call is never made inside a transaction. Issuance is crash-safe: the key and a
 * PendingIssuance with an idempotency key are written before the CA is asked, and any later attempt
 * (renew, runDue, enroll again) completes that issuance with the same key, so the CA hands back the
 * certificate it already issued instead of a second one.
 */
import { z } from 'zod';
import { isDomainAllowed } from '../ca/profiles.js';
import { forEachDue, isLostRace, resolveClaims, withClaim, type ClaimOptions, type Claims } from './claims.js';
import { ListenerRegistry } from './listeners.js';
import { deliverOutbox, type DeliverySummary } from './delivery.js';
import { MailPkiError, isMailPkiError, type MailPkiErrorCode } from '../errors.js';
import { validatedCa } from '../ca/validated.js';
import { mailboxDomain } from '../ca/profiles.js';
import {
  REVOCATION_REASONS,
  SMIME_PROFILES,
  type CaInfo,
  type CertificateAuthority,
  type IssuedCertificate,
  type RevocationReason,
} from '../ca/types.js';
import { certificateFingerprint, isSelfIssued, parseCertificate } from '../certs/certificate.js';
import { copyBytes, fromBase64, toBase64 } from '../internal/bytes.js';
import { systemClock, type Clock } from '../internal/clock.js';
import { resolveCrypto } from '../internal/crypto.js';
import { parseInput } from '../internal/validate.js';
import { KEY_TYPES, generateKeyPair, keyTypeDecrypts, keyTypeSigns, type KeyType } from '../keys/generate.js';
import { parsePrivateKeyInfo } from '../keys/private-key-info.js';
import { exportPkcs8, importPrivateKey } from '../keys/pkcs8.js';
import { exportSpki } from '../keys/spki.js';
import type { SmimeSigner } from '../smime/sign.js';
import { exportPkcs12Entries } from '../pkcs12/export.js';
import { type Certificate } from '../certs/certificate.js';
import { importDecryptionKey, type DecryptionKey } from './decryption-keys.js';
import type { KeyProtector } from '../store/index.js';
import type {
  CredentialRecord,
  IdentityRecord,
  IdentityStatus,
  JsonObject,
  NewAuditRecord,
  PendingIssuance,
  Store,
  StoreTx,
} from '../store/index.js';
import { IDENTITY_CERTIFICATES, IDENTITY_KINDS, IDENTITY_STATUSES, IDENTITY_USES, type IdentityCertificates, type IdentityUse } from '../store/index.js';
import {
  createEvent,
  eventPayload,
  summariseCertificate,
  LIFECYCLE_EVENT_TYPES,
  type EventListener,
  type EventSink,
  type LifecycleEvent,
  type LifecycleEventOf,
  type LifecycleEventType,
  type NewEventInput,
} from './events.js';
import { actorSchema, freeText, hasHiddenCharacter, nameText, reasonSchema } from './actor.js';
import { timeOrderedId } from './ids.js';
import {
  credentialRole,
  earliestNotAfter,
  holdsSeparateCertificates,
  missingSlots,
  slotCaUsage,
  slotCredentialId,
  slotOfRole,
  slotKeyType,
  slotReceivesEncryptedMail,
  slotRole,
  slotsOf,
  slotsOfChoice,
  withSlotCredential,
  type CertificateChoice,
  type CertificateSlot,
} from './certificates.js';
import {
  checkIssuancePolicy,
  checkMailboxDomain,
  checkPolicyOverrides,
  decryptionKeyRetainUntil,
  dueDecryptionKeys,
  dueNotices,
  effectivePolicy,
  nextDueAt,
  parseLifecyclePolicy,
  parsePolicyOverrides,
  policyError,
  sweepStep,
  type ApprovalRequest,
  type LifecyclePolicy,
  type LifecyclePolicyInput,
} from './policy.js';

export interface LifecycleManagerOptions extends ClaimOptions {
  ca: CertificateAuthority;
  store: Store;
  /** Wraps private keys before they reach the store (AES-256-GCM under a KEK). */
  keyProtector: KeyProtector;
  policy?: LifecyclePolicyInput;
  clock?: Clock;
  crypto?: Crypto;
  sinks?: EventSink[];
  /** Actor recorded for sweeps (runDue) when none is given. Default 'mailpki:runDue'. */
  actor?: string;
  /** Lease owner name for outbox delivery. Default a random UUID per manager. */
  instanceId?: string;
  /** After a failed automatic renewal, the sweep tries again this much later. Default 1 h. */
  retryDelayMs?: number;
  /** Outbox redelivery backoff: base delay, doubled per attempt, capped at 6 h. Default 30 s. */
  deliveryBackoffMs?: number;
  /** How long a leased event is reserved for this process. Default 60 s. */
  leaseMs?: number;
  /**
   * Errors that cannot be thrown to a caller: a throwing in-process listener, or a failure while
   * recording a CA failure. Default: console.error.
   */
  onError?: (error: unknown, context: string) => void;
}

export interface Actor {
  /** Who: a person, a service, a ticket ("alice@example.com", "ci:deploy#42"). */
  actor: string;
}

export interface EnrollInput {
  mailbox: string;
  owner: { team: string; contact?: string };
  purpose?: string;
  approvedBy?: string;
  tags?: string[];
  profile?: (typeof SMIME_PROFILES)[number];
  /**
   * The key type of its certificate, or of the signing certificate of a separate pair. Default
   * ec-p256 (or the first the policy allows that fits the use). 'x25519' (RFC 8418) needs use
   * 'encryption': an X25519 key cannot sign.
   */
  keyType?: KeyType;
  /**
   * Separate certificates only (it implies them when `certificates` is not given): the key type of
   * the encryption certificate, e.g. 'x25519' beside an Ed25519 or EC signing key. Default: keyType.
   * The policy's allowedKeyTypes must allow it too.
   */
  encryptionKeyType?: KeyType;
  /**
   * What its certificate is for (default 'both'): 'signing' (digitalSignature only; no key is kept
   * after decommission), 'encryption' (keyEncipherment / keyAgreement only: getSigner refuses it),
   * or 'both'. The keys of certificates that receive encrypted mail enter the decryption-key history.
   */
  use?: IdentityUse;
  /**
   * Use 'both' only: one dual-use certificate ('single') or a signing certificate (digitalSignature)
   * and an encryption certificate (keyEncipherment for RSA, keyAgreement for EC), each with its own
   * key, each renewed on its own schedule ('separate'). Default: the policy's `certificates` ('single').
   * Only the encryption certificate's keys enter the decryption-key history.
   */
  certificates?: IdentityCertificates;
  /** Per-identity policy overrides (validityDays, renewal, notices, rekeyOnRenewal, allowedKeyTypes, minRsaBits). */
  policy?: Record<string, unknown>;
  decommissionAt?: Date;
}

export interface RenewOptions extends Actor {
  reason?: string;
  /** New key (default: the policy's rekeyOnRenewal; always when the certificate was revoked). */
  rekey?: boolean;
  /** Identities with separate certificates: which to renew (default 'all': each, one after the other). */
  certificate?: CertificateChoice;
}

export interface RevokeOptions extends Actor {
  reason: RevokeReason;
  /**
   * Identities with separate certificates: revoke only the signing or only the encryption
   * certificate (the identity stays as it is; the other certificate goes on), or 'all' (default):
   * every certificate, and the identity is revoked. One-certificate identities: 'all' only.
   */
  certificate?: CertificateChoice;
}

/** The certificate senders encrypt to (`encryptMessage(…, [recipient])`) and the chain that issued it. */
export interface EncryptionCertificate {
  /** DER. */
  certificate: Uint8Array;
  /** Issuing chain (DER), without the root. */
  chain: Uint8Array[];
  serialNumber: string;
  notAfter: Date;
  /** 'encryption' for an identity with separate certificates, else the identity's only certificate ('both' or 'encryption'). */
  role: 'encryption' | 'both';
}

export type RevokeReason = Exclude<RevocationReason, 'certificateHold' | 'removeFromCRL'>;

export interface ListFilter {
  owner?: string;
  domain?: string;
  status?: IdentityStatus | IdentityStatus[];
  kind?: (typeof IDENTITY_KINDS)[number];
  expiringBefore?: Date;
  limit?: number;
  afterId?: string;
}

export interface DueSummary {
  scanned: number;
  renewed: string[];
  notices: Array<{ identityId: string; noticeKey: string; daysLeft: number }>;
  expired: string[];
  decommissioned: string[];
  failed: Array<{ identityId: string; code: string; message: string }>;
  /** Identities another worker was working on (claimed) or finished meanwhile: left to it, not failures. */
  skipped: string[];
  /** Decryption keys whose retention ended, destroyed by this sweep (one entry per certificate). */
  decryptionKeysDestroyed: Array<{ identityId: string; credentialId: string }>;
}

/** One entry of an identity's decryption-key history, as `decryptionKeys` lists it (no key material). */
export interface DecryptionKeyInfo {
  credentialId: string;
  serialNumber?: string;
  notAfter: Date;
  createdAt: Date;
  retainUntil: Date;
  /** When the sweep destroyed it; absent while it is kept. */
  destroyedAt?: Date;
  /** The team that owned the identity in the life this key was issued in. */
  ownerTeam?: string;
  /** When that life ended (the mailbox was enrolled again): the key is not the current holder's. */
  lifeEndedAt?: Date;
}

export interface KeyAccessOptions extends Actor {
  /** Why (a ticket, a court order, "legal hold 2031-17"): recorded in the audit log. */
  reason: string;
  /**
   * The keys of earlier lives of the mailbox (before it was decommissioned and enrolled again) that
   * this team owned, instead of the current life's. Without it only the current life's keys are
   * handed out: a mailbox's new holder never gets the mail encrypted to the previous one. Audited
   * with the team named.
   */
  previousOwner?: string;
}

export interface ExportDecryptionKeysOptions extends KeyAccessOptions {
  /** Protects the .p12 (PBES2 AES-256-CBC, HMAC-SHA256 MAC). */
  passphrase: string;
  /** PBKDF2 and MAC iterations, default 600,000. */
  iterations?: number;
  /**
   * Export a key that also signs for a current certificate (one dual-use certificate, use 'both'):
   * whoever holds the .p12 can then sign as the identity until that certificate expires or is
   * revoked. Without it such an export is refused (ERR_KEY_EXPORT_REFUSED); with it the audit record
   * and the owner's event name the live signing keys exported.
   */
  includeLiveSigningKey?: boolean;
}

export type { DeliverySummary } from './delivery.js';

/** What `recordSignature` writes to the audit trail about one signed message (never its content). */
export interface SignatureRecord {
  /** The signing certificate's serial (lower-case hex). */
  serialNumber: string;
  /** The message's Message-ID field value, when it has one. */
  messageId?: string;
  /** SHA-256 of the message bytes as sent, lower-case hex. */
  sha256: string;
}

const signatureRecordSchema = z
  .object({
    serialNumber: z.string().regex(/^[0-9a-f]{1,80}$/),
    messageId: z.string().min(1).max(998).optional(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();


const mailboxSchema = z
  .string()
  .max(254)
  .regex(
    /^[^\s@<>()",;:\\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/,
    'not a mailbox address (local@domain)',
  );
const dateSchema = z.date().refine((d) => !Number.isNaN(d.getTime()), 'invalid date');

const enrollSchema = z
  .object({
    mailbox: mailboxSchema.refine((m) => !hasHiddenCharacter(m), 'no control character, line separator, bidirectional control or lone surrogate'),
    owner: z.object({ team: nameText(200).min(1), contact: freeText(4096).optional() }).strict(),
    purpose: freeText(4096).optional(),
    approvedBy: nameText(4096).optional(),
    tags: z.array(freeText(200).min(1)).max(100).default([]),
    profile: z.enum(SMIME_PROFILES).default('strict'),
    keyType: z.enum(KEY_TYPES as [KeyType, ...KeyType[]]).optional(),
    encryptionKeyType: z.enum(KEY_TYPES as [KeyType, ...KeyType[]]).optional(),
    use: z.enum(IDENTITY_USES).default('both'),
    certificates: z.enum(IDENTITY_CERTIFICATES).optional(),
    policy: z.record(z.string(), z.unknown()).optional(),
    decommissionAt: dateSchema.optional(),
  })
  .strict()
  .refine((r) => !(r.use === 'encryption' && r.keyType === 'ed25519'), { message: 'an Ed25519 key cannot receive encrypted mail: use an RSA, EC or X25519 key type', path: ['keyType'] })
  .refine((r) => !(r.keyType === 'x25519' && r.use !== 'encryption'), {
    message:
      "an X25519 key cannot sign, so it cannot be the key of a certificate for signing: use 'encryption' for an encryption-only identity, or use 'both' with certificates: 'separate' and encryptionKeyType: 'x25519' beside a signing key",
    path: ['keyType'],
  })
  .refine((r) => r.encryptionKeyType === undefined || (r.use === 'both' && r.certificates !== 'single'), {
    message: "encryptionKeyType is the key type of the encryption certificate of a separate pair: it needs use 'both' and certificates 'separate' (an identity of one certificate takes keyType)",
    path: ['encryptionKeyType'],
  })
  .refine((r) => r.encryptionKeyType !== 'ed25519', { message: 'an Ed25519 key cannot receive encrypted mail: use an RSA, EC or X25519 encryptionKeyType', path: ['encryptionKeyType'] })
  .refine((r) => !(r.certificates === 'separate' && r.use !== 'both'), {
    message: "separate signing and encryption certificates need use 'both' (an identity of one use holds one certificate)",
    path: ['certificates'],
  })
  .refine((r) => !(r.certificates === 'separate' && r.keyType === 'ed25519' && r.encryptionKeyType === undefined), {
    message: "an Ed25519 key cannot be an encryption certificate's key: give the encryption certificate its own encryptionKeyType (RSA, EC or X25519)",
    path: ['keyType'],
  });

const actorOptionsSchema = z.object({ actor: actorSchema }).strict();
const certificateChoiceSchema = z.enum(['signing', 'encryption', 'all']);
const renewOptionsSchema = z
  .object({ actor: actorSchema, reason: reasonSchema().optional(), rekey: z.boolean().optional(), certificate: certificateChoiceSchema.optional() })
  .strict();
const revokeReasons = Object.keys(REVOCATION_REASONS).filter((r) => r !== 'certificateHold' && r !== 'removeFromCRL') as [RevokeReason, ...RevokeReason[]];
const revokeOptionsSchema = z.object({ actor: actorSchema, reason: z.enum(revokeReasons), certificate: certificateChoiceSchema.optional() }).strict();
const reasonOptionsSchema = z.object({ actor: actorSchema, reason: reasonSchema().optional() }).strict();
const decommissionOptionsSchema = z.object({ actor: actorSchema, reason: reasonSchema(1) }).strict();
const keyAccessSchema = z
  .object({ actor: actorSchema, reason: z.string().trim().min(1, 'why: a non-empty reason').pipe(reasonSchema()), previousOwner: z.string().trim().min(1).max(200).optional() })
  .strict();
const exportKeysSchema = keyAccessSchema
  .extend({ passphrase: z.string().min(1).max(4096), iterations: z.number().int().min(1000).max(10_000_000).optional(), includeLiveSigningKey: z.boolean().optional() })
  .strict();
const listFilterSchema = z
  .object({
    owner: z.string().optional(),
    domain: z.string().optional(),
    status: z.union([z.enum(IDENTITY_STATUSES), z.array(z.enum(IDENTITY_STATUSES))]).optional(),
    kind: z.enum(IDENTITY_KINDS).optional(),
    expiringBefore: dateSchema.optional(),
    limit: z.number().int().min(1).max(10_000).optional(),
    afterId: z.string().optional(),
  })
  .strict();

/** The minimal shape checked on events read back from the outbox before they go to sinks. */

const IDEMPOTENCY_PREFIX = 'mailpki1';
const HOUR = 3_600_000;
const SWEEP_PAGE = 500;

type Operation = 'enroll' | 'renew';

/** An issuance that has its key and idempotency key written down, ready for the CA. */
interface PreparedIssuance {
  identityId: string;
  idempotencyKey: string;
  keyId: string;
  spki: Uint8Array;
  /** Which of the identity's certificates it is for. */
  slot: CertificateSlot;
}

/** The identity id of a mailbox ('smime:payments@example.com'). */
export function smimeIdentityId(mailbox: string): string {
  return `smime:${mailbox.trim().toLowerCase()}`;
}

/**
 * Runs the life of mail-signing identities.
 *
 * @example
 * const manager = new LifecycleManager({ ca, store, keyProtector: passphraseKeyProtector(pass), policy: {
 *   allowedDomainsByOwner: { treasury: ['example.com'] }, notices: [30, 7],
 * }});
 * await manager.enroll({ mailbox: 'payments@example.com', owner: { team: 'treasury' } }, { actor: 'alice' });
 * await manager.runDue();          // from a scheduler
 * await manager.deliverEvents();   // outbox → sinks
 */
export class LifecycleManager {
  readonly policy: LifecyclePolicy;
  private readonly ca: CertificateAuthority;
  private readonly store: Store;
  private readonly keyProtector: KeyProtector;
  private readonly clock: Clock;
  private readonly crypto: Crypto;
  private readonly sinks: EventSink[];
  private readonly defaultActor: string;
  private readonly instanceId: string;
  private readonly retryDelayMs: number;
  private readonly deliveryBackoffMs: number;
  private readonly leaseMs: number;
  private readonly claims: Claims;
  private readonly onError: (error: unknown, context: string) => void;
  private readonly listeners: ListenerRegistry<LifecycleEvent>;
  private caInfo: Promise<CaInfo> | undefined;

  constructor(options: LifecycleManagerOptions) {
    if (!options || typeof options !== 'object') throw new MailPkiError('ERR_INVALID_INPUT', 'LifecycleManager: options are required', { details: { field: 'options' } });
    if (!options.ca || typeof options.ca.issue !== 'function') throw new MailPkiError('ERR_INVALID_INPUT', 'LifecycleManager: ca must be a CertificateAuthority', { details: { field: 'ca' } });
    if (!options.store || typeof options.store.transaction !== 'function') throw new MailPkiError('ERR_INVALID_INPUT', 'LifecycleManager: store must be a Store', { details: { field: 'store' } });
    if (!options.keyProtector || typeof options.keyProtector.protect !== 'function')
      throw new MailPkiError('ERR_INVALID_INPUT', 'LifecycleManager: keyProtector is required (private keys are never stored in the clear)', { details: { field: 'keyProtector' } });
    this.policy = parseLifecyclePolicy(options.policy ?? {});
    this.ca = validatedCa(options.ca);
    this.store = options.store;
    this.keyProtector = options.keyProtector;
    this.clock = options.clock ?? systemClock;
    this.crypto = resolveCrypto(options.crypto);
    this.sinks = [...(options.sinks ?? [])];
    this.defaultActor = options.actor ?? 'mailpki:runDue';
    this.instanceId = options.instanceId ?? this.crypto.randomUUID();
    this.retryDelayMs = options.retryDelayMs ?? HOUR;
    this.deliveryBackoffMs = options.deliveryBackoffMs ?? 30_000;
    this.leaseMs = options.leaseMs ?? 60_000;
    this.claims = resolveClaims(this.instanceId, options, 'LifecycleManager');
    this.onError = options.onError ?? ((e, context) => console.error(`mailpki lifecycle: ${context}:`, e));
    this.listeners = new ListenerRegistry(LIFECYCLE_EVENT_TYPES, (e, context) => this.onError(e, context));
  }

  // ---------------------------------------------------------------------------------------------
  // Listeners

  /** In-process listener for one event type or '*'; called after the change is committed. Returns an unsubscribe function. */
  on<T extends LifecycleEventType>(type: T, listener: (event: LifecycleEventOf<T>) => void | Promise<void>): () => void;
  on(type: '*', listener: EventListener): () => void;
  on(type: LifecycleEventType | '*', listener: (event: never) => void | Promise<void>): () => void {
    return this.listeners.add(type, listener as (e: LifecycleEvent) => void);
  }

  /**
   * One transaction: `fn` gets the tx, an `emit` that writes an event to the outbox and an `audit`
   * that appends an audit record. Listeners hear the events only after the commit.
   */
  private async write<T>(
    at: Date,
    fn: (
      tx: StoreTx,
      emit: <E extends LifecycleEventType>(e: NewEventInput<E>) => Promise<void>,
      audit: (r: Omit<NewAuditRecord, 'id' | 'at'>) => Promise<void>,
    ) => Promise<T>,
  ): Promise<T> {
    let events: LifecycleEvent[] = [];
    const result = await this.store.transaction(async (tx) => {
      events = [];
      const emit = async <E extends LifecycleEventType>(input: NewEventInput<E>): Promise<void> => {
        const event = createEvent(input, at, this.crypto) as LifecycleEvent;
        await tx.enqueueEvent({ id: event.id, type: event.type, payload: eventPayload(event), createdAt: at });
        events.push(event);
      };
      const audit = async (r: Omit<NewAuditRecord, 'id' | 'at'>): Promise<void> => {
        await tx.appendAudit({ id: this.crypto.randomUUID(), at, ...stripUndefined(r) });
      };
      return fn(tx, emit, audit);
    });
    this.listeners.dispatch(events);
    return result;
  }

  private info(): Promise<CaInfo> {
    this.caInfo ??= this.ca.info().catch((e: unknown) => {
      this.caInfo = undefined;
      throw e;
    });
    return this.caInfo;
  }

  // ---------------------------------------------------------------------------------------------
  // Reading

  /** The identity by id ('smime:…') or mailbox. ERR_IDENTITY_NOT_FOUND when there is none. */
  async get(idOrMailbox: string): Promise<IdentityRecord> {
    const id = this.resolveId(idOrMailbox);
    const rec = await this.store.transaction((tx) => tx.getIdentity(id));
    if (!rec) throw notFound(id);
    return rec;
  }

  /** The identity's certificates, oldest first (current, previous, revoked, expired). */
  async credentials(idOrMailbox: string): Promise<CredentialRecord[]> {
    const id = this.resolveId(idOrMailbox);
    return this.store.transaction(async (tx) => {
      if (!(await tx.getIdentity(id))) throw notFound(id);
      return tx.listCredentials(id);
    });
  }

  /** Identities by owner, domain, status, kind, expiring-before; ordered by id (page with afterId). */
  async list(filter: ListFilter = {}): Promise<IdentityRecord[]> {
    const f = parseInput(listFilterSchema, filter, 'list filter');
    const { status, ...rest } = f;
    return this.store.transaction((tx) =>
      tx.listIdentities({ ...stripUndefined(rest), ...(status !== undefined && { status: Array.isArray(status) ? status : [status] }) }),
    );
  }

  /**
   * A signer for the identity's current certificate (`signMessage(…, signer)`): the key is
   * imported non-extractable and the plaintext PKCS#8 wiped after import.
   */
  async getSigner(idOrMailbox: string): Promise<SmimeSigner> {
    const id = this.resolveId(idOrMailbox);
    const now = this.clock();
    const { identity, credential, key } = await this.store.transaction(async (tx) => {
      const identity = await tx.getIdentity(id);
      if (!identity) throw notFound(id);
      assertSmime(identity);
      const credential = identity.currentCredentialId ? await tx.getCredential(identity.currentCredentialId) : undefined;
      const key = credential?.keyId ? await tx.getKey(credential.keyId) : undefined;
      return { identity, credential, key };
    });
    if (identity.status !== 'active') throw stateError(identity, 'sign with');
    if (identity.use === 'encryption')
      throw new MailPkiError('ERR_IDENTITY_STATE', `${identity.name} holds an encryption-only certificate: it cannot sign`, { details: { identityId: identity.id, use: identity.use } });
    if (!credential || credential.status !== 'current' || !credential.certificate || !key)
      throw new MailPkiError('ERR_IDENTITY_STATE', `${identity.name} has no current certificate and key to sign with`);
    if (now.getTime() >= credential.notAfter.getTime() || now.getTime() < credential.notBefore.getTime())
      throw new MailPkiError('ERR_IDENTITY_STATE', `the certificate of ${identity.name} is not valid now (${credential.notBefore.toISOString()} to ${credential.notAfter.toISOString()})`);
    const ku = parseCertificate(credential.certificate).keyUsage;
    if (ku && !ku.includes('digitalSignature'))
      throw new MailPkiError('ERR_IDENTITY_STATE', `the certificate of ${identity.name} is not for signing (keyUsage ${ku.join(', ')})`, { details: { identityId: identity.id } });
    const pkcs8 = await this.keyProtector.unprotect(key.protectedKey);
    try {
      const privateKey = await importPrivateKey(pkcs8, { crypto: this.crypto, extractable: false });
      const chain = chainOf(credential).filter((der) => !isSelfIssued(parseCertificate(der)));
      return { key: privateKey, certificate: credential.certificate, chain };
    } finally {
      pkcs8.fill(0);
    }
  }

  /**
   * The certificate to encrypt to the identity: its current encryption certificate (separate
   * certificates) or its only certificate (use 'both' or 'encryption'), valid now. Reads only (no
   * key is touched). A signing-only identity, one not active, or one whose encryption certificate is
   * revoked or not valid now: ERR_IDENTITY_STATE.
   *
   * @example
   * const to = await manager.getEncryptionCertificate('legal@example.com');
   * const mail = await signAndEncrypt(message, await manager.getSigner('payments@example.com'), [to.certificate]);
   */
  async getEncryptionCertificate(idOrMailbox: string): Promise<EncryptionCertificate> {
    const id = this.resolveId(idOrMailbox);
    const now = this.clock();
    const { identity, credential } = await this.load(id, 'encryption');
    if (identity.status !== 'active') throw stateError(identity, 'encrypt to');
    if (!slotReceivesEncryptedMail(identity, holdsSeparateCertificates(identity) ? 'encryption' : 'main'))
      throw new MailPkiError('ERR_IDENTITY_STATE', `${identity.name} holds no certificate for encryption (use ${identity.use ?? 'both'}, key ${identity.keyType})`, {
        details: { identityId: identity.id, use: identity.use ?? 'both' },
      });
    if (!credential || credential.status !== 'current' || !credential.certificate)
      throw new MailPkiError('ERR_IDENTITY_STATE', `${identity.name} has no current ${holdsSeparateCertificates(identity) ? 'encryption ' : ''}certificate to encrypt to${credential ? ` (it is ${credential.status})` : ''}`, {
        details: { identityId: identity.id },
      });
    if (now.getTime() >= credential.notAfter.getTime() || now.getTime() < credential.notBefore.getTime())
      throw new MailPkiError('ERR_IDENTITY_STATE', `the encryption certificate of ${identity.name} is not valid now (${credential.notBefore.toISOString()} to ${credential.notAfter.toISOString()})`, {
        details: { identityId: identity.id },
      });
    return {
      certificate: copyBytes(credential.certificate),
      chain: chainOf(credential).filter((der) => !isSelfIssued(parseCertificate(der))),
      serialNumber: credential.serialNumber ?? '',
      notAfter: credential.notAfter,
      role: holdsSeparateCertificates(identity) ? 'encryption' : 'both',
    };
  }

  /** The identity's decryption-key history, oldest first: what is kept, until when, and what was destroyed. */
  async decryptionKeys(idOrMailbox: string): Promise<DecryptionKeyInfo[]> {
    return readDecryptionKeys(this.store, idOrMailbox);
  }

  /**
   * Every decryption key the identity still holds (its whole kept history, newest first), for
   * `decryptMessage(raw, { keys })`: non-extractable CryptoKeys (RSA-OAEP SHA-256 or ECDH), and
   * for RSA a `rawRsaDecrypt` for PKCS#1 v1.5 and other OAEP hashes, computed inside from the key
   * without exposing it. Works in any state, decommissioned too, until retention ends. Audited
   * (`decryption-keys.used`: actor, reason, which certificates) before any key is handed out.
   * No kept key: ERR_IDENTITY_STATE.
   *
   * @example
   * const keys = await manager.getDecryptor('legal@example.com', { actor: 'mail-gateway', reason: 'inbound mail' });
   * const opened = await decryptMessage(raw, { keys });
   */
  async getDecryptor(idOrMailbox: string, options: KeyAccessOptions): Promise<DecryptionKey[]> {
    const { actor, reason, previousOwner } = parseInput(keyAccessSchema, options, 'getDecryptor options');
    const id = this.resolveId(idOrMailbox);
    const now = this.clock();
    const held = await this.heldDecryptionKeys(id, previousOwner);
    const keys: DecryptionKey[] = [];
    for (const h of [...held].reverse()) {
      const pkcs8 = await this.keyProtector.unprotect(h.protectedKey);
      try {
        keys.push(await importDecryptionKey(pkcs8, h.certificate, this.crypto));
      } finally {
        pkcs8.fill(0);
      }
    }
    await this.write(now, async (_tx, _emit, audit) => {
      await audit({ actor, action: 'decryption-keys.used', identityId: id, reason, after: { keys: held.map((h) => keySummary(h)), ...(previousOwner && { previousOwner }) } });
    });
    return keys;
  }

  /**
   * Key recovery: the identity's kept decryption-key history as one PKCS#12 file (every key with
   * its certificate, linked by localKeyId; the issuing chain), under `passphrase`. Audited by the
   * named actor (`decryption-keys.exported`) and told to the owner (event of the same name) in the
   * same transaction, before the file is returned. No kept key: ERR_IDENTITY_STATE.
   */
  async exportDecryptionKeys(idOrMailbox: string, options: ExportDecryptionKeysOptions): Promise<Uint8Array> {
    const { actor, reason, passphrase, iterations, previousOwner, includeLiveSigningKey } = parseInput(exportKeysSchema, options, 'exportDecryptionKeys options');
    const id = this.resolveId(idOrMailbox);
    const now = this.clock();
    const held = await this.heldDecryptionKeys(id, previousOwner, now);
    // Key recovery is for decryption keys; escrowing a key that signs now ends non-repudiation for the identity.
    const live = held.filter((h) => h.signsNow).map((h) => h.serialNumber ?? h.credentialId);
    if (live.length && includeLiveSigningKey !== true)
      throw new MailPkiError(
        'ERR_KEY_EXPORT_REFUSED',
        `the decryption key of ${held[0]!.identity.name} also signs for its current certificate (${live.join(', ')}, one certificate for signing and encryption): whoever holds the .p12 could sign as ${held[0]!.identity.name}. ` +
          'Enroll with separate signing and encryption certificates, export after that certificate is renewed with a new key or revoked, or pass includeLiveSigningKey: true (--include-signing-key) to export it anyway (audited as such)',
        { details: { identityId: id, serialNumbers: live } },
      );
    const signing: JsonObject = live.length ? { liveSigningKeys: live } : {};
    const entries = [];
    const chain = new Map<string, Uint8Array>();
    try {
      for (const h of held) {
        entries.push({ privateKeyInfo: await this.keyProtector.unprotect(h.protectedKey), certificate: h.certificate.der, friendlyName: `${h.identity.name} ${h.serialNumber ?? h.credentialId}` });
        for (const der of h.chain) if (!isSelfIssued(parseCertificate(der))) chain.set(toBase64(der), der);
      }
      const p12 = await exportPkcs12Entries({ entries, chain: [...chain.values()], passphrase, crypto: this.crypto, ...(iterations !== undefined && { iterations }) });
      const identity = held[0]!.identity;
      await this.write(now, async (_tx, emit, audit) => {
        await emit({ type: 'decryption-keys.exported', identity, data: { actor, reason, serialNumbers: held.map((h) => h.serialNumber ?? h.credentialId), ...(previousOwner && { previousOwner }), ...signing } });
        await audit({ actor, action: 'decryption-keys.exported', identityId: id, reason, after: { keys: held.map((h) => keySummary(h)), ...(previousOwner && { previousOwner }), ...signing } });
      });
      return p12;
    } finally {
      for (const e of entries) e.privateKeyInfo.fill(0);
    }
  }

  /**
   * The kept history entries of the current life (or, `previousOwner`, of the earlier lives that
   * team owned) with their certificate and protected key (still encrypted).
   */
  private async heldDecryptionKeys(id: string, previousOwner?: string, now: Date = this.clock()): Promise<HeldDecryptionKey[]> {
    const held = await this.store.transaction(async (tx) => {
      const identity = await tx.getIdentity(id);
      if (!identity) throw notFound(id);
      assertSmime(identity);
      const signingKeys = await liveSigningKeyIds(tx, identity, now);
      const out: HeldDecryptionKey[] = [];
      let otherLives = 0;
      for (const d of await tx.listDecryptionKeys(id)) {
        if (d.destroyedAt) continue;
        if (previousOwner === undefined ? d.lifeEndedAt !== undefined : d.lifeEndedAt === undefined || d.ownerTeam !== previousOwner) {
          otherLives++;
          continue;
        }
        const c = await tx.getCredential(d.credentialId);
        const key = await tx.getKey(d.keyId);
        if (!c?.certificate || !key) throw new MailPkiError('ERR_STORE_CORRUPT', `the kept decryption key of credential ${d.credentialId} (${identity.name}) is missing its ${key ? 'certificate' : 'key'}`);
        out.push({
          identity,
          credentialId: d.credentialId,
          serialNumber: c.serialNumber,
          retainUntil: d.retainUntil,
          certificate: parseCertificate(c.certificate),
          chain: chainOf(c),
          protectedKey: key.protectedKey,
          signsNow: signingKeys.has(d.keyId),
        });
      }
      return { identity, out, otherLives };
    });
    if (held.out.length === 0) {
      const which = previousOwner === undefined ? '' : ` of an earlier life owned by ${previousOwner}`;
      const others = held.otherLives && previousOwner === undefined ? `; ${held.otherLives} kept from earlier lives of the mailbox are not handed to its current holder (previousOwner)` : '';
      throw new MailPkiError('ERR_IDENTITY_STATE', `${held.identity.name} holds no decryption key${which} (use ${held.identity.use ?? 'both'}; destroyed keys are gone${others})`, {
        details: { identityId: id },
      });
    }
    return held.out;
  }

  /**
   * Inside the write that records a certificate able to receive encrypted mail: its key enters the
   * decryption-key history until notAfter + decryptionKeyRetentionDays (returned; the issuance's
   * own audit record carries it as `decryptionKeyRetainUntil`).
   */
  private async retainDecryptionKey(tx: StoreTx, identity: IdentityRecord, credential: CredentialRecord, policy: LifecyclePolicy, now: Date): Promise<Date> {
    const retainUntil = decryptionKeyRetainUntil(credential, policy);
    await tx.putDecryptionKey({ credentialId: credential.id, identityId: identity.id, keyId: credential.keyId!, retainUntil, createdAt: now, ownerTeam: identity.owner.team });
    return retainUntil;
  }

  /**
   * The sweep's step for kept decryption keys whose retention ended: each entry marked destroyed and
   * its key deleted (unless a kept entry, the current certificate or an issuance in progress still
   * uses it), with `decryption-key.destroyed` (event and audit), in one transaction. Re-read inside
   * it, so of two workers (or a retry after kill -9) exactly one destroys each.
   */
  private async destroyDueDecryptionKeys(id: string, actor: string, now: Date, summary: DueSummary): Promise<void> {
    const history = await this.store.transaction((tx) => tx.listDecryptionKeys(id));
    if (dueDecryptionKeys(history, now).length === 0) return;
    const destroyed = await this.write(now, async (tx, emit, audit) => {
      const identity = await tx.getIdentity(id);
      if (!identity) return [];
      const entries = await tx.listDecryptionKeys(id);
      const due = dueDecryptionKeys(entries, now);
      const dueIds = new Set(due.map((d) => d.credentialId));
      const inUse = new Set(entries.filter((d) => !d.destroyedAt && !dueIds.has(d.credentialId)).map((d) => d.keyId));
      for (const slot of slotsOf(identity)) {
        const current = await slotCredential(tx, identity, slot);
        if (current?.keyId && current.status === 'current' && current.notAfter.getTime() > now.getTime()) inUse.add(current.keyId);
      }
      const pending = await tx.getPendingIssuance(id);
      const pendingKey = pending && pendingKeyId(pending);
      if (pendingKey) inUse.add(pendingKey);
      const done: string[] = [];
      for (const d of due) {
        await tx.putDecryptionKey({ ...d, destroyedAt: now });
        const keyDestroyed = !inUse.has(d.keyId) && (await tx.deleteKey(d.keyId));
        const credential = await tx.getCredential(d.credentialId);
        await emit({ type: 'decryption-key.destroyed', identity, credential, data: { retainUntil: d.retainUntil.toISOString(), keyDestroyed } });
        await audit({
          actor,
          action: 'decryption-key.destroyed',
          identityId: id,
          reason: `retention ended ${d.retainUntil.toISOString()}${keyDestroyed ? '' : ' (the key stays: another kept certificate uses it)'}`,
          after: { credentialId: d.credentialId, serialNumber: credential?.serialNumber ?? null, keyId: d.keyId, keyDestroyed },
        });
        done.push(d.credentialId);
      }
      return done;
    });
    for (const credentialId of destroyed) summary.decryptionKeysDestroyed.push({ identityId: id, credentialId });
  }

  /**
   * Records in the audit trail that the identity signed a message (action `message.signed`):
   * the certificate serial, the Message-ID and the SHA-256 of the bytes sent, never the content.
   * Senders (mailpki/nodemailer) call it after signing and before the message leaves.
   */
  async recordSignature(idOrMailbox: string, signature: SignatureRecord, options: Actor): Promise<void> {
    const { actor } = parseInput(actorOptionsSchema, options, 'recordSignature options');
    const s = parseInput(signatureRecordSchema, signature, 'recordSignature');
    const id = this.resolveId(idOrMailbox);
    await this.write(this.clock(), async (tx, _emit, audit) => {
      const identity = await tx.getIdentity(id);
      if (!identity) throw notFound(id);
      assertSmime(identity);
      await audit({ actor, action: 'message.signed', identityId: id, after: stripUndefined({ serialNumber: s.serialNumber, messageId: s.messageId, sha256: s.sha256 }) as JsonObject });
    });
  }

  private resolveId(idOrMailbox: string): string {
    if (typeof idOrMailbox !== 'string' || idOrMailbox.length === 0)
      throw new MailPkiError('ERR_INVALID_INPUT', 'identity: expected an id or a mailbox', { details: { field: 'identity' } });
    const lower = idOrMailbox.trim().toLowerCase();
    return /^(smime|dkim):/.test(lower) ? lower : smimeIdentityId(lower);
  }

  /** The identity and the current credential of one of its slots ('encryption' on a one-certificate identity: its only one). */
  private async load(id: string, slot: CertificateSlot = 'main'): Promise<{ identity: IdentityRecord; credential: CredentialRecord | undefined }> {
    return this.store.transaction(async (tx) => {
      const identity = await tx.getIdentity(id);
      if (!identity) throw notFound(id);
      assertSmime(identity);
      return { identity, credential: await slotCredential(tx, identity, holdsSeparateCertificates(identity) ? slot : 'main') };
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Enroll and renew

  /**
   * Creates an identity and issues its first certificate. Policy (owner domains, key type) and
   * the approval hook are checked first; a refusal is a `policy.denied` event, an audit record and
   * ERR_POLICY_DENIED / ERR_APPROVAL_DENIED. Enrolling a mailbox whose enrollment was interrupted
   * (status 'pending', same owner) completes it. Enrolling a decommissioned mailbox again starts a
   * new life under the same identity: owner, purpose and policy from this request, checked and
   * approved like a first enrollment, the earlier certificates kept as history (audit
   * `identity.reenrolled`).
   */
  async enroll(input: EnrollInput, options: Actor): Promise<IdentityRecord> {
    const { actor } = parseInput(actorOptionsSchema, options, 'enroll options');
    const req = parseInput(enrollSchema, input, 'enroll');
    const overrides = parsePolicyOverrides(req.policy);
    const policy = effectivePolicy(this.policy, overrides);
    const mailbox = req.mailbox.toLowerCase();
    const id = smimeIdentityId(mailbox);
    const domain = mailboxDomain(mailbox);
    const keyType = req.keyType ?? defaultKeyType(policy, this.policy, req.use);
    // The policy's default applies to use 'both' with a key that can receive encrypted mail; asking for it explicitly otherwise is refused above.
    const separate =
      req.certificates === 'separate' ||
      (req.certificates === undefined && req.use === 'both' && (req.encryptionKeyType !== undefined || (keyTypeDecrypts(keyType) && this.policy.certificates === 'separate')));
    const encryptionKeyType = separate && req.encryptionKeyType !== undefined && req.encryptionKeyType !== keyType ? req.encryptionKeyType : undefined;
    const now = this.clock();
    const draft: IdentityRecord = stripUndefined({
      id,
      kind: 'smime' as const,
      name: mailbox,
      domain,
      owner: stripUndefined({ team: req.owner.team, contact: req.owner.contact }),
      purpose: req.purpose,
      approvedBy: req.approvedBy,
      tags: req.tags,
      profile: req.profile,
      keyType,
      use: req.use,
      certificates: separate ? ('separate' as const) : undefined,
      policy: Object.keys(overrides).length ? (overrides as JsonObject) : undefined,
      attributes: encryptionKeyType ? { encryptionKeyType } : undefined,
      status: 'pending' as const,
      decommissionAt: req.decommissionAt,
      nextDueAt: now,
      version: 1,
      createdAt: now,
      updatedAt: now,
    });

    const existing = await this.store.transaction(async (tx) => ({
      identity: await tx.getIdentity(id),
      pending: await tx.getPendingIssuance(id),
    }));
    const reenrol = existing.identity?.status === 'decommissioned';
    if (existing.identity && !reenrol && (existing.identity.status !== 'pending' || existing.identity.owner.team !== draft.owner.team))
      throw new MailPkiError('ERR_IDENTITY_EXISTS', `${mailbox} is already in the inventory (${existing.identity.status}, owner ${existing.identity.owner.team})`, {
        details: { identityId: id },
      });
    // A decommissioned identity starts again from the draft; it keeps its id, first creation time and version count.
    const identity = reenrol ? { ...draft, createdAt: existing.identity!.createdAt, version: existing.identity!.version } : (existing.identity ?? draft);
    // An issuance left from before the decommission belongs to the old life: prepare() discards it.
    if (existing.pending && !reenrol) {
      const done = await this.completeIssuance(identity, existing.pending, 'enroll', actor, now, 'resumed enrollment');
      return this.completeEnrollment(done, actor, now);
    }
    // An enrollment of a separate pair interrupted after its first certificate: its other one.
    if (existing.identity && !reenrol && missingSlots(existing.identity).length < slotsOf(existing.identity).length) return this.completeEnrollment(existing.identity, actor, now);

    const refused = checkPolicyOverrides(this.policy, overrides) ?? checkMailboxDomain(this.policy, domain);
    if (refused) {
      const err = policyError(refused);
      await this.recordDenial(identity, 'enroll', actor, now, 'ERR_POLICY_DENIED', refused.rule, err.message);
      throw err;
    }
    // Every certificate the enrollment will ask for (an X25519 encryption key too), before anything is written.
    await this.checkPolicy(identity, policy, 'enroll', actor, now, false, slotsOf(identity));
    const decision = await this.approve(identity, policy, 'enroll', actor, now, reenrol ? 'enrolling again: the mailbox was decommissioned' : undefined, 'main');
    // The hook decides: its approvedBy is recorded, the caller's own approvedBy was only a claim it was shown.
    const withApprover = decision?.approvedBy ? { ...identity, approvedBy: decision.approvedBy } : identity;
    // Its outcome at the CA settled first (a certificate signed for it is revoked), as a decommission does now.
    const oldLife = reenrol && existing.pending ? await this.withdrawPending(existing.identity!, 'decommissioned', now) : undefined;
    const prepared = await this.prepare(withApprover, undefined, true, 'enroll', actor, now, reenrol ? 'reenrol' : existing.identity === undefined ? 'insert' : 'existing', oldLife, 'main');
    return this.completeEnrollment(await this.issueWith(withApprover, prepared, 'enroll', actor, now, 'enrollment', true), actor, now);
  }

  /**
   * Issues the certificates an enrollment still lacks (the encryption certificate of a separate
   * pair), each as its own crash-safe issuance. Until the last one is recorded the identity stays
   * 'pending' and due, so a sweep completes an enrollment whose process died half-way.
   */
  private async completeEnrollment(identity: IdentityRecord, actor: string, now: Date): Promise<IdentityRecord> {
    let current = identity;
    for (const slot of missingSlots(current)) current = await this.renewAt(current.id, actor, now, 'enrollment', true, false, undefined, slot);
    return current;
  }

  /**
   * Issues a new certificate for an identity (new key unless `rekey: false` and the policy allows).
   * If the CA fails, the old certificate stays current and the failure is recorded (event + audit)
   * before the error is rethrown.
   */
  async renew(idOrMailbox: string, options: RenewOptions): Promise<IdentityRecord> {
    const opts = parseInput(renewOptionsSchema, options, 'renew options');
    const id = this.resolveId(idOrMailbox);
    const now = this.clock();
    const { identity } = await this.load(id);
    const slots = slotsOfChoice(identity, opts.certificate ?? 'all');
    if (!slots) throw oneCertificate(identity, opts.certificate!);
    let result = identity;
    for (const slot of slots) result = await this.renewAt(id, opts.actor, now, opts.reason ?? 'requested', opts.rekey, false, undefined, slot);
    return result;
  }

  /**
   * `decidedOn`: the identity a sweep decided to renew. If it changed since (another worker renewed
   * it meanwhile), the decision no longer holds: ERR_STORE_CONFLICT, which the sweep counts as
   * skipped — never a second renewal decided on a newer record nobody looked at.
   */
  private async renewAt(
    id: string,
    actor: string,
    now: Date,
    reason: string,
    rekey: boolean | undefined,
    automatic: boolean,
    decidedOn?: IdentityRecord,
    slot: CertificateSlot = 'main',
  ): Promise<IdentityRecord> {
    let { identity, credential } = await this.load(id, slot);
    if (decidedOn && (identity.version !== decidedOn.version || identity.currentCredentialId !== decidedOn.currentCredentialId || identity.encryptionCredentialId !== decidedOn.encryptionCredentialId))
      throw new MailPkiError('ERR_STORE_CONFLICT', `${identity.name} changed after the sweep decided to renew it (another process); it is looked at again if still due`);
    if (identity.status === 'decommissioned' || identity.status === 'suspended') throw stateError(identity, 'renew');
    const pending = await this.store.transaction((tx) => tx.getPendingIssuance(id));
    if (pending) {
      // An issuance written down earlier (a crash, a CA failure) is completed first, with its own key.
      const pendingSlot = slotOfRole(pending.certificate);
      const pendingOp: Operation = pendingSlot === slot ? (credential ? 'renew' : 'enroll') : (await this.load(id, pendingSlot)).credential ? 'renew' : 'enroll';
      const done = await this.completeIssuance(identity, pending, pendingOp, actor, now, reason, automatic);
      if (pendingSlot === slot || !holdsSeparateCertificates(identity)) return done;
      // It was the other certificate's: this slot's certificate, the one asked for, is still to do.
      ({ identity, credential } = await this.load(id, slot));
    }
    const op: Operation = credential ? 'renew' : 'enroll';
    const policy = effectivePolicy(this.policy, identity.policy);
    await this.checkPolicy(identity, policy, op, actor, now, automatic, [slot]);
    const decision = await this.approve(identity, policy, op, actor, now, reason, slot);
    const mustRekey = !credential?.keyId || credential.status === 'revoked' || identity.status === 'revoked';
    const newKey = mustRekey || (rekey ?? policy.rekeyOnRenewal);
    const prepared = await this.prepare(identity, newKey ? undefined : credential!.keyId, newKey, op, actor, now, 'existing', undefined, slot, decision?.approvedBy);
    return this.issueWith(identity, prepared, op, actor, now, reason, newKey, automatic);
  }

  private async checkPolicy(identity: IdentityRecord, policy: LifecyclePolicy, op: Operation, actor: string, now: Date, automatic: boolean, slots: CertificateSlot[]): Promise<void> {
    // The CA's own domain limits are known up front: refusing here leaves no identity behind.
    if (identity.kind === 'smime') {
      const info = await this.ca.info();
      if (!isDomainAllowed(identity.domain, info.allowedDomains)) {
        const message = `the CA may not issue for ${identity.domain}; allowed: ${info.allowedDomains.join(', ')}`;
        await this.recordDenial(identity, op, actor, now, 'ERR_CA_MAILBOX_NOT_ALLOWED', 'ca.allowedDomains', message, automatic);
        throw new MailPkiError('ERR_CA_MAILBOX_NOT_ALLOWED', message, { details: { domain: identity.domain } });
      }
    }
    const violation = [...new Set(slots.map((slot) => slotKeyType(identity, slot)))]
      .map((keyType) => checkIssuancePolicy(policy, { team: identity.owner.team, domain: identity.domain, keyType }))
      .find((v) => v !== undefined);
    if (!violation) return;
    const err = policyError(violation);
    await this.recordDenial(identity, op, actor, now, 'ERR_POLICY_DENIED', violation.rule, err.message, automatic);
    throw err;
  }

  private async approve(
    identity: IdentityRecord,
    policy: LifecyclePolicy,
    op: Operation,
    actor: string,
    now: Date,
    reason: string | undefined,
    slot: CertificateSlot,
  ): Promise<{ approvedBy?: string } | undefined> {
    if (!policy.approval) return undefined;
    const request: ApprovalRequest = stripUndefined({
      operation: op,
      identityId: identity.id,
      mailbox: identity.name,
      owner: identity.owner,
      purpose: identity.purpose,
      approvedBy: identity.approvedBy,
      keyType: slotKeyType(identity, slot),
      profile: identity.profile ?? 'strict',
      validityDays: policy.validityDays,
      actor,
      reason,
    });
    const decision = await policy.approval(request);
    if (decision && decision.approved === true) return stripUndefined({ approvedBy: decision.approvedBy });
    const why = (decision && typeof decision.reason === 'string' && decision.reason) || 'no reason given';
    const err = new MailPkiError('ERR_APPROVAL_DENIED', `approval refused for ${identity.name}: ${why}`, { details: { identityId: identity.id } });
    await this.recordDenial(identity, op, actor, now, 'ERR_APPROVAL_DENIED', 'approval', err.message);
    throw err;
  }

  /** policy.denied event + audit, in their own transaction (nothing else changes). */
  private async recordDenial(
    identity: IdentityRecord,
    op: Operation,
    actor: string,
    at: Date,
    code: 'ERR_POLICY_DENIED' | 'ERR_APPROVAL_DENIED' | 'ERR_CA_MAILBOX_NOT_ALLOWED',
    rule: string,
    message: string,
    automatic?: boolean,
  ): Promise<void> {
    await this.write(at, async (tx, emit, audit) => {
      const stored = await tx.getIdentity(identity.id);
      await emit({ type: 'policy.denied', identity, data: { code, rule, message, operation: op } });
      await audit({
        actor,
        action: 'policy.denied',
        ...(stored && { identityId: stored.id }),
        reason: message,
        after: { operation: op, code, rule, request: requestSummary(identity) },
      });
      if (stored && automatic) await this.postpone(tx, stored, at);
    });
  }

  /** After a failed automatic attempt: look again after retryDelayMs, not on every sweep. */
  private async postpone(tx: StoreTx, identity: IdentityRecord, now: Date): Promise<void> {
    const retry = new Date(now.getTime() + this.retryDelayMs);
    if (!identity.nextDueAt || identity.nextDueAt.getTime() < retry.getTime())
      await tx.updateIdentity({ ...identity, nextDueAt: retry, updatedAt: now }, identity.version);
  }

  /**
   * Writes the key (if new) and the PendingIssuance, in one transaction, before the CA is asked;
   * with the identity itself when it is new ('insert') or a decommissioned one enrolled again
   * ('reenrol': written back as pending, if nobody changed it meanwhile).
   */
  private async prepare(
    identity: IdentityRecord,
    reuseKeyId: string | undefined,
    rekey: boolean,
    op: Operation,
    actor: string,
    now: Date,
    write: 'insert' | 'existing' | 'reenrol',
    oldLife: Withdrawn | undefined,
    slot: CertificateSlot,
    /** The approval hook's approver of this issuance (a renewal's; an enrollment's is in the identity). */
    approvedBy?: string,
  ): Promise<PreparedIssuance> {
    let keyId: string;
    let spki: Uint8Array;
    let protectedKey: Awaited<ReturnType<KeyProtector['protect']>> | undefined;
    if (rekey || !reuseKeyId) {
      const pair = await generateKeyPair(slotKeyType(identity, slot), { crypto: this.crypto, extractable: true });
      const pkcs8 = await exportPkcs8(pair.privateKey, { crypto: this.crypto });
      try {
        protectedKey = await this.keyProtector.protect(pkcs8);
      } finally {
        pkcs8.fill(0);
      }
      spki = await exportSpki(pair.publicKey, { crypto: this.crypto });
      keyId = this.crypto.randomUUID();
    } else {
      keyId = reuseKeyId;
      spki = await this.spkiOfStoredKey(keyId);
    }
    const idempotencyKey = `${IDEMPOTENCY_PREFIX}.${keyId}.${this.crypto.randomUUID()}`;
    await this.write(now, async (tx, emit, audit) => {
      const stored = write === 'insert' ? undefined : await tx.getIdentity(identity.id);
      if (write === 'insert') await tx.insertIdentity(identity);
      else if (!stored) throw notFound(identity.id);
      else if (write === 'reenrol') {
        if (stored.status !== 'decommissioned' || stored.version !== identity.version)
          throw new MailPkiError('ERR_STORE_CONFLICT', `${identity.name} changed while it was being enrolled again; retry`);
        if (oldLife) await this.dropWithdrawn(tx, emit, audit, stored, oldLife, actor);
        await this.closeOldLife(tx, stored, now);
        await tx.updateIdentity(identity, stored.version);
      } else if (stored.status === 'decommissioned') throw stateError(stored, op);
      // Fencing: what was decided (renew now, with this key) holds only for the version it was decided on.
      else if (stored.version !== identity.version)
        throw new MailPkiError('ERR_STORE_CONFLICT', `${identity.name} changed while its issuance was being prepared (another process); retry`);
      if (await tx.getPendingIssuance(identity.id))
        throw new MailPkiError('ERR_STORE_CONFLICT', `another issuance for ${identity.name} started meanwhile; retry`);
      if (protectedKey) await tx.putKey({ id: keyId, identityId: identity.id, algorithm: slotKeyType(identity, slot), protectedKey, createdAt: now });
      const role = slotRole(identity, slot);
      await tx.putPendingIssuance({ identityId: identity.id, idempotencyKey, requestedAt: now, status: 'started', ...(role && { certificate: role }) });
      await audit({
        actor,
        action: write === 'insert' ? 'identity.created' : write === 'reenrol' ? 'identity.reenrolled' : 'issuance.started',
        identityId: identity.id,
        ...(write === 'reenrol' && stored && { before: identitySummary(stored, undefined) }),
        ...(write !== 'existing' && { after: identitySummary(identity, undefined) }),
        ...(write === 'existing' && approvedBy !== undefined && { after: { approvedBy } }),
        reason: `${op}${slotRole(identity, slot) ? ` (${slotRole(identity, slot)} certificate)` : ''}: ${rekey ? 'new key' : 'same key'} ${keyId}`,
      });
    });
    return { identityId: identity.id, idempotencyKey, keyId, spki, slot };
  }

  /**
   * Before a decommissioned identity starts again: whatever its old life left is closed — an
   * issuance still written down (and its key) is discarded, a certificate still marked current
   * (one that ran out before the sweep marked it) is marked expired or previous, and its kept
   * decryption keys are marked as the old life's (owner team, life ended now): they stay until
   * their retention ends, for the previous owner only, never for the new holder.
   */
  private async closeOldLife(tx: StoreTx, old: IdentityRecord, now: Date): Promise<void> {
    await dropPendingIssuance(tx, old.id);
    for (const c of await tx.listCredentials(old.id))
      if (c.status === 'current') await tx.updateCredential({ ...c, status: c.notAfter.getTime() <= now.getTime() ? 'expired' : 'previous' });
    for (const d of await tx.listDecryptionKeys(old.id))
      if (d.lifeEndedAt === undefined) await tx.putDecryptionKey({ ...d, ownerTeam: d.ownerTeam ?? old.owner.team, lifeEndedAt: now });
  }

  /** Completes an issuance written down earlier (after a crash or a CA failure), with its own key. */
  private async completeIssuance(
    identity: IdentityRecord,
    pending: PendingIssuance,
    op: Operation,
    actor: string,
    now: Date,
    reason: string,
    automatic = false,
  ): Promise<IdentityRecord> {
    const idempotencyKey = pending.idempotencyKey;
    const slot = slotOfRole(pending.certificate);
    const keyId = keyIdOf(idempotencyKey);
    const spki = await this.spkiOfStoredKey(keyId).catch(async (e: unknown) => {
      if (!isMailPkiError(e, 'ERR_STORE_CORRUPT')) throw e;
      // Gone because the identity was decommissioned (or the issuance finished) meanwhile: not corruption.
      const now = await this.store.transaction(async (tx) => ({ identity: await tx.getIdentity(identity.id), pending: await tx.getPendingIssuance(identity.id) }));
      if (now.identity?.status === 'decommissioned') throw stateError(now.identity, op);
      if (now.pending?.idempotencyKey !== idempotencyKey)
        throw new MailPkiError('ERR_STORE_CONFLICT', `the issuance for ${identity.name} was completed or dropped by another process; retry`);
      throw e;
    });
    const credential = await this.load(identity.id, slot).then((l) => l.credential);
    const rekey = credential?.keyId !== keyId;
    return this.issueWith(identity, { identityId: identity.id, idempotencyKey, keyId, spki, slot }, op, actor, now, reason, rekey, automatic);
  }

  private async spkiOfStoredKey(keyId: string): Promise<Uint8Array> {
    const key = await this.store.transaction((tx) => tx.getKey(keyId));
    if (!key) throw new MailPkiError('ERR_STORE_CORRUPT', `key ${keyId} is referenced but not stored`);
    const pkcs8 = await this.keyProtector.unprotect(key.protectedKey);
    try {
      return await spkiFromPkcs8(pkcs8, this.crypto);
    } finally {
      pkcs8.fill(0);
    }
  }

  /** Asks the CA (idempotently) and records the result; on failure records it and rethrows. */
  private async issueWith(
    identity: IdentityRecord,
    p: PreparedIssuance,
    op: Operation,
    actor: string,
    now: Date,
    reason: string,
    rekeyed: boolean,
    automatic = false,
  ): Promise<IdentityRecord> {
    const policy = effectivePolicy(this.policy, identity.policy);
    let issued: IssuedCertificate;
    let fingerprint: string;
    try {
      issued = await this.ca.issue({
        mailbox: identity.name,
        profile: (identity.profile ?? 'strict') as (typeof SMIME_PROFILES)[number],
        usage: slotCaUsage(identity, p.slot),
        publicKey: p.spki,
        validityDays: policy.validityDays,
        idempotencyKey: p.idempotencyKey,
      });
      fingerprint = await certificateFingerprint(parseCertificate(issued.certificate), 'SHA-256', this.crypto);
    } catch (e) {
      await this.recordIssuanceFailure(identity, op, e, actor, now, automatic, p.idempotencyKey, slotRole(identity, p.slot));
      throw e;
    }
    const info = await this.info().catch(() => undefined);
    const recorded = await this.write(now, async (tx, emit, audit) => {
      const current = await tx.getIdentity(identity.id);
      if (!current) throw notFound(identity.id);
      const pending = await tx.getPendingIssuance(identity.id);
      if (current.status === 'decommissioned' || !pending || pending.idempotencyKey !== p.idempotencyKey || pending.status === 'withdrawn') {
        // Another process recorded this very certificate (same idempotency key, same answer): fine.
        if ((await tx.listCredentials(identity.id)).some((c) => c.serialNumber === issued.serialNumber))
          throw new MailPkiError('ERR_STORE_CONFLICT', `the issuance for ${identity.name} was completed by another process`);
        // Otherwise nothing will ever record it: decommissioned, revoked or suspended (the issuance
        // was withdrawn), or enrolled anew meanwhile.
        const why =
          current.status === 'decommissioned'
            ? ('decommissioned' as const)
            : pending?.idempotencyKey === p.idempotencyKey || current.status === 'revoked' || current.status === 'suspended'
              ? ('withdrawn' as const)
              : ('replaced' as const);
        return { discard: why };
      }
      const previous = await slotCredential(tx, current, p.slot);
      if (previous && previous.status === 'current') await tx.updateCredential({ ...previous, status: 'previous' });
      const role = slotRole(current, p.slot);
      const credential: CredentialRecord = {
        id: timeOrderedId(this.crypto, now),
        identityId: identity.id,
        kind: 'certificate',
        serialNumber: issued.serialNumber,
        fingerprint,
        certificate: issued.certificate,
        keyId: p.keyId,
        notBefore: issued.notBefore,
        notAfter: issued.notAfter,
        status: 'current',
        attributes: { profile: issued.profile, chain: issued.chain.map((c) => toBase64(c)), ...(role && { certificate: role }) },
        createdAt: now,
      };
      await tx.insertCredential(credential);
      const retained = slotReceivesEncryptedMail(current, p.slot) ? await this.retainDecryptionKey(tx, current, credential, policy, now) : undefined;
      const wasPending = current.status === 'pending';
      const withCredential = withSlotCredential(current, p.slot, credential.id);
      // A separate pair is enrolled when both certificates are recorded; until then it stays pending.
      const complete = missingSlots(withCredential).length === 0;
      const others = await Promise.all(slotsOf(current).filter((s) => s !== p.slot).map((s) => slotCredential(tx, current, s)));
      const next: IdentityRecord = {
        ...withCredential,
        status: complete ? 'active' : current.status,
        notAfter: earliestNotAfter([credential, ...others.filter((c) => c?.status === 'current')])!,
        updatedAt: now,
        ...(info && { caId: info.id }),
      };
      let stored = await this.withNextDue(tx, next, credential, now, p.slot);
      // Half a pair: due at once, so the next sweep (even at this same time) completes it if this process dies now.
      if (!complete) stored = { ...stored, nextDueAt: now };
      await tx.updateIdentity(stored, current.version);
      await tx.deletePendingIssuance(identity.id);
      if (wasPending && complete) {
        await emit({
          type: 'identity.enrolled',
          identity: next,
          credential,
          data: { purpose: next.purpose, approvedBy: next.approvedBy, tags: next.tags, profile: issued.profile, keyType: next.keyType },
        });
      }
      await emit({ type: 'certificate.issued', identity: next, credential, data: { profile: issued.profile, keyType: slotKeyType(next, p.slot), operation: wasPending ? 'enroll' : 'renew' } });
      if (!wasPending)
        await emit({
          type: 'certificate.renewed',
          identity: next,
          credential,
          data: { reason, rekeyed, ...(previous && { previous: summariseCertificate(previous) }) },
        });
      await audit({
        actor,
        action: wasPending ? (complete ? 'identity.enrolled' : 'certificate.issued') : 'certificate.renewed',
        identityId: identity.id,
        reason,
        before: identitySummary(current, previous),
        after: { ...identitySummary(stored, credential), ...(retained && { decryptionKeyRetainUntil: retained.toISOString() }) },
      });
      return { identity: { ...stored, version: current.version + 1 } };
    });
    if (recorded.identity) return recorded.identity;
    return this.discardIssued(identity, p, issued, recorded.discard!, op, actor, now);
  }

  /**
   * A certificate the CA issued that the inventory will never take (the identity was
   * decommissioned, or enrolled anew, while the CA was asked): revoked at the CA first, then its
   * key destroyed (unless a credential or the current issuance uses it) and `issuance.discarded`
   * (event and audit) written with the outcome. A failed revocation is in both and in the error
   * thrown, so the owners and the caller learn the serial to revoke; it is not retried.
   */
  private async discardIssued(
    identity: IdentityRecord,
    p: PreparedIssuance,
    issued: IssuedCertificate,
    why: DiscardWhy,
    op: Operation,
    actor: string,
    now: Date,
  ): Promise<never> {
    const reason = discardReason(why);
    let failure: unknown;
    let alreadyRevoked = false;
    try {
      await this.ca.revoke({ serialNumber: issued.serialNumber, reason, time: now });
    } catch (e) {
      if (isMailPkiError(e, 'ERR_CA_ALREADY_REVOKED')) alreadyRevoked = true;
      else failure = e;
    }
    const outcome = failure === undefined ? `revoked (${reason})` : `NOT revoked: ${failure instanceof Error ? failure.message : String(failure)}; revoke it at the CA`;
    await this.write(now, async (tx, emit, audit) => {
      const pending = await tx.getPendingIssuance(identity.id);
      if (pending?.idempotencyKey === p.idempotencyKey) await tx.deletePendingIssuance(identity.id);
      const stored = (await tx.getIdentity(identity.id)) ?? identity;
      const inUse = (await tx.listCredentials(identity.id)).some((c) => c.keyId === p.keyId) || (pending !== undefined && pending.idempotencyKey !== p.idempotencyKey && pendingKeyId(pending) === p.keyId);
      if (!inUse) await tx.deleteKey(p.keyId);
      // The revoke, suspend or decommission that withdrew it learnt this certificate, revoked it and
      // wrote it down (dropWithdrawn): one issuance.discarded, not two.
      if (alreadyRevoked && pending?.idempotencyKey !== p.idempotencyKey) return;
      await emit({
        type: 'issuance.discarded',
        identity: stored,
        data: {
          serialNumber: issued.serialNumber,
          why,
          revoked: failure === undefined,
          operation: op,
          ...(slotRole(identity, p.slot) && { certificate: slotRole(identity, p.slot) }),
          ...(failure !== undefined && { message: failure instanceof Error ? failure.message : String(failure) }),
        },
      });
      await audit({
        actor,
        action: 'issuance.discarded',
        identityId: identity.id,
        reason: `${op}: ${identity.name} was ${DISCARD_WHAT[why]} while the CA issued certificate ${issued.serialNumber}; the certificate is ${outcome}`,
      });
    });
    const what = `${identity.name} was ${DISCARD_WHAT[why]} while the CA was asked`;
    if (failure !== undefined)
      throw new MailPkiError(isMailPkiError(failure) ? failure.code : 'ERR_CA_UNAVAILABLE', `${what}; certificate ${issued.serialNumber} could not be revoked: revoke it at the CA`, {
        details: { identityId: identity.id, serialNumber: issued.serialNumber },
        cause: failure,
      });
    throw new MailPkiError(why === 'replaced' ? 'ERR_STORE_CONFLICT' : 'ERR_IDENTITY_STATE', `${what}; the certificate it issued (${issued.serialNumber}) was revoked`, {
      details: { identityId: identity.id, serialNumber: issued.serialNumber },
    });
  }

  /**
   * Before an act that changes what the identity may hold (revoke, suspend, decommission): an
   * issuance still written down is taken back. First it is marked `withdrawn` (from then on no
   * recording takes its certificate: one still at the CA is discarded when it answers); then its
   * outcome at the CA is learnt by asking again with the same idempotency key — the same key gives
   * the same certificate — and that certificate is revoked (`superseded`, or `cessationOfOperation`
   * for a decommission). The act's own write drops it ({@link dropWithdrawn}). A CA that cannot
   * settle it fails the act (nothing changed but the mark; a retry settles it).
   */
  private async withdrawPending(identity: IdentityRecord, why: 'withdrawn' | 'decommissioned', now: Date): Promise<Withdrawn | undefined> {
    const pending = await this.write(now, async (tx) => {
      const p = await tx.getPendingIssuance(identity.id);
      if (p && p.status !== 'withdrawn') await tx.putPendingIssuance({ ...p, status: 'withdrawn' });
      return p;
    });
    if (!pending) return undefined;
    const reason = discardReason(why);
    let keyId: string | undefined;
    try {
      keyId = keyIdOf(pending.idempotencyKey);
    } catch {
      keyId = undefined;
    }
    const spki = keyId === undefined ? undefined : await this.spkiOfStoredKey(keyId).catch(() => undefined);
    // Without its key the request cannot be made again: nothing to learn from the CA.
    if (!spki) return { idempotencyKey: pending.idempotencyKey, keyId, why };
    const policy = effectivePolicy(this.policy, identity.policy);
    let issued: IssuedCertificate | undefined;
    try {
      issued = await this.ca.issue({
        mailbox: identity.name,
        profile: (identity.profile ?? 'strict') as (typeof SMIME_PROFILES)[number],
        // The same request as the first time (same usage), so the same key gives the same certificate.
        usage: slotCaUsage(identity, slotOfRole(pending.certificate)),
        publicKey: spki,
        validityDays: policy.validityDays,
        idempotencyKey: pending.idempotencyKey,
      });
      await this.ca.revoke({ serialNumber: issued.serialNumber, reason, time: now }).catch((e: unknown) => {
        if (!isMailPkiError(e, 'ERR_CA_ALREADY_REVOKED')) throw e;
      });
    } catch (e) {
      // A definite refusal of the repeated request: nothing was signed under this key.
      if (!issued && isDefiniteRefusal(e)) return { idempotencyKey: pending.idempotencyKey, keyId, why };
      throw new MailPkiError(
        isMailPkiError(e) ? e.code : 'ERR_CA_UNAVAILABLE',
        `${identity.name} has an issuance in progress that the CA could not settle (${e instanceof Error ? e.message : String(e)}); retry when the CA answers`,
        { details: { identityId: identity.id, ...(issued && { serialNumber: issued.serialNumber }) }, cause: e },
      );
    }
    return { idempotencyKey: pending.idempotencyKey, keyId, why, serialNumber: issued.serialNumber };
  }

  /**
   * Inside an act's write: drops the issuance {@link withdrawPending} took back (and its key, unless a
   * credential uses it), with `issuance.discarded`; an issuance started since is a conflict (retry).
   * Returns whether a key was destroyed.
   */
  private async dropWithdrawn(
    tx: StoreTx,
    emit: <E extends LifecycleEventType>(e: NewEventInput<E>) => Promise<void>,
    audit: (r: Omit<NewAuditRecord, 'id' | 'at'>) => Promise<void>,
    identity: IdentityRecord,
    w: Withdrawn | undefined,
    actor: string,
  ): Promise<boolean> {
    const pending = await tx.getPendingIssuance(identity.id);
    if (pending && pending.idempotencyKey !== w?.idempotencyKey)
      throw new MailPkiError('ERR_STORE_CONFLICT', `an issuance for ${identity.name} started meanwhile (another process); retry`);
    // Gone: the renewal that was at the CA found it withdrawn and discarded its certificate itself.
    if (!w || !pending) return false;
    await tx.deletePendingIssuance(identity.id);
    const inUse = w.keyId !== undefined && (await tx.listCredentials(identity.id)).some((c) => c.keyId === w.keyId);
    const destroyed = w.keyId !== undefined && !inUse && (await tx.deleteKey(w.keyId));
    const reason = discardReason(w.why);
    if (w.serialNumber)
      await emit({ type: 'issuance.discarded', identity, data: { serialNumber: w.serialNumber, why: w.why, revoked: true, operation: identity.currentCredentialId ? 'renew' : 'enroll' } });
    await audit({
      actor,
      action: 'issuance.discarded',
      identityId: identity.id,
      reason: `${identity.name} was ${DISCARD_WHAT[w.why]} while an issuance was in progress; ${w.serialNumber ? `the certificate the CA issued for it (${w.serialNumber}) is revoked (${reason})` : 'the CA issued nothing for it'}`,
    });
    return destroyed;
  }

  /**
   * Records a failed CA call: `issuance.failed` event + audit. The PendingIssuance is kept unless the
   * CA stated a refusal made before anything was signed ({@link DEFINITE_REFUSALS}): any other error
   * (unavailable, unreadable answer, a write failing inside the CA after it recorded the certificate)
   * leaves the outcome unknown, so a retry reuses its idempotency key and gets the certificate if the
   * CA did issue; a definite refusal frees it for a fresh attempt.
   */
  private async recordIssuanceFailure(
    identity: IdentityRecord,
    op: Operation,
    error: unknown,
    actor: string,
    at: Date,
    automatic: boolean,
    idempotencyKey: string,
    certificate: 'signing' | 'encryption' | undefined,
  ): Promise<void> {
    const code = isMailPkiError(error) ? error.code : 'ERR_CA_UNAVAILABLE';
    const message = error instanceof Error ? error.message : String(error);
    const outcomeUnknown = !isDefiniteRefusal(error);
    const retryAt = automatic ? new Date(at.getTime() + this.retryDelayMs) : undefined;
    try {
      await this.write(at, async (tx, emit, audit) => {
        const stored = await tx.getIdentity(identity.id);
        // Only its own: a later issuance (a new life after a decommission) may have written one since.
        if (!outcomeUnknown && (await tx.getPendingIssuance(identity.id))?.idempotencyKey === idempotencyKey) await tx.deletePendingIssuance(identity.id);
        await emit({ type: 'issuance.failed', identity, data: { code, message, operation: op, ...(retryAt && { retryAt: retryAt.toISOString() }), ...(certificate && { certificate }) } });
        await audit({ actor, action: 'issuance.failed', ...(stored && { identityId: stored.id }), reason: `${code}: ${message}`, after: { operation: op, code } });
        if (stored && automatic) await this.postpone(tx, stored, at);
      });
    } catch (e) {
      this.onError(e, `recording the failed issuance for ${identity.name}`);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Revoke, suspend, reinstate, decommission

  /**
   * Revokes the current certificate at the CA and marks the identity revoked (renew issues anew).
   * Identities with separate certificates: `certificate: 'signing' | 'encryption'` revokes one and
   * leaves the identity and its other certificate as they are (that one waits for `renew` with the
   * same choice; the sweep does not reissue what a person revoked); 'all' (default) revokes both.
   */
  async revoke(idOrMailbox: string, options: RevokeOptions): Promise<IdentityRecord> {
    const { actor, reason, certificate } = parseInput(revokeOptionsSchema, options, 'revoke options');
    const id = this.resolveId(idOrMailbox);
    const now = this.clock();
    const { identity } = await this.load(id);
    const slots = slotsOfChoice(identity, certificate ?? 'all');
    if (!slots) throw oneCertificate(identity, certificate!);
    const targets: Array<{ slot: CertificateSlot; credential: CredentialRecord }> = [];
    for (const slot of slots) {
      const { credential } = await this.load(id, slot);
      if (credential && credential.status !== 'revoked') targets.push({ slot, credential });
    }
    if (!['active', 'suspended', 'expired'].includes(identity.status) || targets.length === 0) throw stateError(identity, 'revoke');
    const all = (certificate ?? 'all') === 'all';
    const withdrawn = await this.withdrawPending(identity, 'withdrawn', now);
    const revokedAt: Date[] = [];
    for (const t of targets) revokedAt.push(await this.revokeAtCa(t.credential, reason, now));
    return this.write(now, async (tx, emit, audit) => {
      const { current } = await this.recheck(tx, identity, undefined);
      await this.dropWithdrawn(tx, emit, audit, current, withdrawn, actor);
      const revoked: CredentialRecord[] = [];
      for (const [i, t] of targets.entries()) {
        const cred = await tx.getCredential(t.credential.id);
        if (!cred) throw new MailPkiError('ERR_STORE_CONFLICT', `the certificate of ${identity.name} vanished meanwhile; retry`);
        const r: CredentialRecord = { ...cred, status: 'revoked', revokedAt: revokedAt[i]!, revocationReason: reason };
        await tx.updateCredential(r);
        revoked.push(r);
      }
      const next = await this.withNextDue(tx, { ...current, status: all ? 'revoked' : current.status, updatedAt: now }, revoked[0], now);
      await tx.updateIdentity(next, current.version);
      for (const [i, r] of revoked.entries()) {
        await emit({ type: 'certificate.revoked', identity: next, credential: r, data: { reason, revokedAt: revokedAt[i]!.toISOString() } });
        await audit({ actor, action: 'certificate.revoked', identityId: id, reason, before: identitySummary(current, targets[i]!.credential), after: identitySummary(next, r) });
      }
      return { ...next, version: current.version + 1 };
    });
  }

  /** Puts the certificate on hold (certificateHold) where the CA supports it; else ERR_IDENTITY_STATE. */
  async suspend(idOrMailbox: string, options: { actor: string; reason?: string }): Promise<IdentityRecord> {
    const { actor, reason } = parseInput(reasonOptionsSchema, options, 'suspend options');
    return this.holdOrRelease(this.resolveId(idOrMailbox), actor, reason, 'suspend');
  }

  /** Takes the certificate off hold (removeFromCRL). */
  async reinstate(idOrMailbox: string, options: { actor: string; reason?: string }): Promise<IdentityRecord> {
    const { actor, reason } = parseInput(reasonOptionsSchema, options, 'reinstate options');
    return this.holdOrRelease(this.resolveId(idOrMailbox), actor, reason, 'reinstate');
  }

  private async holdOrRelease(id: string, actor: string, reason: string | undefined, what: 'suspend' | 'reinstate'): Promise<IdentityRecord> {
    const now = this.clock();
    const { identity, credential } = await this.load(id);
    const from: IdentityStatus = what === 'suspend' ? 'active' : 'suspended';
    if (identity.status !== from || !credential || credential.status !== 'current') throw stateError(identity, what);
    if (!(await this.info()).supportsSuspension)
      throw new MailPkiError('ERR_IDENTITY_STATE', `the CA does not support suspension (certificateHold), so ${identity.name} cannot be ${what}ed`);
    const withdrawn = what === 'suspend' ? await this.withdrawPending(identity, 'withdrawn', now) : undefined;
    await this.ca.revoke({ serialNumber: credential.serialNumber!, reason: what === 'suspend' ? 'certificateHold' : 'removeFromCRL', time: now });
    // The other certificate of a pair goes on hold (and off it) with the first.
    if (holdsSeparateCertificates(identity)) {
      const { credential: other } = await this.load(id, 'encryption');
      if (other?.status === 'current' && other.serialNumber)
        await this.ca.revoke({ serialNumber: other.serialNumber, reason: what === 'suspend' ? 'certificateHold' : 'removeFromCRL', time: now }).catch((e: unknown) => {
          // A retry after a crash between the two calls: already on hold is done.
          if (!isMailPkiError(e, 'ERR_CA_ALREADY_REVOKED')) throw e;
        });
    }
    return this.write(now, async (tx, emit, audit) => {
      const { current, cred } = await this.recheck(tx, identity, credential);
      if (what === 'suspend') await this.dropWithdrawn(tx, emit, audit, current, withdrawn, actor);
      const next = await this.withNextDue(tx, { ...current, status: what === 'suspend' ? 'suspended' : 'active', updatedAt: now }, cred, now);
      await tx.updateIdentity(next, current.version);
      await emit({ type: what === 'suspend' ? 'identity.suspended' : 'identity.reinstated', identity: next, credential: cred, data: stripUndefined({ reason }) });
      await audit({
        actor,
        action: what === 'suspend' ? 'identity.suspended' : 'identity.reinstated',
        identityId: id,
        reason,
        before: identitySummary(current, cred),
        after: identitySummary(next, cred),
      });
      return { ...next, version: current.version + 1 };
    });
  }

  /** Revokes the current certificate (cessationOfOperation) if still valid, and retires the identity for good. */
  async decommission(idOrMailbox: string, options: { actor: string; reason: string }): Promise<IdentityRecord> {
    const { actor, reason } = parseInput(decommissionOptionsSchema, options, 'decommission options');
    return this.decommissionAt(this.resolveId(idOrMailbox), actor, reason, this.clock());
  }

  private async decommissionAt(id: string, actor: string, reason: string, now: Date): Promise<IdentityRecord> {
    const { identity, credential } = await this.load(id);
    if (identity.status === 'decommissioned') throw stateError(identity, 'decommission');
    const mustRevoke = credential !== undefined && credential.status === 'current' && credential.notAfter.getTime() > now.getTime();
    const withdrawn = await this.withdrawPending(identity, 'decommissioned', now);
    const revokedAt = mustRevoke ? await this.revokeAtCa(credential, 'cessationOfOperation', now) : undefined;
    // The encryption certificate of a pair: revoked too (no mail is encrypted to it any more); its key stays until retention ends.
    const { credential: encryption } = holdsSeparateCertificates(identity) ? await this.load(id, 'encryption') : { credential: undefined };
    const encryptionRevokedAt =
      encryption && encryption.status === 'current' && encryption.notAfter.getTime() > now.getTime() ? await this.revokeAtCa(encryption, 'cessationOfOperation', now) : undefined;
    return this.write(now, async (tx, emit, audit) => {
      const { current, cred } = await this.recheck(tx, identity, credential);
      const encCred = encryption && (await tx.getCredential(encryption.id));
      let encAfter = encCred;
      if (encCred && encryptionRevokedAt) {
        encAfter = { ...encCred, status: 'revoked', revokedAt: encryptionRevokedAt, revocationReason: 'cessationOfOperation' };
        await tx.updateCredential(encAfter);
      } else if (encCred && encCred.status === 'current') {
        encAfter = { ...encCred, status: 'expired' };
        await tx.updateCredential(encAfter);
      }
      let after = cred;
      if (cred && revokedAt) {
        after = { ...cred, status: 'revoked', revokedAt, revocationReason: 'cessationOfOperation' };
        await tx.updateCredential(after);
      } else if (cred && cred.status === 'current') {
        // Ran out before the sweep marked it: not revoked, but no longer current either.
        after = { ...cred, status: 'expired' };
        await tx.updateCredential(after);
      }
      // The identity never signs again: its private keys are destroyed with it — every credential's,
      // and that of an issuance in progress (no credential's yet), which dies with it too.
      // Decryption keys are the exception: mail encrypted to them stays readable until their retention ends.
      let keysDestroyed = (await this.dropWithdrawn(tx, emit, audit, current, withdrawn, actor)) ? 1 : 0;
      const kept = new Set((await tx.listDecryptionKeys(id)).filter((d) => !d.destroyedAt).map((d) => d.keyId));
      const next = await this.withNextDue(tx, { ...current, status: 'decommissioned', updatedAt: now }, after, now);
      await tx.updateIdentity(next, current.version);
      for (const c of await tx.listCredentials(id)) if (c.keyId && !kept.has(c.keyId) && (await tx.deleteKey(c.keyId))) keysDestroyed++;
      if (after && revokedAt)
        await emit({ type: 'certificate.revoked', identity: next, credential: after, data: { reason: 'cessationOfOperation', revokedAt: revokedAt.toISOString() } });
      if (encAfter && encryptionRevokedAt)
        await emit({ type: 'certificate.revoked', identity: next, credential: encAfter, data: { reason: 'cessationOfOperation', revokedAt: encryptionRevokedAt.toISOString() } });
      await emit({ type: 'identity.decommissioned', identity: next, credential: after, data: { reason, revoked: revokedAt !== undefined || encryptionRevokedAt !== undefined, keysDestroyed, decryptionKeysKept: kept.size } });
      await audit({
        actor,
        action: 'identity.decommissioned',
        identityId: id,
        reason: `${reason} (${keysDestroyed} private key${keysDestroyed === 1 ? '' : 's'} destroyed${kept.size ? `, ${kept.size} decryption key${kept.size === 1 ? '' : 's'} kept until retention ends` : ''})`,
        before: identitySummary(current, cred),
        after: identitySummary(next, after),
      });
      return { ...next, version: current.version + 1 };
    });
  }

  /** Revocation at the CA; "already revoked" counts as done (a retry after a crash between CA and store). */
  private async revokeAtCa(credential: CredentialRecord, reason: RevokeReason, now: Date): Promise<Date> {
    if (!credential.serialNumber) throw new MailPkiError('ERR_IDENTITY_STATE', 'the credential has no serial number to revoke');
    try {
      return (await this.ca.revoke({ serialNumber: credential.serialNumber, reason, time: now })).revokedAt;
    } catch (e) {
      if (isMailPkiError(e, 'ERR_CA_ALREADY_REVOKED')) return now;
      throw e;
    }
  }

  /** Inside the write: the identity must not have moved on since it was read (another process). */
  private async recheck<C extends CredentialRecord | undefined>(tx: StoreTx, identity: IdentityRecord, credential: C): Promise<{ current: IdentityRecord; cred: C }> {
    const current = await tx.getIdentity(identity.id);
    if (!current) throw notFound(identity.id);
    if (current.version !== identity.version || current.currentCredentialId !== identity.currentCredentialId || current.encryptionCredentialId !== identity.encryptionCredentialId)
      throw new MailPkiError('ERR_STORE_CONFLICT', `${identity.name} changed while the CA was asked; retry`);
    if (!credential) return { current, cred: credential };
    const cred = await tx.getCredential(credential.id);
    if (!cred) throw new MailPkiError('ERR_STORE_CONFLICT', `the certificate of ${identity.name} vanished meanwhile; retry`);
    return { current, cred: cred as C };
  }

  /**
   * The identity with nextDueAt recomputed (renewal, notices, expiry, decommission, retention ends of kept decryption keys).
   * `justIssued`: the slot whose certificate was just recorded. If the other certificate of a pair is
   * due now too, the identity stays due now (not after retryDelayMs): the sweep that is renewing the
   * pair goes on to it, and if that process dies in between, the next sweep finishes the pair.
   */
  private async withNextDue(tx: StoreTx, identity: IdentityRecord, credential: CredentialRecord | undefined, now: Date, justIssued?: CertificateSlot): Promise<IdentityRecord> {
    const policy = effectivePolicy(this.policy, identity.policy);
    const decryptionKeys = await tx.listDecryptionKeys(identity.id);
    let due: Date | undefined;
    if (!holdsSeparateCertificates(identity)) due = nextDueAt({ identity, credential, now, policy, decryptionKeys });
    else {
      // Each certificate of the pair on its own schedule: the earliest of the two.
      const times: number[] = [];
      let otherDueNow = false;
      for (const slot of slotsOf(identity)) {
        const id = slotCredentialId(identity, slot);
        const c = id === undefined ? undefined : id === credential?.id ? credential : await tx.getCredential(id);
        // A revoked certificate of the pair waits for a person: it makes nothing due (its decryption key's retention still does).
        const view = c?.status === 'revoked' && identity.status === 'active' ? { ...identity, status: 'revoked' as const } : identity;
        const t = nextDueAt({ identity: view, credential: c, now, policy, decryptionKeys });
        if (t) times.push(t.getTime());
        if (t && justIssued !== undefined && slot !== justIssued && t.getTime() <= now.getTime()) otherDueNow = true;
      }
      due = times.length ? new Date(Math.min(...times)) : undefined;
      if (otherDueNow) return { ...identity, nextDueAt: now };
    }
    const next = { ...identity };
    if (due === undefined) delete next.nextDueAt;
    else next.nextDueAt = due.getTime() <= now.getTime() ? new Date(now.getTime() + this.retryDelayMs) : due;
    return next;
  }

  // ---------------------------------------------------------------------------------------------
  // The sweep

  /**
   * One idempotent sweep over what is due (`nextDueAt ≤ now`, from the index): decommissions what
   * passed its date, marks what expired, renews what is in its renewal window, sends expiry notices
   * that came due (each once), and moves each identity's nextDueAt past `now`. Running it again at
   * the same `now` finds nothing. Failures are collected in the summary, never thrown per identity.
   */
  async runDue(
    now: Date = this.clock(),
    options: {
      actor?: string;
      /** Called after each identity with the running summary and how many are due in all (for progress lines). */
      onProgress?: (summary: Readonly<DueSummary>, totalDue: number) => void;
    } = {},
  ): Promise<DueSummary> {
    if (!(now instanceof Date) || Number.isNaN(now.getTime()))
      throw new MailPkiError('ERR_INVALID_INPUT', 'now: expected a valid Date', { details: { field: 'now' } });
    const actor = parseInput(actorSchema, options.actor ?? this.defaultActor, 'runDue actor');
    const summary: DueSummary = { scanned: 0, renewed: [], notices: [], expired: [], decommissioned: [], failed: [], skipped: [], decryptionKeysDestroyed: [] };
    // DKIM identities share the store; DkimManager.runDue drives them.
    const totalDue = options.onProgress ? await this.store.transaction((tx) => tx.countIdentities({ kind: 'smime', dueBefore: now })) : 0;
    await forEachDue({ store: this.store, kind: 'smime', now, pageSize: SWEEP_PAGE }, async (id) => {
      summary.scanned++;
      try {
        // Claimed while swept: a second worker on the same store skips it instead of renewing it again.
        if ((await withClaim(this.store, this.claims, id, () => this.sweepOne(id, now, actor, summary))) === 'skipped') summary.skipped.push(id);
      } catch (e) {
        // Another process moved the identity on meanwhile (its claim had run out, or a person acted): its work, not a failure.
        if (isLostRace(e)) summary.skipped.push(id);
        else summary.failed.push({ identityId: id, code: isMailPkiError(e) ? e.code : 'ERR_UNKNOWN', message: e instanceof Error ? e.message : String(e) });
      }
      options.onProgress?.(summary, totalDue);
    });
    return summary;
  }

  private async sweepOne(id: string, now: Date, actor: string, summary: DueSummary): Promise<void> {
    let { identity, credential } = await this.load(id);
    const policy = effectivePolicy(this.policy, identity.policy);
    if (identity.nextDueAt === undefined || identity.nextDueAt.getTime() > now.getTime()) return; // another process got here first
    // Leaves the identity record alone: the step below (or its bookkeeping) moves nextDueAt.
    await this.destroyDueDecryptionKeys(id, actor, now, summary);
    // Each certificate on its own schedule: a separate pair is two of these steps, signing first.
    let acted = false;
    let renewFailed = false;
    for (const slot of slotsOf(identity)) {
      if (acted) ({ identity, credential } = await this.load(id, slot));
      else if (slot !== 'main') ({ credential } = await this.load(id, slot));
      // A certificate of a pair that a person revoked waits for a person (renew), like a revoked identity.
      if (holdsSeparateCertificates(identity) && credential?.status === 'revoked') continue;
      const step = sweepStep({ identity, credential, now, policy });
      if (step.action === 'decommission') {
        await this.decommissionAt(id, actor, step.reason, now);
        summary.decommissioned.push(id);
        return;
      }
      if (step.action === 'expire') {
        await this.expire(identity, credential!, actor, now, slot);
        if (!summary.expired.includes(id)) summary.expired.push(id);
        acted = true;
        continue;
      }
      if (step.action === 'renew') {
        try {
          await this.renewAt(id, actor, now, step.reason, undefined, true, identity, slot);
          if (!summary.renewed.includes(id)) summary.renewed.push(id);
          acted = true;
          continue;
        } catch (e) {
          if (isLostRace(e)) throw e;
          renewFailed = true;
          summary.failed.push({ identityId: id, code: errorCode(e), message: e instanceof Error ? e.message : String(e) });
          acted = true;
        }
      }
    }
    const onlyAction = !renewFailed && acted && slotsOf(identity).length === 1;
    if (onlyAction) return;
    await this.write(now, async (tx, emit, audit) => {
      const current = await tx.getIdentity(id);
      if (!current) return;
      let sent = false;
      let cred: CredentialRecord | undefined;
      for (const slot of slotsOf(current)) {
        const c = await slotCredential(tx, current, slot);
        if (slot === 'main') cred = c;
        const ctx = { identity: current, credential: c, now, policy };
        for (const n of dueNotices(ctx)) {
          if (!(await tx.recordNotice({ identityId: id, credentialId: c!.id, noticeKey: n.noticeKey, sentAt: now }))) continue;
          await emit({ type: 'certificate.expiring', identity: current, credential: c, data: { daysLeft: n.daysLeft, noticeDays: n.noticeDays } });
          const role = slotRole(current, slot);
          await audit({ actor, action: 'notice.sent', identityId: id, reason: `${n.noticeKey}${role ? ` (${role} certificate)` : ''}: ${n.daysLeft} days left`, after: { noticeKey: n.noticeKey, credentialId: c!.id } });
          summary.notices.push({ identityId: id, noticeKey: n.noticeKey, daysLeft: n.daysLeft });
          sent = true;
        }
      }
      const next = await this.withNextDue(tx, current, cred, now);
      // Bookkeeping only (no audit): the index must move past `now` so the next sweep skips it.
      if (sent || next.nextDueAt?.getTime() !== current.nextDueAt?.getTime()) await tx.updateIdentity({ ...next, updatedAt: now }, current.version);
    });
  }

  private async expire(identity: IdentityRecord, credential: CredentialRecord, actor: string, now: Date, slot: CertificateSlot): Promise<void> {
    await this.write(now, async (tx, emit, audit) => {
      const { current, cred } = await this.recheck(tx, identity, credential);
      const expired: CredentialRecord = { ...cred, status: 'expired' };
      await tx.updateCredential(expired);
      // A pair is expired when neither certificate is current any more; until then the other goes on.
      const others = await Promise.all(slotsOf(current).filter((s) => s !== slot).map((s) => slotCredential(tx, current, s)));
      const status = others.some((c) => c?.status === 'current') ? current.status : 'expired';
      const next = await this.withNextDue(tx, { ...current, status, updatedAt: now }, expired, now);
      await tx.updateIdentity(next, current.version);
      await emit({ type: 'certificate.expired', identity: next, credential: expired, data: {} });
      await audit({ actor, action: 'certificate.expired', identityId: identity.id, reason: `notAfter ${cred.notAfter.toISOString()} passed`, before: identitySummary(current, cred), after: identitySummary(next, expired) });
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Outbox delivery

  /**
   * Delivers undelivered events from the outbox to every sink: leased (so two processes never
   * send the same event at once), marked delivered when all sinks took it, else retried later with
   * exponential backoff. At least once: a sink may see an event again; de-duplicate by `id`.
   */
  async deliverEvents(options: { owner?: string; now?: Date; limit?: number } = {}): Promise<DeliverySummary> {
    return deliverOutbox<LifecycleEvent>({
      store: this.store,
      sinks: this.sinks,
      owner: options.owner ?? this.instanceId,
      now: options.now ?? this.clock(),
      clock: this.clock,
      leaseMs: this.leaseMs,
      backoffMs: this.deliveryBackoffMs,
      ...(options.limit !== undefined && { limit: options.limit }),
    });
  }
}

// -----------------------------------------------------------------------------------------------

/** The current credential of one slot ('main': the only, or the signing, certificate). */
async function slotCredential(tx: StoreTx, identity: IdentityRecord, slot: CertificateSlot): Promise<CredentialRecord | undefined> {
  const id = slotCredentialId(identity, slot);
  return id ? tx.getCredential(id) : undefined;
}

function oneCertificate(identity: IdentityRecord, choice: string): MailPkiError {
  return new MailPkiError('ERR_INVALID_INPUT', `${identity.name} holds one certificate, not separate signing and encryption certificates: certificate '${choice}' does not apply (use 'all')`, {
    details: { field: 'certificate', identityId: identity.id },
  });
}

function notFound(id: string): MailPkiError {
  return new MailPkiError('ERR_IDENTITY_NOT_FOUND', `no identity ${id} in the inventory`, { details: { identityId: id } });
}

function stateError(identity: IdentityRecord, what: string): MailPkiError {
  return new MailPkiError('ERR_IDENTITY_STATE', `cannot ${what} ${identity.name}: it is ${identity.status}`, {
    details: { identityId: identity.id, status: identity.status },
  });
}

function errorCode(e: unknown): MailPkiErrorCode | 'ERR_UNKNOWN' {
  return isMailPkiError(e) ? e.code : 'ERR_UNKNOWN';
}

/** DKIM identities share the store; DkimManager manages them, this manager only reads them (get, list). */
function assertSmime(identity: IdentityRecord): void {
  if (identity.kind !== 'smime')
    throw new MailPkiError('ERR_IDENTITY_STATE', `${identity.id} is a DKIM identity: DkimManager (mailpki dkim …) manages it`, { details: { identityId: identity.id } });
}

/** The key of a written-down issuance; undefined for an idempotency key mailpki did not make. */
function pendingKeyId(pending: PendingIssuance): string | undefined {
  return pending.idempotencyKey.startsWith(`${IDEMPOTENCY_PREFIX}.`) ? keyIdOf(pending.idempotencyKey) : undefined;
}

/**
 * Drops an issuance written down but not finished, with its key (which no credential holds yet).
 * Returns whether a key was destroyed.
 */
/**
 * The CA errors that state the request was refused before anything was signed (docs/ca.md): only
 * these free a PendingIssuance and its idempotency key. Any other error from `issue` — including
 * ERR_IO or ERR_CA_STATE_INVALID thrown after the CA recorded the certificate — is "outcome unknown".
 */
type DiscardWhy = 'decommissioned' | 'replaced' | 'withdrawn';

/** What an issuance taken back by a revoke, suspend or decommission left, for the act's write. */
interface Withdrawn {
  idempotencyKey: string;
  keyId: string | undefined;
  why: 'withdrawn' | 'decommissioned';
  /** The certificate the CA issued for it (revoked), if it did. */
  serialNumber?: string;
}

const DISCARD_WHAT: Record<DiscardWhy, string> = {
  decommissioned: 'decommissioned',
  replaced: 'enrolled anew',
  withdrawn: 'revoked, suspended or decommissioned',
};

/** The true reason a discarded certificate is revoked with. */
function discardReason(why: DiscardWhy): RevokeReason {
  return why === 'decommissioned' ? 'cessationOfOperation' : 'superseded';
}

const DEFINITE_REFUSALS: readonly MailPkiErrorCode[] = [
  'ERR_CA_REJECTED',
  'ERR_CA_POLICY_VIOLATION',
  'ERR_CA_MAILBOX_NOT_ALLOWED',
  'ERR_CA_VALIDITY_EXCEEDED',
  'ERR_POLICY_DENIED',
  'ERR_INVALID_INPUT',
];

function isDefiniteRefusal(error: unknown): boolean {
  return isMailPkiError(error) && DEFINITE_REFUSALS.includes(error.code);
}

async function dropPendingIssuance(tx: StoreTx, identityId: string): Promise<boolean> {
  const pending = await tx.getPendingIssuance(identityId);
  if (!pending) return false;
  const keyId = pendingKeyId(pending);
  const destroyed = keyId !== undefined && (await tx.deleteKey(keyId));
  await tx.deletePendingIssuance(identityId);
  return destroyed;
}

function keyIdOf(idempotencyKey: string): string {
  const [prefix, keyId] = idempotencyKey.split('.');
  if (prefix !== IDEMPOTENCY_PREFIX || !keyId) throw new MailPkiError('ERR_STORE_CORRUPT', `pending issuance has a foreign idempotency key`);
  return keyId;
}

/** The SPKI of a stored PKCS#8 key: WebCrypto has no "public from private", but JWK without `d` is it. */
async function spkiFromPkcs8(pkcs8: Uint8Array, crypto: Crypto): Promise<Uint8Array> {
  // An X25519 key is imported for what it can do (key agreement); its public key has no usages.
  const agrees = parsePrivateKeyInfo(pkcs8).kind === 'x25519';
  const priv = await importPrivateKey(pkcs8, { crypto, extractable: true, ...(agrees && { usage: 'decrypt' as const }) });
  const jwk = await crypto.subtle.exportKey('jwk', priv);
  for (const k of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'key_ops'] as const) delete (jwk as Record<string, unknown>)[k];
  jwk.ext = true;
  const pub = await crypto.subtle.importKey('jwk', jwk, priv.algorithm as EcKeyImportParams, true, agrees ? [] : ['verify']);
  return new Uint8Array(await crypto.subtle.exportKey('spki', pub));
}

function chainOf(credential: CredentialRecord): Uint8Array[] {
  const chain = credential.attributes?.chain;
  if (!Array.isArray(chain)) return [];
  return chain.map((c) => {
    const b = typeof c === 'string' ? fromBase64(c) : undefined;
    if (!b) throw new MailPkiError('ERR_STORE_CORRUPT', `credential ${credential.id} has an unreadable chain`);
    return copyBytes(b);
  });
}

/** What an audit record says about an identity: no key material, ever (ids and public facts only). */
function identitySummary(i: IdentityRecord, c: CredentialRecord | undefined): JsonObject {
  return stripUndefined({
    status: i.status,
    owner: stripUndefined({ team: i.owner.team, contact: i.owner.contact }),
    purpose: i.purpose,
    approvedBy: i.approvedBy,
    tags: i.tags,
    profile: i.profile,
    keyType: i.keyType,
    encryptionKeyType: i.attributes?.encryptionKeyType,
    certificates: i.certificates,
    policy: i.policy,
    decommissionAt: i.decommissionAt?.toISOString(),
    credential: c
      ? stripUndefined({
          id: c.id,
          status: c.status,
          serialNumber: c.serialNumber,
          fingerprint: c.fingerprint,
          notBefore: c.notBefore.toISOString(),
          notAfter: c.notAfter.toISOString(),
          revocationReason: c.revocationReason,
          certificate: credentialRole(c),
        })
      : undefined,
  }) as JsonObject;
}

function requestSummary(i: IdentityRecord): JsonObject {
  return stripUndefined({ mailbox: i.name, owner: i.owner.team, keyType: i.keyType, encryptionKeyType: i.attributes?.encryptionKeyType, profile: i.profile, purpose: i.purpose }) as JsonObject;
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/**
 * An identity's decryption-key history from the store alone (no CA, no key protector: nothing is
 * decrypted), oldest first. `LifecycleManager.decryptionKeys` is the same.
 */
export async function readDecryptionKeys(store: Store, idOrMailbox: string): Promise<DecryptionKeyInfo[]> {
  if (typeof idOrMailbox !== 'string' || idOrMailbox.trim().length === 0)
    throw new MailPkiError('ERR_INVALID_INPUT', 'identity: expected an id or a mailbox', { details: { field: 'identity' } });
  const lower = idOrMailbox.trim().toLowerCase();
  const id = /^(smime|dkim):/.test(lower) ? lower : smimeIdentityId(lower);
  return store.transaction(async (tx) => {
    const identity = await tx.getIdentity(id);
    if (!identity) throw notFound(id);
    assertSmime(identity);
    const out: DecryptionKeyInfo[] = [];
    for (const d of await tx.listDecryptionKeys(id)) {
      const c = await tx.getCredential(d.credentialId);
      out.push(
        stripUndefined({
          credentialId: d.credentialId,
          serialNumber: c?.serialNumber,
          notAfter: c?.notAfter ?? d.retainUntil,
          createdAt: d.createdAt,
          retainUntil: d.retainUntil,
          destroyedAt: d.destroyedAt,
          ownerTeam: d.ownerTeam,
          lifeEndedAt: d.lifeEndedAt,
        }),
      );
    }
    return out;
  });
}


interface HeldDecryptionKey {
  identity: IdentityRecord;
  credentialId: string;
  serialNumber: string | undefined;
  retainUntil: Date;
  certificate: Certificate;
  chain: Uint8Array[];
  protectedKey: Awaited<ReturnType<KeyProtector['protect']>>;
  /** The key is also the key of a current certificate that can sign (dual use). */
  signsNow: boolean;
}

/**
 * Keys of the identity's current certificates that can sign at `now` (not revoked, not past
 * notAfter, keyUsage digitalSignature or none): a kept decryption key among them is a live signing
 * key. A certificate on hold counts: it signs again when reinstated.
 */
async function liveSigningKeyIds(tx: StoreTx, identity: IdentityRecord, now: Date): Promise<Set<string>> {
  const out = new Set<string>();
  for (const slot of slotsOf(identity)) {
    const c = await slotCredential(tx, identity, slot);
    if (!c?.keyId || !c.certificate || c.status !== 'current' || now.getTime() >= c.notAfter.getTime()) continue;
    const ku = parseCertificate(c.certificate).keyUsage;
    if (!ku || ku.includes('digitalSignature')) out.add(c.keyId);
  }
  return out;
}

/** What an audit record says about a key handed out: which certificate, never the key. */
function keySummary(h: HeldDecryptionKey): JsonObject {
  return { credentialId: h.credentialId, serialNumber: h.serialNumber ?? null, retainUntil: h.retainUntil.toISOString() };
}

/**
 * The key type an enrollment gets when it names none: ec-p256 when the policy allows it, else the
 * first allowed type that fits the use (an X25519 key cannot sign, an Ed25519 key cannot decrypt).
 * When the policy allows none that fits (e.g. only X25519 for a signing identity), the manager's
 * first that fits, or ec-p256, stands in: checkPolicy then refuses it (ERR_POLICY_DENIED
 * allowedKeyTypes) before any key, identity or CA call, instead of a key that cannot do the job.
 */
function defaultKeyType(policy: LifecyclePolicy, base: LifecyclePolicy, use: IdentityUse): KeyType {
  const fits = (t: KeyType) => (use === 'encryption' ? keyTypeDecrypts(t) : keyTypeSigns(t));
  if (policy.allowedKeyTypes.includes('ec-p256')) return 'ec-p256';
  return policy.allowedKeyTypes.find(fits) ?? base.allowedKeyTypes.find(fits) ?? 'ec-p256';
}
