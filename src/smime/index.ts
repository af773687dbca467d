/** `mailpki/smime`: sign and verify S/MIME messages. */
export { signMessage, type SignMessageOptions, type SmimeSigner } from './sign.js';
export { loadSignerFromPem, loadSignerFromPkcs12, type LoadSignerOptions } from './load-signer.js';
export { verifyMessage, MAX_SIGNATURE_LAYERS, SMIME_BR_MAILBOX_VALIDATED_POLICIES, type CertificateInput, type VerifyMessageOptions, type VerifyRevocationOptions } from './verify.js';
export { DEFAULT_VERIFICATION_LIMITS, type VerificationLimits } from './limits.js';
export type {
  CertificateSummary,
  SignerResult,
  SmimeProblem,
  SmimeProblemCode,
  SmimeWarning,
  SmimeWarningCode,
  Verdict,
} from './verdict.js';
