/** The password integrity mode of PKCS#12: an HMAC over the AuthenticatedSafe, keyed by the RFC 7292 KDF. */
import { MailPkiError } from '../errors.js';
import { copyBytes, equalBytes } from '../internal/bytes.js';
import { Tag, cursor, int, nul, octets, oid, readOctetString, readOid, readSmallInt, seq, type Der } from '../internal/der.js';
import { OID } from '../internal/oids.js';
import { bmpPassword, pkcs12Kdf } from './kdf.js';
import { MAX_PKCS12_MAC_ITERATIONS } from './limits.js';
import { P12_OID } from './oids.js';
import { HASH_SIZES, type Pkcs12Hash } from '../internal/sha.js';

const MAC_HASH_BY_OID: Record<string, Pkcs12Hash> = {
  [OID.sha1]: 'SHA-1',
  [OID.sha256]: 'SHA-256',
  [OID.sha384]: 'SHA-384',
  [OID.sha512]: 'SHA-512',
};
const MAC_HASH_OID: Record<Pkcs12Hash, string> = { 'SHA-1': OID.sha1, 'SHA-256': OID.sha256, 'SHA-384': OID.sha384, 'SHA-512': OID.sha512 };

export interface MacData {
  hash: Pkcs12Hash;
  digest: Uint8Array;
  salt: Uint8Array;
  iterations: number;
}

const WHAT = 'invalid PKCS#12 MacData';

/** Reads MacData; refuses MAC algorithms it cannot compute, naming them. */
export function readMacData(node: Der): MacData {
  const c = cursor(node, 'ERR_PKCS12_MALFORMED', WHAT);
  const digestInfo = cursor(c.next(Tag.SEQUENCE), 'ERR_PKCS12_MALFORMED', WHAT);
  const alg = cursor(digestInfo.next(Tag.SEQUENCE), 'ERR_PKCS12_MALFORMED', WHAT);
  const algOid = readOid(alg.next(Tag.OID));
  const digest = readOctetString(digestInfo.next(Tag.OCTET_STRING));
  digestInfo.end();
  const salt = readOctetString(c.next(Tag.OCTET_STRING));
  const iterNode = c.optional(Tag.INTEGER);
  const iterations = iterNode ? readSmallInt(iterNode) : 1;
  c.end();
  const hash = MAC_HASH_BY_OID[algOid];
  if (!hash) {
    const name = algOid === P12_OID.pbmac1 ? 'PBMAC1 (RFC 9579)' : algOid === P12_OID.sha224 ? 'HMAC-SHA-224' : algOid === OID.md5 ? 'HMAC-MD5' : algOid;
    throw new MailPkiError('ERR_ALGORITHM_UNSUPPORTED', `PKCS#12 MAC algorithm ${name} is not supported (HMAC with SHA-1, SHA-256, SHA-384 or SHA-512 is)`);
  }
  if (iterations < 1) throw new MailPkiError('ERR_PKCS12_MALFORMED', `${WHAT}: iteration count must be at least 1`);
  if (iterations > MAX_PKCS12_MAC_ITERATIONS)
    throw new MailPkiError('ERR_INPUT_TOO_LARGE', `PKCS#12 MAC iteration count ${iterations} is above the limit of ${MAX_PKCS12_MAC_ITERATIONS}`, {
      details: { limit: MAX_PKCS12_MAC_ITERATIONS, iterations },
    });
  if (digest.length !== HASH_SIZES[hash].u) throw new MailPkiError('ERR_PKCS12_MALFORMED', `${WHAT}: the MAC has the wrong length`);
  return { hash, digest, salt, iterations };
}

/** HMAC over `data` with the key derived from the BMPString password `bmp`. */
export async function computeMac(
  crypto: Crypto,
  hash: Pkcs12Hash,
  bmp: Uint8Array,
  salt: Uint8Array,
  iterations: number,
  data: Uint8Array,
): Promise<Uint8Array> {
  const keyBytes = pkcs12Kdf(hash, bmp, salt, 3, iterations, HASH_SIZES[hash].u);
  const key = await crypto.subtle.importKey('raw', copyBytes(keyBytes), { name: 'HMAC', hash }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', key, copyBytes(data)));
}

/**
 * Checks the MAC. An empty passphrase is tried both as the two-byte BMP terminator and as no
 * bytes at all, because OpenSSL and others disagree on how to encode it.
 */
export async function verifyMac(crypto: Crypto, mac: MacData, passphrase: string, data: Uint8Array): Promise<void> {
  const candidates = passphrase === '' ? [bmpPassword(''), new Uint8Array(0)] : [bmpPassword(passphrase)];
  for (const bmp of candidates) {
    const expected = await computeMac(crypto, mac.hash, bmp, mac.salt, mac.iterations, data);
    if (equalBytes(expected, mac.digest)) return;
  }
  throw new MailPkiError('ERR_PKCS12_MAC_INVALID', 'PKCS#12 integrity check failed: wrong passphrase, or the file was altered');
}

/** MacData DER for `data`. */
export async function encodeMacData(
  crypto: Crypto,
  hash: Pkcs12Hash,
  passphrase: string,
  salt: Uint8Array,
  iterations: number,
  data: Uint8Array,
): Promise<Uint8Array> {
  const digest = await computeMac(crypto, hash, bmpPassword(passphrase), salt, iterations, data);
  return seq(seq(seq(oid(MAC_HASH_OID[hash]), nul()), octets(digest)), octets(salt), int(iterations));
}
