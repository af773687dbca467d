/**
 * How much work one verifyMessage call may do. An attacker chooses the counts (signers, certificates,
 * same-named issuers, layers) and the key parameters; these bound their product, so every message
 * costs at most a known amount of CPU. Going over one is a verdict (SMIME_WORK_LIMIT_EXCEEDED), not an error.
 */
import { z } from 'zod';
import { MAX_ISSUER_CANDIDATES } from '../certs/chain.js';
import { DEFAULT_MAX_PUBLIC_KEY_OPERATIONS } from '../keys/limits.js';

export interface VerificationLimits {
  /**
   * Public-key operations (signature checks that run cryptography) for the whole message: every
   * signer and every chain, all layers together. Large RSA moduli and exponents count more than one
   * (see publicKeyOperationCost). Default 64.
   */
  readonly maxPublicKeyOperations: number;
  /** SignerInfos in the whole message, all layers together. Default 16. */
  readonly maxSigners: number;
  /** Certificates carried in the whole message, all layers together. Default 64. */
  readonly maxCertificates: number;
  /** Certificates with the issuer's name tried as the issuer of one certificate. Default 8. */
  readonly maxIssuerCandidates: number;
  /**
   * Bytes hashed for content digests: each layer's signed content once per digest algorithm its
   * signers use, all layers together. Default 256 MiB (a 64 MiB message signed in four layers).
   */
  readonly maxDigestBytes: number;
}

export const DEFAULT_VERIFICATION_LIMITS: VerificationLimits = Object.freeze({
  maxPublicKeyOperations: DEFAULT_MAX_PUBLIC_KEY_OPERATIONS,
  maxSigners: 16,
  maxCertificates: 64,
  maxIssuerCandidates: MAX_ISSUER_CANDIDATES,
  maxDigestBytes: 256 * 1024 * 1024,
});

const count = z.number().int().positive();

export const verificationLimitsSchema = z
  .object({
    maxPublicKeyOperations: count.max(1_000_000),
    maxSigners: count.max(64 * 8),
    maxCertificates: count.max(256 * 8),
    maxIssuerCandidates: count.max(256),
    maxDigestBytes: count.max(Number.MAX_SAFE_INTEGER),
  })
  .partial()
  .strict();

/** Defaults overridden by the caller's values (already validated by the options schema). */
export function resolveVerificationLimits(limits: Partial<VerificationLimits> | undefined): VerificationLimits {
  const given = Object.fromEntries(Object.entries(limits ?? {}).filter(([, v]) => v !== undefined));
  return { ...DEFAULT_VERIFICATION_LIMITS, ...given };
}
