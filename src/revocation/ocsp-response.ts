/** Reading an OCSPResponse and its BasicOCSPResponse (RFC 6960 §4.2.1). Parsing only: no checks of trust. */
import { MailPkiError } from '../errors.js';
import {
  Tag,
  contentOf,
  cursor,
  encodedOf,
  type Der,
  readBitString,
  readOctetString,
  readOid,
  readSmallInt,
  readTime,
} from '../internal/der.js';
import { parseSignatureAlgorithm, type ParsedSignatureAlgorithm } from '../keys/algorithms.js';
import { parseCertificate, type Certificate } from '../certs/certificate.js';
import { readName, type Name } from '../certs/name.js';
import type { RevocationReason } from '../ca/types.js';
import {
  MAX_OCSP_CERTS,
  MAX_OCSP_ENTRIES,
  MAX_OCSP_RESPONSE_BYTES,
  OCSP_OID,
  OCSP_STATUS_BY_NUMBER,
  REASON_BY_NUMBER,
  guardParse,
  malformed,
  nonceFromExtensionValue,
  readCertId,
  sequence,
  readOcspExtensions,
  type CertId,
  type OcspCertStatus,
  type OcspExtension,
  type OcspResponseStatus,
} from './ocsp-common.js';

export type ResponderId = { type: 'byKey'; keyHash: Uint8Array } | { type: 'byName'; name: Name };

export interface SingleResponse {
  certId: CertId;
  certStatus: OcspCertStatus;
  revocationTime?: Date;
  revocationReason?: RevocationReason;
  thisUpdate: Date;
  nextUpdate?: Date;
  /** singleExtensions, when present. */
  extensions: OcspExtension[];
}

export interface BasicOcspResponse {
  /** The ResponseData DER: what the responder signed. */
  tbs: Uint8Array;
  responderId: ResponderId;
  producedAt: Date;
  responses: SingleResponse[];
  /** The nonce echoed by the responder (contents of the OCTET STRING). */
  nonce?: Uint8Array;
  /** responseExtensions, when present (the nonce among them). */
  extensions: OcspExtension[];
  certs: Certificate[];
  signatureAlgorithm: ParsedSignatureAlgorithm | { unsupported: string };
  signature: Uint8Array;
}

export interface ParsedOcspResponse {
  responseStatus: OcspResponseStatus;
  /** Present when responseStatus is 'successful'. */
  basic?: BasicOcspResponse;
}

/**
 * Reads an OCSPResponse. Malformed input throws ERR_DER_MALFORMED; input over
 * MAX_OCSP_RESPONSE_BYTES (1 MiB), or with more than MAX_OCSP_ENTRIES responses or
 * MAX_OCSP_CERTS certificates, throws ERR_INPUT_TOO_LARGE. A response type other than
 * id-pkix-ocsp-basic is ERR_DER_MALFORMED too: there is nothing else in use.
 */
export function parseOcspResponse(der: Uint8Array): ParsedOcspResponse {
  if (!(der instanceof Uint8Array)) throw new MailPkiError('ERR_INVALID_INPUT', 'parseOcspResponse: expected a Uint8Array', { details: { field: 'der' } });
  if (der.length > MAX_OCSP_RESPONSE_BYTES)
    throw new MailPkiError('ERR_INPUT_TOO_LARGE', `OCSP response is larger than ${MAX_OCSP_RESPONSE_BYTES} bytes`);
  return guardParse('OCSP response', () => {
    const c = cursor(sequence(der));
    const statusNode = c.next(Tag.ENUMERATED);
    const n = readSmallInt(statusNode);
    const responseStatus = OCSP_STATUS_BY_NUMBER.get(n) ?? malformed(`unknown responseStatus ${n}`);
    const bytesNode = c.optional(0xa0);
    c.end();
    if (responseStatus !== 'successful') {
      // RFC 6960 §4.2.1: responseBytes only come with a successful status.
      if (bytesNode) malformed('an unsuccessful OCSP response carries responseBytes');
      return { responseStatus };
    }
    if (!bytesNode) malformed('a successful OCSP response without responseBytes');
    const rbOuter = cursor(bytesNode);
    const rb = cursor(rbOuter.next(Tag.SEQUENCE));
    rbOuter.end();
    const type = readOid(rb.next(Tag.OID));
    const body = readOctetString(rb.next(Tag.OCTET_STRING));
    rb.end();
    if (type !== OCSP_OID.idPkixOcspBasic) malformed(`unsupported OCSP response type ${type}`);
    return { responseStatus, basic: readBasic(body) };
  });
}

function readBasic(bytes: Uint8Array): BasicOcspResponse {
  const c = cursor(sequence(bytes));
  const tbsNode = c.next(Tag.SEQUENCE);
  const sigAlgNode = c.next(Tag.SEQUENCE);
  const { bits: signature, unused } = readBitString(c.next(Tag.BIT_STRING));
  if (unused !== 0) malformed('signature has padding bits');
  const certsNode = c.optional(0xa0);
  c.end();

  let signatureAlgorithm: BasicOcspResponse['signatureAlgorithm'];
  try {
    signatureAlgorithm = parseSignatureAlgorithm(sigAlgNode);
  } catch (e) {
    if (!(e instanceof MailPkiError) || e.code !== 'ERR_ALGORITHM_UNSUPPORTED') throw e;
    signatureAlgorithm = { unsupported: e.message };
  }

  const certs: Certificate[] = [];
  if (certsNode) {
    const outer = cursor(certsNode);
    const list = cursor(outer.next(Tag.SEQUENCE));
    outer.end();
    while (!list.done) {
      if (certs.length >= MAX_OCSP_CERTS) throw new MailPkiError('ERR_INPUT_TOO_LARGE', `OCSP response carries more than ${MAX_OCSP_CERTS} certificates`);
      const node = list.next(Tag.SEQUENCE);
      try {
        certs.push(parseCertificate(encodedOf(node).slice()));
      } catch (e) {
        throw new MailPkiError('ERR_DER_MALFORMED', `invalid OCSP data: a certificate in certs: ${(e as Error).message}`, { cause: e });
      }
    }
  }

  const t = cursor(tbsNode);
  const version = t.optional(0xa0);
  if (version) {
    const v = cursor(version);
    if (readSmallInt(v.next(Tag.INTEGER)) !== 0) malformed('unknown ResponseData version');
    v.end();
  }
  const ridNode = t.next();
  let responderId: ResponderId;
  if (ridNode.tag === 0xa1) {
    const r = cursor(ridNode);
    responderId = { type: 'byName', name: readName(r.next(Tag.SEQUENCE)) };
    r.end();
  } else if (ridNode.tag === 0xa2) {
    const r = cursor(ridNode);
    const keyHash = readOctetString(r.next(Tag.OCTET_STRING));
    r.end();
    if (keyHash.length !== 20) malformed('ResponderID byKey is not a SHA-1 hash');
    responderId = { type: 'byKey', keyHash };
  } else malformed('bad ResponderID');
  const producedAt = readGeneralizedTime(t.next(Tag.GENERALIZED_TIME));
  const list = cursor(t.next(Tag.SEQUENCE));
  const responses: SingleResponse[] = [];
  while (!list.done) {
    if (responses.length >= MAX_OCSP_ENTRIES) throw new MailPkiError('ERR_INPUT_TOO_LARGE', `OCSP response has more than ${MAX_OCSP_ENTRIES} responses`);
    responses.push(readSingle(list.next(Tag.SEQUENCE)));
  }
  const extNode = t.optional(0xa1);
  t.end();
  let extensions: OcspExtension[] = [];
  if (extNode) {
    const e = cursor(extNode);
    extensions = readOcspExtensions(e.next(Tag.SEQUENCE));
    e.end();
  }
  const nonceExt = extensions.find((e) => e.oid === OCSP_OID.idPkixOcspNonce);
  return {
    tbs: encodedOf(tbsNode),
    responderId,
    producedAt,
    responses,
    ...(nonceExt && { nonce: nonceFromExtensionValue(nonceExt.value) }),
    extensions,
    certs,
    signatureAlgorithm,
    signature,
  };
}

function readSingle(node: Der): SingleResponse {
  const c = cursor(node);
  const certId = readCertId(c.next(Tag.SEQUENCE));
  const st = c.next();
  let certStatus: OcspCertStatus;
  let revocationTime: Date | undefined;
  let revocationReason: RevocationReason | undefined;
  if (st.tag === 0x80 || st.tag === 0x82) {
    if (st.end !== st.contentStart) malformed('good/unknown CertStatus must be empty');
    certStatus = st.tag === 0x80 ? 'good' : 'unknown';
  } else if (st.tag === 0xa1) {
    certStatus = 'revoked';
    const r = cursor(st);
    revocationTime = readGeneralizedTime(r.next(Tag.GENERALIZED_TIME));
    const reasonNode = r.optional(0xa0);
    r.end();
    if (reasonNode) {
      const rc = cursor(reasonNode);
      const v = readSmallInt(rc.next(Tag.ENUMERATED));
      rc.end();
      revocationReason = REASON_BY_NUMBER.get(v) ?? malformed(`unknown CRLReason ${v}`);
    }
  } else malformed('bad CertStatus');
  const thisUpdate = readGeneralizedTime(c.next(Tag.GENERALIZED_TIME));
  let nextUpdate: Date | undefined;
  const nu = c.optional(0xa0);
  if (nu) {
    const n = cursor(nu);
    nextUpdate = readGeneralizedTime(n.next(Tag.GENERALIZED_TIME));
    n.end();
  }
  const ext = c.optional(0xa1);
  c.end();
  let extensions: OcspExtension[] = [];
  if (ext) {
    const e = cursor(ext);
    extensions = readOcspExtensions(e.next(Tag.SEQUENCE));
    e.end();
  }
  return {
    certId,
    certStatus,
    ...(revocationTime && { revocationTime }),
    ...(revocationReason && { revocationReason }),
    thisUpdate,
    ...(nextUpdate && { nextUpdate }),
    extensions,
  };
}

function readGeneralizedTime(node: Der): Date {
  // readTime checks the tag; the length bound keeps the regex away from huge strings.
  if (contentOf(node).length > 32) malformed('GeneralizedTime too long');
  return readTime(node);
}
