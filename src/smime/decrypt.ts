/**
 * decryptMessage: opens an S/MIME encrypted message (application/pkcs7-mime enveloped-data or
 * authEnveloped-data) with one of the given keys. The plaintext is handed out only whole: AES-GCM's
 * tag is checked by the CMS layer before anything is returned, and any failure is an error without
 * plaintext. AES-CBC content is returned with `integrityProtected: false` (see docs/encrypting.md).
 */
import { z } from 'zod';
import { decryptData, type AesGcmCipher, type CmsDecryptionKey, type ContentEncryptionAlgorithm, type KeyManagement } from '../cms/index.js';
import { aesGcmCipherSchema } from '../cms/content-encryption.js';
import type { Certificate } from '../certs/certificate.js';
import { MailPkiError } from '../errors.js';
import { concatBytes, fromLatin1, latin1 } from '../internal/bytes.js';
import { readOid, readTlv } from '../internal/der.js';
import { resolveCrypto } from '../internal/crypto.js';
import { parseInput } from '../internal/validate.js';
import { parseMessage, type MimeEntity, type MimeLimits } from '../mime/index.js';
import { COMPARED_HEADERS, readHeaderProtection, type HeaderProtection } from './protected-headers.js';
import { toCertificates, type CertificateInput } from './verify.js';

/** A decryption key: the private key and the certificate it belongs to (RecipientInfos name the certificate). */
export interface SmimeDecryptionKey {
  /** RSA (RSA-OAEP usage) or EC (ECDH) private key; non-extractable keys and provider keys work. */
  privateKey: CryptoKey;
  certificate: CertificateInput;
  /** Raw RSA decryption (c^d mod n) for PKCS#1 v1.5 key transport with a key WebCrypto cannot use for it (an HSM). */
  rawRsaDecrypt?: (c: Uint8Array) => Promise<Uint8Array>;
}

export interface DecryptMessageOptions {
  keys: readonly SmimeDecryptionKey[];
  mimeLimits?: Partial<MimeLimits>;
  crypto?: Crypto;
  /**
   * AES-GCM to use instead of WebCrypto's for the content (mailpki/cms decryptData's option), e.g.
   * `nodeAesGcm()` from mailpki/node. The tag is still checked before anything is returned.
   */
  aesGcm?: AesGcmCipher;
}

/** What opening one encrypted entity needs (decryptMessage and verifyMessage's encrypted layers). */
export interface DecryptEntityOptions {
  crypto: Crypto;
  mimeLimits?: Partial<MimeLimits>;
  aesGcm?: AesGcmCipher;
}

export interface DecryptedMessage {
  /**
   * What a client shows: the outer header fields (other than Content-* and those the decrypted part
   * protects; with RFC 9788 header protection, no outer To, Cc, Reply-To, Subject, Date, In-Reply-To
   * or References at all) and the protected ones, followed by the decrypted entity. When the decrypted
   * entity is a cryptographic layer around the payload (sign-then-encrypt: a multipart/signed), its own
   * fields other than Content-Type, Content-Transfer-Encoding and Content-Disposition are outside every
   * signature and left out (`entity` keeps them). Verify it with verifyMessage when it is signed.
   */
  message: Uint8Array;
  /** The decrypted MIME entity exactly as it was encrypted. */
  entity: Uint8Array;
  contentEncryption: ContentEncryptionAlgorithm;
  /** False for AES-CBC (EnvelopedData): the content could have been altered without detection. */
  integrityProtected: boolean;
  keyManagement: KeyManagement;
  /** Index of the RecipientInfo that opened it, and the key's certificate. */
  recipientIndex: number;
  certificate: Certificate;
  /** Every RecipientInfo's identifier, described. */
  recipients: string[];
  /**
   * RFC 9788 protected header fields of the decrypted part (hp="cipher"), or of the signed content
   * when the decrypted part is multipart/signed (read, not verified: verifyMessage checks the
   * signature), with their differences from the outer ones and why (the HP-Outer record).
   */
  headerProtection?: HeaderProtection;
}

const optionsSchema = z
  .object({
    keys: z.array(z.object({ privateKey: z.any(), certificate: z.any(), rawRsaDecrypt: z.any().optional() }).strict()).min(1, 'at least one key is needed'),
    mimeLimits: z.record(z.string(), z.number()).optional(),
    crypto: z.any().optional(),
    aesGcm: aesGcmCipherSchema.optional(),
  })
  .strict();

const MIME_TYPES = new Set(['application/pkcs7-mime', 'application/x-pkcs7-mime']);
const ENCRYPTED_TYPES = new Set(['enveloped-data', 'authenveloped-data']);
/** id-envelopedData (RFC 5652) and id-ct-authEnvelopedData (RFC 5083). */
const ENVELOPED_DATA = '1.2.840.113549.1.7.3';
const AUTH_ENVELOPED_DATA = '1.2.840.113549.1.9.16.1.23';
const ID_DATA = '1.2.840.113549.1.7.1';

/**
 * Is this entity an S/MIME encrypted container? By smime-type; without one (older clients), by the
 * CMS content type inside (enveloped-data or authEnveloped-data).
 */
export function isEncryptedEntity(e: MimeEntity): boolean {
  if (!MIME_TYPES.has(e.contentType.mediaType)) return false;
  const t = e.contentType.params.get('smime-type')?.toLowerCase();
  if (t !== undefined) return ENCRYPTED_TYPES.has(t);
  try {
    // Only the ContentInfo's first field is read; OpenSSL writes indefinite-length BER here.
    const b = e.decodedBody();
    if (b[0] !== 0x30 || b.length < 2) return false;
    const type = readOid(readTlv(b, b[1]! <= 0x80 ? 2 : 2 + (b[1]! & 0x7f), b.length));
    return type === ENVELOPED_DATA || type === AUTH_ENVELOPED_DATA;
  } catch {
    return false; // not readable CMS: the signature path reports it
  }
}

/** Our keys as the CMS layer wants them. */
export function toCmsKeys(keys: readonly SmimeDecryptionKey[]): CmsDecryptionKey[] {
  return keys.map((k, i) => {
    if (!k || typeof k !== 'object' || !k.privateKey) throw new MailPkiError('ERR_INVALID_INPUT', `keys[${i}]: expected { privateKey, certificate }`, { details: { field: `keys.${i}` } });
    const certs = toCertificates([k.certificate], `keys[${i}].certificate`);
    if (certs.length !== 1) throw new MailPkiError('ERR_INVALID_INPUT', `keys[${i}].certificate: expected one certificate`, { details: { field: `keys.${i}.certificate` } });
    return { privateKey: k.privateKey, certificate: certs[0]!, ...(k.rawRsaDecrypt && { rawRsaDecrypt: k.rawRsaDecrypt }) };
  });
}

/**
 * Decrypts an S/MIME encrypted message. Throws MailPkiError (never returning partial plaintext):
 * ERR_INVALID_INPUT when the message is not encrypted, and the CMS layer's codes (not encrypted to
 * any given key — the message lists the RecipientInfos —, wrong key, tag mismatch, truncated, weak or
 * unknown algorithm).
 *
 * @example
 * const { message, integrityProtected } = await decryptMessage(eml, { keys: [{ privateKey, certificate }] });
 * const verdict = await verifyMessage(message, { trustAnchors: [root] });
 */
export async function decryptMessage(raw: Uint8Array | string, options: DecryptMessageOptions): Promise<DecryptedMessage> {
  parseInput(optionsSchema, options, 'decryptMessage options');
  const keys = toCmsKeys(options.keys);
  const root = parseMessage(raw, options.mimeLimits);
  if (!isEncryptedEntity(root))
    throw new MailPkiError('ERR_INVALID_INPUT', `the message is not S/MIME encrypted: it is ${root.contentType.mediaType}${root.contentType.params.get('smime-type') ? `; smime-type=${root.contentType.params.get('smime-type')}` : ''}`, {
      details: { field: 'raw' },
    });
  const opened = await decryptEntity(root, keys, {
    crypto: resolveCrypto(options.crypto),
    ...(options.mimeLimits && { mimeLimits: options.mimeLimits }),
    ...(options.aesGcm && { aesGcm: options.aesGcm }),
  });
  const payload = protectedPayload(opened.inner);
  const headerProtection = payload && readHeaderProtection(root, payload, payload === opened.inner ? 'the encrypted part' : 'the signed part', true).protection;
  return {
    message: showMessage(root, opened.content, opened.inner, headerProtection && payload),
    entity: opened.content,
    contentEncryption: opened.data.contentEncryption,
    integrityProtected: opened.data.integrityProtected,
    keyManagement: opened.data.keyManagement,
    recipientIndex: opened.data.recipientIndex,
    certificate: opened.data.certificate,
    recipients: opened.data.recipients,
    ...(headerProtection && { headerProtection }),
  };
}

/** Decrypts one encrypted entity and parses the plaintext as MIME; throws on any failure. */
export async function decryptEntity(
  e: MimeEntity,
  keys: readonly CmsDecryptionKey[],
  options: DecryptEntityOptions,
): Promise<{ data: Awaited<ReturnType<typeof decryptData>>; content: Uint8Array; inner: MimeEntity }> {
  let cms: Uint8Array;
  try {
    cms = e.decodedBody();
  } catch (err) {
    throw new MailPkiError('ERR_CMS_MALFORMED', `the encrypted part cannot be decoded: ${(err as Error).message}`, { cause: err });
  }
  const data = await decryptData(cms, keys, { crypto: options.crypto, ...(options.aesGcm && { aesGcm: options.aesGcm }) });
  // S/MIME encrypts MIME (id-data). The content type is outside what AES-GCM authenticates when
  // there are no authAttrs, so another value is refused rather than read as MIME regardless.
  if (data.contentType !== ID_DATA) {
    data.content.fill(0);
    throw new MailPkiError('ERR_CMS_MALFORMED', `the encrypted content type is ${data.contentType}, not id-data: it is not an S/MIME message`);
  }
  let inner: MimeEntity;
  try {
    inner = parseMessage(data.content, options.mimeLimits);
  } catch (err) {
    if (err instanceof MailPkiError && err.code === 'ERR_MIME_MALFORMED') throw new MailPkiError('ERR_MIME_MALFORMED', `the decrypted content is not MIME: ${err.message}`, { cause: err });
    throw err;
  }
  return { data, content: data.content, inner };
}

/**
 * A signed or encrypted layer (multipart/signed, application/pkcs7-mime of any smime-type), not
 * content. Decrypted, it is a wrapper around the payload: its own header fields are authenticated by
 * nothing (anyone can encrypt to the recipient, re-wrapping a signed part he received; AES-CBC lets a
 * man in the middle prepend a field to the first plaintext block).
 */
export function isCryptographicLayer(e: MimeEntity): boolean {
  return e.contentType.mediaType === 'multipart/signed' || MIME_TYPES.has(e.contentType.mediaType);
}

/**
 * The entity that carries RFC 9788 protected header fields in a decrypted one (the Cryptographic
 * Payload, inside every cryptographic layer): itself, the signed content when it is multipart/signed
 * (sign-then-encrypt), or none here when it is another layer (opaque signed-data: verifyMessage opens it).
 * Fields on a layer around the payload are outside every signature and never protected ones.
 */
export function protectedPayload(inner: MimeEntity): MimeEntity | undefined {
  if (inner.contentType.mediaType === 'multipart/signed') return inner.children.length === 2 ? inner.children[0] : undefined;
  return isCryptographicLayer(inner) ? undefined : inner;
}

/**
 * Outer fields added on the way (RFC 5321 §4.4 trace fields, and the results and signatures of
 * receiving systems: RFC 8601, RFC 6376, RFC 8617): what a message shows beside an RFC 9788 protected
 * header section. Every other outer field was either sent protected (the protected one is shown) or
 * written by someone after the sender.
 */
const TRACE_FIELDS = new Set(['received', 'return-path', 'delivered-to', 'x-original-to', 'received-spf', 'authentication-results', 'dkim-signature', 'arc-seal', 'arc-message-signature', 'arc-authentication-results']);

const isEntityField = (name: string) => /^content-/i.test(name) || name.toLowerCase() === 'mime-version';

/** With a protected header section (`own`: its field names): is this outer field shown? Trace fields, and From when the section has none. */
function shownBesideProtected(name: string, own: ReadonlySet<string>): boolean {
  const n = name.toLowerCase();
  return TRACE_FIELDS.has(n) || (n === 'from' && !own.has('from'));
}

/**
 * The names of the outer fields a message shown with a protected header section (`payload`) leaves
 * out although the section does not carry them either (added outside, or left outside by the sender),
 * without the compared ones (From, To, Cc, Reply-To, Subject, Date): their differences are reported
 * with the header protection. For SMIME_OUTER_FIELD_NOT_SHOWN.
 */
export function outerFieldsNotShown(outer: MimeEntity, payload: MimeEntity): string[] {
  const own = new Set(payload.headers.map((h) => h.name.toLowerCase()));
  const compared = new Set(COMPARED_HEADERS.map((n) => n.toLowerCase()));
  const names = new Map<string, string>();
  for (const h of outer.headers) {
    const n = h.name.toLowerCase();
    if (isEntityField(n) || own.has(n) || compared.has(n) || shownBesideProtected(n, own) || n === 'hp-outer') continue;
    if (!names.has(n)) names.set(n, h.name);
  }
  return [...names.values()];
}

const STRUCTURAL = new Set(['content-type', 'content-transfer-encoding', 'content-disposition', 'mime-version']);
/**
 * Fields that say how to read the entity, not what the message is: the only ones an unauthenticated
 * wrapper keeps (a Content-Description or Content-ID there is text nobody signed, like a Subject).
 * The one place that says which wrapper fields are shown (showMessage) and which are reported (verifyMessage).
 */
export const isStructuralField = (name: string): boolean => STRUCTURAL.has(name.toLowerCase());


/**
 * The message a client shows for a decrypted entity: the outer fields (not Content-*, not
 * MIME-Version, not those the entity carries itself: RFC 9788's protected fields win) and the entity.
 * With a protected header section (`payload`, RFC 9788), the outer header contributes only its trace
 * fields (Received, Return-Path, Authentication-Results, DKIM-Signature, ARC-*...; TRACE_FIELDS) and
 * a From when the section has none: a Cc, Reply-To, In-Reply-To or List-Unsubscribe added outside
 * after sending would otherwise pass for the sender's. The protected fields head the message when
 * they sit deeper than its top (inside a signed part).
 */
export function showMessage(outer: MimeEntity, entity: Uint8Array, inner: MimeEntity, payload?: MimeEntity): Uint8Array {
  // Header fields on a cryptographic layer around the payload are neither signed nor the sender's
  // outer header (anyone can encrypt a signed message with fields of their own; AES-CBC lets a man in
  // the middle prepend one): only those that say how to read it are kept, before its body byte for byte.
  const layer = isCryptographicLayer(inner);
  const shownEntity = layer
    ? concatBytes([...inner.headers.filter((h) => isStructuralField(h.name) && h.name.toLowerCase() !== 'mime-version').map((h) => withCrlf(withoutHp(h))), latin1('\r\n'), inner.source.subarray(inner.bodyStart)])
    : entity;
  const own = new Set(layer ? [] : inner.headers.map((h) => h.name.toLowerCase()));
  const lifted = payload && payload !== inner ? payload.headers.filter((h) => !/^content-/i.test(h.name) && h.name.toLowerCase() !== 'hp-outer') : [];
  for (const h of lifted) own.add(h.name.toLowerCase());
  const kept = payload ? outer.headers.filter((h) => shownBesideProtected(h.name, own)) : outer.headers.filter((h) => !isEntityField(h.name) && !own.has(h.name.toLowerCase()));
  return concatBytes([...[...kept, ...lifted].map((h) => withCrlf(h.raw)), latin1('MIME-Version: 1.0\r\n'), shownEntity]);
}

/**
 * A wrapper's Content-Type without its hp parameter: hp belongs on the payload (RFC 9788 §2.1.1), and
 * on the entity shown at the top it would tell a renderer that the header above it — the outer
 * fields, which anyone on the way may change — is protected.
 */
function withoutHp(h: { name: string; raw: Uint8Array }): Uint8Array {
  if (h.name.toLowerCase() !== 'content-type') return h.raw;
  return latin1(fromLatin1(h.raw).replace(/;[ \t\r\n]*hp[ \t\r\n]*=[ \t\r\n]*(?:"[^"]*"|[^;\s]+)/gi, ''));
}

function withCrlf(raw: Uint8Array): Uint8Array {
  return raw.length >= 2 && raw[raw.length - 2] === 0x0d && raw[raw.length - 1] === 0x0a ? raw : concatBytes([raw, latin1('\r\n')]);
}
