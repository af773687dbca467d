/**
 * preflight: is the sender fit to sign this message, checked on the bytes that will be signed,
 * before anything is signed or sent. One structured result listing every check, so a dry run
 * shows all that is wrong at once; the plugin turns a failure into ERR_PREFLIGHT_FAILED.
 */
import { certificateMailboxes, parseCertificate, type Certificate } from '../certs/certificate.js';
import { validateChain } from '../certs/chain.js';
import { formatName } from '../certs/name.js';
import { domainsAlign, signDkimMessage, systemDnsResolver, verifyDkim, type DkimResolver, type DkimSignOptions } from '../dkim/index.js';
import { isMailPkiError, MailPkiError } from '../errors.js';
import { equalBytes, toBytes } from '../internal/bytes.js';
import { systemClock, type Clock } from '../internal/clock.js';
import { mailboxKey } from '../internal/mailbox.js';
import { OID } from '../internal/oids.js';
import type { DkimManager } from '../lifecycle/dkim.js';
import type { LifecycleManager } from '../lifecycle/manager.js';
import { getHeaders, parseAddressList, parseMessage, readAuthor, type MimeEntity } from '../mime/index.js';
import { RevocationChecker, type RevocationPolicy, type RevocationResult } from '../revocation/checker.js';
import { checkSender, fromDisplayWarnings, sameMailboxAs } from '../smime/sender.js';
import type { SmimeSigner } from '../smime/sign.js';
import type { EncryptMessageOptions } from '../smime/encrypt.js';
import { checkRecipients, MAX_RECIPIENTS, type SmimeRecipient } from '../smime/recipients.js';
import type { CertificateInput } from '../smime/verify.js';
import { resolveCrypto } from '../internal/crypto.js';

/** Default margin before a certificate's notAfter within which it is no longer used to sign: 7 days. */
export const DEFAULT_EXPIRY_MARGIN_MS = 7 * 86_400_000;

/** The identity manager calls the sender needs (LifecycleManager has them). */
export type GovernedSigners = Pick<LifecycleManager, 'get' | 'getSigner' | 'recordSignature'>;
/** The DKIM manager call the sender needs (DkimManager has it). */
export type GovernedDkimKeys = Pick<DkimManager, 'getSigningKeys'>;

/** Who S/MIME-signs: a signer you hold, or a governed identity (a mailbox) of a lifecycle manager. */
export type SmimeSource = { signer: SmimeSigner } | { identity: string; manager: GovernedSigners };

/**
 * Who DKIM-signs: keys you hold (each `signDkim` options: domain, selector, privateKey, …), or the
 * active keys of a DKIM manager for `domain` (default: the From domain).
 */
export type DkimSource = { keys: readonly DkimSignOptions[] } | { manager: GovernedDkimKeys; domain?: string };

export interface PreflightRevocationOptions {
  /**
   * 'hard-fail' (default): only a good answer passes; 'soft-fail': revoked fails, no answer passes
   * (and says so); 'off': not checked.
   */
  policy?: RevocationPolicy;
  /** The checker, with its cache: keep one for all messages. Default: one per plugin / call. */
  checker?: RevocationChecker;
  /** Issuer certificates to check against when the signer's chain does not hold the issuer (e.g. a root-issued certificate). */
  issuers?: readonly CertificateInput[];
}

export interface PreflightOptions {
  /** A certificate that expires within this many milliseconds fails `certificate-expiry`. Default {@link DEFAULT_EXPIRY_MARGIN_MS}. */
  expiryMarginMs?: number;
  revocation?: PreflightRevocationOptions;
  /**
   * The roots the signing certificate must chain to (as verifyMessage's `trustAnchors`: the roots your
   * recipients trust). With `smime` they are required: without them `certificate-chain` fails, because a
   * certificate from a CA nobody trusts would otherwise pass and go out as an untrusted signature. They are
   * also the recipients' anchors when `encrypt.trustAnchors` is not given.
   */
  trustAnchors?: CertificateInput[];
  /** Intermediate CA certificates to build the chain with, beside the signer's own `chain` (as verifyMessage's `intermediates`). */
  intermediates?: CertificateInput[];
  /** Looks up DKIM key records for `dkim-dns`. Default: the runtime's DNS (systemDnsResolver). */
  resolver?: DkimResolver;
  clock?: Clock;
  crypto?: Crypto;
}

/** Sign, then encrypt to these recipients (the plugin's `encrypt` option; needs `smime`). */
export type PreflightEncryption = { recipients: readonly SmimeRecipient[] } & EncryptMessageOptions;

export interface PreflightConfig extends PreflightOptions {
  smime?: SmimeSource;
  dkim?: DkimSource;
  /**
   * With it, the `encryption-recipients` check: the message's readers (To, Cc, Bcc, envelope) each have a fit
   * certificate among `recipients`, and no Bcc recipient would be disclosed (see checkEncryptionRecipients).
   */
  encrypt?: PreflightEncryption;
}

export type PreflightCheckName =
  | 'from'
  | 'identity'
  | 'certificate-validity'
  | 'certificate-expiry'
  | 'certificate-usage'
  | 'certificate-chain'
  | 'revocation'
  | 'dkim-alignment'
  | 'dkim-key'
  | 'dkim-dns'
  | 'encryption-recipients';

export interface PreflightCheck {
  check: PreflightCheckName;
  /** Passed, failed, or could not run because an earlier check left nothing to check ('skipped' counts as failed). */
  outcome: 'pass' | 'fail' | 'skipped';
  /** A sentence a person understands. */
  message: string;
}

export interface PreflightResult {
  /** True when every check passed. */
  ok: boolean;
  checks: PreflightCheck[];
  /** The failed (and skipped) checks' names. */
  failed: PreflightCheckName[];
  /** The single author of the message, when its From names one unambiguously. */
  from?: string;
  messageId?: string;
  /** The S/MIME signing certificate, when there is one. */
  certificate?: { serialNumber: string; notAfter: string; mailboxes: string[] };
  /** The revocation answer for the signing certificate (the leaf) the `revocation` check used. */
  revocation?: RevocationResult;
  /** The validated chain (leaf first, trust anchor last) as serial numbers, when `certificate-chain` passed. */
  chain?: string[];
  /** The DKIM signatures that would be made (d= and s=). */
  dkim?: { domain: string; selector: string }[];
  /**
   * The `encryption-recipients` findings: To/Cc addresses no recipient certificate names (`missing`), and
   * certificates that cannot be encrypted to (`invalid`: which one — its index in `recipients`, or 'self' for
   * encryptToSelf — the mailboxes it names, and why).
   */
  encryption?: {
    missing: string[];
    invalid: { recipient: number | 'self'; mailboxes: string[]; problems: string[] }[];
    /** Who reads this message: To, Cc, Bcc and the envelope recipients, each once. */
    readers: string[];
    /** The certificates it is encrypted to: indexes in `encrypt.recipients`, and 'self' for encryptToSelf. */
    certificates: (number | 'self')[];
  };
}

/** The SMTP envelope of one message (nodemailer's `getEnvelope()`): its recipients include Bcc, which the header does not. */
export interface PreflightEnvelope {
  to: readonly string[];
}

/** What evaluatePreflight resolved to sign with (never part of a result: it holds keys). */
export interface ResolvedSigners {
  smime?: { signer: SmimeSigner; certificate: Certificate; identity?: string; manager?: GovernedSigners };
  dkim: DkimSignOptions[];
  /** With `encrypt`, when the check passed: the certificates this message is encrypted to. */
  encryption?: EncryptionPlan;
}

/**
 * Checks, without signing or sending, whether `message` may be signed as configured: From is a
 * mailbox of the signing certificate; the certificate is valid now, not within the expiry margin,
 * usable for signing mail, chains to `trustAnchors`, and neither it nor a CA above it is revoked; a governed identity is active; every DKIM d= aligns with
 * the From domain, its key is active and DNS serves the matching record. Never throws for what the
 * message or the identities are: every finding is a check in the result.
 *
 * @example
 * const r = await preflight(bytes, { smime: { identity: 'payments@example.com', manager }, dkim: { manager: dkim } });
 * if (!r.ok) for (const c of r.checks) if (c.outcome !== 'pass') console.log(c.check, c.message);
 */
export async function preflight(message: Uint8Array | string, config: PreflightConfig, options: PreflightMessageOptions = {}): Promise<PreflightResult> {
  // Made only when the revocation check needs it and the caller gave none (it needs fetch).
  const checker = () => new RevocationChecker({ ...(config?.clock && { clock: config.clock }), ...(config?.crypto && { crypto: config.crypto }) });
  return (await evaluatePreflight(toBytes(message), config, checker, options)).result;
}

/** What the preflight knows of one message beside its bytes. */
export interface PreflightMessageOptions {
  /**
   * The SMTP envelope the message will be sent with: its recipients are readers too (Bcc is only there).
   * The plugin passes nodemailer's; without it the readers are the To, Cc and Bcc fields.
   */
  envelope?: PreflightEnvelope;
  /**
   * @internal sendEach's planning pass: the recipient certificates' verdicts (index in `encrypt.recipients` → its
   * problems), shared by the preflights of one message's copies, so each certificate is checked once per message,
   * not once per copy (the To/Cc readers' are in every Bcc copy).
   */
  recipientVerdicts?: Map<number, string[]>;
}

/** The preflight with the signers it resolved, for the plugin. */
export async function evaluatePreflight(
  bytes: Uint8Array,
  config: PreflightConfig,
  defaultChecker: RevocationChecker | (() => RevocationChecker),
  options: PreflightMessageOptions = {},
): Promise<{ result: PreflightResult; signers: ResolvedSigners }> {
  checkConfig(config);
  const env = options?.envelope as { to?: unknown } | undefined;
  if (env !== undefined && (!env || typeof env !== 'object' || !Array.isArray(env.to) || env.to.some((a) => typeof a !== 'string')))
    throw invalid('envelope', 'expected { to: [addresses] }');
  const clock = config.clock ?? systemClock;
  const now = clock();
  const checks: PreflightCheck[] = [];
  const add = (check: PreflightCheckName, outcome: PreflightCheck['outcome'], message: string) => checks.push({ check, outcome, message });
  const signers: ResolvedSigners = { dkim: [] };
  const result: Omit<PreflightResult, 'ok' | 'checks' | 'failed'> = {};

  let entity: MimeEntity | undefined;
  try {
    entity = parseMessage(bytes);
  } catch (e) {
    add('from', 'fail', `the message cannot be read: ${(e as Error).message}`);
  }
  const reading = entity ? readAuthor(entity) : undefined;
  const author = reading?.author;
  if (author) result.from = author.address;
  const messageId = entity ? getHeaders(entity, 'Message-ID')[0]?.value.trim() : undefined;
  if (messageId) result.messageId = messageId;

  if (config.smime) {
    const resolved = await resolveSmime(config.smime, add);
    if (resolved) {
      signers.smime = resolved;
      const cert = resolved.certificate;
      const mailboxes = certificateMailboxes(cert).emails;
      result.certificate = { serialNumber: cert.serialNumber, notAfter: cert.notAfter.toISOString(), mailboxes };
      checkFrom(entity, reading, mailboxes, add);
      checkValidity(cert, now, config.expiryMarginMs ?? DEFAULT_EXPIRY_MARGIN_MS, add);
      checkUsage(cert, add);
      const path = await checkChain(resolved, config, now, add);
      if (path) result.chain = path.map((c) => c.serialNumber);
      const answer = await checkRevocation(resolved, config.revocation ?? {}, now, defaultChecker, path, add);
      if (answer) result.revocation = answer;
    } else {
      for (const c of ['from', 'certificate-validity', 'certificate-expiry', 'certificate-usage', 'certificate-chain', 'revocation'] as const)
        if (!checks.some((x) => x.check === c)) add(c, 'skipped', 'no certificate to check: the identity cannot sign');
    }
  }

  if (config.encrypt) {
    const checked = await checkEncryptionRecipients(entity, config.encrypt, signers.smime?.signer, config, options.envelope, add, options.recipientVerdicts);
    if (checked) result.encryption = checked.found;
    if (checked?.plan) signers.encryption = checked.plan;
  }

  if (config.dkim) {
    const keys = await resolveDkim(config.dkim, author?.domain, add);
    if (keys) {
      signers.dkim = keys;
      result.dkim = keys.map((k) => ({ domain: k.domain.toLowerCase(), selector: k.selector.toLowerCase() }));
      const unaligned = keys.filter((k) => !domainsAlign(k.domain, author?.domain));
      if (!author) add('dkim-alignment', 'fail', `no single author in From to align d= with${reading?.problems[0] ? ` (${reading.problems[0].message})` : ''}`);
      else if (unaligned.length > 0)
        add('dkim-alignment', 'fail', `d=${unaligned.map((k) => k.domain).join(', d=')} does not align with the From domain ${author.domain}`);
      else add('dkim-alignment', 'pass', `d=${keys.map((k) => k.domain).join(', d=')} aligns with the From domain ${author.domain}`);
      await checkDkimDns(bytes, keys, config, add);
    } else if (!checks.some((x) => x.check === 'dkim-alignment')) {
      add('dkim-alignment', 'skipped', 'no DKIM key to check');
      add('dkim-dns', 'skipped', 'no DKIM key to check');
    }
  }

  if (!config.smime && !checks.some((c) => c.check === 'from')) {
    // Without S/MIME the From still has to name one author: DKIM alignment and readers depend on it.
    if (author) add('from', 'pass', `From names one author, ${author.address}`);
    else add('from', 'fail', `From names no single author${reading?.problems[0] ? `: ${reading.problems[0].message}` : ''}`);
  }

  const failed = [...new Set(checks.filter((c) => c.outcome !== 'pass').map((c) => c.check))];
  return { result: { ok: failed.length === 0, checks, failed, ...result }, signers };
}

/** The error the plugin sends back instead of the message: every failed check in one sentence. */
export function preflightError(result: PreflightResult): MailPkiError {
  return new MailPkiError('ERR_PREFLIGHT_FAILED', `not sent: the preflight failed (${failedLines(result)})`, { details: failedDetails(result) });
}

/** One copy of sendEach's: its id ('main' or the hidden recipient's address), its envelope recipients, its preflight. */
export interface CopyPreflight {
  copy: string;
  to: string[];
  result: PreflightResult;
}

/**
 * sendEach's error when the preflight of one or more copies failed (and so none was sent): each failed copy with its
 * checks in the sentence, and in `details.copies`; `details.failed` is every failed check of any copy.
 */
export function preflightCopiesError(copies: readonly CopyPreflight[], total: number): MailPkiError {
  const bad = copies.filter((c) => !c.result.ok);
  const what = (c: CopyPreflight) => (c.copy === 'main' ? `the copy to ${c.to.join(', ')}` : `the Bcc copy to ${c.copy}`);
  return new MailPkiError(
    'ERR_PREFLIGHT_FAILED',
    `not sent (none of the ${total} copies): the preflight failed for ${bad.map((c) => `${what(c)} (${failedLines(c.result)})`).join('; ')}`,
    {
      details: {
        failed: [...new Set(bad.flatMap((c) => c.result.failed))],
        ...(bad[0]?.result.messageId && { messageId: bad[0].result.messageId }),
        copies: bad.map((c) => ({ copy: c.copy, to: c.to, ...failedDetails(c.result) })),
      },
    },
  );
}

const failedLines = (result: PreflightResult) =>
  result.checks
    .filter((c) => c.outcome !== 'pass')
    .map((c) => `${c.check}: ${c.message}`)
    .join('; ');

const failedDetails = (result: PreflightResult) => ({
  failed: result.failed,
  checks: result.checks,
  ...(result.messageId && { messageId: result.messageId }),
  ...(result.encryption && { encryption: result.encryption }),
});

type Add = (check: PreflightCheckName, outcome: PreflightCheck['outcome'], message: string) => void;

function invalid(field: string, message: string): MailPkiError {
  return new MailPkiError('ERR_INVALID_INPUT', `${field}: ${message}`, { details: { field } });
}

/** Caller mistakes in the configuration throw: they are not findings about the message. */
export function checkConfig(config: PreflightConfig): void {
  if (!config || typeof config !== 'object') throw invalid('options', 'expected an object');
  if (!config.smime && !config.dkim) throw invalid('options', 'nothing to do: give smime and/or dkim');
  const s = config.smime as Record<string, unknown> | undefined;
  if (s !== undefined) {
    if (!s || typeof s !== 'object') throw invalid('smime', 'expected { signer } or { identity, manager }');
    if ('signer' in s) {
      if ('identity' in s || 'manager' in s) throw invalid('smime', 'give either { signer } or { identity, manager }, not both');
      if (!s.signer || typeof s.signer !== 'object') throw invalid('smime.signer', 'expected { key, certificate, chain? }');
    } else {
      if (typeof s.identity !== 'string' || s.identity.length === 0) throw invalid('smime.identity', 'expected a mailbox or identity id');
      const m = s.manager as Partial<GovernedSigners> | undefined;
      if (!m || typeof m.getSigner !== 'function' || typeof m.get !== 'function' || typeof m.recordSignature !== 'function')
        throw invalid('smime.manager', 'expected a LifecycleManager');
    }
  }
  const d = config.dkim as Record<string, unknown> | undefined;
  if (d !== undefined) {
    if (!d || typeof d !== 'object') throw invalid('dkim', 'expected { keys } or { manager, domain? }');
    if ('keys' in d) {
      if (!Array.isArray(d.keys) || d.keys.length === 0) throw invalid('dkim.keys', 'expected a non-empty list of DKIM signing options');
      if ('manager' in d) throw invalid('dkim', 'give either { keys } or { manager }, not both');
    } else {
      const m = d.manager as Partial<GovernedDkimKeys> | undefined;
      if (!m || typeof m.getSigningKeys !== 'function') throw invalid('dkim.manager', 'expected a DkimManager');
      if (d.domain !== undefined && typeof d.domain !== 'string') throw invalid('dkim.domain', 'expected a domain name');
    }
  }
  if (config.encrypt !== undefined) {
    const e = config.encrypt as Partial<PreflightEncryption> | null;
    if (!e || typeof e !== 'object') throw invalid('encrypt', 'expected { recipients, ...encryptMessage options }');
    if (!Array.isArray(e.recipients) || e.recipients.length === 0) throw invalid('encrypt.recipients', 'expected a non-empty list of recipient certificates');
    if (!config.smime) throw invalid('encrypt', 'encrypting needs smime: the message is signed, then encrypted');
  }
  for (const field of ['trustAnchors', 'intermediates'] as const) {
    const list = config[field] as unknown;
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw invalid(field, 'expected a list of certificates (PEM, DER or parseCertificate())');
    if (field === 'trustAnchors' && list.length === 0) throw invalid(field, 'expected at least one trust anchor');
    for (const [i, c] of list.entries()) {
      try {
        asCertificate(c as CertificateInput);
      } catch (e) {
        throw invalid(`${field}[${i}]`, `not a certificate: ${(e as Error).message}`);
      }
    }
  }
  if (config.expiryMarginMs !== undefined && (!Number.isSafeInteger(config.expiryMarginMs) || config.expiryMarginMs < 0))
    throw invalid('expiryMarginMs', 'expected whole milliseconds ≥ 0');
  const policy = config.revocation?.policy;
  if (policy !== undefined && policy !== 'off' && policy !== 'soft-fail' && policy !== 'hard-fail')
    throw invalid('revocation.policy', "expected 'off', 'soft-fail' or 'hard-fail'");
  if (config.revocation?.checker !== undefined && !(config.revocation.checker instanceof RevocationChecker) && typeof (config.revocation.checker as { check?: unknown }).check !== 'function')
    throw invalid('revocation.checker', 'expected a RevocationChecker');
}

/**
 * The configuration with its certificates parsed once (trust anchors, intermediates, recipient
 * certificates), for the plugin: each message then reads none again. An unreadable recipient
 * certificate is kept as given, for the check to report.
 */
export function parseConfigCertificates(config: PreflightConfig): PreflightConfig {
  const out: PreflightConfig = { ...config };
  if (config.trustAnchors) out.trustAnchors = config.trustAnchors.map(asCertificate);
  if (config.intermediates) out.intermediates = config.intermediates.map(asCertificate);
  if (config.encrypt) {
    const recipients = config.encrypt.recipients.map((r): SmimeRecipient => {
      const cert = recipientCertificate(r);
      if (!cert) return r;
      return r && typeof r === 'object' && !(r instanceof Uint8Array) && 'certificate' in r && !('der' in r) ? { ...r, certificate: cert } : cert;
    });
    out.encrypt = { ...config.encrypt, recipients };
    // Each message then looks up its readers instead of reading every certificate again.
    recipientIndexes.set(out.encrypt, indexRecipients(recipients));
  }
  return out;
}

/**
 * The recipient certificates by mailbox: which indexes of `encrypt.recipients` name a mailbox (its mailboxKey, as
 * certificateMailboxes reads them), and which cannot be read. Built from the list alone, so it holds no verdict:
 * fitness (validity at `at`, chain, revocation) is checked per message.
 */
interface RecipientIndex {
  byMailbox: Map<string, number[]>;
  /** The mailboxes each certificate names (none for one that cannot be read). */
  mailboxes: string[][];
  unreadable: number[];
}

/** The plugin's parsed configurations' indexes (parseConfigCertificates makes the key object, so no caller can change the list behind it). */
const recipientIndexes = new WeakMap<PreflightEncryption, RecipientIndex>();

function indexRecipients(recipients: readonly SmimeRecipient[]): RecipientIndex {
  const index: RecipientIndex = { byMailbox: new Map(), mailboxes: [], unreadable: [] };
  for (const [i, r] of recipients.entries()) {
    const cert = recipientCertificate(r);
    const emails = cert ? certificateMailboxes(cert).emails : [];
    index.mailboxes.push(emails);
    if (!cert) index.unreadable.push(i);
    for (const m of emails) {
      const k = mailboxKey(m);
      const list = index.byMailbox.get(k) ?? [];
      if (!list.includes(i)) list.push(i);
      index.byMailbox.set(k, list);
    }
  }
  return index;
}

function asCertificate(input: CertificateInput): Certificate {
  if (input && typeof input === 'object' && 'der' in input && input.der instanceof Uint8Array) return input;
  return parseCertificate(input as Uint8Array | string);
}

async function resolveSmime(source: SmimeSource, add: Add): Promise<ResolvedSigners['smime']> {
  if ('signer' in source) {
    try {
      return { signer: source.signer, certificate: asCertificate(source.signer.certificate) };
    } catch (e) {
      add('certificate-validity', 'fail', `the signer's certificate cannot be read: ${(e as Error).message}`);
      return undefined;
    }
  }
  const { identity, manager } = source;
  let record;
  try {
    record = await manager.get(identity);
  } catch (e) {
    if (!isMailPkiError(e, 'ERR_IDENTITY_NOT_FOUND')) throw e;
    add('identity', 'fail', `no identity ${identity} in the inventory`);
    return undefined;
  }
  if (record.kind !== 'smime') {
    add('identity', 'fail', `${record.id} is not an S/MIME identity`);
    return undefined;
  }
  if (record.status !== 'active') {
    add('identity', 'fail', `the identity ${record.name} is ${record.status}, not active`);
    return undefined;
  }
  // An identity enrolled for encryption only (its `use`, where the lifecycle records one) must not sign.
  if ((record as { use?: unknown }).use === 'encryption') {
    add('identity', 'fail', `the identity ${record.name} is for encryption only: its use does not allow signing`);
    return undefined;
  }
  let signer: SmimeSigner;
  try {
    signer = await manager.getSigner(record.id);
  } catch (e) {
    if (!isMailPkiError(e, 'ERR_IDENTITY_STATE')) throw e;
    if (e.details?.use === 'encryption') {
      add('identity', 'fail', e.message);
      return undefined;
    }
    add('identity', 'pass', `the identity ${record.name} is active`);
    add('certificate-validity', 'fail', e.message);
    return undefined;
  }
  add('identity', 'pass', `the identity ${record.name} is active${record.purpose ? ` (purpose: ${record.purpose})` : ''}`);
  return { signer, certificate: asCertificate(signer.certificate), identity: record.id, manager };
}

function checkFrom(entity: MimeEntity | undefined, reading: ReturnType<typeof readAuthor> | undefined, mailboxes: string[], add: Add): void {
  if (!entity || !reading) return; // already reported: the message cannot be read
  const author = reading.author;
  if (!author) {
    add('from', 'fail', `From names no single, unambiguous author: ${reading.problems.map((p) => p.message).join('; ')}`);
    return;
  }
  if (!mailboxes.some(sameMailboxAs(author.address))) {
    add('from', 'fail', `From ${author.address} is not a mailbox of the signing certificate (${mailboxes.join(', ') || 'none'})`);
    return;
  }
  // A Sender other than From shows another author beside the signed one (RFC 5322 §3.6.2).
  const sender = checkSender(entity, author.address);
  if (sender.length > 0) {
    add('from', 'fail', sender.map((p) => p.message).join('; '));
    return;
  }
  // What verifiers warn about in the From display (another address spelled with look-alikes or
  // words, bidirectional controls): a signed message must not carry it.
  const display = fromDisplayWarnings(entity);
  if (display.length > 0) {
    add('from', 'fail', display.map((w) => w.message).join('; '));
    return;
  }
  add('from', 'pass', `From ${author.address} is a mailbox of the signing certificate`);
}

function checkValidity(cert: Certificate, now: Date, marginMs: number, add: Add): void {
  const t = now.getTime();
  if (t < cert.notBefore.getTime() || t >= cert.notAfter.getTime()) {
    add('certificate-validity', 'fail', `the certificate ${cert.serialNumber} is not valid now (${cert.notBefore.toISOString()} to ${cert.notAfter.toISOString()})`);
    add('certificate-expiry', 'skipped', 'the certificate is not valid now');
    return;
  }
  add('certificate-validity', 'pass', `the certificate ${cert.serialNumber} is valid until ${cert.notAfter.toISOString()}`);
  if (cert.notAfter.getTime() - t <= marginMs)
    add('certificate-expiry', 'fail', `the certificate ${cert.serialNumber} expires ${cert.notAfter.toISOString()}, within the margin of ${Math.round(marginMs / 3_600_000)} hours: renew it first`);
  else add('certificate-expiry', 'pass', `more than ${Math.round(marginMs / 3_600_000)} hours before expiry`);
}

/** The certificate's own statement of what its key is for (RFC 5280 §4.2.1.3, §4.2.1.12; RFC 8550 §4.4). */
function checkUsage(cert: Certificate, add: Add): void {
  const ku = cert.keyUsage;
  if (ku && !ku.includes('digitalSignature') && !ku.includes('nonRepudiation')) {
    add('certificate-usage', 'fail', `the certificate's keyUsage (${ku.join(', ')}) does not allow signing`);
    return;
  }
  const eku = cert.extKeyUsage;
  if (eku && !eku.includes(OID.idKpEmailProtection) && !eku.includes(OID.anyExtendedKeyUsage)) {
    add('certificate-usage', 'fail', "the certificate's extendedKeyUsage does not include emailProtection");
    return;
  }
  add('certificate-usage', 'pass', 'the certificate allows signing mail');
}

/**
 * `certificate-chain`: the signing certificate chains, at `now`, to one of the caller's trust anchors,
 * through its own chain and `intermediates`, as a verifier builds it (validateChain, purpose
 * smime-signing: every certificate's dates, signatures, CA constraints, key usage). Returns the path.
 */
async function checkChain(resolved: NonNullable<ResolvedSigners['smime']>, config: PreflightConfig, now: Date, add: Add): Promise<Certificate[] | undefined> {
  if (!config.trustAnchors) {
    add('certificate-chain', 'fail', 'no trust anchors given (trustAnchors): the chain of the signing certificate cannot be validated, so a certificate from a CA your recipients do not trust would pass');
    return undefined;
  }
  let anchors: Certificate[];
  let pool: Certificate[];
  try {
    anchors = config.trustAnchors.map(asCertificate);
    pool = [...(resolved.signer.chain ?? []), ...(config.intermediates ?? []), ...(config.revocation?.issuers ?? [])].map(asCertificate);
  } catch (e) {
    add('certificate-chain', 'fail', `a certificate of the signer's chain cannot be read: ${(e as Error).message}`);
    return undefined;
  }
  const chain = await validateChain(resolved.certificate, { trustAnchors: anchors, intermediates: pool, at: now, purpose: 'smime-signing', crypto: resolveCrypto(config.crypto) });
  if (!chain.ok) {
    add('certificate-chain', 'fail', `the certificate ${resolved.certificate.serialNumber} does not chain to a trust anchor: ${chain.problems.map((p) => `${p.code}: ${p.message}`).join('; ')}`);
    return undefined;
  }
  add('certificate-chain', 'pass', `the certificate chains to the trust anchor ${formatName(chain.path[chain.path.length - 1]!.subject)} (${chain.path.length} certificate(s))`);
  return chain.path;
}

async function checkRevocation(
  resolved: NonNullable<ResolvedSigners['smime']>,
  options: PreflightRevocationOptions,
  now: Date,
  defaultChecker: RevocationChecker | (() => RevocationChecker),
  path: Certificate[] | undefined,
  add: Add,
): Promise<RevocationResult | undefined> {
  const policy = options.policy ?? 'hard-fail';
  if (policy === 'off') {
    add('revocation', 'pass', 'revocation not checked (policy off)');
    return undefined;
  }
  const checker = options.checker ?? (typeof defaultChecker === 'function' ? defaultChecker() : defaultChecker);
  if (path) return checkPathRevocation(checker, path, policy, now, add);
  // No validated chain (already a failed check): the leaf is still checked, so a revoked certificate is named.
  const leaf = resolved.certificate;
  let issuer: Certificate | undefined;
  try {
    const candidates = [...(resolved.signer.chain ?? []), ...(options.issuers ?? [])].map(asCertificate);
    issuer = candidates.find((c) => equalBytes(c.subject.der, leaf.issuer.der));
  } catch (e) {
    add('revocation', 'fail', `an issuer certificate cannot be read: ${(e as Error).message}`);
    return undefined;
  }
  if (!issuer) {
    add('revocation', 'fail', `the issuer of the certificate ${leaf.serialNumber} is not in the chain nor in revocation.issuers: its status cannot be checked`);
    return undefined;
  }
  const answer = await checker.check(leaf, issuer, now);
  if (answer.status === 'good') add('revocation', 'pass', `the certificate ${leaf.serialNumber} is good (${answer.method ?? '?'}${answer.source === 'cache' ? ', cached' : ''})`);
  else if (answer.status === 'revoked')
    add('revocation', 'fail', `the certificate ${leaf.serialNumber} is revoked${answer.reason ? ` (${answer.reason})` : ''}${answer.revokedAt ? ` since ${answer.revokedAt}` : ''}`);
  else if (policy === 'soft-fail')
    add('revocation', 'pass', `the status of the certificate ${leaf.serialNumber} is ${answer.status} (${answer.error ?? (answer.noSources ? 'no sources' : 'no answer')}); soft-fail lets it pass`);
  else
    add('revocation', 'fail', `the status of the certificate ${leaf.serialNumber} is ${answer.status} (${answer.error ?? (answer.noSources ? 'the certificate names no OCSP responder or CRL' : 'no answer')}); hard-fail needs good`);
  return answer;
}

/** Every certificate of the validated path but the anchor, each against its issuer: an intermediate revoked is as bad as the leaf revoked. */
async function checkPathRevocation(checker: RevocationChecker, path: Certificate[], policy: RevocationPolicy, now: Date, add: Add): Promise<RevocationResult | undefined> {
  // Each certificate against the next (as RevocationChecker.checkPath), through `check` so a checker of that shape alone works.
  const answers = await Promise.all(path.slice(0, -1).map((c, i) => checker.check(c, path[i + 1]!, now)));
  const bad: string[] = [];
  const soft: string[] = [];
  for (const a of answers) {
    const what = a === answers[0] ? `the certificate ${a.serialNumber}` : `the CA certificate ${a.subject} (${a.serialNumber})`;
    if (a.status === 'revoked') bad.push(`${what} is revoked${a.reason ? ` (${a.reason})` : ''}${a.revokedAt ? ` since ${a.revokedAt}` : ''}`);
    else if (a.status !== 'good') {
      const why = `${what}: ${a.status} (${a.error ?? (a.noSources ? 'the certificate names no OCSP responder or CRL' : 'no answer')})`;
      if (policy === 'soft-fail') soft.push(why);
      else bad.push(`${why}; hard-fail needs good`);
    }
  }
  const leaf = answers[0];
  if (bad.length > 0) add('revocation', 'fail', bad.join('; '));
  else if (soft.length > 0) add('revocation', 'pass', `soft-fail lets it pass: ${soft.join('; ')}`);
  else add('revocation', 'pass', `the certificate ${leaf?.serialNumber ?? ''} and its CA certificates are good (${answers.map((a) => `${a.method ?? '?'}${a.source === 'cache' ? ', cached' : ''}`).join('; ')})`);
  return leaf;
}

async function resolveDkim(source: DkimSource, fromDomain: string | undefined, add: Add): Promise<DkimSignOptions[] | undefined> {
  if ('keys' in source) {
    add('dkim-key', 'pass', `${source.keys.length} DKIM key(s) given by the caller`);
    return [...source.keys];
  }
  const domain = source.domain ?? fromDomain;
  if (!domain) {
    add('dkim-key', 'fail', 'no domain to take DKIM keys for: From names no single author and no dkim.domain is set');
    return undefined;
  }
  try {
    const keys = await source.manager.getSigningKeys(domain);
    add('dkim-key', 'pass', `active DKIM key(s) of ${domain}: ${keys.map((k) => k.selector).join(', ')}`);
    return keys.map((k) => ({ domain: k.domain, selector: k.selector, privateKey: k.privateKey, algorithm: k.algorithm }));
  } catch (e) {
    if (!isMailPkiError(e, 'ERR_IDENTITY_STATE') && !isMailPkiError(e, 'ERR_IDENTITY_NOT_FOUND')) throw e;
    add('dkim-key', 'fail', e.message);
    return undefined;
  }
}

/**
 * Signs the message with every key and verifies the result against DNS: a pass for each d=/s=
 * proves the record DNS serves is the public half of the key that will sign.
 */
async function checkDkimDns(bytes: Uint8Array, keys: DkimSignOptions[], config: PreflightConfig, add: Add): Promise<void> {
  const resolver = config.resolver ?? systemDnsResolver();
  if (!resolver) {
    add('dkim-dns', 'fail', 'no DNS resolver to compare the DKIM records with (pass `resolver`)');
    return;
  }
  const clock = config.clock;
  const probe = await signDkimMessage(bytes, keys.map((k) => ({ ...k, ...(clock && { clock }), ...(config.crypto && { crypto: config.crypto }) })));
  const v = await verifyDkim(probe, { resolver, ...(clock && { clock }), ...(config.crypto && { crypto: config.crypto }) });
  const bad: string[] = [];
  // The probe's signatures come first, in key order (signDkimMessage prepends them).
  for (const [i, k] of keys.entries()) {
    const r = v.results[i];
    if (!r || r.domain !== k.domain.toLowerCase() || r.selector !== k.selector.toLowerCase() || r.result !== 'pass') bad.push(`${k.selector}._domainkey.${k.domain}: ${r ? `${r.result} (${r.reason})` : 'no result'}`);
  }
  if (bad.length > 0) add('dkim-dns', 'fail', `DNS does not serve the record of the signing key: ${bad.join('; ')}`);
  else add('dkim-dns', 'pass', `DNS serves the record of each signing key (${keys.map((k) => `${k.selector}._domainkey.${k.domain}`).join(', ')})`);
}

/** A recipient certificate, or none when it cannot be read (then it is reported as invalid). */
function recipientCertificate(r: SmimeRecipient): Certificate | undefined {
  try {
    const input = r && typeof r === 'object' && !(r instanceof Uint8Array) && 'certificate' in r && !('der' in r) ? r.certificate : (r as CertificateInput);
    return asCertificate(input);
  } catch {
    return undefined;
  }
}

/** Most addresses a check's sentence spells out (the result lists them all). */
const MAX_LISTED_ADDRESSES = 20;

function listed(addresses: readonly string[]): string {
  if (addresses.length <= MAX_LISTED_ADDRESSES) return addresses.join(', ');
  return `${addresses.slice(0, MAX_LISTED_ADDRESSES).join(', ')} and ${addresses.length - MAX_LISTED_ADDRESSES} more`;
}

/** The mailboxes of the To/Cc (shown) and Bcc fields; an unreadable field is ERR_INVALID_INPUT. */
function addressesOf(entity: MimeEntity, fields: readonly string[]): string[] {
  const out: string[] = [];
  for (const field of fields)
    for (const h of getHeaders(entity, field)) {
      const list = parseAddressList(h.value);
      if (list.errors.length > 0)
        throw new MailPkiError('ERR_INVALID_INPUT', `the ${field} field cannot be read (${list.errors[0]}), so the recipients cannot be checked`, { details: { field: 'message' } });
      for (const m of list.mailboxes) out.push(m.address);
    }
  return out;
}

/**
 * Who reads a message: its To and Cc mailboxes (shown), then its Bcc field's and the envelope's that the header does
 * not show (hidden), each once by mailboxKey. An unreadable address field is ERR_INVALID_INPUT.
 */
function readersOf(entity: MimeEntity, envelopeTo: readonly string[]): { readers: string[]; shown: string[]; hidden: string[] } {
  const shownFields = addressesOf(entity, ['To', 'Cc']);
  const bcc = addressesOf(entity, ['Bcc']);
  const readers: string[] = [];
  const seen = new Set<string>();
  for (const a of [...shownFields, ...bcc, ...envelopeTo]) {
    const k = mailboxKey(a);
    if (seen.has(k)) continue;
    seen.add(k);
    readers.push(a);
  }
  const shownKeys = new Set(shownFields.map(mailboxKey));
  return { readers, shown: readers.filter((a) => shownKeys.has(mailboxKey(a))), hidden: readers.filter((a) => !shownKeys.has(mailboxKey(a))) };
}

/**
 * The copies sendEach sends of a composed message with its SMTP recipients `envelopeTo`: the envelope recipients the
 * To/Cc fields show, and each hidden one (Bcc, envelope-only) alone, as the `encryption-recipients` check tells them
 * apart. A message that cannot be read or an unreadable address field is ERR_INVALID_INPUT.
 */
export function splitEnvelope(bytes: Uint8Array, envelopeTo: readonly string[]): { shown: string[]; hidden: string[] } {
  let entity: MimeEntity;
  try {
    entity = parseMessage(bytes);
  } catch (e) {
    throw new MailPkiError('ERR_INVALID_INPUT', `the message cannot be read (${(e as Error).message}), so its recipients cannot be told apart`, { details: { field: 'message' }, cause: e });
  }
  const { shown, hidden } = readersOf(entity, envelopeTo);
  const shownKeys = new Set(shown.map(mailboxKey));
  const hiddenKeys = new Set(hidden.map(mailboxKey));
  // The envelope's own spelling of each address (nodemailer's, A-labels), in its order.
  const seen = new Set<string>();
  const pick = (keys: Set<string>) => envelopeTo.filter((a) => keys.has(mailboxKey(a)) && !seen.has(mailboxKey(a)) && seen.add(mailboxKey(a)));
  return { shown: pick(shownKeys), hidden: pick(hiddenKeys) };
}

/** Per message: who will read it (readers) and which configured certificates it is encrypted to. */
export interface EncryptionPlan {
  /** The configured recipient certificates (`encrypt.recipients`) this message is encrypted to, fit ones only. */
  recipients: SmimeRecipient[];
}

/**
 * `encryption-recipients`, per message. The readers are the To and Cc mailboxes, the Bcc mailboxes (a
 * Bcc field, when the message keeps one) and the envelope recipients (nodemailer's RCPT TO: Bcc is only
 * there). `encrypt.recipients` is the set of certificates to choose from: the message is encrypted to
 * those that name one of its readers, so a certificate holder the message is not addressed to cannot
 * open it; every reader needs at least one fit certificate (validity at `at`, chain to the trust
 * anchors, key usage, revocation — as signAndEncrypt checks them), and encryptToSelf's must be fit too.
 *
 * A reader the message does not show (Bcc, or an envelope-only recipient) would be disclosed to the
 * others: every recipient of an encrypted message can list the RecipientInfos, each naming a
 * certificate (its issuer and serial). So a hidden reader is refused unless it is the only recipient
 * of this copy (the envelope holds exactly that address): send each Bcc recipient a copy of its own.
 */
async function checkEncryptionRecipients(
  entity: MimeEntity | undefined,
  encrypt: PreflightEncryption,
  signer: SmimeSigner | undefined,
  config: PreflightConfig,
  envelope: PreflightEnvelope | undefined,
  add: Add,
  verdicts: Map<number, string[]> = new Map(),
): Promise<{ found: NonNullable<PreflightResult['encryption']>; plan?: EncryptionPlan } | undefined> {
  if (!entity) {
    add('encryption-recipients', 'skipped', 'the message cannot be read, so its recipients cannot be checked');
    return undefined;
  }
  let readers: string[];
  let hidden: string[];
  try {
    ({ readers, hidden } = readersOf(entity, envelope?.to ?? []));
  } catch (e) {
    if (!isMailPkiError(e, 'ERR_INVALID_INPUT')) throw e;
    add('encryption-recipients', 'fail', e.message);
    return { found: { missing: [], invalid: [], readers: [], certificates: [] } };
  }
  const envelopeKeys = new Set((envelope?.to ?? []).map(mailboxKey));
  // The copy of one hidden reader: delivered to that address alone, so nobody else sees the RecipientInfos.
  const ownCopy = hidden.length === 1 && envelopeKeys.size === 1 && envelopeKeys.has(mailboxKey(hidden[0]!));
  const findings: string[] = [];
  if (hidden.length > 0 && !ownCopy)
    findings.push(
      `${listed(hidden)} ${hidden.length === 1 ? 'is a Bcc (or envelope-only) recipient' : 'are Bcc (or envelope-only) recipients'}: an encrypted message names the certificate of every recipient, so the others would see ${hidden.length === 1 ? 'it' : 'them'}; send each Bcc recipient a copy of its own (envelope: { to: that address })`,
    );
  if (readers.length === 0) {
    add('encryption-recipients', 'fail', 'the message has no recipient (To, Cc, Bcc or envelope) to encrypt to');
    return { found: { missing: [], invalid: [], readers, certificates: [] } };
  }
  if (readers.length > MAX_RECIPIENTS) {
    add('encryption-recipients', 'fail', `${readers.length} recipients, more than MAX_RECIPIENTS (${MAX_RECIPIENTS})`);
    return { found: { missing: [], invalid: [], readers, certificates: [] } };
  }

  const options = {
    ...(encrypt.keyTransport && { keyTransport: encrypt.keyTransport }),
    ...(encrypt.at && { at: encrypt.at }),
    ...((encrypt.trustAnchors ?? config.trustAnchors) && { trustAnchors: (encrypt.trustAnchors ?? config.trustAnchors)! }),
    ...((encrypt.intermediates ?? config.intermediates) && { intermediates: (encrypt.intermediates ?? config.intermediates)! }),
    ...(encrypt.revocation && { revocation: encrypt.revocation }),
    ...(encrypt.allowWeakAlgorithms !== undefined && { allowWeakAlgorithms: encrypt.allowWeakAlgorithms }),
    crypto: resolveCrypto(encrypt.crypto ?? config.crypto),
    ...((encrypt.clock ?? config.clock) && { clock: (encrypt.clock ?? config.clock)! }),
  };
  const invalidOnes: NonNullable<PreflightResult['encryption']>['invalid'] = [];
  /** Checks one certificate as signAndEncrypt would; its problems, or none when fit. */
  const problemsOf = async (r: SmimeRecipient): Promise<string[]> => {
    try {
      await checkRecipients([r], options);
      return [];
    } catch (e) {
      if (isMailPkiError(e, 'ERR_RECIPIENT_INVALID')) return (e.details?.problems as string[] | undefined) ?? [e.message];
      // Checked one by one: the message's own "recipients[0]" would name the wrong one.
      if (isMailPkiError(e, 'ERR_INVALID_INPUT') || isMailPkiError(e, 'ERR_CERT_MALFORMED')) return [e.message.replace(/^recipients\[0\](\[0\])?: /, '')];
      throw e;
    }
  };

  // Which configured certificates name which mailbox (an unreadable one names none and is reported): the plugin's
  // index, made once; a dry run's, made here.
  const index = recipientIndexes.get(encrypt) ?? indexRecipients(encrypt.recipients);
  for (const i of index.unreadable) invalidOnes.push({ recipient: i, mailboxes: [], problems: await problemsOf(encrypt.recipients[i]!) });
  const chosen = new Set<number>();
  const missing: string[] = [];
  for (const reader of readers) {
    const candidates = index.byMailbox.get(mailboxKey(reader)) ?? [];
    if (candidates.length === 0) {
      missing.push(reader);
      continue;
    }
    const fit: number[] = [];
    for (const i of candidates) {
      if (!verdicts.has(i)) verdicts.set(i, await problemsOf(encrypt.recipients[i]!));
      if (verdicts.get(i)!.length === 0) fit.push(i);
    }
    // Every fit certificate of the reader (several devices or a renewal overlap); unfit ones are not used.
    if (fit.length > 0) for (const i of fit) chosen.add(i);
    else
      for (const i of candidates)
        if (!invalidOnes.some((x) => x.recipient === i))
          invalidOnes.push({ recipient: i, mailboxes: index.mailboxes[i]!, problems: verdicts.get(i)! });
  }
  const self = encrypt.encryptToSelf === true ? signer?.certificate : encrypt.encryptToSelf || undefined;
  if (self !== undefined) {
    const problems = await problemsOf(self);
    if (problems.length > 0) invalidOnes.push({ recipient: 'self', mailboxes: recipientCertificate(self) ? certificateMailboxes(recipientCertificate(self)!).emails : [], problems });
  }
  const certificates: (number | 'self')[] = [...[...chosen].sort((a, b) => a - b), ...(self !== undefined ? (['self'] as const) : [])];

  if (missing.length > 0) findings.push(`no recipient certificate names ${listed(missing)}: they could not read the message`);
  for (const i of invalidOnes)
    findings.push(`${i.recipient === 'self' ? 'the encryptToSelf certificate' : `recipient ${i.recipient}`}${i.mailboxes.length ? ` (${i.mailboxes.join(', ')})` : ''} cannot be encrypted to: ${i.problems.join('; ')}`);
  const found = { missing, invalid: invalidOnes, readers, certificates };
  if (findings.length > 0) {
    add('encryption-recipients', 'fail', findings.join('; '));
    return { found };
  }
  add(
    'encryption-recipients',
    'pass',
    `encrypted for the ${readers.length} recipient(s) of this message only (${listed(readers)}): ${chosen.size} certificate(s)${self !== undefined ? ' and the sender\'s own' : ''}, each fit`,
  );
  return { found, plan: { recipients: [...chosen].sort((a, b) => a - b).map((i) => encrypt.recipients[i]!) } };
}
