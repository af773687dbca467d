/**
 * A small, strict DER reader and writer.
 *
 * Why our own: signature checks need the exact bytes that were signed (TBSCertificate,
 * signed attributes, CRL entries) without re-encoding, and hot paths (verifying mail,
 * large CRLs) must not build an object tree per node. The reader works on offsets into the
 * original buffer and never copies. It refuses indefinite lengths, non-minimal lengths,
 * high tag numbers and trailing bytes, and bounds nesting depth.
 */
import { MailPkiError, type MailPkiErrorCode } from '../errors.js';
import { concatBytes, fromLatin1, fromUtf8, toHex, utf8 } from './bytes.js';

export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Tag byte of a context-specific [n] field. */
export function ctxTag(n: number, constructed: boolean): number {
  return 0x80 | (constructed ? 0x20 : 0) | n;
}

/** One TLV inside `bytes`: header starts at `start`, content is `[contentStart, end)`. */
export interface Der {
  readonly bytes: Uint8Array;
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

export const MAX_DER_DEPTH = 64;

function fail(code: MailPkiErrorCode, what: string, detail: string): never {
  throw new MailPkiError(code, `${what}: ${detail}`);
}

/** Reads the TLV at `offset`, bounded by `limit`. */
export function readTlv(
  bytes: Uint8Array,
  offset: number,
  limit: number,
  code: MailPkiErrorCode = 'ERR_DER_MALFORMED',
  what = 'invalid DER',
): Der {
  if (offset >= limit) fail(code, what, 'unexpected end of data');
  const tag = bytes[offset]!;
  if ((tag & 0x1f) === 0x1f) fail(code, what, 'high tag numbers are not supported');
  if (offset + 1 >= limit) fail(code, what, 'truncated length');
  let len = bytes[offset + 1]!;
  let p = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) fail(code, what, 'indefinite length is not DER');
    if (n > 4) fail(code, what, 'length too large');
    if (p + n > limit) fail(code, what, 'truncated length');
    if (bytes[p] === 0) fail(code, what, 'non-minimal length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + bytes[p + i]!;
    if (len < 0x80) fail(code, what, 'non-minimal length');
    p += n;
  }
  if (p + len > limit) fail(code, what, 'content runs past the end of the data');
  return { bytes, tag, start: offset, contentStart: p, end: p + len };
}

/** Parses a whole buffer as exactly one TLV (no trailing bytes). */
export function parseDer(
  bytes: Uint8Array,
  code: MailPkiErrorCode = 'ERR_DER_MALFORMED',
  what = 'invalid DER',
): Der {
  const node = readTlv(bytes, 0, bytes.length, code, what);
  if (node.end !== bytes.length) fail(code, what, 'trailing bytes after the structure');
  return node;
}

/** Parses a whole buffer as exactly one SEQUENCE: what every top-level X.509/CMS structure is. */
export function parseDerSequence(
  bytes: Uint8Array,
  code: MailPkiErrorCode = 'ERR_DER_MALFORMED',
  what = 'invalid DER',
): Der {
  const node = parseDer(bytes, code, what);
  if (node.tag !== Tag.SEQUENCE) fail(code, what, `expected a SEQUENCE, got tag 0x${node.tag.toString(16)}`);
  return node;
}

/** Reader over the children of a constructed node, with typed accessors. */
export class DerCursor {
  private pos: number;
  constructor(
    readonly parent: Der,
    readonly code: MailPkiErrorCode = 'ERR_DER_MALFORMED',
    readonly what = 'invalid DER',
  ) {
    if ((parent.tag & 0x20) === 0) fail(code, what, `expected a constructed value, got tag 0x${parent.tag.toString(16)}`);
    this.pos = parent.contentStart;
  }

  get done(): boolean {
    return this.pos >= this.parent.end;
  }

  peekTag(): number | undefined {
    return this.done ? undefined : this.parent.bytes[this.pos];
  }

  /** Next child, of the given tag when one is named. */
  next(tag?: number): Der {
    const node = readTlv(this.parent.bytes, this.pos, this.parent.end, this.code, this.what);
    if (tag !== undefined && node.tag !== tag)
      fail(this.code, this.what, `expected tag 0x${tag.toString(16)}, got 0x${node.tag.toString(16)}`);
    this.pos = node.end;
    return node;
  }

  /** Next child if it has this tag, else undefined (for OPTIONAL / DEFAULT fields). */
  optional(tag: number): Der | undefined {
    return this.peekTag() === tag ? this.next() : undefined;
  }

  /** Asserts there is nothing left. */
  end(): void {
    if (!this.done) fail(this.code, this.what, 'unexpected extra field');
  }
}

export function cursor(node: Der, code?: MailPkiErrorCode, what?: string): DerCursor {
  return new DerCursor(node, code, what);
}

/** All children of a constructed node. */
export function childrenOf(node: Der, code?: MailPkiErrorCode, what?: string): Der[] {
  const c = new DerCursor(node, code, what);
  const out: Der[] = [];
  while (!c.done) out.push(c.next());
  return out;
}

export function contentOf(node: Der): Uint8Array {
  return node.bytes.subarray(node.contentStart, node.end);
}

/** The whole TLV, header included (e.g. to hash or re-embed exactly as received). */
export function encodedOf(node: Der): Uint8Array {
  return node.bytes.subarray(node.start, node.end);
}

export function readOid(node: Der): string {
  if (node.tag !== Tag.OID) fail('ERR_DER_MALFORMED', 'invalid DER', 'expected an OBJECT IDENTIFIER');
  const b = node.bytes;
  if (node.end === node.contentStart) fail('ERR_DER_MALFORMED', 'invalid DER', 'empty OBJECT IDENTIFIER');
  const parts: number[] = [];
  let v = 0;
  let first = true;
  for (let i = node.contentStart; i < node.end; i++) {
    const byte = b[i]!;
    if (v === 0 && byte === 0x80) fail('ERR_DER_MALFORMED', 'invalid DER', 'non-minimal OBJECT IDENTIFIER');
    v = v * 128 + (byte & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 128) fail('ERR_DER_MALFORMED', 'invalid DER', 'OBJECT IDENTIFIER arc too large');
    if ((byte & 0x80) === 0) {
      if (first) {
        const a = v < 40 ? 0 : v < 80 ? 1 : 2;
        parts.push(a, v - a * 40);
        first = false;
      } else parts.push(v);
      v = 0;
    } else if (i === node.end - 1) fail('ERR_DER_MALFORMED', 'invalid DER', 'truncated OBJECT IDENTIFIER');
  }
  return parts.join('.');
}

/** INTEGER content bytes as given (two's complement, minimal). */
export function readIntegerBytes(node: Der): Uint8Array {
  if (node.tag !== Tag.INTEGER && node.tag !== Tag.ENUMERATED) fail('ERR_DER_MALFORMED', 'invalid DER', 'expected an INTEGER');
  const c = contentOf(node);
  if (c.length === 0) fail('ERR_DER_MALFORMED', 'invalid DER', 'empty INTEGER');
  return c;
}

/** A small non-negative INTEGER as a number (versions, counts, enumerations). */
export function readSmallInt(node: Der): number {
  const c = readIntegerBytes(node);
  if (c.length > 6 || (c[0]! & 0x80) !== 0) fail('ERR_DER_MALFORMED', 'invalid DER', 'INTEGER out of range');
  let v = 0;
  for (const byte of c) v = v * 256 + byte;
  return v;
}

/** A non-negative INTEGER as lower-case hex without leading zero bytes (serial numbers). */
export function readUnsignedHex(node: Der): string {
  let c = readIntegerBytes(node);
  let i = 0;
  while (i < c.length - 1 && c[i] === 0) i++;
  c = c.subarray(i);
  return toHex(c);
}

export function readBoolean(node: Der): boolean {
  if (node.tag !== Tag.BOOLEAN || node.end - node.contentStart !== 1)
    fail('ERR_DER_MALFORMED', 'invalid DER', 'expected a BOOLEAN');
  return node.bytes[node.contentStart] !== 0;
}

/** BIT STRING contents without the unused-bits byte; `unused` tells how many trailing bits are padding. */
export function readBitString(node: Der): { bits: Uint8Array; unused: number } {
  if (node.tag !== Tag.BIT_STRING || node.end === node.contentStart)
    fail('ERR_DER_MALFORMED', 'invalid DER', 'expected a BIT STRING');
  const unused = node.bytes[node.contentStart]!;
  if (unused > 7) fail('ERR_DER_MALFORMED', 'invalid DER', 'bad BIT STRING padding');
  return { bits: node.bytes.subarray(node.contentStart + 1, node.end), unused };
}

export function readOctetString(node: Der): Uint8Array {
  if (node.tag !== Tag.OCTET_STRING) fail('ERR_DER_MALFORMED', 'invalid DER', 'expected an OCTET STRING');
  return contentOf(node);
}

/** Decodes any of the X.500 string types to a JS string. */
export function readString(node: Der): string {
  const c = contentOf(node);
  switch (node.tag) {
    case Tag.UTF8_STRING:
      try {
        return fromUtf8(c);
      } catch {
        return fail('ERR_DER_MALFORMED', 'invalid DER', 'bad UTF-8 in UTF8String');
      }
    case Tag.PRINTABLE_STRING:
    case Tag.IA5_STRING:
    case Tag.T61_STRING:
    case 0x1a: // VisibleString
    case 0x12: // NumericString
      return fromLatin1(c);
    case Tag.BMP_STRING: {
      if (c.length % 2) fail('ERR_DER_MALFORMED', 'invalid DER', 'bad BMPString');
      let s = '';
      for (let i = 0; i < c.length; i += 2) s += String.fromCharCode((c[i]! << 8) | c[i + 1]!);
      return s;
    }
    case Tag.UNIVERSAL_STRING: {
      if (c.length % 4) fail('ERR_DER_MALFORMED', 'invalid DER', 'bad UniversalString');
      let s = '';
      for (let i = 0; i < c.length; i += 4)
        s += String.fromCodePoint(((c[i]! << 24) | (c[i + 1]! << 16) | (c[i + 2]! << 8) | c[i + 3]!) >>> 0);
      return s;
    }
    default:
      return fail('ERR_DER_MALFORMED', 'invalid DER', `unexpected string tag 0x${node.tag.toString(16)}`);
  }
}

/** UTCTime or GeneralizedTime (Z form, as RFC 5280 requires). */
export function readTime(node: Der): Date {
  const s = fromLatin1(contentOf(node));
  let m: RegExpMatchArray | null;
  let year: number;
  if (node.tag === Tag.UTC_TIME) {
    m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s);
    if (!m) fail('ERR_DER_MALFORMED', 'invalid DER', `bad UTCTime "${s}"`);
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (node.tag === Tag.GENERALIZED_TIME) {
    m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:\.(\d+))?Z$/.exec(s);
    if (!m) fail('ERR_DER_MALFORMED', 'invalid DER', `bad GeneralizedTime "${s}"`);
    year = Number(m[1]);
  } else return fail('ERR_DER_MALFORMED', 'invalid DER', 'expected a time');
  const ms = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
  const t = Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), ms);
  const d = new Date(t);
  if (Number.isNaN(t) || d.getUTCMonth() !== Number(m[2]) - 1 || d.getUTCDate() !== Number(m[3]))
    fail('ERR_DER_MALFORMED', 'invalid DER', `impossible date "${s}"`);
  return d;
}

// ---------------------------------------------------------------------------------------------
// Writer: each function returns the full encoding of one TLV.

function lengthBytes(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  if (n < 0x100) return Uint8Array.of(0x81, n);
  if (n < 0x10000) return Uint8Array.of(0x82, n >> 8, n & 0xff);
  if (n < 0x1000000) return Uint8Array.of(0x83, n >> 16, (n >> 8) & 0xff, n & 0xff);
  return Uint8Array.of(0x84, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
}

/** A TLV from a tag and already-encoded content parts. */
export function tlv(tag: number, ...content: readonly Uint8Array[]): Uint8Array {
  let len = 0;
  for (const c of content) len += c.length;
  const l = lengthBytes(len);
  const out = new Uint8Array(1 + l.length + len);
  out[0] = tag;
  out.set(l, 1);
  let at = 1 + l.length;
  for (const c of content) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

export const seq = (...items: readonly Uint8Array[]): Uint8Array => tlv(Tag.SEQUENCE, ...items);

/** SET OF, sorted by encoding as DER requires. */
export function setOf(...items: readonly Uint8Array[]): Uint8Array {
  const sorted = [...items].sort(compareBytes);
  return tlv(Tag.SET, ...sorted);
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** EXPLICIT [n] wrapper. */
export const explicit = (n: number, ...inner: readonly Uint8Array[]): Uint8Array => tlv(ctxTag(n, true), ...inner);

/** IMPLICIT [n] primitive with the given content. */
export const implicit = (n: number, content: Uint8Array): Uint8Array => tlv(ctxTag(n, false), content);

/** Re-tags an encoded TLV as IMPLICIT [n] (constructed-ness kept). */
export function retag(encoded: Uint8Array, n: number): Uint8Array {
  const out = encoded.slice();
  out[0] = ctxTag(n, (encoded[0]! & 0x20) !== 0);
  return out;
}

const oidCache = new Map<string, Uint8Array>();

export function oid(dotted: string): Uint8Array {
  const hit = oidCache.get(dotted);
  if (hit) return hit;
  const arcs = dotted.split('.').map(Number);
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0)) throw new MailPkiError('ERR_INVALID_INPUT', `bad OID ${dotted}`, { details: { field: 'oid' } });
  const body: number[] = [];
  const push = (v: number) => {
    const tmp: number[] = [v & 0x7f];
    v = Math.floor(v / 128);
    while (v > 0) {
      tmp.unshift((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    body.push(...tmp);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  const enc = tlv(Tag.OID, Uint8Array.from(body));
  oidCache.set(dotted, enc);
  return enc;
}

/** INTEGER from unsigned big-endian bytes (adds the sign byte, strips leading zeros). */
export function uintBytes(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  let body = bytes.subarray(i);
  if (body.length === 0) body = Uint8Array.of(0);
  if (body[0]! & 0x80) body = concatBytes([Uint8Array.of(0), body]);
  return tlv(Tag.INTEGER, body);
}

export function int(n: number | bigint): Uint8Array {
  let v = BigInt(n);
  if (v < 0n) throw new MailPkiError('ERR_INVALID_INPUT', 'negative INTEGER not supported', { details: { field: 'value' } });
  const bytes: number[] = [];
  do {
    bytes.unshift(Number(v & 0xffn));
    v >>= 8n;
  } while (v > 0n);
  return uintBytes(Uint8Array.from(bytes));
}

export const enumerated = (n: number): Uint8Array => {
  const i = int(n);
  i[0] = Tag.ENUMERATED;
  return i;
};

export const octets = (b: Uint8Array): Uint8Array => tlv(Tag.OCTET_STRING, b);
export const bitString = (b: Uint8Array, unused = 0): Uint8Array => tlv(Tag.BIT_STRING, Uint8Array.of(unused), b);
export const nul = (): Uint8Array => Uint8Array.of(Tag.NULL, 0);
export const bool = (v: boolean): Uint8Array => Uint8Array.of(Tag.BOOLEAN, 1, v ? 0xff : 0);
export const utf8String = (s: string): Uint8Array => tlv(Tag.UTF8_STRING, utf8(s));
export const ia5String = (s: string): Uint8Array => {
  if (!/^[\x00-\x7f]*$/.test(s)) throw new MailPkiError('ERR_INVALID_INPUT', 'IA5String must be ASCII', { details: { field: 'value' } });
  return tlv(Tag.IA5_STRING, utf8(s));
};
export const printableString = (s: string): Uint8Array => tlv(Tag.PRINTABLE_STRING, utf8(s));

/** Named bits: DER drops trailing zero bits. `bits[i]` true sets bit i (bit 0 = MSB of byte 0). */
export function namedBits(bits: readonly boolean[]): Uint8Array {
  let last = -1;
  bits.forEach((b, i) => {
    if (b) last = i;
  });
  if (last < 0) return bitString(new Uint8Array(0));
  const nBytes = Math.floor(last / 8) + 1;
  const out = new Uint8Array(nBytes);
  for (let i = 0; i <= last; i++) if (bits[i]) out[i >> 3]! |= 0x80 >> (i & 7);
  return bitString(out, 7 - (last & 7));
}

/** RFC 5280: UTCTime through 2049, GeneralizedTime from 2050. Seconds precision. */
export function time(d: Date): Uint8Array {
  const y = d.getUTCFullYear();
  const p = (n: number) => String(n).padStart(2, '0');
  const rest = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) return tlv(Tag.UTC_TIME, utf8(`${p(y % 100)}${rest}`));
  return tlv(Tag.GENERALIZED_TIME, utf8(`${String(y).padStart(4, '0')}${rest}`));
}

export function generalizedTime(d: Date): Uint8Array {
  const p = (n: number) => String(n).padStart(2, '0');
  return tlv(
    Tag.GENERALIZED_TIME,
    utf8(
      `${String(d.getUTCFullYear()).padStart(4, '0')}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`,
    ),
  );
}
