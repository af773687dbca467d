/**
 * Audit evidence over a Store: the hash-chained log checked end to end, and exported as JSON Lines
 * for an auditor or a SIEM. Reading is paged so a large log never sits in memory twice.
 */
import { isMailPkiError } from '../errors.js';
import { parseAuditPoint } from '../store/audit.js';
import { exportAuditJsonl, verifyAuditChain, type AuditVerification, type VerifyAuditOptions } from '../store/index.js';
import { MAX_LIST_LIMIT, type AuditRecord, type Store } from '../store/index.js';

const PAGE = 10_000;

async function* auditPages(store: Pick<Store, 'listAudit'>, fromSeq = 1): AsyncGenerator<AuditRecord[]> {
  let next = fromSeq;
  for (;;) {
    const page = await store.listAudit({ fromSeq: next, limit: PAGE });
    if (page.length === 0) return;
    yield page;
    if (page.length < PAGE) return;
    next = page[page.length - 1]!.seq + 1;
  }
}

/**
 * One page for verification. A row that does not read (ERR_STORE_CORRUPT: no writer writes an empty actor,
 * JSON that does not parse, an upper-case hash) fails the whole page, naming no record: the page is then
 * read one record at a time, and the records before the damaged one come back with `damaged` set.
 */
async function verificationPage(store: Pick<Store, 'listAudit'>, fromSeq: number): Promise<{ page: AuditRecord[]; damaged: boolean }> {
  try {
    return { page: await store.listAudit({ fromSeq, limit: PAGE }), damaged: false };
  } catch (e) {
    if (!isMailPkiError(e, 'ERR_STORE_CORRUPT')) throw e;
  }
  const page: AuditRecord[] = [];
  let next = fromSeq;
  while (page.length < PAGE) {
    let one: AuditRecord[];
    try {
      one = await store.listAudit({ fromSeq: next, limit: 1 });
    } catch (e) {
      if (!isMailPkiError(e, 'ERR_STORE_CORRUPT')) throw e;
      return { page, damaged: true };
    }
    if (one.length === 0) break;
    page.push(one[0]!);
    next = one[0]!.seq + 1;
  }
  return { page, damaged: false };
}

/**
 * Checks the whole audit log: every record's hash, every link, no gap, no reordering. Pass
 * `head` (a seq and hash kept elsewhere) to also detect a log cut short or rewritten from the end.
 *
 * @example
 * const r = await verifyAuditLog(store);
 * if (!r.ok) console.error(`audit log broken at seq ${r.firstBadSeq}: ${r.problem}`);
 */
export async function verifyAuditLog(store: Pick<Store, 'listAudit'>, options: Pick<VerifyAuditOptions, 'head'> = {}): Promise<AuditVerification> {
  const head = options.head && parseAuditPoint(options.head, 'head');
  let anchor: { seq: number; hash: string } | undefined;
  let checked = 0;
  let headFound = false;
  for (;;) {
    const { page, damaged } = await verificationPage(store, (anchor?.seq ?? 0) + 1);
    const r = verifyAuditChain(page, anchor ? { anchor } : {});
    if (!r.ok) return { ...r, checked: checked + r.checked };
    checked += page.length;
    // The head is compared in the page that holds it: a log re-chained from some record on, as long as
    // the original or longer, reaches the end of the loop consistent.
    const kept = head && !headFound ? page.find((x) => x.seq === head.seq) : undefined;
    if (kept) {
      if (kept.hash !== head!.hash) return { ok: false, checked, firstBadSeq: head!.seq, problem: 'changed' };
      headFound = true;
    }
    if (page.length) anchor = { seq: page[page.length - 1]!.seq, hash: page[page.length - 1]!.hash };
    // The next record does not read: its content is not what any writer wrote.
    if (damaged) return { ok: false, checked, firstBadSeq: (anchor?.seq ?? 0) + 1, problem: 'changed' };
    if (page.length < PAGE) break;
  }
  if (head && !headFound) return { ok: false, checked, firstBadSeq: (anchor?.seq ?? 0) + 1, problem: 'removed' };
  return { ok: true, checked };
}

/** The audit log as JSON Lines (one canonical JSON record per line), from `fromSeq` on. */
export async function exportAuditLog(store: Pick<Store, 'listAudit'>, options: { fromSeq?: number } = {}): Promise<string> {
  let out = '';
  for await (const page of auditPages(store, options.fromSeq)) out += exportAuditJsonl(page);
  return out;
}

/** An identity whose owner team is not the one its last audit record states. */
export interface InventoryMismatch {
  identityId: string;
  /** The owner team the inventory holds now. */
  owner: string;
  /** The team the last audit record stating the identity's owner names; absent when no record states one. */
  audited?: string;
  /** That record's seq. */
  seq?: number;
}

/** At most this many mismatches are listed: an inventory rewritten wholesale is plain from 100. */
const MAX_MISMATCHES = 100;

/** The owner team an audit record states: S/MIME summaries hold `owner: { team }`, DKIM ones `owner: team`. */
function auditedOwner(r: AuditRecord): string | undefined {
  // A denial's `after` describes the refused request, not the identity.
  if (!r.identityId || r.action.endsWith('policy.denied')) return undefined;
  const after = r.after;
  if (typeof after !== 'object' || after === null || Array.isArray(after)) return undefined;
  const owner = after.owner;
  if (typeof owner === 'string') return owner;
  if (typeof owner === 'object' && owner !== null && !Array.isArray(owner) && typeof owner.team === 'string') return owner.team;
  return undefined;
}

/**
 * The hash chain covers the audit log only. This compares the inventory with it: every identity's owner team
 * must be the one the last audit record stating its owner names (every change of owner — enrolment, a new life,
 * a DKIM identity created again — writes one). An owner edited in the store, or an identity inserted there,
 * with no audit record, is listed (at most 100). Whoever can write the store can also append a record that
 * agrees: keep the log's head elsewhere (`verifyAuditLog`'s `head`).
 *
 * @example
 * const { mismatches } = await checkInventoryOwners(store);
 * for (const m of mismatches) console.error(`${m.identityId}: owned by ${m.owner}, the audit log says ${m.audited ?? 'nothing'}`);
 */
export async function checkInventoryOwners(store: Pick<Store, 'listAudit' | 'transaction'>): Promise<{ checked: number; mismatches: InventoryMismatch[] }> {
  const audited = new Map<string, { team: string; seq: number }>();
  for await (const page of auditPages(store))
    for (const r of page) {
      const team = auditedOwner(r);
      if (team !== undefined) audited.set(r.identityId!, { team, seq: r.seq });
    }
  const mismatches: InventoryMismatch[] = [];
  let checked = 0;
  let afterId: string | undefined;
  for (;;) {
    const page = await store.transaction((tx) => tx.listIdentities({ limit: MAX_LIST_LIMIT, ...(afterId !== undefined && { afterId }) }));
    for (const i of page) {
      checked++;
      const a = audited.get(i.id);
      if (a?.team === i.owner.team || mismatches.length >= MAX_MISMATCHES) continue;
      mismatches.push({ identityId: i.id, owner: i.owner.team, ...(a && { audited: a.team, seq: a.seq }) });
    }
    if (page.length < MAX_LIST_LIMIT) break;
    afterId = page[page.length - 1]!.id;
  }
  return { checked, mismatches };
}
