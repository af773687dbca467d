/**
 * mailpki/nodemailer: a nodemailer 'stream' plugin that S/MIME-signs, then DKIM-signs, each message
 * from keys you hold or from governed identities, after a preflight; the signed bytes are the bytes
 * sent. nodemailer is not imported: the plugin speaks its documented plugin interface
 * (https://nodemailer.com/plugins/), so nodemailer stays an optional peer dependency.
 */
import { signDkimMessage, type DkimResolver } from '../dkim/index.js';
import { MailPkiError } from '../errors.js';
import { concatBytes, toHex } from '../internal/bytes.js';
import { resolveCrypto } from '../internal/crypto.js';
import { DEFAULT_MIME_LIMITS } from '../mime/limits.js';
import { RevocationChecker } from '../revocation/checker.js';
import { signMessage, type SignMessageOptions } from '../smime/sign.js';
import { signAndEncrypt, type EncryptMessageOptions } from '../smime/encrypt.js';
import type { SmimeRecipient } from '../smime/recipients.js';
import { checkConfig, evaluatePreflight, preflightError, type DkimSource, type PreflightOptions, type PreflightResult, type SmimeSource } from './preflight.js';

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
  /** S/MIME signing: `{ signer }` (a key and certificate you hold) or `{ identity, manager }` (a governed mailbox). */
  smime?: SmimeSource & { options?: Pick<SignMessageOptions, 'opaque' | 'digest' | 'rsaPadding'> };
  /** DKIM signing over the final bytes: `{ keys }` or `{ manager, domain? }` (the DKIM manager's active keys). */
  dkim?: DkimSource;
  /**
   * Sign, then encrypt to these recipients' certificates (signAndEncrypt: AES-256-GCM, RSA-OAEP/ECDH, RFC 9788
   * header protection), then DKIM-sign. Needs `smime`. The preflight's `encryption-recipients` check wants every
   * To/Cc address named by a recipient certificate, and every certificate fit (validity, chain to `trustAnchors`,
   * key usage, revocation) as signAndEncrypt checks them; a failure is ERR_PREFLIGHT_FAILED with the other failed
   * checks, before anything is signed or sent.
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
 *   preflight: { revocation: { policy: 'hard-fail', checker } },
 * }));
 */
export function mailpkiPlugin(options: MailpkiPluginOptions): NodemailerStreamPlugin {
  if (!options || typeof options !== 'object') throw new MailPkiError('ERR_INVALID_INPUT', 'mailpkiPlugin: options are required', { details: { field: 'options' } });
  const config = { ...(options.preflight ?? {}), ...(options.smime && { smime: options.smime }), ...(options.dkim && { dkim: options.dkim }), ...(options.encrypt && { encrypt: options.encrypt }) };
  checkConfig(config);
  if (options.actor !== undefined && (typeof options.actor !== 'string' || options.actor.length === 0))
    throw new MailPkiError('ERR_INVALID_INPUT', 'actor: expected a non-empty string', { details: { field: 'actor' } });
  const actor = options.actor ?? 'mailpki:nodemailer';
  const maxBytes = options.maxMessageBytes ?? MAX_PLUGIN_MESSAGE_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0 || maxBytes > MAX_PLUGIN_MESSAGE_BYTES)
    throw new MailPkiError('ERR_INVALID_INPUT', `maxMessageBytes: expected whole bytes from 1 to ${MAX_PLUGIN_MESSAGE_BYTES}`, { details: { field: 'maxMessageBytes' } });
  const crypto = resolveCrypto(options.preflight?.crypto);
  // One checker for every message, so its cache serves them all.
  let checker: RevocationChecker | undefined;
  const defaultChecker = () => (checker ??= new RevocationChecker({ ...(options.preflight?.clock && { clock: options.preflight.clock }), crypto }));
  const smimeOptions: SignMessageOptions = {
    ...(options.smime?.options ?? {}),
    ...(options.preflight?.clock && { clock: options.preflight.clock }),
    crypto,
  };

  return (mail, callback) => {
    signMail(mail).then(
      () => callback(),
      (e: unknown) => callback(e instanceof Error ? e : new Error(String(e))),
    );
  };

  async function signMail(mail: NodemailerMail): Promise<void> {
    const message = mail?.message as (NodemailerMessage & Record<string, unknown>) | undefined;
    if (!message || typeof message.createReadStream !== 'function' || typeof message.setRaw !== 'function')
      throw new MailPkiError('ERR_INVALID_INPUT', "mailpkiPlugin: not a nodemailer message; register it with transporter.use('stream', …)", { details: { field: 'mail' } });
    // Message-ID is made here if missing, so the preflight, the audit and the sent bytes agree on it.
    if (typeof message.messageId === 'function') (message.messageId as () => string)();
    const composed = await readBounded(message.createReadStream(), maxBytes);
    const { result, signers } = await evaluatePreflight(composed, config, defaultChecker);
    options.onPreflight?.(result);
    if (!result.ok) throw preflightError(result);

    let bytes: Uint8Array;
    if (options.encrypt) {
      // checkConfig refused encrypt without smime; a preflight that resolved no signer has failed above.
      if (!signers.smime) throw new MailPkiError('ERR_INVALID_INPUT', 'mailpkiPlugin: encrypt needs smime (the message is signed, then encrypted)', { details: { field: 'encrypt' } });
      const { recipients, ...encryptOptions } = options.encrypt;
      bytes = await signAndEncrypt(composed, signers.smime.signer, recipients, { ...smimeOptions, ...encryptOptions });
    } else bytes = signers.smime ? await signMessage(composed, signers.smime.signer, smimeOptions) : composed;
    if (signers.dkim.length > 0) bytes = await signDkimMessage(bytes, signers.dkim.map((k) => ({ ...k, ...(options.preflight?.clock && { clock: options.preflight.clock }), crypto })));

    const s = signers.smime;
    if (s?.manager && s.identity) {
      const sha256 = toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)));
      await s.manager.recordSignature(s.identity, { serialNumber: s.certificate.serialNumber, ...(result.messageId && { messageId: result.messageId }), sha256 }, { actor });
    }
    // Reading the stream already ran the transforms and process functions registered before us; the raw
    // bytes replace the composed tree, and those stages must not run a second time over them.
    if (Array.isArray(message._transforms)) message._transforms = [];
    if (Array.isArray(message._processFuncs)) message._processFuncs = [];
    message.setRaw(bytes);
  }
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
