/**
 * Test and bench helpers: record factories and `seedIdentities`, which fills a store fast
 * (batched inserts, one transaction per batch).
 */
import type { IdentityRecord, NewIdentityRecord, Store } from '../../src/store/index.js';

export const T0 = new Date('2030-01-01T00:00:00.000Z');
export const DAY = 24 * 60 * 60 * 1000;
export const at = (days: number, base: Date = T0): Date => new Date(base.getTime() + days * DAY);

export function identity(mailbox: string, extra: Partial<NewIdentityRecord> = {}): NewIdentityRecord {
  const domain = mailbox.split('@')[1] ?? 'example.com';
  return {
    id: `smime:${mailbox}`,
    kind: 'smime',
    name: mailbox,
    domain,
    owner: { team: 'treasury' },
    tags: [],
    keyType: 'ec-p256',
    status: 'active',
    createdAt: T0,
    updatedAt: T0,
    ...extra,
  };
}

export interface SeedResult {
  /** The time the seed is relative to: due identities have nextDueAt ≤ now, the others later. */
  now: Date;
  inserted: number;
  due: number;
}

/**
 * Inserts `n` S/MIME identities; every (1/dueFraction)-th one is due at `now` (nextDueAt an hour
 * before), the others are due 30 to 60 days later. Owners cycle over 50 teams, domains over 10.
 *
 * @example
 * const { due } = await seedIdentities(store, 100_000, 0.01); // 1,000 due
 */
export async function seedIdentities(
  store: Store,
  n: number,
  dueFraction: number,
  options: { now?: Date; batchSize?: number; prefix?: string } = {},
): Promise<SeedResult> {
  const now = options.now ?? T0;
  const batch = options.batchSize ?? n;
  const prefix = options.prefix ?? 'seed';
  const every = dueFraction > 0 ? Math.max(1, Math.round(1 / dueFraction)) : 0;
  let due = 0;
  for (let start = 0; start < n; start += batch) {
    const end = Math.min(n, start + batch);
    due += await store.transaction(async (tx) => {
      let d = 0;
      for (let i = start; i < end; i++) {
        const isDue = every > 0 && i % every === 0;
        if (isDue) d++;
        const domain = `d${i % 10}.example.com`;
        const rec: NewIdentityRecord = {
          id: `smime:${prefix}${String(i).padStart(7, '0')}@${domain}`,
          kind: 'smime',
          name: `${prefix}${i}@${domain}`,
          domain,
          owner: { team: `team-${i % 50}`, contact: `team-${i % 50}@example.com` },
          purpose: 'bench',
          tags: ['bench'],
          caId: 'local',
          profile: 'strict',
          keyType: 'ec-p256',
          status: 'active',
          currentCredentialId: `cred-${i}`,
          notAfter: new Date(now.getTime() + (isDue ? 10 : 90 + (i % 30)) * 86_400_000),
          nextDueAt: new Date(now.getTime() + (isDue ? -3_600_000 : (30 + (i % 30)) * 86_400_000)),
          createdAt: now,
          updatedAt: now,
        };
        await tx.insertIdentity(rec);
      }
      return d;
    });
  }
  return { now, inserted: n, due };
}

/** A full record as the store returns it after insert. */
export function stored(rec: NewIdentityRecord): IdentityRecord {
  return { ...rec, version: 1 };
}
