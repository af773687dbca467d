/** Hostile input to parseCrl: a MailPkiError or a usable view, never another exception, never a hang. */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { CA_FILES, LocalCA, MemoryCaStorage, REVOCATION_REASONS, type RevocationReason } from '../../src/ca/index.js';
import { keySigner } from '../../src/certs/builder.js';
import type { Certificate } from '../../src/certs/certificate.js';
import { MailPkiError } from '../../src/errors.js';
import { fromUtf8, toHex } from '../../src/internal/bytes.js';
import { defaultSignatureAlgorithm, importPrivateKey } from '../../src/keys/index.js';
import { createCrl, crlToPem, parseCrl, verifyCrl, type CrlEntryInput } from '../../src/revocation/crl.js';
import type { TbsSigner } from '../../src/certs/builder.js';

const T0 = new Date(Date.UTC(2026, 5, 1));
const T1 = new Date(Date.UTC(2026, 5, 8));

let issuer: Certificate;
let signer: TbsSigner;
const valid: Uint8Array[] = [];

/** Parses and then touches everything a caller could: only MailPkiError may come out. */
async function onlyCodedErrors(input: Uint8Array | string): Promise<void> {
  try {
    const crl = parseCrl(input);
    let n = 0;
    for (const e of crl.entries()) {
      // Bytes: hex text is read as unsigned, and a mutated serial may be negative.
      expect(crl.lookup(e.serialBytes)).toBeDefined();
      if (++n > 50) break;
    }
    crl.lookup('01');
    await verifyCrl(crl, issuer, { at: T0 });
  } catch (e) {
    if (!(e instanceof MailPkiError)) throw new Error(`non-MailPkiError thrown: ${String(e)}`, { cause: e });
  }
}

const mutation = (v: Uint8Array) =>
  fc.oneof(
    fc.tuple(fc.nat({ max: v.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([at, x]) => {
      const out = v.slice();
      out[at]! ^= x;
      return out;
    }),
    fc.nat({ max: v.length - 1 }).map((n) => v.slice(0, n)),
    fc.tuple(fc.nat({ max: v.length }), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([at, ins]) => {
      const out = new Uint8Array(v.length + ins.length);
      out.set(v.subarray(0, at));
      out.set(ins, at);
      out.set(v.subarray(at), at + ins.length);
      return out;
    }),
  );

const REASONS = Object.keys(REVOCATION_REASONS).filter((r) => r !== 'removeFromCRL') as RevocationReason[];
const entryArb = fc.record(
  {
    serialNumber: fc.uint8Array({ minLength: 1, maxLength: 20 }).map((b) => toHex(b)),
    revocationDate: fc.date({ min: new Date(Date.UTC(1950, 0, 1)), max: new Date(Date.UTC(9999, 11, 31)), noInvalidDate: true }),
    reason: fc.constantFrom(...REASONS),
    invalidityDate: fc.date({ min: new Date(Date.UTC(1950, 0, 1)), max: new Date(Date.UTC(9999, 11, 31)), noInvalidDate: true }),
  },
  { requiredKeys: ['serialNumber', 'revocationDate'] },
);

beforeAll(async () => {
  const storage = new MemoryCaStorage();
  const ca = await LocalCA.create(storage, { keyType: 'ec-p256' }, { clock: () => new Date(Date.UTC(2026, 0, 1)) });
  issuer = ca.issuingCertificate;
  const key = await importPrivateKey(fromUtf8((await storage.read(CA_FILES.issuingKey))!));
  signer = keySigner(key, defaultSignatureAlgorithm(key));
  valid.push(
    await createCrl({ issuer, signer, thisUpdate: T0, nextUpdate: T1, crlNumber: 1, entries: [] }),
    await createCrl({
      issuer,
      signer,
      thisUpdate: T0,
      nextUpdate: T1,
      crlNumber: 2,
      entries: [
        { serialNumber: '01', revocationDate: T0, reason: 'keyCompromise', invalidityDate: T0 },
        { serialNumber: 'ff00', revocationDate: new Date(Date.UTC(2060, 0, 1)) },
        { serialNumber: '7f'.repeat(20), revocationDate: T0, reason: 'certificateHold' },
      ],
    }),
  );
});

describe('parseCrl under hostile input', () => {
  it('random bytes', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), onlyCodedErrors), { numRuns: 500 });
  });

  it('random bytes behind a SEQUENCE header', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 120 }), (b) => onlyCodedErrors(Uint8Array.from([0x30, b.length, ...b]))),
      { numRuns: 500 },
    );
  });

  it('mutated valid CRLs (DER and PEM)', async () => {
    for (const v of valid) {
      await fc.assert(fc.asyncProperty(mutation(v), onlyCodedErrors), { numRuns: 700 });
      await fc.assert(fc.asyncProperty(mutation(v), (m) => onlyCodedErrors(crlToPem(m))), { numRuns: 100 });
    }
  });

  it('mutated PEM text', async () => {
    const pem = crlToPem(valid[1]!);
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: pem.length - 1 }), fc.string({ maxLength: 4 }), (at, s) => onlyCodedErrors(pem.slice(0, at) + s + pem.slice(at + 1))),
      { numRuns: 300 },
    );
  });
});

describe('createCrl → parseCrl round trip', () => {
  it('every entry comes back, by lookup and in serial order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(entryArb, { maxLength: 30, selector: (e) => e.serialNumber.replace(/^(00)+(?=..)/, '') }), async (entries) => {
        const der = await createCrl({ issuer, signer, thisUpdate: T0, nextUpdate: T1, crlNumber: 7, entries: entries as CrlEntryInput[] });
        const crl = parseCrl(der);
        expect(crl.entryCount).toBe(entries.length);
        const sec = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);
        for (const e of entries) {
          const got = crl.lookup(e.serialNumber);
          expect(got?.revocationDate).toEqual(sec(e.revocationDate));
          expect(got?.reason).toBe(e.reason === 'unspecified' ? undefined : e.reason);
          expect(got?.invalidityDate).toEqual(e.invalidityDate && sec(e.invalidityDate));
        }
        const serials = [...crl.entries()].map((e) => BigInt(`0x${e.serialNumber}`));
        expect(serials).toEqual([...serials].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      }),
      { numRuns: 60 },
    );
  });
});
