/**
 * verifyMessage's revocation wiring: no network unless asked, the call's own clock, crypto, fetch
 * and cache (finding 11), and hard-fail with nothing to ask (finding 10).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createCaHandler } from '../../src/ca/http.js';
import { LocalCA } from '../../src/ca/local-ca.js';
import { MemoryCaStorage } from '../../src/ca/storage.js';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { exportSpki, generateKeyPair, importPrivateKey } from '../../src/keys/index.js';
import { defaultSignatureAlgorithm } from '../../src/keys/algorithms.js';
import { keySigner } from '../../src/certs/builder.js';
import { createCrl, type CrlEntryInput } from '../../src/revocation/crl-create.js';
import { createOcspResponse, parseOcspRequest } from '../../src/revocation/ocsp.js';
import { serveHttp, type RunningServer } from '../../src/node/http-server.js';
import { MemoryRevocationCache, RevocationChecker, SUPPLIED_CRL } from '../../src/revocation/checker.js';
import { signMessage, verifyMessage } from '../../src/smime/index.js';

// Far from wall time on purpose: an OCSP answer made "now" by this clock is not fresh at wall time.
const FAR = new Date('2031-03-01T10:00:00Z');
const clock = () => FAR;
const msg = { from: 'payments@example.com', to: 'ap@example.com', subject: 'Pay', text: 'Pay 10 EUR.' };

async function leafOf(ca: LocalCA, keys: CryptoKeyPair): Promise<Certificate> {
  return parseCertificate((await ca.issue({ mailbox: 'payments@example.com', publicKey: await exportSpki(keys.publicKey) })).certificate);
}

afterEach(() => vi.restoreAllMocks());

describe('finding 11: revocation only when the call asks, with the call’s clock, crypto, fetch and cache', () => {
  let server: RunningServer;
  let ca: LocalCA;
  let signed: Uint8Array;
  let hits = 0;
  beforeAll(async () => {
    let handler: ((r: Request) => Promise<Response>) | undefined;
    server = await serveHttp(async (r) => (hits++, handler!(r)), { port: 0 });
    ca = await LocalCA.create(new MemoryCaStorage(), { allowedDomains: ['example.com'], baseUrl: server.url }, { clock });
    handler = createCaHandler(ca, { clock });
    const keys = await generateKeyPair('ec-p256');
    signed = await signMessage(msg, { key: keys.privateKey, certificate: await leafOf(ca, keys), chain: [ca.issuingCertificate] }, { clock });
  });
  afterAll(() => server.close());

  it('a verifyMessage call without revocation options makes no fetch at all (finding 11)', async () => {
    const spy = vi.spyOn(globalThis, 'fetch');
    const before = hits;
    const v = await verifyMessage(signed, { trustAnchors: [ca.rootCertificate], clock });
    expect(v.valid).toBe(true);
    expect(v.signers[0]!.revocation).toBeUndefined();
    expect(spy).toHaveBeenCalledTimes(0);
    expect(hits).toBe(before);
  });

  it('policy off, or an empty revocation option, fetches nothing either (finding 11)', async () => {
    const spy = vi.spyOn(globalThis, 'fetch');
    for (const revocation of [{ policy: 'off' as const }, {}])
      expect((await verifyMessage(signed, { trustAnchors: [ca.rootCertificate], clock, revocation })).valid).toBe(true);
    expect(spy).toHaveBeenCalledTimes(0);
  });

  it('a signer whose signature does not verify makes no revocation request: a sender with a public certificate alone cannot make the filter fetch', async () => {
    // Anyone holds the certificates of signed mail they received: before, a forged message carrying up to 16 of them
    // (each with its chain) made one OCSP request, or a CRL download, per certificate, though no signature held.
    const forged = new TextEncoder().encode(new TextDecoder().decode(signed).replace('Pay 10 EUR.', 'Pay 99 EUR.'));
    const before = hits;
    const v = await verifyMessage(forged, { trustAnchors: [ca.rootCertificate], clock, revocation: { policy: 'hard-fail', fetch: globalThis.fetch } });
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toContain('SMIME_SIGNATURE_INVALID');
    expect(v.signers[0]!.chain!.ok).toBe(true);
    expect(v.signers[0]!.revocation).toBeUndefined();
    expect(hits).toBe(before);
  });

  it('an OCSP answer fresh at the call’s clock but not at wall time is used: the checker runs on the call’s clock (finding 11)', async () => {
    const spy = vi.spyOn(globalThis, 'fetch');
    const calls: string[] = [];
    const myFetch = (url: string, init?: RequestInit) => (calls.push(url), fetch(url, init));
    spy.mockClear();
    const v = await verifyMessage(signed, { trustAnchors: [ca.rootCertificate], clock, revocation: { policy: 'hard-fail', fetch: myFetch } });
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
    expect(v.signers[0]!.revocation!.map((r) => [r.status, r.method])).toEqual([
      ['good', 'ocsp'],
      ['good', 'crl'],
    ]);
    expect(calls).toEqual([`${server.url}/ocsp`, `${server.url}/crl/root.crl`]);
    // Only the call's fetch went out (the spy saw it because myFetch calls the global one).
    expect(spy).toHaveBeenCalledTimes(2);
  });

  it('the call’s crypto checks the OCSP and CRL signatures (finding 11)', async () => {
    let verifies = 0;
    const subtle = new Proxy(globalThis.crypto.subtle, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target) as unknown;
        if (prop === 'verify') return (...a: Parameters<SubtleCrypto['verify']>) => (verifies++, target.verify(...a));
        return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(target) : v;
      },
    });
    const crypto = { getRandomValues: <T extends ArrayBufferView<ArrayBuffer>>(a: T) => globalThis.crypto.getRandomValues(a), randomUUID: () => globalThis.crypto.randomUUID(), subtle } as unknown as Crypto;
    await verifyMessage(signed, { trustAnchors: [ca.rootCertificate], clock, crypto });
    const without = verifies;
    verifies = 0;
    const v = await verifyMessage(signed, { trustAnchors: [ca.rootCertificate], clock, crypto, revocation: { policy: 'hard-fail', fetch } });
    expect(v.valid).toBe(true);
    expect(verifies).toBeGreaterThanOrEqual(without + 2); // + the OCSP response and the root CRL
  });

  it('the cache is the caller’s: a second call with the same cache asks nothing (finding 11)', async () => {
    const cache = new MemoryRevocationCache(100, clock);
    const calls: string[] = [];
    const myFetch = (url: string, init?: RequestInit) => (calls.push(url), fetch(url, init));
    await verifyMessage(signed, { trustAnchors: [ca.rootCertificate], clock, revocation: { fetch: myFetch, cache } });
    expect(cache.size).toBe(2);
    const n = calls.length;
    const again = await verifyMessage(signed, { trustAnchors: [ca.rootCertificate], clock, revocation: { fetch: myFetch, cache } });
    expect(again.signers[0]!.revocation!.every((r) => r.source === 'cache')).toBe(true);
    expect(calls.length).toBe(n);
    // Without the cache, the call starts from nothing: no module-wide cache answers for it.
    await verifyMessage(signed, { trustAnchors: [ca.rootCertificate], clock, revocation: { fetch: myFetch } });
    expect(calls.length).toBe(n + 2);
  });

  it('a checker and checker options together are a caller mistake', async () => {
    await expect(
      verifyMessage(signed, { trustAnchors: [ca.rootCertificate], revocation: { checker: new RevocationChecker({ fetch }), fetch } }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
  });
});

describe('finding 10: hard-fail means "status known and good"', () => {
  let ca: LocalCA;
  let keys: CryptoKeyPair;
  let signed: Uint8Array;
  let leaf: Certificate;
  beforeAll(async () => {
    // No baseUrl: the certificates name no OCSP responder and no CRL.
    ca = await LocalCA.create(new MemoryCaStorage(), { allowedDomains: ['example.com'] }, { clock });
    keys = await generateKeyPair('ec-p256');
    leaf = await leafOf(ca, keys);
    signed = await signMessage(msg, { key: keys.privateKey, certificate: leaf, chain: [ca.issuingCertificate] }, { clock });
  });

  it('hard-fail with a certificate that names no OCSP responder and no CRL is not valid (finding 10)', async () => {
    const spy = vi.spyOn(globalThis, 'fetch');
    const v = await verifyMessage(signed, { trustAnchors: [ca.rootCertificate], clock, revocation: { policy: 'hard-fail' } });
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_REVOCATION_NO_SOURCES', 'SMIME_REVOCATION_NO_SOURCES']);
    expect(v.problems[0]!.message).toContain('names no OCSP responder and no CRL');
    expect(spy).toHaveBeenCalledTimes(0);
  });

  it('soft-fail with nothing to ask stays valid, with a warning', async () => {
    const v = await verifyMessage(signed, { trustAnchors: [ca.rootCertificate], clock, revocation: { policy: 'soft-fail' } });
    expect(v.valid).toBe(true);
    expect(v.warnings.map((w) => w.code)).toEqual(['SMIME_REVOCATION_UNCHECKED', 'SMIME_REVOCATION_UNCHECKED']);
  });

  it('hard-fail with nothing to ask is valid only when the caller allows it explicitly (allowNoSources)', async () => {
    const v = await verifyMessage(signed, { trustAnchors: [ca.rootCertificate], clock, revocation: { policy: 'hard-fail', allowNoSources: true } });
    expect(v.valid).toBe(true);
    expect(v.problems).toEqual([]);
    expect(v.signers[0]!.revocation!.every((r) => r.noSources)).toBe(true);
  });

  it('hard-fail with CRLs the caller gives: good when they say so, revoked when they say so, nothing fetched', async () => {
    const spy = vi.spyOn(globalThis, 'fetch');
    const crls = [await ca.createCrl(), (await ca.rootCrl())!];
    const good = await verifyMessage(signed, { trustAnchors: [ca.rootCertificate], clock, revocation: { policy: 'hard-fail', crls } });
    expect(good.problems).toEqual([]);
    expect(good.valid).toBe(true);
    expect(good.signers[0]!.revocation!.map((r) => [r.status, r.url])).toEqual([
      ['good', SUPPLIED_CRL],
      ['good', SUPPLIED_CRL],
    ]);
    const other = await leafOf(ca, keys);
    await ca.revoke({ serialNumber: other.serialNumber, reason: 'keyCompromise' });
    const signedOther = await signMessage(msg, { key: keys.privateKey, certificate: other, chain: [ca.issuingCertificate] }, { clock });
    const after = [await ca.createCrl(), (await ca.rootCrl())!];
    const bad = await verifyMessage(signedOther, { trustAnchors: [ca.rootCertificate], clock, revocation: { policy: 'hard-fail', crls: after } });
    expect(bad.valid).toBe(false);
    expect(bad.problems.map((p) => p.code)).toEqual(['SMIME_CERTIFICATE_REVOKED']);
    // Only the root CRL, for a leaf: the leaf's own issuer has no CRL given, so its status is not known.
    const partial = await verifyMessage(signed, { trustAnchors: [ca.rootCertificate], clock, revocation: { policy: 'hard-fail', crls: [crls[1]!] } });
    expect(partial.problems.map((p) => p.code)).toEqual(['SMIME_REVOCATION_UNAVAILABLE']);
    expect(spy).toHaveBeenCalledTimes(0);
  });

  it('top-level crls (beside intermediates): checked in the chain, offline and strictly, with no revocation policy at all', async () => {
    const spy = vi.spyOn(globalThis, 'fetch');
    const crls = [await ca.createCrl(), (await ca.rootCrl())!];
    const good = await verifyMessage(signed, { trustAnchors: [ca.rootCertificate], clock, crls });
    expect(good.problems).toEqual([]);
    expect(good.valid).toBe(true);
    expect(good.signers[0]!.revocation).toBeUndefined();
    const other = await leafOf(ca, keys);
    await ca.revoke({ serialNumber: other.serialNumber, reason: 'keyCompromise' });
    const signedOther = await signMessage(msg, { key: keys.privateKey, certificate: other, chain: [ca.issuingCertificate] }, { clock });
    const bad = await verifyMessage(signedOther, { trustAnchors: [ca.rootCertificate], clock, crls: [await ca.createCrl(), (await ca.rootCrl())!] });
    expect(bad.valid).toBe(false);
    expect(bad.problems.map((p) => p.code)).toEqual(['SMIME_CHAIN_INVALID']);
    expect(bad.signers[0]!.chain!.problems.map((p) => [p.code, p.certificateIndex, p.revocation?.reason])).toEqual([['CHAIN_REVOKED', 0, 'keyCompromise']]);
    // Only the root CRL: the leaf's status is unknown, and that makes the chain invalid (no soft-fail here).
    const partial = await verifyMessage(signed, { trustAnchors: [ca.rootCertificate], clock, crls: [crls[1]!] });
    expect(partial.signers[0]!.chain!.problems.map((p) => p.code)).toEqual(['CHAIN_REVOCATION_UNKNOWN']);
    expect(partial.valid).toBe(false);
    await expect(verifyMessage(signed, { trustAnchors: [ca.rootCertificate], clock, crls: ['not a CRL'] })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'crls.0' } });
    expect(spy).toHaveBeenCalledTimes(0);
  });

  it('revocation sources without a policy mean soft-fail, not a silent "off" (ATTACK-REPORT minor)', async () => {
    const spy = vi.spyOn(globalThis, 'fetch');
    const other = await leafOf(ca, keys);
    await ca.revoke({ serialNumber: other.serialNumber, reason: 'keyCompromise' });
    const signedOther = await signMessage(msg, { key: keys.privateKey, certificate: other, chain: [ca.issuingCertificate] }, { clock });
    const crls = [await ca.createCrl(), (await ca.rootCrl())!];
    const v = await verifyMessage(signedOther, { trustAnchors: [ca.rootCertificate], clock, revocation: { crls } });
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_CERTIFICATE_REVOKED']);
    // allowNoSources alone asks for checking too: soft-fail, whose "nothing to ask" it accepts.
    const w = await verifyMessage(signed, { trustAnchors: [ca.rootCertificate], clock, revocation: { allowNoSources: true } });
    expect(w.valid).toBe(true);
    expect(w.signers[0]!.revocation!.every((r) => r.noSources)).toBe(true);
    expect(spy).toHaveBeenCalledTimes(0); // these certificates name nothing to fetch
  });

  it("policy 'off' together with revocation sources is refused with ERR_INVALID_INPUT (ATTACK-REPORT minor)", async () => {
    const crls = [await ca.createCrl()];
    for (const extra of [{ crls }, { ocspUrls: ['http://ocsp.example.test'] }, { allowNoSources: true }])
      await expect(
        verifyMessage(signed, { trustAnchors: [ca.rootCertificate], clock, revocation: { policy: 'off', ...extra } }),
        Object.keys(extra)[0],
      ).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', message: expect.stringMatching(/policy 'off' checks nothing/) });
    // A checker, fetch or cache with 'off' is a switch turned off on purpose: nothing checked.
    for (const extra of [{ fetch }, { cache: new MemoryRevocationCache() }, { checker: new RevocationChecker({ fetch }) }]) {
      const v = await verifyMessage(signed, { trustAnchors: [ca.rootCertificate], clock, revocation: { policy: 'off', ...extra } });
      expect(v.signers[0]!.revocation, Object.keys(extra)[0]).toBeUndefined();
    }
  });

  it('an unreadable CRL given is a caller error, before any check', async () => {
    await expect(
      verifyMessage(signed, { trustAnchors: [ca.rootCertificate], clock, revocation: { policy: 'hard-fail', crls: [new Uint8Array([1, 2, 3])] } }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
  });

  it('the checker asks ocspUrls for a certificate that names no responder', async () => {
    let handler: ((r: Request) => Promise<Response>) | undefined;
    const server = await serveHttp(async (r) => handler!(r), { port: 0 });
    try {
      handler = createCaHandler(ca, { clock });
      const checker = new RevocationChecker({ clock, fetch, ocspUrls: [`${server.url}/ocsp`], order: ['ocsp'] });
      const r = await checker.check(leaf, ca.issuingCertificate, FAR);
      expect(r).toMatchObject({ status: 'good', method: 'ocsp', url: `${server.url}/ocsp` });
      expect(() => new RevocationChecker({ fetch, ocspUrls: ['ldap://x'] })).toThrow(/not an http/);
    } finally {
      await server.close();
    }
  });
});

describe('verifying at an earlier time: a revocation after `at` for a compromised key is fatal', () => {
  it('a CA certificate revoked for cACompromise after `at` makes the signer not valid, as keyCompromise of the leaf does; superseded stays a warning', async () => {
    const storage = new MemoryCaStorage();
    const signedAt = FAR;
    const now = new Date(FAR.getTime() + 2 * 86_400_000);
    const ca = await LocalCA.create(storage, { allowedDomains: ['example.com'] }, { clock: () => signedAt });
    const keys = await generateKeyPair('ec-p256');
    const leaf = await leafOf(ca, keys);
    const signed = await signMessage(msg, { key: keys.privateKey, certificate: leaf, chain: [ca.issuingCertificate] }, { clock: () => signedAt });
    const signerOf = async (path: string) => {
      const key = await importPrivateKey(new TextDecoder().decode((await storage.read(path))!));
      return keySigner(key, defaultSignatureAlgorithm(key));
    };
    const crl = async (issuer: Certificate, keyPath: string, entries: CrlEntryInput[]) =>
      new Uint8Array(await createCrl({ issuer, signer: await signerOf(keyPath), thisUpdate: now, nextUpdate: new Date(now.getTime() + 86_400_000), crlNumber: 9n, entries }));
    const revokedAfter = new Date(signedAt.getTime() + 86_400_000);
    const fetch = async () => new Response('no', { status: 404 });
    const verify = async (root: CrlEntryInput[], issuing: CrlEntryInput[]) =>
      verifyMessage(signed, {
        trustAnchors: [ca.rootCertificate],
        at: signedAt,
        clock: () => now,
        revocation: { policy: 'hard-fail', fetch, crls: [await crl(ca.rootCertificate, 'keys/root.key.pem', root), await crl(ca.issuingCertificate, 'keys/issuing.key.pem', issuing)] },
      });
    const issuingCa = (reason: CrlEntryInput['reason']) => [{ serialNumber: ca.issuingCertificate.serialNumber, revocationDate: revokedAfter, reason }];
    // Before: only the leaf's keyCompromise counted; whoever holds a compromised CA key issues a leaf and backdates it as well.
    const caCompromise = await verify(issuingCa('cACompromise'), []);
    expect(caCompromise.valid).toBe(false);
    expect(caCompromise.problems.map((p) => p.code)).toContain('SMIME_CERTIFICATE_REVOKED');
    const leafCompromise = await verify([], [{ serialNumber: leaf.serialNumber, revocationDate: revokedAfter, reason: 'keyCompromise' }]);
    expect(leafCompromise.valid).toBe(false);
    const superseded = await verify(issuingCa('superseded'), []);
    expect(superseded.valid).toBe(true);
    expect(superseded.warnings.map((w) => w.code)).toContain('SMIME_REVOKED_AFTER_SIGNING');
  });

  it('without `at`, a revocation time a little ahead of the clock (the CA’s clock runs fast) is revoked, not "after signing"', async () => {
    const storage = new MemoryCaStorage();
    const ca = await LocalCA.create(storage, { allowedDomains: ['example.com'] }, { clock });
    const keys = await generateKeyPair('ec-p256');
    const leaf = await leafOf(ca, keys);
    const signed = await signMessage(msg, { key: keys.privateKey, certificate: leaf, chain: [ca.issuingCertificate] }, { clock });
    const key = await importPrivateKey(new TextDecoder().decode((await storage.read('keys/issuing.key.pem'))!));
    const fetch = async (_url: string, init?: RequestInit) =>
      new Response(
        new Uint8Array(
          await createOcspResponse({
            request: parseOcspRequest(new Uint8Array(init!.body as Uint8Array)),
            signer: { certificate: ca.issuingCertificate, signer: keySigner(key, defaultSignatureAlgorithm(key)) },
            issuer: ca.issuingCertificate,
            // Revoked just now by a CA whose clock is two minutes ahead.
            lookup: () => ({ status: 'revoked', revokedAt: new Date(FAR.getTime() + 2 * 60_000), reason: 'affiliationChanged' }),
            thisUpdate: FAR,
            nextUpdate: new Date(FAR.getTime() + 600_000),
            producedAt: FAR,
          }),
        ),
      );
    // soft-fail: the issuing CA's own check (this responder does not answer for it) is only a warning.
    const v = await verifyMessage(signed, { trustAnchors: [ca.rootCertificate], clock, revocation: { policy: 'soft-fail', fetch, ocspUrls: ['http://ocsp.example/'] } });
    // Before: `at` defaulted to the clock, the revocation was "after" it, and the verdict stayed valid with a warning.
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toContain('SMIME_CERTIFICATE_REVOKED');
    expect(v.signers[0]!.revocation![0]!.revokedAfterAt).toBeUndefined();
    // Verifying at an earlier time on purpose keeps the distinction.
    const earlier = await verifyMessage(signed, { trustAnchors: [ca.rootCertificate], clock, at: FAR, revocation: { policy: 'soft-fail', fetch, ocspUrls: ['http://ocsp.example/'] } });
    expect(earlier.warnings.map((w) => w.code)).toContain('SMIME_REVOKED_AFTER_SIGNING');
  });
});
