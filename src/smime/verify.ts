/**
 * verifyMessage: S/MIME (RFC 8551) verification that a program can act on. The data goes one way:
 * MIME split → CMS → chain → sender binding → verdict. Every spoofing class of Müller et al.
 * ("Johnny, you are fired!", USENIX Security 2019) that applies to signatures is named in
 * `problems`: CMS container tricks, MIME wrapping, and sender/signer mismatch.
 */
import { z } from 'zod';
import { findSignerCertificate, parseSignedData, listRecipientIdentifiers, readRecipientIdentifiers, verifySignerInfo, type AesGcmCipher, type CmsDecryptionKey, type SignedData } from '../cms/index.js';
import { aesGcmCipherSchema } from '../cms/content-encryption.js';
import { CMS_OID } from '../cms/oids.js';
import { OID } from '../internal/oids.js';
import { validateChain } from '../certs/chain.js';
import { SignatureCheckCache } from '../certs/chain-signatures.js';
import { MAX_POLICIES_PER_CERTIFICATE, policyOidSchema } from '../certs/chain-policy.js';
import { PublicKeyBudget } from '../keys/budget.js';
import { resolveVerificationLimits, verificationLimitsSchema, type VerificationLimits } from './limits.js';
import { certificateMailboxes, certificateSha256, parseCertificateCached, parseCertificates, type Certificate } from '../certs/certificate.js';
import { formatName } from '../certs/name.js';
import { MailPkiError } from '../errors.js';
import { systemClock, type Clock } from '../internal/clock.js';
import { toBase64 } from '../internal/bytes.js';
import { resolveCrypto } from '../internal/crypto.js';
import { parseInput } from '../internal/validate.js';
import { getHeaders, parseMessage, walkEntities, type MimeEntity, type MimeLimits } from '../mime/index.js';
import { checkSender, fromDisplayWarnings, readFrom, replyToWarnings, sameMailbox, sameMailboxAs } from './sender.js';
import { OBSCURED_SUBJECT, carriesHeaderProtection, outerHeaderWarnings, readHeaderProtection, unwrapSignedEntity, type WrappedMessage } from './protected-headers.js';
import { decryptEntity, type DecryptEntityOptions, isCryptographicLayer, isEncryptedEntity, isStructuralField, outerFieldsNotShown, protectedPayload, showMessage, toCmsKeys, type SmimeDecryptionKey } from './decrypt.js';
import { RevocationChecker, type RevocationCache, type RevocationPolicy, type RevocationResult } from '../revocation/checker.js';
import type { FetchLike } from '../revocation/fetch.js';
import type { Crl } from '../revocation/crl-parse.js';
import { parseCrlInputs } from '../revocation/crl-path.js';
import type { CertificateSummary, EncryptedLayer, SignerResult, SmimeProblem, SmimeProblemCode, SmimeWarning, SmimeWarningCode, Verdict } from './verdict.js';

export type CertificateInput = Certificate | Uint8Array | string;

export interface VerifyMessageOptions {
  /** The certificates you trust (explicit; there is no implicit system store). PEM bundles allowed. */
  trustAnchors: CertificateInput[];
  /** Extra untrusted certificates: intermediates, and signer certificates of messages sent without them. */
  intermediates?: CertificateInput[];
  /**
   * CRLs (DER, PEM or parsed) that every certificate of each signer's chain but the anchor is
   * checked against, offline and strictly (validateChain's `crls`): listed → chain invalid
   * (CHAIN_REVOKED); no current, verified CRL in scope → chain invalid (CHAIN_REVOCATION_UNKNOWN),
   * whatever `revocation.policy` says. For CRLs as one source among OCSP and downloads under a
   * soft/hard policy, use `revocation.crls`.
   */
  crls?: (Uint8Array | string | Crl)[];
  /** Verification time (default: now). Check an archived message at its signing time by passing that. */
  at?: Date;
  /** Accept SHA-1 signatures and RSA keys below 2048 bits (default false: refused). */
  allowWeakAlgorithms?: boolean;
  /** Require the From mailbox to be a signer's (default true). */
  requireSenderMatch?: boolean;
  /**
   * Policy OIDs of which each signer's chain must hold at least one (RFC 5280 policy processing
   * with these as the initial policy set and an explicit policy required), asserted by the
   * certificates themselves: a chain that holds them only through anyPolicy does not count. For
   * the S/MIME Baseline Requirements' mailbox-validated certificates, pass
   * SMIME_BR_MAILBOX_VALIDATED_POLICIES. A chain that holds none is SMIME_CHAIN_INVALID with the
   * chain problem CHAIN_NO_ACCEPTABLE_POLICY. The policies that hold are in each signer's
   * `chain.policies`, required or not.
   */
  requirePolicies?: readonly string[];
  /** Size and nesting limits for the MIME parser. */
  mimeLimits?: Partial<MimeLimits>;
  /** Work limits (public-key operations, signers, certificates, issuer candidates); see docs/verifying.md. */
  limits?: Partial<VerificationLimits>;
  /**
   * Revocation checking of each signer's chain (OCSP, then CRL). Without this option nothing is
   * checked and nothing is fetched. `policy`: 'off', 'soft-fail' (an unreachable responder leaves
   * the verdict valid, with a warning) or 'hard-fail' (not valid unless every certificate's status
   * is known and good). The default policy is 'soft-fail' when you give any other revocation option
   * (`checker`, `fetch`, `cache`, `crls`, `ocspUrls`, `allowNoSources`), 'off' otherwise; 'off'
   * with `crls`, `ocspUrls` or `allowNoSources` is refused (ERR_INVALID_INPUT). A policy other than
   * 'off' without a `checker` or `fetch` uses the runtime's `fetch`.
   * Without a `checker`, one is made for this call with the call's `crypto`, `clock` and `fetch`
   * (and your `cache`, if any); pass a `checker` to share answers between calls.
   * See {@link VerifyRevocationOptions}.
   *
   * @example
   * await verifyMessage(eml, { trustAnchors, revocation: { policy: 'hard-fail', fetch } });
   */
  revocation?: VerifyRevocationOptions;
  /**
   * Keys to open encrypted messages with (`{ privateKey, certificate }`, one or many: e.g. every key
   * of an identity's history). Without them an encrypted message is not valid (SMIME_ENCRYPTED_NO_KEY).
   */
  decryptionKeys?: SmimeDecryptionKey[];
  /**
   * With decryptionKeys: AES-GCM to use instead of WebCrypto's for encrypted layers (decryptMessage's
   * option), e.g. `nodeAesGcm()` from mailpki/node.
   */
  aesGcm?: AesGcmCipher;
  /**
   * Put each certificate itself into the verdict (default false): every CertificateSummary (signer
   * certificates, chain paths) then carries `der` (base64) and `sha256` (its fingerprint, hex) —
   * to keep as evidence, or to answer a signer with encrypted mail.
   */
  includeCertificates?: boolean;
  crypto?: Crypto;
  clock?: Clock;
}

export interface VerifyRevocationOptions {
  policy?: RevocationPolicy;
  /** Your checker (its own fetch, clock, crypto and cache). Not together with the options below. */
  checker?: RevocationChecker;
  /** The fetch used to ask OCSP responders and CRL distribution points for this call. */
  fetch?: FetchLike;
  /** Where this call's answers are cached (default: only for this call). */
  cache?: RevocationCache;
  /** CRLs you hold (DER or PEM), consulted before any distribution point. */
  crls?: (Uint8Array | string)[];
  /** OCSP responders to ask for a certificate that names none. */
  ocspUrls?: string[];
  /**
   * Under 'hard-fail', accept a certificate that names no OCSP responder and no CRL when none
   * was given either (default false: SMIME_REVOCATION_NO_SOURCES, not valid).
   */
  allowNoSources?: boolean;
}

/** The `revocation` option of verifyMessage (and of encryptMessage's recipient checks). */
export const revocationOptionsSchema = z
  .object({
    policy: z.enum(['off', 'soft-fail', 'hard-fail']).optional(),
    checker: z.instanceof(RevocationChecker).optional(),
    fetch: z.custom<FetchLike>((v) => typeof v === 'function', 'expected a fetch function').optional(),
    cache: z.custom<RevocationCache>((v) => typeof v === 'object' && v !== null, 'expected a RevocationCache').optional(),
    crls: z.array(z.union([z.instanceof(Uint8Array), z.string()])).optional(),
    ocspUrls: z.array(z.string()).optional(),
    allowNoSources: z.boolean().optional(),
  })
  .strict()
  .refine((r) => !r.checker || (r.fetch ?? r.cache ?? r.crls ?? r.ocspUrls) === undefined, {
    message: 'give either a checker or fetch/cache/crls/ocspUrls (a checker has its own)',
    path: ['checker'],
  })
  // Sources with 'off' would be ignored in silence (the CLI refuses the same with ERR_USAGE). A
  // checker, fetch or cache with 'off' is a switch the caller turned off on purpose.
  .refine((r) => r.policy !== 'off' || (r.crls ?? r.ocspUrls ?? r.allowNoSources) === undefined, {
    message: "policy 'off' checks nothing: drop crls/ocspUrls/allowNoSources, or choose 'soft-fail' or 'hard-fail'",
    path: ['policy'],
  });

const optionsSchema = z.object({
  trustAnchors: z.array(z.any()).min(1, 'at least one trust anchor is needed'),
  intermediates: z.array(z.any()).optional(),
  crls: z.array(z.any()).optional(),
  at: z.date().refine((d) => !Number.isNaN(d.getTime()), 'not a valid date').optional(),
  allowWeakAlgorithms: z.boolean().optional(),
  requireSenderMatch: z.boolean().optional(),
  requirePolicies: z.array(policyOidSchema).min(1).max(MAX_POLICIES_PER_CERTIFICATE).optional(),
  mimeLimits: z.record(z.string(), z.number()).optional(),
  limits: verificationLimitsSchema.optional(),
  revocation: revocationOptionsSchema.optional(),
  decryptionKeys: z.array(z.object({ privateKey: z.any(), certificate: z.any(), rawRsaDecrypt: z.any().optional() }).strict()).optional(),
  aesGcm: aesGcmCipherSchema.optional(),
  includeCertificates: z.boolean().optional(),
  crypto: z.any().optional(),
  clock: z.any().optional(),
});

/**
 * The S/MIME Baseline Requirements' mailbox-validated policy OIDs (legacy, multipurpose, strict;
 * CA/B Forum S/MIME BR §7.1.6.1), for `requirePolicies`.
 */
export const SMIME_BR_MAILBOX_VALIDATED_POLICIES: readonly string[] = Object.freeze([OID.smimeMailboxLegacy, OID.smimeMailboxMultipurpose, OID.smimeMailboxStrict]);

/** How many signature layers inside each other are followed. */
export const MAX_SIGNATURE_LAYERS = 8;
/**
 * How many encrypted layers are opened (one is the norm; a forwarded encrypted message inside an
 * encrypted one is two). Each costs a decryption of up to the whole message.
 */
export const MAX_ENCRYPTED_LAYERS = 2;

const SIGNATURE_TYPES = new Set(['application/pkcs7-signature', 'application/x-pkcs7-signature']);
const MIME_TYPES = new Set(['application/pkcs7-mime', 'application/x-pkcs7-mime']);

/** Certificates from PEM bundles, DER or parsed certificates; bad input is ERR_INVALID_INPUT naming the field. */
export function toCertificates(inputs: CertificateInput[] | undefined, what: string): Certificate[] {
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
  // Parsed once for every signer's chain; an unreadable CRL is the caller's mistake (ERR_INVALID_INPUT).
  const crls = options.crls && parseCrlInputs(options.crls, 'crls');
  const allowWeak = options.allowWeakAlgorithms ?? false;
  const summarize = options.includeCertificates ? summarizeWithCertificate : summarizeCertificate;
  const requirePolicies = options.requirePolicies;
  const problems: SmimeProblem[] = [];
  const warnings: SmimeWarning[] = [];
  const rev = options.revocation;
  const { policy, checker } = revocationCheckerFor(rev, crypto, options.clock);
  const revocationNotes: RevocationNote[] = [];
  const verdict: Verdict = {
    valid: false,
    signedScope: 'none',
    signers: [],
    signedHeaders: [],
    layers: [],
    headerProtection: [],
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
  warnings.push(...fromDisplayWarnings(root), ...replyToWarnings(root, from.address));
  if (from.address !== undefined || from.name !== undefined) {
    verdict.from = {};
    if (from.address !== undefined) verdict.from.address = from.address;
    if (from.name !== undefined) verdict.from.name = from.name;
  }

  // Peel layers: encrypted ones are opened with the caller's keys (at most MAX_ENCRYPTED_LAYERS),
  // each signature layer's signed content may itself be signed or encrypted, or be a wrapped message
  // (RFC 8551 §3.1) that is shown as the message and may be signed again inside.
  const limits = resolveVerificationLimits(options.limits);
  const layers: Layer[] = [];
  const wrapped: WrappedMessage[] = [];
  const opened: OpenedLayer[] = [];
  const keys = options.decryptionKeys ? toCmsKeys(options.decryptionKeys) : [];
  let current: MimeEntity | undefined = root;
  let content: MimeEntity | undefined;
  let searched = false;
  let encryptedCount = 0;
  while (current) {
    if (isEncryptedEntity(current)) {
      if (verdict.signedScope === 'partial') {
        // Inside a signed part that is not the whole message: as for any nested encrypted part, not opened.
        problems.push({ code: 'SMIME_PARTIALLY_ENCRYPTED', message: `part ${current.path.join('.')} of a partially signed message is encrypted: it is not decrypted` });
        break;
      }
      if (encryptedCount >= MAX_ENCRYPTED_LAYERS) {
        problems.push({ code: 'SMIME_NESTING_TOO_DEEP', message: `more than ${MAX_ENCRYPTED_LAYERS} encrypted layers` });
        break;
      }
      encryptedCount++;
      const layer = await openEncryptedLayer(current, keys, { crypto, ...(options.mimeLimits && { mimeLimits: options.mimeLimits }), ...(options.aesGcm && { aesGcm: options.aesGcm }) }, problems);
      verdict.layers.push(layer.summary);
      if (!layer.opened) break;
      opened.push({ ...layer.opened, afterSignatureLayers: layers.length });
      current = layer.opened.inner;
      content = current;
      continue;
    }
    if (signatureKind(current)) {
      if (layers.length >= MAX_SIGNATURE_LAYERS) {
        problems.push({ code: 'SMIME_NESTING_TOO_DEEP', message: `more than ${MAX_SIGNATURE_LAYERS} signature layers` });
        break;
      }
      if (verdict.signedScope === 'none') verdict.signedScope = 'entire';
      const layer = openLayer(current, problems, warnings, options.mimeLimits);
      if (!layer) break;
      layers.push(layer);
      verdict.layers.push({ kind: 'signed', signatureLayer: layers.length - 1, form: layer.kind });
      if (overLimits(layers, limits)) break; // no need to decode the layers inside: nothing will be verified
      current = unwrapSignedEntity(layer.inner, layers.length - 1, wrapped, problems);
      content = current ?? content;
      continue;
    }
    if (layers.length > 0 || searched) {
      // The innermost content: an encrypted part inside it is not opened either (only a message or
      // a signed content that IS the encrypted layer is). Whoever signed may have signed a captured
      // ciphertext he cannot read; a client that opens it shows someone else's text as his, and a
      // reply quotes it to him (EFAIL's reply attack, signed).
      const nested = [...walkEntities(current)].find((e) => e !== current && isEncryptedEntity(e));
      if (nested)
        problems.push({
          code: 'SMIME_PARTIALLY_ENCRYPTED',
          message: `part ${nested.path.join('.')} inside the ${layers.length > 0 ? 'signed content' : 'message'} (${current.contentType.mediaType}) is encrypted: it is not decrypted, and nothing says who wrote what it holds`,
        });
      break;
    }
    // Not signed at the top (of what was decrypted): is a signature or an encrypted part hiding
    // somewhere inside (wrapped, attached, related, beside a visible part)?
    searched = true;
    const top: MimeEntity = current;
    const inner = [...walkEntities(top)].find((e) => e !== top && (signatureKind(e) !== undefined || isEncryptedEntity(e)));
    if (!inner) {
      problems.push({ code: 'SMIME_NOT_SIGNED', message: opened.length > 0 ? 'the decrypted message carries no S/MIME signature: anyone could have encrypted it' : 'the message carries no S/MIME signature' });
      break;
    }
    verdict.signedScope = 'partial';
    if (isEncryptedEntity(inner)) {
      // Never opened: decrypting a part an attacker placed beside his own text and headers hands the
      // plaintext to whoever replies to or quotes his message (EFAIL's reply attack). Only a message
      // that is the encrypted layer is decrypted.
      problems.push({
        code: 'SMIME_PARTIALLY_ENCRYPTED',
        message: `only part ${inner.path.join('.')} is encrypted; the rest of the ${top.contentType.mediaType} message is not, and a client may show both as one: the part is not decrypted`,
      });
      break;
    }
    problems.push({
      code: 'SMIME_PARTIALLY_SIGNED',
      message: `only part ${inner.path.join('.')} (${inner.contentType.mediaType}) is signed; the rest of the ${top.contentType.mediaType} message is not`,
    });
    current = inner;
  }
  let shownWith = checkEncryptedLayers(root, opened, layers.length, from.address, problems, warnings, verdict);
  if (layers.length === 0) {
    reportWrapperFields(root, opened, [], problems, warnings);
    reportOuterNotShown(root, shownWith, verdict);
    return finish(verdict);
  }
  const first = layers[0]!;
  verdict.signedPart = { path: [...first.container.path], kind: first.kind, contentType: first.container.contentType.mediaType };
  const shown = wrapped[wrapped.length - 1]?.message;
  if (content) {
    // A wrapped message that was signed again inside: its own fields, then the signed content's.
    const protectedFields = shown && shown !== content ? shown.headers.filter((h) => !/^content-/i.test(h.name)) : [];
    verdict.signedHeaders = [...protectedFields, ...content.headers].map((h) => ({ name: h.name, value: h.value }));
    verdict.signedContentType = content.contentType.mediaType;
  }
  reportWrapperFields(root, opened, verdict.signedHeaders, problems, warnings);
  // RFC 8551 §3.1 header protection. Each layer's signed entity and each wrapped message is a header
  // section some client shows: its From gets the same strict reading as the outer one and must be
  // the outer From; a wrapped message must have one. Other differing fields are warnings.
  const wrappedFroms: { address: string; layer: number; where: string }[] = [];
  const many = layers.length > 1;
  const sections = [
    ...layers.map((layer, li) => ({ entity: layer.inner, layer: li, isWrapped: false, where: many ? `the signed part of layer ${li}` : 'the signed part' })),
    ...wrapped.map((w) => ({ entity: w.message, layer: w.layer, isWrapped: true, where: many ? `the wrapped message of layer ${w.layer}` : 'the wrapped message' })),
  ];
  // The protected header section a client shows when the message was decrypted (RFC 9788): the
  // innermost signed payload with hp inside the last opened encrypted layer.
  let shownPayload: MimeEntity | undefined;
  const lastOpened = opened[opened.length - 1];
  for (const { entity, layer, isWrapped, where } of sections) {
    if (!entity) continue;
    // An HP-Outer record is read only where an opened encrypted layer encloses this signature layer.
    const reading = isWrapped ? undefined : readHeaderProtection(root, entity, where, opened.some((o) => o.afterSignatureLayers <= layer));
    if (reading) {
      problems.push(...reading.problems);
      warnings.push(...reading.warnings);
      if (reading.protection) verdict.headerProtection.push(reading.protection);
      if (reading.protection && lastOpened && lastOpened.afterSignatureLayers <= layer) shownPayload = entity;
    }
    // With an HP-Outer record the reading already warned of each difference it does not explain.
    if (reading?.protection?.sentOuter === undefined)
      warnings.push(...outerHeaderWarnings(root, entity, where, isWrapped).filter((w) => opened.length === 0 || !isObscuredSubject(root, w)));
    if (!isWrapped && getHeaders(entity, 'From').length === 0) continue;
    const f = readFrom(entity);
    // Clients that show protected headers show this From: it gets the same strict reading.
    problems.push(...f.problems.map((p) => ({ ...p, message: `in ${where}: ${p.message}` })));
    problems.push(...checkSender(entity, f.address).map((p) => ({ ...p, message: `in ${where}: ${p.message}` })));
    warnings.push(...fromDisplayWarnings(entity, `in ${where}: `), ...replyToWarnings(entity, f.address, `in ${where}: `));
    if (isWrapped && f.address) wrappedFroms.push({ address: f.address, layer, where });
    if (f.address && from.address && sameMailbox(f.address, from.address)) continue;
    if (!f.address && f.problems.some((p) => p.code === 'SMIME_FROM_MISSING')) continue;
    problems.push({
      code: 'SMIME_SIGNED_FROM_MISMATCH',
      message: `${where} says From ${f.address ?? '(unreadable)'}, the ${isWrapped ? 'outer ' : ''}message header says ${from.address ?? '(none)'}`,
    });
  }

  if (shownPayload && lastOpened && verdict.decryptedMessage) {
    verdict.decryptedMessage = showMessage(root, lastOpened.content, lastOpened.inner, shownPayload);
    shownWith = shownPayload;
  }
  reportOuterNotShown(root, shownWith, verdict);

  const over = overLimits(layers, limits);
  if (over) {
    problems.push({ code: 'SMIME_WORK_LIMIT_EXCEEDED', message: `not verified: ${over}` });
    return finish(verdict);
  }
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
  // The caller's certificates first: among equally ranked issuers they are tried first.
  const pool = [...extra, ...messageCerts];
  // One budget and one signature-check cache for the whole message: every signer, chain and layer.
  const budget = new PublicKeyBudget(limits.maxPublicKeyOperations);
  const signatureCache = new SignatureCheckCache();

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
        const mailboxes = certificateMailboxes(cert);
        result.emails = mailboxes.emails;
        result.emailSource = mailboxes.source;
        const sig = await verifySignerInfo(si, { content: layer.content!, eContentType: sd.eContentType, certificate: cert, crypto, digestCache, budget });
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
          maxIssuerCandidates: limits.maxIssuerCandidates,
          budget,
          signatureCache,
          ...(crls && { crls }),
          ...(requirePolicies && { policy: { initialPolicySet: requirePolicies, requireExplicitPolicy: true } }),
          crypto,
        });
        result.chain = {
          ok: chain.ok,
          path: chain.path.map(summarize),
          problems: chain.problems.map((p) => ({ ...p })),
          ...(chain.policies && { policies: chain.policies }),
        };
        // Strict: a required policy must be asserted, not only let through by anyPolicy.
        if (requirePolicies && chain.ok && !requirePolicies.some((p) => chain.policies?.authorityConstrainedPolicySet.includes(p))) {
          result.chain.ok = false;
          result.chain.problems.push({
            code: 'CHAIN_NO_ACCEPTABLE_POLICY',
            certificateIndex: 0,
            message: `the chain holds the required policies (${requirePolicies.join(', ')}) only through anyPolicy; no certificate asserts one`,
          });
        }
        const weakOk = !sig.weak || allowWeak;
        let revocationOk = true;
        // Only for a signature that holds: a certificate alone (anyone has those of mail they received) asks the network nothing.
        if (checker && result.chain.ok && sig.ok && weakOk) {
          // "Revoked after `at`" only when the caller verifies at an earlier time: without `at`, the verification is now,
          // and a revocation time ahead of the clock (a CA's clock running fast) is a revocation, not one after signing.
          result.revocation = await checker.checkPath(chain.path, options.at);
          revocationOk = judgeRevocation(result.revocation, policy, rev?.allowNoSources ?? false, result, revocationNotes);
        }
        result.ok = sig.ok && weakOk && result.chain.ok && revocationOk;
        if (sig.weak && allowWeak)
          warnings.push({ code: 'SMIME_WEAK_ALGORITHM_ALLOWED', message: 'a weak algorithm was accepted because allowWeakAlgorithms is on' });
        if (sig.signingTime && (sig.signingTime < cert.notBefore || sig.signingTime > cert.notAfter))
          warnings.push({
            code: 'SMIME_SIGNING_TIME_OUTSIDE_VALIDITY',
            message: `the claimed signing time ${sig.signingTime.toISOString()} is outside the certificate validity`,
          });
        if (from.address) result.matchesFrom = result.emails.some(sameMailboxAs(from.address));
      }),
    );
  }
  if (budget.exhausted)
    problems.push({
      code: 'SMIME_WORK_LIMIT_EXCEEDED',
      message: `verification stopped after ${budget.used} of ${budget.limit} public-key operations (limits.maxPublicKeyOperations)`,
    });
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
  if ((options.requireSenderMatch ?? true) && verdict.signers.every((s) => s.certificate)) {
    // A wrapped message's From is shown as the author: a signature covering its header must be that mailbox's.
    for (const w of wrappedFroms) {
      const covering = verdict.signers.filter((s) => s.layer <= w.layer);
      const isW = sameMailboxAs(w.address);
      if (covering.length > 0 && !covering.some((s) => s.emails.some(isW)))
        problems.push({
          code: 'SMIME_FROM_NOT_SIGNER',
          message: `${w.where} says From ${w.address}, but no signature covering it is that mailbox's (signer addresses: ${[...new Set(covering.flatMap((s) => s.emails))].join(', ') || 'none'})`,
        });
    }
  }
  // The binding came from a legacy subject emailAddress: say so (RFC 8550 §3 wants the SAN).
  const bound = [from.address, ...wrappedFroms.map((w) => w.address)].filter((a): a is string => a !== undefined).map(sameMailboxAs);
  verdict.signers.forEach((s, i) => {
    if (s.emailSource !== 'subject') return;
    const hit = s.emails.find((e) => bound.some((same) => same(e)));
    if (hit)
      warnings.push({
        code: 'SMIME_SIGNER_EMAIL_FROM_SUBJECT',
        message: `signer ${i} vouches for ${hit} only through the subject emailAddress of its certificate (it has no SAN rfc822Name)`,
        signer: i,
      });
  });
  return finish(verdict);
}

interface OpenedLayer {
  entity: MimeEntity;
  content: Uint8Array;
  inner: MimeEntity;
  integrityProtected: boolean;
  /** How many signature layers enclose this encrypted layer (0: it is outside every signature). */
  afterSignatureLayers: number;
}

/** Decrypts one encrypted layer; a failure is a problem (and no plaintext), never an exception. */
async function openEncryptedLayer(
  e: MimeEntity,
  keys: readonly CmsDecryptionKey[],
  options: DecryptEntityOptions,
  problems: SmimeProblem[],
): Promise<{ summary: EncryptedLayer; opened?: Omit<OpenedLayer, 'afterSignatureLayers'> }> {
  if (keys.length === 0) {
    let recipients: string[] = [];
    try {
      recipients = readRecipientIdentifiers(e.decodedBody());
    } catch {
      // unreadable: the problem below says the message is encrypted all the same
    }
    problems.push({
      code: 'SMIME_ENCRYPTED_NO_KEY',
      message: `the message is encrypted and no decryption key was given (it is encrypted to ${listRecipientIdentifiers(recipients) || 'recipients that cannot be read'}): its content and signatures cannot be checked`,
    });
    return { summary: { kind: 'encrypted', opened: false, recipients } };
  }
  try {
    const r = await decryptEntity(e, keys, options);
    return {
      summary: {
        kind: 'encrypted',
        opened: true,
        contentEncryption: r.data.contentEncryption,
        integrityProtected: r.data.integrityProtected,
        keyManagement: r.data.keyManagement,
        recipientIndex: r.data.recipientIndex,
        recipients: r.data.recipients,
      },
      opened: { entity: e, content: r.content, inner: r.inner, integrityProtected: r.data.integrityProtected },
    };
  } catch (err) {
    if (!(err instanceof MailPkiError)) throw err;
    problems.push({ code: 'SMIME_DECRYPTION_FAILED', message: `the encrypted part could not be decrypted (${err.code}): ${err.message}` });
    return { summary: { kind: 'encrypted', opened: false, recipients: [], error: err.code } };
  }
}

/**
 * What the encrypted layers mean for the verdict: the protected header section of each decrypted
 * part (RFC 9788) and its differences from the outer header (another From is invalid: a client shows
 * the protected one), content that only CBC protects and no signature covers (integrity unknown),
 * and the message a client shows when every layer opened.
 */
function checkEncryptedLayers(
  root: MimeEntity,
  opened: readonly OpenedLayer[],
  signatureLayers: number,
  outerFrom: string | undefined,
  problems: SmimeProblem[],
  warnings: SmimeWarning[],
  verdict: Verdict,
): MimeEntity | undefined {
  opened.forEach((layer, i) => {
    const where = opened.length > 1 ? `the encrypted part of layer ${i}` : 'the encrypted part';
    // The protected section is the Cryptographic Payload's, inside every layer: none on a cryptographic
    // layer here (a wrapper: reportWrapperFields judges its fields). Its From is still compared below.
    const wrapper = isWrapper(layer);
    const reading = wrapper ? { problems: [], warnings: [] } : readHeaderProtection(root, layer.inner, where, true);
    problems.push(...reading.problems);
    warnings.push(...reading.warnings);
    if (reading.protection) verdict.headerProtection.push(reading.protection);
    if (!layer.integrityProtected && signatureLayers === 0)
      problems.push({
        code: 'SMIME_INTEGRITY_UNKNOWN',
        message: `${where} is AES-CBC encrypted (EnvelopedData) and not signed: anyone could have altered it without detection (EFAIL); its integrity is unknown`,
      });
    if (getHeaders(layer.inner, 'From').length === 0) return;
    if (!wrapper && reading.protection?.sentOuter === undefined) warnings.push(...outerHeaderWarnings(root, layer.inner, where, false).filter((w) => !isObscuredSubject(root, w)));
    const f = readFrom(layer.inner);
    problems.push(...f.problems.map((p) => ({ ...p, message: `in ${where}: ${p.message}` })));
    if (f.address && outerFrom && sameMailbox(f.address, outerFrom)) return;
    problems.push({
      code: 'SMIME_ENCRYPTED_FROM_MISMATCH',
      message: `${where} says From ${f.address ?? '(unreadable)'}, the outer message header says ${outerFrom ?? '(none)'}: clients that show protected headers show the inner one`,
    });
  });
  const last = opened[opened.length - 1];
  if (last && verdict.layers.every((l) => l.kind !== 'encrypted' || l.opened)) {
    const payload = protectedPayload(last.inner);
    const shownWith = payload && carriesHeaderProtection(payload) ? payload : undefined;
    verdict.decryptedMessage = showMessage(root, last.content, last.inner, shownWith);
    return shownWith;
  }
  return undefined;
}

/**
 * SMIME_OUTER_FIELD_NOT_SHOWN: an outer field the shown message (`decryptedMessage`, built with the
 * protected header section `payload`) leaves out, and the section does not carry: not merged in, said.
 */
function reportOuterNotShown(root: MimeEntity, payload: MimeEntity | undefined, verdict: Verdict): void {
  if (!payload || !verdict.decryptedMessage) return;
  for (const name of outerFieldsNotShown(root, payload))
    verdict.warnings.push({
      code: 'SMIME_OUTER_FIELD_NOT_SHOWN',
      header: name,
      message: `the outer ${name} is not in the protected header section and not a trace field: anyone on the way could have added it; it is not shown`,
    });
}

/**
 * Is this decrypted entity a wrapper: a cryptographic layer (multipart/signed, pkcs7-mime) around the
 * payload, not the payload? Then its own header fields are in neither the signed content nor the
 * sender's outer header (see isCryptographicLayer): not protected, not shown, reported.
 */
const isWrapper = (layer: OpenedLayer): boolean => isCryptographicLayer(layer.inner);

/** Header fields whose value changes what a reader takes the message to be, who wrote it and to whom. */
const SHOWN_FIELDS = new Set(['from', 'sender', 'reply-to', 'to', 'cc', 'subject', 'date']);

/**
 * The rule for wrapper layers (isWrapper): what is shown as the message's header comes only from
 * inside the signed content. Each other field of a wrapper (not Content-Type, Content-Transfer-Encoding,
 * Content-Disposition, MIME-Version) is dropped from `decryptedMessage` (showMessage) and reported once:
 * SMIME_WRAPPER_HEADER_MISMATCH (a problem) when it is one of SHOWN_FIELDS, differs from what is shown
 * (the signed value, else the outer one) and no signature encloses the layer (then nobody vouched for
 * it; a layer inside a signature was at least encrypted by that signer); else
 * SMIME_WRAPPER_HEADER_IGNORED (a warning). A From whose mailbox differs is SMIME_ENCRYPTED_FROM_MISMATCH
 * instead (one code per field).
 */
function reportWrapperFields(
  root: MimeEntity,
  opened: readonly OpenedLayer[],
  signedHeaders: readonly { name: string; value: string }[],
  problems: SmimeProblem[],
  warnings: SmimeWarning[],
): void {
  const norm = (values: string[]) => values.map((v) => v.replace(/\s+/g, ' ').trim()).join('\n');
  const show = (values: string[]) =>
    values.length === 0
      ? '(none)'
      : values.slice(0, MAX_QUOTED_VALUES).map((v) => `"${clipValue(v)}"`).join(', ') + (values.length > MAX_QUOTED_VALUES ? ` and ${values.length - MAX_QUOTED_VALUES} more` : '');
  const fromMismatch = problems.some((p) => p.code === 'SMIME_ENCRYPTED_FROM_MISMATCH');
  opened.forEach((layer, i) => {
    if (!isWrapper(layer)) return;
    const where = opened.length > 1 ? `the encrypted part of layer ${i}` : 'the encrypted part';
    const names = [...new Set(layer.inner.headers.filter((h) => !isStructuralField(h.name)).map((h) => h.name.toLowerCase()))];
    for (const lower of names) {
      const fields = layer.inner.headers.filter((h) => h.name.toLowerCase() === lower);
      const name = fields[0]!.name;
      const values = fields.map((h) => h.value);
      const signed = signedHeaders.filter((h) => h.name.toLowerCase() === lower).map((h) => h.value);
      const shown = signed.length > 0 ? signed : getHeaders(root, name).map((h) => h.value);
      const what = `${where} carries ${name} ${show(values)} outside the signed content, where nobody authenticated it (anyone can encrypt to you; AES-CBC content can be edited in transit): it is not shown`;
      if (layer.afterSignatureLayers === 0 && SHOWN_FIELDS.has(lower) && norm(values) !== norm(shown)) {
        if (lower === 'from' && fromMismatch) continue;
        problems.push({ code: 'SMIME_WRAPPER_HEADER_MISMATCH', message: `${what}; the ${signed.length > 0 ? 'signed' : 'outer'} ${name} is ${show(shown)}` });
      } else warnings.push({ code: 'SMIME_WRAPPER_HEADER_IGNORED', header: name, message: what });
    }
  });
}

/** How many values of one field a wrapper message quotes (each clipped to 120 characters): a verdict stays small. */
const MAX_QUOTED_VALUES = 8;

const clipValue = (s: string) => {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > 120 ? `${t.slice(0, 120)}…` : t;
};

/** The RFC 9788 obscured outer Subject "[...]" differs from the protected one on purpose. */
function isObscuredSubject(root: MimeEntity, w: SmimeWarning): boolean {
  return w.header === 'Subject' && getHeaders(root, 'Subject').every((h) => h.value.trim() === OBSCURED_SUBJECT);
}

/** Which count of the message is over its limit, checked before any cryptography; undefined when none. */
function overLimits(layers: readonly Layer[], limits: VerificationLimits): string | undefined {
  const signers = layers.reduce((n, l) => n + (l.signedData?.signerInfos.length ?? 0), 0);
  if (signers > limits.maxSigners) return `${signers} signers, more than limits.maxSigners (${limits.maxSigners})`;
  const certs = layers.reduce((n, l) => n + (l.signedData?.certificates.length ?? 0), 0);
  if (certs > limits.maxCertificates) return `${certs} certificates, more than limits.maxCertificates (${limits.maxCertificates})`;
  // Each layer's content is hashed once per digest algorithm its signers use.
  const hashed = layers.reduce((n, l) => n + (l.content?.length ?? 0) * new Set(l.signedData?.signerInfos.map((si) => JSON.stringify(si.digestAlgorithm))).size, 0);
  if (hashed > limits.maxDigestBytes) return `${hashed} bytes to hash, more than limits.maxDigestBytes (${limits.maxDigestBytes})`;
  return undefined;
}

/**
 * The policy and checker of one call's revocation options (shared by verifyMessage and the recipient
 * checks of encryptMessage). Giving a checker, a fetch or any source (crls, ocspUrls, cache,
 * allowNoSources) asks for checking; without a checker, the call gets its own (its crypto, clock,
 * fetch; the caller's cache if any); bad crls fail here.
 */
export function revocationCheckerFor(
  rev: VerifyRevocationOptions | undefined,
  crypto: Crypto,
  clock: Clock | undefined,
): { policy: RevocationPolicy; checker: RevocationChecker | undefined } {
  const policy: RevocationPolicy = rev?.policy ?? (rev && revocationConfigured(rev) ? 'soft-fail' : 'off');
  const checker =
    policy === 'off'
      ? undefined
      : (rev?.checker ??
        new RevocationChecker({
          crypto,
          ...(clock && { clock }),
          ...(rev?.fetch && { fetch: rev.fetch }),
          ...(rev?.cache && { cache: rev.cache }),
          ...(rev?.crls && { crls: rev.crls }),
          ...(rev?.ocspUrls && { ocspUrls: rev.ocspUrls }),
        }));
  return { policy, checker };
}

/** Any revocation option besides `policy`: the caller wants revocation checked. */
function revocationConfigured(r: VerifyRevocationOptions): boolean {
  return (r.checker ?? r.fetch ?? r.cache ?? r.crls ?? r.ocspUrls ?? r.allowNoSources) !== undefined;
}

type RevocationNote =
  | { kind: 'problem'; signer: SignerResult; code: SmimeProblemCode; message: string }
  | { kind: 'warning'; signer: SignerResult; code: SmimeWarningCode; message: string };

/** Reasons that say the key is in other hands (RFC 5280 §5.3.1): the end entity's, a CA's, an attribute authority's. */
const KEY_COMPROMISE_REASONS: ReadonlySet<string> = new Set(['keyCompromise', 'cACompromise', 'aACompromise']);

/**
 * What the revocation results mean for one signer under the fail policy. Revoked at `at` is always
 * fatal; revoked later is fine (the certificate was good when used) unless the reason is a key
 * compromise (keyCompromise, cACompromise, aACompromise), because whoever holds a compromised key can
 * also backdate a signature — with a CA's key, issue a leaf and backdate both.
 */
function judgeRevocation(
  results: RevocationResult[],
  policy: RevocationPolicy,
  allowNoSources: boolean,
  signer: SignerResult,
  notes: RevocationNote[],
): boolean {
  let ok = true;
  for (const r of results) {
    const what = `certificate ${r.subject} (serial ${r.serialNumber})`;
    if (r.status === 'revoked') {
      const when = `${r.revokedAt ?? 'at an unknown time'}${r.reason ? `, ${r.reason}` : ''}, per ${r.method?.toUpperCase()}${r.source === 'cache' ? ' (cached)' : ''}`;
      if (!r.revokedAfterAt || (r.reason !== undefined && KEY_COMPROMISE_REASONS.has(r.reason))) {
        ok = false;
        notes.push({ kind: 'problem', signer, code: 'SMIME_CERTIFICATE_REVOKED', message: `${what} is revoked (${when})` });
      } else notes.push({ kind: 'warning', signer, code: 'SMIME_REVOKED_AFTER_SIGNING', message: `${what} was revoked after the verification time (${when})` });
    } else if (r.status === 'unknown') {
      if (policy === 'hard-fail') {
        ok = false;
        notes.push({ kind: 'problem', signer, code: 'SMIME_REVOCATION_UNKNOWN', message: `the responder does not know ${what}` });
      } else notes.push({ kind: 'warning', signer, code: 'SMIME_REVOCATION_UNCHECKED', message: `the responder does not know ${what}` });
    } else if (r.status === 'unchecked' && r.noSources) {
      // hard-fail means "status known and good": nothing to ask is not that, unless the caller said so.
      if (allowNoSources) continue;
      if (policy === 'hard-fail') {
        ok = false;
        notes.push({ kind: 'problem', signer, code: 'SMIME_REVOCATION_NO_SOURCES', message: `${what} names no OCSP responder and no CRL, and none was given` });
      } else notes.push({ kind: 'warning', signer, code: 'SMIME_REVOCATION_UNCHECKED', message: `${what} names no OCSP responder and no CRL: its status is not known` });
    } else if (r.status === 'unchecked') {
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
  // EFAIL: content that only AES-CBC protects may have been altered to exfiltrate itself when shown;
  // it is handed out here only under a valid signature (decryptMessage still opens it, flagged).
  if (!v.valid && v.layers.some((l) => l.kind === 'encrypted' && l.integrityProtected === false)) delete v.decryptedMessage;
  return v;
}

const summaries = new WeakMap<Certificate, CertificateSummary>();

/** Certificates recur across messages (parseCertificateCached): summarise each once. */
function summarizeCertificate(c: Certificate): CertificateSummary {
  let s = summaries.get(c);
  if (!s) summaries.set(c, (s = makeSummary(c)));
  return { ...s };
}

/** The summary with the certificate itself (includeCertificates). */
function summarizeWithCertificate(c: Certificate): CertificateSummary {
  // The base64 DER is made per verdict, not kept beside the DER the certificate cache already holds.
  return { ...summarizeCertificate(c), sha256: certificateSha256(c), der: toBase64(c.der) };
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
