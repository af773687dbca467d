/**
 * What the CRL encoder and parser share: extension OIDs not (yet) in internal/oids.ts, reason
 * codes, the error code.
 */
import { MailPkiError } from '../errors.js';
import { REVOCATION_REASONS, type RevocationReason } from '../ca/types.js';

// TODO(oids.ts): move these next to cRLNumber/cRLReason.
export const CRL_OID = {
  invalidityDate: '2.5.29.24',
  deltaCRLIndicator: '2.5.29.27',
  issuingDistributionPoint: '2.5.29.28',
  certificateIssuer: '2.5.29.29',
  holdInstructionCode: '2.5.29.23',
  freshestCRL: '2.5.29.46',
} as const;

/** Until a dedicated ERR_CRL_MALFORMED exists. */
export const CRL_ERR = 'ERR_CRL_MALFORMED' as const;
export const CRL_WHAT = 'invalid CRL';

export const REASON_BY_CODE: readonly (RevocationReason | undefined)[] = (() => {
  const out: (RevocationReason | undefined)[] = [];
  for (const [name, code] of Object.entries(REVOCATION_REASONS)) out[code] = name as RevocationReason;
  return out;
})();

export function crlFail(detail: string): never {
  throw new MailPkiError(CRL_ERR, `${CRL_WHAT}: ${detail}`);
}
