import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import {
  CMS_OID,
  DEFAULT_CMS_LIMITS,
  findSignerCertificate,
  parseContentInfo,
  parseSignedData,
  signData,
  verifySignerInfo,
  type SignerInfo,
} from '../../src/cms/index.js';
import { sha256 } from '../../src/internal/sha.js';
import { MailPkiError } from '../../src/errors.js';
import { copyBytes, equalBytes, toHex } from '../../src/internal/bytes.js';
import {
  bitString,
  explicit,
  int,
  nul,
  octets,
  oid,
  seq,
  setOf,
  time,
  tlv,
  utf8String,
} from '../../src/internal/der.js';
import { OID } from '../../src/internal/oids.js';
import { signBytes, signatureAlgorithmIdentifier, type SignatureAlgorithm } from '../../src/keys/algorithms.js';

const subtle = globalThis.crypto.subtle;
const FIXED_NOW = new Date('2026-03-04T05:06:07Z');
const now = () => FIXED_NOW;
const content = new TextEncoder().encode('Content-Type: text/plain\r\n\r\nHello, CMS.\r\n');

// Self-issued test certificates built with our DER writer, so these unit tests need no peer.
async function makeCert(
  pair: CryptoKeyPair,
  alg: SignatureAlgorithm,
  cn: string,
  serial: number,
  opts: { ski?: Uint8Array; keyUsage?: Uint8Array } = {},
): Promise<Certificate> {
  const spki = new Uint8Array(await subtle.exportKey('spki', pair.publicKey));
  const name = seq(setOf(seq(oid(OID.commonName), utf8String(cn))));
  const algId = signatureAlgorithmIdentifier(alg);
  const exts: Uint8Array[] = [];
  if (opts.ski) exts.push(seq(oid(OID.subjectKeyIdentifier), octets(octets(opts.ski))));
  if (opts.keyUsage) exts.push(seq(oid(OID.keyUsage), octets(opts.keyUsage)));
  const tbs = seq(
    explicit(0, int(2)),
    int(serial),
    algId,
    name,
    seq(time(new Date('2026-01-01T00:00:00Z')), time(new Date('2027-01-01T00:00:00Z'))),
    name,
    spki,
    ...(exts.length ? [explicit(3, seq(...exts))] : []),
  );
  const sig = await signBytes(globalThis.crypto, pair.privateKey, alg, tbs);
  return parseCertificate(seq(tbs, algId, bitString(sig)));
}

interface Id {
  key: CryptoKey;
  pair: CryptoKeyPair;
  cert: Certificate;
}

let rsa: Id;
let rsaOther: Id; // different key
let rsaSameKeyOtherCert: Certificate; // same key as rsa, other serial and subject
let ec: Id;
let ed: Id;
let rsaSha1Key: CryptoKey;

beforeAll(async () => {
  const rsaParams = { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: Uint8Array.of(1, 0, 1), hash: 'SHA-256' };
  const [rsaPair, rsaPair2, ecPair, edPair] = await Promise.all([
    subtle.generateKey(rsaParams, true, ['sign', 'verify']) as Promise<CryptoKeyPair>,
    subtle.generateKey(rsaParams, false, ['sign', 'verify']) as Promise<CryptoKeyPair>,
    subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']) as Promise<CryptoKeyPair>,
    subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']) as Promise<CryptoKeyPair>,
  ]);
  const rsaAlg: SignatureAlgorithm = { scheme: 'rsa-pkcs1', hash: 'SHA-256' };
  rsa = { key: rsaPair.privateKey, pair: rsaPair, cert: await makeCert(rsaPair, rsaAlg, 'rsa@example.com', 0x1001, { ski: Uint8Array.of(1, 2, 3, 4) }) };
  rsaOther = { key: rsaPair2.privateKey, pair: rsaPair2, cert: await makeCert(rsaPair2, rsaAlg, 'other@example.com', 0x1002) };
  rsaSameKeyOtherCert = await makeCert(rsaPair, rsaAlg, 'rsa-reissued@example.com', 0x1003);
  ec = { key: ecPair.privateKey, pair: ecPair, cert: await makeCert(ecPair, { scheme: 'ecdsa', hash: 'SHA-256' }, 'ec@example.com', 0x80) };
  ed = { key: edPair.privateKey, pair: edPair, cert: await makeCert(edPair, { scheme: 'ed25519', hash: 'SHA-512' }, 'ed@example.com', 0xff00) };
  const pkcs8 = await subtle.exportKey('pkcs8', rsaPair.privateKey);
  rsaSha1Key = await subtle.importKey('pkcs8', pkcs8, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-1' }, false, ['sign']);
});

function only(der: Uint8Array): { si: SignerInfo; sd: ReturnType<typeof parseSignedData> } {
  const sd = parseSignedData(der);
  expect(sd.signerInfos).toHaveLength(1);
  return { si: sd.signerInfos[0]!, sd };
}

const codes = (r: { problems: { code: string }[] }) => r.problems.map((p) => p.code).sort();

describe('signData → parseSignedData → verifySignerInfo', () => {
  it('writes the RFC 5652 / RFC 8551 structure for a detached RSA signature', async () => {
    const der = await signData(content, { signers: [{ key: rsa.key, certificate: rsa.cert }], now });
    expect(parseContentInfo(der)).toMatchObject({ contentType: CMS_OID.signedData, kind: 'signed-data' });
    const { sd, si } = only(der);
    expect(sd.version).toBe(1);
    expect(sd.digestAlgorithms).toEqual(['SHA-256']);
    expect(sd.eContentType).toBe(CMS_OID.data);
    expect(sd.eContent).toBeUndefined();
    expect(sd.certificates).toEqual([rsa.cert.der]);
    expect(sd.crls).toEqual([]);
    expect(si.version).toBe(1);
    expect(si.sid).toEqual({ issuer: rsa.cert.issuer.der, serial: rsa.cert.serialBytes });
    expect(si.digestAlgorithm).toBe('SHA-256');
    expect(si.signatureAlgorithm).toEqual({ scheme: 'rsa-pkcs1', hash: 'SHA-256' });
    const a = si.signedAttrs!;
    expect(a.der[0]).toBe(0x31);
    expect(a.all.map((x) => x.oid).sort()).toEqual(
      [CMS_OID.contentType, CMS_OID.messageDigest, CMS_OID.signingTime, CMS_OID.smimeCapabilities, CMS_OID.signingCertificateV2].sort(),
    );
    expect(a.contentType).toBe(CMS_OID.data);
    expect(toHex(a.messageDigest!)).toBe(toHex(new Uint8Array(await subtle.digest('SHA-256', content))));
    expect(a.signingTime).toEqual(FIXED_NOW);
    const ess = a.signingCertificateV2!;
    expect(ess).toHaveLength(1);
    expect(ess[0]!.hashAlgorithm).toBe('SHA-256');
    expect(toHex(ess[0]!.certHash)).toBe(toHex(new Uint8Array(await subtle.digest('SHA-256', copyBytes(rsa.cert.der)))));
    expect(ess[0]!.issuerSerial!.issuerName).toEqual(rsa.cert.issuer.der);
    expect(ess[0]!.issuerSerial!.serial).toEqual(rsa.cert.serialBytes);
    expect(findSignerCertificate(si.sid, [rsaOther.cert, rsa.cert])).toBe(rsa.cert);
    const r = await verifySignerInfo(si, { content, eContentType: sd.eContentType, certificate: rsa.cert });
    expect(r).toEqual({
      ok: true,
      problems: [],
      digestAlgorithm: 'SHA-256',
      signatureAlgorithm: { scheme: 'rsa-pkcs1', hash: 'SHA-256' },
      signingTime: FIXED_NOW,
      weak: false,
    });
  });

  it('writes rsaEncryption as the RSA PKCS#1 v1.5 signatureAlgorithm (RFC 3370 §3.2)', async () => {
    const der = await signData(content, { signers: [{ key: rsa.key, certificate: rsa.cert }], now });
    const rsaEncryptionAlgId = toHex(seq(oid(OID.rsaEncryption), nul()));
    // signatureAlgorithm is followed by the 256-byte signature OCTET STRING.
    expect(toHex(der)).toContain(`${rsaEncryptionAlgId}04820100`);
    expect(toHex(der)).not.toContain(`${toHex(seq(oid(OID.sha256WithRSAEncryption), nul()))}04820100`);
  });

  it('is deterministic for RSA PKCS#1 v1.5 with an injected clock', async () => {
    const a = await signData(content, { signers: [{ key: rsa.key, certificate: rsa.cert }], now });
    const b = await signData(content, { signers: [{ key: rsa.key, certificate: rsa.cert }], now });
    expect(toHex(a)).toBe(toHex(b));
  });

  it('embeds the content when detached is false', async () => {
    const der = await signData(content, { signers: [{ key: ec.key, certificate: ec.cert }], detached: false, now });
    const { sd, si } = only(der);
    expect(sd.eContent).toEqual(content);
    expect(si.signatureAlgorithm).toEqual({ scheme: 'ecdsa', hash: 'SHA-256' });
    expect((await verifySignerInfo(si, { content: sd.eContent!, certificate: ec.cert })).ok).toBe(true);
  });

  it('signs with Ed25519 using SHA-512 as the digest (RFC 8419)', async () => {
    const { sd, si } = only(await signData(content, { signers: [{ key: ed.key, certificate: ed.cert }], now }));
    expect(sd.digestAlgorithms).toEqual(['SHA-512']);
    expect(si.signatureAlgorithm).toEqual({ scheme: 'ed25519', hash: 'SHA-512' });
    const r = await verifySignerInfo(si, { content, certificate: ed.cert });
    expect(r.ok).toBe(true);
    expect(r.problems).toEqual([]);
  });

  it('signs with RSA-PSS SHA-384 from an extractable key, with PSS parameters', async () => {
    const alg: SignatureAlgorithm = { scheme: 'rsa-pss', hash: 'SHA-384' };
    const { sd, si } = only(await signData(content, { signers: [{ key: rsa.key, certificate: rsa.cert, algorithm: alg }], now }));
    expect(sd.digestAlgorithms).toEqual(['SHA-384']);
    expect(si.signatureAlgorithm).toEqual({ scheme: 'rsa-pss', hash: 'SHA-384', saltLength: 48 });
    expect((await verifySignerInfo(si, { content, certificate: rsa.cert })).ok).toBe(true);
  });

  it('signs with a non-extractable key', async () => {
    expect(rsaOther.key.extractable).toBe(false);
    const { si } = only(await signData(content, { signers: [{ key: rsaOther.key, certificate: rsaOther.cert }], now }));
    expect((await verifySignerInfo(si, { content, certificate: rsaOther.cert })).ok).toBe(true);
  });

  it('uses subjectKeyIdentifier: SignerInfo and SignedData version 3', async () => {
    const der = await signData(content, { signers: [{ key: rsa.key, certificate: rsa.cert, sid: 'subjectKeyIdentifier' }], now });
    const { sd, si } = only(der);
    expect(sd.version).toBe(3);
    expect(si.version).toBe(3);
    expect(si.sid).toEqual({ subjectKeyIdentifier: Uint8Array.of(1, 2, 3, 4) });
    expect(findSignerCertificate(si.sid, [ec.cert, rsa.cert])).toBe(rsa.cert);
    expect(findSignerCertificate(si.sid, [ec.cert])).toBeUndefined();
  });

  it('leaves out optional attributes when asked', async () => {
    const der = await signData(content, {
      signers: [{ key: ec.key, certificate: ec.cert, signingTime: false, smimeCapabilities: false, signingCertificateV2: false }],
    });
    const { si } = only(der);
    expect(si.signedAttrs!.all.map((a) => a.oid).sort()).toEqual([CMS_OID.contentType, CMS_OID.messageDigest].sort());
    const r = await verifySignerInfo(si, { content, certificate: ec.cert });
    expect(r.ok).toBe(true);
    expect(r.signingTime).toBeUndefined();
  });

  it('uses a given signingTime; GeneralizedTime from 2050 (RFC 5652 §11.3)', async () => {
    const at = new Date('2051-02-03T04:05:06Z');
    const { si } = only(await signData(content, { signers: [{ key: ec.key, certificate: ec.cert, signingTime: at }], now }));
    expect(si.signedAttrs!.signingTime).toEqual(at);
    expect(toHex(si.signedAttrs!.der)).toContain(toHex(tlv(0x18, new TextEncoder().encode('20510203040506Z'))));
  });

  it('signs with several signers: digestAlgorithms de-duplicated, each verifies, digests shared', async () => {
    const der = await signData(content, {
      signers: [
        { key: rsa.key, certificate: rsa.cert },
        { key: ec.key, certificate: ec.cert },
        { key: ed.key, certificate: ed.cert },
      ],
      certificates: [rsa.cert.der, ec.cert.der, ed.cert.der, rsa.cert.der],
      now,
    });
    const sd = parseSignedData(der);
    expect(sd.digestAlgorithms.slice().sort()).toEqual(['SHA-256', 'SHA-512']);
    expect(sd.certificates).toHaveLength(3);
    expect(sd.signerInfos).toHaveLength(3);
    const certs = sd.certificates.map((c) => parseCertificate(c));
    const digestCache = new Map<string, Promise<Uint8Array>>();
    for (const si of sd.signerInfos) {
      const cert = findSignerCertificate(si.sid, certs)!;
      expect(cert).toBeDefined();
      const r = await verifySignerInfo(si, { content, certificate: cert, digestCache });
      expect(r.problems).toEqual([]);
    }
    expect([...digestCache.keys()].sort()).toEqual(['SHA-256', 'SHA-512']);
  });

  it('includes no certificates with certificates: []', async () => {
    const { sd } = only(await signData(content, { signers: [{ key: ec.key, certificate: ec.cert }], certificates: [], now }));
    expect(sd.certificates).toEqual([]);
  });

  it('writes version 3 for a non-data eContentType', async () => {
    const der = await signData(content, { signers: [{ key: ec.key, certificate: ec.cert }], eContentType: '1.2.840.113549.1.9.16.1.4', now });
    const { sd, si } = only(der);
    expect(sd.version).toBe(3);
    expect(sd.eContentType).toBe('1.2.840.113549.1.9.16.1.4');
    expect((await verifySignerInfo(si, { content, eContentType: sd.eContentType, certificate: ec.cert })).ok).toBe(true);
  });
});

describe('verifySignerInfo problems', () => {
  let rsaDer: Uint8Array;
  beforeAll(async () => {
    rsaDer = await signData(content, { signers: [{ key: rsa.key, certificate: rsa.cert }], now });
  });

  it('tampered content → CMS_DIGEST_MISMATCH only', async () => {
    const { si } = only(rsaDer);
    const bad = content.slice();
    bad[5]! ^= 1;
    const r = await verifySignerInfo(si, { content: bad, certificate: rsa.cert });
    expect(r.ok).toBe(false);
    expect(codes(r)).toEqual(['CMS_DIGEST_MISMATCH']);
  });

  it('tampered signed attribute → CMS_SIGNATURE_INVALID only', async () => {
    // Change one digit of the signingTime inside the DER: still well-formed, no longer signed.
    const der = rsaDer.slice();
    const needle = new TextEncoder().encode('260304050607Z');
    const at = toHex(der).indexOf(toHex(needle)) / 2;
    expect(at).toBeGreaterThan(0);
    der[at + 11] = 0x38; // seconds 07 → 08
    const { si } = only(der);
    expect(si.signedAttrs!.signingTime).toEqual(new Date('2026-03-04T05:06:08Z'));
    const r = await verifySignerInfo(si, { content, certificate: rsa.cert });
    expect(r.ok).toBe(false);
    expect(codes(r)).toEqual(['CMS_SIGNATURE_INVALID']);
  });

  it('tampered signature value → CMS_SIGNATURE_INVALID', async () => {
    const { si } = only(rsaDer);
    const sig = si.signature.slice();
    sig[0]! ^= 0x40;
    expect(codes(await verifySignerInfo({ ...si, signature: sig }, { content, certificate: rsa.cert }))).toEqual(['CMS_SIGNATURE_INVALID']);
  });

  it('wrong certificate (other key) → CMS_SIGNATURE_INVALID and CMS_SIGNING_CERTIFICATE_MISMATCH', async () => {
    const { si } = only(rsaDer);
    const r = await verifySignerInfo(si, { content, certificate: rsaOther.cert });
    expect(r.ok).toBe(false);
    expect(codes(r)).toEqual(['CMS_SIGNATURE_INVALID', 'CMS_SIGNING_CERTIFICATE_MISMATCH']);
  });

  it('certificate of another key type → CMS_SIGNATURE_INVALID', async () => {
    const { si } = only(rsaDer);
    expect(codes(await verifySignerInfo(si, { content, certificate: ec.cert }))).toEqual(['CMS_SIGNATURE_INVALID', 'CMS_SIGNING_CERTIFICATE_MISMATCH']);
  });

  it('same key, other certificate → CMS_SIGNING_CERTIFICATE_MISMATCH only (ESS)', async () => {
    const { si } = only(rsaDer);
    const r = await verifySignerInfo(si, { content, certificate: rsaSameKeyOtherCert });
    expect(r.ok).toBe(false);
    expect(codes(r)).toEqual(['CMS_SIGNING_CERTIFICATE_MISMATCH']);
    expect(r.problems[0]!.message).toMatch(/hash does not match/);
  });

  it('signed contentType ≠ eContentType → CMS_CONTENT_TYPE_MISMATCH', async () => {
    const { si } = only(rsaDer);
    const r = await verifySignerInfo(si, { content, eContentType: '1.2.840.113549.1.9.16.1.4', certificate: rsa.cert });
    expect(codes(r)).toEqual(['CMS_CONTENT_TYPE_MISMATCH']);
  });

  it('messageDigest missing → CMS_SIGNED_ATTRIBUTES_MISSING_REQUIRED', async () => {
    const { si } = only(rsaDer);
    const a = si.signedAttrs!;
    const view: SignerInfo = {
      ...si,
      signedAttrs: { der: a.der, all: a.all.filter((x) => x.oid !== CMS_OID.messageDigest), contentType: a.contentType! },
    };
    const r = await verifySignerInfo(view, { content, certificate: rsa.cert });
    expect(codes(r)).toEqual(['CMS_SIGNED_ATTRIBUTES_MISSING_REQUIRED']);
    expect(r.problems[0]!.message).toBe('signed attribute messageDigest is missing');
  });

  it('duplicated contentType attribute → CMS_SIGNED_ATTRIBUTES_MISSING_REQUIRED', async () => {
    const { si } = only(rsaDer);
    const a = si.signedAttrs!;
    const ct = a.all.find((x) => x.oid === CMS_OID.contentType)!;
    const view: SignerInfo = { ...si, signedAttrs: { ...a, all: [...a.all, ct] } };
    const r = await verifySignerInfo(view, { content, certificate: rsa.cert });
    expect(codes(r)).toEqual(['CMS_SIGNED_ATTRIBUTES_MISSING_REQUIRED']);
    expect(r.problems[0]!.message).toBe('signed attribute contentType must appear once with one value');
  });

  it('unknown digest algorithm → CMS_ALGORITHM_UNSUPPORTED, and parsing does not throw', async () => {
    const der = await signData(content, {
      signers: [{ key: ec.key, certificate: ec.cert, smimeCapabilities: false, signingCertificateV2: false }],
      now,
    });
    // Replace the SignerInfo's digest OID (sha256 …02.01) with an unknown arc (…02.63) in place.
    const hex = toHex(der);
    const sha256 = toHex(oid(OID.sha256));
    const last = hex.lastIndexOf(sha256) / 2;
    const bad = der.slice();
    bad[last + sha256.length / 2 - 1] = 0x3f;
    const sd = parseSignedData(bad);
    const si = sd.signerInfos[0]!;
    expect(si.digestAlgorithm).toEqual({ unsupported: '2.16.840.1.101.3.4.2.63' });
    const r = await verifySignerInfo(si, { content, certificate: ec.cert });
    expect(r.ok).toBe(false);
    expect(codes(r)).toContain('CMS_ALGORITHM_UNSUPPORTED');
  });
});

/** Hand-assembled SignedData without signed attributes (signature over the content itself). */
async function signedWithoutAttributes(key: CryptoKey, cert: Certificate, hash: 'SHA-1' | 'SHA-256'): Promise<Uint8Array> {
  const sig = new Uint8Array(await subtle.sign('RSASSA-PKCS1-v1_5', key, copyBytes(content)));
  const digestId = seq(oid(hash === 'SHA-1' ? OID.sha1 : OID.sha256));
  const si = seq(int(1), seq(cert.issuer.der, tlv(0x02, cert.serialBytes)), digestId, seq(oid(OID.rsaEncryption), nul()), octets(sig));
  const sd = seq(int(1), setOf(digestId), seq(oid(CMS_OID.data)), explicit(0, cert.der), setOf(si));
  return seq(oid(CMS_OID.signedData), explicit(0, sd));
}

describe('SignerInfo without signed attributes', () => {
  it('verifies the signature over the content; nothing flagged', async () => {
    const key = await subtle.importKey('pkcs8', await subtle.exportKey('pkcs8', rsa.key), { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
    const { si } = only(await signedWithoutAttributes(key, rsa.cert, 'SHA-256'));
    expect(si.signedAttrs).toBeUndefined();
    const r = await verifySignerInfo(si, { content, certificate: rsa.cert });
    expect(r).toMatchObject({ ok: true, problems: [], weak: false });
    const bad = content.slice();
    bad[0]! ^= 1;
    expect(codes(await verifySignerInfo(si, { content: bad, certificate: rsa.cert }))).toEqual(['CMS_SIGNATURE_INVALID']);
  });

  it('SHA-1 is verified and reported weak (CMS_WEAK_ALGORITHM, ok stays true)', async () => {
    const { si } = only(await signedWithoutAttributes(rsaSha1Key, rsa.cert, 'SHA-1'));
    expect(si.digestAlgorithm).toBe('SHA-1');
    expect(si.signatureAlgorithm).toEqual({ scheme: 'rsa-pkcs1', hash: 'SHA-1' });
    const r = await verifySignerInfo(si, { content, certificate: rsa.cert });
    expect(r.ok).toBe(true);
    expect(r.weak).toBe(true);
    expect(codes(r)).toEqual(['CMS_WEAK_ALGORITHM']);
    const bad = content.slice();
    bad[0]! ^= 1;
    const r2 = await verifySignerInfo(si, { content: bad, certificate: rsa.cert });
    expect(r2.ok).toBe(false);
    expect(codes(r2)).toEqual(['CMS_SIGNATURE_INVALID', 'CMS_WEAK_ALGORITHM']);
  });
});

describe('signData refuses unusable signers before signing', () => {
  const code = async (p: Promise<unknown>) => {
    const e = await p.then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(MailPkiError);
    return (e as MailPkiError).code;
  };
  it('key and certificate of different types', async () => {
    expect(await code(signData(content, { signers: [{ key: ec.key, certificate: rsa.cert }] }))).toBe('ERR_SIGNER_INVALID');
  });
  it('subjectKeyIdentifier asked for, certificate has none', async () => {
    expect(await code(signData(content, { signers: [{ key: ec.key, certificate: ec.cert, sid: 'subjectKeyIdentifier' }] }))).toBe('ERR_SIGNER_INVALID');
  });
  it('Ed25519 with SHA-256', async () => {
    expect(await code(signData(content, { signers: [{ key: ed.key, certificate: ed.cert, algorithm: { scheme: 'ed25519', hash: 'SHA-256' } }] }))).toBe(
      'ERR_SIGNER_INVALID',
    );
  });
  it('non-extractable RSA key asked for another hash', async () => {
    const e = await signData(content, { signers: [{ key: rsaOther.key, certificate: rsaOther.cert, algorithm: { scheme: 'rsa-pkcs1', hash: 'SHA-512' } }] }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(MailPkiError);
    expect((e as MailPkiError).code).toBe('ERR_SIGNER_INVALID');
    expect((e as MailPkiError).message).toMatch(/non-extractable/);
  });
  it('a public key', async () => {
    expect(await code(signData(content, { signers: [{ key: ec.pair.publicKey, certificate: ec.cert }] }))).toBe('ERR_SIGNER_INVALID');
  });
  it('keyUsage without digitalSignature', async () => {
    const keyEnciphermentOnly = bitString(Uint8Array.of(0x20), 5);
    const cert = await makeCert(ec.pair, { scheme: 'ecdsa', hash: 'SHA-256' }, 'ku@example.com', 7, { keyUsage: keyEnciphermentOnly });
    expect(cert.keyUsage).toEqual(['keyEncipherment']);
    expect(await code(signData(content, { signers: [{ key: ec.key, certificate: cert }] }))).toBe('ERR_SIGNER_INVALID');
  });
  it('no signers → ERR_INVALID_INPUT', async () => {
    expect(await code(signData(content, { signers: [] }))).toBe('ERR_INVALID_INPUT');
  });
});

// ---------------------------------------------------------------------------------------------
// Parsing: BER, limits, errors.

/** Re-encodes DER as BER the way streaming signers do: indefinite lengths, OCTET STRINGs in chunks. */
function toIndefiniteBer(der: Uint8Array, chunk = 7): Uint8Array {
  const out: number[] = [];
  const walk = (at: number): number => {
    const tag = der[at]!;
    let len = der[at + 1]!;
    let p = at + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + der[p + i]!;
      p += n;
    }
    const end = p + len;
    if (tag === 0x04 && len > chunk) {
      out.push(0x24, 0x80);
      for (let i = p; i < end; i += chunk) {
        const piece = der.subarray(i, Math.min(end, i + chunk));
        out.push(0x04, piece.length, ...piece);
      }
      out.push(0, 0);
    } else if (tag & 0x20) {
      out.push(tag, 0x80);
      for (let q = p; q < end; ) q = walk(q);
      out.push(0, 0);
    } else {
      out.push(...der.subarray(at, end));
    }
    return end;
  };
  walk(0);
  return Uint8Array.from(out);
}

/** Only the outer layers indefinite (ContentInfo, SignedData, encap, eContent), as OpenSSL -stream does. */
function outerBer(der: Uint8Array): Uint8Array {
  return toIndefiniteBerOuter(der);
}

function toIndefiniteBerOuter(der: Uint8Array): Uint8Array {
  // ContentInfo → [0] → SignedData: indefinite; SignedData children kept, except encap → eContent chunked.
  const out: number[] = [];
  const hdr = (at: number) => {
    let len = der[at + 1]!;
    let p = at + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + der[p + i]!;
      p += n;
    }
    return { tag: der[at]!, p, end: p + len };
  };
  const ci = hdr(0);
  out.push(0x30, 0x80);
  const ctype = hdr(ci.p);
  out.push(...der.subarray(ci.p, ctype.end));
  const wrap = hdr(ctype.end);
  out.push(0xa0, 0x80);
  const sd = hdr(wrap.p);
  out.push(0x30, 0x80);
  let q = sd.p;
  while (q < sd.end) {
    const child = hdr(q);
    if (child.tag === 0x30 && der[child.p] === 0x06 && child.end - child.p > 13) {
      out.push(...toIndefiniteBer(der.subarray(q, child.end), 5));
    } else out.push(...der.subarray(q, child.end));
    q = child.end;
  }
  out.push(0, 0, 0, 0, 0, 0);
  return Uint8Array.from(out);
}

describe('parseSignedData with BER input', () => {
  it('reads indefinite lengths and chunked eContent everywhere, and the signature still verifies', async () => {
    const der = await signData(content, { signers: [{ key: ec.key, certificate: ec.cert }], detached: false, now });
    const ber = toIndefiniteBer(der);
    expect(ber[1]).toBe(0x80);
    expect(toHex(ber)).not.toBe(toHex(der));
    const sd = parseSignedData(ber);
    expect(sd.eContent).toEqual(content);
    expect(sd.certificates).toEqual([ec.cert.der]);
    const r = await verifySignerInfo(sd.signerInfos[0]!, { content: sd.eContent!, certificate: ec.cert });
    expect(r.problems).toEqual([]);
    expect(parseContentInfo(ber).kind).toBe('signed-data');
  });

  it('reads BER on the outer layers only (OpenSSL -stream shape)', async () => {
    const der = await signData(content, { signers: [{ key: rsa.key, certificate: rsa.cert }], detached: false, now });
    const sd = parseSignedData(outerBer(der));
    expect(sd.eContent).toEqual(content);
    expect((await verifySignerInfo(sd.signerInfos[0]!, { content, certificate: rsa.cert })).ok).toBe(true);
  });

  it('refuses nesting deeper than the limit with ERR_NESTING_TOO_DEEP', () => {
    const deep = new Uint8Array(400);
    for (let i = 0; i < 200; i++) deep.set([0x30, 0x80], i * 2);
    expect(() => parseSignedData(deep)).toThrow(expect.objectContaining({ code: 'ERR_NESTING_TOO_DEEP' }));
  });

  it('missing end-of-contents → ERR_CMS_MALFORMED', () => {
    expect(() => parseSignedData(Uint8Array.of(0x30, 0x80, 0x06, 0x01, 0x2a))).toThrow(
      expect.objectContaining({ code: 'ERR_CMS_MALFORMED', message: 'invalid CMS (BER): missing end-of-contents' }),
    );
  });
});

describe('parseSignedData errors and limits', () => {
  it('says when the ContentInfo is not signed-data', () => {
    const envelopedLike = seq(oid(CMS_OID.envelopedData), explicit(0, seq(int(0))));
    expect(parseContentInfo(envelopedLike)).toMatchObject({ kind: 'enveloped-data', contentType: CMS_OID.envelopedData });
    expect(() => parseSignedData(envelopedLike)).toThrow(
      expect.objectContaining({ code: 'ERR_CMS_MALFORMED', message: 'invalid CMS: the ContentInfo holds enveloped-data, not signed-data' }),
    );
  });

  it('names the broken field', () => {
    const noSigners = seq(oid(CMS_OID.signedData), explicit(0, seq(int(1), setOf(), seq(oid(CMS_OID.data)))));
    expect(() => parseSignedData(noSigners)).toThrow(expect.objectContaining({ code: 'ERR_CMS_MALFORMED', message: 'invalid CMS SignedData: unexpected end of data' }));
    expect(() => parseSignedData(Uint8Array.of(1, 2, 3))).toThrow(expect.objectContaining({ code: 'ERR_CMS_MALFORMED' }));
    expect(() => parseSignedData(new Uint8Array(0))).toThrow(expect.objectContaining({ code: 'ERR_CMS_MALFORMED' }));
  });

  it('applies the documented limits', async () => {
    const der = await signData(content, { signers: [{ key: ec.key, certificate: ec.cert }, { key: ed.key, certificate: ed.cert }], now });
    expect(() => parseSignedData(der, { maxSignerInfos: 1 })).toThrow(expect.objectContaining({ code: 'ERR_INPUT_TOO_LARGE' }));
    expect(() => parseSignedData(der, { maxCertificates: 1 })).toThrow(expect.objectContaining({ code: 'ERR_INPUT_TOO_LARGE' }));
    expect(() => parseSignedData(der, { maxAttributes: 3 })).toThrow(expect.objectContaining({ code: 'ERR_INPUT_TOO_LARGE' }));
    expect(() => parseSignedData(der, { maxBytes: 100 })).toThrow(expect.objectContaining({ code: 'ERR_INPUT_TOO_LARGE' }));
    expect(DEFAULT_CMS_LIMITS).toEqual({ maxBytes: 64 * 1024 * 1024, maxSignerInfos: 64, maxCertificates: 256, maxCrls: 256, maxAttributes: 64, maxDepth: 64 });
  });

  it('counts non-X.509 certificate choices and other revocation info', async () => {
    const der = await signData(content, { signers: [{ key: ec.key, certificate: ec.cert }], certificates: [], now });
    const sd0 = parseSignedData(der);
    // Rebuild with an attribute certificate [2] and an `other` revocation info [1].
    const si = der.subarray(der.length - lastSetLength(der));
    const inner = seq(
      int(1),
      setOf(seq(oid(OID.sha256))),
      seq(oid(CMS_OID.data)),
      tlv(0xa0, ec.cert.der, tlv(0xa2, seq(int(0)))),
      tlv(0xa1, tlv(0xa1, oid('1.3.6.1.5.5.7.16.2'), seq())),
      si,
    );
    const sd = parseSignedData(seq(oid(CMS_OID.signedData), explicit(0, inner)));
    expect(sd.certificates).toEqual([ec.cert.der]);
    expect(sd.otherCertificateChoices).toBe(1);
    expect(sd.crls).toEqual([]);
    expect(sd.otherRevocationInfoChoices).toBe(1);
    expect(sd.signerInfos[0]!.signature).toEqual(sd0.signerInfos[0]!.signature);
  });
});

/** Length of the trailing signerInfos SET of our own output (it is the last TLV). */
function lastSetLength(der: Uint8Array): number {
  const sd = parseSignedData(der);
  void sd;
  // Walk: ContentInfo → [0] → SignedData children; the last child is the SET.
  const hdr = (at: number) => {
    let len = der[at + 1]!;
    let p = at + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + der[p + i]!;
      p += n;
    }
    return { p, end: p + len };
  };
  const ci = hdr(0);
  const ctype = hdr(ci.p);
  const wrap = hdr(ctype.end);
  const sd2 = hdr(wrap.p);
  let q = sd2.p;
  let last = q;
  while (q < sd2.end) {
    last = q;
    q = hdr(q).end;
  }
  return sd2.end - last;
}

describe('parseSignedData on hostile input (fast-check)', () => {
  let seeds: Uint8Array[];
  beforeAll(async () => {
    const detached = await signData(content, { signers: [{ key: ec.key, certificate: ec.cert }], now });
    const opaque = await signData(content, { signers: [{ key: ed.key, certificate: ed.cert }], detached: false, now });
    seeds = [detached, opaque, toIndefiniteBer(opaque), outerBer(detached)];
  });

  const outcome = (bytes: Uint8Array) => {
    try {
      parseSignedData(bytes);
      parseContentInfo(bytes);
      return 'parsed';
    } catch (e) {
      if (e instanceof MailPkiError) return e.code;
      throw e;
    }
  };

  it('random bytes: a result or a MailPkiError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        expect(typeof outcome(bytes)).toBe('string');
      }),
      { numRuns: 2000 },
    );
  });

  it('random BER-looking headers: a result or a MailPkiError', () => {
    const tlvish = fc.array(fc.oneof(fc.constantFrom(0x30, 0x31, 0xa0, 0xa1, 0x24, 0x04, 0x06, 0x02, 0x80, 0x00, 0x81, 0x84), fc.integer({ min: 0, max: 255 })), {
      maxLength: 300,
    });
    fc.assert(
      fc.property(tlvish, (arr) => {
        expect(typeof outcome(Uint8Array.from(arr))).toBe('string');
      }),
      { numRuns: 2000 },
    );
  });

  it('mutated real CMS (DER and BER): a result or a MailPkiError, quickly', () => {
    const mutation = fc.record({
      seed: fc.nat(),
      edits: fc.array(
        fc.record({ kind: fc.constantFrom('flip', 'set', 'cut', 'insert', 'delete'), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
        { minLength: 1, maxLength: 4 },
      ),
    });
    fc.assert(
      fc.property(mutation, ({ seed, edits }) => {
        let b = Array.from(seeds[seed % seeds.length]!);
        for (const e of edits) {
          const at = e.at % Math.max(1, b.length);
          if (e.kind === 'flip') b[at] = b[at]! ^ (1 << (e.value & 7));
          else if (e.kind === 'set') b[at] = e.value;
          else if (e.kind === 'cut') b = b.slice(0, at);
          else if (e.kind === 'insert') b.splice(at, 0, e.value);
          else b.splice(at, 1);
        }
        const started = performance.now();
        expect(typeof outcome(Uint8Array.from(b))).toBe('string');
        expect(performance.now() - started).toBeLessThan(1000);
      }),
      { numRuns: 3000 },
    );
  });

  it('regression guard: the seeds themselves parse', () => {
    for (const s of seeds) expect(outcome(s)).toBe('parsed');
    expect(equalBytes(parseSignedData(seeds[2]!).eContent!, content)).toBe(true);
  });
});


describe('sha256 (the synchronous digest used for small contents when signing)', () => {
  it('matches WebCrypto on the FIPS 180-4 vectors and random inputs around block boundaries', async () => {
    const enc = new TextEncoder();
    expect(toHex(sha256(enc.encode('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(toHex(sha256(new Uint8Array(0)))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (b) => {
        expect(toHex(sha256(b))).toBe(toHex(new Uint8Array(await subtle.digest('SHA-256', copyBytes(b)))));
      }),
      { numRuns: 300 },
    );
    const big = new Uint8Array(70_000).map((_, i) => (i * 31) & 0xff);
    expect(toHex(sha256(big))).toBe(toHex(new Uint8Array(await subtle.digest('SHA-256', big))));
  });
});
