/** The verdict of verifyMessage: data a program can act on, with stable problem codes. */
import type { CmsProblem } from '../cms/index.js';
import type { RevocationResult } from '../revocation/checker.js';

export type SmimeProblemCode =
  // Structure: what is signed, and is it all of the message?
  | 'SMIME_NOT_SIGNED'
  | 'SMIME_PARTIALLY_SIGNED'
  | 'SMIME_STRUCTURE_INVALID'
  | 'SMIME_NESTING_TOO_DEEP'
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
  | 'SMIME_REVOKED_AFTER_SIGNING';

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
}

export interface CertificateSummary {
  subject: string;
  issuer: string;
  serialNumber: string;
  notBefore: string;
  notAfter: string;
}

export interface SignerResult {
  /** Signature layer: 0 is the outermost signature, 1 one nested inside it, ... */
  layer: number;
  /** SignerInfo index within its layer. */
  index: number;
  certificate?: CertificateSummary;
  /** Mail addresses the signer certificate vouches for. */
  emails: string[];
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
    problems: { code: string; message: string; certificateIndex?: number }[];
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

export interface Verdict {
  /**
   * True only when the entire message is signed, there is at least one signer, every signer
   * (in every layer) verifies and chains to a trust anchor, and the From mailbox belongs to one.
   */
  valid: boolean;
  signedScope: 'entire' | 'partial' | 'none';
  /** Where the (outermost) signed entity is, and how it is carried. */
  signedPart?: { path: number[]; kind: 'detached' | 'opaque'; contentType: string };
  /** The From mailbox, as read from the message header. */
  from?: { address?: string; name?: string };
  signers: SignerResult[];
  /** Header fields of the innermost signed entity (what the signature really covers). */
  signedHeaders: { name: string; value: string }[];
  /** Content type of the innermost signed entity: what an application should display. */
  signedContentType?: string;
  problems: SmimeProblem[];
  warnings: SmimeWarning[];
  /** The verification time used. */
  at: string;
}
