/**
 * Certificate policy processing of a certification path (RFC 5280 §6.1.2–§6.1.5), with the
 * valid-policy *graph* of RFC 9618 instead of the tree: one node per (depth, policy) with a set
 * of parents, so a path of many policies and mappings grows polynomially, not exponentially. The
 * graph is further bounded by named constants; past them the path is refused as too complex
 * (the policy-tree explosion is a known denial-of-service class, CVE-2023-0464).
 *
 * Only the certificates below the trust anchor are processed: the anchor is trusted as given and
 * its own policy extensions are not read (RFC 5280 §6.1.1 (d) takes the anchor's name and key only).
 */
import { z } from 'zod';
import { MailPkiError } from '../errors.js';
import { parseInput } from '../internal/validate.js';
import { Tag, contentOf, cursor, parseDer, readOid, type Der } from '../internal/der.js';
import { OID } from '../internal/oids.js';
import { isSelfIssued, type Certificate } from './certificate.js';

/** Most policies one certificate's certificatePolicies may list. */
export const MAX_POLICIES_PER_CERTIFICATE = 64;
/** Most mappings one certificate's policyMappings may list. */
export const MAX_POLICY_MAPPINGS_PER_CERTIFICATE = 64;
/**
 * Most graph elements (nodes, parent links and expected-policy entries) one path may create.
 * Every step of the processing is linear in what it created, so this bounds time and memory.
 */
export const MAX_POLICY_GRAPH_SIZE = 4096;

export type PolicyProblemCode =
  | 'CHAIN_NO_ACCEPTABLE_POLICY'
  | 'CHAIN_POLICY_MAPPING_ANY_POLICY'
  | 'CHAIN_POLICY_EXTENSION_INVALID'
  | 'CHAIN_POLICY_TOO_COMPLEX';

export interface PolicyProblem {
  code: PolicyProblemCode;
  message: string;
  /** Index in the path (0 = leaf). */
  certificateIndex: number;
}

/** The initial policy settings of RFC 5280 §6.1.1 (c), (e), (f), (g). */
export interface PolicyOptions {
  /** user-initial-policy-set: policies acceptable to the caller. Default: anyPolicy (any). */
  initialPolicySet?: readonly string[];
  /** initial-explicit-policy: the path must be valid for at least one policy of initialPolicySet. Default false. */
  requireExplicitPolicy?: boolean;
  /** initial-policy-mapping-inhibit: policy mappings are not followed. Default false. */
  inhibitPolicyMapping?: boolean;
  /** initial-any-policy-inhibit: anyPolicy in a certificate is not taken as matching every policy. Default false. */
  inhibitAnyPolicy?: boolean;
}

/** What RFC 5280 §6.1.6 outputs about policies, in the trust anchor's policy domain. */
export interface ChainPolicies {
  /**
   * The policies the path is valid for within `initialPolicySet` (RFC 5280's
   * user-constrained-policy-set). ['2.5.29.32.0'] (anyPolicy) when anyPolicy holds and no
   * initialPolicySet was given; empty when the path is valid for no policy.
   */
  userConstrainedPolicySet: string[];
  /**
   * The policies the certificates of the path themselves assert and that hold down to the leaf
   * (the authorities-constrained-policy-set), whatever `initialPolicySet` says; includes anyPolicy
   * when anyPolicy is asserted all the way down.
   */
  authorityConstrainedPolicySet: string[];
  /** True when anyPolicy holds down to the leaf (then any policy the caller names counts as held). */
  anyPolicy: boolean;
  /** True when the path requires an acceptable policy (explicit_policy reached 0). */
  explicitPolicyRequired: boolean;
}

const ANY = OID.anyPolicy;

/** A dotted OID, as accepted in `initialPolicySet`. */
export const policyOidSchema = z
  .string()
  .max(256)
  .regex(/^[0-2](\.(0|[1-9][0-9]*))+$/, 'expected a dotted object identifier like 2.23.140.1.5.1.1');

export const policyOptionsSchema = z
  .object({
    initialPolicySet: z.array(policyOidSchema).min(1).max(MAX_POLICIES_PER_CERTIFICATE).optional(),
    requireExplicitPolicy: z.boolean().optional(),
    inhibitPolicyMapping: z.boolean().optional(),
    inhibitAnyPolicy: z.boolean().optional(),
  })
  .strict();

// ---------------------------------------------------------------------------------------------
// The policy extensions, read once per certificate object.

interface PolicyExtensions {
  policies?: string[];
  /** issuerDomainPolicy → subjectDomainPolicy values, in order of appearance. */
  mappings?: [string, string][];
  requireExplicitPolicy?: number;
  inhibitPolicyMapping?: number;
  inhibitAnyPolicy?: number;
}

class PolicyError extends Error {
  constructor(
    readonly code: PolicyProblemCode,
    message: string,
  ) {
    super(message);
  }
}

const extensionCache = new WeakMap<Certificate, PolicyExtensions | PolicyError>();

function policyExtensionsOf(cert: Certificate): PolicyExtensions {
  let r = extensionCache.get(cert);
  if (!r) {
    try {
      r = readPolicyExtensions(cert);
    } catch (e) {
      if (e instanceof PolicyError) r = e;
      else r = new PolicyError('CHAIN_POLICY_EXTENSION_INVALID', `a policy extension cannot be read (${e instanceof Error ? e.message : String(e)})`);
    }
    extensionCache.set(cert, r);
  }
  if (r instanceof PolicyError) throw r;
  return r;
}

function readPolicyExtensions(cert: Certificate): PolicyExtensions {
  const out: PolicyExtensions = {};
  if (cert.extensions.has(OID.certificatePolicies)) {
    if (cert.policies.length > MAX_POLICIES_PER_CERTIFICATE)
      throw new PolicyError('CHAIN_POLICY_TOO_COMPLEX', `${cert.policies.length} certificate policies; at most ${MAX_POLICIES_PER_CERTIFICATE} are processed`);
    if (new Set(cert.policies).size !== cert.policies.length)
      throw new PolicyError('CHAIN_POLICY_EXTENSION_INVALID', 'certificatePolicies names a policy twice (RFC 5280 §4.2.1.4)');
    out.policies = cert.policies;
  }
  const pm = cert.extensions.get(OID.policyMappings)?.value;
  if (pm) out.mappings = readPolicyMappings(pm);
  const pc = cert.extensions.get(OID.policyConstraints)?.value;
  if (pc) {
    const c = cursor(parseDer(pc, 'ERR_CERT_MALFORMED', 'invalid policyConstraints'), 'ERR_CERT_MALFORMED', 'invalid policyConstraints');
    const req = c.optional(0x80);
    const inh = c.optional(0x81);
    c.end();
    if (!req && !inh) throw new PolicyError('CHAIN_POLICY_EXTENSION_INVALID', 'policyConstraints is empty (RFC 5280 §4.2.1.11)');
    if (req) out.requireExplicitPolicy = readSkipCerts(req, 'requireExplicitPolicy');
    if (inh) out.inhibitPolicyMapping = readSkipCerts(inh, 'inhibitPolicyMapping');
  }
  const iap = cert.extensions.get(OID.inhibitAnyPolicy)?.value;
  if (iap) out.inhibitAnyPolicy = readSkipCerts(parseDer(iap, 'ERR_CERT_MALFORMED', 'invalid inhibitAnyPolicy'), 'inhibitAnyPolicy', Tag.INTEGER);
  return out;
}

function readPolicyMappings(value: Uint8Array): [string, string][] {
  const c = cursor(parseDer(value, 'ERR_CERT_MALFORMED', 'invalid policyMappings'), 'ERR_CERT_MALFORMED', 'invalid policyMappings');
  const out: [string, string][] = [];
  while (!c.done) {
    if (out.length >= MAX_POLICY_MAPPINGS_PER_CERTIFICATE)
      throw new PolicyError('CHAIN_POLICY_TOO_COMPLEX', `more than ${MAX_POLICY_MAPPINGS_PER_CERTIFICATE} policy mappings in one certificate`);
    const m = cursor(c.next(Tag.SEQUENCE), 'ERR_CERT_MALFORMED', 'invalid policyMappings');
    const issuer = readOid(m.next(Tag.OID));
    const subject = readOid(m.next(Tag.OID));
    m.end();
    out.push([issuer, subject]);
  }
  if (out.length === 0) throw new PolicyError('CHAIN_POLICY_EXTENSION_INVALID', 'policyMappings is empty (RFC 5280 §4.2.1.5)');
  return out;
}

/** SkipCerts ::= INTEGER (0..MAX); a value beyond any path length is as good as "no constraint". */
function readSkipCerts(node: Der, what: string, tag = node.tag): number {
  const b = contentOf(node);
  if (node.tag !== tag || b.length === 0 || (b[0]! & 0x80) !== 0 || (b.length > 1 && b[0] === 0 && (b[1]! & 0x80) === 0))
    throw new PolicyError('CHAIN_POLICY_EXTENSION_INVALID', `${what} is not a non-negative DER INTEGER`);
  if (b.length > 4) return Number.MAX_SAFE_INTEGER;
  let v = 0;
  for (const byte of b) v = v * 256 + byte;
  return v;
}

// ---------------------------------------------------------------------------------------------
// The valid-policy graph (RFC 9618 §3): level d holds at most one node per policy OID.

interface PolicyNode {
  policy: string;
  expected: Set<string>;
  parents: PolicyNode[];
}

class PolicyGraph {
  /** levels[d]: the nodes of depth d by valid_policy. */
  readonly levels: Map<string, PolicyNode>[] = [new Map([[ANY, { policy: ANY, expected: new Set([ANY]), parents: [] }]])];
  private size = 1;

  get depth(): number {
    return this.levels.length - 1;
  }

  private spend(n: number): void {
    this.size += n;
    if (this.size > MAX_POLICY_GRAPH_SIZE)
      throw new PolicyError('CHAIN_POLICY_TOO_COMPLEX', `the policy graph grew past ${MAX_POLICY_GRAPH_SIZE} elements (MAX_POLICY_GRAPH_SIZE)`);
  }

  add(level: Map<string, PolicyNode>, policy: string, parents: PolicyNode[], expected: Iterable<string> = [policy]): PolicyNode {
    const node: PolicyNode = { policy, expected: new Set(expected), parents };
    this.spend(1 + parents.length + node.expected.size);
    level.set(policy, node);
    return node;
  }

  setExpected(node: PolicyNode, expected: Set<string>): void {
    this.spend(expected.size);
    node.expected = expected;
  }

  /** Removes, from the level above the deepest upwards, every node that has no child. */
  prune(): void {
    for (let d = this.depth - 1; d >= 0; d--) {
      const used = new Set<PolicyNode>();
      for (const n of this.levels[d + 1]!.values()) for (const p of n.parents) used.add(p);
      const level = this.levels[d]!;
      for (const [k, n] of level) if (!used.has(n)) level.delete(k);
    }
  }

  /** Whether the graph is empty (RFC 5280's NULL tree). */
  get empty(): boolean {
    return this.levels[this.depth]!.size === 0;
  }
}

// ---------------------------------------------------------------------------------------------

export interface PolicyOutcome {
  policies: ChainPolicies;
  problems: PolicyProblem[];
}

/**
 * Runs RFC 5280 policy processing over a complete path (leaf first, trust anchor last), such as
 * `validateChain`'s `result.path` (which already went through it). The outcome is data: problems
 * with the index of the certificate concerned, and the policies that hold. Signatures and
 * everything else about the path are not checked here.
 *
 * @example
 * const { policies, problems } = processPolicies(result.path, { initialPolicySet: ['2.23.140.1.5.1.3'], requireExplicitPolicy: true });
 */
export function processPolicies(path: readonly Certificate[], options: PolicyOptions = {}): PolicyOutcome {
  const looksParsed = (c: unknown) => typeof c === 'object' && c !== null && (c as Certificate).extensions instanceof Map && Array.isArray((c as Certificate).policies);
  if (!Array.isArray(path) || path.length === 0 || !path.every(looksParsed))
    throw new MailPkiError('ERR_INVALID_INPUT', 'processPolicies: path: expected a non-empty array of certificates from parseCertificate(), leaf first', { details: { field: 'path' } });
  return runPolicies(path, parseInput(policyOptionsSchema, options, 'processPolicies options'));
}

/** processPolicies without the checks of its arguments (validateChain validated them already). */
export function runPolicies(path: readonly Certificate[], options: PolicyOptions = {}): PolicyOutcome {
  const none: ChainPolicies = { userConstrainedPolicySet: [], authorityConstrainedPolicySet: [], anyPolicy: false, explicitPolicyRequired: false };
  // RFC 5280 numbers the certificates 1..n from the anchor's child down to the leaf.
  const n = Math.max(0, path.length - 1);
  const at = (i: number) => n - i; // index in `path` of certificate i
  let explicitPolicy = options.requireExplicitPolicy ? 0 : n + 1;
  let inhibitAnyPolicy = options.inhibitAnyPolicy ? 0 : n + 1;
  let policyMapping = options.inhibitPolicyMapping ? 0 : n + 1;
  let graph: PolicyGraph | undefined = new PolicyGraph();
  const problem = (code: PolicyProblemCode, i: number, message: string): PolicyOutcome => ({
    policies: { ...none, explicitPolicyRequired: explicitPolicy === 0 },
    problems: [{ code, certificateIndex: at(i), message }],
  });

  let i = 1;
  try {
    for (; i <= n; i++) {
      const cert = path[at(i)]!;
      const ext = policyExtensionsOf(cert);
      const selfIssuedIntermediate = i < n && isSelfIssued(cert);

      // §6.1.3 (d), (e)
      if (graph && ext.policies) processCertificatePolicies(graph, ext.policies, inhibitAnyPolicy > 0 || selfIssuedIntermediate);
      else graph = undefined;
      if (graph?.empty) graph = undefined;
      // §6.1.3 (f)
      if (explicitPolicy === 0 && !graph)
        return problem(
          'CHAIN_NO_ACCEPTABLE_POLICY',
          i,
          ext.policies ? 'no policy of this certificate continues a policy valid above it, and an explicit policy is required' : 'this certificate has no certificatePolicies, and an explicit policy is required',
        );
      if (i === n) break;

      // §6.1.4 (a), (b)
      if (ext.mappings) {
        if (ext.mappings.some(([a, b]) => a === ANY || b === ANY))
          return problem('CHAIN_POLICY_MAPPING_ANY_POLICY', i, 'policyMappings maps to or from anyPolicy (RFC 5280 §6.1.4 (a))');
        if (graph) applyMappings(graph, ext.mappings, policyMapping > 0);
        if (graph?.empty) graph = undefined;
      }
      // §6.1.4 (h), (i), (j)
      if (!isSelfIssued(cert)) {
        if (explicitPolicy > 0) explicitPolicy--;
        if (policyMapping > 0) policyMapping--;
        if (inhibitAnyPolicy > 0) inhibitAnyPolicy--;
      }
      if (ext.requireExplicitPolicy !== undefined) explicitPolicy = Math.min(explicitPolicy, ext.requireExplicitPolicy);
      if (ext.inhibitPolicyMapping !== undefined) policyMapping = Math.min(policyMapping, ext.inhibitPolicyMapping);
      if (ext.inhibitAnyPolicy !== undefined) inhibitAnyPolicy = Math.min(inhibitAnyPolicy, ext.inhibitAnyPolicy);
    }
  } catch (e) {
    if (e instanceof PolicyError) return problem(e.code, Math.min(i, n), e.message);
    throw e;
  }

  // §6.1.5 (a), (b)
  if (explicitPolicy > 0) explicitPolicy--;
  if (n > 0 && policyExtensionsOf(path[0]!).requireExplicitPolicy === 0) explicitPolicy = 0;

  // §6.1.5 (g), on the graph (RFC 9618 §4.2): the valid policy node set is the nodes whose parent
  // is anyPolicy (where a policy enters the path in the anchor's domain), plus anyPolicy at depth n.
  const authority = new Set<string>();
  if (graph) {
    for (const level of graph.levels)
      for (const node of level.values()) if (node.policy !== ANY && node.parents.length === 1 && node.parents[0]!.policy === ANY) authority.add(node.policy);
    if (graph.levels[n]!.has(ANY)) authority.add(ANY);
  }
  const initial = options.initialPolicySet;
  let user: Set<string>;
  if (!initial || initial.includes(ANY)) user = new Set(authority);
  else {
    user = new Set([...authority].filter((p) => initial.includes(p)));
    if (authority.has(ANY)) for (const p of initial) user.add(p);
  }
  const policies: ChainPolicies = {
    userConstrainedPolicySet: [...user].sort(),
    authorityConstrainedPolicySet: [...authority].sort(),
    anyPolicy: authority.has(ANY),
    explicitPolicyRequired: explicitPolicy === 0,
  };
  if (explicitPolicy === 0 && user.size === 0)
    return {
      policies,
      problems: [
        {
          code: 'CHAIN_NO_ACCEPTABLE_POLICY',
          certificateIndex: 0,
          message: initial
            ? `the path is valid for none of the acceptable policies (${initial.join(', ')}), and an explicit policy is required`
            : 'the path is valid for no policy, and an explicit policy is required',
        },
      ],
    };
  return { policies, problems: [] };
}

/** §6.1.3 (d) for one certificate: a new level of the graph, then pruning. */
function processCertificatePolicies(graph: PolicyGraph, policies: readonly string[], anyPolicyCounts: boolean): void {
  const parentLevel = graph.levels[graph.depth]!;
  const level = new Map<string, PolicyNode>();
  graph.levels.push(level);
  const byExpected = new Map<string, PolicyNode[]>();
  for (const node of parentLevel.values())
    for (const e of node.expected) {
      const list = byExpected.get(e);
      if (list) list.push(node);
      else byExpected.set(e, [node]);
    }
  const anyParent = parentLevel.get(ANY);
  // (d)(1)
  for (const p of policies) {
    if (p === ANY) continue;
    const parents = byExpected.get(p) ?? (anyParent ? [anyParent] : undefined);
    if (parents) graph.add(level, p, parents);
  }
  // (d)(2): anyPolicy continues every expected policy not yet at this depth (anyPolicy included).
  if (anyPolicyCounts && policies.includes(ANY))
    for (const [e, parents] of byExpected) if (!level.has(e)) graph.add(level, e, parents);
  // (d)(3)
  graph.prune();
}

/** §6.1.4 (b): policyMappings of certificate i, on the nodes of depth i. */
function applyMappings(graph: PolicyGraph, mappings: readonly [string, string][], follow: boolean): void {
  const level = graph.levels[graph.depth]!;
  if (!follow) {
    for (const [issuer] of mappings) level.delete(issuer);
    graph.prune();
    return;
  }
  const bySubject = new Map<string, Set<string>>();
  for (const [issuer, subject] of mappings) {
    const set = bySubject.get(issuer);
    if (set) set.add(subject);
    else bySubject.set(issuer, new Set([subject]));
  }
  const any = level.get(ANY);
  for (const [issuer, subjects] of bySubject) {
    const node = level.get(issuer);
    if (node) graph.setExpected(node, subjects);
    else if (any) graph.add(level, issuer, any.parents, subjects);
  }
}
