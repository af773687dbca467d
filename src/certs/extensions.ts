/** X.509 v3 extensions (RFC 5280 §4.2): readers for the ones mail PKI cares about. */
import { MailPkiError } from '../errors.js';
import { fromLatin1, fromUtf8, toHex } from '../internal/bytes.js';
import {
  Tag,
  contentOf,
  cursor,
  parseDer,
  readBitString,
  readBoolean,
  readOctetString,
  readOid,
  readSmallInt,
  type Der,
} from '../internal/der.js';
import { OID } from '../internal/oids.js';
import { readName, formatName } from './name.js';

export interface Extension {
  oid: string;
  critical: boolean;
  /** The extnValue contents (the DER of the extension's own structure). */
  value: Uint8Array;
}

export type KeyUsageName =
  | 'digitalSignature'
  | 'nonRepudiation'
  | 'keyEncipherment'
  | 'dataEncipherment'
  | 'keyAgreement'
  | 'keyCertSign'
  | 'cRLSign'
  | 'encipherOnly'
  | 'decipherOnly';

export const KEY_USAGE_BITS: readonly KeyUsageName[] = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
];

export interface BasicConstraints {
  ca: boolean;
  pathLenConstraint?: number;
}

export interface GeneralNames {
  rfc822Names: string[];
  dnsNames: string[];
  uris: string[];
  directoryNames: string[];
  ipAddresses: string[];
  /** otherName type OIDs (e.g. SmtpUTF8Mailbox 1.3.6.1.5.5.7.8.9). */
  otherNames: { type: string; value: Uint8Array }[];
  /** The otherName SmtpUTF8Mailbox values (RFC 8398), as written: mailboxes like rfc822Names. */
  smtpUtf8Mailboxes: string[];
}

const ERR = 'ERR_CERT_MALFORMED' as const;

function ext(what: string, value: Uint8Array): Der {
  return parseDer(value, ERR, `invalid ${what} extension`);
}

export function readExtensions(node: Der): Map<string, Extension> {
  const out = new Map<string, Extension>();
  const c = cursor(node, ERR, 'invalid extensions');
  while (!c.done) {
    const e = cursor(c.next(Tag.SEQUENCE), ERR, 'invalid extension');
    const id = readOid(e.next(Tag.OID));
    const crit = e.optional(Tag.BOOLEAN);
    const value = readOctetString(e.next(Tag.OCTET_STRING));
    e.end();
    if (out.has(id)) throw new MailPkiError(ERR, `invalid certificate: extension ${id} appears twice`);
    out.set(id, { oid: id, critical: crit ? readBoolean(crit) : false, value });
  }
  if (out.size === 0) throw new MailPkiError(ERR, 'invalid certificate: empty extensions');
  return out;
}

export function readBasicConstraints(value: Uint8Array): BasicConstraints {
  const c = cursor(ext('basicConstraints', value), ERR, 'invalid basicConstraints');
  const ca = c.optional(Tag.BOOLEAN);
  const len = c.optional(Tag.INTEGER);
  c.end();
  const out: BasicConstraints = { ca: ca ? readBoolean(ca) : false };
  if (len) out.pathLenConstraint = readSmallInt(len);
  return out;
}

export function readKeyUsage(value: Uint8Array): KeyUsageName[] {
  const { bits } = readBitString(ext('keyUsage', value));
  const out: KeyUsageName[] = [];
  KEY_USAGE_BITS.forEach((name, i) => {
    const byte = bits[i >> 3];
    if (byte !== undefined && byte & (0x80 >> (i & 7))) out.push(name);
  });
  return out;
}

export function readExtKeyUsage(value: Uint8Array): string[] {
  const c = cursor(ext('extKeyUsage', value), ERR, 'invalid extKeyUsage');
  const out: string[] = [];
  while (!c.done) out.push(readOid(c.next(Tag.OID)));
  if (out.length === 0) throw new MailPkiError(ERR, 'invalid extKeyUsage: empty');
  return out;
}

function ipToString(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join('.');
  if (b.length === 16) {
    const parts: string[] = [];
    for (let i = 0; i < 16; i += 2) parts.push(((b[i]! << 8) | b[i + 1]!).toString(16));
    return parts.join(':');
  }
  return toHex(b);
}

export function readGeneralNames(node: Der): GeneralNames {
  const out: GeneralNames = { rfc822Names: [], dnsNames: [], uris: [], directoryNames: [], ipAddresses: [], otherNames: [], smtpUtf8Mailboxes: [] };
  const c = cursor(node, ERR, 'invalid GeneralNames');
  while (!c.done) {
    const gn = c.next();
    switch (gn.tag) {
      case 0x81:
        out.rfc822Names.push(fromLatin1(contentOf(gn)));
        break;
      case 0x82:
        out.dnsNames.push(fromLatin1(contentOf(gn)));
        break;
      case 0x86:
        out.uris.push(fromLatin1(contentOf(gn)));
        break;
      case 0x87:
        out.ipAddresses.push(ipToString(contentOf(gn)));
        break;
      case 0xa4:
        out.directoryNames.push(formatName(readName(cursor(gn, ERR).next(Tag.SEQUENCE))));
        break;
      case 0xa0: {
        const oc = cursor(gn, ERR, 'invalid otherName');
        const type = readOid(oc.next(Tag.OID));
        const explicit = oc.next(0xa0);
        out.otherNames.push({ type, value: contentOf(explicit) });
        if (type === OID.idOnSmtpUtf8Mailbox) out.smtpUtf8Mailboxes.push(readSmtpUtf8Mailbox(explicit));
        break;
      }
      default:
        // x400Address, ediPartyName, registeredID: kept out of the mail view on purpose.
        break;
    }
  }
  return out;
}

// SmtpUTF8Mailbox ::= UTF8String (SIZE (1..MAX)), RFC 8398 §3; `explicit` is the otherName's [0].
function readSmtpUtf8Mailbox(explicit: Der): string {
  const c = cursor(explicit, ERR, 'invalid SmtpUTF8Mailbox');
  const text = contentOf(c.next(Tag.UTF8_STRING));
  if (!c.done || text.length === 0) throw new MailPkiError(ERR, 'invalid SmtpUTF8Mailbox: not one non-empty UTF8String');
  try {
    return fromUtf8(text);
  } catch (e) {
    throw new MailPkiError(ERR, 'invalid SmtpUTF8Mailbox: bad UTF-8', { cause: e });
  }
}

export function readSubjectAltName(value: Uint8Array): GeneralNames {
  return readGeneralNames(ext('subjectAltName', value));
}

export function readSubjectKeyIdentifier(value: Uint8Array): Uint8Array {
  return readOctetString(ext('subjectKeyIdentifier', value));
}

export function readAuthorityKeyIdentifier(value: Uint8Array): { keyIdentifier?: Uint8Array } {
  const c = cursor(ext('authorityKeyIdentifier', value), ERR, 'invalid authorityKeyIdentifier');
  const kid = c.optional(0x80);
  return kid ? { keyIdentifier: contentOf(kid) } : {};
}

export function readCertificatePolicies(value: Uint8Array): string[] {
  const c = cursor(ext('certificatePolicies', value), ERR, 'invalid certificatePolicies');
  const out: string[] = [];
  while (!c.done) out.push(readOid(cursor(c.next(Tag.SEQUENCE), ERR).next(Tag.OID)));
  return out;
}

/** URIs of the fullName of each DistributionPoint. */
export function readCrlDistributionPoints(value: Uint8Array): string[] {
  const c = cursor(ext('cRLDistributionPoints', value), ERR, 'invalid cRLDistributionPoints');
  const out: string[] = [];
  while (!c.done) {
    const dp = cursor(c.next(Tag.SEQUENCE), ERR);
    const name = dp.optional(0xa0);
    if (!name) continue;
    const full = cursor(name, ERR).optional(0xa0);
    if (full) out.push(...readGeneralNames(full).uris);
  }
  return out;
}

export function readAuthorityInfoAccess(value: Uint8Array): { ocsp: string[]; caIssuers: string[] } {
  const c = cursor(ext('authorityInfoAccess', value), ERR, 'invalid authorityInfoAccess');
  const out = { ocsp: [] as string[], caIssuers: [] as string[] };
  while (!c.done) {
    const ad = cursor(c.next(Tag.SEQUENCE), ERR);
    const method = readOid(ad.next(Tag.OID));
    const loc = ad.next();
    if (loc.tag !== 0x86) continue;
    const uri = fromLatin1(contentOf(loc));
    if (method === OID.idAdOcsp) out.ocsp.push(uri);
    else if (method === OID.idAdCaIssuers) out.caIssuers.push(uri);
  }
  return out;
}
