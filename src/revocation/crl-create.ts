/**
 * Building and signing v2 CRLs (RFC 5280 §5). Sized for large CAs: the revokedCertificates list
 * is measured first, then written once into one preallocated buffer, so 100,000 entries take
 * well under a second and no per-entry DER objects are made.
 */
import { z } from 'zod';
import { REVOCATION_REASONS, type RevocationReason } from '../ca/types.js';
import type { TbsSigner } from '../certs/builder.js';
import type { Certificate } from '../certs/certificate.js';
import { MailPkiError } from '../errors.js';
import { encodePem } from '../internal/pem.js';
import { bitString, explicit, implicit, int, oid, seq, time } from '../internal/der.js';
import { OID } from '../internal/oids.js';
import { parseInput } from '../internal/validate.js';
import { signatureAlgorithmIdentifier } from '../keys/algorithms.js';

/** Longest serial number accepted, in bytes (RFC 5280 §4.1.2.2: at most 20 octets). */
export const MAX_CRL_SERIAL_BYTES = 20;

export interface CrlEntryInput {
  /** Serial number in hex (`0x` prefix and `:` separators allowed), as `Certificate.serialNumber` gives it. */
  serialNumber: string;
  revocationDate: Date;
  /** Omitted, or 'unspecified': no reasonCode entry extension (RFC 5280 §5.3.1 recommends that). */
  reason?: RevocationReason;
  /** When the key is known or suspected to have been compromised (RFC 5280 §5.3.2). */
  invalidityDate?: Date;
}

export interface CreateCrlOptions {
  /** The CRL issuer's certificate: its subject becomes the CRL issuer, its SKI the authorityKeyIdentifier. */
  issuer: Certificate;
  /** Signs with the issuer's key (`keySigner(key, alg)`, or an HSM / remote signer). */
  signer: TbsSigner;
  thisUpdate: Date;
  nextUpdate: Date;
  /** Monotonically increasing per issuer (RFC 5280 §5.2.3); at most 20 octets. */
  crlNumber: bigint | number;
  entries: Iterable<CrlEntryInput>;
}

const REASON_NAMES = Object.keys(REVOCATION_REASONS) as [RevocationReason, ...RevocationReason[]];

const crlDate = z
  .date()
  .refine((d) => !Number.isNaN(d.getTime()) && d.getUTCFullYear() >= 1950 && d.getUTCFullYear() <= 9999, 'must be a valid date in 1950–9999');

const serialSchema = z
  .string()
  .max(2 + 3 * MAX_CRL_SERIAL_BYTES + 2, 'serial number too long')
  .regex(/^(0x)?[0-9a-fA-F:]+$/, 'serial number must be hex')
  .transform((s) => s.replace(/^0x/, '').replace(/:/g, '').toLowerCase().replace(/^0+(?=.)/, ''))
  .refine((s) => s.length <= 2 * MAX_CRL_SERIAL_BYTES, `serial number longer than ${MAX_CRL_SERIAL_BYTES} bytes`);

const entrySchema = z.object({
  serialNumber: serialSchema,
  revocationDate: crlDate,
  reason: z
    .enum(REASON_NAMES)
    .refine((r) => r !== 'removeFromCRL', 'removeFromCRL is only for delta CRLs (RFC 5280 §5.3.1)')
    .optional(),
  invalidityDate: crlDate.optional(),
});

const MAX_CRL_NUMBER = (1n << 159n) - 1n;

const optionsSchema = z
  .object({
    issuer: z.custom<Certificate>(
      (v) => typeof v === 'object' && v !== null && (v as Certificate).subject?.der instanceof Uint8Array,
      'expected a parsed Certificate',
    ),
    signer: z.custom<TbsSigner>(
      (v) => typeof v === 'object' && v !== null && typeof (v as TbsSigner).sign === 'function' && typeof (v as TbsSigner).algorithm === 'object',
      'expected a TbsSigner',
    ),
    thisUpdate: crlDate,
    nextUpdate: crlDate,
    crlNumber: z.union([z.bigint(), z.number().int()]).transform(BigInt).refine((n) => n >= 0n && n <= MAX_CRL_NUMBER, 'must be 0 to 2^159-1 (20 octets)'),
    entries: z.custom<Iterable<unknown>>(
      (v) => typeof v === 'object' && v !== null && typeof (v as Iterable<unknown>)[Symbol.iterator] === 'function',
      'expected an iterable of entries',
    ),
  })
  .strict()
  .refine((o) => o.nextUpdate.getTime() >= o.thisUpdate.getTime() + 1000, { message: 'must be after thisUpdate', path: ['nextUpdate'] });

const MIN_MS = Date.UTC(1950, 0, 1);
const MAX_MS = Date.UTC(10000, 0, 1) - 1;
const UTC_TIME_END = Date.UTC(2050, 0, 1);
const QUICK_REASONS = new Set<unknown>(REASON_NAMES.filter((r) => r !== 'removeFromCRL'));
type Entry = z.output<typeof entrySchema>;

const quickDate = (d: unknown): d is Date => d instanceof Date && d.getTime() >= MIN_MS && d.getTime() <= MAX_MS;

/**
 * The common case of entrySchema without zod's per-object cost (about 150 ms per 100,000
 * entries): plain lower-case hex serials and in-range dates. It accepts a subset of what the
 * schema accepts and gives the same output; anything else goes through the schema.
 */
function quickEntry(raw: unknown): Entry | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { serialNumber, revocationDate, reason, invalidityDate } = raw as Record<string, unknown>;
  if (typeof serialNumber !== 'string' || serialNumber.length === 0 || serialNumber.length > 2 * MAX_CRL_SERIAL_BYTES) return undefined;
  for (let i = 0; i < serialNumber.length; i++) {
    const c = serialNumber.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return undefined;
  }
  if (!quickDate(revocationDate)) return undefined;
  if (reason !== undefined && !QUICK_REASONS.has(reason)) return undefined;
  if (invalidityDate !== undefined && !quickDate(invalidityDate)) return undefined;
  let z0 = 0;
  while (z0 < serialNumber.length - 1 && serialNumber.charCodeAt(z0) === 0x30) z0++;
  return {
    serialNumber: z0 ? serialNumber.slice(z0) : serialNumber,
    revocationDate,
    ...(reason !== undefined && { reason: reason as Entry['reason'] }),
    ...(invalidityDate !== undefined && { invalidityDate }),
  };
}

// Entry extensions, pre-encoded: Extension ::= SEQUENCE { extnID, extnValue OCTET STRING }.
const REASON_EXT_PREFIX = Uint8Array.of(0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01); // + code
const INVALIDITY_EXT_PREFIX = Uint8Array.of(0x30, 0x18, 0x06, 0x03, 0x55, 0x1d, 0x18, 0x04, 0x11, 0x18, 0x0f); // + 15 chars
const REASON_EXT_LEN = REASON_EXT_PREFIX.length + 1;
const INVALIDITY_EXT_LEN = INVALIDITY_EXT_PREFIX.length + 15;

/**
 * Creates and signs a v2 CRL; returns its DER. Entries are written sorted by serial number
 * (duplicates are refused), times are truncated to the second.
 *
 * @example
 * const der = await createCrl({
 *   issuer: ca.issuingCertificate, signer: keySigner(issuingKey, defaultSignatureAlgorithm(issuingKey)),
 *   thisUpdate: now, nextUpdate: new Date(+now + 7 * 86_400_000), crlNumber: 42n,
 *   entries: [{ serialNumber: '4f1c…', revocationDate: when, reason: 'keyCompromise' }],
 * });
 */
export async function createCrl(options: CreateCrlOptions): Promise<Uint8Array> {
  const opts = parseInput(optionsSchema, options, 'createCrl options');

  // Pass 1: validate, and keep what pass 2 needs in flat arrays (no per-entry objects kept).
  const serials: string[] = [];
  const revoked: number[] = [];
  const reasons: number[] = [];
  const invalidity: number[] = [];
  let i = 0;
  for (const raw of opts.entries as Iterable<unknown>) {
    const fast = quickEntry(raw);
    const r = fast ? { success: true as const, data: fast } : entrySchema.safeParse(raw);
    if (!r.success) {
      const issue = r.error.issues[0];
      const path = ['entries', i, ...(issue?.path ?? [])].join('.');
      throw new MailPkiError('ERR_INVALID_INPUT', `createCrl options: ${path}: ${issue?.message ?? 'invalid'}`, {
        cause: r.error,
        details: { field: path },
      });
    }
    const e = r.data;
    serials.push(e.serialNumber);
    revoked.push(e.revocationDate.getTime());
    reasons.push(e.reason === undefined || e.reason === 'unspecified' ? -1 : REVOCATION_REASONS[e.reason]);
    invalidity.push(e.invalidityDate ? e.invalidityDate.getTime() : NaN);
    i++;
  }
  const n = serials.length;

  // Sorted by serial: what OpenSSL emits too, and it lets a reader binary-search or diff two CRLs.
  let order: number[] | undefined;
  for (let k = 1; k < n; k++) {
    if (compareSerials(serials[k - 1]!, serials[k]!) >= 0) {
      order = Array.from({ length: n }, (_, j) => j);
      order.sort((a, b) => compareSerials(serials[a]!, serials[b]!));
      break;
    }
  }
  const at = (k: number): number => (order ? order[k]! : k);
  for (let k = 1; k < n; k++)
    if (serials[at(k - 1)] === serials[at(k)])
      throw new MailPkiError('ERR_INVALID_INPUT', `createCrl options: entries: serial number ${serials[at(k)]} appears twice`, {
        details: { field: 'entries' },
      });

  // Sizes. Every entry is shorter than 128 bytes, so its own length fits in one byte.
  let listLen = 0;
  for (let k = 0; k < n; k++) listLen += 2 + entryContentLength(serials[k]!, revoked[k]!, reasons[k]!, invalidity[k]!);

  const sigAlg = signatureAlgorithmIdentifier(opts.signer.algorithm);
  const head = [int(1), sigAlg, opts.issuer.subject.der, time(opts.thisUpdate), time(opts.nextUpdate)];
  const ski = opts.issuer.subjectKeyIdentifier;
  const crlExts = explicit(
    0,
    seq(
      // The issuer's SKI as authorityKeyIdentifier (RFC 5280 §5.2.1); left out when the issuer has none.
      ...(ski ? [seq(oid(OID.authorityKeyIdentifier), octetsOf(seq(implicit(0, ski))))] : []),
      seq(oid(OID.cRLNumber), octetsOf(int(opts.crlNumber))),
    ),
  );
  let headLen = 0;
  for (const h of head) headLen += h.length;
  const listTlvLen = n === 0 ? 0 : 1 + lengthSize(listLen) + listLen; // absent when empty (§5.1.2.6)
  const tbsContentLen = headLen + listTlvLen + crlExts.length;
  const tbs = new Uint8Array(1 + lengthSize(tbsContentLen) + tbsContentLen);

  // Pass 2: write.
  let p = writeHeader(tbs, 0, 0x30, tbsContentLen);
  for (const h of head) {
    tbs.set(h, p);
    p += h.length;
  }
  if (n > 0) {
    p = writeHeader(tbs, p, 0x30, listLen);
    for (let k = 0; k < n; k++) {
      const j = at(k);
      p = writeEntry(tbs, p, serials[j]!, revoked[j]!, reasons[j]!, invalidity[j]!);
    }
  }
  tbs.set(crlExts, p);
  p += crlExts.length;
  if (p !== tbs.length) throw new Error(`createCrl: internal size mismatch (${p} != ${tbs.length})`);

  const signature = await opts.signer.sign(tbs);
  if (!(signature instanceof Uint8Array) || signature.length === 0)
    throw new MailPkiError('ERR_SIGNER_INVALID', 'the signer returned no signature');
  const sig = bitString(signature);
  const total = tbs.length + sigAlg.length + sig.length;
  const out = new Uint8Array(1 + lengthSize(total) + total);
  p = writeHeader(out, 0, 0x30, total);
  out.set(tbs, p);
  out.set(sigAlg, p + tbs.length);
  out.set(sig, p + tbs.length + sigAlg.length);
  return out;
}

/** PEM with the label OpenSSL expects (`X509 CRL`). */
export function crlToPem(der: Uint8Array): string {
  return encodePem('X509 CRL', der);
}

/** Normalised hex (lower case, no leading zeros): shorter is smaller, then by text. */
function compareSerials(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

function octetsOf(content: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + lengthSize(content.length) + content.length);
  out.set(content, writeHeader(out, 0, 0x04, content.length));
  return out;
}

function lengthSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x1000000 ? 4 : 5;
}

function writeHeader(out: Uint8Array, p: number, tag: number, len: number): number {
  out[p++] = tag;
  const size = lengthSize(len);
  if (size === 1) {
    out[p++] = len;
    return p;
  }
  out[p++] = 0x80 | (size - 1);
  for (let s = (size - 2) * 8; s >= 0; s -= 8) out[p++] = Math.floor(len / 2 ** s) & 0xff;
  return p;
}

/** INTEGER content length of a normalised hex serial (sign byte when the top bit is set). */
function serialContentLength(hex: string): number {
  const bytes = (hex.length + 1) >> 1;
  return hex.length % 2 === 0 && hex.charCodeAt(0) >= 0x38 /* '8' */ ? bytes + 1 : bytes;
}

const usesUtcTime = (ms: number): boolean => ms >= MIN_MS && ms < UTC_TIME_END;

function entryContentLength(serial: string, revokedAt: number, reason: number, invalidAt: number): number {
  let len = 2 + serialContentLength(serial) + (usesUtcTime(revokedAt) ? 15 : 17);
  let ext = 0;
  if (reason >= 0) ext += REASON_EXT_LEN;
  if (!Number.isNaN(invalidAt)) ext += INVALIDITY_EXT_LEN;
  if (ext > 0) len += 2 + ext;
  return len;
}

function hexNibble(c: number): number {
  return c <= 0x39 ? c - 0x30 : c - 0x57; // lower-case a–f after normalisation
}

function writeEntry(out: Uint8Array, p: number, serial: string, revokedAt: number, reason: number, invalidAt: number): number {
  const start = p;
  p += 2; // entry header, filled in below (content < 128)
  const contentLen = serialContentLength(serial);
  out[p++] = 0x02;
  out[p++] = contentLen;
  let h = 0;
  const bytes = (serial.length + 1) >> 1;
  if (contentLen > bytes) out[p++] = 0;
  if (serial.length % 2 === 1) out[p++] = hexNibble(serial.charCodeAt(h++));
  while (h < serial.length) out[p++] = (hexNibble(serial.charCodeAt(h++)) << 4) | hexNibble(serial.charCodeAt(h++));
  p = writeTime(out, p, revokedAt, false);
  const hasInvalidity = !Number.isNaN(invalidAt);
  if (reason >= 0 || hasInvalidity) {
    out[p++] = 0x30;
    out[p++] = (reason >= 0 ? REASON_EXT_LEN : 0) + (hasInvalidity ? INVALIDITY_EXT_LEN : 0);
    if (reason >= 0) {
      for (let i = 0; i < REASON_EXT_PREFIX.length; i++) out[p++] = REASON_EXT_PREFIX[i]!;
      out[p++] = reason;
    }
    if (hasInvalidity) {
      for (let i = 0; i < INVALIDITY_EXT_PREFIX.length; i++) out[p++] = INVALIDITY_EXT_PREFIX[i]!;
      p = writeDigits(out, p, invalidAt, true);
    }
  }
  out[start] = 0x30;
  out[start + 1] = p - start - 2;
  return p;
}

/** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §5.1.2.4); seconds precision. */
function writeTime(out: Uint8Array, p: number, ms: number, generalized: boolean): number {
  const utc = !generalized && usesUtcTime(ms);
  out[p++] = utc ? 0x17 : 0x18;
  out[p++] = utc ? 13 : 15;
  return writeDigits(out, p, ms, !utc);
}

const DAY_MS = 86_400_000;
let lastDay = NaN;
const dayDigits = new Uint8Array(8);

/** YYYYMMDDHHMMSSZ (or YYMMDDHHMMSSZ) of `ms`, seconds precision; the date part is cached per day. */
function writeDigits(out: Uint8Array, p: number, ms: number, fullYear: boolean): number {
  const day = Math.floor(ms / DAY_MS);
  if (day !== lastDay) {
    const d = new Date(day * DAY_MS);
    const text = String(d.getUTCFullYear()).padStart(4, '0') + two(d.getUTCMonth() + 1) + two(d.getUTCDate());
    for (let i = 0; i < 8; i++) dayDigits[i] = text.charCodeAt(i);
    lastDay = day;
  }
  for (let i = fullYear ? 0 : 2; i < 8; i++) out[p++] = dayDigits[i]!;
  const secs = Math.floor((ms - day * DAY_MS) / 1000);
  p = writeTwo(out, p, Math.floor(secs / 3600));
  p = writeTwo(out, p, Math.floor(secs / 60) % 60);
  p = writeTwo(out, p, secs % 60);
  out[p++] = 0x5a; // Z
  return p;
}

function writeTwo(out: Uint8Array, p: number, v: number): number {
  out[p] = 0x30 + Math.floor(v / 10);
  out[p + 1] = 0x30 + (v % 10);
  return p + 2;
}

function two(v: number): string {
  return (v < 10 ? '0' : '') + v;
}
