/** Writing PKCS#12 files that OpenSSL 3, Windows, macOS and Thunderbird read: PBES2 + AES-256-CBC, HMAC-SHA256 MAC. */
import { MailPkiError } from '../errors.js';
import { utf8 } from '../internal/bytes.js';
import { randomBytes, resolveCrypto } from '../internal/crypto.js';
import { Tag, explicit, implicit, int, octets, oid, seq, setOf, tlv } from '../internal/der.js';
import { checkIterationOption, checkPassphraseOption, encryptPrivateKeyInfo, pbes2Encrypt } from '../keys/pbes2.js';
import { exportPrivateKeyInfo } from '../keys/pkcs8.js';
import { findCertificateForKey, spkiOfCertificate } from './certificate.js';
import { MAX_PKCS12_MAC_ITERATIONS } from './limits.js';
import { encodeMacData } from './mac.js';
import { P12_OID } from './oids.js';

export interface ExportPkcs12Options {
  /** Must be extractable (ERR_KEY_NOT_EXTRACTABLE otherwise). */
  privateKey: CryptoKey;
  /** DER of the certificate for `privateKey` (checked: ERR_KEY_MISMATCH otherwise). */
  certificate: Uint8Array;
  /** DER of the issuing CA certificates. */
  chain?: readonly Uint8Array[];
  /** Non-empty. */
  passphrase: string;
  /** Shown by mail clients and key stores when importing. */
  friendlyName?: string;
  /** PBKDF2 and MAC iterations, 1,000 to 1,000,000; default 600,000. */
  iterations?: number;
  crypto?: Crypto;
}

/** PKCS#9 attribute: SEQUENCE { type, SET { value } }. */
const attribute = (type: string, value: Uint8Array): Uint8Array => seq(oid(type), setOf(value));

/** BMPString, as friendlyName must be. */
export function bmpString(text: string): Uint8Array {
  const out = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) {
    out[i * 2] = text.charCodeAt(i) >> 8;
    out[i * 2 + 1] = text.charCodeAt(i) & 0xff;
  }
  return tlv(Tag.BMP_STRING, out);
}

/** bagAttributes with friendlyName and localKeyId, the pair that links a key to its certificate. */
export function bagAttributes(localKeyId?: Uint8Array, friendlyName?: string): Uint8Array[] {
  const attrs: Uint8Array[] = [];
  if (friendlyName !== undefined) attrs.push(attribute(P12_OID.friendlyName, bmpString(friendlyName)));
  if (localKeyId) attrs.push(attribute(P12_OID.localKeyId, octets(localKeyId)));
  return attrs.length ? [setOf(...attrs)] : [];
}

export const certBag = (cert: Uint8Array, attrs: Uint8Array[] = []): Uint8Array =>
  seq(oid(P12_OID.certBag), explicit(0, seq(oid(P12_OID.x509Certificate), explicit(0, octets(cert)))), ...attrs);

export const shroudedKeyBag = (encryptedPrivateKeyInfo: Uint8Array, attrs: Uint8Array[] = []): Uint8Array =>
  seq(oid(P12_OID.pkcs8ShroudedKeyBag), explicit(0, encryptedPrivateKeyInfo), ...attrs);

export const keyBag = (privateKeyInfo: Uint8Array, attrs: Uint8Array[] = []): Uint8Array =>
  seq(oid(P12_OID.keyBag), explicit(0, privateKeyInfo), ...attrs);

/** ContentInfo of type data holding SafeContents. */
export const dataContentInfo = (bags: readonly Uint8Array[]): Uint8Array =>
  seq(oid(P12_OID.data), explicit(0, octets(seq(...bags))));

/** ContentInfo of type encryptedData: SafeContents under PBES2 with the UTF-8 passphrase. */
export async function encryptedContentInfo(crypto: Crypto, bags: readonly Uint8Array[], passphrase: string, iterations: number): Promise<Uint8Array> {
  const { algorithm, ciphertext } = await pbes2Encrypt(crypto, seq(...bags), utf8(passphrase), iterations);
  const eci = seq(oid(P12_OID.data), algorithm, implicit(0, ciphertext));
  return seq(oid(P12_OID.encryptedData), explicit(0, seq(int(0), eci)));
}

/** PFX around an AuthenticatedSafe, with an HMAC-SHA256 MAC keyed by the BMPString passphrase. */
export async function pfx(crypto: Crypto, contentInfos: readonly Uint8Array[], passphrase: string, macIterations: number): Promise<Uint8Array> {
  const authSafe = seq(...contentInfos);
  const macData = await encodeMacData(crypto, 'SHA-256', passphrase, randomBytes(crypto, 16), macIterations, authSafe);
  return seq(int(3), seq(oid(P12_OID.data), explicit(0, octets(authSafe))), macData);
}

/**
 * Writes a PKCS#12 file the way OpenSSL 3 does: certificates in a PBES2-encrypted bag, the key
 * in a pkcs8ShroudedKeyBag (PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC), localKeyId and friendlyName
 * on both, and an HMAC-SHA256 MAC. The MAC uses the same iteration count as PBKDF2 so it is not
 * a cheaper way to test passphrases. The key must belong to the certificate (ERR_KEY_MISMATCH).
 *
 * @example
 * const p12 = await exportPkcs12({ privateKey, certificate, chain: [caDer], passphrase, friendlyName: 'alice@example.com' });
 */
export async function exportPkcs12(options: ExportPkcs12Options): Promise<Uint8Array> {
  const { privateKey, certificate, chain = [], passphrase, friendlyName } = options;
  checkPassphraseOption(passphrase);
  const iterations = checkIterationOption(options.iterations, MAX_PKCS12_MAC_ITERATIONS);
  checkCertificates(certificate, chain, friendlyName);
  const crypto = resolveCrypto(options.crypto);
  const keyInfo = await exportPrivateKeyInfo(crypto, privateKey);
  if ((await findCertificateForKey(crypto, privateKey, [certificate])) !== 0)
    throw new MailPkiError('ERR_KEY_MISMATCH', 'the private key does not belong to the certificate');
  // OpenSSL's choice of localKeyId: the certificate's SHA-1 fingerprint (an identifier, not a security function).
  const localKeyId = new Uint8Array(await crypto.subtle.digest('SHA-1', certificate.slice()));
  const attrs = bagAttributes(localKeyId, friendlyName);
  const encryptedKey = await encryptPrivateKeyInfo(keyInfo, passphrase, { iterations, crypto });
  const certs = await encryptedContentInfo(crypto, [certBag(certificate, attrs), ...chain.map((c) => certBag(c))], passphrase, iterations);
  return pfx(crypto, [certs, dataContentInfo([shroudedKeyBag(encryptedKey, attrs)])], passphrase, iterations);
}

function checkCertificates(certificate: unknown, chain: unknown, friendlyName: unknown): void {
  if (!(certificate instanceof Uint8Array))
    throw new MailPkiError('ERR_INVALID_INPUT', 'certificate: must be DER bytes', { details: { field: 'certificate' } });
  if (!Array.isArray(chain) || !chain.every((c) => c instanceof Uint8Array))
    throw new MailPkiError('ERR_INVALID_INPUT', 'chain: must be an array of DER certificates', { details: { field: 'chain' } });
  if (friendlyName !== undefined && typeof friendlyName !== 'string')
    throw new MailPkiError('ERR_INVALID_INPUT', 'friendlyName: must be a string', { details: { field: 'friendlyName' } });
  for (const c of [certificate, ...chain]) spkiOfCertificate(c);
}

export interface Pkcs12KeyEntry {
  /** PrivateKeyInfo (PKCS#8) DER: encrypted into the file, never returned. */
  privateKeyInfo: Uint8Array;
  /** DER of the certificate for this key. */
  certificate: Uint8Array;
  friendlyName?: string;
}

/**
 * A PKCS#12 file holding several keys, each linked to its certificate by localKeyId (key recovery:
 * every decryption key an identity had). The same protection as {@link exportPkcs12}; OpenSSL
 * (`openssl pkcs12 -info`) lists every key. The caller vouches that each key belongs to its
 * certificate (the lifecycle store recorded them together).
 */
export async function exportPkcs12Entries(options: {
  entries: readonly Pkcs12KeyEntry[];
  chain?: readonly Uint8Array[];
  passphrase: string;
  iterations?: number;
  crypto?: Crypto;
}): Promise<Uint8Array> {
  const { entries, chain = [], passphrase } = options;
  checkPassphraseOption(passphrase);
  const iterations = checkIterationOption(options.iterations, MAX_PKCS12_MAC_ITERATIONS);
  if (!Array.isArray(entries) || entries.length === 0)
    throw new MailPkiError('ERR_INVALID_INPUT', 'entries: at least one key and certificate', { details: { field: 'entries' } });
  const crypto = resolveCrypto(options.crypto);
  const certBags: Uint8Array[] = [];
  const keyBags: Uint8Array[] = [];
  for (const e of entries) {
    checkCertificates(e.certificate, [], e.friendlyName);
    const localKeyId = new Uint8Array(await crypto.subtle.digest('SHA-1', e.certificate.slice()));
    const attrs = bagAttributes(localKeyId, e.friendlyName);
    certBags.push(certBag(e.certificate, attrs));
    keyBags.push(shroudedKeyBag(await encryptPrivateKeyInfo(e.privateKeyInfo, passphrase, { iterations, crypto }), attrs));
  }
  checkCertificates(entries[0]!.certificate, chain, undefined);
  const certs = await encryptedContentInfo(crypto, [...certBags, ...chain.map((c) => certBag(c))], passphrase, iterations);
  return pfx(crypto, [certs, dataContentInfo(keyBags)], passphrase, iterations);
}
