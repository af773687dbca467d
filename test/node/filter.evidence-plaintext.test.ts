/**
 * Regression (atk13): evidence kept plaintext of encrypted mail: with smime.decryptionKeys, the RFC 9788
 * protected (encrypted) Subject — hidden as "[...]" outside — is copied into the evidence record
 * through verdict.signedHeaders and verdict.headerProtection. The evidence must never hold what
 * was only inside the ciphertext (docs/mail-flow.md: "never its content").
 */
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

describe('regression (atk13): evidence of encrypted inbound mail', () => {
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

  it('the protected Subject (inside the ciphertext only) never reaches the evidence', async () => {
    const secret = 'Wire EUR 98000 to DE89 3704 0044 0532 0130 00 today';
    const eml = await signAndEncrypt(plainMessage({ to: 'approver@example.com', subject: secret, body: 'see subject\r\n' }), f.paymentsRsa, [approver.certificate], {
      clock,
      at: NOW,
      trustAnchors: f.anchors,
      intermediates: [f.ca.issuingCertificate],
    });
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: filter.port, secure: false, ignoreTLS: true });
    await t.sendMail({ envelope: { from: 'payments@example.com', to: ['approver@example.com'] }, raw: typeof eml === 'string' ? eml : fromLatin1(eml) });
    t.close();
    expect(got).toHaveLength(1);
    // What travelled on the wire: the Subject is hidden.
    expect(got[0]!).not.toContain('DE89 3704');
    const [record] = await evidence.list();
    expect(record?.smime?.result).toBe('pass');
    // Observed today: the secret appears in record.smime.verdict.signedHeaders and .headerProtection.
    const where = (v: unknown, path: string): string[] =>
      typeof v === 'string' ? (v.includes('DE89 3704') ? [path] : []) : v && typeof v === 'object' ? Object.entries(v).flatMap(([k, x]) => where(x, `${path}.${k}`)) : [];
    expect(where(record, 'record')).toEqual([]);
  });
});
