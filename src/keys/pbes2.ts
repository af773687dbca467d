/**
 * Password-based encryption as PKCS#8 and PKCS#12 use it: PBES2 (RFC 8018) with PBKDF2 and
 * AES-CBC, the only scheme WebCrypto can run. Older schemes (PBES1, PKCS#12 PBE with 3DES or
 * RC2, scrypt, DES) are recognised so that the error names them and says how to convert.
 */
import { MailPkiError, type MailPkiErrorCode } from '../errors.js';
import { copyBytes, utf8 } from '../internal/bytes.js';
import { randomBytes, resolveCrypto } from '../internal/crypto.js';
import {
  Tag,
  cursor,
  int,
  nul,
  octets,
  oid,
  parseDer,
  readOctetString,
  readOid,
  readSmallInt,
  seq,
  type Der,
} from '../internal/der.js';
import {
  DEFAULT_PBKDF2_ITERATIONS,
  MAX_KEY_INPUT_BYTES,
  MAX_PBKDF2_ITERATIONS,
  MIN_PBKDF2_ITERATIONS,
} from './limits.js';
import { parsePrivateKeyInfo } from './private-key-info.js';
import { recodeDerErrors } from './recode.js';

export const PBE_OID = {
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacWithSHA1: '1.2.840.113549.2.7',
  hmacWithSHA224: '1.2.840.113549.2.8',
  hmacWithSHA256: '1.2.840.113549.2.9',
  hmacWithSHA384: '1.2.840.113549.2.10',
  hmacWithSHA512: '1.2.840.113549.2.11',
  aes128CBC: '2.16.840.1.101.3.4.1.2',
  aes192CBC: '2.16.840.1.101.3.4.1.22',
  aes256CBC: '2.16.840.1.101.3.4.1.42',
} as const;

type PrfHash = 'SHA-1' | 'SHA-224' | 'SHA-256' | 'SHA-384' | 'SHA-512';

const PRF_BY_OID: Record<string, PrfHash> = {
  [PBE_OID.hmacWithSHA1]: 'SHA-1',
  [PBE_OID.hmacWithSHA224]: 'SHA-224',
  [PBE_OID.hmacWithSHA256]: 'SHA-256',
  [PBE_OID.hmacWithSHA384]: 'SHA-384',
  [PBE_OID.hmacWithSHA512]: 'SHA-512',
};

const AES_KEY_BYTES: Record<string, number> = {
  [PBE_OID.aes128CBC]: 16,
  [PBE_OID.aes192CBC]: 24,
  [PBE_OID.aes256CBC]: 32,
};

/** Schemes we recognise and cannot run in WebCrypto. */
const UNSUPPORTED_PBE: Record<string, string> = {
  '1.2.840.113549.1.5.1': 'PBES1 pbeWithMD2AndDES-CBC',
  '1.2.840.113549.1.5.3': 'PBES1 pbeWithMD5AndDES-CBC',
  '1.2.840.113549.1.5.4': 'PBES1 pbeWithMD2AndRC2-CBC',
  '1.2.840.113549.1.5.6': 'PBES1 pbeWithMD5AndRC2-CBC',
  '1.2.840.113549.1.5.10': 'PBES1 pbeWithSHA1AndDES-CBC',
  '1.2.840.113549.1.5.11': 'PBES1 pbeWithSHA1AndRC2-CBC',
  '1.2.840.113549.1.12.1.1': 'PKCS#12 pbeWithSHAAnd128BitRC4',
  '1.2.840.113549.1.12.1.2': 'PKCS#12 pbeWithSHAAnd40BitRC4',
  '1.2.840.113549.1.12.1.3': 'PKCS#12 pbeWithSHAAnd3-KeyTripleDES-CBC',
  '1.2.840.113549.1.12.1.4': 'PKCS#12 pbeWithSHAAnd2-KeyTripleDES-CBC',
  '1.2.840.113549.1.12.1.5': 'PKCS#12 pbeWithSHAAnd128BitRC2-CBC',
  '1.2.840.113549.1.12.1.6': 'PKCS#12 pbeWithSHAAnd40BitRC2-CBC',
  // Inside PBES2: ciphers and KDFs
  '1.2.840.113549.3.7': 'DES-EDE3-CBC (3DES)',
  '1.3.14.3.2.7': 'DES-CBC',
  '1.2.840.113549.3.2': 'RC2-CBC',
  '1.2.840.113549.3.9': 'RC5-CBC-Pad',
  '2.16.840.1.101.3.4.1.6': 'AES-128-GCM',
  '2.16.840.1.101.3.4.1.26': 'AES-192-GCM',
  '2.16.840.1.101.3.4.1.46': 'AES-256-GCM',
  '1.3.6.1.4.1.11591.4.11': 'scrypt',
};

/** Shared across the decryptions of one input, so a file with many encrypted parts cannot multiply the work. */
export interface IterationBudget {
  remaining: number;
}

export interface PbeDecryptContext {
  /** Error code for a structure that does not parse. */
  code: MailPkiErrorCode;
  /** Appended to ERR_ALGORITHM_UNSUPPORTED messages: how to convert the input. */
  conversionHint: string;
  budget?: IterationBudget;
}

function unsupported(name: string, hint: string): never {
  throw new MailPkiError('ERR_ALGORITHM_UNSUPPORTED', `${name} is not supported (only PBES2 with PBKDF2 and AES-CBC); ${hint}`, {
    details: { algorithm: name },
  });
}

interface Pbes2Params {
  salt: Uint8Array;
  iterations: number;
  prf: PrfHash;
  keyBytes: number;
  iv: Uint8Array;
}

/** Reads PBES2-params; every refusal names the algorithm found. */
function readPbes2Params(params: Der, ctx: PbeDecryptContext): Pbes2Params {
  const c = cursor(params, ctx.code, 'invalid PBES2 parameters');
  const kdf = cursor(c.next(Tag.SEQUENCE), ctx.code, 'invalid PBES2 parameters');
  const enc = cursor(c.next(Tag.SEQUENCE), ctx.code, 'invalid PBES2 parameters');
  c.end();
  const kdfOid = readOid(kdf.next(Tag.OID));
  if (kdfOid !== PBE_OID.pbkdf2) unsupported(`key derivation ${UNSUPPORTED_PBE[kdfOid] ?? kdfOid}`, ctx.conversionHint);
  const encOid = readOid(enc.next(Tag.OID));
  const keyBytes = AES_KEY_BYTES[encOid];
  if (!keyBytes) unsupported(`cipher ${UNSUPPORTED_PBE[encOid] ?? encOid}`, ctx.conversionHint);
  const iv = readOctetString(enc.next(Tag.OCTET_STRING));
  enc.end();
  if (iv.length !== 16) throw new MailPkiError(ctx.code, 'invalid PBES2 parameters: AES-CBC needs a 16-byte IV');
  return { ...readPbkdf2Params(cursor(kdf.next(Tag.SEQUENCE), ctx.code, 'invalid PBKDF2 parameters'), keyBytes, ctx), keyBytes, iv };
}

function readPbkdf2Params(c: ReturnType<typeof cursor>, keyBytes: number, ctx: PbeDecryptContext) {
  if (c.peekTag() === Tag.SEQUENCE) unsupported('PBKDF2 with an "otherSource" salt', ctx.conversionHint);
  const salt = readOctetString(c.next(Tag.OCTET_STRING));
  const iterations = readSmallInt(c.next(Tag.INTEGER));
  const keyLength = c.optional(Tag.INTEGER);
  if (keyLength && readSmallInt(keyLength) !== keyBytes)
    throw new MailPkiError(ctx.code, 'invalid PBKDF2 parameters: key length does not match the cipher');
  let prf: PrfHash = 'SHA-1'; // RFC 8018 default
  const prfNode = c.optional(Tag.SEQUENCE);
  if (prfNode) {
    const p = cursor(prfNode, ctx.code, 'invalid PBKDF2 parameters');
    const prfOid = readOid(p.next(Tag.OID));
    if (!p.done) p.next(Tag.NULL);
    p.end();
    prf = PRF_BY_OID[prfOid] ?? unsupported(`PBKDF2 pseudo-random function ${prfOid}`, ctx.conversionHint);
  }
  c.end();
  checkIterations(iterations, ctx);
  return { salt, iterations, prf };
}

function checkIterations(iterations: number, ctx: PbeDecryptContext): void {
  if (iterations < 1) throw new MailPkiError(ctx.code, 'invalid PBKDF2 parameters: iteration count must be at least 1');
  if (iterations > MAX_PBKDF2_ITERATIONS)
    throw new MailPkiError('ERR_INPUT_TOO_LARGE', `PBKDF2 iteration count ${iterations} is above the limit of ${MAX_PBKDF2_ITERATIONS}`, {
      details: { limit: MAX_PBKDF2_ITERATIONS, iterations },
    });
  if (ctx.budget) {
    if (iterations > ctx.budget.remaining)
      throw new MailPkiError('ERR_INPUT_TOO_LARGE', 'the input asks for more PBKDF2 iterations in total than the documented limit', {
        details: { iterations },
      });
    ctx.budget.remaining -= iterations;
  }
}

async function deriveAesKey(
  crypto: Crypto,
  password: Uint8Array,
  p: { salt: Uint8Array; iterations: number; prf: PrfHash; keyBytes: number },
  usage: KeyUsage,
): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey('raw', copyBytes(password), 'PBKDF2', false, ['deriveKey']);
  return crypto.subtle.deriveKey(
    { name: 'PBKDF2', salt: copyBytes(p.salt), iterations: p.iterations, hash: p.prf },
    base,
    { name: 'AES-CBC', length: p.keyBytes * 8 },
    false,
    [usage],
  );
}

/**
 * Decrypts data protected by the password-based scheme in `algorithm` (an AlgorithmIdentifier).
 * A padding failure means a wrong password or altered data: ERR_PASSPHRASE_WRONG.
 */
export async function pbeDecrypt(
  crypto: Crypto,
  algorithm: Der,
  ciphertext: Uint8Array,
  password: Uint8Array,
  ctx: PbeDecryptContext,
): Promise<Uint8Array> {
  const p = recodeDerErrors(ctx.code, 'invalid encryption parameters', () => {
    const c = cursor(algorithm, ctx.code, 'invalid encryption parameters');
    const schemeOid = readOid(c.next(Tag.OID));
    if (schemeOid !== PBE_OID.pbes2) unsupported(UNSUPPORTED_PBE[schemeOid] ?? `encryption scheme ${schemeOid}`, ctx.conversionHint);
    const params = readPbes2Params(c.next(Tag.SEQUENCE), ctx);
    c.end();
    return params;
  });
  if (ciphertext.length === 0 || ciphertext.length % 16 !== 0)
    throw new MailPkiError(ctx.code, 'encrypted data is not a whole number of AES blocks');
  if (p.prf === 'SHA-224') unsupported('PBKDF2 with HMAC-SHA-224 (not in WebCrypto)', ctx.conversionHint);
  const key = await deriveAesKey(crypto, password, p, 'decrypt');
  try {
    return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-CBC', iv: copyBytes(p.iv) }, key, copyBytes(ciphertext)));
  } catch (e) {
    throw new MailPkiError('ERR_PASSPHRASE_WRONG', 'decryption failed: wrong passphrase, or the data was altered', { cause: e });
  }
}

/**
 * Encrypts with PBES2: PBKDF2-HMAC-SHA256 (random 16-byte salt) and AES-256-CBC, the scheme
 * OpenSSL 3 writes by default. Returns the AlgorithmIdentifier and the ciphertext.
 */
export async function pbes2Encrypt(
  crypto: Crypto,
  plaintext: Uint8Array,
  password: Uint8Array,
  iterations: number,
): Promise<{ algorithm: Uint8Array; ciphertext: Uint8Array }> {
  const salt = randomBytes(crypto, 16);
  const iv = randomBytes(crypto, 16);
  const key = await deriveAesKey(crypto, password, { salt, iterations, prf: 'SHA-256', keyBytes: 32 }, 'encrypt');
  const ciphertext = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-CBC', iv: copyBytes(iv) }, key, copyBytes(plaintext)));
  const kdf = seq(oid(PBE_OID.pbkdf2), seq(octets(salt), int(iterations), seq(oid(PBE_OID.hmacWithSHA256), nul())));
  const algorithm = seq(oid(PBE_OID.pbes2), seq(kdf, seq(oid(PBE_OID.aes256CBC), octets(iv))));
  return { algorithm, ciphertext };
}

export interface EncryptPrivateKeyInfoOptions {
  /** PBKDF2 iterations, 1,000 to 10,000,000; default 600,000. */
  iterations?: number;
  crypto?: Crypto;
}

/** Checks an iteration count given by a caller (ERR_INVALID_INPUT): what we write, we must be able to read. */
export function checkIterationOption(iterations: unknown, max = MAX_PBKDF2_ITERATIONS): number {
  if (iterations === undefined) return DEFAULT_PBKDF2_ITERATIONS;
  if (typeof iterations !== 'number' || !Number.isInteger(iterations) || iterations < MIN_PBKDF2_ITERATIONS || iterations > max)
    throw new MailPkiError('ERR_INVALID_INPUT', `iterations: must be an integer from ${MIN_PBKDF2_ITERATIONS} to ${max}`, {
      details: { field: 'iterations' },
    });
  return iterations;
}

/** Checks a passphrase given by a caller for encryption. */
export function checkPassphraseOption(passphrase: unknown): string {
  if (typeof passphrase !== 'string' || passphrase.length === 0)
    throw new MailPkiError('ERR_INVALID_INPUT', 'passphrase: must be a non-empty string (omit it to export without encryption)', {
      details: { field: 'passphrase' },
    });
  return passphrase;
}

const PKCS8_HINT = 're-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`';

/**
 * Wraps a PrivateKeyInfo into an EncryptedPrivateKeyInfo (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC).
 * The passphrase is used as UTF-8 bytes without normalisation, as OpenSSL does.
 */
export async function encryptPrivateKeyInfo(
  der: Uint8Array,
  passphrase: string,
  options: EncryptPrivateKeyInfoOptions = {},
): Promise<Uint8Array> {
  checkPassphraseOption(passphrase);
  const iterations = checkIterationOption(options.iterations);
  parsePrivateKeyInfo(der);
  const crypto = resolveCrypto(options.crypto);
  const { algorithm, ciphertext } = await pbes2Encrypt(crypto, der, utf8(passphrase), iterations);
  return seq(algorithm, octets(ciphertext));
}

/**
 * Decrypts an EncryptedPrivateKeyInfo to its PrivateKeyInfo. Because the AES-CBC padding check
 * passes for about one wrong passphrase in 256, the result must also parse as a consistent key
 * before it is returned; otherwise ERR_PASSPHRASE_WRONG.
 */
export async function decryptPrivateKeyInfo(
  der: Uint8Array,
  passphrase: string,
  options: { crypto?: Crypto } = {},
): Promise<Uint8Array> {
  if (typeof passphrase !== 'string')
    throw new MailPkiError('ERR_INVALID_INPUT', 'passphrase: must be a string', { details: { field: 'passphrase' } });
  if (der.length > MAX_KEY_INPUT_BYTES)
    throw new MailPkiError('ERR_INPUT_TOO_LARGE', `encrypted key is larger than ${MAX_KEY_INPUT_BYTES} bytes`, {
      details: { limit: MAX_KEY_INPUT_BYTES },
    });
  const ctx: PbeDecryptContext = { code: 'ERR_KEY_MALFORMED', conversionHint: PKCS8_HINT };
  return decryptKeyInfo(resolveCrypto(options.crypto), der, passphrase, ctx);
}

/** decryptPrivateKeyInfo with the caller's error code, conversion hint and iteration budget (PKCS#12 uses it). */
export async function decryptKeyInfo(crypto: Crypto, der: Uint8Array, passphrase: string, ctx: PbeDecryptContext): Promise<Uint8Array> {
  const what = 'invalid encrypted private key';
  const { algorithm, data } = recodeDerErrors(ctx.code, what, () => {
    const c = cursor(parseDer(der, ctx.code, what), ctx.code, what);
    const alg = c.next(Tag.SEQUENCE);
    const enc = readOctetString(c.next(Tag.OCTET_STRING));
    c.end();
    return { algorithm: alg, data: enc };
  });
  const plain = await pbeDecrypt(crypto, algorithm, data, utf8(passphrase), ctx);
  try {
    parsePrivateKeyInfo(plain, 'ERR_PASSPHRASE_WRONG');
  } catch (e) {
    if (e instanceof MailPkiError && e.code === 'ERR_KEY_UNSUPPORTED') throw e;
    throw new MailPkiError('ERR_PASSPHRASE_WRONG', 'decryption failed: wrong passphrase, or the data was altered', { cause: e });
  }
  return plain;
}
