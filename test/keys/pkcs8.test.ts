import { beforeAll, describe, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import { Tag, childrenOf, cursor, encodedOf, explicit, int, octets, oid, parseDer, readOctetString, readOid, readSmallInt, seq } from '../../src/internal/der.js';
import { encodePem } from '../../src/internal/pem.js';
import {
  DIGEST_LENGTH,
  decryptPrivateKeyInfo,
  encryptPrivateKeyInfo,
  exportPkcs8,
  exportPkcs8Pem,
  exportSpki,
  generateKeyPair,
  importPrivateKey,
  readPublicKeyInfo,
  signBytes,
  verifyBytes,
  type SignatureAlgorithm,
} from '../../src/keys/index.js';
import { PBE_OID, pbes2Encrypt } from '../../src/keys/pbes2.js';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(MailPkiError);
    return (e as MailPkiError).code;
  }
  return 'resolved';
}

async function errorOf(p: Promise<unknown>): Promise<MailPkiError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(MailPkiError);
  return e as MailPkiError;
}

/** Signs with `privateKey` and checks the signature with `publicKey`: proves the two belong together. */
async function pairs(privateKey: CryptoKey, publicKey: CryptoKey, alg: SignatureAlgorithm): Promise<boolean> {
  const data = new TextEncoder().encode('hello');
  const sig = await signBytes(crypto, privateKey, alg, data);
  const saltLength = alg.scheme === 'rsa-pss' ? DIGEST_LENGTH[alg.hash] : undefined;
  return verifyBytes(crypto, readPublicKeyInfo(await exportSpki(publicKey)), { ...alg, saltLength }, data, sig);
}

const FAST = { iterations: 1000 };
let rsa: CryptoKeyPair;
let ec: CryptoKeyPair;
let ed: CryptoKeyPair;

beforeAll(async () => {
  [rsa, ec, ed] = await Promise.all([
    generateKeyPair('rsa-2048', { extractable: true }),
    generateKeyPair('ec-p256', { extractable: true }),
    generateKeyPair('ed25519', { extractable: true }),
  ]);
});

const ALG: Record<string, SignatureAlgorithm> = {
  rsa: { scheme: 'rsa-pkcs1', hash: 'SHA-256' },
  ec: { scheme: 'ecdsa', hash: 'SHA-256' },
  ed: { scheme: 'ed25519', hash: 'SHA-512' },
};

describe('PKCS#8 export and import', () => {
  it('round-trips plain and encrypted keys of each kind, PEM and DER', async () => {
    for (const [name, pair] of [['rsa', rsa], ['ec', ec], ['ed', ed]] as const) {
      const der = await exportPkcs8(pair.privateKey);
      const pem = await exportPkcs8Pem(pair.privateKey, { passphrase: 'correct horse', ...FAST });
      expect(pem.startsWith('-----BEGIN ENCRYPTED PRIVATE KEY-----\n')).toBe(true);
      for (const key of [
        await importPrivateKey(der),
        await importPrivateKey(encodePem('PRIVATE KEY', der)),
        await importPrivateKey(pem, { passphrase: 'correct horse' }),
        await importPrivateKey(new TextEncoder().encode(pem), { passphrase: 'correct horse' }),
      ]) {
        expect(key.type).toBe('private');
        expect(key.extractable).toBe(false);
        expect(await pairs(key, pair.publicKey, ALG[name]!)).toBe(true);
      }
    }
  });

  it('writes PBES2 with PBKDF2-HMAC-SHA256 (600,000 iterations, 16-byte salt) and AES-256-CBC by default', async () => {
    const enc = await exportPkcs8(ec.privateKey, { passphrase: 'p' });
    const top = cursor(parseDer(enc));
    const alg = cursor(top.next(Tag.SEQUENCE));
    expect(readOid(alg.next(Tag.OID))).toBe(PBE_OID.pbes2);
    const [kdf, cipher] = childrenOf(alg.next(Tag.SEQUENCE));
    const kdfParts = childrenOf(kdf!);
    expect(readOid(kdfParts[0]!)).toBe(PBE_OID.pbkdf2);
    const [salt, iter, prf] = childrenOf(kdfParts[1]!);
    expect(readOctetString(salt!).length).toBe(16);
    expect(readSmallInt(iter!)).toBe(600_000);
    expect(readOid(childrenOf(prf!)[0]!)).toBe(PBE_OID.hmacWithSHA256);
    const [cipherOid, iv] = childrenOf(cipher!);
    expect(readOid(cipherOid!)).toBe(PBE_OID.aes256CBC);
    expect(readOctetString(iv!).length).toBe(16);
    expect((await importPrivateKey(enc, { passphrase: 'p' })).algorithm.name).toBe('ECDSA');
  });

  it('encryptPrivateKeyInfo / decryptPrivateKeyInfo give back the same PrivateKeyInfo', async () => {
    const der = await exportPkcs8(ed.privateKey);
    const enc = await encryptPrivateKeyInfo(der, 'pässwörd ✓', FAST);
    expect(Array.from(await decryptPrivateKeyInfo(enc, 'pässwörd ✓'))).toEqual(Array.from(der));
    expect(await codeOf(decryptPrivateKeyInfo(enc, 'passwörd ✓'))).toBe('ERR_PASSPHRASE_WRONG');
    expect(await codeOf(encryptPrivateKeyInfo(Uint8Array.of(0x30, 0), 'x', FAST))).toBe('ERR_KEY_MALFORMED');
  });

  it('asks for a passphrase, and rejects a wrong one', async () => {
    const pem = await exportPkcs8Pem(rsa.privateKey, { passphrase: 'right', ...FAST });
    expect(await codeOf(importPrivateKey(pem))).toBe('ERR_PASSPHRASE_REQUIRED');
    expect(await codeOf(importPrivateKey(pem, { passphrase: 'wrong' }))).toBe('ERR_PASSPHRASE_WRONG');
    expect(await codeOf(importPrivateKey(pem, { passphrase: '' }))).toBe('ERR_PASSPHRASE_WRONG');
  });

  it('regression: a decryption whose padding is valid by chance is still ERR_PASSPHRASE_WRONG', async () => {
    // Correct key and padding, but the plaintext is not a PrivateKeyInfo: what a lucky wrong passphrase yields.
    const { algorithm, ciphertext } = await pbes2Encrypt(crypto, new Uint8Array(40).fill(7), new TextEncoder().encode('pw'), 1000);
    expect(await codeOf(importPrivateKey(seq(algorithm, octets(ciphertext)), { passphrase: 'pw' }))).toBe('ERR_PASSPHRASE_WRONG');
  });

  it('imports non-extractable by default, and refuses to export such a key', async () => {
    const key = await importPrivateKey(await exportPkcs8(ec.privateKey));
    expect(key.extractable).toBe(false);
    expect(await codeOf(exportPkcs8(key))).toBe('ERR_KEY_NOT_EXTRACTABLE');
    const again = await importPrivateKey(await exportPkcs8(ec.privateKey), { extractable: true });
    expect((await exportPkcs8(again)).length).toBeGreaterThan(0);
  });

  it('refuses bad export options with ERR_INVALID_INPUT', async () => {
    expect(await codeOf(exportPkcs8(ec.publicKey))).toBe('ERR_INVALID_INPUT');
    expect(await codeOf(exportPkcs8(ec.privateKey, { passphrase: '' }))).toBe('ERR_INVALID_INPUT');
    expect(await codeOf(exportPkcs8(ec.privateKey, { passphrase: 'x', iterations: 999 }))).toBe('ERR_INVALID_INPUT');
    expect(await codeOf(exportPkcs8(ec.privateKey, { passphrase: 'x', iterations: 1.5 }))).toBe('ERR_INVALID_INPUT');
  });

  it('imports RSA for the requested scheme and hash; refuses a scheme the key cannot do', async () => {
    const der = await exportPkcs8(rsa.privateKey);
    const pss = await importPrivateKey(der, { algorithm: { scheme: 'rsa-pss', hash: 'SHA-384' } });
    expect(pss.algorithm).toMatchObject({ name: 'RSA-PSS', hash: { name: 'SHA-384' } });
    expect(await pairs(pss, rsa.publicKey, { scheme: 'rsa-pss', hash: 'SHA-384' })).toBe(true);
    expect(await codeOf(importPrivateKey(der, { algorithm: { scheme: 'ecdsa', hash: 'SHA-256' } }))).toBe('ERR_KEY_UNSUPPORTED');
    expect(await codeOf(importPrivateKey(await exportPkcs8(ec.privateKey), { algorithm: { scheme: 'rsa-pss', hash: 'SHA-256' } }))).toBe(
      'ERR_KEY_UNSUPPORTED',
    );
    expect(await codeOf(importPrivateKey(der, { algorithm: { scheme: 'rsa-pss', hash: 'MD5' } as never }))).toBe('ERR_INVALID_INPUT');
  });
});

describe('legacy PKCS#1 and SEC1 keys', () => {
  it('imports "RSA PRIVATE KEY" (PKCS#1), PEM and DER', async () => {
    const pkcs1 = readOctetString(childrenOf(parseDer(await exportPkcs8(rsa.privateKey)))[2]!);
    for (const input of [encodePem('RSA PRIVATE KEY', pkcs1), pkcs1]) {
      const key = await importPrivateKey(input);
      expect(await pairs(key, rsa.publicKey, ALG.rsa!)).toBe(true);
    }
  });

  it('imports "EC PRIVATE KEY" (SEC1 with its named curve), PEM and DER; refuses one without a curve', async () => {
    const inner = childrenOf(parseDer(readOctetString(childrenOf(parseDer(await exportPkcs8(ec.privateKey)))[2]!)));
    const scalar = readOctetString(inner[1]!);
    const pub = inner.find((n) => n.tag === 0xa1)!;
    const sec1 = seq(int(1), octets(scalar), explicit(0, oid('1.2.840.10045.3.1.7')), encodedOf(pub));
    for (const input of [encodePem('EC PRIVATE KEY', sec1), sec1]) {
      const key = await importPrivateKey(input);
      expect(key.algorithm).toEqual({ name: 'ECDSA', namedCurve: 'P-256' });
      expect(await pairs(key, ec.publicKey, ALG.ec!)).toBe(true);
    }
    const noCurve = seq(int(1), octets(scalar));
    expect(await codeOf(importPrivateKey(encodePem('EC PRIVATE KEY', noCurve)))).toBe('ERR_KEY_MALFORMED');
  });

  it('refuses legacy PEM encryption (Proc-Type / DEK-Info) with ERR_ALGORITHM_UNSUPPORTED', async () => {
    const pem = '-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n-----END RSA PRIVATE KEY-----\n';
    expect(await codeOf(importPrivateKey(pem))).toBe('ERR_ALGORITHM_UNSUPPORTED');
  });
});

/** Our own encrypted key with its AlgorithmIdentifier replaced. */
async function withAlgorithm(algorithm: Uint8Array): Promise<Uint8Array> {
  const enc = await exportPkcs8(ec.privateKey, { passphrase: 'x', ...FAST });
  return seq(algorithm, encodedOf(childrenOf(parseDer(enc))[1]!));
}

const pbkdf2 = (iterations: number, prf: string = PBE_OID.hmacWithSHA256) =>
  seq(oid(PBE_OID.pbkdf2), seq(octets(new Uint8Array(16)), int(iterations), seq(oid(prf), Uint8Array.of(5, 0))));
const pbes2 = (kdf: Uint8Array, cipher: Uint8Array) => seq(oid(PBE_OID.pbes2), seq(kdf, cipher));
const aes256 = seq(oid(PBE_OID.aes256CBC), octets(new Uint8Array(16)));

describe('refusals', () => {
  it('names DES, 3DES, RC2, PBES1, PKCS#12 PBE and scrypt in ERR_ALGORITHM_UNSUPPORTED', async () => {
    const cases: [Uint8Array, string][] = [
      [pbes2(pbkdf2(1000), seq(oid('1.2.840.113549.3.7'), octets(new Uint8Array(8)))), 'DES-EDE3-CBC (3DES)'],
      [pbes2(pbkdf2(1000), seq(oid('1.3.14.3.2.7'), octets(new Uint8Array(8)))), 'DES-CBC'],
      [pbes2(pbkdf2(1000), seq(oid('1.2.840.113549.3.2'), seq(int(58), octets(new Uint8Array(8))))), 'RC2-CBC'],
      [pbes2(seq(oid('1.3.6.1.4.1.11591.4.11'), seq(octets(new Uint8Array(8)), int(16384), int(8), int(1))), aes256), 'scrypt'],
      [seq(oid('1.2.840.113549.1.5.3'), seq(octets(new Uint8Array(8)), int(2048))), 'pbeWithMD5AndDES-CBC'],
      [seq(oid('1.2.840.113549.1.12.1.3'), seq(octets(new Uint8Array(8)), int(2048))), 'pbeWithSHAAnd3-KeyTripleDES-CBC'],
      [pbes2(pbkdf2(1000, PBE_OID.hmacWithSHA224), aes256), 'SHA-224'],
    ];
    for (const [alg, name] of cases) {
      const e = await errorOf(importPrivateKey(await withAlgorithm(alg), { passphrase: 'x' }));
      expect(e.code).toBe('ERR_ALGORITHM_UNSUPPORTED');
      expect(e.message).toContain(name);
      expect(e.message).toContain('openssl pkcs8 -topk8 -v2 aes-256-cbc');
    }
  });

  it('refuses more than 10,000,000 PBKDF2 iterations before deriving anything', async () => {
    const started = Date.now();
    const e = await errorOf(importPrivateKey(await withAlgorithm(pbes2(pbkdf2(10_000_001), aes256)), { passphrase: 'x' }));
    expect(e.code).toBe('ERR_INPUT_TOO_LARGE');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await codeOf(importPrivateKey(await withAlgorithm(pbes2(pbkdf2(0), aes256)), { passphrase: 'x' }))).toBe('ERR_KEY_MALFORMED');
  });

  it('refuses input over 64 KiB with ERR_INPUT_TOO_LARGE', async () => {
    expect(await codeOf(importPrivateKey(new Uint8Array(64 * 1024 + 1)))).toBe('ERR_INPUT_TOO_LARGE');
    expect(await codeOf(importPrivateKey('x'.repeat(64 * 1024 + 1)))).toBe('ERR_INPUT_TOO_LARGE');
  });

  it('refuses key types it cannot sign with (X25519) with ERR_KEY_UNSUPPORTED', async () => {
    const x = (await crypto.subtle.generateKey({ name: 'X25519' }, true, ['deriveBits'])) as CryptoKeyPair;
    const der = new Uint8Array(await crypto.subtle.exportKey('pkcs8', x.privateKey));
    const e = await errorOf(importPrivateKey(der));
    expect(e.code).toBe('ERR_KEY_UNSUPPORTED');
    expect(e.message).toContain('X25519');
  });

  it('refuses an RSA key whose modulus is not p·q (altered key) with ERR_KEY_MALFORMED', async () => {
    const der = await exportPkcs8(rsa.privateKey);
    const outer = childrenOf(parseDer(der));
    const fields = childrenOf(parseDer(readOctetString(outer[2]!))).map((n) => encodedOf(n).slice());
    const n = fields[1]!;
    n[n.length - 1]! ^= 2;
    const altered = seq(encodedOf(outer[0]!), encodedOf(outer[1]!), octets(seq(...fields)));
    expect(await codeOf(importPrivateKey(altered))).toBe('ERR_KEY_MALFORMED');
  });

  it('gives precise codes for what is not a private key', async () => {
    const spkiPem = encodePem('PUBLIC KEY', await exportSpki(ec.publicKey));
    const e = await errorOf(importPrivateKey(spkiPem));
    expect(e.code).toBe('ERR_PEM_MALFORMED');
    expect(e.message).toContain('"PUBLIC KEY"');
    expect(await codeOf(importPrivateKey('not a key'))).toBe('ERR_PEM_MALFORMED');
    expect(await codeOf(importPrivateKey(Uint8Array.of(1, 2, 3)))).toBe('ERR_KEY_MALFORMED');
    expect(await codeOf(importPrivateKey(await exportSpki(ec.publicKey)))).toBe('ERR_KEY_MALFORMED');
    expect(await codeOf(importPrivateKey(42 as never))).toBe('ERR_INVALID_INPUT');
    const two = encodePem('PRIVATE KEY', await exportPkcs8(ec.privateKey)).repeat(2);
    expect(await codeOf(importPrivateKey(two))).toBe('ERR_KEY_MALFORMED');
    const mislabelled = encodePem('RSA PRIVATE KEY', await exportPkcs8(ec.privateKey));
    expect(await codeOf(importPrivateKey(mislabelled))).toBe('ERR_KEY_MALFORMED');
  });
});
