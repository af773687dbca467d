/**
 * atk12: cost of a definite-length (DER-shaped) constructed [0] encryptedContent made of many empty
 * OCTET STRING chunks. normaliseBer caps BER elements at MAX_BER_NODES (1 Mi) because "64 MiB of
 * two-byte chunks would otherwise be 32 million objects" — but readEnvelopedData reads the chunk
 * list of a definite-length input directly, without the normaliser and without a count limit.
 * Expected: refused quickly (ERR_INPUT_TOO_LARGE or ERR_CMS_MALFORMED) with bounded memory.
 */
import { describe, expect, it } from 'vitest';
import { parseEnvelopedData } from '/work/wt/atk12/src/cms/enveloped-data.js';
import { MailPkiError } from '/work/wt/atk12/src/errors.js';
import { Tag, explicit, int, octets, oid, seq, setOf, tlv } from '/work/wt/atk12/src/internal/der.js';
import { verifyMessage } from '/work/wt/atk12/src/smime/index.js';
import { makeSmimeFixture, verifyOptions } from '/work/wt/atk12/test/smime/fixtures.js';

const N = Number(process.env.ATK_CHUNKS ?? 8_000_000); // 16 MB of chunks; 64 MiB input would be 32 M

function header(tag: number, len: number): Uint8Array {
  const lb: number[] = [];
  for (let v = len; v > 0; v = Math.floor(v / 256)) lb.unshift(v & 0xff);
  return Uint8Array.from([tag, 0x80 | lb.length, ...lb]);
}

function build(n: number): Uint8Array {
  const ktri = seq(int(0), seq(seq(setOf(seq(oid('2.5.4.3'), tlv(Tag.UTF8_STRING, new Uint8Array([0x78]))))), int(1)), seq(oid('1.2.840.113549.1.1.7')), octets(new Uint8Array(256)));
  const alg = seq(oid('2.16.840.1.101.3.4.1.46'), seq(octets(new Uint8Array(12)), int(16)));
  const chunksLen = 2 * n;
  const ec = new Uint8Array(6 + chunksLen);
  const h = header(0xa0, chunksLen);
  ec.set(h);
  const ecv = ec.subarray(0, h.length + chunksLen);
  for (let i = 0; i < n; i++) ecv[h.length + 2 * i] = 0x04; // 04 00
  const eciBody = [oid('1.2.840.113549.1.7.1'), alg, ecv];
  const eciLen = eciBody.reduce((a, b) => a + b.length, 0);
  const eci = new Uint8Array(header(0x30, eciLen).length + eciLen);
  let at = 0;
  for (const part of [header(0x30, eciLen), ...eciBody]) { eci.set(part, at); at += part.length; }
  const bodyParts = [int(0), setOf(ktri), eci, octets(new Uint8Array(16))];
  const concat = (parts: Uint8Array[], tag: number) => {
    const len = parts.reduce((a, b) => a + b.length, 0);
    const hh = header(tag, len);
    const out = new Uint8Array(hh.length + len);
    out.set(hh);
    let p = hh.length;
    for (const x of parts) { out.set(x, p); p += x.length; }
    return out;
  };
  const body = concat(bodyParts, 0x30);
  return concat([oid('1.2.840.113549.1.9.16.1.23'), concat([body], 0xa0)], 0x30);
}

describe('many tiny chunks in a definite-length encryptedContent', () => {
  it(`${N} empty chunks: refused quickly, bounded memory`, () => {
    const der = build(N);
    const rss0 = process.memoryUsage().rss;
    const t0 = performance.now();
    let err: unknown;
    let chunks = -1;
    try {
      chunks = parseEnvelopedData(der).encryptedContent?.length ?? -1;
    } catch (e) {
      err = e;
    }
    const ms = performance.now() - t0;
    const grewMb = (process.memoryUsage().rss - rss0) / 2 ** 20;
    console.log(`input ${(der.length / 2 ** 20).toFixed(1)} MiB, ${ms.toFixed(0)} ms, RSS +${grewMb.toFixed(0)} MiB, chunks=${chunks}, err=${(err as Error)?.message}`);
    expect(err).toBeInstanceOf(MailPkiError);
    expect(['ERR_INPUT_TOO_LARGE', 'ERR_CMS_MALFORMED']).toContain((err as MailPkiError).code);
    expect(grewMb).toBeLessThan(300);
  });

  it('end to end: verifyMessage WITHOUT decryption keys (a filter that only lists recipients) on 4 M chunks', async () => {
    const f = await makeSmimeFixture();
    const der = build(Number(process.env.ATK_CHUNKS_E2E ?? 4_000_000));
    const b64 = Buffer.from(der).toString('base64').replace(/.{76}/g, '$&\r\n');
    const eml = `From: payments@example.com\r\nTo: approver@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=authEnveloped-data; name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n`;
    const rss0 = process.memoryUsage().rss;
    const t0 = performance.now();
    const v = await verifyMessage(eml, verifyOptions(f));
    const ms = performance.now() - t0;
    const grewMb = (process.memoryUsage().rss - rss0) / 2 ** 20;
    console.log(`e2e message ${(eml.length / 2 ** 20).toFixed(1)} MiB: ${ms.toFixed(0)} ms, RSS +${grewMb.toFixed(0)} MiB, problems ${v.problems.map((p) => p.code)}`);
    expect(v.valid).toBe(false);
    expect(ms).toBeLessThan(1500);
    expect(grewMb).toBeLessThan(300);
  });
});
