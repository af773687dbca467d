/**
 * atk12 (escalation of verdict-rewrap): EFAIL-style CBC malleability on a GENUINE signAndEncrypt message
 * (AES-CBC: what mailpki picks when a recipient's capabilities name no GCM, --cbc, gpgsm interop).
 * Mallory knows the first plaintext block ("Content-Type: mu", the multipart/signed wrapper) and, with
 * two chosen blocks (one block of garbage between them), prepends a header field to the decrypted
 * wrapper — outside the signed part, so the signature stays valid:
 *   IV' = P0 ^ IV ^ "Subject: URGENT ", C0, M = P0 ^ IV ^ "\nContent-Type:mu", C0, C1, C2 …
 * decrypts to "Subject: URGENT <16 garbage bytes>\nContent-Type:multipart/signed; …" (the parser
 * canonicalises the bare LF). verifyMessage: valid, integrity "protected by the signature", and
 * decryptedMessage shows Mallory's Subject; nothing reported.
 * Expected: not silently valid: the wrapper fields outside the signature are reported or not shown.
 *
 * Regression copy of attacks/2026-12-05/issue12/cbc-header-injection.test.ts (imports fixed). Adapted: the
 * original took the first variant with a decryptedMessage; the fix makes the verdict invalid, and an invalid
 * CBC verdict withholds decryptedMessage (EFAIL), so a variant counts once its layer opened, and the exact
 * outcome is asserted (SMIME_WRAPPER_HEADER_MISMATCH, nothing shown).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Certificate } from '../../src/certs/certificate.js';
import { parseEnvelopedData } from '../../src/cms/enveloped-data.js';
import { fromLatin1, latin1 } from '../../src/internal/bytes.js';
import { Tag, cursor, encodedOf, explicit, implicit, octets, oid, parseDer, seq } from '../../src/internal/der.js';
import { getHeaders, parseMessage } from '../../src/mime/index.js';
import { signAndEncrypt, verifyMessage } from '../../src/smime/index.js';
import { NOW, clock, issueApprover, makeSmimeFixture, plainMessage, verifyOptions, type SmimeFixture } from '../smime/fixtures.js';

let f: SmimeFixture;
let bob: { certificate: Certificate; key: CryptoKey };
beforeAll(async () => {
  f = await makeSmimeFixture();
  bob = await issueApprover(f);
});

const xor = (...bs: Uint8Array[]) => bs[0]!.map((_, i) => bs.reduce((a, b) => a ^ b[i]!, 0));

function tamper(eml: string, x1: string, x2: string): string {
  const sep = eml.indexOf('\r\n\r\n');
  const der = new Uint8Array(Buffer.from(eml.slice(sep + 4).replace(/\s+/g, ''), 'base64'));
  const ed = parseEnvelopedData(der);
  const enc = ed.contentEncryption as { iv: Uint8Array };
  const ct = ed.encryptedContent![0]!;
  const C = (i: number) => ct.subarray(16 * i, 16 * i + 16);
  const P0 = latin1('Content-Type: mu'); // the known start of the decrypted multipart/signed wrapper
  const ivNew = xor(P0, enc.iv, latin1(x1));
  const M = xor(P0, enc.iv, latin1(x2));
  const content = new Uint8Array(ct.length + 32);
  content.set(C(0), 0);
  content.set(M, 16);
  content.set(C(0), 32);
  content.set(ct.subarray(16), 48);
  // Same RecipientInfos; new IV and content.
  const root = cursor(parseDer(der));
  root.next(Tag.OID);
  const body = cursor(cursor(root.next(0xa0)).next(Tag.SEQUENCE));
  const version = body.next(Tag.INTEGER);
  const ris = body.next(Tag.SET);
  const out = seq(
    oid('1.2.840.113549.1.7.3'),
    explicit(0, seq(encodedOf(version), encodedOf(ris), seq(oid('1.2.840.113549.1.7.1'), seq(oid('2.16.840.1.101.3.4.1.42'), octets(ivNew)), implicit(0, content)))),
  );
  return `${eml.slice(0, sep + 4)}${Buffer.from(out).toString('base64').replace(/.{76}/g, '$&\r\n')}\r\n`;
}

describe('CBC gadget on a genuine sign-then-encrypt (CBC) message', () => {
  it('a prepended Subject outside the signature: not silently valid', async () => {
    const eml = fromLatin1(
      await signAndEncrypt(plainMessage({ to: 'approver@example.com', subject: 'Lunch on Friday?' }), f.payments, [bob.certificate], {
        clock, at: NOW, trustAnchors: f.anchors, intermediates: [f.ca.issuingCertificate], contentEncryption: 'aes-256-cbc',
      }),
    );
    const keys = [{ privateKey: bob.key, certificate: bob.certificate }];
    // Mallory does not see the garbage block; he sends variants of the second chosen block (header name case).
    let result: { valid: boolean; shown: string[]; reported: boolean } | undefined;
    for (const x2 of ['\nContent-Type:mu', '\nContent-type:mu', '\nCONTENT-TYPE:mu', '\ncontent-type:mu', '\nContent-TYPE:mu', '\ncontent-Type:mu']) {
      const forged = tamper(eml, 'Subject: URGENT ', x2);
      const v = await verifyMessage(forged, verifyOptions(f, { decryptionKeys: keys }));
      const layer = v.layers[0];
      if (layer?.kind === 'encrypted' && !layer.opened) continue; // garbage block held a CR/LF: this variant broke the MIME
      const shown = v.decryptedMessage ? getHeaders(parseMessage(v.decryptedMessage), 'Subject').map((h) => h.value) : [];
      result = { valid: v.valid, shown, reported: [...v.problems, ...v.warnings].some((p) => /subject|integrity|outside/i.test(p.message)) };
      expect(v.problems.map((p) => p.code)).toEqual(['SMIME_WRAPPER_HEADER_MISMATCH']);
      expect(v.signers.map((s) => s.ok)).toEqual([true]);
      break;
    }
    expect(result).toBeDefined();
    // Observed before the fix: { valid: true, shown: ['URGENT <garbage>'], reported: false }
    expect(result).toEqual({ valid: false, shown: [], reported: true });
  });
});
