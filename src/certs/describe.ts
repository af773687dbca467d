/** A plain, JSON-ready description of a certificate, for people and for `mailpki cert show --json`. */
import { OID, OID_NAMES } from '../internal/oids.js';
import { certificateFingerprint, certificateMailboxes, type Certificate } from './certificate.js';
import { formatName } from './name.js';

export interface CertificateDescription {
  subject: string;
  issuer: string;
  serialNumber: string;
  /** The mailboxes the certificate binds (certificateMailboxes): SAN rfc822Names, else subject emailAddress. */
  emails: string[];
  /** Where `emails` come from: the SAN, the subject (legacy: the SAN names no mailbox), or nowhere. */
  emailSource: 'subjectAltName' | 'subject' | 'none';
  /** Subject emailAddress values that bind nothing because the SAN names mailboxes. */
  unboundEmails?: string[];
  notBefore: string;
  notAfter: string;
  key: { kind: 'rsa' | 'ec' | 'ed25519' | 'x25519'; bits: number; curve?: string };
  signatureAlgorithm: string;
  isCA: boolean;
  pathLenConstraint?: number;
  keyUsage: string[];
  extendedKeyUsage: string[];
  policies: string[];
  /** The CA/B Forum S/MIME profile named by the policies, when one is. */
  smimeProfile?: 'strict' | 'multipurpose' | 'legacy';
  crlDistributionPoints: string[];
  ocsp: string[];
  caIssuers: string[];
  fingerprints: { sha256: string; sha1: string };
}

const PROFILE_BY_POLICY: Record<string, CertificateDescription['smimeProfile']> = {
  [OID.smimeMailboxStrict]: 'strict',
  [OID.smimeMailboxMultipurpose]: 'multipurpose',
  [OID.smimeMailboxLegacy]: 'legacy',
};

const name = (oid: string) => OID_NAMES[oid] ?? oid;

export async function describeCertificate(cert: Certificate, crypto?: Crypto): Promise<CertificateDescription> {
  const sig = cert.signatureAlgorithm;
  const profile = cert.policies.map((p) => PROFILE_BY_POLICY[p]).find(Boolean);
  const mailboxes = certificateMailboxes(cert);
  return {
    subject: formatName(cert.subject),
    issuer: formatName(cert.issuer),
    serialNumber: cert.serialNumber,
    emails: mailboxes.emails,
    emailSource: mailboxes.source,
    ...(mailboxes.ignored.length > 0 && { unboundEmails: mailboxes.ignored }),
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    key: { kind: cert.publicKey.kind, bits: cert.publicKey.bits, ...(cert.publicKey.curve && { curve: cert.publicKey.curve }) },
    signatureAlgorithm: 'unsupported' in sig ? sig.unsupported : `${sig.scheme}-${sig.hash.toLowerCase().replace('-', '')}`,
    isCA: cert.basicConstraints?.ca ?? false,
    ...(cert.basicConstraints?.pathLenConstraint !== undefined && { pathLenConstraint: cert.basicConstraints.pathLenConstraint }),
    keyUsage: cert.keyUsage ?? [],
    extendedKeyUsage: (cert.extKeyUsage ?? []).map(name),
    policies: cert.policies,
    ...(profile && { smimeProfile: profile }),
    crlDistributionPoints: cert.crlDistributionPoints,
    ocsp: cert.ocspUrls,
    caIssuers: cert.caIssuersUrls,
    fingerprints: {
      sha256: await certificateFingerprint(cert, 'SHA-256', crypto),
      sha1: await certificateFingerprint(cert, 'SHA-1', crypto),
    },
  };
}

/** A few lines for a person: who, by whom, until when, for what. */
export function formatDescription(d: CertificateDescription): string {
  const colon = (hex: string) => hex.toUpperCase().match(/../g)!.join(':');
  const lines = [
    `Subject:      ${d.subject}`,
    `Issuer:       ${d.issuer}`,
    `Serial:       ${d.serialNumber}`,
    `Emails:       ${d.emails.join(', ') || '(none)'}${d.emailSource === 'subject' ? ' (from the subject emailAddress: the certificate has no SAN mailbox)' : ''}`,
    ...(d.unboundEmails ? [`Not bound:    ${d.unboundEmails.join(', ')} (subject emailAddress beside SAN mailboxes: it vouches for nothing)`] : []),
    `Valid:        ${d.notBefore} to ${d.notAfter}`,
    `Key:          ${d.key.kind.toUpperCase()} ${d.key.curve ?? `${d.key.bits} bits`}`,
    `Signature:    ${d.signatureAlgorithm}`,
    `CA:           ${d.isCA ? `yes${d.pathLenConstraint !== undefined ? ` (path length ${d.pathLenConstraint})` : ''}` : 'no'}`,
    `Key usage:    ${d.keyUsage.join(', ') || '(any)'}`,
    `Ext. usage:   ${d.extendedKeyUsage.join(', ') || '(any)'}`,
    `Policies:     ${d.policies.join(', ') || '(none)'}${d.smimeProfile ? ` (S/MIME BR mailbox-validated, ${d.smimeProfile})` : ''}`,
  ];
  if (d.crlDistributionPoints.length) lines.push(`CRL:          ${d.crlDistributionPoints.join(', ')}`);
  if (d.ocsp.length) lines.push(`OCSP:         ${d.ocsp.join(', ')}`);
  lines.push(`SHA-256:      ${colon(d.fingerprints.sha256)}`);
  return lines.join('\n');
}
