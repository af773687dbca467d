/**
 * Message-level S/MIME encryption interop with gpgsm 2.2, both directions: an RSA recipient, AES-CBC
 * EnvelopedData with RSA PKCS#1 v1.5 key transport (what gpgsm 2.2 reads and writes; it reads neither
 * AuthEnvelopedData nor RSAES-OAEP). The GNUPGHOME is set up as in interop-gpgsm.test.ts: the fixture
 * root trusted through trustlist.txt, CRL checks off, the RSA identity imported from a .p12 that
 * OpenSSL re-packs with -legacy (gpgsm 2.2 cannot read PBES2 with hmacWithSHA256).
 *
 * Tampering: a changed byte in the RSA-encrypted key makes gpgsm fail; a cut-short message fails on
 * both sides. (A changed ciphertext byte of CBC content is not detected by either side — that is EFAIL;
 * verifyMessage reports such content as SMIME_INTEGRITY_UNKNOWN, see encrypt.test.ts.)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LocalCA } from '../../src/ca/local-ca.js';
import { MemoryCaStorage } from '../../src/ca/storage.js';
import { importDecryptionKey } from '../../src/cms/index.js';
import { MailPkiError } from '../../src/errors.js';
import { encodePem } from '../../src/internal/pem.js';
import { exportPkcs8Pem, exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { decryptMessage, encryptMessage, verifyMessage, type SmimeDecryptionKey } from '../../src/smime/index.js';
import { GPGSM_PASSPHRASE_ARGS, gpgsmHome, packLegacyP12 } from '../helpers/gpgsm.js';
import { describeWithPeers, tempDir } from '../helpers/peers.js';

const TEXT = 'Pay 1,250.00 EUR to ACME GmbH, IBAN DE89 3704 0044 0532 0130 00.';
const PASSPHRASE = 'interop passphrase';

const base64Lines = (b: Uint8Array) => Buffer.from(b).toString('base64').replace(/.{1,76}/g, '$&\r\n');
const bodyDer = (eml: string) => Buffer.from(eml.slice(eml.indexOf('\r\n\r\n') + 4).replace(/\s+/g, ''), 'base64');

describeWithPeers('S/MIME encryption interop with gpgsm', ['gpgsm', 'gpgconf', 'openssl'], () => {
  const tmp = tempDir('mailpki-smime-enc-gpgsm-');
  const { gpgsm, file, init, kill, fingerprint: listedFingerprint } = gpgsmHome(tmp);
  const withPassphrase = GPGSM_PASSPHRASE_ARGS;
  let rootPem: string;
  let issuingPem: string;
  let certPem: string;
  let certFile: string;
  let fingerprint: string;
  let decryptionKey: SmimeDecryptionKey;

  beforeAll(async () => {
    const ca = await LocalCA.create(new MemoryCaStorage(), { name: 'mailpki gpgsm encryption interop', keyType: 'ec-p256' });
    rootPem = encodePem('CERTIFICATE', ca.rootCertificate.der);
    issuingPem = encodePem('CERTIFICATE', ca.issuingCertificate.der);
    const issuingFile = file('issuing.pem', issuingPem);
    expect(init(rootPem).status).toBe(0);
    const pair = await generateKeyPair('rsa-2048', { extractable: true });
    const issued = await ca.issue({ mailbox: 'approver@example.com', publicKey: await exportSpki(pair.publicKey), usage: 'dual-use' });
    certPem = encodePem('CERTIFICATE', issued.certificate);
    certFile = file('approver.pem', certPem);
    const keyPem = await exportPkcs8Pem(pair.privateKey);
    const keyFile = tmp.path('approver.key');
    writeFileSync(keyFile, keyPem, { mode: 0o600 });
    decryptionKey = await importDecryptionKey(keyPem, certPem);
    const p12 = tmp.path('approver-legacy.p12');
    packLegacyP12(p12, { key: keyFile, cert: certFile, chain: issuingFile }, PASSPHRASE);
    const imported = gpgsm([...withPassphrase, '--import', p12], `${PASSPHRASE}\n`);
    expect(imported.status, imported.stderr).toBe(0);
    fingerprint = listedFingerprint(true)!;
  }, 60_000);

  afterAll(() => {
    kill();
    tmp.cleanup();
  });

  const message = `From: Finance <finance@example.com>\r\nTo: approver@example.com\r\nSubject: Payment 2026-031\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n${TEXT}\r\n`;

  for (const contentEncryption of ['aes-256-cbc', 'aes-128-cbc'] as const) {
    it(`mailpki encrypts (${contentEncryption}, RSA PKCS#1 v1.5) → gpgsm --decrypt; a changed encrypted key or a cut-short message fails`, async () => {
      const eml = Buffer.from(await encryptMessage(message, [certPem], { contentEncryption, keyTransport: 'rsa-pkcs1', trustAnchors: [rootPem], intermediates: [issuingPem] })).toString('latin1');
      const der = bodyDer(eml);
      const out = tmp.path(`gpgsm-${contentEncryption}.out`);
      const r = gpgsm([...withPassphrase, '--output', out, '--decrypt', file(`m-${contentEncryption}.p7m`, der)], `${PASSPHRASE}\n`);
      expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/^\[GNUPG:\] DECRYPTION_OKAY/m);
      const plain = readFileSync(out, 'latin1');
      expect(plain).toContain('hp="cipher"');
      expect(plain).toContain(TEXT);

      // The RSA-encrypted content-encryption key sits before the content: change a byte in its middle.
      const badKey = Buffer.from(der);
      const modulusStart = der.indexOf(Buffer.from([0x04, 0x82, 0x01, 0x00])); // OCTET STRING of 256 bytes: the encrypted key
      expect(modulusStart).toBeGreaterThan(0);
      badKey[modulusStart + 4 + 128] = badKey[modulusStart + 4 + 128]! ^ 0x01;
      const bad = gpgsm([...withPassphrase, '--output', `${out}.bad`, '--decrypt', file(`m-${contentEncryption}-badkey.p7m`, badKey)], `${PASSPHRASE}\n`);
      expect(bad.status).not.toBe(0);
      expect(bad.stdout).not.toMatch(/DECRYPTION_OKAY/);
      const cut = gpgsm([...withPassphrase, '--output', `${out}.cut`, '--decrypt', file(`m-${contentEncryption}-cut.p7m`, der.subarray(0, der.length - 40))], `${PASSPHRASE}\n`);
      expect(cut.status).not.toBe(0);
    });
  }

  it('gpgsm --encrypt → mailpki decryptMessage (AES-CBC: integrityProtected false) and verifyMessage (integrity unknown); cut short: a coded error', async () => {
    const entity = `Content-Type: text/plain; charset=us-ascii\r\n\r\n${TEXT}\r\n`;
    const der = tmp.path('gpgsm-enc.p7m');
    const r = gpgsm(['--output', der, '--recipient', fingerprint, '--encrypt', file('entity.txt', entity)]);
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    const bytes = readFileSync(der);
    const eml =
      `From: finance@example.com\r\nTo: approver@example.com\r\nSubject: Payment\r\nMIME-Version: 1.0\r\n` +
      `Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64Lines(bytes)}`;
    const d = await decryptMessage(eml, { keys: [decryptionKey] });
    expect(d).toMatchObject({ integrityProtected: false, keyManagement: 'rsa-pkcs1' });
    expect(d.contentEncryption).toMatch(/^aes-(128|256)-cbc$/);
    expect(Buffer.from(d.entity).toString('latin1')).toBe(entity);
    const v = await verifyMessage(eml, { trustAnchors: [rootPem], decryptionKeys: [decryptionKey] });
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code).sort()).toEqual(['SMIME_INTEGRITY_UNKNOWN', 'SMIME_NOT_SIGNED']);

    const cut = eml.replace(base64Lines(bytes), base64Lines(bytes.subarray(0, bytes.length - 40)));
    const err = await decryptMessage(cut, { keys: [decryptionKey] }).catch((e) => e);
    expect(err).toBeInstanceOf(MailPkiError);
    expect(['ERR_CMS_TRUNCATED', 'ERR_CMS_MALFORMED', 'ERR_CMS_DECRYPTION_FAILED']).toContain(err.code);
  });
});
