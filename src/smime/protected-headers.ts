/**
 * Header protection (RFC 8551 §3.1). When a signed entity is itself a message (message/rfc822 or
 * message/global, with or without the `forwarded=no` of RFC 9788's wrapped-message form), clients
 * that follow §3.1 show that wrapped message as the message: its header fields (From, To, Subject,
 * ...) are the protected ones, and the outer fields are only what other clients show. A signed entity
 * that is not a message may carry such fields too (RFC 9788 injected headers, or an OpenSSL-signed
 * whole message); some clients show those. Either way the two views must not disagree unnoticed.
 */
import { decodeEncodedWords, getHeaders, normalizeAddress, parseAddressList, type MimeEntity } from '../mime/index.js';
import { concatBytes, latin1 } from '../internal/bytes.js';
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
      // Comments count: a client may show `Payments <payments@example.com> (NEW IBAN …)` in full.
      return `${list.mailboxes.map((m) => `${collapse(m.name ?? '')}<${normalizeAddress(m.address)}>`).join(',')}${commentsOf(v)}`;
    })
    .join('\n');
}

/** The text of the comments in an address field (outside quoted strings), decoded and collapsed; linear. */
function commentsOf(value: string): string {
  let out = '';
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\') {
      if (depth > 0) out += value[i + 1] ?? '';
      i++;
    } else if (quoted) {
      if (c === '"') quoted = false;
    } else if (c === '"' && depth === 0) quoted = true;
    else if (c === '(') {
      if (depth++ > 0) out += c;
      else out += ' (';
    } else if (c === ')' && depth > 0) {
      if (--depth > 0) out += c;
      else out += ')';
    } else if (depth > 0) out += c;
  }
  return collapse(decodeEncodedWords(out));
}

const collapse = (s: string) => s.replace(/\s+/g, ' ').trim();
const clip = (s: string) => (s.length > 120 ? `${s.slice(0, 120)}…` : s);

// ---------------------------------------------------------------------------------------------
// RFC 9788 header protection when producing a message: the header fields go into the cryptographic
// payload (the entity that is signed and/or encrypted), marked by the Content-Type parameter hp.

/** Outer fields dropped from an encrypted message's outer header (RFC 9788 §4.2, hcp_baseline). */
const CONFIDENTIAL_DROPPED = new Set(['keywords', 'comments']);
/** What an encrypted message's outer Subject becomes (RFC 9788 §4.2). */
export const OBSCURED_SUBJECT = '[...]';

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

/**
 * The cryptographic payload with the message's header fields injected (RFC 9788 §4.1): `outer` (the
 * message's non-Content-* fields, CRLF-terminated) goes first, and the entity's Content-Type gets
 * `hp="clear"` (signed only) or `hp="cipher"` (encrypted). `entity` is canonical MIME (CRLF).
 */
export function injectProtectedHeaders(outer: string, entity: Uint8Array, hp: 'clear' | 'cipher'): Uint8Array {
  const text = new TextDecoder('latin1').decode(entity);
  const sep = text.indexOf('\r\n\r\n');
  // Producers here always give a header section and a blank line; a header-only entity gets its blank line.
  const end = text.startsWith('\r\n') ? 0 : sep < 0 ? text.length : sep + 2;
  const rest = sep < 0 && !text.startsWith('\r\n') ? latin1('\r\n') : entity.subarray(end);
  const fields = splitFields(text.slice(0, end)).filter((f) => fieldName(f) !== 'mime-version');
  const i = fields.findIndex((f) => fieldName(f) === 'content-type');
  if (i < 0) fields.unshift(`Content-Type: text/plain; charset=us-ascii;\r\n hp="${hp}"\r\n`);
  // An hp parameter already there (a message protected before) is replaced: two would be read differently.
  else fields[i] = `${fields[i]!.replace(/\r\n$/, '').replace(/;\s*hp\s*=\s*("[^"]*"|[^;\s]*)/gi, '')};\r\n hp="${hp}"\r\n`;
  const injected = splitFields(outer).filter((f) => !/^content-/.test(fieldName(f)) && fieldName(f) !== 'mime-version' && fieldName(f) !== 'bcc');
  return concatBytes([latin1(injected.join('') + fields.join('')), rest]);
}

/** The outer header of an encrypted message under RFC 9788's baseline policy: Subject "[...]", Keywords and Comments dropped. */
export function obscureOuterHeaders(outer: string, obscureSubject: boolean): string {
  return splitFields(outer)
    .filter((f) => !CONFIDENTIAL_DROPPED.has(fieldName(f)) && fieldName(f) !== 'bcc')
    .map((f) => (obscureSubject && fieldName(f) === 'subject' ? `Subject: ${OBSCURED_SUBJECT}\r\n` : f))
    .join('');
}

/** One header field whose protected (inner) value differs from the outer one. */
export interface HeaderDifference {
  name: string;
  outer: string[];
  protected: string[];
}

/** What RFC 9788 header protection an opened entity carries. */
export interface HeaderProtection {
  /** The hp parameter of the cryptographic payload: 'cipher' (encrypted) or 'clear' (signed only). */
  hp: 'cipher' | 'clear';
  /** Where the protected header section is: 'the encrypted part', 'the signed part'. */
  where: string;
  /** The protected header fields (Content-* left out), in order. */
  fields: { name: string; value: string }[];
  /** Each of COMPARED_HEADERS whose outer value differs (an obscured "[...]" Subject included). */
  differences: HeaderDifference[];
}

/** The RFC 9788 protected header section of an entity with an hp parameter; undefined without one. */
export function readHeaderProtection(outer: MimeEntity, entity: MimeEntity, where: string): HeaderProtection | undefined {
  const hp = entity.contentType.params.get('hp')?.toLowerCase();
  if (hp !== 'cipher' && hp !== 'clear') return undefined;
  const differences: HeaderDifference[] = [];
  for (const name of COMPARED_HEADERS) {
    const o = getHeaders(outer, name).map((h) => h.value);
    const p = getHeaders(entity, name).map((h) => h.value);
    if (o.length === 0 && p.length === 0) continue;
    if (canonical(name, o) !== canonical(name, p)) differences.push({ name, outer: o, protected: p });
  }
  return { hp, where, fields: entity.headers.filter((h) => !/^content-/i.test(h.name)).map((h) => ({ name: h.name, value: h.value })), differences };
}
