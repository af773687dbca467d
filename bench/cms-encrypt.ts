/**
 * CMS encryption (issue 12): 2 KiB encrypt+decrypt to one RSA-2048 recipient beside raw RSA-OAEP,
 * to one P-256 recipient beside raw ECDH deriveBits; 50 MiB encrypt and decrypt beside node:crypto
 * AES-256-GCM over the same bytes and `openssl cms` on the same file, with peak memory.
 */
import { spawnSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCertificate } from '../src/certs/certificate.js';
import { decryptData, encryptData, importDecryptionKey } from '../src/cms/index.js';
import { measure, report } from './harness.js';

const subtle = globalThis.crypto.subtle;

function openssl(args: string[]): number {
  const t = performance.now();
  const r = spawnSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  return performance.now() - t;
}

/** Peak RSS and ArrayBuffer memory while `fn` runs (sampled every 2 ms; WebCrypto works off the main thread). */
async function withPeak<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number; peakRssMiB: number; peakBuffersMiB: number }> {
  let rss = 0;
  let buffers = 0;
  const sample = () => {
    const m = process.memoryUsage();
    rss = Math.max(rss, m.rss);
    buffers = Math.max(buffers, m.arrayBuffers);
  };
  sample();
  const timer = setInterval(sample, 2);
  const t = performance.now();
  const value = await fn();
  const ms = performance.now() - t;
  clearInterval(timer);
  sample();
  return { value, ms, peakRssMiB: rss / 2 ** 20, peakBuffersMiB: buffers / 2 ** 20 };
}

const best = (xs: number[]) => Math.min(...xs);

export async function benchCmsEncrypt(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mailpki-bench-cms-'));
  try {
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'rsa.key'), '-out', join(dir, 'rsa.pem'), '-subj', '/CN=bench rsa', '-days', '2']);
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'p256.key'), '-out', join(dir, 'p256.pem'), '-subj', '/CN=bench p256', '-days', '2']);
    const rsaCert = parseCertificate(readFileSync(join(dir, 'rsa.pem'), 'utf8'));
    const ecCert = parseCertificate(readFileSync(join(dir, 'p256.pem'), 'utf8'));
    const rsaKey = await importDecryptionKey(readFileSync(join(dir, 'rsa.key'), 'utf8'), rsaCert);
    const ecKey = await importDecryptionKey(readFileSync(join(dir, 'p256.key'), 'utf8'), ecCert);

    // 2 KiB, RSA-2048
    const small = new TextEncoder().encode('Pay 1,250.00 EUR to DE89 3704 0044 0532 0130 00.\r\n'.repeat(41)).subarray(0, 2048);
    const rsaPub = await subtle.importKey('spki', rsaCert.publicKey.spki as Uint8Array<ArrayBuffer>, { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['encrypt']);
    const cek = new Uint8Array(32);
    const rsaRows = [
      await measure('raw RSA-OAEP-2048 encrypt+decrypt (32-byte key)', async () => subtle.decrypt('RSA-OAEP', rsaKey.privateKey, await subtle.encrypt('RSA-OAEP', rsaPub, cek)), 500),
      await measure('encryptData+decryptData 2 KiB, RSA-OAEP, AES-256-GCM', async () => decryptData(await encryptData(small, [{ certificate: rsaCert }]), [rsaKey]), 500),
    ];
    report('CMS encrypt+decrypt 2 KiB to one RSA-2048 recipient', rsaRows, rsaRows[0]);
    const rsaEnc = [
      await measure('raw RSA-OAEP-2048 encrypt', () => subtle.encrypt('RSA-OAEP', rsaPub, cek), 500),
      await measure('encryptData 2 KiB, RSA-OAEP', () => encryptData(small, [{ certificate: rsaCert }]), 500),
    ];
    report('CMS encrypt 2 KiB, RSA-2048', rsaEnc, rsaEnc[0]);
    const rsaMsg = await encryptData(small, [{ certificate: rsaCert }]);
    const wrapped = await subtle.encrypt('RSA-OAEP', rsaPub, cek);
    const rsaDec = [
      await measure('raw RSA-OAEP-2048 decrypt', () => subtle.decrypt('RSA-OAEP', rsaKey.privateKey, wrapped), 500),
      await measure('decryptData 2 KiB, RSA-OAEP', () => decryptData(rsaMsg, [rsaKey]), 500),
    ];
    report('CMS decrypt 2 KiB, RSA-2048', rsaDec, rsaDec[0]);
    const pkcs1Msg = await encryptData(small, [{ certificate: rsaCert, keyTransport: 'rsa-pkcs1' }]);
    report('CMS decrypt 2 KiB, RSA PKCS#1 v1.5 (BigInt RSA with blinding, no WebCrypto path)', [
      rsaDec[0]!,
      await measure('decryptData 2 KiB, RSA PKCS#1 v1.5', () => decryptData(pkcs1Msg, [rsaKey]), 500),
    ], rsaDec[0]);

    // 2 KiB, ECDH P-256: an ephemeral key and one deriveBits to encrypt, one deriveBits to decrypt
    const ecPub = await subtle.importKey('spki', ecCert.publicKey.spki as Uint8Array<ArrayBuffer>, { name: 'ECDH', namedCurve: 'P-256' }, false, []);
    const eph = (await subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits'])) as CryptoKeyPair;
    const ecRows = [
      await measure('raw P-256 generateKey + 2× deriveBits', async () => {
        const e = (await subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits'])) as CryptoKeyPair;
        await subtle.deriveBits({ name: 'ECDH', public: ecPub }, e.privateKey, 256);
        await subtle.deriveBits({ name: 'ECDH', public: eph.publicKey }, ecKey.privateKey, 256);
      }, 500),
      await measure('encryptData+decryptData 2 KiB, ECDH P-256, AES-256-GCM', async () => decryptData(await encryptData(small, [{ certificate: ecCert }]), [ecKey]), 500),
    ];
    report('CMS encrypt+decrypt 2 KiB to one P-256 recipient', ecRows, ecRows[0]);
    const ecMsg = await encryptData(small, [{ certificate: ecCert }]);
    const ecDec = [
      await measure('raw P-256 deriveBits', () => subtle.deriveBits({ name: 'ECDH', public: eph.publicKey }, ecKey.privateKey, 256), 500),
      await measure('decryptData 2 KiB, ECDH P-256', () => decryptData(ecMsg, [ecKey]), 500),
    ];
    report('CMS decrypt 2 KiB, ECDH P-256', ecDec, ecDec[0]);

    // 50 MiB
    const big = randomBytes(50 * 2 ** 20);
    const bigFile = join(dir, 'big.bin');
    writeFileSync(bigFile, big);
    const key = randomBytes(32);
    const iv = randomBytes(12);
    const nodeEnc: number[] = [];
    const nodeDec: number[] = [];
    const ourEnc: number[] = [];
    const ourDec: number[] = [];
    let encPeak = { peakRssMiB: 0, peakBuffersMiB: 0 };
    let decPeak = { peakRssMiB: 0, peakBuffersMiB: 0 };
    for (let round = 0; round < 3; round++) {
      let t = performance.now();
      const c = createCipheriv('aes-256-gcm', key, iv);
      const ct = Buffer.concat([c.update(big), c.final()]);
      const tag = c.getAuthTag();
      nodeEnc.push(performance.now() - t);
      t = performance.now();
      const d = createDecipheriv('aes-256-gcm', key, iv);
      d.setAuthTag(tag);
      Buffer.concat([d.update(ct), d.final()]);
      nodeDec.push(performance.now() - t);

      const e = await withPeak(() => encryptData(big, [{ certificate: rsaCert }]));
      ourEnc.push(e.ms);
      encPeak = { peakRssMiB: Math.max(encPeak.peakRssMiB, e.peakRssMiB), peakBuffersMiB: Math.max(encPeak.peakBuffersMiB, e.peakBuffersMiB) };
      const r = await withPeak(() => decryptData(e.value, [rsaKey]));
      ourDec.push(r.ms);
      decPeak = { peakRssMiB: Math.max(decPeak.peakRssMiB, r.peakRssMiB), peakBuffersMiB: Math.max(decPeak.peakBuffersMiB, r.peakBuffersMiB) };
      if (r.value.content.length !== big.length) throw new Error('50 MiB round trip failed');
    }
    const encFile = join(dir, 'big.der');
    const osslEnc = best([0, 1].map(() => openssl(['cms', '-encrypt', '-binary', '-aes-256-gcm', '-in', bigFile, '-outform', 'DER', '-out', encFile, '-recip', join(dir, 'rsa.pem')])));
    const osslDec = best([0, 1].map(() => openssl(['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', encFile, '-recip', join(dir, 'rsa.pem'), '-inkey', join(dir, 'rsa.key'), '-out', join(dir, 'big.out')])));
    const mibps = (ms: number) => (50 / (ms / 1000)).toFixed(0);
    console.log('\n## CMS 50 MiB, AES-256-GCM, one RSA-2048 recipient (best of 3; openssl best of 2, process start included)');
    console.log(`  node:crypto AES-256-GCM encrypt       ${best(nodeEnc).toFixed(0).padStart(6)} ms  ${mibps(best(nodeEnc))} MiB/s`);
    console.log(`  encryptData                           ${best(ourEnc).toFixed(0).padStart(6)} ms  ${mibps(best(ourEnc))} MiB/s  ${(best(nodeEnc) / best(ourEnc)).toFixed(2)}× node:crypto  peak RSS ${encPeak.peakRssMiB.toFixed(0)} MiB, ArrayBuffers ${encPeak.peakBuffersMiB.toFixed(0)} MiB`);
    console.log(`  openssl cms -encrypt                  ${osslEnc.toFixed(0).padStart(6)} ms  ${mibps(osslEnc)} MiB/s`);
    console.log(`  node:crypto AES-256-GCM decrypt       ${best(nodeDec).toFixed(0).padStart(6)} ms  ${mibps(best(nodeDec))} MiB/s`);
    console.log(`  decryptData                           ${best(ourDec).toFixed(0).padStart(6)} ms  ${mibps(best(ourDec))} MiB/s  ${(best(nodeDec) / best(ourDec)).toFixed(2)}× node:crypto  peak RSS ${decPeak.peakRssMiB.toFixed(0)} MiB, ArrayBuffers ${decPeak.peakBuffersMiB.toFixed(0)} MiB`);
    console.log(`  openssl cms -decrypt                  ${osslDec.toFixed(0).padStart(6)} ms  ${mibps(osslDec)} MiB/s`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
