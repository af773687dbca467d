/**
 * Hardening of the EnvelopedData reader and key transport against what an outside review found
 * (session 2026-12-05, reproductions kept in the note): a definite-length encryptedContent of
 * millions of empty chunks, recipient identifiers with 180 KB issuer Names, and an RSA PKCS#1 v1.5
 * fallback key drawn at random on every attempt (a statistical padding oracle).
 */
import { constants, createCipheriv, createPrivateKey, privateDecrypt } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  decryptData,
  encryptData,
  MAX_DESCRIBED_NAME_CHARS,
  MAX_ENCRYPTED_CONTENT_CHUNKS,
  parseEnvelopedData,
  readRecipientIdentifiers,
  type KeyTransRecipient,
} from '../../src/cms/index.js';
import { MailPkiError } from '../../src/errors.js';
import { Tag, int, octets, oid, seq, setOf, tlv } from '../../src/internal/der.js';
import { verifyMessage } from '../../src/smime/index.js';
import { makeSmimeFixture, verifyOptions, type SmimeFixture } from '../smime/fixtures.js';

let f: SmimeFixture;
beforeAll(async () => {
  f = await makeSmimeFixture();
});

const GCM = seq(oid('2.16.840.1.101.3.4.1.46'), seq(octets(new Uint8Array(12)), int(16)));
const ktri = (issuer: Uint8Array, serial: number) => seq(int(0), seq(issuer, int(serial)), seq(oid('1.2.840.113549.1.1.7')), octets(new Uint8Array(16)));
const authEnveloped = (ris: Uint8Array[], encryptedContent: Uint8Array) =>
  seq(oid('1.2.840.113549.1.9.16.1.23'), tlv(0xa0, seq(int(0), tlv(Tag.SET, ...ris), seq(oid('1.2.840.113549.1.7.1'), GCM, encryptedContent), octets(new Uint8Array(16)))));
const smallName = seq(setOf(seq(oid('2.5.4.3'), tlv(Tag.UTF8_STRING, new TextEncoder().encode('CA')))));
const asMessage = (der: Uint8Array) =>
  `From: payments@example.com\r\nTo: approver@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=authEnveloped-data; name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(der).toString('base64').replace(/.{76}/g, '$&\r\n')}\r\n`;

describe('a constructed encryptedContent of many chunks', () => {
  /** [0] constructed, definite length, `n` empty OCTET STRINGs. */
  const emptyChunks = (n: number) => tlv(0xa0, new Uint8Array(2 * n).map((_, i) => (i % 2 === 0 ? Tag.OCTET_STRING : 0)));

  it(`more than MAX_ENCRYPTED_CONTENT_CHUNKS (${MAX_ENCRYPTED_CONTENT_CHUNKS}) is ERR_INPUT_TOO_LARGE; exactly that many is read`, () => {
    const over = authEnveloped([ktri(smallName, 1)], emptyChunks(MAX_ENCRYPTED_CONTENT_CHUNKS + 1));
    let err: unknown;
    try {
      parseEnvelopedData(over);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MailPkiError);
    expect((err as MailPkiError).code).toBe('ERR_INPUT_TOO_LARGE');
    expect((err as MailPkiError).details).toEqual({ limit: MAX_ENCRYPTED_CONTENT_CHUNKS });
    const at = parseEnvelopedData(authEnveloped([ktri(smallName, 1)], emptyChunks(MAX_ENCRYPTED_CONTENT_CHUNKS)));
    expect(at.encryptedContent).toHaveLength(MAX_ENCRYPTED_CONTENT_CHUNKS);
    expect(at.encryptedContentLength).toBe(0);
  });
});

describe('recipient identifiers with huge issuer Names', () => {
  /** A Name of `rdns` RDNs full of characters that need escaping (~21 bytes each). */
  function hugeName(rdns: number): Uint8Array {
    const rdn = setOf(seq(oid('2.5.4.3'), tlv(Tag.UTF8_STRING, new TextEncoder().encode('a,b+c=d"e\\'))));
    const body = new Uint8Array(rdn.length * rdns);
    for (let i = 0; i < rdns; i++) body.set(rdn, i * rdn.length);
    return tlv(Tag.SEQUENCE, body);
  }

  it('each is described in a bounded string; a readable Name over the byte limit is named by its size', () => {
    const der = authEnveloped([ktri(hugeName(8500), 1), ktri(hugeName(150), 2), ktri(smallName, 3)], tlv(0x80, new Uint8Array(16)));
    const [huge, long, small] = readRecipientIdentifiers(der);
    expect(huge).toMatch(/^issuer=\(a name of \d+ bytes, [0-9a-f]{32}…\), serial=0x01$/);
    expect(long!.length).toBeLessThanOrEqual(MAX_DESCRIBED_NAME_CHARS + 'issuer=…, serial=0x02'.length);
    expect(long).toMatch(/…, serial=0x02$/);
    expect(small).toBe('issuer=CN=CA, serial=0x03');
  });

  it('verifyMessage without keys on 64 such recipients: the verdict stays small and lists a few of them', async () => {
    const name = hugeName(8500);
    const der = authEnveloped(Array.from({ length: 64 }, (_, i) => ktri(name, i + 1)), tlv(0x80, new Uint8Array(16)));
    const v = await verifyMessage(asMessage(der), verifyOptions(f));
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_ENCRYPTED_NO_KEY']);
    expect(v.problems[0]!.message).toMatch(/; and 56 more\)/);
    expect(JSON.stringify(v).length).toBeLessThan(64 * 1024);
  });

  it('decryptData with a key the message is not for: ERR_CMS_NOT_FOR_RECIPIENT with a bounded message', async () => {
    const name = hugeName(8500);
    const der = authEnveloped(Array.from({ length: 64 }, (_, i) => ktri(name, i + 1)), tlv(0x80, new Uint8Array(16)));
    const err = await decryptData(der, [{ privateKey: f.paymentsRsa.key, certificate: f.paymentsRsa.certificate }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MailPkiError);
    expect((err as MailPkiError).code).toBe('ERR_CMS_NOT_FOR_RECIPIENT');
    expect((err as MailPkiError).message.length).toBeLessThan(4096);
  });
});

describe('RSA PKCS#1 v1.5 key transport: deterministic implicit rejection', () => {
  const TEXT = new TextEncoder().encode('Content-Type: text/plain\r\n\r\nhello\r\n');

  /** A CBC message to paymentsRsa whose encrypted key is changed so that its padding is bad. */
  async function badlyPadded() {
    const der = await encryptData(TEXT, [{ certificate: f.paymentsRsa.certificate, keyTransport: 'rsa-pkcs1' }], { contentEncryption: 'aes-256-cbc' });
    const ed = parseEnvelopedData(der);
    const ek = (ed.recipients[0] as KeyTransRecipient).encryptedKey; // a view into der
    ek[0] = 0x00;
    ek[1] = 0x17; // below the modulus; EM is then random to anyone without the key: bad padding
    const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', f.paymentsRsa.key));
    const em = privateDecrypt({ key: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }), padding: constants.RSA_NO_PADDING }, ek);
    expect(em[0] === 0 && em[1] === 2).toBe(false);
    return { der, ed, em };
  }

  it('the same badly padded key always gives the same outcome: the fallback is SHA-256(label ‖ EM), not a fresh random key', async () => {
    const { der, ed, em } = await badlyPadded();
    // Re-encrypt the content under the key the RFC 3218 fallback must be: the message then opens, every time.
    const label = new TextEncoder().encode('mailpki RFC 3218 implicit rejection');
    const fallback = new Uint8Array(await crypto.subtle.digest('SHA-256', new Uint8Array([...label, ...em])));
    const iv = (ed.contentEncryption as { iv: Uint8Array }).iv;
    const c = createCipheriv('aes-256-cbc', fallback, iv);
    const content = Buffer.concat([c.update(TEXT), c.final()]);
    expect(content.length).toBe(ed.encryptedContentLength);
    ed.encryptedContent![0]!.set(content); // a view into der: same length, so the DER stays well formed
    for (let i = 0; i < 20; i++) {
      const out = await decryptData(der, [{ privateKey: f.paymentsRsa.key, certificate: f.paymentsRsa.certificate }]);
      expect(new TextDecoder().decode(out.content)).toBe('Content-Type: text/plain\r\n\r\nhello\r\n');
      expect(out.keyManagement).toBe('rsa-pkcs1');
    }
  });

  it('a correctly padded key still opens the message', async () => {
    const der = await encryptData(TEXT, [{ certificate: f.paymentsRsa.certificate, keyTransport: 'rsa-pkcs1' }], { contentEncryption: 'aes-256-gcm' });
    const out = await decryptData(der, [{ privateKey: f.paymentsRsa.key, certificate: f.paymentsRsa.certificate }]);
    expect(out.content).toEqual(TEXT);
  });
});
