/**
 * Certificate policy processing: validateChain on the largest PKITS policy case (4.8–4.12, most
 * certificates, then most policy and mapping bytes), beside processPolicies alone on the same path,
 * a PKITS chain of the same section without policies, and `openssl verify` with the same initial
 * policy settings (one process per call, so its figure includes process start). Then the
 * policy-tree explosion shape (8 policies each mapped to all 8, six CAs deep: 8^6 leaves for the
 * RFC 5280 tree) through processPolicies.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  basicConstraintsValue,
  certificatePoliciesValue,
  keySigner,
  keyUsageValue,
  policyMappingsValue,
  randomSerial,
  signCertificate,
} from '../src/certs/builder.js';
import { certificateToPem, parseCertificate, type Certificate } from '../src/certs/certificate.js';
import { validateChain } from '../src/certs/chain.js';
import { processPolicies } from '../src/certs/chain-policy.js';
import { encodeName } from '../src/certs/name.js';
import { OID } from '../src/internal/oids.js';
import { defaultSignatureAlgorithm } from '../src/keys/algorithms.js';
import { exportSpki, generateKeyPair } from '../src/keys/index.js';
import { caseLeaf, caseOptions, loadPkitsCases, pkitsCertificate, pkitsValidationTime, type PkitsCase } from '../test/helpers/pkits.js';
import { measure, report, type Result } from './harness.js';

const POLICY_SECTION = /^4\.(8|9|10|11|12)\./;

function policyBytes(c: PkitsCase): number {
  let n = 0;
  for (const f of c.certificates) {
    const cert = pkitsCertificate(f);
    for (const oid of [OID.certificatePolicies, OID.policyMappings, OID.policyConstraints, OID.inhibitAnyPolicy]) n += cert.extensions.get(oid)?.value.length ?? 0;
  }
  return n;
}

function largestPolicyCase(): PkitsCase {
  const cases = loadPkitsCases().filter((c) => POLICY_SECTION.test(c.key) && c.expectValid);
  cases.sort((a, b) => b.certificates.length - a.certificates.length || policyBytes(b) - policyBytes(a));
  return cases[0]!;
}

/** Seconds per `openssl verify` of the case (best of `runs`), or undefined without openssl. */
function opensslVerify(c: PkitsCase, runs: number): { ms: number; ok: boolean } | undefined {
  if (spawnSync('openssl', ['version']).status !== 0) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'mailpki-bench-policy-'));
  try {
    const pem = (names: string[]) => names.map((n) => certificateToPem(pkitsCertificate(n))).join('');
    writeFileSync(join(dir, 'anchor.pem'), pem([c.certificates[0]!]));
    writeFileSync(join(dir, 'untrusted.pem'), pem(c.certificates.slice(1, -1)));
    writeFileSync(join(dir, 'leaf.pem'), pem([c.certificates[c.certificates.length - 1]!]));
    const args = ['verify', '-attime', String(Math.floor(pkitsValidationTime().getTime() / 1000)), '-policy_check', '-CAfile', join(dir, 'anchor.pem')];
    if (c.certificates.length > 2) args.push('-untrusted', join(dir, 'untrusted.pem'));
    for (const p of c.initialPolicySet) args.push('-policy', p);
    if (c.initialExplicitPolicy) args.push('-explicit_policy');
    if (c.initialPolicyMappingInhibit) args.push('-inhibit_map');
    if (c.initialInhibitAnyPolicy) args.push('-inhibit_any');
    args.push(join(dir, 'leaf.pem'));
    let best = Infinity;
    let ok = false;
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      const r = spawnSync('openssl', args, { encoding: 'utf8' });
      best = Math.min(best, performance.now() - t);
      ok = r.status === 0;
    }
    return { ms: best, ok };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function explosionPath(): Promise<Certificate[]> {
  const k = await generateKeyPair('ec-p256', { extractable: true });
  const signer = keySigner(k.privateKey, defaultSignatureAlgorithm(k.privateKey));
  const spki = await exportSpki(k.publicKey);
  const ps = Array.from({ length: 8 }, (_, i) => `1.2.3.4.${i}`);
  const mappings = ps.flatMap((a) => ps.map((b) => [a, b] as [string, string]));
  const now = Date.UTC(2026, 0, 1);
  const path: Certificate[] = [];
  let issuer = encodeName([{ type: 'CN', value: 'root' }]);
  for (let i = 0; i <= 7; i++) {
    const ca = i < 7;
    const subject = i === 0 ? issuer : encodeName([{ type: 'CN', value: ca ? `CA ${i}` : 'leaf' }]);
    const der = await signCertificate(
      {
        serial: randomSerial(crypto),
        issuer,
        subject,
        notBefore: new Date(now),
        notAfter: new Date(now + 86_400_000),
        spki,
        extensions: [
          { oid: OID.basicConstraints, critical: true, value: basicConstraintsValue(ca) },
          { oid: OID.keyUsage, critical: true, value: keyUsageValue(ca ? ['keyCertSign'] : ['digitalSignature']) },
          ...(i > 0 ? [{ oid: OID.certificatePolicies, critical: false, value: certificatePoliciesValue(ps) }] : []),
          ...(i > 0 && ca ? [{ oid: OID.policyMappings, critical: true, value: policyMappingsValue(mappings) }] : []),
        ],
      },
      signer,
    );
    path.unshift(parseCertificate(der));
    issuer = subject;
  }
  return path; // leaf first, root last
}

export async function benchPolicy(): Promise<void> {
  const c = largestPolicyCase();
  const leaf = caseLeaf(c);
  const options = caseOptions(c);
  const first = await validateChain(leaf, options);
  if (!first.ok) throw new Error(`PKITS ${c.key} did not validate: ${first.problems.map((p) => p.code).join(', ')}`);
  const noPolicies = loadPkitsCases().find((x) => x.key.startsWith('4.8.2'))!; // All Certificates No Policies Test2
  await validateChain(caseLeaf(noPolicies), caseOptions(noPolicies));

  // Signature checks are cached after the first call, so these figures are path processing.
  const rows: Result[] = [
    await measure(`validateChain PKITS ${c.key} (${c.certificates.length} certs)`, () => validateChain(leaf, options)),
    await measure(`processPolicies alone, same path`, () => processPolicies(first.path, options.policy)),
    await measure(`validateChain PKITS ${noPolicies.key} (${noPolicies.certificates.length} certs, no policies)`, () =>
      validateChain(caseLeaf(noPolicies), caseOptions(noPolicies)),
    ),
  ];
  report(`policy processing — largest PKITS policy case ${c.key} ${c.name}`, rows, rows[2]);
  const ossl = opensslVerify(c, 20);
  if (ossl) console.log(`  ${'openssl verify -policy_check, same case (best of 20)'.padEnd(52)} ${(1000 / ossl.ms).toFixed(0).padStart(8)} ops/s  (process start included; verdict ${ossl.ok ? 'OK' : 'refused'})`);
  else console.log('  openssl not found: no peer figure');

  const path = await explosionPath();
  const out = processPolicies(path, { requireExplicitPolicy: true });
  if (out.problems.length) throw new Error(`explosion path: ${out.problems.map((p) => p.code).join(', ')}`);
  report('policy-tree explosion shape: 8 policies × 64 mappings × 6 CAs (8^6 tree leaves)', [await measure('processPolicies', () => processPolicies(path, { requireExplicitPolicy: true }))]);
}
