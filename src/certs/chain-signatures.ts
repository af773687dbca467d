/**
 * "Did this issuer key sign this certificate?", answered once per certificate and key.
 *
 * Mail verification meets the same few CA certificates over and over, so a successful check is
 * remembered: keyed by the child's `der` buffer identity (a WeakMap, so the entry goes when the
 * parsed certificate goes) and the issuer's SubjectPublicKeyInfo bytes. Failures are not
 * remembered across calls: a transient provider error must not stick.
 */
import { MailPkiError } from '../errors.js';
import { fromLatin1 } from '../internal/bytes.js';
import { verifyBytes } from '../keys/algorithms.js';
import type { Certificate } from './certificate.js';

/** Outcome of one issuer → child signature check. */
export type EdgeStatus = 'valid' | 'invalid' | 'weak' | 'unsupported';

export interface EdgeResult {
  status: EdgeStatus;
  /** Why, for 'unsupported' (the provider's or mailpki's message). */
  reason?: string;
}

/** Issuer keys remembered per child certificate (a child rarely has more than one or two issuers). */
const MAX_ISSUERS_PER_CHILD = 4;

const verified = new WeakMap<Uint8Array, Set<string>>();

/** One string per byte: a cheap exact key for Map lookups. */
export function binaryKey(b: Uint8Array): string {
  return fromLatin1(b);
}

const keys = new WeakMap<Uint8Array, string>();

/** `binaryKey` of a buffer, computed once per buffer (parsed certificates never change). */
export function bytesKey(b: Uint8Array): string {
  let k = keys.get(b);
  if (k === undefined) keys.set(b, (k = binaryKey(b)));
  return k;
}

/** The certificate's key as a Map key. */
export const spkiKey = (cert: Certificate): string => bytesKey(cert.publicKey.spki);

/**
 * Every signature check of one verification, failures included, so that signers and layers that
 * share certificates (or an attacker's many same-named issuers) cost each check once. Create one
 * per verification, never share it between unrelated calls: a failure is remembered for its life.
 */
export class SignatureCheckCache {
  private readonly checks = new Map<string, Map<string, Promise<EdgeResult>>>();

  /** The check of `child` by `issuer`'s key, if one was started. */
  get(child: Certificate, issuer: Certificate, allowWeak: boolean): Promise<EdgeResult> | undefined {
    return this.checks.get(bytesKey(child.der))?.get(edgeKey(issuer, allowWeak));
  }

  set(child: Certificate, issuer: Certificate, allowWeak: boolean, result: Promise<EdgeResult>): void {
    let m = this.checks.get(bytesKey(child.der));
    if (!m) this.checks.set(bytesKey(child.der), (m = new Map()));
    m.set(edgeKey(issuer, allowWeak), result);
  }
}

const edgeKey = (issuer: Certificate, allowWeak: boolean): string => (allowWeak ? 'w' : 's') + spkiKey(issuer);

/** False when checkSignature answers without cryptography (unsupported or refused algorithm). */
export function needsCryptography(child: Certificate, allowWeak: boolean): boolean {
  const alg = child.signatureAlgorithm;
  return !('unsupported' in alg) && alg.hash !== 'MD5' && (allowWeak || alg.hash !== 'SHA-1');
}

/** True when a successful check of `child` by `issuer`'s key is remembered. */
export function isKnownValid(child: Certificate, issuer: Certificate): boolean {
  return verified.get(child.der)?.has(spkiKey(issuer)) === true;
}

/**
 * Checks `child`'s signature with `issuer`'s key. Weak digests are not even tried unless
 * `allowWeak`; MD5, unknown algorithms and key/algorithm mismatches come back 'unsupported'.
 */
export async function checkSignature(crypto: Crypto, child: Certificate, issuer: Certificate, allowWeak: boolean): Promise<EdgeResult> {
  const alg = child.signatureAlgorithm;
  if ('unsupported' in alg) return { status: 'unsupported', reason: alg.unsupported };
  if ((alg.hash === 'SHA-1' || alg.hash === 'MD5') && !allowWeak) return { status: 'weak' };
  if (alg.hash === 'MD5') return { status: 'unsupported', reason: 'MD5 signatures cannot be verified' };
  const key = spkiKey(issuer);
  if (verified.get(child.der)?.has(key)) return { status: 'valid' };
  let ok: boolean;
  try {
    ok = await verifyBytes(crypto, issuer.publicKey, alg, child.tbs, child.signatureValue);
  } catch (e) {
    // A key the provider will not import, or a key that cannot make this kind of signature: the
    // chain cannot be checked, which is an outcome, not a caller mistake. The reason is kept.
    const reason = e instanceof MailPkiError ? e.message : `the crypto provider refused the key: ${String(e)}`;
    return { status: 'unsupported', reason };
  }
  if (!ok) return { status: 'invalid' };
  let set = verified.get(child.der);
  if (!set) verified.set(child.der, (set = new Set()));
  if (set.size >= MAX_ISSUERS_PER_CHILD) set.clear();
  set.add(key);
  return { status: 'valid' };
}
