/**
 * Where mailpki and NIST PKITS disagree today, and the cases it deliberately does not run to a
 * verdict. test/certs/pkits.test.ts asserts that every case listed here STILL disagrees (so the
 * change that fixes one must remove its line) and that every other case agrees.
 */

const NO_POLICY_PROCESSING = 'no certificate policy processing (issue 14 part 5)';

/** Case key → why mailpki's verdict differs from the suite's. Sorted by section, one line per case. */
export const KNOWN_DISAGREEMENTS: Readonly<Record<string, string>> = {
  '4.8.1/3': NO_POLICY_PROCESSING, // All Certificates Same Policy Test1
  '4.8.2/2': NO_POLICY_PROCESSING, // All Certificates No Policies Test2
  '4.8.3/2': NO_POLICY_PROCESSING, // Different Policies Test3
  '4.8.3/3': NO_POLICY_PROCESSING, // Different Policies Test3
  '4.8.4': NO_POLICY_PROCESSING, // Different Policies Test4
  '4.8.5': NO_POLICY_PROCESSING, // Different Policies Test5
  '4.8.6/3': NO_POLICY_PROCESSING, // Overlapping Policies Test6
  '4.8.7': NO_POLICY_PROCESSING, // Different Policies Test7
  '4.8.8': NO_POLICY_PROCESSING, // Different Policies Test8
  '4.8.9': NO_POLICY_PROCESSING, // Different Policies Test9
  '4.8.12': NO_POLICY_PROCESSING, // Different Policies Test12
  '4.8.14/2': NO_POLICY_PROCESSING, // AnyPolicy Test14
  '4.9.3': NO_POLICY_PROCESSING, // Invalid RequireExplicitPolicy Test3
  '4.9.5': NO_POLICY_PROCESSING, // Invalid RequireExplicitPolicy Test5
  '4.9.7': NO_POLICY_PROCESSING, // Invalid Self-Issued requireExplicitPolicy Test7
  '4.9.8': NO_POLICY_PROCESSING, // Invalid Self-Issued requireExplicitPolicy Test8
  '4.10.1/1': NO_POLICY_PROCESSING, // Valid Policy Mapping Test1
  '4.10.3/2': NO_POLICY_PROCESSING, // Valid Policy Mapping Test3
  '4.10.5/1': NO_POLICY_PROCESSING, // Valid Policy Mapping Test5
  '4.10.6/1': NO_POLICY_PROCESSING, // Valid Policy Mapping Test6
  '4.10.9': NO_POLICY_PROCESSING, // Valid Policy Mapping Test9
  '4.10.11': NO_POLICY_PROCESSING, // Valid Policy Mapping Test11
  '4.10.12/1': NO_POLICY_PROCESSING, // Valid Policy Mapping Test12
  '4.10.12/2': NO_POLICY_PROCESSING, // Valid Policy Mapping Test12
  '4.10.13/1': NO_POLICY_PROCESSING, // Valid Policy Mapping Test13
  '4.10.13/2': NO_POLICY_PROCESSING, // Valid Policy Mapping Test13
  '4.10.14': NO_POLICY_PROCESSING, // Valid Policy Mapping Test14
  '4.11.2': NO_POLICY_PROCESSING, // Valid inhibitPolicyMapping Test2
  '4.11.4': NO_POLICY_PROCESSING, // Valid inhibitPolicyMapping Test4
  '4.11.7': NO_POLICY_PROCESSING, // Valid Self-Issued inhibitPolicyMapping Test7
  '4.12.1': NO_POLICY_PROCESSING, // Invalid inhibitAnyPolicy Test1
  '4.12.3/2': NO_POLICY_PROCESSING, // inhibitAnyPolicy Test3
  '4.12.4': NO_POLICY_PROCESSING, // Invalid inhibitAnyPolicy Test4
  '4.12.5': NO_POLICY_PROCESSING, // Invalid inhibitAnyPolicy Test5
  '4.12.6': NO_POLICY_PROCESSING, // Invalid inhibitAnyPolicy Test6
  '4.12.8': NO_POLICY_PROCESSING, // Invalid Self-Issued inhibitAnyPolicy Test8
  '4.12.10': NO_POLICY_PROCESSING, // Invalid Self-Issued inhibitAnyPolicy Test10
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
