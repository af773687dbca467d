/**
 * OCSP "unknown" is no answer about revocation (RFC 6960 §2.2: the responder does not know the certificate):
 * the checker asks the next source, and the CRL's "revoked" or "good" counts. Unit test with an injected fetch.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { RevocationChecker } from '../../src/revocation/checker.js';
import { createCrl } from '../../src/revocation/crl-create.js';
import { createOcspResponse, parseOcspRequest } from '../../src/revocation/ocsp.js';
import { DAY, makeWorld, type OcspWorld } from './ocsp-fixtures.js';

const OCSP_URL = 'http://ocsp.alpha.example/';
let w: OcspWorld;

beforeAll(async () => {
  w = await makeWorld();
}, 60_000);

/** Alpha's responder, whose database does not hold the certificate (yet, or any more): 'unknown', signed by the CA. */
async function unknowing(url: string, init?: RequestInit): Promise<Response> {
  if (url !== OCSP_URL) return new Response('no', { status: 404 });
  const der = await createOcspResponse({
    request: parseOcspRequest(new Uint8Array(init!.body as Uint8Array)),
    signer: { certificate: w.a.issuing, signer: w.a.signer },
    issuer: w.a.issuing,
    lookup: () => ({ status: 'unknown' }),
    thisUpdate: w.now,
    nextUpdate: new Date(w.now.getTime() + 3600_000),
    producedAt: w.now,
  });
  return new Response(new Uint8Array(der));
}

describe('RevocationChecker and an OCSP "unknown"', () => {
  it('asks the CRL next: revoked there is revoked, good there is good, and without a CRL answer it stays unknown', async () => {
    const crl = new Uint8Array(
      await createCrl({
        issuer: w.a.issuing,
        signer: w.a.signer,
        thisUpdate: w.now,
        nextUpdate: new Date(w.now.getTime() + DAY),
        crlNumber: 3n,
        entries: [{ serialNumber: w.revoked.serialNumber, revocationDate: new Date(w.now.getTime() - 3600_000), reason: 'keyCompromise' }],
      }),
    );
    const checker = new RevocationChecker({ fetch: unknowing, clock: () => w.now, ocspUrls: [OCSP_URL], crls: [crl] });
    // Before: the OCSP 'unknown' was final — valid with a warning under soft-fail — though the CA's CRL lists the certificate.
    expect(await checker.check(w.revoked, w.a.issuing, w.now)).toMatchObject({ status: 'revoked', method: 'crl', reason: 'keyCompromise' });
    // The same again, the 'unknown' now from the cache.
    expect(await checker.check(w.revoked, w.a.issuing, w.now)).toMatchObject({ status: 'revoked', method: 'crl' });
    expect(await checker.check(w.good, w.a.issuing, w.now)).toMatchObject({ status: 'good', method: 'crl' });
    const ocspOnly = new RevocationChecker({ fetch: unknowing, clock: () => w.now, ocspUrls: [OCSP_URL] });
    expect(await ocspOnly.check(w.revoked, w.a.issuing, w.now)).toMatchObject({ status: 'unknown', method: 'ocsp' });
  });
});
