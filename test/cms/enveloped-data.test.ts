import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import {
  CMS_OID,
  decryptData,
  encryptData,
  importDecryptionKey,
  importDecryptionKeyFromPkcs12,
  parseEnvelopedData,
  readRecipientIdentifiers,
  type CmsDecryptionKey,
  type ContentEncryptionAlgorithm,
} from '../../src/cms/index.js';
import { ENVELOPE_OID } from '../../src/cms/enveloped-data.js';
import { pkcs1DecodeImplicit } from '../../src/cms/rsa.js';
import { MailPkiError } from '../../src/errors.js';
import { equalBytes, toHex } from '../../src/internal/bytes.js';
import { Tag, bitString, cursor, explicit, int, nul, octets, oid, parseDer, readOid, seq, setOf, time, tlv, utf8String } from '../../src/internal/der.js';
import { OID } from '../../src/internal/oids.js';
import { exportPkcs8Pem, importPrivateKey } from '../../src/keys/index.js';
import { signBytes, signatureAlgorithmIdentifier } from '../../src/keys/algorithms.js';
import { exportPkcs12 } from '../../src/pkcs12/index.js';

const subtle = globalThis.crypto.subtle;
const content = new TextEncoder().encode('Content-Type: text/plain\r\n\r\nPay 10,000 EUR to DE89 3704 0044 0532 0130 00.\r\n');

// Self-issued test certificates built with our DER writer, so these unit tests need no peer.
async function makeCert(publicKey: CryptoKey, signer: CryptoKey, cn: string, serial: number, ski?: Uint8Array): Promise<Certificate> {
  const spki = new Uint8Array(await subtle.exportKey('spki', publicKey));
  const name = seq(setOf(seq(oid(OID.commonName), utf8String(cn))));
  const alg = { scheme: 'ecdsa', hash: 'SHA-256' } as const;
  const algId = signatureAlgorithmIdentifier(alg);
  const exts = ski ? [explicit(3, seq(seq(oid(OID.subjectKeyIdentifier), octets(octets(ski)))))] : [];
  const tbs = seq(
    explicit(0, int(2)),
    int(serial),
    algId,
    seq(setOf(seq(oid(OID.commonName), utf8String('Test CA')))),
    seq(time(new Date('2026-01-01T00:00:00Z')), time(new Date('2027-01-01T00:00:00Z'))),
    name,
    spki,
    ...exts,
  );
  return parseCertificate(seq(tbs, algId, bitString(await signBytes(globalThis.crypto, signer, alg, tbs))));
}

interface Id {
  cert: Certificate;
  /** As CmsDecryptionKey: non-extractable, imported for decryption. */
  key: CmsDecryptionKey;
  pkcs8Pem: string;
}

let ca: CryptoKeyPair;
const ids: Record<string, Id> = {};

async function makeId(name: string, params: RsaHashedKeyGenParams | EcKeyGenParams, serial: number, ski?: Uint8Array): Promise<Id> {
  const usages: KeyUsage[] = params.name === 'ECDH' ? ['deriveBits'] : ['encrypt', 'decrypt'];
  const pair = (await subtle.generateKey(params, true, usages)) as CryptoKeyPair;
  const cert = await makeCert(pair.publicKey, ca.privateKey, name, serial, ski);
  const pkcs8Pem = await exportPkcs8Pem(pair.privateKey);
  const privateKey = await importPrivateKey(pkcs8Pem, { usage: 'decrypt' });
  return { cert, key: { privateKey, certificate: cert }, pkcs8Pem };
}

beforeAll(async () => {
  ca = (await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])) as CryptoKeyPair;
  const rsa = { name: 'RSA-OAEP', modulusLength: 2048, publicExponent: Uint8Array.of(1, 0, 1), hash: 'SHA-256' };
  ids.rsa = await makeId('rsa', rsa, 1, Uint8Array.of(1, 2, 3, 4));
  ids.rsa2 = await makeId('rsa2', rsa, 2);
  ids.p256 = await makeId('p256', { name: 'ECDH', namedCurve: 'P-256' }, 3, Uint8Array.of(5, 6, 7, 8));
  ids.p384 = await makeId('p384', { name: 'ECDH', namedCurve: 'P-384' }, 4);
  ids.p521 = await makeId('p521', { name: 'ECDH', namedCurve: 'P-521' }, 5);
}, 60_000);

async function rejects(p: Promise<unknown>, code: string): Promise<MailPkiError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(MailPkiError);
  expect((e as MailPkiError).code).toBe(code);
  return e as MailPkiError;
}

const outerType = (der: Uint8Array): string => readOid(cursor(parseDer(der)).next(Tag.OID));

describe('encryptData / decryptData round trips', () => {
  const algs: ContentEncryptionAlgorithm[] = ['aes-256-gcm', 'aes-128-gcm', 'aes-256-cbc', 'aes-128-cbc'];
  for (const contentEncryption of algs) {
    for (const who of ['rsa', 'p256', 'p384', 'p521']) {
      it(`${contentEncryption} to ${who}`, async () => {
        const der = await encryptData(content, [{ certificate: ids[who]!.cert }], { contentEncryption });
        const gcm = contentEncryption.endsWith('gcm');
        expect(outerType(der)).toBe(gcm ? CMS_OID.authEnvelopedData : CMS_OID.envelopedData);
        const r = await decryptData(der, [ids[who]!.key]);
        expect(equalBytes(r.content, content)).toBe(true);
        expect(r.contentEncryption).toBe(contentEncryption);
        expect(r.integrityProtected).toBe(gcm);
        expect(r.keyManagement).toBe(who === 'rsa' ? 'rsa-oaep' : 'ecdh');
        expect(r.contentType).toBe(CMS_OID.data);
        expect(r.recipientIndex).toBe(0);
        expect(r.certificate).toBe(ids[who]!.cert);
      });
    }
  }

  it('defaults to AES-256-GCM AuthEnvelopedData with RSA-OAEP SHA-256', async () => {
    const der = await encryptData(content, [{ certificate: ids.rsa!.cert }]);
    const ed = parseEnvelopedData(der);
    expect(ed.kind).toBe('auth-enveloped-data');
    expect(ed.contentEncryption).toMatchObject({ algorithm: 'aes-256-gcm', tagLength: 16 });
    expect((ed.contentEncryption as { nonce: Uint8Array }).nonce.length).toBe(12);
    expect(ed.mac!.length).toBe(16);
    expect(ed.recipients[0]).toMatchObject({ type: 'ktri', algorithm: { scheme: 'rsa-oaep', hash: 'SHA-256', mgfHash: 'SHA-256' } });
  });

  it('RSA PKCS#1 v1.5 opt-in: decrypts with the key from importDecryptionKey (rawRsaDecrypt) and with an extractable key', async () => {
    const der = await encryptData(content, [{ certificate: ids.rsa!.cert, keyTransport: 'rsa-pkcs1' }]);
    expect(parseEnvelopedData(der).recipients[0]).toMatchObject({ type: 'ktri', algorithm: { scheme: 'rsa-pkcs1' } });
    const viaHelper = await decryptData(der, [await importDecryptionKey(ids.rsa!.pkcs8Pem, ids.rsa!.cert)]);
    expect(viaHelper.keyManagement).toBe('rsa-pkcs1');
    expect(equalBytes(viaHelper.content, content)).toBe(true);
    const extractable = await importPrivateKey(ids.rsa!.pkcs8Pem, { extractable: true }); // a signing key, exportable
    const viaExport = await decryptData(der, [{ privateKey: extractable, certificate: ids.rsa!.cert }]);
    expect(equalBytes(viaExport.content, content)).toBe(true);
  });

  it("importDecryptionKey's rawRsaDecrypt (also the lifecycle's getDecryptor keys): a block not of the modulus length or not below n is ERR_INVALID_INPUT", async () => {
    const key = await importDecryptionKey(ids.rsa!.pkcs8Pem, ids.rsa!.cert);
    expect(key.privateKey).toMatchObject({ extractable: false, algorithm: { name: 'RSA-OAEP', hash: { name: 'SHA-256' } } });
    await rejects(key.rawRsaDecrypt!(new Uint8Array(255)), 'ERR_INVALID_INPUT');
    await rejects(key.rawRsaDecrypt!(new Uint8Array(257)), 'ERR_INVALID_INPUT');
    await rejects(key.rawRsaDecrypt!(new Uint8Array(256).fill(0xff)), 'ERR_INVALID_INPUT');
    const em = await key.rawRsaDecrypt!(new Uint8Array(256).fill(1, 255));
    expect(em).toEqual(new Uint8Array(256).fill(1, 255)); // 1^d = 1
  });

  it('RSA PKCS#1 v1.5 with a non-extractable key and no rawRsaDecrypt: ERR_CMS_UNWRAP_UNAVAILABLE with a hint', async () => {
    const der = await encryptData(content, [{ certificate: ids.rsa!.cert, keyTransport: 'rsa-pkcs1' }]);
    const e = await rejects(decryptData(der, [ids.rsa!.key]), 'ERR_CMS_UNWRAP_UNAVAILABLE');
    expect(e.message).toMatch(/rawRsaDecrypt/);
  });

  it('subjectKeyIdentifier recipients, RSA and ECDH', async () => {
    const der = await encryptData(content, [
      { certificate: ids.rsa!.cert, identifier: 'subjectKeyIdentifier' },
      { certificate: ids.p256!.cert, identifier: 'subjectKeyIdentifier' },
    ]);
    expect(readRecipientIdentifiers(der).sort()).toEqual(['subjectKeyIdentifier=01020304', 'subjectKeyIdentifier=05060708']);
    expect(equalBytes((await decryptData(der, [ids.rsa!.key])).content, content)).toBe(true);
    expect(equalBytes((await decryptData(der, [ids.p256!.key])).content, content)).toBe(true);
    await rejects(encryptData(content, [{ certificate: ids.rsa2!.cert, identifier: 'subjectKeyIdentifier' }]), 'ERR_INVALID_INPUT');
  });

  it('EnvelopedData version: 0 with only issuerAndSerialNumber key transport, 2 otherwise', async () => {
    const v = async (r: Parameters<typeof encryptData>[1]) => parseEnvelopedData(await encryptData(content, r, { contentEncryption: 'aes-128-cbc' })).version;
    expect(await v([{ certificate: ids.rsa!.cert }])).toBe(0);
    expect(await v([{ certificate: ids.rsa!.cert, identifier: 'subjectKeyIdentifier' }])).toBe(2);
    expect(await v([{ certificate: ids.p256!.cert }])).toBe(2);
  });

  it('mixed recipients (OAEP, PKCS#1, P-256, P-384): each opens the one message; recipients lists all four', async () => {
    const der = await encryptData(content, [
      { certificate: ids.rsa!.cert },
      { certificate: ids.rsa2!.cert, keyTransport: 'rsa-pkcs1' },
      { certificate: ids.p256!.cert },
      { certificate: ids.p384!.cert },
    ]);
    const expected = readRecipientIdentifiers(der);
    expect(expected).toHaveLength(4);
    for (const who of ['rsa', 'rsa2', 'p256', 'p384']) {
      const key = who === 'rsa2' ? await importDecryptionKey(ids.rsa2!.pkcs8Pem, ids.rsa2!.cert) : ids[who]!.key;
      const r = await decryptData(der, [key]);
      expect(equalBytes(r.content, content)).toBe(true);
      expect(r.recipients).toEqual(expected);
      expect(r.recipients[r.recipientIndex]).toBe(`issuer=CN=Test CA, serial=0x${toHex(ids[who]!.cert.serialBytes)}`);
    }
  });

  it('a non-data content type is carried and authenticated in authAttrs (RFC 5083 §2.1)', async () => {
    const der = await encryptData(content, [{ certificate: ids.p256!.cert }], { contentType: CMS_OID.signedData });
    const ed = parseEnvelopedData(der);
    expect(ed.contentType).toBe(CMS_OID.signedData);
    expect(ed.authAttrsAad?.[0]).toBe(0x31);
    expect((await decryptData(der, [ids.p256!.key])).contentType).toBe(CMS_OID.signedData);
  });

  it('empty content and a 1 MiB content', async () => {
    for (const c of [new Uint8Array(0), new Uint8Array(1 << 20).fill(0x61)]) {
      for (const contentEncryption of ['aes-256-gcm', 'aes-128-cbc'] as const) {
        const der = await encryptData(c, [{ certificate: ids.p256!.cert }], { contentEncryption });
        expect(equalBytes((await decryptData(der, [ids.p256!.key])).content, c)).toBe(true);
      }
    }
  });

  it('keys: the one that fits is found among several', async () => {
    const der = await encryptData(content, [{ certificate: ids.p384!.cert }]);
    const r = await decryptData(der, [ids.rsa!.key, ids.p256!.key, ids.p384!.key]);
    expect(r.certificate).toBe(ids.p384!.cert);
  });

  it('an RSA-OAEP key bound to another hash: re-imported when extractable, else via rawRsaDecrypt, else unavailable', async () => {
    const der = await encryptData(content, [{ certificate: ids.rsa!.cert }]);
    const sha1Extractable = await importPrivateKey(ids.rsa!.pkcs8Pem, { usage: 'decrypt', oaepHash: 'SHA-1', extractable: true });
    expect(equalBytes((await decryptData(der, [{ privateKey: sha1Extractable, certificate: ids.rsa!.cert }])).content, content)).toBe(true);
    const sha1 = await importPrivateKey(ids.rsa!.pkcs8Pem, { usage: 'decrypt', oaepHash: 'SHA-1' });
    await rejects(decryptData(der, [{ privateKey: sha1, certificate: ids.rsa!.cert }]), 'ERR_CMS_UNWRAP_UNAVAILABLE');
    const helper = await importDecryptionKey(ids.rsa!.pkcs8Pem, ids.rsa!.cert);
    const viaRaw = await decryptData(der, [{ privateKey: sha1, certificate: ids.rsa!.cert, rawRsaDecrypt: helper.rawRsaDecrypt! }]);
    expect(equalBytes(viaRaw.content, content)).toBe(true);
  });
});

/** The DER with one byte at `at` flipped. */
function flip(der: Uint8Array, at: number): Uint8Array {
  const out = der.slice();
  out[at]! ^= 0x01;
  return out;
}
function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

describe('tampering, wrong keys and truncation give coded errors and no plaintext', () => {
  it('GCM: a flipped tag, ciphertext byte or nonce is ERR_CMS_DECRYPTION_FAILED', async () => {
    const der = await encryptData(content, [{ certificate: ids.rsa!.cert }]);
    const ed = parseEnvelopedData(der);
    const tagAt = indexOf(der, ed.mac!);
    const ctAt = indexOf(der, ed.encryptedContent![0]!.subarray(0, 16));
    const nonceAt = indexOf(der, (ed.contentEncryption as { nonce: Uint8Array }).nonce);
    for (const at of [tagAt, tagAt + 15, ctAt, ctAt + ed.encryptedContentLength - 1, nonceAt])
      await rejects(decryptData(flip(der, at), [ids.rsa!.key]), 'ERR_CMS_DECRYPTION_FAILED');
  });

  it('CBC: a flipped last block is ERR_CMS_DECRYPTION_FAILED (padding) — CBC has no integrity, so earlier flips pass unseen', async () => {
    const der = await encryptData(content, [{ certificate: ids.p256!.cert }], { contentEncryption: 'aes-256-cbc' });
    const ed = parseEnvelopedData(der);
    const ct = ed.encryptedContent![0]!;
    const lastBlock = indexOf(der, ct.subarray(ct.length - 16));
    // Flipping the second-to-last block's last byte changes the padding byte of the plaintext.
    await rejects(decryptData(flip(der, lastBlock - 1), [ids.p256!.key]), 'ERR_CMS_DECRYPTION_FAILED');
    const r = await decryptData(flip(der, indexOf(der, ct.subarray(0, 16))), [ids.p256!.key]);
    expect(r.integrityProtected).toBe(false); // the EFAIL case: the caller must not trust this content
    expect(equalBytes(r.content, content)).toBe(false);
  });

  it('RSA-OAEP: a flipped wrapped key is ERR_CMS_WRONG_KEY', async () => {
    const der = await encryptData(content, [{ certificate: ids.rsa!.cert }]);
    const ek = (parseEnvelopedData(der).recipients[0] as { encryptedKey: Uint8Array }).encryptedKey;
    await rejects(decryptData(flip(der, indexOf(der, ek) + 100), [ids.rsa!.key]), 'ERR_CMS_WRONG_KEY');
  });

  it('ECDH: a flipped wrapped key is ERR_CMS_WRONG_KEY (AES key wrap integrity check)', async () => {
    const der = await encryptData(content, [{ certificate: ids.p256!.cert }]);
    const ek = (parseEnvelopedData(der).recipients[0] as { encryptedKey: Uint8Array }).encryptedKey;
    await rejects(decryptData(flip(der, indexOf(der, ek) + 3), [ids.p256!.key]), 'ERR_CMS_WRONG_KEY');
  });

  it('ECDH: a flipped ephemeral point is refused (not on the curve, or a wrong KEK)', async () => {
    const der = await encryptData(content, [{ certificate: ids.p256!.cert }]);
    const point = (parseEnvelopedData(der).recipients[0] as { originatorPoint: Uint8Array }).originatorPoint;
    const e = await rejects(decryptData(flip(der, indexOf(der, point) + 10), [ids.p256!.key]), 'ERR_CMS_MALFORMED');
    expect(e.message).toMatch(/not a point on P-256/);
  });

  it('RSA PKCS#1 v1.5: a flipped wrapped key fails exactly like a wrong content key (no padding oracle)', async () => {
    const der = await encryptData(content, [{ certificate: ids.rsa!.cert, keyTransport: 'rsa-pkcs1' }]);
    const key = await importDecryptionKey(ids.rsa!.pkcs8Pem, ids.rsa!.cert);
    const ek = (parseEnvelopedData(der).recipients[0] as { encryptedKey: Uint8Array }).encryptedKey;
    const badPadding = await rejects(decryptData(flip(der, indexOf(der, ek) + 100), [key]), 'ERR_CMS_DECRYPTION_FAILED');
    const ed = parseEnvelopedData(der);
    const badTag = await rejects(decryptData(flip(der, indexOf(der, ed.mac!)), [key]), 'ERR_CMS_DECRYPTION_FAILED');
    expect(badPadding.message).toBe(badTag.message);
  });

  it('pkcs1DecodeImplicit: good padding gives the key; each defect gives the fallback', () => {
    const k = 256;
    const key = new Uint8Array(32).fill(0x42);
    const fallback = new Uint8Array(32).fill(0x99);
    const good = new Uint8Array(k);
    good[1] = 2;
    good.fill(0x11, 2, k - 33);
    good.set(key, k - 32);
    expect(toHex(pkcs1DecodeImplicit(good, 32, fallback))).toBe(toHex(key));
    const cases: ((em: Uint8Array) => void)[] = [
      (em) => (em[0] = 1),
      (em) => (em[1] = 1),
      (em) => (em[k - 33] = 7), // no separator
      (em) => (em[5] = 0), // separator too early: PS < 8 and key too long
      (em) => (em[k - 40] = 0), // key of the wrong length
    ];
    for (const change of cases) {
      const em = good.slice();
      change(em);
      expect(toHex(pkcs1DecodeImplicit(em, 32, fallback))).toBe(toHex(fallback));
    }
  });

  it('not for any given key: ERR_CMS_NOT_FOR_RECIPIENT names the recipients found', async () => {
    const der = await encryptData(content, [{ certificate: ids.rsa!.cert }, { certificate: ids.p256!.cert, identifier: 'subjectKeyIdentifier' }]);
    const e = await rejects(decryptData(der, [ids.rsa2!.key, ids.p384!.key]), 'ERR_CMS_NOT_FOR_RECIPIENT');
    expect(e.message).toContain('issuer=CN=Test CA, serial=0x01');
    expect(e.message).toContain('subjectKeyIdentifier=05060708');
    expect(e.details?.recipients).toEqual(readRecipientIdentifiers(der));
  });

  it("wrong key for the named certificate: RSA-OAEP and ECDH give ERR_CMS_WRONG_KEY", async () => {
    const der = await encryptData(content, [{ certificate: ids.rsa!.cert }, { certificate: ids.p256!.cert }]);
    await rejects(decryptData(der, [{ privateKey: ids.rsa2!.key.privateKey, certificate: ids.rsa!.cert }]), 'ERR_CMS_WRONG_KEY');
    const other = (await subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits'])) as CryptoKeyPair;
    await rejects(decryptData(der, [{ privateKey: other.privateKey, certificate: ids.p256!.cert }]), 'ERR_CMS_WRONG_KEY');
  });

  it('truncation anywhere is a coded error (ERR_CMS_TRUNCATED for a cut message)', async () => {
    const der = await encryptData(content, [{ certificate: ids.rsa!.cert }]);
    for (const n of [1, 2, 10, 100, der.length - 17, der.length - 1]) {
      const e = await rejects(decryptData(der.subarray(0, n), [ids.rsa!.key]), 'ERR_CMS_TRUNCATED');
      expect(e.message).toMatch(/cut short/);
    }
  });

  it('importDecryptionKey refuses a key that is not the certificate\'s', async () => {
    await rejects(importDecryptionKey(ids.rsa!.pkcs8Pem, ids.rsa2!.cert), 'ERR_KEY_MISMATCH');
    await rejects(importDecryptionKey(ids.p256!.pkcs8Pem, ids.p384!.cert), 'ERR_KEY_MISMATCH');
    await rejects(importDecryptionKey(ids.rsa!.pkcs8Pem, ids.p256!.cert), 'ERR_KEY_MISMATCH');
  });
});

/** A hand-made EnvelopedData with the given content-encryption AlgorithmIdentifier and one ktri. */
function envelopedWith(algId: Uint8Array, cert: Certificate, extra: { kariAlg?: Uint8Array; ktriAlg?: Uint8Array } = {}): Uint8Array {
  const rid = seq(cert.issuer.der, tlv(Tag.INTEGER, cert.serialBytes));
  const ri = seq(int(0), rid, extra.ktriAlg ?? seq(oid(ENVELOPE_OID.rsaEncryption), nul()), octets(new Uint8Array(256)));
  const eci = seq(oid(CMS_OID.data), algId, tlv(0x80, new Uint8Array(32)));
  return seq(oid(CMS_OID.envelopedData), explicit(0, seq(int(0), setOf(ri), eci)));
}

describe('algorithms refused', () => {
  const weak: [string, string, Uint8Array][] = [
    ['3DES', '1.2.840.113549.3.7', octets(new Uint8Array(8))],
    ['RC2', '1.2.840.113549.3.2', seq(int(58), octets(new Uint8Array(8)))],
    ['DES', '1.3.14.3.2.7', octets(new Uint8Array(8))],
    ['RC4', '1.2.840.113549.3.4', nul()],
  ];
  for (const [name, id, params] of weak) {
    it(`${name} content encryption: ERR_ALGORITHM_WEAK with a hint`, async () => {
      const e = await rejects(decryptData(envelopedWith(seq(oid(id), params), ids.rsa!.cert), [ids.rsa!.key]), 'ERR_ALGORITHM_WEAK');
      expect(e.message).toContain(name);
      expect(e.message).toMatch(/AES/);
    });
  }

  it('AES-192 is ERR_ALGORITHM_UNSUPPORTED; GCM inside EnvelopedData is refused', async () => {
    await rejects(decryptData(envelopedWith(seq(oid(ENVELOPE_OID.aes192CBC), octets(new Uint8Array(16))), ids.rsa!.cert), [ids.rsa!.key]), 'ERR_ALGORITHM_UNSUPPORTED');
    await rejects(
      decryptData(envelopedWith(seq(oid(ENVELOPE_OID.aes256GCM), seq(octets(new Uint8Array(12)), int(16))), ids.rsa!.cert), [ids.rsa!.key]),
      'ERR_ALGORITHM_UNSUPPORTED',
    );
  });

  it('an unknown key transport is ERR_ALGORITHM_UNSUPPORTED', async () => {
    const der = envelopedWith(seq(oid(ENVELOPE_OID.aes128CBC), octets(new Uint8Array(16))), ids.rsa!.cert, { ktriAlg: seq(oid('1.2.3.4')) });
    await rejects(decryptData(der, [ids.rsa!.key]), 'ERR_ALGORITHM_UNSUPPORTED');
  });

  it('RSA recipients below 2048 bits are refused (ERR_KEY_WEAK)', async () => {
    const pair = (await subtle.generateKey({ name: 'RSA-OAEP', modulusLength: 1024, publicExponent: Uint8Array.of(1, 0, 1), hash: 'SHA-256' }, false, ['encrypt', 'decrypt'])) as CryptoKeyPair;
    const cert = await makeCert(pair.publicKey, ca.privateKey, 'rsa1024', 10);
    await rejects(encryptData(content, [{ certificate: cert }]), 'ERR_KEY_WEAK');
  });

  it('Ed25519 certificates cannot be recipients', async () => {
    const pair = (await subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
    const cert = await makeCert(pair.publicKey, ca.privateKey, 'ed', 9);
    await rejects(encryptData(content, [{ certificate: cert }]), 'ERR_KEY_UNSUPPORTED');
  });
});

describe('limits and caller mistakes', () => {
  it('more recipients than maxRecipients: ERR_INPUT_TOO_LARGE', async () => {
    const der = await encryptData(content, [{ certificate: ids.rsa!.cert }, { certificate: ids.rsa2!.cert }, { certificate: ids.p256!.cert }]);
    await rejects(decryptData(der, [ids.rsa!.key], { limits: { maxRecipients: 2 } }), 'ERR_INPUT_TOO_LARGE');
    expect(readRecipientIdentifiers(der, { maxRecipients: 3 })).toHaveLength(3);
  });

  it('input over maxBytes: ERR_INPUT_TOO_LARGE', async () => {
    const der = await encryptData(content, [{ certificate: ids.rsa!.cert }]);
    await rejects(decryptData(der, [ids.rsa!.key], { limits: { maxBytes: 100 } }), 'ERR_INPUT_TOO_LARGE');
  });

  it('bad arguments are ERR_INVALID_INPUT', async () => {
    await rejects(encryptData(content, []), 'ERR_INVALID_INPUT');
    await rejects(encryptData('x' as unknown as Uint8Array, [{ certificate: ids.rsa!.cert }]), 'ERR_INVALID_INPUT');
    await rejects(encryptData(content, [{ certificate: ids.rsa!.cert }], { contentEncryption: 'des' as never }), 'ERR_INVALID_INPUT');
    await rejects(encryptData(content, [{ certificate: ids.p256!.cert, keyTransport: 'rsa-oaep' }]), 'ERR_INVALID_INPUT');
    const der = await encryptData(content, [{ certificate: ids.rsa!.cert }]);
    await rejects(decryptData(der, []), 'ERR_INVALID_INPUT');
    await rejects(decryptData(der, [{ privateKey: 'k' as unknown as CryptoKey, certificate: ids.rsa!.cert }]), 'ERR_INVALID_INPUT');
  });

  it('a SignedData is not an EnvelopedData: ERR_CMS_MALFORMED', async () => {
    const der = seq(oid(CMS_OID.signedData), explicit(0, seq(int(1))));
    await rejects(decryptData(der, [ids.rsa!.key]), 'ERR_CMS_MALFORMED');
  });
});

describe('decryption keys from files', () => {
  it('importDecryptionKeyFromPkcs12: RSA (OAEP and PKCS#1) and EC', async () => {
    for (const who of ['rsa', 'p256']) {
      const privateKey = await importPrivateKey(ids[who]!.pkcs8Pem, { extractable: true });
      const p12 = await exportPkcs12({ privateKey, certificate: ids[who]!.cert.der, passphrase: 'pass', iterations: 1000 });
      const key = await importDecryptionKeyFromPkcs12(p12, 'pass');
      expect(key.privateKey.extractable).toBe(false);
      const recipients = who === 'rsa' ? [{ certificate: ids.rsa!.cert, keyTransport: 'rsa-pkcs1' as const }] : [{ certificate: ids.p256!.cert }];
      for (const r of [recipients, [{ certificate: ids[who]!.cert }]]) {
        const der = await encryptData(content, r);
        expect(equalBytes((await decryptData(der, [key])).content, content)).toBe(true);
      }
      await rejects(importDecryptionKeyFromPkcs12(p12, 'wrong'), 'ERR_PKCS12_MAC_INVALID');
    }
  });

  it('an EC signing key (ECDSA) decrypts when extractable; else ERR_CMS_UNWRAP_UNAVAILABLE with a hint', async () => {
    const der = await encryptData(content, [{ certificate: ids.p256!.cert }]);
    const exportable = await importPrivateKey(ids.p256!.pkcs8Pem, { extractable: true });
    expect(exportable.algorithm.name).toBe('ECDSA');
    expect(equalBytes((await decryptData(der, [{ privateKey: exportable, certificate: ids.p256!.cert }])).content, content)).toBe(true);
    const fixed = await importPrivateKey(ids.p256!.pkcs8Pem);
    const e = await rejects(decryptData(der, [{ privateKey: fixed, certificate: ids.p256!.cert }]), 'ERR_CMS_UNWRAP_UNAVAILABLE');
    expect(e.message).toMatch(/usage: 'decrypt'/);
  });

  it("importPrivateKey usage 'decrypt': RSA-OAEP with the chosen hash, ECDH; Ed25519 refused", async () => {
    const rsa = await importPrivateKey(ids.rsa!.pkcs8Pem, { usage: 'decrypt', oaepHash: 'SHA-384' });
    expect(rsa.algorithm).toMatchObject({ name: 'RSA-OAEP', hash: { name: 'SHA-384' } });
    expect(rsa.usages.sort()).toEqual(['decrypt', 'unwrapKey']);
    const ec = await importPrivateKey(ids.p384!.pkcs8Pem, { usage: 'decrypt' });
    expect(ec.algorithm).toMatchObject({ name: 'ECDH', namedCurve: 'P-384' });
    const ed = (await subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
    await rejects(importPrivateKey(await exportPkcs8Pem(ed.privateKey), { usage: 'decrypt' }), 'ERR_KEY_UNSUPPORTED');
    await rejects(importPrivateKey(ids.rsa!.pkcs8Pem, { usage: 'decrypt', oaepHash: 'MD5' as never }), 'ERR_INVALID_INPUT');
    await rejects(importPrivateKey(ids.rsa!.pkcs8Pem, { usage: 'wrap' as never }), 'ERR_INVALID_INPUT');
  });
});

describe('attacks on the structure', () => {
  it('relabelling the unauthenticated inner content type of AuthEnvelopedData is refused (RFC 5083 §2.1)', async () => {
    const der = await encryptData(content, [{ certificate: ids.p256!.cert }]);
    const dataOid = oid(CMS_OID.data);
    const at = indexOf(der, dataOid);
    const m = der.slice();
    m[at + dataOid.length - 1] = 2; // id-data → id-signedData, same length
    expect(parseEnvelopedData(m).contentType).toBe(CMS_OID.signedData);
    const e = await rejects(decryptData(m, [ids.p256!.key]), 'ERR_CMS_MALFORMED');
    expect(e.message).toMatch(/RFC 5083/);
  });

  it('a certificate named in many RecipientInfos costs at most MAX_DECRYPT_ATTEMPTS (4) key operations', async () => {
    const cert = ids.rsa!.cert;
    const rid = seq(cert.issuer.der, tlv(Tag.INTEGER, cert.serialBytes));
    const ris = Array.from({ length: 50 }, (_, i) => seq(int(0), rid, seq(oid(ENVELOPE_OID.rsaEncryption), nul()), octets(new Uint8Array(256).fill(i + 1))));
    const eci = seq(oid(CMS_OID.data), seq(oid(ENVELOPE_OID.aes128CBC), octets(new Uint8Array(16))), tlv(0x80, new Uint8Array(32)));
    const der = seq(oid(CMS_OID.envelopedData), explicit(0, seq(int(0), tlv(Tag.SET, ...ris), eci)));
    let calls = 0;
    const key = { ...ids.rsa!.key, rawRsaDecrypt: async () => {
      calls++;
      throw new Error('HSM says no');
    } };
    await rejects(decryptData(der, [key]), 'ERR_CMS_WRONG_KEY');
    expect(calls).toBe(4);
  });

  it('BER with millions of tiny chunks stops at MAX_BER_NODES (ERR_INPUT_TOO_LARGE), not after allocating them all', () => {
    const n = (1 << 20) + 10;
    const m = new Uint8Array(4 + 2 * n + 2);
    m.set([0x30, 0x80, 0xa0, 0x80]);
    for (let i = 0; i < n; i++) m[4 + 2 * i] = 0x04;
    const e = (() => {
      try {
        parseEnvelopedData(m);
      } catch (err) {
        return err as MailPkiError;
      }
    })();
    expect(e?.code).toBe('ERR_INPUT_TOO_LARGE');
    expect(e?.message).toMatch(/BER elements/);
  });
});

describe('parser property: hostile input gives a coded error, never a crash or hang', () => {
  const codes = new Set(['ERR_CMS_MALFORMED', 'ERR_CMS_TRUNCATED', 'ERR_INPUT_TOO_LARGE', 'ERR_NESTING_TOO_DEEP', 'ERR_ALGORITHM_UNSUPPORTED']);
  let sample: Uint8Array;
  beforeAll(async () => {
    sample = await encryptData(content, [{ certificate: ids.rsa!.cert }, { certificate: ids.p256!.cert }]);
  });

  it('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        try {
          parseEnvelopedData(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(MailPkiError);
          expect(codes.has((e as MailPkiError).code)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('mutations of a real message (parse, and decrypt never returns altered content)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), async (edits) => {
        const m = sample.slice();
        for (const [at, x] of edits) m[at % m.length]! ^= x;
        try {
          parseEnvelopedData(m);
        } catch (e) {
          expect(e).toBeInstanceOf(MailPkiError);
          expect([(e as MailPkiError).code, (e as Error).message]).toEqual([expect.toSatisfy((c: string) => codes.has(c)), expect.any(String)]);
          return;
        }
        try {
          const r = await decryptData(m, [ids.rsa!.key]);
          expect(equalBytes(r.content, content)).toBe(true); // only edits outside what is authenticated (e.g. the other recipient)
        } catch (e) {
          expect(e).toBeInstanceOf(MailPkiError);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('round trip: any content, algorithm and recipient mix decrypts to the same bytes for every recipient', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 3000 }),
        fc.constantFrom<ContentEncryptionAlgorithm>('aes-256-gcm', 'aes-128-gcm', 'aes-256-cbc', 'aes-128-cbc'),
        fc.subarray(['rsa', 'p256', 'p384'], { minLength: 1 }),
        fc.boolean(),
        async (c, contentEncryption, whos, ski) => {
          const der = await encryptData(c, whos.map((w) => ({ certificate: ids[w]!.cert, ...(ski && w !== 'p384' ? { identifier: 'subjectKeyIdentifier' as const } : {}) })), { contentEncryption });
          for (const w of whos) expect(equalBytes((await decryptData(der, [ids[w]!.key])).content, c)).toBe(true);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('deep nesting is bounded', () => {
    let d = octets(new Uint8Array(1));
    for (let i = 0; i < 200; i++) d = Uint8Array.of(0x30, 0x80, ...d, 0, 0);
    const e = (() => {
      try {
        parseEnvelopedData(d);
      } catch (err) {
        return err as MailPkiError;
      }
    })();
    expect(e?.code).toBe('ERR_NESTING_TOO_DEEP');
  });
});


describe('large content without extra copies (issue 12 throughput): what the shortcuts must not change', () => {
  it("WebCrypto GCM decrypt places the tag after the ciphertext in the caller's buffer only for the call: the input is byte-for-byte the same after success, after a tag failure, and with authAttrs", async () => {
    for (const options of [{}, { contentType: CMS_OID.signedData }]) {
      const der = await encryptData(content, [{ certificate: ids.rsa!.cert }], options);
      const before = der.slice();
      expect(equalBytes((await decryptData(der, [ids.rsa!.key])).content, content)).toBe(true);
      expect(equalBytes(der, before)).toBe(true);
      const tagAt = indexOf(der, parseEnvelopedData(der).mac!);
      der[tagAt + 15]! ^= 1;
      const altered = der.slice();
      await rejects(decryptData(der, [ids.rsa!.key]), 'ERR_CMS_DECRYPTION_FAILED');
      expect(equalBytes(der, altered)).toBe(true);
    }
  });

  it('no joined copy: WebCrypto is handed a view of the caller\'s own buffer, ciphertext then tag', async () => {
    const der = await encryptData(content, [{ certificate: ids.rsa!.cert }]);
    const calls: { sameBuffer: boolean; length: number; tail: Uint8Array }[] = [];
    const recording = {
      getRandomValues: (a: Uint8Array<ArrayBuffer>) => globalThis.crypto.getRandomValues(a),
      subtle: new Proxy(subtle, {
        get(target, name) {
          const f = Reflect.get(target, name) as (...a: unknown[]) => unknown;
          if (name !== 'decrypt') return f.bind(target);
          return (alg: { name: string }, key: CryptoKey, data: Uint8Array) => {
            if (alg.name === 'AES-GCM') calls.push({ sameBuffer: data.buffer === der.buffer, length: data.length, tail: data.slice(-16) });
            return f.call(target, alg, key, data);
          };
        },
      }),
    } as unknown as Crypto;
    expect(equalBytes((await decryptData(der, [ids.rsa!.key], { crypto: recording })).content, content)).toBe(true);
    expect(calls).toEqual([{ sameBuffer: true, length: content.length + 16, tail: parseEnvelopedData(der).mac!.slice() }]);
  });

  it('the same buffer decrypted twice at once, inside a larger buffer (bytes around it untouched), and from a SharedArrayBuffer', async () => {
    const der = await encryptData(content, [{ certificate: ids.p256!.cert }]);
    const [a, b] = await Promise.all([decryptData(der, [ids.p256!.key]), decryptData(der, [ids.p256!.key])]);
    expect(equalBytes(a.content, content) && equalBytes(b.content, content)).toBe(true);
    const big = new Uint8Array(der.length + 64).fill(0xee);
    big.set(der, 32);
    const view = big.subarray(32, 32 + der.length);
    expect(equalBytes((await decryptData(view, [ids.p256!.key])).content, content)).toBe(true);
    expect(big.subarray(0, 32).every((x) => x === 0xee) && big.subarray(32 + der.length).every((x) => x === 0xee)).toBe(true);
    const shared = new Uint8Array(new SharedArrayBuffer(der.length));
    shared.set(der);
    expect(equalBytes((await decryptData(shared, [ids.p256!.key])).content, content)).toBe(true);
  });

  it('an injected aesGcm cipher: what it encrypts WebCrypto opens and the reverse, with authAttrs as AAD; a rejected tag wipes its output and returns nothing', async () => {
    // A stand-in over WebCrypto with the injected contract (the real one, nodeAesGcm, has its own tests in test/node).
    const seen: Uint8Array[] = [];
    const webGcm = async (key: Uint8Array, nonce: Uint8Array, aad: Uint8Array | undefined, op: 'encrypt' | 'decrypt', data: Uint8Array) => {
      const k = await subtle.importKey('raw', key.slice(), 'AES-GCM', false, [op]);
      const p: AesGcmParams = { name: 'AES-GCM', iv: nonce.slice(), ...(aad ? { additionalData: aad.slice() } : {}) };
      return new Uint8Array(await subtle[op](p, k, data.slice()));
    };
    const aesGcm = {
      async encrypt(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array | undefined, c: Uint8Array, out: Uint8Array) {
        const r = await webGcm(key, nonce, aad, 'encrypt', c);
        out.set(r.subarray(0, c.length));
        return r.slice(c.length);
      },
      async decrypt(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array | undefined, chunks: readonly Uint8Array[], tag: Uint8Array, out: Uint8Array) {
        seen.push(out);
        out.fill(0x55); // what a streaming cipher would have written before the tag check
        out.set(await webGcm(key, nonce, aad, 'decrypt', Uint8Array.from([...chunks.flatMap((c) => [...c]), ...tag])));
      },
    };
    for (const options of [{}, { contentType: CMS_OID.signedData, contentEncryption: 'aes-128-gcm' as const }]) {
      const viaInjected = await encryptData(content, [{ certificate: ids.rsa!.cert }], { ...options, aesGcm });
      expect(equalBytes((await decryptData(viaInjected, [ids.rsa!.key])).content, content)).toBe(true);
      const viaWeb = await encryptData(content, [{ certificate: ids.rsa!.cert }], options);
      expect(equalBytes((await decryptData(viaWeb, [ids.rsa!.key], { aesGcm })).content, content)).toBe(true);
    }
    const der = await encryptData(content, [{ certificate: ids.rsa!.cert }]);
    const ed = parseEnvelopedData(der);
    seen.length = 0;
    await rejects(decryptData(flip(der, indexOf(der, ed.mac!)), [ids.rsa!.key], { aesGcm }), 'ERR_CMS_DECRYPTION_FAILED');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.length).toBe(content.length);
    expect(seen[0]!.every((x) => x === 0)).toBe(true);
    // CBC never goes to the injected cipher
    const cbc = await encryptData(content, [{ certificate: ids.rsa!.cert }], { contentEncryption: 'aes-256-cbc', aesGcm });
    seen.length = 0;
    expect(equalBytes((await decryptData(cbc, [ids.rsa!.key], { aesGcm })).content, content)).toBe(true);
    expect(seen).toHaveLength(0);
  });

  it('an aesGcm option that is not a cipher, or a cipher returning a short tag: ERR_INVALID_INPUT naming aesGcm', async () => {
    const der = await encryptData(content, [{ certificate: ids.rsa!.cert }]);
    const e1 = await rejects(decryptData(der, [ids.rsa!.key], { aesGcm: {} as never }), 'ERR_INVALID_INPUT');
    expect(e1.details).toMatchObject({ field: 'aesGcm' });
    await rejects(encryptData(content, [{ certificate: ids.rsa!.cert }], { aesGcm: { encrypt: 1 } as never }), 'ERR_INVALID_INPUT');
    const short = { encrypt: async () => new Uint8Array(12), decrypt: async () => undefined };
    const e2 = await rejects(encryptData(content, [{ certificate: ids.rsa!.cert }], { aesGcm: short }), 'ERR_INVALID_INPUT');
    expect(e2.details).toMatchObject({ field: 'aesGcm' });
  });
});

describe('version fields (not covered by the tag of AuthEnvelopedData)', () => {
  /** Offsets of the value byte of: the EnvelopedData/AuthEnvelopedData version, then each RecipientInfo's version. */
  function versionOffsets(der: Uint8Array): { body: number; recipients: number[] } {
    const ci = cursor(parseDer(der), 'ERR_CMS_MALFORMED', 'test');
    ci.next(Tag.OID);
    const body = cursor(cursor(ci.next(0xa0), 'ERR_CMS_MALFORMED', 'test').next(Tag.SEQUENCE), 'ERR_CMS_MALFORMED', 'test');
    const version = body.next(Tag.INTEGER);
    const set = cursor(body.next(Tag.SET), 'ERR_CMS_MALFORMED', 'test');
    const recipients: number[] = [];
    while (!set.done) recipients.push(cursor(set.next(), 'ERR_CMS_MALFORMED', 'test').next(Tag.INTEGER).contentStart);
    return { body: version.contentStart, recipients };
  }

  it('a changed version (AuthEnvelopedData ≠ 0, EnvelopedData not 0/2/3/4, KeyTransRecipientInfo not matching its identifier, KeyAgreeRecipientInfo ≠ 3) is ERR_CMS_MALFORMED and never opens (it used to open: seed 827691663 of the hostile-input property)', async () => {
    for (const contentEncryption of ['aes-256-gcm', 'aes-256-cbc'] as ContentEncryptionAlgorithm[]) {
      const der = await encryptData(content, [{ certificate: ids.rsa!.cert }, { certificate: ids.rsa2!.cert }, { certificate: ids.p256!.cert }], { contentEncryption });
      expect(new TextDecoder().decode((await decryptData(der, [ids.rsa!.key])).content)).toContain('Pay 10,000 EUR');
      const at = versionOffsets(der);
      const auth = contentEncryption === 'aes-256-gcm';
      const changes: [number, number][] = [[at.body, 17], [at.body, auth ? 2 : 1], ...at.recipients.map((o) => [o, der[o] === 3 ? 2 : der[o] === 0 ? 2 : 0] as [number, number])];
      for (const [offset, value] of changes) {
        const changed = Uint8Array.from(der);
        changed[offset] = value;
        for (const who of ['rsa', 'rsa2', 'p256']) {
          const err = await decryptData(changed, [ids[who]!.key]).then(() => undefined, (e: unknown) => e);
          expect(err, `${contentEncryption}: byte ${offset} = ${value}, key ${who}`).toBeInstanceOf(MailPkiError);
          expect((err as MailPkiError).code).toBe('ERR_CMS_MALFORMED');
        }
      }
    }
  });
});
