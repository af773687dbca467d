/**
 * nodemailer with mailpkiPlugin's `encrypt` → a real Postfix → a Maildir: the delivered file is
 * opened and verified by `openssl cms -decrypt | openssl cms -verify` and by mailpki (with the
 * recipient's key), its DKIM signature passes dkimpy after Postfix handled it, and a changed byte
 * in the delivered copy fails on each side.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { verifyDkim } from '../../src/dkim/index.js';
import { encodePem } from '../../src/internal/pem.js';
import { exportPkcs8Pem, exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { mailpkiPlugin } from '../../src/nodemailer/index.js';
import { verifyMessage } from '../../src/smime/index.js';
import { dkimPeerAvailable } from '../dkim/peers.js';
import { describeWithPeers, run, runStatus, tempDir } from '../helpers/peers.js';
import { POSTFIX_PEERS, startPostfix, type Postfix } from '../helpers/postfix.js';
import { CA_START, clock, mailFixture, NOW, paymentMail } from './fixtures.js';

const DKIMPY_JOB = fileURLToPath(new URL('../dkim/dkimpy-job.py', import.meta.url));
const ATTIME = String(Math.floor(NOW.getTime() / 1000));
const IBAN = 'DE89 3704 0044 0532 0130 00';

/** Changes one base64 character of the body, well inside the encrypted content. */
function tamper(file: Buffer): Buffer {
  const eml = file.toString('latin1');
  const sep = eml.includes('\r\n\r\n') ? '\r\n\r\n' : '\n\n';
  const at = eml.indexOf(sep) + sep.length;
  const body = eml.slice(at);
  let j = Math.floor(body.length * 0.6);
  while (!/[A-Za-z0-9]/.test(body[j]!)) j++;
  return Buffer.from(eml.slice(0, at) + body.slice(0, j) + (body[j] === 'A' ? 'B' : 'A') + body.slice(j + 1), 'latin1');
}

describeWithPeers('nodemailer + mailpkiPlugin({ encrypt }) → Postfix → Maildir', [...POSTFIX_PEERS, 'openssl', ...(dkimPeerAvailable('python3-dkim') ? [] : ['python3-dkim'])], () => {
  let mta: Postfix;
  let file: Buffer;
  let approver: { privateKey: CryptoKey; certificate: Certificate };
  const tmp = tempDir('mailpki-nodemailer-postfix-enc-');
  const path = tmp.path;

  beforeAll(async () => {
    const f = await mailFixture();
    const pair = await generateKeyPair('rsa-2048', { extractable: true });
    const issued = await f.ca.issue({ mailbox: 'approvers@example.com', publicKey: await exportSpki(pair.publicKey), profile: 'strict', usage: 'dual-use', notBefore: CA_START, validityDays: 365 });
    approver = { privateKey: pair.privateKey, certificate: parseCertificate(issued.certificate) };
    writeFileSync(path('root.pem'), encodePem('CERTIFICATE', f.root.der));
    writeFileSync(path('approver.pem'), encodePem('CERTIFICATE', approver.certificate.der));
    writeFileSync(path('approver.key'), await exportPkcs8Pem(pair.privateKey), { mode: 0o600 });
    mta = await startPostfix();
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: mta.smtpPort, secure: false, ignoreTLS: true });
    transport.use(
      'stream',
      mailpkiPlugin({
        smime: { signer: f.payments },
        encrypt: { recipients: [approver.certificate], encryptToSelf: true, at: NOW, trustAnchors: [f.root], intermediates: [f.ca.issuingCertificate] },
        dkim: { keys: [{ domain: 'example.com', selector: 'nm1', privateKey: f.dkim.privateKey }] },
        preflight: { clock, resolver: f.resolver, revocation: { policy: 'hard-fail', checker: f.checker() } },
      }) as never,
    );
    const info = await transport.sendMail(paymentMail());
    expect(info.accepted).toEqual(['approvers@example.com']);
    const [msg] = await mta.waitForDelivery('approvers@example.com');
    file = msg!.content;
    writeFileSync(path('delivered.eml'), file);
    writeFileSync(path('tampered.eml'), tamper(file));
  }, 120_000);

  afterAll(async () => {
    await mta?.stop();
    tmp.cleanup();
  });

  it('Postfix delivered the encrypted message, its trace fields above our DKIM-Signature; nothing of the content is readable', () => {
    const text = file.toString('latin1');
    expect(text).toMatch(/^Return-Path: <payments@example\.com>\r?\n/);
    expect(text).toContain('Delivered-To: approvers@example.com');
    expect(text).toMatch(/\nDKIM-Signature: v=1; a=rsa-sha256;/);
    expect(text).toContain('smime-type=authEnveloped-data');
    expect(text).not.toContain(IBAN);
    expect(text).not.toContain('Payment instruction 2026-118');
  });

  it('openssl cms -decrypt | openssl cms -verify: the approver opens it and the signature is valid; tampered fails', () => {
    const decrypt = (input: string, out: string) => runStatus('openssl', ['cms', '-decrypt', '-in', input, '-recip', path('approver.pem'), '-inkey', path('approver.key'), '-out', out]);
    const verify = (input: string, out: string) => runStatus('openssl', ['cms', '-verify', '-in', input, '-CAfile', path('root.pem'), '-purpose', 'smimesign', '-attime', ATTIME, '-out', out]);
    const dec = decrypt(path('delivered.eml'), path('inner.eml'));
    expect([dec.status, dec.stderr]).toEqual([0, '']);
    const ver = verify(path('inner.eml'), path('shown.txt'));
    expect(ver.stderr).toMatch(/Verification successful/);
    expect(ver.status).toBe(0);
    const shown = run('cat', [path('shown.txt')]);
    expect(shown).toContain('Subject: Payment instruction 2026-118');
    expect(shown).toContain(IBAN);
    // AES-GCM: a changed ciphertext byte is refused at decryption.
    expect(decrypt(path('tampered.eml'), path('tampered-inner.eml')).status).not.toBe(0);
  });

  it('mailpki verifies the delivered file with the approver key (encrypted, then signed; DKIM aligned); tampered fails', async () => {
    const f = await mailFixture();
    const options = { trustAnchors: [f.root], clock, decryptionKeys: [approver], revocation: { policy: 'hard-fail' as const, crls: f.crls } };
    const v = await verifyMessage(new Uint8Array(file), options);
    expect([v.valid, v.problems]).toEqual([true, []]);
    expect(v.layers.map((l) => l.kind)).toEqual(['encrypted', 'signed']);
    expect(v.signers[0]!.certificate!.serialNumber).toBe(f.payments.certificate.serialNumber);
    const d = await verifyDkim(new Uint8Array(file), { resolver: f.resolver, clock });
    expect(d.results.map((r) => [r.result, r.domain, r.aligned])).toEqual([['pass', 'example.com', true]]);
    const bad = new Uint8Array(tamper(file));
    const vb = await verifyMessage(bad, options);
    expect(vb.valid).toBe(false);
    expect(vb.problems.map((p) => p.code)).toContain('SMIME_DECRYPTION_FAILED');
    expect((await verifyDkim(bad, { resolver: f.resolver, clock })).results.map((r) => r.result)).toEqual(['fail']);
  });

  it('dkimpy verifies the delivered file; tampered fails', async () => {
    const f = await mailFixture();
    const job = { records: f.records, verify: [file.toString('base64'), tamper(file).toString('base64')] };
    const out = JSON.parse(run('/usr/bin/python3', [DKIMPY_JOB], { input: JSON.stringify(job) })) as { verify: boolean[] };
    expect(out.verify).toEqual([true, false]);
  });
});
