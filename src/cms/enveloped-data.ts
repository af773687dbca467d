/**
 * EnvelopedData (RFC 5652 §6) and AuthEnvelopedData (RFC 5083) read into views over the input,
 * and their RecipientInfos (KeyTransRecipientInfo, KeyAgreeRecipientInfo). Nothing is decrypted
 * here; algorithms are read into tagged unions so that the decryptor can refuse or use them.
 */
import { z } from 'zod';
import { MailPkiError } from '../errors.js';
import { formatName, readName } from '../certs/name.js';
import { toHex } from '../internal/bytes.js';
import { Tag, contentOf, cursor, encodedOf, parseDer, readBitString, readOctetString, readOid, readSmallInt, type Der } from '../internal/der.js';
import { parseInput } from '../internal/validate.js';
import { inCms } from './attributes.js';
import { MAX_BER_DEPTH, normaliseBer } from './ber.js';
import { CMS_OID, CONTENT_KIND_BY_OID } from './oids.js';

/** OIDs of content encryption, key transport, key agreement and key wrap (RFC 3565, 5084, 4055, 5753, 3394). */
export const ENVELOPE_OID = {
  aes128CBC: '2.16.840.1.101.3.4.1.2',
  aes192CBC: '2.16.840.1.101.3.4.1.22',
  aes256CBC: '2.16.840.1.101.3.4.1.42',
  aes128GCM: '2.16.840.1.101.3.4.1.6',
  aes192GCM: '2.16.840.1.101.3.4.1.26',
  aes256GCM: '2.16.840.1.101.3.4.1.46',
  aes128Wrap: '2.16.840.1.101.3.4.1.5',
  aes192Wrap: '2.16.840.1.101.3.4.1.25',
  aes256Wrap: '2.16.840.1.101.3.4.1.45',
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsaesOaep: '1.2.840.113549.1.1.7',
  mgf1: '1.2.840.113549.1.1.8',
  pSpecified: '1.2.840.113549.1.1.9',
  idEcPublicKey: '1.2.840.10045.2.1',
  idX25519: '1.3.101.110',
  sha1: '1.3.14.3.2.26',
  sha224: '2.16.840.1.101.3.4.2.4',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
  // RFC 5753 §7.1.4 (SEC 1 / X9.63 schemes); the cofactor variants are the same math on the NIST curves (cofactor 1).
  dhSinglePassStdDhSha1Kdf: '1.3.133.16.840.63.0.2',
  dhSinglePassStdDhSha224Kdf: '1.3.132.1.11.0',
  dhSinglePassStdDhSha256Kdf: '1.3.132.1.11.1',
  dhSinglePassStdDhSha384Kdf: '1.3.132.1.11.2',
  dhSinglePassStdDhSha512Kdf: '1.3.132.1.11.3',
  dhSinglePassCofactorDhSha1Kdf: '1.3.133.16.840.63.0.3',
  dhSinglePassCofactorDhSha256Kdf: '1.3.132.1.14.1',
  dhSinglePassCofactorDhSha384Kdf: '1.3.132.1.14.2',
  dhSinglePassCofactorDhSha512Kdf: '1.3.132.1.14.3',
  // RFC 8418 §2.2: X25519/X448 with HKDF.
  dhSinglePassStdDhHkdfSha256: '1.2.840.113549.1.9.16.3.19',
  dhSinglePassStdDhHkdfSha384: '1.2.840.113549.1.9.16.3.20',
  dhSinglePassStdDhHkdfSha512: '1.2.840.113549.1.9.16.3.21',
} as const;

/** Content encryption mailpki writes and reads. */
export type ContentEncryptionAlgorithm = 'aes-256-gcm' | 'aes-128-gcm' | 'aes-256-cbc' | 'aes-128-cbc';
/** How the content-encryption key reached a recipient. */
export type KeyManagement = 'rsa-oaep' | 'rsa-pkcs1' | 'ecdh';
export type OaepHash = 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512';
export type KdfHash = 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512';

export const CONTENT_ENCRYPTION_OID: Readonly<Record<ContentEncryptionAlgorithm, string>> = {
  'aes-128-cbc': ENVELOPE_OID.aes128CBC,
  'aes-256-cbc': ENVELOPE_OID.aes256CBC,
  'aes-128-gcm': ENVELOPE_OID.aes128GCM,
  'aes-256-gcm': ENVELOPE_OID.aes256GCM,
};
const CONTENT_ENCRYPTION_BY_OID: Readonly<Record<string, ContentEncryptionAlgorithm>> = Object.fromEntries(
  Object.entries(CONTENT_ENCRYPTION_OID).map(([k, v]) => [v, k as ContentEncryptionAlgorithm]),
);
export const CONTENT_KEY_BYTES: Readonly<Record<ContentEncryptionAlgorithm, number>> = {
  'aes-128-cbc': 16,
  'aes-256-cbc': 32,
  'aes-128-gcm': 16,
  'aes-256-gcm': 32,
};

/** Legacy ciphers refused on reading, with the name a person knows them by (RFC 8551 §2.7 drops them). */
const WEAK_CIPHERS: Readonly<Record<string, string>> = {
  '1.2.840.113549.3.7': '3DES (des-ede3-cbc)',
  '1.2.840.113549.3.2': 'RC2',
  '1.3.14.3.2.7': 'DES',
  '1.2.840.113549.3.4': 'RC4',
  '1.2.840.113549.1.9.16.3.6': '3DES key wrap',
  '1.2.840.113549.1.9.16.3.7': 'RC2 key wrap',
};
export const WEAK_CIPHER_HINT = 'ask the sender to use AES (S/MIME 4.0, RFC 8551: AES-GCM or AES-CBC); to read an old message once, use `openssl cms -decrypt`';

/** Bounds on what the EnvelopedData reader accepts. */
export interface EnvelopedLimits {
  /** Whole input (and its BER-normalised form), which bounds the content. Default 64 MiB. */
  maxBytes?: number;
  /** RecipientInfos, counting every RecipientEncryptedKey of a KeyAgreeRecipientInfo. Default 256. */
  maxRecipients?: number;
  /** Nesting depth accepted by the BER normaliser. Default 64, at most MAX_BER_DEPTH (256). */
  maxDepth?: number;
}

/** Default limits (docs/cms.md). */
export const DEFAULT_ENVELOPED_LIMITS: Readonly<Required<EnvelopedLimits>> = Object.freeze({
  maxBytes: 64 * 1024 * 1024,
  maxRecipients: 256,
  maxDepth: 64,
});

/** How a RecipientInfo names the recipient certificate (RFC 5652 §6.2.1, §6.2.2). */
export type RecipientIdentifier = { issuer: Uint8Array; serial: Uint8Array } | { subjectKeyIdentifier: Uint8Array };

export type ContentEncryption =
  | { algorithm: 'aes-256-gcm' | 'aes-128-gcm'; nonce: Uint8Array; tagLength: number }
  | { algorithm: 'aes-256-cbc' | 'aes-128-cbc'; iv: Uint8Array };

export type KeyTransportAlgorithm = { scheme: 'rsa-pkcs1' } | { scheme: 'rsa-oaep'; hash: OaepHash; mgfHash: OaepHash } | { unsupported: string };

export interface KeyTransRecipient {
  type: 'ktri';
  rid: RecipientIdentifier;
  algorithm: KeyTransportAlgorithm;
  encryptedKey: Uint8Array;
}

export type KeyAgreementAlgorithm =
  | {
      scheme: 'ecdh';
      /** X9.63 (RFC 5753, and RFC 8418 §2.1) or HKDF (RFC 8418 §2.2, X25519 only). */
      kdf: 'x963' | 'hkdf';
      kdfHash: KdfHash;
      wrap: 'aes-128-wrap' | 'aes-192-wrap' | 'aes-256-wrap';
      wrapAlgorithmDer: Uint8Array;
    }
  | { unsupported: string };

export interface KeyAgreeRecipient {
  type: 'kari';
  rid: RecipientIdentifier;
  /**
   * The originator's ephemeral public key: an EC point (uncompressed or compressed, as in its BIT STRING) or,
   * with `originatorX25519`, the 32-byte X25519 u-coordinate; absent when the originator is named by
   * certificate (static-static, not supported) or its key is of another algorithm.
   */
  originatorPoint?: Uint8Array;
  /** true when the originator key is id-X25519 (RFC 8418): the point is for X25519, not a NIST curve. */
  originatorX25519?: boolean;
  /** Algorithm OID of the originator key when it is neither id-ecPublicKey nor id-X25519 (e.g. X448): reported, not used. */
  originatorKeyAlgorithm?: string;
  ukm?: Uint8Array;
  algorithm: KeyAgreementAlgorithm;
  encryptedKey: Uint8Array;
}

/** Any other RecipientInfo (password, KEK, other): listed, never used. */
export interface OtherRecipient {
  type: 'other';
  kind: 'kekri' | 'pwri' | 'ori';
}

export type Recipient = KeyTransRecipient | KeyAgreeRecipient | OtherRecipient;

export interface EnvelopedData {
  kind: 'enveloped-data' | 'auth-enveloped-data';
  version: number;
  /** Flattened: a KeyAgreeRecipientInfo gives one entry per RecipientEncryptedKey. */
  recipients: Recipient[];
  contentType: string;
  contentEncryption: ContentEncryption | { unsupported: string; weak?: boolean };
  /** Absent when the content is detached (not supported for decryption). */
  encryptedContent?: Uint8Array[];
  encryptedContentLength: number;
  /** AuthEnvelopedData only: authAttrs as they are authenticated (SET tag, RFC 5083 §2.2). */
  authAttrsAad?: Uint8Array;
  /** AuthEnvelopedData only. */
  mac?: Uint8Array;
}

const ERR = 'ERR_CMS_MALFORMED' as const;

/**
 * Most OCTET STRING chunks of a constructed encryptedContent. `openssl cms -stream` writes 4 KiB
 * chunks (16 384 for the largest content mailpki reads, MAX_ENCRYPT_CONTENT_BYTES); 65 536 leaves
 * room for 1 KiB chunks and refuses the millions of empty chunks an attacker can pack in.
 */
export const MAX_ENCRYPTED_CONTENT_CHUNKS = 65_536;

const count = z.number().int().positive();
const limitsSchema = z
  .object({ maxBytes: count.max(2 ** 31 - 1), maxRecipients: count, maxDepth: count.max(MAX_BER_DEPTH) })
  .partial()
  .strict();

export function envelopedLimitsOf(l?: EnvelopedLimits): Required<EnvelopedLimits> {
  if (!l) return DEFAULT_ENVELOPED_LIMITS;
  const given = parseInput(limitsSchema, l, 'CMS enveloped-data limits');
  return { ...DEFAULT_ENVELOPED_LIMITS, ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) };
}

/** A structure error from DER that ran out: a cut message is told apart from a garbled one. */
function isTruncation(e: unknown): boolean {
  return e instanceof MailPkiError && e.code === ERR && /unexpected end of data|truncated length|runs past the end|missing end-of-contents/.test(e.message);
}

/**
 * Parses a ContentInfo holding EnvelopedData or AuthEnvelopedData, DER or BER (`openssl cms
 * -stream`). Throws ERR_CMS_MALFORMED, ERR_CMS_TRUNCATED, ERR_INPUT_TOO_LARGE or ERR_NESTING_TOO_DEEP.
 */
export function parseEnvelopedData(der: Uint8Array, limits?: EnvelopedLimits): EnvelopedData {
  const l = envelopedLimitsOf(limits);
  if (!(der instanceof Uint8Array)) throw new MailPkiError('ERR_INVALID_INPUT', 'CMS input must be a Uint8Array', { details: { field: 'cms' } });
  if (der.length > l.maxBytes)
    throw new MailPkiError('ERR_INPUT_TOO_LARGE', `CMS input is larger than ${l.maxBytes} bytes`, { details: { limit: l.maxBytes } });
  try {
    try {
      return inCms('EnvelopedData', () => readEnvelopedData(der, l));
    } catch (first) {
      if (!(first instanceof MailPkiError) || first.code !== ERR) throw first;
      let normal: Uint8Array;
      try {
        normal = normaliseBer(der, { maxBytes: l.maxBytes, maxDepth: l.maxDepth });
      } catch (e) {
        // Not BER either: the DER error says more, unless BER reading found the input cut short.
        if (isTruncation(e) && isTruncation(first)) throw e;
        if (e instanceof MailPkiError && e.code !== ERR) throw e;
        throw first;
      }
      if (normal === der) throw first;
      return inCms('EnvelopedData', () => readEnvelopedData(normal, l));
    }
  } catch (e) {
    if (isTruncation(e)) throw new MailPkiError('ERR_CMS_TRUNCATED', `the encrypted message is cut short (${(e as Error).message})`, { cause: e });
    throw e;
  }
}

function readEnvelopedData(bytes: Uint8Array, l: Required<EnvelopedLimits>): EnvelopedData {
  const root = parseDer(bytes, ERR, 'invalid CMS ContentInfo');
  if (root.tag !== Tag.SEQUENCE) throw new MailPkiError(ERR, 'invalid CMS ContentInfo: not a SEQUENCE');
  const ci = cursor(root, ERR, 'invalid CMS ContentInfo');
  const contentType = readOid(ci.next(Tag.OID));
  const auth = contentType === CMS_OID.authEnvelopedData;
  if (!auth && contentType !== CMS_OID.envelopedData)
    throw new MailPkiError(ERR, `invalid CMS: the ContentInfo holds ${CONTENT_KIND_BY_OID[contentType] ?? contentType}, not enveloped-data or auth-enveloped-data`);
  const wrapper = ci.next(0xa0);
  ci.end();
  const w = cursor(wrapper, ERR, 'invalid CMS ContentInfo');
  const body = w.next(Tag.SEQUENCE);
  w.end();
  const what = auth ? 'invalid CMS AuthEnvelopedData' : 'invalid CMS EnvelopedData';
  const c = cursor(body, ERR, what);
  const version = inCms('version', () => readSmallInt(c.next(Tag.INTEGER)));
  // The version is not covered by the tag (AuthEnvelopedData authenticates only authAttrs): a value
  // no RFC defines is refused, so a changed version never opens (RFC 5083 §2.1: 0; RFC 5652 §6.1: 0, 2, 3 or 4).
  if (auth ? version !== 0 : ![0, 2, 3, 4].includes(version)) throw new MailPkiError(ERR, `${what}: version ${version} is not one ${auth ? 'RFC 5083' : 'RFC 5652'} defines`);
  c.optional(0xa0); // originatorInfo: certificates for the originator; not needed to decrypt
  const recipients = readRecipientInfos(c.next(Tag.SET), l);
  const eci = cursor(c.next(Tag.SEQUENCE), ERR, 'invalid CMS EncryptedContentInfo');
  const innerType = inCms('EncryptedContentInfo contentType', () => readOid(eci.next(Tag.OID)));
  const contentEncryption = readContentEncryption(eci.next(Tag.SEQUENCE));
  const ecNode = eci.done ? undefined : eci.next();
  eci.end();
  let encryptedContent: Uint8Array[] | undefined;
  let encryptedContentLength = 0;
  if (ecNode) {
    if (ecNode.tag === 0x80) encryptedContent = [contentOf(ecNode)];
    else if (ecNode.tag === 0xa0) {
      // BER's constructed [0] IMPLICIT OCTET STRING (openssl -stream): the normaliser left the chunks as OCTET STRINGs.
      encryptedContent = [];
      const chunks = cursor(ecNode, ERR, 'invalid CMS encryptedContent');
      // Bounded: a definite-length input of millions of empty chunks would otherwise cost seconds and
      // hundreds of MiB of views for no content (the BER normaliser's node limit does not see it).
      while (!chunks.done) {
        if (encryptedContent.length >= MAX_ENCRYPTED_CONTENT_CHUNKS)
          throw new MailPkiError('ERR_INPUT_TOO_LARGE', `the encrypted content is split into more than ${MAX_ENCRYPTED_CONTENT_CHUNKS} chunks`, { details: { limit: MAX_ENCRYPTED_CONTENT_CHUNKS } });
        encryptedContent.push(readOctetString(chunks.next(Tag.OCTET_STRING)));
      }
    } else throw new MailPkiError(ERR, `invalid CMS EncryptedContentInfo: unexpected tag 0x${ecNode.tag.toString(16)}`);
    for (const chunk of encryptedContent) encryptedContentLength += chunk.length;
  }
  const ed: EnvelopedData = {
    kind: auth ? 'auth-enveloped-data' : 'enveloped-data',
    version,
    recipients,
    contentType: innerType,
    contentEncryption,
    encryptedContentLength,
  };
  if (encryptedContent) ed.encryptedContent = encryptedContent;
  if (auth) {
    const authAttrs = c.optional(0xa1);
    if (authAttrs) {
      // RFC 5083 §2.2: the MAC covers the DER of authAttrs with the SET OF tag, not the [1] tag.
      const enc = encodedOf(authAttrs).slice();
      enc[0] = Tag.SET;
      ed.authAttrsAad = enc;
    }
    ed.mac = inCms('mac', () => readOctetString(c.next(Tag.OCTET_STRING)));
    c.optional(0xa2); // unauthAttrs
  } else c.optional(0xa1); // unprotectedAttrs
  c.end();
  return ed;
}

function readContentEncryption(node: Der): EnvelopedData['contentEncryption'] {
  const a = cursor(node, ERR, 'invalid CMS contentEncryptionAlgorithm');
  const id = readOid(a.next(Tag.OID));
  const params = a.done ? undefined : a.next();
  a.end();
  const weak = WEAK_CIPHERS[id];
  if (weak) return { unsupported: weak, weak: true };
  const alg = CONTENT_ENCRYPTION_BY_OID[id];
  if (!alg) {
    const named: Record<string, string> = { [ENVELOPE_OID.aes192CBC]: 'AES-192-CBC', [ENVELOPE_OID.aes192GCM]: 'AES-192-GCM' };
    return { unsupported: named[id] ?? id };
  }
  if (alg.endsWith('-cbc')) {
    if (!params || params.tag !== Tag.OCTET_STRING) throw new MailPkiError(ERR, 'invalid CMS: AES-CBC parameters must be the IV');
    const iv = readOctetString(params);
    if (iv.length !== 16) throw new MailPkiError(ERR, 'invalid CMS: the AES-CBC IV must be 16 bytes');
    return { algorithm: alg as 'aes-256-cbc' | 'aes-128-cbc', iv };
  }
  // GCMParameters ::= SEQUENCE { aes-nonce OCTET STRING, aes-ICVlen INTEGER DEFAULT 12 } (RFC 5084 §3.2)
  if (!params || params.tag !== Tag.SEQUENCE) throw new MailPkiError(ERR, 'invalid CMS: AES-GCM parameters are missing');
  const p = cursor(params, ERR, 'invalid CMS GCMParameters');
  const nonce = readOctetString(p.next(Tag.OCTET_STRING));
  const icv = p.optional(Tag.INTEGER);
  p.end();
  const tagLength = icv ? readSmallInt(icv) : 12;
  if (nonce.length < 1 || nonce.length > 64) throw new MailPkiError(ERR, 'invalid CMS GCMParameters: bad nonce length');
  if (![12, 13, 14, 15, 16].includes(tagLength))
    return { unsupported: `AES-GCM with a ${tagLength}-byte tag (12 to 16 are accepted)` };
  return { algorithm: alg as 'aes-256-gcm' | 'aes-128-gcm', nonce, tagLength };
}

function readIssuerAndSerial(node: Der): RecipientIdentifier {
  const s = cursor(node, ERR, 'invalid CMS IssuerAndSerialNumber');
  const issuer = encodedOf(s.next(Tag.SEQUENCE));
  const serialNode = s.next(Tag.INTEGER);
  s.end();
  if (serialNode.end === serialNode.contentStart) throw new MailPkiError(ERR, 'invalid CMS IssuerAndSerialNumber: empty serial number');
  return { issuer, serial: contentOf(serialNode) };
}

function readRecipientInfos(node: Der, l: Required<EnvelopedLimits>): Recipient[] {
  const out: Recipient[] = [];
  const c = cursor(node, ERR, 'invalid CMS recipientInfos');
  const room = (): void => {
    if (out.length >= l.maxRecipients)
      throw new MailPkiError('ERR_INPUT_TOO_LARGE', `the encrypted message has more than ${l.maxRecipients} recipients`, { details: { limit: l.maxRecipients } });
  };
  while (!c.done) {
    const ri = c.next();
    if (ri.tag === Tag.SEQUENCE) {
      room();
      out.push(readKeyTrans(ri));
    } else if (ri.tag === 0xa1) {
      for (const r of readKeyAgree(ri)) {
        room();
        out.push(r);
      }
    } else if (ri.tag === 0xa2 || ri.tag === 0xa3 || ri.tag === 0xa4) {
      room();
      out.push({ type: 'other', kind: ri.tag === 0xa2 ? 'kekri' : ri.tag === 0xa3 ? 'pwri' : 'ori' });
    } else throw new MailPkiError(ERR, `invalid CMS RecipientInfo: unexpected tag 0x${ri.tag.toString(16)}`);
  }
  if (out.length === 0) throw new MailPkiError(ERR, 'invalid CMS: no RecipientInfo');
  return out;
}

const OAEP_HASH_BY_OID: Readonly<Record<string, OaepHash>> = {
  [ENVELOPE_OID.sha1]: 'SHA-1',
  [ENVELOPE_OID.sha256]: 'SHA-256',
  [ENVELOPE_OID.sha384]: 'SHA-384',
  [ENVELOPE_OID.sha512]: 'SHA-512',
};

/** A hash AlgorithmIdentifier, parameters absent or NULL (RFC 4055 §2.1 allows both). */
function readHashId(node: Der): OaepHash | { unsupported: string } {
  const c = cursor(node, ERR, 'invalid CMS hash algorithm');
  const id = readOid(c.next(Tag.OID));
  if (!c.done) c.next(Tag.NULL);
  c.end();
  return OAEP_HASH_BY_OID[id] ?? { unsupported: `hash ${id}` };
}

function readKeyTransportAlgorithm(node: Der): KeyTransportAlgorithm {
  const c = cursor(node, ERR, 'invalid CMS keyEncryptionAlgorithm');
  const id = readOid(c.next(Tag.OID));
  const params = c.done ? undefined : c.next();
  c.end();
  if (id === ENVELOPE_OID.rsaEncryption) {
    if (params && params.tag !== Tag.NULL) throw new MailPkiError(ERR, 'invalid CMS: rsaEncryption parameters must be NULL');
    return { scheme: 'rsa-pkcs1' };
  }
  if (id !== ENVELOPE_OID.rsaesOaep) return { unsupported: WEAK_CIPHERS[id] ?? `key transport ${id}` };
  // RSAES-OAEP-params (RFC 4055 §4.1): every field has a SHA-1 default.
  let hash: OaepHash | { unsupported: string } = 'SHA-1';
  let mgfHash: OaepHash | { unsupported: string } = 'SHA-1';
  if (params && params.tag !== Tag.NULL) {
    if (params.tag !== Tag.SEQUENCE) throw new MailPkiError(ERR, 'invalid CMS RSAES-OAEP parameters');
    const p = cursor(params, ERR, 'invalid CMS RSAES-OAEP parameters');
    const h = p.optional(0xa0);
    if (h) hash = readHashId(cursor(h, ERR).next(Tag.SEQUENCE));
    const m = p.optional(0xa1);
    if (m) {
      const mc = cursor(cursor(m, ERR).next(Tag.SEQUENCE), ERR, 'invalid CMS MGF');
      const mgf = readOid(mc.next(Tag.OID));
      if (mgf !== ENVELOPE_OID.mgf1) return { unsupported: `OAEP mask generation ${mgf}` };
      mgfHash = readHashId(mc.next(Tag.SEQUENCE));
      mc.end();
    }
    const ps = p.optional(0xa2);
    if (ps) {
      const pc = cursor(cursor(ps, ERR).next(Tag.SEQUENCE), ERR, 'invalid CMS pSourceFunc');
      if (readOid(pc.next(Tag.OID)) !== ENVELOPE_OID.pSpecified) return { unsupported: 'OAEP pSourceFunc other than id-pSpecified' };
      const label = pc.done ? new Uint8Array(0) : readOctetString(pc.next(Tag.OCTET_STRING));
      pc.end();
      if (label.length) return { unsupported: 'OAEP with a label' };
    }
    p.end();
  }
  if (typeof hash !== 'string') return hash;
  if (typeof mgfHash !== 'string') return mgfHash;
  return { scheme: 'rsa-oaep', hash, mgfHash };
}

function readKeyTrans(node: Der): KeyTransRecipient {
  const c = cursor(node, ERR, 'invalid CMS KeyTransRecipientInfo');
  const version = inCms('KeyTransRecipientInfo version', () => readSmallInt(c.next(Tag.INTEGER)));
  const ridNode = c.next();
  let rid: RecipientIdentifier;
  if (ridNode.tag === Tag.SEQUENCE) rid = readIssuerAndSerial(ridNode);
  else if (ridNode.tag === 0x80) rid = { subjectKeyIdentifier: contentOf(ridNode) };
  else throw new MailPkiError(ERR, `invalid CMS KeyTransRecipientInfo: unexpected recipient identifier tag 0x${ridNode.tag.toString(16)}`);
  // RFC 5652 §6.2.1: 0 with issuerAndSerialNumber, 2 with subjectKeyIdentifier.
  if (version !== (ridNode.tag === Tag.SEQUENCE ? 0 : 2)) throw new MailPkiError(ERR, `invalid CMS KeyTransRecipientInfo: version ${version} does not go with its recipient identifier`);
  const algorithm = readKeyTransportAlgorithm(c.next(Tag.SEQUENCE));
  const encryptedKey = readOctetString(c.next(Tag.OCTET_STRING));
  c.end();
  return { type: 'ktri', rid, algorithm, encryptedKey };
}

const HKDF_BY_OID: Readonly<Record<string, KdfHash>> = {
  [ENVELOPE_OID.dhSinglePassStdDhHkdfSha256]: 'SHA-256',
  [ENVELOPE_OID.dhSinglePassStdDhHkdfSha384]: 'SHA-384',
  [ENVELOPE_OID.dhSinglePassStdDhHkdfSha512]: 'SHA-512',
};
const KDF_BY_OID: Readonly<Record<string, KdfHash>> = {
  [ENVELOPE_OID.dhSinglePassStdDhSha1Kdf]: 'SHA-1',
  [ENVELOPE_OID.dhSinglePassStdDhSha256Kdf]: 'SHA-256',
  [ENVELOPE_OID.dhSinglePassStdDhSha384Kdf]: 'SHA-384',
  [ENVELOPE_OID.dhSinglePassStdDhSha512Kdf]: 'SHA-512',
  [ENVELOPE_OID.dhSinglePassCofactorDhSha1Kdf]: 'SHA-1',
  [ENVELOPE_OID.dhSinglePassCofactorDhSha256Kdf]: 'SHA-256',
  [ENVELOPE_OID.dhSinglePassCofactorDhSha384Kdf]: 'SHA-384',
  [ENVELOPE_OID.dhSinglePassCofactorDhSha512Kdf]: 'SHA-512',
};
const WRAP_BY_OID: Readonly<Record<string, 'aes-128-wrap' | 'aes-192-wrap' | 'aes-256-wrap'>> = {
  [ENVELOPE_OID.aes128Wrap]: 'aes-128-wrap',
  [ENVELOPE_OID.aes192Wrap]: 'aes-192-wrap',
  [ENVELOPE_OID.aes256Wrap]: 'aes-256-wrap',
};

function readKeyAgreementAlgorithm(node: Der): KeyAgreementAlgorithm {
  const c = cursor(node, ERR, 'invalid CMS keyEncryptionAlgorithm');
  const id = readOid(c.next(Tag.OID));
  const hkdf = HKDF_BY_OID[id];
  const kdfHash = KDF_BY_OID[id] ?? hkdf;
  if (!kdfHash) {
    if (!c.done) c.next();
    c.end();
    return { unsupported: `key agreement ${id}` };
  }
  const wrapNode = c.next(Tag.SEQUENCE);
  c.end();
  const wc = cursor(wrapNode, ERR, 'invalid CMS key wrap algorithm');
  const wrapOid = readOid(wc.next(Tag.OID));
  if (!wc.done) wc.next(Tag.NULL);
  wc.end();
  const wrap = WRAP_BY_OID[wrapOid];
  if (!wrap) return { unsupported: WEAK_CIPHERS[wrapOid] ?? `key wrap ${wrapOid}` };
  return { scheme: 'ecdh', kdf: hkdf ? 'hkdf' : 'x963', kdfHash, wrap, wrapAlgorithmDer: encodedOf(wrapNode) };
}

function readKeyAgree(node: Der): KeyAgreeRecipient[] {
  const c = cursor(node, ERR, 'invalid CMS KeyAgreeRecipientInfo');
  const version = inCms('KeyAgreeRecipientInfo version', () => readSmallInt(c.next(Tag.INTEGER)));
  if (version !== 3) throw new MailPkiError(ERR, `invalid CMS KeyAgreeRecipientInfo: version ${version}, not 3 (RFC 5652 §6.2.2)`);
  const orig = cursor(c.next(0xa0), ERR, 'invalid CMS originator').next();
  let originatorPoint: Uint8Array | undefined;
  let originatorKeyAlgorithm: string | undefined;
  let originatorX25519 = false;
  if (orig.tag === 0xa1) {
    // OriginatorPublicKey ::= SEQUENCE { algorithm, publicKey BIT STRING }, tagged [1] IMPLICIT. The curve is
    // the recipient's (RFC 5753 §3.1.1 lets the parameters be absent), so only the point is kept.
    const o = cursor(orig, ERR, 'invalid CMS OriginatorPublicKey');
    const alg = cursor(o.next(Tag.SEQUENCE), ERR, 'invalid CMS OriginatorPublicKey');
    originatorKeyAlgorithm = readOid(alg.next(Tag.OID));
    const algHasParams = !alg.done;
    const { bits, unused } = inCms('OriginatorPublicKey', () => readBitString(o.next(Tag.BIT_STRING)));
    o.end();
    if (unused !== 0) throw new MailPkiError(ERR, 'invalid CMS OriginatorPublicKey: padding bits in the key');
    if (originatorKeyAlgorithm === ENVELOPE_OID.idEcPublicKey) {
      originatorPoint = bits;
      originatorKeyAlgorithm = undefined;
    } else if (originatorKeyAlgorithm === ENVELOPE_OID.idX25519) {
      // RFC 8418 §3: id-X25519 with parameters absent, and the 32-byte ephemeral public key.
      if (algHasParams) throw new MailPkiError(ERR, 'invalid CMS OriginatorPublicKey: id-X25519 must have no parameters (RFC 8418)');
      if (bits.length !== 32) throw new MailPkiError(ERR, `invalid CMS OriginatorPublicKey: an X25519 key is 32 bytes, this one has ${bits.length}`);
      originatorPoint = bits;
      originatorX25519 = true;
      originatorKeyAlgorithm = undefined;
    }
  } else if (orig.tag !== Tag.SEQUENCE && orig.tag !== 0x80)
    throw new MailPkiError(ERR, `invalid CMS originator: unexpected tag 0x${orig.tag.toString(16)}`);
  const ukmNode = c.optional(0xa1);
  const ukm = ukmNode ? readOctetString(cursor(ukmNode, ERR, 'invalid CMS ukm').next(Tag.OCTET_STRING)) : undefined;
  const algorithm = readKeyAgreementAlgorithm(c.next(Tag.SEQUENCE));
  const reks = cursor(c.next(Tag.SEQUENCE), ERR, 'invalid CMS recipientEncryptedKeys');
  c.end();
  const out: KeyAgreeRecipient[] = [];
  while (!reks.done) {
    const r = cursor(reks.next(Tag.SEQUENCE), ERR, 'invalid CMS RecipientEncryptedKey');
    const ridNode = r.next();
    let rid: RecipientIdentifier;
    if (ridNode.tag === Tag.SEQUENCE) rid = readIssuerAndSerial(ridNode);
    else if (ridNode.tag === 0xa0) {
      // RecipientKeyIdentifier ::= SEQUENCE { subjectKeyIdentifier, date OPTIONAL, other OPTIONAL }
      const k = cursor(ridNode, ERR, 'invalid CMS RecipientKeyIdentifier');
      rid = { subjectKeyIdentifier: readOctetString(k.next(Tag.OCTET_STRING)) };
    } else throw new MailPkiError(ERR, `invalid CMS RecipientEncryptedKey: unexpected identifier tag 0x${ridNode.tag.toString(16)}`);
    const encryptedKey = readOctetString(r.next(Tag.OCTET_STRING));
    r.end();
    const one: KeyAgreeRecipient = { type: 'kari', rid, algorithm, encryptedKey };
    if (originatorPoint) one.originatorPoint = originatorPoint;
    if (originatorX25519) one.originatorX25519 = true;
    if (originatorKeyAlgorithm) one.originatorKeyAlgorithm = originatorKeyAlgorithm;
    if (ukm) one.ukm = ukm;
    out.push(one);
  }
  if (out.length === 0) throw new MailPkiError(ERR, 'invalid CMS KeyAgreeRecipientInfo: no RecipientEncryptedKey');
  return out;
}

/** A recipient identifier for people: "issuer=CN=…, serial=0x…" or "subjectKeyIdentifier=…". */
export function describeRecipientIdentifier(r: Recipient): string {
  if (r.type === 'other') return `${r.kind} recipient (not supported)`;
  const rid = r.rid;
  if ('subjectKeyIdentifier' in rid) return `subjectKeyIdentifier=${clipHex(rid.subjectKeyIdentifier)}`;
  let issuer: string;
  if (rid.issuer.length > MAX_DESCRIBED_NAME_BYTES) issuer = `(a name of ${rid.issuer.length} bytes, ${toHex(rid.issuer.subarray(0, 16))}…)`;
  else
    try {
      issuer = formatName(readName(parseDer(rid.issuer, ERR, 'invalid CMS issuer')));
    } catch {
      issuer = `(unreadable name ${toHex(rid.issuer.subarray(0, 16))}…)`;
    }
  if (issuer.length > MAX_DESCRIBED_NAME_CHARS) issuer = `${issuer.slice(0, MAX_DESCRIBED_NAME_CHARS)}…`;
  return `issuer=${issuer}, serial=0x${clipHex(rid.serial)}`;
}

/**
 * A recipient identifier is described from at most this many bytes of issuer Name, and in at most
 * MAX_DESCRIBED_NAME_CHARS characters: 256 RecipientInfos with 180 KB Names must not make a verdict
 * or an error message of 100 MiB (what real CAs write is under 1 KiB).
 */
export const MAX_DESCRIBED_NAME_BYTES = 4096;
export const MAX_DESCRIBED_NAME_CHARS = 256;

function clipHex(b: Uint8Array): string {
  return b.length > 64 ? `${toHex(b.subarray(0, 64))}…(${b.length} bytes)` : toHex(b);
}

/** For messages: the first few descriptions and how many more there are. */
export function listRecipientIdentifiers(descriptions: readonly string[], most = 8): string {
  const shown = descriptions.slice(0, most).join('; ');
  return descriptions.length > most ? `${shown}; and ${descriptions.length - most} more` : shown;
}

/**
 * Every RecipientInfo's identifier, described: for a "not encrypted to any given key" message.
 *
 * @example
 * readRecipientIdentifiers(der) // ['issuer=CN=Example CA, serial=0x1f…', 'subjectKeyIdentifier=9a3c…']
 */
export function readRecipientIdentifiers(cms: Uint8Array, limits?: EnvelopedLimits): string[] {
  return parseEnvelopedData(cms, limits).recipients.map(describeRecipientIdentifier);
}
