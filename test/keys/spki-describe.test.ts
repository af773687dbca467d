import { beforeAll, describe, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import { encodePem } from '../../src/internal/pem.js';
import { describeKey, exportPkcs8, exportSpki, exportSpkiPem, generateKeyPair, importPrivateKey, importPublicKey } from '../../src/keys/index.js';

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(MailPkiError);
    return (e as MailPkiError).code;
  }
  return 'resolved';
}

let rsa: CryptoKeyPair;
let p256: CryptoKeyPair;
let p384: CryptoKeyPair;
let ed: CryptoKeyPair;
let p521: CryptoKeyPair;

beforeAll(async () => {
  [rsa, p256, p384, ed] = await Promise.all([
    generateKeyPair('rsa-2048'),
    generateKeyPair('ec-p256'),
    generateKeyPair('ec-p384'),
    generateKeyPair('ed25519'),
  ]);
  p521 = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-521' }, false, ['sign', 'verify'])) as CryptoKeyPair;
});

describe('exportSpki / importPublicKey', () => {
  it('round-trips each kind through DER and PEM, and the imported key verifies', async () => {
    const data = new TextEncoder().encode('mail');
    const cases = [
      [p256, { name: 'ECDSA', hash: 'SHA-256' }],
      [ed, { name: 'Ed25519' }],
      [rsa, { name: 'RSASSA-PKCS1-v1_5' }],
    ] as const;
    for (const [pair, params] of cases) {
      const der = await exportSpki(pair.publicKey);
      const pem = await exportSpkiPem(pair.publicKey);
      expect(pem).toBe(encodePem('PUBLIC KEY', der));
      const sig = await crypto.subtle.sign(params, pair.privateKey, data);
      for (const input of [der, pem, new TextEncoder().encode(pem)]) {
        const pub = await importPublicKey(input);
        expect(pub.type).toBe('public');
        expect(await crypto.subtle.verify(params, pub, sig, data)).toBe(true);
      }
    }
  });

  it('imports RSA for the requested algorithm and refuses impossible ones', async () => {
    const der = await exportSpki(rsa.publicKey);
    const pss = await importPublicKey(der, { algorithm: { scheme: 'rsa-pss', hash: 'SHA-512' } });
    expect(pss.algorithm).toMatchObject({ name: 'RSA-PSS', hash: { name: 'SHA-512' } });
    expect(await codeOf(importPublicKey(der, { algorithm: { scheme: 'ecdsa', hash: 'SHA-256' } }))).toBe('ERR_KEY_UNSUPPORTED');
    expect(await codeOf(importPublicKey(await exportSpki(ed.publicKey), { algorithm: { scheme: 'ecdsa', hash: 'SHA-256' } }))).toBe(
      'ERR_KEY_UNSUPPORTED',
    );
  });

  it('gives coded errors for wrong input', async () => {
    expect(await codeOf(exportSpki(p256.privateKey))).toBe('ERR_INVALID_INPUT');
    expect(await codeOf(importPublicKey('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'))).toBe('ERR_PEM_MALFORMED');
    expect(await codeOf(importPublicKey(Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x00)))).toBe('ERR_KEY_MALFORMED');
    expect(await codeOf(importPublicKey(new Uint8Array(70_000)))).toBe('ERR_INPUT_TOO_LARGE');
  });
});

describe('describeKey', () => {
  it('describes CryptoKeys, public and private, extractable or not', () => {
    expect(describeKey(rsa.privateKey)).toEqual({ kind: 'rsa', bits: 2048, keyType: 'rsa-2048' });
    expect(describeKey(rsa.publicKey)).toEqual({ kind: 'rsa', bits: 2048, keyType: 'rsa-2048' });
    expect(describeKey(p256.privateKey)).toEqual({ kind: 'ec', bits: 256, curve: 'P-256', keyType: 'ec-p256' });
    expect(describeKey(p384.publicKey)).toEqual({ kind: 'ec', bits: 384, curve: 'P-384', keyType: 'ec-p384' });
    expect(describeKey(ed.privateKey)).toEqual({ kind: 'ed25519', bits: 256, keyType: 'ed25519' });
    expect(describeKey(p521.publicKey)).toEqual({ kind: 'ec', bits: 521, curve: 'P-521' });
  });

  it('describes SPKI bytes the same way', async () => {
    for (const pair of [rsa, p256, p384, ed, p521]) expect(describeKey(await exportSpki(pair.publicKey))).toEqual(describeKey(pair.publicKey));
  });

  it('describes an imported non-extractable private key without exporting it', async () => {
    const pair = await generateKeyPair('ec-p384', { extractable: true });
    const key = await importPrivateKey(await exportPkcs8(pair.privateKey));
    expect(key.extractable).toBe(false);
    expect(describeKey(key).keyType).toBe('ec-p384');
  });

  it('refuses what is not a key', async () => {
    expect(await codeOf(() => describeKey(Uint8Array.of(1, 2)))).toBe('ERR_KEY_MALFORMED');
    expect(await codeOf(() => describeKey({} as CryptoKey))).toBe('ERR_INVALID_INPUT');
    const aes = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 128 }, false, ['encrypt']);
    expect(await codeOf(() => describeKey(aes as CryptoKey))).toBe('ERR_KEY_UNSUPPORTED');
  });
});
