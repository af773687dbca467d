/**
 * Path building under a hostile certificate set (issue 11, finding 4): many certificates with the
 * issuer's name, none of which signed the leaf. The search tries only the best few, a shared cache
 * answers a repeated check (failures included) without cryptography, and a shared budget stops it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { keySigner, authorityKeyIdentifierValue, basicConstraintsValue, signCertificate, subjectKeyIdentifierValue } from '../../src/certs/builder.js';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { MAX_ISSUER_CANDIDATES, validateChain } from '../../src/certs/chain.js';
import { SignatureCheckCache } from '../../src/certs/chain-signatures.js';
import { encodeName } from '../../src/certs/name.js';
import { bitString, nul, oid, seq, uintBytes } from '../../src/internal/der.js';
import { OID } from '../../src/internal/oids.js';
import { PublicKeyBudget, exportSpki, generateKeyPair } from '../../src/keys/index.js';

const AT = new Date('2026-03-15T00:00:00Z');
const FROM = new Date('2026-01-01T00:00:00Z');
const UNTIL = new Date('2027-01-01T00:00:00Z');
const KEY_ID = Uint8Array.from({ length: 20 }, (_, i) => i + 1);

function randomRsaSpki(): Uint8Array {
  const n = globalThis.crypto.getRandomValues(new Uint8Array(256));
  n[0]! |= 0x80;
  n[255]! |= 1;
  return seq(seq(oid(OID.rsaEncryption), nul()), bitString(seq(uintBytes(n), uintBytes(Uint8Array.of(1, 0, 1)))));
}

/** A "signature" that verifies with none of the fakes' keys but makes RSA do the arithmetic. */
const garbageRsa = {
  algorithm: { scheme: 'rsa-pkcs1' as const, hash: 'SHA-256' as const },
  sign: async () => {
    const sig = globalThis.crypto.getRandomValues(new Uint8Array(256));
    sig[0] = 0;
    return sig;
  },
};

/** A crypto whose verify calls are counted. */
function countingCrypto() {
  const counter = { verifies: 0 };
  const subtle = globalThis.crypto.subtle;
  const crypto = {
    getRandomValues: globalThis.crypto.getRandomValues.bind(globalThis.crypto),
    subtle: {
      importKey: subtle.importKey.bind(subtle),
      digest: subtle.digest.bind(subtle),
      verify: (...args: Parameters<SubtleCrypto['verify']>) => {
        counter.verifies++;
        return subtle.verify(...args);
      },
    },
  } as unknown as Crypto;
  return { crypto, counter };
}

let root: Certificate;
let leaves: Certificate[];
let fakes: Certificate[];

beforeAll(async () => {
  const rootKeys = await generateKeyPair('ec-p256');
  const junk = keySigner((await generateKeyPair('ec-p256')).privateKey, { scheme: 'ecdsa', hash: 'SHA-256' });
  const rootName = encodeName([{ type: 'CN', value: 'Chain Budget Root' }]);
  root = parseCertificate(
    await signCertificate(
      { serial: Uint8Array.of(1), issuer: rootName, subject: rootName, notBefore: FROM, notAfter: UNTIL, spki: await exportSpki(rootKeys.publicKey),
        extensions: [{ oid: OID.basicConstraints, critical: true, value: basicConstraintsValue(true) }] },
      keySigner(rootKeys.privateKey, { scheme: 'ecdsa', hash: 'SHA-256' }),
    ),
  );
  const caName = encodeName([{ type: 'CN', value: 'Same Name CA' }]);
  const nowhere = encodeName([{ type: 'CN', value: 'Nobody' }]);
  fakes = [];
  for (let i = 0; i < 40; i++)
    fakes.push(
      parseCertificate(
        await signCertificate(
          { serial: Uint8Array.of(2, i), issuer: nowhere, subject: caName, notBefore: FROM, notAfter: UNTIL, spki: randomRsaSpki(),
            extensions: [
              { oid: OID.basicConstraints, critical: true, value: basicConstraintsValue(true) },
              { oid: OID.subjectKeyIdentifier, critical: false, value: subjectKeyIdentifierValue(KEY_ID) },
            ] },
          junk,
        ),
      ),
    );
  const leafSpki = await exportSpki((await generateKeyPair('ec-p256')).publicKey);
  leaves = [];
  for (let i = 0; i < 4; i++)
    leaves.push(
      parseCertificate(
        await signCertificate(
          { serial: Uint8Array.of(3, i), issuer: caName, subject: encodeName([{ type: 'CN', value: `leaf ${i}` }]), notBefore: FROM, notAfter: UNTIL, spki: leafSpki,
            extensions: [{ oid: OID.authorityKeyIdentifier, critical: false, value: authorityKeyIdentifierValue(KEY_ID) }] },
          garbageRsa,
        ),
      ),
    );
});

describe('path building under many same-named issuers (finding 4)', () => {
  it(`40 certificates with the issuer's name: only the best ${MAX_ISSUER_CANDIDATES} are tried (finding 4)`, async () => {
    const { crypto, counter } = countingCrypto();
    const r = await validateChain(leaves[0]!, { trustAnchors: [root], intermediates: fakes, at: AT, purpose: 'any', crypto });
    expect(r.ok).toBe(false);
    expect(counter.verifies).toBe(MAX_ISSUER_CANDIDATES);
    const two = countingCrypto();
    await validateChain(leaves[1]!, { trustAnchors: [root], intermediates: fakes, at: AT, purpose: 'any', crypto: two.crypto, maxIssuerCandidates: 2 });
    expect(two.counter.verifies).toBe(2);
  });

  it('a shared SignatureCheckCache answers failed checks again without cryptography (finding 4)', async () => {
    const { crypto, counter } = countingCrypto();
    const signatureCache = new SignatureCheckCache();
    const opts = { trustAnchors: [root], intermediates: fakes, at: AT, purpose: 'any' as const, crypto, signatureCache };
    const first = await validateChain(leaves[2]!, opts);
    const once = counter.verifies;
    expect(once).toBe(MAX_ISSUER_CANDIDATES);
    const again = await Promise.all([validateChain(leaves[2]!, opts), validateChain(leaves[2]!, opts)]);
    expect(counter.verifies).toBe(once);
    for (const r of again) expect(r.problems).toEqual(first.problems);
  });

  it('a shared PublicKeyBudget stops the search when spent: CHAIN_NO_PATH_TO_ANCHOR saying so (finding 4)', async () => {
    const { crypto, counter } = countingCrypto();
    const budget = new PublicKeyBudget(5);
    const opts = { trustAnchors: [root], intermediates: fakes, at: AT, purpose: 'any' as const, crypto, budget };
    const a = await validateChain(leaves[3]!, opts);
    expect(counter.verifies).toBe(5);
    expect(budget).toMatchObject({ used: 5, exhausted: true });
    expect(a.ok).toBe(false);
    expect(a.problems.map((p) => p.message).join(' ')).toMatch(/budget/);
    await validateChain(leaves[0]!, opts);
    expect(counter.verifies).toBe(5);
  });
});
