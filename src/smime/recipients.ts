/**
 * Recipient checks before anything is encrypted (RFC 8551 §2.7, RFC 8550 §4.4.2): every recipient
 * certificate is valid at `at`, chains to the trust anchors when given, may be encrypted to (key
 * usage, emailProtection), is not revoked under the caller's policy, and every To/Cc address is named
 * by one of them. A message that a To address cannot read is refused before it exists, not found
 * out by the recipient.
 */
import type { CmsRecipient, ContentEncryptionAlgorithm } from '../cms/index.js';
import { CMS_OID } from '../cms/oids.js';
import { validateChain } from '../certs/chain.js';
import { certificateMailboxes, type Certificate } from '../certs/certificate.js';
import { formatName } from '../certs/name.js';
import { MailPkiError } from '../errors.js';
import type { Clock } from '../internal/clock.js';
import { childrenOf, parseDer, readOid } from '../internal/der.js';
import { getHeaders, parseAddressList, type MimeEntity } from '../mime/index.js';
import type { RevocationPolicy } from '../revocation/checker.js';
import { sameMailboxAs } from './sender.js';
import { revocationCheckerFor, toCertificates, type CertificateInput, type VerifyRevocationOptions } from './verify.js';

/** Most recipients of one message (each costs a public-key operation and a RecipientInfo). */
export const MAX_RECIPIENTS = 256;

/** A recipient: its certificate, or the certificate with how to encrypt to it. */
export type SmimeRecipient =
  | CertificateInput
  | {
      certificate: CertificateInput;
      /** RSA key transport: 'rsa-oaep' (RSAES-OAEP SHA-256, default) or 'rsa-pkcs1' (legacy PKCS#1 v1.5). */
      keyTransport?: 'rsa-oaep' | 'rsa-pkcs1';
      /** How the RecipientInfo names the certificate (default issuerAndSerialNumber). */
      identifier?: 'issuerAndSerialNumber' | 'subjectKeyIdentifier';
      /**
       * What the recipient's client decrypts, most preferred first (from an SMIMECapabilities
       * attribute of mail it signed). Without it, the certificate's SMIMECapabilities extension (RFC
       * 4262) counts, else AES-GCM is assumed (S/MIME 4.0).
       */
      capabilities?: ContentEncryptionAlgorithm[];
    };

export interface RecipientCheckOptions {
  /** When the certificates must be valid (default: the clock). */
  at?: Date;
  /** Check every recipient's chain to these anchors (without them only dates and key usage are checked). */
  trustAnchors?: CertificateInput[];
  intermediates?: CertificateInput[];
  /** Revocation of each recipient certificate, as verifyMessage's `revocation` option. */
  revocation?: VerifyRevocationOptions;
  /** Accept RSA keys below 2048 bits and SHA-1-signed certificates (default false). */
  allowWeakAlgorithms?: boolean;
  /** Key transport for RSA recipients that do not name one (default: encryptData's, RSAES-OAEP). */
  keyTransport?: 'rsa-oaep' | 'rsa-pkcs1';
  crypto: Crypto;
  clock?: Clock;
}

export interface ResolvedRecipient extends CmsRecipient {
  /** The mailboxes the certificate names (SAN rfc822Name, else subject emailAddress). */
  emails: string[];
  capabilities?: ContentEncryptionAlgorithm[];
}

function normalize(r: SmimeRecipient, what: string): { certificate: Certificate; keyTransport?: 'rsa-oaep' | 'rsa-pkcs1'; identifier?: 'issuerAndSerialNumber' | 'subjectKeyIdentifier'; capabilities?: ContentEncryptionAlgorithm[] } {
  const spec = r && typeof r === 'object' && !(r instanceof Uint8Array) && 'certificate' in r && !('der' in r) ? r : { certificate: r as CertificateInput };
  const certs = toCertificates([spec.certificate], what);
  if (certs.length !== 1)
    throw new MailPkiError('ERR_INVALID_INPUT', `${what}: expected one certificate, got ${certs.length}`, { details: { field: what } });
  return {
    certificate: certs[0]!,
    ...(spec.keyTransport && { keyTransport: spec.keyTransport }),
    ...(spec.identifier && { identifier: spec.identifier }),
    ...(spec.capabilities && { capabilities: spec.capabilities }),
  };
}

/**
 * Checks each recipient and returns them ready for encryptData. Throws ERR_RECIPIENT_INVALID for
 * the first certificate that cannot be encrypted to (its problems in the message and `details`).
 */
export async function checkRecipients(recipients: readonly SmimeRecipient[], options: RecipientCheckOptions): Promise<ResolvedRecipient[]> {
  if (recipients.length === 0) throw new MailPkiError('ERR_INVALID_INPUT', 'recipients: at least one recipient certificate is needed', { details: { field: 'recipients' } });
  if (recipients.length > MAX_RECIPIENTS)
    throw new MailPkiError('ERR_INPUT_TOO_LARGE', `${recipients.length} recipients, more than MAX_RECIPIENTS (${MAX_RECIPIENTS})`, { details: { limit: MAX_RECIPIENTS } });
  const at = options.at ?? (options.clock ? options.clock() : new Date());
  const anchors = options.trustAnchors ? toCertificates(options.trustAnchors, 'trustAnchors') : undefined;
  const intermediates = toCertificates(options.intermediates, 'intermediates');
  const { policy, checker } = revocationCheckerFor(options.revocation, options.crypto, options.clock);
  const out: ResolvedRecipient[] = [];
  for (const [i, r] of recipients.entries()) {
    const spec = normalize(r, `recipients[${i}]`);
    const cert = spec.certificate;
    const who = `recipient ${i} (${certificateMailboxes(cert).emails.join(', ') || formatName(cert.subject)})`;
    if (spec.keyTransport && cert.publicKey.kind !== 'rsa')
      throw new MailPkiError('ERR_INVALID_INPUT', `${who}: keyTransport is for RSA keys; this one is ${cert.publicKey.kind.toUpperCase()}`, { details: { field: `recipients.${i}.keyTransport` } });
    // Without anchors the path is the certificate alone: dates, key usage and EKU are still checked.
    const chain = await validateChain(cert, {
      trustAnchors: anchors ?? [cert],
      intermediates,
      at,
      purpose: 'smime-encryption',
      allowWeakAlgorithms: options.allowWeakAlgorithms ?? false,
      crypto: options.crypto,
    });
    const problems = chain.problems.filter((p) => anchors || p.certificateIndex === 0).map((p) => `${p.code}: ${p.message}`);
    if (!anchors && cert.basicConstraints?.ca) problems.push('CHAIN_LEAF_IS_CA: a CA certificate is not a mail recipient');
    if (problems.length === 0 && checker && anchors) problems.push(...revocationProblems(await checker.checkPath(chain.path, at), policy));
    if (problems.length > 0)
      throw new MailPkiError('ERR_RECIPIENT_INVALID', `${who} cannot be encrypted to: ${problems.join('; ')}`, {
        details: { recipient: i, problems },
      });
    const capabilities = spec.capabilities ?? certificateCapabilities(cert);
    const keyTransport = spec.keyTransport ?? (cert.publicKey.kind === 'rsa' ? options.keyTransport : undefined);
    out.push({
      certificate: cert,
      emails: certificateMailboxes(cert).emails,
      ...(keyTransport && { keyTransport }),
      ...(spec.identifier && { identifier: spec.identifier }),
      ...(capabilities && { capabilities }),
    });
  }
  return out;
}

function revocationProblems(results: Awaited<ReturnType<NonNullable<ReturnType<typeof revocationCheckerFor>['checker']>['checkPath']>>, policy: RevocationPolicy): string[] {
  const out: string[] = [];
  for (const r of results) {
    const what = `certificate ${r.subject} (serial ${r.serialNumber})`;
    // Encrypting is now: revoked at any time before now is revoked, whatever the reason.
    if (r.status === 'revoked') out.push(`SMIME_CERTIFICATE_REVOKED: ${what} is revoked${r.reason ? ` (${r.reason})` : ''}`);
    else if (policy === 'hard-fail' && r.status === 'unknown') out.push(`SMIME_REVOCATION_UNKNOWN: the responder does not know ${what}`);
    else if (policy === 'hard-fail' && r.status === 'unchecked') out.push(`SMIME_REVOCATION_UNAVAILABLE: revocation status of ${what} could not be checked${r.error ? `: ${r.error}` : ''}`);
  }
  return out;
}

/**
 * The To and Cc mailboxes of a message that no recipient certificate names. Group syntax with no
 * members (`undisclosed-recipients:;`) names nobody. An unreadable To or Cc is ERR_INVALID_INPUT:
 * who would be able to read the message could not be told.
 */
export function uncoveredAddresses(message: MimeEntity, recipients: readonly { emails: readonly string[] }[]): string[] {
  const missing: string[] = [];
  for (const field of ['To', 'Cc']) {
    for (const h of getHeaders(message, field)) {
      const list = parseAddressList(h.value);
      if (list.errors.length > 0)
        throw new MailPkiError('ERR_INVALID_INPUT', `message: the ${field} field cannot be read (${list.errors[0]}), so its recipients cannot be checked`, {
          details: { field: 'message' },
        });
      for (const m of list.mailboxes) {
        const isM = sameMailboxAs(m.address);
        if (!recipients.some((r) => r.emails.some(isM)) && !missing.some(isM)) missing.push(m.address);
      }
    }
  }
  return missing;
}

const CAPABILITY_OIDS: Record<string, ContentEncryptionAlgorithm> = {
  [CMS_OID.aes256GCM]: 'aes-256-gcm',
  [CMS_OID.aes128GCM]: 'aes-128-gcm',
  [CMS_OID.aes256CBC]: 'aes-256-cbc',
  [CMS_OID.aes128CBC]: 'aes-128-cbc',
};

/** The certificate's SMIMECapabilities extension (RFC 4262), content-encryption entries only; undefined when absent or unreadable. */
function certificateCapabilities(cert: Certificate): ContentEncryptionAlgorithm[] | undefined {
  const ext = cert.extensions.get(CMS_OID.smimeCapabilities);
  if (!ext) return undefined;
  try {
    const caps = childrenOf(parseDer(ext.value)).map((c) => CAPABILITY_OIDS[readOid(childrenOf(c)[0]!)]);
    return caps.filter((c): c is ContentEncryptionAlgorithm => c !== undefined);
  } catch {
    return undefined; // not readable: the S/MIME 4.0 default applies
  }
}

/**
 * The content encryption for these recipients: the caller's choice, else AES-256-GCM unless a
 * recipient is known to decrypt only CBC (then the best CBC every such recipient has).
 */
export function chooseContentEncryption(recipients: readonly ResolvedRecipient[], asked: ContentEncryptionAlgorithm | undefined): ContentEncryptionAlgorithm {
  if (asked) return asked;
  const known = recipients.map((r) => r.capabilities).filter((c): c is ContentEncryptionAlgorithm[] => c !== undefined && c.length > 0);
  const cbcOnly = known.filter((c) => !c.some((a) => a.endsWith('-gcm')));
  if (cbcOnly.length === 0) return known.every((c) => c.includes('aes-256-gcm')) ? 'aes-256-gcm' : known.every((c) => c.includes('aes-128-gcm')) ? 'aes-128-gcm' : 'aes-256-gcm';
  return cbcOnly.every((c) => c.includes('aes-256-cbc')) ? 'aes-256-cbc' : 'aes-128-cbc';
}
