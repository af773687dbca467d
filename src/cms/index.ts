/** CMS SignedData (RFC 5652) for S/MIME (RFC 8551): `mailpki/cms`. */
export { signData, type CmsSigner, type SignDataOptions } from './sign.js';
export {
  parseContentInfo,
  parseSignedData,
  DEFAULT_CMS_LIMITS,
  type CmsLimits,
  type CmsSignatureAlgorithm,
  type ContentInfo,
  type SignedData,
  type SignerIdentifier,
  type SignerInfo,
} from './signed-data.js';
export {
  verifySignerInfo,
  findSignerCertificate,
  type CmsProblem,
  type CmsProblemCode,
  type SignerVerification,
  type VerifySignerOptions,
} from './verify.js';
export { MAX_BER_DEPTH } from './ber.js';
export type { Attribute, CmsDigestAlgorithm, EssCertId, IssuerSerial, SignedAttributes } from './attributes.js';
export { CMS_OID, type ContentKind } from './oids.js';
