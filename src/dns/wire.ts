/**
 * DNS messages on the wire (RFC 1035 §4), as much as dynamic updates need: names, the UPDATE
 * message (RFC 2136 §2), TXT RDATA, and a bounded parser that walks every section of an answer
 * and finds its TSIG record. Names are written uncompressed (always allowed); read names may be
 * compressed.
 */
import { dnsError } from './errors.js';
import { MailPkiError } from '../errors.js';

export const RR_TYPE = { SOA: 6, TXT: 16, TSIG: 250 } as const;
export const RR_CLASS = { IN: 1, NONE: 254, ANY: 255 } as const;
export const OPCODE_UPDATE = 5;

/** RCODE names (RFC 1035, RFC 2136 §2.2, RFC 8945 §3 for the TSIG error field). */
export const RCODE_NAMES: Readonly<Record<number, string>> = Object.freeze({
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
  6: 'YXDOMAIN',
  7: 'YXRRSET',
  8: 'NXRRSET',
  9: 'NOTAUTH',
  10: 'NOTZONE',
  16: 'BADSIG',
  17: 'BADKEY',
  18: 'BADTIME',
  22: 'BADTRUNC',
});

export function rcodeName(code: number): string {
  return RCODE_NAMES[code] ?? `RCODE${code}`;
}

const MAX_NAME = 255;
const MAX_POINTERS = 64;
const MAX_RECORDS = 10_000;

/** Growable byte buffer for building messages. */
export class WireWriter {
  private buf = new Uint8Array(512);
  length = 0;
  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }
  u8(v: number): this {
    this.ensure(1);
    this.buf[this.length++] = v & 0xff;
    return this;
  }
  u16(v: number): this {
    return this.u8(v >>> 8).u8(v);
  }
  u32(v: number): this {
    return this.u16(Math.floor(v / 0x10000) & 0xffff).u16(v & 0xffff);
  }
  u48(v: number): this {
    return this.u16(Math.floor(v / 0x100000000) & 0xffff).u32(v % 0x100000000);
  }
  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
    return this;
  }
  name(n: string): this {
    return this.bytes(encodeName(n));
  }
  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

function invalidName(name: string, why: string): MailPkiError {
  return new MailPkiError('ERR_INVALID_INPUT', `not a DNS name (${why}): ${JSON.stringify(name)}`, { details: { field: 'name' } });
}

/** A domain name in wire form (labels, root label last). ASCII only; a trailing dot is optional. */
export function encodeName(name: string, options: { lowercase?: boolean } = {}): Uint8Array {
  if (typeof name !== 'string') throw invalidName(String(name), 'not a string');
  const text = name.endsWith('.') ? name.slice(0, -1) : name;
  const out: number[] = [];
  if (text.length > 0) {
    for (const label of text.split('.')) {
      if (label.length === 0) throw invalidName(name, 'empty label');
      if (label.length > 63) throw invalidName(name, 'label longer than 63 bytes');
      out.push(label.length);
      for (let i = 0; i < label.length; i++) {
        let c = label.charCodeAt(i);
        if (c <= 0x20 || c >= 0x7f) throw invalidName(name, 'only printable ASCII');
        if (options.lowercase && c >= 0x41 && c <= 0x5a) c += 0x20;
        out.push(c);
      }
    }
  }
  out.push(0);
  if (out.length > MAX_NAME) throw invalidName(name, 'longer than 255 bytes');
  return Uint8Array.from(out);
}

/** True when `name` is `zone` or below it (case-insensitive). */
export function isInZone(name: string, zone: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  const z = zone.toLowerCase().replace(/\.$/, '');
  return z === '' || n === z || n.endsWith(`.${z}`);
}

/** TXT RDATA: the value as character-strings of at most 255 bytes (RFC 1035 §3.3.14). */
export function txtRdata(value: string): Uint8Array {
  if (typeof value !== 'string' || !/^[\x20-\x7e]*$/.test(value)) throw new MailPkiError('ERR_INVALID_INPUT', 'TXT value: printable ASCII only', { details: { field: 'value' } });
  const w = new WireWriter();
  if (value.length === 0) w.u8(0);
  for (let i = 0; i < value.length; i += 255) {
    const part = value.slice(i, i + 255);
    w.u8(part.length);
    for (let j = 0; j < part.length; j++) w.u8(part.charCodeAt(j));
  }
  if (w.length > 65535) throw new MailPkiError('ERR_INVALID_INPUT', 'TXT value: longer than one RDATA can hold', { details: { field: 'value' } });
  return w.finish();
}

/** One change in the update section (RFC 2136 §2.5). */
export type UpdateOperation =
  /** §2.5.2: delete the RRset of this name and type. */
  | { op: 'delete-rrset'; name: string; type: number }
  /** §2.5.1: add an RR to an RRset. */
  | { op: 'add'; name: string; type: number; ttl: number; rdata: Uint8Array };

/** An UPDATE message (no prerequisites) for `zone`, unsigned. */
export function encodeUpdate(input: { id: number; zone: string; updates: readonly UpdateOperation[] }): Uint8Array {
  const { id, zone, updates } = input;
  if (!Number.isInteger(id) || id < 0 || id > 0xffff) throw new MailPkiError('ERR_INVALID_INPUT', 'id: 0 to 65535', { details: { field: 'id' } });
  const w = new WireWriter();
  w.u16(id).u16(OPCODE_UPDATE << 11).u16(1).u16(0).u16(updates.length).u16(0);
  w.name(zone).u16(RR_TYPE.SOA).u16(RR_CLASS.IN);
  for (const u of updates) {
    if (u.op === 'delete-rrset') w.name(u.name).u16(u.type).u16(RR_CLASS.ANY).u32(0).u16(0);
    else {
      if (!Number.isInteger(u.ttl) || u.ttl < 0 || u.ttl > 0x7fffffff) throw new MailPkiError('ERR_INVALID_INPUT', 'ttl: 0 to 2^31-1 seconds', { details: { field: 'ttl' } });
      w.name(u.name).u16(u.type).u16(RR_CLASS.IN).u32(u.ttl).u16(u.rdata.length).bytes(u.rdata);
    }
  }
  return w.finish();
}

/** The TSIG record of a message, as read. */
export interface TsigRecord {
  /** Offset of the TSIG RR in the message: what precedes it is what the MAC covers. */
  offset: number;
  /** Key name, lower-case, no trailing dot. */
  name: string;
  algorithm: string;
  timeSigned: number;
  fudge: number;
  mac: Uint8Array;
  originalId: number;
  error: number;
  otherData: Uint8Array;
}

export interface ParsedMessage {
  id: number;
  qr: boolean;
  opcode: number;
  /** Header RCODE (4 bits). */
  rcode: number;
  truncated: boolean;
  counts: [number, number, number, number];
  /** The TSIG RR when it is the last record of the additional section. */
  tsig?: TsigRecord;
}

function malformed(why: string): Error {
  return dnsError('ERR_DNS_RESPONSE_INVALID', `malformed DNS message: ${why}`);
}

class WireReader {
  pos = 0;
  constructor(readonly b: Uint8Array) {}
  need(n: number): void {
    if (this.pos + n > this.b.length) throw malformed('truncated');
  }
  u8(): number {
    this.need(1);
    return this.b[this.pos++]!;
  }
  u16(): number {
    return (this.u8() << 8) | this.u8();
  }
  u32(): number {
    return this.u16() * 0x10000 + this.u16();
  }
  u48(): number {
    return this.u16() * 0x100000000 + this.u32();
  }
  take(n: number): Uint8Array {
    this.need(n);
    const out = this.b.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  /** A name (following compression pointers, bounded), lower-cased, without the trailing dot. */
  name(): string {
    const labels: string[] = [];
    let pos = this.pos;
    let jumped = false;
    let pointers = 0;
    let total = 1;
    for (;;) {
      if (pos >= this.b.length) throw malformed('name runs past the end');
      const len = this.b[pos]!;
      if (len === 0) {
        pos++;
        break;
      }
      if ((len & 0xc0) === 0xc0) {
        if (pos + 1 >= this.b.length) throw malformed('truncated pointer');
        if (++pointers > MAX_POINTERS) throw malformed('compression loop');
        const target = ((len & 0x3f) << 8) | this.b[pos + 1]!;
        if (!jumped) this.pos = pos + 2;
        jumped = true;
        pos = target;
        continue;
      }
      if (len > 63) throw malformed('bad label length');
      if (pos + 1 + len > this.b.length) throw malformed('label runs past the end');
      total += len + 1;
      if (total > MAX_NAME) throw malformed('name longer than 255 bytes');
      let label = '';
      for (let i = 0; i < len; i++) label += String.fromCharCode(this.b[pos + 1 + i]!);
      labels.push(label.toLowerCase());
      pos += 1 + len;
    }
    if (!jumped) this.pos = pos;
    return labels.join('.');
  }
}

/**
 * Reads the header and walks every record, bounded by the message length. Throws
 * ERR_DNS_RESPONSE_INVALID for anything malformed (a hostile server gets an error, not a hang).
 */
export function parseMessage(bytes: Uint8Array): ParsedMessage {
  const r = new WireReader(bytes);
  const id = r.u16();
  const flags = r.u16();
  const counts: [number, number, number, number] = [r.u16(), r.u16(), r.u16(), r.u16()];
  if (counts[0] + counts[1] + counts[2] + counts[3] > MAX_RECORDS) throw malformed('too many records');
  for (let i = 0; i < counts[0]; i++) {
    r.name();
    r.need(4);
    r.pos += 4;
  }
  let tsig: TsigRecord | undefined;
  const rrs = counts[1] + counts[2] + counts[3];
  for (let i = 0; i < rrs; i++) {
    const offset = r.pos;
    const name = r.name();
    const type = r.u16();
    r.u16();
    r.u32();
    const rdlength = r.u16();
    r.need(rdlength);
    const end = r.pos + rdlength;
    if (type === RR_TYPE.TSIG) {
      if (i !== rrs - 1 || counts[3] === 0) throw malformed('TSIG is not the last record');
      const algorithm = r.name();
      const timeSigned = r.u48();
      const fudge = r.u16();
      const mac = r.take(r.u16());
      const originalId = r.u16();
      const error = r.u16();
      const otherData = r.take(r.u16());
      if (r.pos !== end) throw malformed('TSIG RDATA length');
      tsig = { offset, name, algorithm, timeSigned, fudge, mac, originalId, error, otherData };
    }
    r.pos = end;
  }
  if (r.pos !== bytes.length) throw malformed('trailing bytes');
  return {
    id,
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >>> 11) & 0xf,
    rcode: flags & 0xf,
    truncated: (flags & 0x0200) !== 0,
    counts,
    ...(tsig && { tsig }),
  };
}
