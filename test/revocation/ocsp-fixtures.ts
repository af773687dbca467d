/**
 * Shared OCSP test world: two LocalCAs (A, the one asked about; B, a stranger), leaves of A
 * (good, revoked for keyCompromise, one left out of lookups as unknown) and delegated responder
 * certificates (proper, without the OCSP EKU, issued by B). Made fresh per test file, with the
 * real clock floored to the second so that OpenSSL, which checks at the wall clock, agrees.
 * Keys: 2 per CA + 1 leaf key shared by the leaves + 1 responder key, all ec-p256.
 */
import { LocalCA } from '../../src/ca/local-ca.js';
import { MemoryCaStorage } from '../../src/ca/storage.js';
import {
  authorityKeyIdentifierValue,
  basicConstraintsValue,
  computeKeyIdentifier,
  keySigner,
  keyUsageValue,
  randomSerial,
  signCertificate,
  subjectKeyIdentifierValue,
  type ExtensionInput,
  type TbsSigner,
} from '../../src/certs/builder.js';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { encodeName } from '../../src/certs/name.js';
import { fromUtf8 } from '../../src/internal/bytes.js';
import { OID } from '../../src/internal/oids.js';
import { defaultSignatureAlgorithm } from '../../src/keys/algorithms.js';
import { exportPkcs8Pem, exportSpki, generateKeyPair, importPrivateKey } from '../../src/keys/index.js';
import type { OcspLookupResult } from '../../src/revocation/ocsp.js';
import { ocspResponderExtensions } from '../../src/revocation/ocsp.js';

export const DAY = 86_400_000;

export interface CaSide {
  ca: LocalCA;
  issuing: Certificate;
  root: Certificate;
  /** The issuing CA key as unencrypted PKCS#8 PEM (as LocalCA stores it without a passphrase). */
  keyPem: string;
  signer: TbsSigner;
}

export interface OcspWorld {
  now: Date;
  a: CaSide;
  b: CaSide;
  good: Certificate;
  revoked: Certificate;
  unknown: Certificate;
  /** Leaf of B (a CertID of another issuer). */
  foreign: Certificate;
  responder: { certificate: Certificate; signer: TbsSigner; keyPem: string };
  responderNoEku: Certificate;
  responderByB: Certificate;
  /** LocalCA A's records as an OCSP lookup; `unknown`'s serial is answered 'unknown'. */
  lookup: (serial: string) => OcspLookupResult;
}

async function caSide(name: string, clock: () => Date): Promise<CaSide> {
  const storage = new MemoryCaStorage();
  const ca = await LocalCA.create(storage, { name, allowedDomains: ['example.com'] }, { clock });
  const keyPem = fromUtf8((await storage.read('keys/issuing.key.pem'))!);
  const key = await importPrivateKey(keyPem);
  return { ca, issuing: ca.issuingCertificate, root: ca.rootCertificate, keyPem, signer: keySigner(key, defaultSignatureAlgorithm(key)) };
}

export async function makeWorld(): Promise<OcspWorld> {
  const now = new Date(Math.floor(Date.now() / 1000) * 1000);
  const clock = () => now;
  const a = await caSide('Alpha CA', clock);
  const b = await caSide('Beta CA', clock);
  const leafKeys = await generateKeyPair('ec-p256');
  const spki = await exportSpki(leafKeys.publicKey);
  const issue = async (ca: LocalCA, mailbox: string) => parseCertificate((await ca.issue({ mailbox, publicKey: spki })).certificate);
  const good = await issue(a.ca, 'good@example.com');
  const revoked = await issue(a.ca, 'revoked@example.com');
  const unknown = await issue(a.ca, 'unknown@example.com');
  const foreign = await issue(b.ca, 'foreign@example.com');
  await a.ca.revoke({ serialNumber: revoked.serialNumber, reason: 'keyCompromise', time: new Date(now.getTime() - 3600_000) });

  const rKeys = await generateKeyPair('ec-p256', { extractable: true });
  const rSpki = await exportSpki(rKeys.publicKey);
  const makeResponder = (issuer: CaSide, extensions: ExtensionInput[]) =>
    signCertificate(
      {
        serial: randomSerial(globalThis.crypto),
        issuer: issuer.issuing.subject.der,
        subject: encodeName([{ type: 'O', value: 'mailpki tests' }, { type: 'CN', value: 'OCSP Responder' }]),
        notBefore: new Date(now.getTime() - DAY),
        notAfter: new Date(now.getTime() + 30 * DAY),
        spki: rSpki,
        extensions: [
          ...extensions,
          { oid: OID.authorityKeyIdentifier, critical: false, value: authorityKeyIdentifierValue(issuer.issuing.subjectKeyIdentifier!) },
        ],
      },
      issuer.signer,
    ).then((der) => parseCertificate(der));
  const responderCert = await makeResponder(a, ocspResponderExtensions());
  const responderNoEku = await makeResponder(
    a,
    ocspResponderExtensions().filter((e) => e.oid !== OID.extKeyUsage),
  );
  const responderByB = await makeResponder(b, ocspResponderExtensions());

  const lookup = (serial: string): OcspLookupResult => {
    if (serial === unknown.serialNumber) return { status: 'unknown' };
    const rec = a.ca.getRecord(serial);
    if (!rec) return { status: 'unknown' };
    if (rec.revocation) return { status: 'revoked', revokedAt: new Date(rec.revocation.revokedAt), reason: rec.revocation.reason };
    return { status: 'good' };
  };
  return {
    now,
    a,
    b,
    good,
    revoked,
    unknown,
    foreign,
    responder: {
      certificate: responderCert,
      signer: keySigner(rKeys.privateKey, defaultSignatureAlgorithm(rKeys.privateKey)),
      keyPem: await exportPkcs8Pem(rKeys.privateKey),
    },
    responderNoEku,
    responderByB,
    lookup,
  };
}

/** A self-signed CA certificate (DER) for `subject` over `spki`, valid from 30 days before `now` for a year, signed by `signer`. */
export async function selfSignedCaCertificate(subject: Uint8Array, spki: Uint8Array, signer: TbsSigner, now: Date): Promise<Uint8Array> {
  return signCertificate(
    {
      serial: Uint8Array.of(1),
      issuer: subject,
      subject,
      notBefore: new Date(now.getTime() - 30 * DAY),
      notAfter: new Date(now.getTime() + 365 * DAY),
      spki,
      extensions: [
        { oid: OID.basicConstraints, critical: true, value: basicConstraintsValue(true) },
        { oid: OID.keyUsage, critical: true, value: keyUsageValue(['keyCertSign', 'cRLSign', 'digitalSignature']) },
        { oid: OID.subjectKeyIdentifier, critical: false, value: subjectKeyIdentifierValue(await computeKeyIdentifier(spki)) },
      ],
    },
    signer,
  );
}

/** A delegated responder certificate of A for the world's responder key that its CA wants checked: no id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1). */
export async function checkedResponderCertificate(w: OcspWorld): Promise<Certificate> {
  return parseCertificate(
    await signCertificate(
      {
        serial: randomSerial(globalThis.crypto),
        issuer: w.a.issuing.subject.der,
        subject: encodeName([{ type: 'CN', value: 'Alpha OCSP Responder (checked)' }]),
        notBefore: new Date(w.now.getTime() - DAY),
        notAfter: new Date(w.now.getTime() + 365 * DAY),
        spki: w.responder.certificate.publicKey.spki,
        extensions: [
          ...ocspResponderExtensions({ noCheck: false }),
          { oid: OID.authorityKeyIdentifier, critical: false, value: authorityKeyIdentifierValue(w.a.issuing.subjectKeyIdentifier!) },
        ],
      },
      w.a.signer,
    ),
  );
}
