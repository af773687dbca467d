/** PKCS#10 certification requests (RFC 2986) for a mailbox. */
import { MailPkiError } from '../errors.js';
import { toBytes } from '../internal/bytes.js';
import { resolveCrypto } from '../internal/crypto.js';
import { Tag, bitString, cursor, encodedOf, int, octets, oid, parseDerSequence, readBitString, readOid, readSmallInt, seq, setOf, type Der } from '../internal/der.js';
import { OID } from '../internal/oids.js';
import { decodePem, encodePem, looksLikePem } from '../internal/pem.js';
import {
  defaultSignatureAlgorithm,
  parseSignatureAlgorithm,
  readPublicKeyInfo,
  signBytes,
  signatureAlgorithmIdentifier,
  verifyBytes,
  type PublicKeyInfo,
  type SignatureAlgorithm,
} from '../keys/algorithms.js';
import { subjectAltNameValue } from './builder.js';
import { readExtensions, readSubjectAltName } from './extensions.js';
import { encodeName, formatName, nameValues, readName, type Name, type NameAttribute } from './name.js';

export const MAX_CSR_BYTES = 64 * 1024;

export interface CreateCsrOptions {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** The mailbox the certificate is for; goes into SAN rfc822Name and the subject CN. */
  email: string;
  /** Extra subject attributes (O, OU, C, ...). */
  subject?: NameAttribute[];
  algorithm?: SignatureAlgorithm;
  crypto?: Crypto;
}

/** Builds and signs a PKCS#10 request for `email`; returns DER. */
export async function createCsr(options: CreateCsrOptions): Promise<Uint8Array> {
  const crypto = resolveCrypto(options.crypto);
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', options.publicKey));
  const algorithm = options.algorithm ?? defaultSignatureAlgorithm(options.privateKey);
  const extensionRequest = seq(
    oid(OID.extensionRequest),
    setOf(seq(seq(oid(OID.subjectAltName), octets(subjectAltNameValue({ rfc822Names: [options.email] }))))),
  );
  const info = seq(
    int(0),
    encodeName([...(options.subject ?? []), { type: 'CN', value: options.email }]),
    spki,
    explicitSet(extensionRequest),
  );
  const sig = await signBytes(crypto, options.privateKey, algorithm, info);
  return seq(info, signatureAlgorithmIdentifier(algorithm), bitString(sig));
}

/** [0] IMPLICIT SET OF Attribute. */
function explicitSet(...attrs: Uint8Array[]): Uint8Array {
  const set = setOf(...attrs);
  set[0] = 0xa0;
  return set;
}

export function csrToPem(der: Uint8Array): string {
  return encodePem('CERTIFICATE REQUEST', der);
}

export interface CertificationRequest {
  der: Uint8Array;
  subject: Name;
  subjectString: string;
  publicKey: PublicKeyInfo;
  /** SAN rfc822Names requested, then subject emailAddress / CN values that look like mailboxes. */
  emails: string[];
  /** The requestInfo and signature, for verifyCsr. */
  info: Uint8Array;
  signatureAlgorithm: ReturnType<typeof parseSignatureAlgorithm> | undefined;
  signature: Uint8Array;
}

const ERR = 'ERR_CSR_MALFORMED' as const;
const WHAT = 'invalid certificate request';

/** Parses a PKCS#10 request (PEM "CERTIFICATE REQUEST" or DER). Does not check its signature. */
export function parseCsr(input: Uint8Array | string): CertificationRequest {
  const der =
    typeof input === 'string' || looksLikePem(input)
      ? decodePem(typeof input === 'string' ? input : new TextDecoder('latin1').decode(input), ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST']).der
      : toBytes(input);
  if (der.length > MAX_CSR_BYTES) throw new MailPkiError('ERR_INPUT_TOO_LARGE', `certificate request is larger than ${MAX_CSR_BYTES} bytes`);
  const c = cursor(parseDerSequence(der, ERR, WHAT), ERR, WHAT);
  const infoNode = c.next(Tag.SEQUENCE);
  const algNode = c.next(Tag.SEQUENCE);
  const { bits: signature } = readBitString(c.next(Tag.BIT_STRING));
  c.end();
  const i = cursor(infoNode, ERR, WHAT);
  if (readSmallInt(i.next(Tag.INTEGER)) !== 0) throw new MailPkiError(ERR, `${WHAT}: unknown version`);
  const subject = wrap(() => readName(i.next(Tag.SEQUENCE)));
  const publicKey = wrap(() => readPublicKeyInfo(i.next(Tag.SEQUENCE)));
  const attrs = i.optional(0xa0);
  i.end();
  const emails: string[] = [];
  if (attrs) emails.push(...requestedEmails(attrs));
  for (const v of [...nameValues(subject, OID.emailAddress), ...nameValues(subject, OID.commonName)]) {
    if (v.includes('@') && !emails.includes(v)) emails.push(v);
  }
  let signatureAlgorithm: CertificationRequest['signatureAlgorithm'];
  try {
    signatureAlgorithm = parseSignatureAlgorithm(algNode);
  } catch {
    signatureAlgorithm = undefined;
  }
  return { der, subject, subjectString: formatName(subject), publicKey, emails, info: encodedOf(infoNode), signatureAlgorithm, signature };
}

function wrap<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof MailPkiError && e.code !== ERR && e.code !== 'ERR_KEY_UNSUPPORTED')
      throw new MailPkiError(ERR, `${WHAT}: ${e.message}`, { cause: e });
    throw e;
  }
}

function requestedEmails(attrs: Der): string[] {
  const out: string[] = [];
  const c = cursor(attrs, ERR, WHAT);
  while (!c.done) {
    const a = cursor(c.next(Tag.SEQUENCE), ERR, WHAT);
    if (readOid(a.next(Tag.OID)) !== OID.extensionRequest) continue;
    const values = cursor(a.next(Tag.SET), ERR, WHAT);
    while (!values.done) {
      const exts = wrap(() => readExtensions(values.next(Tag.SEQUENCE)));
      const san = exts.get(OID.subjectAltName);
      if (san) out.push(...wrap(() => readSubjectAltName(san.value)).rfc822Names);
    }
  }
  return out;
}

/** Checks the request is signed by its own key (proof of possession). */
export async function verifyCsr(csr: CertificationRequest, crypto?: Crypto): Promise<void> {
  if (!csr.signatureAlgorithm)
    throw new MailPkiError('ERR_ALGORITHM_UNSUPPORTED', 'certificate request is signed with an unsupported algorithm');
  const ok = await verifyBytes(resolveCrypto(crypto), csr.publicKey, csr.signatureAlgorithm, csr.info, csr.signature);
  if (!ok) throw new MailPkiError('ERR_CSR_SIGNATURE_INVALID', 'certificate request signature does not verify with its own public key');
}

