/**
 * nodemailer → a real SMTP server (smtp-server on loopback) with mailpkiPlugin: the delivered bytes
 * are the signed bytes, and they verify with mailpki, `openssl cms -verify` / `openssl smime -verify`
 * and dkimpy; one changed byte fails all three.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { verifyDkim } from '../../src/dkim/index.js';
import { encodePem } from '../../src/internal/pem.js';
import { mailpkiPlugin, type NodemailerMail } from '../../src/nodemailer/index.js';
import { verifyMessage } from '../../src/smime/index.js';
import { describeWithDkimPeers } from '../dkim/peers.js';
import { describeWithPeers, run, runStatus, tempDir } from '../helpers/peers.js';
import { clock, mailFixture, NOW, paymentMail } from './fixtures.js';
import { startSink, type Sink } from './sink.js';

const f = await mailFixture();
const DKIMPY_JOB = fileURLToPath(new URL('../dkim/dkimpy-job.py', import.meta.url));
const ATTIME = String(Math.floor(NOW.getTime() / 1000));

let sink: Sink;
let delivered: Buffer;
let signed: Uint8Array | undefined;
let dir: string;
let cleanup: () => void = () => {};
let rootFile: string;

beforeAll(async () => {
  sink = await startSink();
  const transport = sink.transport();
  const plugin = mailpkiPlugin({
    smime: { signer: f.payments },
    dkim: { keys: [{ domain: 'example.com', selector: 'nm1', privateKey: f.dkim.privateKey }] },
    preflight: { clock, trustAnchors: [f.root], resolver: f.resolver, revocation: { policy: 'hard-fail', checker: f.checker() } },
  });
  transport.use('stream', (m, cb) => {
    const set = m.message.setRaw.bind(m.message);
    m.message.setRaw = ((b: Uint8Array) => {
      signed = b;
      return set(b as Buffer);
    }) as typeof m.message.setRaw;
    plugin(m as unknown as NodemailerMail, cb);
  });
  const info = await transport.sendMail(paymentMail());
  expect(info.accepted).toEqual(['approvers@example.com']);
  expect(sink.delivered.length).toBe(1);
  delivered = sink.delivered[0]!.bytes;
  ({ dir, cleanup } = tempDir('mailpki-nodemailer-'));
  rootFile = join(dir, 'root.pem');
  writeFileSync(rootFile, encodePem('CERTIFICATE', f.root.der));
});

afterAll(async () => {
  await sink?.close();
  cleanup();
});

const tamper = (b: Buffer): Buffer => {
  const s = b.toString('latin1');
  const i = s.indexOf('1,250.00');
  if (i < 0) throw new Error('amount not found');
  return Buffer.from(s.slice(0, i) + '9' + s.slice(i + 1), 'latin1');
};

it('the bytes the SMTP server received are the bytes mailpki signed, envelope included', () => {
  expect(new Uint8Array(delivered)).toEqual(new Uint8Array(signed!));
  expect(sink.delivered[0]!.from).toBe('payments@example.com');
  expect(sink.delivered[0]!.to).toEqual(['approvers@example.com']);
});

it('mailpki verifies the delivered message (S/MIME hard-fail revocation, DKIM aligned pass); tampered fails both', async () => {
  const v = await verifyMessage(new Uint8Array(delivered), { trustAnchors: [f.root], clock, revocation: { policy: 'hard-fail', crls: f.crls } });
  expect([v.valid, v.problems]).toEqual([true, []]);
  const d = await verifyDkim(new Uint8Array(delivered), { resolver: f.resolver, clock });
  expect(d.results.map((r) => [r.result, r.aligned])).toEqual([['pass', true]]);
  const bad = tamper(delivered);
  const tv = await verifyMessage(new Uint8Array(bad), { trustAnchors: [f.root], clock, revocation: { policy: 'hard-fail', crls: f.crls } });
  expect(tv.valid).toBe(false);
  expect(tv.problems.map((p) => p.code)).toContain('SMIME_SIGNATURE_INVALID');
  expect((await verifyDkim(new Uint8Array(bad), { resolver: f.resolver, clock })).results.map((r) => r.result)).toEqual(['fail']);
});

describeWithPeers('the delivered message in OpenSSL', ['openssl'], () => {
  it('openssl cms -verify and smime -verify accept it; one changed byte fails', () => {
    const good = join(dir, 'delivered.eml');
    const bad = join(dir, 'tampered.eml');
    writeFileSync(good, delivered);
    writeFileSync(bad, tamper(delivered));
    const cms = (file: string) => runStatus('openssl', ['cms', '-verify', '-in', file, '-CAfile', rootFile, '-purpose', 'smimesign', '-attime', ATTIME, '-out', '/dev/null']);
    const smime = (file: string) => runStatus('openssl', ['smime', '-verify', '-in', file, '-CAfile', rootFile, '-attime', ATTIME, '-out', '/dev/null']);
    expect(cms(good)).toMatchObject({ status: 0 });
    expect(smime(good)).toMatchObject({ status: 0 });
    expect(cms(bad).status).not.toBe(0);
    expect(smime(bad).status).not.toBe(0);
    // What OpenSSL shows as the signed content is the application's text.
    const content = run('openssl', ['cms', '-verify', '-in', good, '-CAfile', rootFile, '-purpose', 'smimesign', '-attime', ATTIME]);
    expect(content).toContain('Please pay 1,250.00 EUR to IBAN DE89 3704 0044 0532 0130 00 by Friday.');
  });
});

describeWithDkimPeers('the delivered message in dkimpy', ['python3-dkim'], () => {
  it('dkimpy verifies the DKIM signature over the final bytes; tampered fails', () => {
    const job = { records: f.records, verify: [delivered.toString('base64'), tamper(delivered).toString('base64')] };
    const out = JSON.parse(run('/usr/bin/python3', [DKIMPY_JOB], { input: JSON.stringify(job) })) as { verify: boolean[] };
    expect(out.verify).toEqual([true, false]);
  });
});
