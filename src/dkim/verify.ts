/** DKIM verification (RFC 6376 §6, RFC 8301, RFC 8463): every signature, each with a result. */
import { toBytes } from '../internal/bytes.js';
import { systemClock, type Clock } from '../internal/clock.js';
import { resolveCrypto } from '../internal/crypto.js';
import { hashSync } from '../internal/sha.js';
import { MailPkiError } from '../errors.js';
import { readAuthor, type AuthorProblem } from '../mime/author.js';
import { isHeaderFieldLine } from '../mime/canonical.js';
import { bodyCanonicalizer, limitSink, signedHeaderData, type CanonicalizationAlgorithm } from './canonicalization/index.js';
import { binaryToBytes } from './canonicalization/text.js';
import { parseDkimSignature, withoutSignatureValue } from './header.js';
import { recordEntry, recordVerifyKey, type RecordEntry } from './key.js';
import { countSingleInstanceFields, fieldDisplayName, findUnsignedInstances, findUnsignedShownFields, type UnsignedInstance } from './instances.js';
import { splitMessage, type RawHeaderField } from './message.js';
import { isNotFound, systemDnsResolver, type DkimResolver } from './resolver.js';
import { domainsAlign, type DkimResult, type DkimResultWord, type DkimVerification } from './results.js';
import { createSha256 } from '../internal/sha.js';

export interface DkimPolicy {
  /** RSA keys below this many bits give `policy` (RFC 8301: never below 1024). Default 1024. */
  minRsaBits?: number;
  /** RSA keys below this pass but are flagged `weakKey`. Default 2048. */
  weakRsaBits?: number;
  /** A signature whose h= lacks From gives `policy` (RFC 6376 §5.4 requires it). Default true. */
  requireFromSigned?: boolean;
  /**
   * Accept a signature whose l= leaves a tail of the body unsigned (anyone can append there:
   * "UPDATE: pay … instead"). Default false: such a signature is `policy`. Either way the result
   * says where the tail starts (`unsignedTail`).
   */
  acceptUnsignedBodyTail?: boolean;
  /**
   * With `acceptUnsignedBodyTail`, the largest share of the canonical body that may lie beyond l=,
   * 0–1. More gives `policy`. Default: any.
   */
  maxBodyLengthFraction?: number;
  /**
   * A message whose From field is missing, repeated, malformed, ambiguous or names several authors
   * (see readAuthor in mailpki/mime) gives `policy` instead of `pass`: there is no author to align
   * with, and readers may show one the signer did not sign. Default true. When false such a
   * signature can pass, never aligned.
   */
  requireWellFormedFrom?: boolean;
  /**
   * A verified signature that signs a single-instance field (RFC 5322 §3.6: Subject, To, Date, ...;
   * see SINGLE_INSTANCE_FIELDS) fewer times than the message carries it gives `policy`: the extra
   * instances are unsigned (a signer that does not over-sign, then a second Subject added on top),
   * and a reader may show one of them (RFC 6376 §8.15). Default true. When false such a signature
   * can pass; either way the result lists them in `unsignedInstances`.
   */
  requireSignedInstances?: boolean;
  /** Accept rsa-sha1 (RFC 8301 says no). Default false: `policy`. */
  allowSha1?: boolean;
  /** Signatures beyond this many are not looked up (`policy`), so a message cannot make us send hundreds of queries. Default 10. */
  maxSignatures?: number;
}

export interface DkimVerifyOptions {
  /**
   * Looks up key records. Default: the runtime's DNS (node:dns in Node, Deno and Bun, through
   * {@link systemDnsResolver}); where there is none (browsers, workers) pass one, e.g. dohResolver.
   */
  resolver?: DkimResolver;
  clock?: Clock;
  crypto?: Crypto;
  policy?: DkimPolicy;
}

interface Ctx {
  bytes: Uint8Array;
  bodyStart: number;
  headers: RawHeaderField[];
  fromDomain: string | undefined;
  fromProblems: readonly AuthorProblem[];
  /** How many fields of each single-instance name the message has. */
  singleCounts: ReadonlyMap<string, number>;
  now: number;
  resolver: DkimResolver;
  crypto: Crypto;
  policy: Required<Omit<DkimPolicy, 'maxBodyLengthFraction'>> & { maxBodyLengthFraction?: number };
  bodyHashes: Map<string, { hash: Uint8Array; length: number }>;
  /** The first header line that is no field (1-based, folded lines counted as one), if any. */
  strayLine?: number;
}

/**
 * Verifies every DKIM-Signature on a message. Never throws for what the message contains: each
 * problem is a result. Throws only for caller mistakes (TypeError, ERR_INVALID_INPUT).
 *
 * @example
 * const v = await verifyDkim(message); // keys from the system's DNS
 * const w = await verifyDkim(message, { resolver: dohResolver({ url: 'https://dns.example/dns-query' }) });
 * for (const r of v.results) console.log(r.result, r.domain, r.reason);
 */
export async function verifyDkim(message: Uint8Array | string, options: DkimVerifyOptions = {}): Promise<DkimVerification> {
  if (typeof message !== 'string' && !(message instanceof Uint8Array)) throw new MailPkiError('ERR_INVALID_INPUT', 'verifyDkim: message must be bytes or a string', { details: { field: 'message' } });
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw new MailPkiError('ERR_INVALID_INPUT', 'verifyDkim: options must be an object', { details: { field: 'options' } });
  const resolver = options?.resolver ?? defaultResolver();
  if (typeof resolver !== 'function') throw new MailPkiError('ERR_INVALID_INPUT', 'verifyDkim: options.resolver must be a function', { details: { field: 'resolver' } });
  const p = options.policy ?? {};
  const policy = {
    minRsaBits: p.minRsaBits ?? 1024,
    weakRsaBits: p.weakRsaBits ?? 2048,
    requireFromSigned: p.requireFromSigned ?? true,
    allowSha1: p.allowSha1 ?? false,
    maxSignatures: p.maxSignatures ?? 10,
    acceptUnsignedBodyTail: p.acceptUnsignedBodyTail ?? false,
    requireWellFormedFrom: p.requireWellFormedFrom ?? true,
    requireSignedInstances: p.requireSignedInstances ?? true,
    ...(p.maxBodyLengthFraction !== undefined ? { maxBodyLengthFraction: p.maxBodyLengthFraction } : {}),
  };
  for (const [k, v] of Object.entries(policy))
    if (typeof v === 'number' ? !(v >= 0) : typeof v !== 'boolean')
      throw new MailPkiError('ERR_INVALID_INPUT', `policy.${k}: must be ${typeof v === 'number' ? 'a number ≥ 0' : 'true or false'}`, { details: { field: `policy.${k}` } });
  const now = (options.clock ?? systemClock)().getTime();
  if (!Number.isFinite(now)) throw new MailPkiError('ERR_INVALID_INPUT', 'clock: returned an invalid Date', { details: { field: 'clock' } });
  const bytes = toBytes(message);
  const split = splitMessage(bytes);
  // A header line that is no field ("Pay the new account … instead" added under a replayed signed header): an MTA
  // ends the header there and delivers that line and all after it as the body, which no signature here covers.
  const stray = split.headers.findIndex((h) => !isHeaderFieldLine(h.raw));
  // The same From fields the h= selection sees (name matched with WSP before the colon dropped),
  // read by the one author reader: only a single, well-formed author has a domain to align with.
  const author = readAuthor(split.headers.filter((h) => h.key === 'from').map((h) => binaryToBytes(h.raw)));
  const fromDomain = author.author?.domain;
  const ctx: Ctx = {
    bytes,
    bodyStart: split.bodyStart,
    headers: split.headers,
    fromDomain,
    fromProblems: author.problems,
    singleCounts: countSingleInstanceFields(split.headers),
    now,
    resolver,
    crypto: resolveCrypto(options.crypto),
    policy,
    bodyHashes: new Map(),
    ...(stray >= 0 ? { strayLine: stray + 1 } : {}),
  };
  const sigs = split.headers.filter((h) => h.key === 'dkim-signature');
  const results = await Promise.all(sigs.map((h, i) => verifyOne(ctx, h, i)));
  const result: DkimVerification['result'] =
    results.length === 0 ? 'none' : results.some((r) => r.result === 'pass') ? 'pass' : results[0]!.result;
  return {
    result,
    results,
    ...(author.author ? { from: author.author.address, fromDomain: author.author.domain } : {}),
    ...(author.problems.length ? { fromProblems: author.problems } : {}),
  };
}

let systemResolver: DkimResolver | undefined;

/** The system DNS resolver, made once; a coded error where the runtime has no DNS client. */
function defaultResolver(): DkimResolver {
  systemResolver ??= systemDnsResolver();
  if (!systemResolver)
    throw new MailPkiError('ERR_UNSUPPORTED_RUNTIME', 'this runtime has no DNS client: pass options.resolver (e.g. dohResolver({ url }))', {
      details: { field: 'resolver' },
    });
  return systemResolver;
}

async function verifyOne(ctx: Ctx, field: RawHeaderField, index: number): Promise<DkimResult> {
  const colon = field.raw.indexOf(':');
  const value = field.raw.slice(colon + 1);
  const parsed = parseDkimSignature(value);
  if (!parsed.ok) {
    const domain = parsed.domain ?? '';
    return {
      result: 'permerror',
      reason: parsed.reason,
      domain,
      selector: parsed.selector ?? '',
      algorithm: parsed.algorithm ?? '',
      canonicalization: '',
      aligned: domain ? domainsAlign(domain, ctx.fromDomain) : false,
      testing: false,
      headers: [],
    };
  }
  const t = parsed.tags;
  const unsigned = findUnsignedInstances(ctx.singleCounts, t.headers);
  const unsignedFields = findUnsignedShownFields(ctx.singleCounts, t.headers);
  const base: DkimResult = {
    result: 'permerror',
    reason: '',
    domain: t.domain,
    selector: t.selector,
    algorithm: t.algorithm,
    canonicalization: t.canonicalization,
    // Alignment with a From the signature does not cover would let anyone change the author.
    aligned: t.headers.includes('from') && domainsAlign(t.domain, ctx.fromDomain),
    testing: false,
    headers: t.headers,
    signature: t.signatureBase64,
    ...(t.identity !== undefined ? { identity: t.identity } : {}),
    ...(t.bodyLength !== undefined ? { bodyLength: t.bodyLength } : {}),
    ...(t.timestamp !== undefined ? { signedAt: new Date(t.timestamp * 1000) } : {}),
    ...(t.expiration !== undefined ? { expiresAt: new Date(t.expiration * 1000) } : {}),
    ...(unsigned.length ? { unsignedInstances: unsigned } : {}),
    ...(unsignedFields.length ? { unsignedFields } : {}),
  };
  const done = (result: DkimResultWord, reason: string, extra: Partial<DkimResult> = {}): DkimResult => ({ ...base, ...extra, result, reason });

  // Refusals that need no DNS.
  if (ctx.strayLine !== undefined)
    return done('permerror', `header line ${ctx.strayLine} (folded lines counted as one) is not a header field (no name and colon within its first 998 octets, or a NUL in it): a mail system ends the header before it and delivers the rest as the body`);
  if (index >= ctx.policy.maxSignatures) return done('policy', `more than ${ctx.policy.maxSignatures} signatures; not checked`);
  if (t.algorithm === 'rsa-sha1' && !ctx.policy.allowSha1) return done('policy', 'rsa-sha1 is not accepted (RFC 8301)');
  if (ctx.policy.requireFromSigned && !t.headers.includes('from')) return done('policy', 'From is not signed');
  if (t.expiration !== undefined && t.expiration * 1000 < ctx.now) return done('policy', 'signature expired (x=)');

  // The key.
  const name = `${t.selector}._domainkey.${t.domain}`;
  let answers: readonly (readonly string[] | string)[];
  try {
    answers = await ctx.resolver(name);
    if (!Array.isArray(answers)) throw new MailPkiError('ERR_INVALID_INPUT', 'resolver returned no list', { details: { field: 'resolver' } });
  } catch (e) {
    if (isNotFound(e)) return done('permerror', `no key for selector (${name})`);
    return done('temperror', `key lookup failed: ${(e as Error)?.message ?? String(e)}`);
  }
  if (answers.length === 0) return done('permerror', `no key for selector (${name})`);
  let entry: RecordEntry | undefined;
  let recordError = '';
  for (const a of answers) {
    const txt = typeof a === 'string' ? a : Array.isArray(a) ? a.join('') : '';
    const e = recordEntry(txt);
    if (e.record) {
      entry = e;
      break;
    }
    recordError ||= e.recordError!;
  }
  if (!entry) return done('permerror', `key record: ${recordError}`);
  const record = entry.record!;
  const testing = record.testing;
  const fail = (result: DkimResultWord, reason: string, extra: Partial<DkimResult> = {}): DkimResult => done(result, reason, { testing, ...extra });
  if (record.publicKey === null) return fail('permerror', 'key revoked (empty p=)');
  const wantType = t.algorithm === 'ed25519-sha256' ? 'ed25519' : 'rsa';
  if (record.keyType !== wantType) return fail('permerror', `key type k=${record.keyType} does not match a=${t.algorithm}`);
  const hashName = t.algorithm === 'rsa-sha1' ? 'sha1' : 'sha256';
  if (record.hashAlgorithms && !record.hashAlgorithms.includes(hashName)) return fail('permerror', `key record h= does not allow ${hashName}`);
  if (!record.serviceTypes.includes('*') && !record.serviceTypes.includes('email')) return fail('permerror', 'key record s= excludes email');
  if (record.strict && t.identity !== undefined && t.identity.slice(t.identity.lastIndexOf('@') + 1).toLowerCase() !== t.domain)
    return fail('permerror', 'key record t=s forbids an i= subdomain');
  const info = entry.info;
  if (!info) return fail('permerror', `key syntax: ${entry.infoError}`);
  const keyBits = info.bits;
  if (info.kind === 'rsa' && keyBits < ctx.policy.minRsaBits)
    return fail('policy', `RSA key of ${keyBits} bits is below the minimum of ${ctx.policy.minRsaBits}`, { keyBits });
  const weakKey = info.kind === 'rsa' && keyBits < ctx.policy.weakRsaBits;
  const keyExtra = { keyBits, ...(weakKey ? { weakKey } : {}) };

  // The signature over the header fields is started first: it runs in the WebCrypto worker
  // while the body hash is computed here. The body hash is still judged first (RFC 6376 §6.1.3).
  const data = signedHeaderData(t.headerCanonicalization, ctx.headers, t.headers, withoutSignatureValue(field.raw, colon + 1, t.tags));
  const signatureCheck = checkSignature(ctx.crypto, entry, hashName === 'sha1' ? 'SHA-1' : 'SHA-256', t.signature, data);

  const body = bodyHash(ctx, t.bodyCanonicalization, hashName, t.bodyLength);
  if (t.bodyLength !== undefined && t.bodyLength > body.length) return fail('permerror', 'l= is longer than the body', keyExtra);
  if (!equal(body.hash, t.bodyHash)) return fail('fail', 'body hash did not verify', keyExtra);

  const checked = await signatureCheck;
  if ('error' in checked) return fail('permerror', `key unusable: ${checked.error}`, keyExtra);
  if (!checked.ok) return fail('fail', 'signature did not verify', keyExtra);

  // l= shorter than the body: what follows it is not signed, and is shown as part of the message.
  let tail: Partial<DkimResult> = {};
  if (t.bodyLength !== undefined && t.bodyLength < body.length) {
    const unsigned = body.length - t.bodyLength;
    tail = { unsignedTail: { offset: t.bodyLength, length: unsigned } };
    const max = ctx.policy.maxBodyLengthFraction;
    if (!ctx.policy.acceptUnsignedBodyTail || (max !== undefined && unsigned / body.length > max))
      return fail('policy', `l= leaves ${unsigned} of ${body.length} body bytes unsigned`, { ...keyExtra, ...tail });
  }
  if (ctx.policy.requireWellFormedFrom && ctx.fromProblems.length > 0) {
    const p = ctx.fromProblems[0]!;
    return fail('policy', `signature verified, but there is no single well-formed From to align with (${p.code}: ${p.message})`, { ...keyExtra, ...tail });
  }
  if (ctx.policy.requireSignedInstances && unsigned.length > 0)
    return fail(
      'policy',
      `signature verified, but not every instance of a signed field is signed (unsigned-header-instance: ${describeUnsigned(unsigned)}; a reader may show one nobody signed)`,
      { ...keyExtra, ...tail },
    );
  const notes = [
    weakKey ? `weak ${keyBits}-bit RSA key` : '',
    unsigned.length ? `unsigned header instances: ${describeUnsigned(unsigned)}` : '',
    tail.unsignedTail ? `l= signs ${t.bodyLength} of ${body.length} body bytes; unsigned from canonical body offset ${t.bodyLength}` : '',
  ]
    .filter(Boolean)
    .join('; ');
  return fail('pass', notes ? `signature verified; ${notes}` : 'signature verified', { ...keyExtra, ...tail });
}

/**
 * Verifies `signature` over the canonical header data. Dispatched to WebCrypto before this
 * returns when the record's key was imported before; never rejects (the outcome is the value).
 */
function checkSignature(
  crypto: Crypto,
  entry: RecordEntry,
  hash: 'SHA-256' | 'SHA-1',
  signature: Uint8Array,
  data: Uint8Array<ArrayBuffer>,
): Promise<{ ok: boolean } | { error: string }> {
  const info = entry.info!;
  const run = (key: CryptoKey): Promise<boolean> =>
    info.kind === 'ed25519'
      ? // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the header data.
        crypto.subtle.verify({ name: 'Ed25519' }, key, signature as Uint8Array<ArrayBuffer>, createSha256().update(data).digest())
      : crypto.subtle.verify({ name: 'RSASSA-PKCS1-v1_5' }, key, signature as Uint8Array<ArrayBuffer>, data);
  let pending: Promise<boolean>;
  try {
    const key = recordVerifyKey(crypto, entry, hash);
    pending = 'then' in key ? key.then(run) : run(key);
  } catch (e) {
    pending = Promise.reject(e);
  }
  return pending.then(
    (ok) => ({ ok }),
    (e: unknown) => ({ error: (e as Error)?.message ?? String(e) }),
  );
}

/** The body hash for a canonicalisation, hash and l=, computed once per message. */
function bodyHash(ctx: Ctx, alg: CanonicalizationAlgorithm, hash: 'sha1' | 'sha256', limit: number | undefined): { hash: Uint8Array; length: number } {
  const key = `${alg}/${hash}/${limit ?? ''}`;
  const hit = ctx.bodyHashes.get(key);
  if (hit) return hit;
  let out: { hash: Uint8Array; length: number };
  if (hash === 'sha256') {
    const sha = createSha256();
    const sink = limitSink((b) => sha.update(b), limit);
    const c = bodyCanonicalizer(alg, sink);
    c.update(ctx.bytes.subarray(ctx.bodyStart));
    c.finish();
    out = { hash: sha.digest(), length: sink.seen() };
  } else {
    const parts: Uint8Array[] = [];
    const sink = limitSink((b) => parts.push(b.slice()), limit);
    const c = bodyCanonicalizer(alg, sink);
    c.update(ctx.bytes.subarray(ctx.bodyStart));
    c.finish();
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    out = { hash: hashSync('SHA-1', all), length: sink.seen() };
  }
  ctx.bodyHashes.set(key, out);
  return out;
}

/** "the message has 2 Subject fields and h= signs 1", joined with "; " for several names. */
function describeUnsigned(list: readonly UnsignedInstance[]): string {
  return list.map((u) => `the message has ${u.present} ${fieldDisplayName(u.field)} fields and h= signs ${u.signed}`).join('; ');
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
