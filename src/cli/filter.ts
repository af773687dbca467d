/** `mailpki filter` (the inbound SMTP content filter) and `mailpki evidence export`. */
import { hostname } from 'node:os';
import { createWriteStream } from 'node:fs';
import { MailPkiError } from '../errors.js';
import { RevocationChecker } from '../revocation/checker.js';
import { createFilter, openSqliteEvidenceStore, nodeDnsResolver, type EvidenceEntry } from '../node/index.js';
import { MemoryEvidenceStore, parseFilterPolicy, type EvidenceRecord, type EvidenceStore } from '../filter/index.js';
import { MAX_SMALL_INPUT_BYTES } from './input.js';
import { oneOf, positiveInt, required, str, type Command, type CommandContext } from './args.js';
import { KEY_HELP, KEY_OPTIONS, readDecryptionKeys } from './smime.js';

function endpoint(ctx: CommandContext, name: string, fallback?: string): { host: string; port: number } {
  const v = str(ctx, name) ?? fallback;
  if (v === undefined) throw new MailPkiError('ERR_USAGE', `--${name} HOST:PORT is required`);
  const m = /^(.+):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new MailPkiError('ERR_USAGE', `--${name} must be HOST:PORT, e.g. 127.0.0.1:10025`);
  return { host: m[1]!, port };
}

/**
 * A sender's text (Message-ID, an address) as one token of the log line: every byte but the usual
 * Message-ID and address characters percent-encoded — spaces, '=', '%', control characters (an ANSI
 * escape) — so it can neither add fields ("smime=pass … delivered") nor rewrite the terminal.
 */
function logToken(s: string): string {
  return s.replace(/[^A-Za-z0-9<>@._+\-!#$&'*/?^`{|}~]/g, (c) => (c.charCodeAt(0) < 0x100 ? `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}` : encodeURIComponent(c)));
}

/**
 * The line `mailpki filter` prints when a message's record is written: when this attempt received
 * it (a retry's own time, not the first attempt's), the record id, the Message-ID, the verdicts,
 * the outcome and each recipient's action — the sender's text as single tokens.
 */
export function formatFilterLogLine(r: EvidenceRecord): string {
  return `${r.lastAttemptAt ?? r.receivedAt} ${r.id} ${r.messageId ? logToken(r.messageId) : '-'} smime=${r.smime.result} dkim=${r.dkim?.result ?? '-'} ${r.outcome} ${r.dispositions.map((d) => `${logToken(d.recipient)}:${d.action}`).join(',')}\n`;
}

/** Days of evidence kept by default (about 13 months: a yearly audit and its follow-up). */
export const DEFAULT_EVIDENCE_RETENTION_DAYS = 400;

export const filter: Command = {
  usage:
    'mailpki filter --listen 127.0.0.1:10025 --reinject 127.0.0.1:10026 --trust FILE [--authserv-id ID] [--policy FILE] [--db FILE] [--dns HOST:PORT] [--revocation off|soft-fail|hard-fail] [--max-size BYTES] [--max-in-flight BYTES] [--retention-days N] [--p12 FILE --passphrase-env VAR | --key FILE --cert FILE | --identity ADDR ...]',
  options: {
    ...KEY_OPTIONS,
    listen: { type: 'string' },
    reinject: { type: 'string' },
    trust: { type: 'string' },
    intermediates: { type: 'string' },
    'authserv-id': { type: 'string' },
    policy: { type: 'string' },
    db: { type: 'string' },
    dns: { type: 'string' },
    revocation: { type: 'string' },
    'max-size': { type: 'string' },
    'max-in-flight': { type: 'string' },
    'retention-days': { type: 'string' },
  },
  help: `  --listen HOST:PORT     where Postfix's content_filter delivers (default 127.0.0.1:10025)
  --reinject HOST:PORT   Postfix's return smtpd (with -o content_filter=)
  --trust FILE           trust anchors for S/MIME (PEM bundle)
  --intermediates FILE   extra CA certificates (PEM bundle)
  --authserv-id ID       the Authentication-Results authserv-id (default: this host's name)
  --policy FILE          disposition policy (JSON, docs/mail-flow.md); without it: headers only
  --db FILE              keep evidence in this store file (default: in memory, lost on exit); --identity keys come from it too
  --dns HOST:PORT,...    DNS servers for DKIM keys (default: the system's)
  --revocation P         off, soft-fail (default) or hard-fail: how the verdict treats unknown status
  --max-size BYTES       largest message taken (default 25 MiB; larger: 552)
  --max-in-flight BYTES  mail held at once over all connections (default 256 MiB, at least --max-size; over it: 452, retried)
  --retention-days N     evidence older than N days is pruned at start and daily (default ${DEFAULT_EVIDENCE_RETENTION_DAYS}; keep it above the MTA's queue lifetime)
Decryption keys, so that encrypted inbound mail gets a verdict (without them: smime=fail, SMIME_ENCRYPTED_NO_KEY);
the message is passed on still encrypted and the evidence never holds its decrypted content. Read once at start:
${KEY_HELP}`,
  async run(ctx) {
    const listen = endpoint(ctx, 'listen', '127.0.0.1:10025');
    const reinject = endpoint(ctx, 'reinject');
    const trust = new TextDecoder().decode(await ctx.readInput(required(ctx, 'trust'), MAX_SMALL_INPUT_BYTES));
    const intermediatesFile = str(ctx, 'intermediates');
    const intermediates = intermediatesFile ? [new TextDecoder().decode(await ctx.readInput(intermediatesFile, MAX_SMALL_INPUT_BYTES))] : [];
    let policy;
    const policyFile = str(ctx, 'policy');
    if (policyFile) {
      let json: unknown;
      try {
        json = JSON.parse(new TextDecoder().decode(await ctx.readInput(policyFile, MAX_SMALL_INPUT_BYTES)));
      } catch (e) {
        throw new MailPkiError('ERR_INVALID_INPUT', `--policy ${policyFile}: not JSON (${(e as Error).message})`, { cause: e, details: { field: 'policy' } });
      }
      policy = parseFilterPolicy(json);
    }
    // Keys are read (and an identity's use audited) once, before the port opens: a bad flag stops the start.
    const decryptionKeys = await readDecryptionKeys(ctx, 'mailpki filter: open encrypted inbound mail for its verdict');
    const revocation = oneOf(ctx, 'revocation', ['off', 'soft-fail', 'hard-fail'] as const) ?? 'soft-fail';
    const retentionDays = positiveInt(ctx, 'retention-days') ?? DEFAULT_EVIDENCE_RETENTION_DAYS;
    const maxSize = positiveInt(ctx, 'max-size');
    const maxInFlight = positiveInt(ctx, 'max-in-flight');
    const servers = str(ctx, 'dns')
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const dbFile = str(ctx, 'db');
    const evidence: EvidenceStore & { close?: () => Promise<void> } = dbFile ? await openSqliteEvidenceStore(dbFile) : new MemoryEvidenceStore();
    const prune = () => evidence.prune(new Date(Date.now() - retentionDays * 86_400_000)).catch((e) => ctx.io.stderr(`mailpki: evidence pruning failed: ${(e as Error).message}\n`));
    await prune();
    // One checker for the process: its cache serves every message (OCSP answers until nextUpdate).
    const checker = revocation === 'off' ? undefined : new RevocationChecker({ timeoutMs: 5000 });
    const running = await createFilter({
      listen,
      reinject,
      authservId: str(ctx, 'authserv-id') ?? hostname(),
      smime: { trustAnchors: [trust], intermediates, ...(decryptionKeys && { decryptionKeys }), revocation: checker ? { policy: revocation, checker } : { policy: 'off' } },
      dkim: { resolver: nodeDnsResolver({ ...(servers?.length && { servers }), timeoutMs: 2000 }) },
      ...(policy && { policy }),
      evidence,
      ...(maxSize && { maxMessageBytes: maxSize }),
      ...(maxInFlight && { maxInFlightBytes: maxInFlight }),
      onMessage: (r) => ctx.io.stdout(formatFilterLogLine(r)),
    });
    ctx.io.stdout(
      `mailpki filter listening on ${running.host}:${running.port}, re-injecting to ${reinject.host}:${reinject.port}${policy ? '' : ' (no policy: headers only)'}${decryptionKeys ? `, ${decryptionKeys.length} decryption key(s)` : ''}\n`,
    );
    const daily = setInterval(prune, 86_400_000);
    daily.unref();
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    ctx.io.stdout('mailpki filter: stopping; finishing messages in flight\n');
    clearInterval(daily);
    await running.close();
    await evidence.close?.();
    return 0;
  },
};

/**
 * A record as one line of JSON for any line reader: JSON.stringify escapes the control characters but
 * writes NEL, U+2028 and U+2029 as they are — a sender's text (a Message-ID, a certificate subject) —
 * and a reader splitting on Unicode line breaks (Python's splitlines()) would cut the record there.
 */
function jsonLine(record: EvidenceRecord): string {
  return JSON.stringify(record).replace(/[\u0085\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export const evidenceExport: Command = {
  usage: 'mailpki evidence export [--db FILE] [--since ISO-DATE] [--until ISO-DATE] [--message-id ID] [--out FILE]',
  options: { db: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' }, 'message-id': { type: 'string' }, out: { type: 'string' } },
  help: `  --db FILE          the store file the filter wrote (default mailpki.db)
  --since, --until   ISO 8601 dates: received at or after / before
  --message-id ID    only this Message-ID (with angle brackets, as in the header; a sender's claim: several records may carry it)
  --out FILE         write there (default standard output); one JSON record per line`,
  async run(ctx) {
    const date = (name: string) => {
      const v = str(ctx, name);
      if (v === undefined) return undefined;
      const d = new Date(v);
      if (Number.isNaN(d.getTime())) throw new MailPkiError('ERR_USAGE', `--${name} must be an ISO 8601 date`);
      return d;
    };
    const since = date('since');
    const until = date('until');
    const messageId = str(ctx, 'message-id');
    // An auditor's typo must not look like "no evidence": the store has to exist.
    const store = await openSqliteEvidenceStore(str(ctx, 'db') ?? 'mailpki.db', { create: false });
    const outFile = str(ctx, 'out');
    const out = outFile ? createWriteStream(outFile, { mode: 0o600 }) : undefined;
    const write = (s: string) => (out ? new Promise<void>((res, rej) => out.write(s, (e) => (e ? rej(e) : res()))) : (ctx.io.stdout(s), Promise.resolve()));
    let n = 0;
    // A damaged row (changed by another hand, or the disk) is named and passed over, not the end of the
    // export: the auditor gets every record that reads, and the exit status says some did not.
    let damaged = 0;
    // A record exported without a certificate it names, which is missing or damaged (one row serves every record naming it).
    let partial = 0;
    let oldest: EvidenceEntry | undefined;
    try {
      // Where the store's records begin (the oldest row), for the note below.
      if (since) [oldest] = await store.listEntries({ limit: 1 });
      // The cursor is the last row's id and receivedAt: if the filter prunes that record meanwhile, the next page still starts after it.
      let cursor: { after: string; since?: Date } | undefined;
      for (;;) {
        const page = await store.listEntries({ ...(since && { since }), ...(until && { until }), ...(messageId !== undefined && { messageId }), ...cursor });
        for (const e of page) {
          if ('record' in e) {
            await write(`${jsonLine(e.record)}\n`);
            n++;
            if (e.error) {
              partial++;
              ctx.io.stderr(`mailpki: ${e.error.message}; the record was exported without it\n`);
            }
          } else {
            damaged++;
            ctx.io.stderr(`mailpki: ${e.error.message} (received ${e.receivedAt ?? 'at an unreadable time'}); not exported, the row is left in the store as it is\n`);
          }
        }
        if (page.length === 0) break;
        const last = page[page.length - 1]!;
        // A damaged row's time may not read: then the cursor keeps the time it had.
        const at = 'record' in last ? last.record.receivedAt : last.receivedAt;
        const from = at !== undefined ? new Date(at) : (cursor?.since ?? since);
        cursor = { after: 'record' in last ? last.record.id : last.id, ...(from && { since: from }) };
      }
    } finally {
      if (out) await new Promise<void>((res) => out.end(res));
      await store.close();
    }
    ctx.io.stderr(`${n} evidence record(s) exported\n`);
    // What retention took is gone without a trace: say where the store's records began, so "none before" is not read as "there were none".
    const begins = oldest && ('record' in oldest ? oldest.record.receivedAt : oldest.receivedAt);
    if (since && (!oldest || (begins !== undefined && Date.parse(begins) > since.getTime())))
      ctx.io.stderr(
        `mailpki: the store held no record received before ${oldest ? begins : 'now (it was empty)'} — older ones were pruned (--retention-days) or never written — so none from ${since.toISOString()} to then could be exported\n`,
      );
    if (damaged || partial)
      throw new MailPkiError(
        'ERR_STORE_CORRUPT',
        [damaged && `${damaged} evidence record(s) could not be read and were not exported (named above)`, partial && `${partial} evidence record(s) were exported without a certificate they name, which the store holds damaged or not at all (named above)`].filter(Boolean).join('; ') +
          `; the ${n - partial} others were`,
      );
    return 0;
  },
};
