/**
 * Makes test/vectors/pkits/cases.json from test/vectors/pkits/pkits_testcases-inl.h, BoringSSL's
 * rendering of the test descriptions in NIST PKITS 1.0.1 (PKITS.pdf), so every case is data:
 * its chain, its CRLs, the expected result and the initial settings the suite states.
 *
 *   npx tsx scripts/pkits-cases.ts            # rewrites cases.json
 *   npx tsx scripts/pkits-cases.ts --check    # exits 1 when cases.json is not what this script makes
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { PkitsCase } from '../test/helpers/pkits.js';

const dir = fileURLToPath(new URL('../test/vectors/pkits/', import.meta.url));

/** PKITS.pdf §3: the policy names used by the test descriptions. */
const POLICY_OIDS: Record<string, string> = {
  anyPolicy: '2.5.29.32.0',
  'NIST-test-policy-1': '2.16.840.1.101.3.2.1.48.1',
  'NIST-test-policy-2': '2.16.840.1.101.3.2.1.48.2',
  'NIST-test-policy-3': '2.16.840.1.101.3.2.1.48.3',
  'NIST-test-policy-6': '2.16.840.1.101.3.2.1.48.6',
};

function policies(list: string): string[] {
  if (list === '') return [];
  return list.split(',').map((p) => {
    const oid = POLICY_OIDS[p];
    if (!oid) throw new Error(`unknown policy name ${p}`);
    return oid;
  });
}

function names(block: string, which: 'certs' | 'crls'): string[] {
  const m = new RegExp(`const char\\* const ${which}\\[\\] = \\{([^}]*)\\}`).exec(block);
  if (!m) throw new Error(`no ${which} in ${block.slice(0, 80)}`);
  return [...m[1]!.matchAll(/"([^"]+)"/g)].map((x) => x[1]!);
}

export function parseCases(source: string): PkitsCase[] {
  const out: PkitsCase[] = [];
  const heads = [...source.matchAll(/^\/\/ (4\.\d+\.\d+) (.+?)(?: \(Subpart (\d+)\))?$/gm)];
  heads.forEach((h, i) => {
    const block = source.slice(h.index, heads[i + 1]?.index ?? source.length);
    const [, section, name, subpart] = h;
    const flag = (setter: string) => {
      const m = new RegExp(`info\\.${setter}\\((true|false)\\)`).exec(block);
      return m ? m[1] === 'true' : false;
    };
    const list = (setter: string, dflt: string) => new RegExp(`info\\.${setter}\\("([^"]*)"\\)`).exec(block)?.[1] ?? dflt;
    const valid = /info\.should_validate = (true|false);/.exec(block);
    if (!valid) throw new Error(`no expected result for ${section}`);
    out.push({
      key: subpart ? `${section}/${subpart}` : section!,
      section: section!,
      name: name!,
      certificates: names(block, 'certs').map((n) => `${n}.crt`),
      crls: names(block, 'crls').map((n) => `${n}.crl`),
      expectValid: valid[1] === 'true',
      // Defaults from PKITS.pdf §3 (and generate_tests.py's TestInfo).
      initialPolicySet: policies(list('SetInitialPolicySet', 'anyPolicy')),
      initialExplicitPolicy: flag('SetInitialExplicitPolicy'),
      initialPolicyMappingInhibit: flag('SetInitialPolicyMappingInhibit'),
      initialInhibitAnyPolicy: flag('SetInitialInhibitAnyPolicy'),
      userConstrainedPolicySet: policies(list('SetUserConstrainedPolicySet', 'NIST-test-policy-1')),
    });
  });
  return out;
}

const cases = parseCases(readFileSync(`${dir}pkits_testcases-inl.h`, 'utf8'));
if (cases.length !== 249) throw new Error(`expected 249 PKITS cases, found ${cases.length}`);
const text = `${JSON.stringify(
  {
    source: 'NIST PKITS 1.0.1 via BoringSSL pki/testdata/nist-pkits/pkits_testcases-inl.h (see README.md)',
    // Every PKITS certificate is valid from 2010-01-01 (or earlier) to 2030-12-31 except the deliberately bad ones.
    validationTime: '2011-04-15T00:00:00Z',
    cases,
  },
  null,
  1,
)}\n`;
if (process.argv.includes('--check')) {
  if (readFileSync(`${dir}cases.json`, 'utf8') !== text) {
    console.error('cases.json differs from what scripts/pkits-cases.ts makes');
    process.exit(1);
  }
} else writeFileSync(`${dir}cases.json`, text);
console.log(`${cases.length} cases`);
