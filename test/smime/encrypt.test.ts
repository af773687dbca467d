/**
 * encryptMessage, signAndEncrypt, decryptMessage and verifyMessage with decryptionKeys: recipient
 * checks before encryption, RFC 9788 header protection, one verdict for every layer, and no
 * plaintext after any failure.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { LocalCA } from '../../src/ca/local-ca.js';
import { encryptData } from '../../src/cms/index.js';
import { parseEnvelopedData } from '../../src/cms/enveloped-data.js';
import { Tag, cursor, encodedOf, explicit, implicit, octets, oid, parseDer, seq } from '../../src/internal/der.js';
import { MemoryCaStorage } from '../../src/ca/storage.js';
import { MailPkiError } from '../../src/errors.js';
import { fromLatin1, latin1 } from '../../src/internal/bytes.js';
import { exportSpki, generateKeyPair, type KeyType } from '../../src/keys/index.js';
import { parseMessage, getHeaders } from '../../src/mime/index.js';
import { decryptMessage, encryptMessage, signAndEncrypt, signMessage, verifyMessage, OBSCURED_SUBJECT } from '../../src/smime/index.js';
import { GOOD_FROM, NOW, clock, entityOf, makeSmimeFixture, plainMessage, verifyOptions, type SmimeFixture } from './fixtures.js';

interface Party {
  mailbox: string;
  certificate: Certificate;
  key: CryptoKey;
}

let f: SmimeFixture;
let approverRsa: Party;
let approverEc: Party;
let controller: Party;
let signingOnly: Party;

async function party(mailbox: string, keyType: KeyType, usage: 'dual-use' | 'signing' = 'dual-use'): Promise<Party> {
  const pair = await generateKeyPair(keyType, { extractable: true });
  const r = await f.ca.issue({ mailbox, publicKey: await exportSpki(pair.publicKey), profile: 'strict', notBefore: GOOD_FROM, validityDays: 365, usage });
  return { mailbox, certificate: parseCertificate(r.certificate), key: pair.privateKey };
}

const key = (p: { key: CryptoKey; certificate: Certificate }) => ({ privateKey: p.key, certificate: p.certificate });
const enc = () => ({ clock, at: NOW, trustAnchors: f.anchors, intermediates: [f.ca.issuingCertificate] });

beforeAll(async () => {
  f = await makeSmimeFixture();
  [approverRsa, approverEc, controller, signingOnly] = await Promise.all([
    party('approver@example.com', 'rsa-2048'),
    party('approver@example.com', 'ec-p256'),
    party('controller@example.com', 'ec-p384'),
    party('approver@example.com', 'ec-p256', 'signing'),
  ]);
});

const toApprover = (extra: Record<string, unknown> = {}) => plainMessage({ to: 'approver@example.com', ...extra });

describe('encryptMessage → decryptMessage', () => {
  it('RSA-OAEP + AES-256-GCM by default, application/pkcs7-mime authEnveloped-data, headers protected inside', async () => {
    const eml = await encryptMessage(toApprover(), [approverRsa.certificate], enc());
    const root = parseMessage(eml);
    expect(root.contentType.mediaType).toBe('application/pkcs7-mime');
    expect(root.contentType.params.get('smime-type')).toBe('authEnveloped-data');
    expect(root.contentType.params.get('name')).toBe('smime.p7m');
    expect(getHeaders(root, 'Content-Transfer-Encoding')[0]!.value).toBe('base64');
    expect(getHeaders(root, 'Subject').map((h) => h.value)).toEqual([OBSCURED_SUBJECT]);
    expect(getHeaders(root, 'From').map((h) => h.value)).toEqual(['Payments <payments@example.com>']);
    expect(fromLatin1(eml)).not.toContain('IBAN');
    expect(fromLatin1(eml)).not.toContain('Payment run');

    const d = await decryptMessage(eml, { keys: [key(approverRsa)] });
    expect(d).toMatchObject({ contentEncryption: 'aes-256-gcm', integrityProtected: true, keyManagement: 'rsa-oaep', recipientIndex: 0 });
    expect(d.certificate.serialNumber).toBe(approverRsa.certificate.serialNumber);
    const inner = parseMessage(d.entity);
    expect(inner.contentType.params.get('hp')).toBe('cipher');
    expect(getHeaders(inner, 'Subject').map((h) => h.value)).toEqual(['Payment run 2026-03']);
    expect(fromLatin1(inner.body())).toBe('Please pay 1,250.00 EUR to IBAN DE00 1234 5678 9012 3456 78.\r\n');
    expect(d.headerProtection).toEqual({
      hp: 'cipher',
      where: 'the encrypted part',
      fields: [
        { name: 'From', value: 'Payments <payments@example.com>' },
        { name: 'To', value: 'approver@example.com' },
        { name: 'Subject', value: 'Payment run 2026-03' },
        { name: 'Date', value: 'Sun, 15 Mar 2026 12:00:00 +0000' },
        { name: 'Message-ID', value: '<fixture.1@example.com>' },
      ],
      // RFC 9788 §2.2: the outer header as sent, recorded inside; the obscured Subject is explained by it.
      sentOuter: [
        { name: 'From', value: 'Payments <payments@example.com>' },
        { name: 'To', value: 'approver@example.com' },
        { name: 'Subject', value: OBSCURED_SUBJECT },
        { name: 'Date', value: 'Sun, 15 Mar 2026 12:00:00 +0000' },
        { name: 'Message-ID', value: '<fixture.1@example.com>' },
      ],
      confidential: ['Subject'],
      differences: [{ name: 'Subject', outer: [OBSCURED_SUBJECT], protected: ['Payment run 2026-03'], cause: 'obscured' }],
      legacyDisplayParts: [],
    });
    expect(fromLatin1(d.entity).split('\r\n').filter((l) => l.startsWith('HP-Outer:'))).toEqual([
      'HP-Outer: From: Payments <payments@example.com>',
      'HP-Outer: To: approver@example.com',
      'HP-Outer: Subject: [...]',
      'HP-Outer: Date: Sun, 15 Mar 2026 12:00:00 +0000',
      'HP-Outer: Message-ID: <fixture.1@example.com>',
    ]);
    // What a client shows: the protected Subject, one From.
    const shown = parseMessage(d.message);
    expect(getHeaders(shown, 'Subject').map((h) => h.value)).toEqual(['Payment run 2026-03']);
    expect(getHeaders(shown, 'From')).toHaveLength(1);
  });

  it('ECDH P-256 and P-384, three recipients of mixed kinds: each opens it with its own key', async () => {
    const eml = await encryptMessage(toApprover({ headers: ['Cc: controller@example.com'] }), [approverRsa.certificate, approverEc.certificate, controller.certificate], enc());
    const a = await decryptMessage(eml, { keys: [key(approverRsa)] });
    const b = await decryptMessage(eml, { keys: [key(approverEc)] });
    const c = await decryptMessage(eml, { keys: [key(controller)] });
    expect([a.keyManagement, b.keyManagement, c.keyManagement]).toEqual(['rsa-oaep', 'ecdh', 'ecdh']);
    // RecipientInfos is a DER SET OF: sorted, so each key finds its own entry wherever it landed.
    expect(new Set([a.recipientIndex, b.recipientIndex, c.recipientIndex]).size).toBe(3);
    expect(a.recipients).toHaveLength(3);
    expect(a.entity).toEqual(c.entity);
  });

  it('AES-128-GCM, AES-CBC (enveloped-data, integrityProtected false) and PKCS#1 v1.5 when asked', async () => {
    const gcm128 = await encryptMessage(toApprover(), [approverRsa.certificate], { ...enc(), contentEncryption: 'aes-128-gcm' });
    expect((await decryptMessage(gcm128, { keys: [key(approverRsa)] })).contentEncryption).toBe('aes-128-gcm');
    const cbc = await encryptMessage(toApprover(), [approverRsa.certificate], { ...enc(), contentEncryption: 'aes-256-cbc', keyTransport: 'rsa-pkcs1' });
    expect(parseMessage(cbc).contentType.params.get('smime-type')).toBe('enveloped-data');
    const d = await decryptMessage(cbc, { keys: [key(approverRsa)] });
    expect(d).toMatchObject({ contentEncryption: 'aes-256-cbc', integrityProtected: false, keyManagement: 'rsa-pkcs1' });
  });

  it('CBC when a recipient is known to decrypt nothing better; GCM otherwise', async () => {
    const old = await encryptMessage(toApprover(), [{ certificate: approverRsa.certificate, capabilities: ['aes-256-cbc', 'aes-128-cbc'] }], enc());
    expect(parseMessage(old).contentType.params.get('smime-type')).toBe('enveloped-data');
    const modern = await encryptMessage(toApprover(), [{ certificate: approverRsa.certificate, capabilities: ['aes-128-gcm', 'aes-256-cbc'] }], enc());
    expect((await decryptMessage(modern, { keys: [key(approverRsa)] })).contentEncryption).toBe('aes-128-gcm');
  });

  it('headerProtection false keeps the Subject outside and the inner part as given', async () => {
    const eml = await encryptMessage(toApprover(), [approverEc.certificate], { ...enc(), headerProtection: false });
    expect(getHeaders(parseMessage(eml), 'Subject')[0]!.value).toBe('Payment run 2026-03');
    const d = await decryptMessage(eml, { keys: [key(approverEc)] });
    expect(d.headerProtection).toBeUndefined();
    expect(fromLatin1(d.entity)).toBe('Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\nPlease pay 1,250.00 EUR to IBAN DE00 1234 5678 9012 3456 78.\r\n');
  });
});

describe('recipient checks before anything is encrypted', () => {
  it('a To or Cc address without a certificate: ERR_RECIPIENT_MISSING listing them', async () => {
    const msg = toApprover({ to: 'approver@example.com, Auditor <audit@example.com>', headers: ['Cc: controller@example.com, legal@example.com'] });
    const err = await encryptMessage(msg, [approverRsa.certificate], enc()).catch((e) => e);
    expect(err).toBeInstanceOf(MailPkiError);
    expect(err.code).toBe('ERR_RECIPIENT_MISSING');
    expect(err.details).toEqual({ missing: ['audit@example.com', 'controller@example.com', 'legal@example.com'] });
  });

  it('encryptToSelf does not stand in for a To address, and the sender can open the sent copy', async () => {
    const err = await encryptMessage(toApprover(), [], { ...enc(), encryptToSelf: f.paymentsRsa.certificate }).catch((e) => e);
    expect(err.code).toBe('ERR_RECIPIENT_MISSING');
    expect(err.details).toEqual({ missing: ['approver@example.com'] });
    const eml = await encryptMessage(toApprover(), [approverEc.certificate], { ...enc(), encryptToSelf: f.paymentsRsa.certificate });
    expect((await decryptMessage(eml, { keys: [key(f.paymentsRsa)] })).certificate.serialNumber).toBe(f.paymentsRsa.certificate.serialNumber);
  });

  it.each([
    ['expired at `at`', () => f.expired.certificate, 'CHAIN_EXPIRED'],
    ['from a CA that is not a trust anchor', () => f.untrusted.certificate, 'CHAIN_NO_PATH_TO_ANCHOR'],
    ['extKeyUsage without emailProtection', () => f.noEmailProtection.certificate, 'CHAIN_LEAF_EXT_KEY_USAGE'],
    ['an EC key whose keyUsage lacks keyAgreement', () => signingOnly.certificate, 'CHAIN_LEAF_KEY_USAGE'],
    ['an EC key with keyEncipherment only', () => f.keyEnciphermentOnly.certificate, 'CHAIN_LEAF_KEY_USAGE'],
  ])('%s: ERR_RECIPIENT_INVALID', async (_, cert, code) => {
    const err = await encryptMessage(plainMessage({ to: 'payments@example.com' }), [cert()], enc()).catch((e) => e);
    expect(err).toBeInstanceOf(MailPkiError);
    expect(err.code).toBe('ERR_RECIPIENT_INVALID');
    expect(err.details.problems.some((p: string) => p.startsWith(`${code}:`))).toBe(true);
  });

  it('an RSA recipient with signing-only keyUsage is refused (keyEncipherment)', async () => {
    const rsaSigning = await party('approver@example.com', 'rsa-2048', 'signing');
    const err = await encryptMessage(toApprover(), [rsaSigning.certificate], enc()).catch((e) => e);
    expect(err.code).toBe('ERR_RECIPIENT_INVALID');
    expect(err.message).toContain('keyEncipherment');
  });

  it('a revoked recipient is refused under the same revocation option verifyMessage takes', async () => {
    // A CA of its own whose clock is NOW, so its CRL is current at NOW.
    const ca = await LocalCA.create(new MemoryCaStorage(), { name: 'Revoking CA', allowedDomains: ['example.com'] }, { clock });
    const pair = await generateKeyPair('ec-p256', { extractable: true });
    const issued = parseCertificate((await ca.issue({ mailbox: 'approver@example.com', publicKey: await exportSpki(pair.publicKey) })).certificate);
    const o = { clock, at: NOW, trustAnchors: [ca.rootCertificate], intermediates: [ca.issuingCertificate] };
    const crlBefore = await ca.createCrl();
    await encryptMessage(toApprover(), [issued], { ...o, revocation: { policy: 'soft-fail', crls: [crlBefore] } });
    await ca.revoke({ serialNumber: issued.serialNumber, reason: 'keyCompromise' });
    const crl = await ca.createCrl();
    const err = await encryptMessage(toApprover(), [issued], { ...o, revocation: { policy: 'soft-fail', crls: [crl] } }).catch((e) => e);
    expect(err.code).toBe('ERR_RECIPIENT_INVALID');
    expect(err.details.problems).toEqual([expect.stringMatching(/^SMIME_CERTIFICATE_REVOKED: certificate CN=approver@example.com .* is revoked \(keyCompromise\)$/)]);
    // Without the option nothing is checked, as for verifyMessage.
    await encryptMessage(toApprover(), [issued], o);
  });

  it('keyTransport on an EC recipient is a caller mistake', async () => {
    const err = await encryptMessage(toApprover(), [{ certificate: approverEc.certificate, keyTransport: 'rsa-oaep' }], enc()).catch((e) => e);
    expect(err.code).toBe('ERR_INVALID_INPUT');
  });
});

describe('signAndEncrypt → verifyMessage with decryptionKeys: one verdict', () => {
  it('valid: every layer in order, the protected headers, and the message a client shows', async () => {
    const eml = await signAndEncrypt(toApprover(), f.payments, [approverRsa.certificate], { ...enc(), encryptToSelf: f.paymentsRsa.certificate });
    const v = await verifyMessage(eml, verifyOptions(f, { decryptionKeys: [key(approverRsa)] }));
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
    expect(v.signedScope).toBe('entire');
    expect(v.layers).toEqual([
      { kind: 'encrypted', opened: true, contentEncryption: 'aes-256-gcm', integrityProtected: true, keyManagement: 'rsa-oaep', recipientIndex: expect.any(Number), recipients: [expect.any(String), expect.any(String)] },
      { kind: 'signed', signatureLayer: 0, form: 'detached' },
    ]);
    expect(v.headerProtection.map((h) => [h.hp, h.where, h.differences.map((d) => d.name)])).toEqual([['cipher', 'the signed part', ['Subject']]]);
    expect(v.warnings).toEqual([]);
    expect(v.signers[0]!.emails).toEqual(['payments@example.com']);
    expect(fromLatin1(v.decryptedMessage!)).toContain('Please pay 1,250.00 EUR');
    // The sent copy: the sender's own key opens it too.
    expect((await verifyMessage(eml, verifyOptions(f, { decryptionKeys: [key(f.paymentsRsa)] }))).valid).toBe(true);
  });

  it('opaque signing inside, Subject kept outside on request: valid, layers encrypted then signed (opaque)', async () => {
    const eml = await signAndEncrypt(toApprover(), f.paymentsRsa, [approverRsa.certificate], { ...enc(), opaque: true, obscureSubject: false });
    expect(getHeaders(parseMessage(eml), 'Subject')[0]!.value).toBe('Payment run 2026-03');
    const v = await verifyMessage(eml, verifyOptions(f, { decryptionKeys: [key(approverRsa)] }));
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
    expect(v.layers.map((l) => (l.kind === 'signed' ? `signed ${l.form}` : l.kind))).toEqual(['encrypted', 'signed opaque']);
    expect(v.headerProtection.map((h) => h.differences)).toEqual([[]]);
  });

  it('encryptToSelf: true uses the signer certificate', async () => {
    const eml = await signAndEncrypt(toApprover(), f.paymentsRsa, [approverEc.certificate], { ...enc(), encryptToSelf: true });
    const d = await decryptMessage(eml, { keys: [key(f.paymentsRsa)] });
    expect(d.certificate.serialNumber).toBe(f.paymentsRsa.certificate.serialNumber);
    expect(d.recipients).toHaveLength(2);
  });

  it('no key given: SMIME_ENCRYPTED_NO_KEY naming the recipients, not valid', async () => {
    const eml = await signAndEncrypt(toApprover(), f.payments, [approverRsa.certificate], enc());
    const v = await verifyMessage(eml, verifyOptions(f));
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_ENCRYPTED_NO_KEY']);
    expect(v.layers).toEqual([{ kind: 'encrypted', opened: false, recipients: [expect.stringContaining(approverRsa.certificate.serialNumber)] }]);
    expect(v.decryptedMessage).toBeUndefined();
  });

  it('the wrong key: SMIME_DECRYPTION_FAILED, nothing decrypted handed out', async () => {
    const eml = await signAndEncrypt(toApprover(), f.payments, [approverRsa.certificate], enc());
    const v = await verifyMessage(eml, verifyOptions(f, { decryptionKeys: [key(controller)] }));
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_DECRYPTION_FAILED']);
    expect(v.decryptedMessage).toBeUndefined();
    expect(v.signers).toEqual([]);
  });

  it('a flipped ciphertext byte: decryptMessage throws, verifyMessage says SMIME_DECRYPTION_FAILED', async () => {
    const eml = fromLatin1(await encryptMessage(toApprover(), [approverEc.certificate], enc()));
    const lines = eml.split('\r\n');
    const i = lines.length - 4; // a base64 line near the end: the ciphertext or the tag
    const line = lines[i]!;
    lines[i] = line.slice(0, 10) + (line[10] === 'A' ? 'B' : 'A') + line.slice(11);
    const tampered = lines.join('\r\n');
    const err = await decryptMessage(tampered, { keys: [key(approverEc)] }).catch((e) => e);
    expect(err).toBeInstanceOf(MailPkiError);
    const v = await verifyMessage(tampered, verifyOptions(f, { decryptionKeys: [key(approverEc)] }));
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_DECRYPTION_FAILED']);
    expect(v.decryptedMessage).toBeUndefined();
  });

  it('encrypted only (GCM), not signed: SMIME_NOT_SIGNED, never valid', async () => {
    const eml = await encryptMessage(toApprover(), [approverEc.certificate], enc());
    const v = await verifyMessage(eml, verifyOptions(f, { decryptionKeys: [key(approverEc)] }));
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_NOT_SIGNED']);
    expect(v.decryptedMessage).toBeDefined();
  });

  it('CBC only, not signed: integrity unknown', async () => {
    const eml = await encryptMessage(toApprover(), [approverEc.certificate], { ...enc(), contentEncryption: 'aes-128-cbc' });
    const v = await verifyMessage(eml, verifyOptions(f, { decryptionKeys: [key(approverEc)] }));
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code).sort()).toEqual(['SMIME_INTEGRITY_UNKNOWN', 'SMIME_NOT_SIGNED']);
    expect(v.layers[0]).toMatchObject({ kind: 'encrypted', integrityProtected: false });
    // EFAIL: CBC plaintext no signature vouches for is not handed out to be rendered.
    expect(v.decryptedMessage).toBeUndefined();
  });

  it('CBC with a signature inside: the signature covers the content, valid', async () => {
    const eml = await signAndEncrypt(toApprover(), f.payments, [approverEc.certificate], { ...enc(), contentEncryption: 'aes-256-cbc' });
    const v = await verifyMessage(eml, verifyOptions(f, { decryptionKeys: [key(approverEc)] }));
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
    expect(v.decryptedMessage).toBeDefined();
  });

  it('the outer From changed after encryption: the protected From differs, invalid', async () => {
    const eml = fromLatin1(await signAndEncrypt(toApprover(), f.payments, [approverEc.certificate], enc()));
    const forged = eml.replace('From: Payments <payments@example.com>', 'From: CEO <ceo@example.com>');
    const v = await verifyMessage(forged, verifyOptions(f, { decryptionKeys: [key(approverEc)] }));
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toContain('SMIME_SIGNED_FROM_MISMATCH');
    const encOnly = fromLatin1(await encryptMessage(toApprover(), [approverEc.certificate], enc())).replace('From: Payments <payments@example.com>', 'From: CEO <ceo@example.com>');
    const w = await verifyMessage(encOnly, verifyOptions(f, { decryptionKeys: [key(approverEc)] }));
    expect(w.problems.map((p) => p.code)).toContain('SMIME_ENCRYPTED_FROM_MISMATCH');
  });

  it('the outer Subject changed (not "[...]"): a warning naming both', async () => {
    const eml = fromLatin1(await signAndEncrypt(toApprover(), f.payments, [approverEc.certificate], enc())).replace(`Subject: ${OBSCURED_SUBJECT}`, 'Subject: Urgent: new IBAN');
    const v = await verifyMessage(eml, verifyOptions(f, { decryptionKeys: [key(approverEc)] }));
    expect(v.warnings.map((w) => [w.code, w.header])).toEqual([['SMIME_OUTER_HEADER_MISMATCH', 'Subject']]);
  });
});

describe('signMessage headerProtection (hp="clear")', () => {
  it('is off by default (today\'s output) and, when on, puts the fields in the signed part', async () => {
    const plain = fromLatin1(await signMessage(toApprover(), f.payments, { clock }));
    expect(plain).not.toContain('hp=');
    const hp = await signMessage(toApprover(), f.payments, { clock, headerProtection: true });
    const v = await verifyMessage(hp, verifyOptions(f));
    expect(v.valid).toBe(true);
    expect(v.headerProtection).toEqual([
      {
        hp: 'clear',
        where: 'the signed part',
        fields: [
          { name: 'From', value: 'Payments <payments@example.com>' },
          { name: 'To', value: 'approver@example.com' },
          { name: 'Subject', value: 'Payment run 2026-03' },
          { name: 'Date', value: 'Sun, 15 Mar 2026 12:00:00 +0000' },
          { name: 'Message-ID', value: '<fixture.1@example.com>' },
        ],
        differences: [],
        legacyDisplayParts: [],
      },
    ]);
    // hp="clear" carries no HP-Outer record (RFC 9788 §2.2: it is for encrypted payloads).
    expect(fromLatin1(hp)).not.toContain('HP-Outer');
    // A changed outer Subject is now a reported difference, unexplained (nothing records the outer header).
    const changed = fromLatin1(hp).replace('Subject: Payment run 2026-03', 'Subject: Changed');
    const w = await verifyMessage(changed, verifyOptions(f));
    expect(w.headerProtection[0]!.differences).toEqual([{ name: 'Subject', outer: ['Changed'], protected: ['Payment run 2026-03'], cause: 'unexplained' }]);
    expect(w.warnings.map((x) => [x.code, x.header])).toEqual([['SMIME_OUTER_HEADER_MISMATCH', 'Subject']]);
  });
});

describe('bad input', () => {
  it('a message that already carries hp="clear" gets one hp parameter, "cipher"', async () => {
    const msg = toApprover({ contentHeaders: ['Content-Type: text/plain; charset=us-ascii; hp="clear"'] });
    const d = await decryptMessage(await encryptMessage(msg, [approverEc.certificate], enc()), { keys: [key(approverEc)] });
    const inner = parseMessage(d.entity);
    expect(inner.contentType.params.get('hp')).toBe('cipher');
    expect(inner.contentType.duplicateParams).toEqual([]);
  });

  it('decryptMessage of a message that is not encrypted: ERR_INVALID_INPUT', async () => {
    const err = await decryptMessage(toApprover(), { keys: [key(approverEc)] }).catch((e) => e);
    expect(err.code).toBe('ERR_INVALID_INPUT');
  });

  it('not encrypted to any given key: the CMS code, naming the RecipientInfos', async () => {
    const eml = await encryptMessage(toApprover(), [approverRsa.certificate], enc());
    const err = await decryptMessage(eml, { keys: [key(controller)] }).catch((e) => e);
    expect(err).toBeInstanceOf(MailPkiError);
    expect(err.message).toContain(approverRsa.certificate.serialNumber);
  });

  it('no recipients, too many recipients', async () => {
    expect((await encryptMessage(toApprover(), [], enc()).catch((e) => e)).code).toBe('ERR_INVALID_INPUT');
    const many = Array.from({ length: 257 }, () => approverEc.certificate);
    expect((await encryptMessage(toApprover(), many, enc()).catch((e) => e)).code).toBe('ERR_INPUT_TOO_LARGE');
  });

  it('latin1 round trip of a message with 8-bit body works (re-encoded 7-bit inside)', async () => {
    const msg = latin1(toApprover({ contentHeaders: ['Content-Type: text/plain; charset=iso-8859-1', 'Content-Transfer-Encoding: 8bit'], body: 'Gr\xfc\xdfe\r\n' }));
    const eml = await encryptMessage(msg, [approverEc.certificate], enc());
    const d = await decryptMessage(eml, { keys: [key(approverEc)] });
    expect(parseMessage(d.entity).decodedBody()).toEqual(latin1('Gr\xfc\xdfe\r\n'));
  });
});

describe('hostile encrypted input: a verdict or a coded error, never a crash, never valid', () => {
  it('random bytes and mutated real messages as authEnveloped-data', async () => {
    const fc = (await import('fast-check')).default;
    const real = await encryptMessage(toApprover(), [approverEc.certificate], enc());
    const der = Buffer.from(fromLatin1(real).split('\r\n\r\n').slice(1).join('').replace(/\s+/g, ''), 'base64');
    const wrap = (b: Uint8Array) =>
      `From: Payments <payments@example.com>\r\nTo: approver@example.com\r\nMIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=authEnveloped-data; name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(b).toString('base64')}\r\n`;
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 400 }),
      fc.record({ at: fc.nat(der.length - 1), to: fc.integer({ min: 0, max: 255 }), cut: fc.boolean() }).map(({ at, to, cut }) => {
        const b = Uint8Array.from(der);
        b[at] = to;
        return cut ? b.subarray(0, at + 1) : b;
      }),
    );
    await fc.assert(
      fc.asyncProperty(input, async (b) => {
        const eml = wrap(b);
        const v = await verifyMessage(eml, verifyOptions(f, { decryptionKeys: [key(approverEc)] }));
        expect(v.valid).toBe(false);
        const err = await decryptMessage(eml, { keys: [key(approverEc)] }).then(
          (d) => d,
          (e) => e,
        );
        if (err instanceof Error) expect(err).toBeInstanceOf(MailPkiError);
        else expect(b).toEqual(Uint8Array.from(der)); // only the unchanged message opens (GCM)
      }),
      { numRuns: Number(process.env.HOSTILE_RUNS ?? 150) },
    );
  }, 60_000);

  it('regression: the EncryptedContentInfo content type changed (GCM does not authenticate it without authAttrs) is refused', async () => {
    const real = fromLatin1(await encryptMessage(toApprover(), [approverEc.certificate], enc()));
    const [head, ...rest] = real.split('\r\n\r\n');
    const der = Buffer.from(rest.join('').replace(/\s+/g, ''), 'base64');
    const idData = Buffer.from([0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01]);
    const at = der.indexOf(idData);
    expect(at).toBeGreaterThan(0);
    der[at + 10] = 0x02; // id-signedData: the same ciphertext, now claimed to be something else
    const eml = `${head}\r\n\r\n${der.toString('base64')}\r\n`;
    const err = await decryptMessage(eml, { keys: [key(approverEc)] }).catch((e) => e);
    expect(err.code).toBe('ERR_CMS_MALFORMED');
    expect(err.message).toMatch(/id-data/); // refused by the CMS layer (RFC 5083 §2.1) before the message-level check
    const v = await verifyMessage(eml, verifyOptions(f, { decryptionKeys: [key(approverEc)] }));
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_DECRYPTION_FAILED']);
    expect(v.decryptedMessage).toBeUndefined();
  });

  it('a key of the wrong kind for the certificate, or a non-extractable signing key: a problem, not a crash', async () => {
    const eml = await encryptMessage(toApprover(), [approverEc.certificate], enc());
    const signingOnlyKey = (await generateKeyPair('ec-p256')).privateKey;
    const v = await verifyMessage(eml, verifyOptions(f, { decryptionKeys: [{ privateKey: signingOnlyKey, certificate: approverEc.certificate }] }));
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_DECRYPTION_FAILED']);
  });
});

// ---------------------------------------------------------------------------------------------
// atk12 regressions: what a valid verdict shows after decryption comes only from inside the signed
// content. The fields of a decrypted entity that encloses the signature (the multipart/signed
// wrapper) were written by whoever encrypted, or edited in transit (CBC).

/** Mallory re-encrypts a signed message he received to Bob, with header fields of his own on the wrapper (and hp="cipher"). */
async function rewrap(signedEml: Uint8Array, wrapperFields: string[], outer: string[], to: Certificate): Promise<string> {
  const text = fromLatin1(signedEml);
  const sep = text.indexOf('\r\n\r\n');
  const contentFields = text.slice(0, sep + 2).replace(/\r\n[ \t]+/g, ' ').split('\r\n').filter((l) => /^content-/i.test(l));
  const head = contentFields.map((l) => (/^content-type/i.test(l) ? `${l}; hp="cipher"` : l));
  const entity = latin1(`${[...wrapperFields, ...head].join('\r\n')}\r\n\r\n${text.slice(sep + 4)}`);
  const cms = await encryptData(entity, [{ certificate: to }], { contentEncryption: 'aes-256-gcm' });
  const b64 = Buffer.from(cms).toString('base64').replace(/.{76}/g, '$&\r\n');
  return `${outer.join('\r\n')}\r\nMIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=authEnveloped-data; name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n`;
}

const xorBlocks = (...bs: Uint8Array[]) => bs[0]!.map((_, i) => bs.reduce((a, b) => a ^ b[i]!, 0));

/**
 * EFAIL CBC gadget on AES-CBC EnvelopedData whose plaintext starts with the known block P0: decrypts
 * to x1 + 16 garbage bytes + x2 + the original plaintext from its second block on.
 */
function cbcGadget(eml: string, p0: string, x1: string, x2: string): string {
  const sep = eml.indexOf('\r\n\r\n');
  const der = new Uint8Array(Buffer.from(eml.slice(sep + 4).replace(/\s+/g, ''), 'base64'));
  const ed = parseEnvelopedData(der);
  const iv = (ed.contentEncryption as { iv: Uint8Array }).iv;
  const ct = ed.encryptedContent![0]!;
  const c0 = ct.subarray(0, 16);
  const content = new Uint8Array(ct.length + 32);
  content.set(c0, 0);
  content.set(xorBlocks(latin1(p0), iv, latin1(x2)), 16);
  content.set(c0, 32);
  content.set(ct.subarray(16), 48);
  const root = cursor(parseDer(der));
  root.next(Tag.OID);
  const body = cursor(cursor(root.next(0xa0)).next(Tag.SEQUENCE));
  const version = body.next(Tag.INTEGER);
  const ris = body.next(Tag.SET);
  const out = seq(
    oid('1.2.840.113549.1.7.3'),
    explicit(0, seq(encodedOf(version), encodedOf(ris), seq(oid('1.2.840.113549.1.7.1'), seq(oid('2.16.840.1.101.3.4.1.42'), octets(xorBlocks(latin1(p0), iv, latin1(x1)))), implicit(0, content)))),
  );
  return `${eml.slice(0, sep + 4)}${Buffer.from(out).toString('base64').replace(/.{76}/g, '$&\r\n')}\r\n`;
}

describe('atk12: header fields outside the signed content are not shown, and say so', () => {
  const alice = () => plainMessage({ to: 'approver@example.com', subject: 'Lunch on Friday?', body: 'See you at noon.\r\n' });
  const from = 'From: Payments <payments@example.com>';
  const mallory = [from, 'To: approver@example.com', 'Subject: URGENT: pay 98,000 EUR to the new IBAN today'];

  it('regression (CBC gadget): a Subject prepended to the decrypted multipart/signed of a genuine signAndEncrypt(CBC) is a problem, never shown', async () => {
    const eml = fromLatin1(await signAndEncrypt(alice(), f.payments, [approverEc.certificate], { ...enc(), contentEncryption: 'aes-256-cbc' }));
    let tried = 0;
    // The garbage block between the two chosen ones may hold CR or LF and break the MIME: try header name spellings.
    for (const x2 of ['\nContent-Type:mu', '\nContent-type:mu', '\nCONTENT-TYPE:mu', '\ncontent-type:mu', '\nContent-TYPE:mu', '\ncontent-Type:mu']) {
      const v = await verifyMessage(cbcGadget(eml, 'Content-Type: mu', 'Subject: URGENT ', x2), verifyOptions(f, { decryptionKeys: [key(approverEc)] }));
      expect(v.valid).toBe(false);
      expect(v.decryptedMessage).toBeUndefined();
      if (v.layers[0]?.kind === 'encrypted' && !v.layers[0].opened) continue;
      // The garbage block may end in LF: with the LF of x2 that is a blank line, so the header ends after the
      // Subject and the multipart/signed becomes the body of an unsigned text — not signed, invalid (checked above).
      if (v.signers.length === 0) {
        expect(v.problems.map((p) => p.code)).toContain('SMIME_NOT_SIGNED');
        continue;
      }
      tried++;
      const mismatch = v.problems.filter((p) => p.code === 'SMIME_WRAPPER_HEADER_MISMATCH');
      expect(mismatch).toHaveLength(1);
      expect(mismatch[0]!.message).toMatch(/^the encrypted part carries Subject "URGENT .*" outside the signed content, .*: it is not shown; the signed Subject is "Lunch on Friday\?"$/);
      expect(v.signers.map((s) => s.ok)).toEqual([true]);
      expect(v.headerProtection.map((h) => h.where)).toEqual(['the signed part']);
    }
    expect(tried).toBeGreaterThan(0);
  });

  it('regression (re-wrap with hp="cipher"): Mallory\'s Subject on the wrapper of Alice\'s signed part: invalid, not shown, not listed as protected', async () => {
    const signed = await signMessage(alice(), f.payments, { clock, headerProtection: true });
    const eml = await rewrap(signed, mallory, [from, 'To: approver@example.com', 'Subject: [...]', 'Date: Sun, 15 Mar 2026 12:00:00 +0000'], approverEc.certificate);
    const v = await verifyMessage(eml, verifyOptions(f, { decryptionKeys: [key(approverEc)] }));
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_WRAPPER_HEADER_MISMATCH']);
    expect(v.problems[0]!.message).toContain('carries Subject "URGENT: pay 98,000 EUR to the new IBAN today" outside the signed content');
    expect(v.warnings.filter((w) => w.code === 'SMIME_WRAPPER_HEADER_IGNORED').map((w) => w.header)).toEqual(['From', 'To']);
    expect(v.headerProtection.map((h) => [h.hp, h.where])).toEqual([['clear', 'the signed part']]);
    expect(JSON.stringify(v.headerProtection)).not.toContain('URGENT');
    expect(v.signedHeaders.filter((h) => h.name === 'Subject').map((h) => h.value)).toEqual(['Lunch on Friday?']);
    // AES-GCM: the shown message is kept although not valid; it carries the signed Subject only.
    expect(getHeaders(parseMessage(v.decryptedMessage!), 'Subject').map((h) => h.value)).toEqual(['Lunch on Friday?']);
    expect(fromLatin1(v.decryptedMessage!)).not.toContain('URGENT');
    // Mallory's hp="cipher" on the wrapper is not shown either: it would call the outer fields above it protected.
    expect(parseMessage(v.decryptedMessage!).contentType).toMatchObject({ mediaType: 'multipart/signed' });
    expect([...parseMessage(v.decryptedMessage!).contentType.params.keys()].sort()).toEqual(['boundary', 'micalg', 'protocol']);
    // decryptMessage shows the same: the wrapper's own fields are dropped, the signed part's protected ones reported.
    const d = await decryptMessage(eml, { keys: [key(approverEc)] });
    expect(fromLatin1(d.message)).not.toContain('URGENT');
    expect(getHeaders(parseMessage(d.message), 'Subject').map((h) => h.value)).toEqual(['Lunch on Friday?']);
    expect(d.headerProtection).toMatchObject({ hp: 'clear', where: 'the signed part' });
    expect(fromLatin1(d.entity)).toContain('URGENT'); // `entity` stays exactly what was encrypted
  });

  it('regression (re-wrap, no header protection by Alice): the wrapper Subject differs from the outer one: a problem, not shown', async () => {
    const signed = await signMessage(alice(), f.payments, { clock });
    const eml = await rewrap(signed, mallory, [from, 'To: approver@example.com', 'Subject: [...]'], approverEc.certificate);
    const v = await verifyMessage(eml, verifyOptions(f, { decryptionKeys: [key(approverEc)] }));
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_WRAPPER_HEADER_MISMATCH']);
    expect(v.problems[0]!.message).toMatch(/carries Subject "URGENT: [^"]*" outside the signed content, .*; the outer Subject is "\[\.\.\.\]"$/);
    expect(v.headerProtection).toEqual([]);
    expect(getHeaders(parseMessage(v.decryptedMessage!), 'Subject').map((h) => h.value)).toEqual(['[...]']);
  });

  it('a wrapper whose fields repeat the signed ones changes nothing shown: valid, each field a warning, shown once', async () => {
    const signed = await signMessage(alice(), f.payments, { clock, headerProtection: true });
    const eml = await rewrap(signed, [from, 'Subject: Lunch on Friday?', 'X-Mailer: re-wrapper 1.0'], [from, 'To: approver@example.com', 'Subject: [...]'], approverEc.certificate);
    const v = await verifyMessage(eml, verifyOptions(f, { decryptionKeys: [key(approverEc)] }));
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
    expect(v.warnings.filter((w) => w.code === 'SMIME_WRAPPER_HEADER_IGNORED').map((w) => w.header)).toEqual(['From', 'Subject', 'X-Mailer']);
    const shown = parseMessage(v.decryptedMessage!);
    expect(getHeaders(shown, 'Subject').map((h) => h.value)).toEqual(['Lunch on Friday?']);
    expect(getHeaders(shown, 'X-Mailer')).toEqual([]);
    expect(getHeaders(shown, 'From').map((h) => h.value)).toEqual(['Payments <payments@example.com>']);
  });

  it('a wrapper with 50 long Subject fields: one problem quoting 8 clipped values and a count', async () => {
    const signed = await signMessage(alice(), f.payments, { clock, headerProtection: true });
    const subjects = Array.from({ length: 50 }, (_, i) => `Subject: ${i} ${'x'.repeat(2000)}`);
    const eml = await rewrap(signed, subjects, [from, 'To: approver@example.com', 'Subject: [...]'], approverEc.certificate);
    const v = await verifyMessage(eml, verifyOptions(f, { decryptionKeys: [key(approverEc)] }));
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_WRAPPER_HEADER_MISMATCH']);
    expect(v.problems[0]!.message).toContain('x…" and 42 more outside the signed content');
    expect(v.problems[0]!.message.length).toBeLessThan(1400);
  });

  it('two encrypted layers: a Subject on the inner encrypted entity (a wrapper too) is a problem and not shown', async () => {
    const eml = fromLatin1(await signAndEncrypt(alice(), f.payments, [approverEc.certificate], enc()));
    const sep = eml.indexOf('\r\n\r\n');
    const head = eml.slice(0, sep).replace(/\r\n[ \t]+/g, ' ').split('\r\n').filter((l) => /^content-/i.test(l));
    const twice = await encryptData(latin1(`Subject: URGENT: new IBAN\r\n${head.join('\r\n')}\r\n\r\n${eml.slice(sep + 4)}`), [{ certificate: approverEc.certificate }], { contentEncryption: 'aes-256-gcm' });
    const outer = `${from}\r\nTo: approver@example.com\r\nSubject: [...]\r\nMIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=authEnveloped-data\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(twice).toString('base64')}\r\n`;
    const v = await verifyMessage(outer, verifyOptions(f, { decryptionKeys: [key(approverEc)] }));
    expect(v.layers.map((l) => l.kind)).toEqual(['encrypted', 'encrypted', 'signed']);
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_WRAPPER_HEADER_MISMATCH']);
    expect(v.problems[0]!.message).toMatch(/^the encrypted part of layer 0 carries Subject "URGENT: new IBAN" outside the signed content, .*; the signed Subject is "Lunch on Friday\?"$/);
    expect(getHeaders(parseMessage(v.decryptedMessage!), 'Subject').map((h) => h.value)).toEqual(['Lunch on Friday?']);
    expect(fromLatin1(v.decryptedMessage!)).not.toContain('URGENT');
  });

  it('a wrapper From of another mailbox: SMIME_ENCRYPTED_FROM_MISMATCH (reported once)', async () => {
    const signed = await signMessage(alice(), f.payments, { clock, headerProtection: true });
    const eml = await rewrap(signed, ['From: CEO <ceo@example.com>'], [from, 'To: approver@example.com', 'Subject: [...]'], approverEc.certificate);
    const v = await verifyMessage(eml, verifyOptions(f, { decryptionKeys: [key(approverEc)] }));
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_ENCRYPTED_FROM_MISMATCH']);
    expect(getHeaders(parseMessage(v.decryptedMessage!), 'From').map((h) => h.value)).toEqual(['Payments <payments@example.com>']);
  });

  it('regression (reply attack): an encrypted part inside an unsigned multipart/mixed is reported and never decrypted', async () => {
    const captured = fromLatin1(await encryptMessage(toApprover({ body: 'The merger price is 41.50 EUR per share.\r\n' }), [approverEc.certificate], enc()));
    const sep = captured.indexOf('\r\n\r\n');
    const entityHead = captured.slice(0, sep).replace(/\r\n[ \t]+/g, ' ').split('\r\n').filter((l) => /^content-/i.test(l)).join('\r\n');
    const eml =
      'From: Mallory <mallory@evil.test>\r\nReply-To: mallory@evil.test\r\nTo: approver@example.com\r\nSubject: quick question\r\nMIME-Version: 1.0\r\n' +
      'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHi Bob, what does the forwarded note below say?\r\n--b\r\n' +
      `${entityHead}\r\n\r\n${captured.slice(sep + 4)}\r\n--b--\r\n`;
    const v = await verifyMessage(eml, verifyOptions(f, { decryptionKeys: [key(approverEc)] }));
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_PARTIALLY_ENCRYPTED']);
    expect(v.problems[0]!.message).toMatch(/only part 1 is encrypted; .*: the part is not decrypted$/);
    expect(v.layers).toEqual([]);
    expect(v.decryptedMessage).toBeUndefined();
  });

  it('an encrypted part inside a partially signed part is not decrypted either', async () => {
    const captured = fromLatin1(await encryptMessage(toApprover({ body: 'The merger price is 41.50 EUR per share.\r\n' }), [approverEc.certificate], enc()));
    const sep = captured.indexOf('\r\n\r\n');
    const entityHead = captured.slice(0, sep).replace(/\r\n[ \t]+/g, ' ').split('\r\n').filter((l) => /^content-/i.test(l)).join('\r\n');
    // Mallory signs the captured entity himself and puts it beside his text.
    const signedPart = fromLatin1(await signMessage(`${entityHead}\r\n\r\n${captured.slice(sep + 4)}`, f.attacker, { clock }));
    const eml =
      'From: Mallory <attacker@evil.test>\r\nTo: approver@example.com\r\nSubject: quick question\r\nMIME-Version: 1.0\r\n' +
      'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHi Bob, what does it say?\r\n--b\r\n' +
      `${signedPart.replace(/^MIME-Version: 1\.0\r\n/i, '')}\r\n--b--\r\n`;
    const v = await verifyMessage(eml, verifyOptions(f, { decryptionKeys: [key(approverEc)] }));
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_PARTIALLY_SIGNED', 'SMIME_PARTIALLY_ENCRYPTED']);
    expect(v.layers.map((l) => l.kind)).toEqual(['signed']);
    expect(v.decryptedMessage).toBeUndefined();
  });

  /** Mallory's multipart/mixed: his text, and a captured entity Alice encrypted to the approver. */
  async function mixedWithCaptured(): Promise<string> {
    const captured = fromLatin1(await encryptMessage(toApprover({ body: 'The merger price is 41.50 EUR per share.\r\n' }), [approverEc.certificate], enc()));
    const sep = captured.indexOf('\r\n\r\n');
    const entityHead = captured.slice(0, sep).replace(/\r\n[ \t]+/g, ' ').split('\r\n').filter((l) => /^content-/i.test(l)).join('\r\n');
    return (
      'From: Mallory <attacker@evil.test>\r\nTo: approver@example.com\r\nSubject: quick question\r\nMIME-Version: 1.0\r\n' +
      'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHi Bob, what does it say?\r\n--b\r\n' +
      `${entityHead}\r\n\r\n${captured.slice(sep + 4)}\r\n--b--\r\n`
    );
  }

  it('regression (signed reply attack): a captured encrypted part inside the signed content (Mallory signs his multipart/mixed) is reported, not decrypted', async () => {
    const v = await verifyMessage(await signMessage(await mixedWithCaptured(), f.attacker, { clock }), verifyOptions(f, { decryptionKeys: [key(approverEc)] }));
    expect(v.signers.map((s) => s.ok)).toEqual([true]);
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_PARTIALLY_ENCRYPTED']);
    expect(v.problems[0]!.message).toBe('part 0.1 inside the signed content (multipart/mixed) is encrypted: it is not decrypted, and nothing says who wrote what it holds');
    expect(v.layers.map((l) => l.kind)).toEqual(['signed']);
    expect(v.decryptedMessage).toBeUndefined();
  });

  it('the same signed and encrypted to the approver (encrypted → signed → mixed with the captured part): the outer layer opens, the nested part does not', async () => {
    const eml = await signAndEncrypt(await mixedWithCaptured(), f.attacker, [approverEc.certificate], enc());
    const v = await verifyMessage(eml, verifyOptions(f, { decryptionKeys: [key(approverEc)] }));
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_PARTIALLY_ENCRYPTED']);
    expect(v.layers.map((l) => l.kind)).toEqual(['encrypted', 'signed']);
    expect(fromLatin1(v.decryptedMessage!)).not.toContain('41.50 EUR');
  });

  it('triple wrap (sign, encrypt, sign; RFC 2634): valid, the protected fields shown; fields on the inner multipart/signed only warn (the outer signer encrypted them)', async () => {
    const inner = fromLatin1(await signAndEncrypt(toApprover({ subject: 'Payment run 2026-03' }), f.payments, [approverEc.certificate], enc()));
    const v = await verifyMessage(await signMessage(inner, f.payments, { clock }), verifyOptions(f, { decryptionKeys: [key(approverEc)] }));
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
    expect(v.layers.map((l) => l.kind)).toEqual(['signed', 'encrypted', 'signed']);
    expect(getHeaders(parseMessage(v.decryptedMessage!), 'Subject').map((h) => h.value)).toEqual(['Payment run 2026-03']);
    // A wrapper inside the outer signature: its fields are neither shown nor a problem.
    const cms = await encryptData(latin1(`Subject: Something else\r\n${entityOf(fromLatin1(await signMessage(toApprover(), f.payments, { clock, headerProtection: true })))}`), [{ certificate: approverEc.certificate }], { contentEncryption: 'aes-256-gcm' });
    const encrypted = `From: Payments <payments@example.com>\r\nTo: approver@example.com\r\nSubject: Payment run 2026-03\r\nMIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=authEnveloped-data; name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(cms).toString('base64')}\r\n`;
    const w = await verifyMessage(await signMessage(encrypted, f.payments, { clock }), verifyOptions(f, { decryptionKeys: [key(approverEc)] }));
    expect(w.problems).toEqual([]);
    expect(w.warnings.filter((x) => x.code === 'SMIME_WRAPPER_HEADER_IGNORED').map((x) => x.header)).toEqual(['Subject']);
    expect(fromLatin1(w.decryptedMessage!)).not.toContain('Something else');
  });
});

describe('atk12: the message shown is the protected fields plus outer trace fields', () => {
  it('regression: Cc, Reply-To and List-Unsubscribe added in transit are not shown and are reported; Received stays; the protected Subject is shown', async () => {
    const eml = fromLatin1(await signAndEncrypt(toApprover(), f.payments, [approverEc.certificate], enc()));
    const tampered =
      'Received: from mx.example.com by mail.example.com; Sun, 15 Mar 2026 12:00:01 +0000\r\n' +
      eml.replace('\r\nMIME-Version: 1.0', '\r\nCc: CEO <ceo@example.com>\r\nReply-To: Payments desk <payments-desk@example.com>\r\nList-Unsubscribe: <https://evil.test/u>\r\nMIME-Version: 1.0');
    const v = await verifyMessage(tampered, verifyOptions(f, { decryptionKeys: [key(approverEc)] }));
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
    expect(v.warnings.map((w) => [w.code, w.header])).toEqual([
      ['SMIME_OUTER_HEADER_MISMATCH', 'Cc'],
      ['SMIME_OUTER_HEADER_MISMATCH', 'Reply-To'],
      ['SMIME_OUTER_FIELD_NOT_SHOWN', 'List-Unsubscribe'],
    ]);
    const shown = parseMessage(v.decryptedMessage!);
    const names = shown.headers.map((h) => h.name);
    expect(names).toEqual(['Received', 'From', 'To', 'Subject', 'Date', 'Message-ID', 'MIME-Version', 'Content-Type']);
    expect(getHeaders(shown, 'Subject').map((h) => h.value)).toEqual(['Payment run 2026-03']);
    const d = await decryptMessage(tampered, { keys: [key(approverEc)] });
    expect(parseMessage(d.message).headers.map((h) => h.name)).toEqual(names);
    expect(d.headerProtection!.differences.map((x) => `${x.name}:${x.cause}`)).toEqual(['Subject:obscured', 'Cc:changed', 'Reply-To:changed']);
  });
});
