/**
 * RFC 9788 header protection with a real peer, both directions:
 * - RFC 9788's own Cryptographic Payloads (test/vectors/rfc9788: Appendix C smime-signed-enc-hp-baseline,
 *   Appendix E.1 legacy display), signed and encrypted by OpenSSL under the outer header their HP-Outer
 *   record says was sent → mailpki reads the protected fields, the obscured Subject as the sender's,
 *   a changed outer Subject as changed, and the legacy display part;
 * - mailpki signAndEncrypt (hp="cipher" with its HP-Outer record) → `openssl cms -decrypt` and
 *   `-verify` accept it and show the record.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LocalCA } from '../../src/ca/local-ca.js';
import { MemoryCaStorage } from '../../src/ca/storage.js';
import { importDecryptionKey } from '../../src/cms/index.js';
import { encodePem } from '../../src/internal/pem.js';
import { exportPkcs8Pem, exportSpki, generateKeyPair, type KeyType } from '../../src/keys/index.js';
import { getHeaders, parseMessage } from '../../src/mime/index.js';
import { decryptMessage, signAndEncrypt, verifyMessage, type SmimeDecryptionKey } from '../../src/smime/index.js';
import { describeWithPeers, runStatus, tempDir } from '../helpers/peers.js';

const VECTORS = new URL('../vectors/rfc9788/', import.meta.url);
const vector = (name: string) => readFileSync(new URL(name, VECTORS), 'latin1');

/** The outer header a sender wrote, read back from the payload's HP-Outer record (RFC 9788 §2.2). */
function outerFromRecord(payload: string): string {
  return getHeaders(parseMessage(payload), 'HP-Outer')
    .map((h) => `${h.value}\r\n`)
    .join('');
}

interface Party {
  certPem: string;
  certFile: string;
  keyFile: string;
  key: CryptoKey;
  decryptionKey: SmimeDecryptionKey;
}

describeWithPeers('RFC 9788 header protection with OpenSSL', ['openssl'], () => {
  const tmp = tempDir('mailpki-rfc9788-');
  let ca: LocalCA;
  let rootPem: string;
  let issuingPem: string;
  const rootFile = tmp.path('root.pem');
  const issuingFile = tmp.path('issuing.pem');
  let alice: Party;
  let bob: Party;

  async function party(name: string, mailbox: string, type: KeyType): Promise<Party> {
    const pair = await generateKeyPair(type, { extractable: true });
    const issued = await ca.issue({ mailbox, publicKey: await exportSpki(pair.publicKey), usage: 'dual-use' });
    const certPem = encodePem('CERTIFICATE', issued.certificate);
    const keyPem = await exportPkcs8Pem(pair.privateKey);
    const certFile = tmp.path(`${name}.pem`);
    const keyFile = tmp.path(`${name}.key`);
    writeFileSync(certFile, certPem);
    writeFileSync(keyFile, keyPem, { mode: 0o600 });
    return { certPem, certFile, keyFile, key: pair.privateKey, decryptionKey: await importDecryptionKey(keyPem, certPem) };
  }

  beforeAll(async () => {
    ca = await LocalCA.create(new MemoryCaStorage(), { name: 'mailpki RFC 9788 interop', keyType: 'ec-p256' });
    rootPem = encodePem('CERTIFICATE', ca.rootCertificate.der);
    issuingPem = encodePem('CERTIFICATE', ca.issuingCertificate.der);
    writeFileSync(rootFile, rootPem);
    writeFileSync(issuingFile, issuingPem);
    alice = await party('alice', 'alice@smime.example', 'ec-p256');
    bob = await party('bob', 'bob@smime.example', 'rsa-2048');
  }, 60_000);

  afterAll(() => tmp.cleanup());

  /** OpenSSL signs (when `signer`) and encrypts `payload` to Bob (AES-256-GCM); the outer header is `outer`. */
  function opensslSeal(name: string, payload: string, outer: string, signer?: Party): Buffer {
    const input = tmp.path(`${name}.payload`);
    writeFileSync(input, payload, 'latin1');
    let toEncrypt = input;
    if (signer) {
      toEncrypt = `${input}.signed`;
      const s = runStatus('openssl', ['cms', '-sign', '-signer', signer.certFile, '-inkey', signer.keyFile, '-certfile', issuingFile, '-in', input, '-out', toEncrypt]);
      expect(s.status, s.stderr).toBe(0);
    }
    const enc = `${input}.enc`;
    const e = runStatus('openssl', ['cms', '-encrypt', '-aes-256-gcm', '-recip', bob.certFile, '-in', toEncrypt, '-out', enc]);
    expect(e.status, e.stderr).toBe(0);
    // OpenSSL writes MIME-Version and the pkcs7-mime fields; the sender's outer fields go before them.
    return Buffer.concat([Buffer.from(outer, 'latin1'), readFileSync(enc)]);
  }

  it('Appendix C smime-signed-enc-hp-baseline, signed and encrypted by OpenSSL: valid, Subject obscured by the sender, the protected fields shown', async () => {
    const payload = vector('c-smime-signed-enc-hp-baseline.payload.eml');
    const outer = outerFromRecord(payload);
    expect(outer).toContain('Subject: [...]\r\n');
    const eml = opensslSeal('c', payload, outer, alice);
    const v = await verifyMessage(eml, { trustAnchors: [rootPem], decryptionKeys: [bob.decryptionKey] });
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
    expect(v.warnings).toEqual([]);
    expect(v.headerProtection).toEqual([
      {
        hp: 'cipher',
        where: 'the signed part',
        fields: [
          { name: 'MIME-Version', value: '1.0' },
          { name: 'Subject', value: 'smime-signed-enc-hp-baseline' },
          { name: 'Message-ID', value: '<smime-signed-enc-hp-baseline@example>' },
          { name: 'From', value: 'Alice <alice@smime.example>' },
          { name: 'To', value: 'Bob <bob@smime.example>' },
          { name: 'Date', value: 'Sat, 20 Feb 2021 10:09:02 -0500' },
          { name: 'User-Agent', value: 'Sample MUA Version 1.0' },
        ],
        sentOuter: [
          { name: 'Subject', value: '[...]' },
          { name: 'Message-ID', value: '<smime-signed-enc-hp-baseline@example>' },
          { name: 'From', value: 'Alice <alice@smime.example>' },
          { name: 'To', value: 'Bob <bob@smime.example>' },
          { name: 'Date', value: 'Sat, 20 Feb 2021 10:09:02 -0500' },
          { name: 'User-Agent', value: 'Sample MUA Version 1.0' },
        ],
        confidential: ['Subject'],
        differences: [{ name: 'Subject', outer: ['[...]'], protected: ['smime-signed-enc-hp-baseline'], cause: 'obscured' }],
        legacyDisplayParts: [],
      },
    ]);
    const shown = parseMessage(v.decryptedMessage!);
    expect(getHeaders(shown, 'Subject').map((h) => h.value)).toEqual(['smime-signed-enc-hp-baseline']);
    expect(getHeaders(shown, 'From').map((h) => h.value)).toEqual(['Alice <alice@smime.example>']);

    // The same message with its outer Subject rewritten in transit: still valid, the change named.
    const changed = Buffer.from(eml.toString('latin1').replace('Subject: [...]', 'Subject: Re: invoice overdue'), 'latin1');
    const w = await verifyMessage(changed, { trustAnchors: [rootPem], decryptionKeys: [bob.decryptionKey] });
    expect(w.valid).toBe(true);
    expect(w.headerProtection[0]!.differences).toEqual([
      { name: 'Subject', outer: ['Re: invoice overdue'], protected: ['smime-signed-enc-hp-baseline'], cause: 'changed', sent: ['[...]'] },
    ]);
    expect(w.warnings.map((x) => [x.code, x.header])).toEqual([['SMIME_OUTER_HEADER_MISMATCH', 'Subject']]);
  });

  it('Appendix E.1 (legacy display), encrypted by OpenSSL: decryptMessage names the legacy display part, Subject obscured', async () => {
    const payload = vector('e1-text-plain-legacy-display.payload.eml');
    const eml = opensslSeal('e1', payload, outerFromRecord(payload));
    const d = await decryptMessage(eml, { keys: [bob.decryptionKey] });
    expect(d.headerProtection).toMatchObject({
      hp: 'cipher',
      where: 'the encrypted part',
      differences: [{ name: 'Subject', outer: ['[...]'], protected: ['Dinner plans'], cause: 'obscured' }],
      legacyDisplayParts: [[]],
    });
    expect(d.headerProtection!.sentOuter!.map((h) => h.name)).toEqual(['Date', 'From', 'To', 'Subject', 'Message-ID']);
    expect(d.headerProtection!.confidential).toEqual(['Subject']);
    // Decrypted bytes are handed out as encrypted: the element stays for the renderer to hide.
    expect(new TextDecoder('latin1').decode(d.entity)).toContain('\r\n\r\nSubject: Dinner plans\r\n\r\nLet\'s meet');
  });

  it('mailpki signAndEncrypt → openssl cms -decrypt and -verify: accepted, the HP-Outer record inside the signed part', async () => {
    const message = `From: Alice <alice@smime.example>\r\nTo: Bob <bob@smime.example>\r\nSubject: Dinner plans\r\nDate: Fri, 21 Jan 2022 20:40:48 -0500\r\nMessage-ID: <m1@smime.example>\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nLet's meet at 8pm.\r\n`;
    const eml = await signAndEncrypt(message, { key: alice.key, certificate: alice.certPem, chain: [issuingPem] }, [bob.certPem], { trustAnchors: [rootPem], intermediates: [issuingPem] });
    const encFile = tmp.path('m.eml');
    writeFileSync(encFile, eml);
    const dec = runStatus('openssl', ['cms', '-decrypt', '-in', encFile, '-recip', bob.certFile, '-inkey', bob.keyFile, '-out', `${encFile}.dec`]);
    expect(dec.status, dec.stderr).toBe(0);
    const ver = runStatus('openssl', ['cms', '-verify', '-in', `${encFile}.dec`, '-CAfile', rootFile, '-purpose', 'smimesign', '-out', `${encFile}.txt`]);
    expect(ver.stderr).toMatch(/Verification successful/);
    expect(ver.status).toBe(0);
    const signed = readFileSync(`${encFile}.txt`, 'latin1');
    expect(signed).toContain('HP-Outer: Subject: [...]\r\n');
    expect(signed).toContain('HP-Outer: From: Alice <alice@smime.example>\r\n');
    expect(signed).toContain('Subject: Dinner plans\r\n');
    expect(signed).toContain('hp="cipher"');
  });
});
