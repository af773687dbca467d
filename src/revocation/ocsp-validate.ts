/**
 * Client-side checks of an OCSP response (RFC 6960 §3.2 and §4.2.2.2). The outcome is data: a
 * result with `ok` and every problem found, each with a stable code; only caller mistakes throw.
 */
import { z } from 'zod';
import { MailPkiError } from '../errors.js';
import { equalBytes } from '../internal/bytes.js';
import { namesMatch } from '../certs/name.js';
import { resolveCrypto } from '../internal/crypto.js';
import { OID } from '../internal/oids.js';
import { parseInput } from '../internal/validate.js';
import { verifyBytes } from '../keys/algorithms.js';
import type { Certificate } from '../certs/certificate.js';
import { checkSignature } from '../certs/chain-signatures.js';
import type { RevocationReason } from '../ca/types.js';
import { OCSP_OID, certIdMatchesIssuer, responderKeyHash, type CertId, type OcspCertStatus } from './ocsp-common.js';
import { parseOcspResponse, type BasicOcspResponse, type ParsedOcspResponse, type ResponderId, type SingleResponse } from './ocsp-response.js';

/** Stable codes of what can be wrong with an OCSP response; see docs/ocsp.md. */
export type OcspProblemCode =
  | 'OCSP_MALFORMED'
  | 'OCSP_UNSUCCESSFUL'
  | 'OCSP_SIGNATURE_INVALID'
  | 'OCSP_ALGORITHM_UNSUPPORTED'
  | 'OCSP_RESPONDER_NOT_AUTHORIZED'
  | 'OCSP_CERT_ID_MISMATCH'
  | 'OCSP_NOT_YET_VALID'
  | 'OCSP_STALE'
  | 'OCSP_NONCE_MISSING'
  | 'OCSP_NONCE_MISMATCH'
  | 'OCSP_CRITICAL_EXTENSION';

export interface OcspProblem {
  code: OcspProblemCode;
  message: string;
}

export interface OcspResponderInfo {
  certificate: Certificate;
  /** True when a delegated responder certificate (not the CA itself) signed. */
  delegated: boolean;
  /**
   * The delegated certificate carries id-pkix-ocsp-nocheck. When false, the responder
   * certificate's own revocation status is unchecked here; check it by CRL if policy asks.
   */
  ocspNoCheck: boolean;
}

export interface OcspValidationResult {
  /** True only when there is no problem: then `status` can be relied on. */
  ok: boolean;
  /** The status the response gives for the certificate (reported even when not ok, for diagnosis). */
  status?: OcspCertStatus;
  revokedAt?: Date;
  reason?: RevocationReason;
  thisUpdate?: Date;
  nextUpdate?: Date;
  producedAt?: Date;
  responder?: OcspResponderInfo;
  problems: OcspProblem[];
}

export interface ValidateOcspResponseOptions {
  /** The certificate asked about. */
  certificate: Certificate;
  /** Its issuer: the CA that signs the response or delegates to a responder. */
  issuer: Certificate;
  /** The CertID sent (from createOcspRequest); must name `certificate`. */
  certId?: CertId;
  /** The time to judge freshness and the responder certificate at. */
  at: Date;
  /** The nonce sent; the response must echo it. */
  nonce?: Uint8Array;
  /** Tolerated clock difference. Default 5 minutes. */
  clockSkewMs?: number;
  /** Oldest acceptable thisUpdate when the response has no nextUpdate. Default 7 days. */
  maxAgeMs?: number;
  /** Accept SHA-1 signatures on the response and the responder certificate. Default false. */
  allowWeakSignatures?: boolean;
  crypto?: Crypto;
}

export const DEFAULT_OCSP_CLOCK_SKEW_MS = 5 * 60_000;
export const DEFAULT_OCSP_MAX_AGE_MS = 7 * 86_400_000;

const cert = z.custom<Certificate>((v) => typeof v === 'object' && v !== null && (v as Certificate).der instanceof Uint8Array, 'expected a parsed Certificate');
const schema = z
  .object({
    certificate: cert,
    issuer: cert,
    certId: z.custom<CertId>((v) => typeof v === 'object' && v !== null && typeof (v as CertId).serialNumber === 'string').optional(),
    at: z.date().refine((d) => !Number.isNaN(d.getTime()), 'invalid date'),
    nonce: z.custom<Uint8Array>((v) => v instanceof Uint8Array && v.length > 0, 'expected non-empty bytes').optional(),
    clockSkewMs: z.number().int().nonnegative().default(DEFAULT_OCSP_CLOCK_SKEW_MS),
    maxAgeMs: z.number().int().positive().default(DEFAULT_OCSP_MAX_AGE_MS),
    allowWeakSignatures: z.boolean().default(false),
    crypto: z.custom<Crypto>((v) => typeof v === 'object' && v !== null).optional(),
  })
  .strict();

/**
 * Checks an OCSP response for one certificate: response status, signature by the issuer or an
 * authorised delegated responder, responder ID, the SingleResponse for exactly this CertID,
 * freshness and the nonce. Bytes are parsed first; unparseable bytes give OCSP_MALFORMED.
 *
 * @example
 * const r = await validateOcspResponse(await res.bytes(), { certificate: leaf, issuer, certId: req.certId, nonce: req.nonce, at: new Date() });
 * if (r.ok && r.status === 'revoked') ...
 */
export async function validateOcspResponse(
  response: ParsedOcspResponse | Uint8Array,
  options: ValidateOcspResponseOptions,
): Promise<OcspValidationResult> {
  const opts = parseInput(schema, options, 'validateOcspResponse options');
  checkCallerInput(opts);
  const crypto = resolveCrypto(opts.crypto);
  try {
    return await validate(response, opts, crypto);
  } catch (e) {
    // Data the parsers let through but a check cannot read (e.g. an odd key in `certs`) is malformed data, not a crash.
    if (e instanceof MailPkiError) return { ok: false, problems: [{ code: 'OCSP_MALFORMED', message: e.message }] };
    throw e;
  }
}

type Options = ReturnType<typeof schema.parse>;

function checkCallerInput(opts: Options): void {
  const { certificate, issuer } = opts;
  if (!namesMatch(certificate.issuer, issuer.subject))
    throw new MailPkiError('ERR_INVALID_INPUT', 'validateOcspResponse options: issuer: is not the issuer named in the certificate', {
      details: { field: 'issuer' },
    });
  if (opts.certId && (opts.certId.serialNumber !== certificate.serialNumber || !certIdMatchesIssuer(opts.certId, issuer)))
    throw new MailPkiError('ERR_INVALID_INPUT', 'validateOcspResponse options: certId: does not name this certificate and issuer', {
      details: { field: 'certId' },
    });
}

async function validate(response: ParsedOcspResponse | Uint8Array, opts: Options, crypto: Crypto): Promise<OcspValidationResult> {
  const { certificate, issuer, at } = opts;
  const skew = opts.clockSkewMs;
  const problems: OcspProblem[] = [];
  const fail = (code: OcspProblemCode, message: string): OcspValidationResult => ({ ok: false, problems: [{ code, message }] });

  let parsed: ParsedOcspResponse;
  if (response instanceof Uint8Array) {
    try {
      parsed = parseOcspResponse(response);
    } catch (e) {
      if (e instanceof MailPkiError) return fail('OCSP_MALFORMED', e.message);
      throw e;
    }
  } else parsed = response;
  if (parsed.responseStatus !== 'successful')
    return fail('OCSP_UNSUCCESSFUL', `the responder answered "${parsed.responseStatus}" instead of a status`);
  const basic = parsed.basic;
  if (!basic) return fail('OCSP_MALFORMED', 'a successful response without a BasicOCSPResponse');

  // Who signed, and may they?
  const responder = await checkResponder(crypto, basic, issuer, at, skew, opts.allowWeakSignatures, problems);

  // The answer about our certificate.
  // Every SingleResponse that names it (a CertID under each hash may be there): the gravest status counts, not the first.
  const single = basic.responses
    .filter((r) => r.certId.serialNumber === certificate.serialNumber && certIdMatchesIssuer(r.certId, issuer))
    .reduce<SingleResponse | undefined>((worst, r) => (!worst || STATUS_WEIGHT[r.certStatus] > STATUS_WEIGHT[worst.certStatus] ? r : worst), undefined);
  const result: OcspValidationResult = { ok: false, producedAt: basic.producedAt, problems };
  if (responder) result.responder = responder;
  if (!single) {
    problems.push({
      code: 'OCSP_CERT_ID_MISMATCH',
      message: `the response has no answer for serial ${certificate.serialNumber} of this issuer (${basic.responses.length} answer(s) for other CertIDs)`,
    });
  } else {
    copyStatus(single, result);
    if (single.thisUpdate.getTime() > at.getTime() + skew)
      problems.push({ code: 'OCSP_NOT_YET_VALID', message: `thisUpdate ${single.thisUpdate.toISOString()} is after ${at.toISOString()}` });
    if (single.nextUpdate) {
      if (single.nextUpdate.getTime() < at.getTime() - skew)
        problems.push({ code: 'OCSP_STALE', message: `nextUpdate ${single.nextUpdate.toISOString()} has passed (at ${at.toISOString()})` });
    } else if (single.thisUpdate.getTime() + opts.maxAgeMs < at.getTime() - skew)
      problems.push({
        code: 'OCSP_STALE',
        message: `no nextUpdate, and thisUpdate ${single.thisUpdate.toISOString()} is older than the maximum age of ${opts.maxAgeMs} ms`,
      });
    if (single.nextUpdate && single.nextUpdate < single.thisUpdate)
      problems.push({ code: 'OCSP_MALFORMED', message: 'nextUpdate is before thisUpdate' });
    for (const e of single.extensions)
      if (e.critical) problems.push({ code: 'OCSP_CRITICAL_EXTENSION', message: `unsupported critical single extension ${e.oid}` });
  }
  if (basic.producedAt.getTime() > at.getTime() + skew)
    problems.push({ code: 'OCSP_NOT_YET_VALID', message: `producedAt ${basic.producedAt.toISOString()} is after ${at.toISOString()}` });
  for (const e of basic.extensions)
    if (e.critical && e.oid !== OCSP_OID.idPkixOcspNonce)
      problems.push({ code: 'OCSP_CRITICAL_EXTENSION', message: `unsupported critical response extension ${e.oid}` });

  if (opts.nonce) {
    if (!basic.nonce) problems.push({ code: 'OCSP_NONCE_MISSING', message: 'a nonce was sent but the response does not echo one' });
    else if (!equalBytes(basic.nonce, opts.nonce)) problems.push({ code: 'OCSP_NONCE_MISMATCH', message: 'the response echoes a different nonce' });
  }
  result.ok = problems.length === 0;
  return result;
}

const STATUS_WEIGHT: Record<SingleResponse['certStatus'], number> = { good: 0, unknown: 1, revoked: 2 };

function copyStatus(single: SingleResponse, result: OcspValidationResult): void {
  result.status = single.certStatus;
  if (single.revocationTime) result.revokedAt = single.revocationTime;
  if (single.revocationReason) result.reason = single.revocationReason;
  result.thisUpdate = single.thisUpdate;
  if (single.nextUpdate) result.nextUpdate = single.nextUpdate;
}

function matchesResponderId(id: ResponderId, cert: Certificate): boolean {
  return id.type === 'byKey' ? equalBytes(id.keyHash, responderKeyHash(cert)) : namesMatch(id.name, cert.subject);
}

/** Finds and checks the signer; pushes problems and returns who it is (undefined when none fits). */
async function checkResponder(
  crypto: Crypto,
  basic: BasicOcspResponse,
  issuer: Certificate,
  at: Date,
  skew: number,
  allowWeak: boolean,
  problems: OcspProblem[],
): Promise<OcspResponderInfo | undefined> {
  const byIssuer = matchesResponderId(basic.responderId, issuer);
  const signer = byIssuer ? issuer : basic.certs.find((c) => matchesResponderId(basic.responderId, c));
  if (!signer) {
    problems.push({
      code: 'OCSP_RESPONDER_NOT_AUTHORIZED',
      message: `the responder (${basic.responderId.type}) is neither the issuer nor a certificate included in the response`,
    });
    return undefined;
  }
  await checkResponseSignature(crypto, basic, signer, allowWeak, problems);
  if (byIssuer) return { certificate: issuer, delegated: false, ocspNoCheck: false };

  // RFC 6960 §4.2.2.2: a delegated responder is certified directly by the CA, for id-kp-OCSPSigning.
  const info: OcspResponderInfo = { certificate: signer, delegated: true, ocspNoCheck: signer.extensions.has(OID.idPkixOcspNocheck) };
  const notAuthorized = (why: string) => problems.push({ code: 'OCSP_RESPONDER_NOT_AUTHORIZED', message: `delegated responder: ${why}` });
  if (!namesMatch(signer.issuer, issuer.subject)) notAuthorized('not issued by the certificate’s issuer');
  else {
    const edge = !ecdsaShapeOk(signer.signatureAlgorithm, signer.signatureValue)
      ? { status: 'invalid', reason: 'the ECDSA signature value is not a DER SEQUENCE' }
      : await checkSignature(crypto, signer, issuer, allowWeak);
    if (edge.status !== 'valid')
      notAuthorized(`its certificate is not signed by the issuer (${edge.status}${edge.reason ? `: ${edge.reason}` : ''})`);
  }
  if (!signer.extKeyUsage?.includes(OID.idKpOCSPSigning)) notAuthorized('its certificate lacks the id-kp-OCSPSigning extended key usage');
  if (signer.keyUsage && !signer.keyUsage.includes('digitalSignature')) notAuthorized('its key usage does not allow digitalSignature');
  if (signer.notBefore.getTime() > at.getTime() + skew || signer.notAfter.getTime() < at.getTime() - skew)
    notAuthorized(`its certificate is not valid at ${at.toISOString()} (${signer.notBefore.toISOString()} to ${signer.notAfter.toISOString()})`);
  return info;
}

async function checkResponseSignature(
  crypto: Crypto,
  basic: BasicOcspResponse,
  signer: Certificate,
  allowWeak: boolean,
  problems: OcspProblem[],
): Promise<void> {
  const alg = basic.signatureAlgorithm;
  if ('unsupported' in alg) {
    problems.push({ code: 'OCSP_ALGORITHM_UNSUPPORTED', message: alg.unsupported });
    return;
  }
  if ((alg.hash === 'SHA-1' && !allowWeak) || alg.hash === 'MD5') {
    problems.push({ code: 'OCSP_ALGORITHM_UNSUPPORTED', message: `the response is signed with ${alg.hash}, refused as weak` });
    return;
  }
  if (!ecdsaShapeOk(alg, basic.signature)) {
    problems.push({ code: 'OCSP_SIGNATURE_INVALID', message: 'the ECDSA signature value is not a DER SEQUENCE' });
    return;
  }
  let valid: boolean;
  try {
    valid = await verifyBytes(crypto, signer.publicKey, alg, basic.tbs, basic.signature);
  } catch (e) {
    if (!(e instanceof MailPkiError)) throw e;
    problems.push({ code: 'OCSP_ALGORITHM_UNSUPPORTED', message: e.message });
    return;
  }
  if (!valid) problems.push({ code: 'OCSP_SIGNATURE_INVALID', message: 'the response signature does not verify with the responder’s key' });
}

/** ecdsaDerToRaw accepts any constructed tag around (r, s); only a SEQUENCE is an Ecdsa-Sig-Value. */
function ecdsaShapeOk(alg: Certificate['signatureAlgorithm'], signature: Uint8Array): boolean {
  return !('scheme' in alg) || alg.scheme !== 'ecdsa' || signature[0] === 0x30;
}
