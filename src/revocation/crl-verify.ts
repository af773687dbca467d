/**
 * Checking a CRL against its issuer's certificate (RFC 5280 §6.3.3 (f), (g) and the CRL's own
 * validity). The outcome is data: every problem found, never an exception for a bad CRL.
 */
import type { RevocationReason } from '../ca/types.js';
import type { Certificate } from '../certs/certificate.js';
import { equalBytes } from '../internal/bytes.js';
import { resolveCrypto } from '../internal/crypto.js';
import { cursor, encodedOf, parseDer, Tag } from '../internal/der.js';
import { OID } from '../internal/oids.js';
import { verifyBytes } from '../keys/algorithms.js';
import { MailPkiError } from '../errors.js';
import { REASON_FLAG_BITS, type Crl } from './crl-parse.js';

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

  // Byte-exact, as the chain builder matches names.
  if (!equalBytes(crl.issuer.der, issuer.subject.der))
    add('CRL_ISSUER_MISMATCH', `the CRL was issued by "${crl.issuerName}", not by the certificate given`);
  if (crl.authorityKeyIdentifier && issuer.subjectKeyIdentifier && !equalBytes(crl.authorityKeyIdentifier, issuer.subjectKeyIdentifier))
    add('CRL_ISSUER_MISMATCH', "the CRL's authorityKeyIdentifier differs from the issuer's subjectKeyIdentifier (another key of the same CA?)");
  if (issuer.keyUsage && !issuer.keyUsage.includes('cRLSign'))
    add('CRL_NOT_AUTHORIZED', 'the issuer certificate has keyUsage without cRLSign');

  const alg = crl.signatureAlgorithm;
  if ('unsupported' in alg) add('CRL_ALGORITHM_UNSUPPORTED', alg.unsupported);
  else if ((alg.hash === 'SHA-1' || alg.hash === 'MD5') && !options.allowWeakAlgorithms)
    add('CRL_WEAK_ALGORITHM', `the CRL is signed with ${alg.hash}`);
  else if (alg.hash === 'MD5') add('CRL_ALGORITHM_UNSUPPORTED', 'MD5 signatures cannot be verified');
  else {
    try {
      if (!(await verifyBytes(resolveCrypto(options.crypto), issuer.publicKey, alg, crl.tbs, crl.signatureValue)))
        add('CRL_SIGNATURE_INVALID', "the CRL's signature does not verify with the issuer's key");
    } catch (e) {
      // The provider refusing the key, or an RSA key for an ECDSA signature: cannot be checked.
      if (!(e instanceof MailPkiError)) throw e;
      if (e.code === 'ERR_UNSUPPORTED_RUNTIME') throw e;
      add('CRL_ALGORITHM_UNSUPPORTED', e.message);
    }
  }

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

/** The eight ReasonFlags of RFC 5280 §4.2.1.13 (`all-reasons` in §6.3.3). */
const ALL_REASONS = REASON_FLAG_BITS.filter((r): r is RevocationReason => r !== undefined);

/**
 * RFC 5280 §6.3.3 (b)(2): whether `crl`, already verified against the certificate's issuer, may
 * answer for `certificate`. A CRL of CA certificates only (or user certificates only, or attribute
 * certificates only), or of another distribution point than the certificate names, says nothing
 * about it; one partitioned by reason (`onlySomeReasons`) can show it revoked but not good.
 *
 * @example
 * const scope = crlCoverage(crl, cert);
 * const entry = scope.covers ? crl.lookup(cert.serialBytes) : undefined;
 * // entry → revoked; no entry and scope.complete → good; otherwise: not known from this CRL
 */
export function crlCoverage(crl: Crl, certificate: Certificate): CrlCoverage {
  const idp = crl.issuingDistributionPoint;
  if (!idp) return { covers: true, complete: true };
  const outside = (why: string): CrlCoverage => ({ covers: false, complete: false, why });
  const isCa = certificate.basicConstraints?.ca === true;
  if (idp.onlyContainsAttributeCerts) return outside('it lists attribute certificates only (onlyContainsAttributeCerts)');
  if (idp.onlyContainsCACerts && !isCa) return outside('it lists CA certificates only (onlyContainsCACerts) and this is an end-entity certificate');
  if (idp.onlyContainsUserCerts && isCa) return outside('it lists end-entity certificates only (onlyContainsUserCerts) and this is a CA certificate');
  if (idp.distributionPoint) {
    const names = distributionPointNames(certificate);
    if (names === 'unreadable') return outside("the certificate's cRLDistributionPoints cannot be read");
    if (names.length > 0 && !names.some((n) => sameDistributionPoint(idp.distributionPoint!, n)))
      return outside("its issuingDistributionPoint names another distribution point than the certificate's cRLDistributionPoints");
  }
  if (idp.onlySomeReasons) {
    const reasons = idp.reasons ?? [];
    if (ALL_REASONS.some((r) => !reasons.includes(r)))
      return { covers: true, complete: false, why: `it lists only revocations for ${reasons.length > 0 ? reasons.join(', ') : 'no reason'} (onlySomeReasons)` };
  }
  return { covers: true, complete: true };
}

/** The DistributionPointName DER of each of the certificate's distribution points that has one. */
function distributionPointNames(certificate: Certificate): Uint8Array[] | 'unreadable' {
  const ext = certificate.extensions.get(OID.cRLDistributionPoints);
  if (!ext) return [];
  try {
    const out: Uint8Array[] = [];
    const c = cursor(parseDer(ext.value));
    while (!c.done) {
      const name = cursor(c.next(Tag.SEQUENCE)).optional(0xa0);
      if (name) out.push(encodedOf(cursor(name).next()));
    }
    return out;
  } catch (e) {
    if (e instanceof MailPkiError) return 'unreadable';
    throw e;
  }
}

/** One name in common (RFC 5280 §6.3.3 (b)(2)(i)): a GeneralName of two fullNames, or the same relative name. */
function sameDistributionPoint(a: Uint8Array, b: Uint8Array): boolean {
  if (a[0] !== b[0]) return false;
  if (a[0] !== 0xa0) return equalBytes(a, b);
  try {
    const names = (der: Uint8Array) => {
      const out: Uint8Array[] = [];
      const c = cursor(parseDer(der));
      while (!c.done) out.push(encodedOf(c.next()));
      return out;
    };
    const theirs = names(b);
    return names(a).some((x) => theirs.some((y) => equalBytes(x, y)));
  } catch (e) {
    if (e instanceof MailPkiError) return false;
    throw e;
  }
}
