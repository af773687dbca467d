/**
 * An SMTP content filter in the way Postfix content filters work: receive on a loopback port
 * (smtp-server), verify S/MIME and DKIM, add one Authentication-Results, apply the disposition
 * policy, keep evidence, and re-inject to the MTA's return port (a pooled SMTP
 * transport). A message is answered 250 only after every copy has been passed on (or written to
 * quarantine) and its evidence kept; any failure on the way answers 451 and the MTA keeps the
 * message and retries — a message is never lost, at worst delivered twice to one group of
 * recipients (when a later copy failed after an earlier one was passed on).
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { MailPkiError } from '../errors.js';
import { checkAuthservId } from '../internal/authentication-results.js';
import { splitMessage } from '../dkim/message.js';
import type { DkimVerifyOptions } from '../dkim/verify.js';
import type { VerifyMessageOptions } from '../smime/verify.js';
import { inspectMessage, rewriteMessage, type Inspection } from '../filter/inspect.js';
import { decideDispositions, parseFilterPolicy, type Disposition, type DispositionAction, type FilterPolicy } from '../filter/policy.js';
import type { EvidenceRecord, EvidenceStore } from '../filter/evidence.js';
import { writeFileAtomic } from './fs-storage.js';
import { ReinjectPool } from './smtp-reinject.js';

/** Default largest message the filter takes (bytes); larger ones are refused with 552. */
export const DEFAULT_FILTER_MAX_MESSAGE_BYTES = 25 * 1024 * 1024;
/** Default simultaneous SMTP connections the filter serves. */
export const DEFAULT_FILTER_MAX_CLIENTS = 100;
/** Default idle time (ms) before a silent client is disconnected. */
export const DEFAULT_FILTER_SOCKET_TIMEOUT_MS = 60_000;
/** Default pooled connections to the return port. */
export const DEFAULT_FILTER_REINJECT_CONNECTIONS = 4;

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
  maxClients?: number;
  socketTimeoutMs?: number;
  reinjectConnections?: number;
  /** Reinjection connect/greeting/socket timeout (ms, default 30 000). */
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

function readMessageId(raw: Uint8Array): string | undefined {
  const { headers } = splitMessage(raw);
  const h = headers.find((f) => f.key === 'message-id');
  if (!h) return undefined;
  return h.raw.slice(h.raw.indexOf(':') + 1).replace(/\r\n/g, '').trim().slice(0, 2000) || undefined;
}

function readStream(stream: SMTPServerDataStream, max: number): Promise<{ bytes: Uint8Array; tooLarge: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: Buffer) => {
      size += c.length;
      // Past the limit, keep reading (the client is still sending) but keep nothing.
      if (size <= max) chunks.push(c);
    });
    stream.on('error', reject);
    stream.on('end', () => {
      const tooLarge = stream.sizeExceeded || size > max;
      resolve({ bytes: tooLarge ? new Uint8Array(0) : new Uint8Array(Buffer.concat(chunks, size)), tooLarge });
    });
  });
}

const TAG_HEADER = 'X-Mailpki-Disposition';

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
  const maxBytes = options.maxMessageBytes ?? DEFAULT_FILTER_MAX_MESSAGE_BYTES;
  if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new MailPkiError('ERR_INVALID_INPUT', 'createFilter: maxMessageBytes must be a positive integer', { details: { field: 'maxMessageBytes' } });
  const clock = options.clock ?? (() => new Date());
  const quarantineDir = policy?.quarantine && 'directory' in policy.quarantine ? policy.quarantine.directory : undefined;
  if (quarantineDir) mkdirSync(quarantineDir, { recursive: true, mode: 0o700 });

  const timeout = options.reinjectTimeoutMs ?? 30_000;
  const reinjectPool = new ReinjectPool({
    host: reinject.host ?? '127.0.0.1',
    port: reinject.port,
    name: authservId,
    connections: options.reinjectConnections ?? DEFAULT_FILTER_REINJECT_CONNECTIONS,
    timeoutMs: timeout,
  });

  async function pass(bytes: Uint8Array, from: string, to: string[]): Promise<void> {
    try {
      await reinjectPool.send(from, to, bytes);
    } catch (e) {
      throw new SmtpReply(451, `4.3.0 Cannot pass the message on now (${(e as Error).message}); try again later`);
    }
  }

  /** Evidence keeps the verdict, never the decrypted content of an encrypted message (`smime.decryptionKeys`). */
  const withoutPlaintext = (key: string, value: unknown) => (key === 'decryptedMessage' ? undefined : value);

  async function handle(raw: Uint8Array, session: SMTPServerSession): Promise<string> {
    const receivedAt = clock();
    const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
    const to = session.envelope.rcptTo.map((r) => r.address);
    const inspection: Inspection = await inspectMessage(raw, { authservId, ...(options.smime ? { smime: options.smime } : {}), ...(options.dkim ? { dkim: options.dkim } : {}) });
    const decision = decideDispositions(policy, inspection.facts, to);
    const messageId = readMessageId(raw);
    const record: EvidenceRecord = {
      id: randomUUID(),
      ...(messageId ? { messageId } : {}),
      receivedAt: receivedAt.toISOString(),
      envelope: { from, to },
      sha256: createHash('sha256').update(raw).digest('hex'),
      size: raw.length,
      authenticationResults: inspection.authenticationResults,
      smime: { result: inspection.smime.result, ...(inspection.smime.verdict ? { verdict: JSON.parse(JSON.stringify(inspection.smime.verdict, withoutPlaintext)) } : {}), ...(inspection.smime.error ? { error: inspection.smime.error } : {}) },
      ...(inspection.dkim || inspection.dkimError
        ? { dkim: { result: inspection.dkim?.result ?? 'temperror', results: JSON.parse(JSON.stringify(inspection.dkim?.results ?? [])), ...(inspection.dkimError ? { error: inspection.dkimError } : {}) } }
        : {}),
      dispositions: [...decision.perRecipient].map(([recipient, d]) => ({ recipient, action: d.action, ...(d.rule ? { rule: d.rule } : {}), failed: d.failed })),
      outcome: 'delivered',
      faults: [],
    };
    const keep = async (outcome: EvidenceRecord['outcome'], fault?: string) => {
      record.outcome = outcome;
      if (fault) record.faults.push(fault);
      try {
        await options.evidence?.put(record);
      } catch (e) {
        // Without its evidence the message must not go through silently: the MTA retries.
        throw new SmtpReply(451, `4.3.0 Cannot keep verification evidence now (${(e as Error).message}); try again later`);
      }
      try {
        options.onMessage?.(record);
      } catch {
        /* a logging hook's failure is not the message's */
      }
    };

    if (decision.reject) {
      const why = [...decision.perRecipient.values()].find((d) => d.action === 'reject')!;
      await keep('rejected');
      throw new SmtpReply(550, `5.7.1 Rejected by policy${why.rule ? ` ${why.rule}` : ''}: ${why.failed.join(', ')} not verified`);
    }

    // One copy per action: accepted as it came (plus the header), tagged, quarantined.
    const groups = new Map<DispositionAction, { recipients: string[]; first: Disposition }>();
    for (const [r, d] of decision.perRecipient) {
      const g = groups.get(d.action);
      if (g) g.recipients.push(r);
      else groups.set(d.action, { recipients: [r], first: d });
    }
    const copy = (action: DispositionAction, d: Disposition, extra: [string, string][] = []) =>
      rewriteMessage(raw, {
        authservId,
        authenticationResults: inspection.authenticationResults,
        addHeaders: [...(policy ? ([[policy.tag?.header ?? TAG_HEADER, `${action}${d.rule ? `; rule=${d.rule}` : ''}${d.failed.length ? `; failed=${d.failed.join(',')}` : ''}`]] as [string, string][]) : []), ...extra],
        ...(action === 'tag' && policy?.tag?.subjectPrefix ? { subjectPrefix: policy.tag.subjectPrefix } : {}),
      });
    try {
      const q = groups.get('quarantine');
      if (q) {
        const held = copy('quarantine', q.first, [['X-Mailpki-Quarantined-For', q.recipients.join(', ')], ['X-Mailpki-Evidence-Id', record.id]]);
        if (quarantineDir) {
          try {
            await writeFileAtomic(join(quarantineDir, `${receivedAt.getTime()}-${record.id}.eml`), held);
          } catch (e) {
            throw new SmtpReply(451, `4.3.0 Cannot write to quarantine now (${(e as Error).message}); try again later`);
          }
        } else if (policy?.quarantine && 'mailbox' in policy.quarantine) await pass(held, from, [policy.quarantine.mailbox]);
      }
      for (const action of ['tag', 'accept'] as const) {
        const g = groups.get(action);
        if (g) await pass(copy(action, g.first), from, g.recipients);
      }
    } catch (e) {
      const reply = e instanceof SmtpReply ? e : new SmtpReply(451, `4.3.0 ${(e as Error).message}`);
      await keep('deferred', reply.message).catch(() => undefined);
      throw reply;
    }
    await keep('delivered');
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
      callback();
    },
    onData(stream, session, callback) {
      readStream(stream, maxBytes)
        .then(async ({ bytes, tooLarge }) => {
          if (tooLarge) throw new SmtpReply(552, `5.3.4 Message too big for this filter (limit ${maxBytes} bytes)`);
          return handle(bytes, session);
        })
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
