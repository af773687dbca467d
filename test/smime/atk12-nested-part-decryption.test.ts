/**
 * atk12: reply-based exfiltration (EFAIL's "reply attack", RFC 9788 / RFC 8551 guidance: decrypt only
 * what is the whole message). Mallory captured a message Alice encrypted to Bob (AES-GCM). He sends Bob
 * a NEW message, From and Reply-To his own, whose multipart/mixed carries "Hi Bob, …" and the captured
 * encrypted entity as a second part. verifyMessage with Bob's keys decrypts the captured part and
 * returns `decryptedMessage` (AES-GCM plaintext is kept even when the verdict is not valid): Alice's
 * plaintext with Mallory's Reply-To merged into its header. A client or an auto-responder that shows
 * or quotes decryptedMessage sends Alice's secret to Mallory.
 * Expected: a part that is not the whole message is not decrypted (or nothing of it is handed out).
 *
 * Regression copy of attacks/2026-12-05/issue12/nested-part-decryption.test.ts (imports fixed; the
 * attacker's weak checks kept, exact outcomes added after them).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Certificate } from '../../src/certs/certificate.js';
import { fromLatin1 } from '../../src/internal/bytes.js';
import { encryptMessage, verifyMessage } from '../../src/smime/index.js';
import { NOW, clock, issueApprover, makeSmimeFixture, plainMessage, verifyOptions, type SmimeFixture } from '../smime/fixtures.js';

let f: SmimeFixture;
let bob: { certificate: Certificate; key: CryptoKey };
beforeAll(async () => {
  f = await makeSmimeFixture();
  bob = await issueApprover(f);
});

describe('an encrypted entity that is only a part of the message', () => {
  it('is not decrypted into decryptedMessage', async () => {
    const captured = fromLatin1(await encryptMessage(plainMessage({ to: 'approver@example.com', body: 'The merger price is 41.50 EUR per share.\r\n' }), [bob.certificate], { clock, at: NOW, trustAnchors: f.anchors, intermediates: [f.ca.issuingCertificate] }));
    // The captured entity: its Content-* fields and body.
    const sep = captured.indexOf('\r\n\r\n');
    const entityHead = captured.slice(0, sep).replace(/\r\n[ \t]+/g, ' ').split('\r\n').filter((l) => /^content-/i.test(l)).join('\r\n');
    const entity = `${entityHead}\r\n\r\n${captured.slice(sep + 4)}`;
    const eml =
      'From: Mallory <mallory@evil.test>\r\nReply-To: mallory@evil.test\r\nTo: approver@example.com\r\nSubject: quick question\r\nMIME-Version: 1.0\r\n' +
      'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHi Bob, what does the forwarded note below say?\r\n--b\r\n' +
      `${entity}\r\n--b--\r\n`;
    const v = await verifyMessage(eml, verifyOptions(f, { decryptionKeys: [{ privateKey: bob.key, certificate: bob.certificate }] }));
    expect(v.valid).toBe(false);
    const shown = v.decryptedMessage ? fromLatin1(v.decryptedMessage) : '';
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_PARTIALLY_ENCRYPTED']);
    expect(v.layers).toEqual([]);
    expect(v.decryptedMessage).toBeUndefined();
    // Observed: decryptedMessage holds Alice's plaintext, with Reply-To: mallory@evil.test.
    expect(shown).not.toContain('41.50 EUR');
  });
});
