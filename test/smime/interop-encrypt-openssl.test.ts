/**
 * Message-level S/MIME encryption interop with OpenSSL 3 (`openssl cms`), both directions:
 * - mailpki signs and encrypts → `openssl cms -decrypt`, then `openssl cms -verify` on what came out;
 * - OpenSSL signs (`openssl cms -sign`) and encrypts (`openssl cms -encrypt`) → mailpki verifyMessage
 *   with decryptionKeys gives one valid verdict;
 * - a changed byte fails on both sides.
 * RSA (OAEP and PKCS#1 v1.5) and EC (P-256, P-384) recipients; AES-GCM and AES-CBC; three recipients mixed.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LocalCA } from '../../src/ca/local-ca.js';
import { MemoryCaStorage } from '../../src/ca/storage.js';
import { importDecryptionKey, type ContentEncryptionAlgorithm } from '../../src/cms/index.js';
import { encodePem } from '../../src/internal/pem.js';
import { exportPkcs8Pem, exportSpki, generateKeyPair, type KeyType } from '../../src/keys/index.js';
import { decryptMessage, encryptMessage, signAndEncrypt, verifyMessage, type SmimeDecryptionKey } from '../../src/smime/index.js';
import { describeWithPeers, runStatus, tempDir } from '../helpers/peers.js';

const TEXT = 'Pay 1,250.00 EUR to ACME GmbH, IBAN DE89 3704 0044 0532 0130 00.';

interface Party {
  mailbox: string;
  key: CryptoKey;
  certPem: string;
  certFile: string;
  keyFile: string;
  decryptionKey: SmimeDecryptionKey;
}

/** Changes one base64 character of the body, in the middle of the encrypted content. */
function tamper(eml: string): string {
  const sep = eml.includes('\r\n\r\n') ? '\r\n\r\n' : '\n\n';
  const at = eml.indexOf(sep) + sep.length;
  const body = eml.slice(at);
  const i = Math.floor(body.length * 0.8);
  let j = i;
  while (!/[A-Za-z0-9]/.test(body[j]!)) j++;
  return eml.slice(0, at) + body.slice(0, j) + (body[j] === 'A' ? 'B' : 'A') + body.slice(j + 1);
}

const message = (to = 'approver@example.com') =>
  `From: Finance <finance@example.com>\r\nTo: ${to}\r\nSubject: Payment 2026-031\r\nDate: Sun, 15 Mar 2026 12:00:00 +0000\r\nMessage-ID: <p-2026-031@example.com>\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n${TEXT}\r\n`;

describeWithPeers('S/MIME encryption interop with OpenSSL', ['openssl'], () => {
  const tmp = tempDir('mailpki-smime-enc-openssl-');
  const parties = new Map<string, Party>();
  let rootPem: string;
  let issuingPem: string;
  const rootFile = tmp.path('root.pem');
  const issuingFile = tmp.path('issuing.pem');
  let finance: Party;

  async function party(name: string, mailbox: string, type: KeyType): Promise<Party> {
    const ca = caRef!;
    const pair = await generateKeyPair(type, { extractable: true });
    const issued = await ca.issue({ mailbox, publicKey: await exportSpki(pair.publicKey), usage: 'dual-use' });
    const certPem = encodePem('CERTIFICATE', issued.certificate);
    const keyPem = await exportPkcs8Pem(pair.privateKey);
    const certFile = tmp.path(`${name}.pem`);
    const keyFile = tmp.path(`${name}.key`);
    writeFileSync(certFile, certPem);
    writeFileSync(keyFile, keyPem, { mode: 0o600 });
    return { mailbox, key: pair.privateKey, certPem, certFile, keyFile, decryptionKey: await importDecryptionKey(keyPem, certPem) };
  }
  let caRef: LocalCA | undefined;

  beforeAll(async () => {
    caRef = await LocalCA.create(new MemoryCaStorage(), { name: 'mailpki encryption interop', keyType: 'ec-p256' });
    rootPem = encodePem('CERTIFICATE', caRef.rootCertificate.der);
    issuingPem = encodePem('CERTIFICATE', caRef.issuingCertificate.der);
    writeFileSync(rootFile, rootPem);
    writeFileSync(issuingFile, issuingPem);
    finance = await party('finance', 'finance@example.com', 'ec-p256');
    for (const [name, type] of [
      ['rsa', 'rsa-2048'],
      ['p256', 'ec-p256'],
      ['p384', 'ec-p384'],
    ] as const)
      parties.set(name, await party(name, 'approver@example.com', type));
  }, 60_000);

  afterAll(() => tmp.cleanup());

  const p = (name: string) => parties.get(name)!;
  const file = (name: string, data: string | Uint8Array) => {
    const f = tmp.path(name);
    writeFileSync(f, data);
    return f;
  };
  const signer = () => ({ key: finance.key, certificate: finance.certPem, chain: [issuingPem] });

  const opensslDecrypt = (input: string, who: Party, out: string) =>
    runStatus('openssl', ['cms', '-decrypt', '-in', input, '-recip', who.certFile, '-inkey', who.keyFile, '-out', out]);
  const opensslVerify = (input: string, out: string) =>
    runStatus('openssl', ['cms', '-verify', '-in', input, '-CAfile', rootFile, '-purpose', 'smimesign', '-out', out]);

  // ------------------------------------------------------- mailpki signs + encrypts, OpenSSL opens

  const mailpkiCases: { recipient: string; contentEncryption: ContentEncryptionAlgorithm; keyTransport?: 'rsa-oaep' | 'rsa-pkcs1' }[] = [
    { recipient: 'rsa', contentEncryption: 'aes-256-gcm', keyTransport: 'rsa-oaep' },
    { recipient: 'rsa', contentEncryption: 'aes-128-gcm', keyTransport: 'rsa-pkcs1' },
    { recipient: 'rsa', contentEncryption: 'aes-256-cbc', keyTransport: 'rsa-oaep' },
    { recipient: 'rsa', contentEncryption: 'aes-128-cbc', keyTransport: 'rsa-pkcs1' },
    { recipient: 'p256', contentEncryption: 'aes-256-gcm' },
    { recipient: 'p256', contentEncryption: 'aes-128-cbc' },
    { recipient: 'p384', contentEncryption: 'aes-256-gcm' },
    { recipient: 'p384', contentEncryption: 'aes-256-cbc' },
  ];

  for (const c of mailpkiCases) {
    const name = `${c.recipient} ${c.keyTransport ?? 'ecdh'} ${c.contentEncryption}`;
    it(`mailpki signAndEncrypt → openssl cms -decrypt → openssl cms -verify: ${name}; a changed byte fails`, async () => {
      const eml = new TextDecoder('latin1').decode(
        await signAndEncrypt(message(), signer(), [p(c.recipient).certPem], {
          contentEncryption: c.contentEncryption,
          ...(c.keyTransport && { keyTransport: c.keyTransport }),
          trustAnchors: [rootPem],
          intermediates: [issuingPem],
        }),
      );
      const base = `m-${c.recipient}-${c.contentEncryption}-${c.keyTransport ?? 'ecdh'}.eml`;
      const encFile = file(base, eml);
      const decFile = `${encFile}.dec`;
      const dec = opensslDecrypt(encFile, p(c.recipient), decFile);
      expect(dec.stderr).toBe('');
      expect(dec.status).toBe(0);
      const outFile = `${encFile}.txt`;
      const ver = opensslVerify(decFile, outFile);
      expect(ver.stderr).toMatch(/Verification successful/);
      expect(ver.status).toBe(0);
      // The signed part carries the protected header fields (RFC 9788) and the text.
      const shown = readFileSync(outFile, 'latin1');
      expect(shown).toContain('hp="cipher"');
      expect(shown).toContain('Subject: Payment 2026-031');
      expect(shown).toContain(TEXT);
      // A changed byte: GCM refuses to decrypt; CBC decrypts to garbage that no longer verifies.
      const bad = file(`${base}.bad`, tamper(eml));
      const badDec = opensslDecrypt(bad, p(c.recipient), `${bad}.dec`);
      if (c.contentEncryption.endsWith('-gcm')) expect(badDec.status).not.toBe(0);
      else expect(badDec.status === 0 ? opensslVerify(`${bad}.dec`, '/dev/null').status : 1).not.toBe(0);
    });
  }

  it('mailpki encrypts to three recipients of mixed kinds (RSA-OAEP, ECDH P-256, P-384): OpenSSL opens it with each key', async () => {
    const eml = await encryptMessage(message('approver@example.com'), [p('rsa').certPem, p('p256').certPem, p('p384').certPem], { trustAnchors: [rootPem], intermediates: [issuingPem] });
    const f = file('three.eml', eml);
    for (const who of ['rsa', 'p256', 'p384']) {
      const r = opensslDecrypt(f, p(who), `${f}.${who}`);
      expect(r.status, r.stderr).toBe(0);
      expect(readFileSync(`${f}.${who}`, 'latin1')).toContain(TEXT);
    }
  });

  // ------------------------------------------------------- OpenSSL signs + encrypts, mailpki verifies

  const opensslCases: { recipients: string[]; cipher: string; oaep?: boolean; want: ContentEncryptionAlgorithm }[] = [
    { recipients: ['rsa'], cipher: '-aes-256-gcm', oaep: true, want: 'aes-256-gcm' },
    { recipients: ['rsa'], cipher: '-aes-128-gcm', want: 'aes-128-gcm' },
    { recipients: ['rsa'], cipher: '-aes-256-cbc', oaep: true, want: 'aes-256-cbc' },
    { recipients: ['rsa'], cipher: '-aes-128-cbc', want: 'aes-128-cbc' },
    { recipients: ['p256'], cipher: '-aes-256-gcm', want: 'aes-256-gcm' },
    { recipients: ['p384'], cipher: '-aes-128-cbc', want: 'aes-128-cbc' },
    { recipients: ['rsa', 'p256', 'p384'], cipher: '-aes-256-gcm', want: 'aes-256-gcm' },
  ];

  for (const c of opensslCases) {
    it(`openssl cms -sign + -encrypt ${c.cipher} to ${c.recipients.join('+')}${c.oaep ? ' (OAEP)' : ''} → mailpki verifyMessage with decryptionKeys: valid; changed byte: not`, async () => {
      const content = file(`o-${c.recipients.join('-')}${c.cipher}.txt`, `Content-Type: text/plain; charset=us-ascii\r\n\r\n${TEXT}\r\n`);
      const signedFile = `${content}.signed`;
      const s = runStatus('openssl', ['cms', '-sign', '-signer', finance.certFile, '-inkey', finance.keyFile, '-certfile', issuingFile, '-in', content, '-out', signedFile]);
      expect(s.status, s.stderr).toBe(0);
      const encFile = `${content}.enc`;
      const recipArgs = c.recipients.flatMap((r) => ['-recip', p(r).certFile, ...(r === 'rsa' && c.oaep ? ['-keyopt', 'rsa_padding_mode:oaep'] : [])]);
      const e = runStatus('openssl', [
        'cms', '-encrypt', c.cipher, ...recipArgs,
        '-from', 'Finance <finance@example.com>', '-to', 'approver@example.com', '-subject', 'Payment 2026-031',
        '-in', signedFile, '-out', encFile,
      ]);
      expect(e.status, e.stderr).toBe(0);
      const eml = readFileSync(encFile);
      for (const r of c.recipients) {
        const v = await verifyMessage(eml, { trustAnchors: [rootPem], decryptionKeys: [p(r).decryptionKey] });
        expect(v.problems).toEqual([]);
        expect(v.valid).toBe(true);
        expect(v.layers).toEqual([
          expect.objectContaining({ kind: 'encrypted', opened: true, contentEncryption: c.want, integrityProtected: c.want.endsWith('-gcm'), keyManagement: r === 'rsa' ? (c.oaep ? 'rsa-oaep' : 'rsa-pkcs1') : 'ecdh' }),
          { kind: 'signed', signatureLayer: 0, form: 'detached' },
        ]);
        expect(new TextDecoder('latin1').decode(v.decryptedMessage!)).toContain(TEXT);
      }
      const bad = tamper(new TextDecoder('latin1').decode(eml));
      const v = await verifyMessage(bad, { trustAnchors: [rootPem], decryptionKeys: [p(c.recipients[0]!).decryptionKey] });
      expect(v.valid).toBe(false);
      expect(v.problems.map((x) => x.code)).toContainEqual(expect.stringMatching(c.want.endsWith('-gcm') ? /^SMIME_DECRYPTION_FAILED$/ : /^SMIME_(DECRYPTION_FAILED|SIGNATURE_INVALID|STRUCTURE_INVALID|NOT_SIGNED|CMS_MALFORMED)$/));
      expect(v.decryptedMessage).toBeUndefined(); // GCM: nothing decrypted; CBC: not handed out unsigned (EFAIL)
    });
  }

  it('OpenSSL-encrypted, not signed, CBC: mailpki decrypts (integrityProtected false) and verifyMessage says integrity unknown', async () => {
    const content = file('plain-cbc.txt', `Content-Type: text/plain; charset=us-ascii\r\n\r\n${TEXT}\r\n`);
    const encFile = `${content}.enc`;
    const e = runStatus('openssl', ['cms', '-encrypt', '-aes-256-cbc', '-recip', p('p256').certFile, '-from', 'finance@example.com', '-to', 'approver@example.com', '-in', content, '-out', encFile]);
    expect(e.status, e.stderr).toBe(0);
    const d = await decryptMessage(readFileSync(encFile), { keys: [p('p256').decryptionKey] });
    expect(d).toMatchObject({ contentEncryption: 'aes-256-cbc', integrityProtected: false, keyManagement: 'ecdh' });
    const v = await verifyMessage(readFileSync(encFile), { trustAnchors: [rootPem], decryptionKeys: [p('p256').decryptionKey] });
    expect(v.valid).toBe(false);
    expect(v.problems.map((x) => x.code).sort()).toEqual(['SMIME_INTEGRITY_UNKNOWN', 'SMIME_NOT_SIGNED']);
  });
});
