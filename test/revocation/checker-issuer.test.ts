/**
 * The revocation checker keeps what it learnt per issuer, never per URL or per a fragment of a key:
 * a CA the relying party trusts (perhaps only for some names) and a man in the middle on a plain-HTTP
 * responder or distribution point must not make one issuer's answer count for another's certificate.
 * Unit test: the network path is the injected fetch (the attacker answers on it for a moment).
 */
import { checkPrimeSync, generateKeyPairSync, generatePrimeSync } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  authorityInfoAccessValue,
  authorityKeyIdentifierValue,
  crlDistributionPointsValue,
  keySigner,
  signCertificate,
  type TbsSigner,
} from '../../src/certs/builder.js';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { encodeName } from '../../src/certs/name.js';
import { OID } from '../../src/internal/oids.js';
import { defaultSignatureAlgorithm } from '../../src/keys/algorithms.js';
import { exportSpki } from '../../src/keys/index.js';
import { RevocationChecker } from '../../src/revocation/checker.js';
import { createCrl } from '../../src/revocation/crl-create.js';
import { selfSignedCaCertificate } from './ocsp-fixtures.js';
import { certIdMatchesIssuer } from '../../src/revocation/ocsp-common.js';
import { parseOcspRequest } from '../../src/revocation/ocsp-request.js';
import { createOcspResponse } from '../../src/revocation/ocsp-responder.js';

const DAY = 86_400_000;
const now = new Date('2026-11-01T10:00:00Z');
const clock = () => now;
const OCSP_URL = 'http://ocsp.alpha.example/';
const CRL_URL = 'http://crl.alpha.example/alpha.crl';
/** The same serial in both CAs: a CA chooses its serials. */
const SERIAL = Uint8Array.from([0x4a, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77]);

const b64u = (n: bigint): string => {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return Buffer.from(hex, 'hex').toString('base64url');
};
const fromB64u = (s: string): bigint => BigInt(`0x${Buffer.from(s, 'base64url').toString('hex')}`);
function modInv(a: bigint, m: bigint): bigint {
  let [r0, r1, s0, s1] = [((a % m) + m) % m, m, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return ((s0 % m) + m) % m;
}
const randomBig = (bits: number): bigint => {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(Math.ceil(bits / 8)));
  return BigInt(`0x${Buffer.from(bytes).toString('hex')}`) & ((1n << BigInt(bits)) - 1n);
};

/**
 * An RSA-2048 key whose modulus ends in the same `tailBits` bits as `target`'s: p is any prime,
 * q ≡ tail · p⁻¹ (mod 2^tailBits) with free high bits until it is prime. Seconds of work.
 */
function rsaJwkWithModulusTail(target: bigint, tailBits: number): JsonWebKey {
  const E = 65537n;
  const mod = 1n << BigInt(tailBits);
  const tail = target % mod;
  const low = 3n << 1022n;
  let p: bigint;
  do p = generatePrimeSync(1024, { bigint: true }) as bigint;
  while (p < low || (p - 1n) % E === 0n);
  const q0 = (tail * modInv(p, mod)) % mod;
  let q: bigint;
  for (;;) {
    const k = randomBig(1024 - tailBits);
    q = q0 + k * mod;
    if (q >= low && q < 1n << 1024n && (q - 1n) % E !== 0n && checkPrimeSync(q)) break;
  }
  const n = p * q;
  const lambda = ((p - 1n) * (q - 1n)) / gcd(p - 1n, q - 1n);
  const d = modInv(E, lambda);
  return { kty: 'RSA', n: b64u(n), e: 'AQAB', d: b64u(d), p: b64u(p), q: b64u(q), dp: b64u(d % (p - 1n)), dq: b64u(d % (q - 1n)), qi: b64u(modInv(q, p)) };
}
function gcd(a: bigint, b: bigint): bigint {
  while (b) [a, b] = [b, a % b];
  return a;
}

interface Ca {
  cert: Certificate;
  signer: TbsSigner;
}

async function caFromJwk(name: string, jwk: JsonWebKey): Promise<Ca> {
  const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const priv = await crypto.subtle.importKey('jwk', jwk, alg, false, ['sign']);
  const pub = await crypto.subtle.importKey('jwk', { kty: 'RSA', n: jwk.n!, e: jwk.e! }, alg, true, ['verify']);
  const spki = await exportSpki(pub);
  const signer = keySigner(priv, defaultSignatureAlgorithm(priv));
  const subject = encodeName([{ type: 'O', value: 'mailpki tests' }, { type: 'CN', value: name }]);
  const der = await selfSignedCaCertificate(subject, spki, signer, now);
  return { cert: parseCertificate(der), signer };
}

/** A leaf of `ca` with SERIAL, naming Alpha's responder and distribution point (a CA writes any URL it likes). */
async function leafOf(ca: Ca, mailbox: string): Promise<Certificate> {
  const keys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  return parseCertificate(
    await signCertificate(
      {
        serial: SERIAL,
        issuer: ca.cert.subject.der,
        subject: encodeName([{ type: 'CN', value: mailbox }]),
        notBefore: new Date(now.getTime() - DAY),
        notAfter: new Date(now.getTime() + 90 * DAY),
        spki: await exportSpki(keys.publicKey),
        extensions: [
          { oid: OID.authorityKeyIdentifier, critical: false, value: authorityKeyIdentifierValue(ca.cert.subjectKeyIdentifier!) },
          { oid: OID.authorityInfoAccess, critical: false, value: authorityInfoAccessValue({ ocsp: [OCSP_URL] }) },
          { oid: OID.cRLDistributionPoints, critical: false, value: crlDistributionPointsValue([CRL_URL]) },
        ],
      },
      ca.signer,
    ),
  );
}

let alpha: Ca;
let attacker: Ca;
let revokedLeaf: Certificate;
let attackerLeaf: Certificate;
/** A trusted CA of its own key (no likeness to Alpha's): what is kept per URL alone is enough there. */
let stranger: Ca;
let strangerLeaf: Certificate;

beforeAll(async () => {
  const victimJwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }) as JsonWebKey;
  alpha = await caFromJwk('Alpha CA', victimJwk);
  // The last 32 bytes of an RSA SPKI are the modulus' last 27 bytes and 02 03 01 00 01 (e = 65537).
  attacker = await caFromJwk('Partner CA', rsaJwkWithModulusTail(fromB64u(victimJwk.n!), 27 * 8));
  expect(Buffer.from(attacker.cert.publicKey.spki.subarray(-32))).toEqual(Buffer.from(alpha.cert.publicKey.spki.subarray(-32)));
  revokedLeaf = await leafOf(alpha, 'payments@alpha.example');
  attackerLeaf = await leafOf(attacker, 'someone@partner.example');
  stranger = await caFromJwk('Stranger CA', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }) as JsonWebKey);
  strangerLeaf = await leafOf(stranger, 'someone@stranger.example');
}, 120_000);

/** Alpha's real responder and CRL; while `onPath` is set, an attacker on the path answers for that CA instead. */
function network(state: { onPath: boolean; requests: string[]; ca?: Ca }) {
  const revokedAt = new Date(now.getTime() - 2 * DAY);
  const answerOcsp = async (body: Uint8Array): Promise<Response> => {
    const request = parseOcspRequest(body);
    const forAttacker = state.onPath && certIdMatchesIssuer(request.requests[0]!, (state.ca ?? attacker).cert);
    const ca = forAttacker ? (state.ca ?? attacker) : alpha;
    const der = await createOcspResponse({
      request,
      signer: { certificate: ca.cert, signer: ca.signer },
      issuer: ca.cert,
      lookup: () => (forAttacker ? { status: 'good' } : { status: 'revoked', revokedAt, reason: 'keyCompromise' }),
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + 10 * 60_000),
      producedAt: now,
    });
    return new Response(new Uint8Array(der), { headers: { 'content-type': 'application/ocsp-response' } });
  };
  const answerCrl = async (): Promise<Response> => {
    const der = state.onPath
      ? await createCrl({ issuer: (state.ca ?? attacker).cert, signer: (state.ca ?? attacker).signer, thisUpdate: now, nextUpdate: new Date(now.getTime() + 3650 * DAY), crlNumber: 1_000_000n, entries: [] })
      : await createCrl({
          issuer: alpha.cert,
          signer: alpha.signer,
          thisUpdate: now,
          nextUpdate: new Date(now.getTime() + DAY),
          crlNumber: 5n,
          entries: [{ serialNumber: revokedLeaf.serialNumber, revocationDate: revokedAt, reason: 'keyCompromise' }],
        });
    return new Response(new Uint8Array(der), { headers: { 'content-type': 'application/pkix-crl' } });
  };
  return async (url: string, init?: RequestInit): Promise<Response> => {
    state.requests.push(url);
    if (url === OCSP_URL) return answerOcsp(new Uint8Array(init!.body as Uint8Array));
    if (url === CRL_URL) return answerCrl();
    return new Response('no', { status: 404 });
  };
}

describe('RevocationChecker: what one issuer answered never counts for another', () => {
  it('a cached OCSP "good" for a trusted partner CA’s certificate is not the status of Alpha’s revoked certificate with the same serial and an issuer key with the same last bytes', async () => {
    const state = { onPath: true, requests: [] as string[] };
    const checker = new RevocationChecker({ fetch: network(state), clock });
    expect(await checker.check(attackerLeaf, attacker.cert, now)).toMatchObject({ status: 'good', source: 'ocsp' });
    state.onPath = false;
    // Before: the cache key held the serial and the last 32 bytes of the issuer's SPKI, so this was 'good' from the cache.
    expect(await checker.check(revokedLeaf, alpha.cert, now)).toMatchObject({ status: 'revoked', source: 'ocsp', reason: 'keyCompromise' });
  });

  it('a CRL of another issuer served once at Alpha’s distribution point neither stays in Alpha’s place nor raises Alpha’s cRLNumber', async () => {
    const state = { onPath: true, requests: [] as string[], ca: stranger };
    const checker = new RevocationChecker({ fetch: network(state), clock, order: ['crl'] });
    expect(await checker.check(strangerLeaf, stranger.cert, now)).toMatchObject({ status: 'good', source: 'crl', crlNumber: '1000000' });
    state.onPath = false;
    // Before: the Stranger CA's CRL was held for the URL until its nextUpdate (ten years), and its cRLNumber made
    // every later CRL of Alpha's at that URL a "replay": Alpha's revoked certificate stayed unchecked for good.
    expect(await checker.check(revokedLeaf, alpha.cert, now)).toMatchObject({ status: 'revoked', source: 'crl', crlNumber: '5' });
    // The Stranger CA's answer stays its own (held, and from the cache).
    state.onPath = true;
    expect(await checker.check(strangerLeaf, stranger.cert, now)).toMatchObject({ status: 'good', crlNumber: '1000000' });
  });
});
