/**
 * Reading CMS ContentInfo and SignedData (RFC 5652 §3, §5) into views over the input bytes.
 * Strict DER is read without copying; BER input (indefinite lengths, chunked eContent) goes
 * through `normaliseBer` first. Nothing is verified here.
 */
import { z } from 'zod';
import { MailPkiError } from '../errors.js';
import { parseInput } from '../internal/validate.js';
import { Tag, contentOf, cursor, encodedOf, parseDer, readOctetString, readOid, readSmallInt, type Der } from '../internal/der.js';
import { OID } from '../internal/oids.js';
import { parseSignatureAlgorithm, type ParsedSignatureAlgorithm } from '../keys/algorithms.js';
import {
  inCms,
  readAttributes,
  readDigestAlgorithm,
  readSignedAttributes,
  type Attribute,
  type CmsDigestAlgorithm,
  type SignedAttributes,
} from './attributes.js';
import { MAX_BER_DEPTH, normaliseBer } from './ber.js';
import { CMS_OID, CONTENT_KIND_BY_OID, type ContentKind } from './oids.js';

/** Bounds on what the CMS readers accept. Going over one throws ERR_INPUT_TOO_LARGE / ERR_NESTING_TOO_DEEP. */
export interface CmsLimits {
  /** Whole input, and the normalised form of BER input. Default 64 MiB. */
  maxBytes?: number;
  /** Default 64. */
  maxSignerInfos?: number;
  /** X.509 and other certificate choices together. Default 256. */
  maxCertificates?: number;
  /** CRLs and other revocation choices together. Default 256. */
  maxCrls?: number;
  /** Per attribute set, and values per attribute. Default 64. */
  maxAttributes?: number;
  /** Nesting depth accepted by the BER normaliser. Default 64, at most MAX_BER_DEPTH (256). */
  maxDepth?: number;
}

export const DEFAULT_CMS_LIMITS: Readonly<Required<CmsLimits>> = Object.freeze({
  maxBytes: 64 * 1024 * 1024,
  maxSignerInfos: 64,
  maxCertificates: 256,
  maxCrls: 256,
  maxAttributes: 64,
  maxDepth: 64,
});

export type CmsSignatureAlgorithm = ParsedSignatureAlgorithm | { unsupported: string };

/** How a SignerInfo names its certificate (RFC 5652 §5.3). */
export type SignerIdentifier =
  | { issuer: Uint8Array; serial: Uint8Array }
  | { subjectKeyIdentifier: Uint8Array };

export interface SignerInfo {
  /** 1 with issuerAndSerialNumber, 3 with subjectKeyIdentifier. */
  version: number;
  /** `issuer` is the Name DER, `serial` the raw INTEGER content. */
  sid: SignerIdentifier;
  digestAlgorithm: CmsDigestAlgorithm;
  signedAttrs?: SignedAttributes;
  signatureAlgorithm: CmsSignatureAlgorithm;
  signature: Uint8Array;
  unsignedAttrs?: Attribute[];
}

export interface SignedData {
  version: number;
  digestAlgorithms: CmsDigestAlgorithm[];
  /** Dotted OID; id-data (1.2.840.113549.1.7.1) for S/MIME. */
  eContentType: string;
  /** Absent for a detached signature. */
  eContent?: Uint8Array;
  /** X.509 certificates, DER, in the order received. */
  certificates: Uint8Array[];
  /** How many CertificateChoices were not X.509 (attribute certificates, other formats): not returned. */
  otherCertificateChoices: number;
  /** X.509 CRLs, DER. */
  crls: Uint8Array[];
  /** How many RevocationInfoChoices were `other` (e.g. OCSP responses): not returned. */
  otherRevocationInfoChoices: number;
  signerInfos: SignerInfo[];
}

export interface ContentInfo {
  contentType: string;
  kind: ContentKind;
  /** DER of the `[0] EXPLICIT` content (e.g. the SignedData SEQUENCE); absent when the field is. */
  content?: Uint8Array;
}

const ERR = 'ERR_CMS_MALFORMED' as const;

const count = z.number().int().positive();
const limitsSchema = z
  .object({
    maxBytes: count.max(2 ** 31 - 1),
    maxSignerInfos: count,
    maxCertificates: count,
    maxCrls: count,
    maxAttributes: count,
    // The BER normaliser recurses once per level: the cap keeps any accepted depth far from the stack limit.
    maxDepth: count.max(MAX_BER_DEPTH),
  })
  .partial()
  .strict();

function limitsOf(l?: CmsLimits): Required<CmsLimits> {
  if (!l) return DEFAULT_CMS_LIMITS;
  const given = parseInput(limitsSchema, l, 'CMS limits');
  return { ...DEFAULT_CMS_LIMITS, ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) };
}

/**
 * Runs `read` on the strict DER; on a DER error, normalises BER and tries again. When the input
 * was not BER at all the first error is the one reported.
 */
function withBerFallback<T>(der: Uint8Array, limits: Required<CmsLimits>, read: (bytes: Uint8Array) => T): T {
  if (!(der instanceof Uint8Array)) throw new MailPkiError('ERR_INVALID_INPUT', 'CMS input must be a Uint8Array', { details: { field: 'der' } });
  if (der.length > limits.maxBytes)
    throw new MailPkiError('ERR_INPUT_TOO_LARGE', `CMS input is larger than ${limits.maxBytes} bytes`, {
      details: { limit: limits.maxBytes },
    });
  try {
    return read(der);
  } catch (first) {
    if (!(first instanceof MailPkiError) || first.code !== ERR) throw first;
    const normal = normaliseBer(der, limits);
    if (normal === der) throw first;
    return read(normal);
  }
}

function readContentInfo(bytes: Uint8Array): { contentType: string; content?: Der } {
  const root = parseDer(bytes, ERR, 'invalid CMS ContentInfo');
  // A ContentInfo is a SEQUENCE; any other constructed tag would let the container change unseen.
  if (root.tag !== Tag.SEQUENCE) throw new MailPkiError(ERR, 'invalid CMS ContentInfo: not a SEQUENCE');
  const c = cursor(root, ERR, 'invalid CMS ContentInfo');
  const contentType = inCms('ContentInfo', () => readOid(c.next(Tag.OID)));
  const wrapper = c.optional(0xa0);
  c.end();
  if (!wrapper) return { contentType };
  const w = cursor(wrapper, ERR, 'invalid CMS ContentInfo');
  const content = w.next();
  w.end();
  return { contentType, content };
}

/** Reads a ContentInfo and tells what it holds (signed-data, enveloped-data, ...). */
export function parseContentInfo(der: Uint8Array, limits?: CmsLimits): ContentInfo {
  return withBerFallback(der, limitsOf(limits), (bytes) => {
    const { contentType, content } = readContentInfo(bytes);
    const kind = CONTENT_KIND_BY_OID[contentType] ?? 'unknown';
    return content ? { contentType, kind, content: encodedOf(content) } : { contentType, kind };
  });
}

/**
 * Parses a ContentInfo holding SignedData. Malformed input throws ERR_CMS_MALFORMED saying what
 * is wrong; unknown algorithms do not throw (they are `{ unsupported }` for the verifier to report).
 *
 * @example
 * const sd = parseSignedData(der);
 * const cert = findSignerCertificate(sd.signerInfos[0].sid, sd.certificates.map(parseCertificate));
 */
export function parseSignedData(der: Uint8Array, limits?: CmsLimits): SignedData {
  const l = limitsOf(limits);
  return withBerFallback(der, l, (bytes) => readSignedData(bytes, l));
}

function readSignedData(bytes: Uint8Array, l: Required<CmsLimits>): SignedData {
  const { contentType, content } = readContentInfo(bytes);
  if (contentType !== CMS_OID.signedData)
    throw new MailPkiError(ERR, `invalid CMS: the ContentInfo holds ${CONTENT_KIND_BY_OID[contentType] ?? contentType}, not signed-data`);
  if (!content || content.tag !== Tag.SEQUENCE) throw new MailPkiError(ERR, 'invalid CMS: the SignedData is missing');
  const what = 'invalid CMS SignedData';
  const c = cursor(content, ERR, what);
  const version = inCms('SignedData version', () => readSmallInt(c.next(Tag.INTEGER)));

  const digestAlgorithms: CmsDigestAlgorithm[] = [];
  const das = cursor(c.next(Tag.SET), ERR, what);
  while (!das.done) {
    if (digestAlgorithms.length >= l.maxSignerInfos)
      throw new MailPkiError('ERR_INPUT_TOO_LARGE', `CMS SignedData lists more than ${l.maxSignerInfos} digest algorithms`);
    digestAlgorithms.push(inCms('digestAlgorithms', () => readDigestAlgorithm(das.next(Tag.SEQUENCE))));
  }

  const eci = cursor(c.next(Tag.SEQUENCE), ERR, 'invalid CMS EncapsulatedContentInfo');
  const eContentType = inCms('EncapsulatedContentInfo', () => readOid(eci.next(Tag.OID)));
  const eContentNode = eci.optional(0xa0);
  eci.end();
  let eContent: Uint8Array | undefined;
  if (eContentNode) {
    const e = cursor(eContentNode, ERR, 'invalid CMS eContent');
    eContent = inCms('eContent', () => readOctetString(e.next()));
    e.end();
  }

  const certificates: Uint8Array[] = [];
  let otherCertificateChoices = 0;
  const certSet = c.optional(0xa0);
  if (certSet) {
    const cs = cursor(certSet, ERR, 'invalid CMS certificates');
    while (!cs.done) {
      if (certificates.length + otherCertificateChoices >= l.maxCertificates)
        throw new MailPkiError('ERR_INPUT_TOO_LARGE', `CMS SignedData holds more than ${l.maxCertificates} certificates`);
      const n = cs.next();
      if (n.tag === Tag.SEQUENCE) certificates.push(encodedOf(n));
      else if (n.tag >= 0xa0 && n.tag <= 0xa3) otherCertificateChoices++;
      else throw new MailPkiError(ERR, `invalid CMS certificates: unexpected tag 0x${n.tag.toString(16)}`);
    }
  }
  const crls: Uint8Array[] = [];
  let otherRevocationInfoChoices = 0;
  const crlSet = c.optional(0xa1);
  if (crlSet) {
    const cs = cursor(crlSet, ERR, 'invalid CMS crls');
    while (!cs.done) {
      if (crls.length + otherRevocationInfoChoices >= l.maxCrls)
        throw new MailPkiError('ERR_INPUT_TOO_LARGE', `CMS SignedData holds more than ${l.maxCrls} CRLs`);
      const n = cs.next();
      if (n.tag === Tag.SEQUENCE) crls.push(encodedOf(n));
      else if (n.tag === 0xa1) otherRevocationInfoChoices++;
      else throw new MailPkiError(ERR, `invalid CMS crls: unexpected tag 0x${n.tag.toString(16)}`);
    }
  }

  const signerInfos: SignerInfo[] = [];
  const sis = cursor(c.next(Tag.SET), ERR, 'invalid CMS signerInfos');
  c.end();
  while (!sis.done) {
    if (signerInfos.length >= l.maxSignerInfos)
      throw new MailPkiError('ERR_INPUT_TOO_LARGE', `CMS SignedData has more than ${l.maxSignerInfos} signers`);
    signerInfos.push(readSignerInfo(sis.next(Tag.SEQUENCE), l));
  }

  const sd: SignedData = {
    version,
    digestAlgorithms,
    eContentType,
    certificates,
    otherCertificateChoices,
    crls,
    otherRevocationInfoChoices,
    signerInfos,
  };
  if (eContent) sd.eContent = eContent;
  return sd;
}

function readSignerInfo(node: Der, l: Required<CmsLimits>): SignerInfo {
  const what = 'invalid CMS SignerInfo';
  const c = cursor(node, ERR, what);
  const version = inCms('SignerInfo version', () => readSmallInt(c.next(Tag.INTEGER)));
  const sidNode = c.next();
  let sid: SignerIdentifier;
  if (sidNode.tag === Tag.SEQUENCE) {
    const s = cursor(sidNode, ERR, 'invalid CMS IssuerAndSerialNumber');
    const issuer = encodedOf(s.next(Tag.SEQUENCE));
    const serialNode = s.next(Tag.INTEGER);
    s.end();
    if (serialNode.end === serialNode.contentStart) throw new MailPkiError(ERR, 'invalid CMS IssuerAndSerialNumber: empty serial number');
    sid = { issuer, serial: contentOf(serialNode) };
  } else if (sidNode.tag === 0x80) {
    sid = { subjectKeyIdentifier: contentOf(sidNode) };
  } else throw new MailPkiError(ERR, `${what}: unexpected signer identifier tag 0x${sidNode.tag.toString(16)}`);

  const digestAlgorithm = inCms('SignerInfo digestAlgorithm', () => readDigestAlgorithm(c.next(Tag.SEQUENCE)));
  const signedNode = c.optional(0xa0);
  const signedAttrs = signedNode ? readSignedAttributes(signedNode, l.maxAttributes) : undefined;
  const sigAlgNode = c.next(Tag.SEQUENCE);
  const signatureAlgorithm = inCms('SignerInfo signatureAlgorithm', () => readCmsSignatureAlgorithm(sigAlgNode, digestAlgorithm));
  const signature = inCms('SignerInfo signature', () => readOctetString(c.next(Tag.OCTET_STRING)));
  const unsignedNode = c.optional(0xa1);
  c.end();
  const si: SignerInfo = { version, sid, digestAlgorithm, signatureAlgorithm, signature };
  if (signedAttrs) si.signedAttrs = signedAttrs;
  if (unsignedNode) si.unsignedAttrs = inCms('unsigned attributes', () => readAttributes(unsignedNode, l.maxAttributes, 'unsigned attributes'));
  return si;
}

/**
 * CMS signature algorithm: the X.509 ones, plus the bare key OIDs CMS allows (rsaEncryption,
 * RFC 3370 §3.2; id-ecPublicKey, used by some older clients), whose hash is the digestAlgorithm.
 */
function readCmsSignatureAlgorithm(node: Der, digest: CmsDigestAlgorithm): CmsSignatureAlgorithm {
  const id = readOid(cursor(node).next(Tag.OID));
  const context = typeof digest === 'string' ? digest : undefined;
  if ((id === OID.rsaEncryption || id === OID.idEcPublicKey) && !context)
    return { unsupported: `${id} with digest ${(digest as { unsupported: string }).unsupported}` };
  if (id === OID.idEcPublicKey) return { scheme: 'ecdsa', hash: context! };
  try {
    return parseSignatureAlgorithm(node, context);
  } catch (e) {
    if (e instanceof MailPkiError && e.code === 'ERR_ALGORITHM_UNSUPPORTED') return { unsupported: e.message.replace(/^unsupported /, '') };
    throw e;
  }
}
