/**
 * mailpki/nodemailer: a nodemailer 'stream' plugin that S/MIME-signs, then DKIM-signs, each message
 * from keys you hold or from governed identities, after a preflight; the signed bytes are the bytes
 * sent. nodemailer is not imported: the plugin speaks its documented plugin interface
 * (https://nodemailer.com/plugins/), so nodemailer stays an optional peer dependency.
 */
import { signDkimMessage, type DkimResolver } from '../dkim/index.js';
import { z } from 'zod';
import { MailPkiError } from '../errors.js';
import { parseInput } from '../internal/validate.js';
import { actorSchema } from '../lifecycle/actor.js';
import { concatBytes, toHex } from '../internal/bytes.js';
import { resolveCrypto } from '../internal/crypto.js';
import { DEFAULT_MIME_LIMITS } from '../mime/limits.js';
import { RevocationChecker } from '../revocation/checker.js';
import { signMessage, type SignMessageOptions } from '../smime/sign.js';
import { signAndEncrypt, type EncryptMessageOptions } from '../smime/encrypt.js';
import type { SmimeRecipient } from '../smime/recipients.js';
import { mailboxKey } from '../internal/mailbox.js';
import { checkConfig, evaluatePreflight, parseConfigCertificates, preflightCopiesError, preflightError, splitEnvelope, type PreflightEnvelope, type DkimSource, type PreflightOptions, type PreflightResult, type ResolvedSigners, type SmimeSource } from './preflight.js';
import { planCopies, sendEachState, type SendEachState } from './send-each.js';

export { sendEach, type NodemailerTransporter, type SendEachOptions, type SendEachResult, type SentCopy } from './send-each.js';
export {
  preflight,
  DEFAULT_EXPIRY_MARGIN_MS,
  type DkimSource,
  type GovernedDkimKeys,
  type GovernedSigners,
  type PreflightCheck,
  type PreflightCheckName,
  type PreflightConfig,
  type PreflightEncryption,
  type PreflightEnvelope,
  type PreflightMessageOptions,
  type PreflightOptions,
  type PreflightResult,
  type PreflightRevocationOptions,
  type SmimeSource,
} from './preflight.js';

/** The readable stream nodemailer gives (a Node Readable; used through these members only). */
export interface NodemailerReadable {
  on(event: 'data', listener: (chunk: Uint8Array) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  destroy(err?: Error): unknown;
}

/** The part of nodemailer's MimeNode (mail.message) the plugin uses. */
export interface NodemailerMessage {
  createReadStream(): NodemailerReadable;
  setRaw(raw: Uint8Array): unknown;
}

/** The part of nodemailer's MailMessage (the plugin's first argument) the plugin uses. */
export interface NodemailerMail {
  message: NodemailerMessage;
}

/** Default largest message the plugin signs: the MIME parser's own limit (64 MiB), which signing needs anyway. */
export const MAX_PLUGIN_MESSAGE_BYTES = DEFAULT_MIME_LIMITS.maxMessageBytes;

/** nodemailer's stream plugin shape: `transporter.use('stream', plugin)`. */
export type NodemailerStreamPlugin = (mail: NodemailerMail, callback: (err?: Error | null) => void) => void;

export interface MailpkiPluginOptions {
  /**
   * S/MIME signing: `{ signer }` (a key and certificate you hold) or `{ identity, manager }` (a governed mailbox).
   * `options.headerProtection` (default true here, unlike signMessage): RFC 9788 header protection, so From, To,
   * Cc, Subject, Date… are inside the signature (hp="clear"; with `encrypt`, hp="cipher") and a verifier reports
   * an outer field changed in transit; false signs the content only, as a pre-RFC 9788 client does.
   */
  smime?: SmimeSource & { options?: Pick<SignMessageOptions, 'opaque' | 'digest' | 'rsaPadding' | 'headerProtection'> };
  /** DKIM signing over the final bytes: `{ keys }` or `{ manager, domain? }` (the DKIM manager's active keys). */
  dkim?: DkimSource;
  /**
   * Sign, then encrypt (signAndEncrypt: AES-256-GCM, RSA-OAEP/ECDH, RFC 9788 header protection hp="cipher"), then
   * DKIM-sign. Needs `smime`. `recipients` is the set of certificates to choose from: each message is encrypted
   * only to those naming one of ITS readers — To, Cc and the envelope (Bcc) — plus `encryptToSelf`, so a
   * certificate holder a message is not addressed to cannot open it. Every reader needs a fit certificate
   * (validity, chain to `trustAnchors` — default the preflight's —, key usage, revocation), and a Bcc recipient
   * is refused unless the message is its own copy (envelope `to` is that one address): RecipientInfos would show
   * it to everyone else; {@link sendEach} sends the To/Cc copy and each Bcc recipient's own in one call. The
   * certificates are indexed by mailbox once, here; their fitness is checked per message. A failure is ERR_PREFLIGHT_FAILED (`encryption-recipients`, with `details.encryption`),
   * before anything is signed or sent. See docs/mail-flow.md.
   */
  encrypt?: { recipients: readonly SmimeRecipient[] } & EncryptMessageOptions;
  /** Preflight settings (expiry margin, revocation policy and checker, DNS resolver, clock). The preflight always runs. */
  preflight?: PreflightOptions;
  /** Who the audit trail names for `message.signed` (default 'mailpki:nodemailer'). */
  actor?: string;
  /**
   * The largest message the plugin reads, in bytes (default {@link MAX_PLUGIN_MESSAGE_BYTES}); a larger one is
   * ERR_INPUT_TOO_LARGE before it is held in memory whole, and nothing is sent.
   */
  maxMessageBytes?: number;
  /** Called with every preflight result (passed or failed), e.g. for logging; it holds no key and no content. */
  onPreflight?: (result: PreflightResult) => void;
}

/**
 * A nodemailer stream plugin: builds the message nodemailer composed, runs the preflight on those
 * bytes (a failure is ERR_PREFLIGHT_FAILED, and nothing is sent), S/MIME-signs, DKIM-signs the
 * result, records `message.signed` for a governed identity, and hands nodemailer exactly those
 * bytes to send. Use it as the last stream plugin: anything after it that changes the bytes
 * breaks the signatures.
 *
 * @example
 * transporter.use('stream', mailpkiPlugin({
 *   smime: { identity: 'payments@example.com', manager },
 *   dkim: { manager: dkimManager },
 *   preflight: { trustAnchors: [rootPem], revocation: { policy: 'hard-fail', checker } },
 * }));
 */
export function mailpkiPlugin(options: MailpkiPluginOptions): NodemailerStreamPlugin {
  if (!options || typeof options !== 'object') throw new MailPkiError('ERR_INVALID_INPUT', 'mailpkiPlugin: options are required', { details: { field: 'options' } });
  // The audit log's rule, checked now: a refused actor would otherwise fail every send after signing.
  const actor = options.actor === undefined ? 'mailpki:nodemailer' : parseInput(z.object({ actor: actorSchema }), { actor: options.actor }, 'mailpkiPlugin').actor;
  const given = { ...(options.preflight ?? {}), ...(options.smime && { smime: options.smime }), ...(options.dkim && { dkim: options.dkim }), ...(options.encrypt && { encrypt: options.encrypt }) };
  checkConfig(given);
  const config = parseConfigCertificates(given);
  const maxBytes = options.maxMessageBytes ?? MAX_PLUGIN_MESSAGE_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0 || maxBytes > MAX_PLUGIN_MESSAGE_BYTES)
    throw new MailPkiError('ERR_INVALID_INPUT', `maxMessageBytes: expected whole bytes from 1 to ${MAX_PLUGIN_MESSAGE_BYTES}`, { details: { field: 'maxMessageBytes' } });
  const crypto = resolveCrypto(options.preflight?.crypto);
  // One checker for every message, so its cache serves them all.
  let checker: RevocationChecker | undefined;
  const defaultChecker = () => (checker ??= new RevocationChecker({ ...(options.preflight?.clock && { clock: options.preflight.clock }), crypto }));
  const smimeOptions: SignMessageOptions = {
    // The header fields a client shows (Subject, To, Date…) are signed unless the caller says otherwise.
    headerProtection: true,
    ...(options.smime?.options ?? {}),
    ...(options.preflight?.clock && { clock: options.preflight.clock }),
    crypto,
  };

  // Who this plugin is, for sendEach: a copy is handed over only by the plugin that made it.
  const self = {};

  return (mail, callback) => {
    handle(mail).then(
      () => callback(),
      (e: unknown) => callback(e instanceof Error ? e : new Error(String(e))),
    );
  };

  async function handle(mail: NodemailerMail): Promise<void> {
    const state = sendEachState((mail as { data?: unknown } | undefined)?.data);
    if (!state) return signMail(mail);
    if (state.mode === 'plan') {
      state.plugin = self;
      await planMail(mail, state);
      throw state.stop;
    }
    return handCopy(mail, state);
  }

  async function signMail(mail: NodemailerMail): Promise<void> {
    const { message, composed } = await compose(mail);
    // Bcc recipients are in the envelope only: the readers of an encrypted message are known from it.
    let envelope: PreflightEnvelope | undefined;
    if (config.encrypt) envelope = { to: envelopeOf(message).to };
    const { result, signers } = await evaluatePreflight(composed, config, defaultChecker, envelope ? { envelope } : {});
    options.onPreflight?.(result);
    if (!result.ok) throw preflightError(result);
    const prepared = await make(composed, result, signers);
    await prepared.record();
    setRaw(message, prepared.bytes);
  }

  /** sendEach's planning pass: every copy preflighted, none made yet; nothing is sent (handle stops it). */
  async function planMail(mail: NodemailerMail, state: SendEachState): Promise<void> {
    // sendEach gave this pass an envelope without recipients; the message's own is what nodemailer makes of its
    // fields (and a Message-ID nodemailer makes is named after its sender's domain, as in a plain send).
    const m = checkedMessage(mail) as NodemailerMessage & { _envelope?: unknown; messageId?: unknown; setHeader?: unknown };
    if (!('_envelope' in m) || !m._envelope)
      throw new MailPkiError('ERR_INVALID_INPUT', 'sendEach: this nodemailer version does not keep the envelope where mailpki reads it; nothing was sent', { details: { field: 'mail' } });
    const given = m._envelope as { from?: unknown };
    m._envelope = undefined;
    let own: { from: string | false; to: string[] };
    try {
      own = envelopeOf(m);
      // nodemailer made a Message-ID with this pass's envelope (no sender): made again with the message's own.
      const data = (mail as { data?: Record<string, unknown> }).data;
      if (!data?.messageId && typeof m.setHeader === 'function' && typeof m.messageId === 'function') {
        (m.setHeader as (k: string, v: string) => unknown)('Message-ID', '');
        (m.messageId as () => string)();
      }
    } finally {
      m._envelope = given;
    }
    const { message, composed } = await compose(mail);
    const from = typeof given.from === 'string' && given.from ? given.from : own.from;
    const { shown, hidden } = splitEnvelope(composed, own.to);
    const copies = planCopies(shown, hidden, config.encrypt !== undefined, state.only);
    const checked = [];
    // One verdict per recipient certificate for all the copies: the To/Cc readers' are in every copy.
    const recipientVerdicts = new Map<number, string[]>();
    for (const c of copies) {
      const { result, signers } = await evaluatePreflight(composed, config, defaultChecker, config.encrypt ? { envelope: { to: c.to }, recipientVerdicts } : {});
      options.onPreflight?.(result);
      checked.push({ copy: c.copy, to: c.to, result, signers });
    }
    if (checked.some((c) => !c.result.ok)) throw preflightCopiesError(checked, copies.length);
    // Each copy is made when it is handed over: one copy's bytes at a time beside the composed message, however many.
    for (const [i, c] of checked.entries()) copies[i]!.make = () => make(composed, c.result, c.signers);
    const messageId = checked[0]!.result.messageId ?? (typeof (message as { messageId?: unknown }).messageId === 'function' ? (message as unknown as { messageId(): string }).messageId() : '');
    state.plan = { from, messageId, copies };
  }

  /** sendEach's pass for one copy: made now from the planning pass's message and preflight, its bytes replace what nodemailer composed again. */
  async function handCopy(mail: NodemailerMail, state: SendEachState): Promise<void> {
    const message = checkedMessage(mail);
    const copy = state.copy;
    if (state.plugin !== self || !copy?.make)
      throw new MailPkiError('ERR_INVALID_INPUT', 'sendEach: this copy was planned by another mailpki plugin; nothing was sent', { details: { field: 'transporter' } });
    const to = envelopeOf(message).to.map(mailboxKey);
    if (to.length !== copy.to.length || copy.to.some((a) => !to.includes(mailboxKey(a))))
      throw new MailPkiError('ERR_INVALID_INPUT', `sendEach: the envelope of the copy ${copy.copy} is not the one it was checked for; nothing was sent`, { details: { field: 'mail.envelope' } });
    // signAndEncrypt checks the recipients again: one revoked since the preflight stops this copy (ERR_RECIPIENT_INVALID).
    const made = await copy.make();
    await made.record();
    setRaw(message, made.bytes);
    state.handed = true;
  }

  function checkedMessage(mail: NodemailerMail): NodemailerMessage & Record<string, unknown> {
    const message = mail?.message as (NodemailerMessage & Record<string, unknown>) | undefined;
    if (!message || typeof message.createReadStream !== 'function' || typeof message.setRaw !== 'function')
      throw new MailPkiError('ERR_INVALID_INPUT', "mailpkiPlugin: not a nodemailer message; register it with transporter.use('stream', …)", { details: { field: 'mail' } });
    return message;
  }

  /** The message nodemailer composed, read (bounded), with a Message-ID made here if missing, so the preflight, the audit and the sent bytes agree on it. */
  async function compose(mail: NodemailerMail): Promise<{ message: NodemailerMessage & Record<string, unknown>; composed: Uint8Array }> {
    const message = checkedMessage(mail);
    if (typeof message.messageId === 'function') (message.messageId as () => string)();
    // Read before the envelope is needed: an encrypting plugin refuses a message without one (below), after this check.
    if (config.encrypt) envelopeOf(message);
    return { message, composed: await readBounded(message.createReadStream(), maxBytes) };
  }

  /** Signs (and encrypts to the preflight's choice), DKIM-signs; `record` writes the audit when the bytes are handed over. */
  async function make(composed: Uint8Array, result: PreflightResult, signers: ResolvedSigners): Promise<{ bytes: Uint8Array; record: () => Promise<void> }> {
    let bytes: Uint8Array;
    if (options.encrypt) {
      // checkConfig refused encrypt without smime; a preflight that resolved no signer has failed above.
      if (!signers.smime || !signers.encryption) throw new MailPkiError('ERR_INVALID_INPUT', 'mailpkiPlugin: encrypt needs smime (the message is signed, then encrypted)', { details: { field: 'encrypt' } });
      const { recipients: _all, ...encryptOptions } = config.encrypt!;
      const trustAnchors = encryptOptions.trustAnchors ?? config.trustAnchors;
      const intermediates = encryptOptions.intermediates ?? config.intermediates;
      // Only this message's readers' certificates (the preflight chose them), checked again as signAndEncrypt does.
      bytes = await signAndEncrypt(composed, signers.smime.signer, signers.encryption.recipients, {
        ...smimeOptions,
        ...encryptOptions,
        ...(trustAnchors && { trustAnchors }),
        ...(intermediates && { intermediates }),
      });
    } else bytes = signers.smime ? await signMessage(composed, signers.smime.signer, smimeOptions) : composed;
    if (signers.dkim.length > 0) bytes = await signDkimMessage(bytes, signers.dkim.map((k) => ({ ...k, ...(options.preflight?.clock && { clock: options.preflight.clock }), crypto })));
    const done = bytes;
    const record = async () => {
      const s = signers.smime;
      if (!s?.manager || !s.identity) return;
      const sha256 = toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', done as Uint8Array<ArrayBuffer>)));
      await s.manager.recordSignature(s.identity, { serialNumber: s.certificate.serialNumber, ...(result.messageId && { messageId: result.messageId }), sha256 }, { actor });
    };
    return { bytes, record };
  }
}

/** The SMTP envelope nodemailer will send with; an encrypting plugin cannot tell the readers without it. */
function envelopeOf(message: NodemailerMessage): { from: string | false; to: string[] } {
  const m = message as NodemailerMessage & { getEnvelope?: () => { from?: unknown; to?: unknown } };
  const env = typeof m.getEnvelope === 'function' ? m.getEnvelope() : undefined;
  if (!env || !Array.isArray(env.to))
    throw new MailPkiError('ERR_INVALID_INPUT', 'mailpkiPlugin: the message has no SMTP envelope (getEnvelope), so who will read it cannot be told; nothing was sent', { details: { field: 'mail' } });
  return { from: typeof env.from === 'string' ? env.from : false, to: env.to.filter((a): a is string => typeof a === 'string') };
}

/**
 * Hands nodemailer the bytes to send. Reading the stream already ran the transforms and process functions registered
 * before us; the raw bytes replace the composed tree, and those stages must not run a second time over them.
 */
function setRaw(message: NodemailerMessage & Record<string, unknown>, bytes: Uint8Array): void {
  if (Array.isArray(message._transforms)) message._transforms = [];
  if (Array.isArray(message._processFuncs)) message._processFuncs = [];
  message.setRaw(bytes);
}

export type { DkimResolver };

/** The composed message, read up to `max` bytes: past it the stream is stopped and nothing more is held. */
function readBounded(stream: NodemailerReadable, max: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    let done = false;
    stream.on('data', (chunk) => {
      if (done) return;
      size += chunk.length;
      if (size > max) {
        done = true;
        chunks.length = 0;
        const err = new MailPkiError('ERR_INPUT_TOO_LARGE', `the message is larger than ${max} bytes (maxMessageBytes); it was not signed or sent`, { details: { limit: max } });
        stream.destroy(err);
        reject(err);
        return;
      }
      chunks.push(chunk);
    });
    stream.on('error', (err) => {
      if (done) return;
      done = true;
      reject(err);
    });
    stream.on('end', () => {
      if (done) return;
      done = true;
      resolve(concatBytes(chunks));
    });
  });
}
