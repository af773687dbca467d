/**
 * Shared S/MIME test fixtures: one LocalCA, signers for every certificate case the verifier must
 * tell apart, and helpers to build and hand-craft signed messages. Keys are generated once per
 * test file (the result of makeSmimeFixture() is memoised per worker) and are extractable, so
 * interop tests can write them out for OpenSSL / gpgsm.
 *
 * Time: the CA exists from CA_START; every "good" certificate is valid from GOOD_FROM for a year,
 * so verify at NOW (the fixture clock). The expired signer was valid EXPIRED_FROM .. +30 days.
 */
import { LocalCA } from '../../src/ca/local-ca.js';
import { CA_FILES } from '../../src/ca/local-ca.js';
import { MemoryCaStorage } from '../../src/ca/storage.js';
import {
  authorityKeyIdentifierValue,
  basicConstraintsValue,
  computeKeyIdentifier,
  extKeyUsageValue,
  keySigner,
  keyUsageValue,
  randomSerial,
  signCertificate,
  subjectAltNameValue,
  subjectKeyIdentifierValue,
} from '../../src/certs/builder.js';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import type { KeyUsageName } from '../../src/certs/extensions.js';
import { encodeName } from '../../src/certs/name.js';
import { contentTypeAttribute, messageDigestAttribute, signingTimeAttribute } from '../../src/cms/attributes.js';
import { CMS_OID } from '../../src/cms/oids.js';
import { concatBytes, copyBytes, fromUtf8, latin1, utf8 } from '../../src/internal/bytes.js';
import { explicit, implicit, int, nul, octets, oid, retag, seq, setOf, tlv, Tag } from '../../src/internal/der.js';
import { OID } from '../../src/internal/oids.js';
import { ecdsaRawToDer } from '../../src/keys/algorithms.js';
import { defaultSignatureAlgorithm } from '../../src/keys/algorithms.js';
import { exportSpki, generateKeyPair, importPrivateKey, type KeyType } from '../../src/keys/index.js';
import { encodeBase64Lines, parseMessage, walkEntities } from '../../src/mime/index.js';
import { signMessage, type SignMessageOptions, type SmimeSigner } from '../../src/smime/index.js';

const DAY = 86_400_000;
/** When the fixture CA was created (its root and issuing CA start here). */
export const CA_START = new Date('2025-01-01T00:00:00Z');
/** notBefore of every good signer certificate (valid for 365 days). */
export const GOOD_FROM = new Date('2026-01-01T00:00:00Z');
/** The verification time where good certificates are valid and the expired one is not. */
export const NOW = new Date('2026-03-15T12:00:00Z');
/** notBefore of the expired certificate (valid 30 days): verify at EXPIRED_INSIDE to see it valid. */
export const EXPIRED_FROM = new Date('2025-02-01T00:00:00Z');
export const EXPIRED_INSIDE = new Date('2025-02-10T00:00:00Z');
export const clock = (): Date => NOW;

/** A signer for signMessage, plus what tests need to know about it. */
export interface FixtureSigner extends SmimeSigner {
  /** The mailbox its certificate vouches for. */
  mailbox: string;
  /** The parsed signer certificate (also in `certificate`). */
  certificate: Certificate;
  /** Intermediate CA certificates (the issuing CA; never the root). */
  chain: Certificate[];
  /** Extractable private key (also in `key`). */
  key: CryptoKey;
  publicKey: CryptoKey;
  keyType: KeyType;
}

export interface SmimeFixture {
  ca: LocalCA;
  /** Trust anchors for verifyMessage: the fixture CA root only. */
  anchors: Certificate[];
  /** payments@example.com, EC P-256, valid at NOW. */
  payments: FixtureSigner;
  /** payments@example.com, RSA-2048, valid at NOW. */
  paymentsRsa: FixtureSigner;
  /** attacker@evil.test: a valid certificate from the same (trusted) CA. */
  attacker: FixtureSigner;
  /** payments@example.com from another CA that is not a trust anchor. */
  untrusted: FixtureSigner & { ca: LocalCA };
  /** payments@example.com, valid EXPIRED_FROM .. +30 days: expired at NOW. */
  expired: FixtureSigner;
  /** payments@example.com, same CA, extKeyUsage serverAuth only (no emailProtection). */
  noEmailProtection: FixtureSigner;
  /**
   * payments@example.com, same CA, keyUsage keyEncipherment only. signData refuses such a
   * certificate, so sign with `buildSignerInfo` (below) to use it.
   */
  keyEnciphermentOnly: FixtureSigner;
  /**
   * SAN rfc822Name payments@example.com and subject emailAddress=ceo@example.com, same CA: only
   * payments binds (RFC 5280 §4.2.1.6, RFC 8550 §3). `mailbox` is payments@example.com.
   */
  sanAndSubjectEmail: FixtureSigner;
  /** No SAN mailbox, subject emailAddress=legacy@example.com (a legacy certificate), same CA. */
  subjectEmailOnly: FixtureSigner;
}

let memo: Promise<SmimeFixture> | undefined;

/** The shared fixture (built once per worker; about a second, RSA key generation included). */
export function makeSmimeFixture(): Promise<SmimeFixture> {
  memo ??= build();
  return memo;
}

async function newKeys(type: KeyType): Promise<CryptoKeyPair> {
  return generateKeyPair(type, { extractable: true });
}

async function issued(ca: LocalCA, mailbox: string, keyType: KeyType, extra: { notBefore: Date; validityDays: number }): Promise<FixtureSigner> {
  const pair = await newKeys(keyType);
  const r = await ca.issue({ mailbox, publicKey: await exportSpki(pair.publicKey), profile: 'strict', ...extra });
  return {
    mailbox,
    key: pair.privateKey,
    publicKey: pair.publicKey,
    keyType,
    certificate: parseCertificate(r.certificate),
    chain: [ca.issuingCertificate],
  };
}

/** A certificate signed by the CA's issuing key with the extensions we choose (odd ones on purpose). */
async function crafted(
  ca: LocalCA,
  storage: MemoryCaStorage,
  mailbox: string,
  opts: { keyUsage: KeyUsageName[]; extKeyUsage: string[]; subjectEmail?: string; san?: boolean },
): Promise<FixtureSigner> {
  const issuingKey = await importPrivateKey(fromUtf8((await storage.read(CA_FILES.issuingKey))!));
  const pair = await newKeys('ec-p256');
  const spki = await exportSpki(pair.publicKey);
  const der = await signCertificate(
    {
      serial: randomSerial(globalThis.crypto),
      issuer: ca.issuingCertificate.subject.der,
      subject: encodeName([{ type: 'CN', value: mailbox }, ...(opts.subjectEmail ? [{ type: 'emailAddress', value: opts.subjectEmail }] : [])]),
      notBefore: GOOD_FROM,
      notAfter: new Date(GOOD_FROM.getTime() + 365 * DAY),
      spki,
      extensions: [
        { oid: OID.basicConstraints, critical: true, value: basicConstraintsValue(false) },
        { oid: OID.keyUsage, critical: true, value: keyUsageValue(opts.keyUsage) },
        { oid: OID.extKeyUsage, critical: false, value: extKeyUsageValue(opts.extKeyUsage) },
        ...(opts.san === false ? [] : [{ oid: OID.subjectAltName, critical: false, value: subjectAltNameValue({ rfc822Names: [mailbox] }) }]),
        { oid: OID.subjectKeyIdentifier, critical: false, value: subjectKeyIdentifierValue(await computeKeyIdentifier(spki)) },
        { oid: OID.authorityKeyIdentifier, critical: false, value: authorityKeyIdentifierValue(ca.issuingCertificate.subjectKeyIdentifier!) },
      ],
    },
    keySigner(issuingKey, defaultSignatureAlgorithm(issuingKey)),
  );
  return {
    mailbox,
    key: pair.privateKey,
    publicKey: pair.publicKey,
    keyType: 'ec-p256',
    certificate: parseCertificate(der),
    chain: [ca.issuingCertificate],
  };
}

async function build(): Promise<SmimeFixture> {
  const caClock = () => CA_START;
  const storage = new MemoryCaStorage();
  const ca = await LocalCA.create(storage, { name: 'Fixture CA', allowedDomains: ['example.com', 'evil.test'] }, { clock: caClock });
  const otherCa = await LocalCA.create(new MemoryCaStorage(), { name: 'Untrusted CA', allowedDomains: ['example.com'] }, { clock: caClock });
  const good = { notBefore: GOOD_FROM, validityDays: 365 };
  const signing = { keyUsage: ['digitalSignature'] as KeyUsageName[], extKeyUsage: [OID.idKpEmailProtection] };
  const [payments, paymentsRsa, attacker, untrusted, expired, noEmailProtection, keyEnciphermentOnly, sanAndSubjectEmail, subjectEmailOnly] = await Promise.all([
    issued(ca, 'payments@example.com', 'ec-p256', good),
    issued(ca, 'payments@example.com', 'rsa-2048', good),
    issued(ca, 'attacker@evil.test', 'ec-p256', good),
    issued(otherCa, 'payments@example.com', 'ec-p256', good),
    issued(ca, 'payments@example.com', 'ec-p256', { notBefore: EXPIRED_FROM, validityDays: 30 }),
    crafted(ca, storage, 'payments@example.com', { keyUsage: ['digitalSignature'], extKeyUsage: [OID.idKpServerAuth] }),
    crafted(ca, storage, 'payments@example.com', { keyUsage: ['keyEncipherment'], extKeyUsage: [OID.idKpEmailProtection] }),
    crafted(ca, storage, 'payments@example.com', { ...signing, subjectEmail: 'ceo@example.com' }),
    crafted(ca, storage, 'legacy@example.com', { ...signing, subjectEmail: 'legacy@example.com', san: false }),
  ]);
  return {
    ca,
    anchors: [ca.rootCertificate],
    payments,
    paymentsRsa,
    attacker,
    untrusted: { ...untrusted, chain: [otherCa.issuingCertificate], ca: otherCa },
    expired,
    noEmailProtection,
    keyEnciphermentOnly,
    sanAndSubjectEmail,
    subjectEmailOnly,
  };
}

// ---------------------------------------------------------------------------------------------
// Messages

export interface MessageParts {
  /** The From field value; null leaves the field out ('' writes an empty From). */
  from?: string | null;
  to?: string;
  subject?: string;
  /** Extra outer header lines, each without CRLF. */
  headers?: string[];
  /** Header lines of the entity to sign (default: text/plain). */
  contentHeaders?: string[];
  body?: string;
}

/** A plain message (CRLF), ready to be signed: outer headers, then the content entity. */
export function plainMessage(p: MessageParts = {}): string {
  const lines = [
    ...(p.from === undefined ? ['From: Payments <payments@example.com>'] : p.from === null ? [] : [`From: ${p.from}`]),
    `To: ${p.to ?? 'approvers@example.com'}`,
    `Subject: ${p.subject ?? 'Payment run 2026-03'}`,
    'Date: Sun, 15 Mar 2026 12:00:00 +0000',
    'Message-ID: <fixture.1@example.com>',
    ...(p.headers ?? []),
    ...(p.contentHeaders ?? ['Content-Type: text/plain; charset=us-ascii', 'Content-Transfer-Encoding: 7bit']),
  ];
  return `${lines.join('\r\n')}\r\n\r\n${p.body ?? 'Please pay 1,250.00 EUR to IBAN DE00 1234 5678 9012 3456 78.\r\n'}`;
}

/** signMessage with the fixture clock and fixed boundaries, so output is reproducible per key. */
export async function sign(
  message: string | Uint8Array,
  signer: SmimeSigner,
  options: SignMessageOptions = {},
): Promise<string> {
  let n = 0;
  const signed = await signMessage(message, signer, {
    clock,
    randomBytes: (len) => new Uint8Array(len).map(() => (n++ * 37 + 11) & 0xff),
    ...options,
  });
  return new TextDecoder('latin1').decode(signed);
}

/** Options for verifyMessage that trust the fixture CA and verify at NOW. */
export function verifyOptions(f: SmimeFixture, extra: Record<string, unknown> = {}) {
  return { trustAnchors: f.anchors, at: NOW, ...extra };
}

// ---------------------------------------------------------------------------------------------
// Hand-crafted CMS (for what signData refuses to write: SHA-1, odd key usage, zero signers...)

export interface RawSignerInfoInput {
  content: Uint8Array;
  key: CryptoKey;
  certificate: Certificate;
  /** Digest and signature hash. SHA-1 is allowed here (ECDSA and RSA PKCS#1 keys). */
  hash: 'SHA-1' | 'SHA-256';
  eContentType?: string;
  signingTime?: Date;
}

const SHA1_ECDSA = OID.ecdsaWithSHA1;
const SHA256_ECDSA = '1.2.840.10045.4.3.2';

/** One SignerInfo (issuerAndSerialNumber, signed attributes) built without signData's checks. */
export async function buildSignerInfo(input: RawSignerInfoInput): Promise<Uint8Array> {
  const subtle = globalThis.crypto.subtle;
  const digest = new Uint8Array(await subtle.digest(input.hash, copyBytes(input.content)));
  const attrs = setOf(
    contentTypeAttribute(input.eContentType ?? CMS_OID.data),
    messageDigestAttribute(digest),
    ...(input.signingTime ? [signingTimeAttribute(input.signingTime)] : []),
  );
  const digestOid = input.hash === 'SHA-1' ? OID.sha1 : '2.16.840.1.101.3.4.2.1';
  let sigAlg: Uint8Array;
  let signature: Uint8Array;
  if (input.key.algorithm.name === 'ECDSA') {
    const raw = new Uint8Array(await subtle.sign({ name: 'ECDSA', hash: input.hash }, input.key, copyBytes(attrs)));
    signature = ecdsaRawToDer(raw);
    sigAlg = seq(oid(input.hash === 'SHA-1' ? SHA1_ECDSA : SHA256_ECDSA));
  } else {
    // WebCrypto binds an RSA key to one hash: re-import it for the hash asked for.
    const pkcs8 = await subtle.exportKey('pkcs8', input.key);
    const bound = await subtle.importKey('pkcs8', pkcs8, { name: 'RSASSA-PKCS1-v1_5', hash: input.hash }, false, ['sign']);
    signature = new Uint8Array(await subtle.sign('RSASSA-PKCS1-v1_5', bound, copyBytes(attrs)));
    sigAlg = seq(oid(OID.rsaEncryption), nul());
  }
  return seq(
    int(1),
    seq(input.certificate.issuer.der, tlv(Tag.INTEGER, input.certificate.serialBytes)),
    seq(oid(digestOid)),
    retag(attrs, 0),
    sigAlg,
    octets(signature),
  );
}

export interface RawSignedDataInput {
  signerInfos: Uint8Array[];
  certificates?: Certificate[];
  /** Digest OIDs for the digestAlgorithms set (default SHA-256). */
  digestOids?: string[];
  eContentType?: string;
  /** Present: opaque (encapsulated) content. */
  eContent?: Uint8Array;
}

/** A ContentInfo holding SignedData, assembled with the DER writer. */
export function buildSignedData(input: RawSignedDataInput): Uint8Array {
  const certs = (input.certificates ?? []).map((c) => c.der);
  const encap =
    input.eContent === undefined
      ? seq(oid(input.eContentType ?? CMS_OID.data))
      : seq(oid(input.eContentType ?? CMS_OID.data), explicit(0, octets(input.eContent)));
  const signedData = seq(
    int(1),
    setOf(...(input.digestOids ?? ['2.16.840.1.101.3.4.2.1']).map((o) => seq(oid(o)))),
    encap,
    ...(certs.length ? [tlv(0xa0, ...certs)] : []),
    setOf(...input.signerInfos),
  );
  return seq(oid(CMS_OID.signedData), explicit(0, signedData));
}

/**
 * A multipart/signed message around `entity` (the exact signed bytes) with `cms` as its
 * signature part. `outer` are the outer header lines (without CRLF).
 */
export function multipartSigned(
  outer: string[],
  entity: string | Uint8Array,
  cms: Uint8Array,
  { boundary = 'fixture-boundary-1', micalg = 'sha-256' }: { boundary?: string; micalg?: string } = {},
): string {
  const e = typeof entity === 'string' ? entity : new TextDecoder('latin1').decode(entity);
  return (
    `${outer.join('\r\n')}\r\nMIME-Version: 1.0\r\n` +
    `Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=${micalg};\r\n boundary="${boundary}"\r\n\r\n` +
    `This is an S/MIME signed message\r\n\r\n--${boundary}\r\n${e}\r\n--${boundary}\r\n` +
    `Content-Type: application/pkcs7-signature; name="smime.p7s"\r\nContent-Transfer-Encoding: base64\r\n` +
    `Content-Disposition: attachment; filename="smime.p7s"\r\n\r\n${encodeBase64Lines(cms)}\r\n--${boundary}--\r\n`
  );
}

/** An opaque (application/pkcs7-mime signed-data) message carrying `cms`. */
export function opaqueSigned(outer: string[], cms: Uint8Array): string {
  return (
    `${outer.join('\r\n')}\r\nMIME-Version: 1.0\r\n` +
    `Content-Type: application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n` +
    `Content-Disposition: attachment; filename="smime.p7m"\r\n\r\n${encodeBase64Lines(cms)}\r\n`
  );
}

/** Default outer header lines of fixture messages (From payments). */
export const OUTER = [
  'From: Payments <payments@example.com>',
  'To: approvers@example.com',
  'Subject: Payment run 2026-03',
  'Date: Sun, 15 Mar 2026 12:00:00 +0000',
];

/** The default signed entity used by hand-crafted messages. */
export const ENTITY = 'Content-Type: text/plain; charset=us-ascii\r\n\r\nPlease pay 1,250.00 EUR to IBAN DE00 1234 5678 9012 3456 78.\r\n';

/** Splits a message at its first blank line: outer header block (with final CRLF) and body. */
export function splitHeaderBody(message: string): { head: string; body: string } {
  const i = message.indexOf('\r\n\r\n');
  return { head: message.slice(0, i + 2), body: message.slice(i + 4) };
}

/**
 * The message with the DER in its (first) signature part replaced by `mutate(der)`: for
 * corrupting or swapping CMS while keeping the MIME as it was.
 */
export function replaceSignature(message: string, mutate: (der: Uint8Array) => Uint8Array): string {
  const root = parseMessage(message);
  const part = [...walkEntities(root)].find((e) => e.contentType.mediaType === 'application/pkcs7-signature' || e.contentType.mediaType === 'application/pkcs7-mime');
  if (!part) throw new Error('no signature part');
  const latin = new TextDecoder('latin1').decode(root.source);
  return latin.slice(0, part.bodyStart) + encodeBase64Lines(mutate(part.decodedBody().slice())) + latin.slice(part.end);
}

/** The CMS DER of a message's (first) signature part. */
export function signatureOf(message: string): Uint8Array {
  let out: Uint8Array | undefined;
  replaceSignature(message, (der) => (out = der));
  return out!;
}

/**
 * The Content-* header fields and body of a signed message: the entity to wrap inside another
 * multipart or to sign again.
 */
export function entityOf(message: string): string {
  const { head, body } = splitHeaderBody(message);
  const fields = head.split(/\r\n(?![ \t])/).filter((l) => /^content-/i.test(l));
  return `${fields.join('\r\n')}\r\n\r\n${body}`;
}

export const bytesOf = (s: string): Uint8Array => latin1(s);
export { concatBytes, utf8 };

/** approver@example.com: an EC P-256 recipient (certificate from the fixture CA, valid at NOW) and its private key. */
export async function issueApprover(f: SmimeFixture): Promise<{ certificate: Certificate; key: CryptoKey }> {
  const { certificate, key } = await issued(f.ca, 'approver@example.com', 'ec-p256', { notBefore: GOOD_FROM, validityDays: 365 });
  return { certificate, key };
}

/** A self-signed certificate (its own trust anchor) whose SAN holds `san` (GeneralName DER), and its key; `name`: its issuer and subject (Name DER). */
export async function selfSignedSigner(san: Uint8Array[], mailbox: string, name = encodeName([{ type: 'CN', value: 'UTF-8 signer' }])): Promise<FixtureSigner> {
  const keys = await generateKeyPair('ec-p256', { extractable: true });
  const der = await signCertificate(
    {
      serial: randomSerial(globalThis.crypto),
      issuer: name,
      subject: name,
      notBefore: GOOD_FROM,
      notAfter: new Date(GOOD_FROM.getTime() + 365 * 86_400_000),
      spki: await exportSpki(keys.publicKey),
      extensions: [{ oid: OID.subjectAltName, critical: false, value: seq(...san) }],
    },
    keySigner(keys.privateKey, defaultSignatureAlgorithm(keys.privateKey)),
  );
  return { mailbox, key: keys.privateKey, publicKey: keys.publicKey, keyType: 'ec-p256', certificate: parseCertificate(der), chain: [] };
}
/** A GeneralName rfc822Name (ASCII, A-labels). */
export const rfc822Name = (s: string) => implicit(1, Uint8Array.from(s, (c) => c.charCodeAt(0)));
/** A GeneralName otherName SmtpUTF8Mailbox (RFC 9598). */
export const smtpUtf8Mailbox = (s: string) => tlv(0xa0, oid(OID.idOnSmtpUtf8Mailbox), tlv(0xa0, tlv(0x0c, utf8(s))));
