/**
 * `mailpki filter` with decryption keys, as a real process: repeatable --p12/--passphrase-env and
 * --key/--cert/--passphrase-env open signed-then-encrypted inbound mail for its verdict; the message
 * goes on still encrypted and the evidence (--db) never holds the decrypted content.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runStatus, tempDir } from '../helpers/peers.js';
import { cli } from './helpers.js';

const BIN = fileURLToPath(new URL('../../src/cli/bin.ts', import.meta.url));
const t = tempDir('mailpki-cli-filter-decrypt-');
const env = { CA_PW: 'ca pw', APPROVER_PW: 'approver p12 pw', TREASURY_PW: 'treasury key pw', OTHER_PW: 'other pw' };
const ca = t.path('ca');
const IBAN = 'DE89 3704 0044 0532 0130 00';
const message = (to: string, id: string) =>
  `From: Finance <finance@example.com>\r\nTo: ${to}\r\nMessage-ID: <${id}@example.com>\r\nSubject: Payment instruction ${id}\r\n` +
  `Content-Type: text/plain; charset=utf-8\r\n\r\nPlease pay 1,250.00 EUR to ${IBAN} by Friday.\r\n`;

async function issue(name: string, mailbox: string, p12Var: string, keyVar: string) {
  const r = await cli(
    ['issue', '--ca', ca, '--email', mailbox, '--key-type', 'ec-p256', '--usage', 'dual-use', '--out', t.path(name), '--passphrase-env', 'CA_PW',
      '--p12-passphrase-env', p12Var, '--key-passphrase-env', keyVar],
    env,
  );
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}

/** finance signs, then encrypts to `to`'s certificate. */
async function signedAndEncrypted(to: string, id: string): Promise<string> {
  const name = to.split('@')[0]!;
  writeFileSync(t.path(`${id}.eml`), message(to, id));
  const s = await cli(['sign', '--p12', t.path('finance.p12'), '--passphrase-env', 'OTHER_PW', '--to', t.path(`${name}.cert.pem`), '--in', t.path(`${id}.eml`)], env);
  expect(s.stderr).toBe('');
  expect(s.code).toBe(0);
  return s.stdout;
}

const got: string[] = [];
const sink = new SMTPServer({
  authOptional: true,
  disabledCommands: ['AUTH', 'STARTTLS'],
  logger: false,
  onData(stream, _s, cb) {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => (got.push(Buffer.concat(chunks).toString('latin1')), cb()));
  },
});
let child: ChildProcess | undefined;

beforeAll(async () => {
  expect((await cli(['ca', 'init', '--dir', ca, '--domains', 'example.com', '--passphrase-env', 'CA_PW'], env)).code).toBe(0);
  await issue('finance', 'finance@example.com', 'OTHER_PW', 'OTHER_PW');
  await issue('approver', 'approver@example.com', 'APPROVER_PW', 'OTHER_PW');
  await issue('treasury', 'treasury@example.com', 'OTHER_PW', 'TREASURY_PW');
  await issue('stranger', 'stranger@example.com', 'OTHER_PW', 'OTHER_PW');
}, 60_000);

afterAll(async () => {
  child?.kill('SIGTERM');
  await new Promise<void>((r) => sink.close(() => r()));
  t.cleanup();
});

describe('mailpki filter --p12 / --key --cert (real process)', () => {
  it('each --passphrase-env opens the file before it; smime=pass for mail to either key; none of its keys: smime=fail SMIME_DECRYPTION_FAILED; delivered still encrypted; no plaintext in the evidence', async () => {
    const toApprover = await signedAndEncrypted('approver@example.com', 'pay-1');
    const toTreasury = await signedAndEncrypted('treasury@example.com', 'pay-2');
    const toStranger = await signedAndEncrypted('stranger@example.com', 'pay-3');
    const sinkPort = await new Promise<number>((r) => sink.listen(0, '127.0.0.1', () => r((sink.server.address() as { port: number }).port)));
    const db = t.path('evidence.db');
    child = spawn(
      process.execPath,
      ['--import', 'tsx', BIN, 'filter', '--listen', '127.0.0.1:0', '--reinject', `127.0.0.1:${sinkPort}`, '--trust', `${ca}/root.pem`, '--intermediates', t.path('approver.chain.pem'),
        '--authserv-id', 'mx.example.test', '--db', db, '--revocation', 'off',
        '--p12', t.path('approver.p12'), '--passphrase-env', 'APPROVER_PW',
        '--key', t.path('treasury.key.pem'), '--cert', t.path('treasury.cert.pem'), '--passphrase-env', 'TREASURY_PW'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } },
    );
    let out = '';
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    const port = await new Promise<number>((resolve, reject) => {
      child!.stdout!.on('data', (d) => {
        out += d;
        const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child!.on('exit', () => reject(new Error(`filter exited early: ${err}`)));
    });
    expect(out).toContain('2 decryption key(s)');
    const exited = new Promise<number | null>((r) => child!.on('exit', (code) => r(code)));
    const tr = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
    for (const [raw, to] of [[toApprover, 'approver@example.com'], [toTreasury, 'treasury@example.com'], [toStranger, 'stranger@example.com']] as const) {
      const info = await tr.sendMail({ envelope: { from: 'finance@example.com', to: [to] }, raw });
      expect(info.response).toMatch(/^250 2\.0\.0 Ok: verified/);
    }
    tr.close();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    child = undefined;

    expect(got).toHaveLength(3);
    expect(got[0]).toMatch(/^Authentication-Results: mx\.example\.test;\s+smime=pass[^;]*body\.smime-identifier="finance@example\.com"/);
    expect(got[1]).toMatch(/^Authentication-Results: mx\.example\.test;\s+smime=pass[^;]*body\.smime-identifier="finance@example\.com"/);
    expect(got[2]).toMatch(/^Authentication-Results: mx\.example\.test;\s+smime=fail \(SMIME_DECRYPTION_FAILED\);/);
    // Passed on as it came: the original bytes after the one added header, still encrypted.
    for (const [i, raw] of [toApprover, toTreasury, toStranger].entries()) {
      expect(got[i]).toContain('smime-type=authEnveloped-data');
      expect(got[i]).not.toContain(IBAN);
      expect(got[i]!.replace(/^Authentication-Results:[^\r\n]*(\r\n[ \t][^\r\n]*)*\r\n/, '')).toBe(raw);
    }

    const { openSqliteEvidenceStore } = await import('../../src/node/sqlite-evidence.js');
    const store = await openSqliteEvidenceStore(db);
    const records = await store.list();
    await store.close();
    expect(records.map((r) => [r.messageId, r.smime.result])).toEqual([
      ['<pay-1@example.com>', 'pass'],
      ['<pay-2@example.com>', 'pass'],
      ['<pay-3@example.com>', 'fail'],
    ]);
    const stored = readFileSync(db).toString('latin1') + JSON.stringify(records);
    expect(stored).not.toContain(IBAN);
    expect(stored).not.toContain('Please pay');
    expect(stored).not.toContain('decryptedMessage');
    // The Subject went out obscured (header protection): the evidence does not hold the protected one either.
    expect(got[0]).not.toContain('Payment instruction pay-1');
    expect(stored).not.toContain('Payment instruction pay-');

    // An auditor with the export alone: the signer's certificate and chain are in the record
    // (from inside the encryption), and OpenSSL verifies the signer's certificate with them.
    const exported = await cli(['evidence', 'export', '--db', db, '--message-id', '<pay-1@example.com>']);
    expect(exported.code).toBe(0);
    const rec = JSON.parse(exported.stdout) as { certificates: { sha256: string; der: string }[]; smime: { verdict: { signers: { certificate: { sha256: string }; chain: { path: { sha256: string }[] } }[] } } };
    const path = rec.smime.verdict.signers[0]!.chain.path.map((c) => rec.certificates.find((x) => x.sha256 === c.sha256)!);
    expect(path.map((c) => c.sha256)).toEqual(rec.smime.verdict.signers[0]!.chain.path.map((c) => c.sha256));
    expect(path[0]!.sha256).toBe(rec.smime.verdict.signers[0]!.certificate.sha256);
    const pem = (c: { der: string }) => `-----BEGIN CERTIFICATE-----\n${c.der.replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
    writeFileSync(t.path('audit-leaf.pem'), pem(path[0]!));
    writeFileSync(t.path('audit-rest.pem'), path.slice(1, -1).map(pem).join(''));
    writeFileSync(t.path('audit-anchor.pem'), pem(path[path.length - 1]!));
    expect(readFileSync(t.path('audit-anchor.pem'), 'latin1').replace(/\s/g, '')).toBe(readFileSync(`${ca}/root.pem`, 'latin1').replace(/\s/g, ''));
    const verified = runStatus('openssl', ['verify', '-purpose', 'smimesign', '-CAfile', t.path('audit-anchor.pem'), '-untrusted', t.path('audit-rest.pem'), t.path('audit-leaf.pem')]);
    expect([verified.status, verified.stdout.trim()]).toEqual([0, `${t.path('audit-leaf.pem')}: OK`]);
  }, 120_000);

  it('bad key flags stop the start with exit 2 and a sentence, before any port is opened', async () => {
    const base = ['filter', '--listen', '127.0.0.1:0', '--reinject', '127.0.0.1:1', '--trust', `${ca}/root.pem`, '--revocation', 'off'];
    const noPass = await cli([...base, '--p12', t.path('approver.p12')], env);
    expect([noPass.code, noPass.stderr]).toEqual([2, `mailpki: --p12 ${t.path('approver.p12')} needs --passphrase-env naming the variable that holds its passphrase [ERR_USAGE]\n`]);
    const unpaired = await cli([...base, '--key', t.path('treasury.key.pem'), '--passphrase-env', 'TREASURY_PW'], env);
    expect(unpaired.code).toBe(2);
    expect(unpaired.stderr).toContain('--key and --cert go together');
    const loose = await cli([...base, '--passphrase-env', 'APPROVER_PW', '--p12', t.path('approver.p12'), '--passphrase-env', 'APPROVER_PW'], env);
    expect(loose.code).toBe(2);
    expect(loose.stderr).toContain('--passphrase-env APPROVER_PW follows no --p12, --key or --identity of its own');
    const wrong = await cli([...base, '--p12', t.path('approver.p12'), '--passphrase-env', 'TREASURY_PW'], env);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('ERR_PKCS12_MAC_INVALID');
  }, 60_000);
});
