/**
 * OCSP requests (RFC 6960 §4.1): building one for a certificate, reading one (as a responder),
 * and the GET form of Appendix A.1.
 */
import { z } from 'zod';
import { MailPkiError } from '../errors.js';
import { fromBase64, toBase64 } from '../internal/bytes.js';
import { resolveCrypto, randomBytes } from '../internal/crypto.js';
import { Tag, cursor, explicit, octets, readSmallInt, seq } from '../internal/der.js';
import { parseInput } from '../internal/validate.js';
import type { Certificate } from '../certs/certificate.js';
import {
  MAX_OCSP_ENTRIES,
  MAX_OCSP_NONCE_BYTES,
  MAX_OCSP_REQUEST_BYTES,
  OCSP_OID,
  buildCertId,
  guardParse,
  malformed,
  nonceExtension,
  nonceFromExtensionValue,
  readCertId,
  sequence,
  readOcspExtensions,
  type CertId,
  type OcspHash,
} from './ocsp-common.js';

/** Bytes of a nonce made by `nonce: true` (RFC 8954 allows 1 to 32). */
export const OCSP_NONCE_BYTES = 32;

const isCertificate = (v: unknown): v is Certificate =>
  typeof v === 'object' && v !== null && (v as Certificate).der instanceof Uint8Array && (v as Certificate).subject !== undefined;
const certificate = z.custom<Certificate>(isCertificate, 'expected a parsed Certificate (parseCertificate)');

const createRequestSchema = z
  .object({
    certificate,
    issuer: certificate,
    nonce: z
      .union([z.literal(true), z.custom<Uint8Array>((v) => v instanceof Uint8Array && v.length >= 1 && v.length <= 32, 'expected 1 to 32 bytes')])
      .optional(),
    hash: z.enum(['SHA-1', 'SHA-256']).default('SHA-1'),
    crypto: z.custom<Crypto>((v) => typeof v === 'object' && v !== null).optional(),
  })
  .strict();

export interface CreateOcspRequestOptions {
  certificate: Certificate;
  /** The certificate of the CA that issued `certificate`. */
  issuer: Certificate;
  /** A nonce to send (1–32 bytes), or `true` for 32 random bytes. Default: none. */
  nonce?: Uint8Array | true;
  /** CertID hash. Default SHA-1: what deployed responders index by (RFC 6960 §4.3; RFC 5019). */
  hash?: 'SHA-1' | 'SHA-256';
  crypto?: Crypto;
}

export interface OcspRequest {
  /** The OCSPRequest DER, to POST as `application/ocsp-request` or GET with `ocspGetUrl`. */
  der: Uint8Array;
  certId: CertId;
  /** The nonce sent; pass it to `validateOcspResponse`. */
  nonce?: Uint8Array;
}

/**
 * Builds an unsigned OCSP request for one certificate.
 *
 * @example
 * const req = createOcspRequest({ certificate: leaf, issuer, nonce: true });
 * const res = await fetch(leaf.ocspUrls[0], { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: req.der });
 */
export function createOcspRequest(options: CreateOcspRequestOptions): OcspRequest {
  const opts = parseInput(createRequestSchema, options, 'createOcspRequest options');
  if (!sameBytes(opts.certificate.issuer.der, opts.issuer.subject.der))
    throw new MailPkiError('ERR_INVALID_INPUT', 'createOcspRequest options: issuer: is not the issuer named in the certificate', {
      details: { field: 'issuer' },
    });
  const certId = buildCertId(opts.certificate, opts.issuer, opts.hash as OcspHash);
  const nonce = opts.nonce === true ? randomBytes(resolveCrypto(opts.crypto), OCSP_NONCE_BYTES) : opts.nonce?.slice();
  const tbs = seq(seq(seq(certId.der)), ...(nonce ? [explicit(2, seq(nonceExtension(octets(nonce))))] : []));
  return { der: seq(tbs), certId, ...(nonce && { nonce }) };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export interface ParsedOcspRequest {
  requests: CertId[];
  /** The nonce the client sent (contents of the OCTET STRING). */
  nonce?: Uint8Array;
  /** The nonce extension value exactly as sent, which a responder echoes. */
  nonceExtensionValue?: Uint8Array;
  /** Whether the request carried an optionalSignature (not verified: mailpki's responder does not require one). */
  signed: boolean;
}

/**
 * Reads an OCSPRequest. Malformed input throws ERR_DER_MALFORMED, oversized input
 * ERR_INPUT_TOO_LARGE (more than MAX_OCSP_REQUEST_BYTES, or more than MAX_OCSP_ENTRIES CertIDs).
 */
export function parseOcspRequest(der: Uint8Array): ParsedOcspRequest {
  if (!(der instanceof Uint8Array)) throw new MailPkiError('ERR_INVALID_INPUT', 'parseOcspRequest: expected a Uint8Array', { details: { field: 'der' } });
  if (der.length > MAX_OCSP_REQUEST_BYTES)
    throw new MailPkiError('ERR_INPUT_TOO_LARGE', `OCSP request is larger than ${MAX_OCSP_REQUEST_BYTES} bytes`);
  return guardParse('OCSP request', () => {
    const outer = cursor(sequence(der));
    const tbs = cursor(outer.next(Tag.SEQUENCE));
    const signature = outer.optional(0xa0);
    outer.end();
    const version = tbs.optional(0xa0);
    if (version) {
      const v = cursor(version);
      if (readSmallInt(v.next(Tag.INTEGER)) !== 0) malformed('unknown OCSP request version');
      v.end();
    }
    tbs.optional(0xa1); // requestorName
    const list = cursor(tbs.next(Tag.SEQUENCE));
    const requests: CertId[] = [];
    while (!list.done) {
      if (requests.length >= MAX_OCSP_ENTRIES)
        throw new MailPkiError('ERR_INPUT_TOO_LARGE', `OCSP request has more than ${MAX_OCSP_ENTRIES} CertIDs`);
      const r = cursor(list.next(Tag.SEQUENCE));
      requests.push(readCertId(r.next(Tag.SEQUENCE)));
      const single = r.optional(0xa0);
      if (single) readOcspExtensions(cursor(single).next(Tag.SEQUENCE));
      r.end();
    }
    if (requests.length === 0) malformed('OCSP request asks about no certificate');
    const extNode = tbs.optional(0xa2);
    tbs.end();
    const out: ParsedOcspRequest = { requests, signed: signature !== undefined };
    if (extNode) {
      const ec = cursor(extNode);
      const exts = readOcspExtensions(ec.next(Tag.SEQUENCE));
      ec.end();
      const n = exts.find((e) => e.oid === OCSP_OID.idPkixOcspNonce);
      if (n) {
        if (n.value.length === 0 || n.value.length > MAX_OCSP_NONCE_BYTES + 3) malformed('OCSP nonce is empty or too long');
        out.nonceExtensionValue = n.value;
        out.nonce = nonceFromExtensionValue(n.value);
      }
    }
    return out;
  });
}

/**
 * The GET URL of RFC 6960 Appendix A.1: `{base}/{url-encoded base64 of the DER}`. GET suits
 * small requests (and caching); the RFC lets clients use it below 255 bytes.
 */
export function ocspGetUrl(base: string, der: Uint8Array): string {
  if (typeof base !== 'string' || base.length === 0) throw new MailPkiError('ERR_INVALID_INPUT', 'ocspGetUrl: base must be a URL', { details: { field: 'base' } });
  return `${base.endsWith('/') ? base : `${base}/`}${encodeURIComponent(toBase64(der))}`;
}

/**
 * The request DER from the path of an OCSP GET (the part after the responder's base path, with
 * or without the leading "/"). Throws ERR_DER_MALFORMED when it is not URL-encoded base64, and
 * ERR_INPUT_TOO_LARGE when it is longer than any acceptable request.
 */
export function decodeOcspGetPath(path: string): Uint8Array {
  if (typeof path !== 'string') throw new MailPkiError('ERR_INVALID_INPUT', 'decodeOcspGetPath: expected a string', { details: { field: 'path' } });
  // Every request byte can take 3 characters after URL encoding of its base64.
  if (path.length > Math.ceil(MAX_OCSP_REQUEST_BYTES / 3) * 4 * 3 + 1)
    throw new MailPkiError('ERR_INPUT_TOO_LARGE', `OCSP GET path is longer than a ${MAX_OCSP_REQUEST_BYTES}-byte request`);
  let text = path.startsWith('/') ? path.slice(1) : path;
  try {
    text = decodeURIComponent(text);
  } catch (e) {
    throw new MailPkiError('ERR_DER_MALFORMED', 'invalid OCSP GET path: bad percent-encoding', { cause: e });
  }
  if (/[\s]/.test(text)) throw new MailPkiError('ERR_DER_MALFORMED', 'invalid OCSP GET path: white space in base64');
  const der = fromBase64(text);
  if (!der || der.length === 0) throw new MailPkiError('ERR_DER_MALFORMED', 'invalid OCSP GET path: not base64');
  return der;
}
