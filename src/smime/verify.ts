/**
 * verifyMessage: S/MIME (RFC 8551) verification that a program can act on. The data goes one way:
 * MIME split → CMS → chain → sender binding → verdict. Every spoofing class of Müller et al.
 * ("Johnny, you are fired!", USENIX Security 2019) that applies to signatures is named in
 * `problems`: CMS container tricks, MIME wrapping, and sender/signer mismatch.
 */
import { z } from 'zod';
import { findSignerCertificate, parseSignedData, verifySignerInfo, type SignedData } from '../cms/index.js';
import { CMS_OID } from '../cms/oids.js';
import { validateChain } from '../certs/chain.js';
import { certificateEmails, parseCertificateCached, parseCertificates, type Certificate } from '../certs/certificate.js';
import { formatName } from '../certs/name.js';
import { MailPkiError } from '../errors.js';
import { systemClock, type Clock } from '../internal/clock.js';
import { resolveCrypto } from '../internal/crypto.js';
import { parseInput } from '../internal/validate.js';
import { getHeaders, parseMessage, walkEntities, type MimeEntity, type MimeLimits } from '../mime/index.js';
import { checkSender, readFrom, sameMailbox } from './sender.js';
import { RevocationChecker, type RevocationPolicy, type RevocationResult } from '../revocation/checker.js';
import type { CertificateSummary, SignerResult, SmimeProblem, SmimeProblemCode, SmimeWarning, SmimeWarningCode, Verdict } from './verdict.js';

export type CertificateInput = Certificate | Uint8Array | string;

export interface VerifyMessageOptions {
  /** The certificates you trust (explicit; there is no implicit system store). PEM bundles allowed. */
  trustAnchors: CertificateInput[];
  /** Extra untrusted certificates: intermediates, and signer certificates of messages sent without them. */
  intermediates?: CertificateInput[];
  /** Verification time (default: now). Check an archived message at its signing time by passing that. */
  at?: Date;
  /** Accept SHA-1 signatures and RSA keys below 2048 bits (default false: refused). */
  allowWeakAlgorithms?: boolean;
  /** Require the From mailbox to be a signer's (default true). */
  requireSenderMatch?: boolean;
  /** Size and nesting limits for the MIME parser. */
  mimeLimits?: Partial<MimeLimits>;
  /**
   * Revocation checking of each signer's chain (OCSP, then CRL). `policy`: 'off', 'soft-fail'
   * (default: an unreachable responder leaves the verdict valid, with a warning) or 'hard-fail'
   * (the verdict is not valid unless every certificate's status is known good). Pass a
   * `checker` to share its cache between calls; otherwise a process-wide default is used.
   */
  revocation?: { policy?: RevocationPolicy; checker?: RevocationChecker };
  crypto?: Crypto;
  clock?: Clock;
}

let defaultChecker: RevocationChecker | undefined;

const optionsSchema = z.object({
  trustAnchors: z.array(z.any()).min(1, 'at least one trust anchor is needed'),
  intermediates: z.array(z.any()).optional(),
  at: z.date().refine((d) => !Number.isNaN(d.getTime()), 'not a valid date').optional(),
  allowWeakAlgorithms: z.boolean().optional(),
  requireSenderMatch: z.boolean().optional(),
  mimeLimits: z.record(z.string(), z.number()).optional(),
  revocation: z
    .object({ policy: z.enum(['off', 'soft-fail', 'hard-fail']).optional(), checker: z.instanceof(RevocationChecker).optional() })
    .strict()
    .optional(),
  crypto: z.any().optional(),
  clock: z.any().optional(),
});

/** How many signature layers inside each other are followed. */
export const MAX_SIGNATURE_LAYERS = 8;

const SIGNATURE_TYPES = new Set(['application/pkcs7-signature', 'application/x-pkcs7-signature']);
const MIME_TYPES = new Set(['application/pkcs7-mime', 'application/x-pkcs7-mime']);

function toCertificates(inputs: CertificateInput[] | undefined, what: string): Certificate[] {
  const out: Certificate[] = [];
  (inputs ?? []).forEach((c, i) => {
    try {
      if (typeof c === 'string') out.push(...parseCertificates(c));
      else if (c instanceof Uint8Array) out.push(...parseCertificates(c));
      else if (c && c.der instanceof Uint8Array) out.push(c);
      else throw new MailPkiError('ERR_INVALID_INPUT', `${what}[${i}] is not a certificate`, { details: { field: `${what}.${i}` } });
    } catch (e) {
      if (e instanceof MailPkiError && e.code === 'ERR_INVALID_INPUT') throw e;
      throw new MailPkiError('ERR_INVALID_INPUT', `${what}[${i}]: ${(e as Error).message}`, { cause: e, details: { field: `${what}.${i}` } });
    }
  });
  return out;
}

/** Is this entity a signature container (multipart/signed or signed-data pkcs7-mime)? */
function signatureKind(e: MimeEntity): 'detached' | 'opaque' | undefined {
  const ct = e.contentType;
  if (ct.mediaType === 'multipart/signed') return 'detached';
  if (MIME_TYPES.has(ct.mediaType)) {
    const t = ct.params.get('smime-type')?.toLowerCase();
    // Without smime-type, only the CMS content type can tell; treat it as a candidate.
    if (t === undefined || t === 'signed-data') return 'opaque';
  }
  return undefined;
}

interface Layer {
  kind: 'detached' | 'opaque';
  container: MimeEntity;
  /** The signed content bytes (detached: the first part; opaque: eContent). */
  content?: Uint8Array;
  /** The signed entity as MIME. */
  inner?: MimeEntity;
  signedData?: SignedData;
}

/**
 * Verifies an S/MIME signed message. Never throws for a message that fails verification: the
 * verdict says why, malformed or ambiguous MIME included (SMIME_STRUCTURE_INVALID). Throws
 * MailPkiError only for input over the limits (ERR_INPUT_TOO_LARGE, ERR_NESTING_TOO_DEEP) or
 * bad options (ERR_INVALID_INPUT).
 *
 * @example
 * const verdict = await verifyMessage(eml, { trustAnchors: [rootPem] });
 * if (!verdict.valid) console.log(verdict.problems.map((p) => p.code));
 */
export async function verifyMessage(raw: Uint8Array | string, options: VerifyMessageOptions): Promise<Verdict> {
  parseInput(optionsSchema, options, 'verifyMessage options');
  const crypto = resolveCrypto(options.crypto);
  const at = options.at ?? (options.clock ?? systemClock)();
  const anchors = toCertificates(options.trustAnchors, 'trustAnchors');
  const extra = toCertificates(options.intermediates, 'intermediates');
  const allowWeak = options.allowWeakAlgorithms ?? false;
  const problems: SmimeProblem[] = [];
  const warnings: SmimeWarning[] = [];
  const policy: RevocationPolicy = options.revocation?.policy ?? 'soft-fail';
  const revocationNotes: RevocationNote[] = [];
  const verdict: Verdict = {
    valid: false,
    signedScope: 'none',
    signers: [],
    signedHeaders: [],
    problems,
    warnings,
    at: at.toISOString(),
  };
  let root: MimeEntity;
  try {
    root = parseMessage(raw, options.mimeLimits);
  } catch (err) {
    // Ambiguous structure (two Content-Type fields, a repeated boundary parameter, a lost close
    // delimiter...) is a verification outcome: readers disagree on what is signed. Limits and
    // bad input types still throw.
    if (!(err instanceof MailPkiError) || err.code !== 'ERR_MIME_MALFORMED') throw err;
    problems.push({ code: 'SMIME_STRUCTURE_INVALID', message: `the message is not well-formed MIME: ${err.message}` });
    return finish(verdict);
  }

  const from = readFrom(root);
  problems.push(...from.problems, ...checkSender(root, from.address));
  if (from.address !== undefined || from.name !== undefined) {
    verdict.from = {};
    if (from.address !== undefined) verdict.from.address = from.address;
    if (from.name !== undefined) verdict.from.name = from.name;
  }

  const topKind = signatureKind(root);
  let start: MimeEntity | undefined = root;
  if (!topKind) {
    // Not signed at the top: is a signature hiding somewhere inside (wrapped, attached, related)?
    const inner = [...walkEntities(root)].find((e) => e !== root && signatureKind(e) !== undefined);
    if (!inner) {
      problems.push({ code: 'SMIME_NOT_SIGNED', message: 'the message carries no S/MIME signature' });
      return finish(verdict);
    }
    verdict.signedScope = 'partial';
    problems.push({
      code: 'SMIME_PARTIALLY_SIGNED',
      message: `only part ${inner.path.join('.')} (${inner.contentType.mediaType}) is signed; the rest of the ${root.contentType.mediaType} message is not`,
    });
    start = inner;
  } else verdict.signedScope = 'entire';

  // Peel signature layers: each layer's signed content may itself be signed.
  const layers: Layer[] = [];
  let current: MimeEntity | undefined = start;
  while (current && signatureKind(current)) {
    if (layers.length >= MAX_SIGNATURE_LAYERS) {
      problems.push({ code: 'SMIME_NESTING_TOO_DEEP', message: `more than ${MAX_SIGNATURE_LAYERS} signature layers` });
      break;
    }
    const layer = openLayer(current, problems, warnings, options.mimeLimits);
    if (!layer) break;
    layers.push(layer);
    current = layer.inner;
  }
  if (layers.length === 0) return finish(verdict);
  const first = layers[0]!;
  verdict.signedPart = { path: [...first.container.path], kind: first.kind, contentType: first.container.contentType.mediaType };
  const innermost = layers[layers.length - 1]!.inner;
  if (innermost) {
    verdict.signedHeaders = innermost.headers.map((h) => ({ name: h.name, value: h.value }));
    verdict.signedContentType = innermost.contentType.mediaType;
  }
  // RFC 8551 §3.1 header protection: a From inside a signed part must agree with the outer one.
  // Every layer's signed entity is checked, not only the innermost: any of them may be shown.
  layers.forEach((layer, li) => {
    const signed = layer.inner;
    if (!signed || getHeaders(signed, 'From').length === 0) return;
    const f = readFrom(signed);
    const where = layers.length > 1 ? `the signed part of layer ${li}` : 'the signed part';
    // Clients that show protected headers show this From: it gets the same strict reading.
    problems.push(...f.problems.map((p) => ({ ...p, message: `in ${where}: ${p.message}` })));
    if (!f.address || !from.address || !sameMailbox(f.address, from.address))
      problems.push({
        code: 'SMIME_SIGNED_FROM_MISMATCH',
        message: `${where} says From ${f.address ?? '(unreadable)'}, the message header says ${from.address ?? '(none)'}`,
      });
  });

  const messageCerts: Certificate[] = [];
  for (const layer of layers) {
    for (const der of layer.signedData?.certificates ?? []) {
      try {
        messageCerts.push(parseCertificateCached(der));
      } catch {
        // An unreadable certificate in the bag only matters if it was needed; then the signer lacks one.
      }
    }
  }
  const pool = [...messageCerts, ...extra];

  for (let li = 0; li < layers.length; li++) {
    const layer = layers[li]!;
    const sd = layer.signedData;
    if (!sd || !layer.content) continue;
    const digestCache = new Map<string, Promise<Uint8Array>>();
    await Promise.all(
      sd.signerInfos.map(async (si, index) => {
        const result: SignerResult = {
          layer: li,
          index,
          emails: [],
          signature: { ok: false, problems: [] },
          matchesFrom: false,
          ok: false,
        };
        verdict.signers.push(result);
        const cert = findSignerCertificate(si.sid, pool);
        if (!cert) {
          result.signature.problems.push({ code: 'CMS_SIGNATURE_INVALID', message: 'the signer certificate is not in the message nor given' });
          return;
        }
        result.certificate = summarize(cert);
        result.emails = certificateEmails(cert);
        const sig = await verifySignerInfo(si, { content: layer.content!, eContentType: sd.eContentType, certificate: cert, crypto, digestCache });
        result.signature = {
          ok: sig.ok,
          ...(typeof sig.digestAlgorithm === 'string' && { digestAlgorithm: sig.digestAlgorithm }),
          ...(!('unsupported' in sig.signatureAlgorithm) && {
            signatureAlgorithm: `${sig.signatureAlgorithm.scheme}-${sig.signatureAlgorithm.hash.toLowerCase().replace('-', '')}`,
          }),
          ...(sig.signingTime && { signingTime: sig.signingTime.toISOString() }),
          problems: sig.problems,
        };
        const chain = await validateChain(cert, {
          trustAnchors: anchors,
          intermediates: pool,
          at,
          purpose: 'smime-signing',
          allowWeakAlgorithms: allowWeak,
          crypto,
        });
        result.chain = {
          ok: chain.ok,
          path: chain.path.map(summarize),
          problems: chain.problems.map((p) => ({ ...p })),
        };
        const weakOk = !sig.weak || allowWeak;
        let revocationOk = true;
        if (policy !== 'off' && chain.ok) {
          const checker = options.revocation?.checker ?? (defaultChecker ??= new RevocationChecker());
          result.revocation = await checker.checkPath(chain.path, at);
          revocationOk = judgeRevocation(result.revocation, policy, result, revocationNotes);
        }
        result.ok = sig.ok && weakOk && chain.ok && revocationOk;
        if (sig.weak && allowWeak)
          warnings.push({ code: 'SMIME_WEAK_ALGORITHM_ALLOWED', message: 'a weak algorithm was accepted because allowWeakAlgorithms is on' });
        if (sig.signingTime && (sig.signingTime < cert.notBefore || sig.signingTime > cert.notAfter))
          warnings.push({
            code: 'SMIME_SIGNING_TIME_OUTSIDE_VALIDITY',
            message: `the claimed signing time ${sig.signingTime.toISOString()} is outside the certificate validity`,
          });
        if (from.address) result.matchesFrom = result.emails.some((e) => sameMailbox(e, from.address!));
      }),
    );
  }
  // Stable order: by layer, then SignerInfo index.
  verdict.signers.sort((a, b) => a.layer - b.layer || a.index - b.index);
  for (const note of revocationNotes) {
    const i = verdict.signers.indexOf(note.signer);
    const who = `signer ${i} (${note.signer.emails.join(', ') || note.signer.certificate?.subject})`;
    if (note.kind === 'problem') problems.push({ code: note.code, message: `${who}: ${note.message}`, signer: i });
    else warnings.push({ code: note.code, message: `${who}: ${note.message}`, signer: i });
  }
  verdict.signers.forEach((s, i) => {
    if (!s.certificate)
      problems.push({ code: 'SMIME_SIGNER_CERTIFICATE_MISSING', message: `signer ${i}: its certificate is neither in the message nor given`, signer: i });
    else {
      if (!s.signature.ok)
        problems.push({
          code: 'SMIME_SIGNATURE_INVALID',
          message: `signer ${i} (${s.emails.join(', ') || s.certificate.subject}): ${s.signature.problems.map((p) => p.message).join('; ')}`,
          signer: i,
        });
      if (s.signature.problems.some((p) => p.code === 'CMS_WEAK_ALGORITHM') && !allowWeak)
        problems.push({ code: 'SMIME_WEAK_ALGORITHM', message: `signer ${i}: weak algorithm refused`, signer: i });
      if (s.chain && !s.chain.ok)
        problems.push({
          code: 'SMIME_CHAIN_INVALID',
          message: `signer ${i} (${s.emails.join(', ') || s.certificate.subject}): ${s.chain.problems.map((p) => p.message).join('; ')}`,
          signer: i,
        });
    }
  });
  if ((options.requireSenderMatch ?? true) && from.address && verdict.signers.length > 0) {
    // Only when no signer certificate names the From mailbox (and every certificate is known):
    // a matching signer that fails has its own problem (signature, chain, algorithm, missing
    // certificate), and `valid` needs every signer ok anyway.
    if (!verdict.signers.some((s) => s.matchesFrom) && verdict.signers.every((s) => s.certificate)) {
      const all = [...new Set(verdict.signers.flatMap((s) => s.emails))];
      problems.push({
        code: 'SMIME_FROM_NOT_SIGNER',
        message: `the From mailbox ${from.address} is not a valid signer's (signer addresses: ${all.join(', ') || 'none'})`,
      });
    }
  }
  return finish(verdict);
}

type RevocationNote =
  | { kind: 'problem'; signer: SignerResult; code: SmimeProblemCode; message: string }
  | { kind: 'warning'; signer: SignerResult; code: SmimeWarningCode; message: string };

/**
 * What the revocation results mean for one signer under the fail policy. Revoked at `at` is always
 * fatal; revoked later is fine (the certificate was good when used) unless the reason is
 * keyCompromise, because whoever holds a compromised key can also backdate a signature.
 */
function judgeRevocation(results: RevocationResult[], policy: RevocationPolicy, signer: SignerResult, notes: RevocationNote[]): boolean {
  let ok = true;
  for (const r of results) {
    const what = `certificate ${r.subject} (serial ${r.serialNumber})`;
    if (r.status === 'revoked') {
      const when = `${r.revokedAt ?? 'at an unknown time'}${r.reason ? `, ${r.reason}` : ''}, per ${r.method?.toUpperCase()}${r.source === 'cache' ? ' (cached)' : ''}`;
      if (!r.revokedAfterAt || r.reason === 'keyCompromise') {
        ok = false;
        notes.push({ kind: 'problem', signer, code: 'SMIME_CERTIFICATE_REVOKED', message: `${what} is revoked (${when})` });
      } else notes.push({ kind: 'warning', signer, code: 'SMIME_REVOKED_AFTER_SIGNING', message: `${what} was revoked after the verification time (${when})` });
    } else if (r.status === 'unknown') {
      if (policy === 'hard-fail') {
        ok = false;
        notes.push({ kind: 'problem', signer, code: 'SMIME_REVOCATION_UNKNOWN', message: `the responder does not know ${what}` });
      } else notes.push({ kind: 'warning', signer, code: 'SMIME_REVOCATION_UNCHECKED', message: `the responder does not know ${what}` });
    } else if (r.status === 'unchecked' && !r.noSources) {
      if (policy === 'hard-fail') {
        ok = false;
        notes.push({ kind: 'problem', signer, code: 'SMIME_REVOCATION_UNAVAILABLE', message: `revocation status of ${what} could not be checked: ${r.error}` });
      } else notes.push({ kind: 'warning', signer, code: 'SMIME_REVOCATION_UNCHECKED', message: `revocation status of ${what} could not be checked: ${r.error}` });
    }
  }
  return ok;
}

function finish(v: Verdict): Verdict {
  v.valid = v.signedScope === 'entire' && v.signers.length > 0 && v.signers.every((s) => s.ok) && v.problems.length === 0;
  return v;
}

const summaries = new WeakMap<Certificate, CertificateSummary>();

/** Certificates recur across messages (parseCertificateCached): summarise each once. */
function summarize(c: Certificate): CertificateSummary {
  let s = summaries.get(c);
  if (!s) summaries.set(c, (s = makeSummary(c)));
  return { ...s };
}

function makeSummary(c: Certificate): CertificateSummary {
  return {
    subject: formatName(c.subject),
    issuer: formatName(c.issuer),
    serialNumber: c.serialNumber,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
  };
}

const MICALG: Record<string, string> = { 'SHA-256': 'sha-256', 'SHA-384': 'sha-384', 'SHA-512': 'sha-512', 'SHA-1': 'sha-1', MD5: 'md5' };

/** Splits one signature container into its CMS and signed content; problems go to the verdict. */
function openLayer(e: MimeEntity, problems: SmimeProblem[], warnings: SmimeWarning[], limits: Partial<MimeLimits> | undefined): Layer | undefined {
  const kind = signatureKind(e)!;
  const ambiguous = e.contentType.duplicateParams.filter((p) => ['boundary', 'protocol', 'smime-type', 'micalg'].includes(p));
  if (ambiguous.length > 0) {
    problems.push({ code: 'SMIME_STRUCTURE_INVALID', message: `the ${e.contentType.mediaType} header repeats ${ambiguous.join(', ')}` });
    return undefined;
  }
  let cmsBytes: Uint8Array;
  let content: Uint8Array | undefined;
  if (kind === 'detached') {
    const protocol = e.contentType.params.get('protocol')?.toLowerCase();
    if (!protocol || !SIGNATURE_TYPES.has(protocol)) {
      problems.push({ code: 'SMIME_STRUCTURE_INVALID', message: `multipart/signed with protocol "${protocol ?? ''}" is not S/MIME` });
      return undefined;
    }
    if (e.children.length !== 2) {
      problems.push({ code: 'SMIME_STRUCTURE_INVALID', message: `multipart/signed must have exactly 2 parts, this one has ${e.children.length}` });
      return undefined;
    }
    const [signed, sig] = e.children as [MimeEntity, MimeEntity];
    if (!SIGNATURE_TYPES.has(sig.contentType.mediaType)) {
      problems.push({ code: 'SMIME_STRUCTURE_INVALID', message: `the second part is ${sig.contentType.mediaType}, not application/pkcs7-signature` });
      return undefined;
    }
    if (e.preamble && /\S/.test(new TextDecoder('latin1').decode(e.source.subarray(e.preamble.start, e.preamble.end)).replace(/This is an S\/MIME signed message\.?/i, '')))
      warnings.push({ code: 'SMIME_UNSIGNED_PREAMBLE', message: 'the multipart/signed preamble holds unsigned text' });
    try {
      cmsBytes = sig.decodedBody();
    } catch (err) {
      problems.push({ code: 'SMIME_CMS_MALFORMED', message: `the signature part cannot be decoded: ${(err as Error).message}` });
      return undefined;
    }
    content = signed.raw();
  } else {
    try {
      cmsBytes = e.decodedBody();
    } catch (err) {
      problems.push({ code: 'SMIME_CMS_MALFORMED', message: `the pkcs7-mime body cannot be decoded: ${(err as Error).message}` });
      return undefined;
    }
  }
  let sd: SignedData;
  try {
    sd = parseSignedData(cmsBytes);
  } catch (err) {
    problems.push({ code: 'SMIME_CMS_MALFORMED', message: err instanceof MailPkiError ? err.message : 'the signature is not CMS SignedData' });
    return undefined;
  }
  const layer: Layer = { kind, container: e, signedData: sd };
  if (sd.eContentType !== CMS_OID.data)
    problems.push({ code: 'SMIME_CONTENT_TYPE_NOT_DATA', message: `the signed content type is ${sd.eContentType}, not id-data` });
  if (sd.signerInfos.length === 0) problems.push({ code: 'SMIME_NO_SIGNERS', message: 'the signature has no SignerInfo: nobody signed it' });
  if (kind === 'detached') {
    if (sd.eContent !== undefined)
      problems.push({
        code: 'SMIME_ECONTENT_IN_DETACHED',
        message: 'a detached signature carries its own content (eContent); it is ignored, and the message refused',
      });
    const micalg = e.contentType.params.get('micalg')?.toLowerCase();
    const used = new Set(sd.signerInfos.map((si) => (typeof si.digestAlgorithm === 'string' ? MICALG[si.digestAlgorithm] : undefined)));
    if (micalg && !micalg.split(',').every((m) => used.has(m.trim())))
      warnings.push({ code: 'SMIME_MICALG_MISMATCH', message: `micalg=${micalg} does not name the digest the signers used` });
    layer.content = content!;
    layer.inner = e.children[0];
  } else {
    if (sd.eContent === undefined) {
      problems.push({ code: 'SMIME_STRUCTURE_INVALID', message: 'an opaque signed message (pkcs7-mime) carries no content' });
      return layer;
    }
    layer.content = sd.eContent;
    try {
      layer.inner = parseMessage(sd.eContent, limits);
    } catch (err) {
      problems.push({ code: 'SMIME_STRUCTURE_INVALID', message: `the signed content is not MIME: ${(err as Error).message}` });
    }
  }
  return layer;
}
