/**
 * DKIM keys as governed identities: one identity per domain (`dkim:<domain>`), one credential per
 * key and selector, and a rotation state machine per key:
 *
 *   generated → publish-requested → published → active → retiring → retired → removed
 *
 * "published" means this process resolved the TXT record and found exactly our key in it; a key
 * becomes active (signing switches to it) only from there, after a fresh lookup. The key it replaces
 * stays published, no longer signing, for `graceDays`, then gets `p=` empty (retiring → retired,
 * again confirmed in DNS), and its record is deleted `removeAfterDays` later. Each transition is
 * one store transaction with its event and audit record; DNS changes (DnsPublisher) and lookups
 * (DnsTxtResolver) happen outside transactions, so a crash between the two is repaired by the
 * next `runDue`, which only ever moves a key one verified step at a time. A step that fails is
 * told to the owners (`dkim.step.failed`) and tried again by the next `runDue`. `decommission`
 * stops signing at once and sends every key down the same way out.
 */
import { forEachDue, isLostRace, resolveClaims, withClaim, type ClaimOptions, type Claims } from './claims.js';
import { z } from 'zod';
import { dkimRecord, dkimRecordName, parseDkimRecord, revokedDkimRecord, type DkimKeyType, type DkimRecordText } from '../dkim/record.js';
import { DKIM_KEY_ALGORITHMS, recordKeyInfo, type DkimKeyAlgorithm } from '../dkim/key.js';
import { isNotFound } from '../dkim/resolver.js';
import { manualPublisher } from '../dns/manual.js';
import type { DnsPublisher, DnsTxtResolver } from '../dns/types.js';
import { ListenerRegistry } from './listeners.js';
import { deliverOutbox, type DeliverySummary } from './delivery.js';
import { MailPkiError, isMailPkiError } from '../errors.js';
import { equalBytes, fromBase64, toBase64, toHex } from '../internal/bytes.js';
import { systemClock, type Clock } from '../internal/clock.js';
import { resolveCrypto } from '../internal/crypto.js';
import { parseInput } from '../internal/validate.js';
import { generateKeyPair } from '../keys/generate.js';
import { exportPkcs8, importPrivateKey } from '../keys/pkcs8.js';
import { exportSpki } from '../keys/spki.js';
import type { CredentialRecord, IdentityRecord, JsonObject, KeyProtector, NewAuditRecord, Store, StoreTx } from '../store/index.js';
import {
  DKIM_EVENT_TYPES,
  createDkimEvent,
  type DkimEvent,
  type DkimEventData,
  type DkimEventOf,
  type DkimEventType,
  type DkimKeyState,
  type DkimKeySummary,
  type DkimRecordSummary,
} from './dkim-events.js';
import {
  dkimNextDueAt,
  isPending,
  nextDkimStep,
  parseDkimPolicy,
  rotationDue,
  type DkimKeyTimes,
  type DkimPolicy,
  type DkimPolicyInput,
  type DkimStep,
} from './dkim-policy.js';
import type { LifecycleEvent } from './events.js';
import { actorSchema, freeText, nameText, reasonSchema } from './actor.js';
import { timeOrderedId } from './ids.js';
import { checkLookalikeDomain, policyError } from './policy.js';

/** Where events go after the outbox: the same sinks as the S/MIME manager (webhook, queue, log). */
export interface DkimEventSink {
  readonly name?: string;
  deliver(event: LifecycleEvent | DkimEvent): Promise<void>;
}

export interface DkimManagerOptions extends ClaimOptions {
  store: Store;
  /** Wraps private keys before they reach the store. */
  keyProtector: KeyProtector;
  /** Reads TXT records back to confirm what DNS serves (Node: a `dns.promises.Resolver#resolveTxt`). */
  resolver: DnsTxtResolver;
  /** Default: manualPublisher() (events only; people publish). */
  publisher?: DnsPublisher;
  /** Defaults for every DKIM identity; an identity's own policy overrides field by field. */
  policy?: DkimPolicyInput;
  /**
   * A signing domain a mail client shows as a Latin name it is not (`xn--80aa0cbo65f.com`, shown раураӏ.com, reads as
   * paypal.com), as the lifecycle policy's `lookalikeDomains` reads a mailbox's: `'refuse'` (the default) refuses to
   * create its DKIM identity (ERR_POLICY_DENIED, rule `lookalikeDomains`, an audit record `policy.denied`); `'allow'`
   * for an organisation whose own domain is such a name. Checked at create and at every rotation (manual or scheduled):
   * an identity created under 'allow' gets no new key once the setting is 'refuse'.
   */
  lookalikeDomains?: 'refuse' | 'allow';
  clock?: Clock;
  crypto?: Crypto;
  sinks?: DkimEventSink[];
  /** Actor recorded for runDue when none is given. Default 'mailpki:dkim-runDue'. */
  actor?: string;
  instanceId?: string;
  /** Outbox redelivery backoff base. Default 30 s. */
  deliveryBackoffMs?: number;
  leaseMs?: number;
  onError?: (error: unknown, context: string) => void;
}

export interface DkimCreateInput {
  domain: string;
  /** First key's selector; default `mp<yyyymm><n>`. Only with a single algorithm. */
  selector?: string;
  owner: { team: string; contact?: string };
  purpose?: string;
  /** One key type, or several signing side by side (e.g. ['rsa-2048', 'ed25519']). Default 'rsa-2048'. */
  algorithm?: DkimKeyAlgorithm | readonly DkimKeyAlgorithm[];
  policy?: DkimPolicyInput;
  tags?: string[];
}

/** One key of a DKIM identity, as the inventory shows it. */
export interface DkimKeyInfo extends DkimKeySummary {
  credentialId: string;
  keyType: DkimKeyType;
  /** True for the key(s) `getSigningKeys` returns. */
  signing: boolean;
  record: DkimRecordSummary;
  createdAt: Date;
  confirmedAt?: Date;
  activatedAt?: Date;
  supersededAt?: Date;
  retiredAt?: Date;
  removedAt?: Date;
}

/** What `signDkimMessage` takes (plus the key algorithm). */
export interface DkimSigningKey {
  domain: string;
  selector: string;
  /** Non-extractable. */
  privateKey: CryptoKey;
  algorithm: 'rsa-sha256' | 'ed25519-sha256';
  keyAlgorithm: DkimKeyAlgorithm;
}

/** What `DkimManager.planDue` says `runDue` would start (a dry run). */
export interface DkimDuePlan {
  now: Date;
  scanned: number;
  steps: Array<{ identityId: string; selector?: string; step: DkimStep | 'rotate' | 'withdraw'; state?: DkimKeyState }>;
}

export interface DkimDueSummary {
  scanned: number;
  transitions: Array<{ identityId: string; selector: string; step: DkimStep; state: DkimKeyState }>;
  rotated: Array<{ identityId: string; selectors: string[] }>;
  /** Keys waiting for DNS (record not visible yet, or not what it should be). */
  waiting: Array<{ identityId: string; selector: string; state: DkimKeyState; found: DnsFinding }>;
  failed: Array<{ identityId: string; selector?: string; code: string; message: string }>;
  /** Identities another worker was working on (claimed) or moved on meanwhile: left to it, not failures. */
  skipped: string[];
}

/** What DNS served at a selector, compared with our key. */
export type DnsFinding = 'ours' | 'revoked' | 'absent' | 'other-key' | 'several-records' | 'invalid-record' | 'lookup-failed';

export type DriftStatus = 'ok' | 'pending' | 'missing' | 'different-key' | 'retired-but-published' | 'unresolvable';

export interface DriftEntry {
  selector: string;
  name: string;
  state: DkimKeyState;
  expected: 'key' | 'revoked-or-absent';
  found: DnsFinding;
  status: DriftStatus;
  /** The first failure message for 'lookup-failed' / 'invalid-record'. */
  detail?: string;
}

export interface DriftReport {
  domain: string;
  checkedAt: Date;
  /** True when no entry is missing, different-key, retired-but-published or unresolvable. */
  ok: boolean;
  entries: DriftEntry[];
}

export type DkimDeliverySummary = DeliverySummary;

/** The identity id of a DKIM domain ('dkim:example.com'). */
export function dkimIdentityId(domain: string): string {
  return `dkim:${domain.trim().toLowerCase().replace(/\.$/, '')}`;
}

const algorithmSchema = z.enum(DKIM_KEY_ALGORITHMS as [DkimKeyAlgorithm, ...DkimKeyAlgorithm[]]);
const createSchema = z
  .object({
    domain: z.string().min(1).max(253),
    selector: z.string().min(1).max(63).optional(),
    owner: z.object({ team: nameText(200).min(1), contact: freeText(4096).optional() }).strict(),
    purpose: freeText(4096).optional(),
    algorithm: z.union([algorithmSchema, z.array(algorithmSchema).min(1).max(4)]).optional(),
    policy: z.record(z.string(), z.unknown()).optional(),
    tags: z.array(freeText(200).min(1)).max(100).default([]),
  })
  .strict();
const actorOptions = z.object({ actor: actorSchema, reason: reasonSchema().optional() }).strict();
const runDueOptions = z.object({ actor: actorSchema.optional(), domain: z.string().min(1).max(253).optional() }).strict();
const planDueOptions = runDueOptions.omit({ actor: true });

/** Steps that bring a key in: a decommissioned identity's keys only go out. */
const INWARD_STEPS: ReadonlySet<DkimStep> = new Set<DkimStep>(['request-publish', 'push', 'confirm', 'activate']);


/** The DKIM part of a credential's attributes. */
const keyAttributesSchema = z
  .object({
    state: z.enum(['generated', 'publish-requested', 'published', 'active', 'retiring', 'retired', 'removed']),
    algorithm: algorithmSchema,
    keyType: z.enum(['rsa', 'ed25519']),
    /** The record to publish, as rendered at generation. */
    record: z.object({ name: z.string(), value: z.string(), strings: z.array(z.string()), zoneLine: z.string() }).strict(),
    /** The SPKI DER, base64. */
    spki: z.string().min(1),
    pushedAt: z.string().optional(),
    confirmedAt: z.string().optional(),
    activatedAt: z.string().optional(),
    supersededAt: z.string().optional(),
    retiringAt: z.string().optional(),
    retirePushedAt: z.string().optional(),
    retiredAt: z.string().optional(),
    removedAt: z.string().optional(),
  })
  .strict();
type KeyAttributes = z.output<typeof keyAttributesSchema>;

interface LoadedKey {
  credential: CredentialRecord;
  attrs: KeyAttributes;
}

/** One key's change when its identity is decommissioned. */
interface Withdrawal {
  key: LoadedKey;
  attrs: Partial<KeyAttributes>;
  status: CredentialRecord['status'];
  event?: { type: DkimEventType; data: DkimEventData[DkimEventType] };
  audit: { action: string; reason: string };
}

const DAY = 86_400_000;
const SWEEP_PAGE = 500;
const MAX_STEPS_PER_SWEEP = 32;

/**
 * Runs DKIM keys through their life over the lifecycle Store.
 *
 * @example
 * const dkim = new DkimManager({ store, keyProtector, resolver: nodeDnsResolver(),
 *   publisher: rfc2136Publisher({ server: '10.0.0.53:53', zone: 'example.com', tsig, transport: nodeDnsTransport() }) });
 * await dkim.create({ domain: 'example.com', owner: { team: 'mail' }, algorithm: ['rsa-2048', 'ed25519'] }, { actor: 'alice' });
 * await dkim.runDue();                                  // publishes, confirms, activates (from a scheduler)
 * const signed = await signDkimMessage(message, await dkim.getSigningKeys('example.com'));
 */
export class DkimManager {
  readonly policy: DkimPolicy;
  private readonly lookalikeDomains: 'refuse' | 'allow';
  private readonly store: Store;
  private readonly keyProtector: KeyProtector;
  private readonly resolver: DnsTxtResolver;
  private readonly publisher: DnsPublisher;
  private readonly clock: Clock;
  private readonly crypto: Crypto;
  private readonly sinks: DkimEventSink[];
  private readonly defaultActor: string;
  private readonly instanceId: string;
  private readonly deliveryBackoffMs: number;
  private readonly leaseMs: number;
  private readonly claims: Claims;
  private readonly onError: (error: unknown, context: string) => void;
  private readonly listeners: ListenerRegistry<DkimEvent>;

  constructor(options: DkimManagerOptions) {
    if (!options || typeof options !== 'object') throw new MailPkiError('ERR_INVALID_INPUT', 'DkimManager: options are required', { details: { field: 'options' } });
    if (!options.store || typeof options.store.transaction !== 'function') throw new MailPkiError('ERR_INVALID_INPUT', 'DkimManager: store must be a Store', { details: { field: 'store' } });
    if (!options.keyProtector || typeof options.keyProtector.protect !== 'function')
      throw new MailPkiError('ERR_INVALID_INPUT', 'DkimManager: keyProtector is required (private keys are never stored in the clear)', { details: { field: 'keyProtector' } });
    if (typeof options.resolver !== 'function')
      throw new MailPkiError('ERR_INVALID_INPUT', 'DkimManager: resolver is required (a key is activated only after DNS is seen to serve it)', { details: { field: 'resolver' } });
    if (options.publisher !== undefined && typeof options.publisher.publish !== 'function') throw new MailPkiError('ERR_INVALID_INPUT', 'DkimManager: publisher must be a DnsPublisher', { details: { field: 'publisher' } });
    this.policy = parseDkimPolicy(options.policy);
    if (options.lookalikeDomains !== undefined && options.lookalikeDomains !== 'refuse' && options.lookalikeDomains !== 'allow')
      throw new MailPkiError('ERR_INVALID_INPUT', "DkimManager: lookalikeDomains must be 'refuse' or 'allow'", { details: { field: 'lookalikeDomains' } });
    this.lookalikeDomains = options.lookalikeDomains ?? 'refuse';
    this.store = options.store;
    this.keyProtector = options.keyProtector;
    this.resolver = options.resolver;
    this.publisher = options.publisher ?? manualPublisher();
    this.clock = options.clock ?? systemClock;
    this.crypto = resolveCrypto(options.crypto);
    this.sinks = [...(options.sinks ?? [])];
    this.defaultActor = options.actor ?? 'mailpki:dkim-runDue';
    this.instanceId = options.instanceId ?? this.crypto.randomUUID();
    this.deliveryBackoffMs = options.deliveryBackoffMs ?? 30_000;
    this.leaseMs = options.leaseMs ?? 60_000;
    this.claims = resolveClaims(this.instanceId, options, 'DkimManager');
    this.onError = options.onError ?? ((e, context) => console.error(`mailpki dkim: ${context}:`, e));
    this.listeners = new ListenerRegistry(DKIM_EVENT_TYPES, (e, context) => this.onError(e, context));
  }

  // ---------------------------------------------------------------------------------------------
  // Listeners and writes

  /** In-process listener, called after the change is committed. Returns an unsubscribe function. */
  on<T extends DkimEventType>(type: T | '*', listener: (event: T extends DkimEventType ? DkimEventOf<T> : DkimEvent) => void | Promise<void>): () => void {
    return this.listeners.add(type, listener as (e: DkimEvent) => void);
  }

  /** One transaction with its events (outbox) and audit records; listeners hear after the commit. */
  private async write<T>(
    at: Date,
    fn: (
      tx: StoreTx,
      emit: <E extends DkimEventType>(type: E, identity: IdentityRecord, key: DkimKeySummary, data: DkimEventData[E]) => Promise<void>,
      audit: (r: Omit<NewAuditRecord, 'id' | 'at'>) => Promise<void>,
    ) => Promise<T>,
  ): Promise<T> {
    let events: DkimEvent[] = [];
    const result = await this.store.transaction(async (tx) => {
      events = [];
      const emit = async <E extends DkimEventType>(type: E, identity: IdentityRecord, key: DkimKeySummary, data: DkimEventData[E]) => {
        const event = createDkimEvent(type, identity, key, data, at, this.crypto) as DkimEvent;
        await tx.enqueueEvent({ id: event.id, type: event.type, payload: JSON.parse(JSON.stringify(event)) as JsonObject, createdAt: at });
        events.push(event);
      };
      const audit = async (r: Omit<NewAuditRecord, 'id' | 'at'>) => {
        await tx.appendAudit({ id: this.crypto.randomUUID(), at, ...stripUndefined(r) });
      };
      return fn(tx, emit, audit);
    });
    this.listeners.dispatch(events);
    return result;
  }

  // ---------------------------------------------------------------------------------------------
  // Reading

  /** The identity of a domain. ERR_IDENTITY_NOT_FOUND when there is none. */
  async get(domain: string): Promise<IdentityRecord> {
    const id = idOf(domain);
    const rec = await this.store.transaction((tx) => tx.getIdentity(id));
    if (!rec || rec.kind !== 'dkim') throw notFound(id);
    return rec;
  }

  /** Every key of the domain, oldest first. */
  async keys(domain: string): Promise<DkimKeyInfo[]> {
    const id = idOf(domain);
    const loaded = await this.store.transaction(async (tx) => {
      const identity = await tx.getIdentity(id);
      if (!identity || identity.kind !== 'dkim') throw notFound(id);
      return loadKeys(tx, id);
    });
    const signing = new Set(signingKeys(loaded).map((k) => k.credential.id));
    return loaded.map((k) => keyInfo(k, signing.has(k.credential.id)));
  }

  /**
   * The key(s) to sign with now: the newest active key of each key type (RSA and Ed25519 side by
   * side when both are configured), imported non-extractable. ERR_IDENTITY_STATE when no key has
   * been confirmed in DNS yet, or when the identity is decommissioned.
   *
   * @example
   * const signed = await signDkimMessage(message, await dkim.getSigningKeys('example.com'));
   */
  async getSigningKeys(domain: string, options: { selector?: string } = {}): Promise<DkimSigningKey[]> {
    const id = idOf(domain);
    const { identity, chosen, protectedKeys } = await this.store.transaction(async (tx) => {
      const identity = await tx.getIdentity(id);
      if (!identity || identity.kind !== 'dkim') throw notFound(id);
      if (identity.status === 'decommissioned') throw stateError(identity, 'sign for');
      let chosen = signingKeys(await loadKeys(tx, id));
      if (options.selector !== undefined) chosen = chosen.filter((k) => k.credential.selector === options.selector!.toLowerCase());
      const protectedKeys = await Promise.all(chosen.map((k) => (k.credential.keyId ? tx.getKey(k.credential.keyId) : undefined)));
      return { identity, chosen, protectedKeys };
    });
    if (chosen.length === 0)
      throw new MailPkiError(
        'ERR_IDENTITY_STATE',
        options.selector !== undefined
          ? `${identity.name}: selector ${options.selector} is not an active signing key`
          : `${identity.name} has no active DKIM key yet: a key signs only after DNS is seen to serve its record (run runDue after publishing)`,
        { details: { identityId: id } },
      );
    const out: DkimSigningKey[] = [];
    for (const [i, k] of chosen.entries()) {
      const stored = protectedKeys[i];
      if (!stored) throw new MailPkiError('ERR_STORE_CORRUPT', `key ${k.credential.keyId ?? '?'} of ${identity.name} is referenced but not stored`);
      const pkcs8 = await this.keyProtector.unprotect(stored.protectedKey);
      try {
        const privateKey = await importPrivateKey(pkcs8, { crypto: this.crypto, extractable: false });
        out.push({
          domain: identity.name,
          selector: k.credential.selector!,
          privateKey,
          algorithm: k.attrs.keyType === 'ed25519' ? 'ed25519-sha256' : 'rsa-sha256',
          keyAlgorithm: k.attrs.algorithm,
        });
      } finally {
        pkcs8.fill(0);
      }
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------------
  // Create and rotate

  /**
   * Creates the DKIM identity of a domain with its first key(s): generated, and the record to
   * publish sent to the owners (`dkim.record.publish`). Nothing signs until `runDue` has seen the
   * record in DNS. A decommissioned domain whose keys are all removed can be created again: a new
   * life under the same id, with new selectors (audit `dkim.identity.recreated`); while its keys
   * are still on their way out, ERR_IDENTITY_STATE.
   */
  async create(input: DkimCreateInput, options: { actor: string }): Promise<{ identity: IdentityRecord; keys: DkimKeyInfo[] }> {
    const { actor } = parseInput(actorOptions, options, 'create options');
    const req = parseInput(createSchema, input, 'dkim create');
    const domain = req.domain.toLowerCase().replace(/\.$/, '');
    dkimRecordName(domain, req.selector ?? 'x');
    const algorithms = req.algorithm === undefined ? (['rsa-2048'] as DkimKeyAlgorithm[]) : Array.isArray(req.algorithm) ? [...req.algorithm] : [req.algorithm as DkimKeyAlgorithm];
    const types = algorithms.map(keyTypeOf);
    if (new Set(types).size !== types.length)
      throw invalid('algorithm', 'at most one RSA and one Ed25519 key sign side by side');
    if (req.selector !== undefined && algorithms.length > 1) throw invalid('selector', 'give no selector when creating several keys (each key needs its own)');
    const overrides = req.policy ?? {};
    parseDkimPolicy({ ...this.policy, ...overrides }, 'policy');
    const id = dkimIdentityId(domain);
    const now = this.clock();
    const identity: IdentityRecord = stripUndefined({
      id,
      kind: 'dkim' as const,
      name: domain,
      domain,
      owner: stripUndefined({ team: req.owner.team, contact: req.owner.contact }),
      purpose: req.purpose,
      tags: req.tags,
      keyType: algorithms.join('+'),
      policy: Object.keys(overrides).length ? (overrides as JsonObject) : undefined,
      status: 'pending' as const,
      nextDueAt: now,
      attributes: { algorithms },
      version: 1,
      createdAt: now,
      updatedAt: now,
    });
    const existing = await this.store.transaction(async (tx) => {
      const found = await tx.getIdentity(id);
      return found && { identity: found, keys: await loadKeys(tx, id) };
    });
    await this.refuseLookalike(domain, 'create', identity, existing !== undefined, actor, now);
    if (existing) {
      const { identity: old, keys } = existing;
      if (old.status !== 'decommissioned')
        throw new MailPkiError('ERR_IDENTITY_EXISTS', `${domain} already has a DKIM identity (${old.status}, owner ${old.owner.team})`, { details: { identityId: id } });
      const leaving = keys.filter((k) => k.attrs.state !== 'removed');
      if (leaving.length)
        throw new MailPkiError(
          'ERR_IDENTITY_STATE',
          `${domain} was decommissioned and ${leaving.length} of its keys are still on their way out (${leaving.map((k) => `${k.credential.selector}: ${k.attrs.state}`).join(', ')}); create it again once runDue has removed them`,
          { details: { identityId: id } },
        );
    }
    // Selectors of an earlier life are never used again: verifiers may still hold their records.
    const generated = await this.generateKeys(identity, algorithms, existing?.keys ?? [], req.selector, now);
    await this.write(now, async (tx, emit, audit) => {
      if (!existing) {
        await tx.insertIdentity(identity);
        await audit({ actor, action: 'dkim.identity.created', identityId: id, after: identitySummary(identity) });
      } else {
        const stored = await tx.getIdentity(id);
        if (!stored || stored.status !== 'decommissioned' || stored.version !== existing.identity.version)
          throw new MailPkiError('ERR_STORE_CONFLICT', `${domain} changed while it was being created again; retry`);
        const next = { ...identity, createdAt: stored.createdAt, version: stored.version };
        await tx.updateIdentity(next, stored.version);
        await audit({ actor, action: 'dkim.identity.recreated', identityId: id, before: identitySummary(stored), after: identitySummary(next) });
      }
      await this.insertKeys(tx, emit, audit, identity, generated, actor, existing ? 'created again' : 'created', now);
    });
    for (const g of generated) await this.requestPublishOfNew(id, g.credential.id, actor, now);
    return { identity: await this.get(domain), keys: await this.keys(domain) };
  }

  /**
   * Starts a rotation: a new key (per configured key type) under a new selector, its record sent
   * to the owners. The current key keeps signing until the new record is confirmed in DNS.
   * ERR_IDENTITY_STATE when a rotation is already under way.
   */
  async rotate(domain: string, options: { actor: string; reason?: string; selector?: string }): Promise<DkimKeyInfo[]> {
    const { selector, ...rest } = options ?? ({} as { actor: string });
    const { actor, reason } = parseInput(actorOptions, rest, 'rotate options');
    const created = await this.startRotation(idOf(domain), actor, reason ?? 'requested', this.clock(), selector);
    const all = await this.keys(domain);
    return all.filter((k) => created.includes(k.credentialId));
  }

  private async startRotation(id: string, actor: string, reason: string, now: Date, selector?: string): Promise<string[]> {
    const { identity, keys } = await this.load(id);
    if (identity.status === 'decommissioned') throw stateError(identity, 'rotate');
    // Checked at every new key, as the S/MIME manager checks each renewal: an identity created under 'allow' gets no
    // new key once the setting is 'refuse' (its current keys sign on until they are retired or it is decommissioned).
    await this.refuseLookalike(identity.domain ?? identity.name, 'rotate', identity, true, actor, now);
    const algorithms = algorithmsOf(identity, keys);
    const busy = keys.filter((k) => isPending(k.attrs.state));
    if (busy.length)
      throw new MailPkiError('ERR_IDENTITY_STATE', `${identity.name}: a rotation is already under way (selector ${busy.map((k) => `${k.credential.selector} ${k.attrs.state}`).join(', ')})`, {
        details: { identityId: id },
      });
    if (selector !== undefined && algorithms.length > 1) throw invalid('selector', 'give no selector when rotating several keys');
    const generated = await this.generateKeys(identity, algorithms, keys, selector, now);
    await this.write(now, async (tx, emit, audit) => {
      const current = await tx.getIdentity(id);
      if (!current) throw notFound(id);
      if (current.status === 'decommissioned') throw stateError(current, 'rotate');
      if ((await loadKeys(tx, id)).some((k) => isPending(k.attrs.state)))
        throw new MailPkiError('ERR_STORE_CONFLICT', `${identity.name}: another rotation started meanwhile`);
      await this.insertKeys(tx, emit, audit, current, generated, actor, reason, now);
    });
    for (const g of generated) await this.requestPublishOfNew(id, g.credential.id, actor, now);
    return generated.map((g) => g.credential.id);
  }

  /**
   * ERR_POLICY_DENIED, with its audit record `policy.denied`, when `lookalikeDomains` refuses the signing domain. As
   * the S/MIME manager records a refused enrollment, naming the identity when there is one (no event: DKIM events are
   * about a key, and there is none).
   */
  private async refuseLookalike(domain: string, operation: 'create' | 'rotate', identity: IdentityRecord, stored: boolean, actor: string, now: Date): Promise<void> {
    const refused = checkLookalikeDomain(this.lookalikeDomains, domain);
    if (!refused) return;
    const err = policyError(refused);
    await this.write(now, async (_tx, _emit, audit) =>
      audit({
        actor,
        action: 'policy.denied',
        ...(stored && { identityId: identity.id }),
        reason: err.message,
        after: { operation, code: 'ERR_POLICY_DENIED', rule: refused.rule, request: identitySummary(identity) },
      }),
    );
    throw err;
  }

  private async generateKeys(
    identity: IdentityRecord,
    algorithms: DkimKeyAlgorithm[],
    existing: LoadedKey[],
    selector: string | undefined,
    now: Date,
  ): Promise<Array<{ credential: CredentialRecord; keyRecord: Parameters<StoreTx['putKey']>[0] }>> {
    const taken = new Set(existing.map((k) => k.credential.selector));
    const policy = this.policyOf(identity);
    const out: Array<{ credential: CredentialRecord; keyRecord: Parameters<StoreTx['putKey']>[0] }> = [];
    for (const algorithm of algorithms) {
      const sel = (selector ?? defaultSelector(now, taken)).toLowerCase();
      if (taken.has(sel)) throw invalid('selector', `${sel} was already used for ${identity.name}; a selector is never reused`);
      taken.add(sel);
      const pair = await generateKeyPair(algorithm, { crypto: this.crypto, extractable: true });
      const pkcs8 = await exportPkcs8(pair.privateKey, { crypto: this.crypto });
      let protectedKey;
      try {
        protectedKey = await this.keyProtector.protect(pkcs8);
      } finally {
        pkcs8.fill(0);
      }
      const spki = await exportSpki(pair.publicKey, { crypto: this.crypto });
      const record = await dkimRecord(spki, { domain: identity.name, selector: sel, crypto: this.crypto });
      const fingerprint = toHex(new Uint8Array(await this.crypto.subtle.digest('SHA-256', new Uint8Array(spki))));
      const keyId = this.crypto.randomUUID();
      const attrs: KeyAttributes = { state: 'generated', algorithm, keyType: keyTypeOf(algorithm), record: recordSummary(record), spki: toBase64(spki) };
      out.push({
        keyRecord: { id: keyId, identityId: identity.id, algorithm, protectedKey, createdAt: now },
        credential: {
          id: timeOrderedId(this.crypto, now),
          identityId: identity.id,
          kind: 'dkim-key',
          fingerprint,
          keyId,
          selector: sel,
          notBefore: now,
          // The planned end of signing; the record lives on through grace, retirement and removal.
          notAfter: new Date(now.getTime() + policy.rotationDays * DAY),
          status: 'current',
          attributes: attrs as unknown as JsonObject,
          createdAt: now,
        },
      });
    }
    return out;
  }

  private async insertKeys(
    tx: StoreTx,
    emit: <E extends DkimEventType>(type: E, identity: IdentityRecord, key: DkimKeySummary, data: DkimEventData[E]) => Promise<void>,
    audit: (r: Omit<NewAuditRecord, 'id' | 'at'>) => Promise<void>,
    identity: IdentityRecord,
    generated: Array<{ credential: CredentialRecord; keyRecord: Parameters<StoreTx['putKey']>[0] }>,
    actor: string,
    reason: string,
    now: Date,
  ): Promise<void> {
    for (const g of generated) {
      await tx.putKey(g.keyRecord);
      await tx.insertCredential(g.credential);
      const k = { credential: g.credential, attrs: attrsOf(g.credential) };
      await emit('dkim.key.generated', identity, summary(k), { reason });
      await audit({ actor, action: 'dkim.key.generated', identityId: identity.id, reason, after: keyAudit(k) });
    }
    await this.touchIdentity(tx, identity.id, now);
  }

  // ---------------------------------------------------------------------------------------------
  // Decommission

  /**
   * Decommissions the domain's DKIM identity (create() can start it again once every key is
   * removed): signing stops at once (`getSigningKeys` throws ERR_IDENTITY_STATE), no rotation
   * starts again, and `runDue` keeps driving the identity until every key is removed, with the
   * same events as after a rotation:
   *
   * - a key that was signing keeps its record for `graceDays` — the grace period exists for mail
   *   signed before the switch and still in flight, and a decommission is such a switch — then
   *   gets `p=` empty (`dkim.record.retire` → `dkim.key.retired`) and is deleted `removeAfterDays`
   *   later (`dkim.key.removed`);
   * - a key whose record was handed out but that never signed (publish-requested, published) is
   *   retired at once (`dkim.record.retire` with `graceDays: 0`): no mail to wait for, and the
   *   record may be in DNS;
   * - a key whose record was never handed out (generated) is removed at once (`dkim.key.removed`);
   * - keys already retiring, retired or in their grace period carry on as they were.
   *
   * One transaction: the identity, the keys, `dkim.identity.decommissioned` and the per-key
   * events, and their audit records. Not repeatable: a decommissioned identity is ERR_IDENTITY_STATE
   * (as for S/MIME identities). The identity stays in the inventory; its selectors are never reused.
   *
   * @example
   * await dkim.decommission('old-brand.example', { actor: 'alice', reason: 'brand retired' });
   */
  async decommission(domain: string, options: { actor: string; reason?: string }): Promise<{ identity: IdentityRecord; keys: DkimKeyInfo[] }> {
    const { actor, reason: given } = parseInput(actorOptions, options, 'decommission options');
    const reason = given ?? 'requested';
    const id = idOf(domain);
    const now = this.clock();
    await this.write(now, async (tx, emit, audit) => {
      const identity = await tx.getIdentity(id);
      if (!identity || identity.kind !== 'dkim') throw notFound(id);
      if (identity.status === 'decommissioned') throw stateError(identity, 'decommission');
      const before = await loadKeys(tx, id);
      const wasSigning = signingKeys(before)[0] ?? before[before.length - 1];
      if (!wasSigning) throw new MailPkiError('ERR_STORE_CORRUPT', `DKIM identity ${id} has no key`);
      await tx.updateIdentity({ ...identity, status: 'decommissioned', updatedAt: now }, identity.version);
      const changes = this.withdrawals(identity, before, now, 'identity decommissioned');
      const saved = new Map<string, LoadedKey>();
      for (const c of changes) saved.set(c.key.credential.id, await this.saveKey(tx, c.key, c.attrs, c.status));
      const next = await this.touchIdentity(tx, id, now);
      const keysAfter = before.map((k) => saved.get(k.credential.id) ?? k);
      const signingAfter = keysAfter.find((k) => k.credential.id === wasSigning.credential.id)!;
      await emit('dkim.identity.decommissioned', next, summary(signingAfter), { reason, keys: keysAfter.map(summary) });
      await audit({ actor, action: 'dkim.identity.decommissioned', identityId: id, reason, before: identitySummary(identity), after: identitySummary(next) });
      for (const c of changes) {
        const k = saved.get(c.key.credential.id)!;
        if (c.event) await emit(c.event.type, next, summary(k), c.event.data as never);
        await audit({ actor, action: c.audit.action, identityId: id, reason: c.audit.reason, before: keyAudit(c.key), after: keyAudit(k) });
      }
    });
    return { identity: await this.get(domain), keys: await this.keys(domain) };
  }

  /**
   * What decommissioning does to each key (see `decommission`); keys already on their way out
   * are left alone. Pure: the caller writes.
   */
  private withdrawals(identity: IdentityRecord, keys: readonly LoadedKey[], now: Date, why: string): Withdrawal[] {
    const at = now.toISOString();
    const publisher = { publisher: this.publisher.name, automatic: this.publisher.automatic };
    const graceDays = this.policyOf(identity).graceDays;
    const out: Withdrawal[] = [];
    for (const k of keys) {
      const name = k.attrs.record.name;
      switch (k.attrs.state) {
        case 'generated':
          out.push({
            key: k,
            attrs: { state: 'removed', removedAt: at },
            status: 'retired',
            event: { type: 'dkim.key.removed', data: { name, ...publisher } },
            audit: { action: 'dkim.key.removed', reason: `${why}: ${name} was never sent for publication; private key destroyed` },
          });
          break;
        case 'publish-requested':
        case 'published': {
          const revoked = recordSummary(revokedDkimRecord({ domain: identity.name, selector: k.credential.selector!, keyType: k.attrs.keyType }));
          out.push({
            key: k,
            attrs: { state: 'retiring', retiringAt: at },
            status: 'retired',
            event: { type: 'dkim.record.retire', data: { record: revoked, ...publisher, graceDays: 0 } },
            audit: { action: 'dkim.record.retire', reason: `${why}: the key never signed, so no grace; publish ${revoked.value}` },
          });
          break;
        }
        case 'active':
          if (!k.attrs.supersededAt)
            out.push({
              key: k,
              attrs: { supersededAt: at },
              status: 'previous',
              audit: { action: 'dkim.key.signing-stopped', reason: `${why}: ${name} stays published for the grace of ${graceDays} days` },
            });
          break;
        default:
          break;
      }
    }
    return out;
  }

  /** Catches up a decommissioned identity whose keys moved in after the decommission (a race with a rotation or create). */
  private async withdrawLate(id: string, actor: string, now: Date): Promise<boolean> {
    return this.write(now, async (tx, emit, audit) => {
      const identity = await tx.getIdentity(id);
      if (!identity || identity.status !== 'decommissioned') return false;
      const changes = this.withdrawals(identity, await loadKeys(tx, id), now, 'identity decommissioned');
      if (changes.length === 0) return false;
      const saved: LoadedKey[] = [];
      for (const c of changes) saved.push(await this.saveKey(tx, c.key, c.attrs, c.status));
      const next = await this.touchIdentity(tx, id, now);
      for (const [i, c] of changes.entries()) {
        if (c.event) await emit(c.event.type, next, summary(saved[i]!), c.event.data as never);
        await audit({ actor, action: c.audit.action, identityId: id, reason: c.audit.reason, before: keyAudit(c.key), after: keyAudit(saved[i]!) });
      }
      return true;
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Transitions

  /**
   * Moves one key from `from` to its next state in one transaction (credential, identity,
   * event, audit). The stored state must still be `from`: another process that got there first
   * makes this ERR_STORE_CONFLICT, and the caller looks again.
   */
  private async transition(
    id: string,
    credentialId: string,
    from: DkimKeyState,
    actor: string,
    now: Date,
    change: (k: LoadedKey, others: LoadedKey[]) => {
      attrs: Partial<KeyAttributes>;
      status?: CredentialRecord['status'];
      event?: { type: DkimEventType; data: DkimEventData[DkimEventType] };
      audit: { action: string; reason?: string };
      /** Changes to other keys of the identity in the same transaction (e.g. the superseded key). */
      others?: Array<{ credentialId: string; attrs: Partial<KeyAttributes>; status?: CredentialRecord['status'] }>;
      activate?: boolean;
    },
  ): Promise<void> {
    await this.write(now, async (tx, emit, audit) => {
      const identity = await tx.getIdentity(id);
      if (!identity) throw notFound(id);
      const keys = await loadKeys(tx, id);
      const k = keys.find((x) => x.credential.id === credentialId);
      if (!k) throw new MailPkiError('ERR_STORE_CONFLICT', `key ${credentialId} of ${identity.name} is gone`);
      if (k.attrs.state !== from)
        throw new MailPkiError('ERR_STORE_CONFLICT', `key ${k.credential.selector} of ${identity.name} is ${k.attrs.state}, not ${from}: another process moved it`);
      const c = change(k, keys.filter((x) => x !== k));
      const next = await this.saveKey(tx, k, c.attrs, c.status);
      for (const o of c.others ?? []) {
        const other = keys.find((x) => x.credential.id === o.credentialId);
        if (other) await this.saveKey(tx, other, o.attrs, o.status);
      }
      const after = await this.touchIdentity(tx, id, now, c.activate ? credentialId : undefined);
      if (c.event) await emit(c.event.type, after, summary(next), c.event.data as never);
      await audit({ actor, action: c.audit.action, identityId: id, reason: c.audit.reason, before: keyAudit(k), after: keyAudit(next) });
    });
  }

  /**
   * Writes a key's new state. A key that will never sign again — retired (DNS confirmed to no
   * longer serve it) or removed — has its private key destroyed in the same transaction.
   */
  private async saveKey(tx: StoreTx, k: LoadedKey, attrs: Partial<KeyAttributes>, status?: CredentialRecord['status']): Promise<LoadedKey> {
    const merged = stripUndefined({ ...k.attrs, ...attrs }) as KeyAttributes;
    const credential: CredentialRecord = { ...k.credential, status: status ?? k.credential.status, attributes: merged as unknown as JsonObject };
    await tx.updateCredential(credential);
    if ((merged.state === 'retired' || merged.state === 'removed') && credential.keyId) await tx.deleteKey(credential.keyId);
    return { credential, attrs: merged };
  }

  /** Recomputes status, current key and nextDueAt of the identity from its keys. */
  private async touchIdentity(tx: StoreTx, id: string, now: Date, activated?: string): Promise<IdentityRecord> {
    const identity = await tx.getIdentity(id);
    if (!identity) throw notFound(id);
    const keys = await loadKeys(tx, id);
    const signing = signingKeys(keys);
    const current = activated ?? identity.currentCredentialId;
    const currentKey = signing.find((k) => k.credential.id === current) ?? signing[0];
    const due = dkimNextDueAt(keys.map(times), this.policyOf(identity), now);
    const next: IdentityRecord = stripUndefined({
      ...identity,
      status: identity.status === 'pending' && signing.length ? 'active' : identity.status,
      currentCredentialId: currentKey?.credential.id,
      notAfter: currentKey?.credential.notAfter,
      nextDueAt: due,
      updatedAt: now,
    });
    const version = await tx.updateIdentity(next, identity.version);
    return { ...next, version };
  }

  /**
   * requestPublish for keys just made by create or rotate: a concurrent runDue may have taken the
   * step already (the keys were committed first), which is no failure of the caller's.
   */
  private async requestPublishOfNew(id: string, credentialId: string, actor: string, now: Date): Promise<void> {
    try {
      await this.requestPublish(id, credentialId, actor, now);
    } catch (e) {
      if (!isMailPkiError(e, 'ERR_STORE_CONFLICT')) throw e;
      const k = (await this.store.transaction((tx) => loadKeys(tx, id))).find((x) => x.credential.id === credentialId);
      if (!k || k.attrs.state === 'generated') throw e;
    }
  }

  private async requestPublish(id: string, credentialId: string, actor: string, now: Date): Promise<void> {
    await this.transition(id, credentialId, 'generated', actor, now, (k) => ({
      attrs: { state: 'publish-requested' },
      event: { type: 'dkim.record.publish', data: { record: k.attrs.record, publisher: this.publisher.name, automatic: this.publisher.automatic } },
      audit: { action: 'dkim.record.publish', reason: `record ${k.attrs.record.name} to publish (${this.publisher.name})` },
    }));
  }

  /** What DNS serves at the key's name, compared with the key. */
  private async lookup(k: LoadedKey): Promise<{ found: DnsFinding; detail?: string }> {
    let records: readonly (readonly string[] | string)[];
    try {
      records = await this.resolver(k.attrs.record.name);
    } catch (e) {
      if (isNotFound(e)) return { found: 'absent' };
      return { found: 'lookup-failed', detail: e instanceof Error ? e.message : String(e) };
    }
    return classify(records, k.attrs);
  }

  /**
   * Drives every due DKIM identity (or one domain) as far as it can go now: asks the publisher to
   * publish, confirms records in DNS, activates confirmed keys, retires superseded keys after the
   * grace period, removes retired records, and starts a rotation when the signing key is older
   * than `rotationDays` (never for a decommissioned identity, which is driven until every key is
   * removed). Idempotent. A failed step leaves the key as it was, is listed in `failed`, and is told
   * to the owners (`dkim.step.failed` event and audit record, one transaction) — once per sweep and
   * key, so a step that keeps failing is reported again by every `runDue` until it succeeds.
   */
  async runDue(now: Date = this.clock(), options: { actor?: string; domain?: string } = {}): Promise<DkimDueSummary> {
    const opts = parseInput(runDueOptions, options, 'runDue options');
    const actor = opts.actor ?? this.defaultActor;
    const summary: DkimDueSummary = { scanned: 0, transitions: [], rotated: [], waiting: [], failed: [], skipped: [] };
    const walk = { store: this.store, kind: 'dkim' as const, now, pageSize: SWEEP_PAGE, ...(opts.domain !== undefined && { only: [idOf(opts.domain)] }) };
    await forEachDue(walk, async (id) => {
      summary.scanned++;
      try {
        // Claimed while driven: another worker's sweep leaves this identity alone meanwhile.
        if ((await withClaim(this.store, this.claims, id, () => this.drive(id, now, actor, summary))) === 'skipped') summary.skipped.push(id);
      } catch (e) {
        if (isLostRace(e)) summary.skipped.push(id);
        else summary.failed.push({ identityId: id, code: codeOf(e), message: messageOf(e) });
      }
    });
    return summary;
  }

  /**
   * What `runDue` would start at `now` for each due identity, from the same decisions
   * (`nextDkimStep`, `rotationDue`), without claiming, writing, publishing or asking DNS: a dry run.
   * Each key's next step, else a rotation when one is due; later steps of the same sweep depend on
   * what DNS then serves, so they are not listed.
   */
  async planDue(now: Date = this.clock(), options: { domain?: string } = {}): Promise<DkimDuePlan> {
    const opts = parseInput(planDueOptions, options, 'planDue options');
    const plan: DkimDuePlan = { now, scanned: 0, steps: [] };
    const walk = { store: this.store, kind: 'dkim' as const, now, pageSize: SWEEP_PAGE, ...(opts.domain !== undefined && { only: [idOf(opts.domain)] }) };
    await forEachDue(walk, async (id) => {
      plan.scanned++;
      const { identity, keys } = await this.load(id);
      const policy = this.policyOf(identity);
      const decommissioned = identity.status === 'decommissioned';
      if (decommissioned && keys.some((k) => isPending(k.attrs.state) || (k.attrs.state === 'active' && !k.attrs.supersededAt)))
        plan.steps.push({ identityId: id, step: 'withdraw' });
      let stepped = false;
      for (const k of keys) {
        const step = nextDkimStep(times(k), policy, now, this.publisher.automatic);
        if (!step || (decommissioned && INWARD_STEPS.has(step))) continue;
        plan.steps.push({ identityId: id, selector: k.credential.selector!, step, state: k.attrs.state });
        stepped = true;
      }
      const rotate = signingKeys(keys).some((k) => rotationDue(times(k), policy, now));
      if (!stepped && rotate && !keys.some((k) => isPending(k.attrs.state)) && !decommissioned) plan.steps.push({ identityId: id, step: 'rotate' });
    });
    return plan;
  }

  private async drive(id: string, now: Date, actor: string, summary: DkimDueSummary): Promise<void> {
    const waitingFor = new Set<string>();
    for (let round = 0; round < MAX_STEPS_PER_SWEEP; round++) {
      const { identity, keys } = await this.load(id);
      const policy = this.policyOf(identity);
      const decommissioned = identity.status === 'decommissioned';
      if (decommissioned && keys.some((k) => isPending(k.attrs.state) || (k.attrs.state === 'active' && !k.attrs.supersededAt))) {
        try {
          if (await this.withdrawLate(id, actor, now)) continue;
        } catch (e) {
          if (isMailPkiError(e, 'ERR_STORE_CONFLICT')) continue;
          throw e;
        }
      }
      let progressed = false;
      for (const k of keys) {
        if (waitingFor.has(k.credential.id)) continue;
        const step = nextDkimStep(times(k), policy, now, this.publisher.automatic);
        if (!step) continue;
        // A decommissioned identity's keys only go out, never in.
        if (decommissioned && INWARD_STEPS.has(step)) continue;
        try {
          const moved = await this.step(identity, k, keys, step, now, actor, summary);
          if (moved) {
            summary.transitions.push({ identityId: id, selector: k.credential.selector!, step, state: moved });
            progressed = true;
            break;
          }
          if (step === 'push' || step === 'push-retire') {
            progressed = true;
            break;
          }
          waitingFor.add(k.credential.id);
        } catch (e) {
          if (isMailPkiError(e, 'ERR_STORE_CONFLICT')) {
            progressed = true;
            break;
          }
          summary.failed.push({ identityId: id, selector: k.credential.selector!, code: codeOf(e), message: messageOf(e) });
          await this.recordStepFailure(identity, k, step, e, actor, now);
          waitingFor.add(k.credential.id);
        }
      }
      if (progressed) continue;
      // Nothing moved: time to rotate?
      const signing = signingKeys(keys);
      const due = signing.filter((s) => rotationDue(times(s), policy, now));
      if (due.length && !keys.some((k) => isPending(k.attrs.state)) && !decommissioned) {
        let created: string[];
        try {
          created = await this.startRotation(id, actor, `scheduled: key older than ${policy.rotationDays} days`, now);
        } catch (e) {
          if (isMailPkiError(e, 'ERR_STORE_CONFLICT')) continue;
          summary.failed.push({ identityId: id, code: codeOf(e), message: messageOf(e) });
          await this.recordStepFailure(identity, due[0]!, 'rotate', e, actor, now);
          return;
        }
        summary.rotated.push({ identityId: id, selectors: (await this.load(id)).keys.filter((k) => created.includes(k.credential.id)).map((k) => k.credential.selector!) });
        continue;
      }
      return;
    }
  }

  /**
   * Tells the owners that a step failed: `dkim.step.failed` and its audit record in one
   * transaction; the key is not touched, so the next `runDue` tries the step again. Never throws:
   * a failure to record goes to onError, and the step's own failure is already in the summary.
   */
  private async recordStepFailure(identity: IdentityRecord, k: LoadedKey, step: DkimStep | 'rotate', error: unknown, actor: string, now: Date): Promise<void> {
    const code = codeOf(error);
    const message = messageOf(error);
    const selector = k.credential.selector!;
    try {
      await this.write(now, async (tx, emit, audit) => {
        const current = await tx.getIdentity(identity.id);
        if (!current) return;
        await emit('dkim.step.failed', current, summary(k), { step, name: k.attrs.record.name, code, message });
        await audit({ actor, action: 'dkim.step.failed', identityId: identity.id, reason: `${step} ${selector}: ${message} [${code}]`, after: { step, selector, code, state: k.attrs.state } });
      });
    } catch (e) {
      this.onError(e, `recording the failed ${step} of ${identity.name} ${selector}`);
    }
  }

  /** Performs one step; returns the new state when the key moved, undefined when it waits. */
  private async step(identity: IdentityRecord, k: LoadedKey, keys: LoadedKey[], step: DkimStep, now: Date, actor: string, summary: DkimDueSummary): Promise<DkimKeyState | undefined> {
    const id = identity.id;
    const cid = k.credential.id;
    const record = k.attrs.record;
    const policy = this.policyOf(identity);
    switch (step) {
      case 'request-publish':
        await this.requestPublish(id, cid, actor, now);
        return 'publish-requested';
      case 'push': {
        await this.publisher.publish({ name: record.name, value: record.value });
        await this.write(now, async (tx, _emit, audit) => {
          const cur = (await loadKeys(tx, id)).find((x) => x.credential.id === cid);
          if (!cur || cur.attrs.state !== 'publish-requested') throw new MailPkiError('ERR_STORE_CONFLICT', 'key moved meanwhile');
          await this.saveKey(tx, cur, { pushedAt: now.toISOString() });
          await audit({ actor, action: 'dkim.record.pushed', identityId: id, reason: `${this.publisher.name}: ${record.name} TXT replaced` });
        });
        return undefined;
      }
      case 'confirm': {
        const r = await this.lookup(k);
        if (r.found !== 'ours') {
          summary.waiting.push({ identityId: id, selector: k.credential.selector!, state: k.attrs.state, found: r.found });
          return undefined;
        }
        await this.transition(id, cid, 'publish-requested', actor, now, () => ({
          attrs: { state: 'published', confirmedAt: now.toISOString() },
          event: { type: 'dkim.record.confirmed', data: { name: record.name } },
          audit: { action: 'dkim.record.confirmed', reason: `${record.name} serves the key` },
        }));
        return 'published';
      }
      case 'activate': {
        // Confirmed once is not enough: look again right before signing switches.
        const r = await this.lookup(k);
        if (r.found !== 'ours') {
          summary.waiting.push({ identityId: id, selector: k.credential.selector!, state: k.attrs.state, found: r.found });
          return undefined;
        }
        const previous = signingKeys(keys).filter((s) => s.attrs.keyType === k.attrs.keyType);
        await this.transition(id, cid, 'published', actor, now, () => ({
          attrs: { state: 'active', activatedAt: now.toISOString() },
          status: 'current',
          activate: true,
          others: previous.map((p) => ({ credentialId: p.credential.id, attrs: { supersededAt: now.toISOString() }, status: 'previous' as const })),
          event: { type: 'dkim.key.activated', data: stripUndefined({ previous: previous[0] && summary_(previous[0]) }) },
          audit: { action: 'dkim.key.activated', reason: previous.length ? `replaces ${previous.map((p) => p.credential.selector).join(', ')}` : 'first key' },
        }));
        return 'active';
      }
      case 'retire': {
        const revoked = recordSummary(revokedDkimRecord({ domain: identity.name, selector: k.credential.selector!, keyType: k.attrs.keyType }));
        await this.transition(id, cid, 'active', actor, now, () => ({
          attrs: { state: 'retiring', retiringAt: now.toISOString() },
          status: 'retired',
          event: { type: 'dkim.record.retire', data: { record: revoked, publisher: this.publisher.name, automatic: this.publisher.automatic, graceDays: policy.graceDays } },
          audit: { action: 'dkim.record.retire', reason: `grace of ${policy.graceDays} days over; publish ${revoked.value}` },
        }));
        return 'retiring';
      }
      case 'push-retire': {
        const revoked = revokedDkimRecord({ domain: identity.name, selector: k.credential.selector!, keyType: k.attrs.keyType });
        await this.publisher.retire({ name: record.name, value: revoked.value });
        await this.write(now, async (tx, _emit, audit) => {
          const cur = (await loadKeys(tx, id)).find((x) => x.credential.id === cid);
          if (!cur || cur.attrs.state !== 'retiring') throw new MailPkiError('ERR_STORE_CONFLICT', 'key moved meanwhile');
          await this.saveKey(tx, cur, { retirePushedAt: now.toISOString() });
          await audit({ actor, action: 'dkim.record.pushed', identityId: id, reason: `${this.publisher.name}: ${record.name} TXT replaced by ${revoked.value}` });
        });
        return undefined;
      }
      case 'confirm-retired': {
        const r = await this.lookup(k);
        if (r.found !== 'revoked' && r.found !== 'absent') {
          summary.waiting.push({ identityId: id, selector: k.credential.selector!, state: k.attrs.state, found: r.found });
          return undefined;
        }
        await this.transition(id, cid, 'retiring', actor, now, () => ({
          attrs: { state: 'retired', retiredAt: now.toISOString() },
          event: { type: 'dkim.key.retired', data: { name: record.name } },
          audit: { action: 'dkim.key.retired', reason: `${record.name} no longer serves the key (${r.found}); private key destroyed` },
        }));
        return 'retired';
      }
      case 'remove': {
        await this.publisher.remove({ name: record.name });
        await this.transition(id, cid, 'retired', actor, now, () => ({
          attrs: { state: 'removed', removedAt: now.toISOString() },
          event: { type: 'dkim.key.removed', data: { name: record.name, publisher: this.publisher.name, automatic: this.publisher.automatic } },
          audit: { action: 'dkim.key.removed', reason: `${record.name} deleted ${policy.removeAfterDays} days after retirement` },
        }));
        return 'removed';
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Drift

  /**
   * Compares every selector of the domain with what DNS serves now: a published or active key
   * that is `missing` or a `different-key`, a retired key still served (`retired-but-published`),
   * lookups that fail (`unresolvable`); keys on their way in or out are `pending`.
   */
  async checkDrift(domain: string): Promise<DriftReport> {
    const id = idOf(domain);
    const keys = await this.store.transaction(async (tx) => {
      const identity = await tx.getIdentity(id);
      if (!identity || identity.kind !== 'dkim') throw notFound(id);
      return loadKeys(tx, id);
    });
    const entries: DriftEntry[] = [];
    for (const k of keys) {
      const r = await this.lookup(k);
      entries.push(stripUndefined({ selector: k.credential.selector!, name: k.attrs.record.name, state: k.attrs.state, ...driftOf(k.attrs.state, r.found), found: r.found, detail: r.detail }));
    }
    const bad: DriftStatus[] = ['missing', 'different-key', 'retired-but-published', 'unresolvable'];
    return { domain: id.slice(5), checkedAt: this.clock(), ok: entries.every((e) => !bad.includes(e.status)), entries };
  }

  // ---------------------------------------------------------------------------------------------
  // Outbox delivery

  /**
   * Delivers undelivered outbox events (DKIM and S/MIME alike: the outbox is shared) to the sinks,
   * leased, with exponential backoff on failure. At least once: de-duplicate by `id`.
   */
  async deliverEvents(options: { owner?: string; now?: Date; limit?: number } = {}): Promise<DkimDeliverySummary> {
    return deliverOutbox<DkimEvent>({
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

  // ---------------------------------------------------------------------------------------------

  private async load(id: string): Promise<{ identity: IdentityRecord; keys: LoadedKey[] }> {
    return this.store.transaction(async (tx) => {
      const identity = await tx.getIdentity(id);
      if (!identity || identity.kind !== 'dkim') throw notFound(id);
      return { identity, keys: await loadKeys(tx, id) };
    });
  }

  private policyOf(identity: IdentityRecord): DkimPolicy {
    return identity.policy ? parseDkimPolicy({ ...this.policy, ...identity.policy }, `policy of ${identity.id}`) : this.policy;
  }
}

// -----------------------------------------------------------------------------------------------

function idOf(domain: string): string {
  if (typeof domain !== 'string' || domain.trim() === '') throw invalid('domain', 'expected a domain name');
  const lower = domain.trim().toLowerCase();
  return lower.startsWith('dkim:') ? lower : dkimIdentityId(lower);
}

function invalid(field: string, message: string): MailPkiError {
  return new MailPkiError('ERR_INVALID_INPUT', `${field}: ${message}`, { details: { field } });
}

function notFound(id: string): MailPkiError {
  return new MailPkiError('ERR_IDENTITY_NOT_FOUND', `no DKIM identity ${id} in the inventory`, { details: { identityId: id } });
}

function codeOf(e: unknown): string {
  return isMailPkiError(e) ? e.code : 'ERR_UNKNOWN';
}

/** An error's message for events and summaries, cut short (events go to owners and webhooks). */
function messageOf(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.length > 500 ? `${m.slice(0, 499)}…` : m;
}

function stateError(identity: IdentityRecord, what: string): MailPkiError {
  return new MailPkiError('ERR_IDENTITY_STATE', `cannot ${what} ${identity.name}: it is ${identity.status}`, { details: { identityId: identity.id, status: identity.status } });
}

function keyTypeOf(algorithm: DkimKeyAlgorithm): DkimKeyType {
  return algorithm === 'ed25519' ? 'ed25519' : 'rsa';
}

/** `mp<yyyymm><n>` with the first n not yet used by the identity. */
function defaultSelector(now: Date, taken: ReadonlySet<string | undefined>): string {
  const base = `mp${now.getUTCFullYear()}${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
  for (let n = 1; ; n++) if (!taken.has(`${base}${n}`)) return `${base}${n}`;
}

function attrsOf(c: CredentialRecord): KeyAttributes {
  return parseInput(keyAttributesSchema, c.attributes, `corrupt DKIM key ${c.id} in store`, 'ERR_STORE_CORRUPT');
}

async function loadKeys(tx: StoreTx, id: string): Promise<LoadedKey[]> {
  return (await tx.listCredentials(id)).filter((c) => c.kind === 'dkim-key').map((credential) => ({ credential, attrs: attrsOf(credential) }));
}

/** Newest active, not superseded key of each key type. */
function signingKeys(keys: readonly LoadedKey[]): LoadedKey[] {
  const byType = new Map<string, LoadedKey>();
  for (const k of keys) if (k.attrs.state === 'active' && !k.attrs.supersededAt) byType.set(k.attrs.keyType, k);
  return [...byType.values()];
}

function algorithmsOf(identity: IdentityRecord, keys: readonly LoadedKey[]): DkimKeyAlgorithm[] {
  const a = identity.attributes?.algorithms;
  if (Array.isArray(a) && a.length && a.every((x) => typeof x === 'string' && (DKIM_KEY_ALGORITHMS as readonly string[]).includes(x))) return a as DkimKeyAlgorithm[];
  const fromKeys = [...new Set(keys.map((k) => k.attrs.algorithm))];
  return fromKeys.length ? fromKeys : ['rsa-2048'];
}

const date = (s: string | undefined): Date | undefined => (s === undefined ? undefined : new Date(s));

function times(k: LoadedKey): DkimKeyTimes {
  const a = k.attrs;
  return stripUndefined({
    state: a.state,
    keyType: a.keyType,
    createdAt: k.credential.createdAt,
    pushedAt: date(a.pushedAt),
    confirmedAt: date(a.confirmedAt),
    activatedAt: date(a.activatedAt),
    supersededAt: date(a.supersededAt),
    retiringAt: date(a.retiringAt),
    retirePushedAt: date(a.retirePushedAt),
    retiredAt: date(a.retiredAt),
  }) as DkimKeyTimes;
}

function summary(k: LoadedKey): DkimKeySummary {
  return { selector: k.credential.selector!, algorithm: k.attrs.algorithm, fingerprint: k.credential.fingerprint, state: k.attrs.state };
}
const summary_ = summary;

function keyInfo(k: LoadedKey, signing: boolean): DkimKeyInfo {
  const a = k.attrs;
  return stripUndefined({
    ...summary(k),
    credentialId: k.credential.id,
    keyType: a.keyType,
    signing,
    record: a.record,
    createdAt: k.credential.createdAt,
    confirmedAt: date(a.confirmedAt),
    activatedAt: date(a.activatedAt),
    supersededAt: date(a.supersededAt),
    retiredAt: date(a.retiredAt),
    removedAt: date(a.removedAt),
  }) as DkimKeyInfo;
}

function recordSummary(r: DkimRecordText): DkimRecordSummary {
  return { name: r.name, value: r.value, strings: [...r.strings], zoneLine: r.zoneLine };
}

/** What audit records hold about a key: public facts only. */
function keyAudit(k: LoadedKey): JsonObject {
  const { record, spki: _spki, ...rest } = k.attrs;
  return { selector: k.credential.selector ?? null, fingerprint: k.credential.fingerprint, status: k.credential.status, name: record.name, ...(rest as JsonObject) };
}

function identitySummary(i: IdentityRecord): JsonObject {
  return stripUndefined({ domain: i.name, owner: i.owner.team, purpose: i.purpose, keyType: i.keyType, policy: i.policy, status: i.status }) as JsonObject;
}

/** Compares what DNS served with the key. */
function classify(records: readonly (readonly string[] | string)[], attrs: KeyAttributes): { found: DnsFinding; detail?: string } {
  if (!Array.isArray(records) || records.length === 0) return { found: 'absent' };
  if (records.length > 1) return { found: 'several-records' };
  const first = records[0]!;
  const text = typeof first === 'string' ? first : first.join('');
  let parsed;
  try {
    parsed = parseDkimRecord(text);
  } catch (e) {
    return { found: 'invalid-record', detail: e instanceof Error ? e.message : String(e) };
  }
  if (parsed.publicKey === null) return { found: 'revoked' };
  if (parsed.keyType !== attrs.keyType) return { found: 'other-key' };
  const ours = fromBase64(attrs.spki);
  if (!ours) throw new MailPkiError('ERR_STORE_CORRUPT', 'stored DKIM public key is not base64');
  try {
    return { found: equalBytes(recordKeyInfo(parsed.keyType, parsed.publicKey).spki, ours) ? 'ours' : 'other-key' };
  } catch {
    return { found: 'other-key' };
  }
}

function driftOf(state: DkimKeyState, found: DnsFinding): { expected: DriftEntry['expected']; status: DriftStatus } {
  if (found === 'lookup-failed') return { expected: expectedOf(state), status: 'unresolvable' };
  switch (state) {
    case 'generated':
    case 'publish-requested':
      return { expected: 'key', status: found === 'ours' || found === 'absent' ? (found === 'ours' ? 'ok' : 'pending') : 'different-key' };
    case 'published':
    case 'active':
      return { expected: 'key', status: found === 'ours' ? 'ok' : found === 'absent' ? 'missing' : 'different-key' };
    case 'retiring':
      return { expected: 'revoked-or-absent', status: found === 'ours' ? 'pending' : found === 'revoked' || found === 'absent' ? 'ok' : 'different-key' };
    case 'retired':
    case 'removed':
      return { expected: 'revoked-or-absent', status: found === 'revoked' || found === 'absent' ? 'ok' : found === 'ours' ? 'retired-but-published' : 'different-key' };
  }
}

function expectedOf(state: DkimKeyState): DriftEntry['expected'] {
  return state === 'retiring' || state === 'retired' || state === 'removed' ? 'revoked-or-absent' : 'key';
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
