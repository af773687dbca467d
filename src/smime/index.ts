/** `mailpki/smime`: sign, encrypt, decrypt and verify S/MIME messages. */
export { signMessage, type SignMessageOptions, type SmimeSigner } from './sign.js';
export { loadSignerFromPem, loadSignerFromPkcs12, type LoadSignerOptions } from './load-signer.js';
export { encryptMessage, signAndEncrypt, type EncryptMessageOptions } from './encrypt.js';
export { decryptMessage, type DecryptMessageOptions, type DecryptedMessage, type SmimeDecryptionKey } from './decrypt.js';
export { MAX_RECIPIENTS, type SmimeRecipient } from './recipients.js';
export { MAX_HP_OUTER_BYTES, MAX_HP_OUTER_FIELDS, OBSCURED_SUBJECT, type HeaderConfidentialityPolicy, type HeaderDifference, type HeaderProtection } from './protected-headers.js';
export { verifyMessage, MAX_SIGNATURE_LAYERS, MAX_ENCRYPTED_LAYERS, SMIME_BR_MAILBOX_VALIDATED_POLICIES, type CertificateInput, type VerifyMessageOptions, type VerifyRevocationOptions } from './verify.js';
export { DEFAULT_VERIFICATION_LIMITS, type VerificationLimits } from './limits.js';
export type {
  CertificateSummary,
  EncryptedLayer,
  SignedLayer,
  SignerResult,
  SmimeProblem,
  SmimeProblemCode,
  SmimeWarning,
  SmimeWarningCode,
  Verdict,
} from './verdict.js';
