/**
 * Lifecycle policy: what an owner may hold, with which keys, for how long, and when a certificate
 * is renewed or its owner told. Renewal is decided by a chain of small pure functions of
 * (identity, credential, now, policy), each returning a verdict with a reason, so every rule is
 * testable on its own with a fixed `now` (the cert-manager way).
 */
import { z } from 'zod';
import { MailPkiError } from '../errors.js';
import { isDomainAllowed } from '../ca/profiles.js';
import { describeLatinLookalike, latinLookalike } from '../mime/lookalike-domain.js';
import { parseInput } from '../internal/validate.js';
import { KEY_TYPES, keyTypeDecrypts, type KeyType } from '../keys/generate.js';
import type { CredentialRecord, DecryptionKeyRecord, IdentityRecord } from '../store/index.js';

export const DAY_MS = 86_400_000;

const domainEntry = z
  .string()
  .regex(/^\.?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$/, 'not a domain name (example.com, or .example.com for its subdomains)');

/** What the approval hook is asked before any certificate is issued. */
export interface ApprovalRequest {
  operation: 'enroll' | 'renew';
  identityId: string;
  mailbox: string;
  owner: { team: string; contact?: string };
  purpose?: string;
  approvedBy?: string;
  keyType: KeyType;
  profile: string;
  validityDays: number;
  actor: string;
  reason?: string;
}

export interface ApprovalDecision {
  approved: boolean;
  reason?: string;
  approvedBy?: string;
}

/** "IAM approves, PKI issues": called before every issuance; a refusal is ERR_APPROVAL_DENIED. */
export type ApprovalHook = (request: ApprovalRequest) => Promise<ApprovalDecision>;

const renewalSchema = z
  .object({
    /** Renew when at most this many days of validity remain. */
    beforeDays: z.number().min(0).max(3650).optional(),
    /** Renew when at most this fraction of the lifetime remains (0 < f < 1; 1/3 is cert-manager's default). */
    fractionRemaining: z.number().gt(0).lt(1).optional(),
  })
  .strict();

/** The fields an identity may override (JSON-only: they are stored with the identity). */
const overridableShape = {
  allowedKeyTypes: z.array(z.enum(KEY_TYPES as [KeyType, ...KeyType[]])).min(1),
  minRsaBits: z.number().int().min(2048).max(16384),
  validityDays: z.number().int().positive().max(3650),
  renewal: renewalSchema,
  notices: z.array(z.number().int().positive().max(3650)).max(20),
  rekeyOnRenewal: z.boolean(),
  decryptionKeyRetentionDays: z.number().int().min(0).max(36_500),
};

/** Default retention of a decryption key after its certificate's notAfter: 7 years (regulated mail). */
export const DEFAULT_DECRYPTION_KEY_RETENTION_DAYS = 2555;

export const lifecyclePolicySchema = z
  .object({
    /**
     * team → mail domains it may hold mailboxes in (`example.com`; `.example.com` for subdomains).
     * When given, a team that is not listed may hold nothing. Left out: no owner restriction.
     */
    allowedDomainsByOwner: z.record(z.string().min(1), z.array(domainEntry)).optional(),
    allowedKeyTypes: overridableShape.allowedKeyTypes.default(['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096']),
    minRsaBits: overridableShape.minRsaBits.default(2048),
    validityDays: overridableShape.validityDays.default(365),
    /** Either trigger renews; neither given means no automatic renewal. */
    renewal: renewalSchema.default({ beforeDays: 30 }),
    /** Days before expiry at which the owner is told (each once per certificate). */
    notices: overridableShape.notices.default([30, 14, 7, 1]),
    rekeyOnRenewal: overridableShape.rekeyOnRenewal.default(true),
    /**
     * How long a decryption key is kept after its certificate's notAfter (mail encrypted to it can
     * arrive until then, and is read for years after): then the sweep destroys it. Fixed per key
     * when its certificate is recorded.
     */
    decryptionKeyRetentionDays: overridableShape.decryptionKeyRetentionDays.default(DEFAULT_DECRYPTION_KEY_RETENTION_DAYS),
    /**
     * What an enrollment of use 'both' gets when it does not say: one dual-use certificate
     * ('single') or separate signing and encryption certificates ('separate'). Stored with the
     * identity at enrollment; changing the policy later does not change existing identities.
     */
    certificates: z.enum(['single', 'separate']).default('single'),
    approval: z.custom<ApprovalHook>((v) => typeof v === 'function', 'expected a function').optional(),
    /**
     * An enrollment or renewal of a mailbox whose domain a mail client shows as a Latin name it is not (latinLookalike:
     * `pay@xn--80aa0cbo65f.com`, shown pay@раураӏ.com, reads as pay@paypal.com) is refused ('refuse'), as the
     * nodemailer preflight refuses signing with one; 'allow' for an organisation whose own domain is such a name.
     */
    lookalikeDomains: z.enum(['refuse', 'allow']).default('refuse'),
  })
  .strict();

export type LifecyclePolicyInput = z.input<typeof lifecyclePolicySchema>;
export type LifecyclePolicy = z.output<typeof lifecyclePolicySchema>;

/**
 * Per-identity overrides. Owner domains and the approval hook stay with the manager: an identity
 * cannot widen who may hold it or skip approval.
 */
export const policyOverridesSchema = z.object(overridableShape).partial().strict();
export type PolicyOverrides = z.infer<typeof policyOverridesSchema>;

/** Validates a manager policy; a bad field is ERR_INVALID_INPUT naming it. */
export function parseLifecyclePolicy(input: LifecyclePolicyInput = {}): LifecyclePolicy {
  return parseInput(lifecyclePolicySchema, input, 'lifecycle policy');
}

/** Validates per-identity overrides (`policy.<field>` in the error). */
export function parsePolicyOverrides(input: unknown): PolicyOverrides {
  return parseInput(z.object({ policy: policyOverridesSchema }), { policy: input ?? {} }, 'identity policy').policy;
}

/**
 * The policy that applies to one identity: its overrides over the manager's policy, except that an
 * override never makes the organisation's rules weaker: key types are those both allow, the larger
 * `minRsaBits`, the longer `decryptionKeyRetentionDays` (regulated mail is kept as long as the
 * organisation says, whatever an enrollment asked). `enroll` refuses such overrides outright
 * (`checkPolicyOverrides`); this also holds for overrides stored before, or a manager policy made
 * stricter since.
 */
export function effectivePolicy(base: LifecyclePolicy, overrides: unknown): LifecyclePolicy {
  const o = parsePolicyOverrides(overrides);
  return {
    ...base,
    ...o,
    renewal: o.renewal ?? base.renewal,
    allowedKeyTypes: o.allowedKeyTypes ? o.allowedKeyTypes.filter((k) => base.allowedKeyTypes.includes(k)) : base.allowedKeyTypes,
    minRsaBits: Math.max(base.minRsaBits, o.minRsaBits ?? 0),
    decryptionKeyRetentionDays: Math.max(base.decryptionKeyRetentionDays, o.decryptionKeyRetentionDays ?? 0),
  };
}

/** A policy rule that refused, by name (e.g. `allowedDomainsByOwner`). */
export interface PolicyViolation {
  rule: 'allowedDomainsByOwner' | 'allowedKeyTypes' | 'minRsaBits' | 'decryptionKeyRetentionDays' | 'lookalikeDomains';
  message: string;
}

/**
 * Per-identity overrides that would weaken the manager's policy: a key type it does not allow, fewer
 * RSA bits, a shorter decryption-key retention. They may only narrow or lengthen. Undefined when fine.
 */
export function checkPolicyOverrides(base: LifecyclePolicy, overrides: PolicyOverrides): PolicyViolation | undefined {
  const extra = overrides.allowedKeyTypes?.filter((k) => !base.allowedKeyTypes.includes(k)) ?? [];
  if (extra.length)
    return { rule: 'allowedKeyTypes', message: `an identity may not allow key types the manager's policy does not (${extra.join(', ')}; allowed: ${base.allowedKeyTypes.join(', ')})` };
  if (overrides.minRsaBits !== undefined && overrides.minRsaBits < base.minRsaBits)
    return { rule: 'minRsaBits', message: `an identity may not lower minRsaBits below the manager's ${base.minRsaBits}` };
  if (overrides.decryptionKeyRetentionDays !== undefined && overrides.decryptionKeyRetentionDays < base.decryptionKeyRetentionDays)
    return {
      rule: 'decryptionKeyRetentionDays',
      message: `an identity may keep decryption keys longer than the manager's ${base.decryptionKeyRetentionDays} days, not shorter (asked: ${overrides.decryptionKeyRetentionDays})`,
    };
  return undefined;
}

/** Checks owner, domain and key against the policy; undefined when allowed. */
export function checkIssuancePolicy(
  policy: LifecyclePolicy,
  request: { team: string; domain: string; keyType: KeyType },
): PolicyViolation | undefined {
  const byOwner = policy.allowedDomainsByOwner;
  if (byOwner) {
    const allowed = Object.prototype.hasOwnProperty.call(byOwner, request.team) ? byOwner[request.team] : undefined;
    if (!allowed || allowed.length === 0)
      return { rule: 'allowedDomainsByOwner', message: `team ${request.team} has no approved mail domains` };
    if (!isDomainAllowed(request.domain, allowed))
      return {
        rule: 'allowedDomainsByOwner',
        message: `team ${request.team} may not hold mailboxes in ${request.domain} (approved: ${allowed.join(', ')})`,
      };
  }
  // Re-checked at each renewal too: a policy that refuses look-alike domains stops renewing one enrolled under 'allow' (or before).
  const lookalike = checkMailboxDomain(policy, request.domain);
  if (lookalike) return lookalike;
  if (!policy.allowedKeyTypes.includes(request.keyType))
    return { rule: 'allowedKeyTypes', message: `key type ${request.keyType} is not allowed (allowed: ${policy.allowedKeyTypes.join(', ')})` };
  const rsa = /^rsa-(\d+)$/.exec(request.keyType);
  if (rsa && Number(rsa[1]) < policy.minRsaBits)
    return { rule: 'minRsaBits', message: `${request.keyType} is below the minimum of ${policy.minRsaBits} RSA bits` };
  return undefined;
}

/**
 * A mailbox's domain against `lookalikeDomains` (at enrollment, and at each renewal through checkIssuancePolicy): one a
 * client shows as a Latin name it is not (read as the verdict warning SMIME_FROM_DOMAIN_LOOKALIKE reads it) is refused
 * unless the policy allows such domains.
 */
export function checkMailboxDomain(policy: LifecyclePolicy, domain: string): PolicyViolation | undefined {
  return checkLookalikeDomain(policy.lookalikeDomains, domain);
}

/**
 * A domain against a `lookalikeDomains` setting: the mailbox domains of the lifecycle policy (checkMailboxDomain) and the
 * signing domains of the DKIM manager (DkimManagerOptions.lookalikeDomains) are read by this one rule.
 */
export function checkLookalikeDomain(setting: 'refuse' | 'allow', domain: string): PolicyViolation | undefined {
  if (setting === 'allow') return undefined;
  const lookalike = latinLookalike(domain);
  if (!lookalike) return undefined;
  return {
    rule: 'lookalikeDomains',
    message: `the domain ${describeLatinLookalike(lookalike)} (lookalikeDomains: 'allow' permits it)`,
  };
}

/** Throws ERR_POLICY_DENIED naming the rule, for a violation. */
export function policyError(v: PolicyViolation): MailPkiError {
  return new MailPkiError('ERR_POLICY_DENIED', `policy ${v.rule}: ${v.message}`, { details: { rule: v.rule } });
}

// ---------------------------------------------------------------------------------------------
// Renewal decisions

export interface PolicyContext {
  identity: IdentityRecord;
  /** The identity's current credential, if it has one. */
  credential: CredentialRecord | undefined;
  now: Date;
  policy: LifecyclePolicy;
  /** The identity's decryption-key history (left out: none). */
  decryptionKeys?: readonly DecryptionKeyRecord[];
}

export interface RenewalVerdict {
  due: boolean;
  reason: string;
}

export type RenewalCheck = (ctx: PolicyContext) => RenewalVerdict;

const notDue = (reason: string): RenewalVerdict => ({ due: false, reason });

/** Statuses in which a sweep may issue: an identity that a person suspended, revoked or retired waits for a person. */
export function isRenewable(identity: IdentityRecord): boolean {
  return identity.status === 'active' || identity.status === 'pending';
}

/** Due when there is no usable certificate yet (enrollment interrupted, or a current record is missing). */
export const missingCredential: RenewalCheck = ({ identity, credential }) =>
  credential === undefined
    ? { due: true, reason: identity.status === 'pending' ? 'enrollment not completed' : 'no current certificate' }
    : notDue('has a certificate');

/** Due when the current certificate was revoked behind the identity's back (e.g. at the CA). */
export const dueBecauseRevoked: RenewalCheck = ({ credential }) =>
  credential?.status === 'revoked' ? { due: true, reason: `current certificate is revoked (${credential.revocationReason ?? 'unspecified'})` } : notDue('not revoked');

/** Due when at most `renewal.beforeDays` days remain. */
export const dueByDaysLeft: RenewalCheck = ({ credential, now, policy }) => {
  const before = policy.renewal.beforeDays;
  if (credential === undefined || before === undefined) return notDue('no days-left rule');
  const left = (credential.notAfter.getTime() - now.getTime()) / DAY_MS;
  return left <= before
    ? { due: true, reason: `${formatDays(left)} days left, renewal at ${before} days` }
    : notDue(`${formatDays(left)} days left`);
};

/** Due when at most `renewal.fractionRemaining` of the certificate's lifetime remains. */
export const dueByFraction: RenewalCheck = ({ credential, now, policy }) => {
  const f = policy.renewal.fractionRemaining;
  if (credential === undefined || f === undefined) return notDue('no lifetime-fraction rule');
  const life = credential.notAfter.getTime() - credential.notBefore.getTime();
  const remaining = (credential.notAfter.getTime() - now.getTime()) / life;
  return remaining <= f
    ? { due: true, reason: `${(remaining * 100).toFixed(1)}% of the lifetime left, renewal at ${(f * 100).toFixed(1)}%` }
    : notDue(`${(remaining * 100).toFixed(1)}% of the lifetime left`);
};

/** The checks `renewalDecision` runs, in order; the first that says "due" gives the reason. */
export const defaultRenewalChecks: readonly RenewalCheck[] = Object.freeze([missingCredential, dueBecauseRevoked, dueByDaysLeft, dueByFraction]);

/**
 * Whether the identity's certificate should be renewed now, and why.
 *
 * @example
 * renewalDecision({ identity, credential, now: new Date(), policy })
 * // → { due: true, reason: '29.5 days left, renewal at 30 days' }
 */
export function renewalDecision(ctx: PolicyContext, checks: readonly RenewalCheck[] = defaultRenewalChecks): RenewalVerdict {
  if (!isRenewable(ctx.identity)) return notDue(`identity is ${ctx.identity.status}`);
  if (isPastDecommission(ctx)) return notDue('identity is past its decommission date');
  if (ctx.credential && isExpired(ctx)) return notDue('certificate has expired');
  for (const check of checks) {
    const v = check(ctx);
    if (v.due) return v;
  }
  return notDue('not in the renewal window');
}

/** The current certificate's validity has ended. */
export function isExpired({ credential, now }: Pick<PolicyContext, 'credential' | 'now'>): boolean {
  return credential !== undefined && now.getTime() >= credential.notAfter.getTime();
}

/** The identity's decommission date has come. */
export function isPastDecommission({ identity, now }: Pick<PolicyContext, 'identity' | 'now'>): boolean {
  return identity.decommissionAt !== undefined && now.getTime() >= identity.decommissionAt.getTime();
}

/** What a sweep does with one due identity; 'notices' means: send the notices that are due, if any. */
export type SweepStep =
  | { action: 'decommission'; reason: string }
  | { action: 'expire'; reason: string }
  | { action: 'renew'; reason: string }
  | { action: 'notices'; reason: string };

/**
 * The one decision of a sweep for a due identity, in its order: decommission date, then expiry,
 * then renewal, else notices. `runDue` acts on it; `planDue` reports it.
 */
export function sweepStep(ctx: PolicyContext): SweepStep {
  const { identity, credential } = ctx;
  if (isPastDecommission(ctx) && identity.status !== 'decommissioned') return { action: 'decommission', reason: 'decommission date reached' };
  if (credential && isExpired(ctx) && (identity.status === 'active' || identity.status === 'suspended') && credential.status !== 'expired')
    return { action: 'expire', reason: `notAfter ${credential.notAfter.toISOString()} passed` };
  const verdict = renewalDecision(ctx);
  return { action: verdict.due ? 'renew' : 'notices', reason: verdict.reason };
}

/** When the renewal window of a certificate opens (earliest trigger), or undefined with no trigger. */
export function renewalWindowStart(credential: CredentialRecord, policy: LifecyclePolicy): Date | undefined {
  const starts: number[] = [];
  const { beforeDays, fractionRemaining } = policy.renewal;
  const end = credential.notAfter.getTime();
  if (beforeDays !== undefined) starts.push(end - beforeDays * DAY_MS);
  if (fractionRemaining !== undefined) starts.push(end - fractionRemaining * (end - credential.notBefore.getTime()));
  return starts.length ? new Date(Math.min(...starts)) : undefined;
}

/** The notice key of "N days before expiry" for one credential: each is sent once per certificate. */
export function noticeKey(days: number): string {
  return `expiring:${days}`;
}

export interface DueNotice {
  noticeKey: string;
  /** The schedule entry (30, 14, …). */
  noticeDays: number;
  /** Whole days left at `now` (rounded down). */
  daysLeft: number;
}

/**
 * Expiry notices whose time has come for the current certificate, most distant first. Only the
 * nearest passed notice is returned: an owner who missed 30 and 14 while the sweep was down is
 * told once that 7 days are left, not three times. A notice is keyed by the credential, so a
 * renewed certificate starts its own schedule. The store's `recordNotice` makes each one once.
 */
export function dueNotices({ identity, credential, now, policy }: PolicyContext): DueNotice[] {
  if (credential === undefined || identity.status !== 'active' || credential.status !== 'current') return [];
  const msLeft = credential.notAfter.getTime() - now.getTime();
  if (msLeft <= 0) return [];
  const passed = [...new Set(policy.notices)].filter((d) => msLeft <= d * DAY_MS).sort((a, b) => a - b);
  const nearest = passed[0];
  if (nearest === undefined) return [];
  return [{ noticeKey: noticeKey(nearest), noticeDays: nearest, daysLeft: Math.floor(msLeft / DAY_MS) }];
}

/**
 * The earliest time a sweep must look at this identity again: the renewal window opening, the
 * next expiry notice after `now`, the expiry, or the decommission date. Undefined: never (revoked,
 * decommissioned). A time ≤ now means "due now"; notices at or before `now` count as handled.
 */
export function nextDueAt({ identity, credential, now, policy, decryptionKeys = [] }: PolicyContext): Date | undefined {
  const t: number[] = [];
  // A kept decryption key is due at its retention end, whatever the identity's state.
  for (const d of decryptionKeys) if (!d.destroyedAt) t.push(d.retainUntil.getTime());
  if (identity.status === 'decommissioned') return minDate(t);
  if (identity.decommissionAt) t.push(identity.decommissionAt.getTime());
  if (identity.status === 'revoked') return minDate(t);
  if (identity.status === 'pending' || (identity.status === 'active' && credential === undefined)) t.push(now.getTime());
  if (credential && (identity.status === 'active' || identity.status === 'suspended') && credential.status !== 'expired') {
    t.push(credential.notAfter.getTime());
    if (identity.status === 'active') {
      if (credential.status === 'revoked') t.push(now.getTime());
      const start = renewalWindowStart(credential, policy);
      if (start) t.push(start.getTime());
      for (const d of policy.notices) {
        const at = credential.notAfter.getTime() - d * DAY_MS;
        if (at > now.getTime()) t.push(at);
      }
    }
  }
  return minDate(t);
}

// ---------------------------------------------------------------------------------------------
// Decryption keys

/**
 * The key type of the certificate that receives encrypted mail: of a separate pair, its encryption
 * certificate's (`attributes.encryptionKeyType`, e.g. X25519 beside an Ed25519 or EC signing key;
 * absent: the identity's keyType), else the identity's keyType.
 */
export function encryptionKeyTypeOf(identity: Pick<IdentityRecord, 'keyType' | 'certificates' | 'attributes'>): string {
  if (identity.certificates !== 'separate') return identity.keyType;
  const t = identity.attributes?.encryptionKeyType;
  if (t === undefined) return identity.keyType;
  if (typeof t !== 'string' || !(KEY_TYPES as readonly string[]).includes(t))
    throw new MailPkiError('ERR_STORE_CORRUPT', `the identity's encryption key type ${JSON.stringify(t)} is not one mailpki knows`);
  return t;
}

/** Whether the identity's certificates receive encrypted mail (use encryption or both, a key that can decrypt). */
export function receivesEncryptedMail(identity: Pick<IdentityRecord, 'use' | 'keyType' | 'kind' | 'certificates' | 'attributes'>): boolean {
  return identity.kind === 'smime' && (identity.use ?? 'both') !== 'signing' && keyTypeDecrypts(encryptionKeyTypeOf(identity) as KeyType);
}

/** Until when the key of a certificate is kept: its notAfter plus `decryptionKeyRetentionDays`. */
export function decryptionKeyRetainUntil(credential: Pick<CredentialRecord, 'notAfter'>, policy: LifecyclePolicy): Date {
  return new Date(credential.notAfter.getTime() + policy.decryptionKeyRetentionDays * DAY_MS);
}

/** History entries whose retention has ended at `now` and whose key is not destroyed yet, oldest first. */
export function dueDecryptionKeys(history: readonly DecryptionKeyRecord[], now: Date): DecryptionKeyRecord[] {
  return history.filter((d) => !d.destroyedAt && d.retainUntil.getTime() <= now.getTime());
}

function minDate(t: number[]): Date | undefined {
  return t.length ? new Date(Math.min(...t)) : undefined;
}

function formatDays(d: number): string {
  return (Math.round(d * 10) / 10).toString();
}
