/**
 * The responder side of OCSP (RFC 6960 §4.2): a signed BasicOCSPResponse for a parsed request,
 * error responses, and the extensions of a delegated responder certificate.
 */
import { z } from 'zod';
import { MailPkiError } from '../errors.js';
import { equalBytes } from '../internal/bytes.js';
import { Tag, bitString, enumerated, explicit, generalizedTime, octets, oid, seq, tlv } from '../internal/der.js';
import { OID } from '../internal/oids.js';
import { parseInput } from '../internal/validate.js';
import { signatureAlgorithmIdentifier } from '../keys/algorithms.js';
import { basicConstraintsValue, extKeyUsageValue, keyUsageValue, type ExtensionInput, type TbsSigner } from '../certs/builder.js';
import type { Certificate } from '../certs/certificate.js';
import { REVOCATION_REASONS, type RevocationReason } from '../ca/types.js';
import {
  MAX_OCSP_ENTRIES,
  OCSP_OID,
  OCSP_RESPONSE_STATUS,
  certIdMatchesIssuer,
  nonceExtension,
  responderKeyHash,
  type CertId,
} from './ocsp-common.js';
import type { ParsedOcspRequest } from './ocsp-request.js';

/**
 * What the CA knows about one serial. `nonIssued`: a serial the CA reserved or signed but has not
 * (or not yet) recorded as issued — answered, as RFC 6960 §2.2 says, as revoked with reason
 * certificateHold at 1970-01-01 and the extended-revoke extension, never as good or unknown.
 */
export type OcspLookupResult =
  | { status: 'good' }
  | { status: 'revoked'; revokedAt: Date; reason?: RevocationReason }
  | { status: 'unknown' }
  | { status: 'nonIssued' };

export interface OcspResponseSigner {
  /** The CA certificate itself, or a delegated responder certificate issued by it (then sent in `certs`). */
  certificate: Certificate;
  signer: TbsSigner;
}

export interface CreateOcspResponseOptions {
  request: ParsedOcspRequest;
  signer: OcspResponseSigner;
  /** The CA whose certificates this responder answers for; CertIDs of any other issuer get `unknown`. */
  issuer: Certificate;
  /** Status of a serial (lower-case hex) of `issuer`. */
  lookup: (serialHex: string, certId: CertId) => OcspLookupResult | Promise<OcspLookupResult>;
  thisUpdate: Date;
  /** When newer information will be available; absent means "any time" (clients then apply their own max age). */
  nextUpdate?: Date;
  producedAt: Date;
  /** Default 'byKey' (SHA-1 of the signer's public key). */
  responderId?: 'byKey' | 'byName';
}

const date = z.date().refine((d) => !Number.isNaN(d.getTime()), 'invalid date');
const schema = z
  .object({
    request: z.custom<ParsedOcspRequest>(
      (v) =>
        typeof v === 'object' &&
        v !== null &&
        Array.isArray((v as ParsedOcspRequest).requests) &&
        (v as ParsedOcspRequest).requests.length > 0 &&
        (v as ParsedOcspRequest).requests.every((r) => typeof r === 'object' && r !== null && r.der instanceof Uint8Array),
      'expected a parsed request (parseOcspRequest) with at least one CertID',
    ),
    signer: z.object({
      certificate: z.custom<Certificate>((v) => typeof v === 'object' && v !== null && (v as Certificate).der instanceof Uint8Array),
      signer: z.custom<TbsSigner>((v) => typeof v === 'object' && v !== null && typeof (v as TbsSigner).sign === 'function'),
    }),
    issuer: z.custom<Certificate>((v) => typeof v === 'object' && v !== null && (v as Certificate).der instanceof Uint8Array),
    lookup: z.custom<CreateOcspResponseOptions['lookup']>((v) => typeof v === 'function'),
    thisUpdate: date,
    nextUpdate: date.optional(),
    producedAt: date,
    responderId: z.enum(['byKey', 'byName']).default('byKey'),
  })
  .strict()
  .refine((o) => !o.nextUpdate || o.nextUpdate >= o.thisUpdate, { message: 'nextUpdate is before thisUpdate', path: ['nextUpdate'] });

/**
 * A successful OCSPResponse with a BasicOCSPResponse answering every CertID of `request`,
 * signed by `signer`. The request's nonce is echoed. Lookup failures propagate (answer them
 * with `createOcspErrorResponse('internalError')`).
 *
 * @example
 * const req = parseOcspRequest(body);
 * const der = await createOcspResponse({ request: req, signer: { certificate: ca, signer: keySigner(caKey, alg) },
 *   issuer: ca, lookup: (serial) => ({ status: 'good' }), thisUpdate: now, nextUpdate: inOneHour, producedAt: now });
 */
export async function createOcspResponse(options: CreateOcspResponseOptions): Promise<Uint8Array> {
  const opts = parseInput(schema, options, 'createOcspResponse options');
  const { request, issuer, signer } = opts;
  if (request.requests.length > MAX_OCSP_ENTRIES)
    throw new MailPkiError('ERR_INPUT_TOO_LARGE', `OCSP request has more than ${MAX_OCSP_ENTRIES} CertIDs`);
  const delegated = !equalBytes(signer.certificate.der, issuer.der);

  const responses: Uint8Array[] = [];
  let extendedRevoke = false;
  for (const id of request.requests) {
    const answer: OcspLookupResult = certIdMatchesIssuer(id, issuer) ? await opts.lookup(id.serialNumber, id) : { status: 'unknown' };
    if (answer?.status === 'nonIssued') extendedRevoke = true;
    responses.push(
      seq(
        id.der,
        certStatus(answer),
        generalizedTime(opts.thisUpdate),
        ...(opts.nextUpdate ? [explicit(0, generalizedTime(opts.nextUpdate))] : []),
      ),
    );
  }
  const responderId =
    opts.responderId === 'byName' ? explicit(1, signer.certificate.subject.der) : explicit(2, octets(responderKeyHash(signer.certificate)));
  const nonce = request.nonceExtensionValue ?? (request.nonce && octets(request.nonce));
  const extensions = [
    ...(nonce ? [nonceExtension(nonce)] : []),
    ...(extendedRevoke ? [seq(oid(OCSP_OID.idPkixOcspExtendedRevoke), octets(Uint8Array.of(Tag.NULL, 0)))] : []),
  ];
  const tbs = seq(responderId, generalizedTime(opts.producedAt), seq(...responses), ...(extensions.length > 0 ? [explicit(1, seq(...extensions))] : []));
  const signature = await signer.signer.sign(tbs);
  const basic = seq(
    tbs,
    signatureAlgorithmIdentifier(signer.signer.algorithm),
    bitString(signature),
    ...(delegated ? [explicit(0, seq(signer.certificate.der))] : []),
  );
  return seq(enumerated(OCSP_RESPONSE_STATUS.successful), explicit(0, seq(oid(OCSP_OID.idPkixOcspBasic), octets(basic))));
}

function certStatus(answer: OcspLookupResult): Uint8Array {
  switch (answer.status) {
    case 'good':
      return Uint8Array.of(0x80, 0);
    case 'unknown':
      return Uint8Array.of(0x82, 0);
    case 'nonIssued':
      return tlv(0xa1, generalizedTime(new Date(0)), explicit(0, enumerated(REVOCATION_REASONS.certificateHold)));
    case 'revoked': {
      if (!(answer.revokedAt instanceof Date) || Number.isNaN(answer.revokedAt.getTime()))
        throw new MailPkiError('ERR_INVALID_INPUT', 'createOcspResponse: lookup returned a revoked status without a valid revokedAt', {
          details: { field: 'lookup' },
        });
      const reason = answer.reason;
      if (reason !== undefined && !Object.hasOwn(REVOCATION_REASONS, reason))
        throw new MailPkiError('ERR_INVALID_INPUT', `createOcspResponse: lookup returned an unknown reason "${String(reason)}"`, {
          details: { field: 'lookup' },
        });
      return tlv(0xa1, generalizedTime(answer.revokedAt), ...(reason ? [explicit(0, enumerated(REVOCATION_REASONS[reason]))] : []));
    }
    default:
      throw new MailPkiError('ERR_INVALID_INPUT', 'createOcspResponse: lookup returned an unknown status', { details: { field: 'lookup' } });
  }
}

/** An OCSPResponse without responseBytes: the answer to a request that cannot be served. */
export function createOcspErrorResponse(status: 'malformedRequest' | 'internalError' | 'tryLater' | 'sigRequired' | 'unauthorized'): Uint8Array {
  const n = OCSP_RESPONSE_STATUS[status];
  if (n === undefined || status === ('successful' as string)) throw new MailPkiError('ERR_INVALID_INPUT', `createOcspErrorResponse: not an error status: ${String(status)}`, { details: { field: 'status' } });
  return seq(tlv(Tag.ENUMERATED, Uint8Array.of(n)));
}

/**
 * Extensions for a delegated OCSP responder certificate (RFC 6960 §4.2.2.2): extKeyUsage
 * id-kp-OCSPSigning, keyUsage digitalSignature (critical), basicConstraints cA=false, and id-pkix-ocsp-nocheck, which tells
 * clients not to check the responder certificate's own revocation — so keep it short-lived.
 */
export function ocspResponderExtensions(options: { noCheck?: boolean } = {}): ExtensionInput[] {
  return [
    { oid: OID.basicConstraints, critical: true, value: basicConstraintsValue(false) },
    { oid: OID.keyUsage, critical: true, value: keyUsageValue(['digitalSignature']) },
    { oid: OID.extKeyUsage, critical: false, value: extKeyUsageValue([OID.idKpOCSPSigning]) },
    ...(options.noCheck === false ? [] : [{ oid: OID.idPkixOcspNocheck, critical: false, value: Uint8Array.of(Tag.NULL, 0) }]),
  ];
}
