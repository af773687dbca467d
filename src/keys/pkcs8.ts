/**
 * Private keys in and out: PKCS#8 (plain and PBES2-encrypted), plus the legacy OpenSSL
 * "RSA PRIVATE KEY" (PKCS#1) and "EC PRIVATE KEY" (SEC1) blocks on import.
 */
import { MailPkiError } from '../errors.js';
import { copyBytes, fromLatin1 } from '../internal/bytes.js';
import { resolveCrypto } from '../internal/crypto.js';
import { decodePemBlocks, encodePem, looksLikePem } from '../internal/pem.js';
import type { SignatureAlgorithm } from './algorithms.js';
import { MAX_KEY_INPUT_BYTES } from './limits.js';
import { checkPassphraseOption, decryptKeyInfo, encryptPrivateKeyInfo } from './pbes2.js';
import {
  parsePrivateKeyInfo,
  sniffPrivateKeyFormat,
  wrapPkcs1,
  wrapSec1,
  type PrivateKeyFormat,
  type PrivateKeyInfoSummary,
} from './private-key-info.js';

export interface ExportPkcs8Options {
  /** Encrypts the key (EncryptedPrivateKeyInfo) when given; must not be empty. */
  passphrase?: string;
  /** PBKDF2 iterations when encrypting, 1,000 to 10,000,000; default 600,000. */
  iterations?: number;
  crypto?: Crypto;
}

export interface ImportPrivateKeyOptions {
  /** Needed when the key is encrypted. */
  passphrase?: string;
  /** Default false: signing does not need it. */
  extractable?: boolean;
  /**
   * What an RSA key will sign with (WebCrypto binds an RSA key to one scheme and hash).
   * Default `{ scheme: 'rsa-pkcs1', hash: 'SHA-256' }`. For EC and Ed25519 keys only the scheme is checked.
   */
  algorithm?: SignatureAlgorithm;
  /**
   * What the key is for. Default 'sign'. 'decrypt' imports an RSA key as RSA-OAEP (hash from
   * `oaepHash`, default SHA-256) and an EC key as ECDH, for CMS decryption (mailpki/cms decryptData).
   */
  usage?: 'sign' | 'decrypt';
  /** With usage 'decrypt': the RSA-OAEP hash the key is bound to. Default SHA-256 (RFC 8551's choice). */
  oaepHash?: 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512';
  crypto?: Crypto;
}

/** The PrivateKeyInfo DER of an extractable private key; ERR_KEY_NOT_EXTRACTABLE otherwise. */
export async function exportPrivateKeyInfo(crypto: Crypto, privateKey: CryptoKey): Promise<Uint8Array> {
  if (!isCryptoKey(privateKey) || privateKey.type !== 'private')
    throw new MailPkiError('ERR_INVALID_INPUT', 'privateKey: must be a private CryptoKey', { details: { field: 'privateKey' } });
  if (!privateKey.extractable)
    throw new MailPkiError(
      'ERR_KEY_NOT_EXTRACTABLE',
      'this private key was created non-extractable and cannot be exported; generate or import it with { extractable: true } to back it up',
    );
  return new Uint8Array(await crypto.subtle.exportKey('pkcs8', privateKey));
}

function isCryptoKey(k: unknown): k is CryptoKey {
  return typeof k === 'object' && k !== null && typeof (k as CryptoKey).type === 'string' && 'algorithm' in k;
}

/**
 * Exports a private key as PKCS#8 DER, encrypted when a passphrase is given (PBES2 with
 * PBKDF2-HMAC-SHA256, 600,000 iterations by default, and AES-256-CBC: what `openssl pkcs8 -topk8`
 * and every current tool reads). Only extractable keys can be exported.
 */
export async function exportPkcs8(privateKey: CryptoKey, options: ExportPkcs8Options = {}): Promise<Uint8Array> {
  if (options.passphrase !== undefined) checkPassphraseOption(options.passphrase);
  const crypto = resolveCrypto(options.crypto);
  const der = await exportPrivateKeyInfo(crypto, privateKey);
  if (options.passphrase === undefined) return der;
  return encryptPrivateKeyInfo(der, options.passphrase, { iterations: options.iterations, crypto });
}

/** exportPkcs8 as PEM: "PRIVATE KEY", or "ENCRYPTED PRIVATE KEY" with a passphrase. */
export async function exportPkcs8Pem(privateKey: CryptoKey, options: ExportPkcs8Options = {}): Promise<string> {
  const der = await exportPkcs8(privateKey, options);
  return encodePem(options.passphrase === undefined ? 'PRIVATE KEY' : 'ENCRYPTED PRIVATE KEY', der);
}

const LABEL_FORMAT: Record<string, PrivateKeyFormat> = {
  'PRIVATE KEY': 'pkcs8',
  'ENCRYPTED PRIVATE KEY': 'encrypted-pkcs8',
  'RSA PRIVATE KEY': 'pkcs1',
  'EC PRIVATE KEY': 'sec1',
};

/** The one private key in PEM text or DER bytes, and its format. */
export function readPrivateKeyInput(input: string | Uint8Array): { der: Uint8Array; format: PrivateKeyFormat } {
  if (typeof input !== 'string' && !(input instanceof Uint8Array))
    throw new MailPkiError('ERR_INVALID_INPUT', 'input: must be PEM text or DER bytes', { details: { field: 'input' } });
  if (input.length > MAX_KEY_INPUT_BYTES)
    throw new MailPkiError('ERR_INPUT_TOO_LARGE', `private key input is larger than ${MAX_KEY_INPUT_BYTES} bytes`, {
      details: { limit: MAX_KEY_INPUT_BYTES },
    });
  if (typeof input !== 'string' && !looksLikePem(input)) return { der: input, format: sniffPrivateKeyFormat(input) };
  const text = typeof input === 'string' ? input : fromLatin1(input);
  const blocks = decodePemBlocks(text);
  const keys = blocks.filter((b) => b.label in LABEL_FORMAT);
  if (keys.length === 0) {
    const found = blocks.length ? `; found ${blocks.map((b) => `"${b.label}"`).join(', ')}` : '';
    throw new MailPkiError('ERR_PEM_MALFORMED', `no private key PEM block (PRIVATE KEY, ENCRYPTED PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY)${found}`);
  }
  if (keys.length > 1) throw new MailPkiError('ERR_KEY_MALFORMED', `the input holds ${keys.length} private keys; pass one`);
  const { label, der } = keys[0]!;
  const format = LABEL_FORMAT[label]!;
  if (sniffPrivateKeyFormat(der) !== format) throw new MailPkiError('ERR_KEY_MALFORMED', `the "${label}" PEM block does not hold a ${format} key`);
  return { der, format };
}

const DEFAULT_ALGORITHM: SignatureAlgorithm = { scheme: 'rsa-pkcs1', hash: 'SHA-256' };
const HASHES = ['SHA-256', 'SHA-384', 'SHA-512'];

function checkAlgorithmOption(alg: unknown): SignatureAlgorithm | undefined {
  if (alg === undefined) return undefined;
  const a = alg as SignatureAlgorithm;
  if (
    typeof a !== 'object' ||
    a === null ||
    !['rsa-pkcs1', 'rsa-pss', 'ecdsa', 'ed25519'].includes(a.scheme) ||
    !HASHES.includes(a.hash)
  )
    throw new MailPkiError('ERR_INVALID_INPUT', 'algorithm: must be { scheme: rsa-pkcs1|rsa-pss|ecdsa|ed25519, hash: SHA-256|SHA-384|SHA-512 }', {
      details: { field: 'algorithm' },
    });
  return a;
}

/** WebCrypto import parameters for a checked key and the algorithm it should sign with. */
function importParams(key: PrivateKeyInfoSummary, alg: SignatureAlgorithm | undefined): RsaHashedImportParams | EcKeyImportParams | Algorithm {
  const refuse = (): never => {
    throw new MailPkiError('ERR_KEY_UNSUPPORTED', `an ${key.kind.toUpperCase()} key cannot make ${alg!.scheme} signatures`);
  };
  if (key.kind === 'rsa') {
    const a = alg ?? DEFAULT_ALGORITHM;
    if (a.scheme !== 'rsa-pkcs1' && a.scheme !== 'rsa-pss') refuse();
    return { name: a.scheme === 'rsa-pss' ? 'RSA-PSS' : 'RSASSA-PKCS1-v1_5', hash: a.hash };
  }
  if (key.kind === 'ec') {
    if (alg && alg.scheme !== 'ecdsa') refuse();
    return { name: 'ECDSA', namedCurve: key.curve! };
  }
  if (key.kind === 'x25519')
    throw new MailPkiError('ERR_KEY_UNSUPPORTED', "an X25519 key cannot sign: it is for key agreement only; import it with { usage: 'decrypt' }");
  if (alg && alg.scheme !== 'ed25519') refuse();
  return { name: 'Ed25519' };
}

/** WebCrypto import parameters and usages for decrypting with a checked key (CMS key transport or agreement). */
function decryptParams(key: PrivateKeyInfoSummary, oaepHash: unknown): { params: RsaHashedImportParams | EcKeyImportParams | Algorithm; usages: KeyUsage[] } {
  if (oaepHash !== undefined && !['SHA-1', ...HASHES].includes(oaepHash as string))
    throw new MailPkiError('ERR_INVALID_INPUT', 'oaepHash: must be SHA-1, SHA-256, SHA-384 or SHA-512', { details: { field: 'oaepHash' } });
  if (key.kind === 'rsa') return { params: { name: 'RSA-OAEP', hash: (oaepHash as string | undefined) ?? 'SHA-256' }, usages: ['decrypt', 'unwrapKey'] };
  if (key.kind === 'ec') return { params: { name: 'ECDH', namedCurve: key.curve! }, usages: ['deriveBits', 'deriveKey'] };
  if (key.kind === 'x25519') return { params: { name: 'X25519' }, usages: ['deriveBits'] };
  throw new MailPkiError('ERR_KEY_UNSUPPORTED', 'an Ed25519 key cannot decrypt: S/MIME encryption needs an RSA or EC key');
}

/** Imports a checked PrivateKeyInfo into WebCrypto for signing (or, with usage 'decrypt', for decrypting). */
export async function importPrivateKeyInfo(
  crypto: Crypto,
  key: PrivateKeyInfoSummary,
  options: { extractable?: boolean; algorithm?: SignatureAlgorithm; usage?: 'sign' | 'decrypt'; oaepHash?: string },
): Promise<CryptoKey> {
  if (options.usage !== undefined && options.usage !== 'sign' && options.usage !== 'decrypt')
    throw new MailPkiError('ERR_INVALID_INPUT', "usage: must be 'sign' or 'decrypt'", { details: { field: 'usage' } });
  const forDecrypt = options.usage === 'decrypt' ? decryptParams(key, options.oaepHash) : undefined;
  const params = forDecrypt?.params ?? importParams(key, checkAlgorithmOption(options.algorithm));
  try {
    return await crypto.subtle.importKey('pkcs8', copyBytes(key.der), params, options.extractable ?? false, forDecrypt?.usages ?? ['sign']);
  } catch (e) {
    throw new MailPkiError('ERR_KEY_MALFORMED', `the ${key.kind} private key was refused by WebCrypto: ${(e as Error).message}`, { cause: e });
  }
}

/** The checked PrivateKeyInfo of PEM or DER key input, decrypting it when it is encrypted. */
export async function readPrivateKeyInfoInput(
  crypto: Crypto,
  input: string | Uint8Array,
  passphrase: string | undefined,
): Promise<PrivateKeyInfoSummary> {
  const { der, format } = readPrivateKeyInput(input);
  let info: Uint8Array;
  if (format === 'encrypted-pkcs8') {
    if (passphrase === undefined)
      throw new MailPkiError('ERR_PASSPHRASE_REQUIRED', 'the private key is encrypted: pass { passphrase }');
    if (typeof passphrase !== 'string')
      throw new MailPkiError('ERR_INVALID_INPUT', 'passphrase: must be a string', { details: { field: 'passphrase' } });
    info = await decryptKeyInfo(crypto, der, passphrase, {
      code: 'ERR_KEY_MALFORMED',
      conversionHint: 're-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`',
    });
  } else if (format === 'pkcs1') info = wrapPkcs1(der);
  else if (format === 'sec1') info = wrapSec1(der);
  else info = der;
  return parsePrivateKeyInfo(info);
}

/**
 * Imports a private key for signing from PEM or DER: PKCS#8 (encrypted with PBES2 or not),
 * PKCS#1 "RSA PRIVATE KEY" or SEC1 "EC PRIVATE KEY". The key kind comes from the key itself,
 * never from the caller, so a file cannot be misread as another type. Non-extractable by default.
 *
 * @example
 * const key = await importPrivateKey(await readFile('key.pem', 'utf8'), { passphrase });
 */
export async function importPrivateKey(input: string | Uint8Array, options: ImportPrivateKeyOptions = {}): Promise<CryptoKey> {
  const crypto = resolveCrypto(options.crypto);
  checkAlgorithmOption(options.algorithm);
  return importPrivateKeyInfo(crypto, await readPrivateKeyInfoInput(crypto, input, options.passphrase), options);
}
