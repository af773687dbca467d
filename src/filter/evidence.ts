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
import { sha256 } from '../internal/sha.js';
import { parseInput } from '../internal/validate.js';
import { redactVerdict } from '../smime/redact.js';
import type { Verdict } from '../smime/verdict.js';
import type { DispositionAction } from './policy.js';

export interface EvidenceDisposition {
  recipient: string;
  action: DispositionAction;
  rule?: string;
  failed: string[];
}

export interface EvidenceRecord {
  /** Unique per message seen (the filter's queue id). */
  id: string;
  /** The Message-ID field value, as written (angle brackets kept), when there is one. */
  messageId?: string;
  /** When the filter received the message (ISO 8601). */
  receivedAt: string;
  envelope: { from: string; to: string[] };
  /** SHA-256 of the message as received, hex. */
  sha256: string;
  size: number;
  /** The Authentication-Results value the filter added. */
  authenticationResults: string;
  /** The S/MIME verdict (JSON: signers with certificate summaries and revocation results, problems, warnings), or why there is none. */
  smime: { result: string; verdict?: unknown; error?: { code: string; message: string } };
  /** The DKIM results (JSON), or the error that kept DKIM from being checked. */
  dkim?: { result: string; results: unknown[]; error?: { code: string; message: string } };
  dispositions: EvidenceDisposition[];
  /**
   * Where the message stands: 'pending' (written before any copy is passed on; a record left pending
   * means the filter stopped or could not update it after passing copies on — see `delivered`),
   * 'delivered' (every recipient's copy passed on or quarantined), 'rejected' (5xx: by policy, or
   * the return port refused permanently — see `refused`), or 'deferred' (4xx, the MTA retries).
   */
  outcome: 'pending' | 'delivered' | 'rejected' | 'deferred';
  /** Faults met on the way (reinjection failure, quarantine write failure, temporary verification error, …); the last MAX_EVIDENCE_FAULTS. */
  faults: string[];
  /** Recipients whose copy was passed on or quarantined, over all attempts: a retry passes nothing on to them again. */
  delivered?: string[];
  /** Recipients the return port refused permanently (5xx), with its reply. */
  refused?: { recipient: string; reply: string }[];
  /** How many times the MTA handed this message (same SHA-256 and envelope) to the filter. */
  attempts?: number;
  /**
   * Every certificate of an S/MIME signer whose chain validated (the signer's certificate and chain,
   * trust anchor included; evidenceCertificates), once each: DER in base64 and its SHA-256 fingerprint (hex), which the verdict's
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
 * The S/MIME verdict as evidence keeps it (JSON): redactVerdict (mailpki/smime), the one redaction.
 * A verdict that opened an encrypted layer knows what the encryption hid (the decrypted message, the
 * protected header values, sentences quoting them); those are left out and `contentRedacted` says so.
 * The auditor holding the key can open the message again; the evidence store cannot.
 */
export function evidenceVerdict(verdict: Verdict): unknown {
  // A certificate's DER (verifyMessage's includeCertificates) is kept once per record, in
  // `certificates` (evidenceCertificates); the summaries keep its fingerprint.
  return JSON.parse(JSON.stringify(redactVerdict(verdict), (key, value) => (key === 'der' && typeof value === 'string' ? undefined : value)));
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
  for (const s of verdict.signers) {
    if (!s.chain?.ok) continue;
    for (const c of [s.certificate, ...s.chain.path])
      if (c?.sha256 && c.der && !seen.has(c.sha256)) seen.set(c.sha256, { sha256: c.sha256, der: c.der });
  }
  return [...seen.values()];
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

/** Where evidence is kept. Implementations: MemoryEvidenceStore, SqliteEvidenceStore (mailpki/node). */
export interface EvidenceStore {
  /**
   * Adds a record; a record with the same id is replaced (the filter writes again when its outcome
   * changes). Resolves once the record is kept durably (on disk, for a store on disk) — or, with
   * `{ durable: false }`, once it is committed: a crash of the machine (not of the process) may then
   * lose this write, never an earlier durable one. The filter uses that only for the last update of
   * a delivered message, whose pending record was durable before any copy left.
   */
  put(record: EvidenceRecord, options?: EvidencePutOptions): Promise<void>;
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

export const evidenceRecordSchema = z.object({
  id: z.string().min(1).max(200),
  messageId: z.string().max(2000).optional(),
  receivedAt: z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'not an ISO 8601 date'),
  envelope: z.object({ from: z.string(), to: z.array(z.string()) }),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().nonnegative(),
  authenticationResults: z.string(),
  smime: z.object({ result: z.string(), verdict: z.unknown().optional(), error: z.object({ code: z.string(), message: z.string() }).optional() }),
  dkim: z.object({ result: z.string(), results: z.array(z.unknown()), error: z.object({ code: z.string(), message: z.string() }).optional() }).optional(),
  dispositions: z.array(dispositionSchema),
  outcome: z.enum(['pending', 'delivered', 'rejected', 'deferred']),
  faults: z.array(z.string()),
  delivered: z.array(z.string()).optional(),
  refused: z.array(z.object({ recipient: z.string(), reply: z.string() })).optional(),
  attempts: z.number().int().positive().optional(),
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
  // A store keeps each certificate once under its fingerprint, for every record: the claim is checked, not trusted.
  for (const c of r.certificates ?? [])
    if (!fingerprintMatches(c))
      throw new MailPkiError('ERR_INVALID_INPUT', `evidence record: certificates: ${c.sha256} is not the SHA-256 of its der`, { details: { field: 'certificates' } });
  return r;
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
