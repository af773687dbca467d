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
export { MAX_BER_DEPTH, MAX_BER_NODES } from './ber.js';
export type { Attribute, CmsDigestAlgorithm, EssCertId, IssuerSerial, SignedAttributes } from './attributes.js';
export { CMS_OID, type ContentKind } from './oids.js';
export { encryptData, MAX_ENCRYPT_CONTENT_BYTES, MAX_ENCRYPT_RECIPIENTS, MIN_RECIPIENT_RSA_BITS, type CmsRecipient, type EncryptDataOptions } from './encrypt.js';
export { decryptData, MAX_DECRYPT_ATTEMPTS, type CmsDecryptionKey, type DecryptedData, type DecryptDataOptions } from './decrypt.js';
export {
  parseEnvelopedData,
  listRecipientIdentifiers,
  readRecipientIdentifiers,
  DEFAULT_ENVELOPED_LIMITS,
  MAX_DESCRIBED_NAME_BYTES,
  MAX_DESCRIBED_NAME_CHARS,
  MAX_ENCRYPTED_CONTENT_CHUNKS,
  type ContentEncryptionAlgorithm,
  type KeyManagement,
  type EnvelopedData,
  type EnvelopedLimits,
  type KeyTransRecipient,
  type Recipient,
  type RecipientIdentifier,
} from './enveloped-data.js';
export { importDecryptionKey, importDecryptionKeyFromPkcs12, type ImportDecryptionKeyOptions } from './decryption-key.js';
export type { AesGcmCipher } from './content-encryption.js';
