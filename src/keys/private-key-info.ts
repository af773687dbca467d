/**
 * PrivateKeyInfo (RFC 5208 / RFC 5958) read and checked before WebCrypto sees it, so that the
 * key kind and curve come from the algorithm OID, errors are coded rather than DOMExceptions,
 * and a decryption that passed the padding check by chance is still caught.
 */
import { MailPkiError, type MailPkiErrorCode } from '../errors.js';
import {
  Tag,
  cursor,
  encodedOf,
  int,
  nul,
  octets,
  oid,
  parseDer,
  readIntegerBytes,
  readOctetString,
  readOid,
  readSmallInt,
  seq,
  type Der,
} from '../internal/der.js';
import { OID } from '../internal/oids.js';
import { CURVE_BY_OID, CURVE_SIZE } from './algorithms.js';
import { recodeDerErrors } from './recode.js';

export type KeyKind = 'rsa' | 'ec' | 'ed25519' | 'x25519';
export type NamedCurve = 'P-256' | 'P-384' | 'P-521';

/** What a PrivateKeyInfo holds, after its inner key structure was checked. */
export interface PrivateKeyInfoSummary {
  kind: KeyKind;
  curve?: NamedCurve;
  /** RSA modulus size in bits. */
  bits?: number;
  /** The PrivateKeyInfo DER. */
  der: Uint8Array;
}

/** Key algorithms we recognise but do not sign with; named in the error so the user knows what they have. */
const UNSUPPORTED_KEY_OIDS: Record<string, string> = {
  '1.2.840.113549.1.1.10': 'RSASSA-PSS-restricted RSA keys (id-RSASSA-PSS); use a plain rsaEncryption key',
  '1.2.840.10040.4.1': 'DSA',
  '1.2.840.10046.2.1': 'Diffie-Hellman (X9.42)',
  '1.2.840.113549.1.3.1': 'Diffie-Hellman (PKCS#3)',
  '1.3.101.111': 'X448 (a key-agreement key, it cannot sign)',
  '1.3.101.113': 'Ed448',
};

const MALFORMED: MailPkiErrorCode = 'ERR_KEY_MALFORMED';
const WHAT = 'invalid private key';

function malformed(detail: string, code: MailPkiErrorCode = MALFORMED): never {
  throw new MailPkiError(code, `${WHAT}: ${detail}`);
}

/**
 * Parses and checks a PrivateKeyInfo. `code` is the error for a structure that does not parse:
 * ERR_KEY_MALFORMED normally, ERR_PASSPHRASE_WRONG right after a decryption.
 */
export function parsePrivateKeyInfo(der: Uint8Array, code: MailPkiErrorCode = MALFORMED): PrivateKeyInfoSummary {
  return recodeDerErrors(code, WHAT, () => readPrivateKeyInfo(der, code));
}

function readPrivateKeyInfo(der: Uint8Array, code: MailPkiErrorCode): PrivateKeyInfoSummary {
  const c = cursor(parseDer(der, code, WHAT), code, WHAT);
  const version = readSmallInt(c.next(Tag.INTEGER));
  if (version > 1) malformed(`unknown version ${version}`, code);
  const alg = cursor(c.next(Tag.SEQUENCE), code, WHAT);
  const keyOid = readOid(alg.next(Tag.OID));
  const params = alg.done ? undefined : alg.next();
  alg.end();
  const inner = readOctetString(c.next(Tag.OCTET_STRING));
  c.optional(0xa0); // attributes
  c.optional(0x81); // publicKey (RFC 5958 v2)
  c.end();
  if (keyOid === OID.rsaEncryption) {
    if (params && params.tag !== Tag.NULL) malformed('rsaEncryption parameters must be NULL', code);
    return { kind: 'rsa', bits: checkRsaPrivateKey(inner, code), der };
  }
  if (keyOid === OID.idEcPublicKey) {
    const curve = curveOf(params);
    checkEcPrivateKey(inner, curve, code);
    return { kind: 'ec', curve, der };
  }
  if (keyOid === OID.idEd25519) {
    if (params) malformed('Ed25519 takes no parameters', code);
    const seed = readOctetString(parseDer(inner, code, WHAT));
    if (seed.length !== 32) malformed('an Ed25519 private key is 32 bytes', code);
    return { kind: 'ed25519', der };
  }
  if (keyOid === OID.idX25519) {
    // RFC 8410 §7: CurvePrivateKey ::= OCTET STRING of 32 bytes, parameters absent.
    if (params) malformed('X25519 takes no parameters', code);
    const scalar = readOctetString(parseDer(inner, code, WHAT));
    if (scalar.length !== 32) malformed('an X25519 private key is 32 bytes', code);
    return { kind: 'x25519', der };
  }
  const name = UNSUPPORTED_KEY_OIDS[keyOid];
  throw new MailPkiError('ERR_KEY_UNSUPPORTED', `unsupported private key algorithm: ${name ?? keyOid}`);
}

/** The named curve of EC parameters; explicit curve parameters are refused (RFC 5480 forbids them). */
function curveOf(params: Der | undefined): NamedCurve {
  if (!params) malformed('EC key without curve parameters');
  if (params.tag !== Tag.OID)
    throw new MailPkiError('ERR_KEY_UNSUPPORTED', 'EC keys with explicit curve parameters are not supported; use a named curve');
  const curve = CURVE_BY_OID[readOid(params)];
  if (!curve) throw new MailPkiError('ERR_KEY_UNSUPPORTED', `unsupported elliptic curve ${readOid(params)} (P-256, P-384 and P-521 are supported)`);
  return curve;
}

function toBigInt(bytes: Uint8Array): bigint {
  let hex = '0x0';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return BigInt(hex);
}

/**
 * RSAPrivateKey (RFC 8017 A.1.2), two-prime only. n = p·q is checked because WebCrypto does not
 * check it on import: an altered key would otherwise load and sign garbage.
 */
function checkRsaPrivateKey(inner: Uint8Array, code: MailPkiErrorCode): number {
  const c = cursor(parseDer(inner, code, WHAT), code, WHAT);
  const version = readSmallInt(c.next(Tag.INTEGER));
  if (version !== 0) throw new MailPkiError('ERR_KEY_UNSUPPORTED', 'multi-prime RSA keys are not supported');
  const [n, e, , p, q] = Array.from({ length: 8 }, () => readIntegerBytes(c.next(Tag.INTEGER)));
  c.end();
  for (const v of [n, e, p, q]) if (v![0]! & 0x80) malformed('negative RSA key component', code);
  const nBig = toBigInt(n!);
  if (nBig !== toBigInt(p!) * toBigInt(q!)) malformed('inconsistent RSA key (n is not p·q)', code);
  return nBig.toString(2).length;
}

/** ECPrivateKey (RFC 5915): version 1, scalar of the curve size, optional [0] curve matching the outer one. */
function checkEcPrivateKey(inner: Uint8Array, curve: NamedCurve, code: MailPkiErrorCode): void {
  const c = cursor(parseDer(inner, code, WHAT), code, WHAT);
  if (readSmallInt(c.next(Tag.INTEGER)) !== 1) malformed('ECPrivateKey version must be 1', code);
  const d = readOctetString(c.next(Tag.OCTET_STRING));
  if (d.length === 0 || d.length > CURVE_SIZE[curve]!) malformed('EC private key has the wrong size for its curve', code);
  const params = c.optional(0xa0);
  if (params && curveOf(cursor(params, code, WHAT).next()) !== curve) malformed('EC key names two different curves', code);
  c.optional(0xa1);
  c.end();
}

/** A PKCS#1 RSAPrivateKey ("RSA PRIVATE KEY") as a PrivateKeyInfo. */
export function wrapPkcs1(rsaPrivateKey: Uint8Array): Uint8Array {
  return seq(int(0), seq(oid(OID.rsaEncryption), nul()), octets(rsaPrivateKey));
}

/** A SEC1 ECPrivateKey ("EC PRIVATE KEY") as a PrivateKeyInfo; SEC1 keys carry their curve in [0]. */
export function wrapSec1(ecPrivateKey: Uint8Array): Uint8Array {
  return recodeDerErrors(MALFORMED, WHAT, () => readSec1(ecPrivateKey));
}

function readSec1(ecPrivateKey: Uint8Array): Uint8Array {
  const c = cursor(parseDer(ecPrivateKey, MALFORMED, WHAT), MALFORMED, WHAT);
  c.next(Tag.INTEGER);
  c.next(Tag.OCTET_STRING);
  const params = c.optional(0xa0);
  if (!params) malformed('SEC1 EC key without a named curve');
  const curveNode = cursor(params, MALFORMED, WHAT).next();
  curveOf(curveNode);
  return seq(int(0), seq(oid(OID.idEcPublicKey), encodedOf(curveNode)), octets(ecPrivateKey));
}

export type PrivateKeyFormat = 'pkcs8' | 'encrypted-pkcs8' | 'pkcs1' | 'sec1';

/** Which private key structure DER bytes hold, from the shape of their first fields. */
export function sniffPrivateKeyFormat(der: Uint8Array): PrivateKeyFormat {
  return recodeDerErrors(MALFORMED, WHAT, () => sniff(der));
}

function sniff(der: Uint8Array): PrivateKeyFormat {
  const c = cursor(parseDer(der, MALFORMED, WHAT), MALFORMED, WHAT);
  const first = c.next();
  const second = c.done ? undefined : c.next();
  if (first.tag === Tag.SEQUENCE && second?.tag === Tag.OCTET_STRING) return 'encrypted-pkcs8';
  if (first.tag === Tag.SEQUENCE && second?.tag === Tag.BIT_STRING) malformed('this is a public key (SubjectPublicKeyInfo), not a private key');
  if (first.tag !== Tag.INTEGER || !second) malformed('not a PKCS#8, PKCS#1 or SEC1 private key');
  if (second.tag === Tag.SEQUENCE) return 'pkcs8';
  if (second.tag === Tag.INTEGER) return 'pkcs1';
  if (second.tag === Tag.OCTET_STRING) return 'sec1';
  return malformed('not a PKCS#8, PKCS#1 or SEC1 private key');
}
