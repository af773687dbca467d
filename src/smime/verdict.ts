/** The verdict of verifyMessage: data a program can act on, with stable problem codes. */
import type { CmsProblem } from '../cms/index.js';
import type { ChainPolicies } from '../certs/chain-policy.js';
import type { ContentEncryptionAlgorithm, KeyManagement } from '../cms/index.js';
import type { RevocationResult } from '../revocation/checker.js';
import type { HeaderProtection } from './protected-headers.js';

export type SmimeProblemCode =
  // Structure: what is signed, and is it all of the message?
  | 'SMIME_NOT_SIGNED'
  | 'SMIME_PARTIALLY_SIGNED'
  | 'SMIME_STRUCTURE_INVALID'
  | 'SMIME_NESTING_TOO_DEEP'
  // Encryption
  | 'SMIME_ENCRYPTED_NO_KEY'
  | 'SMIME_DECRYPTION_FAILED'
  | 'SMIME_INTEGRITY_UNKNOWN'
  | 'SMIME_PARTIALLY_ENCRYPTED'
  | 'SMIME_ENCRYPTED_FROM_MISMATCH'
  | 'SMIME_WRAPPER_HEADER_MISMATCH'
  // CMS container
  | 'SMIME_CMS_MALFORMED'
  | 'SMIME_ECONTENT_IN_DETACHED'
  | 'SMIME_CONTENT_TYPE_NOT_DATA'
  | 'SMIME_NO_SIGNERS'
  // Work limits
  | 'SMIME_WORK_LIMIT_EXCEEDED'
  // Per signer
  | 'SMIME_SIGNER_CERTIFICATE_MISSING'
  | 'SMIME_SIGNATURE_INVALID'
  | 'SMIME_WEAK_ALGORITHM'
  | 'SMIME_CHAIN_INVALID'
  // Revocation
  | 'SMIME_CERTIFICATE_REVOKED'
  | 'SMIME_REVOCATION_UNAVAILABLE'
  | 'SMIME_REVOCATION_UNKNOWN'
  | 'SMIME_REVOCATION_NO_SOURCES'
  // Sender binding
  | 'SMIME_FROM_MISSING'
  | 'SMIME_FROM_MULTIPLE_FIELDS'
  | 'SMIME_FROM_EMPTY'
  | 'SMIME_FROM_NO_ADDRESS'
  | 'SMIME_FROM_MULTIPLE_MAILBOXES'
  | 'SMIME_FROM_DISPLAY_NAME_ADDRESS'
  | 'SMIME_FROM_NOT_SIGNER'
  | 'SMIME_SENDER_MISMATCH'
  | 'SMIME_SIGNED_FROM_MISMATCH';

export type SmimeWarningCode =
  | 'SMIME_MICALG_MISMATCH'
  | 'SMIME_UNSIGNED_PREAMBLE'
  | 'SMIME_SIGNING_TIME_OUTSIDE_VALIDITY'
  | 'SMIME_WEAK_ALGORITHM_ALLOWED'
  | 'SMIME_REVOCATION_UNCHECKED'
  | 'SMIME_REVOKED_AFTER_SIGNING'
  // What a reader sees beyond the bound mailbox
  | 'SMIME_FROM_DISPLAY_NAME_LOOKALIKE'
  | 'SMIME_FROM_DOMAIN_LOOKALIKE'
  | 'SMIME_REPLY_TO_OTHER_DOMAIN'
  | 'SMIME_OUTER_HEADER_MISMATCH'
  | 'SMIME_HP_OUTER_IGNORED'
  | 'SMIME_WRAPPER_HEADER_IGNORED'
  | 'SMIME_OUTER_FIELD_NOT_SHOWN'
  | 'SMIME_SIGNER_EMAIL_FROM_SUBJECT';

export interface SmimeProblem {
  code: SmimeProblemCode;
  message: string;
  /** Index into `signers` when the problem is about one signer. */
  signer?: number;
}

export interface SmimeWarning {
  code: SmimeWarningCode;
  message: string;
  signer?: number;
  /**
   * SMIME_OUTER_HEADER_MISMATCH: the header field that differs ('From', 'Subject', 'To', 'Cc', 'Reply-To', 'Date');
   * SMIME_WRAPPER_HEADER_IGNORED, SMIME_OUTER_FIELD_NOT_SHOWN: the field (as written) that was not shown.
   */
  header?: string;
}

export interface CertificateSummary {
  subject: string;
  issuer: string;
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  /** With verifyMessage's `includeCertificates`: the SHA-256 fingerprint of the certificate's DER, hex. */
  sha256?: string;
  /** With verifyMessage's `includeCertificates`: the certificate, DER in base64. */
  der?: string;
}

export interface SignerResult {
  /** Signature layer: 0 is the outermost signature, 1 one nested inside it, ... */
  layer: number;
  /** SignerInfo index within its layer. */
  index: number;
  certificate?: CertificateSummary;
  /**
   * Mail addresses the signer certificate vouches for: its SAN rfc822Names or, only in a
   * certificate whose SAN names no mailbox, its subject emailAddress values (RFC 8550 §3).
   */
  emails: string[];
  /** Where `emails` come from ('subject': a legacy certificate; see SMIME_SIGNER_EMAIL_FROM_SUBJECT). */
  emailSource?: 'subjectAltName' | 'subject' | 'none';
  signature: {
    ok: boolean;
    digestAlgorithm?: string;
    signatureAlgorithm?: string;
    signingTime?: string;
    problems: CmsProblem[];
  };
  chain?: {
    ok: boolean;
    /** Leaf first, trust anchor last. */
    path: CertificateSummary[];
    /** `revocation`: for CHAIN_REVOKED (the `crls` option), the date and reason the CRL gives. */
    problems: { code: string; message: string; certificateIndex?: number; revocation?: { revocationDate: Date; reason: string; invalidityDate?: Date } }[];
    /**
     * The policies the path holds (RFC 5280 §6.1.6), when it reached a trust anchor; see
     * docs/chain.md. S/MIME BR certificates name their validation type by policy OID.
     */
    policies?: ChainPolicies;
  };
  /**
   * Revocation status of each certificate of the chain but the anchor (leaf first), when the
   * policy is not 'off' and the chain is valid.
   */
  revocation?: RevocationResult[];
  /** True when the message's From mailbox is one of `emails`. */
  matchesFrom: boolean;
  /** Signature verifies, chain is valid, algorithms are acceptable. */
  ok: boolean;
}

/** An encrypted layer of the message, as opened (or not) by verifyMessage with `decryptionKeys`. */
export interface EncryptedLayer {
  kind: 'encrypted';
  /** False when no key was given, none fits, or decryption failed (the problems say which). */
  opened: boolean;
  contentEncryption?: ContentEncryptionAlgorithm;
  /** False for AES-CBC (EnvelopedData): alterations are not detected unless a signature covers the content. */
  integrityProtected?: boolean;
  keyManagement?: KeyManagement;
  /** The RecipientInfo that was opened. */
  recipientIndex?: number;
  /** Every RecipientInfo's identifier, described. */
  recipients: string[];
  /** The error code when decryption failed. */
  error?: string;
}

/** A signature layer: `signatureLayer` is the `layer` of its signers. */
export interface SignedLayer {
  kind: 'signed';
  signatureLayer: number;
  form: 'detached' | 'opaque';
}

export interface Verdict {
  /**
   * True only when the entire message is signed, there is at least one signer, every signer
   * (in every layer) verifies and chains to a trust anchor, and the From mailbox belongs to one.
   */
  valid: boolean;
  signedScope: 'entire' | 'partial' | 'none';
  /** Where the (outermost) signed entity is (the path counts inside the innermost decrypted part), and how it is carried. */
  signedPart?: { path: number[]; kind: 'detached' | 'opaque'; contentType: string };
  /** The From mailbox, as read from the (outer) message header. */
  from?: { address?: string; name?: string };
  signers: SignerResult[];
  /**
   * The signed header fields a client shows: those of the innermost signed entity and, when a
   * signed entity is a wrapped message (RFC 8551 §3.1), the wrapped message's (its From, To,
   * Subject... are the protected headers; the innermost wrapped message's come first).
   */
  signedHeaders: { name: string; value: string }[];
  /** Content type of the innermost signed entity (a wrapped message opened): what an application should display. */
  signedContentType?: string;
  /** Every encrypted and signed layer, outermost first. */
  layers: (EncryptedLayer | SignedLayer)[];
  /**
   * RFC 9788 protected header sections (parts marked hp="cipher" or hp="clear"), outermost first,
   * with each difference from the outer header and its cause (obscured by the sender, changed after
   * sending, unexplained). The last one's `fields` are what a client should display. A From
   * difference is also a problem.
   */
  headerProtection: HeaderProtection[];
  /**
   * When the message was encrypted and every encrypted layer opened: the message a client shows
   * (outer header fields not protected inside, then the decrypted entity). Never set after a failure,
   * nor for AES-CBC content when the verdict is not valid (EFAIL: use decryptMessage to open it anyway).
   */
  decryptedMessage?: Uint8Array;
  problems: SmimeProblem[];
  warnings: SmimeWarning[];
  /** The verification time used. */
  at: string;
}
