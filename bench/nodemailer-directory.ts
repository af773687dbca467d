/**
 * mailpkiPlugin({ encrypt }) with a directory of recipient certificates (issue 13): per-message time of the plugin
 * (preflight, sign, encrypt; nodemailer's stream transport, no network), and of its preflight alone (as the plugin
 * runs it: configuration parsed once), when `encrypt.recipients` holds the one reader's certificate, beside the same
 * with 5000 other certificates in the list. The message is to one reader, so the difference is what the list costs.
 */
import nodemailer from 'nodemailer';
import { LocalCA, MemoryCaStorage } from '../src/ca/index.js';
import { parseCertificate, type Certificate } from '../src/certs/certificate.js';
import { exportSpki, generateKeyPair } from '../src/keys/index.js';
import { mailpkiPlugin } from '../src/nodemailer/index.js';
import { evaluatePreflight, parseConfigCertificates } from '../src/nodemailer/preflight.js';
import { RevocationChecker } from '../src/revocation/index.js';
import { measureRounds, reportRounds } from './harness.js';

const DIRECTORY = 5000;
const MAIL = {
  from: 'Payments <payments@example.com>',
  to: 'approvers@example.com',
  subject: 'Payment instruction 2026-118',
  text: 'Please pay 1,250.00 EUR to IBAN DE89 3704 0044 0532 0130 00 by Friday, reference INV-2026-118.\n'.repeat(22),
};

export async function benchNodemailerDirectory(): Promise<void> {
  const ca = await LocalCA.create(new MemoryCaStorage(), { name: 'Bench CA', allowedDomains: ['example.com'] });
  const pair = await generateKeyPair('ec-p256');
  const spki = await exportSpki(pair.publicKey);
  const signer = { key: pair.privateKey, certificate: (await ca.issue({ mailbox: 'payments@example.com', publicKey: spki, profile: 'strict' })).certificate, chain: [ca.issuingCertificate] };
  const reader = parseCertificate((await ca.issue({ mailbox: 'approvers@example.com', publicKey: spki, profile: 'strict' })).certificate);
  const started = performance.now();
  const directory: Certificate[] = [];
  // One key for all: the directory's size is what is measured, not key generation.
  for (let i = 0; i < DIRECTORY; i++) directory.push(parseCertificate((await ca.issue({ mailbox: `person${i}@example.com`, publicKey: spki, profile: 'strict' })).certificate));
  console.log(`\n  (${DIRECTORY} directory certificates issued in ${((performance.now() - started) / 1000).toFixed(1)} s)`);
  const preflight = { trustAnchors: [ca.rootCertificate], intermediates: [ca.issuingCertificate], revocation: { policy: 'off' as const } };
  const transport = (recipients: Certificate[]) => {
    const t = nodemailer.createTransport({ streamTransport: true, buffer: true });
    t.use('stream', mailpkiPlugin({ smime: { signer }, encrypt: { recipients }, preflight }) as (m: unknown, cb: () => void) => void);
    return t;
  };
  const bytes = new TextEncoder().encode(`From: ${MAIL.from}\r\nTo: ${MAIL.to}\r\nSubject: ${MAIL.subject}\r\nMessage-ID: <bench@example.com>\r\n\r\n${MAIL.text}`);
  const checker = () => new RevocationChecker({});
  const config = (recipients: Certificate[]) => parseConfigCertificates({ smime: { signer }, encrypt: { recipients }, ...preflight });
  const [cOne, cMany] = [config([reader]), config([...directory, reader])];
  const pre = await measureRounds(
    [
      { name: 'preflight, the reader\'s certificate', fn: () => evaluatePreflight(bytes, cOne, checker) },
      { name: `preflight, ${DIRECTORY} others + the reader's`, fn: () => evaluatePreflight(bytes, cMany, checker) },
    ],
    { rounds: 5, ms: 300 },
  );
  reportRounds(`the plugin's preflight of a message to one reader, ${DIRECTORY} other certificates configured`, pre, pre[0]!);
  console.log(`  per message: ${(1000 / pre[0]!.opsPerSec).toFixed(2)} ms with 1 certificate, ${(1000 / pre[1]!.opsPerSec).toFixed(2)} ms with ${DIRECTORY + 1}`);

  const one = transport([reader]);
  const many = transport([...directory, reader]);
  const rows = await measureRounds(
    [
      { name: 'encrypt.recipients: the reader\'s certificate', fn: () => one.sendMail(MAIL) },
      { name: `encrypt.recipients: ${DIRECTORY} others + the reader's`, fn: () => many.sendMail(MAIL) },
    ],
    { rounds: 5, ms: 400 },
  );
  reportRounds(`plugin with encrypt, a message to one reader, ${DIRECTORY} other certificates configured (stream transport, no SMTP)`, rows, rows[0]!);
  const ms = (r: (typeof rows)[number]) => 1000 / r.opsPerSec;
  console.log(`  per message: ${ms(rows[0]!).toFixed(2)} ms with 1 certificate, ${ms(rows[1]!).toFixed(2)} ms with ${DIRECTORY + 1}; the list costs ${(ms(rows[1]!) - ms(rows[0]!)).toFixed(2)} ms per message`);
}
