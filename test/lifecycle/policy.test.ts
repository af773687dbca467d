import { describe, expect, it } from 'vitest';
import {
  checkIssuancePolicy,
  dueBecauseRevoked,
  dueByDaysLeft,
  dueByFraction,
  dueNotices,
  effectivePolicy,
  isExpired,
  isPastDecommission,
  missingCredential,
  nextDueAt,
  parseLifecyclePolicy,
  parsePolicyOverrides,
  checkPolicyOverrides,
  renewalDecision,
  renewalWindowStart,
  sweepStep,
  type PolicyContext,
} from '../../src/lifecycle/index.js';
import type { CredentialRecord, IdentityRecord } from '../../src/store/index.js';
import { DAY, T0, at } from './helpers.js';

const identity = (over: Partial<IdentityRecord> = {}): IdentityRecord => ({
  id: 'smime:payments@example.com',
  kind: 'smime',
  name: 'payments@example.com',
  domain: 'example.com',
  owner: { team: 'treasury' },
  tags: [],
  keyType: 'ec-p256',
  status: 'active',
  currentCredentialId: 'c1',
  version: 1,
  createdAt: T0,
  updatedAt: T0,
  ...over,
});

/** A 100-day certificate from T0 to T0+100d. */
const credential = (over: Partial<CredentialRecord> = {}): CredentialRecord => ({
  id: 'c1',
  identityId: 'smime:payments@example.com',
  kind: 'certificate',
  serialNumber: '1a',
  fingerprint: 'ab'.repeat(32),
  notBefore: T0,
  notAfter: at(100),
  status: 'current',
  createdAt: T0,
  ...over,
});

const ctx = (now: Date, over: Partial<PolicyContext> = {}, policy = {}): PolicyContext => ({
  identity: identity(),
  credential: credential(),
  now,
  policy: parseLifecyclePolicy({ renewal: { beforeDays: 30 }, notices: [30, 14, 7, 1], ...policy }),
  ...over,
});

describe('renewal policy functions, one by one (fake clock)', () => {
  it('dueByDaysLeft: due at exactly beforeDays left, not a second earlier', () => {
    expect(dueByDaysLeft(ctx(at(70))).due).toBe(true);
    expect(dueByDaysLeft(ctx(at(70))).reason).toBe('30 days left, renewal at 30 days');
    expect(dueByDaysLeft(ctx(new Date(at(70).getTime() - 1000)))).toEqual({ due: false, reason: '30 days left' });
    expect(dueByDaysLeft(ctx(at(70), {}, { renewal: { fractionRemaining: 0.5 } })).due).toBe(false);
  });

  it('dueByFraction: due when at most the fraction of the lifetime remains', () => {
    const p = { renewal: { fractionRemaining: 0.25 } };
    expect(dueByFraction(ctx(at(74), {}, p))).toEqual({ due: false, reason: '26.0% of the lifetime left' });
    expect(dueByFraction(ctx(at(75), {}, p))).toEqual({ due: true, reason: '25.0% of the lifetime left, renewal at 25.0%' });
    expect(dueByFraction(ctx(at(75))).due).toBe(false); // no fraction rule configured
  });

  it('dueBecauseRevoked: a revoked current certificate is due', () => {
    expect(dueBecauseRevoked(ctx(at(1))).due).toBe(false);
    const v = dueBecauseRevoked(ctx(at(1), { credential: credential({ status: 'revoked', revocationReason: 'keyCompromise' }) }));
    expect(v).toEqual({ due: true, reason: 'current certificate is revoked (keyCompromise)' });
  });

  it('missingCredential: pending enrollment and a missing certificate are due', () => {
    expect(missingCredential(ctx(at(1), { credential: undefined, identity: identity({ status: 'pending' }) }))).toEqual({
      due: true,
      reason: 'enrollment not completed',
    });
    expect(missingCredential(ctx(at(1), { credential: undefined })).reason).toBe('no current certificate');
    expect(missingCredential(ctx(at(1))).due).toBe(false);
  });

  it('renewalDecision: either trigger renews; the first due check gives the reason', () => {
    const both = { renewal: { beforeDays: 10, fractionRemaining: 0.4 } };
    expect(renewalDecision(ctx(at(59), {}, both)).due).toBe(false);
    expect(renewalDecision(ctx(at(60), {}, both))).toEqual({ due: true, reason: '40.0% of the lifetime left, renewal at 40.0%' });
    expect(renewalDecision(ctx(at(95), {}, both))).toEqual({ due: true, reason: '5 days left, renewal at 10 days' });
    expect(renewalDecision(ctx(at(10)))).toEqual({ due: false, reason: 'not in the renewal window' });
    expect(renewalDecision(ctx(at(95), {}, { renewal: {} })).due).toBe(false);
  });

  it('sweepStep: the one decision runDue acts on and planDue reports — decommission, then expiry, then renewal, else notices', () => {
    const past = { identity: identity({ decommissionAt: at(50) }) };
    expect(sweepStep(ctx(at(101), past))).toEqual({ action: 'decommission', reason: 'decommission date reached' });
    expect(sweepStep(ctx(at(101))).action).toBe('expire');
    expect(sweepStep(ctx(at(101), { credential: credential({ status: 'expired' }) })).action).not.toBe('expire');
    expect(sweepStep(ctx(at(95)))).toEqual({ action: 'renew', reason: renewalDecision(ctx(at(95))).reason });
    expect(sweepStep(ctx(at(10)))).toEqual({ action: 'notices', reason: 'not in the renewal window' });
  });

  it('renewalDecision: suspended, revoked, decommissioned, expired and past-decommission identities are not renewed', () => {
    for (const status of ['suspended', 'revoked', 'decommissioned', 'expired'] as const)
      expect(renewalDecision(ctx(at(95), { identity: identity({ status }) }))).toEqual({ due: false, reason: `identity is ${status}` });
    expect(renewalDecision(ctx(at(95), { identity: identity({ decommissionAt: at(90) }) })).reason).toBe('identity is past its decommission date');
    expect(renewalDecision(ctx(at(100))).reason).toBe('certificate has expired');
  });

  it('isExpired and isPastDecommission are exact at the boundary', () => {
    expect(isExpired(ctx(new Date(at(100).getTime() - 1)))).toBe(false);
    expect(isExpired(ctx(at(100)))).toBe(true);
    expect(isExpired(ctx(at(200), { credential: undefined }))).toBe(false);
    const i = identity({ decommissionAt: at(50) });
    expect(isPastDecommission({ identity: i, now: new Date(at(50).getTime() - 1) })).toBe(false);
    expect(isPastDecommission({ identity: i, now: at(50) })).toBe(true);
    expect(isPastDecommission({ identity: identity(), now: at(5000) })).toBe(false);
  });

  it('dueNotices: only the nearest passed notice, keyed by days, none before, none after expiry', () => {
    expect(dueNotices(ctx(at(69)))).toEqual([]);
    expect(dueNotices(ctx(at(70)))).toEqual([{ noticeKey: 'expiring:30', noticeDays: 30, daysLeft: 30 }]);
    expect(dueNotices(ctx(at(90)))).toEqual([{ noticeKey: 'expiring:14', noticeDays: 14, daysLeft: 10 }]);
    // A sweep that was down for weeks tells once, with the nearest notice.
    expect(dueNotices(ctx(at(99.5)))).toEqual([{ noticeKey: 'expiring:1', noticeDays: 1, daysLeft: 0 }]);
    expect(dueNotices(ctx(at(100)))).toEqual([]);
    expect(dueNotices(ctx(at(90), { identity: identity({ status: 'suspended' }) }))).toEqual([]);
    expect(dueNotices(ctx(at(90), { credential: credential({ status: 'revoked' }) }))).toEqual([]);
  });

  it('renewalWindowStart: the earliest trigger', () => {
    const p = (renewal: object) => parseLifecyclePolicy({ renewal });
    expect(renewalWindowStart(credential(), p({ beforeDays: 30 }))).toEqual(at(70));
    expect(renewalWindowStart(credential(), p({ beforeDays: 10, fractionRemaining: 0.5 }))).toEqual(at(50));
    expect(renewalWindowStart(credential(), p({}))).toBeUndefined();
  });

  it('nextDueAt: earliest of renewal window, next notice, expiry, decommission', () => {
    // Renewal at 30 days (day 70) and notices at 70, 86, 93, 99.
    expect(nextDueAt(ctx(at(1)))).toEqual(at(70));
    expect(nextDueAt(ctx(at(1), {}, { renewal: {} }))).toEqual(at(70)); // the 30-day notice
    expect(nextDueAt(ctx(at(70), {}, { renewal: {} }))).toEqual(at(86)); // notice at 70 counts as handled
    expect(nextDueAt(ctx(at(99.5), {}, { renewal: {} }))).toEqual(at(100)); // then the expiry
    expect(nextDueAt(ctx(at(1), { identity: identity({ decommissionAt: at(20) }) }))).toEqual(at(20));
    expect(nextDueAt(ctx(at(1), { identity: identity({ status: 'suspended' }) }))).toEqual(at(100));
    expect(nextDueAt(ctx(at(1), { identity: identity({ status: 'revoked' }) }))).toBeUndefined();
    expect(nextDueAt(ctx(at(1), { identity: identity({ status: 'decommissioned', decommissionAt: at(20) }) }))).toBeUndefined();
    expect(nextDueAt(ctx(at(1), { identity: identity({ status: 'pending' }), credential: undefined }))).toEqual(at(1));
  });
});

describe('policy validation and rules', () => {
  it('defaults', () => {
    const p = parseLifecyclePolicy({});
    expect(p).toMatchObject({ validityDays: 365, renewal: { beforeDays: 30 }, notices: [30, 14, 7, 1], rekeyOnRenewal: true, minRsaBits: 2048 });
    expect(p.allowedDomainsByOwner).toBeUndefined();
  });

  it('a bad policy is ERR_INVALID_INPUT naming the field', () => {
    expect(() => parseLifecyclePolicy({ validityDays: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT', details: { field: 'validityDays' } }));
    expect(() => parseLifecyclePolicy({ renewal: { fractionRemaining: 1.5 } })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_INPUT', details: { field: 'renewal.fractionRemaining' } }),
    );
    expect(() => parseLifecyclePolicy({ allowedDomainsByOwner: { treasury: ['not a domain'] } })).toThrow(
      expect.objectContaining({ details: { field: 'allowedDomainsByOwner.treasury.0' } }),
    );
    expect(() => parseLifecyclePolicy({ approval: 'yes' as never })).toThrow(expect.objectContaining({ details: { field: 'approval' } }));
  });

  it('per-identity overrides merge over the manager policy; owner domains and approval cannot be overridden', () => {
    const base = parseLifecyclePolicy({ allowedDomainsByOwner: { treasury: ['example.com'] }, validityDays: 365 });
    const eff = effectivePolicy(base, { validityDays: 90, renewal: { fractionRemaining: 0.5 } });
    expect(eff).toMatchObject({ validityDays: 90, renewal: { fractionRemaining: 0.5 }, allowedDomainsByOwner: { treasury: ['example.com'] } });
    expect(() => parsePolicyOverrides({ validityDays: -1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT', details: { field: 'policy.validityDays' } }));
    expect(() => parsePolicyOverrides({ allowedDomainsByOwner: { x: ['evil.com'] } })).toThrow(/allowedDomainsByOwner/);
  });

  it('effectivePolicy: an override never weakens the manager policy (key types intersected, larger minRsaBits, longer retention)', () => {
    const base = parseLifecyclePolicy({ allowedKeyTypes: ['ec-p256', 'rsa-3072'], minRsaBits: 3072, decryptionKeyRetentionDays: 2555 });
    expect(effectivePolicy(base, { allowedKeyTypes: ['rsa-2048', 'ec-p256'], minRsaBits: 2048, decryptionKeyRetentionDays: 0 })).toMatchObject({
      allowedKeyTypes: ['ec-p256'],
      minRsaBits: 3072,
      decryptionKeyRetentionDays: 2555,
    });
    expect(effectivePolicy(base, { minRsaBits: 4096, decryptionKeyRetentionDays: 3650 })).toMatchObject({ allowedKeyTypes: ['ec-p256', 'rsa-3072'], minRsaBits: 4096, decryptionKeyRetentionDays: 3650 });
    expect(checkPolicyOverrides(base, { decryptionKeyRetentionDays: 2554 })?.rule).toBe('decryptionKeyRetentionDays');
    expect(checkPolicyOverrides(base, { allowedKeyTypes: ['ec-p256', 'ed25519'] })).toEqual({
      rule: 'allowedKeyTypes',
      message: "an identity may not allow key types the manager's policy does not (ed25519; allowed: ec-p256, rsa-3072)",
    });
    expect(checkPolicyOverrides(base, { minRsaBits: 2048 })?.rule).toBe('minRsaBits');
    expect(checkPolicyOverrides(base, { allowedKeyTypes: ['rsa-3072'], minRsaBits: 4096, decryptionKeyRetentionDays: 2555, validityDays: 90 })).toBeUndefined();
  });

  it('checkIssuancePolicy names the rule that refused', () => {
    const p = parseLifecyclePolicy({ allowedDomainsByOwner: { treasury: ['example.com'], hr: ['.example.org'] }, minRsaBits: 3072 });
    expect(checkIssuancePolicy(p, { team: 'treasury', domain: 'example.com', keyType: 'ec-p256' })).toBeUndefined();
    expect(checkIssuancePolicy(p, { team: 'hr', domain: 'mail.example.org', keyType: 'ec-p256' })).toBeUndefined();
    expect(checkIssuancePolicy(p, { team: 'hr', domain: 'example.org', keyType: 'ec-p256' })?.rule).toBe('allowedDomainsByOwner');
    expect(checkIssuancePolicy(p, { team: 'treasury', domain: 'evil.com', keyType: 'ec-p256' })?.message).toBe(
      'team treasury may not hold mailboxes in evil.com (approved: example.com)',
    );
    expect(checkIssuancePolicy(p, { team: 'sales', domain: 'example.com', keyType: 'ec-p256' })?.message).toBe('team sales has no approved mail domains');
    expect(checkIssuancePolicy(p, { team: '__proto__', domain: 'example.com', keyType: 'ec-p256' })?.rule).toBe('allowedDomainsByOwner');
    expect(checkIssuancePolicy(p, { team: 'treasury', domain: 'example.com', keyType: 'rsa-2048' })?.rule).toBe('minRsaBits');
    expect(checkIssuancePolicy(parseLifecyclePolicy({ allowedKeyTypes: ['ec-p384'] }), { team: 't', domain: 'x.com', keyType: 'ec-p256' })?.rule).toBe(
      'allowedKeyTypes',
    );
    expect(DAY).toBe(86_400_000);
  });
});
