/**
 * How fresh an answer must be. Without a nonce, a signed "good" made before the revocation stays valid until its
 * nextUpdate (RFC 6960 allows up to days): whoever is on the path replays it. `maxAnswerAgeMs` bounds that window.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { RevocationChecker } from '../../src/revocation/checker.js';
import { createCrl } from '../../src/revocation/crl-create.js';
import { createOcspResponse, parseOcspRequest } from '../../src/revocation/ocsp.js';
import { DAY, makeWorld, type OcspWorld } from './ocsp-fixtures.js';

const OCSP_URL = 'http://ocsp.alpha.example/';
const HOUR = 3600_000;
let w: OcspWorld;

beforeAll(async () => {
  w = await makeWorld();
}, 60_000);

/** A "good" captured two days ago, valid for a week (the CA's choice), replayed for every request. */
function replaying(thisUpdate: Date, counter: { n: number }) {
  return async (_url: string, init?: RequestInit): Promise<Response> => {
    counter.n++;
    const der = await createOcspResponse({
      request: parseOcspRequest(new Uint8Array(init!.body as Uint8Array)),
      signer: { certificate: w.a.issuing, signer: w.a.signer },
      issuer: w.a.issuing,
      lookup: () => ({ status: 'good' }),
      thisUpdate,
      nextUpdate: new Date(thisUpdate.getTime() + 7 * DAY),
      producedAt: thisUpdate,
    });
    return new Response(new Uint8Array(der));
  };
}

describe('RevocationChecker maxAnswerAgeMs', () => {
  it('an answer older than maxAnswerAgeMs does not count, whatever its nextUpdate; without the option it counts until nextUpdate', async () => {
    const counter = { n: 0 };
    const fetch = replaying(new Date(w.now.getTime() - 2 * DAY), counter);
    const rfc = await new RevocationChecker({ fetch, clock: () => w.now, ocspUrls: [OCSP_URL] }).check(w.revoked, w.a.issuing, w.now);
    expect(rfc.status).toBe('good');
    const bounded = await new RevocationChecker({ fetch, clock: () => w.now, ocspUrls: [OCSP_URL], maxAnswerAgeMs: DAY }).check(w.revoked, w.a.issuing, w.now);
    expect(bounded).toMatchObject({ status: 'unchecked', error: expect.stringMatching(/older than maxAnswerAgeMs/) });
  });

  it('a cached answer, and a held CRL, are used only while younger than maxAnswerAgeMs', async () => {
    let now = w.now;
    const counter = { n: 0 };
    const checker = new RevocationChecker({ fetch: replaying(new Date(w.now.getTime() - 12 * HOUR), counter), clock: () => now, ocspUrls: [OCSP_URL], maxAnswerAgeMs: DAY });
    expect((await checker.check(w.good, w.a.issuing, now)).source).toBe('ocsp');
    now = new Date(w.now.getTime() + 11 * HOUR);
    expect((await checker.check(w.good, w.a.issuing, now)).source).toBe('cache');
    now = new Date(w.now.getTime() + 13 * HOUR);
    // Past thisUpdate + 1 day: not from the cache; the responder is asked (and replays the same, now too old).
    expect((await checker.check(w.good, w.a.issuing, now)).status).toBe('unchecked');
    expect(counter.n).toBe(2);

    // The same for a CRL given: one made 2 days ago, valid for a week, does not answer.
    const crl = new Uint8Array(
      await createCrl({ issuer: w.a.issuing, signer: w.a.signer, thisUpdate: new Date(w.now.getTime() - 2 * DAY), nextUpdate: new Date(w.now.getTime() + 5 * DAY), crlNumber: 1n, entries: [] }),
    );
    const given = await new RevocationChecker({ fetch: async () => new Response('', { status: 404 }), clock: () => w.now, crls: [crl], maxAnswerAgeMs: DAY, order: ['crl'] }).check(w.revoked, w.a.issuing, w.now);
    expect(given).toMatchObject({ status: 'unchecked', error: expect.stringMatching(/older than maxAnswerAgeMs/) });
  });
});
