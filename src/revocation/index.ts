/** `mailpki/revocation`: CRLs, OCSP, and the revocation checker used by verifyMessage. */
export * from './crl.js';
export * from './ocsp.js';
export {
  MAX_CERTIFICATE_URLS_PER_METHOD,
  MAX_HELD_CRLS,
  MemoryRevocationCache,
  RevocationChecker,
  SUPPLIED_CRL,
  type RevocationAnswer,
  type RevocationCache,
  type RevocationCheckerOptions,
  type RevocationMethod,
  type RevocationPolicy,
  type RevocationResult,
} from './checker.js';
