/**
 * Making a caller-supplied entity safe to sign: multipart/signed content must survive 7-bit
 * transport unchanged (RFC 8551 §3.1.3), so 8-bit or over-long bodies are re-encoded first.
 */
import { MailPkiError } from '../errors.js';
import { concatBytes, latin1, toBytes } from '../internal/bytes.js';
import { encodeBase64LineBytes } from './base64.js';
import { canonicalizeLineEndings } from './canonical.js';
import type { MimeEntity } from './entity.js';
import { resolveMimeLimits, type MimeLimits } from './limits.js';
import { checkSize, parseMessage } from './parse.js';
import { encodeQuotedPrintable } from './quoted-printable.js';
import { walkEntities } from './walk.js';

const MAX_LINE = 998;
const CRLF = latin1('\r\n');

interface Splice {
  readonly start: number;
  readonly end: number;
  readonly bytes: Uint8Array;
}

/**
 * Returns the entity (canonical CRLF form) with every body that has 8-bit or NUL bytes, or a line
 * over 998 bytes, re-encoded: text/* as quoted-printable, anything else as base64. Other header
 * fields, their order and folding, preambles, epilogues and boundaries are kept byte for byte;
 * multipart and message/rfc822 entities are processed recursively, and their 8bit/binary
 * Content-Transfer-Encoding becomes 7bit. Header fields themselves are not changed.
 *
 * Bodies labelled "binary" are refused (ERR_INVALID_INPUT) unless the input already has CRLF
 * line ends, since canonicalising them would change the data.
 */
export function make7bitSafe(entityBytes: Uint8Array | string, limits?: Partial<MimeLimits>): Uint8Array {
  const input = toBytes(entityBytes);
  checkSize(input.length, resolveMimeLimits(limits));
  const canonical = canonicalizeLineEndings(input);
  const wasCanonical = canonical.length === input.length;
  const root = parseMessage(canonical, limits);
  const splices: Splice[] = [];
  for (const e of walkEntities(root)) {
    if (e.kind === 'leaf') {
      if (!wasCanonical && e.contentTransferEncoding === 'binary')
        throw new MailPkiError('ERR_INVALID_INPUT', 'entity: a binary body needs CRLF line ends or base64', {
          details: { field: 'entity', path: [...e.path] },
        });
      if (!is7bitClean(e.body())) splices.push({ start: e.start, end: e.end, bytes: reencodeLeaf(e) });
    } else if (e.contentTransferEncoding === '8bit' || e.contentTransferEncoding === 'binary') {
      splices.push(...relabelComposite(e));
    }
  }
  return applySplices(root.source, splices);
}

/** True when the body can travel as 7bit: no 8-bit or NUL bytes, no line over 998 bytes. */
export function is7bitClean(body: Uint8Array): boolean {
  let lineStart = 0;
  for (let i = 0; i < body.length; i++) {
    const b = body[i]!;
    if (b > 0x7f || b === 0) return false;
    if (b === 0x0a) {
      if (i - 1 - lineStart > MAX_LINE) return false;
      lineStart = i + 1;
    }
  }
  return body.length - lineStart <= MAX_LINE;
}

function reencodeLeaf(e: MimeEntity): Uint8Array {
  const decoded = e.decodedBody();
  const asText = e.contentType.type === 'text';
  const encoding = asText ? 'quoted-printable' : 'base64';
  const body = asText ? latin1(encodeQuotedPrintable(decoded)) : encodeBase64LineBytes(decoded);
  return concatBytes([rewriteEncodingField(e, encoding), CRLF, body]);
}

function rewriteEncodingField(e: MimeEntity, encoding: string): Uint8Array {
  const field = latin1(`Content-Transfer-Encoding: ${encoding}\r\n`);
  const out: Uint8Array[] = [];
  let replaced = false;
  for (const h of e.headers) {
    if (h.name.toLowerCase() === 'content-transfer-encoding') {
      out.push(field);
      replaced = true;
    } else {
      out.push(h.raw, ...(endsWithCrlf(h.raw) ? [] : [CRLF]));
    }
  }
  if (!replaced) out.push(field);
  return concatBytes(out);
}

function relabelComposite(e: MimeEntity): Splice[] {
  return e.headers
    .filter((h) => h.name.toLowerCase() === 'content-transfer-encoding')
    .map((h) => ({ start: h.start, end: h.end, bytes: latin1(`${h.name}: 7bit${endsWithCrlf(h.raw) ? '\r\n' : ''}`) }));
}

function endsWithCrlf(b: Uint8Array): boolean {
  return b.length >= 2 && b[b.length - 2] === 0x0d && b[b.length - 1] === 0x0a;
}

// Splices never overlap: leaves are disjoint, and a composite's header fields precede its children.
function applySplices(source: Uint8Array, splices: Splice[]): Uint8Array {
  if (splices.length === 0) return source;
  splices.sort((a, b) => a.start - b.start);
  const out: Uint8Array[] = [];
  let at = 0;
  for (const s of splices) {
    out.push(source.subarray(at, s.start), s.bytes);
    at = s.end;
  }
  out.push(source.subarray(at));
  return concatBytes(out);
}
