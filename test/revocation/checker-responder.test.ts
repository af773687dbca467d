/**
 * A delegated OCSP responder whose certificate has no id-pkix-ocsp-nocheck can be revoked itself (its key stolen):
 * the checker asks the issuer's CRL about it before it takes the responder's word (RFC 6960 §4.2.2.2.1).
 * Unit test: the responder is the injected fetch, signing with the delegated key; the CRL is the CA's.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { keySigner } from '../../src/certs/builder.js';
import type { Certificate } from '../../src/certs/certificate.js';
import { defaultSignatureAlgorithm } from '../../src/keys/algorithms.js';
import { importPrivateKey } from '../../src/keys/index.js';
import { RevocationChecker } from '../../src/revocation/checker.js';
import { createCrl } from '../../src/revocation/crl-create.js';
import { createOcspResponse, parseOcspRequest } from '../../src/revocation/ocsp.js';
import { DAY, checkedResponderCertificate, makeWorld, type OcspWorld } from './ocsp-fixtures.js';

const OCSP_URL = 'http://ocsp.alpha.example/';
let w: OcspWorld;
/** The delegated responder's certificate as a CA that wants it checked issues it: no ocsp-nocheck. */
let checkedResponder: Certificate;

beforeAll(async () => {
  w = await makeWorld();
  checkedResponder = await checkedResponderCertificate(w);
}, 60_000);

/** Whoever holds the responder key: "good" for every certificate. */
function stolenResponder(responder: Certificate) {
  return async (url: string, init?: RequestInit): Promise<Response> => {
    if (url !== OCSP_URL) return new Response('no', { status: 404 });
    const key = await importPrivateKey(w.responder.keyPem);
    const der = await createOcspResponse({
      request: parseOcspRequest(new Uint8Array(init!.body as Uint8Array)),
      signer: { certificate: responder, signer: keySigner(key, defaultSignatureAlgorithm(key)) },
      issuer: w.a.issuing,
      lookup: () => ({ status: 'good' }),
      thisUpdate: w.now,
      nextUpdate: new Date(w.now.getTime() + 3600_000),
      producedAt: w.now,
    });
    return new Response(new Uint8Array(der));
  };
}

const crlOf = async (revoked: Certificate[]) =>
  new Uint8Array(
    await createCrl({
      issuer: w.a.issuing,
      signer: w.a.signer,
      thisUpdate: w.now,
      nextUpdate: new Date(w.now.getTime() + DAY),
      crlNumber: 7n,
      entries: revoked.map((c) => ({ serialNumber: c.serialNumber, revocationDate: new Date(w.now.getTime() - 2 * 3600_000), reason: 'keyCompromise' as const })),
    }),
  );

describe('RevocationChecker and a delegated responder without ocsp-nocheck', () => {
  it('a responder the CA revoked is not believed: its "good" for a revoked certificate is unusable, and the CRL answers', async () => {
    const crl = await crlOf([w.revoked, checkedResponder]);
    const checker = new RevocationChecker({ fetch: stolenResponder(checkedResponder), clock: () => w.now, ocspUrls: [OCSP_URL], crls: [crl] });
    // Before: the responder's signature and authorisation were checked, not its own revocation: 'good' by OCSP.
    const r = await checker.check(w.revoked, w.a.issuing, w.now);
    expect(r).toMatchObject({ status: 'revoked', method: 'crl', reason: 'keyCompromise' });
    expect(r.url).toBe('given CRL');
  });

  it('a responder the CRL does not list is believed; one with ocsp-nocheck is not asked about', async () => {
    const crl = await crlOf([w.revoked]);
    const checker = new RevocationChecker({ fetch: stolenResponder(checkedResponder), clock: () => w.now, ocspUrls: [OCSP_URL], crls: [crl] });
    expect(await checker.check(w.good, w.a.issuing, w.now)).toMatchObject({ status: 'good', method: 'ocsp' });
    const nocheck = new RevocationChecker({ fetch: stolenResponder(w.responder.certificate), clock: () => w.now, ocspUrls: [OCSP_URL], crls: [await crlOf([w.responder.certificate])] });
    expect(await nocheck.check(w.good, w.a.issuing, w.now)).toMatchObject({ status: 'good', method: 'ocsp' });
  });
});
