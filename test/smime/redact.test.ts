/**
 * redactVerdict: the verdict as evidence keeps no value from inside an encrypted layer (atk13
 * evidence-plaintext: an RFC 9788 protected Subject, hidden as "[...]" outside, reached the evidence
 * through signedHeaders and headerProtection), and keeps what evidence is for: codes, signers, layers.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Certificate } from '../../src/certs/certificate.js';
import { encryptData } from '../../src/cms/index.js';
import { fromLatin1, latin1 } from '../../src/internal/bytes.js';
import { encryptMessage, redactVerdict, signAndEncrypt, signMessage, verifyMessage } from '../../src/smime/index.js';
import { evidenceVerdict } from '../../src/filter/evidence.js';
import { NOW, clock, issueApprover, makeSmimeFixture, plainMessage, verifyOptions, type SmimeFixture } from './fixtures.js';

let f: SmimeFixture;
let bob: { certificate: Certificate; key: CryptoKey };
beforeAll(async () => {
  f = await makeSmimeFixture();
  bob = await issueApprover(f);
});

const SECRET = 'Wire EUR 98000 to DE89 3704 0044 0532 0130 00 today';
const enc = () => ({ clock, at: NOW, trustAnchors: f.anchors, intermediates: [f.ca.issuingCertificate] });
const keys = () => ({ decryptionKeys: [{ privateKey: bob.key, certificate: bob.certificate }] });

/** Every path in a JSON-like value whose string contains `needle`. */
function where(v: unknown, needle: string, path = '$'): string[] {
  if (typeof v === 'string') return v.includes(needle) ? [path] : [];
  if (v instanceof Uint8Array) return fromLatin1(v).includes(needle) ? [path] : [];
  if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => where(x, needle, `${path}.${k}`));
  return [];
}

describe('redactVerdict', () => {
  it('regression (atk13 evidence-plaintext): a valid signAndEncrypt verdict keeps the protected Subject nowhere, and its codes, signers and layers', async () => {
    const eml = await signAndEncrypt(plainMessage({ to: 'approver@example.com', subject: SECRET, body: 'see subject\r\n' }), f.payments, [bob.certificate], enc());
    expect(fromLatin1(eml)).not.toContain('DE89 3704');
    const v = await verifyMessage(eml, verifyOptions(f, keys()));
    expect(v.valid).toBe(true);
    expect(where(v, 'DE89 3704').sort()).toEqual(['$.decryptedMessage', '$.headerProtection.0.differences.0.protected.0', '$.headerProtection.0.fields.2.value', '$.signedHeaders.2.value']);
    const r = redactVerdict(v);
    expect(where(JSON.parse(JSON.stringify(r)), 'DE89 3704')).toEqual([]);
    expect(r.contentRedacted).toBe('encrypted');
    expect('decryptedMessage' in r).toBe(false);
    expect(r.valid).toBe(true);
    expect(r.signers).toEqual(v.signers);
    expect(r.layers).toEqual(v.layers);
    expect(r.from).toEqual(v.from);
    expect(r.signedHeaders).toEqual(v.signedHeaders.map((h) => ({ name: h.name })));
    // Where header protection was and what differed, and why; no value (not even the wire one).
    expect(r.headerProtection).toEqual([{ hp: 'cipher', where: 'the signed part', differences: [{ name: 'Subject', cause: 'obscured' }] }]);
    // The filter's evidence is this redaction, as JSON.
    expect(evidenceVerdict(v)).toEqual(JSON.parse(JSON.stringify(r)));
    // The input verdict is not changed.
    expect(where(v, 'DE89 3704')).toHaveLength(4);
  });

  it('problem and warning messages that quote header fields from inside are withheld; certificate and chain messages are kept', async () => {
    // A re-wrapped signed part whose wrapper carries the secret (SMIME_WRAPPER_HEADER_MISMATCH quotes it).
    const signed = fromLatin1(await signMessage(plainMessage({ to: 'approver@example.com' }), f.attacker, { clock }));
    const sep = signed.indexOf('\r\n\r\n');
    const head = signed.slice(0, sep + 2).replace(/\r\n[ \t]+/g, ' ').split('\r\n').filter((l) => /^content-/i.test(l));
    const cms = await encryptData(latin1(`Subject: ${SECRET}\r\n${head.join('\r\n')}\r\n\r\n${signed.slice(sep + 4)}`), [{ certificate: bob.certificate }], { contentEncryption: 'aes-256-gcm' });
    const eml = `From: Payments <payments@example.com>\r\nTo: approver@example.com\r\nSubject: [...]\r\nMIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=authEnveloped-data\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(cms).toString('base64')}\r\n`;
    const v = await verifyMessage(eml, verifyOptions(f, keys()));
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_WRAPPER_HEADER_MISMATCH', 'SMIME_FROM_NOT_SIGNER']);
    expect(where(v.problems, 'DE89 3704')).toEqual(['$.0.message']);
    const r = redactVerdict(v);
    expect(where(JSON.parse(JSON.stringify(r)), 'DE89 3704')).toEqual([]);
    expect(r.problems).toEqual([{ code: 'SMIME_WRAPPER_HEADER_MISMATCH' }, { code: 'SMIME_FROM_NOT_SIGNER' }]);
    expect(r.warnings.map((w) => [w.code, w.header, w.message])).toEqual(v.warnings.map((w) => [w.code, w.header, undefined]));
    // A chain problem says only what the certificates say: kept as it is.
    const w = await verifyMessage(eml, { ...verifyOptions(f, keys()), trustAnchors: [bob.certificate] });
    const chain = w.problems.find((p) => p.code === 'SMIME_CHAIN_INVALID')!;
    expect(redactVerdict(w).problems.find((p) => p.code === 'SMIME_CHAIN_INVALID')).toEqual(chain);
  });

  it('encrypted but not signed: the hp="cipher" fields are redacted too', async () => {
    const eml = await encryptMessage(plainMessage({ to: 'approver@example.com', subject: SECRET }), [bob.certificate], enc());
    const v = await verifyMessage(eml, verifyOptions(f, keys()));
    expect(v.valid).toBe(false);
    expect(where(v, 'DE89 3704').length).toBeGreaterThan(0);
    expect(where(JSON.parse(JSON.stringify(redactVerdict(v))), 'DE89 3704')).toEqual([]);
  });

  it('a message with no encrypted layer: an equal copy (it travelled in clear), not the same object', async () => {
    const v = await verifyMessage(await signMessage(plainMessage({ subject: SECRET }), f.payments, { clock, headerProtection: true }), verifyOptions(f));
    expect(v.valid).toBe(true);
    const r = redactVerdict(v);
    expect(r).toEqual(v);
    expect(r).not.toBe(v);
    expect(r.contentRedacted).toBeUndefined();
  });

  it('an encrypted message: the copy shares no object with the verdict (changing one leaves the other), nor does evidenceVerdict', async () => {
    const v = await verifyMessage(await signAndEncrypt(plainMessage({ to: 'approver@example.com', subject: SECRET }), f.payments, [bob.certificate], enc()), verifyOptions(f, keys()));
    const objects = (x: unknown, out = new Set<object>()): Set<object> => {
      if (x && typeof x === 'object' && !out.has(x)) {
        out.add(x);
        for (const y of Object.values(x)) objects(y, out);
      }
      return out;
    };
    const mine = objects(v);
    for (const copy of [redactVerdict(v), evidenceVerdict(v)]) expect([...objects(copy)].filter((o) => mine.has(o))).toEqual([]);
  });
});
