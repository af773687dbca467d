/**
 * Which certificates an S/MIME identity holds, as pure decisions over its record: one certificate
 * (signing, encryption or both, as the identity's `use` says), or — `certificates: 'separate'`, use
 * 'both' — a signing certificate and an encryption certificate, each with its own key (S/MIME BR
 * strict profiles may separate them). The manager runs one engine over these "slots".
 */
import type { CertificateRole, CredentialRecord, IdentityRecord } from '../store/index.js';
import type { KeyType } from '../keys/generate.js';
import { encryptionKeyTypeOf, receivesEncryptedMail } from './policy.js';

/** 'main': the identity's only certificate, or the signing one of a separate pair. */
export type CertificateSlot = 'main' | 'encryption';

/** Which certificate a caller means: one of a separate pair, or every one the identity holds. */
export type CertificateChoice = CertificateRole | 'all';

export function holdsSeparateCertificates(identity: Pick<IdentityRecord, 'certificates'>): boolean {
  return identity.certificates === 'separate';
}

/** The slots of an identity, in the order the engine works on them (signing first). */
export function slotsOf(identity: Pick<IdentityRecord, 'certificates'>): CertificateSlot[] {
  return holdsSeparateCertificates(identity) ? ['main', 'encryption'] : ['main'];
}

export function slotCredentialId(identity: Pick<IdentityRecord, 'currentCredentialId' | 'encryptionCredentialId'>, slot: CertificateSlot): string | undefined {
  return slot === 'main' ? identity.currentCredentialId : identity.encryptionCredentialId;
}

/** The identity with `credentialId` as the current credential of `slot`. */
export function withSlotCredential(identity: IdentityRecord, slot: CertificateSlot, credentialId: string): IdentityRecord {
  return slot === 'main' ? { ...identity, currentCredentialId: credentialId } : { ...identity, encryptionCredentialId: credentialId };
}

/** The role name of a slot, for a separate identity (undefined for a one-certificate identity). */
export function slotRole(identity: Pick<IdentityRecord, 'certificates'>, slot: CertificateSlot): CertificateRole | undefined {
  if (!holdsSeparateCertificates(identity)) return undefined;
  return slot === 'main' ? 'signing' : 'encryption';
}

/** The slot a PendingIssuance is for. */
export function slotOfRole(role: CertificateRole | undefined): CertificateSlot {
  return role === 'encryption' ? 'encryption' : 'main';
}

/** The slots a caller's choice names; a role on a one-certificate identity is ERR-worthy (undefined). */
export function slotsOfChoice(identity: Pick<IdentityRecord, 'certificates'>, choice: CertificateChoice): CertificateSlot[] | undefined {
  if (choice === 'all') return slotsOf(identity);
  if (!holdsSeparateCertificates(identity)) return undefined;
  return [choice === 'signing' ? 'main' : 'encryption'];
}

/** The usage the CA is asked for (keyUsage to match): RSA keyEncipherment / EC keyAgreement for encryption. */
export function slotCaUsage(identity: Pick<IdentityRecord, 'certificates' | 'use'>, slot: CertificateSlot): 'signing' | 'encryption' | 'dual-use' {
  if (holdsSeparateCertificates(identity)) return slot === 'main' ? 'signing' : 'encryption';
  const use = identity.use ?? 'both';
  return use === 'both' ? 'dual-use' : use;
}

/** The key type of a slot's keys: the identity's keyType, or for the encryption certificate of a pair its own (X25519 beside a signing key). */
export function slotKeyType(identity: Pick<IdentityRecord, 'keyType' | 'certificates' | 'attributes'>, slot: CertificateSlot): KeyType {
  return (slot === 'encryption' ? encryptionKeyTypeOf(identity) : identity.keyType) as KeyType;
}

/** Whether the key of a certificate in this slot enters the decryption-key history (the signing key of a pair never does). */
export function slotReceivesEncryptedMail(identity: Pick<IdentityRecord, 'certificates' | 'use' | 'keyType' | 'kind' | 'attributes'>, slot: CertificateSlot): boolean {
  if (holdsSeparateCertificates(identity)) return slot === 'encryption' && receivesEncryptedMail(identity);
  return receivesEncryptedMail(identity);
}

/** Whether a slot of the identity has no certificate yet (an enrollment that is not complete). */
export function missingSlots(identity: IdentityRecord): CertificateSlot[] {
  return slotsOf(identity).filter((s) => slotCredentialId(identity, s) === undefined);
}

/** The role a credential was issued for (stored in its attributes; absent for a one-certificate identity). */
export function credentialRole(credential: Pick<CredentialRecord, 'attributes'>): CertificateRole | undefined {
  const r = credential.attributes?.certificate;
  return r === 'signing' || r === 'encryption' ? r : undefined;
}

/**
 * notAfter for the identity's `expiringBefore` index: the earliest of its current certificates, so a
 * search for what expires soon finds a pair whose either half does.
 */
export function earliestNotAfter(credentials: Array<CredentialRecord | undefined>): Date | undefined {
  const t = credentials.filter((c): c is CredentialRecord => c !== undefined).map((c) => c.notAfter.getTime());
  return t.length ? new Date(Math.min(...t)) : undefined;
}
