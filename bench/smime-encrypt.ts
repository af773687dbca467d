/**
 * S/MIME at message level with encryption (issue 12): signAndEncrypt of a 2 KiB payment instruction
 * and verifyMessage that decrypts and verifies it, per recipient key kind, beside signing + verifying
 * alone (what the encryption layer adds) and beside the raw key operation the recipient pays
 * (RSA-OAEP encrypt + decrypt, or ECDH deriveBits twice: ephemeral-static on both sides).
 */
import { LocalCA, MemoryCaStorage } from '../src/ca/index.js';
import { parseCertificate } from '../src/certs/certificate.js';
import { importDecryptionKey } from '../src/cms/index.js';
import { copyBytes } from '../src/internal/bytes.js';
import { exportSpki, generateKeyPair } from '../src/keys/index.js';
import { signAndEncrypt, signMessage, verifyMessage } from '../src/smime/index.js';
import { measure, report } from './harness.js';

function message2k(): string {
  const line = 'Please pay 1,250.00 EUR to IBAN DE89 3704 0044 0532 0130 00, reference INV-2026-118.\r\n';
  const body = line.repeat(Math.ceil(2048 / line.length)).slice(0, 2048);
  return `From: payments@example.com\r\nTo: approver@example.com\r\nSubject: Payment\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n${body}`;
}

export async function benchSmimeEncrypt(): Promise<void> {
  const ca = await LocalCA.create(new MemoryCaStorage(), { allowedDomains: ['example.com'] });
  const anchors = [ca.rootCertificate];
  const intermediates = [ca.issuingCertificate];
  const message = message2k();
  const signerKeys = await generateKeyPair('ec-p256');
  const signerIssued = await ca.issue({ mailbox: 'payments@example.com', publicKey: await exportSpki(signerKeys.publicKey) });
  const signer = { key: signerKeys.privateKey, certificate: parseCertificate(signerIssued.certificate), chain: intermediates };
  const plain = await measure('signMessage + verifyMessage (no encryption)', async () => {
    const s = await signMessage(message, signer);
    if (!(await verifyMessage(s, { trustAnchors: anchors })).valid) throw new Error('not valid');
  }, 1000);

  for (const keyType of ['rsa-2048', 'ec-p256'] as const) {
    const keys = await generateKeyPair(keyType, { extractable: true });
    const issued = await ca.issue({ mailbox: 'approver@example.com', publicKey: await exportSpki(keys.publicKey) });
    const certificate = parseCertificate(issued.certificate);
    // As a mail reader holds it: imported once for decryption (RSA-OAEP / ECDH usage).
    const decryptionKeys = [await importDecryptionKey(new Uint8Array(await crypto.subtle.exportKey('pkcs8', keys.privateKey)), certificate)];
    const sealed = await signAndEncrypt(message, signer, [certificate], { trustAnchors: anchors, intermediates });
    if (!(await verifyMessage(sealed, { trustAnchors: anchors, decryptionKeys })).valid) throw new Error('not valid');

    const enc = await measure(`signAndEncrypt 2 KiB to ${keyType}`, () => signAndEncrypt(message, signer, [certificate], { trustAnchors: anchors, intermediates }), 1000);
    const dec = await measure(`verifyMessage + decrypt 2 KiB (${keyType})`, async () => {
      if (!(await verifyMessage(sealed, { trustAnchors: anchors, decryptionKeys })).valid) throw new Error('not valid');
    }, 1000);
    const both = await measure(`signAndEncrypt + verifyMessage with decryption (${keyType})`, async () => {
      const s = await signAndEncrypt(message, signer, [certificate], { trustAnchors: anchors, intermediates });
      if (!(await verifyMessage(s, { trustAnchors: anchors, decryptionKeys })).valid) throw new Error('not valid');
    }, 1000);
    let raw;
    if (keyType === 'rsa-2048') {
      const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
      const priv = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['decrypt']);
      const pub = await crypto.subtle.importKey('spki', copyBytes(certificate.publicKey.spki), { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['encrypt']);
      const cek = crypto.getRandomValues(new Uint8Array(32));
      raw = await measure('raw RSA-OAEP encrypt + decrypt of a 32-byte key', async () => crypto.subtle.decrypt({ name: 'RSA-OAEP' }, priv, await crypto.subtle.encrypt({ name: 'RSA-OAEP' }, pub, cek)), 1000);
    } else {
      const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
      const priv = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
      const pub = await crypto.subtle.importKey('spki', copyBytes(certificate.publicKey.spki), { name: 'ECDH', namedCurve: 'P-256' }, false, []);
      raw = await measure('raw ECDH: ephemeral key + 2 × deriveBits', async () => {
        const eph = (await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits'])) as CryptoKeyPair;
        await crypto.subtle.deriveBits({ name: 'ECDH', public: pub }, eph.privateKey, 256);
        await crypto.subtle.deriveBits({ name: 'ECDH', public: eph.publicKey }, priv, 256);
      }, 1000);
    }
    report(`S/MIME sign+encrypt and decrypt+verify, 2 KiB, recipient ${keyType} (ratios against sign + verify alone)`, [plain, enc, dec, both, raw], plain);
  }
}
