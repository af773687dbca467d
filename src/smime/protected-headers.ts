/**
 * Header protection (RFC 8551 §3.1). When a signed entity is itself a message (message/rfc822 or
 * message/global, with or without the `forwarded=no` of RFC 9788's wrapped-message form), clients
 * that follow §3.1 show that wrapped message as the message: its header fields (From, To, Subject,
 * ...) are the protected ones, and the outer fields are only what other clients show. A signed entity
 * that is not a message may carry such fields too (RFC 9788 injected headers, or an OpenSSL-signed
 * whole message); some clients show those. Either way the two views must not disagree unnoticed.
 */
import { decodeEncodedWords, getHeaders, parseAddressList, walkEntities, type MimeEntity } from '../mime/index.js';
import { mailboxKey } from '../internal/mailbox.js';
import { concatBytes, latin1, utf8 } from '../internal/bytes.js';
import type { SmimeProblem, SmimeWarning } from './verdict.js';

/** A message wrapped in a signed entity; the signatures of layers 0..`layer` cover its header fields. */
export interface WrappedMessage {
  readonly message: MimeEntity;
  readonly layer: number;
}

const MESSAGE_TYPES = new Set(['message/rfc822', 'message/global']);

/**
 * The entity to show (and to look for further signatures in) behind one layer's signed entity:
 * message wrappers are opened, wrapper inside wrapper included, each recorded in `wrapped`. A
 * wrapper that cannot be opened (a transfer-encoded or empty message/rfc822, which RFC 2046 §5.2.1
 * forbids and clients open or not) is a problem, and gives undefined.
 */
export function unwrapSignedEntity(entity: MimeEntity | undefined, layer: number, wrapped: WrappedMessage[], problems: SmimeProblem[]): MimeEntity | undefined {
  let e = entity;
  while (e && MESSAGE_TYPES.has(e.contentType.mediaType)) {
    const inner = e.kind === 'message' ? e.children[0] : undefined;
    if (!inner) {
      problems.push({
        code: 'SMIME_STRUCTURE_INVALID',
        message:
          e.contentTransferEncoding === '7bit' || e.contentTransferEncoding === '8bit' || e.contentTransferEncoding === 'binary'
            ? `the signed ${e.contentType.mediaType} holds no message`
            : `the signed ${e.contentType.mediaType} is ${e.contentTransferEncoding}-encoded, which RFC 2046 §5.2.1 forbids: clients disagree on whether it is the message`,
      });
      return undefined;
    }
    wrapped.push({ message: inner, layer });
    e = inner;
  }
  return e;
}

/** Header fields compared between the outer header and a signed header section. */
export const COMPARED_HEADERS = ['From', 'Subject', 'To', 'Cc', 'Reply-To', 'Date'] as const;
const ADDRESS_HEADERS = new Set(['from', 'to', 'cc', 'reply-to']);

/**
 * Warnings (SMIME_OUTER_HEADER_MISMATCH) for each of COMPARED_HEADERS whose outer value differs from
 * the signed section's (for From: the same mailbox under another display name; another mailbox is
 * the problem SMIME_SIGNED_FROM_MISMATCH as well). For a wrapped message every field counts, present or not (a §3.1 client
 * shows the wrapped one, others the outer one); for other signed entities only fields present in both
 * (an outer field alone is the ordinary unsigned header of S/MIME; a signed one alone contradicts nothing).
 */
export function outerHeaderWarnings(outer: MimeEntity, signed: MimeEntity, where: string, wrapped: boolean): SmimeWarning[] {
  const out: SmimeWarning[] = [];
  for (const name of COMPARED_HEADERS) {
    const o = getHeaders(outer, name).map((h) => h.value);
    const s = getHeaders(signed, name).map((h) => h.value);
    if (wrapped ? s.length === 0 && o.length === 0 : s.length === 0 || o.length === 0) continue;
    if (canonical(name, o) === canonical(name, s)) continue;
    const show = (v: string[]) => (v.length === 0 ? '(none)' : v.map((x) => `"${clip(decodeEncodedWords(x))}"`).join(', '));
    out.push({
      code: 'SMIME_OUTER_HEADER_MISMATCH',
      header: name,
      message: `the unsigned outer ${name} ${show(o)} differs from the signed ${name} ${show(s)} in ${where}`,
    });
  }
  return out;
}

function canonical(name: string, values: string[]): string {
  return values
    .map((v) => {
      const text = collapse(decodeEncodedWords(v));
      if (name === 'Date') {
        const t = Date.parse(text);
        return Number.isNaN(t) ? text : String(t);
      }
      if (!ADDRESS_HEADERS.has(name.toLowerCase())) return text;
      const list = parseAddressList(v);
      if (list.errors.length > 0) return text;
      // Comments count: a client may show `Payments <payments@example.com> (NEW IBAN …)` in full. The
      // comment of `payments@example.com (Payments Team)` is its display name, and counts once, as the name.
      const comments = list.comments.map((c) => ` (${c})`).join('');
      // One mailbox key (A-labels, RFC 9598 §5): `user@bücher.example` outside and `user@xn--bcher-kva.example` signed are one mailbox.
      return `${list.mailboxes.map((m) => `${collapse(m.name ?? '')}<${mailboxKey(m.address)}>`).join(',')}${collapse(comments)}`;
    })
    .join('\n');
}

const collapse = (s: string) => s.replace(/\s+/g, ' ').trim();
const clip = (s: string) => (s.length > 120 ? `${s.slice(0, 120)}…` : s);

// ---------------------------------------------------------------------------------------------
// RFC 9788 header protection when producing a message: the header fields go into the cryptographic
// payload (the entity that is signed and/or encrypted), marked by the Content-Type parameter hp; an
// encrypted payload also records, in HP-Outer fields (§2.2), what the sender left outside.

/**
 * RFC 9788 §3.2 header confidentiality policies: what an encrypted message shows outside.
 * 'hcp_baseline' (§3.2.1, the default of §3.3): Subject "[...]", Keywords and Comments removed;
 * 'hcp_no_confidentiality' (§3.2.3): every field as it is (the fields are still signed/encrypted inside).
 */
export type HeaderConfidentialityPolicy = 'hcp_baseline' | 'hcp_no_confidentiality';

/** Outer fields hcp_baseline removes (RFC 9788 §3.2.1). */
const CONFIDENTIAL_DROPPED = new Set(['keywords', 'comments']);
/** What hcp_baseline makes an encrypted message's outer Subject (RFC 9788 §3.2.1). */
export const OBSCURED_SUBJECT = '[...]';
/** The header field that records an outer field inside an encrypted payload (RFC 9788 §2.2). */
const HP_OUTER = 'hp-outer';
/** RFC 5322 §2.1.1: no line longer than 998 characters. */
const MAX_LINE = 998;

/**
 * Most HP-Outer fields read from one protected header section, and most bytes of their values
 * together. A record over either is not used (its differences count as unexplained, a warning):
 * a real one holds one field per outer header field a sender writes, a few dozen at most.
 */
export const MAX_HP_OUTER_FIELDS = 100;
export const MAX_HP_OUTER_BYTES = 64 * 1024;

/** Splits CRLF-terminated header text into whole fields (folded lines kept with their field). */
function splitFields(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split(/(?<=\r\n)/)) {
    if (line === '') continue;
    if ((line.startsWith(' ') || line.startsWith('\t')) && out.length > 0) out[out.length - 1] += line;
    else out.push(line);
  }
  return out;
}

const fieldName = (field: string) => field.slice(0, Math.max(0, field.indexOf(':'))).trim().toLowerCase();
/** Fields that describe the entity, not the message, and fields that never travel inside. */
const notMessageField = (f: string) => /^content-/.test(fieldName(f)) || ['mime-version', 'bcc', HP_OUTER].includes(fieldName(f));

/** One outer field recorded as `HP-Outer: Name: value`, folded after "HP-Outer:" when the first line would be too long. */
function hpOuterField(field: string): string {
  const first = field.indexOf('\r\n');
  return utf8(first < 0 ? field : field.slice(0, first)).length + 'HP-Outer: '.length > MAX_LINE ? `HP-Outer:\r\n ${field}` : `HP-Outer: ${field}`;
}

/**
 * The cryptographic payload with the message's header fields injected (RFC 9788 §4.1): `outer` (the
 * message's non-Content-* fields, CRLF-terminated) goes first, and the entity's Content-Type gets
 * `hp="clear"` (signed only) or `hp="cipher"` (encrypted). With hp="cipher", `sentOuter` (the outer
 * header as it will be sent, after the confidentiality policy) is recorded as HP-Outer fields, one
 * per outer field (RFC 9788 §2.2): a field the policy removed has none. `entity` is canonical MIME (CRLF).
 * HP-Outer fields the caller's message carries are dropped: only this record may speak for the outer header.
 */
export function injectProtectedHeaders(outer: string, entity: Uint8Array, hp: 'clear' | 'cipher', sentOuter?: string): Uint8Array {
  const text = new TextDecoder('latin1').decode(entity);
  const sep = text.indexOf('\r\n\r\n');
  // Producers here always give a header section and a blank line; a header-only entity gets its blank line.
  const end = text.startsWith('\r\n') ? 0 : sep < 0 ? text.length : sep + 2;
  const rest = sep < 0 && !text.startsWith('\r\n') ? latin1('\r\n') : entity.subarray(end);
  const fields = splitFields(text.slice(0, end)).filter((f) => fieldName(f) !== 'mime-version' && fieldName(f) !== HP_OUTER);
  const i = fields.findIndex((f) => fieldName(f) === 'content-type');
  if (i < 0) fields.unshift(`Content-Type: text/plain; charset=us-ascii;\r\n hp="${hp}"\r\n`);
  // An hp parameter already there (a message protected before) is replaced: two would be read differently.
  else fields[i] = `${fields[i]!.replace(/\r\n$/, '').replace(/;\s*hp\s*=\s*("[^"]*"|[^;\s]*)/gi, '')};\r\n hp="${hp}"\r\n`;
  const injected = splitFields(outer).filter((f) => !notMessageField(f));
  const record = hp === 'cipher' && sentOuter !== undefined ? splitFields(sentOuter).filter((f) => !notMessageField(f)).map(hpOuterField) : [];
  // The injected copies are the outer fields' own text, UTF-8 (RFC 6532) included: the same bytes as outside.
  return concatBytes([utf8(injected.join('') + record.join('')), latin1(fields.join('')), rest]);
}

/**
 * The outer header of an encrypted message under a confidentiality policy (RFC 9788 §3.2); Bcc
 * never goes out. `obscureSubject: false` keeps the Subject under hcp_baseline (older option).
 * HP-Outer fields of the caller's message are dropped: outside they mean nothing, inside they would lie.
 */
export function applyHeaderConfidentiality(outer: string, policy: HeaderConfidentialityPolicy, obscureSubject = true): string {
  const baseline = policy === 'hcp_baseline';
  return splitFields(outer)
    .filter((f) => fieldName(f) !== 'bcc' && fieldName(f) !== HP_OUTER && !(baseline && CONFIDENTIAL_DROPPED.has(fieldName(f))))
    .map((f) => (baseline && obscureSubject && fieldName(f) === 'subject' ? `Subject: ${OBSCURED_SUBJECT}\r\n` : f))
    .join('');
}

// ---------------------------------------------------------------------------------------------
// Reading RFC 9788 header protection.

/** One header field whose outer value differs from the protected (inner) one. */
export interface HeaderDifference {
  name: string;
  /** The outer values, as received. */
  outer: string[];
  /** The protected values: what a client shows. */
  protected: string[];
  /**
   * Why they differ. 'obscured': the sender put this outer value there (the HP-Outer record of an
   * encrypted payload says so, RFC 9788 §2.2), e.g. the Subject "[...]" of hcp_baseline.
   * 'changed': the outer field is not what the sender sent (the record says `sent`): altered, added
   * or removed after sending. 'unexplained': there is no record to tell (hp="clear", a payload that
   * was not encrypted, a producer that writes no HP-Outer, or a record that was not used).
   */
  cause: 'obscured' | 'changed' | 'unexplained';
  /** With 'changed': the outer values the sender recorded (HP-Outer). */
  sent?: string[];
}

/** What RFC 9788 header protection an opened entity carries. */
export interface HeaderProtection {
  /** The hp parameter of the cryptographic payload: 'cipher' (encrypted) or 'clear' (signed only). */
  hp: 'cipher' | 'clear';
  /** Where the protected header section is: 'the encrypted part', 'the signed part'. */
  where: string;
  /**
   * The protected header fields in order (Content-* and HP-Outer left out): what a client should
   * display instead of the outer ones. They are exactly the fields of the signed or encrypted entity.
   */
  fields: { name: string; value: string }[];
  /**
   * The outer header fields as the sender sent them (the HP-Outer record, RFC 9788 §2.2), when the
   * payload is hp="cipher" inside an opened encrypted layer and the record was used.
   */
  sentOuter?: { name: string; value: string }[];
  /**
   * With `sentOuter`: the protected fields the sender kept confidential (RFC 9788 §4.3), those whose
   * recorded outer value differs or is absent, e.g. ['Subject'] under hcp_baseline. Judged from the
   * record, not from the outer header as received (which anyone on the way may have changed). A reply
   * must not put these in its own outer header (RFC 9788 §6).
   */
  confidential?: string[];
  /** Each of COMPARED_HEADERS whose outer value differs from the protected one, and why. */
  differences: HeaderDifference[];
  /**
   * Paths (in the payload) of the parts marked hp-legacy-display="1" (RFC 9788 §2.1.2): their text
   * begins with a Legacy Display Element, a copy of protected fields for clients that do not read
   * them; a client that shows `fields` hides it (RFC 9788 §4.5.3). mailpki does not write them.
   */
  legacyDisplayParts: number[][];
}

/** An entity whose Content-Type carries one hp parameter, 'clear' or 'cipher' (RFC 9788 §2.1.1). */
export function carriesHeaderProtection(entity: MimeEntity): boolean {
  const hp = entity.contentType.params.get('hp')?.toLowerCase();
  return !entity.contentType.duplicateParams.includes('hp') && (hp === 'cipher' || hp === 'clear');
}

/** The reading of one protected header section, with what it means for a verdict. */
export interface HeaderProtectionReading {
  protection?: HeaderProtection;
  problems: SmimeProblem[];
  warnings: SmimeWarning[];
}

/**
 * The RFC 9788 protected header section of an entity (the payload that was signed or decrypted).
 * `encrypted`: the entity came out of an opened encrypted layer (only then is an HP-Outer record
 * read: it says what the sender obscured, RFC 9788 §4.2). An entity without an hp parameter of
 * 'clear' or 'cipher' has none; a repeated hp parameter is a problem (readers disagree on whether
 * the fields are protected) and no protection. Differences the record does not explain are warnings
 * (SMIME_OUTER_HEADER_MISMATCH); From mismatches are judged by the caller (the mailbox binding).
 */
export function readHeaderProtection(outer: MimeEntity, entity: MimeEntity, where: string, encrypted: boolean): HeaderProtectionReading {
  const problems: SmimeProblem[] = [];
  const warnings: SmimeWarning[] = [];
  if (entity.contentType.duplicateParams.includes('hp')) {
    problems.push({ code: 'SMIME_STRUCTURE_INVALID', message: `the Content-Type of ${where} repeats the hp parameter: clients disagree on whether its header fields are protected` });
    return { problems, warnings };
  }
  const hp = entity.contentType.params.get('hp')?.toLowerCase();
  if (hp !== 'cipher' && hp !== 'clear') return { problems, warnings };
  const record = hp === 'cipher' && encrypted ? readHpOuter(entity, where, warnings) : undefined;
  const differences: HeaderDifference[] = [];
  for (const name of COMPARED_HEADERS) {
    const o = getHeaders(outer, name).map((h) => h.value);
    const p = getHeaders(entity, name).map((h) => h.value);
    if (o.length === 0 && p.length === 0) continue;
    const co = canonical(name, o);
    if (co === canonical(name, p)) continue;
    if (!record) {
      differences.push({ name, outer: o, protected: p, cause: 'unexplained' });
      continue;
    }
    const sent = record.filter((f) => f.name.toLowerCase() === name.toLowerCase()).map((f) => f.value);
    if (co === canonical(name, sent)) {
      differences.push({ name, outer: o, protected: p, cause: 'obscured' });
      continue;
    }
    differences.push({ name, outer: o, protected: p, cause: 'changed', sent });
    const show = (v: string[]) => (v.length === 0 ? '(none)' : v.map((x) => `"${clip(decodeEncodedWords(x))}"`).join(', '));
    warnings.push({
      code: 'SMIME_OUTER_HEADER_MISMATCH',
      header: name,
      message: `the outer ${name} ${show(o)} is not what the sender sent (${show(sent)}, per the HP-Outer record in ${where}): it was changed after sending; the protected ${name} is ${show(p)}`,
    });
  }
  const fields = entity.headers.filter((h) => !/^content-/i.test(h.name) && h.name.toLowerCase() !== HP_OUTER);
  const legacyDisplayParts = [...walkEntities(entity)].filter((e) => e.contentType.params.get('hp-legacy-display') === '1').map((e) => [...e.path]);
  const protection: HeaderProtection = {
    hp,
    where,
    fields: fields.map((h) => ({ name: h.name, value: h.value })),
    ...(record && { sentOuter: record, confidential: confidentialFields(fields, record) }),
    differences,
    legacyDisplayParts,
  };
  return { protection, problems, warnings };
}

/** Names of protected fields (MIME-Version aside) whose values the record does not show outside; each name once, in order. */
function confidentialFields(fields: readonly { name: string; value: string }[], record: readonly { name: string; value: string }[]): string[] {
  const out = new Map<string, string>();
  for (const f of fields) {
    const lower = f.name.toLowerCase();
    if (lower === 'mime-version' || out.has(lower)) continue;
    const inner = fields.filter((g) => g.name.toLowerCase() === lower).map((g) => g.value);
    const sent = record.filter((g) => g.name.toLowerCase() === lower).map((g) => g.value);
    const name = COMPARED_HEADERS.find((n) => n.toLowerCase() === lower) ?? f.name;
    if (canonical(name, inner) !== canonical(name, sent)) out.set(lower, f.name);
  }
  return [...out.values()];
}

/**
 * The HP-Outer record of a protected header section (`HP-Outer: Name: value`, RFC 9788 §2.2), or
 * undefined when there is none or it cannot be used (malformed, over MAX_HP_OUTER_FIELDS or
 * MAX_HP_OUTER_BYTES: a warning says so, and every difference then counts as unexplained).
 */
function readHpOuter(entity: MimeEntity, where: string, warnings: SmimeWarning[]): { name: string; value: string }[] | undefined {
  const fields = entity.headers.filter((h) => h.name.toLowerCase() === HP_OUTER);
  if (fields.length === 0) return undefined;
  const unused = (why: string) => {
    warnings.push({ code: 'SMIME_HP_OUTER_IGNORED', message: `the HP-Outer record in ${where} is not used (${why}): differences from the outer header are reported as unexplained` });
    return undefined;
  };
  if (fields.length > MAX_HP_OUTER_FIELDS) return unused(`${fields.length} HP-Outer fields, more than ${MAX_HP_OUTER_FIELDS}`);
  const bytes = fields.reduce((n, f) => n + f.value.length, 0);
  if (bytes > MAX_HP_OUTER_BYTES) return unused(`${bytes} bytes of HP-Outer values, more than ${MAX_HP_OUTER_BYTES}`);
  const record: { name: string; value: string }[] = [];
  for (const f of fields) {
    const colon = f.value.indexOf(':');
    const name = colon < 0 ? '' : f.value.slice(0, colon);
    // RFC 5322 §3.6.8 field name: printable ASCII but colon, no white space.
    if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name)) return unused(`"HP-Outer: ${clip(f.value)}" names no header field`);
    const lower = name.toLowerCase();
    // Structural fields describe the outer entity, not the message: nothing to compare them with.
    if (lower === HP_OUTER || lower.startsWith('content-') || lower === 'mime-version') continue;
    record.push({ name, value: f.value.slice(colon + 1).trim() });
  }
  return record;
}
