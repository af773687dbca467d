/**
 * X25519 recipients (RFC 8418) without a peer: certificates from LocalCA, round trips, mixed
 * recipients, the RFC 7748 §6.1 low-order checks, malformed originator keys, a runtime without
 * X25519, and HKDF (RFC 8418 §2.2) checked against node:crypto's own HKDF and AES key wrap.
 */
import { createCipheriv, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { LocalCA, MemoryCaStorage } from '../../src/ca/index.js';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { validateChain } from '../../src/certs/chain.js';
import { decryptData, encryptData, importDecryptionKey, parseEnvelopedData, type CmsDecryptionKey } from '../../src/cms/index.js';
import { ENVELOPE_OID } from '../../src/cms/enveloped-data.js';
import { MailPkiError } from '../../src/errors.js';
import { equalBytes, fromHex } from '../../src/internal/bytes.js';
import { Tag, bitString, contentOf, cursor, encodedOf, explicit, int, nul, octets, oid, parseDer, readOid, seq, tlv } from '../../src/internal/der.js';
import { exportSpki, generateKeyPair, importPrivateKey, importPublicKey } from '../../src/keys/index.js';
import { isLowOrderX25519, readPublicKeyInfo } from '../../src/keys/algorithms.js';

const subtle = globalThis.crypto.subtle;
const content = new TextEncoder().encode('Content-Type: text/plain\r\n\r\nPay 10,000 EUR to DE89 3704 0044 0532 0130 00.\r\n');
const clock = () => new Date('2026-12-01T00:00:00Z');

interface Id {
  cert: Certificate;
  key: CmsDecryptionKey;
  pkcs8: Uint8Array;
}

let ca: LocalCA;
let x: Id;
let x2: Id;
let rsa: Id;
let p256: Id;

async function issue(mailbox: string, spki: Uint8Array, usage: 'signing' | 'encryption' | 'dual-use' = 'encryption'): Promise<Certificate> {
  return parseCertificate((await ca.issue({ mailbox, publicKey: spki, usage })).certificate);
}

async function x25519Id(mailbox: string): Promise<Id> {
  const pair = (await subtle.generateKey({ name: 'X25519' }, true, ['deriveBits'])) as CryptoKeyPair;
  const cert = await issue(mailbox, await exportSpki(pair.publicKey));
  const pkcs8 = new Uint8Array(await subtle.exportKey('pkcs8', pair.privateKey));
  return { cert, key: await importDecryptionKey(pkcs8, cert), pkcs8 };
}

beforeAll(async () => {
  ca = await LocalCA.create(new MemoryCaStorage(), { allowedDomains: ['example.com'] }, { clock });
  x = await x25519Id('x@example.com');
  x2 = await x25519Id('x2@example.com');
  for (const [type, mailbox] of [
    ['rsa-2048', 'rsa@example.com'],
    ['ec-p256', 'p256@example.com'],
  ] as const) {
    const pair = await generateKeyPair(type, { extractable: true });
    const cert = await issue(mailbox, await exportSpki(pair.publicKey));
    const pkcs8 = new Uint8Array(await subtle.exportKey('pkcs8', pair.privateKey));
    const id = { cert, key: await importDecryptionKey(pkcs8, cert), pkcs8 };
    if (type === 'rsa-2048') rsa = id;
    else p256 = id;
  }
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

/** The parts of the first KeyAgreeRecipientInfo of AuthEnvelopedData written by encryptData. */
function kariParts(der: Uint8Array) {
  const ci = cursor(parseDer(der));
  const type = readOid(ci.next(Tag.OID));
  const body = cursor(cursor(ci.next(0xa0)).next(Tag.SEQUENCE));
  const version = body.next(Tag.INTEGER);
  const set = cursor(body.next(Tag.SET));
  const kariNode = set.next(0xa1);
  const rest: Uint8Array[] = [];
  while (!body.done) rest.push(encodedOf(body.next()));
  const k = cursor(kariNode);
  const kVersion = encodedOf(k.next(Tag.INTEGER));
  const originator = k.next(0xa0);
  const kea = k.next(Tag.SEQUENCE);
  const reks = encodedOf(k.next(Tag.SEQUENCE));
  return { type, version: encodedOf(version), kVersion, originator, kea, reks, rest };
}

/** The same message with another OriginatorIdentifierOrKey (DER of the [0] content). */
function withOriginator(der: Uint8Array, originatorKey: Uint8Array): Uint8Array {
  const p = kariParts(der);
  const kari = tlv(0xa1, p.kVersion, explicit(0, originatorKey), encodedOf(p.kea), p.reks);
  return seq(oid(p.type), explicit(0, seq(p.version, tlv(Tag.SET, kari), ...p.rest)));
}

const x25519Originator = (u: Uint8Array, params?: Uint8Array) => tlv(0xa1, seq(oid(ENVELOPE_OID.idX25519), ...(params ? [params] : [])), bitString(u));

/** A Crypto whose subtle refuses X25519 as a runtime without it does (NotSupportedError); everything else passes through. */
function cryptoWithoutX25519(): Crypto {
  const isX = (alg: unknown) => (typeof alg === 'string' ? alg : (alg as { name?: string })?.name)?.toUpperCase() === 'X25519';
  const refuse = () => Promise.reject(new DOMException('Unrecognized algorithm name', 'NotSupportedError'));
  const s = globalThis.crypto.subtle;
  const fake = new Proxy(s, {
    get(target, prop) {
      const real = (target as unknown as Record<string | symbol, unknown>)[prop];
      if (typeof real !== 'function') return real;
      return (...args: unknown[]) => {
        if ((prop === 'generateKey' && isX(args[0])) || (prop === 'importKey' && isX(args[2])) || (prop === 'deriveBits' && isX(args[0]))) return refuse();
        return (real as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { subtle: fake, getRandomValues: <T extends ArrayBufferView<ArrayBuffer>>(a: T) => globalThis.crypto.getRandomValues(a), randomUUID: () => globalThis.crypto.randomUUID() } as unknown as Crypto;
}

/** A Crypto whose X25519 deriveBits returns 32 zero bytes, as a runtime without the RFC 7748 §6.1 check would for a low-order point. */
function cryptoWithZeroX25519(): Crypto {
  const s = globalThis.crypto.subtle;
  const fake = new Proxy(s, {
    get(target, prop) {
      const real = (target as unknown as Record<string | symbol, unknown>)[prop];
      if (typeof real !== 'function') return real;
      return (...args: unknown[]) => {
        if (prop === 'deriveBits' && (args[0] as { name?: string }).name === 'X25519') return Promise.resolve(new ArrayBuffer(32));
        return (real as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { subtle: fake, getRandomValues: <T extends ArrayBufferView<ArrayBuffer>>(a: T) => globalThis.crypto.getRandomValues(a), randomUUID: () => globalThis.crypto.randomUUID() } as unknown as Crypto;
}

// RFC 7748 §6.1 / the u-coordinates of small order and their non-canonical forms.
const LOW_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  // the same with the top bit set, which X25519 ignores
  '00000000000000000000000000000000000000000000000000000000000000' + '80',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b8' + '80',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
];

describe('X25519 certificates', () => {
  it('LocalCA issues an X25519 encryption certificate with keyAgreement only, signed by its own (EC) key', () => {
    expect(x.cert.publicKey.kind).toBe('x25519');
    expect(x.cert.publicKey.bits).toBe(256);
    expect(x.cert.keyUsage).toEqual(['keyAgreement']);
    expect(x.cert.signatureAlgorithm).toMatchObject({ scheme: 'ecdsa' });
  });

  it('LocalCA refuses an X25519 key for a signing or dual-use certificate (ERR_KEY_UNSUPPORTED)', async () => {
    const spki = x.cert.publicKey.spki;
    for (const usage of ['signing', 'dual-use'] as const) {
      const e = await rejects(ca.issue({ mailbox: 'x3@example.com', publicKey: spki, usage }), 'ERR_KEY_UNSUPPORTED');
      expect(e.message).toContain(`cannot have a ${usage} certificate`);
    }
  });

  it('LocalCA refuses a low-order X25519 key (ERR_KEY_MALFORMED)', async () => {
    const spki = seq(seq(oid(ENVELOPE_OID.idX25519)), bitString(fromHex(LOW_ORDER[2]!)));
    const e = await rejects(ca.issue({ mailbox: 'x4@example.com', publicKey: spki, usage: 'encryption' }), 'ERR_KEY_MALFORMED');
    expect(e.message).toContain('low-order');
  });

  it('an X25519 SPKI with parameters, or a key of the wrong length, is ERR_KEY_MALFORMED', () => {
    const u = new Uint8Array(32).fill(9);
    expect(readPublicKeyInfo(seq(seq(oid(ENVELOPE_OID.idX25519)), bitString(u))).kind).toBe('x25519');
    for (const [spki, words] of [
      [seq(seq(oid(ENVELOPE_OID.idX25519), nul()), bitString(u)), 'parameters must be absent'],
      [seq(seq(oid(ENVELOPE_OID.idX25519)), bitString(u.subarray(0, 31))), 'this one has 31'],
      [seq(seq(oid(ENVELOPE_OID.idX25519)), bitString(new Uint8Array(33))), 'this one has 33'],
    ] as const) {
      const e = (() => {
        try {
          readPublicKeyInfo(spki);
        } catch (err) {
          return err as MailPkiError;
        }
      })();
      expect(e?.code).toBe('ERR_KEY_MALFORMED');
      expect(e?.message).toContain(words);
    }
  });

  it('an X25519 key verifies nothing and signs nothing (ERR_KEY_UNSUPPORTED)', async () => {
    await rejects(importPublicKey(x.cert.publicKey.spki), 'ERR_KEY_UNSUPPORTED');
    await rejects(importPrivateKey(x.pkcs8), 'ERR_KEY_UNSUPPORTED');
  });

  it('as a recipient the chain check wants keyAgreement; as a signer it is refused', async () => {
    const enc = await validateChain(x.cert, { trustAnchors: [x.cert], at: clock(), purpose: 'smime-encryption' });
    expect(enc.problems.filter((e) => e.code === 'CHAIN_LEAF_KEY_USAGE')).toEqual([]);
    const sign = await validateChain(x.cert, { trustAnchors: [x.cert], at: clock(), purpose: 'smime-signing' });
    expect(sign.problems.map((e) => e.code)).toContain('CHAIN_LEAF_KEY_USAGE');
  });

  it('importDecryptionKey refuses another X25519 key, or an X25519 key with an EC certificate (ERR_KEY_MISMATCH)', async () => {
    await rejects(importDecryptionKey(x2.pkcs8, x.cert), 'ERR_KEY_MISMATCH');
    await rejects(importDecryptionKey(x.pkcs8, p256.cert), 'ERR_KEY_MISMATCH');
    await rejects(importDecryptionKey(p256.pkcs8, x.cert), 'ERR_KEY_MISMATCH');
  });

  it('the low-order list matches what X25519 itself gives (all-zero Z from node:crypto, or a refusal)', () => {
    const { privateKey } = generateKeyPairSync('x25519');
    for (const hex of LOW_ORDER) {
      expect(isLowOrderX25519(fromHex(hex))).toBe(true);
      const spki = Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), Buffer.from(hex, 'hex')]);
      let z: Buffer | undefined;
      try {
        z = diffieHellman({ privateKey, publicKey: createPublicKey({ key: spki, format: 'der', type: 'spki' }) });
      } catch {
        z = undefined; // OpenSSL refuses an all-zero result outright
      }
      if (z) expect(z.every((b) => b === 0)).toBe(true);
    }
    expect(isLowOrderX25519(new Uint8Array(32).fill(9))).toBe(false);
  });
});

describe('encrypting to and decrypting with X25519 (RFC 8418)', () => {
  for (const contentEncryption of ['aes-256-gcm', 'aes-128-gcm', 'aes-256-cbc', 'aes-128-cbc'] as const) {
    it(`${contentEncryption}: round trip`, async () => {
      const der = await encryptData(content, [{ certificate: x.cert }], { contentEncryption });
      const r = await decryptData(der, [x.key]);
      expect(equalBytes(r.content, content)).toBe(true);
      expect(r.keyManagement).toBe('ecdh');
      expect(r.contentEncryption).toBe(contentEncryption);
      expect(r.integrityProtected).toBe(contentEncryption.endsWith('gcm'));
      expect(r.certificate).toBe(x.cert);
    });
  }

  it('writes id-X25519 without parameters, a 32-byte key, dhSinglePass-stdDH-sha256kdf-scheme and the wrap matching the key size', async () => {
    for (const [contentEncryption, wrap] of [
      ['aes-256-gcm', ENVELOPE_OID.aes256Wrap],
      ['aes-128-gcm', ENVELOPE_OID.aes128Wrap],
    ] as const) {
      const p = kariParts(await encryptData(content, [{ certificate: x.cert }], { contentEncryption }));
      const orig = cursor(cursor(p.originator).next(0xa1));
      const alg = cursor(orig.next(Tag.SEQUENCE));
      expect(readOid(alg.next(Tag.OID))).toBe(ENVELOPE_OID.idX25519);
      expect(alg.done).toBe(true);
      expect(contentOf(orig.next(Tag.BIT_STRING)).length).toBe(33);
      const kea = cursor(p.kea);
      expect(readOid(kea.next(Tag.OID))).toBe(ENVELOPE_OID.dhSinglePassStdDhSha256Kdf);
      const w = cursor(kea.next(Tag.SEQUENCE));
      expect(readOid(w.next(Tag.OID))).toBe(wrap);
      expect(w.done).toBe(true);
    }
  });

  it('a fresh ephemeral key every message', async () => {
    const a = kariParts(await encryptData(content, [{ certificate: x.cert }]));
    const b = kariParts(await encryptData(content, [{ certificate: x.cert }]));
    expect(equalBytes(encodedOf(a.originator), encodedOf(b.originator))).toBe(false);
  });

  it('mixed recipients RSA + P-256 + X25519 + X25519: each key opens its own RecipientInfo', async () => {
    const der = await encryptData(content, [{ certificate: rsa.cert }, { certificate: p256.cert }, { certificate: x.cert }, { certificate: x2.cert, identifier: 'subjectKeyIdentifier' }]);
    expect(parseEnvelopedData(der).recipients.length).toBe(4);
    const used = new Set<number>();
    for (const id of [rsa, p256, x, x2]) {
      const r = await decryptData(der, [id.key]);
      expect(equalBytes(r.content, content)).toBe(true);
      expect(r.keyManagement).toBe(id === rsa ? 'rsa-oaep' : 'ecdh');
      used.add(r.recipientIndex);
    }
    expect(used.size).toBe(4);
  });

  it('another X25519 key is not a recipient (ERR_CMS_NOT_FOR_RECIPIENT); an altered wrapped key is ERR_CMS_WRONG_KEY, an altered tag ERR_CMS_DECRYPTION_FAILED', async () => {
    const der = await encryptData(content, [{ certificate: x.cert }]);
    await rejects(decryptData(der, [x2.key]), 'ERR_CMS_NOT_FOR_RECIPIENT');
    // Same identifier, other private key: the unwrap integrity check fails.
    await rejects(decryptData(der, [{ privateKey: x2.key.privateKey, certificate: x.cert }]), 'ERR_CMS_WRONG_KEY');
    const reks = kariParts(der).reks;
    const bad = der.slice();
    bad[Buffer.from(der).indexOf(Buffer.from(reks)) + reks.length - 1]! ^= 1; // last byte of the wrapped key
    await rejects(decryptData(bad, [x.key]), 'ERR_CMS_WRONG_KEY');
    const badTag = der.slice();
    badTag[badTag.length - 1]! ^= 1;
    await rejects(decryptData(badTag, [x.key]), 'ERR_CMS_DECRYPTION_FAILED');
  });

  it('every low-order originator key is refused before any arithmetic (ERR_CMS_MALFORMED)', async () => {
    const der = await encryptData(content, [{ certificate: x.cert }]);
    for (const hex of LOW_ORDER) {
      const e = await rejects(decryptData(withOriginator(der, x25519Originator(fromHex(hex))), [x.key]), 'ERR_CMS_MALFORMED');
      expect(e.message).toContain('low-order');
    }
  });

  it('an all-zero shared secret is refused even when the runtime computes it (RFC 7748 §6.1)', async () => {
    const zero = cryptoWithZeroX25519();
    const der = await encryptData(content, [{ certificate: x.cert }]);
    const e = await rejects(decryptData(der, [x.key], { crypto: zero }), 'ERR_CMS_MALFORMED');
    expect(e.message).toContain('all zero');
    const e2 = await rejects(encryptData(content, [{ certificate: x.cert }], { crypto: zero }), 'ERR_KEY_MALFORMED');
    expect(e2.message).toContain('low-order');
  });

  it('originator id-X25519 with parameters, or a key of another length, is ERR_CMS_MALFORMED; X448 is ERR_ALGORITHM_UNSUPPORTED', async () => {
    const der = await encryptData(content, [{ certificate: x.cert }]);
    const u = new Uint8Array(32).fill(9);
    let e = await rejects(decryptData(withOriginator(der, x25519Originator(u, nul())), [x.key]), 'ERR_CMS_MALFORMED');
    expect(e.message).toContain('no parameters');
    for (const n of [31, 33, 0]) {
      e = await rejects(decryptData(withOriginator(der, x25519Originator(new Uint8Array(n).fill(9))), [x.key]), 'ERR_CMS_MALFORMED');
      expect(e.message).toContain(`this one has ${n}`);
    }
    const x448 = tlv(0xa1, seq(oid('1.3.101.111')), bitString(new Uint8Array(56).fill(9)));
    e = await rejects(decryptData(withOriginator(der, x448), [x.key]), 'ERR_ALGORITHM_UNSUPPORTED');
    expect(e.message).toContain('1.3.101.111');
  });

  it('an X25519 originator to an EC certificate (or an EC originator to an X25519 one) is ERR_CMS_WRONG_KEY', async () => {
    const toX = await encryptData(content, [{ certificate: x.cert }]);
    const toP = await encryptData(content, [{ certificate: p256.cert }]);
    // Move the X25519 originator into the P-256 message: the identifier still names the P-256 certificate.
    const swapped = withOriginator(toP, contentOf(kariParts(toX).originator));
    const e = await rejects(decryptData(swapped, [p256.key]), 'ERR_CMS_WRONG_KEY');
    expect(e.message).toContain('X25519');
    const swapped2 = withOriginator(toX, contentOf(kariParts(toP).originator));
    await rejects(decryptData(swapped2, [x.key]), 'ERR_CMS_WRONG_KEY');
  });

  it('reads HKDF-SHA-256 (RFC 8418 §2.2) from a KeyAgreeRecipientInfo made with node:crypto HKDF and AES key wrap', async () => {
    // No peer writes HKDF here, so the message is built in the test from node:crypto's X25519, HKDF and AES-KW.
    const cek = randomBytes(32);
    const nonce = randomBytes(12);
    const gcm = createCipheriv('aes-256-gcm', cek, nonce);
    const ct = Buffer.concat([gcm.update(content), gcm.final()]);
    const tag = gcm.getAuthTag();
    const eph = generateKeyPairSync('x25519');
    const recipientPub = createPublicKey({ key: Buffer.from(x.cert.publicKey.spki), format: 'der', type: 'spki' });
    const z = diffieHellman({ privateKey: eph.privateKey, publicKey: recipientPub });
    const wrapAlg = seq(oid(ENVELOPE_OID.aes256Wrap));
    const sharedInfo = seq(wrapAlg, explicit(2, octets(Uint8Array.of(0, 0, 1, 0))));
    const kek = Buffer.from(hkdfSync('sha256', z, Buffer.alloc(0), sharedInfo, 32));
    const kw = createCipheriv('id-aes256-wrap', kek, Buffer.from('a6a6a6a6a6a6a6a6', 'hex'));
    const wrapped = Buffer.concat([kw.update(cek), kw.final()]);
    const ephU = (eph.publicKey.export({ format: 'der', type: 'spki' }) as Buffer).subarray(12);
    const rid = seq(x.cert.issuer.der, tlv(Tag.INTEGER, x.cert.serialBytes));
    const kari = tlv(
      0xa1,
      int(3),
      explicit(0, x25519Originator(ephU)),
      seq(oid(ENVELOPE_OID.dhSinglePassStdDhHkdfSha256), wrapAlg),
      seq(seq(rid, octets(wrapped))),
    );
    const eci = seq(oid('1.2.840.113549.1.7.1'), seq(oid(ENVELOPE_OID.aes256GCM), seq(octets(nonce), int(16))), tlv(0x80, ct));
    const msg = seq(oid('1.2.840.113549.1.9.16.1.23'), explicit(0, seq(int(0), tlv(Tag.SET, kari), eci, octets(tag))));
    const r = await decryptData(msg, [x.key]);
    expect(equalBytes(r.content, content)).toBe(true);
    // The same structure under the X9.63 OID does not open: the KDF really is chosen by the OID.
    const asX963 = msg.slice();
    const hkdfOid = encodedOf(parseDer(oid(ENVELOPE_OID.dhSinglePassStdDhHkdfSha256)));
    const i = Buffer.from(asX963).indexOf(Buffer.from(hkdfOid));
    asX963[i + hkdfOid.length - 1] = 20; // …3.19 → …3.20: HKDF-SHA-384
    await rejects(decryptData(asX963, [x.key]), 'ERR_CMS_WRONG_KEY');
  });
});

describe('a runtime whose WebCrypto has no X25519', () => {
  const noX = cryptoWithoutX25519();

  it('encryptData to an X25519 certificate is ERR_KEY_UNSUPPORTED with a sentence; RSA and EC still work', async () => {
    const e = await rejects(encryptData(content, [{ certificate: x.cert }], { crypto: noX }), 'ERR_KEY_UNSUPPORTED');
    expect(e.message).toContain("runtime's WebCrypto has no X25519");
    const der = await encryptData(content, [{ certificate: rsa.cert }, { certificate: p256.cert }], { crypto: noX });
    expect(equalBytes((await decryptData(der, [p256.key], { crypto: noX })).content, content)).toBe(true);
  });

  it('decryptData and importDecryptionKey with an X25519 key are ERR_KEY_UNSUPPORTED', async () => {
    const der = await encryptData(content, [{ certificate: x.cert }]);
    const e = await rejects(decryptData(der, [x.key], { crypto: noX }), 'ERR_KEY_UNSUPPORTED');
    expect(e.message).toContain('X25519');
    await rejects(importDecryptionKey(x.pkcs8, x.cert, { crypto: noX }), 'ERR_KEY_UNSUPPORTED');
  });
});
