/**
 * A guard around any CertificateAuthority: requests are validated before they leave, and
 * answers are checked before anyone trusts them (shape, and that the certificate is the one
 * asked for: mailbox, key, profile, issuer). Adapters for remote CAs get this for free.
 */
import { MailPkiError } from '../errors.js';
import { equalBytes } from '../internal/bytes.js';
import { parseInput } from '../internal/validate.js';
import { certificateEmails, parseCertificate, type Certificate } from '../certs/certificate.js';
import { parseCsr } from '../certs/csr.js';
import { PROFILE_RULES } from './profiles.js';
import {
  caInfoSchema,
  issueRequestSchema,
  issuedCertificateSchema,
  revocationRecordSchema,
  revokeRequestSchema,
  type CaInfo,
  type CertificateAuthority,
  type IssueRequest,
  type IssuedCertificate,
  type RevocationRecord,
  type RevokeRequest,
} from './types.js';

const BAD = 'ERR_CA_RESPONSE_INVALID' as const;

export function validatedCa(ca: CertificateAuthority): CertificateAuthority {
  return {
    async info(): Promise<CaInfo> {
      return parseInput(caInfoSchema, await ca.info(), 'CA info', BAD);
    },
    async issue(request: IssueRequest): Promise<IssuedCertificate> {
      const req = parseInput(issueRequestSchema, request, 'issue request');
      const answer = parseInput(issuedCertificateSchema, await ca.issue(request), 'CA issue answer', BAD);
      checkIssued(answer, req.mailbox, req.profile, req.publicKey ?? (req.csr && parseCsr(req.csr).publicKey.spki));
      return answer;
    },
    async revoke(request: RevokeRequest): Promise<RevocationRecord> {
      const req = parseInput(revokeRequestSchema, request, 'revoke request');
      const answer = parseInput(revocationRecordSchema, await ca.revoke(request), 'CA revoke answer', BAD);
      if (answer.serialNumber !== req.serialNumber)
        throw new MailPkiError(BAD, `the CA revoked serial ${answer.serialNumber}, not the ${req.serialNumber} asked for`);
      return answer;
    },
    async getChain(): Promise<Uint8Array[]> {
      const chain = await ca.getChain();
      if (!Array.isArray(chain) || chain.length === 0) throw new MailPkiError(BAD, 'the CA returned an empty chain');
      chain.forEach((c, i) => asCertificate(c, `chain[${i}]`));
      return chain;
    },
  };
}

function asCertificate(der: Uint8Array, what: string): Certificate {
  try {
    return parseCertificate(der);
  } catch (e) {
    throw new MailPkiError(BAD, `the CA returned an unreadable certificate (${what})`, { cause: e });
  }
}

function checkIssued(answer: IssuedCertificate, mailbox: string, profile: string, spki: Uint8Array | undefined): void {
  const cert = asCertificate(answer.certificate, 'certificate');
  const emails = certificateEmails(cert).map((e) => e.toLowerCase());
  if (!emails.includes(mailbox.toLowerCase()))
    throw new MailPkiError(BAD, `the CA issued a certificate for ${emails.join(', ') || 'no mailbox'}, not ${mailbox}`);
  if (spki && !equalBytes(cert.publicKey.spki, spki)) throw new MailPkiError(BAD, 'the CA issued a certificate for another public key');
  const policy = PROFILE_RULES[profile as keyof typeof PROFILE_RULES].policyOid;
  if (!cert.policies.includes(policy)) throw new MailPkiError(BAD, `the certificate lacks the ${profile} profile policy ${policy}`);
  if (cert.serialNumber !== answer.serialNumber)
    throw new MailPkiError(BAD, `the CA reported serial ${answer.serialNumber} but the certificate has ${cert.serialNumber}`);
  const issuer = asCertificate(answer.chain[0]!, 'chain[0]');
  if (!equalBytes(issuer.subject.der, cert.issuer.der))
    throw new MailPkiError(BAD, 'the first chain certificate is not the issuer of the certificate');
}
