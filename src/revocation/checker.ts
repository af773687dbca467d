/**
 * The revocation checker: for each certificate of a built chain, OCSP (from AIA) and/or CRL
 * (from the distribution point) in the order the caller says, with validated answers cached
 * until their nextUpdate, timeouts, size caps and bounded concurrency. Outcomes are data; the
 * caller's fail policy (`off`, `soft-fail`, `hard-fail`) decides what an unanswered check means.
 */
import type { Certificate } from '../certs/certificate.js';
import { formatName } from '../certs/name.js';
import { MailPkiError } from '../errors.js';
import { concatBytes, toBase64, toHex } from '../internal/bytes.js';
import { systemClock, type Clock } from '../internal/clock.js';
import { resolveCrypto } from '../internal/crypto.js';
import { sha256 } from '../internal/sha.js';
import type { RevocationReason } from '../ca/types.js';
import { parseCrl, type Crl } from './crl-parse.js';
import { checkCertificateWithCrls, parseCrlInputs, type CrlInput, type CrlStatus } from './crl-path.js';
import { httpFetchBytes, Semaphore, type FetchLike } from './fetch.js';
import { createOcspRequest } from './ocsp-request.js';
import { validateOcspResponse } from './ocsp-validate.js';
import { MAX_OCSP_RESPONSE_BYTES } from './ocsp-common.js';
import { MAX_CRL_BYTES } from './crl-parse.js';

export type RevocationPolicy = 'off' | 'soft-fail' | 'hard-fail';

/**
 * OCSP responders, and CRL distribution points, asked for one certificate at most (distinct http(s) URLs, in the
 * certificate's order): any CA the caller trusts writes what it likes there, and each is a request with its own timeout.
 */
export const MAX_CERTIFICATE_URLS_PER_METHOD = 4;
/** Fetched CRLs held (parsed, until their nextUpdate) at most; the oldest is let go first. */
export const MAX_HELD_CRLS = 32;
/** Highest cRLNumbers remembered (per URL and issuer) at most; the oldest is forgotten first. */
export const MAX_CRL_NUMBERS = 10_000;

/** The `url` of an answer that came from a CRL the caller gave (`crls`), not from the network. */
export const SUPPLIED_CRL = 'given CRL';
export type RevocationMethod = 'ocsp' | 'crl';

/** A validated answer about one certificate, as cached. */
export interface RevocationAnswer {
  status: 'good' | 'revoked' | 'unknown';
  method: RevocationMethod;
  url: string;
  revokedAt?: string;
  reason?: RevocationReason;
  thisUpdate?: string;
  nextUpdate?: string;
  producedAt?: string;
  /** OCSP: the signed response as received (DER, base64), so an auditor can re-check its signature later. */
  ocspResponse?: string;
  /** CRL: the cRLNumber of the CRL that answered (decimal), and of the delta CRL when one was used. */
  crlNumber?: string;
  deltaCrlNumber?: string;
}

export interface RevocationResult {
  serialNumber: string;
  subject: string;
  /** `unchecked`: no answer could be had (see `error`), or the certificate publishes no source. */
  status: 'good' | 'revoked' | 'unknown' | 'unchecked';
  /** Where the answer came from now: a fresh OCSP or CRL fetch, or the cache. */
  source?: 'ocsp' | 'crl' | 'cache';
  /** The method behind the answer (also for cached ones). */
  method?: RevocationMethod;
  url?: string;
  revokedAt?: string;
  reason?: RevocationReason;
  thisUpdate?: string;
  nextUpdate?: string;
  producedAt?: string;
  /** See RevocationAnswer: the raw OCSP response (base64 DER) behind this result. */
  ocspResponse?: string;
  crlNumber?: string;
  deltaCrlNumber?: string;
  /** Revoked, but after the verification time `at`: the certificate was good when it was used. */
  revokedAfterAt?: boolean;
  /** True when the certificate names no OCSP responder and no CRL: nothing to check. */
  noSources?: boolean;
  /** Why no answer could be had (every attempt's reason). */
  error?: string;
}

/** A cache of validated answers keyed by method, responder URL, the issuer (SHA-256 of its subject name and SPKI, issuerIdentity) and serial. Pluggable (e.g. shared in Redis). */
export interface RevocationCache {
  get(key: string): Promise<(RevocationAnswer & { expiresAt: number }) | undefined> | (RevocationAnswer & { expiresAt: number }) | undefined;
  set(key: string, value: RevocationAnswer & { expiresAt: number }): Promise<void> | void;
}

/** The default cache: in memory, bounded, entries expire at the answer's nextUpdate. */
export class MemoryRevocationCache implements RevocationCache {
  private readonly map = new Map<string, RevocationAnswer & { expiresAt: number }>();
  constructor(
    private readonly maxEntries = 10_000,
    private readonly clock: Clock = systemClock,
  ) {}

  get(key: string): (RevocationAnswer & { expiresAt: number }) | undefined {
    const v = this.map.get(key);
    if (v && v.expiresAt <= this.clock().getTime()) {
      this.map.delete(key);
      return undefined;
    }
    return v;
  }

  set(key: string, value: RevocationAnswer & { expiresAt: number }): void {
    if (this.map.size >= this.maxEntries) this.map.delete(this.map.keys().next().value!);
    this.map.set(key, value);
  }

  get size(): number {
    return this.map.size;
  }
}

export interface RevocationCheckerOptions {
  /** Default: globalThis.fetch. */
  fetch?: FetchLike;
  cache?: RevocationCache;
  /** The current time, for freshness of answers (not the verification time). */
  clock?: Clock;
  crypto?: Crypto;
  /** Which methods, in which order. Default ['ocsp', 'crl']: OCSP first, then CRL. */
  order?: RevocationMethod[];
  /** Per request. Default 5000 ms. */
  timeoutMs?: number;
  maxOcspBytes?: number;
  maxCrlBytes?: number;
  /** Total size (DER) of the fetched CRLs held at once. Default 4 × maxCrlBytes. */
  maxHeldCrlBytes?: number;
  /** Requests in flight at once. Default 4. */
  concurrency?: number;
  clockSkewMs?: number;
  /** Send an OCSP nonce (default false: nonces defeat responder caching, and answers are signed and dated anyway). */
  nonce?: boolean;
  /** How long to cache an answer without nextUpdate. Default 1 hour. */
  defaultTtlMs?: number;
  /**
   * The oldest a `good` (or `unknown`) answer may be — from its thisUpdate, OCSP or CRL, fetched, given or cached —
   * whatever its nextUpdate says. Without a nonce, a "good" signed before a revocation is valid until its nextUpdate
   * (up to days), and whoever is on the path can replay it that long; this bounds the window. Default: none.
   */
  maxAnswerAgeMs?: number;
  /** Accept SHA-1 signed OCSP responses / CRLs. Default false. */
  allowWeakSignatures?: boolean;
  /**
   * OCSP responders to ask for a certificate that names none itself (like `openssl ocsp -url`).
   * A certificate's own AIA responder always comes first.
   */
  ocspUrls?: string[];
  /**
   * CRLs you already hold (DER or PEM), consulted before any CRL distribution point: one that
   * verifies against the certificate's issuer (name, key, signature, freshness) answers without a
   * fetch. Also the way to check a certificate that names no CRL.
   */
  crls?: CrlInput[];
}

export class RevocationChecker {
  private readonly fetch: FetchLike;
  private readonly cache: RevocationCache;
  private readonly clock: Clock;
  private readonly crypto: Crypto;
  private readonly order: RevocationMethod[];
  private readonly timeoutMs: number;
  private readonly maxOcspBytes: number;
  private readonly maxCrlBytes: number;
  private readonly semaphore: Semaphore;
  private readonly inflight = new Map<string, Promise<RevocationAnswer>>();
  /** Highest cRLNumber seen per CRL URL and issuer: an older CRL is a replay and is refused. */
  private readonly crlNumbers = new Map<string, bigint>();
  /** Parsed, verified CRLs by URL and issuer until their nextUpdate (one fetch serves every serial); bounded, see hold(). */
  private readonly crls = new Map<string, { crl: Crl; expiresAt: number }>();
  private heldCrlBytes = 0;
  /** CRL downloads under way, by URL (parsed, not yet verified: each asker verifies against its issuer). */
  private readonly crlLoads = new Map<string, Promise<Crl>>();
  private readonly maxHeldCrlBytes: number;
  /** The caller's own CRLs (options.crls), parsed once. */
  private readonly suppliedCrls: Crl[];
  private readonly fallbackOcspUrls: string[];

  constructor(private readonly options: RevocationCheckerOptions = {}) {
    const f = options.fetch ?? (globalThis.fetch as FetchLike | undefined);
    if (!f) throw new MailPkiError('ERR_UNSUPPORTED_RUNTIME', 'no fetch available: pass one with the `fetch` option');
    this.fetch = f;
    this.clock = options.clock ?? systemClock;
    this.cache = options.cache ?? new MemoryRevocationCache(10_000, this.clock);
    this.crypto = resolveCrypto(options.crypto);
    this.order = options.order ?? ['ocsp', 'crl'];
    if (this.order.length === 0 || this.order.some((m) => m !== 'ocsp' && m !== 'crl'))
      throw new MailPkiError('ERR_INVALID_INPUT', "order: must list 'ocsp' and/or 'crl'", { details: { field: 'order' } });
    this.timeoutMs = options.timeoutMs ?? 5000;
    if (options.maxAnswerAgeMs !== undefined && !(Number.isInteger(options.maxAnswerAgeMs) && options.maxAnswerAgeMs > 0))
      throw new MailPkiError('ERR_INVALID_INPUT', 'maxAnswerAgeMs: must be a positive integer (ms)', { details: { field: 'maxAnswerAgeMs' } });
    this.maxOcspBytes = options.maxOcspBytes ?? MAX_OCSP_RESPONSE_BYTES;
    this.maxCrlBytes = options.maxCrlBytes ?? MAX_CRL_BYTES;
    this.maxHeldCrlBytes = options.maxHeldCrlBytes ?? 4 * this.maxCrlBytes;
    this.semaphore = new Semaphore(options.concurrency ?? 4);
    this.fallbackOcspUrls = (options.ocspUrls ?? []).map((u) => {
      if (typeof u !== 'string' || !/^https?:\/\//i.test(u))
        throw new MailPkiError('ERR_INVALID_INPUT', `ocspUrls: "${String(u)}" is not an http(s) URL`, { details: { field: 'ocspUrls' } });
      return u;
    });
    this.suppliedCrls = parseCrlInputs(options.crls ?? [], 'crls', this.maxCrlBytes);
  }

  /**
   * Status of every certificate of `path` (leaf first, trust anchor last) except the anchor,
   * each checked against its issuer (the next certificate). `at` is the verification time: a
   * revocation after it is reported with `revokedAfterAt`.
   */
  async checkPath(path: readonly Certificate[], at?: Date): Promise<RevocationResult[]> {
    const out: Promise<RevocationResult>[] = [];
    for (let i = 0; i + 1 < path.length; i++) out.push(this.check(path[i]!, path[i + 1]!, at));
    return Promise.all(out);
  }

  /**
   * Status of one certificate. Never throws for network or response problems: see `error`.
   * Sources, in `order`: OCSP at the certificate's responders (else `ocspUrls`); for CRL, the
   * caller's `crls` first, then the certificate's distribution points. None at all: `noSources`.
   */
  async check(certificate: Certificate, issuer: Certificate, at?: Date): Promise<RevocationResult> {
    const base: RevocationResult = { serialNumber: certificate.serialNumber, subject: formatName(certificate.subject), status: 'unchecked' };
    const errors: string[] = [];
    let tried = 0;
    // An OCSP 'unknown' (RFC 6960 §2.2: the responder does not know it) is kept while the next source is asked.
    let unknown: RevocationResult | undefined;
    const settle = (r: RevocationResult): RevocationResult | undefined => (r.status === 'unknown' ? ((unknown ??= r), undefined) : r);
    // An answer that is not 'revoked' counts only while younger than maxAnswerAgeMs (a revocation does not age).
    const use = (a: RevocationAnswer, source: 'ocsp' | 'crl', label: string): RevocationResult | undefined => {
      const old = this.tooOld(a);
      if (old) return (errors.push(`${label}: ${old}`), undefined);
      return settle(finish(base, a, source, at));
    };
    for (const method of this.order) {
      if (method === 'crl' && this.suppliedCrls.length > 0) {
        tried++;
        const answer = await this.askSuppliedCrls(certificate, issuer, errors);
        const r = answer && use(answer, 'crl', 'crl (given)');
        if (r) return r;
      }
      const named = [...new Set((method === 'ocsp' ? certificate.ocspUrls : certificate.crlDistributionPoints).filter((u) => /^https?:\/\//i.test(u)))];
      const own = named.slice(0, MAX_CERTIFICATE_URLS_PER_METHOD);
      if (named.length > own.length)
        errors.push(`${named.length - own.length} more ${method === 'ocsp' ? 'OCSP responder(s)' : 'CRL distribution point(s)'} named by the certificate not asked (at most ${MAX_CERTIFICATE_URLS_PER_METHOD})`);
      const urls = method === 'ocsp' && own.length === 0 ? this.fallbackOcspUrls : own;
      for (const url of urls) {
        tried++;
        const key = `${method}|${url}|${issuerIdentity(issuer)}|${certificate.serialNumber}`;
        const cached = await this.cache.get(key);
        if (cached && cached.expiresAt > this.clock().getTime() && !this.tooOld(cached)) {
          const r = settle(finish(base, cached, 'cache', at));
          if (r) return r;
          continue;
        }
        try {
          const answer = await this.dedupe(key, () => (method === 'ocsp' ? this.askOcsp(url, certificate, issuer) : this.askCrl(url, certificate, issuer)));
          const r = use(answer, method, `${method} ${url}`);
          if (r) return r;
        } catch (e) {
          errors.push(`${method} ${url}: ${e instanceof MailPkiError ? e.message.replace(`${url}: `, '') : String(e)}`);
        }
      }
    }
    if (unknown) return unknown;
    if (tried === 0) return { ...base, noSources: true, error: 'the certificate names no OCSP responder and no CRL distribution point, and none was given' };
    return { ...base, error: errors.join('; ') };
  }

  /**
   * The answer of the caller's CRLs (RFC 5280 §6.3 in crl-path.ts): current, verified CRLs of the
   * certificate's issuer whose scope covers it. A CRL of some reasons only may show it revoked,
   * but "good" needs every reason covered.
   */
  private async askSuppliedCrls(certificate: Certificate, issuer: Certificate, errors: string[]): Promise<RevocationAnswer | undefined> {
    const r = await this.runCrls(certificate, issuer, this.suppliedCrls);
    if (r.status !== 'undetermined') return answerOf(r, SUPPLIED_CRL);
    errors.push(`crl (given): ${r.why.join('; ')}`);
    return undefined;
  }

  /** The one CRL engine, with this checker's clock (freshness is "now" here), crypto and weak-signature policy. */
  private runCrls(certificate: Certificate, issuer: Certificate, crls: readonly Crl[]): Promise<CrlStatus> {
    return checkCertificateWithCrls(certificate, issuer, {
      crls,
      at: this.clock(),
      crypto: this.crypto,
      ...(this.options.allowWeakSignatures && { allowWeakAlgorithms: true }),
    });
  }

  private dedupe(key: string, task: () => Promise<RevocationAnswer>): Promise<RevocationAnswer> {
    const hit = this.inflight.get(key);
    if (hit) return hit;
    const p = this.semaphore.run(task).then(
      async (answer) => {
        await this.cache.set(key, { ...answer, expiresAt: this.expiry(answer) });
        return answer;
      },
    );
    this.inflight.set(key, p);
    p.then(
      () => this.inflight.delete(key),
      () => this.inflight.delete(key),
    );
    return p;
  }

  private expiry(a: RevocationAnswer): number {
    const now = this.clock().getTime();
    const next = a.nextUpdate ? Date.parse(a.nextUpdate) : now + (this.options.defaultTtlMs ?? 3_600_000);
    return Math.max(now, Math.min(next, this.ageLimit(a.thisUpdate ? Date.parse(a.thisUpdate) : undefined)));
  }

  /** When an answer made at `thisUpdate` grows older than maxAnswerAgeMs (Infinity without the option). */
  private ageLimit(thisUpdate: number | undefined): number {
    const max = this.options.maxAnswerAgeMs;
    return max === undefined || thisUpdate === undefined ? Infinity : thisUpdate + max;
  }

  /** Why a good or unknown answer is too old to count (maxAnswerAgeMs), or undefined. */
  private tooOld(a: RevocationAnswer): string | undefined {
    if (a.status === 'revoked' || !a.thisUpdate) return undefined;
    if (this.ageLimit(Date.parse(a.thisUpdate)) >= this.clock().getTime()) return undefined;
    return `the answer of ${a.thisUpdate} is older than maxAnswerAgeMs (${this.options.maxAnswerAgeMs} ms)`;
  }

  private async askOcsp(url: string, certificate: Certificate, issuer: Certificate): Promise<RevocationAnswer> {
    const req = createOcspRequest({ certificate, issuer, ...(this.options.nonce && { nonce: true as const }), crypto: this.crypto });
    const body = await httpFetchBytes(url, {
      fetch: this.fetch,
      method: 'POST',
      body: req.der,
      contentType: 'application/ocsp-request',
      accept: 'application/ocsp-response',
      timeoutMs: this.timeoutMs,
      maxBytes: this.maxOcspBytes,
    });
    const r = await validateOcspResponse(body, {
      certificate,
      issuer,
      certId: req.certId,
      at: this.clock(),
      ...(req.nonce && { nonce: req.nonce }),
      ...(this.options.clockSkewMs !== undefined && { clockSkewMs: this.options.clockSkewMs }),
      ...(this.options.allowWeakSignatures && { allowWeakSignatures: true }),
      crypto: this.crypto,
    });
    if (!r.ok || !r.status)
      throw new MailPkiError('ERR_REVOCATION_UNAVAILABLE', `${url}: unusable OCSP answer (${r.problems.map((p) => p.code).join(', ')}: ${r.problems[0]?.message ?? ''})`);
    if (r.responder?.delegated && !r.responder.ocspNoCheck) {
      const revoked = await this.responderRevocation(r.responder.certificate, issuer, certificate);
      if (revoked)
        throw new MailPkiError(
          'ERR_REVOCATION_UNAVAILABLE',
          `${url}: unusable OCSP answer (the delegated responder's certificate, serial ${r.responder.certificate.serialNumber}, is revoked${revoked.reason ? ` (${revoked.reason})` : ''} since ${revoked.revokedAt}, per CRL)`,
        );
    }
    return {
      status: r.status,
      method: 'ocsp',
      url,
      ...(r.revokedAt && { revokedAt: r.revokedAt.toISOString() }),
      ...(r.reason && { reason: r.reason }),
      ...(r.thisUpdate && { thisUpdate: r.thisUpdate.toISOString() }),
      ...(r.nextUpdate && { nextUpdate: r.nextUpdate.toISOString() }),
      ...(r.producedAt && { producedAt: r.producedAt.toISOString() }),
      ocspResponse: toBase64(body),
    };
  }

  /**
   * RFC 6960 §4.2.2.2.1: a delegated responder certificate without id-pkix-ocsp-nocheck may itself be revoked (its
   * key stolen: it then signs "good" for anything). Its issuer's CRL says: the caller's `crls`, else the CRL at the
   * responder's distribution points (or those of `sibling`, a certificate of the same issuer). The revoked answer, if
   * one says so; no answer keeps the OCSP answer. Runs inside the OCSP request's slot, so its one fetch at a time
   * bypasses the semaphore (a nested wait for a slot could deadlock); its answers are cached like any other.
   */
  private async responderRevocation(responder: Certificate, issuer: Certificate, sibling: Certificate): Promise<RevocationAnswer | undefined> {
    if (this.suppliedCrls.length > 0) {
      const r = await this.runCrls(responder, issuer, this.suppliedCrls);
      if (r.status !== 'undetermined') return r.status === 'revoked' ? answerOf(r, SUPPLIED_CRL) : undefined;
    }
    const named = (responder.crlDistributionPoints.length ? responder.crlDistributionPoints : sibling.crlDistributionPoints).filter((u) => /^https?:\/\//i.test(u));
    for (const url of [...new Set(named)].slice(0, MAX_CERTIFICATE_URLS_PER_METHOD)) {
      const key = `crl|${url}|${issuerIdentity(issuer)}|${responder.serialNumber}`;
      let answer = await this.cache.get(key);
      if (!answer || answer.expiresAt <= this.clock().getTime()) {
        try {
          const fresh = await this.askCrl(url, responder, issuer);
          answer = { ...fresh, expiresAt: this.expiry(fresh) };
          await this.cache.set(key, answer);
        } catch {
          continue;
        }
      }
      return answer.status === 'revoked' ? answer : undefined;
    }
    return undefined;
  }

  private async askCrl(url: string, certificate: Certificate, issuer: Certificate): Promise<RevocationAnswer> {
    // What a URL served is remembered for the issuer it verified against, never for the URL alone: a CRL of another
    // CA served there once (a man in the middle on plain HTTP, a CA naming another's URL) must not stand in for this
    // issuer's CRL until its nextUpdate, nor raise the cRLNumber this issuer's CRLs are compared with.
    const slot = `${url}|${issuerIdentity(issuer)}`;
    const crl = await this.loadCrl(url, slot);
    const seen = this.crlNumbers.get(slot);
    if (crl.crlNumber !== undefined && seen !== undefined && crl.crlNumber < seen)
      throw new MailPkiError('ERR_REVOCATION_UNAVAILABLE', `${url}: CRL number ${crl.crlNumber} is older than ${seen} seen before (replay)`);
    const r = await this.runCrls(certificate, issuer, [crl]);
    if (r.status === 'undetermined') throw new MailPkiError('ERR_REVOCATION_UNAVAILABLE', `${url}: ${r.why.join('; ')}`);
    // Only a CRL that verified is remembered: its number for replay checks, its index until nextUpdate.
    if (crl.crlNumber !== undefined) remember(this.crlNumbers, slot, crl.crlNumber, MAX_CRL_NUMBERS);
    const now = this.clock().getTime();
    this.hold(slot, { crl, expiresAt: Math.min(crl.nextUpdate ? crl.nextUpdate.getTime() : now + (this.options.defaultTtlMs ?? 3_600_000), this.ageLimit(crl.thisUpdate.getTime())) });
    return answerOf(r, url);
  }

  /** Keeps a verified CRL for `slot`, within MAX_HELD_CRLS and maxHeldCrlBytes: the oldest held go first. */
  private hold(slot: string, entry: { crl: Crl; expiresAt: number }): void {
    const old = this.crls.get(slot);
    if (old) {
      this.crls.delete(slot);
      this.heldCrlBytes -= old.crl.der.length;
    }
    if (entry.crl.der.length > this.maxHeldCrlBytes) return;
    for (const [k, v] of this.crls) {
      if (this.crls.size < MAX_HELD_CRLS && this.heldCrlBytes + entry.crl.der.length <= this.maxHeldCrlBytes) break;
      this.crls.delete(k);
      this.heldCrlBytes -= v.crl.der.length;
    }
    this.crls.set(slot, entry);
    this.heldCrlBytes += entry.crl.der.length;
  }

  /** The CRL at `url`: the one held for `slot` (URL and issuer) until its nextUpdate, or a fresh download (parsed, not yet trusted). */
  private async loadCrl(url: string, slot: string): Promise<Crl> {
    const held = this.crls.get(slot);
    if (held && held.expiresAt > this.clock().getTime()) return held.crl;
    // One download per URL at a time, whoever asks (each serial is its own cache key): the checks that arrive
    // together as a held CRL expires share it instead of each downloading and parsing up to maxCrlBytes.
    let loading = this.crlLoads.get(url);
    if (!loading) {
      loading = this.downloadCrl(url);
      this.crlLoads.set(url, loading);
      const done = () => this.crlLoads.delete(url);
      loading.then(done, done);
    }
    return loading;
  }

  private async downloadCrl(url: string): Promise<Crl> {
    const der = await httpFetchBytes(url, { fetch: this.fetch, timeoutMs: this.timeoutMs, maxBytes: this.maxCrlBytes, accept: 'application/pkix-crl' });
    try {
      return parseCrl(der);
    } catch (e) {
      throw new MailPkiError('ERR_REVOCATION_UNAVAILABLE', `${url}: not a readable CRL (${(e as Error).message})`, { cause: e });
    }
  }
}

/** Sets `key` as the newest entry of `map`, forgetting the oldest beyond `max`. */
function remember<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  if (map.size >= max) map.delete(map.keys().next().value!);
  map.set(key, value);
}

const issuerIds = new WeakMap<Certificate, string>();

/**
 * The issuer as the checker keys what it learnt (cached answers, held CRLs, cRLNumbers): SHA-256 of its whole
 * subject name and public key, as an OCSP CertID names it. (Round 1 took the last 32 bytes of the SPKI: an RSA key
 * made to end like another CA's modulus — the low bits and exponent, which whoever makes the key chooses — shared its
 * cached answers; the name is in too, so a CA certificate renamed over the same key keeps its own answers.)
 */
function issuerIdentity(issuer: Certificate): string {
  let id = issuerIds.get(issuer);
  if (id === undefined) {
    const name = issuer.subject.der;
    const spki = issuer.publicKey.spki;
    // Lengths first, so no name/key split of the same bytes reads as another pair.
    id = toHex(sha256(concatBytes([Uint8Array.of(name.length >>> 24, name.length >>> 16, name.length >>> 8, name.length), name, spki])));
    issuerIds.set(issuer, id);
  }
  return id;
}

/** The answer of a determined CRL status: the one place every CRL answer (given or fetched) comes from. */
function answerOf(r: CrlStatus, url: string): RevocationAnswer {
  const crl = r.delta ?? r.crl!;
  const times = {
    thisUpdate: crl.thisUpdate.toISOString(),
    ...(crl.nextUpdate && { nextUpdate: crl.nextUpdate.toISOString() }),
    ...(r.crl?.crlNumber !== undefined && { crlNumber: r.crl.crlNumber.toString() }),
    ...(r.delta?.crlNumber !== undefined && { deltaCrlNumber: r.delta.crlNumber.toString() }),
  };
  if (r.status === 'revoked')
    return { status: 'revoked', method: 'crl', url, revokedAt: r.revocation!.revocationDate.toISOString(), reason: r.revocation!.reason, ...times };
  return { status: 'good', method: 'crl', url, ...times };
}

function finish(base: RevocationResult, a: RevocationAnswer, source: 'ocsp' | 'crl' | 'cache', at: Date | undefined): RevocationResult {
  const r: RevocationResult = { ...base, status: a.status, source, method: a.method, url: a.url };
  for (const k of ['revokedAt', 'reason', 'thisUpdate', 'nextUpdate', 'producedAt', 'ocspResponse', 'crlNumber', 'deltaCrlNumber'] as const) if (a[k] !== undefined) (r as unknown as Record<string, unknown>)[k] = a[k];
  if (a.status === 'revoked' && at && a.revokedAt && Date.parse(a.revokedAt) > at.getTime()) r.revokedAfterAt = true;
  return r;
}
