/**
 * sendEach: one call that sends an encrypted message with Bcc recipients the way the LAMPS guidance on end-to-end
 * mail describes (a separate copy per Bcc recipient): the To/Cc copy without them, then one copy per Bcc recipient,
 * each encrypted to its own readers by the mailpki plugin on the transporter. Every copy is preflighted before the
 * first is sent; a failure part-way says exactly which copies went out.
 */
import { MailPkiError } from '../errors.js';
import { MAX_RECIPIENTS } from '../smime/recipients.js';

/** The mail data field through which sendEach and the plugin on the transporter talk (an opaque token). */
export const SEND_EACH_FIELD = 'mailpkiSendEach';

/** The part of a nodemailer transporter sendEach uses. */
export interface NodemailerTransporter {
  sendMail(mail: Record<string, unknown>): Promise<unknown>;
}

/** One copy that was handed to the transport and accepted. */
export interface SentCopy {
  /** 'main' (the To/Cc copy; every recipient's when the plugin does not encrypt) or the Bcc recipient's address. */
  copy: string;
  envelope: { from: string | false; to: string[] };
  messageId: string;
  /** What nodemailer's sendMail resolved with (accepted, rejected, response…). */
  info: Record<string, unknown>;
}

export interface SendEachResult {
  /** The Message-ID every copy carries: one message, several copies. */
  messageId: string;
  copies: SentCopy[];
}

export interface SendEachOptions {
  /**
   * After ERR_SEND_INCOMPLETE: pass its `details` to send only the copies not sent (`pending`), with the same
   * Message-ID. The state is the caller's (keep `details` where a retry can find it); nothing is remembered here.
   */
  resume?: { messageId: string; pending: readonly string[] };
}

/** A copy as the plugin planned it; `make` is the plugin's (signs and encrypts it: the bytes to send and the audit to write). */
export interface PlannedCopy {
  copy: string;
  to: string[];
  make?: () => Promise<{ bytes: Uint8Array; record: () => Promise<void> }>;
}

/** What sendEach and the plugin share for one call (kept here, keyed by the token: the token itself is empty). */
export interface SendEachState {
  mode: 'plan' | 'send';
  /** The plugin instance that answered (set by it). */
  plugin?: object;
  /** Copies to make (resume), or all. */
  only?: readonly string[];
  /** Set by the plugin in 'plan' mode. */
  plan?: { from: string | false; messageId: string; copies: PlannedCopy[] };
  /** In 'send' mode: the copy to hand over, and whether the plugin did. */
  copy?: PlannedCopy;
  handed?: boolean;
  /** The plugin ends the planning pass with this, so the transport never sends it. */
  stop: Error;
}

const states = new WeakMap<object, SendEachState>();

/** The state behind a token in mail data, undefined when there is no token; a value that is not one is ERR_INVALID_INPUT. */
export function sendEachState(data: unknown): SendEachState | undefined {
  const token = data && typeof data === 'object' ? (data as Record<string, unknown>)[SEND_EACH_FIELD] : undefined;
  if (token === undefined) return undefined;
  const state = token && typeof token === 'object' ? states.get(token) : undefined;
  if (!state) throw new MailPkiError('ERR_INVALID_INPUT', `mail.${SEND_EACH_FIELD} is set by sendEach only`, { details: { field: SEND_EACH_FIELD } });
  return state;
}

function token(state: SendEachState): object {
  const t = Object.freeze({});
  states.set(t, state);
  return t;
}

/**
 * Sends `mail` through `transporter`, whose last stream plugin is mailpkiPlugin, as separate copies when the plugin
 * encrypts: the To/Cc copy (no Bcc recipient in its envelope or RecipientInfos), then one copy per Bcc (or
 * envelope-only) recipient, each encrypted to the To/Cc readers and that recipient, all with one Message-ID. Without
 * `encrypt` it is one copy to everyone (a signature names no recipient). All copies are preflighted before the
 * first is sent: a Bcc recipient without a fit certificate stops the whole send (ERR_PREFLIGHT_FAILED with
 * `details.copies`), nothing sent. Each copy is signed and encrypted as it is handed to the transport (one copy's
 * bytes in memory at a time). A transport error on a copy, or a failure making it, stops there:
 * ERR_SEND_INCOMPLETE with `details.sent` (copies accepted, with their info), `details.pending` (the failed copy and
 * those after it) and `details.error`; `sendEach(transporter, mail, { resume: err.details })` sends the pending ones
 * only. `mail.envelope` may set `from` (and nodemailer's other envelope options), not recipients: give `bcc`.
 *
 * @example
 * transporter.use('stream', mailpkiPlugin({ smime, encrypt: { recipients: directory } }));
 * const r = await sendEach(transporter, { from, to, cc, bcc: ['auditor@example.com'], subject, text });
 * // r.copies: [{ copy: 'main', envelope, messageId, info }, { copy: 'auditor@example.com', … }]
 */
export async function sendEach(transporter: NodemailerTransporter, mailOptions: object, options: SendEachOptions = {}): Promise<SendEachResult> {
  // nodemailer's Mail.Options (an interface, so not a Record): read as plain data.
  const mail = mailOptions as Record<string, unknown>;
  if (!transporter || typeof transporter.sendMail !== 'function')
    throw new MailPkiError('ERR_INVALID_INPUT', 'sendEach: expected a nodemailer transporter', { details: { field: 'transporter' } });
  if (!mail || typeof mail !== 'object') throw new MailPkiError('ERR_INVALID_INPUT', 'sendEach: expected the mail options', { details: { field: 'mail' } });
  if (SEND_EACH_FIELD in mail) throw new MailPkiError('ERR_INVALID_INPUT', `mail.${SEND_EACH_FIELD} is set by sendEach only`, { details: { field: SEND_EACH_FIELD } });
  const envelope = mail.envelope as Record<string, unknown> | undefined;
  if (envelope !== undefined && (!envelope || typeof envelope !== 'object' || ['to', 'cc', 'bcc'].some((k) => envelope[k] !== undefined)))
    throw new MailPkiError('ERR_INVALID_INPUT', 'sendEach: mail.envelope may set from, not recipients: sendEach makes each copy\'s envelope (give bcc for hidden recipients)', { details: { field: 'mail.envelope' } });
  const resume = options?.resume;
  if (resume !== undefined && (!resume || typeof resume.messageId !== 'string' || !Array.isArray(resume.pending) || resume.pending.length === 0 || resume.pending.some((c) => typeof c !== 'string')))
    throw new MailPkiError('ERR_INVALID_INPUT', 'resume: expected the details of ERR_SEND_INCOMPLETE ({ messageId, pending })', { details: { field: 'resume' } });

  // The planning pass: the plugin composes the message, preflights every copy, and stops it (its envelope
  // has no recipient either, so a transporter without the plugin delivers nothing).
  const plan: SendEachState = { mode: 'plan', stop: new Error('mailpki sendEach: planned, not sent'), ...(resume && { only: resume.pending }) };
  const base = { ...mail, ...(resume && { messageId: resume.messageId }) };
  try {
    await transporter.sendMail({ ...base, envelope: { ...(envelope ?? {}), to: [] }, [SEND_EACH_FIELD]: token(plan) });
  } catch (e) {
    if (e !== plan.stop) {
      if (plan.plugin) throw e;
      throw new MailPkiError('ERR_INVALID_INPUT', `sendEach: the message did not reach a mailpki plugin on this transporter (${(e as Error)?.message ?? String(e)}); nothing was sent`, { details: { field: 'transporter' }, cause: e });
    }
  }
  if (!plan.plan) throw new MailPkiError('ERR_INVALID_INPUT', "sendEach: no mailpki plugin on this transporter (transporter.use('stream', mailpkiPlugin(…))); nothing was sent", { details: { field: 'transporter' } });

  const { from, messageId, copies } = plan.plan;
  const sent: SentCopy[] = [];
  for (const [i, copy] of copies.entries()) {
    const state: SendEachState = { mode: 'send', plugin: plan.plugin!, copy, stop: plan.stop };
    try {
      // bcc: undefined also keeps a transporter default bcc out; the bytes are the prepared ones anyway.
      const info = (await transporter.sendMail({ ...base, bcc: undefined, messageId, envelope: { ...(envelope ?? {}), from, to: copy.to }, [SEND_EACH_FIELD]: token(state) })) as Record<string, unknown>;
      if (!state.handed) throw new MailPkiError('ERR_INVALID_INPUT', 'sendEach: the mailpki plugin did not handle the copy (was it removed from the transporter?)', { details: { field: 'transporter' } });
      sent.push({ copy: copy.copy, envelope: { from, to: copy.to }, messageId, info });
    } catch (e) {
      const pending = copies.slice(i).map((c) => c.copy);
      const error = { copy: copy.copy, message: (e as Error)?.message ?? String(e), ...((e as { code?: unknown })?.code !== undefined && { code: String((e as { code: unknown }).code) }) };
      throw new MailPkiError(
        'ERR_SEND_INCOMPLETE',
        `sendEach: ${sent.length} of ${copies.length} copies sent (${sent.map((c) => c.copy).join(', ') || 'none'}); the copy ${copy.copy} failed (${error.message}), and ${pending.join(', ')} ${pending.length === 1 ? 'was' : 'were'} not sent; retry with { resume: err.details }`,
        { details: { messageId, sent, pending, error }, cause: e },
      );
    }
  }
  return { messageId, copies: sent };
}

/** The copies of a message: the shown recipients' copy, and each hidden one's (or one copy to all without encryption). */
export function planCopies(shown: readonly string[], hidden: readonly string[], encrypts: boolean, only: readonly string[] | undefined): PlannedCopy[] {
  const all: PlannedCopy[] = encrypts
    ? [...(shown.length > 0 ? [{ copy: 'main', to: [...shown] }] : []), ...hidden.map((a) => ({ copy: a, to: [a] }))]
    : shown.length + hidden.length > 0
      ? [{ copy: 'main', to: [...shown, ...hidden] }]
      : [];
  if (all.length === 0) throw new MailPkiError('ERR_INVALID_INPUT', 'sendEach: the message has no recipient (to, cc or bcc)', { details: { field: 'mail' } });
  if (all.length > MAX_RECIPIENTS) throw new MailPkiError('ERR_INVALID_INPUT', `sendEach: ${all.length} copies, more than MAX_RECIPIENTS (${MAX_RECIPIENTS})`, { details: { field: 'mail.bcc' } });
  if (!only) return all;
  const unknown = only.filter((c) => !all.some((x) => x.copy === c));
  if (unknown.length > 0)
    throw new MailPkiError('ERR_INVALID_INPUT', `resume: ${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not a copy of this message (its copies: ${all.map((c) => c.copy).join(', ')})`, { details: { field: 'resume' } });
  return all.filter((c) => only.includes(c.copy));
}
