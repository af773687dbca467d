/**
 * atk12: the recipient list of an encrypted message is described in full, whatever its size: 256
 * RecipientInfos whose issuer Names are each ~180 KB of RDNs. verifyMessage WITHOUT keys (a filter
 * that cannot decrypt, or any caller that forgot decryptionKeys) formats every Name into the problem
 * message (SMIME_ENCRYPTED_NO_KEY) and into layers[0].recipients; decryptData puts the same list into
 * ERR_CMS_NOT_FOR_RECIPIENT's message and details; the CLI prints it.
 * Expected: bounded work and a bounded description (a few KB), quickly.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Tag, int, octets, oid, seq, setOf, tlv } from '/work/wt/atk12/src/internal/der.js';
import { verifyMessage } from '/work/wt/atk12/src/smime/index.js';
import { makeSmimeFixture, verifyOptions, type SmimeFixture } from '/work/wt/atk12/test/smime/fixtures.js';

const RDNS = Number(process.env.ATK_RDNS ?? 8500);
let f: SmimeFixture;
beforeAll(async () => {
  f = await makeSmimeFixture();
});

function build(rdns: number, recipients: number): Uint8Array {
  const rdn = setOf(seq(oid('2.5.4.3'), tlv(Tag.UTF8_STRING, new TextEncoder().encode('a,b+c=d"e\\'))));
  const buf = new Uint8Array(rdn.length * rdns);
  for (let i = 0; i < rdns; i++) buf.set(rdn, i * rdn.length);
  const name = tlv(Tag.SEQUENCE, buf);
  const ktri = (i: number) => seq(int(0), seq(name, int(i + 1)), seq(oid('1.2.840.113549.1.1.7')), octets(new Uint8Array(16)));
  const ris = tlv(Tag.SET, ...Array.from({ length: recipients }, (_, i) => ktri(i)));
  const alg = seq(oid('2.16.840.1.101.3.4.1.46'), seq(octets(new Uint8Array(12)), int(16)));
  const eci = seq(oid('1.2.840.113549.1.7.1'), alg, tlv(0x80, new Uint8Array(16)));
  return seq(oid('1.2.840.113549.1.9.16.1.23'), tlv(0xa0, seq(int(0), ris, eci, octets(new Uint8Array(16)))));
}

describe('huge recipient identifiers', () => {
  it(`256 recipients with ${RDNS}-RDN issuer names, verifyMessage without keys: bounded time and verdict size`, async () => {
    const der = build(RDNS, 256);
    const b64 = Buffer.from(der).toString('base64').replace(/.{76}/g, '$&\r\n');
    const eml = `From: payments@example.com\r\nTo: approver@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=authEnveloped-data; name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n`;
    const t0 = performance.now();
    const v = await verifyMessage(eml, verifyOptions(f));
    const ms = performance.now() - t0;
    const size = JSON.stringify(v).length;
    console.log(`message ${(eml.length / 2 ** 20).toFixed(1)} MiB: ${ms.toFixed(0)} ms, verdict JSON ${(size / 2 ** 20).toFixed(1)} MiB, problem message ${(v.problems[0]?.message.length ?? 0) / 2 ** 20} Mi chars`);
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_ENCRYPTED_NO_KEY']);
    expect(size).toBeLessThan(64 * 1024);
    expect(ms).toBeLessThan(1500);
  });
});
