import { writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCA } from '../../src/ca/local-ca.js';
import { MemoryCaStorage } from '../../src/ca/storage.js';
import {
  basicConstraintsValue,
  computeKeyIdentifier,
  extKeyUsageValue,
  keySigner,
  keyUsageValue,
  randomSerial,
  signCertificate,
  subjectAltNameValue,
  type ExtensionInput,
} from '../../src/certs/builder.js';
import { certificateMailboxes, certificateToPem, parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { MAX_NAME_CONSTRAINT_CHECKS, uriHost } from '../../src/certs/chain-names.js';
import { MAX_SIGNATURE_CHECKS, chainProblemCodes, validateChain, type ChainProblemCode, type ChainResult, type ValidateChainOptions } from '../../src/certs/chain.js';
import type { KeyUsageName } from '../../src/certs/extensions.js';
import { encodeName } from '../../src/certs/name.js';
import { bitString, childrenOf, encodedOf, implicit, oid, parseDer, seq, tlv } from '../../src/internal/der.js';
import { OID } from '../../src/internal/oids.js';
import { sameMailbox } from '../../src/smime/sender.js';
import { defaultSignatureAlgorithm } from '../../src/keys/algorithms.js';
import { exportSpki, generateKeyPair, type KeyType } from '../../src/keys/index.js';
import { describeWithPeers, runStatus, tempDir } from '../helpers/peers.js';

const NOW = new Date('2026-11-01T10:00:00Z');
const DAY = 86_400_000;
const days = (n: number) => new Date(NOW.getTime() + n * DAY);

// ---------------------------------------------------------------------------------------------
// Crafting certificates: every negative case is a real, correctly signed certificate except for
// the one property under test.

const keyPool = new Map<string, Promise<CryptoKeyPair>>();
/** A key pair per label, so certificates that should share a key do. */
function keys(label: string, type: KeyType = 'ec-p256'): Promise<CryptoKeyPair> {
  let p = keyPool.get(label);
  if (!p) keyPool.set(label, (p = generateKeyPair(type, { extractable: true })));
  return p;
}

async function rsaKeys(label: string, bits: number): Promise<CryptoKeyPair> {
  let p = keyPool.get(label);
  if (!p) {
    const params = { name: 'RSASSA-PKCS1-v1_5', modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
    keyPool.set(label, (p = crypto.subtle.generateKey(params, true, ['sign', 'verify']) as Promise<CryptoKeyPair>));
  }
  return p;
}

interface Node {
  cert: Certificate;
  keys: CryptoKeyPair;
  name: Uint8Array;
  ski: Uint8Array;
}

interface MintOptions {
  cn: string;
  /** Default: self-signed. */
  issuer?: Node;
  keys?: CryptoKeyPair;
  notBefore?: Date;
  notAfter?: Date;
  ca?: boolean;
  pathLen?: number;
  /** Leave basicConstraints out entirely. */
  noBasicConstraints?: boolean;
  /** null: no keyUsage extension. */
  ku?: KeyUsageName[] | null;
  eku?: string[];
  email?: string;
  extra?: ExtensionInput[];
  /** Use this SKI instead of the key's (to make an impostor look like the real issuer). */
  ski?: Uint8Array;
  /** Post-process the DER (re-sign with SHA-1, change the algorithm, tamper). */
  patch?: (der: Uint8Array, signerKey: CryptoKey) => Promise<Uint8Array>;
}

async function mint(o: MintOptions): Promise<Node> {
  const k = o.keys ?? (await keys(o.cn));
  const spki = await exportSpki(k.publicKey);
  const ski = o.ski ?? (await computeKeyIdentifier(spki));
  const name = encodeName([{ type: 'O', value: 'Chain Test' }, { type: 'CN', value: o.cn }]);
  const signerKey = o.issuer?.keys.privateKey ?? k.privateKey;
  const exts: ExtensionInput[] = [];
  if (!o.noBasicConstraints) exts.push({ oid: OID.basicConstraints, critical: true, value: basicConstraintsValue(!!o.ca, o.pathLen) });
  const ku = o.ku === undefined ? (o.ca ? (['keyCertSign', 'cRLSign'] as KeyUsageName[]) : (['digitalSignature'] as KeyUsageName[])) : o.ku;
  if (ku) exts.push({ oid: OID.keyUsage, critical: true, value: keyUsageValue(ku) });
  const eku = o.eku ?? (o.ca ? undefined : [OID.idKpEmailProtection]);
  if (eku) exts.push({ oid: OID.extKeyUsage, critical: false, value: extKeyUsageValue(eku) });
  const email = o.email ?? (o.ca ? undefined : `${o.cn}@example.com`);
  if (email) exts.push({ oid: OID.subjectAltName, critical: false, value: subjectAltNameValue({ rfc822Names: [email] }) });
  exts.push({ oid: OID.subjectKeyIdentifier, critical: false, value: tlv(0x04, ski) });
  exts.push({ oid: OID.authorityKeyIdentifier, critical: false, value: seq(implicit(0, o.issuer?.ski ?? ski)) });
  exts.push(...(o.extra ?? []));
  let der = await signCertificate(
    {
      serial: randomSerial(crypto),
      issuer: o.issuer?.name ?? name,
      subject: name,
      notBefore: o.notBefore ?? days(-30),
      notAfter: o.notAfter ?? days(300),
      spki,
      extensions: exts,
    },
    keySigner(signerKey, defaultSignatureAlgorithm(signerKey)),
  );
  if (o.patch) der = await o.patch(der, signerKey);
  return { cert: parseCertificate(der), keys: k, name, ski };
}

function replaceAll(hay: Uint8Array, from: Uint8Array, to: Uint8Array): Uint8Array {
  const out = hay.slice();
  for (let i = 0; i + from.length <= out.length; i++)
    if (from.every((b, j) => out[i + j] === b)) {
      out.set(to, i);
      i += from.length - 1;
    }
  return out;
}

const SHA256_RSA = Uint8Array.of(0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b);
const SHA1_RSA = Uint8Array.of(0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05);
const ECDSA_SHA256 = Uint8Array.of(0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02);
const ECDSA_SHA224 = Uint8Array.of(0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x01);

/** Re-signs an RSA-SHA256 certificate as sha1WithRSAEncryption (signCertificate refuses SHA-1). */
async function resignSha1(der: Uint8Array, signerKey: CryptoKey): Promise<Uint8Array> {
  const patched = replaceAll(der, SHA256_RSA, SHA1_RSA);
  const [tbs, alg] = childrenOf(parseDer(patched));
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', signerKey);
  const sha1Key = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-1' }, false, ['sign']);
  const sig = new Uint8Array(await crypto.subtle.sign('RSASSA-PKCS1-v1_5', sha1Key, encodedOf(tbs!).slice()));
  return seq(encodedOf(tbs!), encodedOf(alg!), bitString(sig));
}

/** Flips a bit in the signature value. */
async function tamperSignature(der: Uint8Array): Promise<Uint8Array> {
  const out = der.slice();
  out[out.length - 3]! ^= 0x01;
  return out;
}

const criticalPrivateExtension: ExtensionInput = { oid: '1.3.6.1.4.1.55555.1', critical: true, value: tlv(0x05) };

function nameConstraintsExt(permitted: Uint8Array[], excluded: Uint8Array[] = []): ExtensionInput {
  const subtrees = (bases: Uint8Array[]) => bases.map((b) => seq(b));
  return {
    oid: OID.nameConstraints,
    critical: true,
    value: seq(...(permitted.length ? [tlv(0xa0, ...subtrees(permitted))] : []), ...(excluded.length ? [tlv(0xa1, ...subtrees(excluded))] : [])),
  };
}
const rfc822 = (s: string) => implicit(1, new TextEncoder().encode(s));
const dnsName = (s: string) => implicit(2, new TextEncoder().encode(s));
/** otherName SmtpUTF8Mailbox (RFC 9598 §3): [0] { type-id, [0] EXPLICIT UTF8String }. */
const smtpUtf8Mailbox = (s: string) => tlv(0xa0, oid(OID.idOnSmtpUtf8Mailbox), tlv(0xa0, tlv(0x0c, new TextEncoder().encode(s))));
const uriName = (s: string) => implicit(6, new TextEncoder().encode(s));

/** A WebCrypto that counts subtle.verify calls. */
function countingCrypto(): { crypto: Crypto; counts: { verify: number } } {
  const counts = { verify: 0 };
  const real = globalThis.crypto.subtle;
  const subtle = new Proxy(real, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (prop === 'verify')
        return (...args: Parameters<SubtleCrypto['verify']>) => {
          counts.verify++;
          return target.verify(...args);
        };
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const c = { subtle, getRandomValues: <T extends ArrayBufferView>(a: T) => globalThis.crypto.getRandomValues(a as never) as T };
  return { crypto: c as unknown as Crypto, counts };
}

function codes(r: ChainResult): [ChainProblemCode, number | undefined][] {
  return r.problems.map((p) => [p.code, p.certificateIndex]);
}

// ---------------------------------------------------------------------------------------------

describe('validateChain with a LocalCA hierarchy', () => {
  let ca: LocalCA;
  let other: LocalCA;
  let leaf: Certificate;
  const opts = (o: Partial<ValidateChainOptions> = {}): ValidateChainOptions => ({
    trustAnchors: [ca.rootCertificate],
    intermediates: [ca.issuingCertificate],
    at: NOW,
    ...o,
  });

  beforeAll(async () => {
    ca = await LocalCA.create(new MemoryCaStorage(), { allowedDomains: ['example.com'] }, { clock: () => NOW });
    other = await LocalCA.create(new MemoryCaStorage(), { allowedDomains: ['example.com'], name: 'Other CA' }, { clock: () => NOW });
    const issued = await ca.issue({ mailbox: 'alice@example.com', publicKey: await exportSpki((await keys('alice')).publicKey) });
    leaf = parseCertificate(issued.certificate);
  });

  it('a 3-level chain is valid: leaf, issuing CA, root', async () => {
    const r = await validateChain(leaf, opts());
    expect(r).toMatchObject({ ok: true, problems: [] });
    expect(r.path).toEqual([leaf, ca.issuingCertificate, ca.rootCertificate]);
    expect(r.anchor).toBe(ca.rootCertificate);
  });

  it('out of order, with unrelated extra certificates, and the root among the intermediates', async () => {
    const r = await validateChain(leaf, {
      ...opts(),
      intermediates: [other.issuingCertificate, ca.rootCertificate, leaf, other.rootCertificate, ca.issuingCertificate],
      trustAnchors: [other.rootCertificate, ca.rootCertificate],
    });
    expect(r.ok).toBe(true);
    expect(r.path.map((c) => c.der)).toEqual([leaf.der, ca.issuingCertificate.der, ca.rootCertificate.der]);
  });

  it('a trust anchor may be the issuing CA alone', async () => {
    const r = await validateChain(leaf, { trustAnchors: [ca.issuingCertificate], at: NOW });
    expect(r.ok).toBe(true);
    expect(r.path).toEqual([leaf, ca.issuingCertificate]);
    expect(r.anchor).toBe(ca.issuingCertificate);
  });

  it('the leaf itself may be a trust anchor (pinned)', async () => {
    const r = await validateChain(leaf, { trustAnchors: [leaf], at: NOW });
    expect(r).toMatchObject({ ok: true, path: [leaf], anchor: leaf });
  });

  it('at before notBefore (the whole LocalCA hierarchy starts at NOW): CHAIN_NOT_YET_VALID on each', async () => {
    const r = await validateChain(leaf, opts({ at: new Date(NOW.getTime() - 1000) }));
    expect(r.ok).toBe(false);
    expect(codes(r)).toEqual([
      ['CHAIN_NOT_YET_VALID', 0],
      ['CHAIN_NOT_YET_VALID', 1],
      ['CHAIN_NOT_YET_VALID', 2],
    ]);
  });

  it('at before the leaf notBefore only: CHAIN_NOT_YET_VALID on the leaf', async () => {
    const later = parseCertificate(
      (await ca.issue({ mailbox: 'later@example.com', publicKey: await exportSpki((await keys('later')).publicKey), notBefore: days(10) })).certificate,
    );
    expect(codes(await validateChain(later, opts({ at: days(5) })))).toEqual([['CHAIN_NOT_YET_VALID', 0]]);
    expect((await validateChain(later, opts({ at: days(10) }))).ok).toBe(true);
  });

  it('at after the leaf notAfter: CHAIN_EXPIRED on the leaf', async () => {
    const r = await validateChain(leaf, opts({ at: new Date(leaf.notAfter.getTime() + 1000) }));
    expect(codes(r)).toEqual([['CHAIN_EXPIRED', 0]]);
    expect(r.path).toHaveLength(3);
  });

  it('notBefore and notAfter are inclusive', async () => {
    expect((await validateChain(leaf, opts({ at: leaf.notAfter }))).ok).toBe(true);
    expect((await validateChain(leaf, opts({ at: leaf.notBefore }))).ok).toBe(true);
  });

  it('without the issuing CA there is no path: CHAIN_NO_PATH_TO_ANCHOR on the leaf', async () => {
    const r = await validateChain(leaf, opts({ intermediates: [] }));
    expect(r).toMatchObject({ ok: false, path: [leaf] });
    expect(codes(r)).toEqual([['CHAIN_NO_PATH_TO_ANCHOR', 0]]);
    expect(r.anchor).toBeUndefined();
  });

  it("another CA's root is no anchor: CHAIN_NO_PATH_TO_ANCHOR where the path stops", async () => {
    const r = await validateChain(leaf, opts({ trustAnchors: [other.rootCertificate] }));
    expect(codes(r)).toEqual([['CHAIN_NO_PATH_TO_ANCHOR', 1]]);
    expect(r.path).toEqual([leaf, ca.issuingCertificate]);
    const withRoot = await validateChain(leaf, opts({ trustAnchors: [other.rootCertificate], intermediates: [ca.issuingCertificate, ca.rootCertificate] }));
    expect(codes(withRoot)).toEqual([['CHAIN_NO_PATH_TO_ANCHOR', 2]]);
    expect(withRoot.path).toEqual([leaf, ca.issuingCertificate, ca.rootCertificate]);
  });

  it('maxPathLength bounds the path, anchor included', async () => {
    expect((await validateChain(leaf, opts({ maxPathLength: 3 }))).ok).toBe(true);
    const r = await validateChain(leaf, opts({ maxPathLength: 2 }));
    expect(codes(r)).toEqual([['CHAIN_NO_PATH_TO_ANCHOR', 1]]);
  });

  it('a second validation of the same chain runs no signature verification', async () => {
    // Copies: the cache is keyed by the parsed certificate's bytes, which earlier tests warmed.
    const fresh = parseCertificate(leaf.der.slice());
    const issuing = parseCertificate(ca.issuingCertificate.der.slice());
    const { crypto: counting, counts } = countingCrypto();
    const o = { trustAnchors: [ca.rootCertificate], intermediates: [issuing], at: NOW, crypto: counting };
    expect((await validateChain(fresh, o)).ok).toBe(true);
    expect(counts.verify).toBe(2);
    expect((await validateChain(fresh, o)).ok).toBe(true);
    expect(counts.verify).toBe(2);
  });

  it('throughput of a cached 3-level chain', async () => {
    const o = opts();
    await validateChain(leaf, o);
    const n = 5000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await validateChain(leaf, o);
    const perSecond = Math.round(n / ((performance.now() - t0) / 1000));
    process.stderr.write(`validateChain, cached 3-level chain: ${perSecond} validations/s\n`);
    expect(perSecond).toBeGreaterThan(1000);
  });

  it('caller mistakes throw ERR_INVALID_INPUT; bad data never does', async () => {
    await expect(validateChain({} as Certificate, opts())).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'leaf' } });
    await expect(validateChain(leaf, { trustAnchors: [ca.rootCertificate] } as unknown as ValidateChainOptions)).rejects.toMatchObject({
      code: 'ERR_INVALID_INPUT',
      details: { field: 'at' },
    });
    await expect(validateChain(leaf, opts({ at: new Date('nonsense') }))).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    await expect(validateChain(leaf, opts({ trustAnchors: [ca.rootCertificate.der as unknown as Certificate] }))).rejects.toMatchObject({
      code: 'ERR_INVALID_INPUT',
      details: { field: 'trustAnchors.0' },
    });
    await expect(validateChain(leaf, { ...opts(), intermediate: [] } as unknown as ValidateChainOptions)).rejects.toMatchObject({
      code: 'ERR_INVALID_INPUT',
    });
    await expect(validateChain(leaf, opts({ maxPathLength: 0 }))).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
  });
});

describe('validateChain: each problem code on a crafted chain', () => {
  let root: Node;
  let inter: Node;
  let leaf: Node;
  const at = NOW;
  const validate = (l: Node | Certificate, inters: (Node | Certificate)[], o: Partial<ValidateChainOptions> = {}) =>
    validateChain('cert' in l ? l.cert : l, {
      trustAnchors: [root.cert],
      intermediates: inters.map((n) => ('cert' in n ? n.cert : n)),
      at,
      ...o,
    });

  beforeAll(async () => {
    root = await mint({ cn: 'Root', ca: true, notBefore: days(-1000), notAfter: days(3000) });
    inter = await mint({ cn: 'Inter', ca: true, issuer: root, pathLen: 0, eku: [OID.idKpEmailProtection] });
    leaf = await mint({ cn: 'leaf', issuer: inter });
  });

  it('the crafted baseline is valid', async () => {
    const r = await validate(leaf, [inter]);
    expect(r).toMatchObject({ ok: true, problems: [] });
    expect(r.path).toHaveLength(3);
  });

  it('CHAIN_SIGNATURE_INVALID: a tampered leaf signature', async () => {
    const bad = await mint({ cn: 'leaf', issuer: inter, patch: tamperSignature });
    const r = await validate(bad, [inter]);
    expect(r.ok).toBe(false);
    expect(codes(r)).toEqual([['CHAIN_SIGNATURE_INVALID', 0]]);
    expect(r.path).toEqual([bad.cert, inter.cert, root.cert]);
  });

  it('CHAIN_EXPIRED and CHAIN_NOT_YET_VALID on the intermediate', async () => {
    const shortInter = await mint({ cn: 'Inter', ca: true, issuer: root, notBefore: days(-10), notAfter: days(10) });
    const l = await mint({ cn: 'leaf', issuer: shortInter, notBefore: days(-20), notAfter: days(100) });
    expect(codes(await validate(l, [shortInter], { at: days(50) }))).toEqual([['CHAIN_EXPIRED', 1]]);
    expect(codes(await validate(l, [shortInter], { at: days(-15) }))).toEqual([['CHAIN_NOT_YET_VALID', 1]]);
    expect((await validate(l, [shortInter], { at: days(5) })).ok).toBe(true);
  });

  it('CHAIN_EXPIRED on the trust anchor itself', async () => {
    const r = await validate(leaf, [inter], { at: new Date(root.cert.notAfter.getTime() + DAY), allowWeakAlgorithms: false });
    expect(codes(r)).toContainEqual(['CHAIN_EXPIRED', 2]);
  });

  it('CHAIN_NOT_A_CA: the issuer has cA=false, or no basicConstraints', async () => {
    const notCa = await mint({ cn: 'NotCA', issuer: root, ku: ['keyCertSign', 'digitalSignature'], eku: [OID.idKpEmailProtection] });
    const l = await mint({ cn: 'leaf', issuer: notCa });
    expect(codes(await validate(l, [notCa]))).toEqual([['CHAIN_NOT_A_CA', 1]]);
    const noBc = await mint({ cn: 'NoBC', issuer: root, noBasicConstraints: true, ku: ['keyCertSign'] });
    const l2 = await mint({ cn: 'leaf', issuer: noBc });
    expect(codes(await validate(l2, [noBc]))).toEqual([['CHAIN_NOT_A_CA', 1]]);
  });

  it('CHAIN_CA_KEY_USAGE: the issuer has keyUsage without keyCertSign', async () => {
    const i = await mint({ cn: 'NoCertSign', ca: true, issuer: root, ku: ['digitalSignature', 'cRLSign'] });
    const l = await mint({ cn: 'leaf', issuer: i });
    expect(codes(await validate(l, [i]))).toEqual([['CHAIN_CA_KEY_USAGE', 1]]);
  });

  it('CHAIN_PATH_LENGTH_EXCEEDED: a CA with pathLen 0 above another CA', async () => {
    const sub = await mint({ cn: 'Sub', ca: true, issuer: inter });
    const l = await mint({ cn: 'leaf', issuer: sub });
    const r = await validate(l, [sub, inter]);
    expect(codes(r)).toEqual([['CHAIN_PATH_LENGTH_EXCEEDED', 2]]);
    expect(r.path).toHaveLength(4);
  });

  it('self-issued intermediates do not count against pathLen (key rollover)', async () => {
    const rolled = await mint({ cn: 'Inter', ca: true, issuer: inter, keys: await keys('Inter-next') });
    const l = await mint({ cn: 'leaf', issuer: rolled });
    const r = await validate(l, [inter, rolled]);
    expect(r.ok).toBe(true);
    expect(r.path).toHaveLength(4);
  });

  it('CHAIN_UNKNOWN_CRITICAL_EXTENSION: on the leaf and on the intermediate', async () => {
    const l = await mint({ cn: 'leaf', issuer: inter, extra: [criticalPrivateExtension] });
    expect(codes(await validate(l, [inter]))).toEqual([['CHAIN_UNKNOWN_CRITICAL_EXTENSION', 0]]);
    const i = await mint({ cn: 'CritInter', ca: true, issuer: root, extra: [criticalPrivateExtension] });
    const l2 = await mint({ cn: 'leaf', issuer: i });
    expect(codes(await validate(l2, [i]))).toEqual([['CHAIN_UNKNOWN_CRITICAL_EXTENSION', 1]]);
    const nonCritical = await mint({ cn: 'leaf', issuer: inter, extra: [{ ...criticalPrivateExtension, critical: false }] });
    expect((await validate(nonCritical, [inter])).ok).toBe(true);
  });

  it('CHAIN_WEAK_ALGORITHM: a SHA-1 signed leaf; accepted with allowWeakAlgorithms', async () => {
    const rsaInter = await mint({ cn: 'RsaInter', ca: true, issuer: root, keys: await keys('RsaInter', 'rsa-2048') });
    const l = await mint({ cn: 'leaf', issuer: rsaInter, patch: resignSha1 });
    expect(l.cert.signatureAlgorithm).toMatchObject({ hash: 'SHA-1' });
    expect(codes(await validate(l, [rsaInter]))).toEqual([['CHAIN_WEAK_ALGORITHM', 0]]);
    expect((await validate(l, [rsaInter], { allowWeakAlgorithms: true })).ok).toBe(true);
    // Weak, and also not signed by that issuer: allowed weak algorithms still catch the bad signature.
    const forged = await mint({ cn: 'leaf', issuer: rsaInter, patch: async (d, k) => tamperSignature(await resignSha1(d, k)) });
    expect(codes(await validate(forged, [rsaInter], { allowWeakAlgorithms: true }))).toEqual([['CHAIN_SIGNATURE_INVALID', 0]]);
  });

  it('CHAIN_WEAK_KEY: an RSA-1024 leaf, and an RSA-1024 trust anchor', async () => {
    const weak = await mint({ cn: 'weakleaf', issuer: inter, keys: await rsaKeys('rsa1024', 1024) });
    expect(codes(await validate(weak, [inter]))).toEqual([['CHAIN_WEAK_KEY', 0]]);
    expect((await validate(weak, [inter], { minRsaBits: 1024 })).ok).toBe(true);
    expect((await validate(weak, [inter], { allowWeakAlgorithms: true })).ok).toBe(true);
    const weakRoot = await mint({ cn: 'WeakRoot', ca: true, keys: await rsaKeys('rsa1024root', 1024) });
    const l = await mint({ cn: 'leaf', issuer: weakRoot });
    expect(codes(await validate(l, [], { trustAnchors: [weakRoot.cert] }))).toEqual([['CHAIN_WEAK_KEY', 1]]);
  });

  it('CHAIN_ALGORITHM_UNSUPPORTED: ecdsa-with-SHA224', async () => {
    const l = await mint({ cn: 'leaf', issuer: inter, patch: async (d) => replaceAll(d, ECDSA_SHA256, ECDSA_SHA224) });
    expect(l.cert.signatureAlgorithm).toHaveProperty('unsupported');
    expect(codes(await validate(l, [inter]))).toEqual([['CHAIN_ALGORITHM_UNSUPPORTED', 0]]);
  });

  it('CHAIN_LEAF_IS_CA', async () => {
    const l = await mint({ cn: 'leafca', issuer: inter, ca: true, ku: ['digitalSignature', 'keyCertSign'], eku: [OID.idKpEmailProtection] });
    expect(codes(await validate(l, [inter]))).toEqual([['CHAIN_LEAF_IS_CA', 0]]);
    expect((await validate(l, [inter], { purpose: 'any' })).ok).toBe(true);
  });

  it('CHAIN_LEAF_KEY_USAGE: keyEncipherment only; nonRepudiation alone is enough', async () => {
    const l = await mint({ cn: 'leaf', issuer: inter, ku: ['keyEncipherment'] });
    expect(codes(await validate(l, [inter]))).toEqual([['CHAIN_LEAF_KEY_USAGE', 0]]);
    const nr = await mint({ cn: 'leaf', issuer: inter, ku: ['nonRepudiation'] });
    expect((await validate(nr, [inter])).ok).toBe(true);
    const none = await mint({ cn: 'leaf', issuer: inter, ku: null });
    expect((await validate(none, [inter])).ok).toBe(true);
  });

  it('CHAIN_LEAF_EXT_KEY_USAGE: serverAuth only; anyExtendedKeyUsage is accepted; purpose any skips it', async () => {
    const l = await mint({ cn: 'leaf', issuer: inter, eku: [OID.idKpServerAuth] });
    expect(codes(await validate(l, [inter]))).toEqual([['CHAIN_LEAF_EXT_KEY_USAGE', 0]]);
    expect((await validate(l, [inter], { purpose: 'any' })).ok).toBe(true);
    const any = await mint({ cn: 'leaf', issuer: inter, eku: [OID.anyExtendedKeyUsage] });
    expect((await validate(any, [inter])).ok).toBe(true);
  });

  it('CHAIN_CA_EXT_KEY_USAGE: an intermediate restricted to serverAuth', async () => {
    const tls = await mint({ cn: 'TlsInter', ca: true, issuer: root, eku: [OID.idKpServerAuth, OID.idKpClientAuth] });
    const l = await mint({ cn: 'leaf', issuer: tls });
    expect(codes(await validate(l, [tls]))).toEqual([['CHAIN_CA_EXT_KEY_USAGE', 1]]);
    expect((await validate(l, [tls], { purpose: 'any' })).ok).toBe(true);
  });

  it('CHAIN_LOOP: two CAs that issue each other, no anchor', async () => {
    const a0 = await mint({ cn: 'LoopA', ca: true });
    const b = await mint({ cn: 'LoopB', ca: true, issuer: a0 });
    const a = await mint({ cn: 'LoopA', ca: true, issuer: b });
    const l = await mint({ cn: 'leaf', issuer: a });
    const r = await validate(l, [b, a]);
    expect(r.ok).toBe(false);
    expect(codes(r)).toEqual([['CHAIN_LOOP', 2]]);
    expect(r.path).toEqual([l.cert, a.cert, b.cert]);
  });

  it('a self-signed leaf that is no anchor: CHAIN_NO_PATH_TO_ANCHOR', async () => {
    const self = await mint({ cn: 'selfie' });
    const r = await validate(self, [self]);
    expect(codes(r)).toEqual([['CHAIN_NO_PATH_TO_ANCHOR', 0]]);
    expect(r.problems[0]!.message).toMatch(/self-issued/);
  });

  it('a trust anchor is taken as given, except for restrictions it states itself', async () => {
    // Its EKU is not checked (the caller chose to trust it)...
    const tlsAnchor = await mint({ cn: 'TlsAnchor', ca: true, issuer: root, eku: [OID.idKpServerAuth] });
    const l = await mint({ cn: 'leaf', issuer: tlsAnchor });
    expect((await validate(l, [], { trustAnchors: [tlsAnchor.cert] })).ok).toBe(true);
    // ...but an anchor that says cA=false cannot issue.
    const eeAnchor = await mint({ cn: 'EeAnchor', ku: ['digitalSignature', 'keyCertSign'] });
    const l2 = await mint({ cn: 'leaf', issuer: eeAnchor });
    expect(codes(await validate(l2, [], { trustAnchors: [eeAnchor.cert] }))).toEqual([['CHAIN_NOT_A_CA', 1]]);
  });

  it('CHAIN_NAME_CONSTRAINT_VIOLATION: directoryName subtrees', async () => {
    const dirCa = await mint({
      cn: 'DirCA',
      ca: true,
      issuer: root,
      extra: [nameConstraintsExt([tlv(0xa4, encodeName([{ type: 'O', value: 'chain test' }]))])],
    });
    expect((await validate(await mint({ cn: 'inside', issuer: dirCa }), [dirCa])).ok).toBe(true);
    const outside = await mintRaw({ cn: 'outside', issuer: dirCa, san: { oid: OID.subjectAltName, critical: false, value: seq(rfc822('o@example.com')) } });
    expect(codes(await validate(outside, [dirCa]))).toEqual([['CHAIN_NAME_CONSTRAINT_VIOLATION', 0]]);
  });

  describe('CHAIN_NAME_CONSTRAINT_VIOLATION', () => {
    let nc: Node;
    beforeAll(async () => {
      nc = await mint({
        cn: 'Constrained',
        ca: true,
        issuer: root,
        extra: [nameConstraintsExt([rfc822('example.com'), rfc822('.example.org'), dnsName('example.com')], [rfc822('ceo@example.com')])],
      });
    });
    it('permitted host and subdomain', async () => {
      expect((await validate(await mint({ cn: 'ok1', issuer: nc, email: 'Bob@EXAMPLE.com' }), [nc])).ok).toBe(true);
      expect((await validate(await mint({ cn: 'ok2', issuer: nc, email: 'bob@mail.example.org' }), [nc])).ok).toBe(true);
    });
    it('outside the permitted subtrees, on the leaf', async () => {
      const r = await validate(await mint({ cn: 'evil', issuer: nc, email: 'bob@evil.test' }), [nc]);
      expect(codes(r)).toEqual([['CHAIN_NAME_CONSTRAINT_VIOLATION', 0]]);
      const r2 = await validate(await mint({ cn: 'org', issuer: nc, email: 'bob@example.org' }), [nc]);
      expect(codes(r2)).toEqual([['CHAIN_NAME_CONSTRAINT_VIOLATION', 0]]);
    });
    it('in an excluded subtree', async () => {
      const r = await validate(await mint({ cn: 'ceo', issuer: nc, email: 'ceo@example.com' }), [nc]);
      expect(codes(r)).toEqual([['CHAIN_NAME_CONSTRAINT_VIOLATION', 0]]);
    });
    it('an SmtpUTF8Mailbox is in the same address space (RFC 9549 §6, RFC 9598 §6): outside the permitted subtrees it violates them (it was not checked at all)', async () => {
      const leaf = (cn: string, ...names: Uint8Array[]) => mintRaw({ cn, issuer: nc, san: { oid: OID.subjectAltName, critical: false, value: seq(...names) } });
      const outside = await leaf('utf8-outside', smtpUtf8Mailbox('ceo@bank.example'));
      expect(certificateMailboxes(outside).emails).toEqual(['ceo@bank.example']);
      expect(codes(await validate(outside, [nc]))).toEqual([['CHAIN_NAME_CONSTRAINT_VIOLATION', 0]]);
      expect(codes(await validate(await leaf('utf8-idn', smtpUtf8Mailbox('jörg@bücher.example')), [nc]))).toEqual([['CHAIN_NAME_CONSTRAINT_VIOLATION', 0]]);
      expect((await validate(await leaf('utf8-inside', smtpUtf8Mailbox('jörg@mail.example.org')), [nc])).ok).toBe(true);
      // Beside a permitted rfc822Name it is still checked.
      expect(codes(await validate(await leaf('utf8-beside', rfc822('bob@example.com'), smtpUtf8Mailbox('ceo@bank.example')), [nc]))).toEqual([['CHAIN_NAME_CONSTRAINT_VIOLATION', 0]]);
    });
    it('IDN domains compare as A-labels: a constraint in A-labels covers the U-label SmtpUTF8Mailbox and rfc822Name, and excludes alike', async () => {
      const idnCa = await mint({ cn: 'IdnCA', ca: true, issuer: root, extra: [nameConstraintsExt([rfc822('xn--bcher-kva.example'), rfc822('.xn--bcher-kva.example')], [rfc822('.MAIL.XN--BCHER-KVA.example')])] });
      const leaf = (cn: string, ...names: Uint8Array[]) => mintRaw({ cn, issuer: idnCa, san: { oid: OID.subjectAltName, critical: false, value: seq(...names) } });
      expect((await validate(await leaf('idn-utf8', smtpUtf8Mailbox('jörg@BÜCHER.example')), [idnCa])).ok).toBe(true);
      expect((await validate(await leaf('idn-ascii', rfc822('joerg@xn--bcher-kva.example')), [idnCa])).ok).toBe(true);
      // A Cyrillic "с" is another domain, outside.
      expect(codes(await validate(await leaf('idn-cyrillic', smtpUtf8Mailbox('jörg@bü\u0441her.example')), [idnCa]))).toEqual([['CHAIN_NAME_CONSTRAINT_VIOLATION', 0]]);
      // Subdomains in U-labels: permitted, and in the excluded subtree given in upper-case A-labels.
      expect((await validate(await leaf('idn-sub-ok', smtpUtf8Mailbox('jörg@other.bücher.example')), [idnCa])).ok).toBe(true);
      expect(codes(await validate(await leaf('idn-sub', smtpUtf8Mailbox('jörg@x.MAIL.bücher.example')), [idnCa]))).toEqual([['CHAIN_NAME_CONSTRAINT_VIOLATION', 0]]);
    });
    // Was: outside — the mapped spelling was lower-cased whole (toLowerCase), making "ΑΣ-1.gr" the ας-1.gr of another
    // domain, which the binding (mailboxKey) and UTS #46 never read: a legitimate name refused, an unrelated subtree applied.
    it('a capital sigma in an SmtpUTF8Mailbox is σ for the constraints too, as for the From binding: cfo@ΑΣ-1.gr is within ασ-1.gr and not in an excluded ας-1.gr', async () => {
      const grCa = await mint({ cn: 'GreekCA', ca: true, issuer: root, extra: [nameConstraintsExt([rfc822('xn---1-b9b6e.gr')], [rfc822('xn---1-b9b2e.gr')])] });
      const leaf = (cn: string, ...names: Uint8Array[]) => mintRaw({ cn, issuer: grCa, san: { oid: OID.subjectAltName, critical: false, value: seq(...names) } });
      const capital = await leaf('gr-capital', smtpUtf8Mailbox('cfo@ΑΣ-1.gr'));
      expect(sameMailbox(certificateMailboxes(capital).emails[0]!, 'cfo@ασ-1.gr')).toBe(true);
      expect((await validate(capital, [grCa])).ok).toBe(true);
      expect(codes(await validate(await leaf('gr-final', smtpUtf8Mailbox('cfo@ας-1.gr')), [grCa]))).toEqual([['CHAIN_NAME_CONSTRAINT_VIOLATION', 0]]);
    });
    it('an SmtpUTF8Mailbox spelled with characters UTS #46 maps (full-width letters, an ideographic full stop) is in the excluded subtree of the domain it maps to', async () => {
      // Not U-labels (IDNA2008 disallows them, RFC 9598 §3), but a client that resolves or answers the
      // address maps them to bank.example, and may show "ｂａｎｋ.example" much like bank.example.
      const exCa = await mint({ cn: 'ExcludingCA', ca: true, issuer: root, extra: [nameConstraintsExt([], [rfc822('bank.example'), rfc822('.bank.example')])] });
      const leaf = (cn: string, ...names: Uint8Array[]) => mintRaw({ cn, issuer: exCa, san: { oid: OID.subjectAltName, critical: false, value: seq(...names) } });
      expect((await validate(await leaf('ex-other', smtpUtf8Mailbox('ceo@other.example')), [exCa])).ok).toBe(true);
      expect(codes(await validate(await leaf('ex-plain', smtpUtf8Mailbox('ceo@bank.example')), [exCa]))).toEqual([['CHAIN_NAME_CONSTRAINT_VIOLATION', 0]]);
      for (const spelled of ['ceo@\uff42\uff41\uff4e\uff4b.example', 'ceo@bank\u3002example', 'ceo@bank\uff0eexample', 'ceo@mail.\uff22ANK.example', 'ceo@bank\uff61example'])
        expect(codes(await validate(await leaf('ex-mapped', smtpUtf8Mailbox(spelled)), [exCa])), spelled).toEqual([['CHAIN_NAME_CONSTRAINT_VIOLATION', 0]]);
    });
    it('an SmtpUTF8Mailbox with an invisible character UTS #46 ignores (a variation selector, a soft hyphen, U+200B, U+034F) is in the excluded subtree of the domain without it', async () => {
      // A From "ceo@bank\uFE0F.example" is shown as ceo@bank.example, and resolves as bank.example.
      const exCa = await mint({ cn: 'ExcludingCA3', ca: true, issuer: root, extra: [nameConstraintsExt([], [rfc822('bank.example'), rfc822('.bank.example')])] });
      const leaf = (cn: string, ...names: Uint8Array[]) => mintRaw({ cn, issuer: exCa, san: { oid: OID.subjectAltName, critical: false, value: seq(...names) } });
      for (const spelled of ['ceo@bank\ufe0f.example', 'ceo@ba\u00adnk.example', 'ceo@bank\u200b.example', 'ceo@mail.ban\u034fk.example', 'ceo@\ufe00bank.example'])
        expect(codes(await validate(await leaf('ex-invisible', smtpUtf8Mailbox(spelled)), [exCa])), spelled).toEqual([['CHAIN_NAME_CONSTRAINT_VIOLATION', 0]]);
    });
    it('a mailbox with whitespace around it, which the From binding trims, is judged trimmed: an excluded subtree is not escaped by a trailing space or U+3000', async () => {
      const exCa = await mint({ cn: 'ExcludingCA2', ca: true, issuer: root, extra: [nameConstraintsExt([], [rfc822('bank.example'), rfc822('boss@other.example')])] });
      const leaf = (cn: string, ...names: Uint8Array[]) => mintRaw({ cn, issuer: exCa, san: { oid: OID.subjectAltName, critical: false, value: seq(...names) } });
      for (const name of [smtpUtf8Mailbox('ceo@bank.example\u3000'), smtpUtf8Mailbox('ceo@bank.example\u00a0'), rfc822('ceo@bank.example '), rfc822('ceo@bank.example\t'), rfc822(' boss@other.example')]) {
        const l = await leaf('ex-space', name);
        // The binding reads it as the excluded mailbox...
        expect(sameMailbox(certificateMailboxes(l).emails[0]!, 'ceo@bank.example') || sameMailbox(certificateMailboxes(l).emails[0]!, 'boss@other.example')).toBe(true);
        // ...so the constraints must too.
        expect(codes(await validate(l, [exCa])), certificateMailboxes(l).emails[0]).toEqual([['CHAIN_NAME_CONSTRAINT_VIOLATION', 0]]);
      }
    });
    it('rfc822Name subtrees against long IDN domains cost one A-label conversion per name, not one per comparison', async () => {
      // 2 SmtpUTF8Mailboxes of ~9.5 kB UTF-8 (50 labels of 63 CJK characters) × 1,000 excluded subtrees:
      // 2,000 comparisons, far below MAX_NAME_CONSTRAINT_CHECKS, each of which converted the whole
      // domain to Punycode again: ~3.5 s of CPU from two certificates well within MAX_CERTIFICATE_BYTES.
      const label = Array.from({ length: 63 }, (_, i) => String.fromCodePoint(0x4e00 + i * 7)).join('');
      const domain = (i: number) => `${Array(50).fill(label).join('.')}.n${i}.example.com`;
      const bigCa = await mint({ cn: 'ManySubtreesCA', ca: true, issuer: root, extra: [nameConstraintsExt([], Array.from({ length: 1000 }, (_, i) => rfc822(`.x${i}.example.net`)))] });
      const long = await mintRaw({ cn: 'long-idn', issuer: bigCa, san: { oid: OID.subjectAltName, critical: false, value: seq(...Array.from({ length: 2 }, (_, i) => smtpUtf8Mailbox(`u@${domain(i)}`))) } });
      const t0 = performance.now();
      expect((await validate(long, [bigCa])).ok).toBe(true);
      expect(performance.now() - t0).toBeLessThan(1500);
    });
    it('a constrained name form the leaf carries but we cannot evaluate (iPAddress) is CHAIN_UNKNOWN_CRITICAL_EXTENSION', async () => {
      const ipCa = await mint({ cn: 'IpCA', ca: true, issuer: root, extra: [nameConstraintsExt([implicit(7, new Uint8Array([192, 0, 2, 0, 255, 255, 255, 0]))])] });
      const plain = await mint({ cn: 'plain', issuer: ipCa });
      expect((await validate(plain, [ipCa])).ok).toBe(true);
      const sanIp: ExtensionInput = { oid: OID.subjectAltName, critical: false, value: seq(rfc822('y@example.com'), implicit(7, new Uint8Array([192, 0, 2, 1]))) };
      const carrier = await mintRaw({ cn: 'carrier', issuer: ipCa, san: sanIp });
      expect(codes(await validate(carrier, [ipCa]))).toEqual([['CHAIN_UNKNOWN_CRITICAL_EXTENSION', 1]]);
    });
    it('URI constraints apply to the host: a host exactly, .domain below it only; hostless URIs are outside', async () => {
      const uriCa = await mint({ cn: 'UriCA', ca: true, issuer: root, extra: [nameConstraintsExt([uriName('example.com'), uriName('.example.org')], [uriName('bad.example.org')])] });
      const withUri = (u: string) => mintRaw({ cn: `u${u.length}${u.charCodeAt(8)}`, issuer: uriCa, san: { oid: OID.subjectAltName, critical: false, value: seq(uriName(u)) } });
      for (const ok of ['https://EXAMPLE.com/path', 'ldap://user@host.example.org:389/o=x', 'http://example.com.'])
        expect((await validate(await withUri(ok), [uriCa])).ok, ok).toBe(true);
      for (const bad of ['https://www.example.com/', 'https://example.org/', 'https://evil.test/', 'https://bad.example.org/', 'mailto:a@example.com', 'http://[2001:db8::1]/', 'http://192.0.2.1/'])
        expect(codes(await validate(await withUri(bad), [uriCa])), bad).toEqual([['CHAIN_NAME_CONSTRAINT_VIOLATION', 0]]);
      // Authorities that parsers read differently are outside too (WHATWG reads evil.test\@example.com as host evil.test).
      for (const odd of ['http://evil.test\\@example.com/', 'http://a@b@example.com/', 'http://ex%61mple.com/', 'http://exa mple.com/']) {
        expect(uriHost(odd), odd).toBeUndefined();
        expect(codes(await validate(await withUri(odd), [uriCa])), odd).toEqual([['CHAIN_NAME_CONSTRAINT_VIOLATION', 0]]);
      }
      expect(uriHost('HTTP://Host.Example.COM.:8080?q')).toBe('host.example.com');
      // A certificate without URIs is not concerned.
      expect((await validate(await mint({ cn: 'plain', issuer: uriCa }), [uriCa])).ok).toBe(true);
    });
    it('directoryName subtrees apply to every subjectAltName directoryName, not only the subject', async () => {
      const dirCa = await mint({ cn: 'DirCA2', ca: true, issuer: root, extra: [nameConstraintsExt([tlv(0xa4, encodeName([{ type: 'O', value: 'chain test' }]))])] });
      const san = (dn: Uint8Array): ExtensionInput => ({ oid: OID.subjectAltName, critical: false, value: seq(rfc822('d@example.com'), tlv(0xa4, dn)) });
      const inside = encodeName([{ type: 'O', value: 'CHAIN  TEST' }, { type: 'CN', value: 'x' }]);
      const outside = encodeName([{ type: 'O', value: 'Elsewhere' }, { type: 'CN', value: 'x' }]);
      // mintRaw's subject (CN only) is outside, so a subject-less check of the SAN needs a subject inside: use the same DN.
      const make = async (dn: Uint8Array) => {
        const k = await keys('dirsan');
        return parseCertificate(
          await signCertificate(
            {
              serial: randomSerial(crypto),
              issuer: dirCa.name,
              subject: encodeName([{ type: 'O', value: 'Chain Test' }, { type: 'CN', value: 'dirsan' }]),
              notBefore: days(-30),
              notAfter: days(300),
              spki: await exportSpki(k.publicKey),
              extensions: [
                { oid: OID.basicConstraints, critical: true, value: basicConstraintsValue(false) },
                san(dn),
                { oid: OID.authorityKeyIdentifier, critical: false, value: seq(implicit(0, dirCa.ski)) },
              ],
            },
            keySigner(dirCa.keys.privateKey, defaultSignatureAlgorithm(dirCa.keys.privateKey)),
          ),
        );
      };
      expect((await validate(await make(inside), [dirCa])).ok).toBe(true);
      expect(codes(await validate(await make(outside), [dirCa]))).toEqual([['CHAIN_NAME_CONSTRAINT_VIOLATION', 0]]);
    });
    it('the most expensive directoryName check (256 large SAN directoryNames × 256 large subtrees, all distinct) stays bounded', async () => {
      const dn = (tag: string, i: number) => encodeName([{ type: 'O', value: 'Chain Test' }, { type: 'OU', value: `${tag} ${i} ${'éß'.repeat(40)}` }, { type: 'CN', value: `${i}` }]);
      const bases = Array.from({ length: 256 }, (_, i) => tlv(0xa4, dn('base', i)));
      // The one subtree every name is inside comes last, so each name is compared with all the others first.
      const wideCa = await mint({ cn: 'WideCA', ca: true, issuer: root, extra: [nameConstraintsExt([...bases.slice(1), tlv(0xa4, encodeName([{ type: 'O', value: 'CHAIN TEST' }]))], [bases[0]!])] });
      const sans = Array.from({ length: 200 }, (_, i) => tlv(0xa4, dn('name', i)));
      const san = (extra: Uint8Array[]) => ({ oid: OID.subjectAltName, critical: false, value: seq(rfc822('w@example.com'), ...sans, ...extra) });
      const subject = encodeName([{ type: 'O', value: 'chain  test' }, { type: 'CN', value: 'wide' }]);
      const t0 = performance.now();
      expect((await validate(await mintRaw({ cn: 'wide', issuer: wideCa, subject, san: san([]) }), [wideCa])).ok).toBe(true);
      // The last SAN directoryName, re-encoded in another case, is in the excluded subtree.
      const last = tlv(0xa4, encodeName([{ type: 'O', value: 'chain test' }, { type: 'OU', value: `BASE 0 ${'\u00c9SS'.repeat(40)}` }, { type: 'CN', value: '0' }]));
      expect(codes(await validate(await mintRaw({ cn: 'wide2', issuer: wideCa, subject, san: san([last]) }), [wideCa]))).toEqual([['CHAIN_NAME_CONSTRAINT_VIOLATION', 0]]);
      expect(performance.now() - t0).toBeLessThan(5000);
    });
    it(`CHAIN_NAME_CONSTRAINTS_LIMIT: more than MAX_NAME_CONSTRAINT_CHECKS (${MAX_NAME_CONSTRAINT_CHECKS}) comparisons stop the check`, async () => {
      const n = Math.ceil(Math.sqrt(MAX_NAME_CONSTRAINT_CHECKS)) + 20;
      const bases = Array.from({ length: n }, (_, i) => dnsName(`n${i}.example.com`));
      const bigCa = await mint({ cn: 'BigCA', ca: true, issuer: root, extra: [nameConstraintsExt([dnsName('example.com'), ...bases])] });
      const names = Array.from({ length: n }, (_, i) => dnsName(`h${i}.example.com`));
      const many = await mintRaw({ cn: 'many', issuer: bigCa, san: { oid: OID.subjectAltName, critical: false, value: seq(rfc822('m@example.com'), ...names) } });
      const t0 = performance.now();
      expect(codes(await validate(many, [bigCa]))).toEqual([['CHAIN_NAME_CONSTRAINTS_LIMIT', 1]]);
      expect(performance.now() - t0).toBeLessThan(5000);
      // The same certificate with a few names is fine.
      const few = await mintRaw({ cn: 'few', issuer: bigCa, san: { oid: OID.subjectAltName, critical: false, value: seq(rfc822('m@example.com'), ...names.slice(0, 3)) } });
      expect((await validate(few, [bigCa])).ok).toBe(true);
    });
  });

  describe('path building', () => {
    it('two issuers with the same name (and SKI); only one verifies', async () => {
      const impostor = await mint({ cn: 'Inter', ca: true, issuer: root, keys: await keys('impostor'), ski: inter.ski, eku: [OID.idKpEmailProtection] });
      const r = await validate(leaf, [impostor, inter]);
      expect(r.ok).toBe(true);
      expect(r.path[1]).toBe(inter.cert);
      // Only the impostor: the failure names the signature.
      expect(codes(await validate(leaf, [impostor]))).toEqual([['CHAIN_SIGNATURE_INVALID', 0]]);
    });

    it('cross-signed: the same CA key certified by two roots, only one trusted', async () => {
      const root2 = await mint({ cn: 'Root2', ca: true, notBefore: days(-1000), notAfter: days(3000) });
      const cross = await mint({ cn: 'Inter', ca: true, issuer: root2, keys: inter.keys, eku: [OID.idKpEmailProtection] });
      for (const order of [
        [cross, inter],
        [inter, cross],
      ]) {
        const r = await validate(leaf, order, { trustAnchors: [root2.cert] });
        expect(r.ok).toBe(true);
        expect(r.path).toEqual([leaf.cert, cross.cert, root2.cert]);
      }
    });

    it('prefers a valid path over an expired alternative', async () => {
      const expiredCopy = await mint({ cn: 'Inter', ca: true, issuer: root, keys: inter.keys, notBefore: days(-400), notAfter: days(-1) });
      const r = await validate(leaf, [expiredCopy, inter]);
      expect(r.ok).toBe(true);
      expect(r.path[1]).toBe(inter.cert);
      // With only the expired one, the best failed path is reported.
      expect(codes(await validate(leaf, [expiredCopy]))).toEqual([['CHAIN_EXPIRED', 1]]);
    });

    it('an intermediate with the same name and key as an anchor is replaced by the anchor', async () => {
      const rootCopy = await mint({ cn: 'Root', ca: true, keys: root.keys, notBefore: days(-100), notAfter: days(-50) });
      const r = await validate(leaf, [inter, rootCopy]);
      expect(r.ok).toBe(true);
      expect(r.anchor).toBe(root.cert);
    });

    it('hostile pool: many same-name CAs signing each other stays within the signature budget', async () => {
      const pool: Node[] = [];
      const seed = await mint({ cn: 'Hydra', ca: true, keys: await keys('hydra-0') });
      pool.push(seed);
      for (let i = 1; i < 12; i++) pool.push(await mint({ cn: 'Hydra', ca: true, issuer: pool[i - 1]!, keys: await keys(`hydra-${i}`) }));
      const l = await mint({ cn: 'leaf', issuer: pool[11]! });
      const { crypto: counting, counts } = countingCrypto();
      const t0 = performance.now();
      const r = await validate(l, pool, { crypto: counting, maxPathLength: 64 });
      expect(r.ok).toBe(false);
      expect(counts.verify).toBeLessThanOrEqual(MAX_SIGNATURE_CHECKS);
      expect(performance.now() - t0).toBeLessThan(5000);
    });
  });

  it('every problem code is covered by a test above', () => {
    // Kept in sync by hand: a new code needs a crafted chain here.
    expect(Object.keys(chainProblemCodes).sort()).toEqual(
      [
        'CHAIN_ALGORITHM_UNSUPPORTED',
        'CHAIN_CA_EXT_KEY_USAGE',
        'CHAIN_CA_KEY_USAGE',
        'CHAIN_EXPIRED',
        'CHAIN_LEAF_EXT_KEY_USAGE',
        'CHAIN_LEAF_IS_CA',
        'CHAIN_LEAF_KEY_USAGE',
        'CHAIN_LOOP',
        'CHAIN_NAME_CONSTRAINT_VIOLATION',
        'CHAIN_NAME_CONSTRAINTS_LIMIT',
        'CHAIN_NOT_A_CA',
        'CHAIN_NOT_YET_VALID',
        'CHAIN_NO_PATH_TO_ANCHOR',
        'CHAIN_PATH_LENGTH_EXCEEDED',
        // CHAIN_REVOKED and CHAIN_REVOCATION_UNKNOWN (validateChain's crls): test/revocation/crl-path.test.ts.
        'CHAIN_REVOCATION_UNKNOWN',
        'CHAIN_REVOKED',
        'CHAIN_SIGNATURE_INVALID',
        'CHAIN_UNKNOWN_CRITICAL_EXTENSION',
        'CHAIN_WEAK_ALGORITHM',
        'CHAIN_WEAK_KEY',
        // Policy processing: crafted chains in chain-policy.test.ts.
        'CHAIN_NO_ACCEPTABLE_POLICY',
        'CHAIN_POLICY_EXTENSION_INVALID',
        'CHAIN_POLICY_MAPPING_ANY_POLICY',
        'CHAIN_POLICY_TOO_COMPLEX',
      ].sort(),
    );
  });

  it('property: random subsets and orders of a pool never throw and stay within the signature budget', async () => {
    const extraInter = await mint({ cn: 'Inter', ca: true, issuer: root, keys: await keys('impostor2') });
    const a0 = await mint({ cn: 'LoopA', ca: true });
    const b = await mint({ cn: 'LoopB', ca: true, issuer: a0 });
    const a = await mint({ cn: 'LoopA', ca: true, issuer: b });
    const sub = await mint({ cn: 'Sub', ca: true, issuer: inter });
    const subLeaf = await mint({ cn: 'leaf', issuer: sub });
    const tampered = await mint({ cn: 'leaf', issuer: inter, patch: tamperSignature });
    const pool = [root, inter, leaf, extraInter, a0, a, b, sub, subLeaf, tampered].map((n) => n.cert);
    await fc.assert(
      fc.asyncProperty(
        fc.nat(pool.length - 1),
        fc.shuffledSubarray(pool),
        fc.shuffledSubarray(pool, { maxLength: 3 }),
        fc.integer({ min: -2000, max: 4000 }),
        fc.integer({ min: 1, max: 10 }),
        async (leafIndex, intermediates, trustAnchors, dayOffset, maxPathLength) => {
          const { crypto: counting, counts } = countingCrypto();
          const r = await validateChain(pool[leafIndex]!, { trustAnchors, intermediates, at: days(dayOffset), maxPathLength, crypto: counting });
          expect(counts.verify).toBeLessThanOrEqual(MAX_SIGNATURE_CHECKS);
          expect(r.path[0]).toBe(pool[leafIndex]);
          expect(r.path.length).toBeLessThanOrEqual(maxPathLength);
          expect(r.ok).toBe(r.problems.length === 0);
          if (r.ok) expect(trustAnchors).toContain(r.anchor);
        },
      ),
      { numRuns: 150 },
    );
  });
});

/** Like mint, but with a hand-made subjectAltName. */
async function mintRaw(o: { cn: string; issuer: Node; san: ExtensionInput; subject?: Uint8Array }): Promise<Certificate> {
  const k = await keys(o.cn);
  const spki = await exportSpki(k.publicKey);
  const der = await signCertificate(
    {
      serial: randomSerial(crypto),
      issuer: o.issuer.name,
      subject: o.subject ?? encodeName([{ type: 'CN', value: o.cn }]),
      notBefore: days(-30),
      notAfter: days(300),
      spki,
      extensions: [
        { oid: OID.basicConstraints, critical: true, value: basicConstraintsValue(false) },
        { oid: OID.keyUsage, critical: true, value: keyUsageValue(['digitalSignature']) },
        { oid: OID.extKeyUsage, critical: false, value: extKeyUsageValue([OID.idKpEmailProtection]) },
        o.san,
        { oid: OID.authorityKeyIdentifier, critical: false, value: seq(implicit(0, o.issuer.ski)) },
      ],
    },
    keySigner(o.issuer.keys.privateKey, defaultSignatureAlgorithm(o.issuer.keys.privateKey)),
  );
  return parseCertificate(der);
}

// ---------------------------------------------------------------------------------------------

describeWithPeers('validateChain agrees with openssl verify -purpose smimesign', ['openssl'], () => {
  const t = tempDir();
  afterAll(() => t.cleanup());

  interface Case {
    name: string;
    leaf: () => Promise<Node>;
    intermediates: () => Promise<Node[]>;
    at?: Date;
    expectOk: boolean;
  }
  let root: Node;
  let inter: Node;
  beforeAll(async () => {
    root = await mint({ cn: 'OSSL Root', ca: true, notBefore: days(-1000), notAfter: days(3000) });
    inter = await mint({ cn: 'OSSL Inter', ca: true, issuer: root, eku: [OID.idKpEmailProtection, OID.idKpClientAuth] });
  });
  const viaInter = (o: Partial<MintOptions> = {}) => () => mint({ cn: 'osslleaf', issuer: inter, ...o });
  const justInter = async () => [inter];

  const cases: Case[] = [
    { name: 'valid 3-level chain', leaf: viaInter(), intermediates: justInter, expectOk: true },
    // The impostor has its own SKI: OpenSSL does not backtrack when the SKI matches too (we do).
    { name: 'valid, with an impostor issuer of the same name first', leaf: viaInter(), expectOk: true,
      intermediates: async () => [await mint({ cn: 'OSSL Inter', ca: true, issuer: root, keys: await keys('ossl-impostor') }), inter] },
    { name: 'leaf expired', leaf: viaInter(), intermediates: justInter, at: days(400), expectOk: false },
    { name: 'leaf not yet valid', leaf: viaInter(), intermediates: justInter, at: days(-31), expectOk: false },
    { name: 'tampered leaf signature', leaf: viaInter({ patch: tamperSignature }), intermediates: justInter, expectOk: false },
    { name: 'missing intermediate', leaf: viaInter(), intermediates: async () => [], expectOk: false },
    { name: 'leaf EKU serverAuth', leaf: viaInter({ eku: [OID.idKpServerAuth] }), intermediates: justInter, expectOk: false },
    { name: 'leaf keyUsage keyEncipherment only', leaf: viaInter({ ku: ['keyEncipherment'] }), intermediates: justInter, expectOk: false },
    { name: 'leaf with an unknown critical extension', leaf: viaInter({ extra: [criticalPrivateExtension] }), intermediates: justInter, expectOk: false },
    { name: 'RSA-1024 leaf', leaf: viaInter({ keys: undefined }), intermediates: justInter, expectOk: false },
    { name: 'intermediate is not a CA', expectOk: false,
      intermediates: async () => [await notCa()],
      leaf: async () => mint({ cn: 'osslleaf', issuer: await notCa() }) },
    { name: 'intermediate without keyCertSign', expectOk: false,
      intermediates: async () => [await nodeOnce('nokcs', () => mint({ cn: 'OSSL NoKCS', ca: true, issuer: root, ku: ['cRLSign'] }))],
      leaf: async () => mint({ cn: 'osslleaf', issuer: await nodeOnce('nokcs', () => mint({ cn: 'OSSL NoKCS', ca: true, issuer: root, ku: ['cRLSign'] })) }) },
    { name: 'intermediate EKU serverAuth only', expectOk: false,
      intermediates: async () => [await nodeOnce('tls', () => mint({ cn: 'OSSL TLS', ca: true, issuer: root, eku: [OID.idKpServerAuth] }))],
      leaf: async () => mint({ cn: 'osslleaf', issuer: await nodeOnce('tls', () => mint({ cn: 'OSSL TLS', ca: true, issuer: root, eku: [OID.idKpServerAuth] })) }) },
    { name: 'pathLen 0 exceeded', expectOk: false,
      intermediates: async () => [await pl0(), await plSub()],
      leaf: async () => mint({ cn: 'osslleaf', issuer: await plSub() }) },
    { name: 'SHA-1 signed leaf', expectOk: false,
      intermediates: async () => [await rsaInter()],
      leaf: async () => mint({ cn: 'osslleaf', issuer: await rsaInter(), patch: resignSha1 }) },
    { name: 'SHA-256 leaf under an RSA intermediate', expectOk: true,
      intermediates: async () => [await rsaInter()],
      leaf: async () => mint({ cn: 'osslleaf', issuer: await rsaInter() }) },
    { name: 'name constraints: permitted', expectOk: true,
      intermediates: async () => [await ncInter()],
      leaf: async () => mint({ cn: 'osslleaf', issuer: await ncInter(), email: 'a@example.com' }) },
    { name: 'name constraints: violated', expectOk: false,
      intermediates: async () => [await ncInter()],
      leaf: async () => mint({ cn: 'osslleaf', issuer: await ncInter(), email: 'a@evil.test' }) },
  ];

  const once = new Map<string, Promise<Node>>();
  function nodeOnce(key: string, make: () => Promise<Node>): Promise<Node> {
    let p = once.get(key);
    if (!p) once.set(key, (p = make()));
    return p;
  }
  const notCa = () => nodeOnce('notca', () => mint({ cn: 'OSSL NotCA', issuer: root, ku: ['keyCertSign'] }));
  const pl0 = () => nodeOnce('pl0', () => mint({ cn: 'OSSL PL0', ca: true, issuer: root, pathLen: 0 }));
  const plSub = async () => nodeOnce('plsub', async () => mint({ cn: 'OSSL PLSub', ca: true, issuer: await pl0() }));
  const rsaInter = () => nodeOnce('rsa', async () => mint({ cn: 'OSSL RSA', ca: true, issuer: root, keys: await keys('ossl-rsa', 'rsa-2048') }));
  const ncInter = () => nodeOnce('nc', () => mint({ cn: 'OSSL NC', ca: true, issuer: root, extra: [nameConstraintsExt([rfc822('example.com')])] }));

  it(`${cases.length} chains: our ok equals openssl's exit status`, async () => {
    const weakLeaf = cases.find((c) => c.name === 'RSA-1024 leaf')!;
    weakLeaf.leaf = async () => mint({ cn: 'osslweak', issuer: inter, keys: await rsaKeys('ossl-1024', 1024) });
    const rows: string[] = [];
    for (const c of cases) {
      const l = await c.leaf();
      const inters = await c.intermediates();
      const at = c.at ?? NOW;
      const ours = await validateChain(l.cert, { trustAnchors: [root.cert], intermediates: inters.map((n) => n.cert), at });
      writeFileSync(t.path('anchors.pem'), certificateToPem(root.cert));
      writeFileSync(t.path('inter.pem'), inters.map((n) => certificateToPem(n.cert)).join(''));
      writeFileSync(t.path('leaf.pem'), certificateToPem(l.cert));
      // auth_level 2 (112-bit security) is the OpenSSL setting that refuses SHA-1 and RSA < 2048,
      // like our defaults.
      const args = ['verify', '-auth_level', '2', '-purpose', 'smimesign', '-attime', String(Math.floor(at.getTime() / 1000)), '-CAfile', t.path('anchors.pem')];
      if (inters.length) args.push('-untrusted', t.path('inter.pem'));
      args.push(t.path('leaf.pem'));
      const ossl = runStatus('openssl', args);
      rows.push(`${c.name}: ours=${ours.ok} ${ours.problems.map((p) => p.code).join(',')} openssl=${ossl.status} ${(ossl.stdout + ossl.stderr).split('\n').find((x) => /error/.test(x)) ?? ''}`);
      expect({ name: c.name, ok: ours.ok }).toEqual({ name: c.name, ok: c.expectOk });
      expect({ name: c.name, openssl: ossl.status === 0 }).toEqual({ name: c.name, openssl: c.expectOk });
    }
    process.stderr.write(`${rows.join('\n')}\n`);
  });
});
