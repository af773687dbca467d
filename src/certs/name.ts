/** X.500 Names (RFC 5280 §4.1.2.4): read, render as RFC 4514 text, and build. */
import { MailPkiError } from '../errors.js';
import { Tag, cursor, encodedOf, ia5String, oid, printableString, readOid, readString, seq, setOf, tlv, utf8String, type Der } from '../internal/der.js';
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
