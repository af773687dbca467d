/**
 * An SMTP content filter in the way Postfix content filters work: receive on a loopback port
 * (smtp-server), verify S/MIME and DKIM, add one Authentication-Results, apply the disposition
 * policy, keep evidence, and re-inject to the MTA's return port (nodemailer's SMTPConnection on
 * a few kept-open connections, ./smtp-reinject.ts). Its evidence record is written (pending)
 * before any copy leaves, and a message is answered 250 only after every copy has been passed on
 * (or written to quarantine); a temporary failure answers 451 and the MTA retries — the retry (same bytes and envelope, same record) passes
 * copies on only to the recipients not yet served, under its own verdict; the record keeps the earlier attempts'
 * verdicts and which recipient went under which (carryEvidence, bounded). A message is never lost; it can be delivered
 * twice only if the process dies between passing a copy on and updating its record, or the return
 * port's reply to a copy's data is lost (the MTA may have queued it; the retry passes it on again).
 * The same message handed over twice at once: the record's writes are atomic read-and-writes
 * (EvidenceStore.update); the second attempt finds the first's claim and answers 451 until its lease ends.
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { MailPkiError } from '../errors.js';
import { checkAuthservId } from '../internal/authentication-results.js';
import { splitMessage } from '../dkim/message.js';
import { binaryToBytes } from '../dkim/canonicalization/text.js';
import { unfoldValue } from '../mime/headers.js';
import { canonicalizeLineEndings, endHeaderAtNonField, isCanonical } from '../mime/canonical.js';
import type { DkimVerifyOptions } from '../dkim/verify.js';
import { toCertificates, type VerifyMessageOptions } from '../smime/verify.js';
import { inspectMessage, rewriteMessage, type Inspection } from '../filter/inspect.js';
import { decideDispositions, parseFilterPolicy, type Disposition, type DispositionAction, type FilterPolicy } from '../filter/policy.js';
import {
  MAX_EVIDENCE_FAULTS,
  MAX_EVIDENCE_LEASE_MS,
  carryEvidence,
  evidenceCertificates,
  evidenceDeliveries,
  evidenceDkimResults,
  evidenceVerdict,
  mergeEvidence,
  type EvidenceCertificate,
  type EvidenceDelivery,
  type EvidenceRecord,
  type EvidenceStore,
} from '../filter/evidence.js';
import { writeFileAtomic } from './fs-storage.js';
import { REINJECT_DEADLINE_FACTOR, ReinjectPool, type RefusedRecipient } from './smtp-reinject.js';

/** Default largest message the filter takes (bytes); larger ones are refused with 552. */
export const DEFAULT_FILTER_MAX_MESSAGE_BYTES = 25 * 1024 * 1024;
/** Default simultaneous SMTP connections the filter serves. */
export const DEFAULT_FILTER_MAX_CLIENTS = 100;
/** Default idle time (ms) before a silent client is disconnected. */
export const DEFAULT_FILTER_SOCKET_TIMEOUT_MS = 60_000;
/**
 * Default bytes of mail the filter holds at once over all connections (256 MiB): messages received
 * or being filtered. Over it a message gets 452 4.3.1 (the MTA retries). The process's memory for
 * them is a few times this (copies per disposition, parsing).
 */
export const DEFAULT_FILTER_MAX_IN_FLIGHT_BYTES = 256 * 1024 * 1024;
/** Default pooled connections to the return port. */
export const DEFAULT_FILTER_REINJECT_CONNECTIONS = 4;

/**
 * An attempt's claim on a message (its evidence record pending) holds for this many times the
 * return port's per-transaction deadline (reinjectTimeoutMs × REINJECT_DEADLINE_FACTOR: 10 min by
 * default); another attempt of the same message meanwhile gets 451, and after it takes over.
 */
export const FILTER_EVIDENCE_LEASE_COPIES = 2;

/**
 * The least time an attempt keeps back at the end of its lease for its final evidence write (else a
 * tenth of a copy's deadline, when longer): twice the SQLite store's default wait for another
 * process's write lock, so that the last copy is in the record before another attempt may take over.
 */
export const FILTER_FINAL_WRITE_MARGIN_MS = 10_000;

/** The shortest reinjection timeout createFilter takes: its lease then still leaves copies 40 s to start in. */
export const MIN_FILTER_REINJECT_TIMEOUT_MS = 5_000;

/** Without an evidence store: how many recent messages' records the filter keeps in memory to make retries idempotent. */
export const DEFAULT_FILTER_RECENT_RECORDS = 10_000;

/** The record's `certificates`: those the S/MIME verdict names, and those carried for the earlier attempts kept, once each. */
function certificatesOf(inspection: Inspection, carried: EvidenceCertificate[] = []): Pick<EvidenceRecord, 'certificates'> {
  let certificates = inspection.smime.verdict ? evidenceCertificates(inspection.smime.verdict) : [];
  if (carried.length) {
    const have = new Set(certificates.map((c) => c.sha256));
    certificates = [...certificates, ...carried.filter((c) => !have.has(c.sha256))];
  }
  return certificates.length ? { certificates } : {};
}

/** The latest `max` records in memory (and any still pending), oldest dropped first. */
export function recentRecords(max: number): Pick<EvidenceStore, 'get' | 'update'> {
  const records = new Map<string, EvidenceRecord>();
  return {
    async get(id) {
      return records.get(id);
    },
    // Read, changed and written in one turn of the event loop: atomic for the connections of this process.
    async update(id, change) {
      const current = records.get(id);
      const record = change(current && structuredClone(current));
      if (!record) return undefined;
      records.delete(id);
      // Only what a retry reads: not the verdicts (so no earlier attempts either).
      const { receivedAt, lastAttemptAt, outcome, faults, delivered, deliveries, attempts } = record;
      records.set(id, {
        id,
        receivedAt,
        ...(lastAttemptAt ? { lastAttemptAt } : {}),
        outcome,
        faults: [...faults],
        delivered: [...(delivered ?? [])],
        ...(deliveries ? { deliveries: [...deliveries] } : {}),
        ...(attempts ? { attempts } : {}),
      } as EvidenceRecord);
      // The oldest that no attempt holds: a pending record's attempt may still be passing copies on (at most one
      // per connection), and a duplicate of its message must find it. Only pending ones left: the oldest (bounded).
      if (records.size > max) {
        let drop = records.keys().next().value!;
        for (const [key, r] of records)
          if (r.outcome !== 'pending') {
            drop = key;
            break;
          }
        records.delete(drop);
      }
      return record;
    },
  };
}

export interface FilterEndpoint {
  host?: string;
  port: number;
}

export interface FilterOptions {
  /** Where to listen (default 127.0.0.1:10025; port 0 picks a free port). */
  listen?: FilterEndpoint;
  /** The MTA's return port (e.g. Postfix's 127.0.0.1:10026 smtpd with -o content_filter=). */
  reinject: FilterEndpoint;
  /** The authserv-id of the Authentication-Results the filter writes (the host name of this server). */
  authservId: string;
  /** S/MIME verification: trust anchors, revocation (pass a `checker` to share its cache between messages). */
  smime?: VerifyMessageOptions;
  /** DKIM verification: resolver, policy. */
  dkim?: DkimVerifyOptions;
  /** The disposition policy (parsed or as JSON value). Without one the filter only adds headers. */
  policy?: FilterPolicy | unknown;
  evidence?: EvidenceStore;
  maxMessageBytes?: number;
  /** Bytes of mail held at once over all connections (default DEFAULT_FILTER_MAX_IN_FLIGHT_BYTES or maxMessageBytes if larger; at least maxMessageBytes); over it → 452 4.3.1. */
  maxInFlightBytes?: number;
  maxClients?: number;
  socketTimeoutMs?: number;
  reinjectConnections?: number;
  /**
   * Reinjection connect/greeting/socket timeout (ms, default 30 000). It sets the evidence lease too
   * (FILTER_EVIDENCE_LEASE_COPIES × REINJECT_DEADLINE_FACTOR × this), which each claim writes into its
   * record (`leaseMs`): filters sharing one store may differ. From MIN_FILTER_REINJECT_TIMEOUT_MS (5 s) to
   * MAX_EVIDENCE_LEASE_MS / 20 (72 min).
   */
  reinjectTimeoutMs?: number;
  /** Called once per message with its evidence record (logging). Errors thrown here are ignored. */
  onMessage?: (record: EvidenceRecord) => void;
  clock?: () => Date;
}

export interface RunningFilter {
  host: string;
  port: number;
  /** Stops accepting connections, lets messages in flight finish (at most `timeoutMs`, default 30 s), closes the pool. */
  close(timeoutMs?: number): Promise<void>;
}

class SmtpReply extends Error {
  constructor(
    readonly responseCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** The first Message-ID field's value, unfolded and decoded as the MIME parser reads a field (UTF-8 when valid, RFC 6532): the text an auditor reads in the mailbox and queries by. */
function readMessageId(raw: Uint8Array): string | undefined {
  const { headers } = splitMessage(raw);
  const h = headers.find((f) => f.key === 'message-id');
  if (!h) return undefined;
  const value = unfoldValue(binaryToBytes(h.raw.slice(h.raw.indexOf(':') + 1)));
  // At most 2000 UTF-16 units (the record's limit), not ending in half a surrogate pair (SQLite's column would hold U+FFFD, the JSON not).
  return value.slice(0, /[\uD800-\uDBFF]/.test(value[1999] ?? '') ? 1999 : 2000) || undefined;
}

/**
 * The bytes of messages the filter holds at once (received or being filtered), across all
 * connections: a message that would go over it is answered 452 4.3.1 and the MTA retries later.
 */
class ByteBudget {
  held = 0;
  constructor(readonly max: number) {}
  /** Takes n bytes if they fit. */
  take(n: number): boolean {
    if (this.held + n > this.max) return false;
    this.held += n;
    return true;
  }
  give(n: number): void {
    this.held -= n;
  }
}

/**
 * Reads the message into one array, charging `budget` as chunks arrive. Past the size limit or the
 * budget it keeps reading (the client is still sending) but keeps nothing and gives back what it took.
 * Resolves with the bytes taken from the budget, which the caller gives back when done with the message.
 */
function readStream(stream: SMTPServerDataStream, max: number, budget: ByteBudget): Promise<{ bytes: Uint8Array; tooLarge: boolean; overBudget: boolean; charged: number }> {
  return new Promise((resolve, reject) => {
    let chunks: Buffer[] = [];
    let size = 0;
    let charged = 0;
    let overBudget = false;
    const drop = () => {
      chunks = [];
      budget.give(charged);
      charged = 0;
    };
    stream.on('data', (c: Buffer) => {
      size += c.length;
      if (overBudget || size > max) return;
      if (!budget.take(c.length)) {
        overBudget = true;
        return drop();
      }
      charged += c.length;
      chunks.push(c);
    });
    stream.on('error', (e) => {
      drop();
      reject(e);
    });
    stream.on('end', () => {
      const tooLarge = stream.sizeExceeded || size > max;
      if (tooLarge || overBudget) {
        drop();
        return resolve({ bytes: new Uint8Array(0), tooLarge, overBudget, charged: 0 });
      }
      // One copy into an array of its own (not Buffer.concat's pooled slice nor a second copy of it).
      const bytes = new Uint8Array(size);
      let at = 0;
      for (const c of chunks) {
        bytes.set(c, at);
        at += c.length;
      }
      chunks = [];
      resolve({ bytes, tooLarge: false, overBudget: false, charged });
    });
  });
}

const TAG_HEADER = 'X-Mailpki-Disposition';
/** Header fields only the filter writes: a sender's own are removed before ours are added. */
const OWN_HEADERS = ['x-mailpki-disposition', 'x-mailpki-evidence-id', 'x-mailpki-quarantined-for'];

/**
 * Starts the filter.
 *
 * @example
 * const filter = await createFilter({
 *   listen: { port: 10025 }, reinject: { port: 10026 }, authservId: 'mx.example.com',
 *   smime: { trustAnchors: [rootPem], revocation: { policy: 'soft-fail', checker } },
 *   dkim: {}, policy: JSON.parse(await readFile('policy.json', 'utf8')), evidence,
 * });
 */
export async function createFilter(options: FilterOptions): Promise<RunningFilter> {
  if (typeof options !== 'object' || options === null) throw new MailPkiError('ERR_INVALID_INPUT', 'createFilter: options must be an object', { details: { field: 'options' } });
  const authservId = checkAuthservId(options.authservId);
  const policy = options.policy === undefined ? undefined : parseFilterPolicy(options.policy);
  const reinject = options.reinject;
  if (!reinject || !Number.isInteger(reinject.port) || reinject.port < 1 || reinject.port > 65535)
    throw new MailPkiError('ERR_INVALID_INPUT', 'createFilter: reinject.port must be a port number', { details: { field: 'reinject.port' } });
  // A store without update() (written before it existed) would answer 451 to every message, for ever: refused before listening.
  if (options.evidence !== undefined && (typeof options.evidence?.get !== 'function' || typeof options.evidence.update !== 'function'))
    throw new MailPkiError('ERR_INVALID_INPUT', 'createFilter: evidence must be an EvidenceStore (with get and update)', { details: { field: 'evidence' } });
  const maxBytes = options.maxMessageBytes ?? DEFAULT_FILTER_MAX_MESSAGE_BYTES;
  if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new MailPkiError('ERR_INVALID_INPUT', 'createFilter: maxMessageBytes must be a positive integer', { details: { field: 'maxMessageBytes' } });
  // S/MIME options that can only fail would defer every message for days: refused before listening.
  let smime = options.smime;
  if (smime) {
    const anchors = toCertificates(smime.trustAnchors, 'smime.trustAnchors');
    if (anchors.length === 0)
      throw new MailPkiError('ERR_INVALID_INPUT', 'createFilter: smime.trustAnchors holds no certificate (a trust file with no PEM certificate in it?)', { details: { field: 'smime.trustAnchors' } });
    toCertificates(smime.intermediates, 'smime.intermediates');
    // The certificates go into each evidence record (an auditor checks signatures and OCSP answers again with them).
    smime = { ...smime, trustAnchors: anchors, includeCertificates: true };
  }
  // By default the budget holds at least one message of the largest size.
  const maxInFlight = options.maxInFlightBytes ?? Math.max(DEFAULT_FILTER_MAX_IN_FLIGHT_BYTES, maxBytes);
  // A budget smaller than the largest message would defer that message for ever.
  if (!Number.isInteger(maxInFlight) || maxInFlight < maxBytes)
    throw new MailPkiError('ERR_INVALID_INPUT', 'createFilter: maxInFlightBytes must be an integer at least maxMessageBytes', { details: { field: 'maxInFlightBytes' } });
  const budget = new ByteBudget(maxInFlight);
  const overBudgetReply = () => new SmtpReply(452, `4.3.1 The filter holds ${maxInFlight} bytes of mail already; try again later`);
  const clock = options.clock ?? (() => new Date());
  const ownHeaders = [...new Set([...OWN_HEADERS, ...(policy?.tag?.header ? [policy.tag.header.toLowerCase()] : [])])];
  const quarantineDir = policy?.quarantine && 'directory' in policy.quarantine ? policy.quarantine.directory : undefined;
  // Checked before anything is made (the quarantine directory): a refused start leaves nothing behind.
  const timeout = options.reinjectTimeoutMs ?? 30_000;
  if (!Number.isInteger(timeout) || timeout < MIN_FILTER_REINJECT_TIMEOUT_MS || FILTER_EVIDENCE_LEASE_COPIES * REINJECT_DEADLINE_FACTOR * timeout > MAX_EVIDENCE_LEASE_MS)
    throw new MailPkiError(
      'ERR_INVALID_INPUT',
      `createFilter: reinjectTimeoutMs must be an integer from ${MIN_FILTER_REINJECT_TIMEOUT_MS} to ${MAX_EVIDENCE_LEASE_MS / (FILTER_EVIDENCE_LEASE_COPIES * REINJECT_DEADLINE_FACTOR)} (the evidence lease, ${FILTER_EVIDENCE_LEASE_COPIES * REINJECT_DEADLINE_FACTOR}× it, is at most a day)`,
      { details: { field: 'reinjectTimeoutMs' } },
    );
  if (quarantineDir) mkdirSync(quarantineDir, { recursive: true, mode: 0o700 });

  const reinjectPool = new ReinjectPool({
    host: reinject.host ?? '127.0.0.1',
    port: reinject.port,
    name: authservId,
    connections: options.reinjectConnections ?? DEFAULT_FILTER_REINJECT_CONNECTIONS,
    timeoutMs: timeout,
  });

  /**
   * Writes a quarantined copy, within the return port's timeout as a copy passed on is: a file system that hangs (a
   * stale network mount) answers 451 then, before the evidence lease runs out, instead of holding the MTA's
   * connection. A write that goes on after that is not renamed into place (its temporary file is removed): the MTA's
   * retry decides afresh (a revocation status may have changed) and its file, or none, is the one its evidence names —
   * but for a rename itself under way at the deadline, which completes.
   */
  function writeQuarantine(path: string, bytes: Uint8Array): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stop = new AbortController();
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const e = new Error(`writing to the quarantine directory took longer than ${timeout} ms`);
        stop.abort(e);
        reject(e);
      }, timeout);
    });
    return Promise.race([writeFileAtomic(path, bytes, 0o600, { signal: stop.signal }), late]).finally(() => clearTimeout(timer));
  }

  /** A copy passed on: who the return port took, who it refused permanently (5xx, with its reply) and who for now (4xx). Failing altogether for now throws SmtpReply 451. */
  async function pass(bytes: Uint8Array, from: string, to: string[], beforeTransaction?: () => void): Promise<{ accepted: string[]; refused: { recipient: string; reply: string; code: number }[]; temporary: string[] }> {
    let refusedAtRcpt: RefusedRecipient[];
    try {
      refusedAtRcpt = await reinjectPool.send(from, to, bytes, beforeTransaction);
    } catch (e) {
      if (e instanceof SmtpReply) throw e;
      const code = (e as { responseCode?: number }).responseCode;
      // A permanent refusal of the whole copy (5xx at MAIL or DATA, or every RCPT refused): passed on as permanent.
      if (code !== undefined && code >= 500 && code < 600) {
        const reply = (e as Error).message.replace(/[\r\n]+/g, ' ').slice(0, 400);
        return { accepted: [], refused: to.map((recipient) => ({ recipient, reply, code })), temporary: [] };
      }
      throw new SmtpReply(451, `4.3.0 Cannot pass the message on now (${(e as Error).message}); try again later`);
    }
    const refused = refusedAtRcpt.filter((r) => r.code >= 500).map((r) => ({ recipient: r.recipient, reply: `${r.code} ${r.text}`.slice(0, 400), code: r.code }));
    const temporary = refusedAtRcpt.filter((r) => r.code < 500).map((r) => r.recipient);
    const notTaken = new Set(refusedAtRcpt.map((r) => r.recipient));
    return { accepted: to.filter((r) => !notTaken.has(r)), refused, temporary };
  }

  // Without an evidence store, the last records are kept in memory so that a retry still finds
  // what was already passed on (in this process).
  const evidence: Pick<EvidenceStore, 'get' | 'update'> = options.evidence ?? recentRecords(DEFAULT_FILTER_RECENT_RECORDS);

  // An attempt's claim on its message (its record `pending`) holds for the lease, counted from when the attempt
  // received the message: it starts no copy later than one copy's longest time (the return port's per-transaction
  // deadline) before the lease ends, so every copy it passes on is out within it. Another attempt of the message
  // meanwhile answers 451 without passing a copy on; after it (a filter killed mid-message), another takes over.
  const copyDeadlineMs = timeout * REINJECT_DEADLINE_FACTOR;
  const leaseMs = FILTER_EVIDENCE_LEASE_COPIES * copyDeadlineMs;
  const attemptStart = (r: EvidenceRecord) => Date.parse(r.lastAttemptAt ?? r.receivedAt);
  /** Another attempt holds the message now: its record is pending, and it started less than a lease ago (either way: a clock set back is not a takeover). */
  // The claim's own lease; one out of range (a store of the caller's own that does not check what it reads) counts as absent.
  const leaseOf = (r: EvidenceRecord) => (Number.isInteger(r.leaseMs) && r.leaseMs! > 0 && r.leaseMs! <= MAX_EVIDENCE_LEASE_MS ? r.leaseMs! : leaseMs);
  const inFlight = (r: EvidenceRecord | undefined, now: Date) => r?.outcome === 'pending' && Math.abs(now.getTime() - attemptStart(r)) < leaseOf(r);
  const inFlightReply = () => new SmtpReply(451, '4.3.0 The same message is being handled by another attempt now; try again later');

  /** One record per message (same bytes and envelope): the MTA's retries find what was already passed on. */
  const evidenceId = (sha256: string, from: string, to: string[]) => createHash('sha256').update(JSON.stringify([sha256, from, to])).digest('hex');

  async function handle(received: Uint8Array, session: SMTPServerSession): Promise<string> {
    const receivedAt = clock();
    const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
    const to = session.envelope.rcptTo.map((r) => r.address);
    const sha256 = createHash('sha256').update(received).digest('hex');
    const id = evidenceId(sha256, from, to);
    // The re-injection makes every bare CR and bare LF a CRLF (SMTP DATA has no other line end): verify,
    // apply the policy to, and rewrite the message as it will be passed on — a "From:" after a bare CR is
    // a field of its own downstream, so it must be one here too. Likewise the return port's cleanup starts the
    // body at a header line that is no field ("Pay the new account … instead" under a replayed DKIM-signed
    // header): a client shows it as the body's first line, so the body hash must cover it here too.
    const raw = endHeaderAtNonField(isCanonical(received) ? received : canonicalizeLineEndings(received));
    let previous: EvidenceRecord | undefined;
    try {
      previous = await evidence.get(id);
    } catch (e) {
      throw new SmtpReply(451, `4.3.0 Cannot read verification evidence now (${(e as Error).message}); try again later`);
    }
    // Not worth verifying while another attempt holds it (the claim below decides: this is a shortcut).
    if (inFlight(previous, clock())) throw inFlightReply();
    const inspection: Inspection = await inspectMessage(raw, { authservId, envelopeFrom: from, ...(smime ? { smime } : {}), ...(options.dkim ? { dkim: options.dkim } : {}) });
    const decision = decideDispositions(policy, inspection.facts, to);
    const messageId = readMessageId(raw);
    // This attempt's record, built on the record as stored when it claims the message (claim()).
    let done = new Set<string>();
    let attempt = 1;
    let deliveries: EvidenceDelivery[] = [];
    let record!: EvidenceRecord;
    const begin = (previous: EvidenceRecord | undefined) => {
      done = new Set(previous?.delivered ?? []);
      attempt = (previous?.attempts ?? 0) + 1;
      // A retry keeps what earlier attempts decided (their verdicts, bounded) and who was delivered under which;
      // the in-memory records without a store keep no verdicts to carry.
      const carried = previous && options.evidence ? carryEvidence(previous) : undefined;
      deliveries = previous ? [...(carried?.deliveries ?? evidenceDeliveries(previous))] : [];
      record = {
        id,
        ...(messageId ? { messageId } : {}),
        receivedAt: previous?.receivedAt ?? receivedAt.toISOString(),
        envelope: { from, to },
        sha256,
        size: received.length,
        authenticationResults: inspection.authenticationResults,
        smime: { result: inspection.smime.result, ...(inspection.smime.verdict ? { verdict: evidenceVerdict(inspection.smime.verdict) } : {}), ...(inspection.smime.error ? { error: inspection.smime.error } : {}) },
        ...(inspection.dkim || inspection.dkimError
          ? { dkim: { result: inspection.dkim?.result ?? 'temperror', ...evidenceDkimResults(inspection.dkim?.results ?? []), ...(inspection.dkimError ? { error: inspection.dkimError } : {}) } }
          : {}),
        dispositions: [...decision.perRecipient].map(([recipient, d]) => ({ recipient, action: d.action, ...(d.rule ? { rule: d.rule } : {}), failed: d.failed })),
        outcome: 'pending',
        faults: [...(previous?.faults ?? [])],
        delivered: [...done],
        ...(deliveries.length ? { deliveries: [...deliveries] } : {}),
        attempts: attempt,
        ...(previous ? { lastAttemptAt: receivedAt.toISOString() } : {}),
        leaseMs,
        ...(carried?.earlier.length ? { earlier: carried.earlier } : {}),
        ...certificatesOf(inspection, carried?.certificates),
      };
    };
    const note = (fault: string) => {
      record.faults.push(fault);
      if (record.faults.length > MAX_EVIDENCE_FAULTS) record.faults.splice(0, record.faults.length - MAX_EVIDENCE_FAULTS);
    };
    const log = () => {
      try {
        options.onMessage?.(record);
      } catch {
        /* a logging hook's failure is not the message's */
      }
    };
    const cannotKeep = (e: unknown) => new SmtpReply(451, `4.3.0 Cannot keep verification evidence now (${(e as Error).message}); try again later`);
    /**
     * Claims the message for this attempt, with its first outcome (pending before copies leave; deferred or
     * rejected by policy), in one atomic read-and-write of its record: on the record as stored now, not as read
     * before verifying (another attempt may have finished or claimed it since) — or 451 while another holds it.
     */
    const claim = async (outcome: EvidenceRecord['outcome'], fault?: string) => {
      let held = false;
      try {
        const written = await evidence.update(id, (current) => {
          held = inFlight(current, clock());
          if (held) return undefined;
          begin(current);
          record.outcome = outcome;
          if (fault) note(fault);
          return record;
        });
        // A store that wrote nothing though asked to (or never applied the change): no claim, no copy.
        if (!held && !written) throw new Error('the evidence store wrote no record');
      } catch (e) {
        // Without its evidence the message must not go through silently: the MTA retries.
        throw cannotKeep(e);
      }
      if (held) throw inFlightReply();
      log();
    };
    /** This attempt's outcome, merged into the record as stored (mergeEvidence): what another attempt wrote since this one's claim is kept. */
    const keep = async (outcome: EvidenceRecord['outcome'], fault?: string) => {
      record.outcome = outcome;
      if (fault) note(fault);
      record.delivered = [...done];
      if (deliveries.length) record.deliveries = [...deliveries];
      try {
        // The last update of a delivered message need not wait for the disk: its pending record
        // already was, before any copy left; a machine crash now leaves it pending (the documented meaning).
        await evidence.update(id, (current) => (current ? mergeEvidence(current, record, { attempts: options.evidence !== undefined }) : record), { durable: outcome !== 'delivered' });
      } catch (e) {
        throw cannotKeep(e);
      }
      log();
    };

    if (decision.reject) {
      const rejecting = [...decision.perRecipient.values()].filter((d) => d.action === 'reject');
      // A requirement that failed only because a responder or DNS is down now: the MTA retries rather than bounce.
      const why = rejecting.find((d) => !d.temporary);
      if (!why) {
        const t = rejecting[0]!;
        const reply = new SmtpReply(451, `4.7.0 Cannot verify now${t.rule ? ` for policy ${t.rule}` : ''} (${t.failed.join(', ')}: temporary error); try again later`);
        await claim('deferred', reply.message);
        throw reply;
      }
      await claim('rejected');
      throw new SmtpReply(550, `5.7.1 Rejected by policy${why.rule ? ` ${why.rule}` : ''}: ${why.failed.join(', ')} not verified`);
    }

    // Intent first: the record exists (pending) before any copy leaves, so no copy goes without evidence.
    await claim('pending');
    /**
     * Copies start only while each is sure to be out within the lease (a later attempt may take over then) — either
     * way, as inFlight reads it: with the clock set back by more than a lease, any other attempt takes over at once.
     * A margin of a tenth of a copy's deadline (30 s by default), at least FILTER_FINAL_WRITE_MARGIN_MS, is left for
     * the final evidence write (a busy SQLite waits up to 5 s), so the last copy is in the record before anyone may take over.
     */
    const inLease = () => {
      if (Math.abs(clock().getTime() - receivedAt.getTime()) > leaseMs - copyDeadlineMs - Math.max(copyDeadlineMs / 10, FILTER_FINAL_WRITE_MARGIN_MS))
        throw new SmtpReply(451, '4.3.0 This attempt ran out of time (its evidence lease) before every copy was passed on; try again later');
    };

    // One copy per action: accepted as it came (plus the header), tagged, quarantined — each to the
    // recipients not already served by an earlier attempt of the same message.
    const groups = new Map<DispositionAction, { recipients: string[]; first: Disposition }>();
    for (const [r, d] of decision.perRecipient) {
      if (done.has(r)) continue;
      const g = groups.get(d.action);
      if (g) g.recipients.push(r);
      else groups.set(d.action, { recipients: [r], first: d });
    }
    const copy = (action: DispositionAction, d: Disposition, extra: [string, string][] = []) =>
      rewriteMessage(raw, {
        authservId,
        authenticationResults: inspection.authenticationResults,
        removeHeaders: ownHeaders,
        addHeaders: [...(policy ? ([[policy.tag?.header ?? TAG_HEADER, `${action}${d.rule ? `; rule=${d.rule}` : ''}${d.failed.length ? `; failed=${d.failed.join(',')}` : ''}`]] as [string, string][]) : []), ...extra],
        ...(action === 'tag' && policy?.tag?.subjectPrefix ? { subjectPrefix: policy.tag.subjectPrefix } : {}),
      });
    const refused: { recipient: string; reply: string; code: number }[] = [];
    let passedNow = 0;
    /** A recipient's copy passed on or quarantined, under this attempt. */
    const served = (recipient: string) => {
      done.add(recipient);
      deliveries.push({ recipient, attempt });
      passedNow++;
    };
    let temporary: SmtpReply | undefined;
    const passOn = async (bytes: Uint8Array, envelopeTo: string[], servedFor: string[]) => {
      inLease();
      // Checked again once a connection is free: the wait for one has no deadline of its own.
      const r = await pass(bytes, from, envelopeTo, inLease);
      if (servedFor !== envelopeTo) {
        // A quarantine mailbox copy serves every recipient it holds, or none.
        if (r.accepted.length === 1) for (const x of servedFor) served(x);
        else if (r.refused.length === 1) refused.push(...servedFor.map((recipient) => ({ ...r.refused[0]!, recipient })));
        else temporary ??= new SmtpReply(451, '4.3.0 The quarantine mailbox was refused for now; try again later');
        return;
      }
      for (const x of r.accepted) served(x);
      refused.push(...r.refused);
      if (r.temporary.length) temporary ??= new SmtpReply(451, `4.3.0 Cannot pass the message on to ${r.temporary.length} recipient(s) now; try again later`);
    };
    try {
      const q = groups.get('quarantine');
      if (q) {
        const held = copy('quarantine', q.first, [['X-Mailpki-Quarantined-For', q.recipients.join(', ')], ['X-Mailpki-Evidence-Id', record.id]]);
        if (quarantineDir) {
          inLease();
          try {
            // Named by the message's record and the recipients the copy holds, not by this attempt: an attempt that
            // takes over after one that wrote the file but died before recording it replaces that file (atomically)
            // rather than adding a second; a retry that quarantines other recipients (their verdict changed after an
            // earlier attempt quarantined some) adds its own instead of replacing theirs. A first time that does not
            // read as one from 1970 on (a store of the caller's own) is left out: no "NaN-", and no name starting
            // with "-", which ls, rm or grep in the directory would take for an option.
            const first = Date.parse(record.receivedAt);
            const holds = createHash('sha256').update(JSON.stringify([...q.recipients].sort())).digest('hex').slice(0, 16);
            await writeQuarantine(join(quarantineDir, `${Number.isSafeInteger(first) && first >= 0 ? `${first}-` : ''}${record.id}-${holds}.eml`), held);
          } catch (e) {
            throw new SmtpReply(451, `4.3.0 Cannot write to quarantine now (${(e as Error).message}); try again later`);
          }
          for (const x of q.recipients) served(x);
        } else if (policy?.quarantine && 'mailbox' in policy.quarantine) await passOn(held, [policy.quarantine.mailbox], q.recipients);
      }
      for (const action of ['tag', 'accept'] as const) {
        const g = groups.get(action);
        if (g) await passOn(copy(action, g.first), g.recipients, g.recipients);
      }
    } catch (e) {
      temporary = e instanceof SmtpReply ? e : new SmtpReply(451, `4.3.0 ${(e as Error).message}`);
    }
    record.refused = refused.map(({ recipient, reply }) => ({ recipient, reply }));
    if (temporary || (refused.length > 0 && passedNow > 0)) {
      // Some recipients still to serve (or refused while others went through this time): the MTA
      // retries, and the retry passes on only to those not served yet.
      const reply = temporary ?? new SmtpReply(451, `4.3.0 ${refused.length} recipient(s) refused by the return port; the others were passed on; try again later`);
      await keep('deferred', reply.message).catch(() => undefined);
      throw reply;
    }
    if (refused.length > 0) {
      // Every recipient still to serve was refused permanently: the MTA bounces, as it would have.
      const first = refused[0]!;
      await keep('rejected', `return port refused: ${first.reply}`).catch(() => undefined);
      throw new SmtpReply(first.code >= 500 && first.code < 600 ? first.code : 550, `5.0.0 The return port refused the message: ${first.reply}`);
    }
    try {
      await keep('delivered');
    } catch (e) {
      // Every copy is already out: answering 4xx now would deliver it again. The record stays pending.
      note(`evidence not updated after delivery: ${(e as Error).message}`);
      log();
    }
    return `2.0.0 Ok: verified (${record.id})`;
  }

  const server = new SMTPServer({
    name: authservId,
    banner: 'mailpki filter',
    disabledCommands: ['AUTH', 'STARTTLS'],
    authOptional: true,
    hideSTARTTLS: true,
    size: maxBytes,
    maxClients: options.maxClients ?? DEFAULT_FILTER_MAX_CLIENTS,
    socketTimeout: options.socketTimeoutMs ?? DEFAULT_FILTER_SOCKET_TIMEOUT_MS,
    closeTimeout: 30_000,
    logger: false,
    onMailFrom(address, _session, callback) {
      const args = address.args as Record<string, string> | false | undefined;
      const declared = Number((args && args.SIZE) ?? 0);
      if (declared > maxBytes) return callback(Object.assign(new Error(`5.3.4 Message too big for this filter (limit ${maxBytes} bytes)`), { responseCode: 552 }));
      // A declared size that does not fit what is left of the budget now: try later, before the data is sent.
      if (budget.held + declared > budget.max) {
        const reply = overBudgetReply();
        return callback(Object.assign(new Error(reply.message), { responseCode: reply.responseCode }));
      }
      callback();
    },
    onData(stream, session, callback) {
      let charged = 0;
      readStream(stream, maxBytes, budget)
        .then(async (r) => {
          charged = r.charged;
          if (r.tooLarge) throw new SmtpReply(552, `5.3.4 Message too big for this filter (limit ${maxBytes} bytes)`);
          if (r.overBudget) throw overBudgetReply();
          return handle(r.bytes, session);
        })
        .finally(() => budget.give(charged))
        .then(
          (message) => callback(null, message),
          (e) => {
            const reply = e instanceof SmtpReply ? e : new SmtpReply(451, `4.3.0 Temporary filter failure (${(e as Error)?.message ?? e}); try again later`);
            callback(Object.assign(new Error(reply.message), { responseCode: reply.responseCode }));
          },
        );
    },
  });

  const host = options.listen?.host ?? '127.0.0.1';
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listen?.port ?? 10025, host, () => {
      server.off('error', reject);
      resolve((server.server.address() as { port: number }).port);
    });
  });
  // A client that misbehaves must not stop the server; smtp-server reports such errors here.
  server.on('error', () => undefined);

  let closing: Promise<void> | undefined;
  return {
    host,
    port,
    close(timeoutMs = 30_000) {
      closing ??= new Promise<void>((resolve) => {
        (server.options as { closeTimeout?: number }).closeTimeout = timeoutMs;
        server.close(() => {
          reinjectPool.close();
          resolve();
        });
      });
      return closing;
    },
  };
}
