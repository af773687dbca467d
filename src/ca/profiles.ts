/**
 * CA/Browser Forum S/MIME Baseline Requirements, mailbox-validated subscriber profiles
 * (SMBR §7.1.2.3 and §7.1.6.4): which extensions a certificate carries and what it may hold.
 */
import { MailPkiError } from '../errors.js';
import { OID } from '../internal/oids.js';
import { isLowOrderX25519, x25519PublicKeyBytes, type PublicKeyInfo } from '../keys/algorithms.js';
import type { KeyUsageName } from '../certs/extensions.js';
import {
  authorityInfoAccessValue,
  authorityKeyIdentifierValue,
  basicConstraintsValue,
  certificatePoliciesValue,
  crlDistributionPointsValue,
  extKeyUsageValue,
  keyUsageValue,
  subjectAltNameValue,
  subjectKeyIdentifierValue,
  type ExtensionInput,
} from '../certs/builder.js';
import type { SmimeProfile } from './types.js';

export interface ProfileRules {
  policyOid: string;
  /** Longest validity the profile allows (SMBR §6.3.2). */
  maxValidityDays: number;
  extKeyUsage: readonly string[];
}

export const PROFILE_RULES: Record<SmimeProfile, ProfileRules> = {
  strict: { policyOid: OID.smimeMailboxStrict, maxValidityDays: 825, extKeyUsage: [OID.idKpEmailProtection] },
  multipurpose: {
    policyOid: OID.smimeMailboxMultipurpose,
    maxValidityDays: 825,
    extKeyUsage: [OID.idKpEmailProtection, OID.idKpClientAuth],
  },
  legacy: { policyOid: OID.smimeMailboxLegacy, maxValidityDays: 1185, extKeyUsage: [OID.idKpEmailProtection, OID.idKpClientAuth] },
};

/** Refuses keys the SMBR §6.1.5 does not allow: RSA below 2048 or not a multiple of 8, other curves. */
export function checkSubscriberKey(key: PublicKeyInfo): void {
  if (key.kind === 'rsa') {
    if (key.bits < 2048)
      throw new MailPkiError('ERR_KEY_WEAK', `RSA keys must have at least 2048 bits (this one has ${key.bits})`, {
        details: { bits: key.bits },
      });
    if (key.bits % 8 !== 0 || key.bits > 8192)
      throw new MailPkiError('ERR_CA_POLICY_VIOLATION', `RSA modulus size ${key.bits} is not allowed (a multiple of 8, up to 8192)`);
  } else if (key.kind === 'ec' && key.curve !== 'P-256' && key.curve !== 'P-384' && key.curve !== 'P-521') {
    throw new MailPkiError('ERR_KEY_UNSUPPORTED', 'EC keys must be on P-256, P-384 or P-521');
  } else if (key.kind === 'x25519' && isLowOrderX25519(x25519PublicKeyBytes(key))) {
    throw new MailPkiError('ERR_KEY_MALFORMED', 'the X25519 key is a low-order point: no one could encrypt to it (RFC 7748 §6.1)');
  }
}

/** What a subscriber certificate is for: its keyUsage follows (SMBR §7.1.2.3(e)). */
export type SubscriberUsage = 'signing' | 'encryption' | 'dual-use';

/**
 * Key usage for a subscriber key (SMBR §7.1.2.3(e)): signing-only (digitalSignature), key
 * management only (keyEncipherment for RSA, keyAgreement for EC: the strict profile's separate
 * encryption certificate), or both. An Ed25519 key cannot encrypt: ERR_KEY_UNSUPPORTED for 'encryption'.
 * An X25519 key (RFC 8410 §5) cannot sign: 'encryption' only, keyAgreement alone.
 */
export function subscriberKeyUsage(key: PublicKeyInfo, usage: SubscriberUsage): KeyUsageName[] {
  if (key.kind === 'x25519') {
    if (usage !== 'encryption')
      throw new MailPkiError('ERR_KEY_UNSUPPORTED', `an X25519 key cannot sign, so it cannot have a ${usage} certificate: issue it with usage 'encryption' (keyAgreement only)`);
    return ['keyAgreement'];
  }
  if (usage === 'encryption') {
    if (key.kind === 'rsa') return ['keyEncipherment'];
    if (key.kind === 'ec') return ['keyAgreement'];
    throw new MailPkiError('ERR_KEY_UNSUPPORTED', 'an Ed25519 key cannot receive encrypted mail: use an RSA or EC key for an encryption certificate');
  }
  if (usage === 'signing' || key.kind === 'ed25519') return ['digitalSignature'];
  return key.kind === 'rsa' ? ['digitalSignature', 'keyEncipherment'] : ['digitalSignature', 'keyAgreement'];
}

export interface SubscriberExtensionInput {
  profile: SmimeProfile;
  mailbox: string;
  key: PublicKeyInfo;
  usage: SubscriberUsage;
  subjectKeyId: Uint8Array;
  authorityKeyId: Uint8Array;
  crlUrl?: string;
  ocspUrl?: string;
  caIssuersUrl?: string;
}

/** The extensions of a mailbox-validated subscriber certificate, in a fixed order. */
export function subscriberExtensions(input: SubscriberExtensionInput): ExtensionInput[] {
  const rules = PROFILE_RULES[input.profile];
  const exts: ExtensionInput[] = [
    { oid: OID.basicConstraints, critical: true, value: basicConstraintsValue(false) },
    { oid: OID.keyUsage, critical: true, value: keyUsageValue(subscriberKeyUsage(input.key, input.usage)) },
    { oid: OID.extKeyUsage, critical: false, value: extKeyUsageValue(rules.extKeyUsage) },
    { oid: OID.certificatePolicies, critical: false, value: certificatePoliciesValue([rules.policyOid]) },
    { oid: OID.subjectAltName, critical: false, value: subjectAltNameValue({ rfc822Names: [input.mailbox] }) },
    { oid: OID.subjectKeyIdentifier, critical: false, value: subjectKeyIdentifierValue(input.subjectKeyId) },
    { oid: OID.authorityKeyIdentifier, critical: false, value: authorityKeyIdentifierValue(input.authorityKeyId) },
  ];
  if (input.crlUrl) exts.push({ oid: OID.cRLDistributionPoints, critical: false, value: crlDistributionPointsValue([input.crlUrl]) });
  if (input.ocspUrl || input.caIssuersUrl)
    exts.push({
      oid: OID.authorityInfoAccess,
      critical: false,
      value: authorityInfoAccessValue({
        ...(input.ocspUrl && { ocsp: [input.ocspUrl] }),
        ...(input.caIssuersUrl && { caIssuers: [input.caIssuersUrl] }),
      }),
    });
  return exts;
}

/** Extensions of a CA certificate: root (no EKU, no path limit) or S/MIME issuing CA (SMBR §7.1.2.2). */
export function caExtensions(input: {
  kind: 'root' | 'issuing';
  subjectKeyId: Uint8Array;
  authorityKeyId?: Uint8Array;
  crlUrl?: string;
}): ExtensionInput[] {
  const exts: ExtensionInput[] = [
    {
      oid: OID.basicConstraints,
      critical: true,
      value: input.kind === 'root' ? basicConstraintsValue(true) : basicConstraintsValue(true, 0),
    },
    // digitalSignature lets the CA key sign OCSP responses itself.
    { oid: OID.keyUsage, critical: true, value: keyUsageValue(['digitalSignature', 'keyCertSign', 'cRLSign']) },
    { oid: OID.subjectKeyIdentifier, critical: false, value: subjectKeyIdentifierValue(input.subjectKeyId) },
  ];
  if (input.authorityKeyId)
    exts.push({ oid: OID.authorityKeyIdentifier, critical: false, value: authorityKeyIdentifierValue(input.authorityKeyId) });
  if (input.kind === 'issuing') {
    exts.push(
      { oid: OID.extKeyUsage, critical: false, value: extKeyUsageValue([OID.idKpEmailProtection, OID.idKpClientAuth]) },
      {
        oid: OID.certificatePolicies,
        critical: false,
        value: certificatePoliciesValue([OID.smimeMailboxStrict, OID.smimeMailboxMultipurpose, OID.smimeMailboxLegacy]),
      },
    );
    if (input.crlUrl) exts.push({ oid: OID.cRLDistributionPoints, critical: false, value: crlDistributionPointsValue([input.crlUrl]) });
  }
  return exts;
}

/** Lower-cased domain of a mailbox. */
export function mailboxDomain(mailbox: string): string {
  return mailbox.slice(mailbox.lastIndexOf('@') + 1).toLowerCase();
}

/**
 * True when `domain` is allowed: an entry `example.com` allows exactly that domain, an entry
 * `.example.com` allows its subdomains (as RFC 5280 name constraints read them). An empty list allows all.
 */
export function isDomainAllowed(domain: string, allowed: readonly string[]): boolean {
  if (allowed.length === 0) return true;
  const d = domain.toLowerCase();
  return allowed.some((a) => {
    const x = a.toLowerCase();
    return x.startsWith('.') ? d.endsWith(x) && d.length > x.length : d === x;
  });
}
