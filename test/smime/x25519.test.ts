/**
 * S/MIME with an X25519 recipient (RFC 8418) end to end: encryptMessage, signAndEncrypt with a
 * mixed RSA + P-256 + X25519 recipient list, decryptMessage, and verifyMessage's one verdict.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { MailPkiError } from '../../src/errors.js';
import { fromLatin1 } from '../../src/internal/bytes.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { decryptMessage, encryptMessage, signAndEncrypt, verifyMessage } from '../../src/smime/index.js';
import { GOOD_FROM, NOW, clock, makeSmimeFixture, plainMessage, verifyOptions, type SmimeFixture } from './fixtures.js';

interface Party {
  certificate: Certificate;
  key: CryptoKey;
}

let f: SmimeFixture;
let x: Party;
let rsa: Party;
let p256: Party;

const issue = async (mailbox: string, spki: Uint8Array, usage: 'encryption' | 'dual-use') =>
  parseCertificate((await f.ca.issue({ mailbox, publicKey: spki, profile: 'strict', notBefore: GOOD_FROM, validityDays: 365, usage })).certificate);

beforeAll(async () => {
  f = await makeSmimeFixture();
  const xPair = (await globalThis.crypto.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits'])) as CryptoKeyPair;
  x = { certificate: await issue('approver@example.com', await exportSpki(xPair.publicKey), 'encryption'), key: xPair.privateKey };
  const rsaPair = await generateKeyPair('rsa-2048', { extractable: true });
  rsa = { certificate: await issue('controller@example.com', await exportSpki(rsaPair.publicKey), 'dual-use'), key: rsaPair.privateKey };
  const ecPair = await generateKeyPair('ec-p256', { extractable: true });
  p256 = { certificate: await issue('treasury@example.com', await exportSpki(ecPair.publicKey), 'dual-use'), key: ecPair.privateKey };
});

const key = (p: Party) => ({ privateKey: p.key, certificate: p.certificate });
const enc = () => ({ clock, at: NOW, trustAnchors: f.anchors, intermediates: [f.ca.issuingCertificate] });

describe('S/MIME to an X25519 encryption certificate', () => {
  it('encryptMessage → decryptMessage with a non-extractable X25519 key', async () => {
    const eml = await encryptMessage(plainMessage({ to: 'approver@example.com' }), [x.certificate], enc());
    const r = await decryptMessage(eml, { keys: [key(x)] });
    expect(r.integrityProtected).toBe(true);
    expect(fromLatin1(r.message)).toContain('Please pay 1,250.00 EUR');
  });

  it('signAndEncrypt to RSA + P-256 + X25519: every recipient gets one valid verdict', async () => {
    const msg = plainMessage({ to: 'approver@example.com', headers: ['Cc: controller@example.com, treasury@example.com'] });
    const eml = await signAndEncrypt(msg, f.payments, [x.certificate, rsa.certificate, p256.certificate], enc());
    for (const [who, km] of [
      [x, 'ecdh'],
      [rsa, 'rsa-oaep'],
      [p256, 'ecdh'],
    ] as const) {
      const v = await verifyMessage(eml, verifyOptions(f, { decryptionKeys: [key(who)] }));
      expect(v.problems).toEqual([]);
      expect(v.valid).toBe(true);
      expect(v.layers[0]).toMatchObject({ kind: 'encrypted', opened: true, keyManagement: km, integrityProtected: true });
      expect(v.signers[0]!.emails).toEqual(['payments@example.com']);
    }
  });

  it('the S/MIME fixture CA refuses a dual-use certificate for an X25519 key (it cannot sign)', async () => {
    const pair = (await globalThis.crypto.subtle.generateKey({ name: 'X25519' }, true, ['deriveBits'])) as CryptoKeyPair;
    const e = await f.ca.issue({ mailbox: 'approver@example.com', publicKey: await exportSpki(pair.publicKey), usage: 'dual-use' }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(MailPkiError);
    expect((e as MailPkiError).code).toBe('ERR_KEY_UNSUPPORTED');
  });
});
