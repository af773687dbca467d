/**
 * Lifecycle events for owning teams. An event is plain JSON (times as ISO strings) because it
 * is written to the outbox and sent over the wire as is. Events describe, never carry, secrets:
 * they are built only from the summaries below, which have no field a key could go into.
 */
import { timeOrderedId } from './ids.js';
import type { CredentialRecord, IdentityRecord, JsonObject } from '../store/index.js';

export const LIFECYCLE_EVENT_TYPES = [
  'identity.enrolled',
  'certificate.issued',
  'certificate.renewed',
  'certificate.expiring',
  'certificate.expired',
  'certificate.revoked',
  'identity.suspended',
  'identity.reinstated',
  'identity.decommissioned',
  'policy.denied',
  'issuance.failed',
  'issuance.discarded',
  'decryption-key.destroyed',
  'decryption-keys.exported',
] as const;
export type LifecycleEventType = (typeof LIFECYCLE_EVENT_TYPES)[number];

export interface CertificateSummary {
  /** Lower-case hex, no leading zeros. */
  serialNumber: string;
  /** SHA-256 of the certificate DER, lower-case hex. */
  fingerprint: string;
  notBefore: string;
  notAfter: string;
  /** Identities with separate certificates: which one this is ('signing' or 'encryption'). Absent: the identity's only certificate. */
  role?: 'signing' | 'encryption';
}

export interface IdentitySummary {
  id: string;
  kind: 'smime' | 'dkim';
  /** The mailbox (S/MIME) or domain (DKIM). */
  name: string;
}

/** What each event type carries in `data`. */
export interface LifecycleEventData {
  'identity.enrolled': { purpose?: string; approvedBy?: string; tags: string[]; profile: string; keyType: string };
  'certificate.issued': { profile: string; keyType: string; operation: 'enroll' | 'renew' };
  'certificate.renewed': { reason: string; rekeyed: boolean; previous?: CertificateSummary };
  'certificate.expiring': { daysLeft: number; noticeDays: number };
  'certificate.expired': Record<string, never>;
  'certificate.revoked': { reason: string; revokedAt: string };
  'identity.suspended': { reason?: string };
  'identity.reinstated': { reason?: string };
  'identity.decommissioned': {
    reason: string;
    revoked: boolean;
    /** Private keys destroyed with the identity. */
    keysDestroyed: number;
    /** Decryption keys kept until their retention ends (each then gets `decryption-key.destroyed`). */
    decryptionKeysKept?: number;
  };
  'policy.denied': { code: 'ERR_POLICY_DENIED' | 'ERR_APPROVAL_DENIED' | 'ERR_CA_MAILBOX_NOT_ALLOWED'; rule: string; message: string; operation: 'enroll' | 'renew' };
  'issuance.failed': { code: string; message: string; operation: 'enroll' | 'renew'; retryAt?: string; certificate?: 'signing' | 'encryption' };
  /**
   * The CA issued a certificate the inventory will not take: the identity was decommissioned (or
   * enrolled anew) while the CA was asked. `revoked: false` means it is still valid at the CA:
   * revoke it there (`message` says why it failed).
   */
  'issuance.discarded': { serialNumber: string; why: 'decommissioned' | 'replaced' | 'withdrawn'; revoked: boolean; operation: 'enroll' | 'renew'; message?: string; certificate?: 'signing' | 'encryption' };
  /**
   * The retention of a certificate's decryption key ended and the sweep destroyed the key (`certificate`
   * says which). `keyDestroyed: false`: another kept certificate still uses the same key.
   */
  'decryption-key.destroyed': { retainUntil: string; keyDestroyed: boolean };
  /** The decryption-key history was exported to a PKCS#12 file (key recovery) by `actor`. */
  'decryption-keys.exported': { actor: string; reason: string; serialNumbers: string[] };
}

export interface LifecycleEventOf<T extends LifecycleEventType> {
  /** Unique; receivers de-duplicate by it (delivery is at least once). Time-ordered UUID (v7). */
  id: string;
  type: T;
  /** ISO 8601. */
  occurredAt: string;
  owner: { team: string; contact?: string };
  identity: IdentitySummary;
  certificate?: CertificateSummary;
  data: LifecycleEventData[T];
}

/** Any lifecycle event; `switch (event.type)` narrows `data`. */
export type LifecycleEvent = { [T in LifecycleEventType]: LifecycleEventOf<T> }[LifecycleEventType];

/** Where events go after they leave the outbox (webhook, queue, log). Throwing means "retry later". */
export interface EventSink {
  readonly name?: string;
  deliver(event: LifecycleEvent): Promise<void>;
}

export type EventListener = (event: LifecycleEvent) => void | Promise<void>;

export function summariseIdentity(identity: Pick<IdentityRecord, 'id' | 'kind' | 'name'>): IdentitySummary {
  return { id: identity.id, kind: identity.kind, name: identity.name };
}

export function summariseCertificate(c: CredentialRecord): CertificateSummary {
  const role = c.attributes?.certificate;
  return {
    serialNumber: c.serialNumber ?? '',
    fingerprint: c.fingerprint,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    ...((role === 'signing' || role === 'encryption') && { role }),
  };
}

export interface NewEventInput<T extends LifecycleEventType> {
  type: T;
  identity: Pick<IdentityRecord, 'id' | 'kind' | 'name' | 'owner'>;
  credential?: CredentialRecord | undefined;
  data: LifecycleEventData[T];
}

/** Builds an event from records; only the summaries above go in. */
export function createEvent<T extends LifecycleEventType>(input: NewEventInput<T>, at: Date, crypto: Crypto): LifecycleEventOf<T> {
  const owner = input.identity.owner;
  return {
    id: timeOrderedId(crypto, at),
    type: input.type,
    occurredAt: at.toISOString(),
    owner: { team: owner.team, ...(owner.contact !== undefined && { contact: owner.contact }) },
    identity: summariseIdentity(input.identity),
    ...(input.credential && { certificate: summariseCertificate(input.credential) }),
    data: stripUndefined(input.data) as LifecycleEventData[T],
  };
}

/** The event as an outbox payload (JSON object). */
export function eventPayload(event: LifecycleEvent): JsonObject {
  return JSON.parse(JSON.stringify(event)) as JsonObject;
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
