/**
 * Verification evidence: what the filter saw and decided for each message, kept so that an auditor
 * can later see why a message was delivered, tagged, quarantined or rejected — the verdicts, the
 * certificates' identities, the revocation answers used — linked to the message-id. Never the
 * message content: a digest identifies it.
 */
import { z } from 'zod';
import { MAX_CERTIFICATE_BYTES } from '../certs/certificate.js';
import { MailPkiError } from '../errors.js';
import { fromBase64, toHex } from '../internal/bytes.js';
import { copyAsJson, nestedDeeperThan } from '../internal/json.js';
import { sha256 } from '../internal/sha.js';
import { parseInput } from '../internal/validate.js';
import { redactedView } from '../smime/redact.js';
import type { Verdict } from '../smime/verdict.js';
import type { DispositionAction } from './policy.js';

export interface EvidenceDisposition {
  recipient: string;
  action: DispositionAction;
  rule?: string;
  failed: string[];
}

/** The S/MIME part of an attempt: the verdict (JSON, evidenceVerdict: signers with certificate summaries and revocation results, problems, warnings; the sender's text in it bounded), or why there is none. */
export interface EvidenceSmime {
  result: string;
  verdict?: unknown;
  error?: { code: string; message: string };
}

/** The DKIM part of an attempt: the results (JSON), or the error that kept DKIM from being checked. */
export interface EvidenceDkim {
  result: string;
  /** evidenceDkimResults: the sender's text in them bounded. */
  results: unknown[];
  error?: { code: string; message: string };
  /** What `results` left out of the sender's text (evidenceDkimResults). */
  evidenceCut?: EvidenceCut;
}

/**
 * Where a message stands after an attempt: 'pending' (written before any copy is passed on; left
 * pending, the filter stopped or could not update it after passing copies on — to the recipients
 * not yet served), 'delivered' (every recipient's copy passed on or quarantined), 'rejected' (5xx:
 * by policy, or the return port refused permanently), or 'deferred' (4xx, the MTA retries).
 */
export type EvidenceOutcome = 'pending' | 'delivered' | 'rejected' | 'deferred';

/**
 * One earlier attempt of a message (the MTA handing it to the filter again after a 4xx, or after the
 * filter stopped), as the record keeps it: what the filter saw and decided then. The record's own
 * fields are the latest attempt's.
 */
export interface EvidenceAttempt {
  /** 1 for the first time the MTA handed the message over. */
  attempt: number;
  /** When the filter received it (ISO 8601); absent for an attempt a record written before mailpki kept attempts did not date. */
  receivedAt?: string;
  authenticationResults: string;
  smime: EvidenceSmime;
  dkim?: EvidenceDkim;
  dispositions: EvidenceDisposition[];
  outcome: EvidenceOutcome;
  /** Recipients the return port refused permanently in this attempt. */
  refused?: { recipient: string; reply: string }[];
}

/** A recipient whose copy was passed on (or quarantined), and the attempt whose verdict and disposition it went under. */
export interface EvidenceDelivery {
  recipient: string;
  attempt: number;
}

export interface EvidenceRecord {
  /** Unique per message seen (the filter's queue id). */
  id: string;
  /** The (first) Message-ID field's value as written (angle brackets kept), unfolded and decoded as UTF-8 when valid (RFC 6532; else one character per byte), when there is one. */
  messageId?: string;
  /** When the filter first received the message (ISO 8601): the first attempt. */
  receivedAt: string;
  envelope: { from: string; to: string[] };
  /** SHA-256 of the message as received, hex. */
  sha256: string;
  size: number;
  /** The Authentication-Results value the filter added (the latest attempt). */
  authenticationResults: string;
  /** The S/MIME verdict of the latest attempt. */
  smime: EvidenceSmime;
  /** The DKIM results of the latest attempt. */
  dkim?: EvidenceDkim;
  /** Each recipient's disposition in the latest attempt. */
  dispositions: EvidenceDisposition[];
  /** Where the message stands after the latest attempt (EvidenceOutcome). */
  outcome: EvidenceOutcome;
  /** Faults met on the way (reinjection failure, quarantine write failure, temporary verification error, …), over all attempts; the last MAX_EVIDENCE_FAULTS. */
  faults: string[];
  /** Recipients whose copy was passed on or quarantined, over all attempts: a retry passes nothing on to them again. */
  delivered?: string[];
  /**
   * For each recipient of `delivered`, the attempt it was delivered under (its verdict is the
   * record's own when that is the latest attempt, else in `earlier`); evidenceDeliveries reads it,
   * also from records written before it existed.
   */
  deliveries?: EvidenceDelivery[];
  /** Recipients the return port refused permanently (5xx) in the latest attempt, with its reply. */
  refused?: { recipient: string; reply: string }[];
  /** How many times the MTA handed this message (same SHA-256 and envelope) to the filter: the latest attempt's number. */
  attempts?: number;
  /** When the filter received the latest attempt (ISO 8601); written once the message was handed over again (else `receivedAt`). */
  lastAttemptAt?: string;
  /**
   * How long the latest attempt's claim holds (ms, from `lastAttemptAt` or `receivedAt`): while the
   * record is `pending` and younger than this, another attempt of the message answers 451; after it,
   * it takes the message over. The claiming filter's own lease (it starts no copy that could end
   * after it), so filters with different reinjection timeouts can share a store. Records written
   * before it existed have none: each reader's own lease counts. At most MAX_EVIDENCE_LEASE_MS.
   */
  leaseMs?: number;
  /**
   * Earlier attempts, oldest first (retainEarlierAttempts): the first, every one that a recipient
   * was delivered under, and the latest MAX_EVIDENCE_UNDELIVERED_ATTEMPTS of the others — at most
   * MAX_EVIDENCE_EARLIER_ATTEMPTS. Absent while the message was handed over once.
   */
  earlier?: EvidenceAttempt[];
  /**
   * Every certificate of an S/MIME signer whose chain validated (the signer's certificate and chain,
   * trust anchor included; evidenceCertificates), in the latest attempt and in each kept earlier one, once each: DER in base64 and its SHA-256 fingerprint (hex), which the verdict's
   * certificate summaries carry as `sha256`. With them and the OCSP responses in the verdict, an
   * auditor can check the signatures and revocation answers again without the message.
   */
  certificates?: EvidenceCertificate[];
}

export interface EvidenceCertificate {
  /** SHA-256 of the DER, hex. */
  sha256: string;
  /** DER, base64. */
  der: string;
}

/**
 * Certificates a record may hold: a check on what a store hands back. A verdict names fewer — the
 * message's own certificates (verification limit maxCertificates, at most 2048) and one trust
 * anchor per signer.
 */
export const MAX_EVIDENCE_CERTIFICATES = 4096;
/** The longest certificate a record holds, base64 characters (the certificate parser's limit, MAX_CERTIFICATE_BYTES, in base64). */
const MAX_EVIDENCE_CERTIFICATE_CHARS = Math.ceil(MAX_CERTIFICATE_BYTES / 3) * 4;

/** Faults kept per record (the latest), so a message retried for days keeps a bounded record. */
export const MAX_EVIDENCE_FAULTS = 20;

/**
 * The longest claim a record may carry (`leaseMs`): a day. An attempt that died holds its message (451)
 * that long after the claim's date — longer only by as much as that date lies in the future (a clock set back).
 */
export const MAX_EVIDENCE_LEASE_MS = 86_400_000;

/**
 * The S/MIME verdict as evidence keeps it (JSON): redactVerdict (mailpki/smime), the one redaction.
 * A verdict that opened an encrypted layer knows what the encryption hid (the decrypted message, the
 * protected header values, sentences quoting them); those are left out and `contentRedacted` says so.
 * The auditor holding the key can open the message again; the evidence store cannot.
 */
export function evidenceVerdict(verdict: Verdict): unknown {
  // A certificate's DER (verifyMessage's includeCertificates) is kept once per record, in
  // `certificates` (evidenceCertificates); the summaries keep its fingerprint.
  // The copy is what a JSON round trip would make (redactVerdict's own copy would be a second one), made
  // without the text: the round trip with a replacer was most of the cost of a record.
  const kept = copyAsJson(redactedView(verdict), (key, value) => key === 'der' && typeof value === 'string') as Record<string, unknown>;
  const cut = boundSenderText(kept);
  if (cut) kept.evidenceCut = cut;
  return kept;
}

/** What evidence keeps of a DKIM verification's results (JSON): bounded as evidenceVerdict bounds a verdict (MAX_EVIDENCE_VERDICT_TEXT, each signature's h= list and the list of results too), and `evidenceCut`, as there, when something was left out. */
export function evidenceDkimResults(results: readonly unknown[]): Pick<EvidenceDkim, 'results' | 'evidenceCut'> {
  const kept = { results: copyAsJson(results) as unknown[] };
  const cut = boundSenderText(kept);
  return { results: kept.results, ...(cut ? { evidenceCut: cut } : {}) };
}

/**
 * The characters of long text (strings over EVIDENCE_SHORT_TEXT characters but the OCSP responses,
 * which are the evidence itself) a kept verdict holds in all, and the entries it keeps of each list
 * of things a message names (EVIDENCE_SENDER_LISTS: signed header fields, a certificate's addresses,
 * recipients, problems, warnings, header-protection notes). A verdict names what the sender wrote —
 * signed header fields of any length, the subject, issuer and addresses of certificates no trust
 * anchor vouches for (up to 64 KiB each) — and a record is kept for the retention time, once per
 * attempt: past the budget a text is cut to its first and last EVIDENCE_SHORT_TEXT / 2 characters with `…` between, a list to
 * its first MAX_EVIDENCE_VERDICT_LIST entries, and the kept verdict's `evidenceCut` says how many
 * characters and entries were left out. Short text (codes, results, dates, serial numbers,
 * fingerprints) is never cut. A verifier's verdict of ordinary mail is far below it (a few KiB).
 */
export const MAX_EVIDENCE_VERDICT_TEXT = 64 * 1024;
/** See MAX_EVIDENCE_VERDICT_TEXT. */
export const MAX_EVIDENCE_VERDICT_LIST = 64;
/** Text this long or shorter is never cut (a SHA-256 in hex is 64). */
const EVIDENCE_SHORT_TEXT = 64;
/**
 * Lists a message fills: a verdict's (signed header fields, a certificate's addresses, recipients, problems, warnings,
 * header protection: its sections, their fields, outer record, confidential names, differences, legacy display parts)
 * and DKIM's (its results, each one's h=).
 */
const EVIDENCE_SENDER_LISTS = new Set([
  'signedHeaders',
  'emails',
  'recipients',
  'problems',
  'warnings',
  'headerProtection',
  'fields',
  'sentOuter',
  'confidential',
  'differences',
  'legacyDisplayParts',
  'results',
  'headers',
]);

/** What a kept verdict or DKIM result list left out of the sender's text (MAX_EVIDENCE_VERDICT_TEXT). */
export interface EvidenceCut {
  /** Characters of long text left out. */
  characters: number;
  /** List entries left out. */
  entries: number;
}

/** Applies MAX_EVIDENCE_VERDICT_TEXT and MAX_EVIDENCE_VERDICT_LIST to a copy (changed in place); what it cut, if anything. */
function boundSenderText(copy: Record<string, unknown>): EvidenceCut | undefined {
  const budget = { left: MAX_EVIDENCE_VERDICT_TEXT, cut: { characters: 0, entries: 0 } };
  bound(copy, budget);
  return budget.cut.characters || budget.cut.entries ? budget.cut : undefined;
}

/** boundSenderText's walk (a copy's depth is copyAsJson's bound at most). */
function bound(node: Record<string, unknown> | unknown[], budget: { left: number; cut: EvidenceCut }): void {
  const text = (s: string) => {
    if (s.length <= EVIDENCE_SHORT_TEXT) return s;
    if (s.length <= budget.left) return (budget.left -= s.length), s;
    // Its first and last halves of EVIDENCE_SHORT_TEXT, not its start alone: what names a signer is often at the end
    // (d=bank.com.<padding>.evil.example was kept as "bank.com.xxx…"); no surrogate pair split at either cut.
    const half = EVIDENCE_SHORT_TEXT / 2;
    const head = /[\uD800-\uDBFF]/.test(s[half - 1]!) ? half - 1 : half;
    const tail = /[\uDC00-\uDFFF]/.test(s[s.length - half]!) ? s.length - half + 1 : s.length - half;
    budget.cut.characters += tail - head;
    return `${s.slice(0, head)}…${s.slice(tail)}`;
  };
  const keys = Array.isArray(node) ? node.keys() : Object.keys(node);
  for (const key of keys) {
    const v = (node as Record<string | number, unknown>)[key];
    if (typeof v === 'string') {
      if (key !== 'ocspResponse') (node as Record<string | number, unknown>)[key] = text(v);
    } else if (v !== null && typeof v === 'object') {
      if (Array.isArray(v) && typeof key === 'string' && EVIDENCE_SENDER_LISTS.has(key) && v.length > MAX_EVIDENCE_VERDICT_LIST) {
        budget.cut.entries += v.length - MAX_EVIDENCE_VERDICT_LIST;
        v.length = MAX_EVIDENCE_VERDICT_LIST;
      }
      bound(v as Record<string, unknown>, budget);
    }
  }
}

/** The certificate summaries (each with its `sha256`) of the signers of a verdict — a Verdict or one kept as evidence (JSON) — whose chain validated. */
function* validatedChainCertificates(verdict: unknown): Generator<{ sha256: string; der?: string }> {
  const signers = (verdict as { signers?: unknown } | null | undefined)?.signers;
  if (!Array.isArray(signers)) return;
  for (const s of signers as { certificate?: unknown; chain?: { ok?: unknown; path?: unknown } }[]) {
    if (s?.chain?.ok !== true) continue;
    for (const c of [s.certificate, ...(Array.isArray(s.chain.path) ? s.chain.path : [])] as ({ sha256?: unknown; der?: string } | undefined)[])
      if (typeof c?.sha256 === 'string') yield c as { sha256: string; der?: string };
  }
}

/**
 * The certificates of a verdict made with verifyMessage's `includeCertificates` that a trust anchor
 * vouches for — each signer's certificate and chain when the chain validated — once each, in the
 * order first named: the record's `certificates`. A signer whose chain did not validate is named
 * in the verdict by fingerprint only: its certificates are whatever the sender made (up to
 * maxCertificates of 64 KiB each per message), and a record must not keep megabytes of them for
 * the retention time.
 */
export function evidenceCertificates(verdict: Verdict): EvidenceCertificate[] {
  const seen = new Map<string, EvidenceCertificate>();
  for (const c of validatedChainCertificates(verdict)) if (c.der && !seen.has(c.sha256)) seen.set(c.sha256, { sha256: c.sha256, der: c.der });
  return [...seen.values()];
}

/** The latest earlier attempts a record keeps that no recipient was delivered under (besides the first attempt). */
export const MAX_EVIDENCE_UNDELIVERED_ATTEMPTS = 8;
/**
 * The most earlier attempts a record keeps. Only a message whose recipients were served one attempt
 * at a time, over this many attempts, reaches it (Postfix hands a content filter at most 50
 * recipients per message by default); then its oldest delivering attempts but the first are
 * dropped (`deliveries` still names them).
 */
export const MAX_EVIDENCE_EARLIER_ATTEMPTS = 100;

/**
 * Who was delivered under which attempt: the record's `deliveries`; for a record written before
 * attempts were kept, every recipient of `delivered` when it was handed over once (all under
 * attempt 1), else none (the attempt is not known).
 */
export function evidenceDeliveries(record: Pick<EvidenceRecord, 'delivered' | 'deliveries' | 'attempts'>): EvidenceDelivery[] {
  if (record.deliveries) return record.deliveries;
  return (record.attempts ?? 1) <= 1 ? (record.delivered ?? []).map((recipient) => ({ recipient, attempt: 1 })) : [];
}

/**
 * Every attempt a record keeps, oldest first, the latest (the record's own fields) last, each with
 * the recipients delivered under it: what an auditor reads to answer "under which verdict did this
 * copy go to ap@".
 *
 * @example
 * const attempt = evidenceAttempts(record).find((a) => a.delivered.includes('ap@example.com'));
 * attempt?.smime.verdict // the verdict ap@'s copy was passed on under
 */
export function evidenceAttempts(record: EvidenceRecord): (EvidenceAttempt & { delivered: string[] })[] {
  const latest = record.attempts ?? 1;
  const deliveries = evidenceDeliveries(record);
  const { authenticationResults, smime, dkim, dispositions, outcome, refused } = record;
  const own: EvidenceAttempt = {
    attempt: latest,
    ...(record.lastAttemptAt || latest === 1 ? { receivedAt: record.lastAttemptAt ?? record.receivedAt } : {}),
    authenticationResults,
    smime,
    ...(dkim ? { dkim } : {}),
    dispositions,
    outcome,
    ...(refused ? { refused } : {}),
  };
  return [...(record.earlier ?? []), own].map((a) => ({ ...a, delivered: deliveries.filter((d) => d.attempt === a.attempt).map((d) => d.recipient) }));
}

/**
 * The earlier attempts a record keeps, of those it could (oldest first): the first; every one a
 * recipient was delivered under; the latest MAX_EVIDENCE_UNDELIVERED_ATTEMPTS of the others
 * (deferred, rejected, or pending — a filter that stopped; in a crash loop the latest are kept);
 * and, past MAX_EVIDENCE_EARLIER_ATTEMPTS, the latest delivering ones. So a message handed over a
 * thousand times keeps a record as large as for a dozen.
 */
export function retainEarlierAttempts(attempts: EvidenceAttempt[], deliveries: EvidenceDelivery[]): EvidenceAttempt[] {
  const delivering = new Set(deliveries.map((d) => d.attempt));
  const first = attempts[0]?.attempt;
  let undelivered = 0;
  let kept = 0;
  // From the latest back: the first attempt and the delivering ones are always wanted; the others while there is room.
  const keep = new Set<EvidenceAttempt>();
  for (let i = attempts.length - 1; i >= 0; i--) {
    const a = attempts[i]!;
    const wanted = a.attempt === first || delivering.has(a.attempt) || undelivered++ < MAX_EVIDENCE_UNDELIVERED_ATTEMPTS;
    if (wanted && (kept < MAX_EVIDENCE_EARLIER_ATTEMPTS - 1 || a.attempt === first)) (keep.add(a), kept++);
  }
  return attempts.filter((a) => keep.has(a));
}

/**
 * What a new attempt's record carries over from the record of the earlier ones: the earlier
 * attempts kept (the previous latest one added, retainEarlierAttempts applied), who was delivered
 * under which, and the certificates a kept attempt's verdict names (a certificate no kept attempt
 * names any more is dropped with it).
 */
export function carryEvidence(previous: EvidenceRecord): Required<Pick<EvidenceRecord, 'earlier' | 'deliveries' | 'certificates'>> {
  const deliveries = evidenceDeliveries(previous);
  const attempts = evidenceAttempts(previous).map(({ delivered: _, ...a }) => a);
  const earlier = retainEarlierAttempts(attempts, deliveries);
  const named = new Set<string>();
  for (const a of earlier) for (const c of validatedChainCertificates(a.smime.verdict)) named.add(c.sha256);
  return { earlier, deliveries: [...deliveries], certificates: (previous.certificates ?? []).filter((c) => named.has(c.sha256)) };
}

/**
 * One record of a message from two writers of it: the record as stored and the one an attempt
 * is about to write, when another attempt wrote in between (the same message handed over twice at
 * once; an attempt taken over after its lease). Nothing either says was delivered is lost: the
 * latest attempt's own fields (the one with more `attempts`; `mine` on a tie: it is the newer
 * state of its own attempt), the deliveries, delivered recipients and faults of both, and every
 * earlier attempt of both — an attempt both name as the one that finished (not `pending`) — kept as
 * retainEarlierAttempts keeps them, with the certificates their verdicts name. `attempts: false`
 * (the filter's in-memory records, which keep no verdicts): deliveries and faults only.
 */
export function mergeEvidence(stored: EvidenceRecord, mine: EvidenceRecord, options: { attempts?: boolean } = {}): EvidenceRecord {
  const [latest, other] = (stored.attempts ?? 1) > (mine.attempts ?? 1) ? [stored, mine] : [mine, stored];
  const last = latest.attempts ?? 1;
  const deliveries: EvidenceDelivery[] = [];
  const seen = new Set<string>();
  for (const d of [...evidenceDeliveries(latest), ...evidenceDeliveries(other)]) {
    const key = JSON.stringify([d.recipient, d.attempt]);
    if (!seen.has(key) && d.attempt <= last) (seen.add(key), deliveries.push(d));
  }
  const delivered = [...new Set([...(latest.delivered ?? []), ...(other.delivered ?? [])])];
  const faults = [...latest.faults, ...other.faults.filter((f) => !latest.faults.includes(f))].slice(-MAX_EVIDENCE_FAULTS);
  const merged: EvidenceRecord = { ...latest, faults, delivered, ...(deliveries.length ? { deliveries } : {}) };
  if (options.attempts === false) return merged;
  // Each attempt once: the version that finished wins over one still pending, else the latest record's.
  const byAttempt = new Map<number, EvidenceAttempt>();
  for (const a of latest.earlier ?? []) byAttempt.set(a.attempt, a);
  for (const { delivered: _, ...a } of evidenceAttempts(other)) {
    if (a.attempt >= last) continue;
    const have = byAttempt.get(a.attempt);
    if (!have || (have.outcome === 'pending' && a.outcome !== 'pending')) byAttempt.set(a.attempt, a);
  }
  const earlier = retainEarlierAttempts([...byAttempt.values()].sort((a, b) => a.attempt - b.attempt), deliveries);
  const named = new Set<string>();
  for (const a of [...earlier, latest]) for (const c of validatedChainCertificates(a.smime.verdict)) named.add(c.sha256);
  const certificates = new Map<string, EvidenceCertificate>();
  for (const c of [...(latest.certificates ?? []), ...(other.certificates ?? [])]) if (named.has(c.sha256) && !certificates.has(c.sha256)) certificates.set(c.sha256, c);
  const { earlier: _e, certificates: _c, ...rest } = merged;
  return { ...rest, ...(earlier.length ? { earlier } : {}), ...(certificates.size ? { certificates: [...certificates.values()] } : {}) };
}

export interface EvidenceQuery {
  /** receivedAt ≥ since. */
  since?: Date;
  /** receivedAt < until. */
  until?: Date;
  messageId?: string;
  /** At most this many, oldest first (default and maximum MAX_EVIDENCE_PAGE). */
  limit?: number;
  /**
   * Continue after this record id (paging). A record pruned since the last page is still a
   * position: with `since` set to its receivedAt (the next page's query: the last record's id and
   * receivedAt), the page goes on after it as if it were there; without `since`, from the start.
   * Records are never skipped for it (an export racing a prune once ended early).
   */
  after?: string;
}

export interface EvidencePutOptions {
  /** Wait for the disk (default true); false: committed, not necessarily on disk yet. */
  durable?: boolean;
}

/** The most records one list() call returns. */
export const MAX_EVIDENCE_PAGE = 1000;

/**
 * What update() makes of the record as stored (undefined: there is none): the record to write (same
 * id), or undefined to write nothing. Synchronous, and a function of its argument only: a store may
 * call it again (after a conflict, for a store that cannot lock) and only the last call's answer counts.
 */
export type EvidenceChange = (current: EvidenceRecord | undefined) => EvidenceRecord | undefined;

/**
 * Where evidence is kept. Implementations: MemoryEvidenceStore, SqliteEvidenceStore (mailpki/node).
 *
 * The same message can be handed to the filter twice at once (Postfix hands it again after a
 * timeout while the first filter process still works on it, or two filter processes share one
 * store): the filter reads, decides and writes its record with update(), one atomic step, so that
 * the second attempt sees the first one's claim (`pending`, within its lease) and answers 451
 * without passing a copy on, and no delivery written by one attempt is lost by the other's write.
 */
export interface EvidenceStore {
  /**
   * Adds a record; a record with the same id is replaced (the filter writes again when its outcome
   * changes). Resolves once the record is kept durably (on disk, for a store on disk) — or, with
   * `{ durable: false }`, once it is committed: a crash of the machine (not of the process) may then
   * lose this write, never an earlier durable one. The filter uses that only for the last update of
   * a delivered message, whose pending record was durable before any copy left.
   */
  put(record: EvidenceRecord, options?: EvidencePutOptions): Promise<void>;
  /**
   * Reads the record `id` and writes what `change` makes of it as one atomic step: no other write,
   * from this process or another one on the same store, comes between the read and the write (a
   * store on disk does both in one write transaction: no extra commit). Resolves with the record
   * written, or undefined when `change` wrote nothing (the filter takes undefined, after its change
   * returned a record, as not written: 451, no copy passed on); durable as put. A record `change` returns is
   * checked as put checks it (ERR_INVALID_INPUT; one with another id too), and an error `change`
   * throws rejects this update: either way nothing is written, and other updates are not affected.
   *
   * @example
   * // Claim an attempt unless another one is in flight.
   * await store.update(id, (current) => (current?.outcome === 'pending' ? undefined : next(current)));
   */
  update(id: string, change: EvidenceChange, options?: EvidencePutOptions): Promise<EvidenceRecord | undefined>;
  get(id: string): Promise<EvidenceRecord | undefined>;
  /** Oldest first by receivedAt, then id. */
  list(query?: EvidenceQuery): Promise<EvidenceRecord[]>;
  /** Deletes records received before `before`; returns how many (retention). */
  prune(before: Date): Promise<number>;
}

const dispositionSchema = z.object({
  recipient: z.string(),
  action: z.enum(['accept', 'tag', 'quarantine', 'reject']),
  rule: z.string().optional(),
  failed: z.array(z.string()),
});
const isoDate = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'not an ISO 8601 date');
const errorSchema = z.object({ code: z.string(), message: z.string() });
/** What one attempt saw and decided: the record's own fields (the latest attempt) and each of `earlier`. */
const attemptFields = {
  authenticationResults: z.string(),
  smime: z.object({ result: z.string(), verdict: z.unknown().optional(), error: errorSchema.optional() }),
  dkim: z
    .object({
      result: z.string(),
      results: z.array(z.unknown()),
      error: errorSchema.optional(),
      evidenceCut: z.object({ characters: z.number().int().nonnegative(), entries: z.number().int().nonnegative() }).optional(),
    })
    .optional(),
  dispositions: z.array(dispositionSchema),
  outcome: z.enum(['pending', 'delivered', 'rejected', 'deferred']),
  refused: z.array(z.object({ recipient: z.string(), reply: z.string() })).optional(),
};
const attemptNumber = z.number().int().positive();

export const evidenceRecordSchema = z.object({
  id: z.string().min(1).max(200),
  messageId: z.string().max(2000).optional(),
  receivedAt: isoDate,
  envelope: z.object({ from: z.string(), to: z.array(z.string()) }),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().nonnegative(),
  ...attemptFields,
  faults: z.array(z.string()),
  delivered: z.array(z.string()).optional(),
  deliveries: z.array(z.object({ recipient: z.string(), attempt: attemptNumber })).optional(),
  attempts: attemptNumber.optional(),
  lastAttemptAt: isoDate.optional(),
  leaseMs: z.number().int().positive().max(MAX_EVIDENCE_LEASE_MS).optional(),
  earlier: z
    .array(z.object({ attempt: attemptNumber, receivedAt: isoDate.optional(), ...attemptFields }))
    .max(MAX_EVIDENCE_EARLIER_ATTEMPTS)
    .optional(),
  certificates: z
    .array(z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), der: z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/).max(MAX_EVIDENCE_CERTIFICATE_CHARS) }))
    .max(MAX_EVIDENCE_CERTIFICATES)
    .optional(),
});

/**
 * Certificates (base64 DER → SHA-256 hex) whose fingerprint was checked already: the same signer's
 * and CA's certificates come with every message, twice (pending, then the outcome). Bounded: at most
 * CHECKED_FINGERPRINTS entries, none longer than CHECKED_FINGERPRINT_CHARS (≤ 2 MiB in all), oldest dropped first.
 */
const checkedFingerprints = new Map<string, string>();
const CHECKED_FINGERPRINTS = 256;
const CHECKED_FINGERPRINT_CHARS = 8192;

function fingerprintMatches(c: EvidenceCertificate): boolean {
  if (checkedFingerprints.get(c.der) === c.sha256) return true;
  if (toHex(sha256(fromBase64(c.der) ?? new Uint8Array(0))) !== c.sha256) return false;
  if (c.der.length <= CHECKED_FINGERPRINT_CHARS) {
    if (checkedFingerprints.size >= CHECKED_FINGERPRINTS) checkedFingerprints.delete(checkedFingerprints.keys().next().value!);
    checkedFingerprints.set(c.der, c.sha256);
  }
  return true;
}

/** Checks a record on write (ERR_INVALID_INPUT naming the field); stores use it. */
export function checkEvidenceRecord(record: unknown): EvidenceRecord {
  const r = parseInput(evidenceRecordSchema, record, 'evidence record') as EvidenceRecord;
  // A store copies and serialises it (structuredClone, JSON.stringify: recursive): deeper than any record the filter writes is refused, not a RangeError.
  if (nestedDeeperThan(r)) throw new MailPkiError('ERR_INVALID_INPUT', 'evidence record: nested deeper than any record (a verdict or DKIM result of another shape?)', { details: { field: 'record' } });
  // Earlier attempts come before the latest, oldest first; a delivery names an attempt that happened.
  const latest = r.attempts ?? 1;
  let before = 0;
  for (const a of r.earlier ?? []) {
    if (a.attempt <= before || a.attempt >= latest)
      throw new MailPkiError('ERR_INVALID_INPUT', `evidence record: earlier: attempt ${a.attempt} is out of order (earlier attempts are numbered upwards, below attempts = ${latest})`, { details: { field: 'earlier' } });
    before = a.attempt;
  }
  for (const d of r.deliveries ?? [])
    if (d.attempt > latest) throw new MailPkiError('ERR_INVALID_INPUT', `evidence record: deliveries: ${d.recipient} names attempt ${d.attempt}, after the latest (${latest})`, { details: { field: 'deliveries' } });
  // A store keeps each certificate once under its fingerprint, for every record: the claim is checked, not trusted.
  for (const c of r.certificates ?? [])
    if (!fingerprintMatches(c))
      throw new MailPkiError('ERR_INVALID_INPUT', `evidence record: certificates: ${c.sha256} is not the SHA-256 of its der`, { details: { field: 'certificates' } });
  return r;
}

/** Checks the record an update's change made (checkEvidenceRecord, and that it keeps the id); stores use it. */
export function checkEvidenceUpdate(id: string, next: EvidenceRecord): EvidenceRecord {
  const r = checkEvidenceRecord(next);
  if (r.id !== id) throw new MailPkiError('ERR_INVALID_INPUT', `evidence update: the change made a record with another id (${r.id.slice(0, 200)})`, { details: { field: 'id' } });
  return r;
}

/** Checks update's arguments (a caller's mistake is ERR_INVALID_INPUT). */
export function checkEvidenceUpdateArguments(id: unknown, change: unknown): void {
  if (typeof id !== 'string' || id.length === 0) throw new MailPkiError('ERR_INVALID_INPUT', 'evidence update: id must be a non-empty string', { details: { field: 'id' } });
  if (typeof change !== 'function') throw new MailPkiError('ERR_INVALID_INPUT', 'evidence update: change must be a function', { details: { field: 'change' } });
}

/** Checks put's options (a caller's mistake is ERR_INVALID_INPUT); returns whether the put is durable. */
export function checkEvidencePutOptions(options: EvidencePutOptions | undefined): boolean {
  const durable = options?.durable ?? true;
  if (typeof durable !== 'boolean') throw new MailPkiError('ERR_INVALID_INPUT', 'evidence put: options.durable must be a boolean', { details: { field: 'durable' } });
  return durable;
}

/** Checks a query; returns the effective limit. */
export function checkEvidenceQuery(query: EvidenceQuery | undefined): number {
  const limit = query?.limit ?? MAX_EVIDENCE_PAGE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_EVIDENCE_PAGE)
    throw new MailPkiError('ERR_INVALID_INPUT', `evidence query: limit must be 1..${MAX_EVIDENCE_PAGE}`, { details: { field: 'limit' } });
  for (const k of ['since', 'until'] as const) {
    const d = query?.[k];
    if (d !== undefined && (!(d instanceof Date) || Number.isNaN(d.getTime()))) throw new MailPkiError('ERR_INVALID_INPUT', `evidence query: ${k} must be a valid Date`, { details: { field: k } });
  }
  return limit;
}

/** Evidence in memory (tests, short-lived filters). Records are deep-copied in and out. */
export class MemoryEvidenceStore implements EvidenceStore {
  private readonly records = new Map<string, EvidenceRecord>();

  async put(record: EvidenceRecord, options?: EvidencePutOptions): Promise<void> {
    checkEvidencePutOptions(options);
    const r = checkEvidenceRecord(record);
    this.records.set(r.id, structuredClone(r));
  }

  async update(id: string, change: EvidenceChange, options?: EvidencePutOptions): Promise<EvidenceRecord | undefined> {
    checkEvidencePutOptions(options);
    checkEvidenceUpdateArguments(id, change);
    // Read, change and write in one turn of the event loop: no other write comes between.
    const current = this.records.get(id);
    const next = change(current && structuredClone(current));
    if (next === undefined) return undefined;
    const r = structuredClone(checkEvidenceUpdate(id, next));
    this.records.set(id, r);
    return structuredClone(r);
  }

  async get(id: string): Promise<EvidenceRecord | undefined> {
    const r = this.records.get(id);
    return r && structuredClone(r);
  }

  async list(query: EvidenceQuery = {}): Promise<EvidenceRecord[]> {
    const limit = checkEvidenceQuery(query);
    const since = query.since?.getTime() ?? -Infinity;
    const until = query.until?.getTime() ?? Infinity;
    const sorted = [...this.records.values()]
      .filter((r) => {
        const t = Date.parse(r.receivedAt);
        return t >= since && t < until && (query.messageId === undefined || r.messageId === query.messageId);
      })
      .sort((a, b) => Date.parse(a.receivedAt) - Date.parse(b.receivedAt) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    let start = 0;
    if (query.after !== undefined) {
      const after = query.after;
      const i = sorted.findIndex((r) => r.id === after);
      // Gone (pruned): after where it stood, at `since` (the caller's cursor), by id.
      start = i >= 0 ? i + 1 : sorted.findIndex((r) => Date.parse(r.receivedAt) > since || r.id > after);
      if (start < 0) start = sorted.length;
    }
    return sorted.slice(start, start + limit).map((r) => structuredClone(r));
  }

  async prune(before: Date): Promise<number> {
    let n = 0;
    for (const [id, r] of this.records)
      if (Date.parse(r.receivedAt) < before.getTime()) {
        this.records.delete(id);
        n++;
      }
    return n;
  }
}
