/**
 * The CA interface. Everything is async and plain data (DER bytes, strings, dates), so a remote
 * enterprise CA (REST, EST, ACME, a vendor API) fits as well as the in-process LocalCA.
 */
import { z } from 'zod';
import { normalizeSerialHex } from '../internal/bytes.js';

export const SMIME_PROFILES = ['strict', 'multipurpose', 'legacy'] as const;
/** CA/Browser Forum S/MIME BR mailbox-validated generations. */
export type SmimeProfile = (typeof SMIME_PROFILES)[number];

/** RFC 5280 §5.3.1 CRLReason, by name. */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;
export type RevocationReason = keyof typeof REVOCATION_REASONS;

const bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array && v.length > 0, 'expected non-empty bytes');
const mailbox = z
  .string()
  .max(254)
  .regex(/^[^\s@<>()",;:\\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/, 'not a mailbox address (local@domain)');

export const issueRequestSchema = z
  .object({
    profile: z.enum(SMIME_PROFILES).default('strict'),
    mailbox,
    /** Either a PKCS#10 request (DER) or a SubjectPublicKeyInfo (DER). */
    csr: bytes.optional(),
    publicKey: bytes.optional(),
    validityDays: z.number().int().positive().max(3650).optional(),
    notBefore: z.date().optional(),
    /**
     * 'signing' sets only digitalSignature; 'encryption' only keyEncipherment (RSA) or keyAgreement
     * (EC); 'dual-use' both.
     */
    usage: z.enum(['signing', 'encryption', 'dual-use']).default('dual-use'),
    /**
     * The same key on a retry returns the certificate already issued instead of a second one:
     * what lets a caller recover from a crash between "CA issued" and "stored".
     */
    idempotencyKey: z.string().min(1).max(200).optional(),
  })
  .strict()
  .refine((r) => (r.csr === undefined) !== (r.publicKey === undefined), {
    message: 'give exactly one of csr or publicKey',
    path: ['csr'],
  });
export type IssueRequest = z.input<typeof issueRequestSchema>;

export const issuedCertificateSchema = z.object({
  certificate: bytes,
  /** Issuing CA first, up to (and including) the root. */
  chain: z.array(bytes).min(1),
  serialNumber: z.string().regex(/^[0-9a-f]+$/),
  notBefore: z.date(),
  notAfter: z.date(),
  profile: z.enum(SMIME_PROFILES),
});
export type IssuedCertificate = z.infer<typeof issuedCertificateSchema>;

export const revokeRequestSchema = z
  .object({
    serialNumber: z
      .string()
      .regex(/^(0x)?[0-9a-fA-F:]+$/, 'serial must be hex')
      .transform(normalizeSerialHex),
    reason: z.enum(Object.keys(REVOCATION_REASONS) as [RevocationReason, ...RevocationReason[]]).default('unspecified'),
    /** When the revocation takes effect (default: now). */
    time: z.date().optional(),
    /** For keyCompromise: when the key is believed compromised (RFC 5280 invalidityDate). */
    invalidityDate: z.date().optional(),
  })
  .strict();
export type RevokeRequest = z.input<typeof revokeRequestSchema>;

export const revocationRecordSchema = z.object({
  serialNumber: z.string().regex(/^[0-9a-f]+$/),
  reason: z.enum(Object.keys(REVOCATION_REASONS) as [RevocationReason, ...RevocationReason[]]),
  revokedAt: z.date(),
});
export type RevocationRecord = z.infer<typeof revocationRecordSchema>;

export const caInfoSchema = z.object({
  /** Stable identifier of this CA (for inventories). */
  id: z.string().min(1),
  name: z.string(),
  profiles: z.array(z.enum(SMIME_PROFILES)).min(1),
  /** Mail domains the CA may issue for; empty means any. */
  allowedDomains: z.array(z.string()),
  /** Whether `revoke` accepts certificateHold and a later removeFromCRL (suspend / reinstate). */
  supportsSuspension: z.boolean(),
  maxValidityDays: z.record(z.string(), z.number().int().positive()),
});
export type CaInfo = z.infer<typeof caInfoSchema>;

/**
 * What every CA adapter implements. Implementations throw MailPkiError with ERR_CA_* codes
 * (ERR_CA_REJECTED, ERR_CA_UNAVAILABLE, ERR_CA_NOT_FOUND, ERR_CA_ALREADY_REVOKED,
 * ERR_CA_POLICY_VIOLATION, ...). Callers should wrap adapters with `validatedCa()`, which checks
 * every answer before it is trusted.
 */
export interface CertificateAuthority {
  info(): Promise<CaInfo>;
  issue(request: IssueRequest): Promise<IssuedCertificate>;
  revoke(request: RevokeRequest): Promise<RevocationRecord>;
  /** The issuing CA certificate first, then up to and including the root (DER). */
  getChain(): Promise<Uint8Array[]>;
}
