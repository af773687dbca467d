/**
 * mailpki: governed mail-signing identities. The root export is the small, safe API; building
 * blocks live behind subpaths (`mailpki/keys`, `mailpki/certs`, `mailpki/ca`, `mailpki/cms`,
 * `mailpki/mime`, `mailpki/pkcs12`, and the Node adapters in `mailpki/node`).
 */
export { MailPkiError, errorCodes, isMailPkiError, type MailPkiErrorCode } from './errors.js';
export { KEY_TYPES, generateKeyPair, importPrivateKey, exportPkcs8Pem, type KeyType } from './keys/index.js';
export { importPkcs12, exportPkcs12 } from './pkcs12/index.js';
export {
  signMessage,
  verifyMessage,
  encryptMessage,
  signAndEncrypt,
  decryptMessage,
  loadSignerFromPem,
  loadSignerFromPkcs12,
  type SmimeSigner,
  type SignMessageOptions,
  type VerifyMessageOptions,
  type VerifyRevocationOptions,
  type Verdict,
  type SignerResult,
  type SmimeProblem,
  type SmimeProblemCode,
  type EncryptMessageOptions,
  type DecryptMessageOptions,
  type DecryptedMessage,
  type SmimeDecryptionKey,
  type SmimeRecipient,
} from './smime/index.js';
export { parseCertificate, parseCertificates, certificateEmails, describeCertificate, createCsr, type Certificate } from './certs/index.js';
export {
  LocalCA,
  MemoryCaStorage,
  validatedCa,
  SMIME_PROFILES,
  REVOCATION_REASONS,
  type CertificateAuthority,
  type CaStorage,
  type IssueRequest,
  type IssuedCertificate,
  type RevokeRequest,
  type RevocationRecord,
  type SmimeProfile,
} from './ca/index.js';
export {
  LifecycleManager,
  createWebhookSink,
  verifyWebhookSignature,
  verifyAuditLog,
  exportAuditLog,
} from './lifecycle/index.js';
export { MemoryStore, passphraseKeyProtector, type Store, type KeyProtector } from './store/index.js';
export { RevocationChecker, type RevocationPolicy, type RevocationResult } from './revocation/index.js';
export { signDkim, signDkimMessage, verifyDkim, generateDkimKey, dkimRecord, authenticationResults, type DkimResult } from './dkim/index.js';
