/**
 * Separate signing and encryption certificates under one identity (issue 12 item 5): two keys and
 * two certificates with matching keyUsage, each renewed, noticed, expired and revoked on its own,
 * only the encryption keys in the decryption-key history, and an enrollment interrupted half-way
 * completed by the next sweep.
 */
import { describe, expect, it } from 'vitest';
import { parseCertificate } from '../../src/certs/index.js';
import { MailPkiError } from '../../src/errors.js';
import { planDue } from '../../src/lifecycle/index.js';
import { DAY, at, auditActions, harness } from './helpers.js';

const treasury = { team: 'treasury' };
const roleOf = (e: { certificate?: { role?: string } }) => e.certificate?.role;

describe('separate certificates: enroll', () => {
  it('EC: two keys, a signing certificate (digitalSignature) and an encryption certificate (keyAgreement), both emailProtection; events and audit name which', async () => {
    const h = await harness();
    const rec = await h.manager.enroll({ mailbox: 'pay@example.com', owner: treasury, certificates: 'separate' }, { actor: 'alice' });
    expect([rec.status, rec.certificates, rec.use]).toEqual(['active', 'separate', 'both']);
    const creds = await h.manager.credentials(rec.id);
    expect(creds.map((c) => [c.id, c.status, c.attributes?.certificate])).toEqual([
      [rec.currentCredentialId, 'current', 'signing'],
      [rec.encryptionCredentialId, 'current', 'encryption'],
    ]);
    const [sign, enc] = creds.map((c) => parseCertificate(c.certificate!));
    expect(sign!.keyUsage).toEqual(['digitalSignature']);
    expect(enc!.keyUsage).toEqual(['keyAgreement']);
    expect(creds[0]!.keyId).not.toBe(creds[1]!.keyId);
    expect(rec.notAfter).toEqual(new Date(Math.min(creds[0]!.notAfter.getTime(), creds[1]!.notAfter.getTime())));
    expect(h.events.map((e) => `${e.type} ${roleOf(e) ?? '-'}`)).toEqual(['certificate.issued signing', 'identity.enrolled encryption', 'certificate.issued encryption']);
    expect(await auditActions(h.store)).toEqual(['identity.created', 'certificate.issued', 'issuance.started', 'identity.enrolled']);
    expect(h.ca.issueCalls).toBe(2);
  });

  it('RSA: the encryption certificate has keyEncipherment only; getSigner signs with the signing certificate, getEncryptionCertificate gives the encryption one, getDecryptor only its key', async () => {
    const h = await harness();
    const rec = await h.manager.enroll({ mailbox: 'legal@example.com', owner: treasury, certificates: 'separate', keyType: 'rsa-2048' }, { actor: 'alice' });
    const [sign, enc] = await h.manager.credentials(rec.id);
    expect(parseCertificate(sign!.certificate!).keyUsage).toEqual(['digitalSignature']);
    expect(parseCertificate(enc!.certificate!).keyUsage).toEqual(['keyEncipherment']);
    const signer = await h.manager.getSigner(rec.id);
    expect(signer.certificate).toEqual(sign!.certificate);
    const to = await h.manager.getEncryptionCertificate('legal@example.com');
    expect([to.certificate, to.serialNumber, to.role, to.notAfter]).toEqual([enc!.certificate, enc!.serialNumber, 'encryption', enc!.notAfter]);
    expect(to.chain.length).toBe(1);
    expect((await h.manager.decryptionKeys(rec.id)).map((d) => d.credentialId)).toEqual([enc!.id]);
    const keys = await h.manager.getDecryptor(rec.id, { actor: 'gateway', reason: 'inbound' });
    expect(keys.map((k) => k.certificate.serialNumber)).toEqual([parseCertificate(enc!.certificate!).serialNumber]);
  });

  it('one certificate stays the default; getEncryptionCertificate gives it (role both), refuses a signing-only identity', async () => {
    const h = await harness();
    const one = await h.manager.enroll({ mailbox: 'one@example.com', owner: treasury }, { actor: 'a' });
    expect([one.certificates, one.encryptionCredentialId]).toEqual([undefined, undefined]);
    const [cred] = await h.manager.credentials(one.id);
    expect(cred!.attributes?.certificate).toBeUndefined();
    expect(await h.manager.getEncryptionCertificate(one.id)).toMatchObject({ certificate: cred!.certificate, role: 'both' });
    const s = await h.manager.enroll({ mailbox: 'sig@example.com', owner: treasury, use: 'signing' }, { actor: 'a' });
    await expect(h.manager.getEncryptionCertificate(s.id)).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE', details: { use: 'signing' } });
  });

  it('the policy can make separate the default for use both (not for signing-only); an explicit single wins', async () => {
    const h = await harness({ policy: { allowedDomainsByOwner: { treasury: ['example.com'] }, certificates: 'separate' } });
    expect((await h.manager.enroll({ mailbox: 'a@example.com', owner: treasury }, { actor: 'a' })).certificates).toBe('separate');
    expect((await h.manager.enroll({ mailbox: 'b@example.com', owner: treasury, use: 'signing' }, { actor: 'a' })).certificates).toBeUndefined();
    expect((await h.manager.enroll({ mailbox: 'c@example.com', owner: treasury, certificates: 'single' }, { actor: 'a' })).certificates).toBeUndefined();
  });

  it('refuses separate with use signing or encryption, and with an Ed25519 key (ERR_INVALID_INPUT naming the field); nothing written', async () => {
    const h = await harness({ policy: { allowedDomainsByOwner: { treasury: ['example.com'] }, allowedKeyTypes: ['ed25519', 'ec-p256'] } });
    for (const use of ['signing', 'encryption'] as const)
      await expect(h.manager.enroll({ mailbox: 'x@example.com', owner: treasury, use, certificates: 'separate' }, { actor: 'a' })).rejects.toMatchObject({
        code: 'ERR_INVALID_INPUT',
        details: { field: 'certificates' },
      });
    await expect(h.manager.enroll({ mailbox: 'x@example.com', owner: treasury, keyType: 'ed25519', certificates: 'separate' }, { actor: 'a' })).rejects.toMatchObject({
      code: 'ERR_INVALID_INPUT',
      details: { field: 'keyType' },
    });
    expect(await h.manager.list()).toEqual([]);
    expect(h.ca.issueCalls).toBe(0);
  });

  it('the CA fails on the encryption certificate: the identity stays pending with its signing certificate and is due now; the next sweep completes the pair with the same idempotency key', async () => {
    const h = await harness();
    // The signing certificate is issued; the CA is down when the encryption one is asked for.
    h.ca.failIssue.push(undefined as never, new MailPkiError('ERR_CA_UNAVAILABLE', 'CA down'));
    await expect(h.manager.enroll({ mailbox: 'half@example.com', owner: treasury, certificates: 'separate' }, { actor: 'a' })).rejects.toMatchObject({ code: 'ERR_CA_UNAVAILABLE' });
    const half = await h.manager.get('half@example.com');
    expect([half.status, half.encryptionCredentialId, half.nextDueAt]).toEqual(['pending', undefined, h.clock()]);
    expect((await h.manager.credentials(half.id)).map((c) => c.attributes?.certificate)).toEqual(['signing']);
    const pendingKey = (await h.store.transaction((tx) => tx.getPendingIssuance(half.id)))!;
    expect(pendingKey.certificate).toBe('encryption');
    expect((await planDue(h.store, h.clock())).steps).toEqual([{ identityId: half.id, action: 'renew', certificate: 'encryption', reason: 'enrollment not completed' }]);
    const summary = await h.manager.runDue();
    expect([summary.renewed, summary.failed]).toEqual([[half.id], []]);
    const done = await h.manager.get(half.id);
    expect(done.status).toBe('active');
    expect((await h.manager.credentials(half.id)).map((c) => c.attributes?.certificate)).toEqual(['signing', 'encryption']);
    // The encryption certificate: asked for again with the same idempotency key.
    expect(h.ca.idempotencyKeys.at(-1)).toBe(pendingKey.idempotencyKey);
    expect(h.ca.local.issued.length).toBe(2);
    expect((await h.manager.runDue()).scanned).toBe(0);
  });
});

describe('separate certificates: one engine, two schedules', () => {
  it('renew one certificate: only it is new (and its key enters the history if it is the encryption one); the sweep then renews the other when its own window opens; notices per certificate', async () => {
    const h = await harness();
    const rec = await h.manager.enroll({ mailbox: 'pay@example.com', owner: treasury, certificates: 'separate', policy: { renewal: { beforeDays: 10 } } }, { actor: 'a' });
    h.clock.set(at(100));
    const r = await h.manager.renew(rec.id, { actor: 'a', certificate: 'encryption' });
    expect(r.currentCredentialId).toBe(rec.currentCredentialId);
    expect(r.encryptionCredentialId).not.toBe(rec.encryptionCredentialId);
    expect((await h.manager.decryptionKeys(rec.id)).length).toBe(2);
    h.events.length = 0;
    // Day 360: the signing certificate (from day 0) is in its 10-day window; the encryption one (day 100) is not.
    h.clock.set(at(360));
    const plan = await planDue(h.store, at(360));
    expect(plan.steps).toEqual([{ identityId: rec.id, action: 'renew', certificate: 'signing', reason: '5 days left, renewal at 10 days' }]);
    const s = await h.manager.runDue();
    expect([s.renewed, s.failed]).toEqual([[rec.id], []]);
    const after = await h.manager.get(rec.id);
    expect(after.currentCredentialId).not.toBe(rec.currentCredentialId);
    expect(after.encryptionCredentialId).toBe(r.encryptionCredentialId);
    expect(after.notAfter).toEqual(at(465));
    expect(h.events.map((e) => `${e.type} ${roleOf(e)}`)).toEqual(['certificate.issued signing', 'certificate.renewed signing']);
    // The signing key never enters the history.
    expect((await h.manager.decryptionKeys(rec.id)).length).toBe(2);
    // The encryption certificate (notAfter day 465) gets its own 30-day notice at day 436; the signing one (day 725) none.
    h.events.length = 0;
    h.clock.set(at(436));
    const n = await h.manager.runDue();
    expect([n.renewed, n.notices]).toEqual([[], [{ identityId: rec.id, noticeKey: 'expiring:30', daysLeft: 29 }]]);
    expect(h.events.map((e) => `${e.type} ${roleOf(e)}`)).toEqual(['certificate.expiring encryption']);
    expect((await h.manager.runDue()).notices).toEqual([]);
  });

  it('both certificates due: when one is recorded the identity stays due now (not after retryDelayMs), so a sweep at the same time renews the other if the process died in between', async () => {
    const h = await harness();
    const rec = await h.manager.enroll({ mailbox: 'both@example.com', owner: treasury, certificates: 'separate', policy: { renewal: { beforeDays: 10 } } }, { actor: 'a' });
    h.clock.set(at(360));
    // What a run-due process killed after the signing certificate was recorded leaves behind.
    const half = await h.manager.renew(rec.id, { actor: 'a', certificate: 'signing' });
    expect([half.encryptionCredentialId, half.nextDueAt]).toEqual([rec.encryptionCredentialId, at(360)]);
    expect((await planDue(h.store, at(360))).steps).toEqual([{ identityId: rec.id, action: 'renew', certificate: 'encryption', reason: '5 days left, renewal at 10 days' }]);
    const s = await h.manager.runDue(at(360));
    expect([s.renewed, s.failed]).toEqual([[rec.id], []]);
    const done = await h.manager.get(rec.id);
    expect(done.encryptionCredentialId).not.toBe(rec.encryptionCredentialId);
    expect(done.nextDueAt!.getTime()).toBeGreaterThan(at(360).getTime());
    expect((await h.manager.runDue(at(360))).scanned).toBe(0);
    expect(h.ca.local.issued.length).toBe(4);
  });

  it('renew refuses a role on a one-certificate identity (ERR_INVALID_INPUT naming certificate)', async () => {
    const h = await harness();
    const one = await h.manager.enroll({ mailbox: 'one@example.com', owner: treasury }, { actor: 'a' });
    await expect(h.manager.renew(one.id, { actor: 'a', certificate: 'encryption' })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'certificate' } });
    await expect(h.manager.revoke(one.id, { actor: 'a', reason: 'superseded', certificate: 'signing' })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'certificate' } });
  });
});

describe('separate certificates: revoke and decommission', () => {
  it('revoke the encryption certificate only: the identity signs on, nobody can encrypt to it, the sweep does not reissue it; renew it with a new key', async () => {
    const h = await harness();
    const rec = await h.manager.enroll({ mailbox: 'pay@example.com', owner: treasury, certificates: 'separate' }, { actor: 'a' });
    const [, enc] = await h.manager.credentials(rec.id);
    h.events.length = 0;
    const r = await h.manager.revoke(rec.id, { actor: 'sec', reason: 'keyCompromise', certificate: 'encryption' });
    expect(r.status).toBe('active');
    expect(h.events.map((e) => `${e.type} ${roleOf(e)}`)).toEqual(['certificate.revoked encryption']);
    expect(h.ca.local.ocspStatus(enc!.serialNumber!).status).toBe('revoked');
    expect(await h.manager.getSigner(rec.id)).toBeDefined();
    await expect(h.manager.getEncryptionCertificate(rec.id)).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });
    // Kept for mail already encrypted to it.
    expect((await h.manager.getDecryptor(rec.id, { actor: 'g', reason: 'r' })).length).toBe(1);
    expect((await h.manager.runDue(at(1))).renewed).toEqual([]);
    expect(h.ca.issueCalls).toBe(2);
    const renewed = await h.manager.renew(rec.id, { actor: 'sec', certificate: 'encryption' });
    const creds = await h.manager.credentials(rec.id);
    expect(creds.map((c) => `${c.attributes?.certificate} ${c.status}`)).toEqual(['signing current', 'encryption revoked', 'encryption current']);
    expect(creds[2]!.keyId).not.toBe(enc!.keyId);
    expect(renewed.encryptionCredentialId).toBe(creds[2]!.id);
    await expect(h.manager.revoke(rec.id, { actor: 'sec', reason: 'superseded', certificate: 'encryption' })).resolves.toMatchObject({ status: 'active' });
    await expect(h.manager.revoke(rec.id, { actor: 'sec', reason: 'superseded', certificate: 'encryption' })).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });
  });

  it('revoke all (default): both revoked at the CA, the identity revoked; audited once per certificate', async () => {
    const h = await harness();
    const rec = await h.manager.enroll({ mailbox: 'pay@example.com', owner: treasury, certificates: 'separate' }, { actor: 'a' });
    const r = await h.manager.revoke(rec.id, { actor: 'sec', reason: 'superseded' });
    expect(r.status).toBe('revoked');
    for (const c of await h.manager.credentials(rec.id)) {
      expect(c.status).toBe('revoked');
      expect(h.ca.local.ocspStatus(c.serialNumber!).status).toBe('revoked');
    }
    expect((await auditActions(h.store)).filter((a) => a === 'certificate.revoked').length).toBe(2);
  });

  it('decommission: both certificates revoked, the signing key destroyed at once, the encryption key kept until retention ends', async () => {
    const h = await harness();
    const rec = await h.manager.enroll({ mailbox: 'pay@example.com', owner: treasury, certificates: 'separate' }, { actor: 'a' });
    const [sign, enc] = await h.manager.credentials(rec.id);
    h.events.length = 0;
    await h.manager.decommission(rec.id, { actor: 'a', reason: 'left' });
    expect(h.events.map((e) => `${e.type} ${roleOf(e) ?? '-'}`)).toEqual(['certificate.revoked signing', 'certificate.revoked encryption', 'identity.decommissioned signing']);
    expect(h.events.at(-1)!.data).toMatchObject({ keysDestroyed: 1, decryptionKeysKept: 1 });
    expect(await h.store.transaction((tx) => tx.getKey(sign!.keyId!))).toBeUndefined();
    expect(await h.store.transaction((tx) => tx.getKey(enc!.keyId!))).toBeDefined();
    await expect(h.manager.getSigner(rec.id)).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });
    expect((await h.manager.getDecryptor(rec.id, { actor: 'g', reason: 'r' })).length).toBe(1);
    const retainUntil = (await h.manager.decryptionKeys(rec.id))[0]!.retainUntil;
    expect(retainUntil).toEqual(new Date(enc!.notAfter.getTime() + 2555 * DAY));
  });
});
