/**
 * The one way a sweep (S/MIME `runDue`, DKIM `runDue`) walks through due work: page through the
 * identities due (from the nextDueAt index), claim each in the store before touching it, skip
 * those another worker holds, and release the claim when done. Two workers on one store never
 * work on the same identity at once; a worker that dies holding a claim loses it when its lease
 * runs out, and the next sweep after that takes the identity over (its half-done issuance is
 * completed with the same idempotency key, so the CA hands back the same certificate).
 *
 * Leases are measured on the lease clock (real time by default), never on the sweep's `now`:
 * a simulated `now` in the future must not hold real sweeps off.
 */
import { isMailPkiError, MailPkiError } from '../errors.js';
import { systemClock, type Clock } from '../internal/clock.js';
import { MAX_LEASE_MS } from '../store/outbox.js';
import type { IdentityKind, Store } from '../store/index.js';

/** How long a claim holds when nobody renews it: 5 minutes (an identity's step takes seconds). */
export const DEFAULT_CLAIM_LEASE_MS = 5 * 60_000;

export interface ClaimOptions {
  /** How long a claim on an identity lasts (default 5 min): a crashed worker's work is taken over after this. */
  claimLeaseMs?: number;
  /** The clock leases are measured on. Default: the system clock (not the manager's `clock`, which a simulation may fix). */
  leaseClock?: Clock;
}

export interface Claims {
  owner: string;
  leaseMs: number;
  clock: Clock;
}

export function resolveClaims(owner: string, options: ClaimOptions, what: string): Claims {
  const leaseMs = options.claimLeaseMs ?? DEFAULT_CLAIM_LEASE_MS;
  if (!Number.isInteger(leaseMs) || leaseMs < 1 || leaseMs > MAX_LEASE_MS) throw new MailPkiError('ERR_INVALID_INPUT', `${what}: claimLeaseMs must be an integer from 1 to ${MAX_LEASE_MS}`, { details: { field: 'claimLeaseMs' } });
  if (options.leaseClock !== undefined && typeof options.leaseClock !== 'function') throw new MailPkiError('ERR_INVALID_INPUT', `${what}: leaseClock must be a function returning a Date`, { details: { field: 'leaseClock' } });
  return { owner, leaseMs, clock: options.leaseClock ?? systemClock };
}

export type ClaimOutcome = 'done' | 'skipped';

/**
 * Runs `work` while holding the claim on `identityId`; 'skipped' (without running it) when another
 * worker holds the claim. The claim is released afterwards, also when `work` throws.
 */
export async function withClaim(store: Store, claims: Claims, identityId: string, work: () => Promise<void>): Promise<ClaimOutcome> {
  if (!(await store.claimIdentity(identityId, claims.owner, claims.clock(), claims.leaseMs))) return 'skipped';
  try {
    await work();
  } finally {
    await store.releaseIdentity(identityId, claims.owner).catch(() => undefined);
  }
  return 'done';
}

export interface DueWalk {
  store: Store;
  kind: IdentityKind;
  now: Date;
  pageSize: number;
  /** Only these ids (e.g. one DKIM domain), instead of the index walk. */
  only?: string[];
}

/**
 * Pages through the identities of `kind` due by `now` (ordered by id, keyset pagination), and
 * calls `each` for every id. The page is read before any work, so work that moves an identity's
 * nextDueAt never makes the walk skip or repeat one.
 */
export async function forEachDue(walk: DueWalk, each: (identityId: string) => Promise<void>): Promise<void> {
  if (walk.only) {
    for (const id of walk.only) await each(id);
    return;
  }
  let afterId: string | undefined;
  for (;;) {
    const page = await walk.store.transaction((tx) =>
      tx.listIdentities({ kind: walk.kind, dueBefore: walk.now, limit: walk.pageSize, ...(afterId !== undefined && { afterId }) }),
    );
    for (const identity of page) await each(identity.id);
    if (page.length < walk.pageSize) return;
    afterId = page[page.length - 1]!.id;
  }
}

/** True for the error another worker's progress causes (the identity moved on meanwhile): not a failure of this one. */
export function isLostRace(e: unknown): boolean {
  return isMailPkiError(e, 'ERR_STORE_CONFLICT');
}

