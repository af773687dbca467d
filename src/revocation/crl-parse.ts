/**
 * Reading CRLs (RFC 5280 §5) of any size. One pass over revokedCertificates checks every entry
 * strictly and indexes its serial in an open-addressing hash table of offsets (two typed arrays,
 * no object or string per entry); an entry's dates and reason are decoded only when looked up.
 */
import type { RevocationReason } from '../ca/types.js';
import { formatName, readName, type Name } from '../certs/name.js';
import { MailPkiError } from '../errors.js';
import { fromBase64, fromLatin1, toBytes, toHex, type BytesLike } from '../internal/bytes.js';
import { Tag, contentOf, cursor, encodedOf, parseDer, readBitString, readBoolean, readOctetString, readOid, type Der } from '../internal/der.js';
import { OID } from '../internal/oids.js';
import { parseSignatureAlgorithm, type ParsedSignatureAlgorithm } from '../keys/algorithms.js';
import { CRL_ERR, CRL_OID, CRL_WHAT, REASON_BY_CODE, crlFail } from './crl-common.js';

/** Largest CRL accepted by default, in DER bytes (PEM text may be 4/3 of that plus line breaks). */
export const MAX_CRL_BYTES = 64 * 1024 * 1024;

export interface CrlLimits {
  /** Largest DER accepted. Default MAX_CRL_BYTES (64 MiB). */
  maxBytes?: number;
  /** Most revokedCertificates entries accepted. Default: no limit beyond maxBytes. */
  maxEntries?: number;
}

/** What a CRL says about one serial number. */
export interface CrlRevocation {
  revocationDate: Date;
  /** Absent when the entry has no reasonCode (which means 'unspecified'). */
  reason?: RevocationReason;
  invalidityDate?: Date;
  /**
   * The certificateIssuer entry extension (GeneralNames DER) of an indirect CRL: this entry and the
   * ones after it belong to that issuer (crl-path.ts reads them in order).
   */
  certificateIssuer?: Uint8Array;
}

export interface CrlEntry extends CrlRevocation {
  /** Lower-case hex, no leading zeros (as `Certificate.serialNumber`). */
  serialNumber: string;
}

export interface CrlExtension {
  oid: string;
  critical: boolean;
  /** DER of the extension's own structure (the extnValue contents). */
  value: Uint8Array;
}

/** RFC 5280 §5.2.5: the scope of this CRL. A CRL limited in scope says nothing outside it. */
export interface IssuingDistributionPoint {
  /** The extension value, for callers that match distribution point names. */
  der: Uint8Array;
  hasDistributionPoint: boolean;
  /** The DER of the DistributionPointName (`fullName` [0] or `nameRelativeToCRLIssuer` [1]) when present. */
  distributionPoint?: Uint8Array;
  onlyContainsUserCerts: boolean;
  onlyContainsCACerts: boolean;
  /** A partitioned-by-reason CRL: a serial absent from it may still be revoked for another reason. */
  onlySomeReasons: boolean;
  /** The reasons an `onlySomeReasons` CRL covers (ReasonFlags bits set). */
  reasons?: RevocationReason[];
  /** Entries may belong to other issuers; not supported (listed in unsupportedCriticalExtensions). */
  indirectCRL: boolean;
  onlyContainsAttributeCerts: boolean;
}

export interface Crl {
  /** The whole CertificateList DER. */
  readonly der: Uint8Array;
  /** The TBSCertList DER: what the issuer signed. */
  readonly tbs: Uint8Array;
  readonly version: 1 | 2;
  readonly signatureAlgorithm: ParsedSignatureAlgorithm | { unsupported: string };
  readonly signatureValue: Uint8Array;
  readonly issuer: Name;
  /** RFC 4514 text of the issuer, e.g. `CN=Example S/MIME Issuing CA,O=Example`. */
  readonly issuerName: string;
  readonly thisUpdate: Date;
  readonly nextUpdate?: Date;
  /** cRLNumber: compare with the last one seen from this issuer to refuse a replayed older CRL. */
  readonly crlNumber?: bigint;
  readonly authorityKeyIdentifier?: Uint8Array;
  /** Present on a delta CRL: the cRLNumber of its base CRL. */
  readonly deltaCrlIndicator?: bigint;
  readonly issuingDistributionPoint?: IssuingDistributionPoint;
  /** crlExtensions by OID. */
  readonly extensions: ReadonlyMap<string, CrlExtension>;
  /**
   * Critical CRL or entry extensions this library does not process (OIDs). RFC 5280 §5.2/§5.3:
   * such a CRL must not be used; `verifyCrl` reports CRL_UNSUPPORTED_CRITICAL_EXTENSION.
   */
  readonly unsupportedCriticalExtensions: readonly string[];
  readonly entryCount: number;
  /** The entry for a serial number (hex as in `Certificate.serialNumber`, or the INTEGER bytes); undefined when not listed. */
  lookup(serial: string | Uint8Array): CrlRevocation | undefined;
  /** Every entry in CRL order, decoded one at a time. */
  entries(): IterableIterator<CrlEntry>;
}

/**
 * Parses a CRL from DER or PEM (`X509 CRL`, or `CRL` as @peculiar/x509 writes it). Strict DER;
 * anything malformed throws a MailPkiError (ERR_DER_MALFORMED, ERR_PEM_MALFORMED,
 * ERR_INPUT_TOO_LARGE). Verifies nothing: use `verifyCrl`.
 */
export function parseCrl(input: BytesLike | string, limits: CrlLimits = {}): Crl {
  const maxBytes = limits.maxBytes ?? MAX_CRL_BYTES;
  const maxEntries = limits.maxEntries ?? Number.POSITIVE_INFINITY;
  if (!(maxBytes > 0) || !(maxEntries >= 0)) throw new MailPkiError('ERR_INVALID_INPUT', 'parseCrl: limits must be positive numbers', { details: { field: 'limits' } });
  try {
    return parseDerCrl(crlDer(input, maxBytes), maxEntries);
  } catch (e) {
    if (e instanceof MailPkiError) {
      // Name and signature-algorithm readers speak of certificates; say CRL.
      if (e.code === 'ERR_CERT_MALFORMED') throw new MailPkiError(CRL_ERR, `${CRL_WHAT}: ${e.message}`, { cause: e });
      throw e;
    }
    throw new MailPkiError(CRL_ERR, `${CRL_WHAT}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  }
}

function crlDer(input: BytesLike | string, maxBytes: number): Uint8Array {
  const bytes = typeof input === 'string' ? undefined : toBytes(input);
  const isPem = typeof input === 'string' || (bytes!.length > 0 && bytes![0] !== 0x30 && startsLikePem(bytes!));
  if (!isPem) {
    if (bytes!.length > maxBytes) throw tooLarge(maxBytes);
    if (bytes!.length === 0 || bytes![0] !== 0x30) crlFail('neither PEM ("-----BEGIN X509 CRL-----") nor DER');
    return bytes!;
  }
  const maxText = Math.ceil(maxBytes / 3) * 4 * (65 / 64) + 4096;
  if ((typeof input === 'string' ? input.length : bytes!.length) > maxText) throw tooLarge(maxBytes);
  const text = typeof input === 'string' ? input : fromLatin1(bytes!);
  const begin = /-----BEGIN (X509 CRL|CRL)-----\r?\n/.exec(text);
  if (!begin) throw new MailPkiError('ERR_PEM_MALFORMED', 'no PEM block labelled "X509 CRL" or "CRL" found');
  const bodyStart = begin.index + begin[0].length;
  const endMarker = `-----END ${begin[1]}-----`;
  const end = text.indexOf(endMarker, bodyStart);
  if (end < 0) throw new MailPkiError('ERR_PEM_MALFORMED', `PEM block "BEGIN ${begin[1]}" has no "${endMarker}"`);
  const der = fromBase64(text.slice(bodyStart, end));
  if (!der || der.length === 0) throw new MailPkiError('ERR_PEM_MALFORMED', `PEM block "${begin[1]}" has invalid base64`);
  if (der.length > maxBytes) throw tooLarge(maxBytes);
  return der;
}

function startsLikePem(b: Uint8Array): boolean {
  return fromLatin1(b.subarray(0, 4096)).includes('-----BEGIN ');
}

function tooLarge(maxBytes: number): MailPkiError {
  return new MailPkiError('ERR_INPUT_TOO_LARGE', `CRL is larger than ${maxBytes} bytes`, { details: { limit: maxBytes } });
}

function parseDerCrl(der: Uint8Array, maxEntries: number): Crl {
  const root = parseDer(der, CRL_ERR, CRL_WHAT);
  if (root.tag !== Tag.SEQUENCE) crlFail('not a SEQUENCE');
  const c = cursor(root, CRL_ERR, CRL_WHAT);
  const tbsNode = c.next(Tag.SEQUENCE);
  const sigAlgNode = c.next(Tag.SEQUENCE);
  const sigNode = c.next(Tag.BIT_STRING);
  c.end();
  const { bits: signatureValue, unused } = readBitString(sigNode);
  if (unused !== 0) crlFail('signature has padding bits');

  const t = cursor(tbsNode, CRL_ERR, CRL_WHAT);
  let version: 1 | 2 = 1;
  const versionNode = t.optional(Tag.INTEGER);
  if (versionNode) {
    const v = contentOf(versionNode);
    if (v.length !== 1 || v[0] !== 1) crlFail('version must be v2 (1) when present');
    version = 2;
  }
  const innerSigAlg = t.next(Tag.SEQUENCE);
  if (!sameBytes(encodedOf(innerSigAlg), encodedOf(sigAlgNode))) crlFail('the signature algorithm inside and outside the signed part differ');
  const issuer = readName(t.next(Tag.SEQUENCE));
  const thisUpdate = new Date(timeOf(t.next()));
  const nextTag = t.peekTag();
  const nextUpdate = nextTag === Tag.UTC_TIME || nextTag === Tag.GENERALIZED_TIME ? new Date(timeOf(t.next())) : undefined;
  const list = t.optional(Tag.SEQUENCE);
  const extNode = t.optional(0xa0);
  t.end();
  if (extNode && version !== 2) crlFail('crlExtensions in a v1 CRL');

  let signatureAlgorithm: Crl['signatureAlgorithm'];
  try {
    signatureAlgorithm = parseSignatureAlgorithm(sigAlgNode);
  } catch (e) {
    if (!(e instanceof MailPkiError) || e.code !== 'ERR_ALGORITHM_UNSUPPORTED') throw e;
    signatureAlgorithm = { unsupported: e.message };
  }

  const unsupported = new Set<string>();
  const extensions = extNode ? readCrlExtensions(cursor(extNode, CRL_ERR, CRL_WHAT).next(Tag.SEQUENCE), extNode.end) : new Map<string, CrlExtension>();
  let crlNumber: bigint | undefined;
  let authorityKeyIdentifier: Uint8Array | undefined;
  let deltaCrlIndicator: bigint | undefined;
  let issuingDistributionPoint: IssuingDistributionPoint | undefined;
  for (const ext of extensions.values()) {
    switch (ext.oid) {
      case OID.cRLNumber:
        crlNumber = readCrlNumber(ext.value, 'cRLNumber');
        break;
      case CRL_OID.deltaCRLIndicator:
        deltaCrlIndicator = readCrlNumber(ext.value, 'deltaCRLIndicator');
        break;
      case OID.authorityKeyIdentifier:
        authorityKeyIdentifier = readAkiKeyId(ext.value);
        break;
      case CRL_OID.issuingDistributionPoint:
        issuingDistributionPoint = readIdp(ext.value);
        // Entries of other issuers would be matched against ours by serial alone.
        if (issuingDistributionPoint.indirectCRL) unsupported.add(ext.oid);
        break;
      case OID.issuerAltName:
      case OID.authorityInfoAccess:
      case CRL_OID.freshestCRL:
        break; // informational; a critical one does not change what this CRL says
      default:
        if (ext.critical) unsupported.add(ext.oid);
    }
  }

  const index = list ? indexEntries(der, list.contentStart, list.end, version, maxEntries, unsupported) : EMPTY_INDEX;
  return new CrlView({
    der,
    tbs: encodedOf(tbsNode),
    version,
    signatureAlgorithm,
    signatureValue,
    issuer,
    issuerName: formatName(issuer),
    thisUpdate,
    ...(nextUpdate && { nextUpdate }),
    ...(crlNumber !== undefined && { crlNumber }),
    ...(authorityKeyIdentifier && { authorityKeyIdentifier }),
    ...(deltaCrlIndicator !== undefined && { deltaCrlIndicator }),
    ...(issuingDistributionPoint && { issuingDistributionPoint }),
    extensions,
    unsupportedCriticalExtensions: Object.freeze([...unsupported]),
    entryCount: index.count,
  }, index);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function timeOf(node: Der): number {
  const ms = checkTime(node.bytes, node.start, node.end);
  if (hEnd !== node.end) crlFail('bad time');
  return ms;
}

function readCrlExtensions(node: Der, wrapperEnd: number): Map<string, CrlExtension> {
  if (node.end !== wrapperEnd) crlFail('extra data after crlExtensions');
  const out = new Map<string, CrlExtension>();
  const c = cursor(node, CRL_ERR, CRL_WHAT);
  if (c.done) crlFail('empty crlExtensions');
  while (!c.done) {
    const e = cursor(c.next(Tag.SEQUENCE), CRL_ERR, CRL_WHAT);
    const id = readOid(e.next(Tag.OID));
    const crit = e.optional(Tag.BOOLEAN);
    const value = readOctetString(e.next(Tag.OCTET_STRING));
    e.end();
    if (out.has(id)) crlFail(`extension ${id} appears twice`);
    out.set(id, { oid: id, critical: crit ? readBoolean(crit) : false, value });
  }
  return out;
}

function readCrlNumber(value: Uint8Array, what: string): bigint {
  const node = parseDer(value, CRL_ERR, `${CRL_WHAT}: bad ${what}`);
  if (node.tag !== Tag.INTEGER || node.end === node.contentStart) crlFail(`${what} must be an INTEGER`);
  const c = contentOf(node);
  if (c[0]! & 0x80) crlFail(`${what} is negative`);
  if (c.length > 21) crlFail(`${what} longer than 20 octets`);
  return BigInt(`0x${toHex(c)}`);
}

function readAkiKeyId(value: Uint8Array): Uint8Array | undefined {
  const c = cursor(parseDer(value, CRL_ERR, `${CRL_WHAT}: bad authorityKeyIdentifier`), CRL_ERR, `${CRL_WHAT}: bad authorityKeyIdentifier`);
  const kid = c.optional(0x80);
  c.optional(0xa1);
  c.optional(0x82);
  c.end();
  return kid && contentOf(kid);
}

function readIdp(value: Uint8Array): IssuingDistributionPoint {
  const what = `${CRL_WHAT}: bad issuingDistributionPoint`;
  const c = cursor(parseDer(value, CRL_ERR, what), CRL_ERR, what);
  const flag = (tag: number): boolean => {
    const n = c.optional(tag);
    if (!n) return false;
    if (n.end - n.contentStart !== 1) crlFail('bad issuingDistributionPoint flag');
    return n.bytes[n.contentStart] !== 0;
  };
  const dp = c.optional(0xa0);
  let distributionPoint: Uint8Array | undefined;
  if (dp) {
    const inner = cursor(dp, CRL_ERR, what);
    const name = inner.next();
    inner.end();
    if (name.tag !== 0xa0 && name.tag !== 0xa1) crlFail('bad issuingDistributionPoint distributionPoint');
    distributionPoint = encodedOf(name);
  }
  const onlyContainsUserCerts = flag(0x81);
  const onlyContainsCACerts = flag(0x82);
  const reasonsNode = c.optional(0x83);
  const indirectCRL = flag(0x84);
  const onlyContainsAttributeCerts = flag(0x85);
  c.end();
  return {
    der: value,
    hasDistributionPoint: dp !== undefined,
    ...(distributionPoint && { distributionPoint }),
    onlyContainsUserCerts,
    onlyContainsCACerts,
    onlySomeReasons: reasonsNode !== undefined,
    ...(reasonsNode && { reasons: readReasonFlags(reasonsNode) }),
    indirectCRL,
    onlyContainsAttributeCerts,
  };
}

/** ReasonFlags (RFC 5280 §4.2.1.13) bit by bit; bit 0 is `unused`. */
export const REASON_FLAG_BITS: readonly (RevocationReason | undefined)[] = [
  undefined,
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'privilegeWithdrawn',
  'aACompromise',
];

function readReasonFlags(node: Der): RevocationReason[] {
  // [3] IMPLICIT BIT STRING: primitive, first content byte = unused bits.
  if (node.end === node.contentStart || node.bytes[node.contentStart]! > 7) crlFail('bad issuingDistributionPoint onlySomeReasons');
  const bits = node.bytes.subarray(node.contentStart + 1, node.end);
  const out: RevocationReason[] = [];
  REASON_FLAG_BITS.forEach((reason, i) => {
    if (reason && (bits[i >> 3] ?? 0) & (0x80 >> (i & 7))) out.push(reason);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// The per-entry pass.

interface EntryIndex {
  count: number;
  /** Slot → entry offset + 1 (0 = empty). */
  slots: Int32Array;
  /** Slot → hash, to skip most byte comparisons. */
  hashes: Int32Array;
  seed: number;
  listStart: number;
  listEnd: number;
}

const EMPTY_INDEX: EntryIndex = { count: 0, slots: new Int32Array(1), hashes: new Int32Array(1), seed: 0, listStart: 0, listEnd: 0 };

/** Smallest possible entry: SEQUENCE { INTEGER (1 byte), UTCTime }. */
const MIN_ENTRY_BYTES = 2 + 3 + 15;

/** Set by `header` and `checkTime`: the end of the TLV just read. */
let hEnd = 0;

/**
 * The header of the TLV at `pos` (strict DER lengths), which must carry `tag`. Returns the
 * content start and leaves the end in `hEnd`: no object per call, it runs several times per entry.
 */
function header(b: Uint8Array, pos: number, limit: number, tag: number): number {
  if (pos + 2 > limit) crlFail('truncated data');
  if (b[pos] !== tag) crlFail(`expected tag 0x${tag.toString(16)}, got 0x${b[pos]!.toString(16)} at offset ${pos}`);
  let len = b[pos + 1]!;
  let p = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) crlFail('indefinite length is not DER');
    if (n > 4) crlFail('length too large');
    if (p + n > limit) crlFail('truncated length');
    if (b[p] === 0) crlFail('non-minimal length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p + i]!;
    if (len < 0x80) crlFail('non-minimal length');
    p += n;
  }
  if (p + len > limit) crlFail('content runs past the end of the data');
  hEnd = p + len;
  return p;
}

function digits2(b: Uint8Array, i: number): number {
  const a = b[i]! - 48;
  const c = b[i + 1]! - 48;
  if (a >>> 0 > 9 || c >>> 0 > 9) crlFail('bad digit in a time');
  return a * 10 + c;
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Checks the UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ, no fraction, as
 * RFC 5280 §4.1.2.5 requires) at `pos`; returns its time in ms and sets `hEnd`.
 */
function checkTime(b: Uint8Array, pos: number, limit: number, generalizedOnly = false): number {
  if (pos >= limit) crlFail('truncated data');
  let year: number;
  let i: number;
  if (b[pos] === 0x17 && !generalizedOnly) {
    i = header(b, pos, limit, 0x17);
    if (hEnd - i !== 13) crlFail('UTCTime must be YYMMDDHHMMSSZ');
    const yy = digits2(b, i);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    i += 2;
  } else if (b[pos] === 0x18) {
    i = header(b, pos, limit, 0x18);
    if (hEnd - i !== 15) crlFail('GeneralizedTime must be YYYYMMDDHHMMSSZ');
    year = digits2(b, i) * 100 + digits2(b, i + 2);
    i += 4;
  } else return crlFail(generalizedOnly ? 'expected a GeneralizedTime' : 'expected a time');
  const month = digits2(b, i);
  const day = digits2(b, i + 2);
  const hour = digits2(b, i + 4);
  const minute = digits2(b, i + 6);
  const second = digits2(b, i + 8);
  if (b[i + 10] !== 0x5a) crlFail('time must end in Z');
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 1 : 0;
  if (month < 1 || month > 12 || day < 1 || day > DAYS[month - 1]! + leap || hour > 23 || minute > 59 || second > 59)
    crlFail('impossible date');
  if (year >= 100) return Date.UTC(year, month - 1, day, hour, minute, second);
  const d = new Date(Date.UTC(2000, month - 1, day, hour, minute, second));
  d.setUTCFullYear(year);
  return d.getTime();
}

// Entry extension OIDs are all 2.5.29.x: 06 03 55 1d xx.
const EXT_REASON = 0x15;
const EXT_INVALIDITY = 0x18;
const EXT_CERTIFICATE_ISSUER = 0x1d;
const VALID_REASON_CODES = new Set([0, 1, 2, 3, 4, 5, 6, 8, 9, 10]);

function hashKey(b: Uint8Array, start: number, end: number, seed: number): number {
  let h = seed;
  for (let i = start; i < end; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  // murmur3 finaliser: spread the bits over the table index.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** The serial INTEGER's content without leading zero bytes (one byte kept), as `readUnsignedHex` sees it. */
let keyStart = 0;
let keyEnd = 0;
function keyOf(b: Uint8Array, entry: number, limit: number): void {
  const ec = header(b, entry, limit, 0x30);
  const sc = header(b, ec, hEnd, 0x02);
  keyEnd = hEnd;
  let k = sc;
  while (k < keyEnd - 1 && b[k] === 0) k++;
  keyStart = k;
}

function indexEntries(
  b: Uint8Array,
  listStart: number,
  listEnd: number,
  version: 1 | 2,
  maxEntries: number,
  unsupported: Set<string>,
): EntryIndex {
  // The table is sized from the most entries the bytes could hold: one allocation, load ≤ 2/3.
  const bound = Math.max(1, Math.ceil((listEnd - listStart) / MIN_ENTRY_BYTES));
  let cap = 16;
  while (cap < bound + (bound >> 1)) cap *= 2;
  const slots = new Int32Array(cap);
  const hashes = new Int32Array(cap);
  const mask = cap - 1;
  // A random seed per CRL: a crafted list of colliding serials cannot be prepared in advance.
  const seed = (0x811c9dc5 ^ Math.floor(Math.random() * 0x100000000)) | 0;
  let count = 0;
  let pos = listStart;
  while (pos < listEnd) {
    const entry = pos;
    const ec = header(b, pos, listEnd, 0x30);
    const entryEnd = hEnd;
    const sc = header(b, ec, entryEnd, 0x02);
    const sEnd = hEnd;
    if (sc === sEnd) crlFail('empty serial number');
    let ks = sc;
    while (ks < sEnd - 1 && b[ks] === 0) ks++;
    checkTime(b, sEnd, entryEnd);
    const p = hEnd;
    if (p < entryEnd) {
      if (version !== 2) crlFail('crlEntryExtensions in a v1 CRL');
      const xc = header(b, p, entryEnd, 0x30);
      if (hEnd !== entryEnd) crlFail('extra data in a CRL entry');
      checkEntryExtensions(b, xc, entryEnd, unsupported);
    }
    if (++count > maxEntries)
      throw new MailPkiError('ERR_INPUT_TOO_LARGE', `CRL has more than ${maxEntries} entries`, { details: { limit: maxEntries } });

    const h = hashKey(b, ks, sEnd, seed);
    let slot = h & mask;
    for (;;) {
      const at = slots[slot]!;
      if (at === 0) {
        slots[slot] = entry + 1;
        hashes[slot] = h;
        break;
      }
      if (hashes[slot] === h) {
        keyOf(b, at - 1, listEnd);
        if (keyEnd - keyStart === sEnd - ks && bytesEqualAt(b, keyStart, ks, sEnd - ks)) break; // a duplicate: the first one stands
      }
      slot = (slot + 1) & mask;
    }
    pos = entryEnd;
  }
  return { count, slots, hashes, seed, listStart, listEnd };
}

function bytesEqualAt(b: Uint8Array, x: number, y: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (b[x + i] !== b[y + i]) return false;
  return true;
}

function checkEntryExtensions(b: Uint8Array, pos: number, end: number, unsupported: Set<string>): void {
  if (pos === end) crlFail('empty crlEntryExtensions');
  let seen = 0;
  while (pos < end) {
    const xc = header(b, pos, end, 0x30);
    const xEnd = hEnd;
    const oc = header(b, xc, xEnd, 0x06);
    const oEnd = hEnd;
    let p = oEnd;
    let critical = false;
    if (b[p] === 0x01) {
      const bc = header(b, p, xEnd, 0x01);
      if (hEnd - bc !== 1 || (b[bc] !== 0 && b[bc] !== 0xff)) crlFail('bad BOOLEAN');
      critical = b[bc] === 0xff;
      p = hEnd;
    }
    const vc = header(b, p, xEnd, 0x04);
    if (hEnd !== xEnd) crlFail('extra data in an entry extension');
    const known = oEnd - oc === 3 && b[oc] === 0x55 && b[oc + 1] === 0x1d ? b[oc + 2]! : -1;
    if (known === EXT_REASON || known === EXT_INVALIDITY) {
      if (seen & (1 << (known & 31))) crlFail('an entry extension appears twice');
      seen |= 1 << (known & 31);
      if (known === EXT_REASON) {
        // CRLReason ::= ENUMERATED, one content byte for every defined value.
        if (xEnd - vc !== 3 || b[vc] !== 0x0a || b[vc + 1] !== 1 || !VALID_REASON_CODES.has(b[vc + 2]!)) crlFail('bad reasonCode');
      } else {
        checkTime(b, vc, xEnd, true);
        if (hEnd !== xEnd) crlFail('bad invalidityDate');
      }
    } else if (critical) {
      unsupported.add(readOid({ bytes: b, tag: 0x06, start: xc, contentStart: oc, end: oEnd }));
    }
    pos = xEnd;
  }
}

// ---------------------------------------------------------------------------------------------

interface CrlFields extends Omit<Crl, 'lookup' | 'entries'> {}

class CrlView implements Crl {
  readonly der!: Uint8Array;
  readonly tbs!: Uint8Array;
  readonly version!: 1 | 2;
  readonly signatureAlgorithm!: Crl['signatureAlgorithm'];
  readonly signatureValue!: Uint8Array;
  readonly issuer!: Name;
  readonly issuerName!: string;
  readonly thisUpdate!: Date;
  readonly nextUpdate?: Date;
  readonly crlNumber?: bigint;
  readonly authorityKeyIdentifier?: Uint8Array;
  readonly deltaCrlIndicator?: bigint;
  readonly issuingDistributionPoint?: IssuingDistributionPoint;
  readonly extensions!: ReadonlyMap<string, CrlExtension>;
  readonly unsupportedCriticalExtensions!: readonly string[];
  readonly entryCount!: number;
  readonly #index: EntryIndex;

  constructor(fields: CrlFields, index: EntryIndex) {
    Object.assign(this, fields);
    this.#index = index;
    Object.freeze(this);
  }

  lookup(serial: string | Uint8Array): CrlRevocation | undefined {
    const ix = this.#index;
    if (ix.count === 0) {
      serialKey(serial); // still refuse a malformed argument
      return undefined;
    }
    const key = serialKey(serial);
    const b = this.der;
    const h = hashKey(key, 0, key.length, ix.seed);
    const mask = ix.slots.length - 1;
    let slot = h & mask;
    for (;;) {
      const at = ix.slots[slot]!;
      if (at === 0) return undefined;
      if (ix.hashes[slot] === h) {
        keyOf(b, at - 1, ix.listEnd);
        if (keyEnd - keyStart === key.length) {
          let same = true;
          for (let i = 0; i < key.length; i++)
            if (b[keyStart + i] !== key[i]) {
              same = false;
              break;
            }
          if (same) return decodeEntry(b, at - 1, ix.listEnd);
        }
      }
      slot = (slot + 1) & mask;
    }
  }

  *entries(): IterableIterator<CrlEntry> {
    const { listStart, listEnd } = this.#index;
    const b = this.der;
    let pos = listStart;
    while (pos < listEnd) {
      header(b, pos, listEnd, 0x30);
      const next = hEnd;
      keyOf(b, pos, listEnd);
      const serialNumber = toHex(b.subarray(keyStart, keyEnd));
      yield { serialNumber, ...decodeEntry(b, pos, listEnd) };
      pos = next;
    }
  }
}

/** Decodes an entry that `indexEntries` has already checked. */
function decodeEntry(b: Uint8Array, entry: number, limit: number): CrlRevocation {
  const ec = header(b, entry, limit, 0x30);
  const entryEnd = hEnd;
  header(b, ec, entryEnd, 0x02);
  const revocationDate = new Date(checkTime(b, hEnd, entryEnd));
  const out: CrlRevocation = { revocationDate };
  const p = hEnd;
  if (p >= entryEnd) return out;
  let pos = header(b, p, entryEnd, 0x30);
  const xEnd = hEnd;
  while (pos < xEnd) {
    const xc = header(b, pos, xEnd, 0x30);
    const thisEnd = hEnd;
    const oc = header(b, xc, thisEnd, 0x06);
    const known = hEnd - oc === 3 && b[oc] === 0x55 && b[oc + 1] === 0x1d ? b[oc + 2]! : -1;
    let q = hEnd;
    if (b[q] === 0x01) {
      header(b, q, thisEnd, 0x01);
      q = hEnd;
    }
    const vc = header(b, q, thisEnd, 0x04);
    if (known === EXT_REASON) out.reason = REASON_BY_CODE[b[vc + 2]!]!;
    else if (known === EXT_INVALIDITY) out.invalidityDate = new Date(checkTime(b, vc, thisEnd, true));
    else if (known === EXT_CERTIFICATE_ISSUER) out.certificateIssuer = b.subarray(vc, thisEnd);
    pos = thisEnd;
  }
  return out;
}

const HEX_VALUE = (() => {
  const t = new Int8Array(128).fill(-1);
  for (let i = 0; i < 10; i++) t[0x30 + i] = i;
  for (let i = 0; i < 6; i++) t[0x41 + i] = t[0x61 + i] = 10 + i;
  return t;
})();

/** Lookup key: unsigned big-endian bytes without leading zeros (one byte kept). */
function serialKey(serial: string | Uint8Array): Uint8Array {
  let bytes: Uint8Array;
  if (typeof serial === 'string') {
    let s = serial.trim();
    if (s.startsWith('0x') || s.startsWith('0X')) s = s.slice(2);
    if (s.includes(':')) s = s.replace(/:/g, '');
    if (s.length === 0 || s.length > 1024) throw badSerial(serial);
    if (s.length % 2) s = `0${s}`;
    bytes = new Uint8Array(s.length / 2);
    for (let i = 0; i < bytes.length; i++) {
      const hi = s.charCodeAt(2 * i);
      const lo = s.charCodeAt(2 * i + 1);
      const a = hi < 128 ? HEX_VALUE[hi]! : -1;
      const c = lo < 128 ? HEX_VALUE[lo]! : -1;
      if (a < 0 || c < 0) throw badSerial(serial);
      bytes[i] = (a << 4) | c;
    }
  } else if (serial instanceof Uint8Array && serial.length > 0) bytes = serial;
  else throw badSerial(String(serial));
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return bytes.subarray(i);
}

function badSerial(s: string): MailPkiError {
  return new MailPkiError('ERR_INVALID_INPUT', `lookup: serial must be hex (e.g. "4f1c0a"), got "${s.slice(0, 80)}"`, { details: { field: 'serial' } });
}
