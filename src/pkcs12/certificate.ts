/** Just enough of an X.509 Certificate to find its public key, and key-to-certificate matching. */
import { MailPkiError, type MailPkiErrorCode } from '../errors.js';
import { randomBytes } from '../internal/crypto.js';
import { Tag, cursor, encodedOf, parseDer } from '../internal/der.js';
import {
  DIGEST_LENGTH,
  defaultSignatureAlgorithm,
  readPublicKeyInfo,
  signBytes,
  verifyBytes,
  type PublicKeyInfo,
} from '../keys/algorithms.js';
import { recodeDerErrors } from '../keys/recode.js';

/** The SubjectPublicKeyInfo DER of a certificate (Certificate → tbsCertificate → 7th field). */
export function spkiOfCertificate(cert: Uint8Array, code: MailPkiErrorCode = 'ERR_CERT_MALFORMED'): Uint8Array {
  const what = 'invalid certificate';
  return recodeDerErrors(code, what, () => {
    const c = cursor(parseDer(cert, code, what), code, what);
    const tbs = cursor(c.next(Tag.SEQUENCE), code, what);
    tbs.optional(0xa0); // version
    tbs.next(Tag.INTEGER); // serialNumber
    tbs.next(Tag.SEQUENCE); // signature
    tbs.next(Tag.SEQUENCE); // issuer
    tbs.next(Tag.SEQUENCE); // validity
    tbs.next(Tag.SEQUENCE); // subject
    return encodedOf(tbs.next(Tag.SEQUENCE));
  });
}

/**
 * Which of `certs` holds the public key of `privateKey`, by signing a random message and
 * verifying it with each certificate's key: this works for non-extractable keys, and proves the
 * pairing instead of trusting a label. Returns the index, or -1.
 */
export async function findCertificateForKey(crypto: Crypto, privateKey: CryptoKey, certs: readonly Uint8Array[]): Promise<number> {
  if (privateKey.algorithm.name === 'X25519') return findCertificateForAgreementKey(crypto, privateKey, certs);
  const alg = defaultSignatureAlgorithm(privateKey);
  const message = randomBytes(crypto, 32);
  const signature = await signBytes(crypto, privateKey, alg, message);
  const parsed = { ...alg, ...(alg.scheme === 'rsa-pss' ? { saltLength: DIGEST_LENGTH[alg.hash] } : {}) };
  for (let i = 0; i < certs.length; i++) {
    const info = publicKeyOf(certs[i]!);
    if (!info || !sameKind(info, privateKey)) continue;
    if (await verifies(crypto, info, parsed, message, signature)) return i;
  }
  return -1;
}

/**
 * An X25519 key signs nothing (RFC 8410 §3): the pairing is proven by key agreement instead. With a
 * fresh key pair e, X25519(key, e·G) equals X25519(e, certificate key) only for the certificate
 * whose key is the private key's.
 */
async function findCertificateForAgreementKey(crypto: Crypto, privateKey: CryptoKey, certs: readonly Uint8Array[]): Promise<number> {
  const params = { name: 'X25519' };
  const eph = (await crypto.subtle.generateKey(params, false, ['deriveBits'])) as CryptoKeyPair;
  const ours = new Uint8Array(await crypto.subtle.deriveBits({ ...params, public: eph.publicKey } as EcdhKeyDeriveParams, privateKey, 256));
  try {
    for (let i = 0; i < certs.length; i++) {
      const info = publicKeyOf(certs[i]!);
      if (info?.kind !== 'x25519') continue;
      let theirs: Uint8Array;
      try {
        const pub = await crypto.subtle.importKey('spki', info.spki.slice(), params, false, []);
        theirs = new Uint8Array(await crypto.subtle.deriveBits({ ...params, public: pub } as EcdhKeyDeriveParams, eph.privateKey, 256));
      } catch (e) {
        // A certificate key WebCrypto refuses (e.g. a low-order point) is simply not this key's.
        if (e instanceof DOMException) continue;
        throw e;
      }
      const same = theirs.length === ours.length && theirs.every((b, j) => b === ours[j]);
      theirs.fill(0);
      if (same) return i;
    }
    return -1;
  } finally {
    ours.fill(0);
  }
}

/** verifyBytes, where a certificate key that WebCrypto refuses (e.g. an EC point off the curve) does not match. */
async function verifies(crypto: Crypto, info: PublicKeyInfo, alg: Parameters<typeof verifyBytes>[2], message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  try {
    return await verifyBytes(crypto, info, alg, message, signature);
  } catch (e) {
    // The key we hold is valid, so a certificate key that cannot be imported is simply not its match.
    if (e instanceof DOMException || (e instanceof MailPkiError && e.code === 'ERR_KEY_UNSUPPORTED')) return false;
    throw e;
  }
}

/** The certificate's key, or undefined when its key type is one we do not support (it cannot be ours). */
function publicKeyOf(cert: Uint8Array): PublicKeyInfo | undefined {
  try {
    return readPublicKeyInfo(spkiOfCertificate(cert));
  } catch (e) {
    if (e instanceof MailPkiError && e.code === 'ERR_KEY_UNSUPPORTED') return undefined;
    throw e;
  }
}

function sameKind(info: PublicKeyInfo, key: CryptoKey): boolean {
  const name = key.algorithm.name;
  if (info.kind === 'rsa') return name === 'RSASSA-PKCS1-v1_5' || name === 'RSA-PSS';
  if (info.kind === 'ec') return name === 'ECDSA' && (key.algorithm as EcKeyAlgorithm).namedCurve === info.curve;
  return name === 'Ed25519';
}
