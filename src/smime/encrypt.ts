/**
 * encryptMessage and signAndEncrypt (RFC 8551 §3.3, §3.5; S/MIME 4.0): the content entity, with the
 * header fields protected inside it (RFC 9788, hp="cipher"), becomes AuthEnvelopedData with AES-GCM
 * (or EnvelopedData with AES-CBC when asked, or when a recipient can do nothing better), carried as
 * application/pkcs7-mime. Every recipient is checked before anything is encrypted.
 */
import { z } from 'zod';
import { encryptData, type AesGcmCipher, type ContentEncryptionAlgorithm } from '../cms/index.js';
import { aesGcmCipherSchema } from '../cms/content-encryption.js';
import { MailPkiError } from '../errors.js';
import { concatBytes, latin1, utf8 } from '../internal/bytes.js';
import { systemClock, type Clock } from '../internal/clock.js';
import { resolveCrypto } from '../internal/crypto.js';
import { parseInput } from '../internal/validate.js';
import { assembleMessage, parseMessage, type BuildMessageInput } from '../mime/index.js';
import { encodeBase64LineBytes } from '../mime/base64.js';
import { applyHeaderConfidentiality, injectProtectedHeaders, type HeaderConfidentialityPolicy } from './protected-headers.js';
import { checkRecipients, chooseContentEncryption, uncoveredAddresses, type SmimeRecipient } from './recipients.js';
import { prepareMessage, signEntity, signOptionsShape, type SignMessageOptions, type SmimeSigner } from './sign.js';
import { revocationOptionsSchema, type CertificateInput, type VerifyRevocationOptions } from './verify.js';

export interface EncryptMessageOptions {
  /**
   * 'aes-256-gcm' (default; AuthEnvelopedData), 'aes-128-gcm', or — for old clients only —
   * 'aes-256-cbc' / 'aes-128-cbc' (EnvelopedData, not integrity-protected: see docs/encrypting.md).
   * Without it, CBC is used only when a recipient's known capabilities name no GCM.
   */
  contentEncryption?: ContentEncryptionAlgorithm;
  /** RSA recipients: 'rsa-oaep' (RSAES-OAEP with SHA-256, default) or 'rsa-pkcs1' (PKCS#1 v1.5, legacy). */
  keyTransport?: 'rsa-oaep' | 'rsa-pkcs1';
  /**
   * The sender's own certificate, added as a recipient so the sent copy stays readable (it needs
   * not be named in To/Cc). signAndEncrypt also takes `true`: the signer's certificate.
   */
  encryptToSelf?: SmimeRecipient | boolean;
  /**
   * RFC 9788: put the header fields in the encrypted part, hp="cipher", with an HP-Outer record of
   * the outer header as sent (default true).
   */
  headerProtection?: boolean;
  /**
   * With headerProtection, what the outer header shows (RFC 9788 §3.2): 'hcp_baseline' (default:
   * Subject "[...]", Keywords and Comments removed) or 'hcp_no_confidentiality' (all as written).
   */
  headerConfidentiality?: HeaderConfidentialityPolicy;
  /** With headerProtection and hcp_baseline, the outer Subject becomes "[...]" (default true; false keeps it). */
  obscureSubject?: boolean;
  /** When the recipient certificates must be valid (default: the clock). */
  at?: Date;
  /** Recipient certificates must chain to these (without them only dates and key usage are checked). */
  trustAnchors?: CertificateInput[];
  intermediates?: CertificateInput[];
  /** Revocation of the recipient certificates, as verifyMessage's `revocation`. */
  revocation?: VerifyRevocationOptions;
  /** Accept recipient certificates with RSA below 2048 bits or SHA-1 signatures (default false). */
  allowWeakAlgorithms?: boolean;
  clock?: Clock;
  crypto?: Crypto;
  /**
   * AES-GCM to use instead of WebCrypto's for the content (mailpki/cms encryptData's option), e.g.
   * `nodeAesGcm()` from mailpki/node: one large buffer instead of three for a big message.
   */
  aesGcm?: AesGcmCipher;
  randomBytes?: (n: number) => Uint8Array;
}

const encryptOptionsShape = {
  contentEncryption: z.enum(['aes-256-gcm', 'aes-128-gcm', 'aes-256-cbc', 'aes-128-cbc']).optional(),
  keyTransport: z.enum(['rsa-oaep', 'rsa-pkcs1']).optional(),
  encryptToSelf: z.any().optional(),
  headerProtection: z.boolean().optional(),
  headerConfidentiality: z.enum(['hcp_baseline', 'hcp_no_confidentiality']).optional(),
  obscureSubject: z.boolean().optional(),
  at: z.date().refine((d) => !Number.isNaN(d.getTime()), 'not a valid date').optional(),
  trustAnchors: z.array(z.any()).optional(),
  intermediates: z.array(z.any()).optional(),
  revocation: revocationOptionsSchema.optional(),
  allowWeakAlgorithms: z.boolean().optional(),
  clock: z.any().optional(),
  crypto: z.any().optional(),
  aesGcm: aesGcmCipherSchema.optional(),
  randomBytes: z.any().optional(),
};
const encryptSchema = z.object(encryptOptionsShape).strict();
const signAndEncryptSchema = z.object({ ...signOptionsShape, ...encryptOptionsShape }).strict();

const CRLF = '\r\n';

/**
 * Encrypts a message to its recipients. `message` is as for signMessage (MIME bytes or string, or
 * the `{ from, to, subject, text, ... }` structure). Every To and Cc address must be named by a
 * recipient certificate (else ERR_RECIPIENT_MISSING, listing them); each certificate is checked
 * first (ERR_RECIPIENT_INVALID). Bcc recipients are passed as certificates only: they appear in the
 * RecipientInfos, which every recipient can list (docs/encrypting.md).
 *
 * @example
 * const eml = await encryptMessage(
 *   { from: 'legal@example.com', to: 'counsel@example.org', subject: 'Draft', text: '...' },
 *   [counselCertPem],
 *   { encryptToSelf: legalCertPem, trustAnchors: [rootPem] },
 * );
 */
export async function encryptMessage(
  message: Uint8Array | string | BuildMessageInput,
  recipients: readonly SmimeRecipient[],
  options: EncryptMessageOptions = {},
): Promise<Uint8Array> {
  parseInput(encryptSchema, options, 'encryptMessage options');
  if (options.encryptToSelf === true)
    throw new MailPkiError('ERR_INVALID_INPUT', 'encryptToSelf: give the sender\'s certificate (true is for signAndEncrypt, which has the signer\'s)', { details: { field: 'encryptToSelf' } });
  const { outer, entity } = prepareMessage(message, options);
  return encryptPrepared(outer, entity, recipients, undefined, options);
}

/**
 * Signs, then encrypts (RFC 8551 §3.5): the signed entity — header fields protected inside the
 * signed part — is what is encrypted, so the recipient learns who signed only after decrypting.
 * Options are signMessage's and encryptMessage's.
 *
 * @example
 * const eml = await signAndEncrypt(paymentInstruction, financeSigner, [approverCert], { encryptToSelf: true, trustAnchors: [root] });
 */
export async function signAndEncrypt(
  message: Uint8Array | string | BuildMessageInput,
  signer: SmimeSigner,
  recipients: readonly SmimeRecipient[],
  options: SignMessageOptions & EncryptMessageOptions = {},
): Promise<Uint8Array> {
  parseInput(signAndEncryptSchema, options, 'signAndEncrypt options');
  const { outer, entity } = prepareMessage(message, options);
  const self = options.encryptToSelf === true ? signer.certificate : options.encryptToSelf || undefined;
  // Recipients are checked before the signature is made: a refused message costs no signing.
  return encryptPrepared(outer, entity, recipients, self, options, async (inner) => signEntity(inner, signer, options));
}

async function encryptPrepared(
  outer: string,
  entity: Uint8Array,
  recipients: readonly SmimeRecipient[],
  selfFromSigner: SmimeRecipient | undefined,
  options: EncryptMessageOptions,
  sign?: (entity: Uint8Array) => Promise<Uint8Array>,
): Promise<Uint8Array> {
  const crypto = resolveCrypto(options.crypto);
  const clock = options.clock ?? systemClock;
  if (!Array.isArray(recipients)) throw new MailPkiError('ERR_INVALID_INPUT', 'recipients: expected an array of certificates', { details: { field: 'recipients' } });
  const self = selfFromSigner ?? (options.encryptToSelf === false ? undefined : (options.encryptToSelf as SmimeRecipient | undefined));
  const all = self === undefined ? [...recipients] : [...recipients, self];
  const checked = await checkRecipients(
    all,
    {
      ...(options.keyTransport && { keyTransport: options.keyTransport }),
      ...(options.at && { at: options.at }),
      ...(options.trustAnchors && { trustAnchors: options.trustAnchors }),
      ...(options.intermediates && { intermediates: options.intermediates }),
      ...(options.revocation && { revocation: options.revocation }),
      ...(options.allowWeakAlgorithms !== undefined && { allowWeakAlgorithms: options.allowWeakAlgorithms }),
      crypto,
      clock,
    },
  );
  // The sender's own copy does not stand for a To/Cc address.
  const missing = uncoveredAddresses(parseMessage(utf8(`${outer}${CRLF}`)), self === undefined ? checked : checked.slice(0, -1));
  if (missing.length > 0)
    throw new MailPkiError('ERR_RECIPIENT_MISSING', `no recipient certificate names ${missing.join(', ')}: they could not read the message (nothing was encrypted)`, {
      details: { missing },
    });
  const protect = options.headerProtection ?? true;
  // The outer header as it will be sent is recorded inside (HP-Outer) before anything is signed.
  const outerShown = protect ? applyHeaderConfidentiality(outer, options.headerConfidentiality ?? 'hcp_baseline', options.obscureSubject ?? true) : outer;
  let payload = protect ? injectProtectedHeaders(outer, entity, 'cipher', outerShown) : entity;
  if (sign) payload = await sign(payload);
  const contentEncryption = chooseContentEncryption(checked, options.contentEncryption);
  const cms = await encryptData(
    payload,
    checked.map((r) => ({ certificate: r.certificate, ...(r.keyTransport && { keyTransport: r.keyTransport }), ...(r.identifier && { identifier: r.identifier }) })),
    { contentEncryption, crypto, ...(options.aesGcm && { aesGcm: options.aesGcm }) },
  );
  const smimeType = contentEncryption.endsWith('-gcm') ? 'authEnveloped-data' : 'enveloped-data';
  const head =
    `Content-Type: application/pkcs7-mime; smime-type=${smimeType}; name="smime.p7m"${CRLF}` +
    `Content-Transfer-Encoding: base64${CRLF}` +
    `Content-Disposition: attachment; filename="smime.p7m"${CRLF}${CRLF}`;
  return assembleMessage(`${outerShown}MIME-Version: 1.0${CRLF}`, concatBytes([latin1(head), encodeBase64LineBytes(cms), latin1(CRLF)]));
}
