/**
 * What a sweep (`LifecycleManager.runDue`) would do at `now`, computed from the store with the same
 * pure decision (`sweepStep` in policy.ts) and without claiming, writing, or calling the CA: a dry run.
 */
import { MailPkiError } from '../errors.js';
import type { Store } from '../store/types.js';
import { dueDecryptionKeys, dueNotices, effectivePolicy, parseLifecyclePolicy, sweepStep, type LifecyclePolicyInput } from './policy.js';

export type PlannedAction = 'destroy-decryption-key' | 'decommission' | 'expire' | 'renew' | 'notice' | 'nothing';

export interface PlannedStep {
  identityId: string;
  action: PlannedAction;
  /** Why, in the words the sweep records (e.g. "14 days left, renewal window is 30 days"). */
  reason: string;
}

export interface DuePlan {
  now: Date;
  scanned: number;
  steps: PlannedStep[];
}

const PAGE = 500;

/**
 * The S/MIME identities due by `now` and what the sweep would do with each, in the order the sweep
 * takes them. Reads only: nothing is claimed or written, and no certificate is issued.
 *
 * @example
 * const plan = await planDue(store, new Date(), { policy });
 * for (const s of plan.steps) console.log(s.action, s.identityId, s.reason);
 */
export async function planDue(store: Store, now: Date, options: { policy?: LifecyclePolicyInput } = {}): Promise<DuePlan> {
  if (!(now instanceof Date) || Number.isNaN(now.getTime()))
    throw new MailPkiError('ERR_INVALID_INPUT', 'now: expected a valid Date', { details: { field: 'now' } });
  const base = parseLifecyclePolicy(options.policy ?? {});
  const plan: DuePlan = { now, scanned: 0, steps: [] };
  let afterId: string | undefined;
  for (;;) {
    const page = await store.transaction((tx) => tx.listIdentities({ kind: 'smime', dueBefore: now, limit: PAGE, ...(afterId !== undefined && { afterId }) }));
    for (const identity of page) {
      plan.scanned++;
      const { credential, sent, history } = await store.transaction(async (tx) => ({
        credential: identity.currentCredentialId ? await tx.getCredential(identity.currentCredentialId) : undefined,
        sent: new Set((await tx.listNotices(identity.id)).map((n) => `${n.credentialId} ${n.noticeKey}`)),
        history: await tx.listDecryptionKeys(identity.id),
      }));
      const policy = effectivePolicy(base, identity.policy);
      const step = (action: PlannedAction, reason: string) => plan.steps.push({ identityId: identity.id, action, reason });
      // The sweep destroys these first, then takes the step below.
      for (const d of dueDecryptionKeys(history, now)) step('destroy-decryption-key', `credential ${d.credentialId}: retention ended ${d.retainUntil.toISOString()}`);
      const next = sweepStep({ identity, credential, now, policy });
      if (next.action !== 'notices') {
        step(next.action, next.reason);
        continue;
      }
      const notices = dueNotices({ identity, credential, now, policy }).filter((n) => credential && !sent.has(`${credential.id} ${n.noticeKey}`));
      for (const n of notices) step('notice', `${n.noticeKey}: ${n.daysLeft} days left`);
      if (notices.length === 0) step('nothing', next.reason);
    }
    if (page.length < PAGE) break;
    afterId = page[page.length - 1]!.id;
  }
  return plan;
}
