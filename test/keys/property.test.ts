/** Hostile input to the key parsers: always a MailPkiError, never another exception, never a hang. */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import { toBase64 } from '../../src/internal/bytes.js';
import { describeKey, exportPkcs8, exportPkcs8Pem, generateKeyPair, importPrivateKey, importPublicKey, exportSpki } from '../../src/keys/index.js';

/** Runs `f`; passes when it returns or throws a MailPkiError. */
async function onlyCodedErrors(f: () => Promise<unknown> | unknown): Promise<void> {
  try {
    await f();
  } catch (e) {
    if (!(e instanceof MailPkiError)) throw new Error(`non-MailPkiError thrown: ${String(e)}`, { cause: e });
  }
}

/** A valid input with one byte changed, some bytes cut, or random bytes spliced in. */
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

const valid: Uint8Array[] = [];
let encrypted: Uint8Array;
let spki: Uint8Array;

beforeAll(async () => {
  const pairs = await Promise.all([
    generateKeyPair('rsa-2048', { extractable: true }),
    generateKeyPair('ec-p384', { extractable: true }),
    generateKeyPair('ed25519', { extractable: true }),
  ]);
  for (const p of pairs) valid.push(await exportPkcs8(p.privateKey));
  encrypted = await exportPkcs8(pairs[1]!.privateKey, { passphrase: 'pw', iterations: 1000 });
  spki = await exportSpki(pairs[0]!.publicKey);
});

describe('importPrivateKey on hostile input', () => {
  it('random bytes', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), (b) => onlyCodedErrors(() => importPrivateKey(b, { passphrase: 'pw' }))), {
      numRuns: 500,
    });
  });

  it('random DER-looking bytes (starting with a SEQUENCE header)', async () => {
    const der = fc.uint8Array({ maxLength: 300 }).map((b) => Uint8Array.of(0x30, ...(b.length < 128 ? [b.length] : [0x81, b.length & 0xff]), ...b));
    await fc.assert(fc.asyncProperty(der, (b) => onlyCodedErrors(() => importPrivateKey(b))), { numRuns: 500 });
  });

  it('random text and PEM with random base64', async () => {
    const pem = fc
      .tuple(fc.constantFrom('PRIVATE KEY', 'ENCRYPTED PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY'), fc.uint8Array({ maxLength: 300 }))
      .map(([label, b]) => `-----BEGIN ${label}-----\n${toBase64(b)}\n-----END ${label}-----\n`);
    await fc.assert(fc.asyncProperty(fc.oneof(fc.string({ maxLength: 300 }), pem), (s) => onlyCodedErrors(() => importPrivateKey(s, { passphrase: 'x' }))), {
      numRuns: 500,
    });
  });

  it('mutated valid PKCS#8 keys (RSA, EC, Ed25519)', async () => {
    for (const v of valid) await fc.assert(fc.asyncProperty(mutation(v), (b) => onlyCodedErrors(() => importPrivateKey(b))), { numRuns: 300 });
  });

  it('mutated encrypted PKCS#8 and its PEM', async () => {
    await fc.assert(fc.asyncProperty(mutation(encrypted), (b) => onlyCodedErrors(() => importPrivateKey(b, { passphrase: 'pw' }))), { numRuns: 300 });
    const pem = new TextEncoder().encode(await exportPkcs8Pem(await importPrivateKey(valid[1]!, { extractable: true }), { passphrase: 'pw', iterations: 1000 }));
    await fc.assert(fc.asyncProperty(mutation(pem), (b) => onlyCodedErrors(() => importPrivateKey(b, { passphrase: 'pw' }))), { numRuns: 300 });
  });
});

describe('importPublicKey and describeKey on hostile input', () => {
  it('mutated SPKI and random bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutation(spki), fc.uint8Array({ maxLength: 400 })), async (b) => {
        await onlyCodedErrors(() => importPublicKey(b));
        await onlyCodedErrors(() => describeKey(b));
      }),
      { numRuns: 500 },
    );
    expect(valid.length).toBe(3);
  });
});
