/**
 * TSIG (RFC 8945) with HMAC-SHA256 through WebCrypto: signing a request, and checking the signed
 * answer (MAC over the request MAC, the answer without its TSIG, and the TSIG variables, §4.3).
 */
import { z } from 'zod';
import { MailPkiError } from '../errors.js';
import { copyBytes, fromBase64 } from '../internal/bytes.js';
import { parseInput } from '../internal/validate.js';
import { dnsError } from './errors.js';
import { RR_CLASS, RR_TYPE, WireWriter, encodeName, rcodeName, type ParsedMessage } from './wire.js';

export const TSIG_ALGORITHMS = { 'hmac-sha256': { wireName: 'hmac-sha256', hash: 'SHA-256', macLength: 32 } } as const;
export type TsigAlgorithm = keyof typeof TSIG_ALGORITHMS;

export interface TsigKeyInput {
  /** Key name as configured on the server, e.g. `mailpki-update.` */
  name: string;
  algorithm: TsigAlgorithm;
  /** The shared secret, base64 (what `keymgr -t` and `tsig-keygen` print). */
  secret: string;
}

export const tsigKeySchema = z
  .object({
    name: z.string().min(1).max(253),
    algorithm: z.literal('hmac-sha256'),
    secret: z.string().min(1).max(1024),
  })
  .strict();

/** An imported key: the secret lives only in a non-extractable CryptoKey. */
export interface TsigKey {
  name: string;
  algorithm: TsigAlgorithm;
  key: CryptoKey;
}

/** Default fudge: how far apart the two clocks may be (RFC 8945 §10 recommends 300 s). */
export const DEFAULT_FUDGE = 300;

export async function importTsigKey(input: TsigKeyInput, crypto: Crypto): Promise<TsigKey> {
  const k = parseInput(tsigKeySchema, input, 'tsig');
  const secret = fromBase64(k.secret);
  if (!secret || secret.length < 16)
    throw new MailPkiError('ERR_INVALID_INPUT', 'tsig.secret: must be base64 of at least 16 bytes', { details: { field: 'tsig.secret' } });
  encodeName(k.name);
  const algo = TSIG_ALGORITHMS[k.algorithm];
  try {
    const key = await crypto.subtle.importKey('raw', copyBytes(secret), { name: 'HMAC', hash: algo.hash }, false, ['sign', 'verify']);
    return { name: k.name.toLowerCase().replace(/\.$/, ''), algorithm: k.algorithm, key };
  } finally {
    secret.fill(0);
  }
}


/** The TSIG variables (§4.3.3), names in canonical (lower-case, uncompressed) form. */
function variables(key: TsigKey, timeSigned: number, fudge: number, error: number, otherData: Uint8Array): Uint8Array {
  return new WireWriter()
    .bytes(encodeName(key.name, { lowercase: true }))
    .u16(RR_CLASS.ANY)
    .u32(0)
    .bytes(encodeName(TSIG_ALGORITHMS[key.algorithm].wireName, { lowercase: true }))
    .u48(timeSigned)
    .u16(fudge)
    .u16(error)
    .u16(otherData.length)
    .bytes(otherData)
    .finish();
}

function prefixedMac(mac: Uint8Array): Uint8Array {
  return new WireWriter().u16(mac.length).bytes(mac).finish();
}

export interface SignedRequest {
  message: Uint8Array;
  /** Needed to check the answer. */
  mac: Uint8Array;
}

/** Appends a TSIG RR to an unsigned message (whose ARCOUNT does not count it yet). */
export async function signTsig(message: Uint8Array, key: TsigKey, options: { timeSigned: number; fudge?: number; crypto: Crypto }): Promise<SignedRequest> {
  if (message.length < 12) throw new MailPkiError('ERR_INVALID_INPUT', 'signTsig: not a DNS message', { details: { field: 'message' } });
  const fudge = options.fudge ?? DEFAULT_FUDGE;
  const timeSigned = options.timeSigned;
  if (!Number.isSafeInteger(timeSigned) || timeSigned < 0 || timeSigned >= 2 ** 48) throw new MailPkiError('ERR_INVALID_INPUT', 'signTsig: timeSigned out of range', { details: { field: 'timeSigned' } });
  const empty = new Uint8Array(0);
  const data = new WireWriter().bytes(message).bytes(variables(key, timeSigned, fudge, 0, empty)).finish();
  const mac = new Uint8Array(await options.crypto.subtle.sign('HMAC', key.key, copyBytes(data)));
  const originalId = (message[0]! << 8) | message[1]!;
  const rdata = new WireWriter()
    .bytes(encodeName(TSIG_ALGORITHMS[key.algorithm].wireName))
    .u48(timeSigned)
    .u16(fudge)
    .u16(mac.length)
    .bytes(mac)
    .u16(originalId)
    .u16(0)
    .u16(0)
    .finish();
  const out = new WireWriter()
    .bytes(message)
    .name(key.name)
    .u16(RR_TYPE.TSIG)
    .u16(RR_CLASS.ANY)
    .u32(0)
    .u16(rdata.length)
    .bytes(rdata)
    .finish();
  const arcount = ((out[10]! << 8) | out[11]!) + 1;
  out[10] = arcount >>> 8;
  out[11] = arcount & 0xff;
  return { message: out, mac };
}

/**
 * Checks the TSIG of an answer to a request signed with `requestMac`: same key and algorithm, no
 * TSIG error, time within the fudge, MAC valid. A server that could not verify the request
 * answers with a TSIG error (BADSIG, BADKEY, BADTIME): ERR_DNS_UPDATE_REFUSED. A missing or
 * wrong signature on the answer: ERR_DNS_RESPONSE_INVALID.
 */
export async function verifyResponseTsig(
  response: Uint8Array,
  parsed: ParsedMessage,
  key: TsigKey,
  options: { requestMac: Uint8Array; now: number; crypto: Crypto },
): Promise<void> {
  const t = parsed.tsig;
  if (!t) {
    if (parsed.rcode !== 0)
      throw dnsError('ERR_DNS_UPDATE_REFUSED', `the DNS server refused the update: ${rcodeName(parsed.rcode)} (unsigned answer)`, {
        details: { rcode: rcodeName(parsed.rcode) },
      });
    throw dnsError('ERR_DNS_RESPONSE_INVALID', 'the answer to a TSIG-signed update is not signed');
  }
  if (t.error !== 0)
    throw dnsError('ERR_DNS_UPDATE_REFUSED', `the DNS server refused the update's signature: ${rcodeName(t.error)} (key ${key.name})`, {
      details: { rcode: rcodeName(parsed.rcode), tsigError: rcodeName(t.error) },
    });
  if (t.name !== key.name || t.algorithm !== TSIG_ALGORITHMS[key.algorithm].wireName)
    throw dnsError('ERR_DNS_RESPONSE_INVALID', `the answer is signed with another key (${t.name}, ${t.algorithm})`);
  if (t.mac.length !== TSIG_ALGORITHMS[key.algorithm].macLength)
    throw dnsError('ERR_DNS_RESPONSE_INVALID', `the answer's MAC is ${t.mac.length} bytes (truncated MACs are not accepted)`);
  const head = response.slice(0, t.offset);
  head[0] = t.originalId >>> 8;
  head[1] = t.originalId & 0xff;
  const arcount = ((head[10]! << 8) | head[11]!) - 1;
  head[10] = arcount >>> 8;
  head[11] = arcount & 0xff;
  const data = new WireWriter()
    .bytes(prefixedMac(options.requestMac))
    .bytes(head)
    .bytes(variables(key, t.timeSigned, t.fudge, t.error, t.otherData))
    .finish();
  const ok = await options.crypto.subtle.verify('HMAC', key.key, copyBytes(t.mac), copyBytes(data));
  if (!ok) throw dnsError('ERR_DNS_RESPONSE_INVALID', "the answer's TSIG signature does not verify");
  if (Math.abs(options.now - t.timeSigned) > t.fudge)
    throw dnsError('ERR_DNS_RESPONSE_INVALID', `the answer was signed at ${t.timeSigned}, more than ${t.fudge} s from now (${options.now})`);
}

/** Checks the MAC of a signed request (what a server does): used to test against messages other tools signed. */
export async function verifyRequestTsig(message: Uint8Array, parsed: ParsedMessage, key: TsigKey, crypto: Crypto): Promise<boolean> {
  const t = parsed.tsig;
  if (!t) return false;
  const head = message.slice(0, t.offset);
  head[0] = t.originalId >>> 8;
  head[1] = t.originalId & 0xff;
  const arcount = ((head[10]! << 8) | head[11]!) - 1;
  head[10] = arcount >>> 8;
  head[11] = arcount & 0xff;
  const data = new WireWriter().bytes(head).bytes(variables(key, t.timeSigned, t.fudge, t.error, t.otherData)).finish();
  return crypto.subtle.verify('HMAC', key.key, copyBytes(t.mac), copyBytes(data));
}
