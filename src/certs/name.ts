/** X.500 Names (RFC 5280 §4.1.2.4): read, render as RFC 4514 text, and build. */
import { MailPkiError } from '../errors.js';
import { fromLatin1, fromUtf8 } from '../internal/bytes.js';
import { Tag, contentOf, cursor, encodedOf, ia5String, oid, parseDer, printableString, readOid, readString, seq, setOf, tlv, utf8String, type Der } from '../internal/der.js';
import { OID } from '../internal/oids.js';

export interface AttributeTypeAndValue {
  /** Dotted OID. */
  type: string;
  /** Short name when known (CN, O, emailAddress, ...). */
  shortName?: string;
  value: string;
}

export interface Name {
  /** DER of the Name, exactly as in the certificate (what issuer/subject matching compares). */
  der: Uint8Array;
  /** Relative distinguished names in encoded order (most significant first). */
  rdns: AttributeTypeAndValue[][];
}

const SHORT_NAMES: Record<string, string> = {
  [OID.commonName]: 'CN',
  [OID.surname]: 'SN',
  [OID.serialNumber]: 'serialNumber',
  [OID.countryName]: 'C',
  [OID.localityName]: 'L',
  [OID.stateOrProvinceName]: 'ST',
  [OID.organizationName]: 'O',
  [OID.organizationalUnitName]: 'OU',
  [OID.givenName]: 'GN',
  [OID.pseudonym]: 'pseudonym',
  [OID.organizationIdentifier]: 'organizationIdentifier',
  [OID.emailAddress]: 'emailAddress',
  [OID.domainComponent]: 'DC',
};

const TYPE_BY_SHORT: Record<string, string> = Object.fromEntries(Object.entries(SHORT_NAMES).map(([k, v]) => [v.toLowerCase(), k]));

export function readName(node: Der): Name {
  const rdns: AttributeTypeAndValue[][] = [];
  const c = cursor(node, 'ERR_CERT_MALFORMED', 'invalid name');
  while (!c.done) {
    const set = cursor(c.next(Tag.SET), 'ERR_CERT_MALFORMED', 'invalid name');
    const rdn: AttributeTypeAndValue[] = [];
    while (!set.done) {
      const atv = cursor(set.next(Tag.SEQUENCE), 'ERR_CERT_MALFORMED', 'invalid name');
      const type = readOid(atv.next(Tag.OID));
      const valueNode = atv.next();
      let value: string;
      try {
        value = readString(valueNode);
      } catch {
        value = `#${Array.from(encodedOf(valueNode), (b) => b.toString(16).padStart(2, '0')).join('')}`;
      }
      const shortName = SHORT_NAMES[type];
      rdn.push(shortName ? { type, shortName, value } : { type, value });
    }
    if (rdn.length === 0) throw new MailPkiError('ERR_CERT_MALFORMED', 'invalid name: empty RDN');
    rdns.push(rdn);
  }
  return { der: encodedOf(node), rdns };
}

function escapeValue(v: string): string {
  let s = v.replace(/[\\,+"<>;=]/g, (ch) => `\\${ch}`);
  s = s.replace(/[\x00-\x1f]/g, (ch) => `\\${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
  if (s.startsWith(' ') || s.startsWith('#')) s = `\\${s}`;
  if (s.endsWith(' ') && s.length > 1) s = `${s.slice(0, -1)}\\ `;
  return s;
}

/** RFC 4514 string: last RDN first, e.g. `CN=payments@example.com,O=Example`. */
export function formatName(name: Name): string {
  return [...name.rdns]
    .reverse()
    .map((rdn) => rdn.map((a) => `${a.shortName ?? a.type}=${a.value.startsWith('#') && !a.shortName ? a.value : escapeValue(a.value)}`).join('+'))
    .join(',');
}

/** The values of one attribute type anywhere in the name (e.g. all emailAddress values). */
export function nameValues(name: Name, type: string): string[] {
  return name.rdns.flatMap((rdn) => rdn.filter((a) => a.type === type).map((a) => a.value));
}

export interface NameAttribute {
  /** Short name (CN, O, OU, C, ST, L, emailAddress, serialNumber, ...) or dotted OID. */
  type: string;
  value: string;
}

/** Builds a Name with one attribute per RDN, in the order given (most significant first). */
export function encodeName(attributes: readonly NameAttribute[]): Uint8Array {
  return seq(
    ...attributes.map(({ type, value }) => {
      const oidStr = /^\d+(\.\d+)+$/.test(type) ? type : TYPE_BY_SHORT[type.toLowerCase()];
      if (!oidStr) throw new MailPkiError('ERR_INVALID_INPUT', `unknown name attribute type "${type}"`);
      if (value.length === 0 || value.length > 255)
        throw new MailPkiError('ERR_INVALID_INPUT', `name attribute ${type} must have 1 to 255 characters`);
      let v: Uint8Array;
      if (oidStr === OID.countryName || oidStr === OID.serialNumber) {
        if (!/^[A-Za-z0-9 '()+,./:=?-]+$/.test(value))
          throw new MailPkiError('ERR_INVALID_INPUT', `name attribute ${type} must be a PrintableString`);
        v = printableString(value);
      } else if (oidStr === OID.emailAddress || oidStr === OID.domainComponent) {
        if (!/^[\x20-\x7e]+$/.test(value)) throw new MailPkiError('ERR_INVALID_INPUT', `name attribute ${type} must be ASCII`);
        v = ia5String(value);
      } else v = utf8String(value);
      return setOf(seq(oid(oidStr), v));
    }),
  );
}

export const emptyName = (): Uint8Array => tlv(Tag.SEQUENCE);

// ---------------------------------------------------------------------------------------------
// Name comparison (RFC 5280 §7.1): attribute values compared after RFC 4518 string preparation.

/**
 * Largest Name (DER bytes) that is prepared for RFC 4518 comparison. A larger name still matches
 * an identical encoding (the byte-for-byte fast path), never a differently encoded one: a real
 * distinguished name is a few hundred bytes, and preparation (NFKC) may grow a string 18-fold.
 */
export const MAX_PREPARED_NAME_BYTES = 4096;

const STRING_TAGS = new Set<number>([
  Tag.UTF8_STRING,
  Tag.PRINTABLE_STRING,
  Tag.T61_STRING,
  Tag.IA5_STRING,
  Tag.BMP_STRING,
  Tag.UNIVERSAL_STRING,
  0x1a, // VisibleString
  0x12, // NumericString
]);

const notPrepared = (why: string): never => {
  throw new MailPkiError('ERR_CERT_MALFORMED', `name cannot be compared: ${why}`);
};

/** The value of a directory string as Unicode (RFC 4518 §2.1); TeletexString is read as Latin-1, as OpenSSL does. */
function transcode(tag: number, c: Uint8Array): string {
  switch (tag) {
    case Tag.UTF8_STRING:
      try {
        return fromUtf8(c);
      } catch {
        return notPrepared('bad UTF-8 in a UTF8String');
      }
    case Tag.BMP_STRING: {
      if (c.length % 2) notPrepared('a BMPString of odd length');
      let s = '';
      for (let i = 0; i < c.length; i += 2) s += String.fromCharCode((c[i]! << 8) | c[i + 1]!);
      return s;
    }
    case Tag.UNIVERSAL_STRING: {
      if (c.length % 4) notPrepared('a UniversalString whose length is not a multiple of 4');
      let s = '';
      for (let i = 0; i < c.length; i += 4) {
        const cp = ((c[i]! << 24) | (c[i + 1]! << 16) | (c[i + 2]! << 8) | c[i + 3]!) >>> 0;
        if (cp > 0x10ffff) notPrepared('a UniversalString character beyond U+10FFFF');
        s += String.fromCodePoint(cp);
      }
      return s;
    }
    default:
      return fromLatin1(c);
  }
}

// RFC 4518 §2.2: code points mapped to nothing (soft hyphens, joiners, variation selectors,
// controls and format characters, zero width space), and those mapped to SPACE.
const MAP_TO_NOTHING =
  /[\u00ad\u1806\u034f\u180b-\u180d\ufe00-\ufe0f\ufffc\u0000-\u0008\u000e-\u001f\u007f-\u0084\u0086-\u009f\u06dd\u070f\u180e\u200c-\u200f\u202a-\u202e\u2060-\u2063\u206a-\u206f\ufeff\ufff9-\ufffb\u{1d173}-\u{1d17a}\u{e0001}\u{e0020}-\u{e007f}\u200b]/gu;
const MAP_TO_SPACE = /[\u0009-\u000d\u0085\p{Zs}\p{Zl}\p{Zp}]/gu;
// RFC 4518 §2.4 (RFC 3454 C.3, C.4, C.5, U+FFFD): private use, non-characters, lone surrogates.
// Unassigned code points are not refused: which ones are unassigned depends on the runtime's Unicode version.
const PROHIBITED = /[\ue000-\uf8ff\u{f0000}-\u{ffffd}\u{100000}-\u{10fffd}\ufdd0-\ufdef\ufffe\uffff\ud800-\udfff\ufffd]|[\u{1fffe}\u{1ffff}\u{2fffe}\u{2ffff}\u{3fffe}\u{3ffff}\u{4fffe}\u{4ffff}\u{5fffe}\u{5ffff}\u{6fffe}\u{6ffff}\u{7fffe}\u{7ffff}\u{8fffe}\u{8ffff}\u{9fffe}\u{9ffff}\u{afffe}\u{affff}\u{bfffe}\u{bffff}\u{cfffe}\u{cffff}\u{dfffe}\u{dffff}\u{efffe}\u{effff}]/u;

/**
 * RFC 4518 preparation for caseIgnoreMatch (the equality rule of the DirectoryString attributes,
 * and caseIgnoreIA5Match for emailAddress and DC): map, case fold, NFKC, prohibit, then
 * insignificant space handling (§2.6.1, as trim plus one space between words, which compares
 * the same as the RFC's two-space form). Throws ERR_CERT_MALFORMED when the value cannot be prepared.
 */
export function prepareDirectoryString(tag: number, content: Uint8Array): string {
  if (!STRING_TAGS.has(tag)) notPrepared(`tag 0x${tag.toString(16)} is not a directory string`);
  const mapped = transcode(tag, content).replace(MAP_TO_NOTHING, '').replace(MAP_TO_SPACE, ' ');
  // Folding between two NFKC passes approximates RFC 3454 table B.2 (folding for NFKC).
  const folded = mapped.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC');
  if (PROHIBITED.test(folded)) notPrepared('a prohibited character (private use, non-character, surrogate or U+FFFD)');
  return folded.replace(/ +/g, ' ').replace(/^ | $/g, '');
}

interface PreparedRdn {
  /** The RDN's DER, the byte-for-byte fast path. */
  der: string;
  /** Sorted prepared attribute values (an RDN is a SET), or why they cannot be prepared. */
  key: string | MailPkiError;
}

interface PreparedName {
  rdns: PreparedRdn[];
  /** The whole name's comparison key: prepared, or its DER when some RDN cannot be prepared. */
  key: string;
}

const preparedNames = new WeakMap<Name, PreparedName>();

const derKey = (b: Uint8Array): string => fromLatin1(b);

function prepareRdn(set: Der): string {
  const atvs: string[] = [];
  const c = cursor(set, 'ERR_CERT_MALFORMED', 'invalid name');
  while (!c.done) {
    const atv = cursor(c.next(Tag.SEQUENCE), 'ERR_CERT_MALFORMED', 'invalid name');
    const type = readOid(atv.next(Tag.OID));
    const value = atv.next();
    atv.end();
    // Values that are not strings compare as their DER (RFC 5280 §7.1 only prepares strings).
    atvs.push(STRING_TAGS.has(value.tag) ? `${type}=${prepareDirectoryString(value.tag, contentOf(value))}` : `${type}#${derKey(encodedOf(value))}`);
  }
  if (atvs.length === 0) notPrepared('an empty RDN');
  return JSON.stringify(atvs.sort());
}

function isName(v: unknown): v is Name {
  return typeof v === 'object' && v !== null && (v as Partial<Name>).der instanceof Uint8Array;
}

/**
 * A Name's RDNs prepared for comparison, cached per Name object. Throws ERR_CERT_MALFORMED when
 * the DER is not a Name and ERR_INPUT_TOO_LARGE beyond MAX_PREPARED_NAME_BYTES; an RDN whose
 * values cannot be prepared keeps the reason in its `key`.
 */
function preparedName(name: Name): PreparedName {
  const hit = preparedNames.get(name);
  if (hit) return hit;
  if (name.der.length > MAX_PREPARED_NAME_BYTES)
    throw new MailPkiError('ERR_INPUT_TOO_LARGE', `name of ${name.der.length} bytes is larger than MAX_PREPARED_NAME_BYTES (${MAX_PREPARED_NAME_BYTES})`);
  const root = parseDer(name.der, 'ERR_CERT_MALFORMED', 'invalid name');
  if (root.tag !== Tag.SEQUENCE) notPrepared('not a SEQUENCE');
  const rdns: PreparedRdn[] = [];
  const c = cursor(root, 'ERR_CERT_MALFORMED', 'invalid name');
  while (!c.done) {
    const set = c.next(Tag.SET);
    let key: string | MailPkiError;
    try {
      key = prepareRdn(set);
    } catch (e) {
      if (!(e instanceof MailPkiError)) throw e;
      key = e;
    }
    rdns.push({ der: derKey(encodedOf(set)), key });
  }
  const whole = rdns.every((r) => typeof r.key === 'string') ? `p${JSON.stringify(rdns.map((r) => r.key))}` : `d${derKey(name.der)}`;
  const out = { rdns, key: whole };
  preparedNames.set(name, out);
  return out;
}

/**
 * A string two names share exactly when `namesMatch` says they match (for Map keys). Names that
 * cannot be prepared (too large, unpreparable values, not DER) are keyed by their DER.
 */
export function nameMatchKey(name: Name): string {
  try {
    return preparedName(name).key;
  } catch (e) {
    // An unpreparable name can only equal its own encoding: RFC 4518 makes such a comparison "undefined".
    if (e instanceof MailPkiError) return `d${derKey(name.der)}`;
    throw e;
  }
}

/**
 * Whether two distinguished names are the same name (RFC 5280 §7.1): identical DER, or the same
 * RDNs with attribute values equal after RFC 4518 preparation (case, insignificant spaces,
 * PrintableString vs UTF8String vs BMPString...). Never throws for bad data: a name that
 * cannot be prepared matches only its own encoding.
 *
 * @example
 * namesMatch(crl.issuer, caCert.subject) // "CN=Good CA" matches "cn=good  ca" in UTF8String
 */
export function namesMatch(a: Name, b: Name): boolean {
  if (!isName(a) || !isName(b)) throw new MailPkiError('ERR_INVALID_INPUT', 'namesMatch: expected two Names (with der)', { details: { field: isName(a) ? 'b' : 'a' } });
  if (a.der.length === b.der.length && derKey(a.der) === derKey(b.der)) return true;
  return nameMatchKey(a) === nameMatchKey(b);
}

/**
 * Whether `name` is within the directoryName subtree `base` (RFC 5280 §4.2.1.10): `base`'s RDNs
 * are the first RDNs of `name`, compared as namesMatch compares. Throws a coded error
 * (ERR_CERT_MALFORMED, ERR_INPUT_TOO_LARGE) when that cannot be decided: callers checking an
 * excluded subtree must treat that as inside, not outside.
 */
export function nameWithinSubtree(name: Name, base: Name): boolean {
  if (!isName(name) || !isName(base))
    throw new MailPkiError('ERR_INVALID_INPUT', 'nameWithinSubtree: expected two Names (with der)', { details: { field: isName(name) ? 'base' : 'name' } });
  const n = preparedName(name).rdns;
  const b = preparedName(base).rdns;
  if (b.length > n.length) return false;
  for (let i = 0; i < b.length; i++) {
    const x = n[i]!;
    const y = b[i]!;
    if (x.der === y.der) continue;
    if (typeof x.key !== 'string') throw x.key;
    if (typeof y.key !== 'string') throw y.key;
    if (x.key !== y.key) return false;
  }
  return true;
}
