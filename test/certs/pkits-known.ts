/**
 * Where mailpki and NIST PKITS disagree today, and the cases it deliberately does not run to a
 * verdict. test/certs/pkits.test.ts asserts that every case listed here STILL disagrees (so the
 * change that fixes one must remove its line) and that every other case agrees.
 */

const SAN_DIRECTORY_NAME = 'directoryName constraints are not applied to subjectAltName directoryNames (issue 14 part 3)';
const URI_CONSTRAINTS = 'URI name constraints are not evaluated, so the critical extension is refused (issue 14 part 3)';
const NO_SUPPLIED_CRLS = 'no CRL processing with supplied CRLs in validateChain (issue 14 part 4)';
const NO_POLICY_PROCESSING = 'no certificate policy processing (issue 14 part 5)';

/** Case key → why mailpki's verdict differs from the suite's. Sorted by section, one line per case. */
export const KNOWN_DISAGREEMENTS: Readonly<Record<string, string>> = {
  '4.4.1': NO_SUPPLIED_CRLS, // Missing CRL Test1
  '4.4.2': NO_SUPPLIED_CRLS, // Invalid Revoked CA Test2
  '4.4.3': NO_SUPPLIED_CRLS, // Invalid Revoked EE Test3
  '4.4.4': NO_SUPPLIED_CRLS, // Invalid Bad CRL Signature Test4
  '4.4.5': NO_SUPPLIED_CRLS, // Invalid Bad CRL Issuer Name Test5
  '4.4.6': NO_SUPPLIED_CRLS, // Invalid Wrong CRL Test6
  '4.4.8': NO_SUPPLIED_CRLS, // Invalid Unknown CRL Entry Extension Test8
  '4.4.9': NO_SUPPLIED_CRLS, // Invalid Unknown CRL Extension Test9
  '4.4.10': NO_SUPPLIED_CRLS, // Invalid Unknown CRL Extension Test10
  '4.4.11': NO_SUPPLIED_CRLS, // Invalid Old CRL nextUpdate Test11
  '4.4.12': NO_SUPPLIED_CRLS, // Invalid pre2000 CRL nextUpdate Test12
  '4.4.15': NO_SUPPLIED_CRLS, // Invalid Negative Serial Number Test15
  '4.4.18': NO_SUPPLIED_CRLS, // Invalid Long Serial Number Test18
  '4.4.20': NO_SUPPLIED_CRLS, // Invalid Separate Certificate and CRL Keys Test20
  '4.4.21': NO_SUPPLIED_CRLS, // Invalid Separate Certificate and CRL Keys Test21
  '4.5.2': NO_SUPPLIED_CRLS, // Invalid Basic Self-Issued Old With New Test2
  '4.5.5': NO_SUPPLIED_CRLS, // Invalid Basic Self-Issued New With Old Test5
  '4.5.7': NO_SUPPLIED_CRLS, // Invalid Basic Self-Issued CRL Signing Key Test7
  '4.7.4': NO_SUPPLIED_CRLS, // Invalid keyUsage Critical cRLSign False Test4
  '4.7.5': NO_SUPPLIED_CRLS, // Invalid keyUsage Not Critical cRLSign False Test5
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
  '4.13.3': SAN_DIRECTORY_NAME, // Invalid DN nameConstraints Test3
  '4.13.34': URI_CONSTRAINTS, // Valid URI nameConstraints Test34
  '4.13.36': URI_CONSTRAINTS, // Valid URI nameConstraints Test36
  '4.14.2': NO_SUPPLIED_CRLS, // Invalid distributionPoint Test2
  '4.14.3': NO_SUPPLIED_CRLS, // Invalid distributionPoint Test3
  '4.14.6': NO_SUPPLIED_CRLS, // Invalid distributionPoint Test6
  '4.14.8': NO_SUPPLIED_CRLS, // Invalid distributionPoint Test8
  '4.14.9': NO_SUPPLIED_CRLS, // Invalid distributionPoint Test9
  '4.14.11': NO_SUPPLIED_CRLS, // Invalid onlyContainsUserCerts CRL Test11
  '4.14.12': NO_SUPPLIED_CRLS, // Invalid onlyContainsCACerts CRL Test12
  '4.14.14': NO_SUPPLIED_CRLS, // Invalid onlyContainsAttributeCerts Test14
  '4.14.15': NO_SUPPLIED_CRLS, // Invalid onlySomeReasons Test15
  '4.14.16': NO_SUPPLIED_CRLS, // Invalid onlySomeReasons Test16
  '4.14.17': NO_SUPPLIED_CRLS, // Invalid onlySomeReasons Test17
  '4.14.20': NO_SUPPLIED_CRLS, // Invalid onlySomeReasons Test20
  '4.14.21': NO_SUPPLIED_CRLS, // Invalid onlySomeReasons Test21
  '4.14.23': NO_SUPPLIED_CRLS, // Invalid IDP with indirectCRL Test23
  '4.14.26': NO_SUPPLIED_CRLS, // Invalid IDP with indirectCRL Test26
  '4.14.27': NO_SUPPLIED_CRLS, // Invalid cRLIssuer Test27
  '4.14.31': NO_SUPPLIED_CRLS, // Invalid cRLIssuer Test31
  '4.14.32': NO_SUPPLIED_CRLS, // Invalid cRLIssuer Test32
  '4.14.34': NO_SUPPLIED_CRLS, // Invalid cRLIssuer Test34
  '4.14.35': NO_SUPPLIED_CRLS, // Invalid cRLIssuer Test35
  '4.15.1': NO_SUPPLIED_CRLS, // Invalid deltaCRLIndicator No Base Test1
  '4.15.3': NO_SUPPLIED_CRLS, // Invalid delta-CRL Test3
  '4.15.4': NO_SUPPLIED_CRLS, // Invalid delta-CRL Test4
  '4.15.6': NO_SUPPLIED_CRLS, // Invalid delta-CRL Test6
  '4.15.9': NO_SUPPLIED_CRLS, // Invalid delta-CRL Test9
  '4.15.10': NO_SUPPLIED_CRLS, // Invalid delta-CRL Test10
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
