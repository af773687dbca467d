/** Hostile input to importPkcs12: always a MailPkiError, never another exception, never a hang. */
import fc from 'fast-check';
import { beforeAll, describe, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import { childrenOf, explicit, int, octets, oid, parseDer, readOctetString, seq } from '../../src/internal/der.js';
import { generateKeyPair } from '../../src/keys/index.js';
import { exportPkcs12, importPkcs12 } from '../../src/pkcs12/index.js';
import { encodeMacData } from '../../src/pkcs12/mac.js';
import { P12_OID } from '../../src/pkcs12/oids.js';
import { makeCertificate } from './helpers.js';

async function onlyCodedErrors(f: () => Promise<unknown>): Promise<void> {
  try {
    await f();
  } catch (e) {
    if (!(e instanceof MailPkiError)) throw new Error(`non-MailPkiError thrown: ${String(e)}`, { cause: e });
  }
}

const mutation = (valid: Uint8Array) =>
  fc.oneof(
    fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([at, x]) => {
      const out = valid.slice();
      out[at]! ^= x;
      return out;
    }),
    fc.nat({ max: valid.length - 1 }).map((n) => valid.slice(0, n)),
    fc.tuple(fc.nat({ max: valid.length }), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([at, ins]) => {
      const out = new Uint8Array(valid.length + ins.length);
      out.set(valid.subarray(0, at));
      out.set(ins, at);
      out.set(valid.subarray(at), at + ins.length);
      return out;
    }),
  );

const PASS = 'pw';
let p12: Uint8Array;
let authSafe: Uint8Array;

/** A PFX around any AuthenticatedSafe bytes, with a correct MAC, so the inner parsers see the hostile bytes. */
async function withValidMac(inner: Uint8Array): Promise<Uint8Array> {
  const mac = await encodeMacData(crypto, 'SHA-256', PASS, new Uint8Array(8), 1, inner);
  return seq(int(3), seq(oid(P12_OID.data), explicit(0, octets(inner))), mac);
}

beforeAll(async () => {
  const pair = await generateKeyPair('ec-p256', { extractable: true });
  const certificate = await makeCertificate(pair, 'fuzz@example.com');
  p12 = await exportPkcs12({ privateKey: pair.privateKey, certificate, chain: [certificate], passphrase: PASS, friendlyName: 'f', iterations: 1000 });
  // PFX → authSafe ContentInfo → [0] → OCTET STRING
  authSafe = readOctetString(childrenOf(childrenOf(childrenOf(parseDer(p12))[1]!)[1]!)[0]!);
});

describe('importPkcs12 on hostile input', () => {
  it('random bytes', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 800 }), (b) => onlyCodedErrors(() => importPkcs12(b, PASS))), { numRuns: 500 });
  });

  it('mutated valid files (the MAC or the outer structure catches them)', async () => {
    await fc.assert(fc.asyncProperty(mutation(p12), (b) => onlyCodedErrors(() => importPkcs12(b, PASS))), { numRuns: 200 });
  });

  it('mutated AuthenticatedSafe under a valid MAC (reaches the bag, PBES2 and key parsers)', async () => {
    await fc.assert(
      fc.asyncProperty(mutation(authSafe), async (inner) => onlyCodedErrors(async () => importPkcs12(await withValidMac(inner), PASS))),
      { numRuns: 300 },
    );
  });

  it('random AuthenticatedSafe bytes under a valid MAC', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), async (inner) => onlyCodedErrors(async () => importPkcs12(await withValidMac(inner), PASS))),
      { numRuns: 300 },
    );
  });
});
