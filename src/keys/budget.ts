import { MailPkiError } from '../errors.js';
/**
 * A budget of public-key operations for one verification. An attacker picks the counts (signers,
 * candidate issuers, layers) and the key sizes; the budget bounds their product, so the CPU one
 * message can cost is known in advance whatever it carries.
 */
import type { PublicKeyInfo } from './algorithms.js';
import { DEFAULT_MAX_PUBLIC_KEY_OPERATIONS } from './limits.js';

/**
 * What one verification with `key` costs, in operations of about the time of one P-256, Ed25519 or
 * RSA-4096 (e = 65537) verify, each of which counts 1. ECDSA on larger curves is slower (P-384 counts
 * 4, P-521 12, as measured with Node's OpenSSL). An RSA verify is one exponentiation by e modulo n:
 * its time grows with the square of the modulus and linearly with the exponent's bits, so a larger
 * RSA key counts ⌈bits/4096⌉² × ⌈exponent bits/17⌉ (RSA-3072 with a 256-bit e: 16; RSA-16384: 16).
 */
export function publicKeyOperationCost(key: PublicKeyInfo): number {
  if (key.kind === 'ec') return key.curve === 'P-521' ? 12 : key.curve === 'P-384' ? 4 : 1;
  if (key.kind !== 'rsa') return 1;
  const size = Math.ceil(key.bits / 4096);
  return Math.max(1, size * size * Math.ceil((key.exponentBits ?? 17) / 17));
}

/**
 * Counts public-key operations against a limit. Create one per verification and pass it to every
 * step (CMS signer checks, chain building) so that they all draw on the same total.
 *
 * @example
 * const budget = new PublicKeyBudget(64);
 * if (!budget.take(cert.publicKey)) return 'over budget';
 */
export class PublicKeyBudget {
  /** Operations charged so far. */
  used = 0;
  /** Set once an operation was refused because it did not fit. */
  exhausted = false;

  constructor(readonly limit: number = DEFAULT_MAX_PUBLIC_KEY_OPERATIONS) {
    if (!Number.isInteger(limit) || limit < 1) throw new MailPkiError('ERR_INVALID_INPUT', 'PublicKeyBudget: limit must be a positive integer', { details: { field: 'limit' } });
  }

  /** Charges one verification with `key`; false, and nothing charged, when it does not fit. */
  take(key: PublicKeyInfo): boolean {
    const cost = publicKeyOperationCost(key);
    if (this.used + cost > this.limit) {
      this.exhausted = true;
      return false;
    }
    this.used += cost;
    return true;
  }
}
