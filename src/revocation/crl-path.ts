/**
 * RFC 5280 §6.3 CRL processing: the one CRL engine. validateChain's `crls`, the revocation
 * checker's given CRLs and its fetched CRLs all come here, so a CRL means the same thing
 * whichever way it arrived.
 *
 * For each distribution point of the certificate (and then for CRLs "not specified in a
 * distribution point but issued by the certificate issuer", §6.3.3 last paragraph) every complete
 * CRL is tried: issuer and scope (cRLIssuer + indirectCRL, issuingDistributionPoint names and
 * onlyContains*), the reason mask, a CRL signer that is found and trusted (the certificate's
 * issuer, or another key of the CRL issuer whose own path the caller validates), the signature,
 * freshness at the validation time, no unprocessed critical extension, and its delta CRL. The
 * certificate is good once the CRLs used cover all eight reasons, revoked as soon as one lists it.
 */
import type { RevocationReason } from '../ca/types.js';
import type { Certificate } from '../certs/certificate.js';
import { namesMatch, readName } from '../certs/name.js';
import { MailPkiError } from '../errors.js';
import { equalBytes, fromLatin1 } from '../internal/bytes.js';
import { Tag, contentOf, cursor, encodedOf, parseDer, tlv, type Der } from '../internal/der.js';
import { OID } from '../internal/oids.js';
import { verifyBytes } from '../keys/algorithms.js';
import type { PublicKeyBudget } from '../keys/budget.js';
import { CRL_OID } from './crl-common.js';
import { MAX_CRL_BYTES, REASON_FLAG_BITS, parseCrl, type Crl, type CrlRevocation } from './crl-parse.js';

/** Most CRLs one call may be given (`crls` of validateChain, verifyMessage, RevocationChecker). */
export const MAX_SUPPLIED_CRLS = 64;
/** Most entries read one by one in an indirect CRL for one certificate (direct look-ups use the index). */
export const MAX_CRL_ENTRIES_SCANNED = 1_000_000;
/** How deep CRL signers' own paths are validated: a CRL signer whose CRL signer needs a path, and so on. */
export const MAX_CRL_ISSUER_DEPTH = 2;
/** Most CRL signature verifications for one validation (CRL signers' paths included). */
export const MAX_CRL_SIGNATURE_CHECKS = 64;
/** Most cRLDistributionPoints of one certificate that are considered. */
export const MAX_DISTRIBUTION_POINTS = 16;

/** A CRL as a caller may give it: DER, PEM, or already parsed with `parseCrl`. */
export type CrlInput = Uint8Array | string | Crl;

export function isParsedCrl(v: unknown): v is Crl {
  return typeof v === 'object' && v !== null && (v as Crl).der instanceof Uint8Array && typeof (v as Crl).lookup === 'function' && (v as Crl).issuer?.der instanceof Uint8Array;
}

/**
 * Parses the CRLs a caller gave (at most MAX_SUPPLIED_CRLS). A CRL that cannot be read is a
 * caller's mistake here, not a verdict: ERR_INVALID_INPUT naming `field[i]`.
 */
export function parseCrlInputs(inputs: readonly CrlInput[], field: string, maxBytes = MAX_CRL_BYTES): Crl[] {
  if (inputs.length > MAX_SUPPLIED_CRLS)
    throw new MailPkiError('ERR_INPUT_TOO_LARGE', `${field}: ${inputs.length} CRLs given, at most ${MAX_SUPPLIED_CRLS} (MAX_SUPPLIED_CRLS)`, {
      details: { field, limit: MAX_SUPPLIED_CRLS },
    });
  return inputs.map((c, i) => {
    if (isParsedCrl(c)) return c;
    try {
      return parseCrl(c, { maxBytes });
    } catch (e) {
      throw new MailPkiError('ERR_INVALID_INPUT', `${field}[${i}]: not a readable CRL (${(e as Error).message})`, { cause: e, details: { field: `${field}.${i}` } });
    }
  });
}

/** The outcome of §6.3 for one certificate. */
export interface CrlStatus {
  /** `undetermined`: the CRLs at hand do not cover the certificate for every reason (see `why`). */
  status: 'good' | 'revoked' | 'undetermined';
  /** For `revoked`: what the CRL says (reason 'unspecified' when it gives none). */
  revocation?: CrlRevocation & { reason: RevocationReason };
  /** The complete CRL that listed the certificate (revoked), or the last one used (good). */
  crl?: Crl;
  /** The delta CRL used with it, if any. */
  delta?: Crl;
  /** Why each CRL considered was not used, or why the status stays undetermined. */
  why: string[];
}

/** Shared by every certificate of one validation: signature results, trusted signers, the work bound. */
export class CrlSession {
  readonly signatures = new WeakMap<Crl, Map<Certificate, Promise<string | undefined>>>();
  readonly trusted = new Map<Certificate, Promise<boolean>>();
  /** Entries found per (CRL, certificate): an indirect CRL is read at most once per certificate. */
  readonly entries = new WeakMap<Crl, Map<Certificate, CrlRevocation | undefined | 'too-many'>>();
  /** CRL signers whose own path is being validated now. */
  readonly inProgress = new Set<Certificate>();
  signatureChecks = 0;
}

export interface CrlCheckOptions {
  crls: readonly Crl[];
  /** The validation time: a CRL must be current at it (thisUpdate ≤ at ≤ nextUpdate). */
  at: Date;
  crypto: Crypto;
  allowWeakAlgorithms?: boolean;
  /** Other certificates that may hold a CRL issuer's key (intermediates, anchors, rollover certificates). */
  candidates?: readonly Certificate[];
  /**
   * Whether a CRL signer other than the certificate's issuer is trusted: its own path to the same
   * trust anchor, revocation included (§6.3.3 (f)). Without it only the issuer's own key signs CRLs.
   */
  trustSigner?: (signer: Certificate) => Promise<boolean>;
  session?: CrlSession;
  budget?: PublicKeyBudget;
}

/** ReasonFlags bits 1–8 (keyCompromise … aACompromise): `all-reasons` of §6.3.3. */
const ALL_REASONS = 0x1fe;

interface DistributionPoint {
  /** Names of the distribution point (fullName, or the relative name resolved against the CRL issuer). */
  names?: GeneralName[];
  reasons: number;
  /** cRLIssuer directory names (DER of each Name); other forms cannot name a CRL issuer here. */
  crlIssuer?: Uint8Array[];
  /** Other names in cRLIssuer, for matching an IDP without a distributionPoint of the DP's own. */
  crlIssuerNames?: GeneralName[];
}

/** A GeneralName: its DER, or for a directoryName the Name's DER (compared as names). */
type GeneralName = { dn: Uint8Array } | { other: Uint8Array };

/**
 * Issuer and subject names compare as RFC 5280 §7.1 says (namesMatch: RFC 4518 preparation, DER
 * fast path). A name that cannot be read matches only its own bytes.
 */
export function sameName(a: Uint8Array, b: Uint8Array): boolean {
  if (equalBytes(a, b)) return true;
  try {
    return namesMatch(readName(parseDer(a)), readName(parseDer(b)));
  } catch (e) {
    if (e instanceof MailPkiError) return false;
    throw e;
  }
}

function sameGeneralName(a: GeneralName, b: GeneralName): boolean {
  if ('dn' in a) return 'dn' in b && sameName(a.dn, b.dn);
  return 'other' in b && equalBytes(a.other, b.other);
}

const isCa = (c: Certificate): boolean => c.basicConstraints?.ca === true;

/**
 * RFC 5280 §6.3.3 for `certificate`, issued by `issuer`, with the CRLs given. Never throws for a
 * bad CRL or certificate: those are reasons in `why` and an `undetermined` status.
 */
export async function checkCertificateWithCrls(certificate: Certificate, issuer: Certificate, o: CrlCheckOptions): Promise<CrlStatus> {
  const why: string[] = [];
  const session = o.session ?? new CrlSession();
  const dps = distributionPointsOf(certificate, why);
  if (!dps) return { status: 'undetermined', why };
  // Newest first (thisUpdate, then cRLNumber): the first CRL that covers every reason ends the search (§6.3.3 (d)),
  // and an older CRL of the same issuer given beside a newer one must not answer "good" for it.
  const complete = o.crls.filter((c) => c.deltaCrlIndicator === undefined).sort(newestFirst);
  if (complete.length === 0) why.push(o.crls.length === 0 ? 'no CRL was given' : 'only delta CRLs were given, no complete CRL');
  let mask = 0;
  let used: { crl: Crl; delta?: Crl } | undefined;
  for (const dp of dps) {
    for (const crl of complete) {
      if (mask === ALL_REASONS) break;
      const scope = scopeOf(crl, certificate, dp);
      if (typeof scope === 'string') {
        why.push(`the CRL's scope does not cover the certificate: ${scope}`);
        continue;
      }
      if ((scope & ~mask) === 0) continue; // covers no reason not yet covered (§6.3.3 (d))
      const unusable = await usableFor(crl, certificate, issuer, o, session);
      if (unusable) {
        why.push(`CRL of "${crl.issuerName}": ${unusable}`);
        continue;
      }
      const delta = await deltaFor(crl, certificate, issuer, o, session, why);
      if (delta === 'missing') continue;
      // §6.3.3 (i)–(k): the delta first; removeFromCRL there undoes the complete CRL's entry.
      let entry = delta ? findEntryOnce(delta, certificate, session) : undefined;
      if (entry === 'too-many' || (entry === undefined && (entry = findEntryOnce(crl, certificate, session)) === 'too-many')) {
        why.push(`CRL of "${crl.issuerName}": indirect CRL with more than ${MAX_CRL_ENTRIES_SCANNED} entries to read (MAX_CRL_ENTRIES_SCANNED)`);
        continue;
      }
      if (entry && entry.reason !== 'removeFromCRL')
        return { status: 'revoked', revocation: { ...entry, reason: entry.reason ?? 'unspecified' }, crl, ...(delta && { delta }), why: [] };
      mask |= scope;
      used = { crl, ...(delta && { delta }) };
    }
    if (mask === ALL_REASONS) break;
  }
  if (mask === ALL_REASONS) return { status: 'good', crl: used!.crl, ...(used!.delta && { delta: used!.delta }), why: [] };
  if (mask !== 0)
    why.push(
      `the CRL's scope does not cover the certificate for every reason (it lists only revocations for ${reasonNames(mask).join(', ')} (onlySomeReasons)): not listed is not proof of good`,
    );
  return { status: 'undetermined', why: [...new Set(why)] };
}

function newestFirst(a: Crl, b: Crl): number {
  const t = b.thisUpdate.getTime() - a.thisUpdate.getTime();
  if (t !== 0) return t;
  const [x, y] = [a.crlNumber ?? -1n, b.crlNumber ?? -1n];
  return x === y ? 0 : y > x ? 1 : -1;
}

function reasonNames(mask: number): RevocationReason[] {
  return REASON_FLAG_BITS.filter((r, i): r is RevocationReason => r !== undefined && (mask & (1 << i)) !== 0);
}

function reasonMask(reasons: readonly RevocationReason[] | undefined): number {
  if (!reasons) return ALL_REASONS;
  let m = 0;
  REASON_FLAG_BITS.forEach((r, i) => {
    if (r && reasons.includes(r)) m |= 1 << i;
  });
  return m;
}

// ---------------------------------------------------------------------------------------------
// Scope: §6.3.3 (b) and (c). A string says why the CRL does not apply.

function scopeOf(crl: Crl, cert: Certificate, dp: DistributionPoint, issuerChecked = false): number | string {
  const idp = crl.issuingDistributionPoint;
  if (issuerChecked) {
    // crlCoverage: the caller has matched the CRL to the certificate's issuer already.
  } else if (dp.crlIssuer) {
    if (!idp?.indirectCRL) return "the certificate's distribution point names a cRLIssuer, and this CRL is not indirect";
    if (!dp.crlIssuer.some((n) => sameName(n, crl.issuer.der))) return "its issuer is not the distribution point's cRLIssuer";
  } else if (!sameName(crl.issuer.der, cert.issuer.der)) return "its issuer is not the certificate's issuer";
  if (!idp) return ALL_REASONS & dp.reasons;
  if (idp.onlyContainsAttributeCerts) return 'it lists attribute certificates only (onlyContainsAttributeCerts)';
  if (idp.onlyContainsCACerts && !isCa(cert)) return 'it lists CA certificates only (onlyContainsCACerts) and this is an end-entity certificate';
  if (idp.onlyContainsUserCerts && isCa(cert)) return 'it lists end-entity certificates only (onlyContainsUserCerts) and this is a CA certificate';
  if (idp.distributionPoint) {
    const theirs = dpNames(idp.distributionPoint, crl.issuer.der);
    const ours = dp.names ?? dp.crlIssuerNames;
    if (!theirs) return 'its issuingDistributionPoint cannot be read';
    if (!ours) return 'its issuingDistributionPoint names a distribution point and the certificate names none';
    if (!theirs.some((a) => ours.some((b) => sameGeneralName(a, b))))
      return "its issuingDistributionPoint names another distribution point than the certificate's cRLDistributionPoints";
  }
  const interim = reasonMask(idp.onlySomeReasons ? (idp.reasons ?? []) : undefined) & dp.reasons;
  if (interim === 0) return "it covers none of the reasons the certificate's distribution point is for";
  return interim;
}

/** The cRLDistributionPoints (at most MAX_DISTRIBUTION_POINTS), then the "issued by the certificate issuer" one. */
function distributionPointsOf(cert: Certificate, why: string[]): DistributionPoint[] | undefined {
  const byIssuer: DistributionPoint = { reasons: ALL_REASONS };
  const ext = cert.extensions.get(OID.cRLDistributionPoints);
  if (!ext) return [byIssuer];
  const out: DistributionPoint[] = [];
  try {
    const c = cursor(parseDer(ext.value));
    while (!c.done && out.length < MAX_DISTRIBUTION_POINTS) {
      const d = cursor(c.next(Tag.SEQUENCE));
      const nameNode = d.optional(0xa0);
      const reasonsNode = d.optional(0x81);
      const issuerNode = d.optional(0xa2);
      d.end();
      const crlIssuerNames = issuerNode ? generalNames(issuerNode) : undefined;
      const crlIssuer = crlIssuerNames?.flatMap((n) => ('dn' in n ? [n.dn] : []));
      const relativeTo = crlIssuer?.[0] ?? cert.issuer.der;
      let names: GeneralName[] | undefined;
      if (nameNode) {
        const inner = cursor(nameNode);
        names = dpNames(encodedOf(inner.next()), relativeTo) ?? [];
        inner.end();
      }
      out.push({
        ...(names && { names }),
        reasons: reasonsNode ? reasonFlags(reasonsNode) : ALL_REASONS,
        ...(crlIssuer && { crlIssuer }),
        ...(crlIssuerNames && { crlIssuerNames }),
      });
    }
  } catch (e) {
    if (!(e instanceof MailPkiError)) throw e;
    why.push(`the certificate's cRLDistributionPoints cannot be read (${e.message})`);
    return undefined;
  }
  out.push(byIssuer);
  return out;
}

function generalNames(node: Der): GeneralName[] {
  const out: GeneralName[] = [];
  const c = cursor(node);
  while (!c.done) {
    const n = c.next();
    out.push(n.tag === 0xa4 ? { dn: encodedOf(cursor(n).next(Tag.SEQUENCE)) } : { other: encodedOf(n) });
  }
  return out;
}

/** A DistributionPointName (DER of [0] fullName or [1] nameRelativeToCRLIssuer) as GeneralNames. */
function dpNames(der: Uint8Array, crlIssuer: Uint8Array): GeneralName[] | undefined {
  try {
    const node = parseDer(der);
    if (node.tag === 0xa0) return generalNames(node);
    if (node.tag !== 0xa1) return undefined;
    // §6.3.3 (b)(2)(i) via §4.2.1.13: the RDN appended to the CRL issuer's name.
    const issuer = parseDer(crlIssuer);
    return [{ dn: tlv(Tag.SEQUENCE, contentOf(issuer), tlv(Tag.SET, contentOf(node))) }];
  } catch (e) {
    if (e instanceof MailPkiError) return undefined;
    throw e;
  }
}

function reasonFlags(node: Der): number {
  const b = contentOf(node);
  if (b.length === 0 || b[0]! > 7) throw new MailPkiError('ERR_DER_MALFORMED', 'bad ReasonFlags');
  let m = 0;
  for (let i = 1; i < 9; i++) if ((b[1 + (i >> 3)] ?? 0) & (0x80 >> (i & 7))) m |= 1 << i;
  return m;
}

/**
 * The scope part alone (§6.3.3 (b)–(c)) for `crlCoverage`: whether a CRL of the certificate's
 * issuer covers it through any of its distribution points, and for every reason.
 */
export function scopeForCertificate(crl: Crl, cert: Certificate): { covers: boolean; complete: boolean; why?: string } {
  const dps = distributionPointsOf(cert, []);
  if (!dps) return { covers: false, complete: false, why: "the certificate's cRLDistributionPoints cannot be read" };
  let mask = 0;
  let why: string | undefined;
  for (const dp of dps) {
    const s = scopeOf(crl, cert, dp, true);
    if (typeof s === 'string') why ??= s;
    else mask |= s;
  }
  if (mask === 0) return { covers: false, complete: false, why: why ?? 'it covers no reason' };
  if (mask !== ALL_REASONS) return { covers: true, complete: false, why: `it lists only revocations for ${reasonNames(mask).join(', ') || 'no reason'} (onlySomeReasons)` };
  return { covers: true, complete: true };
}

// ---------------------------------------------------------------------------------------------
// The CRL itself: signer, signature, freshness, extensions (§6.3.3 (a), (e), (f)).

/** Why the CRL cannot be used, or undefined when it can. */
async function usableFor(crl: Crl, cert: Certificate, issuer: Certificate, o: CrlCheckOptions, session: CrlSession): Promise<string | undefined> {
  const at = o.at.getTime();
  if (at < crl.thisUpdate.getTime()) return `not yet valid at ${o.at.toISOString()} (thisUpdate ${crl.thisUpdate.toISOString()})`;
  if (crl.nextUpdate && at > crl.nextUpdate.getTime()) return `expired at ${o.at.toISOString()} (nextUpdate ${crl.nextUpdate.toISOString()})`;
  const unknown = unprocessedCritical(crl);
  if (unknown.length > 0) return `critical extension(s) not processed: ${unknown.join(', ')}`;
  return signerProblem(crl, cert, issuer, o, session);
}

/** The critical extensions this engine does not process: an indirect CRL and its certificateIssuer entries are processed. */
function unprocessedCritical(crl: Crl): string[] {
  const indirect = crl.issuingDistributionPoint?.indirectCRL === true;
  return crl.unsupportedCriticalExtensions.filter((oid) => !(indirect && (oid === CRL_OID.issuingDistributionPoint || oid === CRL_OID.certificateIssuer)));
}

/**
 * A trusted certificate with the CRL issuer's name (and key identifier) whose key verifies the
 * CRL and that may sign CRLs; undefined when found, else why not.
 */
async function signerProblem(crl: Crl, cert: Certificate, issuer: Certificate, o: CrlCheckOptions, session: CrlSession): Promise<string | undefined> {
  const seen = new Set<Certificate>();
  const reasons: string[] = [];
  for (const c of [issuer, ...(o.candidates ?? [])]) {
    if (seen.has(c)) continue;
    seen.add(c);
    if (!sameName(c.subject.der, crl.issuer.der)) continue;
    if (crl.authorityKeyIdentifier && c.subjectKeyIdentifier && !equalBytes(crl.authorityKeyIdentifier, c.subjectKeyIdentifier)) continue;
    if (c.keyUsage && !c.keyUsage.includes('cRLSign')) {
      reasons.push('its signer certificate has keyUsage without cRLSign');
      continue;
    }
    const bad = await signatureProblem(crl, c, o, session);
    if (bad) {
      reasons.push(bad);
      continue;
    }
    // The certificate's issuer is trusted through the path being validated; another key of the
    // CRL issuer needs its own path to the same anchor (§6.3.3 (f)).
    const isIssuer = c === issuer || (equalBytes(c.subject.der, issuer.subject.der) && equalBytes(c.publicKey.spki, issuer.publicKey.spki));
    if (isIssuer && sameName(crl.issuer.der, cert.issuer.der)) return undefined;
    if (!o.trustSigner) {
      reasons.push('it is signed by a key other than the certificate issuer’s, and no path for that key can be validated here');
      continue;
    }
    // A CRL signer's path may need a CRL it signed itself (an indirect CRL that covers its own
    // certificate, PKITS 4.14.30): within its own validation it is taken as the signer it claims.
    if (session.inProgress.has(c)) return undefined;
    let trusted = session.trusted.get(c);
    if (!trusted) {
      session.inProgress.add(c);
      trusted = o.trustSigner(c).finally(() => session.inProgress.delete(c));
      session.trusted.set(c, trusted);
    }
    if (await trusted) return undefined;
    reasons.push(`its signer certificate (serial ${c.serialNumber}) has no valid path to the trust anchor, or is revoked`);
  }
  return reasons.length > 0 ? reasons.join('; ') : `no certificate of its issuer "${crl.issuerName}" (with its key identifier) was found to verify it`;
}

/** Why `signer`'s key does not verify the CRL, or undefined when it does (memoised per session). */
function signatureProblem(crl: Crl, signer: Certificate, o: CrlCheckOptions, session: CrlSession): Promise<string | undefined> {
  let bySigner = session.signatures.get(crl);
  if (!bySigner) session.signatures.set(crl, (bySigner = new Map()));
  let p = bySigner.get(signer);
  if (!p) bySigner.set(signer, (p = verifyCrlSignature(crl, signer, o, session)));
  return p;
}

/**
 * The signature check of `verifyCrl` and of this engine: one place for the algorithm policy.
 * Returns why it fails, or undefined.
 */
export async function crlSignatureProblem(
  crl: Crl,
  signer: Certificate,
  crypto: Crypto,
  allowWeakAlgorithms: boolean,
): Promise<{ code: 'CRL_ALGORITHM_UNSUPPORTED' | 'CRL_WEAK_ALGORITHM' | 'CRL_SIGNATURE_INVALID'; message: string } | undefined> {
  const alg = crl.signatureAlgorithm;
  if ('unsupported' in alg) return { code: 'CRL_ALGORITHM_UNSUPPORTED', message: alg.unsupported };
  if ((alg.hash === 'SHA-1' || alg.hash === 'MD5') && !allowWeakAlgorithms) return { code: 'CRL_WEAK_ALGORITHM', message: `the CRL is signed with ${alg.hash}` };
  if (alg.hash === 'MD5') return { code: 'CRL_ALGORITHM_UNSUPPORTED', message: 'MD5 signatures cannot be verified' };
  try {
    if (!(await verifyBytes(crypto, signer.publicKey, alg, crl.tbs, crl.signatureValue)))
      return { code: 'CRL_SIGNATURE_INVALID', message: "the CRL's signature does not verify with the issuer's key" };
  } catch (e) {
    // The provider refusing the key, or an RSA key for an ECDSA signature: cannot be checked.
    if (!(e instanceof MailPkiError) || e.code === 'ERR_UNSUPPORTED_RUNTIME') throw e;
    return { code: 'CRL_ALGORITHM_UNSUPPORTED', message: e.message };
  }
  return undefined;
}

/**
 * CRL signatures that verified, per parsed CRL (frozen, so its bytes never change) and signer key:
 * a CRL parsed once serves many validations without running the cryptography again. Failures are
 * not remembered (a transient provider error must not stick), nor results under allowWeakAlgorithms.
 */
const verifiedCrls = new WeakMap<Crl, Set<string>>();

async function verifyCrlSignature(crl: Crl, signer: Certificate, o: CrlCheckOptions, session: CrlSession): Promise<string | undefined> {
  const weak = o.allowWeakAlgorithms ?? false;
  const key = fromLatin1(signer.publicKey.spki);
  if (!weak && verifiedCrls.get(crl)?.has(key)) return undefined;
  if (session.signatureChecks >= MAX_CRL_SIGNATURE_CHECKS) return `not checked: more than ${MAX_CRL_SIGNATURE_CHECKS} CRL signatures in one validation (MAX_CRL_SIGNATURE_CHECKS)`;
  if (o.budget && !o.budget.take(signer.publicKey)) return 'not checked: the public-key operation budget of this verification is spent';
  session.signatureChecks++;
  const p = await crlSignatureProblem(crl, signer, o.crypto, weak);
  if (!p && !weak) {
    let keys = verifiedCrls.get(crl);
    if (!keys) verifiedCrls.set(crl, (keys = new Set()));
    if (keys.size < 4) keys.add(key);
  }
  return p && `${p.code}: ${p.message}`;
}

// ---------------------------------------------------------------------------------------------
// Delta CRLs (§5.2.4, §6.3.3 (g)–(i)).

/**
 * The newest usable delta CRL for `base`: same issuer and scope, built on a base no newer than
 * `base` and newer itself. Undefined when none is needed; 'missing' when one is needed (the
 * certificate or the base names a freshestCRL, or a delta for this base was given) and none is usable.
 */
async function deltaFor(
  base: Crl,
  cert: Certificate,
  issuer: Certificate,
  o: CrlCheckOptions,
  session: CrlSession,
  why: string[],
): Promise<Crl | undefined | 'missing'> {
  const baseNumber = base.crlNumber;
  const candidates = o.crls.filter(
    (d) =>
      d.deltaCrlIndicator !== undefined &&
      sameName(d.issuer.der, base.issuer.der) &&
      sameScope(d, base) &&
      baseNumber !== undefined &&
      d.deltaCrlIndicator <= baseNumber &&
      d.crlNumber !== undefined &&
      d.crlNumber > baseNumber,
  );
  const needed = candidates.length > 0 || base.extensions.has(CRL_OID.freshestCRL) || cert.extensions.has(CRL_OID.freshestCRL);
  if (!needed) return undefined;
  candidates.sort((a, b) => (a.crlNumber! > b.crlNumber! ? -1 : a.crlNumber! < b.crlNumber! ? 1 : 0));
  const reasons: string[] = [];
  for (const d of candidates) {
    const bad = await usableFor(d, cert, issuer, o, session);
    if (!bad) return d;
    reasons.push(`delta CRL ${d.crlNumber}: ${bad}`);
  }
  why.push(
    `CRL of "${base.issuerName}" (number ${base.crlNumber ?? 'none'}) needs a delta CRL and none is usable${reasons.length > 0 ? ` (${reasons.join('; ')})` : ''}`,
  );
  return 'missing';
}

function sameScope(a: Crl, b: Crl): boolean {
  const x = a.issuingDistributionPoint?.der;
  const y = b.issuingDistributionPoint?.der;
  return x === undefined || y === undefined ? x === y : equalBytes(x, y);
}

// ---------------------------------------------------------------------------------------------
// Entries (§6.3.3 (i), (j)): by serial, and in an indirect CRL by certificate issuer too.

function findEntryOnce(crl: Crl, cert: Certificate, session: CrlSession): CrlRevocation | undefined | 'too-many' {
  let byCert = session.entries.get(crl);
  if (!byCert) session.entries.set(crl, (byCert = new Map()));
  if (byCert.has(cert)) return byCert.get(cert);
  const r = findEntry(crl, cert);
  byCert.set(cert, r);
  return r;
}

function findEntry(crl: Crl, cert: Certificate): CrlRevocation | undefined | 'too-many' {
  const hit = crl.lookup(cert.serialBytes);
  if (!hit || !crl.issuingDistributionPoint?.indirectCRL) return hit;
  // Each entry belongs to the issuer named by the last certificateIssuer before it (the CRL issuer at first).
  const b = cert.serialBytes;
  let k = 0;
  while (k < b.length - 1 && ((b[k] === 0 && b[k + 1]! < 0x80) || (b[k] === 0xff && b[k + 1]! >= 0x80))) k++;
  const serial = b.subarray(k); // canonical, as CrlEntry.serialBytes
  let current: GeneralName[] = [{ dn: crl.issuer.der }];
  let scanned = 0;
  for (const e of crl.entries()) {
    if (++scanned > MAX_CRL_ENTRIES_SCANNED) return 'too-many';
    if (e.certificateIssuer) current = certificateIssuerNames(e.certificateIssuer);
    if (equalBytes(e.serialBytes, serial) && current.some((n) => 'dn' in n && sameName(n.dn, cert.issuer.der))) {
      const { serialNumber: _, serialBytes: __, certificateIssuer: ___, ...rest } = e;
      return rest;
    }
  }
  return undefined;
}

function certificateIssuerNames(der: Uint8Array): GeneralName[] {
  try {
    return generalNames(parseDer(der));
  } catch (e) {
    if (e instanceof MailPkiError) return [];
    throw e;
  }
}
