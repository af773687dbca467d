import { writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  basicConstraintsValue,
  certificatePoliciesValue,
  inhibitAnyPolicyValue,
  keySigner,
  keyUsageValue,
  policyConstraintsValue,
  policyMappingsValue,
  randomSerial,
  signCertificate,
  type ExtensionInput,
} from '../../src/certs/builder.js';
import { certificateToPem, parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { validateChain, type ChainResult, type ValidateChainOptions } from '../../src/certs/chain.js';
import {
  MAX_POLICIES_PER_CERTIFICATE,
  MAX_POLICY_GRAPH_SIZE,
  MAX_POLICY_MAPPINGS_PER_CERTIFICATE,
  processPolicies,
} from '../../src/certs/chain-policy.js';
import { encodeName } from '../../src/certs/name.js';
import { seq } from '../../src/internal/der.js';
import { OID } from '../../src/internal/oids.js';
import { defaultSignatureAlgorithm } from '../../src/keys/algorithms.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { describeWithPeers, runStatus, tempDir } from '../helpers/peers.js';

const NOW = new Date('2026-11-01T10:00:00Z');
const DAY = 86_400_000;
const ANY = OID.anyPolicy;
const P1 = '2.16.840.1.101.3.2.1.48.1';
const P2 = '2.16.840.1.101.3.2.1.48.2';
const P3 = '2.16.840.1.101.3.2.1.48.3';

let sharedKeys: Promise<CryptoKeyPair> | undefined;
/** One key for every certificate: signatures are not what these tests are about. */
const keys = () => (sharedKeys ??= generateKeyPair('ec-p256', { extractable: true }));

interface Node {
  cert: Certificate;
  name: Uint8Array;
}

interface MintOptions {
  cn: string;
  issuer?: Node;
  ca?: boolean;
  /** certificatePolicies; undefined: none. */
  policies?: string[];
  mappings?: [string, string][];
  constraints?: { requireExplicitPolicy?: number; inhibitPolicyMapping?: number };
  inhibitAny?: number;
  extra?: ExtensionInput[];
}

async function mint(o: MintOptions): Promise<Node> {
  const k = await keys();
  const name = encodeName([{ type: 'O', value: 'Policy Test' }, { type: 'CN', value: o.cn }]);
  const exts: ExtensionInput[] = [
    { oid: OID.basicConstraints, critical: true, value: basicConstraintsValue(!!o.ca) },
    { oid: OID.keyUsage, critical: true, value: keyUsageValue(o.ca ? ['keyCertSign'] : ['digitalSignature']) },
  ];
  if (o.policies) exts.push({ oid: OID.certificatePolicies, critical: false, value: certificatePoliciesValue(o.policies) });
  if (o.mappings) exts.push({ oid: OID.policyMappings, critical: true, value: policyMappingsValue(o.mappings) });
  if (o.constraints) exts.push({ oid: OID.policyConstraints, critical: true, value: policyConstraintsValue(o.constraints) });
  if (o.inhibitAny !== undefined) exts.push({ oid: OID.inhibitAnyPolicy, critical: true, value: inhibitAnyPolicyValue(o.inhibitAny) });
  exts.push(...(o.extra ?? []));
  const der = await signCertificate(
    {
      serial: randomSerial(crypto),
      issuer: o.issuer?.name ?? name,
      subject: name,
      notBefore: new Date(NOW.getTime() - 30 * DAY),
      notAfter: new Date(NOW.getTime() + 300 * DAY),
      spki: await exportSpki(k.publicKey),
      extensions: exts,
    },
    keySigner(k.privateKey, defaultSignatureAlgorithm(k.privateKey)),
  );
  return { cert: parseCertificate(der), name };
}

/** root → CA 1 → … → leaf; `cas[i]` and `leaf` are the options besides the names. */
async function chain(cas: Omit<MintOptions, 'cn' | 'issuer'>[], leaf: Omit<MintOptions, 'cn' | 'issuer'>): Promise<{ root: Node; inters: Node[]; leaf: Node }> {
  const root = await mint({ cn: 'Root', ca: true });
  const inters: Node[] = [];
  let issuer = root;
  for (const [i, o] of cas.entries()) inters.push((issuer = await mint({ ...o, cn: `CA ${i + 1}`, ca: true, issuer })));
  return { root, inters, leaf: await mint({ ...leaf, cn: 'leaf', issuer }) };
}

async function validate(c: { root: Node; inters: Node[]; leaf: Node }, o: Partial<ValidateChainOptions> = {}): Promise<ChainResult> {
  return validateChain(c.leaf.cert, { trustAnchors: [c.root.cert], intermediates: c.inters.map((n) => n.cert), at: NOW, purpose: 'any', ...o });
}

const codes = (r: ChainResult) => r.problems.map((p) => [p.code, p.certificateIndex]);

describe('policy processing (RFC 5280 §6.1.3–§6.1.5)', () => {
  it('without any policy extension the path is valid and holds no policy', async () => {
    const r = await validate(await chain([{}], {}));
    expect(codes(r)).toEqual([]);
    expect(r.policies).toEqual({ userConstrainedPolicySet: [], authorityConstrainedPolicySet: [], anyPolicy: false, explicitPolicyRequired: false });
  });

  it('a policy asserted by every certificate holds; requiring it explicitly passes, requiring another fails at the leaf', async () => {
    const c = await chain([{ policies: [P1, P2] }], { policies: [P1] });
    const r = await validate(c);
    expect(r.ok).toBe(true);
    expect(r.policies).toEqual({ userConstrainedPolicySet: [P1], authorityConstrainedPolicySet: [P1], anyPolicy: false, explicitPolicyRequired: false });
    const req = await validate(c, { policy: { initialPolicySet: [P1], requireExplicitPolicy: true } });
    expect(req.ok).toBe(true);
    expect(req.policies?.userConstrainedPolicySet).toEqual([P1]);
    expect(req.policies?.explicitPolicyRequired).toBe(true);
    const other = await validate(c, { policy: { initialPolicySet: [P2], requireExplicitPolicy: true } });
    expect(codes(other)).toEqual([['CHAIN_NO_ACCEPTABLE_POLICY', 0]]);
    // Not required: the path is valid, for no acceptable policy.
    const notRequired = await validate(c, { policy: { initialPolicySet: [P2] } });
    expect(notRequired.ok).toBe(true);
    expect(notRequired.policies?.userConstrainedPolicySet).toEqual([]);
  });

  it('an intermediate without certificatePolicies ends every policy; with an explicit policy required, it is the certificate reported', async () => {
    const c = await chain([{ policies: [P1] }, {}], { policies: [P1] });
    expect((await validate(c)).policies?.userConstrainedPolicySet).toEqual([]);
    expect(codes(await validate(c, { policy: { requireExplicitPolicy: true } }))).toEqual([['CHAIN_NO_ACCEPTABLE_POLICY', 1]]);
  });

  it('anyPolicy in the CAs lets the leaf policy through; anyPolicy all the way down holds any named policy', async () => {
    const c = await chain([{ policies: [ANY] }], { policies: [P3] });
    const r = await validate(c, { policy: { initialPolicySet: [P3, P1], requireExplicitPolicy: true } });
    expect(r.ok).toBe(true);
    expect(r.policies).toEqual({ userConstrainedPolicySet: [P3], authorityConstrainedPolicySet: [P3], anyPolicy: false, explicitPolicyRequired: true });
    const all = await validate(await chain([{ policies: [ANY] }], { policies: [ANY] }), { policy: { initialPolicySet: [P1] } });
    expect(all.policies).toEqual({ userConstrainedPolicySet: [P1], authorityConstrainedPolicySet: [ANY], anyPolicy: true, explicitPolicyRequired: false });
  });

  it('inhibitAnyPolicy: 0 in a CA stops anyPolicy below it from matching', async () => {
    const c = await chain([{ policies: [ANY], inhibitAny: 0 }], { policies: [ANY] });
    expect(codes(await validate(c, { policy: { requireExplicitPolicy: true } }))).toEqual([['CHAIN_NO_ACCEPTABLE_POLICY', 0]]);
    // The initial setting does the same for the first CA already.
    const c2 = await chain([{ policies: [ANY] }], { policies: [P1] });
    expect(codes(await validate(c2, { policy: { requireExplicitPolicy: true, inhibitAnyPolicy: true } }))).toEqual([['CHAIN_NO_ACCEPTABLE_POLICY', 1]]);
  });

  it('policyMappings: the leaf policy maps back to the anchor domain; inhibited mapping makes the path hold no policy', async () => {
    const c = await chain([{ policies: [P1], mappings: [[P1, P2]] }], { policies: [P2] });
    const r = await validate(c, { policy: { requireExplicitPolicy: true } });
    expect(r.ok).toBe(true);
    expect(r.policies?.userConstrainedPolicySet).toEqual([P1]);
    // The mapped node is deleted at the CA; the leaf's P2 then continues nothing.
    expect(codes(await validate(c, { policy: { requireExplicitPolicy: true, inhibitPolicyMapping: true } }))).toEqual([['CHAIN_NO_ACCEPTABLE_POLICY', 0]]);
    // A CA's inhibitPolicyMapping: 0 stops the mapping of the CA below it.
    const c2 = await chain([{ policies: [P1], constraints: { inhibitPolicyMapping: 0 } }, { policies: [P1], mappings: [[P1, P2]] }], { policies: [P2] });
    expect(codes(await validate(c2, { policy: { requireExplicitPolicy: true } }))).toEqual([['CHAIN_NO_ACCEPTABLE_POLICY', 0]]);
    expect(codes(await validate(c2))).toEqual([]);
  });

  it('a mapping of a policy the CA only holds through anyPolicy is followed', async () => {
    const c = await chain([{ policies: [ANY], mappings: [[P1, P3]] }], { policies: [P3] });
    const r = await validate(c, { policy: { requireExplicitPolicy: true, initialPolicySet: [P1] } });
    expect(r.ok).toBe(true);
    expect(r.policies?.userConstrainedPolicySet).toEqual([P1]);
  });

  it('a critical policyMappings is understood, not an unknown critical extension', async () => {
    const r = await validate(await chain([{ policies: [P1], mappings: [[P1, P1]] }], { policies: [P1] }));
    expect(codes(r)).toEqual([]);
  });

  it('mapping to or from anyPolicy is refused', async () => {
    for (const m of [[ANY, P1], [P1, ANY]] as [string, string][]) {
      const r = await validate(await chain([{ policies: [P1], mappings: [m] }], { policies: [P1] }));
      expect(codes(r)).toEqual([['CHAIN_POLICY_MAPPING_ANY_POLICY', 1]]);
    }
  });

  it("policyConstraints requireExplicitPolicy counts the certificates below the CA; the leaf's own 0 applies to itself", async () => {
    const soon = await chain([{ policies: [ANY], constraints: { requireExplicitPolicy: 0 } }], {});
    expect(codes(await validate(soon))).toEqual([['CHAIN_NO_ACCEPTABLE_POLICY', 0]]);
    // SkipCerts 1: the leaf is the one certificate that may follow without a policy... but the
    // path must still end with one (§6.1.5 (a) counts the leaf).
    const one = await chain([{ policies: [ANY], constraints: { requireExplicitPolicy: 1 } }], {});
    expect(codes(await validate(one))).toEqual([['CHAIN_NO_ACCEPTABLE_POLICY', 0]]);
    const two = await chain([{ policies: [ANY], constraints: { requireExplicitPolicy: 2 } }], {});
    expect(codes(await validate(two))).toEqual([]);
    const leafOwn = await chain([{ policies: [P1] }], { policies: [P2], constraints: { requireExplicitPolicy: 0 } });
    expect(codes(await validate(leafOwn))).toEqual([['CHAIN_NO_ACCEPTABLE_POLICY', 0]]);
  });

  it('malformed policy extensions are CHAIN_POLICY_EXTENSION_INVALID at the certificate that carries them', async () => {
    const empty = await chain([{ policies: [P1], extra: [{ oid: OID.policyConstraints, critical: true, value: seq() }] }], { policies: [P1] });
    expect(codes(await validate(empty))).toEqual([['CHAIN_POLICY_EXTENSION_INVALID', 1]]);
    const twice = await chain([{ policies: [P1, P1] }], { policies: [P1] });
    expect(codes(await validate(twice))).toEqual([['CHAIN_POLICY_EXTENSION_INVALID', 1]]);
    const noMappings = await chain([{ policies: [P1], extra: [{ oid: OID.policyMappings, critical: true, value: seq() }] }], { policies: [P1] });
    expect(codes(await validate(noMappings))).toEqual([['CHAIN_POLICY_EXTENSION_INVALID', 1]]);
    const badInt = await chain([{ policies: [P1], extra: [{ oid: OID.inhibitAnyPolicy, critical: true, value: Uint8Array.of(0x02, 0x01, 0xff) }] }], { policies: [P1] });
    expect(codes(await validate(badInt))).toEqual([['CHAIN_POLICY_EXTENSION_INVALID', 1]]);
  });

  it('the trust anchor is taken as given: its own policy extensions are not processed', async () => {
    const root = await mint({ cn: 'Root', ca: true, policies: [P3], constraints: { requireExplicitPolicy: 0 } });
    const leaf = await mint({ cn: 'leaf', issuer: root, policies: [P1] });
    const r = await validateChain(leaf.cert, { trustAnchors: [root.cert], at: NOW, purpose: 'any' });
    expect(r.ok).toBe(true);
    expect(r.policies?.userConstrainedPolicySet).toEqual([P1]);
  });

  it('bad initial settings are caller mistakes (ERR_INVALID_INPUT)', async () => {
    const c = await chain([], {});
    const path = [c.leaf.cert, c.root.cert];
    expect(processPolicies(path, { initialPolicySet: [P1] }).problems).toEqual([]);
    expect(() => processPolicies(path, { initialPolicySet: ['x'] })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
    for (const bad of [[], [{}], 'path', [c.leaf.cert, null]])
      expect(() => processPolicies(bad as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
    for (const policy of [{ initialPolicySet: ['not.an.oid'] }, { initialPolicySet: [] }, { requireExplicit: true }])
      await expect(validate(c, { policy } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
  });
});

describe('policy processing bounds', () => {
  const many = (n: number, base = '1.2.3.4') => Array.from({ length: n }, (_, i) => `${base}.${i}`);

  it('more policies or mappings in one certificate than the bound: CHAIN_POLICY_TOO_COMPLEX', async () => {
    const policies = await chain([{ policies: many(MAX_POLICIES_PER_CERTIFICATE + 1) }], { policies: ['1.2.3.4.0'] });
    expect(codes(await validate(policies))).toEqual([['CHAIN_POLICY_TOO_COMPLEX', 1]]);
    const mappings = await chain([{ policies: [ANY], mappings: many(MAX_POLICY_MAPPINGS_PER_CERTIFICATE + 1).map((p) => [p, P1] as [string, string]) }], { policies: [P1] });
    expect(codes(await validate(mappings))).toEqual([['CHAIN_POLICY_TOO_COMPLEX', 1]]);
    // At the bound, it is processed.
    const atBound = await chain([{ policies: many(MAX_POLICIES_PER_CERTIFICATE) }], { policies: ['1.2.3.4.7'] });
    expect((await validate(atBound)).policies?.userConstrainedPolicySet).toEqual(['1.2.3.4.7']);
  });

  it('policy-tree explosion (CVE-2023-0464 shape): 8 policies each mapped to all 8, six CAs deep, is 8^6 tree leaves but a small graph', async () => {
    const ps = many(8);
    const mappings = ps.flatMap((a) => ps.map((b) => [a, b] as [string, string]));
    expect(mappings.length).toBe(MAX_POLICY_MAPPINGS_PER_CERTIFICATE);
    const c = await chain(Array.from({ length: 6 }, () => ({ policies: ps, mappings })), { policies: [ps[3]!] });
    // processPolicies on the path directly: time the policy step alone.
    const path = [c.leaf.cert, ...c.inters.map((n) => n.cert).reverse(), c.root.cert];
    const t0 = performance.now();
    const out = processPolicies(path, { requireExplicitPolicy: true });
    expect(performance.now() - t0).toBeLessThan(500);
    expect(out.problems).toEqual([]);
    expect(out.policies.userConstrainedPolicySet).toEqual([...ps].sort());
    const r = await validate(c, { maxPathLength: 10 });
    expect(codes(r)).toEqual([]);
  });

  it('a long path of CAs at the per-certificate bounds passes MAX_POLICY_GRAPH_SIZE: CHAIN_POLICY_TOO_COMPLEX, quickly', async () => {
    const ps = many(MAX_POLICIES_PER_CERTIFICATE);
    const mappings = ps.map((p, i) => [p, ps[(i + 1) % ps.length]!] as [string, string]);
    const cas = Array.from({ length: 24 }, () => ({ policies: ps, mappings }));
    const c = await chain(cas, { policies: ps });
    const path = [c.leaf.cert, ...c.inters.map((n) => n.cert).reverse(), c.root.cert];
    const t0 = performance.now();
    const out = processPolicies(path);
    expect(performance.now() - t0).toBeLessThan(500);
    expect(out.problems).toHaveLength(1);
    expect(out.problems[0]).toMatchObject({ code: 'CHAIN_POLICY_TOO_COMPLEX' });
    expect(out.problems[0]!.message).toContain(`${MAX_POLICY_GRAPH_SIZE}`);
    const r = await validate(c, { maxPathLength: 30 });
    expect(r.problems.map((p) => p.code)).toEqual(['CHAIN_POLICY_TOO_COMPLEX']);
  });

  it('a wide but legitimate path (32 policies per certificate, 6 CAs, one-to-one mappings) stays within the bound', async () => {
    const ps = many(32);
    const cas = Array.from({ length: 6 }, () => ({ policies: ps, mappings: ps.map((p) => [p, p] as [string, string]) }));
    const r = await validate(await chain(cas, { policies: ps }), { maxPathLength: 10, policy: { requireExplicitPolicy: true } });
    expect(codes(r)).toEqual([]);
    expect(r.policies?.userConstrainedPolicySet).toEqual([...ps].sort());
  });
});

// ---------------------------------------------------------------------------------------------
// Random policy configurations: never a throw, and the same verdict as OpenSSL's own policy
// processing (a tree with its own bounds, a different implementation of the same RFC).

const POOL = [P1, P2, P3];
const certConfig = (ca: boolean) =>
  fc.record({
    policies: fc.option(fc.subarray([...POOL, ANY], { minLength: 1 }), { nil: undefined }),
    mappings: ca ? fc.option(fc.uniqueArray(fc.tuple(fc.constantFrom(...POOL), fc.constantFrom(...POOL)), { minLength: 1, maxLength: 3, selector: ([a, b]) => `${a}>${b}` }), { nil: undefined }) : fc.constant(undefined),
    constraints: fc.option(
      fc.record({ requireExplicitPolicy: fc.option(fc.nat(2), { nil: undefined }), inhibitPolicyMapping: fc.option(fc.nat(2), { nil: undefined }) }).filter((c) => c.requireExplicitPolicy !== undefined || c.inhibitPolicyMapping !== undefined),
      { nil: undefined },
    ),
    inhibitAny: ca ? fc.option(fc.nat(2), { nil: undefined }) : fc.constant(undefined),
  });
const scenario = fc.record({
  cas: fc.array(certConfig(true), { minLength: 1, maxLength: 4 }),
  leaf: certConfig(false),
  initial: fc.record({
    initialPolicySet: fc.option(fc.subarray(POOL, { minLength: 1 }), { nil: undefined }),
    requireExplicitPolicy: fc.boolean(),
    inhibitPolicyMapping: fc.boolean(),
    inhibitAnyPolicy: fc.boolean(),
  }),
});
type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

const clean = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
const POLICY_CODES = ['CHAIN_NO_ACCEPTABLE_POLICY', 'CHAIN_POLICY_MAPPING_ANY_POLICY', 'CHAIN_POLICY_EXTENSION_INVALID', 'CHAIN_POLICY_TOO_COMPLEX'];

async function runScenario(s: Scenario) {
  const c = await chain(s.cas.map((x) => clean(x)), clean(s.leaf));
  return { c, r: await validate(c, { maxPathLength: 10, policy: clean(s.initial) }) };
}

describe('policy processing on random configurations', () => {
  it('never throws; only policy problems; an explicit policy required means a policy held', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const { r } = await runScenario(s);
        for (const p of r.problems) expect(POLICY_CODES).toContain(p.code);
        expect(r.policies).toBeDefined();
        if (r.ok && r.policies!.explicitPolicyRequired) expect(r.policies!.userConstrainedPolicySet.length).toBeGreaterThan(0);
        if (r.ok && s.initial.initialPolicySet)
          for (const p of r.policies!.userConstrainedPolicySet) expect(s.initial.initialPolicySet).toContain(p);
      }),
      { numRuns: 60, seed: 14 },
    );
  });
});

describeWithPeers('policy processing agrees with openssl verify -policy_check', ['openssl'], () => {
  const t = tempDir('mailpki-policy-');
  afterAll(() => t.cleanup());

  it('on random chains of up to 4 CAs (policies, mappings, constraints, initial settings)', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const { c, r } = await runScenario(s);
        const dir = `run-${n++}`;
        const file = (name: string, certs: Certificate[]) => {
          const path = t.path(`${dir}-${name}.pem`);
          writeFileSync(path, certs.map((x) => certificateToPem(x)).join(''));
          return path;
        };
        const args = ['verify', '-attime', String(Math.floor(NOW.getTime() / 1000)), '-policy_check', '-CAfile', file('root', [c.root.cert])];
        args.push('-untrusted', file('inter', c.inters.map((x) => x.cert)));
        for (const p of s.initial.initialPolicySet ?? []) args.push('-policy', p);
        if (s.initial.requireExplicitPolicy) args.push('-explicit_policy');
        if (s.initial.inhibitPolicyMapping) args.push('-inhibit_map');
        if (s.initial.inhibitAnyPolicy) args.push('-inhibit_any');
        args.push(file('leaf', [c.leaf.cert]));
        const ossl = runStatus('openssl', args);
        if (r.ok !== (ossl.status === 0))
          throw new Error(`disagreement: mailpki ${JSON.stringify(r.problems)}, openssl ${ossl.status} ${ossl.stdout}${ossl.stderr} for ${JSON.stringify(s)}`);
      }),
      { numRuns: 40, seed: 5280 },
    );
  }, 120_000);
});
