import { describe, expect, it } from 'vitest';
import { parseCertificate } from '../../src/certs/index.js';
import { signMessage } from '../../src/smime/index.js';
import type { ApprovalRequest } from '../../src/lifecycle/index.js';
import type { IssueRequest } from '../../src/ca/index.js';
import { MailPkiError } from '../../src/errors.js';
import { DkimManager } from '../../src/lifecycle/index.js';
import { auditActions, brief, createTestStore, harness, keyProtector } from './helpers.js';

const treasury = { team: 'treasury', contact: 'treasury-ops@example.com' };

describe('LifecycleManager operations', () => {
  it('enroll: creates the identity, issues, stores the key protected, emits enrolled + issued, audits', async () => {
    const h = await harness();
    const rec = await h.manager.enroll(
      { mailbox: 'Payments@Example.com', owner: treasury, purpose: 'payment instructions', approvedBy: 'ciso', tags: ['finance'] },
      { actor: 'alice' },
    );
    expect(rec).toMatchObject({
      id: 'smime:payments@example.com',
      name: 'payments@example.com',
      domain: 'example.com',
      status: 'active',
      owner: treasury,
      keyType: 'ec-p256',
      profile: 'strict',
      version: 2,
    });
    expect(rec.notAfter).toEqual(new Date(h.clock().getTime() + 365 * 86_400_000));
    expect(rec.nextDueAt).toEqual(new Date(rec.notAfter!.getTime() - 30 * 86_400_000));
    expect(brief(h.events)).toEqual(['identity.enrolled payments@example.com', 'certificate.issued payments@example.com']);
    const [enrolled] = h.events;
    expect(enrolled).toMatchObject({
      owner: treasury,
      identity: { id: rec.id, kind: 'smime', name: 'payments@example.com' },
      data: { purpose: 'payment instructions', approvedBy: 'ciso', tags: ['finance'], profile: 'strict', keyType: 'ec-p256' },
      occurredAt: h.clock().toISOString(),
    });
    const creds = await h.manager.credentials('payments@example.com');
    expect(creds).toHaveLength(1);
    expect(enrolled!.certificate).toEqual({
      serialNumber: creds[0]!.serialNumber,
      fingerprint: creds[0]!.fingerprint,
      notBefore: creds[0]!.notBefore.toISOString(),
      notAfter: creds[0]!.notAfter.toISOString(),
    });
    expect(await auditActions(h.store)).toEqual(['identity.created', 'identity.enrolled']);
    const audit = await h.store.listAudit();
    expect(audit.every((r) => r.actor === 'alice')).toBe(true);
    expect(audit[1]!.after).toMatchObject({ status: 'active', credential: { serialNumber: creds[0]!.serialNumber } });
    const key = await h.store.transaction((tx) => tx.getKey(creds[0]!.keyId!));
    expect(key!.protectedKey.alg).toBe('A256GCM');
    expect(h.ca.issueCalls).toBe(1);
  });

  it('getSigner: a non-extractable key and the chain without the root, usable by signMessage', async () => {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'payments@example.com', owner: treasury }, { actor: 'alice' });
    const signer = await h.manager.getSigner('payments@example.com');
    expect(signer.key.extractable).toBe(false);
    expect(signer.chain).toHaveLength(1);
    expect(parseCertificate(signer.chain![0] as Uint8Array).serialNumber).toBe(h.ca.local.issuingCertificate.serialNumber);
    const signed = await signMessage(
      'From: payments@example.com\r\nTo: bank@example.net\r\nSubject: Pay\r\nContent-Type: text/plain\r\n\r\nPay 100 EUR\r\n',
      signer,
      { clock: h.clock },
    );
    expect(signed.length).toBeGreaterThan(0);
  });

  it('enroll refuses bad input naming the field, and duplicates', async () => {
    const h = await harness();
    await expect(h.manager.enroll({ mailbox: 'nope', owner: treasury }, { actor: 'a' })).rejects.toMatchObject({
      code: 'ERR_INVALID_INPUT',
      details: { field: 'mailbox' },
    });
    await expect(h.manager.enroll({ mailbox: 'x@example.com', owner: { team: '' } }, { actor: 'a' })).rejects.toMatchObject({
      details: { field: 'owner.team' },
    });
    await expect(h.manager.enroll({ mailbox: 'x@example.com', owner: treasury, policy: { notices: [0] } }, { actor: 'a' })).rejects.toMatchObject({
      code: 'ERR_INVALID_INPUT',
      details: { field: 'policy.notices.0' },
    });
    await expect(h.manager.enroll({ mailbox: 'x@example.com', owner: treasury }, { actor: '' })).rejects.toMatchObject({ details: { field: 'actor' } });
    await h.manager.enroll({ mailbox: 'x@example.com', owner: treasury }, { actor: 'a' });
    await expect(h.manager.enroll({ mailbox: 'X@example.com', owner: treasury }, { actor: 'a' })).rejects.toMatchObject({ code: 'ERR_IDENTITY_EXISTS' });
    await expect(h.manager.get('nobody@example.com')).rejects.toMatchObject({ code: 'ERR_IDENTITY_NOT_FOUND' });
  });

  it('policy denial: domain not approved for the owner → ERR_POLICY_DENIED naming the rule, policy.denied event, audit, no CA call', async () => {
    const h = await harness();
    const err = await h.manager.enroll({ mailbox: 'ceo@example.org', owner: treasury }, { actor: 'mallory' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_POLICY_DENIED', details: { rule: 'allowedDomainsByOwner' } });
    expect((err as Error).message).toBe('policy allowedDomainsByOwner: team treasury may not hold mailboxes in example.org (approved: example.com)');
    expect(brief(h.events)).toEqual(['policy.denied ceo@example.org']);
    expect(h.events[0]!.data).toEqual({ code: 'ERR_POLICY_DENIED', rule: 'allowedDomainsByOwner', message: (err as Error).message, operation: 'enroll' });
    const audit = await h.store.listAudit();
    expect(audit.map((r) => [r.action, r.actor, r.identityId])).toEqual([['policy.denied', 'mallory', undefined]]);
    expect(audit[0]!.after).toMatchObject({ request: { mailbox: 'ceo@example.org', owner: 'treasury' } });
    expect(h.ca.issueCalls).toBe(0);
    expect(await h.manager.list()).toEqual([]);
  });

  // Was: enrolled and issued — a governed identity whose mail a client shows as pay@paypal.example.org (the preflight then refused to sign with it).
  it('policy denial: a mailbox whose domain a client shows as a Latin name it is not (pay@раураӏ.example.org, cfo@еxample.com) → ERR_POLICY_DENIED lookalikeDomains, policy.denied, no CA call; lookalikeDomains: allow enrolls it', async () => {
    const h = await harness({ policy: {} });
    const refused = ['pay@xn--80aa0cbo65f.example.org', 'cfo@xn--xample-2of.com', 'pay@xn--pple-43d.example.org'];
    const errors = [];
    for (const mailbox of refused) errors.push(await h.manager.enroll({ mailbox, owner: treasury }, { actor: 'mallory' }).catch((e: unknown) => e));
    for (const err of errors) expect(err).toMatchObject({ code: 'ERR_POLICY_DENIED', details: { rule: 'lookalikeDomains' } });
    expect((errors[0] as Error).message).toBe(
      "policy lookalikeDomains: the domain \u0440\u0430\u0443\u0440\u0430\u04CF.example.org (xn--80aa0cbo65f.example.org) is written in Cyrillic letters that look Latin: a reader may take it for paypal.example.org (lookalikeDomains: 'allow' permits it)",
    );
    expect(brief(h.events)).toEqual(refused.map((m) => `policy.denied ${m}`));
    expect(await auditActions(h.store)).toEqual(refused.map(() => 'policy.denied'));
    expect(h.ca.issueCalls).toBe(0);
    expect(await h.manager.list()).toEqual([]);
    // Cyrillic that reads as nothing Latin (почта), Latin with accents (bücher): enrolled.
    for (const mailbox of ['info@xn--80a1acny.example.org', 'info@xn--bcher-kva.example.org']) expect((await h.manager.enroll({ mailbox, owner: treasury }, { actor: 'a' })).status, mailbox).toBe('active');
    const allowing = await harness({ policy: { lookalikeDomains: 'allow' } });
    expect((await allowing.manager.enroll({ mailbox: 'pay@xn--80aa0cbo65f.example.org', owner: treasury }, { actor: 'a' })).status).toBe('active');
    await expect(harness({ policy: { lookalikeDomains: 'maybe' as never } })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
  });

  it('renewal re-checks lookalikeDomains: an identity enrolled under allow is not renewed once the policy refuses such domains (policy.denied), as allowedDomainsByOwner is re-checked', async () => {
    const h = await harness({ policy: { lookalikeDomains: 'allow' } });
    const rec = await h.manager.enroll({ mailbox: 'pay@xn--80aa0cbo65f.example.org', owner: treasury }, { actor: 'a' });
    const strict = h.make({ policy: {} });
    const events: string[] = [];
    strict.on('*', (e) => void events.push(e.type));
    const calls = h.ca.issueCalls;
    await expect(strict.renew(rec.id, { actor: 'b' })).rejects.toMatchObject({ code: 'ERR_POLICY_DENIED', details: { rule: 'lookalikeDomains' } });
    expect(events).toEqual(['policy.denied']);
    expect(h.ca.issueCalls).toBe(calls);
    // Under allow it renews.
    expect((await h.manager.renew(rec.id, { actor: 'b' })).status).toBe('active');
  });

  it('policy denial: key type and RSA size', async () => {
    const h = await harness({ policy: { allowedKeyTypes: ['ec-p256', 'rsa-2048'], minRsaBits: 3072 } });
    await expect(h.manager.enroll({ mailbox: 'a@example.com', owner: treasury, keyType: 'ec-p384' }, { actor: 'a' })).rejects.toMatchObject({
      code: 'ERR_POLICY_DENIED',
      details: { rule: 'allowedKeyTypes' },
    });
    await expect(h.manager.enroll({ mailbox: 'a@example.com', owner: treasury, keyType: 'rsa-2048' }, { actor: 'a' })).rejects.toMatchObject({
      code: 'ERR_POLICY_DENIED',
      details: { rule: 'minRsaBits' },
    });
    expect(brief(h.events)).toEqual(['policy.denied a@example.com', 'policy.denied a@example.com']);
  });

  it('approval hook: asked before issuance; refusal → ERR_APPROVAL_DENIED, event, audit; approval records approvedBy', async () => {
    const asked: ApprovalRequest[] = [];
    const h = await harness({
      policy: {
        approval: async (r) => {
          asked.push(r);
          return r.mailbox.startsWith('ok') ? { approved: true, approvedBy: 'iam-ticket-7' } : { approved: false, reason: 'no ticket' };
        },
      },
    });
    await expect(h.manager.enroll({ mailbox: 'no@example.com', owner: treasury }, { actor: 'bob' })).rejects.toMatchObject({ code: 'ERR_APPROVAL_DENIED' });
    expect(brief(h.events)).toEqual(['policy.denied no@example.com']);
    expect(h.events[0]!.data).toMatchObject({ code: 'ERR_APPROVAL_DENIED', rule: 'approval' });
    expect(await auditActions(h.store)).toEqual(['policy.denied']);
    expect(h.ca.issueCalls).toBe(0);
    const rec = await h.manager.enroll({ mailbox: 'ok@example.com', owner: treasury }, { actor: 'bob' });
    expect(rec.approvedBy).toBe('iam-ticket-7');
    expect(asked.map((a) => [a.operation, a.mailbox, a.actor, a.keyType, a.validityDays])).toEqual([
      ['enroll', 'no@example.com', 'bob', 'ec-p256', 365],
      ['enroll', 'ok@example.com', 'bob', 'ec-p256', 365],
    ]);
  });

  it('renew: new key by default, same key on request; the old certificate becomes previous', async () => {
    const h = await harness();
    const first = await h.manager.enroll({ mailbox: 'payments@example.com', owner: treasury }, { actor: 'a' });
    h.clock.advanceDays(10);
    h.events.length = 0;
    await h.manager.renew('payments@example.com', { actor: 'b', reason: 'rotation' });
    await h.manager.renew(first.id, { actor: 'b', rekey: false });
    const creds = await h.manager.credentials(first.id);
    expect(creds.map((c) => c.status)).toEqual(['previous', 'previous', 'current']);
    expect(creds[0]!.keyId).not.toBe(creds[1]!.keyId);
    expect(creds[1]!.keyId).toBe(creds[2]!.keyId);
    expect(brief(h.events)).toEqual([
      'certificate.issued payments@example.com',
      'certificate.renewed payments@example.com',
      'certificate.issued payments@example.com',
      'certificate.renewed payments@example.com',
    ]);
    expect(h.events[1]!.data).toEqual({
      reason: 'rotation',
      rekeyed: true,
      previous: { serialNumber: creds[0]!.serialNumber, fingerprint: creds[0]!.fingerprint, notBefore: creds[0]!.notBefore.toISOString(), notAfter: creds[0]!.notAfter.toISOString() },
    });
    expect(h.events[3]!.data).toMatchObject({ reason: 'requested', rekeyed: false });
    const cur = await h.manager.get(first.id);
    expect(cur.currentCredentialId).toBe(creds[2]!.id);
  });

  it('revoke (a signing identity): at the CA and in the store; renew afterwards issues with a new key', async () => {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'payments@example.com', owner: treasury, use: 'signing' }, { actor: 'a' });
    h.events.length = 0;
    const rec = await h.manager.revoke('payments@example.com', { actor: 'sec', reason: 'keyCompromise' });
    expect(rec.status).toBe('revoked');
    expect(rec.nextDueAt).toBeUndefined();
    const [cred] = await h.manager.credentials(rec.id);
    expect(cred).toMatchObject({ status: 'revoked', revocationReason: 'keyCompromise' });
    expect(h.ca.local.getRecord(cred!.serialNumber!)?.revocation?.reason).toBe('keyCompromise');
    expect(brief(h.events)).toEqual(['certificate.revoked payments@example.com']);
    expect(h.events[0]!.data).toMatchObject({ reason: 'keyCompromise' });
    await expect(h.manager.revoke(rec.id, { actor: 'sec', reason: 'keyCompromise' })).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });
    await expect(h.manager.getSigner(rec.id)).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });
    await expect(h.manager.revoke(rec.id, { actor: 'sec', reason: 'certificateHold' as never })).rejects.toMatchObject({
      code: 'ERR_INVALID_INPUT',
      details: { field: 'reason' },
    });
    const renewed = await h.manager.renew(rec.id, { actor: 'sec', rekey: false });
    expect(renewed.status).toBe('active');
    const creds = await h.manager.credentials(rec.id);
    expect(creds[1]!.keyId).not.toBe(creds[0]!.keyId); // a revoked key is never reused
  });

  it('suspend and reinstate through certificateHold / removeFromCRL; refused when the CA cannot', async () => {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'payments@example.com', owner: treasury }, { actor: 'a' });
    const [cred] = await h.manager.credentials('payments@example.com');
    h.events.length = 0;
    expect((await h.manager.suspend('payments@example.com', { actor: 'sec', reason: 'investigation' })).status).toBe('suspended');
    expect(h.ca.local.getRecord(cred!.serialNumber!)?.revocation?.reason).toBe('certificateHold');
    await expect(h.manager.renew('payments@example.com', { actor: 'x' })).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });
    expect((await h.manager.reinstate('payments@example.com', { actor: 'sec' })).status).toBe('active');
    expect(h.ca.local.getRecord(cred!.serialNumber!)?.revocation).toBeUndefined();
    expect(brief(h.events)).toEqual(['identity.suspended payments@example.com', 'identity.reinstated payments@example.com']);
    expect(await auditActions(h.store)).toEqual(['identity.created', 'identity.enrolled', 'identity.suspended', 'identity.reinstated']);

    h.ca.supportsSuspension = false;
    const m2 = h.make();
    await expect(m2.suspend('payments@example.com', { actor: 'sec' })).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });
  });

  it('decommission (a signing identity): revokes (cessationOfOperation), retires and destroys its key; nothing more is possible', async () => {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'payments@example.com', owner: treasury, use: 'signing' }, { actor: 'a' });
    h.events.length = 0;
    const rec = await h.manager.decommission('payments@example.com', { actor: 'owner', reason: 'mailbox retired' });
    expect(rec).toMatchObject({ status: 'decommissioned' });
    expect(rec.nextDueAt).toBeUndefined();
    expect(brief(h.events)).toEqual(['certificate.revoked payments@example.com', 'identity.decommissioned payments@example.com']);
    expect(h.events[1]!.data).toEqual({ reason: 'mailbox retired', revoked: true, keysDestroyed: 1, decryptionKeysKept: 0 });
    const [cred] = await h.manager.credentials(rec.id);
    // The private key is gone from the store; the credential still names it, for the record.
    expect(cred!.keyId).toBeDefined();
    expect(await h.store.transaction((tx) => tx.getKey(cred!.keyId!))).toBeUndefined();
    expect((await h.store.listAudit()).at(-1)!.reason).toBe('mailbox retired (1 private key destroyed)');
    expect(h.ca.local.getRecord(cred!.serialNumber!)?.revocation?.reason).toBe('cessationOfOperation');
    for (const op of [
      () => h.manager.renew(rec.id, { actor: 'x' }),
      () => h.manager.revoke(rec.id, { actor: 'x', reason: 'superseded' }),
      () => h.manager.decommission(rec.id, { actor: 'x', reason: 'again' }),
      () => h.manager.suspend(rec.id, { actor: 'x' }),
    ])
      await expect(op()).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });
  });

  it('enroll again after decommission: a new life under the same identity, checked like a first enrollment, history kept', async () => {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'payments@example.com', owner: treasury, purpose: 'payment instructions' }, { actor: 'a' });
    const old = await h.manager.decommission('payments@example.com', { actor: 'owner', reason: 'team dissolved' });
    h.events.length = 0;
    const auditBefore = (await h.store.listAudit()).length;
    const ap = { team: 'hr' };
    const again = await h.manager.enroll({ mailbox: 'payments@example.com', owner: ap, purpose: 'remittance advice', keyType: 'rsa-2048' }, { actor: 'bob' });
    expect(again).toMatchObject({ id: old.id, status: 'active', owner: ap, purpose: 'remittance advice', keyType: 'rsa-2048', createdAt: old.createdAt });
    expect(again.version).toBeGreaterThan(old.version);
    expect(brief(h.events)).toEqual(['identity.enrolled payments@example.com', 'certificate.issued payments@example.com']);
    expect(h.events[0]!.owner).toEqual(ap);
    const creds = await h.manager.credentials(old.id);
    expect(creds.map((c) => c.status).sort()).toEqual(['current', 'revoked']);
    const current = creds.find((c) => c.status === 'current')!;
    expect(again.currentCredentialId).toBe(current.id);
    expect(await h.store.transaction((tx) => tx.getKey(current.keyId!))).toBeDefined();
    const audit = (await h.store.listAudit()).slice(auditBefore);
    expect(audit.map((r) => r.action)).toEqual(['identity.reenrolled', 'identity.enrolled']);
    expect(audit[0]).toMatchObject({ actor: 'bob', before: { status: 'decommissioned', owner: treasury }, after: { status: 'pending', owner: ap } });
    // It is an ordinary active identity again; a second enrollment is refused as for any other.
    await expect(h.manager.enroll({ mailbox: 'payments@example.com', owner: ap }, { actor: 'bob' })).rejects.toMatchObject({ code: 'ERR_IDENTITY_EXISTS' });
    expect((await h.manager.renew(old.id, { actor: 'bob' })).status).toBe('active');
  });

  it('enroll again after decommission asks the approval hook, telling it so', async () => {
    const asked: ApprovalRequest[] = [];
    const h = await harness({
      policy: {
        allowedDomainsByOwner: { treasury: ['example.com'], hr: ['example.com'] },
        approval: async (r) => {
          asked.push(r);
          return { approved: true, approvedBy: `ticket-${asked.length}` };
        },
      },
    });
    await h.manager.enroll({ mailbox: 'payments@example.com', owner: treasury }, { actor: 'a' });
    await h.manager.decommission('payments@example.com', { actor: 'owner', reason: 'retired' });
    const again = await h.manager.enroll({ mailbox: 'payments@example.com', owner: { team: 'hr' } }, { actor: 'bob' });
    expect(asked.map((r) => [r.operation, r.owner.team, r.reason])).toEqual([
      ['enroll', 'treasury', undefined],
      ['enroll', 'hr', 'enrolling again: the mailbox was decommissioned'],
    ]);
    expect(again.approvedBy).toBe('ticket-2');
  });

  it('enroll again after decommission is refused by policy like a first enrollment, and the identity stays decommissioned', async () => {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'payments@example.com', owner: treasury }, { actor: 'a' });
    await h.manager.decommission('payments@example.com', { actor: 'owner', reason: 'retired' });
    await expect(h.manager.enroll({ mailbox: 'payments@example.com', owner: { team: 'intruders' } }, { actor: 'eve' })).rejects.toMatchObject({ code: 'ERR_POLICY_DENIED' });
    expect((await h.manager.get('payments@example.com')).status).toBe('decommissioned');
  });

  it('a renewal in flight when the identity is decommissioned: the certificate the CA issued meanwhile is revoked, its key destroyed, nothing comes back', async () => {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'payments@example.com', owner: treasury }, { actor: 'a' });
    const issue = h.ca.issue.bind(h.ca);
    const issued: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let answered!: () => void;
    const caAnswered = new Promise<void>((r) => (answered = r));
    h.ca.issue = async (req: IssueRequest) => {
      const r = await issue(req);
      if (issued.length > 0) return r; // the decommission asking again with the same idempotency key
      issued.push(r.serialNumber);
      answered();
      await gate;
      return r;
    };
    const renewing = h.manager.renew('payments@example.com', { actor: 'cron' });
    await caAnswered;
    await h.manager.decommission('payments@example.com', { actor: 'owner', reason: 'retired' });
    // The decommission learnt the certificate (same idempotency key, same certificate) and revoked it.
    expect(h.ca.local.getRecord(issued[0]!)?.revocation?.reason).toBe('cessationOfOperation');
    release();
    await expect(renewing).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });
    const rec = await h.manager.get('payments@example.com');
    expect(rec.status).toBe('decommissioned');
    expect((await h.manager.credentials(rec.id)).map((c) => c.serialNumber)).not.toContain(issued[0]);
    expect(h.ca.local.getRecord(issued[0]!)?.revocation?.reason).toBe('cessationOfOperation');
    const keyId = h.ca.idempotencyKeys.at(-1)!.split('.')[1]!;
    expect(await h.store.transaction((tx) => tx.getKey(keyId))).toBeUndefined();
    expect(await h.store.transaction((tx) => tx.getPendingIssuance(rec.id))).toBeUndefined();
    // Written once, by the decommission; the renewal found it revoked and wrote nothing more.
    expect((await auditActions(h.store)).slice(-2)).toEqual(['issuance.discarded', 'identity.decommissioned']);
    expect(h.events.filter((e) => e.type === 'issuance.discarded')).toMatchObject([{ data: { serialNumber: issued[0], why: 'decommissioned', revoked: true, operation: 'renew' } }]);
  });

  it('the CA cannot revoke a certificate discarded that way: the owners and the caller are told its serial', async () => {
    const errors: unknown[] = [];
    const h = await harness({ onError: (e) => void errors.push(e) });
    await h.manager.enroll({ mailbox: 'payments@example.com', owner: treasury }, { actor: 'a' });
    const held = holdCaAnswer(h, 1);
    const renewing = h.manager.renew('payments@example.com', { actor: 'cron' });
    await held.answered;
    h.events.length = 0;
    h.ca.revoke = async () => {
      throw new MailPkiError('ERR_CA_UNAVAILABLE', 'CA down');
    };
    // The decommission cannot settle the issuance in progress: it fails, changing nothing but the mark.
    await expect(h.manager.decommission('payments@example.com', { actor: 'owner', reason: 'retired' })).rejects.toMatchObject({
      code: 'ERR_CA_UNAVAILABLE',
      details: { serialNumber: held.serials[0] },
    });
    expect((await h.manager.get('payments@example.com')).status).toBe('active');
    held.release();
    await expect(renewing).rejects.toMatchObject({ code: 'ERR_CA_UNAVAILABLE', details: { serialNumber: held.serials[0] }, message: expect.stringContaining('revoke it at the CA') });
    expect(h.events.map((e) => [e.type, e.data])).toEqual([
      ['issuance.discarded', { serialNumber: held.serials[0], why: 'withdrawn', revoked: false, operation: 'renew', message: 'CA down' }],
    ]);
    expect((await h.store.listAudit()).at(-1)!.reason).toContain(`issued certificate ${held.serials[0]}; the certificate is NOT revoked`);
  });

  it('decommissioned and enrolled anew while an old renewal waited for the CA: the old certificate is revoked (superseded), the new life keeps its own', async () => {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'payments@example.com', owner: treasury }, { actor: 'a' });
    const held = holdCaAnswer(h, 1);
    const renewing = h.manager.renew('payments@example.com', { actor: 'cron' });
    await held.answered;
    await h.manager.decommission('payments@example.com', { actor: 'owner', reason: 'retired' });
    const again = await h.manager.enroll({ mailbox: 'payments@example.com', owner: { team: 'hr' } }, { actor: 'bob' });
    h.events.length = 0;
    held.release();
    await expect(renewing).rejects.toMatchObject({ code: 'ERR_STORE_CONFLICT' });
    const creds = await h.manager.credentials('payments@example.com');
    expect(creds.map((c) => c.serialNumber)).not.toContain(held.serials[0]);
    // The decommission learnt and revoked it (and wrote issuance.discarded); the old renewal adds nothing.
    expect(h.ca.local.getRecord(held.serials[0]!)?.revocation?.reason).toBe('cessationOfOperation');
    expect(h.events).toEqual([]);
    const now = await h.manager.get('payments@example.com');
    expect(now).toMatchObject({ status: 'active', owner: { team: 'hr' }, currentCredentialId: again.currentCredentialId });
    const current = creds.find((c) => c.id === now.currentCredentialId)!;
    expect(await h.store.transaction((tx) => tx.getKey(current.keyId!))).toBeDefined();
  });

  it("an old renewal the CA refuses after a re-enrolment started does not drop the new life's issuance", async () => {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'payments@example.com', owner: treasury }, { actor: 'a' });
    const issue = h.ca.issue.bind(h.ca);
    const gates = [deferred(), deferred()];
    const entered = [deferred(), deferred()];
    let n = 0;
    h.ca.issue = async (req: IssueRequest) => {
      const call = n++;
      if (call === 1) return issue(req); // the decommission asking again: nothing was signed, it signs now
      const i = call === 0 ? 0 : 1;
      entered[i]!.resolve();
      await gates[i]!.promise;
      if (i === 0) throw new MailPkiError('ERR_CA_REJECTED', 'refused');
      return issue(req);
    };
    const renewing = h.manager.renew('payments@example.com', { actor: 'cron' });
    await entered[0]!.promise;
    await h.manager.decommission('payments@example.com', { actor: 'owner', reason: 'retired' });
    const enrolling = h.manager.enroll({ mailbox: 'payments@example.com', owner: { team: 'hr' } }, { actor: 'bob' });
    await entered[1]!.promise;
    gates[0]!.resolve();
    await expect(renewing).rejects.toMatchObject({ code: 'ERR_CA_REJECTED' });
    expect(await h.store.transaction((tx) => tx.getPendingIssuance('smime:payments@example.com'))).toBeDefined();
    gates[1]!.resolve();
    expect(await enrolling).toMatchObject({ status: 'active', owner: { team: 'hr' } });
  });

  it('resuming a written-down issuance whose key a decommission just destroyed is ERR_IDENTITY_STATE, not store corruption', async () => {
    // A store that runs a decommission (by another manager) just before the renewal's third transaction:
    // after it read the pending issuance, before it reads that issuance's key.
    const base = await createTestStore();
    let count = -1;
    let hook: (() => Promise<void>) | undefined;
    const store = new Proxy(base, {
      get(target, prop) {
        if (prop === 'transaction')
          return async (fn: never) => {
            if (count >= 0 && ++count === 3 && hook) {
              const run = hook;
              hook = undefined;
              await run();
            }
            return target.transaction(fn);
          };
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const h = await harness({}, store);
    await h.manager.enroll({ mailbox: 'payments@example.com', owner: treasury }, { actor: 'a' });
    h.ca.failIssue.push(new MailPkiError('ERR_CA_UNAVAILABLE', 'CA down'));
    await expect(h.manager.renew('payments@example.com', { actor: 'cron' })).rejects.toMatchObject({ code: 'ERR_CA_UNAVAILABLE' });
    const other = h.make();
    hook = async () => {
      count = -1;
      await other.decommission('payments@example.com', { actor: 'owner', reason: 'retired' });
    };
    count = 0;
    await expect(h.manager.renew('payments@example.com', { actor: 'cron' })).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE', message: expect.stringContaining('decommissioned') });
    expect(hook).toBeUndefined();
  });

  it('a renewal that read the identity before the decommission and writes after it is refused before the CA is asked', async () => {
    // The renewal is held while its new key is being encrypted (after it read the identity, before it writes).
    const base = keyProtector();
    let release!: () => void;
    let gate: Promise<void> | undefined;
    let holding!: () => void;
    const held = new Promise<void>((r) => (holding = r));
    const h = await harness({
      keyProtector: {
        ...base,
        protect: async (k: Uint8Array) => {
          const r = await base.protect(k);
          if (gate) {
            holding();
            await gate;
          }
          return r;
        },
        unprotect: (p) => base.unprotect(p),
      },
    });
    await h.manager.enroll({ mailbox: 'payments@example.com', owner: treasury }, { actor: 'a' });
    gate = new Promise<void>((r) => (release = r));
    const renewing = h.manager.renew('payments@example.com', { actor: 'cron' });
    await held;
    await h.manager.decommission('payments@example.com', { actor: 'owner', reason: 'retired' });
    const calls = h.ca.issueCalls;
    release();
    await expect(renewing).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });
    expect(h.ca.issueCalls).toBe(calls);
    expect((await h.manager.get('payments@example.com')).status).toBe('decommissioned');
    expect(await h.store.transaction((tx) => tx.getPendingIssuance('smime:payments@example.com'))).toBeUndefined();
  });

  it('decommission while an issuance is written down (CA unavailable): its key is destroyed too, and enrolling again does not complete it', async () => {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'payments@example.com', owner: treasury, use: 'signing' }, { actor: 'a' });
    h.ca.failIssue.push(new MailPkiError('ERR_CA_UNAVAILABLE', 'CA down'));
    await expect(h.manager.renew('payments@example.com', { actor: 'cron' })).rejects.toMatchObject({ code: 'ERR_CA_UNAVAILABLE' });
    const pending = await h.store.transaction((tx) => tx.getPendingIssuance('smime:payments@example.com'));
    expect(pending).toBeDefined();
    h.events.length = 0;
    await h.manager.decommission('payments@example.com', { actor: 'owner', reason: 'retired' });
    expect(h.events.find((e) => e.type === 'identity.decommissioned')?.data).toMatchObject({ keysDestroyed: 2 });
    expect(await h.store.transaction((tx) => tx.getKey(pending!.idempotencyKey.split('.')[1]!))).toBeUndefined();
    const again = await h.manager.enroll({ mailbox: 'payments@example.com', owner: { team: 'hr' } }, { actor: 'bob' });
    expect(again).toMatchObject({ status: 'active', owner: { team: 'hr' } });
    expect(h.ca.idempotencyKeys.at(-1)).not.toBe(pending!.idempotencyKey);
    expect((await auditActions(h.store)).slice(-2)).toEqual(['identity.reenrolled', 'identity.enrolled']);
  });

  it('a certificate that ran out before the sweep marked it is expired at decommission; enrolling again leaves one current certificate', async () => {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'payments@example.com', owner: treasury }, { actor: 'a' });
    h.clock.advanceDays(400);
    await h.manager.decommission('payments@example.com', { actor: 'owner', reason: 'retired' });
    const [old] = await h.manager.credentials('payments@example.com');
    expect(old).toMatchObject({ status: 'expired' });
    expect(old!.revokedAt).toBeUndefined();
    await h.manager.enroll({ mailbox: 'payments@example.com', owner: treasury }, { actor: 'a' });
    const statuses = (await h.manager.credentials('payments@example.com')).map((c) => c.status).sort();
    expect(statuses).toEqual(['current', 'expired']);
  });

  it('leaves DKIM identities in the same store to the DKIM manager: its sweep skips them, its operations refuse them', async () => {
    const h = await harness();
    const zone = new Map<string, string[][]>();
    const dkim = new DkimManager({
      store: h.store,
      keyProtector: keyProtector(),
      clock: h.clock,
      resolver: async (name) => zone.get(name) ?? [],
      publisher: {
        name: 'test',
        automatic: true,
        async publish(r) {
          zone.set(r.name, [[r.value]]);
        },
        async retire(r) {
          zone.set(r.name, [[r.value ?? 'v=DKIM1; p=']]);
        },
        async remove(r) {
          zone.delete(r.name);
        },
      },
    });
    await dkim.create({ domain: 'example.com', owner: { team: 'mail' }, algorithm: 'ed25519', selector: 's1' }, { actor: 'a' });
    await dkim.runDue();
    await h.manager.enroll({ mailbox: 'payments@example.com', owner: treasury }, { actor: 'a' });
    // Far enough ahead that both are due; the S/MIME sweep sees only its own.
    const summary = await h.manager.runDue(new Date(h.clock().getTime() + 400 * 86_400_000));
    expect(summary).toMatchObject({ scanned: 1, expired: ['smime:payments@example.com'] });
    expect((await dkim.get('example.com')).status).toBe('active');
    expect((await dkim.keys('example.com')).map((k) => [k.selector, k.state])).toEqual([['s1', 'active']]);
    for (const op of [
      () => h.manager.decommission('dkim:example.com', { actor: 'x', reason: 'oops' }),
      () => h.manager.renew('dkim:example.com', { actor: 'x' }),
      () => h.manager.getSigner('dkim:example.com'),
    ])
      await expect(op()).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE', message: expect.stringContaining('DkimManager') });
    expect((await dkim.getSigningKeys('example.com')).map((k) => k.selector)).toEqual(['s1']);
  });

  it('list by owner, domain, status and expiring-before', async () => {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'a@example.com', owner: treasury }, { actor: 'x' });
    await h.manager.enroll({ mailbox: 'b@mail.example.org', owner: { team: 'hr' }, policy: { validityDays: 30 } }, { actor: 'x' });
    await h.manager.enroll({ mailbox: 'c@example.com', owner: { team: 'hr' } }, { actor: 'x' });
    await h.manager.revoke('c@example.com', { actor: 'x', reason: 'superseded' });
    const names = (l: { name: string }[]) => l.map((i) => i.name);
    expect(names(await h.manager.list())).toEqual(['a@example.com', 'b@mail.example.org', 'c@example.com']);
    expect(names(await h.manager.list({ owner: 'hr' }))).toEqual(['b@mail.example.org', 'c@example.com']);
    expect(names(await h.manager.list({ domain: 'example.com' }))).toEqual(['a@example.com', 'c@example.com']);
    expect(names(await h.manager.list({ status: 'revoked' }))).toEqual(['c@example.com']);
    expect(names(await h.manager.list({ status: ['active'], expiringBefore: new Date(h.clock().getTime() + 31 * 86_400_000) }))).toEqual([
      'b@mail.example.org',
    ]);
    await expect(h.manager.list({ status: 'gone' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'status' } });
  });
});

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Holds the CA's answer to the first `count` issue requests (all when omitted) until release(). */
function holdCaAnswer(h: Awaited<ReturnType<typeof harness>>, count = Infinity): { answered: Promise<void>; release: () => void; serials: string[] } {
  const issue = h.ca.issue.bind(h.ca);
  const answered = deferred();
  const gate = deferred();
  const serials: string[] = [];
  let n = 0;
  h.ca.issue = async (req: IssueRequest) => {
    const r = await issue(req);
    if (n++ >= count) return r;
    serials.push(r.serialNumber);
    answered.resolve();
    await gate.promise;
    return r;
  };
  return { answered: answered.promise, release: gate.resolve, serials };
}
