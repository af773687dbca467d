/** The coded errors of DNS publishing (listed in src/errors.ts with the others). */
import { MailPkiError, type MailPkiErrorOptions } from '../errors.js';

export const DNS_ERROR_CODES = {
  ERR_DNS_UPDATE_REFUSED: 'The DNS server refused the dynamic update (RCODE or TSIG error in its answer: unknown key, bad signature, not authoritative).',
  ERR_DNS_UNAVAILABLE: 'The DNS server could not be reached or did not answer in time.',
  ERR_DNS_RESPONSE_INVALID: 'The DNS server answered with a malformed message, or its TSIG signature does not verify.',
} as const;
export type DnsErrorCode = keyof typeof DNS_ERROR_CODES;

export function dnsError(code: DnsErrorCode, message: string, options: MailPkiErrorOptions = {}): MailPkiError {
  return new MailPkiError(code, message, options);
}
