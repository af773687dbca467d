/**
 * Certificate path building and validation for S/MIME signers (RFC 5280 §6, simplified the way
 * mail clients do it, plus RFC 5280 policy processing in chain-policy.ts; online revocation is a
 * separate layer, CRLs the caller gives are checked here with RFC 5280 §6.3 processing in revocation/crl-path.ts).
 *
 * The outcome is data: an invalid chain gives `ok: false` and coded problems, never an exception.
 * Only caller mistakes (a missing `at`, something that is not a parsed certificate) throw.
 */
import { z } from 'zod';
import { MailPkiError } from '../errors.js';
import { resolveCrypto } from '../internal/crypto.js';
import { OID } from '../internal/oids.js';
import { parseInput } from '../internal/validate.js';
import { isSelfIssued, type Certificate } from './certificate.js';
import { MAX_NAME_CONSTRAINT_CHECKS, checkNameConstraints, nameConstraintsOf, type NameCheckBudget } from './chain-names.js';
import { policyOptionsSchema, runPolicies, type ChainPolicies, type PolicyOptions, type PolicyProblemCode } from './chain-policy.js';
import { nameMatchKey } from './name.js';
import { PublicKeyBudget } from '../keys/budget.js';
import type { RevocationReason } from '../ca/types.js';
import type { Crl } from '../revocation/crl-parse.js';
import { CrlSession, MAX_CRL_ISSUER_DEPTH, checkCertificateWithCrls, isParsedCrl, parseCrlInputs, type CrlInput } from '../revocation/crl-path.js';
import { SignatureCheckCache, bytesKey, checkSignature, isKnownValid, needsCryptography, spkiKey, type EdgeResult } from './chain-signatures.js';

/** 'smime-encryption': an S/MIME recipient (keyEncipherment for RSA, keyAgreement for EC, emailProtection). */
export type ChainPurpose = 'smime-signing' | 'smime-encryption' | 'any';

/** Every problem code validateChain reports, with its one-line meaning (the table in docs/chain.md). */
export const chainProblemCodes = {
  CHAIN_NO_PATH_TO_ANCHOR: 'No issuer was found for a certificate, or the path does not reach a trust anchor.',
  CHAIN_LOOP: 'The only issuers found are already in the path (certificates that issue each other).',
  CHAIN_SIGNATURE_INVALID: "The certificate's signature does not verify with its issuer's key.",
  CHAIN_EXPIRED: 'The validation time is after the certificate\'s notAfter.',
  CHAIN_NOT_YET_VALID: "The validation time is before the certificate's notBefore.",
  CHAIN_NOT_A_CA: 'An issuing certificate lacks basicConstraints cA=true.',
  CHAIN_CA_KEY_USAGE: 'An issuing certificate has keyUsage without keyCertSign.',
  CHAIN_PATH_LENGTH_EXCEEDED: "More intermediate CAs below a CA than its pathLenConstraint allows.",
  CHAIN_UNKNOWN_CRITICAL_EXTENSION: 'A certificate has a critical extension that is not understood (or cannot be evaluated).',
  CHAIN_NAME_CONSTRAINT_VIOLATION: "A certificate's email address, DNS name, URI host or directory name is outside a CA's name constraints.",
  CHAIN_NAME_CONSTRAINTS_LIMIT: 'Checking name constraints would take more than MAX_NAME_CONSTRAINT_CHECKS comparisons.',
  CHAIN_WEAK_ALGORITHM: 'A certificate is signed with MD5 or SHA-1 and weak algorithms are not allowed.',
  CHAIN_WEAK_KEY: 'A certificate has an RSA key smaller than minRsaBits.',
  CHAIN_ALGORITHM_UNSUPPORTED: 'A signature uses an algorithm (or key/algorithm pair) that cannot be verified.',
  CHAIN_LEAF_IS_CA: 'The signer certificate is a CA certificate (basicConstraints cA=true).',
  CHAIN_LEAF_KEY_USAGE: 'The signer certificate has keyUsage without digitalSignature or nonRepudiation (a recipient certificate: without keyEncipherment for RSA, keyAgreement for EC).',
  CHAIN_LEAF_EXT_KEY_USAGE: 'The signer certificate has extKeyUsage without emailProtection or anyExtendedKeyUsage.',
  CHAIN_CA_EXT_KEY_USAGE: 'An intermediate CA has extKeyUsage without emailProtection or anyExtendedKeyUsage.',
  CHAIN_NO_ACCEPTABLE_POLICY: 'An explicit policy is required and the path is valid for none of the acceptable policies.',
  CHAIN_POLICY_MAPPING_ANY_POLICY: 'A CA maps a policy to or from anyPolicy in policyMappings.',
  CHAIN_POLICY_EXTENSION_INVALID: 'A certificatePolicies, policyMappings, policyConstraints or inhibitAnyPolicy extension is malformed.',
  CHAIN_POLICY_TOO_COMPLEX: 'The policies and policy mappings of the path exceed the processing bounds (MAX_POLICY_GRAPH_SIZE and per-certificate limits).',
  CHAIN_REVOKED: 'A certificate of the path is listed on a CRL given in `crls` (see `revocation` for the date and reason).',
  CHAIN_REVOCATION_UNKNOWN: 'CRLs were given (`crls`), and none that is current, verified and in scope covers this certificate for every reason.',
} as const satisfies Record<PolicyProblemCode, string> & Record<string, string>;

export type ChainProblemCode = keyof typeof chainProblemCodes;

export interface ChainProblem {
  code: ChainProblemCode;
  message: string;
  /** Index in `path` of the certificate concerned (0 = leaf). */
  certificateIndex?: number;
  /** For CHAIN_REVOKED: what the CRL says. */
  revocation?: { revocationDate: Date; reason: RevocationReason; invalidityDate?: Date };
}

export interface ValidateChainOptions {
  /** Trusted certificates (roots or intermediates), taken as given: their own signature is not checked. */
  trustAnchors: Certificate[];
  /** Untrusted candidate issuers: the message's certificates and the caller's. Order does not matter. */
  intermediates?: Certificate[];
  /** Validation time (for a signature: usually the signing time, or now). */
  at: Date;
  /** Default 'smime-signing'. 'any' skips the key usage and extended key usage checks. */
  purpose?: ChainPurpose;
  /** Default false: MD5/SHA-1 signatures and RSA keys below minRsaBits are problems. */
  allowWeakAlgorithms?: boolean;
  /** Default 2048. */
  minRsaBits?: number;
  /** Most certificates in a path, leaf and anchor included. Default 8. */
  maxPathLength?: number;
  /**
   * Most candidate issuers tried for one certificate (same issuer name), best ranked first.
   * Default MAX_ISSUER_CANDIDATES (8).
   */
  maxIssuerCandidates?: number;
  /** Public-key operations this validation may spend, shared with the rest of a verification. */
  budget?: PublicKeyBudget;
  /** Signature checks shared between the validations of one verification (failures included). */
  signatureCache?: SignatureCheckCache;
  /** Initial policy settings (RFC 5280 §6.1.1); without them any policy, or none, is acceptable. */
  policy?: PolicyOptions;
  /**
   * CRLs to check every certificate of the path against (except the trust anchor), offline: DER,
   * PEM or parsed (`parseCrl`), at most MAX_SUPPLIED_CRLS. RFC 5280 §6.3 processing (crl-path.ts):
   * a certificate listed → CHAIN_REVOKED; no current, verified CRL in scope for every reason →
   * CHAIN_REVOCATION_UNKNOWN. Giving `crls` (even `[]`) asks for this strict check; without it no
   * revocation is checked here (the revocation checker is the online, policy-driven layer).
   */
  crls?: CrlInput[];
  crypto?: Crypto;
}

export interface ChainResult {
  ok: boolean;
  /** Leaf first, anchor last; the best attempt when `ok` is false. */
  path: Certificate[];
  /** The trust anchor the path ends in, when it reached one. */
  anchor?: Certificate;
  problems: ChainProblem[];
  /** The policies that hold for the path (RFC 5280 §6.1.6), when it reached an anchor. */
  policies?: ChainPolicies;
}

/** Most signature verifications (not answered from the cache) one validateChain call may run. */
export const MAX_SIGNATURE_CHECKS = 32;
/** Most issuer look-ups one validateChain call may make while searching for a path. */
export const MAX_BUILD_STEPS = 256;
/** Default most candidate issuers (certificates with the issuer's name) tried for one certificate. */
export const MAX_ISSUER_CANDIDATES = 8;

const KNOWN_CRITICAL = new Set<string>([
  OID.basicConstraints,
  OID.keyUsage,
  OID.extKeyUsage,
  OID.subjectAltName,
  OID.certificatePolicies,
  OID.nameConstraints,
  OID.subjectKeyIdentifier,
  OID.authorityKeyIdentifier,
  OID.policyMappings,
  OID.policyConstraints,
  OID.inhibitAnyPolicy,
]);

function isCertificate(v: unknown): v is Certificate {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Partial<Certificate>;
  return (
    c.der instanceof Uint8Array &&
    c.tbs instanceof Uint8Array &&
    c.signatureValue instanceof Uint8Array &&
    c.issuer?.der instanceof Uint8Array &&
    c.subject?.der instanceof Uint8Array &&
    c.publicKey?.spki instanceof Uint8Array &&
    c.notBefore instanceof Date &&
    c.notAfter instanceof Date &&
    c.extensions instanceof Map
  );
}

const certificateSchema = z.custom<Certificate>(isCertificate, 'expected a certificate from parseCertificate()');

const optionsSchema = z
  .object({
    trustAnchors: z.array(certificateSchema),
    intermediates: z.array(certificateSchema).optional(),
    at: z.date(),
    purpose: z.enum(['smime-signing', 'smime-encryption', 'any']).default('smime-signing'),
    allowWeakAlgorithms: z.boolean().default(false),
    minRsaBits: z.number().int().min(0).max(65536).default(2048),
    maxPathLength: z.number().int().min(1).max(64).default(8),
    maxIssuerCandidates: z.number().int().min(1).max(256).default(MAX_ISSUER_CANDIDATES),
    budget: z.instanceof(PublicKeyBudget).optional(),
    signatureCache: z.instanceof(SignatureCheckCache).optional(),
    policy: policyOptionsSchema.optional(),
    crls: z.array(z.union([z.instanceof(Uint8Array), z.string(), z.custom<Crl>(isParsedCrl, 'expected a CRL (DER, PEM or parseCrl())')])).optional(),
    crypto: z.custom<Crypto>((v) => typeof v === 'object' && v !== null && 'subtle' in v, 'expected a WebCrypto object').optional(),
  })
  .strict();

type Options = z.output<typeof optionsSchema>;

/**
 * Builds a path from `leaf` to one of `trustAnchors` through `intermediates` and validates it.
 * Candidates are tried in order of preference (authority/subject key identifier match, anchors
 * first, currently valid first), backtracking to alternatives; the search is bounded by
 * `maxPathLength`, MAX_BUILD_STEPS and MAX_SIGNATURE_CHECKS. Successful signature checks are
 * cached, so validating the same certificates again runs no cryptography.
 *
 * @example
 * const r = await validateChain(signerCert, { trustAnchors: [root], intermediates: cmsCertificates, at: new Date() });
 * if (!r.ok) for (const p of r.problems) console.log(p.code, p.certificateIndex, p.message);
 */
export async function validateChain(leaf: Certificate, options: ValidateChainOptions): Promise<ChainResult> {
  if (!isCertificate(leaf)) throw new MailPkiError('ERR_INVALID_INPUT', 'validateChain: leaf: expected a certificate from parseCertificate()', { details: { field: 'leaf' } });
  const opts = parseInput(optionsSchema, options, 'validateChain options');
  const crls = opts.crls && { crls: parseCrlInputs(opts.crls, 'crls'), depth: 0, session: new CrlSession() };
  const search = new PathSearch(leaf, opts, resolveCrypto(opts.crypto), crls);
  return search.run();
}

/** CRL checking of one validation: the parsed CRLs, how deep in CRL-signer paths this search is, what is shared. */
interface CrlContext {
  crls: Crl[];
  depth: number;
  session: CrlSession;
}

interface Attempt {
  path: Certificate[];
  complete: boolean;
  problems: ChainProblem[];
  signatureProblems: number;
  policies?: ChainPolicies;
}

type Dead = 'no-issuer' | 'loop' | 'too-long' | 'budget' | 'work';

/** Subject and issuer names as Map keys that match as RFC 5280 §7.1 compares names (namesMatch). */
const subjectKey = (c: Certificate): string => nameMatchKey(c.subject);
const issuerKey = (c: Certificate): string => nameMatchKey(c.issuer);
const sameEntity = (a: Certificate, b: Certificate): boolean => subjectKey(a) === subjectKey(b) && spkiKey(a) === spkiKey(b);

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

class PathSearch {
  /** Anchors by subject, then by key: "trusted as given" means name plus key. */
  private readonly anchors = new Map<string, Map<string, Certificate>>();
  /** Every candidate issuer (anchors replace untrusted copies of themselves) by subject. */
  private readonly bySubject = new Map<string, Certificate[]>();
  private readonly edges = new Map<Certificate, Map<Certificate, EdgeResult>>();
  private signatureChecks = 0;
  private workSpent = false;
  private steps = 0;
  private stopped = false;
  private best: Attempt | undefined;
  private readonly nameChecks: NameCheckBudget = { left: MAX_NAME_CONSTRAINT_CHECKS };

  constructor(
    private readonly leaf: Certificate,
    private readonly opts: Options,
    private readonly crypto: Crypto,
    private readonly crl?: CrlContext,
  ) {
    for (const a of opts.trustAnchors) {
      let byKey = this.anchors.get(subjectKey(a));
      if (!byKey) this.anchors.set(subjectKey(a), (byKey = new Map()));
      if (!byKey.has(spkiKey(a))) byKey.set(spkiKey(a), a);
    }
    const seen = new Set<string>();
    for (const c of [...opts.trustAnchors, ...(opts.intermediates ?? [])]) {
      const cand = this.anchorFor(c) ?? c;
      const id = bytesKey(cand.der);
      if (seen.has(id)) continue;
      seen.add(id);
      const list = this.bySubject.get(subjectKey(cand));
      if (list) list.push(cand);
      else this.bySubject.set(subjectKey(cand), [cand]);
    }
  }

  private anchorFor(c: Certificate): Certificate | undefined {
    return this.anchors.get(subjectKey(c))?.get(spkiKey(c));
  }

  async run(): Promise<ChainResult> {
    const leafAnchor = this.anchorFor(this.leaf);
    if (leafAnchor && sameBytes(leafAnchor.der, this.leaf.der)) this.evaluate([this.leaf], [], undefined);
    else await this.extend([this.leaf], []);
    const best = this.best ?? this.evaluate([this.leaf], [], 'budget');
    const result: ChainResult = { ok: best.complete && best.problems.length === 0, path: best.path, problems: best.problems };
    if (best.complete) result.anchor = best.path[best.path.length - 1]!;
    if (best.policies) result.policies = best.policies;
    return result;
  }

  /** Tries every issuer of the path's last certificate; true once a valid path is found. */
  private async extend(path: Certificate[], edges: EdgeResult[]): Promise<boolean> {
    const child = path[path.length - 1]!;
    if (this.stopped || ++this.steps > MAX_BUILD_STEPS) return this.deadEnd(path, edges, 'budget');
    if (path.length >= this.opts.maxPathLength) return this.deadEnd(path, edges, 'too-long');
    let looped = false;
    const candidates: Certificate[] = [];
    for (const c of this.bySubject.get(issuerKey(child)) ?? []) {
      if (path.some((p) => sameEntity(p, c))) {
        if (c !== child && !sameEntity(c, child)) looped = true;
        continue;
      }
      candidates.push(c);
    }
    if (candidates.length === 0) return this.deadEnd(path, edges, looped ? 'loop' : 'no-issuer');
    candidates.sort((a, b) => this.rank(child, a) - this.rank(child, b));
    // Many certificates with one name are an attack on the search, not a PKI: the best few only.
    candidates.length = Math.min(candidates.length, this.opts.maxIssuerCandidates);

    const failed: [Certificate, EdgeResult][] = [];
    for (const issuer of candidates) {
      const edge = await this.edge(child, issuer);
      if (!edge) return this.deadEnd(path, edges, this.workSpent ? 'work' : 'budget');
      if (edge.status !== 'valid') {
        failed.push([issuer, edge]);
        continue;
      }
      if (await this.step(path, edges, issuer, edge)) return true;
      if (this.stopped) return false;
    }
    // Paths through a failed signature can never validate; they are walked only to report the
    // most useful failure when nothing better has been found.
    for (const [issuer, edge] of failed) {
      if (this.best?.complete || this.stopped) break;
      await this.step(path, edges, issuer, edge);
    }
    return false;
  }

  private async step(path: Certificate[], edges: EdgeResult[], issuer: Certificate, edge: EdgeResult): Promise<boolean> {
    const p = [...path, issuer];
    const e = [...edges, edge];
    if (this.anchorFor(issuer) !== issuer) return this.extend(p, e);
    const attempt = this.evaluate(p, e, undefined);
    if (attempt.problems.length > 0 || !this.crl) return attempt.problems.length === 0;
    // Revocation last, on an otherwise valid path: a revoked path leaves the search free to try another.
    attempt.problems.push(...(await this.revocationProblems(p, this.crl)));
    return attempt.problems.length === 0;
  }

  /** RFC 5280 §6.3 with the given CRLs for every certificate of `path` but the anchor. */
  private async revocationProblems(path: readonly Certificate[], ctx: CrlContext): Promise<ChainProblem[]> {
    const anchor = path[path.length - 1]!;
    const candidates = [...this.bySubject.values()].flat();
    const out: ChainProblem[] = [];
    for (let i = 0; i + 1 < path.length; i++) {
      const r = await checkCertificateWithCrls(path[i]!, path[i + 1]!, {
        crls: ctx.crls,
        at: this.opts.at,
        crypto: this.crypto,
        allowWeakAlgorithms: this.opts.allowWeakAlgorithms,
        candidates,
        trustSigner: (signer) => this.trustCrlSigner(signer, anchor, ctx),
        session: ctx.session,
        ...(this.opts.budget && { budget: this.opts.budget }),
      });
      if (r.status === 'revoked') {
        const rev = r.revocation!;
        out.push({
          code: 'CHAIN_REVOKED',
          certificateIndex: i,
          message: `revoked on ${rev.revocationDate.toISOString()} (reason ${rev.reason}) according to the CRL of "${r.crl!.issuerName}"${r.delta ? ` and its delta CRL ${r.delta.crlNumber}` : ''}`,
          revocation: { revocationDate: rev.revocationDate, reason: rev.reason, ...(rev.invalidityDate && { invalidityDate: rev.invalidityDate }) },
        });
      } else if (r.status === 'undetermined')
        out.push({ code: 'CHAIN_REVOCATION_UNKNOWN', certificateIndex: i, message: `no revocation status from the CRLs given: ${r.why.join('; ')}` });
    }
    return out;
  }

  /**
   * A CRL signed by a key other than the certificate issuer's (a separate CRL-signing key, a
   * rollover certificate, an indirect CRL's issuer) counts only when that key's certificate has a
   * valid path, CRLs checked, to the same trust anchor (RFC 5280 §6.3.3 (f)); MAX_CRL_ISSUER_DEPTH deep.
   */
  private async trustCrlSigner(signer: Certificate, anchor: Certificate, ctx: CrlContext): Promise<boolean> {
    if (sameEntity(signer, anchor)) return true;
    if (ctx.depth >= MAX_CRL_ISSUER_DEPTH) return false;
    const search = new PathSearch(signer, { ...this.opts, purpose: 'any' }, this.crypto, { ...ctx, depth: ctx.depth + 1 });
    const r = await search.run();
    return r.ok && r.anchor !== undefined && sameEntity(r.anchor, anchor);
  }

  /** Lower is tried first: key identifiers that match, anchors, then certificates valid at `at`. */
  private rank(child: Certificate, c: Certificate): number {
    const aki = child.authorityKeyIdentifier;
    const ski = c.subjectKeyIdentifier;
    const idRank = aki && ski ? (sameBytes(aki, ski) ? 0 : 2) : 1;
    const anchorRank = this.anchorFor(c) === c ? 0 : 1;
    const at = this.opts.at.getTime();
    const timeRank = c.notBefore.getTime() <= at && at <= c.notAfter.getTime() ? 0 : 1;
    return idRank * 4 + anchorRank * 2 + timeRank;
  }

  /**
   * The signature check of one edge, memoised for this search and in the verification's shared
   * cache; undefined when this search's or the verification's budget is spent.
   */
  private async edge(child: Certificate, issuer: Certificate): Promise<EdgeResult | undefined> {
    let m = this.edges.get(child);
    const hit = m?.get(issuer);
    if (hit) return hit;
    const weak = this.opts.allowWeakAlgorithms;
    let pending = this.opts.signatureCache?.get(child, issuer, weak);
    if (!pending) {
      if (!isKnownValid(child, issuer) && needsCryptography(child, weak)) {
        if (this.signatureChecks >= MAX_SIGNATURE_CHECKS) {
          this.stopped = true;
          return undefined;
        }
        if (this.opts.budget && !this.opts.budget.take(issuer.publicKey)) {
          this.stopped = this.workSpent = true;
          return undefined;
        }
        this.signatureChecks++;
      }
      pending = checkSignature(this.crypto, child, issuer, weak);
      this.opts.signatureCache?.set(child, issuer, weak, pending);
    }
    const r = await pending;
    if (!m) this.edges.set(child, (m = new Map()));
    m.set(issuer, r);
    return r;
  }

  private deadEnd(path: Certificate[], edges: EdgeResult[], why: Dead): false {
    if (why === 'budget' || why === 'work') this.stopped = true;
    this.evaluate(path, edges, why);
    return false;
  }

  /** Validates a (complete or dead-end) path and keeps it when it is the best so far. */
  private evaluate(path: Certificate[], edges: EdgeResult[], dead: Dead | undefined): Attempt {
    const problems = checkPath(path, edges, dead === undefined, this.opts, this.nameChecks);
    const last = path.length - 1;
    if (dead) problems.push(deadEndProblem(path[last]!, last, dead, this.opts.maxPathLength));
    // Policies have a meaning only from an anchor down.
    const policy = dead === undefined ? runPolicies(path, this.opts.policy) : undefined;
    if (policy?.problems.length) {
      problems.push(...policy.problems);
      problems.sort((a, b) => (a.certificateIndex ?? 0) - (b.certificateIndex ?? 0));
    }
    const attempt: Attempt = {
      path,
      complete: dead === undefined,
      problems,
      signatureProblems: problems.filter((p) => SIGNATURE_CODES.has(p.code)).length,
      ...(policy && { policies: policy.policies }),
    };
    if (!this.best || better(attempt, this.best)) this.best = attempt;
    return attempt;
  }
}

const SIGNATURE_CODES = new Set<ChainProblemCode>(['CHAIN_SIGNATURE_INVALID', 'CHAIN_WEAK_ALGORITHM', 'CHAIN_ALGORITHM_UNSUPPORTED']);

function better(a: Attempt, b: Attempt): boolean {
  if (a.complete !== b.complete) return a.complete;
  if (a.signatureProblems !== b.signatureProblems) return a.signatureProblems < b.signatureProblems;
  if (a.problems.length !== b.problems.length) return a.problems.length < b.problems.length;
  return !a.complete && a.path.length > b.path.length;
}

function deadEndProblem(cert: Certificate, index: number, why: Dead, maxPathLength: number): ChainProblem {
  switch (why) {
    case 'loop':
      return { code: 'CHAIN_LOOP', certificateIndex: index, message: 'every issuer found for this certificate is already in the path (a loop)' };
    case 'too-long':
      return {
        code: 'CHAIN_NO_PATH_TO_ANCHOR',
        certificateIndex: index,
        message: `no trust anchor within ${maxPathLength} certificates (maxPathLength)`,
      };
    case 'budget':
      return {
        code: 'CHAIN_NO_PATH_TO_ANCHOR',
        certificateIndex: index,
        message: `the path search stopped after ${MAX_BUILD_STEPS} steps or ${MAX_SIGNATURE_CHECKS} signature checks`,
      };
    case 'work':
      return {
        code: 'CHAIN_NO_PATH_TO_ANCHOR',
        certificateIndex: index,
        message: 'the path search stopped: the public-key operation budget of this verification is spent',
      };
    case 'no-issuer':
      return {
        code: 'CHAIN_NO_PATH_TO_ANCHOR',
        certificateIndex: index,
        message: isSelfIssued(cert)
          ? 'this self-issued certificate is not a trust anchor'
          : 'no issuer certificate was found for this certificate among the intermediates and trust anchors',
      };
  }
}

const hasAny = (list: readonly string[] | undefined, wanted: readonly string[]) => list?.some((x) => wanted.includes(x)) === true;
const EMAIL_EKUS = [OID.idKpEmailProtection, OID.anyExtendedKeyUsage];

/**
 * Policy checks of one path, in certificate order. `edges[i]` is the check of `path[i]`'s
 * signature by `path[i + 1]`. When `complete`, the last certificate is the trust anchor: its
 * own signature and its EKU are not checked, and only explicit CA restrictions apply to it.
 */
function checkPath(
  path: readonly Certificate[],
  edges: readonly EdgeResult[],
  complete: boolean,
  opts: Options,
  nameChecks: NameCheckBudget,
): ChainProblem[] {
  const problems: ChainProblem[] = [];
  const at = opts.at.getTime();
  const smime = opts.purpose !== 'any';
  const encryption = opts.purpose === 'smime-encryption';
  const add = (code: ChainProblemCode, certificateIndex: number, message: string) => problems.push({ code, certificateIndex, message });

  path.forEach((cert, i) => {
    const isAnchor = complete && i === path.length - 1;
    if (at < cert.notBefore.getTime()) add('CHAIN_NOT_YET_VALID', i, `not valid before ${cert.notBefore.toISOString()}`);
    if (at > cert.notAfter.getTime()) add('CHAIN_EXPIRED', i, `expired at ${cert.notAfter.toISOString()}`);
    if (!opts.allowWeakAlgorithms && cert.publicKey.kind === 'rsa' && cert.publicKey.bits < opts.minRsaBits)
      add('CHAIN_WEAK_KEY', i, `RSA key of ${cert.publicKey.bits} bits; at least ${opts.minRsaBits} required`);
    for (const ext of cert.extensions.values())
      if (ext.critical && !KNOWN_CRITICAL.has(ext.oid)) add('CHAIN_UNKNOWN_CRITICAL_EXTENSION', i, `unknown critical extension ${ext.oid}`);

    const edge = edges[i];
    if (edge) {
      const alg = cert.signatureAlgorithm;
      const algName = 'unsupported' in alg ? 'an unsupported algorithm' : `${alg.scheme} with ${alg.hash}`;
      if (edge.status === 'invalid') add('CHAIN_SIGNATURE_INVALID', i, `the signature does not verify with the key of certificate ${i + 1}`);
      else if (edge.status === 'weak') add('CHAIN_WEAK_ALGORITHM', i, `signed with ${algName}, refused as weak`);
      else if (edge.status === 'unsupported') add('CHAIN_ALGORITHM_UNSUPPORTED', i, edge.reason ?? `cannot verify ${algName}`);
    }

    if (i === 0) {
      if (smime && cert.basicConstraints?.ca) add('CHAIN_LEAF_IS_CA', 0, 'the signer certificate is a CA certificate');
      if (smime && !encryption && cert.keyUsage && !hasAny(cert.keyUsage, ['digitalSignature', 'nonRepudiation']))
        add('CHAIN_LEAF_KEY_USAGE', 0, `keyUsage (${cert.keyUsage.join(', ') || 'none'}) allows neither digitalSignature nor nonRepudiation`);
      // RFC 8550 §4.4.2: an RSA recipient key needs keyEncipherment, an EC one keyAgreement.
      const wanted = cert.publicKey.kind === 'rsa' ? 'keyEncipherment' : 'keyAgreement';
      if (encryption && cert.keyUsage && !cert.keyUsage.includes(wanted))
        add('CHAIN_LEAF_KEY_USAGE', 0, `keyUsage (${cert.keyUsage.join(', ') || 'none'}) does not allow ${wanted}: the key may not be used to encrypt to`);
      if (encryption && cert.publicKey.kind === 'ed25519') add('CHAIN_LEAF_KEY_USAGE', 0, 'an Ed25519 key cannot receive encrypted mail');
      if (smime && !encryption && cert.publicKey.kind === 'x25519') add('CHAIN_LEAF_KEY_USAGE', 0, 'an X25519 key cannot sign (RFC 8410: key agreement only)');
      if (smime && cert.extKeyUsage && !hasAny(cert.extKeyUsage, EMAIL_EKUS))
        add('CHAIN_LEAF_EXT_KEY_USAGE', 0, 'extKeyUsage does not include emailProtection');
      return;
    }

    // An issuing certificate. An anchor is trusted as given, so only restrictions it states
    // itself (cA=false, keyUsage without keyCertSign, pathLen, name constraints) count against it.
    const bc = cert.basicConstraints;
    if (isAnchor ? bc?.ca === false : !bc?.ca) add('CHAIN_NOT_A_CA', i, 'issues certificates but is not a CA (basicConstraints cA is not true)');
    if (cert.keyUsage && !cert.keyUsage.includes('keyCertSign')) add('CHAIN_CA_KEY_USAGE', i, 'keyUsage does not include keyCertSign');
    if (bc?.pathLenConstraint !== undefined) {
      let below = 0;
      for (let j = 1; j < i; j++) if (!isSelfIssued(path[j]!)) below++;
      if (below > bc.pathLenConstraint)
        add('CHAIN_PATH_LENGTH_EXCEEDED', i, `pathLenConstraint ${bc.pathLenConstraint}, but ${below} intermediate CA(s) below`);
    }
    if (smime && !isAnchor && cert.extKeyUsage && !hasAny(cert.extKeyUsage, EMAIL_EKUS))
      add('CHAIN_CA_EXT_KEY_USAGE', i, 'this CA has extKeyUsage without emailProtection');
    const nc = nameConstraintsOf(cert);
    if (nc === 'malformed') add('CHAIN_UNKNOWN_CRITICAL_EXTENSION', i, 'the nameConstraints extension cannot be read');
    else if (nc) {
      for (let j = 0; j < i; j++) {
        if (j > 0 && isSelfIssued(path[j]!)) continue;
        const r = checkNameConstraints(path[j]!, nc, nameChecks);
        if (r.ok) continue;
        if (r.kind === 'unsupported') add('CHAIN_UNKNOWN_CRITICAL_EXTENSION', i, r.message);
        else if (r.kind === 'violation') add('CHAIN_NAME_CONSTRAINT_VIOLATION', j, `${r.message} (nameConstraints of certificate ${i})`);
        else {
          add('CHAIN_NAME_CONSTRAINTS_LIMIT', i, r.message);
          break;
        }
      }
    }
  });
  problems.sort((a, b) => (a.certificateIndex ?? 0) - (b.certificateIndex ?? 0));
  return problems;
}
