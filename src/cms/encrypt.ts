/**
 * Making AuthEnvelopedData (RFC 5083, AES-GCM per RFC 5084) or EnvelopedData (RFC 5652 §6,
 * AES-CBC) for S/MIME 4.0 (RFC 8551). One random content-encryption key, wrapped per recipient
 * with RSAES-OAEP (default), RSAES-PKCS1-v1_5 (opt-in) or ECDH ephemeral-static (EC and X25519 keys).
 * The content is encrypted straight into its place in the output (an injected AesGcmCipher), or
 * copied there once from WebCrypto's result.
 */
import { z } from 'zod';
import { MailPkiError } from '../errors.js';
import type { Certificate } from '../certs/certificate.js';
import { resolveCrypto, randomBytes } from '../internal/crypto.js';
import { Tag, bitString, compareBytes, explicit, int, nul, octets, oid, seq, tlv } from '../internal/der.js';
import { parseInput } from '../internal/validate.js';
import { GCM_TAG_BYTES, aesGcmCipherSchema, contentEncryptionParams, encryptContentInto, isGcm, type AesGcmCipher } from './content-encryption.js';
import {
  CONTENT_KEY_BYTES,
  DEFAULT_ENVELOPED_LIMITS,
  ENVELOPE_OID,
  type ContentEncryptionAlgorithm,
} from './enveloped-data.js';
import { agreeAndWrap, wrapAlgorithmIdentifier, type AgreementCurve, type NistCurve } from './key-agreement.js';
import { CMS_OID } from './oids.js';
import { oaepEncrypt, pkcs1Encrypt, readRsaPublicNumbers } from './rsa.js';

export type { ContentEncryptionAlgorithm, KeyManagement } from './enveloped-data.js';

/** One recipient: its certificate, and for RSA how the key travels. */
export interface CmsRecipient {
  certificate: Certificate;
  /** RSA only. Default 'rsa-oaep' (SHA-256, RFC 4055); 'rsa-pkcs1' for legacy clients. EC keys use ECDH. */
  keyTransport?: 'rsa-oaep' | 'rsa-pkcs1';
  /** How the RecipientInfo names the certificate. Default 'issuerAndSerialNumber'. */
  identifier?: 'issuerAndSerialNumber' | 'subjectKeyIdentifier';
}

export interface EncryptDataOptions {
  /** Default 'aes-256-gcm' (AuthEnvelopedData). CBC gives EnvelopedData, without integrity protection. */
  contentEncryption?: ContentEncryptionAlgorithm;
  /** The inner content type, a dotted OID. Default id-data. */
  contentType?: string;
  crypto?: Crypto;
  /**
   * AES-GCM to use instead of WebCrypto's (e.g. `nodeAesGcm()` from mailpki/node, which encrypts
   * straight into the output). Ignored for AES-CBC.
   */
  aesGcm?: AesGcmCipher;
}

const isCertificate = (v: unknown): v is Certificate =>
  typeof v === 'object' &&
  v !== null &&
  (v as Certificate).der instanceof Uint8Array &&
  (v as Certificate).serialBytes instanceof Uint8Array &&
  (v as Certificate).issuer?.der instanceof Uint8Array &&
  typeof (v as Certificate).publicKey?.kind === 'string';

const recipientSchema = z
  .object({
    certificate: z.custom<Certificate>(isCertificate, 'expected a parsed Certificate (parseCertificate)'),
    keyTransport: z.enum(['rsa-oaep', 'rsa-pkcs1']).optional(),
    identifier: z.enum(['issuerAndSerialNumber', 'subjectKeyIdentifier']).optional(),
  })
  .strict();
const optionsSchema = z
  .object({
    contentEncryption: z.enum(['aes-256-gcm', 'aes-128-gcm', 'aes-256-cbc', 'aes-128-cbc']).optional(),
    contentType: z.string().regex(/^[0-2](\.(0|[1-9][0-9]*))+$/, 'a dotted OID').optional(),
    crypto: z.custom<Crypto>((v) => typeof v === 'object' && v !== null && 'subtle' in v, 'expected a WebCrypto Crypto').optional(),
    aesGcm: aesGcmCipherSchema.optional(),
  })
  .strict();

/**
 * A DER node whose content is written once at the end: the big ciphertext is placed straight
 * into the output instead of being copied by every enclosing `tlv`. A `Slot` is room of a known
 * length, filled after the output exists (the ciphertext, the tag).
 */
interface Lazy {
  tag: number;
  parts: (Uint8Array | Lazy | Slot)[];
  len: number;
}
class Slot {
  /** Where the slot starts in the output, once serialised. */
  at = -1;
  constructor(readonly length: number) {}
}
const lazy = (tag: number, ...parts: (Uint8Array | Lazy | Slot)[]): Lazy => ({
  tag,
  parts,
  len: parts.reduce((n, p) => n + (p instanceof Uint8Array || p instanceof Slot ? p.length : encodedLength(p)), 0),
});
const headerLength = (len: number): number => (len < 0x80 ? 2 : len < 0x100 ? 3 : len < 0x10000 ? 4 : len < 0x1000000 ? 5 : 6);
const encodedLength = (n: Lazy): number => headerLength(n.len) + n.len;

function serialise(root: Lazy): Uint8Array {
  const out = new Uint8Array(encodedLength(root));
  const write = (n: Lazy, at: number): number => {
    out[at++] = n.tag;
    const h = headerLength(n.len) - 2;
    if (h === 0) out[at++] = n.len;
    else {
      out[at++] = 0x80 | h;
      for (let i = h - 1; i >= 0; i--) out[at++] = Math.floor(n.len / 256 ** i) & 0xff;
    }
    for (const p of n.parts) {
      if (p instanceof Uint8Array) {
        out.set(p, at);
        at += p.length;
      } else if (p instanceof Slot) {
        p.at = at;
        at += p.length;
      } else at = write(p, at);
    }
    return at;
  };
  write(root, 0);
  return out;
}

function recipientIdentifier(r: CmsRecipient, forKari: boolean): { der: Uint8Array; ski: boolean } {
  const cert = r.certificate;
  if (r.identifier === 'subjectKeyIdentifier') {
    if (!cert.subjectKeyIdentifier)
      throw new MailPkiError('ERR_INVALID_INPUT', 'recipients: the certificate has no subjectKeyIdentifier extension; use identifier: issuerAndSerialNumber', {
        details: { field: 'identifier' },
      });
    // ktri: [0] IMPLICIT SubjectKeyIdentifier; kari: rKeyId [0] IMPLICIT RecipientKeyIdentifier (a SEQUENCE)
    const der = forKari ? tlv(0xa0, octets(cert.subjectKeyIdentifier)) : tlv(0x80, cert.subjectKeyIdentifier);
    return { der, ski: true };
  }
  return { der: seq(cert.issuer.der, tlv(Tag.INTEGER, cert.serialBytes)), ski: false };
}

/** RSAES-OAEP-params with SHA-256 and MGF1-SHA-256 (RFC 4055 §4.1; NULL hash parameters as its examples). */
const OAEP_SHA256_ALGORITHM = seq(
  oid(ENVELOPE_OID.rsaesOaep),
  seq(explicit(0, seq(oid(ENVELOPE_OID.sha256), nul())), explicit(1, seq(oid(ENVELOPE_OID.mgf1), seq(oid(ENVELOPE_OID.sha256), nul())))),
);

async function recipientInfo(crypto: Crypto, r: CmsRecipient, cek: Uint8Array): Promise<{ der: Uint8Array; version: number }> {
  const pk = r.certificate.publicKey;
  if (pk.kind === 'rsa') {
    if (pk.bits < MIN_RECIPIENT_RSA_BITS)
      throw new MailPkiError('ERR_KEY_WEAK', `the recipient's RSA key has ${pk.bits} bits; encrypting to keys below ${MIN_RECIPIENT_RSA_BITS} bits is refused (ask for a new certificate)`);
    const rid = recipientIdentifier(r, false);
    const pkcs1 = r.keyTransport === 'rsa-pkcs1';
    const encryptedKey = pkcs1 ? pkcs1Encrypt(readRsaPublicNumbers(pk.spki), cek, crypto) : await oaepEncrypt(crypto, pk.spki, 'SHA-256', cek);
    const alg = pkcs1 ? seq(oid(ENVELOPE_OID.rsaEncryption), nul()) : OAEP_SHA256_ALGORITHM;
    const version = rid.ski ? 2 : 0;
    return { der: seq(int(version), rid.der, alg, octets(encryptedKey)), version };
  }
  if (pk.kind === 'ec' || pk.kind === 'x25519') {
    if (r.keyTransport)
      throw new MailPkiError('ERR_INVALID_INPUT', `recipients: keyTransport ${r.keyTransport} is for RSA keys; this certificate has an ${pk.kind.toUpperCase()} key (ECDH is used)`, {
        details: { field: 'keyTransport' },
      });
    const curve: AgreementCurve = pk.kind === 'x25519' ? 'X25519' : (pk.curve as NistCurve);
    const agreed = await agreeAndWrap(crypto, pk.spki, curve, cek);
    const rid = recipientIdentifier(r, true);
    // originatorKey [1] IMPLICIT OriginatorPublicKey, parameters absent: id-ecPublicKey (the recipient's curve), as
    // OpenSSL writes it, or id-X25519 (RFC 8418 §3, which forbids parameters).
    const originatorAlgorithm = oid(curve === 'X25519' ? ENVELOPE_OID.idX25519 : ENVELOPE_OID.idEcPublicKey);
    const originator = explicit(0, tlv(0xa1, seq(originatorAlgorithm), bitString(agreed.ephemeralPoint)));
    const keyEncryptionAlgorithm = seq(oid(agreed.kdfOid), wrapAlgorithmIdentifier(agreed.wrap));
    const reks = seq(seq(rid.der, octets(agreed.encryptedKey)));
    return { der: tlv(0xa1, int(3), originator, keyEncryptionAlgorithm, reks), version: 3 };
  }
  throw new MailPkiError(
    'ERR_KEY_UNSUPPORTED',
    `a ${pk.kind} certificate cannot receive encrypted mail (Ed25519 keys only sign): use an RSA, EC (P-256, P-384, P-521) or X25519 certificate`,
  );
}

/** Largest content encryptData takes: the reader's default maxBytes less 64 KiB for the structure around it. */
export const MAX_ENCRYPT_CONTENT_BYTES = DEFAULT_ENVELOPED_LIMITS.maxBytes - 64 * 1024;

/** Smallest recipient RSA modulus encryptData writes to (RFC 8551 §2.7 / S/MIME BR: 2048). */
export const MIN_RECIPIENT_RSA_BITS = 2048;

/** The most recipients encryptData accepts (the reader's default limit). */
export const MAX_ENCRYPT_RECIPIENTS = DEFAULT_ENVELOPED_LIMITS.maxRecipients;

/**
 * Encrypts `content` to every recipient and returns a DER ContentInfo: AuthEnvelopedData for
 * AES-GCM (the default, AES-256), EnvelopedData for AES-CBC.
 *
 * @example
 * const der = await encryptData(mime, [{ certificate: alice }, { certificate: bob, keyTransport: 'rsa-pkcs1' }]);
 */
export async function encryptData(content: Uint8Array, recipients: readonly CmsRecipient[], options: EncryptDataOptions = {}): Promise<Uint8Array> {
  if (!(content instanceof Uint8Array)) throw new MailPkiError('ERR_INVALID_INPUT', 'content: must be a Uint8Array', { details: { field: 'content' } });
  if (content.length > MAX_ENCRYPT_CONTENT_BYTES)
    throw new MailPkiError('ERR_INPUT_TOO_LARGE', `content is larger than ${MAX_ENCRYPT_CONTENT_BYTES} bytes (what a recipient's reader accepts by default)`, {
      details: { limit: MAX_ENCRYPT_CONTENT_BYTES },
    });
  if (!Array.isArray(recipients) || recipients.length === 0)
    throw new MailPkiError('ERR_INVALID_INPUT', 'recipients: at least one recipient is needed', { details: { field: 'recipients' } });
  if (recipients.length > MAX_ENCRYPT_RECIPIENTS)
    throw new MailPkiError('ERR_INPUT_TOO_LARGE', `recipients: more than ${MAX_ENCRYPT_RECIPIENTS}`, { details: { limit: MAX_ENCRYPT_RECIPIENTS } });
  const list = recipients.map((r, i) => parseInput(recipientSchema, r, `recipients[${i}]`) as CmsRecipient);
  const opts = parseInput(optionsSchema, options, 'encryptData options');
  const crypto = resolveCrypto(opts.crypto);
  const algorithm = opts.contentEncryption ?? 'aes-256-gcm';
  const contentType = opts.contentType ?? CMS_OID.data;

  const cek = randomBytes(crypto, CONTENT_KEY_BYTES[algorithm]);
  try {
    const infos = await Promise.all(list.map((r) => recipientInfo(crypto, r, cek)));
    // RFC 5083 §2.1: authAttrs MUST be present when the content is not id-data; contentType is the one needed.
    const authAttrs =
      isGcm(algorithm) && contentType !== CMS_OID.data
        ? tlv(Tag.SET, seq(oid(CMS_OID.contentType), tlv(Tag.SET, oid(contentType))))
        : undefined;
    const params = contentEncryptionParams(crypto, algorithm);
    // The output first, with room for the ciphertext and tag: the content is encrypted into it.
    const ciphertext = new Slot(params.ciphertextLength(content.length));
    const tag = new Slot(isGcm(algorithm) ? GCM_TAG_BYTES : 0);
    // SET OF in DER order
    const riSet = tlv(Tag.SET, ...infos.map((i) => i.der).sort(compareBytes));
    const eci = lazy(Tag.SEQUENCE, oid(contentType), params.algorithmDer, lazy(0x80, ciphertext));
    let body: Lazy;
    let outerType: string;
    if (isGcm(algorithm)) {
      outerType = CMS_OID.authEnvelopedData;
      const attrs = authAttrs ? [copyWithTag(authAttrs, 0xa1)] : [];
      body = lazy(Tag.SEQUENCE, int(0), riSet, eci, ...attrs, lazy(Tag.OCTET_STRING, tag));
    } else {
      outerType = CMS_OID.envelopedData;
      // RFC 5652 §6.1: version 0 when every RecipientInfo is a version-0 KeyTransRecipientInfo, else 2.
      const version = infos.every((i) => i.version === 0) ? 0 : 2;
      body = lazy(Tag.SEQUENCE, int(version), riSet, eci);
    }
    let out: Uint8Array | undefined;
    const place = () => {
      out = serialise(lazy(Tag.SEQUENCE, oid(outerType), lazy(0xa0, body)));
      return out.subarray(ciphertext.at, ciphertext.at + ciphertext.length);
    };
    const mac = await encryptContentInto(crypto, params, cek, content, place, authAttrs, opts.aesGcm);
    // encryptContentInto has called place() on every path that returns
    if (mac) out!.set(mac, tag.at);
    return out!;
  } finally {
    cek.fill(0);
  }
}

function copyWithTag(encoded: Uint8Array, tag: number): Uint8Array {
  const out = encoded.slice();
  out[0] = tag;
  return out;
}
