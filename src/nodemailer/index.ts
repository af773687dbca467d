/**
 * mailpki/nodemailer: a nodemailer 'stream' plugin that S/MIME-signs, then DKIM-signs, each message
 * from keys you hold or from governed identities, after a preflight; the signed bytes are the bytes
 * sent. nodemailer is not imported: the plugin speaks its documented plugin interface
 * (https://nodemailer.com/plugins/), so nodemailer stays an optional peer dependency.
 */
import { signDkimMessage, type DkimResolver } from '../dkim/index.js';
import { MailPkiError } from '../errors.js';
import { toHex } from '../internal/bytes.js';
import { resolveCrypto } from '../internal/crypto.js';
import { RevocationChecker } from '../revocation/checker.js';
import { signMessage, type SignMessageOptions } from '../smime/sign.js';
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
  type PreflightOptions,
  type PreflightResult,
  type PreflightRevocationOptions,
  type SmimeSource,
} from './preflight.js';

/** The part of nodemailer's MimeNode (mail.message) the plugin uses. */
export interface NodemailerMessage {
  build(): Promise<Uint8Array>;
  setRaw(raw: Uint8Array): unknown;
}

/** The part of nodemailer's MailMessage (the plugin's first argument) the plugin uses. */
export interface NodemailerMail {
  message: NodemailerMessage;
}

/** nodemailer's stream plugin shape: `transporter.use('stream', plugin)`. */
export type NodemailerStreamPlugin = (mail: NodemailerMail, callback: (err?: Error | null) => void) => void;

export interface MailpkiPluginOptions {
  /** S/MIME signing: `{ signer }` (a key and certificate you hold) or `{ identity, manager }` (a governed mailbox). */
  smime?: SmimeSource & { options?: Pick<SignMessageOptions, 'opaque' | 'digest' | 'rsaPadding'> };
  /** DKIM signing over the final bytes: `{ keys }` or `{ manager, domain? }` (the DKIM manager's active keys). */
  dkim?: DkimSource;
  /** Preflight settings (expiry margin, revocation policy and checker, DNS resolver, clock). The preflight always runs. */
  preflight?: PreflightOptions;
  /** Who the audit trail names for `message.signed` (default 'mailpki:nodemailer'). */
  actor?: string;
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
  const config = { ...(options.preflight ?? {}), ...(options.smime && { smime: options.smime }), ...(options.dkim && { dkim: options.dkim }) };
  checkConfig(config);
  if (options.actor !== undefined && (typeof options.actor !== 'string' || options.actor.length === 0))
    throw new MailPkiError('ERR_INVALID_INPUT', 'actor: expected a non-empty string', { details: { field: 'actor' } });
  const actor = options.actor ?? 'mailpki:nodemailer';
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
    if (!message || typeof message.build !== 'function' || typeof message.setRaw !== 'function')
      throw new MailPkiError('ERR_INVALID_INPUT', "mailpkiPlugin: not a nodemailer message; register it with transporter.use('stream', …)", { details: { field: 'mail' } });
    // Message-ID is made here if missing, so the preflight, the audit and the sent bytes agree on it.
    if (typeof message.messageId === 'function') (message.messageId as () => string)();
    const composed = await message.build();
    const { result, signers } = await evaluatePreflight(composed, config, defaultChecker);
    options.onPreflight?.(result);
    if (!result.ok) throw preflightError(result);

    let bytes = signers.smime ? await signMessage(composed, signers.smime.signer, smimeOptions) : composed;
    if (signers.dkim.length > 0) bytes = await signDkimMessage(bytes, signers.dkim.map((k) => ({ ...k, ...(options.preflight?.clock && { clock: options.preflight.clock }), crypto })));

    const s = signers.smime;
    if (s?.manager && s.identity) {
      const sha256 = toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)));
      await s.manager.recordSignature(s.identity, { serialNumber: s.certificate.serialNumber, ...(result.messageId && { messageId: result.messageId }), sha256 }, { actor });
    }
    // build() already ran the transforms and process functions registered before us; the raw
    // bytes replace the composed tree, and those stages must not run a second time over them.
    if (Array.isArray(message._transforms)) message._transforms = [];
    if (Array.isArray(message._processFuncs)) message._processFuncs = [];
    message.setRaw(bytes);
  }
}

export type { DkimResolver };
