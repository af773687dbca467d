/** `mailpki/certs`: parse, describe and build X.509 certificates and PKCS#10 requests. */
export {
  MAX_CERTIFICATE_BYTES,
  certificateEmails,
  certificateMailboxes,
  certificateFingerprint,
  certificateSha256,
  certificateToPem,
  isSelfIssued,
  parseCertificate,
  parseCertificates,
  type Certificate,
  type CertificateMailboxes,
} from './certificate.js';
export { describeCertificate, formatDescription, type CertificateDescription } from './describe.js';
export { createCsr, csrToPem, parseCsr, verifyCsr, MAX_CSR_BYTES, type CertificationRequest, type CreateCsrOptions } from './csr.js';
export {
  MAX_PREPARED_NAME_BYTES,
  encodeName,
  formatName,
  nameValues,
  nameWithinSubtree,
  namesMatch,
  type Name,
  type NameAttribute,
  type AttributeTypeAndValue,
} from './name.js';
export {
  KEY_USAGE_BITS,
  type BasicConstraints,
  type Extension,
  type GeneralNames,
  type KeyUsageName,
} from './extensions.js';
export {
  authorityInfoAccessValue,
  authorityKeyIdentifierValue,
  basicConstraintsValue,
  certificatePoliciesValue,
  computeKeyIdentifier,
  crlDistributionPointsValue,
  extKeyUsageValue,
  inhibitAnyPolicyValue,
  keySigner,
  keyUsageValue,
  policyConstraintsValue,
  policyMappingsValue,
  randomSerial,
  signCertificate,
  subjectAltNameValue,
  subjectKeyIdentifierValue,
  type ExtensionInput,
  type TbsCertificateInput,
  type TbsSigner,
} from './builder.js';
export { SignatureCheckCache } from './chain-signatures.js';
export { MAX_NAME_CONSTRAINT_CHECKS } from './chain-names.js';
export {
  MAX_POLICIES_PER_CERTIFICATE,
  MAX_POLICY_GRAPH_SIZE,
  MAX_POLICY_MAPPINGS_PER_CERTIFICATE,
  processPolicies,
  type ChainPolicies,
  type PolicyOptions,
  type PolicyOutcome,
  type PolicyProblem,
  type PolicyProblemCode,
} from './chain-policy.js';
export {
  MAX_BUILD_STEPS,
  MAX_ISSUER_CANDIDATES,
  MAX_SIGNATURE_CHECKS,
  chainProblemCodes,
  validateChain,
  type ChainProblem,
  type ChainProblemCode,
  type ChainPurpose,
  type ChainResult,
  type ValidateChainOptions,
} from './chain.js';
