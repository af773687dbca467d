/**
 * RSA public key parameters are bounded at parse (issue 11, finding 4): a verify is one
 * exponentiation by e modulo n, so the attacker who picks e and n picks the cost. Every path that
 * reads a SubjectPublicKeyInfo (certificates, CMS signers, DKIM keys, importPublicKey) goes through
 * readPublicKeyInfo.
 */
import { describe, expect, it } from 'vitest';
import { parseCertificate } from '../../src/certs/certificate.js';
import { keySigner, signCertificate } from '../../src/certs/builder.js';
import { encodeName } from '../../src/certs/name.js';
import { bitString, nul, oid, seq, uintBytes } from '../../src/internal/der.js';
import { OID } from '../../src/internal/oids.js';
import {
  MAX_RSA_EXPONENT_BITS,
  MAX_RSA_MODULUS_BITS,
  PublicKeyBudget,
  generateKeyPair,
  importPublicKey,
  publicKeyOperationCost,
  readPublicKeyInfo,
} from '../../src/keys/index.js';

function big(bits: number, odd = true): Uint8Array {
  const b = new Uint8Array(Math.ceil(bits / 8)).fill(0x5a);
  const spare = b.length * 8 - bits;
  b[0] = (b[0]! & (0xff >> spare)) | (0x80 >> spare);
  if (odd) b[b.length - 1]! |= 1;
  else b[b.length - 1]! &= 0xfe;
  return b;
}

const rsaSpki = (n: Uint8Array, e: Uint8Array) => seq(seq(oid(OID.rsaEncryption), nul()), bitString(seq(uintBytes(n), uintBytes(e))));
const F4 = Uint8Array.of(1, 0, 1);

describe('RSA public exponent and modulus bounds (finding 4)', () => {
  it('an RSA-3072 key with a 3,064-bit public exponent is refused at parse (finding 4)', () => {
    expect(() => readPublicKeyInfo(rsaSpki(big(3072), big(3064)))).toThrow(expect.objectContaining({ code: 'ERR_KEY_UNSUPPORTED' }));
  });

  it('accepts e = 3, 65537 and a 256-bit exponent; refuses 257 bits', () => {
    expect(readPublicKeyInfo(rsaSpki(big(2048), Uint8Array.of(3)))).toMatchObject({ kind: 'rsa', bits: 2048, exponentBits: 2 });
    expect(readPublicKeyInfo(rsaSpki(big(2048), F4))).toMatchObject({ bits: 2048, exponentBits: 17 });
    expect(readPublicKeyInfo(rsaSpki(big(3072), big(MAX_RSA_EXPONENT_BITS)))).toMatchObject({ exponentBits: 256 });
    expect(() => readPublicKeyInfo(rsaSpki(big(3072), big(MAX_RSA_EXPONENT_BITS + 1)))).toThrow(expect.objectContaining({ code: 'ERR_KEY_UNSUPPORTED' }));
  });

  it('refuses even exponents, e = 1, e ≥ n and an even modulus as malformed', () => {
    for (const [n, e] of [
      [big(2048), Uint8Array.of(1, 0, 0)],
      [big(2048), Uint8Array.of(1)],
      [big(2048), Uint8Array.of(2)],
      [big(64), big(200)],
      [big(2048, false), F4],
    ] as const)
      expect(() => readPublicKeyInfo(rsaSpki(n, e))).toThrow(expect.objectContaining({ code: 'ERR_KEY_MALFORMED' }));
  });

  it(`accepts a ${MAX_RSA_MODULUS_BITS}-bit modulus and refuses one bit more`, () => {
    expect(readPublicKeyInfo(rsaSpki(big(MAX_RSA_MODULUS_BITS), F4)).bits).toBe(MAX_RSA_MODULUS_BITS);
    expect(() => readPublicKeyInfo(rsaSpki(big(MAX_RSA_MODULUS_BITS + 1), F4))).toThrow(expect.objectContaining({ code: 'ERR_KEY_UNSUPPORTED' }));
  });

  it('a certificate whose key has a huge exponent does not parse; importPublicKey refuses the key too (finding 4)', async () => {
    const issuer = await generateKeyPair('ec-p256');
    const name = encodeName([{ type: 'CN', value: 'Fake issuer' }]);
    const spki = rsaSpki(big(3072), big(3064));
    const der = await signCertificate(
      { serial: Uint8Array.of(1), issuer: name, subject: name, notBefore: new Date(0), notAfter: new Date(2e12), spki, extensions: [] },
      keySigner(issuer.privateKey, { scheme: 'ecdsa', hash: 'SHA-256' }),
    );
    expect(() => parseCertificate(der)).toThrow(expect.objectContaining({ code: 'ERR_KEY_UNSUPPORTED' }));
    await expect(importPublicKey(spki)).rejects.toMatchObject({ code: 'ERR_KEY_UNSUPPORTED' });
  });
});

describe('PublicKeyBudget', () => {
  const info = (bits: number, exponentBits?: number) => ({ kind: 'rsa' as const, bits, exponentBits, spki: new Uint8Array() });

  it('counts ordinary keys 1, large RSA moduli and exponents by their cost', () => {
    expect(publicKeyOperationCost({ kind: 'ec', bits: 256, curve: 'P-256', spki: new Uint8Array() })).toBe(1);
    expect(publicKeyOperationCost({ kind: 'ec', bits: 384, curve: 'P-384', spki: new Uint8Array() })).toBe(4);
    expect(publicKeyOperationCost({ kind: 'ec', bits: 521, curve: 'P-521', spki: new Uint8Array() })).toBe(12);
    expect(publicKeyOperationCost(info(2048, 17))).toBe(1);
    expect(publicKeyOperationCost(info(4096, 17))).toBe(1);
    expect(publicKeyOperationCost(info(3072, 256))).toBe(16);
    expect(publicKeyOperationCost(info(8192, 17))).toBe(4);
    expect(publicKeyOperationCost(info(16384, 17))).toBe(16);
    expect(publicKeyOperationCost(info(16384, 64))).toBe(64);
  });

  it('refuses what does not fit, charges nothing for it, and remembers that it was exhausted', () => {
    const b = new PublicKeyBudget(20);
    expect(b.take(info(3072, 256))).toBe(true);
    expect(b.take(info(3072, 256))).toBe(false);
    expect(b).toMatchObject({ used: 16, exhausted: true });
    expect(b.take(info(2048, 17))).toBe(true);
    expect(b.used).toBe(17);
    expect(() => new PublicKeyBudget(0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
  });
});
