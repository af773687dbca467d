/**
 * NIST PKITS 1.0.1 as data (test/vectors/pkits, see its README.md) and one way to run a case
 * through the public API. The options a case gets are built in `caseOptions` only, so that CRL
 * and policy inputs are added in one place.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MailPkiError } from '../../src/errors.js';
import { parseCertificate, validateChain, type Certificate, type ValidateChainOptions } from '../../src/certs/index.js';

const dir = fileURLToPath(new URL('../vectors/pkits/', import.meta.url));

export interface PkitsCase {
  /** Section, plus `/n` for the n-th initial setting of a test the suite runs several times ("4.8.1/2"). */
  key: string;
  section: string;
  name: string;
  /** File names under certs/: trust anchor first, end entity last. */
  certificates: string[];
  /** File names under crls/, as the suite lists them. */
  crls: string[];
  expectValid: boolean;
  /** Policy OIDs (anyPolicy = 2.5.29.32.0). */
  initialPolicySet: string[];
  initialExplicitPolicy: boolean;
  initialPolicyMappingInhibit: boolean;
  initialInhibitAnyPolicy: boolean;
  /** The user-constrained-policy-set PKITS expects as output (policy OIDs). */
  userConstrainedPolicySet: string[];
}

interface CasesFile {
  validationTime: string;
  cases: PkitsCase[];
}

let loaded: CasesFile | undefined;
const file = (): CasesFile => (loaded ??= JSON.parse(readFileSync(`${dir}cases.json`, 'utf8')) as CasesFile);

export function loadPkitsCases(): PkitsCase[] {
  return file().cases;
}

/** The validation time for every case. */
export const pkitsValidationTime = (): Date => new Date(file().validationTime);

/** DER bytes of a PKITS certificate or CRL file. */
export const readPkitsCertificateDer = (name: string): Uint8Array => new Uint8Array(readFileSync(`${dir}certs/${name}`));
export const readPkitsCrlDer = (name: string): Uint8Array => new Uint8Array(readFileSync(`${dir}crls/${name}`));

const certificates = new Map<string, Certificate>();
/** A parsed PKITS certificate (parsed once; parse errors are thrown, coded). */
export function pkitsCertificate(name: string): Certificate {
  let c = certificates.get(name);
  if (!c) certificates.set(name, (c = parseCertificate(readPkitsCertificateDer(name))));
  return c;
}

/** The end-entity certificate of a case. */
export const caseLeaf = (c: PkitsCase): Certificate => pkitsCertificate(c.certificates[c.certificates.length - 1]!);

/** The validateChain options for a case: the only place a case's inputs become options. */
export function caseOptions(c: PkitsCase): ValidateChainOptions {
  const [anchor, ...rest] = c.certificates;
  return {
    trustAnchors: [pkitsCertificate(anchor!)],
    intermediates: rest.slice(0, -1).map(pkitsCertificate),
    at: pkitsValidationTime(),
    purpose: 'any',
    // PKITS signs with SHA-1 and RSA-1024.
    allowWeakAlgorithms: true,
    // PKITS paths have up to 7 certificates with the anchor.
    maxPathLength: 16,
    // CRLs (c.crls): added here by the CRL work.
    // Policy inputs (c.initialPolicySet, c.initialExplicitPolicy, ...): added here by the policy work.
  };
}

export interface PkitsOutcome {
  valid: boolean;
  /** The first chain problem, or the error code when a certificate cannot be used at all. */
  code?: string;
}

/**
 * Runs one case through the public API; a coded error (e.g. a DSA key at parse) is an invalid
 * outcome. Certificates are parsed anchor first, so the error is the first unusable one's.
 */
export async function runPkitsCase(c: PkitsCase): Promise<PkitsOutcome> {
  try {
    const options = caseOptions(c);
    const r = await validateChain(caseLeaf(c), options);
    return r.ok ? { valid: true } : { valid: false, code: r.problems[0]?.code ?? 'CHAIN_NO_PATH_TO_ANCHOR' };
  } catch (e) {
    if (e instanceof MailPkiError) return { valid: false, code: e.code };
    throw e;
  }
}
