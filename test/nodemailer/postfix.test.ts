/**
 * nodemailer with mailpkiPlugin → a real Postfix → a Maildir: the delivered file (Postfix's
 * Return-Path, Delivered-To and Received added, line ends as Postfix stores them) still verifies
 * with mailpki, `openssl cms -verify` and dkimpy; a changed byte in it fails each.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { verifyDkim } from '../../src/dkim/index.js';
import { encodePem } from '../../src/internal/pem.js';
import { mailpkiPlugin } from '../../src/nodemailer/index.js';
import { verifyMessage } from '../../src/smime/index.js';
import { dkimPeerAvailable } from '../dkim/peers.js';
import { describeWithPeers, run, runStatus, tempDir } from '../helpers/peers.js';
import { POSTFIX_PEERS, startPostfix, type Postfix } from '../helpers/postfix.js';
import { clock, mailFixture, NOW, paymentMail } from './fixtures.js';

const DKIMPY_JOB = fileURLToPath(new URL('../dkim/dkimpy-job.py', import.meta.url));
const ATTIME = String(Math.floor(NOW.getTime() / 1000));

describeWithPeers('nodemailer + mailpkiPlugin → Postfix → Maildir', [...POSTFIX_PEERS, 'openssl', ...(dkimPeerAvailable('python3-dkim') ? [] : ['python3-dkim'])], () => {
  let mta: Postfix;
  let file: Buffer;
  let dir: string;
  let cleanup = () => {};
  let rootFile: string;
  const tamper = (b: Buffer): Buffer => {
    const s = b.toString('latin1');
    const i = s.indexOf('1,250.00');
    if (i < 0) throw new Error('amount not found');
    return Buffer.from(s.slice(0, i) + '9' + s.slice(i + 1), 'latin1');
  };

  beforeAll(async () => {
    const f = await mailFixture();
    mta = await startPostfix();
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: mta.smtpPort, secure: false, ignoreTLS: true });
    transport.use(
      'stream',
      mailpkiPlugin({
        smime: { signer: f.payments },
        dkim: { keys: [{ domain: 'example.com', selector: 'nm1', privateKey: f.dkim.privateKey }] },
        preflight: { clock, trustAnchors: [f.root], resolver: f.resolver, revocation: { policy: 'hard-fail', checker: f.checker() } },
      }) as never,
    );
    const info = await transport.sendMail(paymentMail({ to: 'ap@example.org' }));
    expect(info.accepted).toEqual(['ap@example.org']);
    const [msg] = await mta.waitForDelivery('ap@example.org');
    file = msg!.content;
    ({ dir, cleanup } = tempDir('mailpki-nodemailer-postfix-'));
    rootFile = join(dir, 'root.pem');
    writeFileSync(rootFile, encodePem('CERTIFICATE', f.root.der));
  }, 120_000);

  afterAll(async () => {
    await mta?.stop();
    cleanup();
  });

  it('Postfix delivered it with its own trace fields above ours', () => {
    const text = file.toString('latin1');
    expect(text).toMatch(/^Return-Path: <payments@example\.com>\r?\n/);
    expect(text).toContain('Delivered-To: ap@example.org');
    expect(text).toMatch(/\nDKIM-Signature: v=1; a=rsa-sha256;/);
  });

  it('mailpki verifies the delivered file (S/MIME, DKIM aligned); tampered fails', async () => {
    const f = await mailFixture();
    const v = await verifyMessage(new Uint8Array(file), { trustAnchors: [f.root], clock, revocation: { policy: 'hard-fail', crls: f.crls } });
    expect([v.valid, v.problems]).toEqual([true, []]);
    const d = await verifyDkim(new Uint8Array(file), { resolver: f.resolver, clock });
    expect(d.results.map((r) => [r.result, r.domain, r.aligned])).toEqual([['pass', 'example.com', true]]);
    const bad = new Uint8Array(tamper(file));
    expect((await verifyMessage(bad, { trustAnchors: [f.root], clock, revocation: { policy: 'hard-fail', crls: f.crls } })).valid).toBe(false);
    expect((await verifyDkim(bad, { resolver: f.resolver, clock })).results.map((r) => r.result)).toEqual(['fail']);
  });

  it('openssl cms -verify accepts the delivered file; tampered fails', () => {
    const good = join(dir, 'delivered.eml');
    const bad = join(dir, 'tampered.eml');
    writeFileSync(good, file);
    writeFileSync(bad, tamper(file));
    const cms = (p: string) => runStatus('openssl', ['cms', '-verify', '-in', p, '-CAfile', rootFile, '-purpose', 'smimesign', '-attime', ATTIME, '-out', '/dev/null']);
    expect(cms(good)).toMatchObject({ status: 0 });
    expect(cms(bad).status).not.toBe(0);
  });

  it('dkimpy verifies the delivered file; tampered fails', async () => {
    const f = await mailFixture();
    const job = { records: f.records, verify: [file.toString('base64'), tamper(file).toString('base64')] };
    const out = JSON.parse(run('/usr/bin/python3', [DKIMPY_JOB], { input: JSON.stringify(job) })) as { verify: boolean[] };
    expect(out.verify).toEqual([true, false]);
  });
});
