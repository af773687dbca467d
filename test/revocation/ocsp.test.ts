import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import { equalBytes, toHex } from '../../src/internal/bytes.js';
import { OID } from '../../src/internal/oids.js';
import {
  MAX_OCSP_REQUEST_BYTES,
  MAX_OCSP_RESPONSE_BYTES,
  createOcspErrorResponse,
  createOcspRequest,
  createOcspResponse,
  decodeOcspGetPath,
  ocspGetUrl,
  parseOcspRequest,
  parseOcspResponse,
  validateOcspResponse,
  type CreateOcspResponseOptions,
  type OcspProblemCode,
  type ParsedOcspRequest,
} from '../../src/revocation/ocsp.js';
import type { Certificate } from '../../src/certs/certificate.js';
import { makeWorld, type OcspWorld } from './ocsp-fixtures.js';

const HOUR = 3600_000;
let w: OcspWorld;

beforeAll(async () => {
  w = await makeWorld();
}, 60_000);

function respond(request: ParsedOcspRequest, over: Partial<CreateOcspResponseOptions> = {}): Promise<Uint8Array> {
  return createOcspResponse({
    request,
    signer: { certificate: w.a.issuing, signer: w.a.signer },
    issuer: w.a.issuing,
    lookup: w.lookup,
    thisUpdate: w.now,
    nextUpdate: new Date(w.now.getTime() + HOUR),
    producedAt: w.now,
    ...over,
  });
}

async function roundTrip(
  cert: Certificate,
  over: Partial<CreateOcspResponseOptions> = {},
  validateOver: { at?: Date; nonce?: Uint8Array; maxAgeMs?: number } = {},
  nonce: Uint8Array | boolean = true,
) {
  const req = createOcspRequest({ certificate: cert, issuer: w.a.issuing, ...(nonce !== false && { nonce }) });
  const der = await respond(parseOcspRequest(req.der), over);
  return validateOcspResponse(der, {
    certificate: cert,
    issuer: w.a.issuing,
    certId: req.certId,
    at: w.now,
    ...(req.nonce && { nonce: req.nonce }),
    ...validateOver,
  });
}

const codes = (r: { problems: { code: OcspProblemCode }[] }) => r.problems.map((p) => p.code);

describe('OCSP requests', () => {
  it('createOcspRequest builds a SHA-1 CertID that parseOcspRequest reads back, with no nonce by default', () => {
    const req = createOcspRequest({ certificate: w.good, issuer: w.a.issuing });
    expect(req.nonce).toBeUndefined();
    expect(req.certId.hashAlgorithm).toBe('SHA-1');
    expect(req.certId.issuerNameHash.length).toBe(20);
    expect(req.certId.issuerKeyHash.length).toBe(20);
    expect(req.certId.serialNumber).toBe(w.good.serialNumber);
    const parsed = parseOcspRequest(req.der);
    expect(parsed.signed).toBe(false);
    expect(parsed.nonce).toBeUndefined();
    expect(parsed.requests).toHaveLength(1);
    expect(parsed.requests[0]).toEqual(req.certId);
    // OCSPRequest { TBSRequest { requestList { Request { CertID } } } }: three SEQUENCE wrappers.
    expect(toHex(req.der.subarray(0, 1))).toBe('30');
  });

  it('nonce: true sends 32 random bytes; a given nonce is sent as is; SHA-256 CertIDs have 32-byte hashes', () => {
    const r1 = createOcspRequest({ certificate: w.good, issuer: w.a.issuing, nonce: true });
    const r2 = createOcspRequest({ certificate: w.good, issuer: w.a.issuing, nonce: true });
    expect(r1.nonce!.length).toBe(32);
    expect(equalBytes(r1.nonce!, r2.nonce!)).toBe(false);
    expect(parseOcspRequest(r1.der).nonce).toEqual(r1.nonce);
    const fixed = Uint8Array.of(1, 2, 3, 4);
    const r3 = createOcspRequest({ certificate: w.good, issuer: w.a.issuing, nonce: fixed, hash: 'SHA-256' });
    const p3 = parseOcspRequest(r3.der);
    expect(p3.nonce).toEqual(fixed);
    expect(toHex(p3.nonceExtensionValue!)).toBe('040401020304');
    expect(p3.requests[0]!.hashAlgorithm).toBe('SHA-256');
    expect(p3.requests[0]!.issuerKeyHash.length).toBe(32);
  });

  it('refuses an issuer that did not issue the certificate, and bad options, with ERR_INVALID_INPUT', () => {
    expect(() => createOcspRequest({ certificate: w.good, issuer: w.b.issuing })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
    expect(() => createOcspRequest({ certificate: w.good, issuer: w.a.issuing, hash: 'MD5' as 'SHA-1' })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_INPUT' }),
    );
    expect(() => createOcspRequest({ certificate: w.good, issuer: w.a.issuing, nonce: new Uint8Array(33) })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_INPUT' }),
    );
  });

  it('GET: ocspGetUrl URL-encodes the base64 (RFC 6960 A.1) and decodeOcspGetPath reverses it', () => {
    const req = createOcspRequest({ certificate: w.good, issuer: w.a.issuing, nonce: true });
    const url = ocspGetUrl('http://127.0.0.1:8080/ocsp', req.der);
    expect(url.startsWith('http://127.0.0.1:8080/ocsp/')).toBe(true);
    const path = url.slice('http://127.0.0.1:8080/ocsp'.length);
    expect(path.slice(1)).toMatch(/^[A-Za-z0-9%]+$/);
    expect(decodeOcspGetPath(path)).toEqual(req.der);
    expect(decodeOcspGetPath(path.slice(1))).toEqual(req.der);
    expect(ocspGetUrl('http://x/ocsp/', Uint8Array.of(0xfb, 0xff))).toBe('http://x/ocsp/%2B%2F8%3D');
    expect(() => decodeOcspGetPath('/%E0%A4%A')).toThrow(expect.objectContaining({ code: 'ERR_DER_MALFORMED' }));
    expect(() => decodeOcspGetPath('/not*base64')).toThrow(expect.objectContaining({ code: 'ERR_DER_MALFORMED' }));
    expect(() => decodeOcspGetPath('/' + 'A'.repeat(300_000))).toThrow(expect.objectContaining({ code: 'ERR_INPUT_TOO_LARGE' }));
  });

  it('parseOcspRequest: garbage is ERR_DER_MALFORMED, oversize is ERR_INPUT_TOO_LARGE, trailing bytes refused', () => {
    const req = createOcspRequest({ certificate: w.good, issuer: w.a.issuing });
    expect(() => parseOcspRequest(Uint8Array.of(0x30, 0x00))).toThrow(expect.objectContaining({ code: 'ERR_DER_MALFORMED' }));
    expect(() => parseOcspRequest(new Uint8Array([...req.der, 0]))).toThrow(expect.objectContaining({ code: 'ERR_DER_MALFORMED' }));
    expect(() => parseOcspRequest(new Uint8Array(MAX_OCSP_REQUEST_BYTES + 1))).toThrow(expect.objectContaining({ code: 'ERR_INPUT_TOO_LARGE' }));
  });
});

describe('OCSP responder and validation', () => {
  it('good: signed by the CA itself, nonce echoed, exact times', async () => {
    const r = await roundTrip(w.good);
    expect(r).toEqual({
      ok: true,
      status: 'good',
      thisUpdate: w.now,
      nextUpdate: new Date(w.now.getTime() + HOUR),
      producedAt: w.now,
      responder: { certificate: w.a.issuing, delegated: false, ocspNoCheck: false },
      problems: [],
    });
  });

  it('revoked: revocation time and reason come through', async () => {
    const r = await roundTrip(w.revoked);
    expect(r.ok).toBe(true);
    expect(r.status).toBe('revoked');
    expect(r.reason).toBe('keyCompromise');
    expect(r.revokedAt).toEqual(new Date(w.now.getTime() - HOUR));
  });

  it('unknown: what the lookup says, and for a CertID of another issuer', async () => {
    const r = await roundTrip(w.unknown);
    expect([r.ok, r.status]).toEqual([true, 'unknown']);
    const foreignReq = createOcspRequest({ certificate: w.foreign, issuer: w.b.issuing });
    let asked = 0;
    const der = await respond(parseOcspRequest(foreignReq.der), { lookup: () => (asked++, { status: 'good' }) });
    expect(asked).toBe(0);
    expect(parseOcspResponse(der).basic!.responses.map((s) => s.certStatus)).toEqual(['unknown']);
    // Validated against its real issuer B, the answer is unknown; and A's key is not B's responder.
    const v = await validateOcspResponse(der, { certificate: w.foreign, issuer: w.b.issuing, at: w.now });
    expect(v.status).toBe('unknown');
    expect(codes(v)).toEqual(['OCSP_RESPONDER_NOT_AUTHORIZED']);
  });

  it('answers every CertID of a multi-certificate request, echoing each CertID byte for byte', async () => {
    const ids = [w.good, w.revoked, w.unknown].map((c) => createOcspRequest({ certificate: c, issuer: w.a.issuing }).certId);
    const der = await respond({ requests: ids, signed: false });
    const basic = parseOcspResponse(der).basic!;
    expect(basic.responses.map((s) => s.certStatus)).toEqual(['good', 'revoked', 'unknown']);
    basic.responses.forEach((s, i) => expect(s.certId.der).toEqual(ids[i]!.der));
    for (const c of [w.good, w.revoked, w.unknown]) expect((await validateOcspResponse(der, { certificate: c, issuer: w.a.issuing, at: w.now })).ok).toBe(true);
  });

  it('several answers for the same certificate (CertIDs under different hashes) that disagree: revoked wins, whatever the order', async () => {
    const ids = (['SHA-256', 'SHA-1'] as const).map((hash) => createOcspRequest({ certificate: w.revoked, issuer: w.a.issuing, hash }).certId);
    for (const order of [ids, [...ids].reverse()]) {
      let n = 0;
      // The first answer in the response says good, the second what the CA knows.
      const der = await respond({ requests: order, signed: false }, { lookup: (serial) => (n++ === 0 ? { status: 'good' } : w.lookup(serial)) });
      expect(parseOcspResponse(der).basic!.responses.map((x) => x.certStatus)).toEqual(['good', 'revoked']);
      // Before: the first SingleResponse that named the certificate was taken, so this was a valid 'good'.
      const v = await validateOcspResponse(der, { certificate: w.revoked, issuer: w.a.issuing, at: w.now });
      expect([v.ok, v.status, v.reason]).toEqual([true, 'revoked', 'keyCompromise']);
    }
  });

  it('SHA-256 CertIDs and a byName responder ID validate', async () => {
    const req = createOcspRequest({ certificate: w.good, issuer: w.a.issuing, hash: 'SHA-256' });
    const der = await respond(parseOcspRequest(req.der), { responderId: 'byName' });
    const basic = parseOcspResponse(der).basic!;
    expect(basic.responderId.type).toBe('byName');
    const r = await validateOcspResponse(der, { certificate: w.good, issuer: w.a.issuing, certId: req.certId, at: w.now });
    expect([r.ok, r.status]).toEqual([true, 'good']);
  });

  it('nonce: missing → OCSP_NONCE_MISSING, different → OCSP_NONCE_MISMATCH', async () => {
    const noNonce = await roundTrip(w.good, {}, { nonce: Uint8Array.of(9, 9) }, false);
    expect(codes(noNonce)).toEqual(['OCSP_NONCE_MISSING']);
    expect(noNonce.status).toBe('good');
    const wrong = await roundTrip(w.good, {}, { nonce: new Uint8Array(32) });
    expect(codes(wrong)).toEqual(['OCSP_NONCE_MISMATCH']);
  });

  it('freshness: stale after nextUpdate + skew, not yet valid before thisUpdate − skew, max age without nextUpdate', async () => {
    const at = (ms: number) => ({ at: new Date(w.now.getTime() + ms) });
    expect((await roundTrip(w.good, {}, at(HOUR + 4 * 60_000))).ok).toBe(true);
    expect(codes(await roundTrip(w.good, {}, at(2 * HOUR)))).toEqual(['OCSP_STALE']);
    expect((await roundTrip(w.good, {}, at(-4 * 60_000))).ok).toBe(true);
    expect(codes(await roundTrip(w.good, {}, at(-10 * 60_000)))).toEqual(['OCSP_NOT_YET_VALID', 'OCSP_NOT_YET_VALID']);
    const open = { nextUpdate: undefined };
    expect((await roundTrip(w.good, open, at(6 * 24 * HOUR))).ok).toBe(true);
    expect(codes(await roundTrip(w.good, open, at(8 * 24 * HOUR)))).toEqual(['OCSP_STALE']);
    expect(codes(await roundTrip(w.good, open, { ...at(2 * HOUR), maxAgeMs: HOUR }))).toEqual(['OCSP_STALE']);
  });

  it('a response for another certificate → OCSP_CERT_ID_MISMATCH', async () => {
    const req = createOcspRequest({ certificate: w.good, issuer: w.a.issuing });
    const der = await respond(parseOcspRequest(req.der));
    const r = await validateOcspResponse(der, { certificate: w.revoked, issuer: w.a.issuing, at: w.now });
    expect(codes(r)).toEqual(['OCSP_CERT_ID_MISMATCH']);
    expect(r.status).toBeUndefined();
  });

  it('signed with another CA’s key under our CA’s responder ID → OCSP_SIGNATURE_INVALID', async () => {
    const r = await roundTrip(w.good, { signer: { certificate: w.a.issuing, signer: w.b.signer } });
    expect(codes(r)).toEqual(['OCSP_SIGNATURE_INVALID']);
    expect(r.ok).toBe(false);
  });

  it('signed by another CA as itself → OCSP_RESPONDER_NOT_AUTHORIZED (not issued by our CA, no OCSP EKU)', async () => {
    const r = await roundTrip(w.good, { signer: { certificate: w.b.issuing, signer: w.b.signer } });
    expect(new Set(codes(r))).toEqual(new Set(['OCSP_RESPONDER_NOT_AUTHORIZED']));
    expect(r.responder?.delegated).toBe(true);
  });

  it('a responder ID that matches nothing → OCSP_RESPONDER_NOT_AUTHORIZED', async () => {
    const der = await roundTripDer(w.good, { signer: { certificate: w.b.issuing, signer: w.b.signer } });
    const parsed = parseOcspResponse(der);
    const r = await validateOcspResponse({ ...parsed, basic: { ...parsed.basic!, certs: [] } }, { certificate: w.good, issuer: w.a.issuing, at: w.now });
    expect(codes(r)).toEqual(['OCSP_RESPONDER_NOT_AUTHORIZED']);
    expect(r.responder).toBeUndefined();
  });

  it('delegated responder with id-kp-OCSPSigning and ocsp-nocheck: ok, its certificate sent in certs', async () => {
    const der = await roundTripDer(w.good, { signer: w.responder });
    expect(parseOcspResponse(der).basic!.certs.map((c) => c.serialNumber)).toEqual([w.responder.certificate.serialNumber]);
    const r = await validateOcspResponse(der, { certificate: w.good, issuer: w.a.issuing, at: w.now });
    expect(r.ok).toBe(true);
    expect(r.responder).toEqual({ certificate: w.responder.certificate, delegated: true, ocspNoCheck: true });
    const rc = w.responder.certificate;
    expect([rc.extKeyUsage, rc.keyUsage, rc.basicConstraints, rc.extensions.has(OID.idPkixOcspNocheck)]).toEqual([
      [OID.idKpOCSPSigning],
      ['digitalSignature'],
      { ca: false },
      true,
    ]);
  });

  it('delegated responder without the OCSP EKU → OCSP_RESPONDER_NOT_AUTHORIZED', async () => {
    const r = await roundTrip(w.good, { signer: { certificate: w.responderNoEku, signer: w.responder.signer } });
    expect(codes(r)).toEqual(['OCSP_RESPONDER_NOT_AUTHORIZED']);
    expect(r.problems[0]!.message).toContain('id-kp-OCSPSigning');
  });

  it('delegated responder certified by another CA → OCSP_RESPONDER_NOT_AUTHORIZED', async () => {
    const r = await roundTrip(w.good, { signer: { certificate: w.responderByB, signer: w.responder.signer } });
    expect(codes(r)).toEqual(['OCSP_RESPONDER_NOT_AUTHORIZED']);
    expect(r.problems[0]!.message).toContain('not issued');
  });

  it('delegated responder past its validity → OCSP_RESPONDER_NOT_AUTHORIZED', async () => {
    const later = new Date(w.now.getTime() + 31 * 24 * HOUR);
    const r = await roundTrip(w.good, { signer: w.responder, thisUpdate: later, producedAt: later, nextUpdate: new Date(later.getTime() + HOUR) }, { at: later });
    expect(codes(r)).toEqual(['OCSP_RESPONDER_NOT_AUTHORIZED']);
    expect(r.problems[0]!.message).toContain('not valid at');
  });

  it('tampering with the signed data or the signature → OCSP_SIGNATURE_INVALID', async () => {
    const der = await roundTripDer(w.revoked);
    const basic = parseOcspResponse(der).basic!;
    const tbsAt = indexOf(der, basic.tbs);
    // Flip the last byte of the reason-free part: the nextUpdate seconds digit of the single response.
    const tampered = der.slice();
    const sigAt = indexOf(der, basic.signature);
    tampered[sigAt + basic.signature.length - 1]! ^= 1;
    expect(codes(await validateOcspResponse(tampered, { certificate: w.revoked, issuer: w.a.issuing, at: w.now }))).toEqual(['OCSP_SIGNATURE_INVALID']);
    // Turn "revoked" into another reason inside the signed data (keyCompromise 1 → cACompromise 2).
    const reasonAt = indexOf(der.subarray(tbsAt), Uint8Array.of(0xa0, 0x03, 0x0a, 0x01, 0x01)) + tbsAt;
    const t2 = der.slice();
    t2[reasonAt + 4] = 2;
    const r2 = await validateOcspResponse(t2, { certificate: w.revoked, issuer: w.a.issuing, at: w.now });
    expect(codes(r2)).toEqual(['OCSP_SIGNATURE_INVALID']);
    expect(r2.reason).toBe('cACompromise');
  });

  it('error responses: exact DER, parsed, and OCSP_UNSUCCESSFUL', async () => {
    expect(toHex(createOcspErrorResponse('tryLater'))).toBe('30030a0103');
    expect(toHex(createOcspErrorResponse('unauthorized'))).toBe('30030a0106');
    expect(parseOcspResponse(createOcspErrorResponse('malformedRequest'))).toEqual({ responseStatus: 'malformedRequest' });
    const r = await validateOcspResponse(createOcspErrorResponse('internalError'), { certificate: w.good, issuer: w.a.issuing, at: w.now });
    expect(r).toEqual({ ok: false, problems: [{ code: 'OCSP_UNSUCCESSFUL', message: 'the responder answered "internalError" instead of a status' }] });
  });

  it('bytes that are not a response → OCSP_MALFORMED; parseOcspResponse limits its input', async () => {
    const r = await validateOcspResponse(Uint8Array.of(1, 2, 3), { certificate: w.good, issuer: w.a.issuing, at: w.now });
    expect(codes(r)).toEqual(['OCSP_MALFORMED']);
    expect(() => parseOcspResponse(new Uint8Array(MAX_OCSP_RESPONSE_BYTES + 1))).toThrow(expect.objectContaining({ code: 'ERR_INPUT_TOO_LARGE' }));
    expect(() => parseOcspResponse(Uint8Array.of(0x30, 0x03, 0x0a, 0x01, 0x04))).toThrow(expect.objectContaining({ code: 'ERR_DER_MALFORMED' }));
  });

  it('caller mistakes: a certId for another certificate, a wrong issuer, a bad lookup answer → ERR_INVALID_INPUT', async () => {
    const req = createOcspRequest({ certificate: w.good, issuer: w.a.issuing });
    const der = await respond(parseOcspRequest(req.der));
    await expect(validateOcspResponse(der, { certificate: w.revoked, issuer: w.a.issuing, certId: req.certId, at: w.now })).rejects.toMatchObject({
      code: 'ERR_INVALID_INPUT',
    });
    await expect(validateOcspResponse(der, { certificate: w.good, issuer: w.b.issuing, at: w.now })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    await expect(
      respond(parseOcspRequest(req.der), { lookup: () => ({ status: 'revoked', revokedAt: new Date(NaN) }) }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    await expect(respond(parseOcspRequest(req.der), { nextUpdate: new Date(w.now.getTime() - 1) })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    const boom = new Error('database down');
    await expect(respond(parseOcspRequest(req.der), { lookup: () => Promise.reject(boom) })).rejects.toBe(boom);
  });
});

describe('OCSP regressions found by fast-check', () => {
  const delegated = () => roundTripDer(w.good, { signer: w.responder });
  const check = (der: Uint8Array) => validateOcspResponse(der, { certificate: w.good, issuer: w.a.issuing, at: w.now });

  it('regression: outer OCSPResponse tag 0x20 instead of SEQUENCE is refused (was read as a SEQUENCE)', async () => {
    const der = (await delegated()).slice();
    der[0] = 0x20;
    expect(() => parseOcspResponse(der)).toThrow(expect.objectContaining({ code: 'ERR_DER_MALFORMED' }));
    expect(() => parseOcspRequest(Uint8Array.of(0x20, 0))).toThrow(expect.objectContaining({ code: 'ERR_DER_MALFORMED' }));
  });

  it('regression: ECDSA Ecdsa-Sig-Value under tag 0x60/0x20 instead of SEQUENCE does not verify (response and responder certificate)', async () => {
    const der = await delegated();
    const basic = parseOcspResponse(der).basic!;
    const t1 = der.slice();
    t1[indexOf(der, basic.signature)] = 0x20;
    expect(codes(await check(t1))).toEqual(['OCSP_SIGNATURE_INVALID']);
    const rc = w.responder.certificate;
    const t2 = der.slice();
    t2[indexOf(der, rc.der) + rc.der.length - rc.signatureValue.length] = 0x60;
    expect(codes(await check(t2))).toEqual(['OCSP_RESPONDER_NOT_AUTHORIZED']);
  });

  it('regression: a certs entry whose SPKI BIT STRING claims 9 unused bits gives problems, not an exception', async () => {
    const der = await delegated();
    const rc = w.responder.certificate;
    const t = der.slice();
    const spkiAt = indexOf(der, rc.publicKey.spki);
    const bitsAt = indexOf(der.subarray(spkiAt), Uint8Array.of(0x03, 0x42, 0x00, 0x04)) + spkiAt;
    t[bitsAt + 2] = 9;
    const r = await check(t);
    expect(r.ok).toBe(false);
    expect(r.problems.length).toBeGreaterThan(0);
  });
});

describe('OCSP parsers never crash on hostile input (fast-check)', () => {
  const allowed = new Set(['ERR_DER_MALFORMED', 'ERR_INPUT_TOO_LARGE']);
  const onlyCoded = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      if (!(e instanceof MailPkiError) || !allowed.has(e.code)) throw e;
    }
  };
  const mutate = (base: Uint8Array) =>
    fc.oneof(
      fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })).map(([i, v]) => {
        const b = base.slice();
        b[i] = v;
        return b;
      }),
      fc.nat(base.length - 1).map((n) => base.slice(0, n)),
      fc.tuple(fc.nat(base.length - 1), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([i, ins]) => new Uint8Array([...base.subarray(0, i), ...ins, ...base.subarray(i)])),
    );

  it('parseOcspRequest: random bytes and mutated requests give only coded errors', () => {
    const req = createOcspRequest({ certificate: w.good, issuer: w.a.issuing, nonce: true }).der;
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => onlyCoded(() => parseOcspRequest(b))), { numRuns: 500 });
    fc.assert(fc.property(mutate(req), (b) => onlyCoded(() => parseOcspRequest(b))), { numRuns: 1000 });
  });

  it('parseOcspResponse and validateOcspResponse: mutated responses give coded errors or problems, never ok', async () => {
    const req = createOcspRequest({ certificate: w.good, issuer: w.a.issuing, nonce: true });
    const der = await respond(parseOcspRequest(req.der), { signer: w.responder });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => onlyCoded(() => parseOcspResponse(b))), { numRuns: 500 });
    await fc.assert(
      fc.asyncProperty(mutate(der), async (b) => {
        onlyCoded(() => parseOcspResponse(b));
        const r = await validateOcspResponse(b, { certificate: w.good, issuer: w.a.issuing, certId: req.certId, nonce: req.nonce!, at: w.now });
        expect(r.ok && !equalBytes(b, der)).toBe(false);
        for (const p of r.problems) expect(p.code).toMatch(/^OCSP_[A-Z_]+$/);
      }),
      { numRuns: 400 },
    );
  });
});

async function roundTripDer(cert: Certificate, over: Partial<CreateOcspResponseOptions> = {}): Promise<Uint8Array> {
  const req = createOcspRequest({ certificate: cert, issuer: w.a.issuing });
  return respond(parseOcspRequest(req.der), over);
}

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  throw new Error('not found');
}
