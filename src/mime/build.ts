/**
 * Building a new message: outer header fields, and the content entity (what S/MIME signs)
 * kept apart so the signer can wrap the entity before the two are joined.
 */
import { MailPkiError } from '../errors.js';
import { concatBytes, includesAscii, latin1, toHex, utf8 } from '../internal/bytes.js';
import { publicRandomBytes } from '../internal/crypto.js';
import { parseInput } from '../internal/validate.js';
import { encodeBase64LineBytes } from './base64.js';
import { headerTextFault } from './charset.js';
import { foldHeader, formatDate, formatMailbox, formatParameterized, formatUnstructured, type MailboxParts } from './format.js';
import { encodeQuotedPrintable } from './quoted-printable.js';
import {
  buildMessageInputSchema,
  buildOptionsSchema,
  type AttachmentValues,
  type BuildMessageInput,
  type BuildMessageValues,
  type BuildOptions,
} from './schema.js';

export interface BuiltMessage {
  /** From, To, Cc, Subject, Date, Message-ID, extra fields, MIME-Version: CRLF-terminated, folded at 78. */
  readonly outerHeaders: string;
  /** The content entity (Content-Type, Content-Transfer-Encoding, blank line, body), 7-bit clean. */
  readonly entity: Uint8Array;
}

interface Part {
  readonly headers: string;
  readonly body: Uint8Array;
}

const CRLF = utf8('\r\n');
const MAX_TEXT_LINE = 76;
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;
const BOUNDARY_ATTEMPTS = 8;

/**
 * Builds a message from text, HTML and attachments: text+html become multipart/alternative,
 * attachments wrap it all in multipart/mixed; text is quoted-printable when it has non-ASCII,
 * long lines or trailing white space (else 7bit), attachments are base64. Bad input throws
 * ERR_INVALID_INPUT naming the field; CR/LF in any header value is refused.
 *
 * @example
 * const { outerHeaders, entity } = buildMessage({ from: 'a@example.org', to: 'b@example.org', subject: 'Hi', text: 'Hello' });
 * const eml = assembleMessage(outerHeaders, entity);
 */
export function buildMessage(input: BuildMessageInput, options: BuildOptions = {}): BuiltMessage {
  const msg = parseInput(buildMessageInputSchema, input, 'message');
  const opts = parseInput(buildOptionsSchema, options, 'build options');
  const randomBytes = opts.randomBytes ?? defaultRandomBytes;
  const nextBoundary = opts.boundary ?? (() => `=_${toHex(randomBytes(16))}`);
  const content = buildContent(msg, nextBoundary);
  const messageId = msg.messageId ?? `${toHex(randomBytes(16))}@${domainOf(msg.from)}`;
  const fields: [string, string][] = [
    ['From', formatMailbox(msg.from)],
    ['To', listOf(msg.to).map(formatMailbox).join(', ')],
  ];
  if (msg.cc) fields.push(['Cc', listOf(msg.cc).map(formatMailbox).join(', ')]);
  fields.push(
    ['Subject', formatUnstructured(msg.subject)],
    ['Date', formatDate(msg.date ?? opts.now ?? new Date())],
    ['Message-ID', messageId.startsWith('<') ? messageId : `<${messageId}>`],
  );
  for (const [name, value] of Object.entries(msg.headers ?? {})) fields.push([name, formatUnstructured(value)]);
  fields.push(['MIME-Version', '1.0']);
  return { outerHeaders: fields.map(([n, v]) => foldHeader(n, v)).join(''), entity: serializePart(content) };
}

/**
 * Joins outer header fields and a content entity into one message. The entity brings its own
 * header fields and blank line. Non-ASCII header text is written as UTF-8 (RFC 6532: such a
 * message needs SMTPUTF8 to travel).
 */
export function assembleMessage(outerHeaders: string, entity: Uint8Array): Uint8Array {
  if (outerHeaders !== '' && (!outerHeaders.endsWith('\r\n') || outerHeaders.includes('\r\n\r\n') || outerHeaders.startsWith('\r\n')))
    throw new MailPkiError('ERR_INVALID_INPUT', 'outerHeaders: must be CRLF-terminated header lines without a blank line', {
      details: { field: 'outerHeaders' },
    });
  // A lone surrogate has no UTF-8 form (TextEncoder would write U+FFFD instead): refused, not changed.
  const bytes = /[\ud800-\udfff]/u.test(outerHeaders) ? undefined : utf8(outerHeaders);
  const fault = bytes === undefined ? 'a lone UTF-16 surrogate, which has no UTF-8 form' : headerTextFault(bytes);
  if (fault !== undefined)
    throw new MailPkiError('ERR_INVALID_INPUT', `outerHeaders: must be ASCII or UTF-8 header text (RFC 6532); found ${fault}`, {
      details: { field: 'outerHeaders' },
    });
  return concatBytes([bytes!, entity]);
}

function buildContent(msg: BuildMessageValues, nextBoundary: () => string): Part {
  const bodies: Part[] = [];
  if (msg.text !== undefined || msg.html === undefined) bodies.push(textPart(msg.text ?? '', 'plain'));
  if (msg.html !== undefined) bodies.push(textPart(msg.html, 'html'));
  const main = bodies.length === 1 ? bodies[0]! : multipart('alternative', bodies, nextBoundary);
  const attachments = (msg.attachments ?? []).map(attachmentPart);
  return attachments.length === 0 ? main : multipart('mixed', [main, ...attachments], nextBoundary);
}

function textPart(text: string, subtype: 'plain' | 'html'): Part {
  const body = utf8(text.replace(/\r\n|\r|\n/g, '\r\n'));
  const qp = needsQuotedPrintable(body);
  return {
    headers:
      foldHeader('Content-Type', `text/${subtype}; charset=utf-8`) +
      foldHeader('Content-Transfer-Encoding', qp ? 'quoted-printable' : '7bit'),
    body: qp ? latin1(encodeQuotedPrintable(body)) : body,
  };
}

/**
 * True when CRLF text cannot travel as 7bit unchanged: 8-bit or control bytes, lines over 76
 * chars, trailing white space (some relays strip it, breaking signatures), or "From " at a line start.
 */
export function needsQuotedPrintable(body: Uint8Array): boolean {
  let lineStart = 0;
  for (let i = 0; i <= body.length; i++) {
    const b = body[i];
    if (i === body.length || (b === 0x0d && body[i + 1] === 0x0a)) {
      if (i - lineStart > MAX_TEXT_LINE) return true;
      const last = body[i - 1];
      if (i > lineStart && (last === 0x20 || last === 0x09)) return true;
      if (startsWithFrom(body, lineStart)) return true;
      lineStart = i + 2;
      i++;
      continue;
    }
    if (b! > 0x7e || (b! < 0x20 && b !== 0x09)) return true;
  }
  return false;
}

function startsWithFrom(body: Uint8Array, at: number): boolean {
  return body[at] === 0x46 && body[at + 1] === 0x72 && body[at + 2] === 0x6f && body[at + 3] === 0x6d && body[at + 4] === 0x20;
}

function attachmentPart(att: AttachmentValues): Part {
  const content = typeof att.content === 'string' ? utf8(att.content) : att.content;
  const mediaType = att.contentType.toLowerCase();
  const typeParams: [string, string][] = [];
  if (typeof att.content === 'string' && mediaType.startsWith('text/')) typeParams.push(['charset', 'utf-8']);
  typeParams.push(['name', att.filename]);
  return {
    headers:
      foldHeader('Content-Type', formatParameterized(mediaType, typeParams)) +
      foldHeader('Content-Disposition', formatParameterized('attachment', [['filename', att.filename]])) +
      foldHeader('Content-Transfer-Encoding', 'base64'),
    body: content.length > 0 ? concatBytes([encodeBase64LineBytes(content), latin1('\r\n')]) : new Uint8Array(0),
  };
}

function multipart(subtype: 'alternative' | 'mixed', parts: Part[], nextBoundary: () => string): Part {
  const serialized = parts.map(serializePart);
  const boundary = pickBoundary(serialized, nextBoundary);
  const delimiter = latin1(`--${boundary}\r\n`);
  const chunks: Uint8Array[] = [];
  for (const p of serialized) chunks.push(delimiter, p, CRLF);
  chunks.push(latin1(`--${boundary}--\r\n`));
  return {
    headers: foldHeader('Content-Type', formatParameterized(`multipart/${subtype}`, [['boundary', boundary]])),
    body: concatBytes(chunks),
  };
}

// A boundary must not occur in the parts it separates (RFC 2046 §5.1.1); retry a few times, then give up.
function pickBoundary(parts: Uint8Array[], nextBoundary: () => string): string {
  for (let attempt = 0; attempt < BOUNDARY_ATTEMPTS; attempt++) {
    const b = nextBoundary();
    if (typeof b !== 'string' || !BOUNDARY.test(b))
      throw new MailPkiError('ERR_INVALID_INPUT', 'build options: boundary: must return 1-70 RFC 2046 boundary characters', {
        details: { field: 'boundary' },
      });
    if (!parts.some((p) => includesAscii(p, `--${b}`))) return b;
  }
  throw new MailPkiError('ERR_INVALID_INPUT', 'build options: boundary: kept returning a string that occurs in the content', {
    details: { field: 'boundary' },
  });
}

function serializePart(p: Part): Uint8Array {
  return concatBytes([latin1(p.headers), CRLF, p.body]);
}

function listOf<T>(v: T | T[]): T[] {
  return Array.isArray(v) ? v : [v];
}

function domainOf(m: MailboxParts | string): string {
  const address = typeof m === 'string' ? m : m.address;
  return address.slice(address.lastIndexOf('@') + 1);
}

function defaultRandomBytes(length: number): Uint8Array {
  const c = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
  if (!c?.getRandomValues)
    throw new MailPkiError('ERR_UNSUPPORTED_RUNTIME', 'no crypto.getRandomValues; pass the randomBytes option');
  // Boundaries and Message-IDs are published: the pooled generator is right for them.
  return publicRandomBytes(c as Crypto, length);
}
