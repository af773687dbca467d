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
import { parseCertificate, type Certificate } from '../src/certs/certificate.js';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { decryptData, encryptData, importDecryptionKey, type CmsDecryptionKey } from '../src/cms/index.js';
import { nodeAesGcm } from '../src/node/aes-gcm.js';
import { measure, report } from './harness.js';

// A full GC before each large measurement, so peak memory is what that call added, not earlier garbage.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
setFlagsFromString('--no-expose-gc');

const subtle = globalThis.crypto.subtle;

function openssl(args: string[]): number {
  const t = performance.now();
  const r = spawnSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  return performance.now() - t;
}

/** Wall and CPU time (every thread of the process: WebCrypto runs on the libuv pool) of `fn`, after a full GC. */
async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number; cpuMs: number }> {
  gc();
  const cpu = process.cpuUsage();
  const t = performance.now();
  const value = await fn();
  const ms = performance.now() - t;
  const used = process.cpuUsage(cpu);
  return { value, ms, cpuMs: (used.user + used.system) / 1000 };
}

/**
 * The peak RSS `fn` adds above where RSS was when it started (after a full GC), sampled every
 * millisecond by a worker thread: node:crypto work (nodeAesGcm, the baseline) blocks the main
 * thread, where a timer would miss the peak. Run apart from the timed rounds (the sampler costs CPU).
 */
async function peakRss(fn: () => Promise<unknown>): Promise<number> {
  const peak = new Int32Array(new SharedArrayBuffer(4));
  const sampler = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads'); const a = new Int32Array(workerData);
     setInterval(() => { const mib = Math.ceil(process.memoryUsage.rss() / 1048576); if (mib > Atomics.load(a, 0)) Atomics.store(a, 0, mib); }, 1);
     parentPort.postMessage('ready');`,
    { eval: true, workerData: peak.buffer },
  );
  try {
    await new Promise((resolve) => sampler.once('message', resolve));
    // Twice, with a pause: backing stores of earlier garbage are freed by a background thread after a GC.
    gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
    gc();
    const start = Math.ceil(process.memoryUsage.rss() / 2 ** 20);
    Atomics.store(peak, 0, start);
    await fn();
    await new Promise((resolve) => setTimeout(resolve, 5)); // the sampler's last look
    return Math.max(0, Atomics.load(peak, 0) - start);
  } finally {
    await sampler.terminate();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const range = (xs: number[], digits = 0) => `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;

/** Timed rounds of the 50 MiB section (MAILPKI_BENCH_ROUNDS): the machine is shared, so ranges, not one number. */
const ROUNDS = Number(process.env.MAILPKI_BENCH_ROUNDS ?? 5);

export async function benchCmsEncrypt(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mailpki-bench-cms-'));
  try {
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'rsa.key'), '-out', join(dir, 'rsa.pem'), '-subj', '/CN=bench rsa', '-days', '2']);
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'p256.key'), '-out', join(dir, 'p256.pem'), '-subj', '/CN=bench p256', '-days', '2']);
    const rsaCert = parseCertificate(readFileSync(join(dir, 'rsa.pem'), 'utf8'));
    const ecCert = parseCertificate(readFileSync(join(dir, 'p256.pem'), 'utf8'));
    const rsaKey = await importDecryptionKey(readFileSync(join(dir, 'rsa.key'), 'utf8'), rsaCert);
    const ecKey = await importDecryptionKey(readFileSync(join(dir, 'p256.key'), 'utf8'), ecCert);
    // `npm run bench cms-encrypt large`: the 50 MiB section alone
    if (process.argv[3] !== 'large') await benchSmall(rsaCert, rsaKey, ecCert, ecKey);
    await benchLarge(dir, rsaCert, rsaKey);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchSmall(rsaCert: Certificate, rsaKey: CmsDecryptionKey, ecCert: Certificate, ecKey: CmsDecryptionKey): Promise<void> {
  {

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

  }
}

async function benchLarge(dir: string, rsaCert: Certificate, rsaKey: CmsDecryptionKey): Promise<void> {
  const big = randomBytes(50 * 2 ** 20);
  const bigFile = join(dir, 'big.bin');
  writeFileSync(bigFile, big);
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const aesGcm = nodeAesGcm();
  // The baseline: what a Node program does to AES-256-GCM the same bytes into one buffer.
  let tag: Buffer | undefined;
  const nodeEncrypt = async () => {
    const c = createCipheriv('aes-256-gcm', key, iv);
    const ct = Buffer.concat([c.update(big), c.final()]);
    tag = c.getAuthTag();
    return ct;
  };
  const nodeDecrypt = async (ct: Uint8Array) => {
    const d = createDecipheriv('aes-256-gcm', key, iv);
    d.setAuthTag(tag!);
    return Buffer.concat([d.update(ct), d.final()]);
  };
  const paths = {
    'node:crypto AES-256-GCM encrypt (+concat)': { enc: true, run: nodeEncrypt },
    'encryptData (WebCrypto)': { enc: true, run: () => encryptData(big, [{ certificate: rsaCert }]) },
    'encryptData ({ aesGcm: nodeAesGcm() })': { enc: true, run: () => encryptData(big, [{ certificate: rsaCert }], { aesGcm }) },
    'node:crypto AES-256-GCM decrypt (+concat)': { enc: false, run: () => nodeDecrypt(nodeCt) },
    'decryptData (WebCrypto)': { enc: false, run: async () => (await decryptData(sealed, [rsaKey])).content },
    'decryptData ({ aesGcm: nodeAesGcm() })': { enc: false, run: async () => (await decryptData(sealed, [rsaKey], { aesGcm })).content },
  };
  const nodeCt = await nodeEncrypt();
  const sealed = await encryptData(big, [{ certificate: rsaCert }]);
  for (const d of [await decryptData(sealed, [rsaKey]), await decryptData(await encryptData(big, [{ certificate: rsaCert }], { aesGcm }), [rsaKey], { aesGcm })])
    if (!Buffer.from(d.content.buffer, d.content.byteOffset, d.content.length).equals(big)) throw new Error('50 MiB round trip failed');

  type Row = { ms: number[]; cpuMs: number[]; ratio: number[]; cpuRatio: number[]; rssMiB: number };
  const rows = new Map<string, Row>(Object.keys(paths).map((name) => [name, { ms: [], cpuMs: [], ratio: [], cpuRatio: [], rssMiB: 0 }]));
  for (let round = 0; round < ROUNDS; round++) {
    let base = { ms: 0, cpuMs: 0 };
    for (const [name, p] of Object.entries(paths)) {
      const m = await timed(p.run);
      if (name.startsWith('node:crypto')) base = m;
      const r = rows.get(name)!;
      r.ms.push(m.ms);
      r.cpuMs.push(m.cpuMs);
      r.ratio.push(base.ms / m.ms);
      r.cpuRatio.push(base.cpuMs / m.cpuMs);
    }
  }
  for (const [name, p] of Object.entries(paths)) rows.get(name)!.rssMiB = await peakRss(p.run);

  const encFile = join(dir, 'big.der');
  const osslEnc = [0, 1, 2].map(() => openssl(['cms', '-encrypt', '-binary', '-aes-256-gcm', '-in', bigFile, '-outform', 'DER', '-out', encFile, '-recip', join(dir, 'rsa.pem')]));
  const osslDec = [0, 1, 2].map(() => openssl(['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', encFile, '-recip', join(dir, 'rsa.pem'), '-inkey', join(dir, 'rsa.key'), '-out', join(dir, 'big.out')]));
  const mibps = (ms: number) => (50 / (ms / 1000)).toFixed(0);
  console.log(`\n## CMS 50 MiB, AES-256-GCM, one RSA-2048 recipient (${ROUNDS} rounds; ratio = node:crypto time / ours in the same round, wall and CPU; peak RSS added, one round apart)`);
  for (const [name, p] of Object.entries(paths)) {
    const r = rows.get(name)!;
    const base = name.startsWith('node:crypto');
    console.log(
      `  ${name.padEnd(44)} wall ${range(r.ms).padStart(10)} ms (median ${median(r.ms).toFixed(0)}, ${mibps(median(r.ms)).padStart(3)} MiB/s)` +
        (base ? ' '.repeat(33) : `  ${range(r.ratio, 2)}× (median ${median(r.ratio).toFixed(2)})`) +
        `  CPU median ${median(r.cpuMs).toFixed(0).padStart(4)} ms` +
        (base ? ' '.repeat(29) : `  ${range(r.cpuRatio, 2)}× (median ${median(r.cpuRatio).toFixed(2)})`) +
        `  peak RSS +${r.rssMiB} MiB`,
    );
    if (name.endsWith('nodeAesGcm() })'))
      console.log(`  ${`openssl cms -${p.enc ? 'encrypt' : 'decrypt'} (with process start)`.padEnd(44)} wall ${range(p.enc ? osslEnc : osslDec).padStart(10)} ms (median ${median(p.enc ? osslEnc : osslDec).toFixed(0)})`);
  }
}
