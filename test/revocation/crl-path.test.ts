/**
 * RFC 5280 §6.3 CRL processing through validateChain's `crls` (src/revocation/crl-path.ts): every
 * CRL here is a real, correctly signed CRL except for the one property under test.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { keySigner } from '../../src/certs/builder.js';
import type { Certificate } from '../../src/certs/certificate.js';
import { validateChain, type ChainResult } from '../../src/certs/chain.js';
import { encodeName } from '../../src/certs/name.js';
import { MailPkiError } from '../../src/errors.js';
import { explicit, oid, seq, tlv } from '../../src/internal/der.js';
import { OID } from '../../src/internal/oids.js';
import { defaultSignatureAlgorithm } from '../../src/keys/algorithms.js';
import { createCrl } from '../../src/revocation/crl-create.js';
import { parseCrl } from '../../src/revocation/crl-parse.js';
import { MAX_SUPPLIED_CRLS, checkCertificateWithCrls } from '../../src/revocation/crl-path.js';
import { NOW, REVOKED_AT, days, dn, makeCrl, mint, type CrlSpec, type Node } from './crl-path-fixtures.js';

let root: Node;
let ca: Node;
let leaf: Node;
let rootCrl: Uint8Array;

beforeAll(async () => {
  root = await mint({ cn: 'Root', ca: true });
  ca = await mint({ cn: 'Issuing CA', ca: true, issuer: root });
  leaf = await mint({ cn: 'alice', issuer: ca });
  rootCrl = await makeCrl({ issuer: root });
});

function validate(crls: (Uint8Array | string)[] | undefined, more: { intermediates?: Certificate[]; leaf?: Certificate } = {}): Promise<ChainResult> {
  return validateChain(more.leaf ?? leaf.cert, {
    trustAnchors: [root.cert],
    intermediates: [ca.cert, ...(more.intermediates ?? [])],
    at: NOW,
    ...(crls && { crls }),
  });
}

const codes = (r: ChainResult) => r.problems.map((p) => `${p.code}@${p.certificateIndex}`);

describe('validateChain with crls: RFC 5280 §6.3 for every certificate but the anchor', () => {
  it('without crls nothing is checked; with current CRLs of both CAs the chain is valid', async () => {
    expect((await validate(undefined)).ok).toBe(true);
    const r = await validate([rootCrl, await makeCrl({ issuer: ca })]);
    expect(codes(r)).toEqual([]);
    expect(r.ok).toBe(true);
  });

  it('a CRL made by createCrl is read the same way (PEM and parsed inputs too)', async () => {
    const der = await createCrl({
      issuer: ca.cert,
      signer: keySigner(ca.keys.privateKey, defaultSignatureAlgorithm(ca.keys.privateKey)),
      thisUpdate: days(-1),
      nextUpdate: days(6),
      crlNumber: 7n,
      entries: [{ serialNumber: leaf.cert.serialNumber, revocationDate: REVOKED_AT, reason: 'keyCompromise' }],
    });
    const r = await validateChain(leaf.cert, { trustAnchors: [root.cert], intermediates: [ca.cert], at: NOW, crls: [parseCrl(rootCrl), der] });
    expect(codes(r)).toEqual(['CHAIN_REVOKED@0']);
    expect(r.problems[0]!.revocation).toEqual({ revocationDate: REVOKED_AT, reason: 'keyCompromise' });
    expect(r.problems[0]!.message).toBe(`revoked on ${REVOKED_AT.toISOString()} (reason keyCompromise) according to the CRL of "CN=Issuing CA,O=CRL Path Test"`);
  });

  it('two current CRLs of the same issuer, an older one not listing the leaf and a newer one listing it: revoked, in either order', async () => {
    const older = await makeCrl({ issuer: ca, number: 7, thisUpdate: days(-12), nextUpdate: days(5) });
    const newer = await makeCrl({ issuer: ca, number: 8, thisUpdate: days(-1), nextUpdate: days(6), entries: [{ cert: leaf.cert, reason: 'keyCompromise' }] });
    // Before: the first complete CRL covering every reason ended the search, so the older one (given first) said good.
    for (const crls of [[rootCrl, older, newer], [rootCrl, newer, older]]) {
      const r = await validate(crls);
      expect(codes(r)).toEqual(['CHAIN_REVOKED@0']);
      const s = await checkCertificateWithCrls(leaf.cert, ca.cert, { crls: crls.map((c) => parseCrl(c)), at: NOW, crypto: globalThis.crypto });
      expect([s.status, s.crl?.crlNumber]).toEqual(['revoked', 8n]);
    }
  });

  it('a revoked intermediate is CHAIN_REVOKED at index 1', async () => {
    const r = await validate([await makeCrl({ issuer: root, entries: [{ cert: ca.cert, reason: 'cACompromise' }] }), await makeCrl({ issuer: ca })]);
    expect(codes(r)).toEqual(['CHAIN_REVOKED@1']);
    expect(r.ok).toBe(false);
  });

  it('no CRL for a certificate, or none at all, is CHAIN_REVOCATION_UNKNOWN (hard: the caller gave the CRLs as the source)', async () => {
    expect(codes(await validate([rootCrl]))).toEqual(['CHAIN_REVOCATION_UNKNOWN@0']);
    const none = await validate([]);
    expect(codes(none)).toEqual(['CHAIN_REVOCATION_UNKNOWN@0', 'CHAIN_REVOCATION_UNKNOWN@1']);
    expect(none.problems[0]!.message).toBe('no revocation status from the CRLs given: no CRL was given');
  });

  it('a tampered, expired, not yet valid CRL or one with an unknown critical extension is not used', async () => {
    const cases: [CrlSpec, RegExp][] = [
      [{ issuer: ca, tamper: true }, /CRL_SIGNATURE_INVALID/],
      [{ issuer: ca, thisUpdate: days(-10), nextUpdate: days(-2) }, /expired at/],
      [{ issuer: ca, thisUpdate: days(1), nextUpdate: days(6) }, /not yet valid/],
      [{ issuer: ca, unknownCritical: true }, /critical extension\(s\) not processed: 1\.2\.3\.4\.98/],
      [{ issuer: ca, entries: [{ cert: root.cert, criticalExtra: true }] }, /critical extension\(s\) not processed: 1\.2\.3\.4\.99/],
      [{ issuer: ca, signer: root }, /CRL_SIGNATURE_INVALID|no certificate of its issuer/],
    ];
    for (const [spec, why] of cases) {
      const r = await validate([rootCrl, await makeCrl(spec)]);
      expect(codes(r), String(why)).toEqual(['CHAIN_REVOCATION_UNKNOWN@0']);
      expect(r.problems[0]!.message).toMatch(why);
    }
  });

  it('a tampered CRL that lists the leaf does not make it revoked, and does not make it good either', async () => {
    const r = await validate([rootCrl, await makeCrl({ issuer: ca, entries: [{ cert: leaf.cert }], tamper: true })]);
    expect(codes(r)).toEqual(['CHAIN_REVOCATION_UNKNOWN@0']);
  });

  it('an issuer without cRLSign in keyUsage cannot sign CRLs (PKITS 4.7.4 shape)', async () => {
    const noCrlSign = await mint({ cn: 'No cRLSign CA', ca: true, issuer: root, ku: ['keyCertSign'] });
    const l = await mint({ cn: 'bob', issuer: noCrlSign });
    const r = await validateChain(l.cert, { trustAnchors: [root.cert], intermediates: [noCrlSign.cert], at: NOW, crls: [rootCrl, await makeCrl({ issuer: noCrlSign })] });
    expect(codes(r)).toEqual(['CHAIN_REVOCATION_UNKNOWN@0']);
    expect(r.problems[0]!.message).toMatch(/keyUsage without cRLSign/);
  });

  describe('a separate CRL-signing key (RFC 5280 §6.3.3 (f), PKITS 4.4.19–21 shape)', () => {
    let crlSigner: Node;
    beforeAll(async () => {
      // Same name as the issuing CA, another key, certified by the root for cRLSign only.
      crlSigner = await mint({ cn: 'Issuing CA', name: ca.name, issuer: root, ca: true, ku: ['cRLSign'] });
    });

    it('counts when the CRL signer has a valid path to the same anchor', async () => {
      const crl = await makeCrl({ issuer: ca, signer: crlSigner, entries: [{ cert: leaf.cert, reason: 'superseded' }] });
      const r = await validate([rootCrl, crl], { intermediates: [crlSigner.cert] });
      expect(codes(r)).toEqual(['CHAIN_REVOKED@0']);
      expect(r.problems[0]!.revocation!.reason).toBe('superseded');
      expect(codes(await validate([rootCrl, await makeCrl({ issuer: ca, signer: crlSigner })], { intermediates: [crlSigner.cert] }))).toEqual([]);
    });

    it('does not count when the CRL signer certificate is missing, revoked, or has no status', async () => {
      const crl = await makeCrl({ issuer: ca, signer: crlSigner });
      expect(codes(await validate([rootCrl, crl]))).toEqual(['CHAIN_REVOCATION_UNKNOWN@0']);
      const signerRevoked = await makeCrl({ issuer: root, entries: [{ cert: crlSigner.cert, reason: 'keyCompromise' }] });
      const r = await validate([signerRevoked, crl], { intermediates: [crlSigner.cert] });
      expect(codes(r)).toEqual(['CHAIN_REVOCATION_UNKNOWN@0']);
      expect(r.problems[0]!.message).toMatch(/has no valid path to the trust anchor, or is revoked/);
      // No root CRL: the signer's own status is unknown, and so is the intermediate's.
      expect(codes(await validate([crl], { intermediates: [crlSigner.cert] }))).toEqual(['CHAIN_REVOCATION_UNKNOWN@0', 'CHAIN_REVOCATION_UNKNOWN@1']);
    });

    it('a CRL signer under another anchor does not count', async () => {
      const otherRoot = await mint({ cn: 'Other Root', ca: true });
      const impostor = await mint({ cn: 'Issuing CA', name: ca.name, issuer: otherRoot, ca: true, ku: ['cRLSign'] });
      const crl = await makeCrl({ issuer: ca, signer: impostor });
      const r = await validateChain(leaf.cert, {
        trustAnchors: [root.cert, otherRoot.cert],
        intermediates: [ca.cert, impostor.cert],
        at: NOW,
        crls: [rootCrl, crl, await makeCrl({ issuer: otherRoot })],
      });
      expect(codes(r)).toEqual(['CHAIN_REVOCATION_UNKNOWN@0']);
    });
  });

  describe('scope: onlySomeReasons, onlyContains*, distribution points', () => {
    const reasonsIdp = (bits: number[]) => {
      const bytes = new Uint8Array(2);
      for (const b of bits) bytes[b >> 3]! |= 0x80 >> (b & 7);
      return seq(tlv(0x83, Uint8Array.of(7, ...bytes)));
    };

    it('two partitions by reason together cover every reason; one alone shows revoked but never good', async () => {
      const kc = await makeCrl({ issuer: ca, idp: reasonsIdp([1]) });
      const rest = await makeCrl({ issuer: ca, idp: reasonsIdp([2, 3, 4, 5, 6, 7, 8]), number: 2 });
      expect(codes(await validate([rootCrl, kc, rest]))).toEqual([]);
      const one = await validate([rootCrl, kc]);
      expect(codes(one)).toEqual(['CHAIN_REVOCATION_UNKNOWN@0']);
      expect(one.problems[0]!.message).toMatch(/for every reason \(it lists only revocations for keyCompromise \(onlySomeReasons\)\)/);
      const listed = await makeCrl({ issuer: ca, idp: reasonsIdp([1]), entries: [{ cert: leaf.cert, reason: 'keyCompromise' }] });
      expect(codes(await validate([rootCrl, listed]))).toEqual(['CHAIN_REVOKED@0']);
    });

    it('onlyContainsCACerts does not cover the leaf; onlyContainsUserCerts does not cover the CA', async () => {
      const caOnly = await makeCrl({ issuer: ca, idp: seq(tlv(0x82, Uint8Array.of(0xff))) });
      expect(codes(await validate([rootCrl, caOnly]))).toEqual(['CHAIN_REVOCATION_UNKNOWN@0']);
      const userOnlyRoot = await makeCrl({ issuer: root, idp: seq(tlv(0x81, Uint8Array.of(0xff))) });
      expect(codes(await validate([userOnlyRoot, await makeCrl({ issuer: ca })]))).toEqual(['CHAIN_REVOCATION_UNKNOWN@1']);
    });

    it('a distribution point by directory name, and a nameRelativeToCRLIssuer, match the CRL issuingDistributionPoint', async () => {
      const dpName = encodeName([{ type: 'O', value: 'CRL Path Test' }, { type: 'CN', value: 'Issuing CA' }, { type: 'OU', value: 'partition 1' }]);
      const fullName = explicit(0, tlv(0xa0, explicit(4, dpName)));
      const l = await mint({ cn: 'carol', issuer: ca, extra: [{ oid: OID.cRLDistributionPoints, critical: false, value: seq(seq(fullName)) }] });
      const matching = await makeCrl({ issuer: ca, idp: seq(fullName) });
      expect(codes(await validate([rootCrl, matching], { leaf: l.cert }))).toEqual([]);
      // The same point written relative to the CRL issuer: [1] RDN appended to the issuer's name.
      const rdn = explicit(0, tlv(0xa1, seq(oid(OID.organizationalUnitName), tlv(0x0c, new TextEncoder().encode('partition 1')))));
      const relative = await makeCrl({ issuer: ca, idp: seq(rdn) });
      expect(codes(await validate([rootCrl, relative], { leaf: l.cert }))).toEqual([]);
      const other = await makeCrl({ issuer: ca, idp: seq(explicit(0, tlv(0xa0, explicit(4, dn('partition 2'))))) });
      expect(codes(await validate([rootCrl, other], { leaf: l.cert }))).toEqual(['CHAIN_REVOCATION_UNKNOWN@0']);
      // A partition CRL says nothing about a certificate that names no distribution point.
      expect(codes(await validate([rootCrl, matching]))).toEqual(['CHAIN_REVOCATION_UNKNOWN@0']);
    });
  });

  describe('indirect CRLs and cRLIssuer (RFC 5280 §5.2.5, §5.3.3)', () => {
    let authority: Node;
    let l: Node;
    beforeAll(async () => {
      authority = await mint({ cn: 'CRL Authority', issuer: root, ca: true, ku: ['cRLSign'] });
      const dp = seq(seq(tlv(0xa2, explicit(4, authority.name))));
      l = await mint({ cn: 'dave', issuer: ca, extra: [{ oid: OID.cRLDistributionPoints, critical: false, value: dp }] });
    });
    const indirect = seq(tlv(0x84, Uint8Array.of(0xff)));

    it("an entry under the certificate's issuer (certificateIssuer) revokes it; the same serial under another issuer does not", async () => {
      const revoked = await makeCrl({ issuer: authority, idp: indirect, entries: [{ cert: l.cert, certificateIssuer: ca.name, reason: 'keyCompromise' }] });
      const r = await validate([rootCrl, revoked], { leaf: l.cert, intermediates: [authority.cert] });
      expect(codes(r)).toEqual(['CHAIN_REVOKED@0']);
      const elsewhere = await makeCrl({ issuer: authority, idp: indirect, entries: [{ cert: l.cert, certificateIssuer: dn('Someone Else') }] });
      expect(codes(await validate([rootCrl, elsewhere], { leaf: l.cert, intermediates: [authority.cert] }))).toEqual([]);
      // Without certificateIssuer an entry belongs to the CRL issuer, not to the leaf's issuer.
      const own = await makeCrl({ issuer: authority, idp: indirect, entries: [{ cert: l.cert }] });
      expect(codes(await validate([rootCrl, own], { leaf: l.cert, intermediates: [authority.cert] }))).toEqual([]);
    });

    it('a CRL of the cRLIssuer that is not marked indirect does not count; nor does the issuer’s own CRL', async () => {
      const direct = await makeCrl({ issuer: authority });
      expect(codes(await validate([rootCrl, direct], { leaf: l.cert, intermediates: [authority.cert] }))).toEqual(['CHAIN_REVOCATION_UNKNOWN@0']);
      // §6.3.3: CRLs of the certificate issuer still count after the distribution points.
      expect(codes(await validate([rootCrl, await makeCrl({ issuer: ca })], { leaf: l.cert }))).toEqual([]);
    });
  });

  describe('delta CRLs (RFC 5280 §5.2.4, §6.3.3 (g)–(k))', () => {
    it('a delta listing the leaf revokes it; removeFromCRL in a delta undoes a hold', async () => {
      const base = await makeCrl({ issuer: ca, number: 10, freshest: true });
      const delta = await makeCrl({ issuer: ca, number: 11, deltaOf: 10, entries: [{ cert: leaf.cert, reason: 'keyCompromise' }] });
      const r = await validate([rootCrl, base, delta]);
      expect(codes(r)).toEqual(['CHAIN_REVOKED@0']);
      expect(r.problems[0]!.message).toMatch(/and its delta CRL 11$/);
      const hold = await makeCrl({ issuer: ca, number: 10, entries: [{ cert: leaf.cert, reason: 'certificateHold' }] });
      expect(codes(await validate([rootCrl, hold]))).toEqual(['CHAIN_REVOKED@0']);
      const release = await makeCrl({ issuer: ca, number: 11, deltaOf: 10, entries: [{ cert: leaf.cert, reason: 'removeFromCRL' }] });
      expect(codes(await validate([rootCrl, hold, release]))).toEqual([]);
    });

    it('a delta alone, a stale delta, or a delta of a newer base gives no status', async () => {
      const delta = await makeCrl({ issuer: ca, number: 11, deltaOf: 10 });
      expect(codes(await validate([rootCrl, delta]))).toEqual(['CHAIN_REVOCATION_UNKNOWN@0']);
      const base = await makeCrl({ issuer: ca, number: 10, freshest: true });
      const stale = await makeCrl({ issuer: ca, number: 11, deltaOf: 10, thisUpdate: days(-5), nextUpdate: days(-1) });
      const r = await validate([rootCrl, base, stale]);
      expect(codes(r)).toEqual(['CHAIN_REVOCATION_UNKNOWN@0']);
      expect(r.problems[0]!.message).toMatch(/needs a delta CRL and none is usable \(delta CRL 11: expired/);
      // The base names a freshestCRL and no delta is at hand.
      expect(codes(await validate([rootCrl, base]))).toEqual(['CHAIN_REVOCATION_UNKNOWN@0']);
      // A delta built on base 12 cannot complete base 10.
      expect(codes(await validate([rootCrl, base, await makeCrl({ issuer: ca, number: 13, deltaOf: 12 })]))).toEqual(['CHAIN_REVOCATION_UNKNOWN@0']);
      // Without freshestCRL and with no delta given, the base alone stands.
      expect(codes(await validate([rootCrl, await makeCrl({ issuer: ca, number: 10 })]))).toEqual([]);
    });
  });

  describe('bounds and bad input', () => {
    it(`more than MAX_SUPPLIED_CRLS (${MAX_SUPPLIED_CRLS}) CRLs is ERR_INPUT_TOO_LARGE; an unreadable CRL is ERR_INVALID_INPUT`, async () => {
      const many = Array.from({ length: MAX_SUPPLIED_CRLS + 1 }, () => rootCrl);
      await expect(validate(many)).rejects.toMatchObject({ code: 'ERR_INPUT_TOO_LARGE' });
      const bad = await validate([rootCrl, Uint8Array.of(0x30, 0x03, 1, 2, 3)]).catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(MailPkiError);
      expect(bad).toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'crls.1' } });
      await expect(validateChain(leaf.cert, { trustAnchors: [root.cert], at: NOW, crls: [42 as unknown as string] })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    });

    it('the engine alone: only delta CRLs give no status, and say so', async () => {
      const r = await checkCertificateWithCrls(leaf.cert, ca.cert, { crls: [parseCrl(await makeCrl({ issuer: ca, number: 3, deltaOf: 2 }))], at: NOW, crypto });
      expect(r).toEqual({ status: 'undetermined', why: ['only delta CRLs were given, no complete CRL'] });
    });
  });
});



describe('property: a CRL mutated anywhere never throws, never revokes, and never vouches', () => {
  it('validateChain with a byte-mutated CA CRL that still parses: CHAIN_REVOCATION_UNKNOWN for the leaf', async () => {
    const fc = (await import('fast-check')).default;
    const good = await makeCrl({ issuer: ca, entries: [{ cert: root.cert }] });
    let parsedRuns = 0;
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: good.length - 1 }), fc.integer({ min: 1, max: 255 }), async (at, x) => {
        const bad = good.slice();
        bad[at]! ^= x;
        let crl;
        try {
          crl = parseCrl(bad);
        } catch (e) {
          expect(e).toBeInstanceOf(MailPkiError);
          return;
        }
        parsedRuns++;
        const r = await validateChain(leaf.cert, { trustAnchors: [root.cert], intermediates: [ca.cert], at: NOW, crls: [rootCrl, crl] });
        expect(codes(r)).toEqual(['CHAIN_REVOCATION_UNKNOWN@0']);
      }),
      { numRuns: 300 },
    );
    expect(parsedRuns).toBeGreaterThan(0);
  });
});
