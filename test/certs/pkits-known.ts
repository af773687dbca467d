/**
 * Where mailpki and NIST PKITS disagree today, and the cases it deliberately does not run to a
 * verdict. test/certs/pkits.test.ts asserts that every case listed here STILL disagrees (so the
 * change that fixes one must remove its line) and that every other case agrees.
 */

/** Case key → why mailpki's verdict differs from the suite's. Sorted by section, one line per case. */
export const KNOWN_DISAGREEMENTS: Readonly<Record<string, string>> = {
};

/**
 * Cases mailpki does not support by design, each with the coded error it must fail with (never
 * a silent skip): DSA keys are not supported (RFC 8551 mail uses RSA, ECDSA and EdDSA; DSA
 * signatures were removed from the S/MIME must-accept list).
 */
export const EXCLUDED: Readonly<Record<string, { reason: string; code: string }>> = {
  '4.1.4': { reason: 'DSA keys are not supported', code: 'ERR_KEY_UNSUPPORTED' }, // Valid DSA Signatures Test4
  '4.1.5': { reason: 'DSA keys are not supported', code: 'ERR_KEY_UNSUPPORTED' }, // Valid DSA Parameter Inheritance Test5
  '4.1.6': { reason: 'DSA keys are not supported', code: 'ERR_KEY_UNSUPPORTED' }, // Invalid DSA Signature Test6
};
