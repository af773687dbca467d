/** Minimal self-signed certificates for PKCS#12 unit tests, so they need neither OpenSSL nor the CA module. */
import { concatBytes, utf8 } from '../../src/internal/bytes.js';
import { Tag, bitString, explicit, int, oid, seq, setOf, time, tlv } from '../../src/internal/der.js';
import { OID } from '../../src/internal/oids.js';
import { defaultSignatureAlgorithm, signBytes, signatureAlgorithmIdentifier } from '../../src/keys/algorithms.js';
import { exportSpki } from '../../src/keys/spki.js';

const name = (cn: string): Uint8Array => seq(setOf(seq(oid(OID.commonName), tlv(Tag.UTF8_STRING, utf8(cn)))));

/** A v3 certificate for `subjectKey`, signed by `issuerKey` (self-signed when omitted). Not a valid CA profile: only for bags. */
export async function makeCertificate(
  subject: CryptoKeyPair,
  cn: string,
  issuer: { key: CryptoKey; cn: string } = { key: subject.privateKey, cn },
  serial = 1,
  spki?: Uint8Array,
): Promise<Uint8Array> {
  const alg = defaultSignatureAlgorithm(issuer.key);
  const algId = signatureAlgorithmIdentifier(alg);
  const tbs = seq(
    explicit(0, int(2)),
    int(serial),
    algId,
    name(issuer.cn),
    seq(time(new Date('2025-01-01T00:00:00Z')), time(new Date('2035-01-01T00:00:00Z'))),
    name(cn),
    spki ?? (await exportSpki(subject.publicKey)),
  );
  const sig = await signBytes(globalThis.crypto, issuer.key, alg, tbs);
  return seq(tbs, algId, bitString(sig));
}

export const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

/** Flips every bit of the byte at `at`. */
export function flipByte(bytes: Uint8Array, at: number): Uint8Array {
  const out = bytes.slice();
  out[at] = out[at]! ^ 0xff;
  return out;
}

export { concatBytes };
