/** DKIM signing (RFC 6376 §5, RFC 8301, RFC 8463): over bytes, over a stream, several signers at once. */
import { MailPkiError } from '../errors.js';
import { toBase64, toBytes } from '../internal/bytes.js';
import { systemClock, type Clock } from '../internal/clock.js';
import { resolveCrypto } from '../internal/crypto.js';
import { bindSigningKey, schemeOfKey } from '../keys/algorithms.js';
import {
  bodyCanonicalizer,
  signedHeaderData,
  type BodyCanonicalizer,
  type Canonicalization,
  type CanonicalizationAlgorithm,
} from './canonicalization/index.js';
import { asciiLower } from './canonicalization/text.js';
import { foldSignatureValue, formatUnsignedField, isDomainName } from './header.js';
import { findHeaderEnd, lastLineStart, parseHeaderBlock, splitMessage, type RawHeaderField } from './message.js';
import { createSha256, type Sha256Hash } from '../internal/sha.js';

/** Header fields signed by default, in this order (RFC 6376 §5.4.1's list, trimmed to what mail carries). */
export const DEFAULT_SIGNED_HEADERS: readonly string[] = Object.freeze([
  'From',
  'Sender',
  'Reply-To',
  'Subject',
  'Date',
  'Message-ID',
  'To',
  'Cc',
  'In-Reply-To',
  'References',
  'MIME-Version',
  'Content-Type',
  'Content-Transfer-Encoding',
  'List-Id',
  'List-Unsubscribe',
  'List-Unsubscribe-Post',
]);

const CANONICALIZATIONS: readonly Canonicalization[] = ['relaxed/relaxed', 'simple/simple', 'relaxed/simple', 'simple/relaxed'];

export interface DkimSignOptions {
  /** d=: the signing domain. */
  domain: string;
  /** s=: the selector whose key record holds the public key. */
  selector: string;
  /** An RSA (RSASSA-PKCS1-v1_5) or Ed25519 private key. */
  privateKey: CryptoKey;
  /** a=; default from the key: rsa-sha256 or ed25519-sha256. */
  algorithm?: 'rsa-sha256' | 'ed25519-sha256';
  /** c=; default 'relaxed/relaxed'. */
  canonicalization?: Canonicalization;
  /** Header fields to sign; default {@link DEFAULT_SIGNED_HEADERS}. From is always signed. */
  headers?: readonly string[];
  /**
   * Default true: each listed name is signed once more than it occurs (absent ones once), so a
   * field added in transit breaks the signature. From is always over-signed.
   */
  overSign?: boolean;
  /** x=: an absolute expiry, or seconds of validity after t=. */
  expires?: Date | number;
  /** t=: a Date or seconds since the epoch; default the clock; false leaves t= out. */
  timestamp?: Date | number | false;
  /** i=: the agent or user identity, `local@domain` with domain d= or below. */
  identity?: string;
  /** true writes l= (the canonical body length). Default false: l= lets anyone append to the body. */
  bodyLength?: boolean;
  clock?: Clock;
  crypto?: Crypto;
}

interface Prepared {
  domain: string;
  selector: string;
  algorithm: 'rsa-sha256' | 'ed25519-sha256';
  hc: CanonicalizationAlgorithm;
  bc: CanonicalizationAlgorithm;
  canonicalization: Canonicalization;
  /** Lower-cased, From first when it was not listed. */
  names: readonly string[];
  overSign: boolean;
  timestamp?: number;
  expiration?: number;
  identity?: string;
  bodyLength: boolean;
  crypto: Crypto;
  key: CryptoKey;
}

function invalid(field: string, message: string): MailPkiError {
  return new MailPkiError('ERR_INVALID_INPUT', `${field}: ${message}`, { details: { field } });
}

function seconds(d: Date | number, field: string): number {
  const s = d instanceof Date ? Math.floor(d.getTime() / 1000) : d;
  if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) throw invalid(field, 'must be a Date or whole seconds ≥ 0');
  return s;
}

/** Lower-cased checked lists of frozen arrays (the default list): checked once, not per message. */
const frozenNames = new WeakMap<readonly string[], readonly string[]>();

/** The header names to sign, checked and lower-cased, with From first when the caller left it out. */
function signedNames(names: readonly string[]): readonly string[] {
  const hit = frozenNames.get(names);
  if (hit) return hit;
  if (!Array.isArray(names) || names.some((n) => typeof n !== 'string' || !/^[\x21-\x39\x3b-\x7e]+$/.test(n)))
    throw invalid('headers', 'must be a list of header field names');
  // Each name once, in order: over-signing counts come from the message, not from repeats here.
  const lower = [...new Set(names.map(asciiLower))];
  if (!lower.includes('from')) lower.unshift('from');
  // A frozen array cannot change under us, so its checked form can be kept.
  if (Object.isFrozen(names)) frozenNames.set(names, Object.freeze(lower));
  return lower;
}

/** Validates options before any crypto runs (a caller mistake is reported, not signed). */
function prepare(options: DkimSignOptions): Prepared {
  if (typeof options !== 'object' || options === null) throw new MailPkiError('ERR_INVALID_INPUT', 'signDkim: options are required', { details: { field: 'options' } });
  const { domain, selector, privateKey } = options;
  if (typeof domain !== 'string' || !isDomainName(domain) || !domain.includes('.')) throw invalid('domain', 'not a domain name');
  if (typeof selector !== 'string' || !isDomainName(selector)) throw invalid('selector', 'not a valid selector');
  if (typeof privateKey !== 'object' || privateKey === null || (privateKey as CryptoKey).type !== 'private')
    throw invalid('privateKey', 'must be a private CryptoKey');
  const scheme = schemeOfKey(privateKey);
  const keyAlg = scheme === 'ed25519' ? 'ed25519-sha256' : scheme === 'rsa-pkcs1' || scheme === 'rsa-pss' ? 'rsa-sha256' : undefined;
  if (!keyAlg) throw new MailPkiError('ERR_KEY_UNSUPPORTED', 'DKIM signs with RSA or Ed25519 keys only');
  const algorithm = options.algorithm ?? keyAlg;
  if (algorithm !== keyAlg) throw invalid('algorithm', `a ${privateKey.algorithm.name} key signs ${keyAlg}, not ${String(algorithm)}`);
  const canonicalization = options.canonicalization ?? 'relaxed/relaxed';
  if (!CANONICALIZATIONS.includes(canonicalization)) throw invalid('canonicalization', `use one of ${CANONICALIZATIONS.join(', ')}`);
  const [hc, bc] = canonicalization.split('/') as [CanonicalizationAlgorithm, CanonicalizationAlgorithm];
  const names = signedNames(options.headers ?? DEFAULT_SIGNED_HEADERS);
  const clock = options.clock ?? systemClock;
  if (typeof clock !== 'function') throw invalid('clock', 'must be a function returning a Date');
  const timestamp =
    options.timestamp === false ? undefined : seconds(options.timestamp ?? clock(), 'timestamp');
  let expiration: number | undefined;
  if (options.expires !== undefined) {
    if (options.expires instanceof Date) expiration = seconds(options.expires, 'expires');
    else {
      if (typeof options.expires !== 'number' || !Number.isSafeInteger(options.expires) || options.expires <= 0)
        throw invalid('expires', 'must be a Date or a positive number of seconds');
      expiration = (timestamp ?? seconds(clock(), 'timestamp')) + options.expires;
    }
    if (timestamp !== undefined && expiration <= timestamp) throw invalid('expires', 'must be after the signing time');
  }
  const identity = options.identity;
  if (identity !== undefined) {
    const at = typeof identity === 'string' ? identity.lastIndexOf('@') : -1;
    const idDomain = at < 0 ? '' : identity.slice(at + 1).toLowerCase();
    const d = domain.toLowerCase();
    if (at < 0 || /[\s;]/.test(identity) || (idDomain !== d && !idDomain.endsWith(`.${d}`)))
      throw invalid('identity', 'must be local@domain with the domain equal to or below d=');
    // i= is dkim-quoted-printable (RFC 6376 §2.11, §3.5): written as-is here, so printable ASCII only.
    if (!/^[\x21-\x3a\x3c\x3e-\x7e]+$/.test(identity)) throw invalid('identity', 'must be printable ASCII without "=" or ";"');
  }
  return {
    domain: domain.toLowerCase(),
    selector: selector.toLowerCase(),
    algorithm,
    hc,
    bc,
    canonicalization,
    names,
    overSign: options.overSign ?? true,
    ...(timestamp !== undefined ? { timestamp } : {}),
    ...(expiration !== undefined ? { expiration } : {}),
    ...(identity !== undefined ? { identity } : {}),
    bodyLength: options.bodyLength === true,
    crypto: resolveCrypto(options.crypto),
    key: privateKey,
  };
}

/** h=: the names to sign (each once in p.names), with over-signing; From first and always over-signed. */
function selectHeaders(p: Prepared, headers: readonly RawHeaderField[]): string[] {
  const counts = new Map<string, number>();
  for (const h of headers) counts.set(h.key, (counts.get(h.key) ?? 0) + 1);
  if (!counts.has('from')) throw new MailPkiError('ERR_MIME_MALFORMED', 'the message has no From header field; DKIM must sign it (RFC 6376 §5.4)');
  const out: string[] = [];
  for (const name of p.names) {
    const n = counts.get(name) ?? 0;
    const times = p.overSign || name === 'from' ? n + 1 : n;
    for (let i = 0; i < times; i++) out.push(name);
  }
  return out;
}

async function signatureField(p: Prepared, headers: readonly RawHeaderField[], bodyHash: Uint8Array, bodyLength: number): Promise<string> {
  const h = selectHeaders(p, headers);
  const unsigned = formatUnsignedField({
    algorithm: p.algorithm,
    canonicalization: p.canonicalization,
    domain: p.domain,
    selector: p.selector,
    timestamp: p.timestamp,
    expiration: p.expiration,
    identity: p.identity,
    bodyLength: p.bodyLength ? bodyLength : undefined,
    headers: h,
    bodyHash: toBase64(bodyHash),
  });
  const data = signedHeaderData(p.hc, headers, h, unsigned);
  let sig: ArrayBuffer;
  if (p.algorithm === 'ed25519-sha256') {
    // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the header data.
    sig = await p.crypto.subtle.sign({ name: 'Ed25519' }, p.key, createSha256().update(data).digest());
  } else {
    const key = await bindSigningKey(p.crypto, p.key, { scheme: 'rsa-pkcs1', hash: 'SHA-256' });
    sig = await p.crypto.subtle.sign({ name: 'RSASSA-PKCS1-v1_5' }, key, data);
  }
  return unsigned + foldSignatureValue(toBase64(new Uint8Array(sig)));
}

/** Canonicalises and hashes a body as it streams; `length` counts the canonical bytes. */
class BodyHasher {
  readonly sha: Sha256Hash = createSha256();
  length = 0;
  readonly canon: BodyCanonicalizer;
  constructor(alg: CanonicalizationAlgorithm) {
    this.canon = bodyCanonicalizer(alg, (b) => {
      this.length += b.length;
      this.sha.update(b);
    });
  }
}

/** Strings up to this many UTF-16 units are encoded into the shared scratch below. */
const SCRATCH_MAX = 64 * 1024;
let scratch = new Uint8Array(0);

/**
 * The UTF-8 of a string chunk in a buffer that the next call reuses: for update(), which reads
 * its chunk before it returns and keeps nothing of it (headers become strings, a partial header
 * block is copied), so no buffer is allocated per message. update() zeroes it when done.
 */
function encodeTransient(text: string): Uint8Array {
  if (text.length > SCRATCH_MAX) return toBytes(text);
  if (scratch.length < text.length * 3) scratch = new Uint8Array(Math.max(text.length * 3, 16 * 1024));
  return scratch.subarray(0, utf8Encoder.encodeInto(text, scratch).written);
}
const utf8Encoder = new TextEncoder();

/** A streaming DKIM signer: feed the message in chunks split anywhere, get the field at the end. */
export interface DkimSigner {
  update(chunk: Uint8Array | string): void;
  /** The DKIM-Signature field (folded, no final CRLF). */
  finish(): Promise<string>;
}

/**
 * Signs a message fed in chunks: the header block is buffered, the body is canonicalised and
 * hashed as it arrives, so the body is never held whole.
 *
 * @example
 * const signer = createDkimSigner({ domain: 'example.com', selector: 's1', privateKey });
 * for await (const chunk of stream) signer.update(chunk);
 * const field = await signer.finish(); // prepend `${field}\r\n` to the message
 */
export function createDkimSigner(options: DkimSignOptions): DkimSigner {
  const p = prepare(options);
  const body = new BodyHasher(p.bc);
  let head = new Uint8Array(0);
  let headLen = 0;
  let headers: RawHeaderField[] | undefined;
  let done = false;
  const grow = (chunk: Uint8Array): void => {
    if (headLen + chunk.length > head.length) {
      const next = new Uint8Array(Math.max(head.length * 2, headLen + chunk.length, 1024));
      next.set(head.subarray(0, headLen));
      head = next;
    }
    head.set(chunk, headLen);
    headLen += chunk.length;
  };
  const feed = (chunk: Uint8Array): void => {
    if (headers) {
      body.canon.update(chunk);
      return;
    }
    if (headLen === 0) {
      const end = findHeaderEnd(chunk);
      if (end >= 0) {
        headers = parseHeaderBlock(chunk.subarray(0, end));
        body.canon.update(chunk.subarray(end));
        return;
      }
    }
    const from = lastLineStart(head.subarray(0, headLen));
    grow(chunk);
    const end = findHeaderEnd(head.subarray(0, headLen), from);
    if (end >= 0) {
      headers = parseHeaderBlock(head.subarray(0, end));
      body.canon.update(head.subarray(end, headLen));
      head = new Uint8Array(0);
    }
  };
  return {
    update(input) {
      if (done) throw new MailPkiError('ERR_INVALID_INPUT', 'update() after finish()');
      if (typeof input !== 'string') return feed(toBytes(input));
      const chunk = encodeTransient(input);
      try {
        feed(chunk);
      } finally {
        // The message is not left behind in the shared buffer.
        chunk.fill(0);
      }
    },
    async finish() {
      if (done) throw new MailPkiError('ERR_INVALID_INPUT', 'finish() called twice');
      done = true;
      headers ??= parseHeaderBlock(head.subarray(0, headLen));
      body.canon.finish();
      return signatureField(p, headers, body.sha.digest(), body.length);
    },
  };
}

/**
 * The DKIM-Signature field for a message (folded, without the final CRLF): prepend it with a
 * CRLF to the message to send it signed.
 *
 * @example
 * const field = await signDkim(message, { domain: 'example.com', selector: 's1', privateKey });
 */
export async function signDkim(message: Uint8Array | string, options: DkimSignOptions): Promise<string> {
  if (typeof message !== 'string' && !(message instanceof Uint8Array)) throw new MailPkiError('ERR_INVALID_INPUT', 'signDkim: message must be bytes or a string', { details: { field: 'message' } });
  const signer = createDkimSigner(options);
  signer.update(message);
  return signer.finish();
}

/**
 * The message with one DKIM-Signature per signer prepended (the first signer's on top), e.g. RSA
 * and Ed25519 side by side. The body is canonicalised once per canonicalisation in use.
 */
export async function signDkimMessage(message: string, signers: readonly DkimSignOptions[]): Promise<string>;
export async function signDkimMessage(message: Uint8Array, signers: readonly DkimSignOptions[]): Promise<Uint8Array>;
export async function signDkimMessage(message: Uint8Array | string, signers: readonly DkimSignOptions[]): Promise<Uint8Array | string> {
  if (typeof message !== 'string' && !(message instanceof Uint8Array)) throw new MailPkiError('ERR_INVALID_INPUT', 'signDkimMessage: message must be bytes or a string', { details: { field: 'message' } });
  if (!Array.isArray(signers) || signers.length === 0) throw invalid('signers', 'give at least one signer');
  const prepared = signers.map(prepare);
  const bytes = toBytes(message);
  const split = splitMessage(bytes);
  const hashes = new Map<CanonicalizationAlgorithm, BodyHasher>();
  for (const p of prepared) {
    if (hashes.has(p.bc)) continue;
    const h = new BodyHasher(p.bc);
    h.canon.update(bytes.subarray(split.bodyStart));
    h.canon.finish();
    hashes.set(p.bc, h);
  }
  const digests = new Map([...hashes].map(([k, h]) => [k, { digest: h.sha.digest(), length: h.length }]));
  const fields = await Promise.all(
    prepared.map((p) => {
      const d = digests.get(p.bc)!;
      return signatureField(p, split.headers, d.digest, d.length);
    }),
  );
  const eol = split.bareLf ? '\n' : '\r\n';
  const prefix = fields.map((f) => (split.bareLf ? f.replace(/\r\n/g, '\n') : f) + eol).join('');
  if (typeof message === 'string') return prefix + message;
  const head = toBytes(prefix);
  const out = new Uint8Array(head.length + bytes.length);
  out.set(head);
  out.set(bytes, head.length);
  return out;
}
