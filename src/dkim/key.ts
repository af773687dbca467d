/** DKIM key pairs: generation, and turning a key record's p= into a verifying key. */
import { MailPkiError } from '../errors.js';
import { resolveCrypto } from '../internal/crypto.js';
import { bitString, nul, oid, seq } from '../internal/der.js';
import { OID } from '../internal/oids.js';
import { importVerifyKey, readPublicKeyInfo, type PublicKeyInfo } from '../keys/algorithms.js';
import { generateKeyPair } from '../keys/generate.js';
import { dkimRecord, parseDkimRecord, type DkimKeyType, type DkimRecord, type DkimRecordOptions, type DkimRecordText } from './record.js';

export type DkimKeyAlgorithm = 'rsa-2048' | 'rsa-3072' | 'rsa-4096' | 'ed25519';
export const DKIM_KEY_ALGORITHMS: readonly DkimKeyAlgorithm[] = Object.freeze(['rsa-2048', 'rsa-3072', 'rsa-4096', 'ed25519']);

export interface GenerateDkimKeyOptions extends Omit<DkimRecordOptions, 'crypto'> {
  /** Default 'rsa-2048' (RFC 8301 wants ≥ 1024, 2048 is what receivers expect today). */
  algorithm?: DkimKeyAlgorithm;
  /** Whether the private key may be exported (for backup or a signer elsewhere). Default false. */
  extractable?: boolean;
  crypto?: Crypto;
}

export interface DkimKey {
  domain: string;
  selector: string;
  algorithm: DkimKeyAlgorithm;
  /** The a= value this key signs with. */
  signingAlgorithm: 'rsa-sha256' | 'ed25519-sha256';
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** The TXT record to publish before signing with the key. */
  record: DkimRecordText;
}

/**
 * Generates a DKIM key pair for a domain and selector, with its DNS record.
 *
 * @example
 * const key = await generateDkimKey({ domain: 'example.com', selector: '2026a', algorithm: 'ed25519' });
 * console.log(key.record.zoneLine);
 */
export async function generateDkimKey(options: GenerateDkimKeyOptions): Promise<DkimKey> {
  const algorithm = options?.algorithm ?? 'rsa-2048';
  if (!DKIM_KEY_ALGORITHMS.includes(algorithm))
    throw new MailPkiError('ERR_KEY_UNSUPPORTED', `algorithm: use one of ${DKIM_KEY_ALGORITHMS.join(', ')}`, { details: { field: 'algorithm' } });
  const crypto = resolveCrypto(options.crypto);
  const pair = await generateKeyPair(algorithm, { crypto, extractable: options.extractable ?? false });
  const record = await dkimRecord(pair.publicKey, { ...options, crypto });
  return {
    domain: options.domain.toLowerCase(),
    selector: options.selector.toLowerCase(),
    algorithm,
    signingAlgorithm: algorithm === 'ed25519' ? 'ed25519-sha256' : 'rsa-sha256',
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
    record,
  };
}

const ED25519_SPKI_PREFIX = Uint8Array.of(0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00);

/**
 * The SPKI of a record's p=: Ed25519 raw keys get their SPKI prefix; an RSA p= that is a bare
 * RSAPublicKey (which RFC 6376's wording allows and some publish) is wrapped in one.
 * Throws ERR_KEY_MALFORMED / ERR_KEY_UNSUPPORTED.
 */
export function recordKeyInfo(keyType: DkimKeyType, p: Uint8Array): PublicKeyInfo {
  if (keyType === 'ed25519') {
    const spki = new Uint8Array(44);
    spki.set(ED25519_SPKI_PREFIX);
    spki.set(p, 12);
    return readPublicKeyInfo(spki);
  }
  let info: PublicKeyInfo;
  try {
    info = readPublicKeyInfo(p);
  } catch (e) {
    try {
      info = readPublicKeyInfo(seq(seq(oid(OID.rsaEncryption), nul()), bitString(p)));
    } catch {
      throw e;
    }
  }
  if (info.kind !== 'rsa') throw new MailPkiError('ERR_KEY_UNSUPPORTED', `k=rsa record holds a ${info.kind} key`);
  return info;
}

/** A WebCrypto key for verifying `hash` signatures with the key in `info` (cached by the keys module). */
export function importRecordKey(crypto: Crypto, info: PublicKeyInfo, hash: 'SHA-256' | 'SHA-1'): Promise<CryptoKey> {
  if (info.kind === 'ed25519') return importVerifyKey(crypto, info, { scheme: 'ed25519', hash: 'SHA-512' } as never);
  return importVerifyKey(crypto, info, { scheme: 'rsa-pkcs1', hash } as never);
}

/** A key record as verification needs it: parsed, its key read, and imported keys, once per TXT text. */
export interface RecordEntry {
  /** The parsed record, or why it does not parse. */
  readonly record?: DkimRecord;
  readonly recordError?: string;
  /** The key of a record with a p= (undefined for a revoked key), or why it is unusable. */
  readonly info?: PublicKeyInfo;
  readonly infoError?: string;
  /** Imported verifying keys, per WebCrypto instance and hash, once an import has finished. */
  readonly keys: WeakMap<Crypto, Map<string, CryptoKey>>;
}

const RECORD_CACHE_MAX = 512;
/** Longer texts are parsed every time (an RSA-8192 record is ≈ 1.5 KiB), so the cache stays small. */
const RECORD_CACHE_TEXT_MAX = 4096;
const recordCache = new Map<string, RecordEntry>();

/**
 * The parsed form of a key record's text, from a bounded cache: a verifier sees the same few
 * keys again and again, and parsing a 2048-bit p= costs more than hashing a header block. The
 * entry is a pure function of the text, so caching cannot change an answer; DNS answers
 * themselves are not cached here (that is the resolver's business, with TTLs).
 */
export function recordEntry(txt: string): RecordEntry {
  const hit = recordCache.get(txt);
  if (hit) {
    // Most recently used last: the first entry is the one to evict.
    recordCache.delete(txt);
    recordCache.set(txt, hit);
    return hit;
  }
  let entry: RecordEntry;
  try {
    const record = parseDkimRecord(txt);
    if (record.publicKey === null) entry = { record, keys: new WeakMap() };
    else {
      try {
        entry = { record, info: recordKeyInfo(record.keyType, record.publicKey), keys: new WeakMap() };
      } catch (e) {
        entry = { record, infoError: (e as Error).message, keys: new WeakMap() };
      }
    }
  } catch (e) {
    entry = { recordError: (e as Error).message, keys: new WeakMap() };
  }
  if (txt.length > RECORD_CACHE_TEXT_MAX) return entry;
  if (recordCache.size >= RECORD_CACHE_MAX) recordCache.delete(recordCache.keys().next().value!);
  recordCache.set(txt, entry);
  return entry;
}

/**
 * The verifying key of a cached record entry: synchronously when it was imported before (so the
 * caller can start the signature check at once), otherwise a promise.
 */
export function recordVerifyKey(crypto: Crypto, entry: RecordEntry, hash: 'SHA-256' | 'SHA-1'): CryptoKey | Promise<CryptoKey> {
  const cached = entry.keys.get(crypto)?.get(hash);
  if (cached) return cached;
  return importRecordKey(crypto, entry.info!, hash).then((key) => {
    let m = entry.keys.get(crypto);
    if (!m) entry.keys.set(crypto, (m = new Map()));
    m.set(hash, key);
    return key;
  });
}
