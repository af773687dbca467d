/**
 * CMS attributes (RFC 5652 §5.3, §11): the ones mailpki writes when signing, and a reader that
 * keeps every attribute as received while decoding the ones verification needs.
 */
import { MailPkiError } from '../errors.js';
import {
  Tag,
  contentOf,
  cursor,
  encodedOf,
  explicit,
  octets,
  oid,
  readOctetString,
  readOid,
  readTime,
  seq,
  setOf,
  time,
  tlv,
  type Der,
} from '../internal/der.js';
import { OID } from '../internal/oids.js';
import { parseDigestAlgorithm, signatureAlgorithmIdentifier, type DigestAlgorithm, type WeakDigestAlgorithm } from '../keys/algorithms.js';
import type { Certificate } from '../certs/certificate.js';
import { CMS_OID } from './oids.js';

/** One attribute as received: its type and the DER of each value. */
export interface Attribute {
  oid: string;
  values: Uint8Array[];
}

/** A digest algorithm read from CMS; unknown ones are kept by OID so a verifier can report them. */
export type CmsDigestAlgorithm = DigestAlgorithm | WeakDigestAlgorithm | { unsupported: string };

/** ESS IssuerSerial (RFC 5035 §4). */
export interface IssuerSerial {
  /** DER of the GeneralNames naming the issuer. */
  issuer: Uint8Array;
  /** The issuer's Name DER when the GeneralNames holds a directoryName. */
  issuerName?: Uint8Array;
  /** Raw INTEGER content of the serial number. */
  serial: Uint8Array;
}

/** ESSCertIDv2 (RFC 5035), or ESSCertID (RFC 2634, SHA-1) with `hashAlgorithm: 'SHA-1'`. */
export interface EssCertId {
  hashAlgorithm: CmsDigestAlgorithm;
  certHash: Uint8Array;
  issuerSerial?: IssuerSerial;
}

export interface SignedAttributes {
  /** The attributes DER with the SET OF tag (0x31): exactly what the signature covers. */
  der: Uint8Array;
  /** First value of contentType (verification checks it is the only one). */
  contentType?: string;
  messageDigest?: Uint8Array;
  signingTime?: Date;
  /** ESS signingCertificateV2: the first entry identifies the signer's certificate. */
  signingCertificateV2?: EssCertId[];
  /** ESS signingCertificate (v1, SHA-1). */
  signingCertificate?: EssCertId[];
  all: Attribute[];
}

const ERR = 'ERR_CMS_MALFORMED' as const;

/** Re-throws DER reader errors as ERR_CMS_MALFORMED naming the structure. */
export function inCms<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof MailPkiError && e.code === 'ERR_DER_MALFORMED') {
      throw new MailPkiError(ERR, `invalid CMS ${what}: ${e.message.replace(/^invalid DER: /, '')}`, { cause: e });
    }
    throw e;
  }
}

export function readDigestAlgorithm(node: Der): CmsDigestAlgorithm {
  const known = parseDigestAlgorithm(node);
  if (known) return known;
  return { unsupported: readOid(cursor(node).next(Tag.OID)) };
}

/** Reads `SET OF Attribute` (signed or unsigned attributes; the tag is not checked). */
export function readAttributes(node: Der, maxAttributes: number, what: string): Attribute[] {
  const out: Attribute[] = [];
  const c = cursor(node, ERR, `invalid CMS ${what}`);
  while (!c.done) {
    if (out.length >= maxAttributes)
      throw new MailPkiError('ERR_INPUT_TOO_LARGE', `CMS ${what} hold more than ${maxAttributes} attributes`);
    const a = cursor(c.next(Tag.SEQUENCE), ERR, `invalid CMS ${what}`);
    const type = readOid(a.next(Tag.OID));
    const vs = cursor(a.next(Tag.SET), ERR, `invalid CMS ${what}`);
    a.end();
    const values: Uint8Array[] = [];
    while (!vs.done) {
      if (values.length >= maxAttributes)
        throw new MailPkiError('ERR_INPUT_TOO_LARGE', `CMS attribute ${type} has more than ${maxAttributes} values`);
      values.push(encodedOf(vs.next()));
    }
    out.push({ oid: type, values });
  }
  return out;
}

/** Reads the `[0] IMPLICIT SignedAttributes` of a SignerInfo. */
export function readSignedAttributes(node: Der, maxAttributes: number): SignedAttributes {
  const all = inCms('signed attributes', () => readAttributes(node, maxAttributes, 'signed attributes'));
  if (all.length === 0) throw new MailPkiError(ERR, 'invalid CMS signed attributes: the set is empty');
  const der = encodedOf(node).slice();
  der[0] = Tag.SET;
  const attrs: SignedAttributes = { der, all };
  for (const a of all) {
    const first = a.values[0];
    if (!first) continue;
    switch (a.oid) {
      case CMS_OID.contentType:
        if (attrs.contentType === undefined) attrs.contentType = inCms('contentType attribute', () => readOid(rootOf(first)));
        break;
      case CMS_OID.messageDigest:
        if (attrs.messageDigest === undefined)
          attrs.messageDigest = inCms('messageDigest attribute', () => readOctetString(rootOf(first)));
        break;
      case CMS_OID.signingTime:
        if (attrs.signingTime === undefined) attrs.signingTime = inCms('signingTime attribute', () => readTime(rootOf(first)));
        break;
      case CMS_OID.signingCertificateV2:
        if (attrs.signingCertificateV2 === undefined)
          attrs.signingCertificateV2 = inCms('signingCertificateV2 attribute', () => readSigningCertificate(rootOf(first), 2, maxAttributes));
        break;
      case CMS_OID.signingCertificate:
        if (attrs.signingCertificate === undefined)
          attrs.signingCertificate = inCms('signingCertificate attribute', () => readSigningCertificate(rootOf(first), 1, maxAttributes));
        break;
    }
  }
  return attrs;
}

/** The single TLV an attribute value holds (values were sliced at TLV boundaries already). */
function rootOf(value: Uint8Array): Der {
  return { bytes: value, tag: value[0]!, ...lengthOf(value) };
}

function lengthOf(v: Uint8Array): { start: number; contentStart: number; end: number } {
  const l = v[1]!;
  const contentStart = l & 0x80 ? 2 + (l & 0x7f) : 2;
  return { start: 0, contentStart, end: v.length };
}

function readSigningCertificate(node: Der, version: 1 | 2, max: number): EssCertId[] {
  const c = cursor(node, ERR, 'invalid CMS signingCertificate');
  const certs = cursor(c.next(Tag.SEQUENCE), ERR, 'invalid CMS signingCertificate');
  const out: EssCertId[] = [];
  while (!certs.done) {
    if (out.length >= max) throw new MailPkiError('ERR_INPUT_TOO_LARGE', `CMS signingCertificate lists more than ${max} certificates`);
    const id = cursor(certs.next(Tag.SEQUENCE), ERR, 'invalid CMS ESSCertID');
    let hashAlgorithm: CmsDigestAlgorithm = version === 1 ? 'SHA-1' : 'SHA-256';
    if (version === 2) {
      const alg = id.optional(Tag.SEQUENCE);
      if (alg) hashAlgorithm = readDigestAlgorithm(alg);
    }
    const certHash = readOctetString(id.next(Tag.OCTET_STRING));
    const isNode = id.optional(Tag.SEQUENCE);
    id.end();
    const entry: EssCertId = { hashAlgorithm, certHash };
    if (isNode) {
      const is = cursor(isNode, ERR, 'invalid CMS IssuerSerial');
      const gnNode = is.next(Tag.SEQUENCE);
      const serial = contentOf(is.next(Tag.INTEGER));
      is.optional(Tag.BIT_STRING); // issuerUID
      is.end();
      const gn = cursor(gnNode, ERR, 'invalid CMS IssuerSerial');
      let issuerName: Uint8Array | undefined;
      while (!gn.done) {
        const g = gn.next();
        if (g.tag === 0xa4 && issuerName === undefined) issuerName = encodedOf(cursor(g, ERR, 'invalid CMS IssuerSerial').next(Tag.SEQUENCE));
      }
      entry.issuerSerial = issuerName ? { issuer: encodedOf(gnNode), issuerName, serial } : { issuer: encodedOf(gnNode), serial };
    }
    out.push(entry);
  }
  c.optional(Tag.SEQUENCE); // policies
  c.end();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writing

function attribute(type: string, ...values: Uint8Array[]): Uint8Array {
  return seq(oid(type), setOf(...values));
}

export function contentTypeAttribute(eContentType: string): Uint8Array {
  return attribute(CMS_OID.contentType, oid(eContentType));
}

export function messageDigestAttribute(digest: Uint8Array): Uint8Array {
  return attribute(CMS_OID.messageDigest, octets(digest));
}

/** RFC 5652 §11.3: UTCTime for 1950–2049, GeneralizedTime otherwise (what `time` does). */
export function signingTimeAttribute(at: Date): Uint8Array {
  return attribute(CMS_OID.signingTime, time(at));
}

let capabilities: Uint8Array | undefined;

/**
 * SMIMECapabilities (RFC 8551 §2.5.2), most preferred first: AES-GCM (S/MIME 4.0
 * AuthEnvelopedData), then AES-CBC for older receivers, then the signature algorithms mailpki
 * verifies (RFC 4055 §5 / RFC 5754 / RFC 5758 / RFC 8419 encodings). Built once.
 */
export function smimeCapabilitiesAttribute(): Uint8Array {
  if (capabilities) return capabilities;
  const caps = [
    seq(oid(CMS_OID.aes256GCM)),
    seq(oid(CMS_OID.aes192GCM)),
    seq(oid(CMS_OID.aes128GCM)),
    seq(oid(CMS_OID.aes256CBC)),
    seq(oid(CMS_OID.aes192CBC)),
    seq(oid(CMS_OID.aes128CBC)),
    seq(oid(OID.idEd25519)),
    signatureAlgorithmIdentifier({ scheme: 'ecdsa', hash: 'SHA-512' }),
    signatureAlgorithmIdentifier({ scheme: 'ecdsa', hash: 'SHA-384' }),
    signatureAlgorithmIdentifier({ scheme: 'ecdsa', hash: 'SHA-256' }),
    signatureAlgorithmIdentifier({ scheme: 'rsa-pss', hash: 'SHA-512' }),
    signatureAlgorithmIdentifier({ scheme: 'rsa-pss', hash: 'SHA-384' }),
    signatureAlgorithmIdentifier({ scheme: 'rsa-pss', hash: 'SHA-256' }),
    signatureAlgorithmIdentifier({ scheme: 'rsa-pkcs1', hash: 'SHA-512' }),
    signatureAlgorithmIdentifier({ scheme: 'rsa-pkcs1', hash: 'SHA-384' }),
    signatureAlgorithmIdentifier({ scheme: 'rsa-pkcs1', hash: 'SHA-256' }),
  ];
  // SMIMECapabilities is a SEQUENCE OF: the order carries the preference.
  capabilities = attribute(CMS_OID.smimeCapabilities, seq(...caps));
  return capabilities;
}

/** IssuerSerial for a certificate: GeneralNames { directoryName issuer }, serial. */
export function issuerSerialOf(cert: Certificate): Uint8Array {
  return seq(seq(explicit(4, cert.issuer.der)), tlv(Tag.INTEGER, cert.serialBytes));
}

/**
 * ESS signingCertificateV2 (RFC 5035 §3) with one ESSCertIDv2: hashAlgorithm left out
 * (SHA-256 is the DEFAULT, so DER omits it), the certificate's SHA-256 and its IssuerSerial.
 */
export function signingCertificateV2Attribute(cert: Certificate, certSha256: Uint8Array): Uint8Array {
  return attribute(CMS_OID.signingCertificateV2, seq(seq(seq(octets(certSha256), issuerSerialOf(cert)))));
}
