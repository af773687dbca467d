/**
 * The revocation checker end to end: LocalCA publishes OCSP and CRLs over real HTTP on 127.0.0.1,
 * the checker asks, caches and applies the fail policy; verifyMessage reports it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCaHandler } from '../../src/ca/http.js';
import { LocalCA } from '../../src/ca/local-ca.js';
import { MemoryCaStorage } from '../../src/ca/storage.js';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { serveHttp, type RunningServer } from '../../src/node/http-server.js';
import { RevocationChecker } from '../../src/revocation/checker.js';
import { validateOcspResponse } from '../../src/revocation/ocsp-validate.js';
import { fromBase64 } from '../../src/internal/bytes.js';
import { signMessage, verifyMessage } from '../../src/smime/index.js';

let now = new Date('2026-11-01T10:00:00Z');
const clock = () => now;

interface Published {
  ca: LocalCA;
  server: RunningServer;
  hits: { ocsp: number; crl: number };
  /** Replace the handler (to simulate outages, slowness, junk). */
  override?: (req: Request) => Promise<Response> | undefined;
}

async function publish(options: { ocspResponder?: 'ca' | 'delegated' } = {}): Promise<Published> {
  const p = { hits: { ocsp: 0, crl: 0 } } as Published;
  let handler: ((r: Request) => Promise<Response>) | undefined;
  p.server = await serveHttp(
    async (req) => {
      const path = new URL(req.url).pathname;
      if (path.startsWith('/ocsp')) p.hits.ocsp++;
      if (path.startsWith('/crl')) p.hits.crl++;
      const o = p.override?.(req);
      if (o) return o;
      return handler!(req);
    },
    { port: 0 },
  );
  p.ca = await LocalCA.create(new MemoryCaStorage(), { allowedDomains: ['example.com'], baseUrl: p.server.url }, { clock, ...options });
  handler = createCaHandler(p.ca, { clock });
  return p;
}

async function leafOf(ca: LocalCA, mailbox: string, keys: CryptoKeyPair): Promise<Certificate> {
  return parseCertificate((await ca.issue({ mailbox, publicKey: await exportSpki(keys.publicKey) })).certificate);
}

describe('RevocationChecker against LocalCA over HTTP', () => {
  let pub: Published;
  let keys: CryptoKeyPair;
  beforeAll(async () => {
    pub = await publish();
    keys = await generateKeyPair('ec-p256');
  });
  afterAll(() => pub.server.close());

  it('good by OCSP, then from the cache without a request', async () => {
    const leaf = await leafOf(pub.ca, 'good@example.com', keys);
    const checker = new RevocationChecker({ clock });
    const before = pub.hits.ocsp;
    const first = await checker.check(leaf, pub.ca.issuingCertificate, now);
    expect(first).toMatchObject({ status: 'good', source: 'ocsp', method: 'ocsp', url: `${pub.server.url}/ocsp` });
    expect(Date.parse(first.nextUpdate!) - now.getTime()).toBe(10 * 60_000);
    const second = await checker.check(leaf, pub.ca.issuingCertificate, now);
    expect(second).toMatchObject({ status: 'good', source: 'cache', method: 'ocsp' });
    expect(pub.hits.ocsp - before).toBe(1);
  });

  it('evidence: an OCSP result carries the signed response, which re-validates later; a CRL result its cRLNumber', async () => {
    const leaf = await leafOf(pub.ca, 'evidence@example.com', keys);
    const r = await new RevocationChecker({ clock }).check(leaf, pub.ca.issuingCertificate, now);
    const der = fromBase64(r.ocspResponse!)!;
    const again = await validateOcspResponse(der, { certificate: leaf, issuer: pub.ca.issuingCertificate, at: now });
    expect([again.ok, again.status]).toEqual([true, 'good']);
    const tampered = der.slice();
    tampered[tampered.length - 5]! ^= 1;
    expect((await validateOcspResponse(tampered, { certificate: leaf, issuer: pub.ca.issuingCertificate, at: now })).ok).toBe(false);
    const c = new RevocationChecker({ clock });
    const fresh = await c.check(leaf, pub.ca.issuingCertificate, now);
    const cached = await c.check(leaf, pub.ca.issuingCertificate, now);
    expect([cached.source, cached.ocspResponse]).toEqual(['cache', fresh.ocspResponse]);
    const crl = await new RevocationChecker({ clock, order: ['crl'] }).check(leaf, pub.ca.issuingCertificate, now);
    expect(crl.crlNumber).toMatch(/^\d+$/);
    expect(crl.ocspResponse).toBeUndefined();
  });

  it('revoked by OCSP with time and reason; revoked after `at` is said so', async () => {
    const leaf = await leafOf(pub.ca, 'revoked@example.com', keys);
    await pub.ca.revoke({ serialNumber: leaf.serialNumber, reason: 'keyCompromise' });
    const r = await new RevocationChecker({ clock }).check(leaf, pub.ca.issuingCertificate, now);
    expect(r).toMatchObject({ status: 'revoked', reason: 'keyCompromise', revokedAt: now.toISOString(), source: 'ocsp' });
    const earlier = await new RevocationChecker({ clock }).check(leaf, pub.ca.issuingCertificate, new Date(now.getTime() - 86_400_000));
    expect(earlier).toMatchObject({ status: 'revoked', revokedAfterAt: true });
  });

  it('CRL only: one fetch serves every serial until nextUpdate', async () => {
    const a = await leafOf(pub.ca, 'crl-a@example.com', keys);
    const b = await leafOf(pub.ca, 'crl-b@example.com', keys);
    await pub.ca.revoke({ serialNumber: b.serialNumber, reason: 'superseded' });
    const checker = new RevocationChecker({ clock, order: ['crl'] });
    const before = pub.hits.crl;
    expect(await checker.check(a, pub.ca.issuingCertificate, now)).toMatchObject({ status: 'good', source: 'crl', url: `${pub.server.url}/crl/issuing.crl` });
    expect(await checker.check(b, pub.ca.issuingCertificate, now)).toMatchObject({ status: 'revoked', reason: 'superseded', source: 'crl' });
    expect(pub.hits.crl - before).toBe(1);
  });

  it('the issuing CA is checked against the root CRL', async () => {
    const r = await new RevocationChecker({ clock }).check(pub.ca.issuingCertificate, pub.ca.rootCertificate, now);
    expect(r).toMatchObject({ status: 'good', method: 'crl', url: `${pub.server.url}/crl/root.crl` });
  });

  it('falls back from a failing OCSP responder to the CRL', async () => {
    const leaf = await leafOf(pub.ca, 'fallback@example.com', keys);
    pub.override = (req) => (new URL(req.url).pathname.startsWith('/ocsp') ? Promise.resolve(new Response('down', { status: 503 })) : undefined);
    try {
      const r = await new RevocationChecker({ clock }).check(leaf, pub.ca.issuingCertificate, now);
      expect(r).toMatchObject({ status: 'good', source: 'crl' });
    } finally {
      pub.override = undefined;
    }
  });

  it('nothing reachable: unchecked, with every reason', async () => {
    const leaf = await leafOf(pub.ca, 'down@example.com', keys);
    pub.override = () => Promise.resolve(new Response('down', { status: 500 }));
    try {
      const r = await new RevocationChecker({ clock }).check(leaf, pub.ca.issuingCertificate, now);
      expect(r.status).toBe('unchecked');
      expect(r.error).toMatch(/ocsp .*HTTP 500.*; crl .*HTTP 500/);
    } finally {
      pub.override = undefined;
    }
  });

  it('times out a responder that does not answer, and refuses oversized answers', async () => {
    const leaf = await leafOf(pub.ca, 'slow@example.com', keys);
    pub.override = (req) =>
      new URL(req.url).pathname.startsWith('/ocsp')
        ? new Promise<Response>((resolve) => setTimeout(() => resolve(new Response('late')), 3000))
        : Promise.resolve(new Response(new Uint8Array(3 * 1024 * 1024), { headers: { 'content-type': 'application/pkix-crl' } }));
    try {
      // Two checkers: on a loaded machine the 3 MiB CRL could also hit a 300 ms timeout first.
      const started = Date.now();
      const slow = await new RevocationChecker({ clock, timeoutMs: 300, order: ['ocsp'] }).check(leaf, pub.ca.issuingCertificate, now);
      expect(Date.now() - started).toBeLessThan(2500);
      expect(slow.status).toBe('unchecked');
      expect(slow.error).toMatch(/no answer within 300 ms/);
      const big = await new RevocationChecker({ clock, timeoutMs: 20_000, order: ['crl'], maxCrlBytes: 1024 * 1024 }).check(leaf, pub.ca.issuingCertificate, now);
      expect(big.status).toBe('unchecked');
      expect(big.error).toMatch(/over the 1048576-byte limit/);
    } finally {
      pub.override = undefined;
    }
  });

  it('a stale answer (the checker clock is past nextUpdate) is not used', async () => {
    const leaf = await leafOf(pub.ca, 'stale@example.com', keys);
    const later = () => new Date(now.getTime() + 60 * 60_000);
    const r = await new RevocationChecker({ clock: later, order: ['ocsp'] }).check(leaf, pub.ca.issuingCertificate, now);
    expect(r.status).toBe('unchecked');
    expect(r.error).toMatch(/OCSP_STALE/);
  });

  it('bounds concurrency', async () => {
    const leaves = await Promise.all(Array.from({ length: 6 }, (_, i) => leafOf(pub.ca, `par${i}@example.com`, keys)));
    let active = 0;
    let peak = 0;
    pub.override = (req) => {
      if (!new URL(req.url).pathname.startsWith('/ocsp')) return undefined;
      active++;
      peak = Math.max(peak, active);
      return new Promise<Response>((resolve) => setTimeout(() => resolve(new Response('x', { status: 503 })), 100)).finally(() => active--);
    };
    try {
      await Promise.all(leaves.map((l) => new RevocationChecker({ clock, concurrency: 2, order: ['ocsp'] }).check(l, pub.ca.issuingCertificate, now)));
      const shared = new RevocationChecker({ clock, concurrency: 2, order: ['ocsp'] });
      peak = 0;
      await Promise.all(leaves.map((l) => shared.check(l, pub.ca.issuingCertificate, now)));
      expect(peak).toBeLessThanOrEqual(2);
    } finally {
      pub.override = undefined;
    }
  });
});

describe('LocalCA with a delegated OCSP responder', () => {
  it('answers through a responder certificate the checker accepts', async () => {
    const pub = await publish({ ocspResponder: 'delegated' });
    try {
      const keys = await generateKeyPair('ec-p256');
      const leaf = await leafOf(pub.ca, 'delegated@example.com', keys);
      const r = await new RevocationChecker({ clock, order: ['ocsp'] }).check(leaf, pub.ca.issuingCertificate, now);
      expect(r).toMatchObject({ status: 'good', source: 'ocsp' });
    } finally {
      await pub.server.close();
    }
  });
});

describe('verifyMessage with revocation', () => {
  let pub: Published;
  let signed: Uint8Array;
  let signedRevoked: Uint8Array;
  let revokedSerial: string;
  beforeAll(async () => {
    pub = await publish();
    const keys = await generateKeyPair('ec-p256');
    const good = await leafOf(pub.ca, 'payments@example.com', keys);
    const bad = await leafOf(pub.ca, 'payments@example.com', keys);
    revokedSerial = bad.serialNumber;
    const msg = { from: 'payments@example.com', to: 'ap@example.com', subject: 'Pay', text: 'Pay 10 EUR.' };
    signed = await signMessage(msg, { key: keys.privateKey, certificate: good, chain: [pub.ca.issuingCertificate] }, { clock });
    signedRevoked = await signMessage(msg, { key: keys.privateKey, certificate: bad, chain: [pub.ca.issuingCertificate] }, { clock });
    await pub.ca.revoke({ serialNumber: revokedSerial, reason: 'keyCompromise' });
  });
  afterAll(() => pub.server.close());
  const verify = (m: Uint8Array, policy: 'off' | 'soft-fail' | 'hard-fail', checker = new RevocationChecker({ clock })) =>
    verifyMessage(m, { trustAnchors: [pub.ca.rootCertificate], clock, revocation: { policy, checker } });

  it('a good signer is valid, with the status of each certificate', async () => {
    const v = await verify(signed, 'hard-fail');
    expect(v.valid).toBe(true);
    expect(v.signers[0]!.revocation!.map((r) => [r.status, r.method])).toEqual([
      ['good', 'ocsp'],
      ['good', 'crl'],
    ]);
  });

  it('a revoked signer is not valid, under either policy', async () => {
    for (const policy of ['soft-fail', 'hard-fail'] as const) {
      const v = await verify(signedRevoked, policy);
      expect(v.valid).toBe(false);
      expect(v.problems.map((p) => p.code)).toEqual(['SMIME_CERTIFICATE_REVOKED']);
      expect(v.problems[0]!.message).toContain('keyCompromise');
    }
    expect((await verify(signedRevoked, 'off')).valid).toBe(true);
  });

  it('responder down: soft-fail stays valid with a warning, hard-fail is not valid', async () => {
    pub.override = () => Promise.resolve(new Response('down', { status: 503 }));
    try {
      const soft = await verify(signed, 'soft-fail');
      expect(soft.valid).toBe(true);
      expect(soft.warnings.map((w) => w.code)).toContain('SMIME_REVOCATION_UNCHECKED');
      const hard = await verify(signed, 'hard-fail');
      expect(hard.valid).toBe(false);
      expect(hard.problems.map((p) => p.code)).toContain('SMIME_REVOCATION_UNAVAILABLE');
    } finally {
      pub.override = undefined;
    }
  });

  it('a second verification within nextUpdate makes no request', async () => {
    const checker = new RevocationChecker({ clock });
    await verify(signed, 'hard-fail', checker);
    const hits = { ...pub.hits };
    const again = await verify(signed, 'hard-fail', checker);
    expect(again.valid).toBe(true);
    expect(again.signers[0]!.revocation!.every((r) => r.source === 'cache')).toBe(true);
    expect(pub.hits).toEqual(hits);
  });
});
