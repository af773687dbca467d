/**
 * Crafted PKIs and CRLs for the CRL-path tests (unit and OpenSSL interop): every certificate and
 * CRL is real and correctly signed except for the one property under test.
 */
import {
  basicConstraintsValue,
  computeKeyIdentifier,
  extKeyUsageValue,
  keySigner,
  keyUsageValue,
  randomSerial,
  signCertificate,
  subjectAltNameValue,
  type ExtensionInput,
} from '../../src/certs/builder.js';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import type { KeyUsageName } from '../../src/certs/extensions.js';
import { encodeName } from '../../src/certs/name.js';
import { REVOCATION_REASONS, type RevocationReason } from '../../src/ca/types.js';
import { bitString, bool, enumerated, explicit, implicit, int, octets, oid, seq, time, tlv } from '../../src/internal/der.js';
import { OID } from '../../src/internal/oids.js';
import { defaultSignatureAlgorithm, signatureAlgorithmIdentifier } from '../../src/keys/algorithms.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';

export const NOW = new Date('2026-11-01T10:00:00Z');
export const DAY = 86_400_000;
export const days = (n: number) => new Date(NOW.getTime() + n * DAY);

export interface Node {
  cert: Certificate;
  keys: CryptoKeyPair;
  name: Uint8Array;
  ski: Uint8Array;
}

export const dn = (cn: string) => encodeName([{ type: 'O', value: 'CRL Path Test' }, { type: 'CN', value: cn }]);

export async function mint(o: { cn: string; issuer?: Node; ca?: boolean; ku?: KeyUsageName[]; name?: Uint8Array; extra?: ExtensionInput[] }): Promise<Node> {
  const keys = await generateKeyPair('ec-p256', { extractable: true });
  const spki = await exportSpki(keys.publicKey);
  const ski = await computeKeyIdentifier(spki);
  const name = o.name ?? dn(o.cn);
  const signerKey = o.issuer?.keys.privateKey ?? keys.privateKey;
  const exts: ExtensionInput[] = [
    { oid: OID.basicConstraints, critical: true, value: basicConstraintsValue(!!o.ca) },
    { oid: OID.keyUsage, critical: true, value: keyUsageValue(o.ku ?? (o.ca ? ['keyCertSign', 'cRLSign'] : ['digitalSignature'])) },
    { oid: OID.subjectKeyIdentifier, critical: false, value: tlv(0x04, ski) },
    { oid: OID.authorityKeyIdentifier, critical: false, value: seq(implicit(0, o.issuer?.ski ?? ski)) },
    ...(o.ca ? [] : [
      { oid: OID.extKeyUsage, critical: false, value: extKeyUsageValue([OID.idKpEmailProtection]) },
      { oid: OID.subjectAltName, critical: false, value: subjectAltNameValue({ rfc822Names: [`${o.cn}@example.com`] }) },
    ]),
    ...(o.extra ?? []),
  ];
  const der = await signCertificate(
    { serial: randomSerial(crypto), issuer: o.issuer?.name ?? name, subject: name, notBefore: days(-30), notAfter: days(300), spki, extensions: exts },
    keySigner(signerKey, defaultSignatureAlgorithm(signerKey)),
  );
  return { cert: parseCertificate(der), keys, name, ski };
}

export interface EntrySpec {
  cert: Certificate;
  reason?: RevocationReason;
  /** certificateIssuer entry extension (an indirect CRL): the Name DER. */
  certificateIssuer?: Uint8Array;
  criticalExtra?: boolean;
}

export interface CrlSpec {
  /** Whose name is the CRL issuer and whose key signs (default the same). */
  issuer: Node;
  signer?: Node;
  entries?: EntrySpec[];
  thisUpdate?: Date;
  nextUpdate?: Date;
  number?: number;
  deltaOf?: number;
  /** issuingDistributionPoint value (DER of the SEQUENCE). */
  idp?: Uint8Array;
  freshest?: boolean;
  unknownCritical?: boolean;
  tamper?: boolean;
}

export const REVOKED_AT = days(-10);
const ext = (id: string, critical: boolean, value: Uint8Array) => (critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value)));

/** A hand-made v2 CRL: what createCrl never writes (indirect, delta, removeFromCRL, odd extensions). */
export async function makeCrl(s: CrlSpec): Promise<Uint8Array> {
  const signer = s.signer ?? s.issuer;
  const alg = defaultSignatureAlgorithm(signer.keys.privateKey);
  const entries = (s.entries ?? []).map((e) => {
    const exts: Uint8Array[] = [];
    if (e.reason && e.reason !== 'unspecified') exts.push(ext(OID.cRLReason, false, enumerated(REVOCATION_REASONS[e.reason])));
    if (e.certificateIssuer) exts.push(ext('2.5.29.29', true, seq(explicit(4, e.certificateIssuer))));
    if (e.criticalExtra) exts.push(ext('1.2.3.4.99', true, tlv(0x05)));
    return seq(tlv(0x02, e.cert.serialBytes), time(REVOKED_AT), ...(exts.length ? [seq(...exts)] : []));
  });
  const crlExts = [
    ext(OID.authorityKeyIdentifier, false, seq(implicit(0, signer.ski))),
    ext(OID.cRLNumber, false, int(s.number ?? 1)),
    ...(s.deltaOf !== undefined ? [ext('2.5.29.27', true, int(s.deltaOf))] : []),
    ...(s.idp ? [ext('2.5.29.28', true, s.idp)] : []),
    ...(s.freshest ? [ext('2.5.29.46', false, seq(seq(explicit(0, tlv(0xa0, tlv(0x86, new TextEncoder().encode('http://crl.test/delta.crl')))))))] : []),
    ...(s.unknownCritical ? [ext('1.2.3.4.98', true, tlv(0x05))] : []),
  ];
  const tbs = seq(
    int(1),
    signatureAlgorithmIdentifier(alg),
    s.issuer.name,
    time(s.thisUpdate ?? days(-1)),
    time(s.nextUpdate ?? days(6)),
    ...(entries.length ? [seq(...entries)] : []),
    explicit(0, seq(...crlExts)),
  );
  const sig = await keySigner(signer.keys.privateKey, alg).sign(tbs);
  if (s.tamper) sig[sig.length - 1]! ^= 1;
  return seq(tbs, signatureAlgorithmIdentifier(alg), bitString(sig));
}

