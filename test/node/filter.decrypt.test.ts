/** createFilter with `smime.decryptionKeys`: signed-then-encrypted inbound mail is opened for the verdict, passed on unchanged, and no plaintext reaches the evidence. */
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCA } from '../../src/ca/local-ca.js';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { MemoryEvidenceStore } from '../../src/filter/evidence.js';
import { fromLatin1 } from '../../src/internal/bytes.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { createFilter, type RunningFilter } from '../../src/node/filter.js';
import { signAndEncrypt } from '../../src/smime/index.js';
import { GOOD_FROM, NOW, clock, makeSmimeFixture, plainMessage, type SmimeFixture } from '../smime/fixtures.js';

describe('createFilter with decryption keys', () => {
  let f: SmimeFixture;
  let approver: { certificate: Certificate; key: CryptoKey };
  let filter: RunningFilter;
  let server: SMTPServer;
  const got: string[] = [];
  const evidence = new MemoryEvidenceStore();

  beforeAll(async () => {
    f = await makeSmimeFixture();
    const pair = await generateKeyPair('rsa-2048', { extractable: true });
    const ca: LocalCA = f.ca;
    const r = await ca.issue({ mailbox: 'approver@example.com', publicKey: await exportSpki(pair.publicKey), profile: 'strict', notBefore: GOOD_FROM, validityDays: 365, usage: 'dual-use' });
    approver = { certificate: parseCertificate(r.certificate), key: pair.privateKey };
    server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['AUTH', 'STARTTLS'],
      logger: false,
      onData(stream, _session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          got.push(Buffer.concat(chunks).toString('latin1'));
          cb();
        });
      },
    });
    const port = await new Promise<number>((res) => server.listen(0, '127.0.0.1', () => res((server.server.address() as { port: number }).port)));
    filter = await createFilter({
      listen: { port: 0 },
      reinject: { port },
      authservId: 'filter.example.test',
      evidence,
      smime: { trustAnchors: f.anchors, at: NOW, decryptionKeys: [{ privateKey: approver.key, certificate: approver.certificate }] },
    });
  });
  afterAll(async () => {
    await filter?.close(1000);
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('smime=pass for a signed-then-encrypted payment instruction; the message goes on still encrypted; evidence holds no plaintext (not the body, not the obscured Subject)', async () => {
    const eml = await signAndEncrypt(plainMessage({ to: 'approver@example.com', subject: 'Secret subject: acquisition of ACME', body: 'Pay invoice 4711: EUR 98 000 to DE89 3704 0044 0532 0130 00\r\n' }), f.paymentsRsa, [approver.certificate], {
      clock,
      at: NOW,
      trustAnchors: f.anchors,
      intermediates: [f.ca.issuingCertificate],
    });
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: filter.port, secure: false, ignoreTLS: true });
    await t.sendMail({ envelope: { from: 'payments@example.com', to: ['approver@example.com'] }, raw: typeof eml === 'string' ? eml : fromLatin1(eml) });
    t.close();
    expect(got).toHaveLength(1);
    const delivered = got[0]!;
    expect(delivered).toMatch(/Authentication-Results: filter\.example\.test;\s+smime=pass/);
    expect(delivered).toContain('smime-type=authEnveloped-data');
    expect(delivered).not.toContain('DE89 3704');
    const [record] = await evidence.list();
    expect(record?.smime?.result).toBe('pass');
    const stored = JSON.stringify(record);
    expect(stored).not.toContain('decryptedMessage');
    expect(stored).not.toContain('DE89 3704');
    expect(delivered).not.toContain('acquisition of ACME');
    expect(stored).not.toContain('acquisition of ACME');
    // What is kept: from outside the encryption or from certificates, and the codes.
    const v = record!.smime.verdict as { contentRedacted: string; valid: boolean; signedHeaders: unknown[]; headerProtection: unknown[]; signers: { certificate: { serialNumber: string } }[] };
    expect(v.contentRedacted).toBe('encrypted');
    expect(v.valid).toBe(true);
    expect(v.signers[0]!.certificate.serialNumber).toBe(f.paymentsRsa.certificate.serialNumber);
    expect(v.signedHeaders).toContainEqual({ name: 'Subject' });
    expect(v.headerProtection).toEqual([{ hp: 'cipher', where: 'the signed part', differences: [{ name: 'Subject', cause: 'obscured' }] }]);
  });
});
