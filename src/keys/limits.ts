/** Documented limits for key input (docs/keys.md). Hostile input must fail fast, not hang. */

/** Largest private or public key input, PEM or DER (an RSA-4096 PKCS#8 PEM is about 3.3 KiB). */
export const MAX_KEY_INPUT_BYTES = 64 * 1024;

/** Most PBKDF2 iterations accepted when decrypting (about 3 s of PBKDF2-HMAC-SHA256 on a laptop core). */
export const MAX_PBKDF2_ITERATIONS = 10_000_000;

/** Fewest PBKDF2 iterations mailpki writes (RFC 8018 section 4.2 recommends at least 1,000). */
export const MIN_PBKDF2_ITERATIONS = 1_000;

/** PBKDF2 iterations mailpki writes by default: OWASP's 2023 figure for PBKDF2-HMAC-SHA256. */
export const DEFAULT_PBKDF2_ITERATIONS = 600_000;

/**
 * Largest RSA public exponent accepted, in bits: e < 2^256 (65537 has 17 bits). Verifying costs
 * one exponentiation by e, so a 3,064-bit exponent makes one RSA-3072 verify ~80 times dearer.
 */
export const MAX_RSA_EXPONENT_BITS = 256;

/** Largest RSA modulus accepted, in bits (OpenSSL's own verification limit). */
export const MAX_RSA_MODULUS_BITS = 16384;

/**
 * Default budget of public-key operations for one verification (verifyMessage's
 * `limits.maxPublicKeyOperations`): enough for 16 signers with their chains, and at most
 * ~15 ms of CPU whatever keys an attacker picks (see publicKeyOperationCost).
 */
export const DEFAULT_MAX_PUBLIC_KEY_OPERATIONS = 64;
