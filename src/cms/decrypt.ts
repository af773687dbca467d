/**
 * Opening EnvelopedData / AuthEnvelopedData: find the RecipientInfo that names one of the given
 * keys' certificates, recover the content-encryption key, decrypt. Every failure is a coded
 * error and no plaintext is ever returned with one.
 */
import { MailPkiError } from '../errors.js';
import type { Certificate } from '../certs/certificate.js';
import { copyBytes, equalBytes } from '../internal/bytes.js';
import { resolveCrypto } from '../internal/crypto.js';
import { Tag, cursor, parseDer, readOid } from '../internal/der.js';
import { decryptContent, isAesGcmCipher, type AesGcmCipher } from './content-encryption.js';
import { CMS_OID } from './oids.js';
import {
  CONTENT_KEY_BYTES,
  describeRecipientIdentifier,
  listRecipientIdentifiers,
  parseEnvelopedData,
  type ContentEncryption,
  type ContentEncryptionAlgorithm,
  type EnvelopedLimits,
  type KeyAgreeRecipient,
  type KeyManagement,
  type KeyTransRecipient,
  type OaepHash,
  type RecipientIdentifier,
  type EnvelopedData,
  WEAK_CIPHER_HINT,
} from './enveloped-data.js';
import { agreeAndUnwrap, type AgreementCurve } from './key-agreement.js';
import { oaepDecode, pkcs1DecodeImplicit, readRsaPrivateNumbers, rsaPrivateRaw } from './rsa.js';

/** Most (RecipientInfo, key) pairs tried on one message before the first error is reported. */
export const MAX_DECRYPT_ATTEMPTS = 4;

/** A private key able to decrypt, with the certificate it belongs to. */
export interface CmsDecryptionKey {
  /**
   * RSA: an RSA-OAEP key (importPrivateKey(…, { usage: 'decrypt' })); any other RSA key works when
   * extractable. EC: an ECDH key (or an extractable ECDSA one). X25519: an X25519 key.
   */
  privateKey: CryptoKey;
  certificate: Certificate;
  /**
   * The raw RSA private operation c^d mod n (an HSM, node:crypto with RSA_NO_PADDING, …): needed for
   * RSA PKCS#1 v1.5 and for OAEP with another hash than the CryptoKey's when that key is not extractable.
   */
  rawRsaDecrypt?: (c: Uint8Array) => Promise<Uint8Array>;
}

export interface DecryptedData {
  content: Uint8Array;
  /** Inner content type, dotted OID (id-data for S/MIME). */
  contentType: string;
  contentEncryption: ContentEncryptionAlgorithm;
  /** true for AES-GCM (AuthEnvelopedData); false for AES-CBC, whose content could have been altered unseen. */
  integrityProtected: boolean;
  keyManagement: KeyManagement;
  /** Index into `recipients` of the RecipientInfo used. */
  recipientIndex: number;
  /** The certificate of the key that opened the message. */
  certificate: Certificate;
  /** Every RecipientInfo's identifier, described (a KeyAgreeRecipientInfo counts once per recipient key). */
  recipients: string[];
}

export interface DecryptDataOptions {
  crypto?: Crypto;
  limits?: EnvelopedLimits;
  /**
   * AES-GCM to use instead of WebCrypto's for the content (e.g. `nodeAesGcm()` from mailpki/node:
   * no copy of the input, one buffer for the output). The tag is still checked before any plaintext
   * is returned. AES-CBC always goes through WebCrypto.
   */
  aesGcm?: AesGcmCipher;
}

function matches(rid: RecipientIdentifier, cert: Certificate): boolean {
  if ('subjectKeyIdentifier' in rid) return cert.subjectKeyIdentifier !== undefined && equalBytes(cert.subjectKeyIdentifier, rid.subjectKeyIdentifier);
  return equalBytes(rid.serial, cert.serialBytes) && equalBytes(rid.issuer, cert.issuer.der);
}

const isCryptoKey = (v: unknown): v is CryptoKey => typeof v === 'object' && v !== null && 'algorithm' in v && 'type' in v && 'usages' in v;

function checkKeys(keys: readonly CmsDecryptionKey[]): void {
  if (!Array.isArray(keys) || keys.length === 0)
    throw new MailPkiError('ERR_INVALID_INPUT', 'keys: at least one { privateKey, certificate } is needed', { details: { field: 'keys' } });
  keys.forEach((k, i) => {
    if (typeof k !== 'object' || k === null || !isCryptoKey(k.privateKey) || k.privateKey.type !== 'private')
      throw new MailPkiError('ERR_INVALID_INPUT', `keys[${i}].privateKey: must be a private CryptoKey`, { details: { field: `keys[${i}].privateKey` } });
    const c = k.certificate as Certificate | undefined;
    if (!c || !(c.der instanceof Uint8Array) || !(c.serialBytes instanceof Uint8Array) || !c.issuer || !c.publicKey)
      throw new MailPkiError('ERR_INVALID_INPUT', `keys[${i}].certificate: must be a parsed Certificate (parseCertificate)`, { details: { field: `keys[${i}].certificate` } });
    if (k.rawRsaDecrypt !== undefined && typeof k.rawRsaDecrypt !== 'function')
      throw new MailPkiError('ERR_INVALID_INPUT', `keys[${i}].rawRsaDecrypt: must be a function`, { details: { field: `keys[${i}].rawRsaDecrypt` } });
  });
}

const UNAVAILABLE_HINT =
  "import the key with importDecryptionKey (it keeps what RSA needs), make it extractable, or pass rawRsaDecrypt (an HSM, or node:crypto's privateDecrypt with RSA_NO_PADDING)";

/** c^d mod n by whatever the key allows: the injected operation, else BigInt on the exported key. */
async function rawRsa(crypto: Crypto, key: CmsDecryptionKey, c: Uint8Array, need: string): Promise<Uint8Array> {
  if (key.rawRsaDecrypt) {
    let out: Uint8Array;
    try {
      out = await key.rawRsaDecrypt(copyBytes(c));
    } catch (e) {
      throw new MailPkiError('ERR_CMS_WRONG_KEY', 'the injected rawRsaDecrypt failed', { cause: e });
    }
    if (!(out instanceof Uint8Array) || out.length > c.length)
      throw new MailPkiError('ERR_CMS_WRONG_KEY', 'the injected rawRsaDecrypt returned something other than a block of the modulus length');
    if (out.length === c.length) return out;
    const padded = new Uint8Array(c.length);
    padded.set(out, c.length - out.length);
    return padded;
  }
  if (key.privateKey.extractable) {
    const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', key.privateKey));
    try {
      return rsaPrivateRaw(readRsaPrivateNumbers(pkcs8), c, crypto);
    } finally {
      pkcs8.fill(0);
    }
  }
  throw new MailPkiError('ERR_CMS_UNWRAP_UNAVAILABLE', `${need} needs the raw RSA operation, which WebCrypto does not offer for this non-extractable key: ${UNAVAILABLE_HINT}`);
}

const FALLBACK_LABEL = new TextEncoder().encode('mailpki RFC 3218 implicit rejection');

/** SHA-256(label ‖ EM), cut to the content-key length (at most 32 bytes: AES-256). Computed whatever the padding. */
async function pkcs1Fallback(crypto: Crypto, em: Uint8Array, length: number): Promise<Uint8Array> {
  const input = new Uint8Array(FALLBACK_LABEL.length + em.length);
  input.set(FALLBACK_LABEL);
  input.set(em, FALLBACK_LABEL.length);
  try {
    return new Uint8Array(await crypto.subtle.digest('SHA-256', input)).slice(0, length);
  } finally {
    input.fill(0);
  }
}

async function unwrapKeyTrans(crypto: Crypto, ri: KeyTransRecipient, key: CmsDecryptionKey, cekLength: number): Promise<{ cek: Uint8Array; km: KeyManagement }> {
  const alg = ri.algorithm;
  if ('unsupported' in alg) throw new MailPkiError('ERR_ALGORITHM_UNSUPPORTED', `unsupported key transport: ${alg.unsupported}`);
  if (key.certificate.publicKey.kind !== 'rsa')
    throw new MailPkiError('ERR_CMS_WRONG_KEY', `the RecipientInfo uses RSA key transport but the certificate has a ${key.certificate.publicKey.kind} key`);
  if (alg.scheme === 'rsa-pkcs1') {
    // RFC 3218 §2.3: on any padding defect a fallback key is used, so success and failure look alike.
    // The fallback is derived from the decrypted block (secret: only the key holder can compute it), not
    // drawn at random: the same ciphertext must fail the same way every time, or repeating a query tells
    // a well-padded block from a badly padded one (deterministic implicit rejection, as OpenSSL 3.2+ does).
    const em = await rawRsa(crypto, key, ri.encryptedKey, 'RSA PKCS#1 v1.5 key transport');
    const fallback = await pkcs1Fallback(crypto, em, cekLength);
    return { cek: pkcs1DecodeImplicit(em, cekLength, fallback), km: 'rsa-pkcs1' };
  }
  const pk = key.privateKey;
  const webHash = (pk.algorithm as RsaHashedKeyAlgorithm).hash?.name as OaepHash | undefined;
  if (pk.algorithm.name === 'RSA-OAEP' && alg.hash === alg.mgfHash && webHash === alg.hash && pk.usages.includes('decrypt')) {
    try {
      return { cek: new Uint8Array(await crypto.subtle.decrypt({ name: 'RSA-OAEP' }, pk, copyBytes(ri.encryptedKey))), km: 'rsa-oaep' };
    } catch (e) {
      throw new MailPkiError('ERR_CMS_WRONG_KEY', 'the RSA-OAEP wrapped key could not be decrypted with this key (wrong key, or the message was altered)', { cause: e });
    }
  }
  if (!key.rawRsaDecrypt && pk.extractable && alg.hash === alg.mgfHash) {
    // Re-import under the hash the sender chose: WebCrypto binds an RSA-OAEP key to one hash.
    const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', pk));
    try {
      const k = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'RSA-OAEP', hash: alg.hash }, false, ['decrypt']);
      return { cek: new Uint8Array(await crypto.subtle.decrypt({ name: 'RSA-OAEP' }, k, copyBytes(ri.encryptedKey))), km: 'rsa-oaep' };
    } catch (e) {
      throw new MailPkiError('ERR_CMS_WRONG_KEY', 'the RSA-OAEP wrapped key could not be decrypted with this key (wrong key, or the message was altered)', { cause: e });
    } finally {
      pkcs8.fill(0);
    }
  }
  const em = await rawRsa(crypto, key, ri.encryptedKey, `RSA-OAEP with ${alg.hash}${alg.mgfHash !== alg.hash ? `/MGF1-${alg.mgfHash}` : ''}`);
  return { cek: await oaepDecode(crypto, em, alg.hash, alg.mgfHash), km: 'rsa-oaep' };
}

async function ecdhKey(crypto: Crypto, key: CmsDecryptionKey, curve: AgreementCurve): Promise<CryptoKey> {
  const pk = key.privateKey;
  if (curve === 'X25519') {
    if (pk.algorithm.name === 'X25519') return pk;
    throw new MailPkiError('ERR_CMS_UNWRAP_UNAVAILABLE', `the message needs X25519, but the private key is a ${pk.algorithm.name} key: import the X25519 key with importDecryptionKey or importPrivateKey(…, { usage: 'decrypt' })`);
  }
  if (pk.algorithm.name === 'ECDH') return pk;
  if (pk.extractable && pk.algorithm.name === 'ECDSA') {
    const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', pk));
    try {
      return await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'ECDH', namedCurve: curve }, false, ['deriveBits']);
    } finally {
      pkcs8.fill(0);
    }
  }
  throw new MailPkiError(
    'ERR_CMS_UNWRAP_UNAVAILABLE',
    `the message needs ECDH, but the private key is a ${pk.algorithm.name} key that cannot be exported: import it with importPrivateKey(…, { usage: 'decrypt' })`,
  );
}

async function unwrapKeyAgree(crypto: Crypto, ri: KeyAgreeRecipient, key: CmsDecryptionKey): Promise<Uint8Array> {
  const alg = ri.algorithm;
  if ('unsupported' in alg) throw new MailPkiError('ERR_ALGORITHM_UNSUPPORTED', `unsupported key agreement: ${alg.unsupported}`);
  if (!ri.originatorPoint)
    throw new MailPkiError(
      'ERR_ALGORITHM_UNSUPPORTED',
      ri.originatorKeyAlgorithm
        ? `unsupported originator key algorithm ${ri.originatorKeyAlgorithm} (id-ecPublicKey on P-256/P-384/P-521 and id-X25519 are supported)`
        : 'key agreement with an originator named by certificate (static-static ECDH) is not supported',
    );
  const pub = key.certificate.publicKey;
  // The originator's key and the recipient's must be of one group: an X25519 key with an EC certificate (or the reverse) is another recipient's.
  let curve: AgreementCurve;
  if (ri.originatorX25519) {
    if (pub.kind !== 'x25519') throw new MailPkiError('ERR_CMS_WRONG_KEY', `the RecipientInfo uses X25519 but the certificate has a ${pub.kind} key`);
    curve = 'X25519';
  } else {
    if (pub.kind !== 'ec' || !pub.curve) throw new MailPkiError('ERR_CMS_WRONG_KEY', `the RecipientInfo uses ECDH but the certificate has a ${pub.kind} key`);
    curve = pub.curve;
  }
  const priv = await ecdhKey(crypto, key, curve);
  return agreeAndUnwrap(crypto, priv, curve, ri.originatorPoint, alg.kdfHash, alg.wrapAlgorithmDer, alg.wrap, ri.encryptedKey, ri.ukm, alg.kdf);
}

/**
 * Decrypts EnvelopedData or AuthEnvelopedData (DER or BER) with the first key whose certificate
 * a RecipientInfo names. AES-GCM content is authenticated before anything is returned; AES-CBC
 * content comes back with `integrityProtected: false`.
 *
 * @example
 * const { content, integrityProtected } = await decryptData(der, [{ privateKey, certificate }]);
 */
export async function decryptData(cms: Uint8Array, keys: readonly CmsDecryptionKey[], options: DecryptDataOptions = {}): Promise<DecryptedData> {
  checkKeys(keys);
  if (options.aesGcm !== undefined && !isAesGcmCipher(options.aesGcm))
    throw new MailPkiError('ERR_INVALID_INPUT', 'aesGcm: must be an object with encrypt and decrypt functions (e.g. nodeAesGcm())', { details: { field: 'aesGcm' } });
  const crypto = resolveCrypto(options.crypto);
  const ed = parseEnvelopedData(cms, options.limits);
  const recipients = ed.recipients.map(describeRecipientIdentifier);

  const enc = ed.contentEncryption;
  if ('unsupported' in enc) {
    if (enc.weak)
      throw new MailPkiError(
        'ERR_ALGORITHM_WEAK',
        `the message is encrypted with ${enc.unsupported}, which is refused as weak: ${WEAK_CIPHER_HINT}`,
      );
    throw new MailPkiError('ERR_ALGORITHM_UNSUPPORTED', `unsupported content encryption ${enc.unsupported} (AES-128/256 in GCM or CBC mode are supported)`);
  }
  const gcm = 'nonce' in enc;
  if (gcm !== (ed.kind === 'auth-enveloped-data'))
    throw new MailPkiError(
      gcm ? 'ERR_ALGORITHM_UNSUPPORTED' : 'ERR_CMS_MALFORMED',
      gcm ? 'AES-GCM inside EnvelopedData has no place for its tag (RFC 5084 requires AuthEnvelopedData)' : 'invalid CMS: AuthEnvelopedData with a cipher that does not authenticate',
    );
  if (!ed.encryptedContent) throw new MailPkiError('ERR_CMS_MALFORMED', 'the encrypted content is not in the message (detached content is not supported)');
  if (gcm) {
    if (!ed.mac || ed.mac.length < enc.tagLength) throw new MailPkiError('ERR_CMS_TRUNCATED', 'the authentication tag is missing or cut short');
    if (ed.mac.length !== enc.tagLength) throw new MailPkiError('ERR_CMS_MALFORMED', `invalid CMS: the tag is ${ed.mac.length} bytes, its parameters say ${enc.tagLength}`);
  } else if (ed.encryptedContentLength === 0 || ed.encryptedContentLength % 16 !== 0)
    throw new MailPkiError('ERR_CMS_TRUNCATED', 'the AES-CBC content is not a whole number of blocks: cut short or altered');

  const candidates: { index: number; key: CmsDecryptionKey }[] = [];
  ed.recipients.forEach((r, index) => {
    if (r.type === 'other') return;
    for (const key of keys) if (matches(r.rid, key.certificate)) candidates.push({ index, key });
  });
  if (candidates.length === 0)
    throw new MailPkiError(
      'ERR_CMS_NOT_FOR_RECIPIENT',
      `the message is not encrypted to any of the ${keys.length} given key(s); it is for: ${listRecipientIdentifiers(recipients)}`,
      { details: { recipients } },
    );

  checkContentType(ed, gcm);
  // A message may name one certificate in many RecipientInfos; each try costs an RSA/ECDH operation and a
  // whole-content decryption, so only the first few are tried.
  candidates.splice(MAX_DECRYPT_ATTEMPTS);
  const cekLength = CONTENT_KEY_BYTES[enc.algorithm];
  let firstError: unknown;
  for (const { index, key } of candidates) {
    const r = ed.recipients[index] as KeyTransRecipient | KeyAgreeRecipient;
    let cek: Uint8Array | undefined;
    try {
      let km: KeyManagement;
      if (r.type === 'ktri') ({ cek, km } = await unwrapKeyTrans(crypto, r, key, cekLength));
      else {
        cek = await unwrapKeyAgree(crypto, r, key);
        km = 'ecdh';
      }
      const content = await decryptContent(crypto, enc as ContentEncryption, cek, ed.encryptedContent, gcm ? ed.mac : undefined, ed.authAttrsAad, {
        owner: cms,
        ...(options.aesGcm ? { aesGcm: options.aesGcm } : {}),
      });
      return {
        content,
        contentType: ed.contentType,
        contentEncryption: enc.algorithm,
        integrityProtected: gcm,
        keyManagement: km,
        recipientIndex: index,
        certificate: key.certificate,
        recipients,
      };
    } catch (e) {
      if (!(e instanceof MailPkiError)) throw e;
      firstError ??= e;
    } finally {
      cek?.fill(0);
    }
  }
  throw firstError;
}

/**
 * The inner content type must be authenticated when it is not id-data (RFC 5083 §2.1): else an attacker
 * could relabel authenticated bytes (e.g. as signed-data) without touching the tag. With authAttrs, their
 * contentType attribute must name the same type.
 */
function checkContentType(ed: EnvelopedData, gcm: boolean): void {
  if (!gcm) return;
  if (!ed.authAttrsAad) {
    if (ed.contentType !== CMS_OID.data)
      throw new MailPkiError('ERR_CMS_MALFORMED', 'invalid CMS AuthEnvelopedData: a content type other than id-data without authenticated attributes (RFC 5083 §2.1)');
    return;
  }
  const what = 'invalid CMS authAttrs';
  const attrs = cursor(parseDer(ed.authAttrsAad, 'ERR_CMS_MALFORMED', what), 'ERR_CMS_MALFORMED', what);
  let seen = 0;
  while (!attrs.done) {
    const a = cursor(attrs.next(Tag.SEQUENCE), 'ERR_CMS_MALFORMED', what);
    if (readOid(a.next(Tag.OID)) !== CMS_OID.contentType) continue;
    const values = cursor(a.next(Tag.SET), 'ERR_CMS_MALFORMED', what);
    const value = readOid(values.next(Tag.OID));
    values.end();
    if (value !== ed.contentType || ++seen > 1)
      throw new MailPkiError('ERR_CMS_MALFORMED', 'invalid CMS AuthEnvelopedData: the authenticated contentType attribute does not match the content type');
  }
  if (seen === 0 && ed.contentType !== CMS_OID.data)
    throw new MailPkiError('ERR_CMS_MALFORMED', 'invalid CMS AuthEnvelopedData: no authenticated contentType attribute for a content type other than id-data');
}
