/**
 * atk12: what a reader sees after decrypt-and-verify. An attacker (anyone can encrypt to Bob) takes a
 * message Alice (payments@) really signed, and encrypts it to Bob again, adding header fields with
 * hp="cipher" on the decrypted entity (the multipart/signed wrapper, outside the signature).
 * Expected: the verdict must not be valid without saying that the Subject a client shows (the
 * decrypted entity's protected Subject, and the decryptedMessage's Subject) is not the signed one.
 *
 * Regression copy of attacks/2026-12-05/issue12/verdict-rewrap.test.ts (imports fixed; the
 * attacker's weak checks kept, exact outcomes added after them).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Certificate } from '../../src/certs/certificate.js';
import { encryptData } from '../../src/cms/index.js';
import { fromLatin1, latin1 } from '../../src/internal/bytes.js';
import { getHeaders, parseMessage } from '../../src/mime/index.js';
import { signAndEncrypt, signMessage, verifyMessage } from '../../src/smime/index.js';
import { NOW, clock, issueApprover, makeSmimeFixture, plainMessage, verifyOptions, type SmimeFixture } from '../smime/fixtures.js';

let f: SmimeFixture;
let bob: { certificate: Certificate; key: CryptoKey };

beforeAll(async () => {
  f = await makeSmimeFixture();
  bob = await issueApprover(f);
});

/** Mallory: wrap an entity Alice signed in a new encryption, with header fields of Mallory's choosing on it. */
async function rewrap(signedEml: Uint8Array, wrapperFields: string[], outer: string[]): Promise<string> {
  const text = fromLatin1(signedEml);
  const sep = text.indexOf('\r\n\r\n');
  const head = text.slice(0, sep + 2);
  const body = text.slice(sep + 4);
  // keep only Content-* of the signed message as the entity header; add Mallory's fields + hp="cipher"
  const unfolded = head.replace(/\r\n[ \t]+/g, ' ');
  const ct = unfolded.split('\r\n').filter((l) => /^content-/i.test(l));
  const ctLine = ct.map((l) => (/^content-type/i.test(l) ? `${l}; hp="cipher"` : l));
  const entity = latin1(`${wrapperFields.join('\r\n')}\r\n${ctLine.join('\r\n')}\r\n\r\n${body}`);
  const cms = await encryptData(entity, [{ certificate: bob.certificate }], { contentEncryption: 'aes-256-gcm' });
  const b64 = Buffer.from(cms).toString('base64').replace(/.{76}/g, '$&\r\n');
  return `${outer.join('\r\n')}\r\nMIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=authEnveloped-data; name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n`;
}

describe('re-encrypted signed message with attacker header fields outside the signature', () => {
  it('protected Subject (hp="cipher") on the decrypted wrapper differs from the signed Subject: must not be silently valid', async () => {
    // Alice signed with header protection: the signed part carries Subject "Lunch on Friday?"
    const signed = await signMessage(plainMessage({ to: 'approver@example.com', subject: 'Lunch on Friday?', body: 'See you at noon.\r\n' }), f.payments, { clock, headerProtection: true });
    const from = 'From: Payments <payments@example.com>';
    const eml = await rewrap(signed, [from, 'To: approver@example.com', 'Subject: URGENT: pay 98,000 EUR to the new IBAN today'], [from, 'To: approver@example.com', 'Subject: [...]', 'Date: Sun, 15 Mar 2026 12:00:00 +0000']);
    const v = await verifyMessage(eml, verifyOptions(f, { decryptionKeys: [{ privateKey: bob.key, certificate: bob.certificate }] }));
    // What a client shows as the Subject of the decrypted message:
    const shown = getHeaders(parseMessage(v.decryptedMessage ?? latin1('\r\n')), 'Subject').map((h) => h.value);
    const reported = [...v.problems, ...v.warnings].some((p) => /subject/i.test(p.message));
    // Observed today: valid true, shown Subject is Mallory's, nothing reported.
    expect({ valid: v.valid, shown, reported }).toEqual({ valid: v.valid, shown, reported: true });
    if (v.valid) expect(shown).toEqual(['Lunch on Friday?']);
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_WRAPPER_HEADER_MISMATCH']);
    expect(shown).toEqual(['Lunch on Friday?']);
    expect(v.headerProtection.map((h) => [h.hp, h.where])).toEqual([['clear', 'the signed part']]);
  });

  it('same without any header protection by Alice: the only Subject a client shows is unsigned, yet no warning', async () => {
    const signed = await signMessage(plainMessage({ to: 'approver@example.com', subject: 'Lunch on Friday?', body: 'See you at noon.\r\n' }), f.payments, { clock });
    const from = 'From: Payments <payments@example.com>';
    const eml = await rewrap(signed, [from, 'To: approver@example.com', 'Subject: URGENT: pay 98,000 EUR to the new IBAN today'], [from, 'To: approver@example.com', 'Subject: [...]']);
    const v = await verifyMessage(eml, verifyOptions(f, { decryptionKeys: [{ privateKey: bob.key, certificate: bob.certificate }] }));
    const hp = v.headerProtection.find((h) => h.hp === 'cipher');
    // The verdict presents Mallory's Subject as a protected ("cipher") header of a valid message.
    const reported = [...v.problems, ...v.warnings].some((p) => /subject/i.test(p.message));
    expect({ valid: v.valid, hpSubject: hp?.fields.find((x) => x.name === 'Subject')?.value, reported }).toMatchObject({ reported: true });
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_WRAPPER_HEADER_MISMATCH']);
    expect(hp).toBeUndefined();
    expect(getHeaders(parseMessage(v.decryptedMessage!), 'Subject').map((h) => h.value)).toEqual(['[...]']);
  });

  it('outer header fields added in transit to a header-protected (hp="cipher") message end up in decryptedMessage of a valid verdict, unreported', async () => {
    const eml = fromLatin1(
      await signAndEncrypt(plainMessage({ to: 'approver@example.com' }), f.payments, [bob.certificate], { clock, at: NOW, trustAnchors: f.anchors, intermediates: [f.ca.issuingCertificate] }),
    );
    // Mallory (on the path) adds fields the protected header section does not have.
    const tampered = eml.replace('\r\nMIME-Version: 1.0', '\r\nCc: CEO <ceo@example.com>\r\nReply-To: Payments desk <payments-desk@example.com>\r\nMIME-Version: 1.0');
    const v = await verifyMessage(tampered, verifyOptions(f, { decryptionKeys: [{ privateKey: bob.key, certificate: bob.certificate }] }));
    const shown = parseMessage(v.decryptedMessage ?? latin1('\r\n'));
    const shownCc = getHeaders(shown, 'Cc').map((h) => h.value);
    const shownReplyTo = getHeaders(shown, 'Reply-To').map((h) => h.value);
    const reported = [...v.problems, ...v.warnings].filter((p) => /\b(Cc|Reply-To)\b/.test(p.message)).length;
    // Observed: valid true, shown Cc/Reply-To are Mallory's, nothing reported.
    // Expected (RFC 9788 §4.3: with hp, the protected section is the header section): either they are not shown, or the verdict says so.
    if (v.valid && reported === 0) expect({ shownCc, shownReplyTo }).toEqual({ shownCc: [], shownReplyTo: [] });
    expect(v.valid).toBe(true);
    expect({ shownCc, shownReplyTo }).toEqual({ shownCc: [], shownReplyTo: [] });
    expect(reported).toBe(2);
    expect(v.warnings.map((w) => [w.code, w.header])).toEqual([
      ['SMIME_OUTER_HEADER_MISMATCH', 'Cc'],
      ['SMIME_OUTER_HEADER_MISMATCH', 'Reply-To'],
    ]);
  });

  it('genuine signAndEncrypt (the default flow): decryptedMessage, "the message a client shows", carries the obscured outer Subject, not the protected one', async () => {
    const eml = await signAndEncrypt(plainMessage({ to: 'approver@example.com' }), f.payments, [bob.certificate], { clock, at: NOW, trustAnchors: f.anchors, intermediates: [f.ca.issuingCertificate] });
    const v = await verifyMessage(eml, verifyOptions(f, { decryptionKeys: [{ privateKey: bob.key, certificate: bob.certificate }] }));
    expect(v.valid).toBe(true);
    const shown = getHeaders(parseMessage(v.decryptedMessage!), 'Subject').map((h) => h.value);
    // Observed: ['[...]'] (the outer, obscured one). Expected: the protected Subject the signer signed.
    expect(shown).toEqual(['Payment run 2026-03']);
  });
});
