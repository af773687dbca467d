import { describe, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import { KEY_TYPES, generateKeyPair, type KeyType } from '../../src/keys/index.js';

describe('generateKeyPair', () => {
  it('KEY_TYPES lists exactly the supported types', () => {
    expect(KEY_TYPES).toEqual(['rsa-2048', 'rsa-3072', 'rsa-4096', 'ec-p256', 'ec-p384', 'ed25519', 'x25519']);
    expect(Object.isFrozen(KEY_TYPES)).toBe(true);
  });

  it('makes X25519 key-agreement pairs (deriveBits; the public key has no usages): an X25519 key cannot sign', async () => {
    const { privateKey, publicKey } = await generateKeyPair('x25519', { extractable: true });
    expect(privateKey.algorithm).toEqual({ name: 'X25519' });
    expect(privateKey.usages).toEqual(['deriveBits']);
    expect(publicKey.usages).toEqual([]);
    const other = await generateKeyPair('x25519');
    const z1 = await crypto.subtle.deriveBits({ name: 'X25519', public: other.publicKey } as EcdhKeyDeriveParams, privateKey, 256);
    const z2 = await crypto.subtle.deriveBits({ name: 'X25519', public: publicKey } as EcdhKeyDeriveParams, other.privateKey, 256);
    expect(new Uint8Array(z1)).toEqual(new Uint8Array(z2));
  });

  it('makes ECDSA P-256 and P-384 keys, non-extractable by default', async () => {
    for (const [type, curve] of [['ec-p256', 'P-256'], ['ec-p384', 'P-384']] as const) {
      const { privateKey, publicKey } = await generateKeyPair(type);
      expect(privateKey.algorithm).toEqual({ name: 'ECDSA', namedCurve: curve });
      expect(privateKey.extractable).toBe(false);
      expect(privateKey.usages).toEqual(['sign']);
      expect(publicKey.usages).toEqual(['verify']);
    }
  });

  it('makes Ed25519 keys, extractable on request', async () => {
    const { privateKey } = await generateKeyPair('ed25519', { extractable: true });
    expect(privateKey.algorithm.name).toBe('Ed25519');
    expect(privateKey.extractable).toBe(true);
  });

  it('makes RSA keys for PKCS#1 v1.5 with SHA-256 and e = 65537, in each size', async () => {
    for (const bits of [2048, 3072, 4096]) {
      const { privateKey } = await generateKeyPair(`rsa-${bits}` as KeyType);
      const alg = privateKey.algorithm as RsaHashedKeyAlgorithm;
      expect(alg.name).toBe('RSASSA-PKCS1-v1_5');
      expect(alg.modulusLength).toBe(bits);
      expect(Array.from(alg.publicExponent)).toEqual([1, 0, 1]);
      expect(alg.hash.name).toBe('SHA-256');
    }
  });

  it('refuses an unknown type with ERR_KEY_UNSUPPORTED listing the valid ones', async () => {
    for (const bad of ['rsa-1024', 'ec-p521', '', 42, undefined]) {
      const e = await generateKeyPair(bad as KeyType).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(MailPkiError);
      expect((e as MailPkiError).code).toBe('ERR_KEY_UNSUPPORTED');
      expect((e as MailPkiError).message).toContain('rsa-2048, rsa-3072, rsa-4096, ec-p256, ec-p384, ed25519');
    }
  });
});
