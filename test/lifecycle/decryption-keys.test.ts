/**
 * Identity use and the decryption-key history (issue 12 item 5): keyUsage by use, keys kept after
 * renewal, rekey and decommission until retention ends, destroyed once by the sweep, handed out
 * (getDecryptor) and exported (.p12) only with an audit record.
 */
import { constants, publicEncrypt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseCertificate } from '../../src/certs/index.js';
import { planDue } from '../../src/lifecycle/index.js';
import { importDecryptionKeyFromPkcs12, importDecryptionKeysFromPkcs12 } from '../../src/cms/index.js';
import { decryptMessage, encryptMessage } from '../../src/smime/index.js';
import { toBase64, toHex } from '../../src/internal/bytes.js';
import { describeWithPeers, run, runStatus, tempDir } from '../helpers/peers.js';
import { DAY, auditActions, brief, harness, keyProtector } from './helpers.js';
import { readFileSync, writeFileSync } from 'node:fs';

const treasury = { team: 'treasury' };
const toPem = (der: Uint8Array) => `-----BEGIN CERTIFICATE-----\n${toBase64(der).replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;

describe('identity use', () => {
  it('encryption (RSA): keyEncipherment only; getSigner refuses; the key enters the history until notAfter + 2555 days', async () => {
    const h = await harness();
    const rec = await h.manager.enroll({ mailbox: 'legal@example.com', owner: treasury, use: 'encryption', keyType: 'rsa-2048' }, { actor: 'alice' });
    expect(rec.use).toBe('encryption');
    const [cred] = await h.manager.credentials(rec.id);
    expect(parseCertificate(cred!.certificate!).keyUsage).toEqual(['keyEncipherment']);
    await expect(h.manager.getSigner(rec.id)).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE', details: { use: 'encryption' } });
    expect(await h.manager.decryptionKeys(rec.id)).toEqual([
      { credentialId: cred!.id, serialNumber: cred!.serialNumber, notAfter: cred!.notAfter, createdAt: h.clock(), retainUntil: new Date(cred!.notAfter.getTime() + 2555 * DAY), ownerTeam: 'treasury' },
    ]);
    expect((await h.store.listAudit()).at(-1)!.after).toMatchObject({ decryptionKeyRetainUntil: new Date(cred!.notAfter.getTime() + 2555 * DAY).toISOString() });
  });

  it('signing: digitalSignature only and no history (getDecryptor: ERR_IDENTITY_STATE); both (EC): digitalSignature + keyAgreement', async () => {
    const h = await harness();
    const s = await h.manager.enroll({ mailbox: 'sign@example.com', owner: treasury, use: 'signing' }, { actor: 'a' });
    expect(parseCertificate((await h.manager.credentials(s.id))[0]!.certificate!).keyUsage).toEqual(['digitalSignature']);
    expect(await h.manager.decryptionKeys(s.id)).toEqual([]);
    await expect(h.manager.getDecryptor(s.id, { actor: 'a', reason: 'r' })).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });
    const b = await h.manager.enroll({ mailbox: 'both@example.com', owner: treasury }, { actor: 'a' });
    expect(b.use).toBe('both');
    expect(parseCertificate((await h.manager.credentials(b.id))[0]!.certificate!).keyUsage).toEqual(['digitalSignature', 'keyAgreement']);
    expect(await h.manager.getSigner(b.id)).toBeDefined();
  });

  it('refuses encryption with an Ed25519 key (ERR_INVALID_INPUT naming keyType) and an unknown use', async () => {
    const h = await harness({ policy: { allowedDomainsByOwner: { treasury: ['example.com'] }, allowedKeyTypes: ['ed25519', 'ec-p256'] } });
    await expect(h.manager.enroll({ mailbox: 'x@example.com', owner: treasury, use: 'encryption', keyType: 'ed25519' }, { actor: 'a' })).rejects.toMatchObject({
      code: 'ERR_INVALID_INPUT',
      details: { field: 'keyType' },
    });
    await expect(h.manager.enroll({ mailbox: 'x@example.com', owner: treasury, use: 'sealing' as never }, { actor: 'a' })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'use' } });
    expect(await h.manager.list()).toEqual([]);
  });
});

describe('getDecryptor', () => {
  it('RSA: a non-extractable RSA-OAEP key that opens what was encrypted to the certificate, and a rawRsaDecrypt that undoes PKCS#1 v1.5; audited with actor, reason and which certificate', async () => {
    const h = await harness();
    const rec = await h.manager.enroll({ mailbox: 'legal@example.com', owner: treasury, use: 'encryption', keyType: 'rsa-2048' }, { actor: 'alice' });
    const [cred] = await h.manager.credentials(rec.id);
    const keys = await h.manager.getDecryptor('legal@example.com', { actor: 'gateway', reason: 'inbound mail' });
    expect(keys).toHaveLength(1);
    const [k] = keys;
    expect(k!.privateKey.extractable).toBe(false);
    expect(k!.privateKey.algorithm).toMatchObject({ name: 'RSA-OAEP', hash: { name: 'SHA-256' } });
    expect(k!.certificate.der).toEqual(cred!.certificate);
    const pem = toPem(cred!.certificate!);
    const cek = new Uint8Array(32).fill(7);
    const oaep = publicEncrypt({ key: pem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, cek);
    expect(new Uint8Array(await crypto.subtle.decrypt({ name: 'RSA-OAEP' }, k!.privateKey, oaep))).toEqual(cek);
    // PKCS#1 v1.5: the raw operation gives EM = 00 02 PS 00 M; the padding check is the caller's.
    const v15 = publicEncrypt({ key: pem, padding: constants.RSA_PKCS1_PADDING }, cek);
    const em = await k!.rawRsaDecrypt!(new Uint8Array(v15));
    expect(em.length).toBe(256);
    expect([em[0], em[1]]).toEqual([0, 2]);
    expect(em.slice(256 - 33)).toEqual(new Uint8Array([0, ...cek]));
    await expect(k!.rawRsaDecrypt!(new Uint8Array(255))).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    await expect(k!.rawRsaDecrypt!(new Uint8Array(256).fill(0xff))).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    const last = (await h.store.listAudit()).at(-1)!;
    expect(last).toMatchObject({ actor: 'gateway', action: 'decryption-keys.used', reason: 'inbound mail', identityId: rec.id });
    expect(last.after).toEqual({ keys: [{ credentialId: cred!.id, serialNumber: cred!.serialNumber, retainUntil: new Date(cred!.notAfter.getTime() + 2555 * DAY).toISOString() }] });
    await expect(h.manager.getDecryptor(rec.id, { actor: 'gateway', reason: '' })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'reason' } });
  });

  it('EC: every key of the history after rekeyed renewals, newest first, each an ECDH key matching its certificate', async () => {
    const h = await harness();
    const rec = await h.manager.enroll({ mailbox: 'both@example.com', owner: treasury }, { actor: 'a' });
    h.clock.advanceDays(100);
    await h.manager.renew(rec.id, { actor: 'a' });
    h.clock.advanceDays(100);
    await h.manager.renew(rec.id, { actor: 'a', rekey: false });
    const creds = await h.manager.credentials(rec.id);
    expect(creds).toHaveLength(3);
    const keys = await h.manager.getDecryptor(rec.id, { actor: 'a', reason: 'archive search' });
    expect(keys.map((k) => k.certificate.serialNumber)).toEqual([...creds].reverse().map((c) => c.serialNumber));
    for (const k of keys) {
      expect(k.privateKey).toMatchObject({ extractable: false, algorithm: { name: 'ECDH', namedCurve: 'P-256' } });
      expect(k.rawRsaDecrypt).toBeUndefined();
      // Ephemeral-static agreement: the sender's view equals the key holder's.
      const eph = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
      const recipient = await crypto.subtle.importKey('spki', k.certificate.publicKey.spki.slice(), { name: 'ECDH', namedCurve: 'P-256' }, false, []);
      const sender = await crypto.subtle.deriveBits({ name: 'ECDH', public: recipient }, eph.privateKey, 256);
      const holder = await crypto.subtle.deriveBits({ name: 'ECDH', public: eph.publicKey }, k.privateKey, 256);
      expect(new Uint8Array(holder)).toEqual(new Uint8Array(sender));
    }
  });
});

describe('retention', () => {
  it('decommission stops signing at once, keeps the decryption keys until retention ends; the sweep then destroys each once, with an event to the owner and an audit record', async () => {
    const h = await harness({ policy: { decryptionKeyRetentionDays: 0 } }); // the override lengthens it
    const rec = await h.manager.enroll({ mailbox: 'legal@example.com', owner: treasury, policy: { validityDays: 100, decryptionKeyRetentionDays: 30 } }, { actor: 'a' });
    h.clock.advanceDays(80);
    await h.manager.renew(rec.id, { actor: 'a' });
    const creds = await h.manager.credentials(rec.id);
    h.clock.advanceDays(1);
    const gone = await h.manager.decommission(rec.id, { actor: 'owner', reason: 'team dissolved' });
    await expect(h.manager.getSigner(rec.id)).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });
    expect(h.events.at(-1)!.data).toEqual({ reason: 'team dissolved', revoked: true, keysDestroyed: 0, decryptionKeysKept: 2 });
    const retainUntil = creds.map((c) => new Date(c.notAfter.getTime() + 30 * DAY));
    expect(gone.nextDueAt).toEqual(retainUntil[0]);
    expect(await h.manager.getDecryptor(rec.id, { actor: 'legal', reason: 'discovery' })).toHaveLength(2);

    // Before the first retention ends: nothing. At it: the first key only.
    expect((await h.manager.runDue(new Date(retainUntil[0]!.getTime() - 1))).decryptionKeysDestroyed).toEqual([]);
    expect((await planDue(h.store, retainUntil[0]!)).steps).toEqual([
      { identityId: rec.id, action: 'destroy-decryption-key', reason: `credential ${creds[0]!.id}: retention ended ${retainUntil[0]!.toISOString()}` },
      { identityId: rec.id, action: 'nothing', reason: 'identity is decommissioned' },
    ]);
    h.events.length = 0;
    const first = await h.manager.runDue(retainUntil[0]!);
    expect(first.decryptionKeysDestroyed).toEqual([{ identityId: rec.id, credentialId: creds[0]!.id }]);
    expect(brief(h.events)).toEqual(['decryption-key.destroyed legal@example.com']);
    expect(h.events[0]).toMatchObject({ owner: treasury, certificate: { serialNumber: creds[0]!.serialNumber }, data: { retainUntil: retainUntil[0]!.toISOString(), keyDestroyed: true } });
    expect(await h.store.transaction((tx) => tx.getKey(creds[0]!.keyId!))).toBeUndefined();
    expect(await h.store.transaction((tx) => tx.getKey(creds[1]!.keyId!))).toBeDefined();
    expect((await h.manager.get(rec.id)).nextDueAt).toEqual(retainUntil[1]);
    expect((await h.manager.runDue(retainUntil[0]!)).decryptionKeysDestroyed).toEqual([]);
    expect((await h.manager.getDecryptor(rec.id, { actor: 'legal', reason: 'discovery' })).map((k) => k.certificate.serialNumber)).toEqual([creds[1]!.serialNumber]);

    h.events.length = 0;
    expect((await h.manager.runDue(retainUntil[1]!)).decryptionKeysDestroyed).toEqual([{ identityId: rec.id, credentialId: creds[1]!.id }]);
    expect(brief(h.events)).toEqual(['decryption-key.destroyed legal@example.com']);
    expect((await h.manager.get(rec.id)).nextDueAt).toBeUndefined();
    await expect(h.manager.getDecryptor(rec.id, { actor: 'legal', reason: 'discovery' })).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });
    expect((await h.manager.decryptionKeys(rec.id)).map((d) => d.destroyedAt)).toEqual(retainUntil);
    const actions = await auditActions(h.store);
    expect(actions.filter((a) => a === 'decryption-key.destroyed')).toHaveLength(2);
  });

  it('a key two certificates share (renewal without rekey) stays until the last of them ends its retention', async () => {
    const h = await harness({ policy: { decryptionKeyRetentionDays: 0 } }); // the override lengthens it
    const rec = await h.manager.enroll({ mailbox: 'shared@example.com', owner: treasury, policy: { validityDays: 100, decryptionKeyRetentionDays: 10, rekeyOnRenewal: false } }, { actor: 'a' });
    h.clock.advanceDays(80);
    await h.manager.renew(rec.id, { actor: 'a' });
    const creds = await h.manager.credentials(rec.id);
    expect(creds[0]!.keyId).toBe(creds[1]!.keyId);
    h.events.length = 0;
    await h.manager.runDue(new Date(creds[0]!.notAfter.getTime() + 10 * DAY));
    expect(h.events.filter((e) => e.type === 'decryption-key.destroyed').map((e) => e.data)).toEqual([{ retainUntil: new Date(creds[0]!.notAfter.getTime() + 10 * DAY).toISOString(), keyDestroyed: false }]);
    expect(await h.store.transaction((tx) => tx.getKey(creds[0]!.keyId!))).toBeDefined();
  });
});

describe('a mailbox enrolled again: each life keeps its own decryption keys (outside review of issue 12)', () => {
  const serials = (keys: Array<{ certificate: { serialNumber: string } }>) => keys.map((k) => k.certificate.serialNumber);

  it('another team takes the mailbox: getDecryptor gives the new holder only its own key; the previous owner reaches the old one with previousOwner, audited', async () => {
    const h = await harness();
    const old = await h.manager.enroll({ mailbox: 'legal@example.com', owner: treasury, use: 'encryption' }, { actor: 'a' });
    const [oldCred] = await h.manager.credentials(old.id);
    h.clock.advanceDays(10);
    await h.manager.decommission(old.id, { actor: 'owner', reason: 'employee left' });
    h.clock.advanceDays(1);
    const lifeEnded = h.clock();
    const fresh = await h.manager.enroll({ mailbox: 'legal@example.com', owner: { team: 'hr' }, use: 'encryption' }, { actor: 'b' });
    const newCred = (await h.manager.credentials(fresh.id)).find((c) => c.id === fresh.currentCredentialId)!;

    expect(serials(await h.manager.getDecryptor('legal@example.com', { actor: 'hr-gateway', reason: 'inbound mail' }))).toEqual([newCred.serialNumber]);
    expect((await h.store.listAudit()).at(-1)).toMatchObject({ action: 'decryption-keys.used', actor: 'hr-gateway', after: { keys: [{ serialNumber: newCred.serialNumber }] } });
    expect((await h.manager.decryptionKeys(fresh.id)).map((d) => [d.serialNumber, d.ownerTeam, d.lifeEndedAt])).toEqual([
      [oldCred!.serialNumber, 'treasury', lifeEnded],
      [newCred.serialNumber, 'hr', undefined],
    ]);

    const previous = await h.manager.getDecryptor('legal@example.com', { actor: 'treasury-recovery', reason: 'old contract mail', previousOwner: 'treasury' });
    expect(serials(previous)).toEqual([oldCred!.serialNumber]);
    expect((await h.store.listAudit()).at(-1)).toMatchObject({
      action: 'decryption-keys.used',
      actor: 'treasury-recovery',
      after: { keys: [{ serialNumber: oldCred!.serialNumber }], previousOwner: 'treasury' },
    });
    // The new holder is no earlier owner; an unknown team neither.
    for (const team of ['hr', 'sales'])
      await expect(h.manager.getDecryptor('legal@example.com', { actor: 'x', reason: 'r', previousOwner: team })).rejects.toMatchObject({
        code: 'ERR_IDENTITY_STATE',
        message: `legal@example.com holds no decryption key of an earlier life owned by ${team} (use encryption; destroyed keys are gone)`,
      });

    // Key recovery the same way: the default export is the new life's; previousOwner exports the old one, and says so.
    h.events.length = 0;
    const p12 = await h.manager.exportDecryptionKeys('legal@example.com', { actor: 'officer', reason: 'ticket 9', passphrase: 'pw-pw-pw-pw', iterations: 1000, previousOwner: 'treasury' });
    expect(serials(await importDecryptionKeysFromPkcs12(p12, 'pw-pw-pw-pw'))).toEqual([oldCred!.serialNumber]);
    expect(h.events.at(-1)).toMatchObject({ type: 'decryption-keys.exported', data: { serialNumbers: [oldCred!.serialNumber], previousOwner: 'treasury' } });
    const mine = await h.manager.exportDecryptionKeys('legal@example.com', { actor: 'officer', reason: 'ticket 10', passphrase: 'pw-pw-pw-pw', iterations: 1000 });
    expect(serials(await importDecryptionKeysFromPkcs12(mine, 'pw-pw-pw-pw'))).toEqual([newCred.serialNumber]);
  });

  it('the same team enrolling again starts empty too; a new signing-only life gets no key and is told why', async () => {
    const h = await harness();
    const old = await h.manager.enroll({ mailbox: 'legal@example.com', owner: treasury }, { actor: 'a' });
    const [oldCred] = await h.manager.credentials(old.id);
    await h.manager.decommission(old.id, { actor: 'a', reason: 'r' });
    h.clock.advanceDays(1);
    await h.manager.enroll({ mailbox: 'legal@example.com', owner: treasury, use: 'signing' }, { actor: 'a' });
    await expect(h.manager.getDecryptor('legal@example.com', { actor: 'g', reason: 'r' })).rejects.toMatchObject({
      code: 'ERR_IDENTITY_STATE',
      message: 'legal@example.com holds no decryption key (use signing; destroyed keys are gone; 1 kept from earlier lives of the mailbox are not handed to its current holder (previousOwner))',
    });
    expect(serials(await h.manager.getDecryptor('legal@example.com', { actor: 'g', reason: 'r', previousOwner: 'treasury' }))).toEqual([oldCred!.serialNumber]);
  });

  it('an earlier life\'s keys are still destroyed by the sweep when their retention ends; two re-enrollments keep each life apart', async () => {
    const h = await harness({ policy: { decryptionKeyRetentionDays: 10 } });
    const life1 = await h.manager.enroll({ mailbox: 'm@example.com', owner: treasury, use: 'encryption', policy: { validityDays: 30 } }, { actor: 'a' });
    const [c1] = await h.manager.credentials(life1.id);
    await h.manager.decommission(life1.id, { actor: 'a', reason: 'r' });
    h.clock.advanceDays(1);
    await h.manager.enroll({ mailbox: 'm@example.com', owner: { team: 'hr' }, use: 'encryption', policy: { validityDays: 300 } }, { actor: 'b' });
    const c2 = (await h.manager.credentials(life1.id)).at(-1)!;
    await h.manager.decommission(life1.id, { actor: 'b', reason: 'r' });
    h.clock.advanceDays(1);
    await h.manager.enroll({ mailbox: 'm@example.com', owner: treasury, use: 'encryption' }, { actor: 'c' });
    const c3 = (await h.manager.credentials(life1.id)).at(-1)!;
    expect((await h.manager.decryptionKeys(life1.id)).map((d) => [d.serialNumber, d.ownerTeam, d.lifeEndedAt !== undefined])).toEqual([
      [c1!.serialNumber, 'treasury', true],
      [c2.serialNumber, 'hr', true],
      [c3.serialNumber, 'treasury', false],
    ]);
    expect(serials(await h.manager.getDecryptor('m@example.com', { actor: 'g', reason: 'r' }))).toEqual([c3.serialNumber]);
    expect(serials(await h.manager.getDecryptor('m@example.com', { actor: 'g', reason: 'r', previousOwner: 'treasury' }))).toEqual([c1!.serialNumber]);
    expect(serials(await h.manager.getDecryptor('m@example.com', { actor: 'g', reason: 'r', previousOwner: 'hr' }))).toEqual([c2.serialNumber]);
    const sweep = await h.manager.runDue(new Date(c1!.notAfter.getTime() + 10 * DAY));
    expect(sweep.decryptionKeysDestroyed).toEqual([{ identityId: life1.id, credentialId: c1!.id }]);
    await expect(h.manager.getDecryptor('m@example.com', { actor: 'g', reason: 'r', previousOwner: 'treasury' })).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });
  });
});

describe('retention overrides (outside review of issue 12: an enrollment could shorten the organisation\'s retention)', () => {
  it('enroll({ policy: { decryptionKeyRetentionDays: 0 } }) under a 2555-day manager policy: ERR_POLICY_DENIED, policy.denied, nothing created', async () => {
    const h = await harness({ policy: { decryptionKeyRetentionDays: 2555 } });
    const input = { mailbox: 'legal@example.com', owner: treasury, use: 'encryption' as const, keyType: 'ec-p256' as const, policy: { decryptionKeyRetentionDays: 0 } };
    await expect(h.manager.enroll(input, { actor: 'legal-intern' })).rejects.toMatchObject({
      code: 'ERR_POLICY_DENIED',
      message: "policy decryptionKeyRetentionDays: an identity may keep decryption keys longer than the manager's 2555 days, not shorter (asked: 0)",
      details: { rule: 'decryptionKeyRetentionDays' },
    });
    expect(brief(h.events)).toEqual(['policy.denied legal@example.com']);
    expect(h.events[0]!.data).toMatchObject({ code: 'ERR_POLICY_DENIED', rule: 'decryptionKeyRetentionDays', operation: 'enroll' });
    expect(await auditActions(h.store)).toEqual(['policy.denied']);
    await expect(h.manager.get('legal@example.com')).rejects.toMatchObject({ code: 'ERR_IDENTITY_NOT_FOUND' });
    expect(h.ca.issueCalls).toBe(0);
  });

  it('a longer override holds (notAfter + 3000 days); equal is fine', async () => {
    const h = await harness({ policy: { decryptionKeyRetentionDays: 2555 } });
    const rec = await h.manager.enroll({ mailbox: 'legal@example.com', owner: treasury, use: 'encryption', policy: { decryptionKeyRetentionDays: 3000 } }, { actor: 'a' });
    const [cred] = await h.manager.credentials(rec.id);
    expect((await h.manager.decryptionKeys(rec.id))[0]!.retainUntil).toEqual(new Date(cred!.notAfter.getTime() + 3000 * DAY));
    const same = await h.manager.enroll({ mailbox: 'same@example.com', owner: treasury, use: 'encryption', policy: { decryptionKeyRetentionDays: 2555 } }, { actor: 'a' });
    expect(same.status).toBe('active');
  });

  it('an override stored earlier that is shorter than the manager\'s policy now (policy made stricter) does not shorten a new key\'s retention', async () => {
    const h = await harness({ policy: { decryptionKeyRetentionDays: 10 } });
    const rec = await h.manager.enroll({ mailbox: 'legal@example.com', owner: treasury, use: 'encryption', policy: { decryptionKeyRetentionDays: 30 } }, { actor: 'a' });
    const stricter = h.make({ policy: { decryptionKeyRetentionDays: 2555 } });
    await stricter.renew(rec.id, { actor: 'a' });
    const creds = await h.manager.credentials(rec.id);
    expect((await stricter.decryptionKeys(rec.id)).map((d) => d.retainUntil)).toEqual([
      new Date(creds[0]!.notAfter.getTime() + 30 * DAY), // fixed when recorded
      new Date(creds[1]!.notAfter.getTime() + 2555 * DAY),
    ]);
  });

  it('overrides may not allow a key type the manager does not, nor lower minRsaBits (ERR_POLICY_DENIED naming the rule)', async () => {
    const h = await harness({ policy: { allowedKeyTypes: ['ec-p256'], minRsaBits: 3072 } });
    await expect(
      h.manager.enroll({ mailbox: 'a@example.com', owner: treasury, keyType: 'rsa-2048', policy: { allowedKeyTypes: ['rsa-2048'], minRsaBits: 2048 } }, { actor: 'a' }),
    ).rejects.toMatchObject({ code: 'ERR_POLICY_DENIED', details: { rule: 'allowedKeyTypes' } });
    await expect(h.manager.enroll({ mailbox: 'b@example.com', owner: treasury, policy: { minRsaBits: 2048 } }, { actor: 'a' })).rejects.toMatchObject({
      code: 'ERR_POLICY_DENIED',
      details: { rule: 'minRsaBits' },
    });
    // Narrowing is fine.
    expect((await h.manager.enroll({ mailbox: 'c@example.com', owner: treasury, policy: { allowedKeyTypes: ['ec-p256'], minRsaBits: 4096 } }, { actor: 'a' })).status).toBe('active');
  });
});

describe('exportDecryptionKeys', () => {
  it('one .p12 of the kept history, audited by the named actor and told to the owner; no key or passphrase in events or audit', async () => {
    const h = await harness();
    const rec = await h.manager.enroll({ mailbox: 'legal@example.com', owner: treasury, use: 'encryption' }, { actor: 'a' });
    h.clock.advanceDays(100);
    await h.manager.renew(rec.id, { actor: 'a' });
    const creds = await h.manager.credentials(rec.id);
    const passphrase = 'recovery passphrase 9';
    const p12 = await h.manager.exportDecryptionKeys(rec.id, { actor: 'key-recovery-officer', reason: 'ticket SEC-42', passphrase, iterations: 2000 });
    expect(p12[0]).toBe(0x30);
    expect(h.events.at(-1)).toMatchObject({ type: 'decryption-keys.exported', owner: treasury, data: { actor: 'key-recovery-officer', reason: 'ticket SEC-42', serialNumbers: creds.map((c) => c.serialNumber) } });
    expect((await h.store.listAudit()).at(-1)).toMatchObject({ actor: 'key-recovery-officer', action: 'decryption-keys.exported', reason: 'ticket SEC-42' });
    await expect(h.manager.exportDecryptionKeys(rec.id, { actor: '', reason: 'x', passphrase })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'actor' } });
    // What a leak would look like: the stored keys' PKCS#8, in hex or base64, anywhere in the outbox or audit log.
    const everything = JSON.stringify([await h.store.listAudit(), await h.store.listEvents({})]);
    expect(everything).not.toContain(passphrase);
    for (const c of creds) {
      const key = await h.store.transaction((tx) => tx.getKey(c.keyId!));
      const pkcs8 = await keyProtector().unprotect(key!.protectedKey);
      expect(everything).not.toContain(toHex(pkcs8.slice(-32)));
      expect(everything).not.toContain(toBase64(pkcs8).slice(-40));
    }
  });
});

describe('exportDecryptionKeys and a key that also signs (outside review of issue 12: key recovery escrowed the live signing key)', () => {
  it('one dual-use certificate (use both): refused with ERR_KEY_EXPORT_REFUSED naming the certificate; nothing exported, audited or told', async () => {
    const h = await harness();
    const rec = await h.manager.enroll({ mailbox: 'cfo@example.com', owner: treasury }, { actor: 'a' });
    const [cred] = await h.manager.credentials(rec.id);
    h.events.length = 0;
    const before = (await h.store.listAudit()).length;
    const err = await h.manager.exportDecryptionKeys('cfo@example.com', { actor: 'recovery-officer', reason: 'ticket 1', passphrase: 'pw-pw-pw-pw', iterations: 1000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_KEY_EXPORT_REFUSED', details: { identityId: rec.id, serialNumbers: [cred!.serialNumber] } });
    expect((err as Error).message).toContain(`the decryption key of cfo@example.com also signs for its current certificate (${cred!.serialNumber}, one certificate for signing and encryption)`);
    expect(h.events).toEqual([]);
    expect((await h.store.listAudit()).length).toBe(before);
  });

  it('includeLiveSigningKey: true exports it, and the audit record and the owner\'s event name the live signing key', async () => {
    const h = await harness();
    const rec = await h.manager.enroll({ mailbox: 'cfo@example.com', owner: treasury }, { actor: 'a' });
    const [cred] = await h.manager.credentials(rec.id);
    const p12 = await h.manager.exportDecryptionKeys(rec.id, { actor: 'officer', reason: 'ticket 2', passphrase: 'pw-pw-pw-pw', iterations: 1000, includeLiveSigningKey: true });
    expect((await importDecryptionKeysFromPkcs12(p12, 'pw-pw-pw-pw')).map((k) => k.certificate.serialNumber)).toEqual([cred!.serialNumber]);
    expect(h.events.at(-1)).toMatchObject({ type: 'decryption-keys.exported', data: { actor: 'officer', liveSigningKeys: [cred!.serialNumber] } });
    expect((await h.store.listAudit()).at(-1)).toMatchObject({ action: 'decryption-keys.exported', after: { liveSigningKeys: [cred!.serialNumber] } });
    await expect(h.manager.exportDecryptionKeys(rec.id, { actor: 'o', reason: 'r', passphrase: 'p', includeLiveSigningKey: 'yes' as never })).rejects.toMatchObject({
      code: 'ERR_INVALID_INPUT',
      details: { field: 'includeLiveSigningKey' },
    });
  });

  it('a renewal without a new key shares the live key: refused naming both; after revocation or decommission no key signs and the export needs no flag', async () => {
    const h = await harness();
    const rec = await h.manager.enroll({ mailbox: 'cfo@example.com', owner: treasury, policy: { rekeyOnRenewal: false } }, { actor: 'a' });
    h.clock.advanceDays(340);
    await h.manager.renew(rec.id, { actor: 'a' });
    const creds = await h.manager.credentials(rec.id);
    await expect(h.manager.exportDecryptionKeys(rec.id, { actor: 'o', reason: 'r', passphrase: 'pw-pw-pw-pw', iterations: 1000 })).rejects.toMatchObject({
      code: 'ERR_KEY_EXPORT_REFUSED',
      details: { serialNumbers: creds.map((c) => c.serialNumber) },
    });
    await h.manager.decommission(rec.id, { actor: 'a', reason: 'left' });
    const p12 = await h.manager.exportDecryptionKeys(rec.id, { actor: 'o', reason: 'r', passphrase: 'pw-pw-pw-pw', iterations: 1000 });
    expect((await importDecryptionKeysFromPkcs12(p12, 'pw-pw-pw-pw')).map((k) => k.certificate.serialNumber)).toEqual(creds.map((c) => c.serialNumber));
    expect((await h.store.listAudit()).at(-1)!.after).not.toHaveProperty('liveSigningKeys');
  });

  it('separate certificates and encryption-only identities export without the flag (their kept keys cannot sign)', async () => {
    const h = await harness();
    const sep = await h.manager.enroll({ mailbox: 'pay@example.com', owner: treasury, certificates: 'separate' }, { actor: 'a' });
    const enc = await h.manager.enroll({ mailbox: 'legal@example.com', owner: treasury, use: 'encryption', keyType: 'rsa-2048' }, { actor: 'a' });
    for (const id of [sep.id, enc.id]) expect((await h.manager.exportDecryptionKeys(id, { actor: 'o', reason: 'r', passphrase: 'pw-pw-pw-pw', iterations: 1000 }))[0]).toBe(0x30);
  });

  it('a key whose certificate expired is no longer live (the renewed current one is): the export of an expired-only history needs no flag', async () => {
    const h = await harness();
    const rec = await h.manager.enroll({ mailbox: 'cfo@example.com', owner: treasury, policy: { validityDays: 30, renewal: {} } }, { actor: 'a' });
    h.clock.advanceDays(31);
    expect((await h.manager.exportDecryptionKeys(rec.id, { actor: 'o', reason: 'r', passphrase: 'pw-pw-pw-pw', iterations: 1000 }))[0]).toBe(0x30);
  });
});

describe('a recovery .p12 read back (outside review of issue 12: mailpki could not read its own multi-key export)', () => {
  it('importDecryptionKeysFromPkcs12 gives every key with its own certificate (rekeyed, and a shared key after renewal without rekey); mail to each opens; importDecryptionKeyFromPkcs12 says to use it', async () => {
    const h = await harness();
    const rec = await h.manager.enroll({ mailbox: 'legal@example.com', owner: treasury, use: 'encryption', keyType: 'ec-p256', policy: { validityDays: 100 } }, { actor: 'a' });
    h.clock.advanceDays(80);
    await h.manager.renew(rec.id, { actor: 'a', rekey: true });
    h.clock.advanceDays(80);
    await h.manager.renew(rec.id, { actor: 'a', rekey: false });
    const creds = await h.manager.credentials(rec.id);
    expect(new Set(creds.map((c) => c.keyId)).size).toBe(2);
    const p12 = await h.manager.exportDecryptionKeys(rec.id, { actor: 'officer', reason: 'ticket 7', passphrase: 'correct horse', iterations: 1000 });
    const keys = await importDecryptionKeysFromPkcs12(p12, 'correct horse');
    expect(keys.map((k) => k.certificate.serialNumber)).toEqual(creds.map((c) => c.serialNumber));
    for (const c of creds) {
      const mail = await encryptMessage('To: legal@example.com\r\nSubject: s\r\nContent-Type: text/plain\r\n\r\nold mail\r\n', [c.certificate!], { at: c.notBefore });
      expect((await decryptMessage(mail, { keys })).certificate.serialNumber).toBe(c.serialNumber);
    }
    await expect(importDecryptionKeyFromPkcs12(p12, 'correct horse')).rejects.toMatchObject({
      code: 'ERR_PKCS12_CONTENT',
      message: 'PKCS#12 file holds 3 private keys; exactly one is expected (a key-recovery export: read it with importDecryptionKeysFromPkcs12, or --p12 on the command line)',
    });
    await expect(importDecryptionKeysFromPkcs12(p12, 'wrong horse')).rejects.toMatchObject({ code: 'ERR_PKCS12_MAC_INVALID' });
  });
});

describeWithPeers('exportDecryptionKeys with OpenSSL', ['openssl'], () => {
  it('openssl pkcs12 reads every key and certificate of the export; a wrong passphrase fails', async () => {
    const h = await harness();
    const rec = await h.manager.enroll({ mailbox: 'legal@example.com', owner: treasury, use: 'encryption', keyType: 'rsa-2048' }, { actor: 'a' });
    h.clock.advanceDays(100);
    await h.manager.renew(rec.id, { actor: 'a' });
    const p12 = await h.manager.exportDecryptionKeys(rec.id, { actor: 'officer', reason: 'recovery', passphrase: 'pw-123456', iterations: 2000 });
    const t = tempDir();
    try {
      const file = t.path('keys.p12');
      writeFileSync(file, p12);
      const out = run('openssl', ['pkcs12', '-in', file, '-passin', 'pass:pw-123456', '-nodes']);
      expect(out.match(/-----BEGIN PRIVATE KEY-----/g)).toHaveLength(2);
      expect(out.match(/-----BEGIN CERTIFICATE-----/g)!.length).toBeGreaterThanOrEqual(2);
      expect(runStatus('openssl', ['pkcs12', '-in', file, '-passin', 'pass:wrong', '-nodes']).status).not.toBe(0);

      // The other way: what OpenSSL encrypts to either certificate opens with the keys read back from the export; an altered message does not.
      const keys = await importDecryptionKeysFromPkcs12(p12, 'pw-123456');
      const creds = await h.manager.credentials(rec.id);
      expect(keys.map((k) => k.certificate.serialNumber)).toEqual(creds.map((c) => c.serialNumber));
      writeFileSync(t.path('plain.eml'), 'Content-Type: text/plain\r\n\r\nmail of 2026\r\n');
      for (const [i, c] of creds.entries()) {
        writeFileSync(t.path(`c${i}.pem`), toPem(c.certificate!));
        run('openssl', ['cms', '-encrypt', '-aes-256-gcm', '-recip', t.path(`c${i}.pem`), '-in', t.path('plain.eml'), '-out', t.path(`m${i}.eml`)]);
        const opened = await decryptMessage(readFileSync(t.path(`m${i}.eml`)), { keys });
        expect([Buffer.from(opened.entity).toString(), opened.recipientIndex, opened.certificate.serialNumber]).toEqual(['Content-Type: text/plain\r\n\r\nmail of 2026\r\n', 0, c.serialNumber]);
      }
      // One bit of the authentication tag (the last bytes of the AuthEnvelopedData) flipped.
      const [head, body] = readFileSync(t.path('m0.eml'), 'latin1').split(/\r?\n\r?\n/, 2) as [string, string];
      const der = Buffer.from(body.replace(/\s+/g, ''), 'base64');
      der[der.length - 1]! ^= 1;
      await expect(decryptMessage(`${head}\n\n${der.toString('base64')}\n`, { keys })).rejects.toMatchObject({ code: 'ERR_CMS_DECRYPTION_FAILED' });
    } finally {
      t.cleanup();
    }
  });
});

describeWithPeers('getDecryptor keys against OpenSSL', ['openssl'], () => {
  it('what openssl pkeyutl encrypts to the certificate (RSA-OAEP SHA-256, PKCS#1 v1.5) and derives (ECDH P-256) the handed-out keys open; a changed byte fails', async () => {
    const h = await harness();
    const rsa = await h.manager.enroll({ mailbox: 'rsa@example.com', owner: treasury, use: 'encryption', keyType: 'rsa-2048' }, { actor: 'a' });
    const ec = await h.manager.enroll({ mailbox: 'ec@example.com', owner: treasury, use: 'encryption' }, { actor: 'a' });
    const t = tempDir();
    try {
      const [rsaKey] = await h.manager.getDecryptor(rsa.id, { actor: 'a', reason: 'interop' });
      writeFileSync(t.path('rsa.pem'), toPem(rsaKey!.certificate.der));
      const cek = new Uint8Array(32).map((_, i) => i + 1);
      writeFileSync(t.path('cek'), cek);
      run('openssl', ['pkeyutl', '-encrypt', '-certin', '-inkey', t.path('rsa.pem'), '-in', t.path('cek'), '-out', t.path('oaep'), '-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', 'rsa_oaep_md:sha256', '-pkeyopt', 'rsa_mgf1_md:sha256']);
      const oaep = new Uint8Array(readFileSync(t.path('oaep')));
      expect(new Uint8Array(await crypto.subtle.decrypt({ name: 'RSA-OAEP' }, rsaKey!.privateKey, oaep))).toEqual(cek);
      oaep[100] = oaep[100]! ^ 1;
      await expect(crypto.subtle.decrypt({ name: 'RSA-OAEP' }, rsaKey!.privateKey, oaep)).rejects.toThrow();
      run('openssl', ['pkeyutl', '-encrypt', '-certin', '-inkey', t.path('rsa.pem'), '-in', t.path('cek'), '-out', t.path('v15'), '-pkeyopt', 'rsa_padding_mode:pkcs1']);
      const em = await rsaKey!.rawRsaDecrypt!(new Uint8Array(readFileSync(t.path('v15'))));
      expect(em.slice(-33)).toEqual(new Uint8Array([0, ...cek]));

      const [ecKey] = await h.manager.getDecryptor(ec.id, { actor: 'a', reason: 'interop' });
      writeFileSync(t.path('ec.pem'), toPem(ecKey!.certificate.der));
      run('openssl', ['x509', '-in', t.path('ec.pem'), '-pubkey', '-noout', '-out', t.path('ec-pub.pem')]);
      run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', t.path('eph.pem')]);
      run('openssl', ['pkey', '-in', t.path('eph.pem'), '-pubout', '-outform', 'DER', '-out', t.path('eph-pub.der')]);
      run('openssl', ['pkeyutl', '-derive', '-inkey', t.path('eph.pem'), '-peerkey', t.path('ec-pub.pem'), '-out', t.path('z')]);
      const ephPub = await crypto.subtle.importKey('spki', new Uint8Array(readFileSync(t.path('eph-pub.der'))), { name: 'ECDH', namedCurve: 'P-256' }, false, []);
      const z = new Uint8Array(await crypto.subtle.deriveBits({ name: 'ECDH', public: ephPub }, ecKey!.privateKey, 256));
      expect(z).toEqual(new Uint8Array(readFileSync(t.path('z'))));
    } finally {
      t.cleanup();
    }
  });
});
