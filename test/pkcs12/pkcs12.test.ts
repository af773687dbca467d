import { beforeAll, describe, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import { bitString, childrenOf, explicit, int, octets, oid, parseDer, readOctetString, readOid, readSmallInt, readString, seq } from '../../src/internal/der.js';
import { OID } from '../../src/internal/oids.js';
import { exportPkcs8, generateKeyPair } from '../../src/keys/index.js';
import { PBE_OID, encryptPrivateKeyInfo } from '../../src/keys/pbes2.js';
import { findCertificateForKey } from '../../src/pkcs12/certificate.js';
import { bagAttributes, certBag, dataContentInfo, encryptedContentInfo, keyBag, pfx, shroudedKeyBag } from '../../src/pkcs12/export.js';
import { exportPkcs12, exportPkcs12Entries, importPkcs12, importPkcs12All } from '../../src/pkcs12/index.js';
import { encodeMacData } from '../../src/pkcs12/mac.js';
import { P12_OID } from '../../src/pkcs12/oids.js';
import { bytesEqual, flipByte, makeCertificate } from './helpers.js';

async function errorOf(p: Promise<unknown>): Promise<MailPkiError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(MailPkiError);
  return e as MailPkiError;
}
const codeOf = async (p: Promise<unknown>) => (await errorOf(p)).code;

const PASS = 'pässwörd ✓';
const FAST = 1000;
let leaf: CryptoKeyPair;
let ca: CryptoKeyPair;
let other: CryptoKeyPair;
let leafCert: Uint8Array;
let caCert: Uint8Array;
let otherCert: Uint8Array;
let p12: Uint8Array;

beforeAll(async () => {
  [leaf, ca, other] = await Promise.all([
    generateKeyPair('ec-p256', { extractable: true }),
    generateKeyPair('ec-p384'),
    generateKeyPair('ed25519', { extractable: true }),
  ]);
  caCert = await makeCertificate(ca, 'Test CA');
  leafCert = await makeCertificate(leaf, 'alice@example.com', { key: ca.privateKey, cn: 'Test CA' }, 2);
  otherCert = await makeCertificate(other, 'bob@example.com');
  p12 = await exportPkcs12({ privateKey: leaf.privateKey, certificate: leafCert, chain: [caCert], passphrase: PASS, friendlyName: 'Alice', iterations: FAST });
});

/** A PFX from bags, with a SHA-256 MAC (cheap iterations). */
async function build(contentInfos: Uint8Array[], pass = PASS): Promise<Uint8Array> {
  return pfx(crypto, contentInfos, pass, FAST);
}
const encKey = async (k: CryptoKey) => encryptPrivateKeyInfo(await exportPkcs8(k), PASS, { iterations: FAST });

describe('exportPkcs12 / importPkcs12', () => {
  it('round-trips key, certificate, chain and friendly name; the key is non-extractable and signs for the certificate', async () => {
    const r = await importPkcs12(p12, PASS);
    expect(bytesEqual(r.certificate, leafCert)).toBe(true);
    expect(r.chain.map((c) => bytesEqual(c, caCert))).toEqual([true]);
    expect(r.friendlyName).toBe('Alice');
    expect(r.privateKey.extractable).toBe(false);
    expect(r.privateKey.algorithm).toEqual({ name: 'ECDSA', namedCurve: 'P-256' });
    expect(await findCertificateForKey(crypto, r.privateKey, [caCert, leafCert])).toBe(1);
    expect((await importPkcs12(p12, PASS, { extractable: true })).privateKey.extractable).toBe(true);
  });

  it('writes the OpenSSL 3 layout: encrypted cert bags, shrouded key bag, localKeyId = SHA-1 of the cert, HMAC-SHA256 MAC', async () => {
    const [version, authSafe, macData] = childrenOf(parseDer(p12));
    expect(readSmallInt(version!)).toBe(3);
    const [mac, salt, iterations] = childrenOf(macData!);
    expect(readOid(childrenOf(childrenOf(mac!)[0]!)[0]!)).toBe(OID.sha256);
    expect(readOctetString(salt!).length).toBe(16);
    expect(readSmallInt(iterations!)).toBe(FAST);
    const safe = readOctetString(childrenOf(childrenOf(authSafe!)[1]!)[0]!);
    const [certsInfo, keyInfo] = childrenOf(parseDer(safe));
    expect(readOid(childrenOf(certsInfo!)[0]!)).toBe(P12_OID.encryptedData);
    const eci = childrenOf(childrenOf(childrenOf(certsInfo!)[1]!)[0]!)[1]!;
    expect(readOid(childrenOf(childrenOf(eci)[1]!)[0]!)).toBe(PBE_OID.pbes2);
    const keySafe = childrenOf(parseDer(readOctetString(childrenOf(childrenOf(keyInfo!)[1]!)[0]!)));
    expect(keySafe).toHaveLength(1);
    const [bagId, , attrs] = childrenOf(keySafe[0]!);
    expect(readOid(bagId!)).toBe(P12_OID.pkcs8ShroudedKeyBag);
    const byType = new Map(childrenOf(attrs!).map((a) => [readOid(childrenOf(a)[0]!), childrenOf(childrenOf(a)[1]!)[0]!]));
    expect(readString(byType.get(P12_OID.friendlyName)!)).toBe('Alice');
    const sha1 = new Uint8Array(await crypto.subtle.digest('SHA-1', leafCert.slice()));
    expect(bytesEqual(readOctetString(byType.get(P12_OID.localKeyId)!), sha1)).toBe(true);
  });

  it('uses 600,000 iterations by default, for PBKDF2 and the MAC alike', async () => {
    const der = await exportPkcs12({ privateKey: other.privateKey, certificate: otherCert, passphrase: 'x' });
    expect(readSmallInt(childrenOf(childrenOf(parseDer(der))[2]!)[2]!)).toBe(600_000);
    const r = await importPkcs12(der, 'x');
    expect(r.privateKey.algorithm.name).toBe('Ed25519');
    expect(r.chain).toEqual([]);
    expect(r.friendlyName).toBeUndefined();
  });

  it('a wrong passphrase is ERR_PKCS12_MAC_INVALID', async () => {
    expect(await codeOf(importPkcs12(p12, 'passwörd ✓'))).toBe('ERR_PKCS12_MAC_INVALID');
    expect(await codeOf(importPkcs12(p12, ''))).toBe('ERR_PKCS12_MAC_INVALID');
  });

  it('a one-byte change anywhere under the MAC, or in the MAC, is ERR_PKCS12_MAC_INVALID', async () => {
    const [, authSafe, macData] = childrenOf(parseDer(p12));
    const content = childrenOf(childrenOf(authSafe!)[1]!)[0]!;
    const positions = [content.contentStart + 10, Math.floor((content.contentStart + content.end) / 2), content.end - 1, macData!.end - 1];
    for (const at of positions) expect(await codeOf(importPkcs12(flipByte(p12, at), PASS))).toBe('ERR_PKCS12_MAC_INVALID');
    expect(await codeOf(importPkcs12(flipByte(p12, 0), PASS))).toBe('ERR_PKCS12_MALFORMED');
    expect(await codeOf(importPkcs12(p12.subarray(0, p12.length - 1), PASS))).toBe('ERR_PKCS12_MALFORMED');
  });

  it('export refuses a non-extractable key, a key that is not the certificate\'s, and bad options', async () => {
    const fixed = await generateKeyPair('ec-p256');
    const base = { certificate: leafCert, passphrase: PASS, iterations: FAST };
    expect(await codeOf(exportPkcs12({ ...base, privateKey: fixed.privateKey }))).toBe('ERR_KEY_NOT_EXTRACTABLE');
    expect(await codeOf(exportPkcs12({ ...base, privateKey: other.privateKey }))).toBe('ERR_KEY_MISMATCH');
    expect(await codeOf(exportPkcs12({ ...base, privateKey: leaf.privateKey, passphrase: '' }))).toBe('ERR_INVALID_INPUT');
    expect(await codeOf(exportPkcs12({ ...base, privateKey: leaf.privateKey, iterations: 1_000_001 }))).toBe('ERR_INVALID_INPUT');
    expect(await codeOf(exportPkcs12({ ...base, privateKey: leaf.privateKey, certificate: Uint8Array.of(0x30, 0) }))).toBe('ERR_CERT_MALFORMED');
  });
});

describe('importPkcs12 on files made differently', () => {
  it('matches key and certificate by signature when there is no localKeyId, in any order', async () => {
    const der = await build([dataContentInfo([certBag(caCert), certBag(otherCert), certBag(leafCert), shroudedKeyBag(await encKey(leaf.privateKey))])]);
    const r = await importPkcs12(der, PASS);
    expect(bytesEqual(r.certificate, leafCert)).toBe(true);
    expect(r.chain).toHaveLength(2);
  });

  it('does not trust a localKeyId that points at the wrong certificate', async () => {
    const id = bagAttributes(Uint8Array.of(1, 2, 3, 4));
    const der = await build([dataContentInfo([certBag(caCert, id), certBag(leafCert), shroudedKeyBag(await encKey(leaf.privateKey), id)])]);
    expect(bytesEqual((await importPkcs12(der, PASS)).certificate, leafCert)).toBe(true);
  });

  it('reads unencrypted cert bags (-certpbe NONE), plain keyBags and the certificate\'s friendlyName', async () => {
    const pkcs8 = await exportPkcs8(leaf.privateKey);
    const der = await build([dataContentInfo([certBag(leafCert, bagAttributes(undefined, 'from cert')), keyBag(pkcs8)])]);
    const r = await importPkcs12(der, PASS);
    expect(r.friendlyName).toBe('from cert');
  });

  it('reads a SHA-1 MAC (still common) and bags nested in a safeContentsBag', async () => {
    const nested = seq(oid(P12_OID.safeContentsBag), explicit(0, seq(certBag(leafCert))));
    const authSafe = seq(await encryptedContentInfo(crypto, [nested], PASS, FAST), dataContentInfo([shroudedKeyBag(await encKey(leaf.privateKey))]));
    const mac = await encodeMacData(crypto, 'SHA-1', PASS, new Uint8Array(8), 2048, authSafe);
    const der = seq(int(3), seq(oid(P12_OID.data), explicit(0, octets(authSafe))), mac);
    expect(bytesEqual((await importPkcs12(der, PASS)).certificate, leafCert)).toBe(true);
  });

  it('regression: a certificate whose public key WebCrypto refuses (EC point off the curve) does not break key matching', async () => {
    const badPoint = Uint8Array.of(4, ...new Uint8Array(64).fill(1));
    const spki = seq(seq(oid(OID.idEcPublicKey), oid(OID.secp256r1)), bitString(badPoint));
    const bad = await makeCertificate(ca, 'broken', { key: ca.privateKey, cn: 'Test CA' }, 3, spki);
    const der = await build([dataContentInfo([certBag(bad), certBag(leafCert), shroudedKeyBag(await encKey(leaf.privateKey))])]);
    const r = await importPkcs12(der, PASS);
    expect(bytesEqual(r.certificate, leafCert)).toBe(true);
    expect(r.chain).toHaveLength(1);
  });

  it('zero keys, two keys, or a key without its certificate is ERR_PKCS12_CONTENT', async () => {
    const key = shroudedKeyBag(await encKey(leaf.privateKey));
    for (const bags of [[certBag(leafCert)], [certBag(leafCert), key, key], [certBag(caCert), key]]) {
      expect(await codeOf(importPkcs12(await build([dataContentInfo(bags)]), PASS))).toBe('ERR_PKCS12_CONTENT');
    }
  });

  it('without a MAC: ERR_PKCS12_MAC_INVALID unless allowMissingMac', async () => {
    const authSafe = seq(dataContentInfo([certBag(leafCert), shroudedKeyBag(await encKey(leaf.privateKey))]));
    const der = seq(int(3), seq(oid(P12_OID.data), explicit(0, octets(authSafe))));
    expect(await codeOf(importPkcs12(der, PASS))).toBe('ERR_PKCS12_MAC_INVALID');
    expect(bytesEqual((await importPkcs12(der, PASS, { allowMissingMac: true })).certificate, leafCert)).toBe(true);
  });

  it('legacy PKCS#12 PBE (3DES, RC2) is ERR_ALGORITHM_UNSUPPORTED with the openssl conversion command', async () => {
    for (const pbe of ['1.2.840.113549.1.12.1.3', '1.2.840.113549.1.12.1.6']) {
      const alg = seq(oid(pbe), seq(octets(new Uint8Array(8)), int(2048)));
      const encrypted = seq(oid(P12_OID.encryptedData), explicit(0, seq(int(0), seq(oid(P12_OID.data), alg, Uint8Array.of(0x80, 16, ...new Uint8Array(16))))));
      const e = await errorOf(importPkcs12(await build([encrypted, dataContentInfo([shroudedKeyBag(await encKey(leaf.privateKey))])]), PASS));
      expect(e.code).toBe('ERR_ALGORITHM_UNSUPPORTED');
      expect(e.message).toContain('openssl pkcs12 -legacy');
    }
  });

  it('refuses PBMAC1, too many MAC iterations, too many bags and oversized files with coded errors', async () => {
    const authSafe = seq(dataContentInfo([certBag(leafCert)]));
    const withMac = (mac: Uint8Array) => seq(int(3), seq(oid(P12_OID.data), explicit(0, octets(authSafe))), mac);
    const pbmac1 = seq(seq(seq(oid(P12_OID.pbmac1), seq()), octets(new Uint8Array(32))), octets(new Uint8Array(8)), int(1));
    expect(await codeOf(importPkcs12(withMac(pbmac1), PASS))).toBe('ERR_ALGORITHM_UNSUPPORTED');
    const slow = seq(seq(seq(oid(OID.sha256), Uint8Array.of(5, 0)), octets(new Uint8Array(32))), octets(new Uint8Array(8)), int(1_000_001));
    const started = Date.now();
    expect(await codeOf(importPkcs12(withMac(slow), PASS))).toBe('ERR_INPUT_TOO_LARGE');
    expect(Date.now() - started).toBeLessThan(1000);
    const many = await build([dataContentInfo(Array.from({ length: 65 }, () => certBag(caCert)))]);
    expect(await codeOf(importPkcs12(many, PASS))).toBe('ERR_INPUT_TOO_LARGE');
    expect(await codeOf(importPkcs12(new Uint8Array(1024 * 1024 + 1), PASS))).toBe('ERR_INPUT_TOO_LARGE');
    expect(await codeOf(importPkcs12('not bytes' as never, PASS))).toBe('ERR_INVALID_INPUT');
  });

  it('regression: encrypted SafeContents with a passphrase different from the MAC\'s is ERR_PASSPHRASE_WRONG', async () => {
    const der = await build([await encryptedContentInfo(crypto, [certBag(leafCert)], 'other', FAST), dataContentInfo([keyBag(await exportPkcs8(leaf.privateKey))])]);
    expect(await codeOf(importPkcs12(der, PASS))).toBe('ERR_PASSPHRASE_WRONG');
  });
});

describe('importPkcs12All: files of several keys (a key-recovery export)', () => {
  it('every key of exportPkcs12Entries with its own certificate, the rest as chain; importPkcs12 refuses the same file and says what reads it', async () => {
    const entries = [
      { privateKeyInfo: await exportPkcs8(leaf.privateKey), certificate: leafCert, friendlyName: 'alice 2' },
      { privateKeyInfo: await exportPkcs8(other.privateKey), certificate: otherCert, friendlyName: 'bob 1' },
    ];
    const der = await exportPkcs12Entries({ entries, chain: [caCert], passphrase: PASS, iterations: FAST });
    const r = await importPkcs12All(der, PASS);
    expect(r.keys.map((k) => [k.friendlyName, bytesEqual(k.certificate, entries.find((e) => e.friendlyName === k.friendlyName)!.certificate)])).toEqual([
      ['alice 2', true],
      ['bob 1', true],
    ]);
    expect(r.chain.map((c) => bytesEqual(c, caCert))).toEqual([true]);
    const e = await errorOf(importPkcs12(der, PASS));
    expect([e.code, e.message]).toEqual([
      'ERR_PKCS12_CONTENT',
      'PKCS#12 file holds 2 private keys; exactly one is expected (a key-recovery export: read it with importDecryptionKeysFromPkcs12, or --p12 on the command line)',
    ]);
    // One key: the same as importPkcs12.
    const one = await importPkcs12All(p12, PASS);
    expect([one.keys.length, bytesEqual(one.keys[0]!.certificate, leafCert), one.keys[0]!.friendlyName, one.chain.length]).toEqual([1, true, 'Alice', 1]);
  });

  it('one key in two entries (a renewal without a new key) and no localKeyId: each entry takes a certificate of its own', async () => {
    const renewed = await makeCertificate(leaf, 'alice@example.com', { key: ca.privateKey, cn: 'Test CA' }, 7);
    const k = await encKey(leaf.privateKey);
    const der = await build([dataContentInfo([certBag(leafCert), certBag(caCert), certBag(renewed), shroudedKeyBag(k), shroudedKeyBag(k)])]);
    const r = await importPkcs12All(der, PASS);
    expect(r.keys.map((x) => [bytesEqual(x.certificate, leafCert), bytesEqual(x.certificate, renewed)])).toEqual([
      [true, false],
      [false, true],
    ]);
    expect(r.chain.map((c) => bytesEqual(c, caCert))).toEqual([true]);
  });

  it('a key without a certificate of its own, no key at all, a wrong passphrase: coded errors', async () => {
    const k = await encKey(leaf.privateKey);
    const twoKeysOneCert = await build([dataContentInfo([certBag(leafCert), shroudedKeyBag(k), shroudedKeyBag(k)])]);
    expect(await errorOf(importPkcs12All(twoKeysOneCert, PASS))).toMatchObject({ code: 'ERR_PKCS12_CONTENT', message: 'PKCS#12 file has no certificate for its private key 2 of 2', details: { key: 1 } });
    expect(await errorOf(importPkcs12All(await build([dataContentInfo([certBag(leafCert)])]), PASS))).toMatchObject({ code: 'ERR_PKCS12_CONTENT', message: 'PKCS#12 file holds no private key' });
    expect(await codeOf(importPkcs12All(p12, 'wrong'))).toBe('ERR_PKCS12_MAC_INVALID');
    expect(await codeOf(importPkcs12All(flipByte(p12, p12.length - 40), PASS))).toMatch(/^ERR_PKCS12_(MAC_INVALID|MALFORMED)$/);
  });
});
