/**
 * One error type for everything mailpki refuses. `code` is stable and meant for `switch`;
 * `message` is for a person. A verification *outcome* is never an error: it is a verdict object.
 */

/** Every error code mailpki throws, with the one-line meaning used in docs/errors.md. */
export const errorCodes = {
  // General
  ERR_INVALID_INPUT: 'An argument or option failed validation; the message names the field.',
  ERR_INPUT_TOO_LARGE: 'Input is larger than the documented limit.',
  ERR_NESTING_TOO_DEEP: 'Input nests deeper than the documented limit.',
  ERR_UNSUPPORTED_RUNTIME: 'The runtime lacks what is needed (WebCrypto, a DNS client) and no replacement was passed; the message names the option.',
  ERR_IO: 'Reading or writing a file or directory failed.',
  // Encodings
  ERR_PEM_MALFORMED: 'Text is not valid PEM, or has no block with the expected label.',
  ERR_DER_MALFORMED: 'Bytes are not valid DER for the expected structure.',
  // Keys
  ERR_KEY_MALFORMED: 'A key could not be parsed.',
  ERR_KEY_UNSUPPORTED: 'The key type, curve or algorithm is not supported.',
  ERR_KEY_WEAK: 'The key is weaker than policy allows (e.g. RSA below 2048 bits).',
  ERR_KEY_NOT_EXTRACTABLE: 'Export was asked of a key that cannot be exported.',
  ERR_KEY_MISMATCH: 'The private key does not belong to the certificate.',
  ERR_KEY_EXPORT_REFUSED: 'The key export would hand out a key that still signs for a current certificate (a dual-use key); use separate signing and encryption certificates, or acknowledge it with the explicit option.',
  ERR_PASSPHRASE_REQUIRED: 'The input is encrypted and no passphrase was given.',
  ERR_PASSPHRASE_WRONG: 'The passphrase is wrong, or the encrypted data was altered.',
  ERR_ALGORITHM_UNSUPPORTED: 'The input uses an algorithm mailpki does not implement.',
  // PKCS#12
  ERR_PKCS12_MALFORMED: 'The PKCS#12 (.p12/.pfx) file could not be parsed.',
  ERR_PKCS12_MAC_INVALID: 'The PKCS#12 integrity check failed: wrong passphrase or altered file.',
  ERR_PKCS12_CONTENT: 'The PKCS#12 file does not hold what was expected (e.g. no key, several keys).',
  // Certificates
  ERR_CERT_MALFORMED: 'A certificate could not be parsed.',
  ERR_CSR_MALFORMED: 'A certificate signing request could not be parsed.',
  ERR_CSR_SIGNATURE_INVALID: 'The certificate signing request is not signed by its own key.',
  // CA
  ERR_CA_POLICY_VIOLATION: 'The request breaks the CA profile or policy; the message says which rule.',
  ERR_CA_MAILBOX_NOT_ALLOWED: 'The mailbox is outside the domains this CA may issue for.',
  ERR_CA_VALIDITY_EXCEEDED: 'The requested validity is longer than the profile allows.',
  ERR_CA_REJECTED: 'The CA refused the request.',
  ERR_CA_UNAVAILABLE: 'The CA could not be reached or did not answer in time.',
  ERR_CA_RESPONSE_INVALID: 'The CA answered with something that is not a valid result.',
  ERR_CA_NOT_FOUND: 'The CA does not know the certificate (serial) asked about.',
  ERR_CA_ALREADY_REVOKED: 'The certificate is already revoked.',
  ERR_CA_STATE_INVALID: 'The CA directory or state is missing, corrupted or from an unknown version.',
  ERR_CA_EXISTS: 'A CA already exists at that location; it is never overwritten.',
  // CMS / MIME / S/MIME
  ERR_CMS_MALFORMED: 'The CMS (PKCS#7) structure could not be parsed.',
  ERR_CMS_NOT_FOR_RECIPIENT: 'The encrypted message is not addressed to any of the given keys; the message lists the recipient identifiers it holds.',
  ERR_CMS_WRONG_KEY: 'A RecipientInfo names the key\'s certificate but the content-encryption key could not be unwrapped with it: the private key does not belong to the certificate, or the wrapped key was altered.',
  ERR_CMS_DECRYPTION_FAILED: 'The encrypted content failed its check (authentication tag, padding, wrong key or altered data); no plaintext is returned.',
  ERR_CMS_TRUNCATED: 'The encrypted message is cut short: content, tag or structure is missing.',
  ERR_CMS_UNWRAP_UNAVAILABLE: 'The key cannot do the unwrap the message needs (e.g. RSA PKCS#1 v1.5 with a non-extractable WebCrypto key); the message says what to pass.',
  ERR_MIME_MALFORMED: 'The MIME message could not be parsed.',
  ERR_SIGNER_INVALID: 'The signer (key, certificate, chain) cannot be used to sign.',
  ERR_ALGORITHM_WEAK: 'The algorithm is refused as weak (MD5, SHA-1, RSA below 2048 bits).',
  // S/MIME encryption
  ERR_RECIPIENT_MISSING: 'A To or Cc address has no recipient certificate naming it; the message lists the addresses (nothing was encrypted).',
  ERR_RECIPIENT_INVALID: 'A recipient certificate cannot be encrypted to (expired, untrusted, revoked, wrong key usage); nothing was encrypted.',
  // Revocation
  ERR_CRL_MALFORMED: 'A CRL could not be parsed.',
  ERR_OCSP_MALFORMED: 'An OCSP request or response could not be parsed.',
  ERR_REVOCATION_UNAVAILABLE: 'Revocation status could not be obtained (responder down, timeout, bad answer).',
  // Store and lifecycle
  ERR_STORE_CONFLICT: 'The record changed since it was read (another process won); retry the operation.',
  ERR_STORE_CORRUPT: 'The database is not a mailpki store, is from a newer version, or is damaged; it is never overwritten.',
  ERR_STORE_KEY_PROTECTION: 'A stored private key could not be decrypted: wrong passphrase or key-encryption key.',
  ERR_IDENTITY_NOT_FOUND: 'No identity with that name exists in the inventory.',
  ERR_IDENTITY_EXISTS: 'An identity with that name already exists.',
  ERR_IDENTITY_STATE: 'The operation is not possible in the identity\'s current state (e.g. renewing a decommissioned one).',
  ERR_POLICY_DENIED: 'The lifecycle policy forbids the operation; the message names the rule.',
  ERR_APPROVAL_DENIED: 'The approval hook refused the issuance.',
  // Sending
  ERR_PREFLIGHT_FAILED: 'A message was not sent: the preflight before signing failed; the message lists every failed check (details.failed).',
  ERR_SEND_INCOMPLETE: 'sendEach stopped at a copy the transport refused: details.sent lists the copies that were sent, details.pending those that were not (retry them with { resume: details }).',
  // DNS publishing
  ERR_DNS_UPDATE_REFUSED: 'The DNS server refused the dynamic update (RCODE or TSIG error in its answer: unknown key, bad signature, not authoritative).',
  ERR_DNS_UNAVAILABLE: 'The DNS server could not be reached or did not answer in time.',
  ERR_DNS_RESPONSE_INVALID: 'The DNS server answered with a malformed message, or its TSIG signature does not verify.',
  // CLI
  ERR_USAGE: 'The command line is not valid; see `mailpki help`.',
} as const;

export type MailPkiErrorCode = keyof typeof errorCodes;

export interface MailPkiErrorOptions {
  cause?: unknown;
  /** Machine-readable context (field name, limit, ...). Never secrets. */
  details?: Record<string, unknown>;
}

export class MailPkiError extends Error {
  override readonly name = 'MailPkiError';
  readonly code: MailPkiErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: MailPkiErrorCode, message: string, options: MailPkiErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }
}

/** True when `e` is a MailPkiError, optionally with the given code. */
export function isMailPkiError(e: unknown, code?: MailPkiErrorCode): e is MailPkiError {
  return e instanceof MailPkiError && (code === undefined || e.code === code);
}
