/**
 * What a sweep (`LifecycleManager.runDue`) would do at `now`, computed from the store with the same
 * pure decision (`sweepStep` in policy.ts) and without claiming, writing, or calling the CA: a dry run.
 */
import { MailPkiError } from '../errors.js';
import type { Store } from '../store/types.js';
import { dueDecryptionKeys, dueNotices, effectivePolicy, parseLifecyclePolicy, sweepStep, type LifecyclePolicyInput } from './policy.js';
import { holdsSeparateCertificates, slotCredentialId, slotRole, slotsOf } from './certificates.js';

export type PlannedAction = 'destroy-decryption-key' | 'decommission' | 'expire' | 'renew' | 'notice' | 'nothing';

export interface PlannedStep {
  identityId: string;
  action: PlannedAction;
  /** Why, in the words the sweep records (e.g. "14 days left, renewal window is 30 days"). */
  reason: string;
  /** Identities with separate certificates: which certificate the step is for (each has its own schedule). */
  certificate?: 'signing' | 'encryption';
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
      const { credentials, sent, history } = await store.transaction(async (tx) => ({
        credentials: await Promise.all(slotsOf(identity).map(async (slot) => {
          const id = slotCredentialId(identity, slot);
          return { slot, credential: id ? await tx.getCredential(id) : undefined };
        })),
        sent: new Set((await tx.listNotices(identity.id)).map((n) => `${n.credentialId} ${n.noticeKey}`)),
        history: await tx.listDecryptionKeys(identity.id),
      }));
      const policy = effectivePolicy(base, identity.policy);
      const step = (action: PlannedAction, reason: string, certificate?: 'signing' | 'encryption') =>
        plan.steps.push({ identityId: identity.id, action, reason, ...(certificate && { certificate }) });
      // The sweep destroys these first, then takes the steps below (per certificate, signing first).
      for (const d of dueDecryptionKeys(history, now)) step('destroy-decryption-key', `credential ${d.credentialId}: retention ended ${d.retainUntil.toISOString()}`);
      const separate = holdsSeparateCertificates(identity);
      const steps: PlannedStep[] = [];
      for (const { slot, credential } of credentials) {
        const role = slotRole(identity, slot);
        // A revoked certificate of a pair waits for a person, as the sweep does.
        if (separate && credential?.status === 'revoked') continue;
        const next = sweepStep({ identity, credential, now, policy });
        if (next.action === 'decommission') {
          steps.length = 0;
          steps.push({ identityId: identity.id, action: next.action, reason: next.reason });
          break;
        }
        if (next.action !== 'notices') {
          steps.push({ identityId: identity.id, action: next.action, reason: next.reason, ...(role && { certificate: role }) });
          continue;
        }
        const notices = dueNotices({ identity, credential, now, policy }).filter((n) => credential && !sent.has(`${credential.id} ${n.noticeKey}`));
        for (const n of notices) steps.push({ identityId: identity.id, action: 'notice', reason: `${n.noticeKey}: ${n.daysLeft} days left`, ...(role && { certificate: role }) });
      }
      if (steps.length === 0) {
        const first = credentials[0]!.credential;
        step('nothing', sweepStep({ identity, credential: first, now, policy }).reason);
      } else plan.steps.push(...steps);
    }
    if (page.length < PAGE) break;
    afterId = page[page.length - 1]!.id;
  }
  return plan;
}
