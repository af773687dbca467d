/**
 * RFC 9788 header protection as the RFC specifies it: the HP-Outer record of an encrypted payload
 * (§2.2), the header confidentiality policies (§3.2), the receiving side telling a field the sender
 * obscured from one changed after sending (§4.2), what a client is told to display, and the hp /
 * HP-Outer paths an attacker may try (repeated, added, removed, malformed, too many).
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { encryptData, signData } from '../../src/cms/index.js';
import { fromLatin1 } from '../../src/internal/bytes.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { encodeBase64Lines, getHeaders, parseMessage } from '../../src/mime/index.js';
import { MAX_HP_OUTER_FIELDS, decryptMessage, encryptMessage, signAndEncrypt, signMessage, verifyMessage, OBSCURED_SUBJECT } from '../../src/smime/index.js';
import { GOOD_FROM, NOW, clock, entityOf, makeSmimeFixture, multipartSigned, plainMessage, utf8, verifyOptions, type FixtureSigner, type SmimeFixture } from './fixtures.js';

interface Party {
  certificate: Certificate;
  key: CryptoKey;
}

let f: SmimeFixture;
let approver: Party;
let controller: Party;

async function party(mailbox: string): Promise<Party> {
  const pair = await generateKeyPair('ec-p256', { extractable: true });
  const r = await f.ca.issue({ mailbox, publicKey: await exportSpki(pair.publicKey), profile: 'strict', notBefore: GOOD_FROM, validityDays: 365, usage: 'dual-use' });
  return { certificate: parseCertificate(r.certificate), key: pair.privateKey };
}

const key = (p: Party) => ({ privateKey: p.key, certificate: p.certificate });
const enc = () => ({ clock, at: NOW, trustAnchors: f.anchors, intermediates: [f.ca.issuingCertificate] });
const toApprover = (extra: Record<string, unknown> = {}) => plainMessage({ to: 'approver@example.com', ...extra });
const verifyAs = (eml: string | Uint8Array, p: Party) => verifyMessage(eml, verifyOptions(f, { decryptionKeys: [key(p)] }));

beforeAll(async () => {
  f = await makeSmimeFixture();
  [approver, controller] = await Promise.all([party('approver@example.com'), party('controller@example.com')]);
});

const OUTER = ['From: Payments <payments@example.com>', 'To: approver@example.com', `Subject: ${OBSCURED_SUBJECT}`, 'Date: Sun, 15 Mar 2026 12:00:00 +0000'];
const PROTECTED = ['From: Payments <payments@example.com>', 'To: approver@example.com', 'Subject: Payment run 2026-03', 'Date: Sun, 15 Mar 2026 12:00:00 +0000'];
const RECORD = OUTER.map((l) => `HP-Outer: ${l}`);
const BODY = '\r\nPlease pay 1,250.00 EUR to IBAN DE00 1234 5678 9012 3456 78.\r\n';

/** A payload (header lines, then Content-Type) as a producer other than mailpki would write it. */
const payload = (lines: string[], contentType = 'Content-Type: text/plain; charset=us-ascii; hp="cipher"') => `${[...lines, contentType].join('\r\n')}\r\n${BODY}`;

/** Signed by `signer` (detached), then encrypted (AES-GCM) to `to`, under `outer`. */
async function sealed(outer: string[], entity: string, signer: FixtureSigner = f.payments, to: Party = approver): Promise<string> {
  const cms = await signData(utf8(entity), {
    signers: [{ key: signer.key, certificate: signer.certificate, signingTime: NOW }],
    certificates: [signer.certificate.der, ...signer.chain.map((c) => c.der)],
    detached: true,
  });
  return encryptedAround(outer, entityOf(multipartSigned(outer, entity, cms)), to);
}

async function encryptedAround(outer: string[], inner: string, to: Party = approver): Promise<string> {
  const cms = await encryptData(utf8(inner), [{ certificate: to.certificate }], { contentEncryption: 'aes-256-gcm' });
  return `${outer.join('\r\n')}\r\nMIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=authEnveloped-data; name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n\r\n${encodeBase64Lines(cms)}\r\n`;
}

const outerHeaderWarnings = (v: { warnings: { code: string; header?: string }[] }) => v.warnings.map((w) => [w.code, w.header]);

describe('composing (RFC 9788 §2.2, §3.2)', () => {
  it('hcp_baseline: Subject "[...]", Keywords and Comments only inside, and no HP-Outer for what was removed', async () => {
    const eml = await encryptMessage(toApprover({ headers: ['Keywords: merger', 'Comments: draft 3'] }), [approver.certificate], enc());
    const root = parseMessage(eml);
    expect(getHeaders(root, 'Subject').map((h) => h.value)).toEqual([OBSCURED_SUBJECT]);
    expect(getHeaders(root, 'Keywords')).toEqual([]);
    expect(getHeaders(root, 'Comments')).toEqual([]);
    const d = await decryptMessage(eml, { keys: [key(approver)] });
    const inner = parseMessage(d.entity);
    expect(getHeaders(inner, 'Keywords').map((h) => h.value)).toEqual(['merger']);
    expect(getHeaders(inner, 'HP-Outer').map((h) => h.value.split(':')[0])).toEqual(['From', 'To', 'Subject', 'Date', 'Message-ID']);
    expect(d.headerProtection!.differences).toEqual([{ name: 'Subject', outer: [OBSCURED_SUBJECT], protected: ['Payment run 2026-03'], cause: 'obscured' }]);
    // What a reply must keep out of its own outer header (RFC 9788 §4.3, §6), judged from the record.
    expect(d.headerProtection!.confidential).toEqual(['Subject', 'Keywords', 'Comments']);
  });

  it('hcp_no_confidentiality: every field outside as written, recorded, no difference', async () => {
    const eml = await encryptMessage(toApprover({ headers: ['Keywords: merger'] }), [approver.certificate], { ...enc(), headerConfidentiality: 'hcp_no_confidentiality' });
    const root = parseMessage(eml);
    expect(getHeaders(root, 'Subject').map((h) => h.value)).toEqual(['Payment run 2026-03']);
    expect(getHeaders(root, 'Keywords').map((h) => h.value)).toEqual(['merger']);
    const d = await decryptMessage(eml, { keys: [key(approver)] });
    expect(d.headerProtection!.sentOuter!.map((h) => h.name)).toEqual(['From', 'To', 'Subject', 'Date', 'Message-ID', 'Keywords']);
    expect(d.headerProtection!.differences).toEqual([]);
    expect(d.headerProtection!.confidential).toEqual([]);
  });

  it('HP-Outer fields in the caller\'s message are dropped (inside and outside): only the record mailpki writes speaks', async () => {
    const eml = await encryptMessage(toApprover({ headers: ['HP-Outer: Subject: Payment run 2026-03'] }), [approver.certificate], enc());
    expect(fromLatin1(eml)).not.toContain('HP-Outer');
    const d = await decryptMessage(eml, { keys: [key(approver)] });
    expect(getHeaders(parseMessage(d.entity), 'HP-Outer').map((h) => h.value)).toEqual([
      'From: Payments <payments@example.com>',
      'To: approver@example.com',
      'Subject: [...]',
      'Date: Sun, 15 Mar 2026 12:00:00 +0000',
      'Message-ID: <fixture.1@example.com>',
    ]);
    expect(d.headerProtection!.differences.map((x) => x.cause)).toEqual(['obscured']);
  });

  it('a 995-character outer field: its HP-Outer line is folded after "HP-Outer:" (no line over 998)', async () => {
    const long = `X-Ref: ${'r'.repeat(988)}`;
    const eml = await encryptMessage(toApprover({ headers: [long] }), [approver.certificate], enc());
    const d = await decryptMessage(eml, { keys: [key(approver)] });
    const lines = fromLatin1(d.entity).split('\r\n');
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(998);
    expect(lines).toContain('HP-Outer:');
    expect(d.headerProtection!.sentOuter!.find((h) => h.name === 'X-Ref')!.value).toBe('r'.repeat(988));
  });
});

describe('receiving: obscured by the sender, or changed after sending (RFC 9788 §4.2)', () => {
  it('signAndEncrypt, untouched: valid, no warning, the Subject difference explained; the message shown carries the protected fields', async () => {
    const eml = await signAndEncrypt(toApprover(), f.payments, [approver.certificate], enc());
    const v = await verifyAs(eml, approver);
    expect(v.valid).toBe(true);
    expect(v.warnings).toEqual([]);
    expect(v.headerProtection.map((h) => [h.where, h.differences.map((d) => `${d.name}:${d.cause}`)])).toEqual([['the signed part', ['Subject:obscured']]]);
    const shown = parseMessage(v.decryptedMessage!);
    expect(getHeaders(shown, 'Subject').map((h) => h.value)).toEqual(['Payment run 2026-03']);
    expect(getHeaders(shown, 'From').map((h) => h.value)).toEqual(['Payments <payments@example.com>']);
    expect(getHeaders(shown, 'HP-Outer')).toEqual([]);
    // decryptMessage finds the protected fields inside the signed part too.
    const d = await decryptMessage(eml, { keys: [key(approver)] });
    expect(d.headerProtection!.where).toBe('the signed part');
    expect(getHeaders(parseMessage(d.message), 'Subject').map((h) => h.value)).toEqual(['Payment run 2026-03']);
  });

  it('the outer Subject rewritten after sending: "changed", the record\'s value named, still valid (the client shows the protected one)', async () => {
    const eml = fromLatin1(await signAndEncrypt(toApprover(), f.payments, [approver.certificate], enc())).replace(`Subject: ${OBSCURED_SUBJECT}`, 'Subject: Urgent: new IBAN');
    const v = await verifyAs(eml, approver);
    expect(v.valid).toBe(true);
    expect(v.headerProtection[0]!.differences).toEqual([
      { name: 'Subject', outer: ['Urgent: new IBAN'], protected: ['Payment run 2026-03'], cause: 'changed', sent: [OBSCURED_SUBJECT] },
    ]);
    expect(outerHeaderWarnings(v)).toEqual([['SMIME_OUTER_HEADER_MISMATCH', 'Subject']]);
    expect(v.warnings[0]!.message).toContain('is not what the sender sent ("[...]"');
    // Confidentiality is the sender's record, not the outer header as received.
    expect(v.headerProtection[0]!.confidential).toEqual(['Subject']);
    expect(getHeaders(parseMessage(v.decryptedMessage!), 'Subject').map((h) => h.value)).toEqual(['Payment run 2026-03']);
  });

  it('an outer Reply-To added after sending: "changed" (the record has none), and not in the message shown', async () => {
    const eml = fromLatin1(await signAndEncrypt(toApprover(), f.payments, [approver.certificate], enc())).replace('From: Payments', 'Reply-To: payments@example.com.evil.test\r\nFrom: Payments');
    const v = await verifyAs(eml, approver);
    expect(v.headerProtection[0]!.differences).toEqual([
      { name: 'Subject', outer: [OBSCURED_SUBJECT], protected: ['Payment run 2026-03'], cause: 'obscured' },
      { name: 'Reply-To', outer: ['payments@example.com.evil.test'], protected: [], cause: 'changed', sent: [] },
    ]);
    expect(outerHeaderWarnings(v)).toContainEqual(['SMIME_OUTER_HEADER_MISMATCH', 'Reply-To']);
    expect(getHeaders(parseMessage(v.decryptedMessage!), 'Reply-To')).toEqual([]);
  });

  it('an outer In-Reply-To added after sending (threading it into another conversation): not in the message shown', async () => {
    const eml = fromLatin1(await signAndEncrypt(toApprover(), f.payments, [approver.certificate], enc())).replace('From: Payments', 'In-Reply-To: <invoice-4711@example.com>\r\nFrom: Payments');
    const v = await verifyAs(eml, approver);
    expect(getHeaders(parseMessage(eml), 'In-Reply-To')).toHaveLength(1);
    expect(getHeaders(parseMessage(v.decryptedMessage!), 'In-Reply-To')).toEqual([]);
  });

  it('the outer Subject removed after sending: "changed"', async () => {
    const eml = fromLatin1(await signAndEncrypt(toApprover(), f.payments, [approver.certificate], enc())).replace(`Subject: ${OBSCURED_SUBJECT}\r\n`, '');
    const v = await verifyAs(eml, approver);
    expect(v.headerProtection[0]!.differences).toEqual([{ name: 'Subject', outer: [], protected: ['Payment run 2026-03'], cause: 'changed', sent: [OBSCURED_SUBJECT] }]);
    expect(outerHeaderWarnings(v)).toEqual([['SMIME_OUTER_HEADER_MISMATCH', 'Subject']]);
  });

  it('the outer From changed: still invalid (SMIME_SIGNED_FROM_MISMATCH), whatever the record says', async () => {
    const eml = fromLatin1(await signAndEncrypt(toApprover(), f.payments, [approver.certificate], enc())).replace('From: Payments <payments@example.com>', 'From: CEO <ceo@example.com>');
    const v = await verifyAs(eml, approver);
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toContain('SMIME_SIGNED_FROM_MISMATCH');
    expect(v.headerProtection[0]!.differences.find((d) => d.name === 'From')).toMatchObject({ cause: 'changed', sent: ['Payments <payments@example.com>'] });
  });

  it('a sender whose record obscures the From display name (another policy): no warning, the mailbox binding unchanged', async () => {
    const outer = ['From: payments@example.com', ...OUTER.slice(1)];
    const eml = await sealed(outer, payload([...PROTECTED, 'HP-Outer: From: payments@example.com', ...RECORD.slice(1)]));
    const v = await verifyAs(eml, approver);
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
    expect(v.warnings).toEqual([]);
    expect(v.headerProtection[0]!.differences.map((d) => `${d.name}:${d.cause}`)).toEqual(['From:obscured', 'Subject:obscured']);
  });

  it('a record that puts another mailbox in the outer From: the obscuring is explained, the From mismatch is still a problem (RFC 9788 §3.1.1)', async () => {
    const outer = ['From: ceo@example.com', ...OUTER.slice(1)];
    const eml = await sealed(outer, payload([...PROTECTED, 'HP-Outer: From: ceo@example.com', ...RECORD.slice(1)]));
    const v = await verifyAs(eml, approver);
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toContain('SMIME_SIGNED_FROM_MISMATCH');
  });

  it('surreptitious forwarding: the signed, encrypted message re-encrypted to someone else under another To → "changed" To', async () => {
    const eml = await signAndEncrypt(toApprover(), f.payments, [approver.certificate], enc());
    const d = await decryptMessage(eml, { keys: [key(approver)] });
    const outer = ['From: Payments <payments@example.com>', 'To: controller@example.com', `Subject: ${OBSCURED_SUBJECT}`, 'Date: Sun, 15 Mar 2026 12:00:00 +0000', 'Message-ID: <fixture.1@example.com>'];
    const v = await verifyAs(await encryptedAround(outer, fromLatin1(d.entity), controller), controller);
    expect(v.headerProtection[0]!.differences.filter((x) => x.cause === 'changed')).toEqual([
      { name: 'To', outer: ['controller@example.com'], protected: ['approver@example.com'], cause: 'changed', sent: ['approver@example.com'] },
    ]);
    expect(outerHeaderWarnings(v)).toEqual([['SMIME_OUTER_HEADER_MISMATCH', 'To']]);
    expect(getHeaders(parseMessage(v.decryptedMessage!), 'To').map((h) => h.value)).toEqual(['approver@example.com']);
  });
});

describe('hp and HP-Outer paths an attacker may try', () => {
  it('a repeated hp parameter: SMIME_STRUCTURE_INVALID, no protected section', async () => {
    const eml = await sealed(OUTER, payload([...PROTECTED, ...RECORD], 'Content-Type: text/plain; charset=us-ascii; hp="clear"; hp="cipher"'));
    const v = await verifyAs(eml, approver);
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_STRUCTURE_INVALID']);
    expect(v.headerProtection).toEqual([]);
  });

  it('HP-Outer in a payload that was not encrypted (hp="cipher", signed only): not read; a forged outer Subject stays unexplained', async () => {
    const forged = ['From: Payments <payments@example.com>', 'To: approver@example.com', 'Subject: Urgent: new IBAN', 'Date: Sun, 15 Mar 2026 12:00:00 +0000'];
    const entity = payload([...PROTECTED, 'HP-Outer: Subject: Urgent: new IBAN', ...RECORD.filter((l) => !l.includes('Subject'))]);
    const cms = await signData(utf8(entity), { signers: [{ key: f.payments.key, certificate: f.payments.certificate, signingTime: NOW }], certificates: [f.payments.certificate.der, ...f.payments.chain.map((c) => c.der)], detached: true });
    const v = await verifyMessage(multipartSigned(forged, entity, cms), verifyOptions(f));
    expect(v.headerProtection[0]!.sentOuter).toBeUndefined();
    expect(v.headerProtection[0]!.differences).toEqual([{ name: 'Subject', outer: ['Urgent: new IBAN'], protected: ['Payment run 2026-03'], cause: 'unexplained' }]);
    expect(outerHeaderWarnings(v)).toEqual([['SMIME_OUTER_HEADER_MISMATCH', 'Subject']]);
  });

  it('HP-Outer in an hp="clear" payload inside encryption: not read (RFC 9788 §2.2: only hp="cipher")', async () => {
    const eml = await sealed(OUTER, payload([...PROTECTED, ...RECORD], 'Content-Type: text/plain; charset=us-ascii; hp="clear"'));
    const v = await verifyAs(eml, approver);
    expect(v.headerProtection[0]!.sentOuter).toBeUndefined();
    // The "[...]" Subject of an encrypted message is still taken as obscured on purpose (no warning).
    expect(v.headerProtection[0]!.differences.map((d) => d.cause)).toEqual(['unexplained']);
    expect(v.warnings).toEqual([]);
  });

  it('a record with two values for Subject: the outer one must match both (a multiset), else "changed"', async () => {
    const eml = await sealed(OUTER, payload([...PROTECTED, ...RECORD, 'HP-Outer: Subject: Urgent: new IBAN']));
    const v = await verifyAs(eml, approver);
    expect(v.headerProtection[0]!.differences).toEqual([
      { name: 'Subject', outer: [OBSCURED_SUBJECT], protected: ['Payment run 2026-03'], cause: 'changed', sent: [OBSCURED_SUBJECT, 'Urgent: new IBAN'] },
    ]);
    expect(outerHeaderWarnings(v)).toEqual([['SMIME_OUTER_HEADER_MISMATCH', 'Subject']]);
  });

  it('a malformed HP-Outer field: the record is not used (SMIME_HP_OUTER_IGNORED), differences unexplained', async () => {
    const eml = await sealed(OUTER, payload([...PROTECTED, ...RECORD, 'HP-Outer: no field name here']));
    const v = await verifyAs(eml, approver);
    expect(v.valid).toBe(true);
    expect(v.warnings.map((w) => w.code)).toEqual(['SMIME_HP_OUTER_IGNORED']);
    expect(v.headerProtection[0]!.sentOuter).toBeUndefined();
    expect(v.headerProtection[0]!.differences.map((d) => d.cause)).toEqual(['unexplained']);
  });

  it(`more than MAX_HP_OUTER_FIELDS (${MAX_HP_OUTER_FIELDS}) HP-Outer fields: the record is not used`, async () => {
    const many = Array.from({ length: MAX_HP_OUTER_FIELDS + 1 }, (_, i) => `HP-Outer: X-Pad-${i}: ${i}`);
    const eml = await sealed(OUTER, payload([...PROTECTED, ...RECORD, ...many]));
    const v = await verifyAs(eml, approver);
    expect(v.warnings.map((w) => w.code)).toEqual(['SMIME_HP_OUTER_IGNORED']);
    expect(v.warnings[0]!.message).toContain(`${MAX_HP_OUTER_FIELDS + 5} HP-Outer fields, more than ${MAX_HP_OUTER_FIELDS}`);
    expect(v.headerProtection[0]!.sentOuter).toBeUndefined();
  });

  it('a record of exactly MAX_HP_OUTER_FIELDS fields is used', async () => {
    const pad = Array.from({ length: MAX_HP_OUTER_FIELDS - RECORD.length }, (_, i) => `HP-Outer: X-Pad-${i}: ${i}`);
    const eml = await sealed(OUTER, payload([...PROTECTED, ...RECORD, ...pad]));
    const v = await verifyAs(eml, approver);
    expect(v.warnings).toEqual([]);
    expect(v.headerProtection[0]!.sentOuter).toHaveLength(MAX_HP_OUTER_FIELDS);
  });

  it('fields put on the multipart/signed layer inside the encryption (anyone can encrypt a signed message): not protected, not shown, a Subject other than the signed one is a problem', async () => {
    const signed = fromLatin1(await signMessage(toApprover(), f.payments, { clock, headerProtection: true }));
    const layer = entityOf(signed).replace('Content-Type: multipart/signed;', 'Content-Type: multipart/signed; hp="cipher";');
    const inner = `From: Payments <payments@example.com>\r\nSubject: Urgent: new IBAN\r\nHP-Outer: Subject: ${OBSCURED_SUBJECT}\r\n${layer}`;
    const eml = await encryptedAround(OUTER, inner);
    const v = await verifyAs(eml, approver);
    // Reported once, under the wrapper's code; the copy of the signed From and the HP-Outer record only warn.
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_WRAPPER_HEADER_MISMATCH']);
    expect(v.problems[0]!.message).toContain('carries Subject "Urgent: new IBAN" outside the signed content');
    expect(v.valid).toBe(false);
    expect(v.warnings.filter((w) => w.code === 'SMIME_WRAPPER_HEADER_IGNORED').map((w) => w.header)).toEqual(['From', 'HP-Outer']);
    expect(v.headerProtection.map((h) => [h.hp, h.where])).toEqual([['clear', 'the signed part']]);
    const shown = fromLatin1(v.decryptedMessage!);
    expect(shown).not.toContain('Urgent');
    expect(getHeaders(parseMessage(shown), 'Subject').map((h) => h.value)).toEqual(['Payment run 2026-03']);
    const d = await decryptMessage(eml, { keys: [key(approver)] });
    expect(d.headerProtection!.where).toBe('the signed part');
    expect(fromLatin1(d.message)).not.toContain('Urgent');
    // The signature still verifies on what is shown.
    expect((await verifyMessage(d.message, verifyOptions(f))).valid).toBe(true);
  });

  it('an outer UTF-8 Reply-To whose domain ends in capital sigma (ΑΣ = ασ in DNS) is not the signed ς domain: the difference is reported', async () => {
    const signed = new TextDecoder().decode(await signMessage(toApprover({ headers: ['Reply-To: pay@ας.example'] }), f.payments, { clock, headerProtection: true }));
    expect(signed.match(/Reply-To: pay@ας\.example/g)).toHaveLength(2);
    const eml = new TextEncoder().encode(signed.replace('Reply-To: pay@ας.example', 'Reply-To: pay@ΑΣ.example'));
    const v = await verifyMessage(eml, verifyOptions(f));
    expect(outerHeaderWarnings(v)).toContainEqual(['SMIME_OUTER_HEADER_MISMATCH', 'Reply-To']);
  });

  it('HP-Outer fields in the outer header mean nothing: a forged Subject outside is still "changed"', async () => {
    const outer = [...OUTER.filter((l) => !l.startsWith('Subject')), 'Subject: Urgent: new IBAN', 'HP-Outer: Subject: Urgent: new IBAN'];
    const eml = await sealed(outer, payload([...PROTECTED, ...RECORD]));
    const v = await verifyAs(eml, approver);
    expect(v.headerProtection[0]!.differences).toEqual([
      { name: 'Subject', outer: ['Urgent: new IBAN'], protected: ['Payment run 2026-03'], cause: 'changed', sent: [OBSCURED_SUBJECT] },
    ]);
  });
});

describe('hostile HP-Outer records', () => {
  it('any printable HP-Outer values and hp parameters: decryptMessage never throws, a difference is obscured only when the record holds the outer value', async () => {
    const line = fc.stringMatching(/^[\x20-\x7e]{0,60}$/).map((v) => v.trim());
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(line, fc.constantFrom('Subject: [...]', 'Subject: Urgent', 'From: ceo@example.com', 'To:', ':', 'Subject:: x')), { maxLength: 8 }),
        fc.constantFrom('hp="cipher"', 'hp=cipher', 'hp="CIPHER"', 'hp="clear"', 'hp="cipher"; hp="cipher"', 'hp=""', 'hp="cipher "'),
        async (values, param) => {
          const entity = payload([...PROTECTED, ...values.map((v) => `HP-Outer: ${v}`)], `Content-Type: text/plain; charset=us-ascii; ${param}`);
          const d = await decryptMessage(await encryptedAround(OUTER, entity), { keys: [key(approver)] });
          for (const diff of d.headerProtection?.differences ?? []) {
            expect(['obscured', 'changed', 'unexplained']).toContain(diff.cause);
            if (diff.cause === 'obscured') expect(diff.name === 'Subject' && values.filter((v) => /^subject\s*:/i.test(v)).map((v) => v.slice(v.indexOf(':') + 1).trim())).toEqual(['[...]']);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
