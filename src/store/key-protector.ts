/**
 * Private keys at rest: AES-256-GCM under a key-encryption key (KEK). The KEK comes from a
 * passphrase (PBKDF2-HMAC-SHA256, salt kept beside the ciphertext so a store opens with the
 * passphrase alone) or is injected (a KMS/HSM-backed protector implements the same interface).
 */
import { z } from 'zod';
import { MailPkiError } from '../errors.js';
import { copyBytes, fromBase64, toBase64, utf8 } from '../internal/bytes.js';
import { randomBytes, resolveCrypto } from '../internal/crypto.js';
import { parseInput } from '../internal/validate.js';
import { DEFAULT_PBKDF2_ITERATIONS, MAX_PBKDF2_ITERATIONS, MIN_PBKDF2_ITERATIONS } from '../keys/limits.js';

const b64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64').max(1 << 20);

export const protectedKeySchema = z
  .object({
    /** Which protector made it (`KeyProtector.id`). */
    protectorId: z.string().min(1).max(200),
    alg: z.literal('A256GCM'),
    /** 12-byte GCM nonce, base64. */
    iv: b64,
    /** Ciphertext with the 16-byte GCM tag appended, base64. */
    ciphertext: b64,
    kdf: z
      .object({
        name: z.literal('PBKDF2-SHA256'),
        salt: b64,
        iterations: z.number().int().min(MIN_PBKDF2_ITERATIONS).max(MAX_PBKDF2_ITERATIONS),
      })
      .strict()
      .optional(),
  })
  .strict();
/** A wrapped private key: JSON-serialisable, no secret in the clear. */
export type ProtectedKey = z.infer<typeof protectedKeySchema>;

export interface KeyProtector {
  readonly id: string;
  protect(plaintext: Uint8Array): Promise<ProtectedKey>;
  /** Wrong KEK, wrong passphrase or altered data: ERR_STORE_KEY_PROTECTION. */
  unprotect(p: ProtectedKey): Promise<Uint8Array>;
}

export interface PassphraseKeyProtectorOptions {
  /** PBKDF2 iterations for new keys (default 600,000; at least 1,000). */
  iterations?: number;
  /** Salt for new keys (at least 16 bytes). Default: 16 random bytes, drawn once per protector. */
  salt?: Uint8Array;
  crypto?: Crypto;
  /** Default 'passphrase'. */
  id?: string;
}

function keyProtectionError(message: string, cause?: unknown): MailPkiError {
  return new MailPkiError('ERR_STORE_KEY_PROTECTION', message, cause === undefined ? {} : { cause });
}

function decode(text: string, what: string): Uint8Array<ArrayBuffer> {
  const b = fromBase64(text);
  if (!b) throw new MailPkiError('ERR_STORE_CORRUPT', `protected key: ${what} is not base64`);
  return copyBytes(b);
}

async function seal(crypto: Crypto, kek: CryptoKey, plaintext: Uint8Array): Promise<{ iv: string; ciphertext: string }> {
  if (!(plaintext instanceof Uint8Array) || plaintext.length === 0) throw new MailPkiError('ERR_INVALID_INPUT', 'protect: expected non-empty bytes', { details: { field: 'plaintext' } });
  const iv = copyBytes(randomBytes(crypto, 12));
  const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, kek, copyBytes(plaintext));
  return { iv: toBase64(iv), ciphertext: toBase64(new Uint8Array(ct)) };
}

async function open(crypto: Crypto, kek: CryptoKey, p: ProtectedKey): Promise<Uint8Array> {
  const iv = decode(p.iv, 'iv');
  if (iv.length !== 12) throw new MailPkiError('ERR_STORE_CORRUPT', 'protected key: iv must be 12 bytes');
  try {
    return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv }, kek, decode(p.ciphertext, 'ciphertext')));
  } catch (e) {
    throw keyProtectionError('could not decrypt the stored key: wrong passphrase or key-encryption key, or the data was altered', e);
  }
}

/**
 * Protects keys under a KEK derived from `passphrase` with PBKDF2-HMAC-SHA256. The passphrase
 * itself is not kept: only a non-extractable PBKDF2 key, and each derived KEK (one per salt).
 *
 * @example
 * const protector = passphraseKeyProtector(process.env.MAILPKI_PASSPHRASE!);
 * const sealed = await protector.protect(pkcs8);
 */
export function passphraseKeyProtector(passphrase: string, options: PassphraseKeyProtectorOptions = {}): KeyProtector {
  if (typeof passphrase !== 'string' || passphrase.length === 0) throw new MailPkiError('ERR_INVALID_INPUT', 'passphraseKeyProtector: passphrase must be a non-empty string', { details: { field: 'passphrase' } });
  const opts = parseInput(
    z
      .object({
        iterations: z.number().int().min(MIN_PBKDF2_ITERATIONS).max(MAX_PBKDF2_ITERATIONS).default(DEFAULT_PBKDF2_ITERATIONS),
        salt: z.custom<Uint8Array>((v) => v instanceof Uint8Array && v.length >= 16, 'salt must be at least 16 bytes').optional(),
        crypto: z.custom<Crypto>((v) => typeof v === 'object' && v !== null).optional(),
        id: z.string().min(1).max(200).default('passphrase'),
      })
      .strict(),
    options,
    'passphraseKeyProtector options',
  );
  const crypto = resolveCrypto(opts.crypto);
  const secret = utf8(passphrase.normalize('NFC'));
  const base = crypto.subtle.importKey('raw', copyBytes(secret), 'PBKDF2', false, ['deriveKey']);
  secret.fill(0);
  const salt = toBase64(opts.salt ?? randomBytes(crypto, 16));
  const keks = new Map<string, Promise<CryptoKey>>();

  const kekFor = (saltB64: string, iterations: number): Promise<CryptoKey> => {
    const cacheKey = `${iterations}:${saltB64}`;
    let kek = keks.get(cacheKey);
    if (!kek) {
      kek = base.then((b) =>
        crypto.subtle.deriveKey(
          { name: 'PBKDF2', hash: 'SHA-256', salt: decode(saltB64, 'salt'), iterations },
          b,
          { name: 'AES-GCM', length: 256 },
          false,
          ['encrypt', 'decrypt'],
        ),
      );
      keks.set(cacheKey, kek);
      kek.catch(() => keks.delete(cacheKey));
    }
    return kek;
  };

  return {
    id: opts.id,
    async protect(plaintext) {
      const kek = await kekFor(salt, opts.iterations);
      return { protectorId: opts.id, alg: 'A256GCM', ...(await seal(crypto, kek, plaintext)), kdf: { name: 'PBKDF2-SHA256', salt, iterations: opts.iterations } };
    },
    async unprotect(input) {
      const p = parseInput(protectedKeySchema, input, 'protected key', 'ERR_STORE_CORRUPT');
      if (p.protectorId !== opts.id) throw keyProtectionError(`the key is protected by "${p.protectorId}", not "${opts.id}"`);
      if (!p.kdf) throw keyProtectionError('the key has no passphrase (kdf) parameters');
      return open(crypto, await kekFor(p.kdf.salt, p.kdf.iterations), p);
    },
  };
}

export interface KekProtectorOptions {
  /** Names this KEK in every ProtectedKey (e.g. 'kms:prod-2025'); rotate by changing it. */
  id: string;
  crypto?: Crypto;
}

/**
 * Protects keys under a given 256-bit AES key (raw bytes or a non-extractable AES-GCM CryptoKey),
 * e.g. one unwrapped from a KMS at start-up.
 */
export function kekKeyProtector(kek: Uint8Array | CryptoKey, options: KekProtectorOptions): KeyProtector {
  if (typeof options?.id !== 'string' || options.id.length === 0) throw new MailPkiError('ERR_INVALID_INPUT', 'kekKeyProtector: id is required', { details: { field: 'id' } });
  const crypto = resolveCrypto(options.crypto);
  let key: Promise<CryptoKey>;
  if (kek instanceof Uint8Array) {
    if (kek.length !== 32) throw new MailPkiError('ERR_INVALID_INPUT', 'kekKeyProtector: a raw KEK must be 32 bytes', { details: { field: 'kek' } });
    key = crypto.subtle.importKey('raw', copyBytes(kek), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
  } else {
    key = Promise.resolve(kek);
  }
  return {
    id: options.id,
    async protect(plaintext) {
      return { protectorId: options.id, alg: 'A256GCM', ...(await seal(crypto, await key, plaintext)) };
    },
    async unprotect(input) {
      const p = parseInput(protectedKeySchema, input, 'protected key', 'ERR_STORE_CORRUPT');
      if (p.protectorId !== options.id) throw keyProtectionError(`the key is protected by "${p.protectorId}", not "${options.id}"`);
      return open(crypto, await key, p);
    },
  };
}
