/**
 * What the filter does to one message, without I/O of its own: verify S/MIME and DKIM, reduce the
 * outcome to facts for the policy, and write the one Authentication-Results field (RFC 8601) of
 * this authserv-id — `smime` per RFC 7281, `dkim` per RFC 6376 — after removing any field that
 * claims the same authserv-id (RFC 8601 §5: those are forgeries, whoever added them).
 */
import { MailPkiError } from '../errors.js';
import { checkAuthservId, claimsAuthservId, formatAuthenticationResults, type ArMethodResult } from '../internal/authentication-results.js';
import { splitMessage } from '../dkim/message.js';
import { binaryToBytes, bytesToBinary } from '../dkim/canonicalization/text.js';
import { readAuthorCandidates } from '../mime/author.js';
import { latinLookalike } from '../mime/lookalike-domain.js';
import { lowerCaseAddress } from '../internal/mailbox.js';
import { dkimArResult, type DkimVerification } from '../dkim/results.js';
import { verifyDkim, type DkimVerifyOptions } from '../dkim/verify.js';
import { verifyMessage, type VerifyMessageOptions } from '../smime/verify.js';
import type { Verdict } from '../smime/verdict.js';
import type { DispositionFacts } from './policy.js';

export interface InspectOptions {
  authservId: string;
  /** S/MIME verification (trust anchors, revocation with a shared checker, …). Absent: S/MIME not checked (smime=none). */
  smime?: VerifyMessageOptions;
  /** DKIM verification (resolver, policy). Absent: DKIM not checked. */
  dkim?: DkimVerifyOptions;
  /**
   * The envelope sender (MAIL FROM). A message without From field is given one from it by MTAs on the
   * way (Postfix's cleanup for "local" clients), so it is then an author candidate for a rule's `from`.
   */
  envelopeFrom?: string;
}

export interface SmimeOutcome {
  /** RFC 7281 result word. */
  result: 'pass' | 'fail' | 'none' | 'neutral' | 'temperror' | 'permerror';
  verdict?: Verdict;
  /** Why there is no verdict (the message was over a verification limit). */
  error?: { code: string; message: string };
}

export interface Inspection {
  smime: SmimeOutcome;
  dkim?: DkimVerification;
  /** Error from DKIM verification itself (never for what the message contains). */
  dkimError?: { code: string; message: string };
  facts: DispositionFacts;
  /** The Authentication-Results field value (without the name), the authserv-id first. */
  authenticationResults: string;
}

function errorSummary(e: unknown): { code: string; message: string } {
  return e instanceof MailPkiError ? { code: e.code, message: e.message } : { code: 'ERR_INTERNAL', message: (e as Error)?.message ?? String(e) };
}

/** RFC 7281's reading of a verdict. */
function smimeResult(v: Verdict): SmimeOutcome['result'] {
  if (v.valid) return 'pass';
  if (v.signedScope === 'none' && v.signers.length === 0 && v.problems.every((p) => p.code === 'SMIME_NOT_SIGNED')) return 'none';
  if (v.problems.some((p) => p.code === 'SMIME_REVOCATION_UNAVAILABLE')) return 'temperror';
  if (v.problems.some((p) => /^SMIME_(STRUCTURE_INVALID|CMS_MALFORMED|NESTING_TOO_DEEP|WORK_LIMIT_EXCEEDED)$/.test(p.code))) return 'permerror';
  return 'fail';
}

/** The `smime` method result with the signer's identity (RFC 7281 §3: body.smime-identifier, -serial, -issuer). */
export function smimeArResult(o: SmimeOutcome): ArMethodResult {
  const v = o.verdict;
  if (!v) return { method: 'smime', result: o.result, comment: o.error?.message ?? 'not checked' };
  const signer = v.signers.find((s) => s.ok && s.matchesFrom) ?? v.signers[0];
  const properties: [string, string][] = [];
  const identifier = signer?.matchesFrom && v.from?.address ? v.from.address : signer?.emails[0];
  if (identifier) properties.push(['body.smime-identifier', identifier]);
  if (v.signedPart) properties.push(['body.smime-part', v.signedPart.path.length ? v.signedPart.path.map((n) => n + 1).join('.') : '1']);
  if (signer?.certificate) {
    properties.push(['body.smime-serial', signer.certificate.serialNumber]);
    properties.push(['body.smime-issuer', signer.certificate.issuer]);
  }
  const comment = v.valid ? (v.warnings.length ? `valid; ${v.warnings.map((w) => w.code).join(', ')}` : 'valid') : v.problems.map((p) => p.code).join(', ');
  return { method: 'smime', result: o.result, comment, properties };
}

/** Every certificate of every signer checked and good (a policy 'off' check gives false). */
function revocationGood(v: Verdict | undefined): boolean {
  if (!v?.valid || v.signers.length === 0) return false;
  return v.signers.every((s) => (s.revocation?.length ?? 0) > 0 && s.revocation!.every((r) => r.status === 'good'));
}

/**
 * Verifies a message for the filter and writes its Authentication-Results value. Never throws for
 * what the message contains; throws ERR_INVALID_INPUT for a bad authservId.
 */
export async function inspectMessage(raw: Uint8Array, options: InspectOptions): Promise<Inspection> {
  const authservId = checkAuthservId(options.authservId);
  let smime: SmimeOutcome = { result: 'none' };
  if (options.smime) {
    try {
      const verdict = await verifyMessage(raw, options.smime);
      smime = { result: smimeResult(verdict), verdict };
    } catch (e) {
      // Over a verification limit (size, nesting): no verdict, a permanent error for this message.
      if (e instanceof MailPkiError && (e.code === 'ERR_INPUT_TOO_LARGE' || e.code === 'ERR_NESTING_TOO_DEEP' || e.code === 'ERR_MIME_MALFORMED')) smime = { result: 'permerror', error: errorSummary(e) };
      else throw e;
    }
  }
  let dkim: DkimVerification | undefined;
  let dkimError: Inspection['dkimError'];
  if (options.dkim) {
    try {
      dkim = await verifyDkim(raw, options.dkim);
    } catch (e) {
      dkimError = errorSummary(e);
    }
  }
  const methods: ArMethodResult[] = [];
  if (options.smime) methods.push(smimeArResult(smime));
  if (dkim) methods.push(...(dkim.results.length ? dkim.results.map(dkimArResult) : [{ method: 'dkim', result: 'none' }]));
  else if (dkimError) methods.push({ method: 'dkim', result: 'temperror', comment: dkimError.message });
  const from = dkim?.from ?? smime.verdict?.from?.address;
  // Every address a reader may take as the author, read by the one From reader: a rule "from
  // *@example.com" applies when any of them matches; several From fields or mailboxes align with nothing.
  const headers = splitMessage(raw).headers;
  const candidates = readAuthorCandidates(headers.filter((h) => h.key === 'from').map((h) => binaryToBytes(h.raw)));
  // A Sender is shown as the author too ("cfo@example.com on behalf of …", or alone when From is missing): its
  // addresses, read by the same reader (the field renamed From for it), count for a rule's `from` as well.
  const senders = readAuthorCandidates(headers.filter((h) => h.key === 'sender').map((h) => binaryToBytes(`From${h.raw.slice(h.raw.indexOf(':'))}`)));
  const single = !candidates.ambiguous && candidates.complete;
  // Lower-cased as the candidates are (the domain by lowerCaseDomain: toLowerCase made MAIL FROM <cfo@ΑΣ-1.gr> cfo@ας-1.gr, another domain).
  const envelope = options.envelopeFrom && !headers.some((h) => h.key === 'from') ? [lowerCaseAddress(options.envelopeFrom)] : [];
  const facts: DispositionFacts = {
    ...(from ? { from } : {}),
    fromCandidates: [...new Set([...candidates.addresses, ...senders.addresses, ...envelope])],
    fromComplete: candidates.complete && senders.complete,
    // The envelope sender too: the From an MTA adds from it is shown like any other. And each as written: a client shows
    // "cfo@НЅВС.com" in capitals, which read as HSBC where the lower-cased candidate reads as nothing Latin.
    ...lookalikesOf([...candidates.addresses, ...candidates.asWritten, ...senders.addresses, ...senders.asWritten, ...envelope, ...(envelope.length ? [options.envelopeFrom!] : [])]),
    smimeValid: single && smime.verdict?.valid === true,
    revocationGood: single && revocationGood(smime.verdict),
    // A pass that leaves a shown field (Subject, Sender, Reply-To) unsigned vouches for a message the reader does not see.
    dkimAligned: single && (dkim?.results.some((r) => r.result === 'pass' && r.aligned && !r.unsignedFields?.length) ?? false),
  };
  // Failures a retry may cure (a responder or DNS down now): the filter defers instead of rejecting.
  const v = smime.verdict;
  if (single && v && !v.valid && v.problems.length > 0 && v.problems.every((p) => p.code === 'SMIME_REVOCATION_UNAVAILABLE')) facts.smimeTemporary = true;
  const statuses = v?.valid ? v.signers.flatMap((s) => s.revocation ?? []) : [];
  if (single && statuses.some((r) => r.status === 'unchecked' && r.error !== undefined) && !statuses.some((r) => r.status === 'revoked')) facts.revocationTemporary = true;
  if (single && !facts.dkimAligned && (dkimError !== undefined || dkim?.results.some((r) => r.result === 'temperror'))) facts.dkimTemporary = true;
  return { smime, ...(dkim ? { dkim } : {}), ...(dkimError ? { dkimError } : {}), facts, authenticationResults: formatAuthenticationResults(authservId, methods) };
}

/**
 * Author candidates the reader takes for another address (latinLookalike: pay@аpple.com → pay@apple.com), for a rule's
 * `from`: the domain, and a local part with other than ASCII in it (сfo@example.com, a Cyrillic "с", → cfo@example.com),
 * read as a label is; and whether a candidate's domain is shown as such a name at all (for a rule without `from`).
 */
function lookalikesOf(addresses: readonly string[]): Pick<DispositionFacts, 'fromLookalikes' | 'fromMisleading'> {
  const reads = new Set<string>();
  let misleading = false;
  for (const a of addresses) {
    const at = a.lastIndexOf('@');
    if (at <= 0) continue;
    const [local, domain] = [a.slice(0, at), a.slice(at + 1)];
    // Every label read (everyLabel): "example.со" (a Cyrillic TLD) or "уапԁех.ru" only count when they read as a rule's domain.
    const d = latinLookalike(domain, { everyLabel: true });
    const l = /[^\x00-\x7f]/.test(local) ? latinLookalike(local, { everyLabel: true }) : undefined;
    if (d || l) reads.add(`${l ? l.reads : local}@${d ? d.reads : domain}`.toLowerCase());
    // As a client shows it (Chromium's exemptions: "уапԁех.ru" is shown as it is): for a rule with no domain to compare with.
    if (d && !misleading) misleading = latinLookalike(domain) !== undefined;
  }
  return { ...(reads.size ? { fromLookalikes: [...reads] } : {}), ...(misleading ? { fromMisleading: true } : {}) };
}

export interface RewriteOptions {
  authservId: string;
  /** The Authentication-Results value to add (from inspectMessage). */
  authenticationResults: string;
  /** More fields to add at the top, after Authentication-Results (name, value). */
  addHeaders?: [string, string][];
  /** Put before the value of every Subject field (tagging: a client may show any of several). A message without Subject gets one. */
  subjectPrefix?: string;
  /** Header field names (any case) to drop: fields only the filter writes, forged by a sender. */
  removeHeaders?: readonly string[];
}

const AR_NAME = 'authentication-results';
const MAX_LINE_OCTETS = 998;

/** A field the filter writes (one char per byte), folded at its spaces so that no line passes 998 octets where a space allows. */
function foldAtSpaces(field: string, eol: string): string {
  if (field.length <= MAX_LINE_OCTETS) return field;
  const words = field.split(' ');
  let out = words[0]!;
  let line = out.length;
  for (const word of words.slice(1)) {
    if (line + 1 + word.length > MAX_LINE_OCTETS) {
      out += `${eol} ${word}`;
      line = 1 + word.length;
    } else {
      out += ` ${word}`;
      line += 1 + word.length;
    }
  }
  return out;
}

/**
 * The message as the filter passes it on: its own Authentication-Results on top, the others that
 * claim its authserv-id removed (claimsAuthservId: name and id compared case-insensitively,
 * comments, quoting, white space, 8-bit bytes, a trailing dot and encoded words seen through), every other byte as it came — so the S/MIME and DKIM signatures still verify
 * downstream (unless a subject prefix is asked for, which changes a signed field).
 */
export function rewriteMessage(raw: Uint8Array, options: RewriteOptions): Uint8Array {
  const id = checkAuthservId(options.authservId);
  const { headers, bodyStart, bareLf } = splitMessage(raw);
  const eol = bareLf ? '\n' : '\r\n';
  const fold = (s: string) => (bareLf ? s.replace(/\r\n/g, '\n') : s);
  // The header block is built as one binary string (one char per byte) and encoded once: header
  // bytes as splitMessage gives them go back as they were; what the filter writes (the policy's
  // header values, subject prefix) is UTF-8.
  const utf8 = new TextEncoder();
  const binaryUtf8 = (t: string) => bytesToBinary(utf8.encode(t));
  let top = `${binaryUtf8(fold(`Authentication-Results: ${options.authenticationResults}`))}${eol}`;
  for (const [name, value] of options.addHeaders ?? []) top += `${foldAtSpaces(binaryUtf8(`${name}: ${value.replace(/[\r\n]+/g, ' ')}`), eol)}${eol}`;
  let subjectDone = options.subjectPrefix === undefined;
  let kept = '';
  const remove = new Set((options.removeHeaders ?? []).map((n) => n.toLowerCase()));
  for (const [i, h] of headers.entries()) {
    // A message that starts with white space starts with a line that belongs to no field: below ours it
    // would continue our Authentication-Results ("\t; dkim=pass" inside the filter's own field). It is
    // no field of the message either (RFC 5322 has none without a name), so it is not passed on.
    if (i === 0 && (h.raw.startsWith(' ') || h.raw.startsWith('\t'))) continue;
    if (h.key === AR_NAME) {
      const value = h.raw.slice(h.raw.indexOf(':') + 1);
      if (claimsAuthservId(value, id)) continue;
    }
    if (remove.has(h.key)) continue;
    if (options.subjectPrefix !== undefined && h.key === 'subject') {
      const colon = h.raw.indexOf(':');
      const rest = fold(h.raw.slice(colon + 1).replace(/^[ \t]/, ''));
      const prefix = binaryUtf8(options.subjectPrefix);
      // A first line the prefix takes past 998 octets (RFC 5322 §2.1.1) is folded after the prefix: read the same.
      const firstLine = colon + 2 + prefix.length + (rest.indexOf(eol) < 0 ? rest.length : rest.indexOf(eol));
      kept += firstLine > MAX_LINE_OCTETS ? `${h.raw.slice(0, colon + 1)} ${prefix.trimEnd()}${eol} ${rest}${eol}` : `${h.raw.slice(0, colon + 1)} ${prefix}${rest}${eol}`;
      subjectDone = true;
      continue;
    }
    kept += `${fold(h.raw)}${eol}`;
  }
  if (!subjectDone) top += `${binaryUtf8(`Subject: ${options.subjectPrefix!.trimEnd()}`)}${eol}`;
  const head = `${top}${kept}${eol}`;
  const out = new Uint8Array(head.length + raw.length - bodyStart);
  for (let i = 0; i < head.length; i++) out[i] = head.charCodeAt(i);
  out.set(raw.subarray(bodyStart), head.length);
  return out;
}
