/**
 * OCSP (RFC 6960): requests, a responder, and client-side validation. Runtime-agnostic: no
 * network here — callers POST `createOcspRequest(...).der` (or GET `ocspGetUrl`) with their own
 * fetch and hand the bytes to `validateOcspResponse`.
 */
export {
  MAX_OCSP_CERTS,
  MAX_OCSP_ENTRIES,
  MAX_OCSP_NONCE_BYTES,
  MAX_OCSP_REQUEST_BYTES,
  MAX_OCSP_RESPONSE_BYTES,
  type CertId,
  type OcspCertStatus,
  type OcspExtension,
  type OcspHash,
  type OcspResponseStatus,
} from './ocsp-common.js';
export {
  OCSP_NONCE_BYTES,
  createOcspRequest,
  decodeOcspGetPath,
  ocspGetUrl,
  parseOcspRequest,
  type CreateOcspRequestOptions,
  type OcspRequest,
  type ParsedOcspRequest,
} from './ocsp-request.js';
export {
  createOcspErrorResponse,
  createOcspResponse,
  ocspResponderExtensions,
  type CreateOcspResponseOptions,
  type OcspLookupResult,
  type OcspResponseSigner,
} from './ocsp-responder.js';
export { parseOcspResponse, type BasicOcspResponse, type ParsedOcspResponse, type ResponderId, type SingleResponse } from './ocsp-response.js';
export {
  DEFAULT_OCSP_CLOCK_SKEW_MS,
  DEFAULT_OCSP_MAX_AGE_MS,
  validateOcspResponse,
  type OcspProblem,
  type OcspProblemCode,
  type OcspResponderInfo,
  type OcspValidationResult,
  type ValidateOcspResponseOptions,
} from './ocsp-validate.js';
