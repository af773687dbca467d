/** The parsed MIME tree: one MimeEntity per header block + body, with exact offsets. */
import { MailPkiError } from '../errors.js';
import { decodeBase64Body } from './base64.js';
import type { HeaderField } from './headers.js';
import type { ContentDisposition, ContentType } from './params.js';
import { decodeQuotedPrintable } from './quoted-printable.js';

/** A half-open byte range [start, end) of the canonical message. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/** "multipart": children are the body parts; "message": one child, the enclosed message/rfc822. */
export type MimeEntityKind = 'leaf' | 'multipart' | 'message';

export interface MimeEntity {
  /** The whole canonical (CRLF) message all offsets refer to. */
  readonly source: Uint8Array;
  /** Index path from the root: [] for the root, [0] its first child, [1, 0] ... */
  readonly path: readonly number[];
  readonly kind: MimeEntityKind;
  readonly headers: readonly HeaderField[];
  readonly contentType: ContentType;
  /** Lower-case Content-Transfer-Encoding, "7bit" when absent. */
  readonly contentTransferEncoding: string;
  readonly contentDisposition: ContentDisposition | undefined;
  /** First byte of the entity (its first header field). */
  readonly start: number;
  /** Just past the last header field (at the blank line). */
  readonly headerEnd: number;
  /** First byte of the body (after the blank line); equals `end` when there is no body. */
  readonly bodyStart: number;
  /**
   * Just past the entity. For a body part this is before the CRLF that precedes the next
   * boundary delimiter line, so `raw()` is exactly what RFC 1847/8551 signs.
   */
  readonly end: number;
  /** Multipart only: text before the first delimiter line (its CRLF excluded). */
  readonly preamble: ByteRange | undefined;
  /** Multipart only: text after the CRLF ending the close delimiter line. */
  readonly epilogue: ByteRange | undefined;
  readonly children: readonly MimeEntity[];
  /** The exact entity bytes, [start, end) of `source` (a view: do not modify). */
  raw(): Uint8Array;
  /** The body as transmitted, [bodyStart, end) of `source` (a view: do not modify). */
  body(): Uint8Array;
  /**
   * The body with its transfer encoding removed (base64, quoted-printable; 7bit/8bit/binary as
   * is). An unknown encoding throws ERR_MIME_MALFORMED.
   */
  decodedBody(): Uint8Array;
}

/** What a parser knows of an entity; the methods are the class's. */
export type EntityInit = Omit<MimeEntity, 'raw' | 'body' | 'decodedBody' | 'preamble' | 'epilogue' | 'children'> & {
  readonly preamble?: ByteRange | undefined;
  readonly epilogue?: ByteRange | undefined;
  readonly children?: readonly MimeEntity[];
};

const IDENTITY_ENCODINGS = new Set(['7bit', '8bit', 'binary']);

export function createEntity(init: EntityInit): MimeEntity {
  return new Entity(init);
}

// A class, not an object literal with closures: messages may hold many thousands of entities.
class Entity implements MimeEntity {
  readonly source: Uint8Array;
  readonly path: readonly number[];
  readonly kind: MimeEntityKind;
  readonly headers: readonly HeaderField[];
  readonly contentType: ContentType;
  readonly contentTransferEncoding: string;
  readonly contentDisposition: ContentDisposition | undefined;
  readonly start: number;
  readonly headerEnd: number;
  readonly bodyStart: number;
  readonly end: number;
  readonly preamble: ByteRange | undefined;
  readonly epilogue: ByteRange | undefined;
  readonly children: readonly MimeEntity[];

  constructor(init: EntityInit) {
    this.source = init.source;
    this.path = init.path;
    this.kind = init.kind;
    this.headers = init.headers;
    this.contentType = init.contentType;
    this.contentTransferEncoding = init.contentTransferEncoding;
    this.contentDisposition = init.contentDisposition;
    this.start = init.start;
    this.headerEnd = init.headerEnd;
    this.bodyStart = init.bodyStart;
    this.end = init.end;
    this.preamble = init.preamble;
    this.epilogue = init.epilogue;
    this.children = init.children ?? [];
  }

  raw(): Uint8Array {
    return this.source.subarray(this.start, this.end);
  }

  body(): Uint8Array {
    return this.source.subarray(this.bodyStart, this.end);
  }

  decodedBody(): Uint8Array {
    return decodeTransferEncoding(this.body(), this.contentTransferEncoding, this.path);
  }
}

/** Removes a Content-Transfer-Encoding from body bytes. */
export function decodeTransferEncoding(body: Uint8Array, encoding: string, path: readonly number[] = []): Uint8Array {
  if (IDENTITY_ENCODINGS.has(encoding)) return body;
  if (encoding === 'base64') return decodeBase64Body(body);
  if (encoding === 'quoted-printable') return decodeQuotedPrintable(body);
  const shown = encoding.slice(0, 40);
  throw new MailPkiError('ERR_MIME_MALFORMED', `unknown Content-Transfer-Encoding "${shown}"`, {
    details: { path: [...path], encoding: shown },
  });
}
