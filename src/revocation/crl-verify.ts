/**
 * Checking a CRL against its issuer's certificate (RFC 5280 §6.3.3 (f), (g) and the CRL's own
 * validity). The outcome is data: every problem found, never an exception for a bad CRL.
 */
import type { Certificate } from '../certs/certificate.js';
import { equalBytes } from '../internal/bytes.js';
import { resolveCrypto } from '../internal/crypto.js';
import { MailPkiError } from '../errors.js';
import type { Crl } from './crl-parse.js';
import { crlSignatureProblem, sameName, scopeForCertificate } from './crl-path.js';

/** Every problem `verifyCrl` reports, with its meaning. */
export const crlProblemCodes = {
  CRL_ISSUER_MISMATCH: "The CRL's issuer name, or its authorityKeyIdentifier, does not match the certificate given as issuer.",
  CRL_NOT_AUTHORIZED: 'The issuer certificate has keyUsage without cRLSign.',
  CRL_SIGNATURE_INVALID: "The CRL's signature does not verify with the issuer's key.",
  CRL_ALGORITHM_UNSUPPORTED: 'The CRL is signed with an algorithm (or key/algorithm pair) that cannot be verified.',
  CRL_WEAK_ALGORITHM: 'The CRL is signed with MD5 or SHA-1 and weak algorithms are not allowed.',
  CRL_NOT_YET_VALID: 'The validation time is before the CRL\'s thisUpdate.',
  CRL_EXPIRED: "The validation time is after the CRL's nextUpdate.",
  CRL_UNSUPPORTED_CRITICAL_EXTENSION: 'The CRL or one of its entries has a critical extension that is not processed (RFC 5280: the CRL must not be used).',
} as const;

export type CrlProblemCode = keyof typeof crlProblemCodes;

export interface CrlProblem {
  code: CrlProblemCode;
  message: string;
}

export interface CrlVerification {
  /** True only when there is no problem: the CRL may be used at `at`. */
  ok: boolean;
  problems: CrlProblem[];
}

export interface VerifyCrlOptions {
  crypto?: Crypto;
  /** The time the CRL must be valid at. Default: now. */
  at?: Date;
  /** Default false: MD5/SHA-1 signatures are a problem (MD5 is never verified). */
  allowWeakAlgorithms?: boolean;
}

/**
 * Checks that `issuer` issued `crl`, that its signature verifies, that it is current at `at`, and
 * that it has no critical extension left unprocessed. Whether the issuer certificate is itself
 * trusted is the chain's business; whether `crlNumber` went up is the CRL cache's.
 *
 * @example
 * const crl = parseCrl(pem);
 * const { ok, problems } = await verifyCrl(crl, ca.issuingCertificate, { at: new Date() });
 * if (ok) crl.lookup(cert.serialNumber); // → { revocationDate, reason? } | undefined
 */
export async function verifyCrl(crl: Crl, issuer: Certificate, options: VerifyCrlOptions = {}): Promise<CrlVerification> {
  const at = options.at ?? new Date();
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) throw new MailPkiError('ERR_INVALID_INPUT', 'verifyCrl: `at` must be a valid Date', { details: { field: 'at' } });
  const problems: CrlProblem[] = [];
  const add = (code: CrlProblemCode, message: string) => problems.push({ code, message });

  if (!sameName(crl.issuer.der, issuer.subject.der))
    add('CRL_ISSUER_MISMATCH', `the CRL was issued by "${crl.issuerName}", not by the certificate given`);
  if (crl.authorityKeyIdentifier && issuer.subjectKeyIdentifier && !equalBytes(crl.authorityKeyIdentifier, issuer.subjectKeyIdentifier))
    add('CRL_ISSUER_MISMATCH', "the CRL's authorityKeyIdentifier differs from the issuer's subjectKeyIdentifier (another key of the same CA?)");
  if (issuer.keyUsage && !issuer.keyUsage.includes('cRLSign'))
    add('CRL_NOT_AUTHORIZED', 'the issuer certificate has keyUsage without cRLSign');

  const sig = await crlSignatureProblem(crl, issuer, resolveCrypto(options.crypto), options.allowWeakAlgorithms ?? false);
  if (sig) add(sig.code, sig.message);

  if (at.getTime() < crl.thisUpdate.getTime())
    add('CRL_NOT_YET_VALID', `the CRL is valid from ${crl.thisUpdate.toISOString()}, after ${at.toISOString()}`);
  if (crl.nextUpdate && at.getTime() > crl.nextUpdate.getTime())
    add('CRL_EXPIRED', `the CRL's nextUpdate ${crl.nextUpdate.toISOString()} is before ${at.toISOString()}`);
  if (crl.unsupportedCriticalExtensions.length > 0)
    add('CRL_UNSUPPORTED_CRITICAL_EXTENSION', `critical extension(s) not processed: ${crl.unsupportedCriticalExtensions.join(', ')}`);

  return { ok: problems.length === 0, problems };
}

/** What a CRL's scope (its issuingDistributionPoint, RFC 5280 §5.2.5) says about one certificate. */
export interface CrlCoverage {
  /** The certificate is inside the CRL's scope: if the CRL lists its serial, it is revoked. */
  covers: boolean;
  /** Covered for every reason: a serial the CRL does not list is good. False for an `onlySomeReasons` CRL. */
  complete: boolean;
  /** Why the CRL does not cover the certificate, or covers only some reasons. */
  why?: string;
}

/**
 * RFC 5280 §6.3.3 (b)–(c): whether `crl`, already verified against the certificate's issuer, may
 * answer for `certificate` through one of its distribution points (or, for a CRL without a
 * distribution point name, as the issuer's CRL). A CRL of CA certificates only (or user
 * certificates only, or attribute certificates only), or of another distribution point than the
 * certificate names, says nothing about it; one partitioned by reason (`onlySomeReasons`) can show
 * it revoked but not good. The same rules as `checkCertificateWithCrls` (crl-path.ts), which is
 * what the chain and the revocation checker use.
 *
 * @example
 * const scope = crlCoverage(crl, cert);
 * const entry = scope.covers ? crl.lookup(cert.serialBytes) : undefined;
 * // entry → revoked; no entry and scope.complete → good; otherwise: not known from this CRL
 */
export function crlCoverage(crl: Crl, certificate: Certificate): CrlCoverage {
  return scopeForCertificate(crl, certificate);
}
