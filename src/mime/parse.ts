/**
 * MIME parser (RFC 2045/2046, RFC 5322 header syntax). One forward pass over the canonical
 * bytes: each line is looked at once, and a line starting "--" is matched against all open
 * boundaries with one map lookup, so time is linear in the message size whatever the nesting.
 */
import { MailPkiError } from '../errors.js';
import { fromLatin1, utf8 } from '../internal/bytes.js';
import { canonicalizeLineEndings } from './canonical.js';
import { createEntity, type MimeEntity } from './entity.js';
import { unfoldValue, type HeaderField } from './headers.js';
import { resolveMimeLimits, type MimeLimits } from './limits.js';
import {
  defaultContentType,
  parseContentDisposition,
  parseContentType,
  parseTransferEncoding,
  type ContentType,
} from './params.js';

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const TAB = 0x09;
const DASH = 0x2d;
const COLON = 0x3a;
const IDENTITY_ENCODINGS = new Set(['7bit', '8bit', 'binary']);

/**
 * Parses a message into a tree of {@link MimeEntity}. Line ends are canonicalised to CRLF first
 * and every offset refers to that form (`root.source`). A string is taken as UTF-8; pass bytes
 * to keep 8-bit content exact.
 *
 * Throws ERR_MIME_MALFORMED (header line without a colon, multipart without boundary parameter
 * or close delimiter, ...), ERR_INPUT_TOO_LARGE or ERR_NESTING_TOO_DEEP (see {@link MimeLimits}).
 *
 * @example
 * const root = parseMessage(eml);
 * if (root.contentType.mediaType === 'multipart/signed') {
 *   const signedBytes = root.children[0]!.raw();       // exactly what was signed
 *   const cms = root.children[1]!.decodedBody();        // the DER signature
 * }
 */
export function parseMessage(input: Uint8Array | string, limits?: Partial<MimeLimits>): MimeEntity {
  const lim = resolveMimeLimits(limits);
  // A string has at most as many chars as its UTF-8 bytes: refuse a huge one before encoding it.
  if (typeof input === 'string') checkSize(input.length, lim);
  const bytes = toInputBytes(input);
  checkSize(bytes.length, lim);
  const canonical = canonicalizeLineEndings(bytes);
  checkSize(canonical.length, lim);
  return new Parser(canonical, lim).parseRoot();
}

function toInputBytes(input: Uint8Array | string): Uint8Array {
  if (typeof input === 'string') return utf8(input);
  if (input instanceof Uint8Array) return input;
  throw new MailPkiError('ERR_INVALID_INPUT', 'message: expected a Uint8Array or a string', { details: { field: 'message' } });
}

export function checkSize(length: number, lim: MimeLimits): void {
  if (length > lim.maxMessageBytes)
    throw new MailPkiError('ERR_INPUT_TOO_LARGE', `message is larger than ${lim.maxMessageBytes} bytes`, {
      details: { limit: 'maxMessageBytes', value: lim.maxMessageBytes },
    });
}

/** A boundary delimiter line: `level` is the index of the multipart (outermost 0) whose boundary it is. */
interface Delimiter {
  readonly lineStart: number;
  /** Just past the line's CRLF (or the end of the message). */
  readonly lineEnd: number;
  readonly level: number;
  readonly close: boolean;
}

interface RawField {
  readonly start: number;
  readonly colon: number;
  readonly name: string;
  end: number;
}

interface HeaderBlock {
  readonly fields: RawField[];
  readonly headerEnd: number;
  readonly bodyStart: number;
  /** Set when a delimiter line ended the header block (a part with headers and no body). */
  readonly terminator: Delimiter | undefined;
}

interface Parsed {
  readonly entity: MimeEntity;
  /** The delimiter line that ended this entity; undefined when it ran to the end of the message. */
  readonly terminator: Delimiter | undefined;
}

interface EntityHead {
  readonly start: number;
  readonly path: readonly number[];
  readonly block: HeaderBlock;
  readonly contentType: ContentType;
  readonly encoding: string;
}

/** Where an entity starts, and what its parent says about it. */
interface ChildStart {
  readonly start: number;
  readonly path: readonly number[];
  readonly inDigest: boolean;
}

/** A multipart whose body parts are being read. */
interface MultipartContainer {
  readonly kind: 'multipart';
  readonly head: EntityHead;
  /** Its boundary's level among the open boundaries. */
  readonly level: number;
  readonly preamble: { start: number; end: number };
  readonly children: MimeEntity[];
  readonly digest: boolean;
}

/** A message/rfc822 (or message/global) whose enclosed message is being read. */
interface MessageContainer {
  readonly kind: 'message';
  readonly head: EntityHead;
}

type Container = MultipartContainer | MessageContainer;

class Parser {
  private readonly n: number;
  private parts = 0;
  /** Open boundaries (latin1 form of their UTF-8 bytes) to their level. */
  private readonly open = new Map<string, number>();
  private readonly stack: string[] = [];
  private longestBoundary = 0;

  constructor(
    private readonly src: Uint8Array,
    private readonly limits: MimeLimits,
  ) {
    this.n = src.length;
  }

  /**
   * Parses the whole tree with an explicit stack of open containers, not recursion: any depth the
   * limits accept is safe whatever the JavaScript stack size (a deep message never gives a RangeError).
   */
  parseRoot(): MimeEntity {
    const open: Container[] = [];
    let next: ChildStart | undefined = { start: 0, path: [], inDigest: false };
    let done: Parsed | undefined;
    for (;;) {
      if (next) {
        const opened = this.openEntity(next);
        next = undefined;
        if ('container' in opened) {
          open.push(opened.container);
          next = opened.child;
          continue;
        }
        done = opened.parsed;
      }
      const parent = open[open.length - 1];
      if (!parent) return done!.entity;
      const step = parent.kind === 'multipart' ? this.multipartChildDone(parent, done!) : this.messageChildDone(parent, done!);
      if ('child' in step) next = step.child;
      else {
        open.pop();
        done = step.parsed;
      }
    }
  }

  /** Reads an entity's header: a leaf is parsed whole; a container is opened and its first child named. */
  private openEntity({ start, path, inDigest }: ChildStart): { parsed: Parsed } | { container: Container; child: ChildStart } {
    this.countEntity(path);
    const block = this.parseHeaderBlock(start, path);
    const head: EntityHead = {
      start,
      path,
      block,
      contentType: this.readContentType(block.fields, path, inDigest),
      encoding: parseTransferEncoding(this.singleValue(block.fields, 'content-transfer-encoding', path)),
    };
    if (head.contentType.type === 'multipart') {
      const level = this.openBoundary(head.contentType, path);
      const first = block.terminator ? undefined : this.nextDelimiter(block.bodyStart);
      if (first === undefined || first.level !== level) throw malformed('multipart body has no boundary delimiter line', path);
      if (first.close) throw malformed('multipart body has no body parts', path);
      const preamble = { start: block.bodyStart, end: Math.max(block.bodyStart, first.lineStart - 2) };
      const digest = head.contentType.subtype === 'digest';
      return {
        container: { kind: 'multipart', head, level, preamble, children: [], digest },
        child: { start: first.lineEnd, path: [...path, 0], inDigest: digest },
      };
    }
    if (isEnclosedMessage(head) && block.terminator === undefined)
      return { container: { kind: 'message', head }, child: { start: block.bodyStart, path: [...path, 0], inDigest: false } };
    const terminator = block.terminator ?? this.nextDelimiter(block.bodyStart);
    return { parsed: { entity: this.finish(head, 'leaf', this.endBefore(start, terminator)), terminator } };
  }

  /** A body part ended: the next one starts after its delimiter, or the close delimiter ends the multipart. */
  private multipartChildDone(m: MultipartContainer, child: Parsed): { child: ChildStart } | { parsed: Parsed } {
    const { head, level, children } = m;
    children.push(child.entity);
    const delimiter = child.terminator;
    if (delimiter === undefined || delimiter.level !== level) throw malformed('multipart body has no close delimiter', head.path);
    if (!delimiter.close) return { child: { start: delimiter.lineEnd, path: [...head.path, children.length], inDigest: m.digest } };
    this.closeBoundary();
    const terminator = this.nextDelimiter(delimiter.lineEnd);
    const end = this.endBefore(head.start, terminator);
    const epilogue = { start: Math.min(delimiter.lineEnd, end), end };
    return { parsed: { entity: this.finish(head, 'multipart', end, { children, preamble: m.preamble, epilogue }), terminator } };
  }

  private messageChildDone({ head }: MessageContainer, child: Parsed): { parsed: Parsed } {
    const end = this.endBefore(head.start, child.terminator);
    // A part whose header-ending blank line is also the CRLF before the next delimiter has no room
    // for a message: the enclosed one would lie outside its parent.
    if (child.entity.start > end || child.entity.end > end) throw malformed('an enclosed message/rfc822 part is empty', head.path);
    return { parsed: { entity: this.finish(head, 'message', end, { children: [child.entity] }), terminator: child.terminator } };
  }

  private finish(
    head: EntityHead,
    kind: 'leaf' | 'multipart' | 'message',
    end: number,
    extra: Pick<Parameters<typeof createEntity>[0], 'children' | 'preamble' | 'epilogue'> = {},
  ): MimeEntity {
    const { block, path } = head;
    const headers = block.fields.map((f) => this.toHeaderField(f, end));
    const disposition = this.singleValue(block.fields, 'content-disposition', path);
    return createEntity({
      source: this.src,
      path,
      kind,
      headers,
      contentType: head.contentType,
      contentTransferEncoding: head.encoding,
      contentDisposition: disposition === undefined ? undefined : parseContentDisposition(disposition),
      start: head.start,
      headerEnd: Math.min(block.headerEnd, end),
      bodyStart: Math.min(block.bodyStart, end),
      end,
      ...extra,
    });
  }

  private toHeaderField(f: RawField, entityEnd: number): HeaderField {
    const end = Math.min(f.end, entityEnd);
    return Object.freeze({
      name: f.name,
      value: unfoldValue(this.src.subarray(f.colon + 1, end)),
      start: f.start,
      end,
      raw: this.src.subarray(f.start, end),
    });
  }

  // The CRLF before a delimiter line belongs to the delimiter (RFC 2046 §5.1.1), not to the part.
  private endBefore(start: number, terminator: Delimiter | undefined): number {
    return terminator === undefined ? this.n : Math.max(start, terminator.lineStart - 2);
  }

  private countEntity(path: readonly number[]): void {
    if (path.length > this.limits.maxDepth)
      throw new MailPkiError('ERR_NESTING_TOO_DEEP', `MIME nesting is deeper than ${this.limits.maxDepth} levels`, {
        details: { limit: 'maxDepth', value: this.limits.maxDepth },
      });
    if (++this.parts > this.limits.maxParts)
      throw new MailPkiError('ERR_INPUT_TOO_LARGE', `message has more than ${this.limits.maxParts} MIME entities`, {
        details: { limit: 'maxParts', value: this.limits.maxParts },
      });
  }

  private readContentType(fields: RawField[], path: readonly number[], inDigest: boolean): ContentType {
    const value = this.singleValue(fields, 'content-type', path);
    return value === undefined ? defaultContentType(inDigest) : parseContentType(value, inDigest);
  }

  // Two Content-Type (or CTE, or disposition) fields make the structure ambiguous between readers: refuse.
  private singleValue(fields: RawField[], lowerName: string, path: readonly number[]): string | undefined {
    let found: RawField | undefined;
    for (const f of fields) {
      if (f.name.toLowerCase() !== lowerName) continue;
      if (found) throw malformed(`entity has more than one ${f.name} field`, path);
      found = f;
    }
    return found === undefined ? undefined : unfoldValue(this.src.subarray(found.colon + 1, found.end));
  }

  private openBoundary(contentType: ContentType, path: readonly number[]): number {
    const boundary = contentType.params.get('boundary');
    if (!boundary) throw malformed(`${contentType.mediaType} has no boundary parameter`, path);
    if (contentType.duplicateParams.includes('boundary'))
      throw malformed(`${contentType.mediaType} has more than one boundary parameter`, path);
    const key = fromLatin1(utf8(boundary));
    if (this.open.has(key)) throw malformed('nested multipart reuses an enclosing boundary', path);
    const level = this.stack.length;
    this.open.set(key, level);
    this.stack.push(key);
    this.longestBoundary = Math.max(this.longestBoundary, key.length);
    return level;
  }

  private closeBoundary(): void {
    const key = this.stack.pop();
    if (key !== undefined) this.open.delete(key);
    this.longestBoundary = 0;
    for (const k of this.stack) this.longestBoundary = Math.max(this.longestBoundary, k.length);
  }

  private parseHeaderBlock(start: number, path: readonly number[]): HeaderBlock {
    const fields: RawField[] = [];
    let p = start;
    while (p < this.n) {
      const { lineEnd, contentEnd } = this.lineAt(p);
      const terminator = this.delimiterAt(p, contentEnd, lineEnd);
      if (terminator) return { fields, headerEnd: p, bodyStart: p, terminator };
      if (contentEnd === p) return { fields, headerEnd: p, bodyStart: lineEnd, terminator: undefined };
      this.checkHeaderLine(contentEnd - p, fields.length);
      const c = this.src[p];
      if (c === SP || c === TAB) {
        const last = fields[fields.length - 1];
        if (!last) throw malformed('header block starts with a continuation line', path);
        last.end = lineEnd;
      } else {
        fields.push(this.readFieldStart(p, contentEnd, lineEnd, path));
      }
      p = lineEnd;
    }
    return { fields, headerEnd: this.n, bodyStart: this.n, terminator: undefined };
  }

  private checkHeaderLine(length: number, fieldCount: number): void {
    if (length > this.limits.maxHeaderLineLength)
      throw new MailPkiError('ERR_INPUT_TOO_LARGE', `header line is longer than ${this.limits.maxHeaderLineLength} bytes`, {
        details: { limit: 'maxHeaderLineLength', value: this.limits.maxHeaderLineLength },
      });
    if (fieldCount >= this.limits.maxHeaderFields)
      throw new MailPkiError('ERR_INPUT_TOO_LARGE', `entity has more than ${this.limits.maxHeaderFields} header fields`, {
        details: { limit: 'maxHeaderFields', value: this.limits.maxHeaderFields },
      });
  }

  private readFieldStart(p: number, contentEnd: number, lineEnd: number, path: readonly number[]): RawField {
    const colonInLine = this.src.subarray(p, contentEnd).indexOf(COLON);
    if (colonInLine < 0) throw malformed('header line has no colon', path, p);
    const colon = p + colonInLine;
    // Obsolete syntax (RFC 5322 §4.5): white space between the name and the colon.
    let nameEnd = colon;
    while (nameEnd > p && (this.src[nameEnd - 1] === SP || this.src[nameEnd - 1] === TAB)) nameEnd--;
    if (nameEnd === p) throw malformed('header field has an empty name', path, p);
    for (let i = p; i < nameEnd; i++) {
      const b = this.src[i]!;
      if (b < 33 || b > 126) throw malformed('header field name has an invalid character', path, p);
    }
    return { start: p, colon, name: fromLatin1(this.src.subarray(p, nameEnd)), end: lineEnd };
  }

  private lineAt(p: number): { lineEnd: number; contentEnd: number } {
    const lf = this.src.indexOf(LF, p);
    if (lf < 0) return { lineEnd: this.n, contentEnd: this.n };
    return { lineEnd: lf + 1, contentEnd: lf > p && this.src[lf - 1] === CR ? lf - 1 : lf };
  }

  /** The first delimiter line of any open boundary at or after `from`, scanning line starts only. */
  private nextDelimiter(from: number): Delimiter | undefined {
    if (this.stack.length === 0) return undefined;
    let p = from;
    while (p < this.n) {
      const { lineEnd, contentEnd } = this.lineAt(p);
      const d = this.delimiterAt(p, contentEnd, lineEnd);
      if (d) return d;
      p = lineEnd;
    }
    return undefined;
  }

  /**
   * The delimiter on the line at `p`, if any: "--" boundary, optionally "--", then only white
   * space (RFC 2046 transport padding). When two open boundaries match ("--a--" closes "a" or
   * opens "a--"), the outer one wins, as a reader splitting the outer level first would see it.
   */
  private delimiterAt(p: number, contentEnd: number, lineEnd: number): Delimiter | undefined {
    if (this.stack.length === 0 || this.src[p] !== DASH || this.src[p + 1] !== DASH) return undefined;
    let e = contentEnd;
    while (e > p + 2 && (this.src[e - 1] === SP || this.src[e - 1] === TAB)) e--;
    if (e - p - 2 > this.longestBoundary + 2) return undefined;
    const key = fromLatin1(this.src.subarray(p + 2, e));
    const asOpen = this.open.get(key);
    const asClose = key.endsWith('--') ? this.open.get(key.slice(0, -2)) : undefined;
    if (asOpen === undefined && asClose === undefined) return undefined;
    const close = asClose !== undefined && (asOpen === undefined || asClose < asOpen);
    return { lineStart: p, lineEnd, level: close ? asClose! : asOpen!, close };
  }
}

function isEnclosedMessage(head: EntityHead): boolean {
  const m = head.contentType.mediaType;
  return (m === 'message/rfc822' || m === 'message/global') && IDENTITY_ENCODINGS.has(head.encoding);
}

function malformed(message: string, path: readonly number[], offset?: number): MailPkiError {
  return new MailPkiError('ERR_MIME_MALFORMED', message, {
    details: offset === undefined ? { path: [...path] } : { path: [...path], offset },
  });
}
