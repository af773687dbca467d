/** Regressions from the attack on the evidence change (h/atk-evidence): what an unauthenticated sender can make the evidence store keep. */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MemoryEvidenceStore } from '../../src/filter/evidence.js';
import { createFilter, type RunningFilter } from '../../src/node/filter.js';
import type { Verdict } from '../../src/smime/verdict.js';
import { run, tempDir } from '../helpers/peers.js';

const SIGNERS = 16; // verification's default maxSigners
const t = tempDir('mailpki-atk-evidence-');
let sinkPort = 0;
let sink: SMTPServer;
let filter: RunningFilter;
const evidence = new MemoryEvidenceStore();

/** A self-made certificate (no CA issued it) of about 58 KB: a 58 000-character nsComment. */
function bigSelfSigned(n: number): { cert: string; key: string } {
  const key = t.path(`k${n}.pem`);
  const cert = t.path(`c${n}.pem`);
  run('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  const comment = randomBytes(43_500).toString('base64').replace(/[+/=]/g, 'x');
  writeFileSync(t.path(`c${n}.cnf`), `[req]\ndistinguished_name=dn\n[dn]\n[ext]\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nsubjectAltName=email:evil@example.com\nnsComment=${comment}\n`);
  run('openssl', ['req', '-x509', '-new', '-key', key, '-subj', `/CN=evil ${n}`, '-days', '30', '-config', t.path(`c${n}.cnf`), '-extensions', 'ext', '-out', cert]);
  return { cert, key };
}

beforeAll(async () => {
  sink = new SMTPServer({ authOptional: true, disabledCommands: ['AUTH', 'STARTTLS'], logger: false, onData: (s, _x, cb) => (s.resume(), s.on('end', () => cb())) });
  sinkPort = await new Promise<number>((r) => sink.listen(0, '127.0.0.1', () => r((sink.server.address() as { port: number }).port)));
  // The trust anchor: a CA none of the signers chains to.
  run('openssl', ['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', t.path('ca.key'), '-subj', '/CN=Real CA', '-days', '30', '-out', t.path('ca.pem')]);
  filter = await createFilter({
    listen: { port: 0 },
    reinject: { port: sinkPort },
    authservId: 'filter.example.test',
    evidence,
    smime: { trustAnchors: [readFileSync(t.path('ca.pem'), 'latin1')] },
    policy: { version: 1, rules: [{ recipients: ['example.com'], require: { smime: true }, otherwise: 'reject' }] },
  });
}, 60_000);
afterAll(async () => {
  await filter?.close(1000);
  await new Promise<void>((r) => sink.close(() => r()));
  t.cleanup();
});

it('evidence: a message signed by 16 self-made 58 KB certificates (no trust anchor) and rejected no longer makes its record keep ~1 MB of the sender\'s bytes; the verdict still names each by fingerprint', async () => {
  writeFileSync(t.path('body.txt'), 'Content-Type: text/plain\r\n\r\nhello\r\n');
  const signerArgs = Array.from({ length: SIGNERS }, (_, n) => bigSelfSigned(n)).flatMap(({ cert, key }) => ['-signer', cert, '-inkey', key]);
  run('openssl', ['cms', '-sign', '-in', t.path('body.txt'), ...signerArgs, '-from', 'evil@example.com', '-to', 'ap@example.com', '-subject', 'invoice', '-out', t.path('signed.eml')]);
  const raw = readFileSync(t.path('signed.eml'), 'latin1').replace(/\r?\n/g, '\r\n').replace(/^/, 'Message-ID: <big-certs@example.com>\r\n');
  const client = nodemailer.createTransport({ host: '127.0.0.1', port: filter.port, secure: false, ignoreTLS: true });
  const sent = await client.sendMail({ envelope: { from: 'evil@example.com', to: ['ap@example.com'] }, raw }).then(
    () => 'accepted',
    (e: { responseCode?: number }) => e.responseCode,
  );
  client.close();
  expect(sent).toBe(550);
  const [rec] = await evidence.list({ messageId: '<big-certs@example.com>' });
  const verdict = rec!.smime.verdict as Verdict;
  expect(verdict.signers).toHaveLength(SIGNERS);
  expect(verdict.signers.every((s) => s.chain && !s.chain.ok && /^[0-9a-f]{64}$/.test(s.certificate!.sha256!))).toBe(true);
  const kept = (rec!.certificates ?? []).reduce((n, c) => n + c.der.length, 0);
  // Was: 16 certificates, 1.24 MB of base64, kept for --retention-days (400) for a message no trust anchor vouched for.
  expect(kept).toBe(0);
}, 120_000);
