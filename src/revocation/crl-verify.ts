/**
 * Checking a CRL against its issuer's certificate (RFC 5280 §6.3.3 (f), (g) and the CRL's own
 * validity). The outcome is data: every problem found, never an exception for a bad CRL.
 */
import type { Certificate } from '../certs/certificate.js';
import { equalBytes } from '../internal/bytes.js';
import { resolveCrypto } from '../internal/crypto.js';
import { verifyBytes } from '../keys/algorithms.js';
import { MailPkiError } from '../errors.js';
import type { Crl } from './crl-parse.js';

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
