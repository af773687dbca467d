/**
 * Interop for the plugin's per-message encryption through a real SMTP server (smtp-server on loopback): a payment
 * instruction to approvers@ with auditor@ as Bcc is sent as the docs say — the To copy, then the Bcc recipient's own
 * copy (envelope to it alone). `openssl cms -decrypt` opens each copy with the key of a reader it was addressed to,
 * not with the other's (the To copy does not name the auditor; neither names cfo@, whose certificate is configured
 * too), and `openssl cms -verify` verifies the signature inside; mailpki agrees. One send with `bcc` is refused.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { encodePem } from '../../src/internal/pem.js';
import { exportPkcs8Pem, exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { mailpkiPlugin, type NodemailerMail } from '../../src/nodemailer/index.js';
import { verifyMessage } from '../../src/smime/index.js';
import { describeWithPeers, runStatus, tempDir } from '../helpers/peers.js';
import { CA_START, clock, mailFixture, NOW, paymentMail } from './fixtures.js';
import { startSink, type Sink } from './sink.js';

const ATTIME = String(Math.floor(NOW.getTime() / 1000));

describeWithPeers('mailpkiPlugin({ encrypt }) with a Bcc recipient → smtp-server → openssl', ['openssl'], () => {
  const f = mailFixture();
  let sink: Sink;
  const tmp = tempDir('mailpki-bcc-');
  const people: Record<string, { privateKey: CryptoKey; certificate: Certificate }> = {};
  let refused: unknown;

  beforeAll(async () => {
    const fx = await f;
    for (const who of ['approvers', 'auditor', 'cfo']) {
      const pair = await generateKeyPair('ec-p256', { extractable: true });
      const r = await fx.ca.issue({ mailbox: `${who}@example.com`, publicKey: await exportSpki(pair.publicKey), profile: 'strict', notBefore: CA_START, validityDays: 365 });
      people[who] = { privateKey: pair.privateKey, certificate: parseCertificate(r.certificate) };
      writeFileSync(tmp.path(`${who}.pem`), encodePem('CERTIFICATE', people[who]!.certificate.der));
      writeFileSync(tmp.path(`${who}.key`), await exportPkcs8Pem(pair.privateKey), { mode: 0o600 });
    }
    writeFileSync(tmp.path('root.pem'), encodePem('CERTIFICATE', fx.root.der));
    sink = await startSink();
    const transport = sink.transport();
    const plugin = mailpkiPlugin({
      smime: { signer: fx.payments },
      encrypt: { recipients: Object.values(people).map((p) => p.certificate), at: NOW },
      preflight: { clock, trustAnchors: [fx.root], intermediates: [fx.ca.issuingCertificate], revocation: { policy: 'hard-fail', checker: fx.checker() } },
    });
    transport.use('stream', (m, cb) => plugin(m as unknown as NodemailerMail, cb));
    refused = await transport.sendMail(paymentMail({ bcc: 'auditor@example.com' })).catch((e: unknown) => e);
    await transport.sendMail(paymentMail());
    await transport.sendMail(paymentMail({ envelope: { from: 'payments@example.com', to: ['auditor@example.com'] } }));
    expect(sink.delivered.map((d) => d.to)).toEqual([['approvers@example.com'], ['auditor@example.com']]);
    writeFileSync(tmp.path('to-copy.eml'), sink.delivered[0]!.bytes);
    writeFileSync(tmp.path('bcc-copy.eml'), sink.delivered[1]!.bytes);
  });

  afterAll(async () => {
    await sink?.close();
    tmp.cleanup();
  });

  const decrypt = (eml: string, who: string) => runStatus('openssl', ['cms', '-decrypt', '-in', tmp.path(eml), '-recip', tmp.path(`${who}.pem`), '-inkey', tmp.path(`${who}.key`), '-out', tmp.path(`${eml}.${who}.inner`)]);

  it('the send with bcc was refused before anything reached the server', () => {
    expect(refused).toMatchObject({ code: 'ERR_PREFLIGHT_FAILED', details: { failed: ['encryption-recipients'] } });
  });

  it('openssl: each copy opens only for the readers it was addressed to, and the signature inside verifies', () => {
    expect(decrypt('to-copy.eml', 'approvers').status).toBe(0);
    expect(decrypt('to-copy.eml', 'auditor').status).not.toBe(0);
    expect(decrypt('to-copy.eml', 'cfo').status).not.toBe(0);
    expect(decrypt('bcc-copy.eml', 'auditor').status).toBe(0);
    expect(decrypt('bcc-copy.eml', 'cfo').status).not.toBe(0);
    for (const inner of ['to-copy.eml.approvers.inner', 'bcc-copy.eml.auditor.inner']) {
      const v = runStatus('openssl', ['cms', '-verify', '-in', tmp.path(inner), '-CAfile', tmp.path('root.pem'), '-purpose', 'smimesign', '-attime', ATTIME, '-out', tmp.path(`${inner}.txt`)]);
      expect(v.stderr).toMatch(/Verification successful/);
      expect(v.status).toBe(0);
    }
  });

  it('mailpki agrees: the auditor opens its copy and the signature is valid; the To copy stays closed to it', async () => {
    const fx = await f;
    const opts = (who: string) => ({ trustAnchors: [fx.root], clock, decryptionKeys: [people[who]!], revocation: { policy: 'hard-fail' as const, crls: fx.crls } });
    const bcc = await verifyMessage(new Uint8Array(sink.delivered[1]!.bytes), opts('auditor'));
    expect(bcc.valid).toBe(true);
    expect(bcc.layers.map((l) => l.kind)).toEqual(['encrypted', 'signed']);
    const to = await verifyMessage(new Uint8Array(sink.delivered[0]!.bytes), opts('auditor'));
    expect(to.valid).toBe(false);
    expect(to.layers[0]).toMatchObject({ kind: 'encrypted', opened: false });
  });
});
