/**
 * Messages built to cost a verifier as much CPU as possible (issue 11, finding 4): many
 * SignerInfos in many multipart/signed layers, each signer certificate naming an issuer that the
 * message offers many times over — "fake issuers", same subject name and key identifier, with RSA
 * keys chosen to be slow (huge public exponents, huge moduli). Nothing here ever verifies: the
 * signer certificates are signed by a throwaway key, so every chain check fails, which is what
 * makes a naive path search try every candidate, for every signer, in every layer.
 *
 * WebCrypto cannot make RSA keys with such exponents, so the fake issuers' SubjectPublicKeyInfo is
 * written by hand with the DER writer: a random odd modulus of the asked size and a random odd
 * exponent of the asked size. The verifier only ever verifies with these keys, which costs the
 * same whether or not anyone knows a private key for them.
 */
import {
  authorityKeyIdentifierValue,
  basicConstraintsValue,
  keySigner,
  keyUsageValue,
  signCertificate,
  subjectAltNameValue,
  subjectKeyIdentifierValue,
  type TbsSigner,
} from '../../src/certs/builder.js';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { encodeName } from '../../src/certs/name.js';
import { latin1 } from '../../src/internal/bytes.js';
import { bitString, nul, oid, seq, uintBytes } from '../../src/internal/der.js';
import { OID } from '../../src/internal/oids.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { buildSignedData, buildSignerInfo, entityOf, multipartSigned, OUTER, ENTITY } from './fixtures.js';

const DAY = 86_400_000;
export const ADVERSARIAL_NOW = new Date('2026-03-15T12:00:00Z');
const FROM = new Date('2026-01-01T00:00:00Z');
const UNTIL = new Date(FROM.getTime() + 365 * DAY);

export interface AdversarialShape {
  /** multipart/signed layers inside each other (the verifier follows at most 8). */
  layers: number;
  /** SignerInfos in each layer. */
  signersPerLayer: number;
  /**
   * Distinct signer certificates per layer, used in turn by the SignerInfos (default: one each).
   * The report used one: 64 SignerInfos + 255 fakes fill CMS's 256-certificate limit exactly.
   */
  signerCertificates?: number;
  /** Certificates with the signers' issuer name (and key identifier) carried in the message. */
  fakeIssuers: number;
  /** The fake issuers' RSA keys (unless `curve`). */
  modulusBits: number;
  exponentBits: number;
  /** Fake issuers with real keys on this curve instead (ECDSA verifies on P-521 are the slowest). */
  curve?: 'P-384' | 'P-521';
  /** Carry the fake issuers in every layer (true, as in the report) or only in the outermost. */
  fakesInEveryLayer?: boolean;
}

export interface AdversarialMessage {
  message: string;
  /** The trust anchor to verify against (a real root, which none of the chains reaches). */
  anchors: Certificate[];
  bytes: number;
}

/** Random unsigned big-endian integer of exactly `bits` bits, odd. */
function randomOdd(bits: number): Uint8Array {
  const b = new Uint8Array(Math.ceil(bits / 8));
  globalThis.crypto.getRandomValues(b.subarray(0, Math.min(b.length, 65536)));
  const spare = b.length * 8 - bits;
  b[0] = (b[0]! & (0xff >> spare)) | (0x80 >> spare);
  b[b.length - 1]! |= 1;
  return b;
}

/** An RSA SubjectPublicKeyInfo with a random modulus and exponent of the given sizes. */
export function rsaSpki(modulusBits: number, exponentBits: number): Uint8Array {
  const e = exponentBits === 17 ? Uint8Array.of(1, 0, 1) : randomOdd(exponentBits);
  return seq(seq(oid(OID.rsaEncryption), nul()), bitString(seq(uintBytes(randomOdd(modulusBits)), uintBytes(e))));
}

/**
 * Signs nothing: an RSA PKCS#1 signature value of random bytes, as long as the fake issuers'
 * modulus and smaller than it, so that a verifier really runs the exponentiation (OpenSSL refuses
 * a signature of another length, or not below the modulus, before doing any arithmetic).
 */
function garbageRsaSigner(modulusBits: number): TbsSigner {
  return {
    algorithm: { scheme: 'rsa-pkcs1', hash: 'SHA-256' },
    sign: async () => {
      const sig = globalThis.crypto.getRandomValues(new Uint8Array(Math.ceil(modulusBits / 8)).subarray(0, 65536));
      const out = new Uint8Array(Math.ceil(modulusBits / 8));
      out.set(sig);
      out[0] = 0;
      return out;
    },
  };
}

/** A real public key on `curve` (a random point would be refused at import, before any arithmetic). */
async function ecSpki(curve: 'P-384' | 'P-521'): Promise<Uint8Array> {
  const pair = await globalThis.crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: curve }, true, ['sign', 'verify']);
  return exportSpki(pair.publicKey);
}

/** An ECDSA signature value (r, s) of random integers below the curve order: verified in full, never valid. */
function garbageEcdsaSigner(curve: 'P-384' | 'P-521'): TbsSigner {
  const size = curve === 'P-521' ? 65 : 47;
  const rnd = () => {
    const v = globalThis.crypto.getRandomValues(new Uint8Array(size));
    v[0] = curve === 'P-521' ? 0 : v[0]! & 0x7f;
    v[1] = curve === 'P-521' ? v[1]! | 1 : v[1]!;
    return v;
  };
  return { algorithm: { scheme: 'ecdsa', hash: curve === 'P-521' ? 'SHA-512' : 'SHA-384' }, sign: async () => seq(uintBytes(rnd()), uintBytes(rnd())) };
}

let shared: Promise<{ root: Certificate; rootKey: CryptoKey; junk: CryptoKey }> | undefined;

/** A real root (the anchor) and a throwaway key that signs what must not verify. */
function keys() {
  shared ??= (async () => {
    const rootPair = await generateKeyPair('ec-p256');
    const junk = (await generateKeyPair('ec-p256')).privateKey;
    const rootName = encodeName([{ type: 'CN', value: 'Budget Test Root' }]);
    const rootDer = await signCertificate(
      {
        serial: Uint8Array.of(1),
        issuer: rootName,
        subject: rootName,
        notBefore: FROM,
        notAfter: UNTIL,
        spki: await exportSpki(rootPair.publicKey),
        extensions: [
          { oid: OID.basicConstraints, critical: true, value: basicConstraintsValue(true) },
          { oid: OID.keyUsage, critical: true, value: keyUsageValue(['keyCertSign', 'cRLSign']) },
        ],
      },
      keySigner(rootPair.privateKey, { scheme: 'ecdsa', hash: 'SHA-256' }),
    );
    return { root: parseCertificate(rootDer), rootKey: rootPair.privateKey, junk };
  })();
  return shared;
}

const ISSUER_NAME = encodeName([{ type: 'CN', value: 'Payments Issuing CA' }]);
const ISSUER_KEY_ID = Uint8Array.from({ length: 20 }, (_, i) => i + 1);

/** The shape of the report: 64 signers, 255 fake issuers with 3,064-bit exponents, 8 layers (4.5 MB). */
export const REPORTED_SHAPE: AdversarialShape = { layers: 8, signersPerLayer: 64, signerCertificates: 1, fakeIssuers: 255, modulusBits: 3072, exponentBits: 3064, fakesInEveryLayer: true };

/** Builds a message of the given shape, From payments@example.com, signed by nobody trustworthy. */
export async function buildAdversarialMessage(shape: AdversarialShape): Promise<AdversarialMessage> {
  const { root, junk } = await keys();
  const junkSigner = keySigner(junk, { scheme: 'ecdsa', hash: 'SHA-256' });
  const fakes: Certificate[] = [];
  for (let i = 0; i < shape.fakeIssuers; i++) {
    const der = await signCertificate(
      {
        serial: Uint8Array.of(0x10, i >> 8, i & 0xff),
        issuer: root.subject.der,
        subject: ISSUER_NAME,
        notBefore: FROM,
        notAfter: UNTIL,
        spki: shape.curve ? await ecSpki(shape.curve) : rsaSpki(shape.modulusBits, shape.exponentBits),
        extensions: [
          { oid: OID.basicConstraints, critical: true, value: basicConstraintsValue(true) },
          { oid: OID.subjectKeyIdentifier, critical: false, value: subjectKeyIdentifierValue(ISSUER_KEY_ID) },
        ],
      },
      junkSigner,
    );
    // Not parseCertificate: today's parser refuses the keys this test is about. Only `der` is used.
    fakes.push({ der } as Certificate);
  }
  const leafPair = await generateKeyPair('ec-p256');
  const leafSpki = await exportSpki(leafPair.publicKey);
  let entity = ENTITY;
  let message = '';
  let serial = 0;
  for (let layer = 0; layer < shape.layers; layer++) {
    const content = latin1(entity);
    const leaves: Certificate[] = [];
    const signerInfos: Uint8Array[] = [];
    const distinct = Math.min(shape.signerCertificates ?? shape.signersPerLayer, shape.signersPerLayer);
    for (let s = 0; s < distinct; s++) {
      serial++;
      // A certificate per signer: each one is a new child for the path search.
      const leaf = parseCertificate(
        await signCertificate(
          {
            serial: Uint8Array.of(0x20, serial >> 8, serial & 0xff),
            issuer: ISSUER_NAME,
            subject: encodeName([{ type: 'CN', value: `payments ${serial}` }]),
            notBefore: FROM,
            notAfter: UNTIL,
            spki: leafSpki,
            extensions: [
              { oid: OID.keyUsage, critical: true, value: keyUsageValue(['digitalSignature']) },
              { oid: OID.subjectAltName, critical: false, value: subjectAltNameValue({ rfc822Names: ['payments@example.com'] }) },
              { oid: OID.authorityKeyIdentifier, critical: false, value: authorityKeyIdentifierValue(ISSUER_KEY_ID) },
            ],
          },
          shape.curve ? garbageEcdsaSigner(shape.curve) : garbageRsaSigner(shape.modulusBits),
        ),
      );
      leaves.push(leaf);
      signerInfos.push(await buildSignerInfo({ content, key: leafPair.privateKey, certificate: leaf, hash: 'SHA-256', signingTime: ADVERSARIAL_NOW }));
    }
    // SignerInfos beyond the distinct certificates repeat their bytes: the verifier sees each as a signer.
    for (let s = distinct; s < shape.signersPerLayer; s++) signerInfos.push(signerInfos[s % distinct]!);
    const withFakes = shape.fakesInEveryLayer || layer === shape.layers - 1;
    const cms = buildSignedData({ signerInfos, certificates: [...leaves, ...(withFakes ? fakes : [])] });
    message = multipartSigned(OUTER, entity, cms, { boundary: `budget-layer-${layer}` });
    entity = entityOf(message);
  }
  return { message, anchors: [root], bytes: message.length };
}
