/** DKIM results in RFC 8601 words, alignment with the From domain, and Authentication-Results. */
import { checkAuthservId, formatAuthenticationResults, type ArMethodResult } from '../internal/authentication-results.js';
import { domainToAscii } from '../internal/mailbox.js';
import type { AuthorProblem } from '../mime/author.js';
import { fieldDisplayName, type UnsignedInstance } from './instances.js';

export type DkimResultWord = 'pass' | 'fail' | 'neutral' | 'policy' | 'temperror' | 'permerror';

/** The outcome of one DKIM-Signature. Read every one: a message may carry several. */
export interface DkimResult {
  result: DkimResultWord;
  /** Why, for people: "body hash did not verify", "key revoked", … */
  reason: string;
  /** d=, lower-cased ('' when the signature could not be parsed that far). */
  domain: string;
  /** s=, lower-cased. */
  selector: string;
  /** a= as written. */
  algorithm: string;
  /** c=, e.g. 'relaxed/relaxed'. */
  canonicalization: string;
  /**
   * h= covers From, and d= is the domain of the message's single well-formed author or a parent or
   * child of it (what relaxed DMARC alignment would accept, without the public-suffix list).
   */
  aligned: boolean;
  /** The key record says t=y: the domain is testing DKIM. A failing testing signature is still a failure. */
  testing: boolean;
  /** RSA modulus size, or 256 for Ed25519. */
  keyBits?: number;
  /** An RSA key below policy.weakRsaBits (still a pass). */
  weakKey?: boolean;
  /** l= when present. */
  bodyLength?: number;
  /**
   * When l= is shorter than the body: the unsigned tail, as an offset and a length in the canonical
   * body (the body after c='s body canonicalisation). Anyone may have written what is there.
   */
  unsignedTail?: { offset: number; length: number };
  /**
   * Single-instance fields (Subject, To, Date, ...: SINGLE_INSTANCE_FIELDS) that h= signs fewer
   * times than the message carries them: the instances above the signed ones are unsigned, and a
   * client may show one of them. A verified signature with any is `policy` unless
   * `policy.requireSignedInstances` is false.
   */
  unsignedInstances?: readonly UnsignedInstance[];
  /**
   * Fields a client shows that the message carries and h= does not list at all (SHOWN_FIELDS:
   * Subject, Sender, Reply-To), lower-cased. The signature still passes (RFC 6376 lets a signer
   * choose), but it vouches for none of them: anyone on the way may have written or replaced them.
   * The filter's `dkimAligned` does not count such a pass.
   */
  unsignedFields?: readonly string[];
  signedAt?: Date;
  expiresAt?: Date;
  /** i= when present. */
  identity?: string;
  /** h=, lower-cased. */
  headers: string[];
  /** The b= value (base64), for header.b. */
  signature?: string;
}

export interface DkimVerification {
  /** 'none' without signatures; 'pass' when any signature passed; otherwise the first signature's result. */
  result: DkimResultWord | 'none';
  results: DkimResult[];
  /** The author's address (domain lower-cased), when the From field names one author, well-formed and unambiguous. */
  from?: string;
  /** The domain of that author: what d= aligns with. Absent whenever `fromProblems` is not empty. */
  fromDomain?: string;
  /** Why there is no author to align with (readAuthor in mailpki/mime): several From fields, several mailboxes, an address in the display name, ... */
  fromProblems?: readonly AuthorProblem[];
}

/**
 * Relaxed-alignment-lite: equal, or one a subdomain of the other (both with at least two labels). Compared as A-labels
 * (RFC 8616: a From in U-labels, `cfo@bücher.example`, is the domain DNS knows as xn--bcher-kva.example, what d= names).
 */
export function domainsAlign(signingDomain: string, fromDomain: string | undefined): boolean {
  if (!fromDomain) return false;
  const d = domainToAscii(signingDomain.replace(/\.$/, ''));
  const f = domainToAscii(fromDomain.replace(/\.$/, ''));
  if (!d.includes('.') || !f.includes('.')) return false;
  return d === f || f.endsWith(`.${d}`) || d.endsWith(`.${f}`);
}

/**
 * The signature DMARC would use: the first passing one whose d= aligns with `fromDomain`.
 *
 * @example
 * const v = await verifyDkim(message, { resolver });
 * const used = dmarcCandidate(v.results, v.fromDomain ?? '');
 */
export function dmarcCandidate(results: readonly DkimResult[] | DkimVerification, fromDomain: string): DkimResult | undefined {
  const list = Array.isArray(results) ? results : (results as DkimVerification).results;
  return list.find((r) => r.result === 'pass' && domainsAlign(r.domain, fromDomain));
}

export interface AuthenticationResultsOptions {
  /** The authserv-id: the host name of the verifying server. */
  authservId: string;
}

/**
 * An Authentication-Results header value (RFC 8601, RFC 6008 header.b), without the field name.
 *
 * @example
 * `Authentication-Results: ${authenticationResults(v, { authservId: 'mx.example.net' })}`
 * // mx.example.net; dkim=pass (…) header.d=example.com header.s=s1 header.a=rsa-sha256 header.b=AbCdEfGh
 */
export function authenticationResults(results: readonly DkimResult[] | DkimVerification, options: AuthenticationResultsOptions): string {
  const id = checkAuthservId(options?.authservId);
  const list = Array.isArray(results) ? results : (results as DkimVerification).results;
  if (list.length === 0) return `${id}; dkim=none`;
  return formatAuthenticationResults(id, list.map(dkimArResult));
}

/** One DKIM signature's result as an Authentication-Results method result (RFC 6376 §7.7, RFC 6008 header.b). */
export function dkimArResult(r: DkimResult): ArMethodResult {
  const properties: [string, string][] = [];
  if (r.domain) properties.push(['header.d', r.domain]);
  if (r.identity) properties.push(['header.i', r.identity]);
  if (r.selector) properties.push(['header.s', r.selector]);
  if (r.algorithm) properties.push(['header.a', r.algorithm]);
  if (r.signature) properties.push(['header.b', r.signature.slice(0, 8)]);
  const notes = [r.reason, ...(r.testing ? ['testing mode'] : []), ...(r.unsignedFields?.length ? [`not signed: ${r.unsignedFields.map(fieldDisplayName).join(', ')}`] : [])];
  return { method: 'dkim', result: r.result, comment: notes.join('; '), properties };
}
