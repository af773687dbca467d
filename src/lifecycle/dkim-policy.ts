/**
 * DKIM rotation policy and the pure decisions of the state machine: given a key, the time and the
 * policy, what is the next step and when is the identity due again. No I/O here; the manager does
 * the DNS lookups and writes.
 */
import { z } from 'zod';
import { parseInput } from '../internal/validate.js';
import type { DkimKeyState } from './dkim-events.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;

export const dkimPolicySchema = z
  .object({
    /** Start a new key when the active one is this old. Default 180. */
    rotationDays: z.number().int().min(1).max(3650).default(180),
    /** The old key stays published (not signing) this long after the switch, for mail in flight. Default 7. */
    graceDays: z.number().min(0).max(365).default(7),
    /** A retired selector's `p=` record is deleted this long after retirement. Default 30. */
    removeAfterDays: z.number().min(0).max(3650).default(30),
    /** Wait this long after DNS confirmed a record before signing with it (caches, secondaries). Default 0. */
    activateAfterHours: z.number().min(0).max(24 * 90).default(0),
    /** An automatic publisher is asked again when the record is still not visible after this. Default 1. */
    republishAfterHours: z.number().min(0.01).max(24 * 30).default(1),
  })
  .strict();
export type DkimPolicy = z.output<typeof dkimPolicySchema>;
export type DkimPolicyInput = z.input<typeof dkimPolicySchema>;

export function parseDkimPolicy(input: unknown, what = 'DKIM policy'): DkimPolicy {
  return parseInput(dkimPolicySchema, input ?? {}, what);
}

/** What a stored key says about itself (credential attributes), times as Dates. */
export interface DkimKeyTimes {
  state: DkimKeyState;
  /** 'rsa' | 'ed25519': keys of one type replace each other; an RSA and an Ed25519 key sign side by side. */
  keyType: string;
  createdAt: Date;
  pushedAt?: Date;
  confirmedAt?: Date;
  activatedAt?: Date;
  /** When a newer key of the same type became active: the grace period starts. */
  supersededAt?: Date;
  retiringAt?: Date;
  retirePushedAt?: Date;
  retiredAt?: Date;
}

export type DkimStep =
  | 'request-publish'
  | 'push'
  | 'confirm'
  | 'activate'
  | 'retire'
  | 'push-retire'
  | 'confirm-retired'
  | 'remove';

/**
 * The next step for a key now, or undefined when it waits for time. `push` is only offered to an
 * automatic publisher; confirmation steps are always offered (they read DNS and may find nothing).
 */
export function nextDkimStep(k: DkimKeyTimes, policy: DkimPolicy, now: Date, automatic: boolean): DkimStep | undefined {
  const t = now.getTime();
  switch (k.state) {
    case 'generated':
      return 'request-publish';
    case 'publish-requested':
      if (automatic && (!k.pushedAt || t - k.pushedAt.getTime() >= policy.republishAfterHours * HOUR)) return 'push';
      return 'confirm';
    case 'published':
      return t >= (k.confirmedAt ?? k.createdAt).getTime() + policy.activateAfterHours * HOUR ? 'activate' : undefined;
    case 'active':
      return k.supersededAt && t >= k.supersededAt.getTime() + policy.graceDays * DAY ? 'retire' : undefined;
    case 'retiring':
      if (automatic && !k.retirePushedAt) return 'push-retire';
      return 'confirm-retired';
    case 'retired':
      return t >= (k.retiredAt ?? k.createdAt).getTime() + policy.removeAfterDays * DAY ? 'remove' : undefined;
    case 'removed':
      return undefined;
  }
}

/** True when a key of this type should be replaced: the signing key is older than rotationDays. */
export function rotationDue(signing: DkimKeyTimes, policy: DkimPolicy, now: Date): boolean {
  return now.getTime() >= (signing.activatedAt ?? signing.createdAt).getTime() + policy.rotationDays * DAY;
}

/** States in which a key is on its way in (a rotation is already under way). */
export function isPending(state: DkimKeyState): boolean {
  return state === 'generated' || state === 'publish-requested' || state === 'published';
}

/**
 * When the identity must be looked at again: now while anything waits for DNS, else the earliest
 * of activation, retirement, removal and rotation.
 */
export function dkimNextDueAt(keys: readonly DkimKeyTimes[], policy: DkimPolicy, now: Date): Date | undefined {
  const times: number[] = [];
  for (const k of keys) {
    switch (k.state) {
      case 'generated':
      case 'publish-requested':
      case 'retiring':
        times.push(now.getTime());
        break;
      case 'published':
        times.push((k.confirmedAt ?? k.createdAt).getTime() + policy.activateAfterHours * HOUR);
        break;
      case 'active':
        if (k.supersededAt) times.push(k.supersededAt.getTime() + policy.graceDays * DAY);
        else if (!keys.some((o) => o.keyType === k.keyType && isPending(o.state)))
          times.push((k.activatedAt ?? k.createdAt).getTime() + policy.rotationDays * DAY);
        break;
      case 'retired':
        times.push((k.retiredAt ?? k.createdAt).getTime() + policy.removeAfterDays * DAY);
        break;
      case 'removed':
        break;
    }
  }
  return times.length ? new Date(Math.min(...times)) : undefined;
}
