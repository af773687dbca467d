/** PKCS#8 interop with OpenSSL 3, both directions, for RSA, EC P-256/P-384 and Ed25519. */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import {
  DIGEST_LENGTH,
  defaultSignatureAlgorithm,
  exportPkcs8Pem,
  exportSpkiPem,
  generateKeyPair,
  importPrivateKey,
  readPublicKeyInfo,
  signBytes,
  verifyBytes,
  type KeyType,
} from '../../src/keys/index.js';
import { describeWithPeers, run, runStatus, tempDir } from '../helpers/peers.js';

const GENPKEY: Record<string, string[]> = {
  rsa: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
  p256: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  p384: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'],
  ed25519: ['-algorithm', 'ED25519'],
};
const OURS: Record<string, KeyType> = { rsa: 'rsa-2048', p256: 'ec-p256', p384: 'ec-p384', ed25519: 'ed25519' };
const PASS = 'Tr0ub4dor&3 ünïcode';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(MailPkiError);
    return (e as MailPkiError).code;
  }
  return 'resolved';
}

describeWithPeers('PKCS#8 with OpenSSL', ['openssl'], () => {
  const t = tempDir();
  afterAll(() => t.cleanup());

  /** Proves `key` is the private half of the SPKI OpenSSL derives from `pemFile`. */
  async function matchesOpenSslPublicKey(key: CryptoKey, pemFile: string, passin?: string): Promise<boolean> {
    const spki = run('openssl', ['pkey', '-in', pemFile, '-pubout', '-outform', 'DER', ...(passin ? ['-passin', `pass:${passin}`] : [])]);
    const alg = defaultSignatureAlgorithm(key);
    const data = crypto.getRandomValues(new Uint8Array(64));
    const sig = await signBytes(crypto, key, alg, data);
    const parsed = alg.scheme === 'rsa-pss' ? { ...alg, saltLength: DIGEST_LENGTH[alg.hash] } : alg;
    return verifyBytes(crypto, readPublicKeyInfo(Uint8Array.from(spki, (c) => c.charCodeAt(0))), parsed, data, sig);
  }

  beforeAll(() => {
    for (const [name, args] of Object.entries(GENPKEY)) run('openssl', ['genpkey', ...args, '-out', t.path(`${name}.pem`)]);
  });

  for (const name of Object.keys(GENPKEY)) {
    it(`${name}: reads OpenSSL's "openssl pkcs8 -topk8 -v2 aes-256-cbc" and its plain PKCS#8`, async () => {
      const enc = t.path(`${name}.enc.pem`);
      run('openssl', ['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', t.path(`${name}.pem`), '-passout', `pass:${PASS}`, '-out', enc]);
      const key = await importPrivateKey(readFileSync(enc, 'utf8'), { passphrase: PASS });
      expect(await matchesOpenSslPublicKey(key, t.path(`${name}.pem`))).toBe(true);
      const plain = await importPrivateKey(readFileSync(t.path(`${name}.pem`)));
      expect(await matchesOpenSslPublicKey(plain, t.path(`${name}.pem`))).toBe(true);
      expect(await codeOf(importPrivateKey(readFileSync(enc, 'utf8'), { passphrase: 'wrong' }))).toBe('ERR_PASSPHRASE_WRONG');
    });

    it(`${name}: OpenSSL reads our encrypted PKCS#8, and refuses a wrong passphrase`, async () => {
      const pair = await generateKeyPair(OURS[name]!, { extractable: true });
      const file = t.path(`${name}.ours.pem`);
      writeFileSync(file, await exportPkcs8Pem(pair.privateKey, { passphrase: PASS, iterations: 10_000 }));
      const pub = run('openssl', ['pkey', '-in', file, '-passin', `pass:${PASS}`, '-pubout']);
      expect(pub).toBe(await exportSpkiPem(pair.publicKey));
      expect(runStatus('openssl', ['pkey', '-in', file, '-passin', 'pass:wrong', '-noout']).status).not.toBe(0);
      const text = run('openssl', ['asn1parse', '-in', file]);
      expect(text).toContain('PBES2');
      expect(text).toContain('hmacWithSHA256');
      expect(text).toContain('aes-256-cbc');
    });
  }

  it('reads the OpenSSL 3 default (openssl pkcs8 -topk8) and every PRF / AES key size combination', async () => {
    const variants: string[][] = [
      [],
      ['-v2', 'aes-128-cbc', '-v2prf', 'hmacWithSHA1'],
      ['-v2', 'aes-192-cbc', '-v2prf', 'hmacWithSHA384'],
      ['-v2', 'aes-256-cbc', '-v2prf', 'hmacWithSHA512'],
      ['-v2', 'aes-128-cbc', '-v2prf', 'hmacWithSHA256', '-iter', '1'],
    ];
    for (const v of variants) {
      const out = run('openssl', ['pkcs8', '-topk8', ...v, '-in', t.path('p256.pem'), '-passout', 'pass:pw']);
      const key = await importPrivateKey(out, { passphrase: 'pw' });
      expect(await matchesOpenSslPublicKey(key, t.path('p256.pem'))).toBe(true);
      const der = run('openssl', ['pkcs8', '-topk8', ...v, '-in', t.path('p256.pem'), '-passout', 'pass:pw', '-outform', 'DER']);
      expect((await importPrivateKey(Uint8Array.from(der, (c) => c.charCodeAt(0)), { passphrase: 'pw' })).type).toBe('private');
    }
  });

  it('reads legacy "RSA PRIVATE KEY" (genrsa -traditional) and "EC PRIVATE KEY" (ecparam -genkey) files', async () => {
    run('openssl', ['genrsa', '-traditional', '-out', t.path('trad.pem'), '2048']);
    expect(readFileSync(t.path('trad.pem'), 'utf8')).toContain('BEGIN RSA PRIVATE KEY');
    expect(await matchesOpenSslPublicKey(await importPrivateKey(readFileSync(t.path('trad.pem'), 'utf8')), t.path('trad.pem'))).toBe(true);
    run('openssl', ['ecparam', '-genkey', '-name', 'secp384r1', '-out', t.path('sec1.pem')]);
    const sec1 = readFileSync(t.path('sec1.pem'), 'utf8');
    expect(sec1).toContain('BEGIN EC PARAMETERS');
    expect(sec1).toContain('BEGIN EC PRIVATE KEY');
    expect(await matchesOpenSslPublicKey(await importPrivateKey(sec1), t.path('sec1.pem'))).toBe(true);
  });

  it('names the algorithm of encryptions it cannot run (3DES, PBES1, scrypt)', async () => {
    const cases: [string[], string][] = [
      [['-v2', 'des3'], 'DES-EDE3-CBC'],
      [['-v1', 'PBE-SHA1-3DES'], 'pbeWithSHAAnd3-KeyTripleDES-CBC'],
      [['-scrypt'], 'scrypt'],
    ];
    for (const [args, name] of cases) {
      const out = run('openssl', ['pkcs8', '-topk8', ...args, '-in', t.path('p256.pem'), '-passout', 'pass:pw']);
      const e = await importPrivateKey(out, { passphrase: 'pw' }).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(MailPkiError);
      expect((e as MailPkiError).code).toBe('ERR_ALGORITHM_UNSUPPORTED');
      expect((e as MailPkiError).message).toContain(name);
    }
  });

  it('a one-byte change to an OpenSSL-encrypted key gives ERR_PASSPHRASE_WRONG', async () => {
    const der = Uint8Array.from(
      run('openssl', ['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', t.path('ed25519.pem'), '-passout', 'pass:pw', '-outform', 'DER']),
      (c) => c.charCodeAt(0),
    );
    // Ed25519 PKCS#8 is 48 bytes: 16 of header, 32 of seed, then a whole block of padding. A change
    // in the last block breaks the padding, one in the first block breaks the header. (A change that
    // only garbles seed bytes cannot be detected: PBES2 has no MAC; see docs/keys.md.)
    for (const at of [der.length - 1, der.length - 17, der.length - 64]) {
      const bad = der.slice();
      bad[at]! ^= 0x01;
      expect(await codeOf(importPrivateKey(bad, { passphrase: 'pw' }))).toBe('ERR_PASSPHRASE_WRONG');
    }
  });
});
