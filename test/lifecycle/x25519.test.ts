/**
 * X25519 encryption identities in the lifecycle (RFC 8418 recipients): an encryption-only identity
 * with an X25519 key, and an X25519 encryption certificate beside a signing certificate of another
 * key type. The key is generated, kept encrypted, enters the decryption-key history, is renewed,
 * revoked, kept after decommission, destroyed when retention ends, handed out and exported.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCertificate } from '../../src/certs/index.js';
import { importDecryptionKeysFromPkcs12 } from '../../src/cms/index.js';
import { MailPkiError } from '../../src/errors.js';
import { parsePrivateKeyInfo } from '../../src/keys/private-key-info.js';
import { decryptMessage, encryptMessage, signAndEncrypt, verifyMessage } from '../../src/smime/index.js';
import { describeWithPeers, run, runStatus, tempDir } from '../helpers/peers.js';
import { DAY, auditActions, harness, keyProtector } from './helpers.js';

const treasury = { team: 'treasury' };
const WITH_X25519 = { allowedDomainsByOwner: { treasury: ['example.com'] }, allowedKeyTypes: ['ec-p256', 'ed25519', 'x25519', 'rsa-2048'] as const };
const x25519Harness = () => harness({ policy: { ...WITH_X25519, allowedKeyTypes: [...WITH_X25519.allowedKeyTypes] } });
const message = (to = 'legal@example.com') => `From: pay@example.com\r\nTo: ${to}\r\nSubject: Draft\r\nContent-Type: text/plain\r\n\r\ncontract draft 7\r\n`;

async function encryptTo(h: Awaited<ReturnType<typeof harness>>, mailbox: string): Promise<Uint8Array> {
  const to = await h.manager.getEncryptionCertificate(mailbox);
  return encryptMessage(message(mailbox), [to.certificate], { clock: h.clock });
}

async function storedKeyKind(h: Awaited<ReturnType<typeof harness>>, keyId: string): Promise<{ algorithm: string; kind: string }> {
  const key = await h.store.transaction((tx) => tx.getKey(keyId));
  const pkcs8 = await keyProtector().unprotect(key!.protectedKey);
  try {
    return { algorithm: key!.algorithm, kind: parsePrivateKeyInfo(pkcs8).kind };
  } finally {
    pkcs8.fill(0);
  }
}

describe('X25519: an encryption-only identity', () => {
  it('enroll({ use: encryption, keyType: x25519 }): keyAgreement only, an X25519 key kept encrypted in the history; getDecryptor opens mail encrypted to it, verifyMessage too; getSigner refuses', async () => {
    const h = await x25519Harness();
    const rec = await h.manager.enroll({ mailbox: 'legal@example.com', owner: treasury, use: 'encryption', keyType: 'x25519' }, { actor: 'alice' });
    expect([rec.status, rec.keyType, rec.use]).toEqual(['active', 'x25519', 'encryption']);
    const [cred] = await h.manager.credentials(rec.id);
    const cert = parseCertificate(cred!.certificate!);
    expect(cert.keyUsage).toEqual(['keyAgreement']);
    expect(cert.publicKey.kind).toBe('x25519');
    expect(await storedKeyKind(h, cred!.keyId!)).toEqual({ algorithm: 'x25519', kind: 'x25519' });
    expect((await h.manager.decryptionKeys(rec.id)).map((d) => [d.credentialId, d.retainUntil.getTime()])).toEqual([[cred!.id, cred!.notAfter.getTime() + 2555 * DAY]]);
    expect(h.events.find((e) => e.type === 'certificate.issued')!.data).toMatchObject({ keyType: 'x25519' });

    const enc = await h.manager.getEncryptionCertificate('legal@example.com');
    expect([enc.role, enc.serialNumber]).toEqual(['both', cred!.serialNumber]);
    const eml = await encryptTo(h, 'legal@example.com');
    const keys = await h.manager.getDecryptor('legal@example.com', { actor: 'gateway', reason: 'inbound' });
    expect(keys.map((k) => [k.privateKey.algorithm.name, k.privateKey.extractable])).toEqual([['X25519', false]]);
    const opened = await decryptMessage(eml, { keys });
    expect([opened.keyManagement, new TextDecoder().decode(opened.entity).includes('contract draft 7')]).toEqual(['ecdh', true]);

    // Signed by another identity of the inventory, encrypted to the X25519 one: one verdict.
    await h.manager.enroll({ mailbox: 'pay@example.com', owner: treasury, use: 'signing' }, { actor: 'alice' });
    const signed = await signAndEncrypt(message(), await h.manager.getSigner('pay@example.com'), [enc.certificate], { clock: h.clock });
    const v = await verifyMessage(signed, { trustAnchors: [(await h.ca.getChain()).at(-1)!], at: h.clock(), decryptionKeys: keys });
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
    expect(v.layers[0]).toMatchObject({ kind: 'encrypted', opened: true, keyManagement: 'ecdh' });

    await expect(h.manager.getSigner(rec.id)).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });
  });

  it('renew with and without a new key: each certificate\'s X25519 key stays in the history and opens the mail sent to it', async () => {
    const h = await x25519Harness();
    const rec = await h.manager.enroll({ mailbox: 'legal@example.com', owner: treasury, use: 'encryption', keyType: 'x25519' }, { actor: 'a' });
    const first = await encryptTo(h, 'legal@example.com');
    h.clock.advanceDays(100);
    await h.manager.renew(rec.id, { actor: 'a', rekey: false });
    h.clock.advanceDays(100);
    await h.manager.renew(rec.id, { actor: 'a', rekey: true });
    const third = await encryptTo(h, 'legal@example.com');
    const creds = await h.manager.credentials(rec.id);
    expect(creds.map((c) => c.status)).toEqual(['previous', 'previous', 'current']);
    expect(creds[0]!.keyId).toBe(creds[1]!.keyId);
    expect(creds[2]!.keyId).not.toBe(creds[1]!.keyId);
    expect(creds.map((c) => parseCertificate(c.certificate!).publicKey.kind)).toEqual(['x25519', 'x25519', 'x25519']);
    expect(await h.manager.decryptionKeys(rec.id)).toHaveLength(3);
    const keys = await h.manager.getDecryptor(rec.id, { actor: 'g', reason: 'r' });
    expect(keys).toHaveLength(3);
    for (const eml of [first, third]) expect(new TextDecoder().decode((await decryptMessage(eml, { keys })).entity)).toContain('contract draft 7');
  });

  it('decommission keeps the X25519 key until retention ends; the sweep then destroys it (audited); revoke leaves the key readable', async () => {
    const h = await x25519Harness();
    const rec = await h.manager.enroll({ mailbox: 'legal@example.com', owner: treasury, use: 'encryption', keyType: 'x25519', policy: { decryptionKeyRetentionDays: 3000 } }, { actor: 'a' });
    const eml = await encryptTo(h, 'legal@example.com');
    await h.manager.revoke(rec.id, { actor: 'a', reason: 'superseded' });
    expect((await h.manager.getDecryptor(rec.id, { actor: 'g', reason: 'r' })).length).toBe(1);
    await h.manager.decommission(rec.id, { actor: 'a', reason: 'project closed' });
    const [cred] = await h.manager.credentials(rec.id);
    expect(new TextDecoder().decode((await decryptMessage(eml, { keys: await h.manager.getDecryptor(rec.id, { actor: 'g', reason: 'r' }) })).entity)).toContain('contract draft 7');
    h.clock.set(new Date(cred!.notAfter.getTime() + 3000 * DAY));
    const summary = await h.manager.runDue();
    expect(summary.decryptionKeysDestroyed).toEqual([{ identityId: rec.id, credentialId: cred!.id }]);
    expect(await h.store.transaction((tx) => tx.getKey(cred!.keyId!))).toBeUndefined();
    expect(await auditActions(h.store)).toContain('decryption-key.destroyed');
    await expect(h.manager.getDecryptor(rec.id, { actor: 'g', reason: 'r' })).rejects.toMatchObject({ code: 'ERR_IDENTITY_STATE' });
  });

  it('exportDecryptionKeys: a .p12 of X25519 keys that importDecryptionKeysFromPkcs12 reads back (paired with their certificates by key agreement) and decrypts with', async () => {
    const h = await x25519Harness();
    const rec = await h.manager.enroll({ mailbox: 'legal@example.com', owner: treasury, use: 'encryption', keyType: 'x25519' }, { actor: 'a' });
    const first = await encryptTo(h, 'legal@example.com');
    h.clock.advanceDays(100);
    await h.manager.renew(rec.id, { actor: 'a' });
    const p12 = await h.manager.exportDecryptionKeys(rec.id, { actor: 'officer', reason: 'recovery', passphrase: 'pw-123456', iterations: 2000 });
    const keys = await importDecryptionKeysFromPkcs12(p12, 'pw-123456');
    const creds = await h.manager.credentials(rec.id);
    expect(keys.map((k) => [k.privateKey.algorithm.name, k.certificate.serialNumber])).toEqual(creds.map((c) => ['X25519', c.serialNumber]));
    expect(new TextDecoder().decode((await decryptMessage(first, { keys })).entity)).toContain('contract draft 7');
    expect(await auditActions(h.store)).toContain('decryption-keys.exported');
  });
});

describe('X25519: the encryption certificate of a separate pair', () => {
  it('keyType ed25519 + encryptionKeyType x25519: an Ed25519 signing certificate and an X25519 encryption certificate; only the X25519 key in the history', async () => {
    const h = await x25519Harness();
    const rec = await h.manager.enroll({ mailbox: 'pay@example.com', owner: treasury, keyType: 'ed25519', encryptionKeyType: 'x25519' }, { actor: 'a' });
    expect([rec.certificates, rec.keyType, rec.attributes]).toEqual(['separate', 'ed25519', { encryptionKeyType: 'x25519' }]);
    const [sign, enc] = await h.manager.credentials(rec.id);
    expect([parseCertificate(sign!.certificate!).publicKey.kind, parseCertificate(sign!.certificate!).keyUsage]).toEqual(['ed25519', ['digitalSignature']]);
    expect([parseCertificate(enc!.certificate!).publicKey.kind, parseCertificate(enc!.certificate!).keyUsage]).toEqual(['x25519', ['keyAgreement']]);
    expect([(await storedKeyKind(h, sign!.keyId!)).kind, (await storedKeyKind(h, enc!.keyId!)).kind]).toEqual(['ed25519', 'x25519']);
    expect((await h.manager.decryptionKeys(rec.id)).map((d) => d.credentialId)).toEqual([enc!.id]);
    expect((await h.manager.getEncryptionCertificate(rec.id)).role).toBe('encryption');
    expect((await h.manager.getSigner(rec.id)).key.algorithm.name).toBe('Ed25519');
    expect(h.events.filter((e) => e.type === 'certificate.issued').map((e) => e.data.keyType)).toEqual(['ed25519', 'x25519']);

    // Renewing the encryption certificate makes a new X25519 key; the signing certificate is untouched.
    h.clock.advanceDays(50);
    await h.manager.renew(rec.id, { actor: 'a', certificate: 'encryption' });
    const after = await h.manager.credentials(rec.id);
    expect(after.map((c) => [parseCertificate(c.certificate!).publicKey.kind, c.status])).toEqual([
      ['ed25519', 'current'],
      ['x25519', 'previous'],
      ['x25519', 'current'],
    ]);
    expect(await h.manager.getDecryptor(rec.id, { actor: 'g', reason: 'r' })).toHaveLength(2);
    // No live signing key among them: the export needs no includeLiveSigningKey.
    await expect(h.manager.exportDecryptionKeys(rec.id, { actor: 'o', reason: 'r', passphrase: 'pw-123456', iterations: 2000 })).resolves.toBeInstanceOf(Uint8Array);
  });

  it('ec-p256 signing beside x25519 encryption: encryptionKeyType implies separate certificates; the CA failing on the X25519 certificate leaves the identity pending, the sweep completes it with the same idempotency key', async () => {
    const h = await x25519Harness();
    // The signing certificate is issued, then the CA fails on the X25519 one.
    h.ca.afterIssue = () => {
      h.ca.failIssue.push(new MailPkiError('ERR_CA_UNAVAILABLE', 'down'));
      h.ca.afterIssue = undefined;
    };
    await expect(h.manager.enroll({ mailbox: 'pay@example.com', owner: treasury, encryptionKeyType: 'x25519' }, { actor: 'a' })).rejects.toMatchObject({ code: 'ERR_CA_UNAVAILABLE' });
    let rec = await h.manager.get('pay@example.com');
    expect([rec.status, rec.certificates, rec.currentCredentialId !== undefined, rec.encryptionCredentialId]).toEqual(['pending', 'separate', true, undefined]);
    const pendingEnroll = await h.store.transaction((tx) => tx.getPendingIssuance(rec.id));
    expect(pendingEnroll?.certificate).toBe('encryption');
    // Its X25519 key was written (encrypted) before the CA was asked.
    expect((await storedKeyKind(h, pendingEnroll!.idempotencyKey.split('.')[1]!)).kind).toBe('x25519');
    const summary = await h.manager.runDue();
    expect(summary.renewed).toEqual([rec.id]);
    expect(h.ca.idempotencyKeys.at(-1)).toBe(pendingEnroll!.idempotencyKey);
    rec = await h.manager.get('pay@example.com');
    expect(rec.status).toBe('active');

    // Now the X25519 certificate's issuance fails on renewal; the old one stays current.
    h.clock.advanceDays(340);
    h.ca.failIssue.push(new MailPkiError('ERR_CA_UNAVAILABLE', 'down'));
    await expect(h.manager.renew(rec.id, { actor: 'a', certificate: 'encryption' })).rejects.toMatchObject({ code: 'ERR_CA_UNAVAILABLE' });
    const pending = await h.store.transaction((tx) => tx.getPendingIssuance(rec.id));
    expect(pending?.certificate).toBe('encryption');
    await h.manager.renew(rec.id, { actor: 'a', certificate: 'encryption' });
    expect(h.ca.idempotencyKeys.at(-1)).toBe(pending!.idempotencyKey);
    const creds = await h.manager.credentials(rec.id);
    expect(creds.filter((c) => c.status === 'current').map((c) => parseCertificate(c.certificate!).publicKey.kind)).toEqual(['ec', 'x25519']);
  });
});

describe('X25519: refused where it cannot work (ERR_INVALID_INPUT / ERR_POLICY_DENIED), nothing written', () => {
  it('keyType x25519 for signing or both, one certificate or separate; encryptionKeyType without separate certificates, or Ed25519', async () => {
    const h = await x25519Harness();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ use: 'signing', keyType: 'x25519' }, 'keyType'],
      [{ keyType: 'x25519' }, 'keyType'],
      [{ use: 'both', certificates: 'separate', keyType: 'x25519' }, 'keyType'],
      [{ use: 'encryption', encryptionKeyType: 'x25519' }, 'encryptionKeyType'],
      [{ use: 'both', certificates: 'single', encryptionKeyType: 'x25519' }, 'encryptionKeyType'],
      [{ certificates: 'separate', encryptionKeyType: 'ed25519' }, 'encryptionKeyType'],
    ];
    for (const [extra, field] of cases) {
      const err = await h.manager.enroll({ mailbox: 'x@example.com', owner: treasury, ...extra } as never, { actor: 'a' }).catch((e: unknown) => e);
      expect([(err as MailPkiError).code, (err as MailPkiError).details?.field], JSON.stringify(extra)).toEqual(['ERR_INVALID_INPUT', field]);
    }
    const err = await h.manager.enroll({ mailbox: 'x@example.com', owner: treasury, keyType: 'x25519' }, { actor: 'a' }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/an X25519 key cannot sign/);
    expect(await h.manager.list()).toEqual([]);
  });

  it('the policy decides: not allowed by the manager (the default list) or narrowed away by the identity → ERR_POLICY_DENIED allowedKeyTypes before any key or identity is written', async () => {
    const d = await harness();
    await expect(d.manager.enroll({ mailbox: 'legal@example.com', owner: treasury, use: 'encryption', keyType: 'x25519' }, { actor: 'a' })).rejects.toMatchObject({
      code: 'ERR_POLICY_DENIED',
      details: { rule: 'allowedKeyTypes' },
    });
    await expect(d.manager.enroll({ mailbox: 'pay@example.com', owner: treasury, encryptionKeyType: 'x25519' }, { actor: 'a' })).rejects.toMatchObject({
      code: 'ERR_POLICY_DENIED',
      details: { rule: 'allowedKeyTypes' },
    });
    // An identity may not allow what the manager does not (only stricter).
    await expect(
      d.manager.enroll({ mailbox: 'pay@example.com', owner: treasury, encryptionKeyType: 'x25519', policy: { allowedKeyTypes: ['ec-p256', 'x25519'] } }, { actor: 'a' }),
    ).rejects.toMatchObject({ code: 'ERR_POLICY_DENIED', details: { rule: 'allowedKeyTypes' } });
    expect(await d.manager.list()).toEqual([]);
    expect(d.ca.issueCalls).toBe(0);

    const h = await x25519Harness();
    await expect(
      h.manager.enroll({ mailbox: 'pay@example.com', owner: treasury, encryptionKeyType: 'x25519', policy: { allowedKeyTypes: ['ec-p256'] } }, { actor: 'a' }),
    ).rejects.toMatchObject({ code: 'ERR_POLICY_DENIED', details: { rule: 'allowedKeyTypes' } });
    expect(await h.manager.list()).toEqual([]);
    expect(h.ca.issueCalls).toBe(0);
  });

  it('a policy that allows only X25519 (the manager\'s, or an identity\'s narrowing) does not give a signing or dual-use enrollment an X25519 key: ERR_POLICY_DENIED allowedKeyTypes before any key, identity or CA call', async () => {
    const only = await harness({ policy: { allowedDomainsByOwner: { treasury: ['example.com'] }, allowedKeyTypes: ['x25519'] } });
    for (const use of ['both', 'signing'] as const)
      await expect(only.manager.enroll({ mailbox: `${use}@example.com`, owner: treasury, use }, { actor: 'a' })).rejects.toMatchObject({
        code: 'ERR_POLICY_DENIED',
        details: { rule: 'allowedKeyTypes' },
      });
    const narrowed = await x25519Harness();
    await expect(
      narrowed.manager.enroll({ mailbox: 'pay@example.com', owner: treasury, policy: { allowedKeyTypes: ['x25519'] } }, { actor: 'a' }),
    ).rejects.toMatchObject({ code: 'ERR_POLICY_DENIED', details: { rule: 'allowedKeyTypes' } });
    for (const h of [only, narrowed]) {
      expect(await h.manager.list()).toEqual([]);
      expect(h.ca.issueCalls).toBe(0);
    }
  });

  it('a policy that allows only X25519 gives an encryption enrollment X25519 by default', async () => {
    const h = await harness({ policy: { allowedDomainsByOwner: { treasury: ['example.com'] }, allowedKeyTypes: ['x25519'] } });
    const rec = await h.manager.enroll({ mailbox: 'legal@example.com', owner: treasury, use: 'encryption' }, { actor: 'a' });
    expect(rec.keyType).toBe('x25519');
  });
});

describeWithPeers('X25519 key recovery with OpenSSL', ['openssl'], () => {
  it('openssl pkcs12 -info -nodes reads every X25519 key and certificate of the export; a wrong passphrase fails', async () => {
    const h = await x25519Harness();
    const rec = await h.manager.enroll({ mailbox: 'legal@example.com', owner: treasury, use: 'encryption', keyType: 'x25519' }, { actor: 'a' });
    h.clock.advanceDays(100);
    await h.manager.renew(rec.id, { actor: 'a' });
    const p12 = await h.manager.exportDecryptionKeys(rec.id, { actor: 'officer', reason: 'recovery', passphrase: 'pw-123456', iterations: 2000 });
    const t = tempDir();
    try {
      writeFileSync(t.path('keys.p12'), p12);
      const out = run('openssl', ['pkcs12', '-info', '-in', t.path('keys.p12'), '-passin', 'pass:pw-123456', '-nodes']);
      const pems = out.match(/-----BEGIN PRIVATE KEY-----[\s\S]*?-----END PRIVATE KEY-----\n/g)!;
      expect(pems).toHaveLength(2);
      const creds = await h.manager.credentials(rec.id);
      for (const [i, pem] of pems.entries()) {
        writeFileSync(t.path(`k${i}.pem`), pem);
        expect(run('openssl', ['pkey', '-in', t.path(`k${i}.pem`), '-noout', '-text'])).toMatch(/X25519 Private-Key/);
        // The key's public half is one of the certificates' (OpenSSL derives it from the private key).
        const pub = run('openssl', ['pkey', '-in', t.path(`k${i}.pem`), '-pubout']);
        const certPubs = creds.map((c) => {
          writeFileSync(t.path('c.der'), c.certificate!);
          return run('openssl', ['x509', '-inform', 'DER', '-in', t.path('c.der'), '-pubkey', '-noout']);
        });
        expect(certPubs).toContain(pub);
      }
      expect(runStatus('openssl', ['pkcs12', '-in', t.path('keys.p12'), '-passin', 'pass:wrong', '-nodes']).status).not.toBe(0);
      expect(readFileSync(t.path('keys.p12')).length).toBe(p12.length);
    } finally {
      t.cleanup();
    }
  });
});
