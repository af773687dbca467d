/** `mailpki/ca`: the CertificateAuthority interface, its guard, the S/MIME BR profiles and LocalCA. */
export {
  REVOCATION_REASONS,
  SMIME_PROFILES,
  caInfoSchema,
  issueRequestSchema,
  issuedCertificateSchema,
  revocationRecordSchema,
  revokeRequestSchema,
  type CaInfo,
  type CertificateAuthority,
  type IssueRequest,
  type IssuedCertificate,
  type RevocationReason,
  type RevocationRecord,
  type RevokeRequest,
  type SmimeProfile,
} from './types.js';
export { validatedCa } from './validated.js';
export {
  PROFILE_RULES,
  caExtensions,
  checkSubscriberKey,
  isDomainAllowed,
  mailboxDomain,
  subscriberExtensions,
  subscriberKeyUsage,
  type ProfileRules,
} from './profiles.js';
export { MemoryCaStorage, type CaStorage } from './storage.js';
export {
  CA_FILES,
  CA_KEY_TYPES,
  LocalCA,
  createLocalCaSchema,
  type CaKeyType,
  type CreateLocalCaOptions,
  type IssuedRecord,
  type LocalCaRuntime,
} from './local-ca.js';
export { createCaHandler, type CaHandlerOptions } from './http.js';
