/**
 * DKIM lifecycle events: the same envelope as the S/MIME events (id, type, occurredAt, owner,
 * identity, data), with a `key` summary instead of a certificate. Records in events are public
 * (the TXT to publish); nothing secret has a field to go into.
 */
import type { IdentityRecord } from '../store/index.js';
import type { DkimStep } from './dkim-policy.js';
import { timeOrderedId } from './ids.js';

export const DKIM_EVENT_TYPES = [
  'dkim.key.generated',
  'dkim.record.publish',
  'dkim.record.confirmed',
  'dkim.key.activated',
  'dkim.record.retire',
  'dkim.key.retired',
  'dkim.key.removed',
  'dkim.step.failed',
  'dkim.identity.decommissioned',
] as const;
export type DkimEventType = (typeof DKIM_EVENT_TYPES)[number];

/** Where a key is in its life. */
export const DKIM_KEY_STATES = ['generated', 'publish-requested', 'published', 'active', 'retiring', 'retired', 'removed'] as const;
export type DkimKeyState = (typeof DKIM_KEY_STATES)[number];

export interface DkimKeySummary {
  selector: string;
  /** 'rsa-2048', 'ed25519', … */
  algorithm: string;
  /** SHA-256 of the SubjectPublicKeyInfo, lower-case hex. */
  fingerprint: string;
  state: DkimKeyState;
}

/** A DNS record as the owners should publish it. */
export interface DkimRecordSummary {
  name: string;
  /** The TXT value as one string. */
  value: string;
  /** The value in ≤ 255-byte character-strings. */
  strings: string[];
  /** A BIND zone-file line. */
  zoneLine: string;
}

export interface DkimEventData {
  'dkim.key.generated': { reason: string };
  /** `automatic`: the publisher changes DNS itself; otherwise the owners must publish `record`. */
  'dkim.record.publish': { record: DkimRecordSummary; publisher: string; automatic: boolean };
  'dkim.record.confirmed': { name: string };
  'dkim.key.activated': { previous?: DkimKeySummary };
  'dkim.record.retire': { record: DkimRecordSummary; publisher: string; automatic: boolean; graceDays: number };
  'dkim.key.retired': { name: string };
  /** Manual publishing: the owners should now delete the TXT at `name`. */
  'dkim.key.removed': { name: string; publisher: string; automatic: boolean };
  /**
   * A `runDue` step failed (DNS update refused, store error, …); the key stays where it was and the
   * next `runDue` tries again, so this comes once per failing sweep and key. `step` 'rotate': a
   * scheduled rotation could not start (`key` is the one that should have been replaced).
   */
  'dkim.step.failed': { step: DkimStep | 'rotate'; name: string; code: string; message: string };
  /**
   * Signing stopped; `keys` are the identity's keys as they stand after the decommission
   * (`key` is the one that was signing, else the newest). The rest follows as
   * `dkim.record.retire` / `dkim.key.retired` / `dkim.key.removed` per key.
   */
  'dkim.identity.decommissioned': { reason: string; keys: DkimKeySummary[] };
}

export interface DkimEventOf<T extends DkimEventType> {
  /** Time-ordered UUID; receivers de-duplicate by it. */
  id: string;
  type: T;
  occurredAt: string;
  owner: { team: string; contact?: string };
  identity: { id: string; kind: 'dkim'; name: string };
  key: DkimKeySummary;
  data: DkimEventData[T];
}

export type DkimEvent = { [T in DkimEventType]: DkimEventOf<T> }[DkimEventType];

export function createDkimEvent<T extends DkimEventType>(
  type: T,
  identity: Pick<IdentityRecord, 'id' | 'name' | 'owner'>,
  key: DkimKeySummary,
  data: DkimEventData[T],
  at: Date,
  crypto: Crypto,
): DkimEventOf<T> {
  const owner = identity.owner;
  return {
    id: timeOrderedId(crypto, at),
    type,
    occurredAt: at.toISOString(),
    owner: { team: owner.team, ...(owner.contact !== undefined && { contact: owner.contact }) },
    identity: { id: identity.id, kind: 'dkim', name: identity.name },
    key,
    data: JSON.parse(JSON.stringify(data)) as DkimEventData[T],
  };
}
