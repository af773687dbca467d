/** mailpki/dkim: DKIM keys and records, signing (bytes and streams), verifying, Authentication-Results. */
export { generateDkimKey, DKIM_KEY_ALGORITHMS, type DkimKey, type DkimKeyAlgorithm, type GenerateDkimKeyOptions } from './key.js';
export {
  dkimRecord,
  dkimRecordName,
  parseDkimRecord,
  revokedDkimRecord,
  type DkimKeyType,
  type DkimRecord,
  type DkimRecordOptions,
  type DkimRecordText,
} from './record.js';
export { signDkim, signDkimMessage, createDkimSigner, DEFAULT_SIGNED_HEADERS, type DkimSignOptions, type DkimSigner } from './sign.js';
export { verifyDkim, type DkimPolicy, type DkimVerifyOptions } from './verify.js';
export { SINGLE_INSTANCE_FIELDS, SHOWN_FIELDS, type UnsignedInstance } from './instances.js';
export {
  authenticationResults,
  dmarcCandidate,
  domainsAlign,
  type AuthenticationResultsOptions,
  type DkimResult,
  type DkimResultWord,
  type DkimVerification,
} from './results.js';
export { parseDkimSignature, type DkimAlgorithm, type DkimSignatureTags, type ParsedDkimSignature } from './header.js';
export {
  staticResolver,
  systemDnsResolver,
  dnsClientResolver,
  isNotFound,
  type DkimResolver,
  type DnsClient,
  type DnsClientConstructor,
  type DnsClientOptions,
} from './resolver.js';
export { dohResolver, type DohResolverOptions } from './doh.js';
export { canonicalizeBody, relaxedHeader, simpleHeader, type Canonicalization, type CanonicalizationAlgorithm } from './canonicalization/index.js';
