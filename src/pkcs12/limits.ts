/** Documented limits for PKCS#12 input (docs/keys.md): a hostile file fails fast instead of hanging. */
import { MAX_PBKDF2_ITERATIONS } from '../keys/limits.js';

/** Largest .p12/.pfx accepted. A key with a chain of five certificates is about 10 KiB. */
export const MAX_PKCS12_BYTES = 1024 * 1024;

/** Most SafeBags (keys, certificates, CRLs, secrets) in one file, nested ones included. */
export const MAX_PKCS12_BAGS = 64;

/** Deepest nesting of safeContentsBag inside safeContentsBag. */
export const MAX_PKCS12_NESTING = 4;

/**
 * Most MAC iterations accepted (and written). The RFC 7292 key derivation is computed in
 * JavaScript, about 2.5 µs per SHA-256 iteration, so this bounds the MAC check to a few seconds.
 */
export const MAX_PKCS12_MAC_ITERATIONS = 1_000_000;

/** Most PBKDF2 iterations summed over all encrypted parts of one file. */
export const MAX_PKCS12_TOTAL_PBKDF2_ITERATIONS = 2 * MAX_PBKDF2_ITERATIONS;
