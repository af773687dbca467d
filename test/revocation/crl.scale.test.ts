/** A 100,000-entry CRL: created, parsed, verified and indexed; sampled lookups all right. */
import { describe, expect, it } from 'vitest';
import { CA_FILES, LocalCA, MemoryCaStorage, type RevocationReason } from '../../src/ca/index.js';
import { keySigner } from '../../src/certs/builder.js';
import { fromUtf8, toHex } from '../../src/internal/bytes.js';
import { defaultSignatureAlgorithm, importPrivateKey } from '../../src/keys/index.js';
import { createCrl, crlToPem, parseCrl, verifyCrl, type CrlEntryInput } from '../../src/revocation/crl.js';

const N = 100_000;
const REASONS: (RevocationReason | undefined)[] = [undefined, 'keyCompromise', 'superseded', 'unspecified', 'certificateHold', 'privilegeWithdrawn'];

describe('CRL with 100,000 entries', () => {
  it('round trips: every sampled serial found with its date and reason, absent serials not found', async () => {
    const storage = new MemoryCaStorage();
    const ca = await LocalCA.create(storage, { keyType: 'ec-p256' }, { clock: () => new Date(Date.UTC(2026, 0, 1)) });
    const key = await importPrivateKey(fromUtf8((await storage.read(CA_FILES.issuingKey))!));
    const base = Date.UTC(2026, 2, 1);
    const entries: CrlEntryInput[] = [];
    const seen = new Set<string>();
    const b = new Uint8Array(16);
    while (entries.length < N) {
      crypto.getRandomValues(b);
      b[0] = (b[0]! & 0x7f) | 0x01; // no leading zero byte: serials stay as written
      const serialNumber = toHex(b.subarray(0, 8 + (entries.length % 9))); // 8 to 16 bytes
      if (seen.has(serialNumber)) continue;
      seen.add(serialNumber);
      const i = entries.length;
      const reason = REASONS[i % REASONS.length];
      entries.push({
        serialNumber,
        revocationDate: new Date(base + i * 1000),
        ...(reason && { reason }),
        ...(i % 7 === 0 && { invalidityDate: new Date(base + i * 1000 - 3600_000) }),
      });
    }

    let t = performance.now();
    const der = await createCrl({
      issuer: ca.issuingCertificate,
      signer: keySigner(key, defaultSignatureAlgorithm(key)),
      thisUpdate: new Date(Date.UTC(2026, 5, 1)),
      nextUpdate: new Date(Date.UTC(2026, 5, 8)),
      crlNumber: 123456789n,
      entries,
    });
    const createMs = performance.now() - t;

    t = performance.now();
    const crl = parseCrl(der);
    const v = await verifyCrl(crl, ca.issuingCertificate, { at: new Date(Date.UTC(2026, 5, 2)) });
    const parseMs = performance.now() - t;
    console.log(`100k CRL: ${der.length} bytes, create ${createMs.toFixed(0)} ms, parse+verify+index ${parseMs.toFixed(0)} ms`);
    expect(v).toEqual({ ok: true, problems: [] });
    expect(crl.entryCount).toBe(N);
    expect(crl.crlNumber).toBe(123456789n);
    // Bounds far above the targets (1 s / 0.2 s): they catch a quadratic slip, not a busy machine.
    expect(createMs).toBeLessThan(10_000);
    expect(parseMs).toBeLessThan(5_000);

    for (let k = 0; k < 2000; k++) {
      const i = (k * 7919) % N;
      const e = entries[i]!;
      const got = crl.lookup(e.serialNumber);
      expect(got?.revocationDate.getTime()).toBe(e.revocationDate.getTime());
      expect(got?.reason).toBe(e.reason === 'unspecified' ? undefined : e.reason);
      expect(got?.invalidityDate?.getTime()).toBe(e.invalidityDate?.getTime());
    }
    let misses = 0;
    for (let k = 0; k < 2000; k++) {
      crypto.getRandomValues(b);
      const s = toHex(b.subarray(0, 17)); // 17 bytes: longer than any serial in the CRL
      if (crl.lookup(s) === undefined) misses++;
    }
    expect(misses).toBe(2000);

    // Full scan agrees with the index, in ascending serial order.
    let n = 0;
    let prev = -1n;
    for (const e of crl.entries()) {
      const value = BigInt(`0x${e.serialNumber}`);
      expect(value > prev).toBe(true);
      prev = value;
      n++;
    }
    expect(n).toBe(N);
    // PEM of a 100k CRL (≈ 6 MiB of text) parses too.
    expect(parseCrl(crlToPem(der)).entryCount).toBe(N);
  });
});
