/**
 * Certificate revocation lists (RFC 5280 §5): create and sign, parse into an indexed view, and
 * verify against the issuer. Sized for CAs with hundreds of thousands of revocations.
 */
export {
  MAX_CRL_SERIAL_BYTES,
  createCrl,
  crlToPem,
  type CreateCrlOptions,
  type CrlEntryInput,
} from './crl-create.js';
export {
  MAX_CRL_BYTES,
  parseCrl,
  type Crl,
  type CrlEntry,
  type CrlExtension,
  type CrlLimits,
  type CrlRevocation,
  type IssuingDistributionPoint,
} from './crl-parse.js';
export {
  crlCoverage,
  crlProblemCodes,
  verifyCrl,
  type CrlCoverage,
  type CrlProblem,
  type CrlProblemCode,
  type CrlVerification,
  type VerifyCrlOptions,
} from './crl-verify.js';
export {
  MAX_CRL_ENTRIES_SCANNED,
  MAX_CRL_ISSUER_DEPTH,
  MAX_CRL_SIGNATURE_CHECKS,
  MAX_DISTRIBUTION_POINTS,
  MAX_SUPPLIED_CRLS,
  CrlSession,
  checkCertificateWithCrls,
  type CrlCheckOptions,
  type CrlInput,
  type CrlStatus,
} from './crl-path.js';
