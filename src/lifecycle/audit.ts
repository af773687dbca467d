/**
 * Audit evidence over a Store: the hash-chained log checked end to end, and exported as JSON Lines
 * for an auditor or a SIEM. Reading is paged so a large log never sits in memory twice.
 */
import { parseAuditPoint } from '../store/audit.js';
import { exportAuditJsonl, verifyAuditChain, type AuditVerification, type VerifyAuditOptions } from '../store/index.js';
import type { AuditRecord, Store } from '../store/index.js';

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
  for await (const page of auditPages(store)) {
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
    const last = page[page.length - 1]!;
    anchor = { seq: last.seq, hash: last.hash };
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
