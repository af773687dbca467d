/**
 * The `aesGcm` option of the message-level API (encryptMessage, signAndEncrypt, decryptMessage,
 * verifyMessage with decryptionKeys): the injected cipher is the one that runs, and a tag mismatch
 * through it still hands out no plaintext.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import type { AesGcmCipher } from '../../src/cms/index.js';
import { MailPkiError } from '../../src/errors.js';
import { fromLatin1 } from '../../src/internal/bytes.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { parseMessage } from '../../src/mime/index.js';
import { nodeAesGcm } from '../../src/node/index.js';
import { decryptMessage, encryptMessage, signAndEncrypt, verifyMessage } from '../../src/smime/index.js';
import { GOOD_FROM, NOW, clock, makeSmimeFixture, plainMessage, verifyOptions, type SmimeFixture } from './fixtures.js';

/** nodeAesGcm, counting its calls and keeping the buffers it wrote plaintext into. */
function countingAesGcm() {
  const inner = nodeAesGcm();
  const seen = { encrypt: 0, decrypt: 0, decryptOutputs: [] as Uint8Array[] };
  const cipher: AesGcmCipher = {
    encrypt: (...args) => {
      seen.encrypt++;
      return inner.encrypt(...args);
    },
    decrypt: (key, nonce, aad, chunks, tag, out) => {
      seen.decrypt++;
      seen.decryptOutputs.push(out);
      return inner.decrypt(key, nonce, aad, chunks, tag, out);
    },
  };
  return { cipher, seen };
}

let f: SmimeFixture;
let approver: { certificate: Certificate; privateKey: CryptoKey };
const BODY = 'Please pay 1,250.00 EUR to IBAN DE00 1234 5678 9012 3456 78.';
const toApprover = () => plainMessage({ to: 'approver@example.com' });
const enc = () => ({ clock, at: NOW, trustAnchors: f.anchors, intermediates: [f.ca.issuingCertificate] });

beforeAll(async () => {
  f = await makeSmimeFixture();
  const pair = await generateKeyPair('ec-p256', { extractable: true });
  const r = await f.ca.issue({ mailbox: 'approver@example.com', publicKey: await exportSpki(pair.publicKey), profile: 'strict', notBefore: GOOD_FROM, validityDays: 365, usage: 'dual-use' });
  approver = { certificate: parseCertificate(r.certificate), privateKey: pair.privateKey };
});

/** The message with the last byte of its CMS (the end of the AES-GCM tag, RFC 5083's mac) changed. */
function flipTag(eml: Uint8Array): string {
  const text = fromLatin1(eml);
  const split = text.indexOf('\r\n\r\n') + 4;
  const cms = parseMessage(eml).decodedBody().slice();
  cms[cms.length - 1]! ^= 0x01;
  const b64 = Buffer.from(cms).toString('base64').replace(/.{1,76}/g, '$&\r\n');
  return text.slice(0, split) + b64;
}

describe('aesGcm option (the message-level API passes the injected cipher to mailpki/cms)', () => {
  it('encryptMessage encrypts with it, decryptMessage decrypts with it', async () => {
    const e = countingAesGcm();
    const eml = await encryptMessage(toApprover(), [approver.certificate], { ...enc(), aesGcm: e.cipher });
    expect(e.seen).toMatchObject({ encrypt: 1, decrypt: 0 });
    const d = countingAesGcm();
    const opened = await decryptMessage(eml, { keys: [approver], aesGcm: d.cipher });
    expect(d.seen).toMatchObject({ encrypt: 0, decrypt: 1 });
    expect(opened.contentEncryption).toBe('aes-256-gcm');
    expect(fromLatin1(opened.message)).toContain(BODY);
  });

  it('signAndEncrypt encrypts with it; verifyMessage({ decryptionKeys, aesGcm }) opens the layer with it and is valid', async () => {
    const e = countingAesGcm();
    const eml = await signAndEncrypt(plainMessage({ to: 'approver@example.com' }), f.payments, [approver.certificate], { ...enc(), aesGcm: e.cipher });
    expect(e.seen.encrypt).toBe(1);
    const d = countingAesGcm();
    const v = await verifyMessage(eml, verifyOptions(f, { decryptionKeys: [approver], aesGcm: d.cipher }));
    expect(d.seen.decrypt).toBe(1);
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
  });

  it('a tag mismatch through the injected cipher: decryptMessage throws ERR_CMS_DECRYPTION_FAILED and the plaintext buffer is wiped; verifyMessage hands out nothing', async () => {
    const tampered = flipTag(await encryptMessage(toApprover(), [approver.certificate], enc()));
    const d = countingAesGcm();
    const err = await decryptMessage(tampered, { keys: [approver], aesGcm: d.cipher }).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(MailPkiError);
    expect((err as MailPkiError).code).toBe('ERR_CMS_DECRYPTION_FAILED');
    expect(d.seen.decrypt).toBe(1);
    // node:crypto wrote the plaintext before final() refused the tag: it must not survive.
    expect(d.seen.decryptOutputs[0]!.length).toBeGreaterThan(BODY.length);
    expect(d.seen.decryptOutputs[0]!.every((b) => b === 0)).toBe(true);

    const v = countingAesGcm();
    const verdict = await verifyMessage(tampered, verifyOptions(f, { decryptionKeys: [approver], aesGcm: v.cipher }));
    expect(v.seen.decrypt).toBe(1);
    expect(verdict.valid).toBe(false);
    expect(verdict.problems.map((p) => p.code)).toEqual(['SMIME_DECRYPTION_FAILED']);
    expect(verdict.decryptedMessage).toBeUndefined();
  });

  it('an aesGcm that is not a cipher is ERR_INVALID_INPUT at every edge', async () => {
    const bad = { aesGcm: { encrypt: 1 } };
    const eml = await encryptMessage(toApprover(), [approver.certificate], enc());
    for (const p of [
      encryptMessage(toApprover(), [approver.certificate], { ...enc(), ...bad } as never),
      signAndEncrypt(toApprover(), f.payments, [approver.certificate], { ...enc(), ...bad } as never),
      decryptMessage(eml, { keys: [approver], ...bad } as never),
      verifyMessage(eml, verifyOptions(f, { decryptionKeys: [approver], ...bad })),
    ])
      await expect(p).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
  });
});
