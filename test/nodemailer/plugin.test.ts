/** mailpkiPlugin through nodemailer's stream transport: what is sent is what was signed, verified by mailpki. */
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { verifyDkim } from '../../src/dkim/index.js';
import { mailpkiPlugin, preflight, type NodemailerMail } from '../../src/nodemailer/index.js';
import { verifyMessage } from '../../src/smime/index.js';
import { manualPublisher } from '../../src/dns/index.js';
import { DkimManager } from '../../src/lifecycle/index.js';
import { MemoryStore, passphraseKeyProtector } from '../../src/store/index.js';
import { fakeClock, harness } from '../lifecycle/helpers.js';
import { bufferTransport, CA_START, clock, mailFixture, NOW, paymentMail } from './fixtures.js';
import { parseCertificate } from '../../src/certs/certificate.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';

const f = await mailFixture();
const revocation = () => ({ policy: 'hard-fail' as const, checker: f.checker() });

async function send(plugin: ReturnType<typeof mailpkiPlugin>, mail = paymentMail()) {
  const t = bufferTransport();
  let raw: Uint8Array | undefined;
  // Captures what the plugin hands nodemailer, to compare with what nodemailer sends.
  t.use('stream', (m, cb) => {
    const set = m.message.setRaw.bind(m.message);
    m.message.setRaw = ((b: Uint8Array) => {
      raw = b;
      return set(b as Buffer);
    }) as typeof m.message.setRaw;
    plugin(m as unknown as NodemailerMail, cb);
  });
  const info = await t.sendMail(mail);
  return { info, sent: new Uint8Array(info.message as Buffer), raw };
}

async function verifyBoth(sent: Uint8Array) {
  const smime = await verifyMessage(sent, { trustAnchors: [f.root], clock, revocation: { policy: 'hard-fail', crls: f.crls } });
  const dkim = await verifyDkim(sent, { resolver: f.resolver, clock });
  return { smime, dkim };
}

describe('mailpkiPlugin with keys given', () => {
  it('S/MIME-signs, then DKIM-signs; the bytes sent are the bytes signed, and both verify', async () => {
    const plugin = mailpkiPlugin({
      smime: { signer: f.payments },
      dkim: { keys: [{ domain: 'example.com', selector: 'nm1', privateKey: f.dkim.privateKey }] },
      preflight: { clock, revocation: revocation(), resolver: f.resolver },
    });
    const { info, sent, raw } = await send(plugin);
    expect(raw).toBeDefined();
    expect(sent).toEqual(new Uint8Array(raw!));
    expect(info.envelope).toEqual({ from: 'payments@example.com', to: ['approvers@example.com'] });
    expect(info.messageId).toBe('<pi-2026-118@example.com>');
    const text = new TextDecoder().decode(sent);
    // DKIM over the final bytes: its field is the first one, above the S/MIME structure.
    expect(text.startsWith('DKIM-Signature: v=1; a=rsa-sha256;')).toBe(true);
    expect(text).toContain('Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256;');
    const { smime, dkim } = await verifyBoth(sent);
    expect(smime.valid).toBe(true);
    expect(smime.problems).toEqual([]);
    expect(smime.signers[0]!.certificate!.serialNumber).toBe(f.payments.certificate.serialNumber);
    expect(smime.signers[0]!.revocation!.map((r) => r.status)).toEqual(['good', 'good']);
    expect(dkim.result).toBe('pass');
    expect(dkim.results.map((r) => [r.result, r.domain, r.selector, r.aligned])).toEqual([['pass', 'example.com', 'nm1', true]]);
    // Only the Content-* fields are inside the signature; From, To, Subject stay outside (docs/signing.md).
    expect(smime.signedHeaders.map((h) => h.name)).toEqual(['Content-Transfer-Encoding', 'Content-Type']);
  });

  it('the signed text is the application text (what a client shows is what was signed)', async () => {
    const plugin = mailpkiPlugin({ smime: { signer: f.payments }, preflight: { clock, revocation: revocation() } });
    const { sent } = await send(plugin);
    const text = new TextDecoder().decode(sent);
    expect(text).toContain('Please pay 1,250.00 EUR to IBAN DE89 3704 0044 0532 0130 00 by Friday.');
    const v = await verifyMessage(sent, { trustAnchors: [f.root], clock, revocation: { policy: 'hard-fail', crls: f.crls } });
    expect(v.valid).toBe(true);
    expect(v.signedContentType).toBe('text/plain');
  });

  it('DKIM only: one aligned signature, no S/MIME structure', async () => {
    const plugin = mailpkiPlugin({ dkim: { keys: [{ domain: 'example.com', selector: 'nm1', privateKey: f.dkim.privateKey }] }, preflight: { clock, resolver: f.resolver } });
    const { sent } = await send(plugin);
    expect(new TextDecoder().decode(sent)).not.toContain('multipart/signed');
    const v = await verifyDkim(sent, { resolver: f.resolver, clock });
    expect(v.results.map((r) => [r.result, r.aligned])).toEqual([['pass', true]]);
  });

  it('a transform an earlier plugin added is applied once, and its result is what is signed', async () => {
    const t = bufferTransport();
    t.use('stream', (mail, cb) => {
      mail.message.transform(
        () =>
          new Transform({
            transform(chunk: Buffer, _enc, done) {
              done(null, Buffer.from(chunk.toString('latin1').replace('by Friday', 'by Friday [checked]'), 'latin1'));
            },
          }),
      );
      cb();
    });
    t.use('stream', mailpkiPlugin({ smime: { signer: f.payments }, preflight: { clock, revocation: revocation() } }) as never);
    const info = await t.sendMail(paymentMail());
    const sent = new Uint8Array(info.message as Buffer);
    const text = new TextDecoder().decode(sent);
    expect(text.split('[checked]').length).toBe(2);
    expect((await verifyMessage(sent, { trustAnchors: [f.root], clock, revocation: { policy: 'hard-fail', crls: f.crls } })).valid).toBe(true);
  });

  it('attachments and HTML survive signing and verify (multipart content)', async () => {
    const plugin = mailpkiPlugin({ smime: { signer: f.payments }, preflight: { clock, revocation: revocation() } });
    const { sent } = await send(plugin, paymentMail({ html: '<p>Please pay <b>1,250.00 EUR</b></p>', attachments: [{ filename: 'instruction.csv', content: 'iban,amount\nDE89370400440532013000,1250.00\n' }] }));
    const v = await verifyMessage(sent, { trustAnchors: [f.root], clock, revocation: { policy: 'hard-fail', crls: f.crls } });
    expect(v.valid).toBe(true);
    expect(v.signedContentType).toBe('multipart/mixed');
  });
});

describe('mailpkiPlugin with a governed identity', () => {
  it('signs with the identity\'s current certificate and audits message.signed (serial, Message-ID, SHA-256 of the bytes sent; no content)', async () => {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'payments@example.com', owner: { team: 'treasury' }, purpose: 'payment instructions' }, { actor: 'alice' });
    const cert = (await h.manager.credentials('payments@example.com'))[0]!;
    const crls = [await h.ca.local.createCrl(), (await h.ca.local.rootCrl())!];
    const hclock = h.clock;
    const plugin = mailpkiPlugin({
      smime: { identity: 'payments@example.com', manager: h.manager },
      preflight: { clock: hclock, revocation: { policy: 'hard-fail', checker: new (await import('../../src/revocation/index.js')).RevocationChecker({ crls, clock: hclock }) } },
      actor: 'app:payments',
    });
    const { sent } = await send(plugin, paymentMail({ date: hclock() }));
    const v = await verifyMessage(sent, { trustAnchors: [h.ca.local.rootCertificate], clock: hclock, revocation: { policy: 'hard-fail', crls } });
    expect(v.valid).toBe(true);
    expect(v.signers[0]!.certificate!.serialNumber).toBe(cert.serialNumber);
    const audit = await h.store.listAudit();
    const signed = audit.filter((r) => r.action === 'message.signed');
    expect(signed.map((r) => [r.actor, r.identityId, r.after])).toEqual([
      ['app:payments', 'smime:payments@example.com', { serialNumber: cert.serialNumber, messageId: '<pi-2026-118@example.com>', sha256: createHash('sha256').update(sent).digest('hex') }],
    ]);
    expect(JSON.stringify(audit)).not.toContain('IBAN');
  });

  it('20 concurrent sends through one plugin: 20 audit records, each the digest of exactly one sent message', async () => {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'payments@example.com', owner: { team: 'treasury' } }, { actor: 'alice' });
    const crls = [await h.ca.local.createCrl(), (await h.ca.local.rootCrl())!];
    const { RevocationChecker } = await import('../../src/revocation/index.js');
    const plugin = mailpkiPlugin({ smime: { identity: 'payments@example.com', manager: h.manager }, preflight: { clock: h.clock, revocation: { policy: 'hard-fail', checker: new RevocationChecker({ crls, clock: h.clock }) } } });
    const t = bufferTransport();
    t.use('stream', plugin as never);
    const infos = await Promise.all(Array.from({ length: 20 }, (_, i) => t.sendMail(paymentMail({ messageId: `<pi-${i}@example.com>`, date: h.clock(), text: `Instruction ${i}: pay ${i + 1},000.00 EUR.` }))));
    const sent = infos.map((i) => [i.messageId, createHash('sha256').update(i.message as Buffer).digest('hex')]);
    const audited = (await h.store.listAudit()).filter((r) => r.action === 'message.signed').map((r) => [(r.after as { messageId: string }).messageId, (r.after as { sha256: string }).sha256]);
    expect(audited.sort()).toEqual(sent.sort());
    expect(new Set(sent.map((s) => s[1])).size).toBe(20);
  });

  it('recordSignature refuses a bad digest and an unknown identity', async () => {
    const h = await harness();
    await expect(h.manager.recordSignature('payments@example.com', { serialNumber: 'ab', sha256: 'x' }, { actor: 'a' })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    await expect(h.manager.recordSignature('nobody@example.com', { serialNumber: 'ab', sha256: 'a'.repeat(64) }, { actor: 'a' })).rejects.toMatchObject({ code: 'ERR_IDENTITY_NOT_FOUND' });
  });
});

describe('mailpkiPlugin with a DkimManager', () => {
  it('signs with the active key; when DNS stops serving its record, the preflight refuses (dkim-dns)', async () => {
    const zone = new Map<string, string[][]>();
    const resolver = async (name: string) => zone.get(name) ?? [];
    const dclock = fakeClock();
    const manager = new DkimManager({ store: new MemoryStore(), keyProtector: passphraseKeyProtector('dkim test passphrase', { iterations: 1000 }), resolver, publisher: manualPublisher(), clock: dclock });
    const { keys } = await manager.create({ domain: 'example.com', owner: { team: 'mail' }, algorithm: 'ed25519' }, { actor: 'alice' });
    const name = keys[0]!.record.name;
    zone.set(name, [[keys[0]!.record.value]]);
    expect((await manager.runDue()).transitions.map((t) => t.state)).toEqual(['published', 'active']);
    const plugin = mailpkiPlugin({ dkim: { manager }, preflight: { clock: dclock, resolver } });
    const { sent } = await send(plugin, paymentMail({ date: dclock() }));
    const v = await verifyDkim(sent, { resolver, clock: dclock });
    expect(v.results.map((r) => [r.result, r.selector, r.algorithm, r.aligned])).toEqual([['pass', keys[0]!.selector, 'ed25519-sha256', true]]);

    zone.set(name, [['v=DKIM1; k=ed25519; p=']]);
    await expect(send(plugin, paymentMail({ date: dclock() }))).rejects.toMatchObject({ code: 'ERR_PREFLIGHT_FAILED', details: { failed: ['dkim-dns'] } });
  });
});

describe('preflight alone (dry run)', () => {
  it('returns every check, passed, with what would be signed', async () => {
    const bytes = await bufferTransport().sendMail(paymentMail()).then((i) => new Uint8Array(i.message as Buffer));
    const r = await preflight(bytes, {
      smime: { signer: f.payments },
      dkim: { keys: [{ domain: 'example.com', selector: 'nm1', privateKey: f.dkim.privateKey }] },
      clock,
      revocation: revocation(),
      resolver: f.resolver,
    });
    expect(r.ok).toBe(true);
    expect(r.failed).toEqual([]);
    expect(r.checks.map((c) => [c.check, c.outcome])).toEqual([
      ['from', 'pass'],
      ['certificate-validity', 'pass'],
      ['certificate-expiry', 'pass'],
      ['certificate-usage', 'pass'],
      ['revocation', 'pass'],
      ['dkim-key', 'pass'],
      ['dkim-alignment', 'pass'],
      ['dkim-dns', 'pass'],
    ]);
    expect(r.from).toBe('payments@example.com');
    expect(r.messageId).toBe('<pi-2026-118@example.com>');
    expect(r.certificate).toEqual({ serialNumber: f.payments.certificate.serialNumber, notAfter: f.payments.certificate.notAfter.toISOString(), mailboxes: ['payments@example.com'] });
    expect(r.revocation).toMatchObject({ status: 'good', method: 'crl' });
    expect(r.dkim).toEqual([{ domain: 'example.com', selector: 'nm1' }]);
    expect(JSON.stringify(r)).not.toContain('privateKey');
    expect(NOW.getTime()).toBe(clock().getTime());
  });
});

describe('caller mistakes', () => {
  it.each([
    ['no options', undefined, 'options'],
    ['nothing to do', {}, 'options'],
    ['signer and identity', { smime: { signer: {}, identity: 'a@example.com' } }, 'smime'],
    ['identity without a manager', { smime: { identity: 'a@example.com' } }, 'smime.manager'],
    ['empty DKIM keys', { dkim: { keys: [] } }, 'dkim.keys'],
    ['a bad revocation policy', { dkim: { keys: [{}] }, preflight: { revocation: { policy: 'maybe' } } }, 'revocation.policy'],
    ['a negative margin', { dkim: { keys: [{}] }, preflight: { expiryMarginMs: -1 } }, 'expiryMarginMs'],
  ])('%s is ERR_INVALID_INPUT naming the field', (_name, options, field) => {
    let err: unknown;
    try {
      mailpkiPlugin(options as never);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field } });
  });

  it('a plugin registered as a compile plugin (no built message) fails the send with ERR_INVALID_INPUT', async () => {
    const plugin = mailpkiPlugin({ smime: { signer: f.payments }, preflight: { clock, revocation: revocation() } });
    const err = await new Promise<Error | null | undefined>((resolve) => plugin({ message: undefined } as never, resolve));
    expect(err).toMatchObject({ code: 'ERR_INVALID_INPUT' });
  });
});

describe('mailpkiPlugin with encrypt', () => {
  it('signs, encrypts to the approver, then DKIM-signs: the approver opens and verifies it; nothing readable outside', async () => {
    const pair = await generateKeyPair('ec-p256', { extractable: true });
    const r = await f.ca.issue({ mailbox: 'approvers@example.com', publicKey: await exportSpki(pair.publicKey), profile: 'strict', notBefore: CA_START, validityDays: 365 });
    const approver = { privateKey: pair.privateKey, certificate: parseCertificate(r.certificate) };
    const plugin = mailpkiPlugin({
      smime: { signer: f.payments },
      encrypt: { recipients: [approver.certificate], encryptToSelf: true, at: NOW, trustAnchors: [f.root], intermediates: [f.ca.issuingCertificate] },
      dkim: { keys: [{ domain: 'example.com', selector: 'nm1', privateKey: f.dkim.privateKey }] },
      preflight: { clock, revocation: revocation(), resolver: f.resolver },
    });
    const { sent } = await send(plugin);
    const text = new TextDecoder().decode(sent);
    expect(text).toContain('smime-type=authEnveloped-data');
    expect(text).not.toContain('multipart/signed');
    expect((await verifyDkim(sent, { resolver: f.resolver, clock })).result).toBe('pass');
    const v = await verifyMessage(sent, { trustAnchors: [f.root], clock, decryptionKeys: [approver], revocation: { policy: 'hard-fail', crls: f.crls } });
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
    expect(v.layers.map((l) => l.kind)).toEqual(['encrypted', 'signed']);
    expect(v.signers[0]!.certificate!.serialNumber).toBe(f.payments.certificate.serialNumber);
  });

  it('a To address with no recipient certificate stops the send with ERR_PREFLIGHT_FAILED naming encryption-recipients (not ERR_RECIPIENT_MISSING)', async () => {
    const plugin = mailpkiPlugin({
      smime: { signer: f.payments },
      encrypt: { recipients: [f.payments.certificate], at: NOW },
      preflight: { clock, revocation: revocation(), resolver: f.resolver },
    });
    const err = await send(plugin).catch((e) => e);
    expect(err.code).toBe('ERR_PREFLIGHT_FAILED');
    expect(err.details.failed).toEqual(['encryption-recipients']);
    expect(err.message).toBe('not sent: the preflight failed (encryption-recipients: no recipient certificate names approvers@example.com: they could not read the message)');
  });

  async function approverCert() {
    const pair = await generateKeyPair('ec-p256', { extractable: true });
    const r = await f.ca.issue({ mailbox: 'approvers@example.com', publicKey: await exportSpki(pair.publicKey), profile: 'strict', notBefore: CA_START, validityDays: 365 });
    return parseCertificate(r.certificate);
  }
  const encryptTo = (recipients: Parameters<typeof mailpkiPlugin>[0]['encrypt'] extends infer E ? (E extends { recipients: infer R } ? R : never) : never) => ({
    recipients,
    at: NOW,
    trustAnchors: [f.root],
    intermediates: [f.ca.issuingCertificate],
    revocation: { policy: 'hard-fail' as const, checker: f.checker() },
  });

  it('preflight() dry run: encryption-recipients lists the To/Cc addresses without a certificate and every unfit certificate, with which and why', async () => {
    const approver = await approverCert();
    const mail = paymentMail({ cc: 'board@example.com, payments@example.com' });
    const bytes = new Uint8Array(await new Promise<Buffer>((res, rej) => bufferTransport().sendMail(mail, (e, info) => (e ? rej(e) : res(info.message as Buffer)))));
    const r = await preflight(bytes, { smime: { signer: f.payments }, encrypt: encryptTo([approver, f.revoked.certificate, f.root]), clock, revocation: { policy: 'off' } });
    expect(r.ok).toBe(false);
    expect(r.failed).toEqual(['encryption-recipients']);
    expect(r.encryption!.missing).toEqual(['board@example.com']);
    expect(r.encryption!.invalid.map((i) => [i.recipient, i.mailboxes])).toEqual([
      [1, ['payments@example.com']],
      [2, []],
    ]);
    expect(r.encryption!.invalid[0]!.problems).toEqual([expect.stringMatching(/^SMIME_CERTIFICATE_REVOKED: .* is revoked \(keyCompromise\)$/)]);
    expect(r.encryption!.invalid[1]!.problems.length).toBeGreaterThan(0);
    const check = r.checks.find((c) => c.check === 'encryption-recipients')!;
    expect(check.outcome).toBe('fail');
    expect(check.message).toMatch(/^no recipient certificate names board@example\.com: they could not read the message; recipient 1 \(payments@example\.com\) cannot be encrypted to: SMIME_CERTIFICATE_REVOKED/);
    // All fit: the check passes and says how many certificates it checked (encryptToSelf counts).
    const plainBytes = new Uint8Array(await new Promise<Buffer>((res, rej) => bufferTransport().sendMail(paymentMail(), (e, info) => (e ? rej(e) : res(info.message as Buffer)))));
    const pass = await preflight(plainBytes, { smime: { signer: f.payments }, encrypt: { ...encryptTo([approver]), encryptToSelf: true }, clock, revocation: { policy: 'off' } });
    expect(pass.ok).toBe(true);
    expect(pass.checks.find((c) => c.check === 'encryption-recipients')!.message).toBe('every To/Cc address has a valid recipient certificate (2 certificate(s) checked)');
    expect(pass.encryption).toEqual({ missing: [], invalid: [] });
  });

  it('a recipient that is not a certificate is named by its place in recipients, not thrown', async () => {
    const approver = await approverCert();
    const bytes = new Uint8Array(await new Promise<Buffer>((res, rej) => bufferTransport().sendMail(paymentMail(), (e, info) => (e ? rej(e) : res(info.message as Buffer)))));
    const r = await preflight(bytes, { smime: { signer: f.payments }, encrypt: encryptTo([approver, new Uint8Array([1, 2, 3]), 'not a certificate']), clock, revocation: { policy: 'off' } });
    expect(r.failed).toEqual(['encryption-recipients']);
    expect(r.encryption).toEqual({
      missing: [],
      invalid: [
        { recipient: 1, mailboxes: [], problems: ['not a certificate: neither PEM ("-----BEGIN CERTIFICATE-----") nor DER'] },
        { recipient: 2, mailboxes: [], problems: ['expected one certificate, got 0'] },
      ],
    });
  });

  it('the send stops with ERR_PREFLIGHT_FAILED listing encryption-recipients beside the other failed checks; nothing is sent', async () => {
    const approver = await approverCert();
    const seen: string[][] = [];
    const plugin = mailpkiPlugin({
      smime: { signer: f.expiring },
      encrypt: encryptTo([approver, f.revoked.certificate]),
      preflight: { clock, revocation: revocation(), resolver: f.resolver },
      onPreflight: (r) => seen.push(r.failed),
    });
    const err = await send(plugin, paymentMail({ cc: 'board@example.com' })).catch((e) => e);
    expect(err.code).toBe('ERR_PREFLIGHT_FAILED');
    expect(err.details.failed).toEqual(['certificate-expiry', 'encryption-recipients']);
    expect(err.message).toMatch(/certificate-expiry: .*; encryption-recipients: no recipient certificate names board@example\.com: they could not read the message; recipient 1 \(payments@example\.com\) cannot be encrypted to: SMIME_CERTIFICATE_REVOKED/);
    expect(seen).toEqual([['certificate-expiry', 'encryption-recipients']]);
  });

  it('encrypt without smime, or with no recipients, is refused by mailpkiPlugin itself (ERR_INVALID_INPUT naming the field)', () => {
    expect(() => mailpkiPlugin({ dkim: { keys: [{ domain: 'example.com', selector: 'nm1', privateKey: f.dkim.privateKey }] }, encrypt: { recipients: [f.payments.certificate] } })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_INPUT', details: { field: 'encrypt' } }),
    );
    expect(() => mailpkiPlugin({ smime: { signer: f.payments }, encrypt: { recipients: [] } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT', details: { field: 'encrypt.recipients' } }));
  });
});
