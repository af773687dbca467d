/**
 * signMessage: S/MIME signing (RFC 8551). The signed entity is canonical (CRLF) and 7-bit
 * safe before it is signed, so relays that re-encode cannot break the signature; outer
 * headers (From, To, Subject, Date, Message-ID...) stay outside it, ASCII or UTF-8 (RFC 6532), as given.
 */
import { z } from 'zod';
import { signData } from '../cms/index.js';
import { parseCertificate, parseCertificates, type Certificate } from '../certs/certificate.js';
import { MailPkiError } from '../errors.js';
import { concatBytes, fromUtf8, includesAscii, latin1, toBytes, toHex, utf8 } from '../internal/bytes.js';
import { systemClock, type Clock } from '../internal/clock.js';
import { publicRandomBytes, resolveCrypto } from '../internal/crypto.js';
import { parseInput } from '../internal/validate.js';
import { schemeOfKey, type DigestAlgorithm, type SignatureAlgorithm } from '../keys/algorithms.js';
import {
  assembleMessage,
  buildMessage,
  is7bitClean,
  isCanonical,
  make7bitSafe,
  parseMessage,
  type BuildMessageInput,
} from '../mime/index.js';
import { encodeBase64LineBytes } from '../mime/base64.js';
import { headerTextFault } from '../mime/charset.js';
import type { CertificateInput } from './verify.js';
import { injectProtectedHeaders } from './protected-headers.js';

/** What signs: the key, its certificate and the chain to include (MimeKit's CmsSigner). */
export interface SmimeSigner {
  /** The private key; a non-extractable CryptoKey (or one from an HSM-backed provider) works. */
  key: CryptoKey;
  certificate: CertificateInput;
  /** Intermediate CA certificates to include in the message (not the root). */
  chain?: CertificateInput[];
}

export interface SignMessageOptions {
  /** Opaque `application/pkcs7-mime` signed-data instead of detached multipart/signed (default false). */
  opaque?: boolean;
  /** Digest: SHA-256 (default), SHA-384, SHA-512. Ed25519 always uses SHA-512. */
  digest?: DigestAlgorithm;
  /** RSA padding: 'pkcs1' (PKCS#1 v1.5, default) or 'pss'. */
  rsaPadding?: 'pkcs1' | 'pss';
  /** Signing time attribute (default: the clock); false leaves it out. */
  signingTime?: Date | false;
  /**
   * RFC 9788 header protection: copy the header fields (From, To, Subject, Date...) into the signed
   * part, marked hp="clear", so a client that reads them shows signed values (default false: the
   * signed part holds only the content, as before).
   */
  headerProtection?: boolean;
  /** More signers beside the first (several SignerInfos on one message). */
  additionalSigners?: SmimeSigner[];
  clock?: Clock;
  crypto?: Crypto;
  /** Randomness for MIME boundaries (tests inject it). */
  randomBytes?: (n: number) => Uint8Array;
}

export const signOptionsShape = {
    opaque: z.boolean().optional(),
    digest: z.enum(['SHA-256', 'SHA-384', 'SHA-512']).optional(),
    rsaPadding: z.enum(['pkcs1', 'pss']).optional(),
    signingTime: z.union([z.date(), z.literal(false)]).optional(),
    headerProtection: z.boolean().optional(),
    additionalSigners: z.array(z.any()).optional(),
    clock: z.any().optional(),
    crypto: z.any().optional(),
    randomBytes: z.any().optional(),
};

const optionsSchema = z.object(signOptionsShape).strict();

const MICALG: Record<DigestAlgorithm, string> = { 'SHA-256': 'sha-256', 'SHA-384': 'sha-384', 'SHA-512': 'sha-512' };
const CRLF = '\r\n';

interface ResolvedSigner {
  key: CryptoKey;
  certificate: Certificate;
  chain: Certificate[];
  algorithm: SignatureAlgorithm;
}

function asCertificate(input: CertificateInput, what: string): Certificate {
  if (input && typeof input === 'object' && 'der' in input && input.der instanceof Uint8Array) return input;
  try {
    return parseCertificate(input as Uint8Array | string);
  } catch (e) {
    throw new MailPkiError('ERR_SIGNER_INVALID', `${what}: ${(e as Error).message}`, { cause: e });
  }
}

function resolveSigner(s: SmimeSigner, options: SignMessageOptions, what: string): ResolvedSigner {
  if (!s || typeof s !== 'object') throw new MailPkiError('ERR_INVALID_INPUT', `${what}: expected a signer (a key and a certificate)`, { details: { field: what } });
  if (!s.key) throw new MailPkiError('ERR_SIGNER_INVALID', `${what}: a key and a certificate are needed`);
  const certificate = asCertificate(s.certificate, `${what}.certificate`);
  const chain = (s.chain ?? []).flatMap((c, i) =>
    typeof c === 'string' || c instanceof Uint8Array ? parseCertificates(c) : [asCertificate(c, `${what}.chain[${i}]`)],
  );
  let scheme;
  try {
    scheme = schemeOfKey(s.key);
  } catch (e) {
    throw new MailPkiError('ERR_SIGNER_INVALID', `${what}: ${(e as Error).message}`, { cause: e });
  }
  let algorithm: SignatureAlgorithm;
  if (scheme === 'ed25519') {
    if (options.digest && options.digest !== 'SHA-512')
      throw new MailPkiError('ERR_SIGNER_INVALID', `${what}: Ed25519 signs with SHA-512 only (RFC 8419)`);
    algorithm = { scheme, hash: 'SHA-512' };
  } else if (scheme === 'ecdsa') {
    if (options.rsaPadding === 'pss') throw new MailPkiError('ERR_SIGNER_INVALID', `${what}: RSA-PSS needs an RSA key`);
    const curve = (s.key.algorithm as EcKeyAlgorithm).namedCurve;
    algorithm = { scheme, hash: options.digest ?? (curve === 'P-384' ? 'SHA-384' : curve === 'P-521' ? 'SHA-512' : 'SHA-256') };
  } else {
    algorithm = { scheme: options.rsaPadding === 'pss' ? 'rsa-pss' : 'rsa-pkcs1', hash: options.digest ?? 'SHA-256' };
  }
  return { key: s.key, certificate, chain, algorithm };
}

/**
 * Splits a caller's message into outer header fields and the content entity to sign:
 * Content-* fields belong to the entity, everything else stays outside. The outer fields are
 * ASCII or UTF-8 (RFC 6532, mail sent with SMTPUTF8) and come back as text, to be written as UTF-8:
 * the same bytes.
 */
function splitMessage(bytes: Uint8Array): { outer: string; entity: Uint8Array } {
  // parseMessage makes the line ends CRLF itself: headers and body come out canonical.
  const root = parseMessage(bytes);
  const outer: string[] = [];
  const content: Uint8Array[] = [];
  for (const h of root.headers) {
    const lower = h.name.toLowerCase();
    if (lower.startsWith('content-')) content.push(h.raw);
    else if (lower !== 'mime-version') outer.push(outerField(h.name, h.raw));
  }
  if (!root.headers.some((h) => h.name.toLowerCase() === 'content-type')) content.unshift(utf8(`Content-Type: text/plain; charset=utf-8${CRLF}`));
  const headerBytes = concatBytes(content.map((c) => (endsWithCrlf(c) ? c : concatBytes([c, utf8(CRLF)]))));
  const entity = concatBytes([headerBytes, utf8(CRLF), root.body()]);
  return { outer: outer.map((h) => (h.endsWith(CRLF) ? h : h + CRLF)).join(''), entity };
}

/** One outer header field as text, or ERR_INVALID_INPUT naming it when it is not RFC 6532 header text. */
function outerField(name: string, raw: Uint8Array): string {
  const fault = headerTextFault(raw);
  if (fault === undefined) return fromUtf8(raw);
  const shown = /^[\x21-\x39\x3b-\x7e]{1,76}$/.test(name) ? `the ${name} header field` : 'a header field';
  throw new MailPkiError(
    'ERR_INVALID_INPUT',
    `message: ${shown} cannot be signed or encrypted as it is: ${fault} (header text must be ASCII or well-formed UTF-8, RFC 6532, without control characters, or readers show different text)`,
    { details: { field: 'message', header: name } },
  );
}

function endsWithCrlf(b: Uint8Array): boolean {
  return b.length >= 2 && b[b.length - 2] === 0x0d && b[b.length - 1] === 0x0a;
}

/**
 * Signs a message. `message` is a MIME message or entity (bytes or string), or a structure
 * `{ from, to, cc?, subject, text?, html?, attachments? }` that is built into MIME first.
 * Returns the complete signed message (CRLF line ends).
 *
 * @example
 * const signed = await signMessage(
 *   { from: 'payments@example.com', to: 'approvers@example.com', subject: 'Payment', text: 'Pay 1,250.00 EUR to ...' },
 *   { key, certificate: certPem, chain: [issuingPem] },
 * );
 */
export async function signMessage(
  message: Uint8Array | string | BuildMessageInput,
  signer: SmimeSigner,
  options: SignMessageOptions = {},
): Promise<Uint8Array> {
  parseInput(optionsSchema, options, 'signMessage options');
  const prepared = prepareMessage(message, options);
  const entity = options.headerProtection ? injectProtectedHeaders(prepared.outer, prepared.entity, 'clear') : prepared.entity;
  return assembleMessage(`${prepared.outer}MIME-Version: 1.0${CRLF}`, await signEntity(entity, signer, options));
}

/**
 * The outer header fields (CRLF-terminated, without MIME-Version) and the content entity of a
 * caller's message, canonical and 7-bit safe: what is signed or encrypted. The outer fields are text
 * (UTF-8 ones decoded), to be written as UTF-8.
 */
export function prepareMessage(message: Uint8Array | string | BuildMessageInput, options: { clock?: Clock; crypto?: Crypto; randomBytes?: (n: number) => Uint8Array }): { outer: string; entity: Uint8Array } {
  const crypto = resolveCrypto(options.crypto);
  const clock = options.clock ?? systemClock;
  const randomBytes = options.randomBytes ?? ((n: number) => publicRandomBytes(crypto, n));

  let outer: string;
  let entity: Uint8Array;
  // splitMessage's entity has CRLF line ends by construction; a built one is checked.
  let canonical: boolean;
  if (typeof message === 'string' || message instanceof Uint8Array) {
    ({ outer, entity } = splitMessage(toBytes(message)));
    canonical = true;
  } else {
    const built = buildMessage(message, { randomBytes, now: clock() });
    outer = built.outerHeaders.replace(/^MIME-Version:.*\r\n/im, '');
    entity = built.entity;
    canonical = isCanonical(entity);
  }
  // Most mail is already 7-bit with short lines: then there is nothing to re-encode.
  if (!canonical || !is7bitClean(entity)) entity = make7bitSafe(entity);

  return { outer, entity };
}

/**
 * Signs a canonical entity; returns the signed entity (multipart/signed, or pkcs7-mime signed-data
 * when opaque): its Content-* header fields, a blank line and the body.
 */
export async function signEntity(entity: Uint8Array, signer: SmimeSigner, options: SignMessageOptions): Promise<Uint8Array> {
  const crypto = resolveCrypto(options.crypto);
  const clock = options.clock ?? systemClock;
  const randomBytes = options.randomBytes ?? ((n: number) => publicRandomBytes(crypto, n));
  const signers = [signer, ...(options.additionalSigners ?? [])].map((s, i) => resolveSigner(s, options, i === 0 ? 'signer' : `additionalSigners[${i - 1}]`));
  const certificates: Uint8Array[] = [];
  for (const s of signers) for (const c of [s.certificate, ...s.chain]) certificates.push(c.der);
  const signingTime = options.signingTime ?? clock();
  const cms = await signData(entity, {
    signers: signers.map((s) => ({ key: s.key, certificate: s.certificate, algorithm: s.algorithm, signingTime })),
    detached: !options.opaque,
    certificates,
    now: clock,
    crypto,
  });

  if (options.opaque) {
    const head =
      `Content-Type: application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"${CRLF}` +
      `Content-Transfer-Encoding: base64${CRLF}` +
      `Content-Disposition: attachment; filename="smime.p7m"${CRLF}${CRLF}`;
    return concatBytes([latin1(head), encodeBase64LineBytes(cms), latin1(CRLF)]);
  }
  let boundary: string;
  do boundary = `----=_mailpki_${toHex(randomBytes(12))}`;
  while (includesAscii(entity, `--${boundary}`));
  const micalg = [...new Set(signers.map((s) => MICALG[s.algorithm.hash]))].join(',');
  const head =
    `Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=${micalg};${CRLF}` +
    ` boundary="${boundary}"${CRLF}${CRLF}` +
    `This is an S/MIME signed message${CRLF}${CRLF}--${boundary}${CRLF}`;
  const signaturePartHead =
    `${CRLF}--${boundary}${CRLF}` +
    `Content-Type: application/pkcs7-signature; name="smime.p7s"${CRLF}` +
    `Content-Transfer-Encoding: base64${CRLF}` +
    `Content-Disposition: attachment; filename="smime.p7s"${CRLF}${CRLF}`;
  return concatBytes([latin1(head), entity, latin1(signaturePartHead), encodeBase64LineBytes(cms), latin1(`${CRLF}--${boundary}--${CRLF}`)]);
}
