/**
 * mailpkiPlugin({ encrypt }) looks a message's readers up in an index of `encrypt.recipients` built once per plugin
 * (issue 13: with a directory of 5000 certificates every certificate was read and compared for every message), and
 * still checks each chosen certificate's fitness at the time of the message (validity, revocation, chain).
 */
import { describe, expect, it } from 'vitest';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { mailpkiPlugin, type NodemailerMail } from '../../src/nodemailer/index.js';
import { verifyMessage } from '../../src/smime/index.js';
import { bufferTransport, CA_START, clock, mailFixture, NOW, paymentMail } from './fixtures.js';

const f = await mailFixture();
const DAY = 86_400_000;

async function person(mailbox: string, notBefore = CA_START, validityDays = 365) {
  const pair = await generateKeyPair('ec-p256', { extractable: true });
  const r = await f.ca.issue({ mailbox, publicKey: await exportSpki(pair.publicKey), profile: 'strict', notBefore, validityDays });
  return { privateKey: pair.privateKey, certificate: parseCertificate(r.certificate) };
}
const [approver, cfo] = await Promise.all([person('approvers@example.com'), person('cfo@example.com')]);

async function send(p: ReturnType<typeof mailpkiPlugin>, mail: Record<string, unknown>) {
  const t = bufferTransport();
  t.use('stream', (m, cb) => p(m as unknown as NodemailerMail, cb));
  try {
    const info = await t.sendMail(mail);
    return { bytes: new Uint8Array(info.message as Buffer) };
  } catch (e) {
    return { error: e as { code: string; details: { failed: string[]; encryption: { invalid: { recipient: number; problems: string[] }[] } } } };
  }
}

/** The certificate, as a copy that counts every read of its subject alternative names (where its mailboxes are). */
function counted(cert: Certificate, reads: { n: number }): Certificate {
  const copy = { ...cert } as Record<string, unknown>;
  Object.defineProperty(copy, 'subjectAltName', {
    enumerable: true,
    get() {
      reads.n++;
      return cert.subjectAltName;
    },
  });
  return copy as unknown as Certificate;
}

describe('mailpkiPlugin encrypt: the recipient certificates are indexed once per plugin', () => {
  it('a message reads only its readers\' certificates: a directory of others is not read again per message (every certificate was read and compared for every message)', async () => {
    const reads = { n: 0 };
    // 200 directory certificates the messages are not addressed to (copies of the cfo's, which names cfo@).
    const directory = Array.from({ length: 200 }, () => counted(cfo.certificate, reads));
    const p = mailpkiPlugin({
      smime: { signer: f.payments },
      encrypt: { recipients: [...directory, approver.certificate], at: NOW },
      preflight: { clock, trustAnchors: [f.root], intermediates: [f.ca.issuingCertificate], revocation: { policy: 'off' } },
    });
    const atSetUp = reads.n;
    for (let i = 0; i < 3; i++) {
      const r = await send(p, paymentMail());
      expect(r.error).toBeUndefined();
    }
    expect(reads.n - atSetUp).toBe(0);
  });

  it('fitness is still checked at each message\'s time: the same plugin refuses a reader whose certificate expired since the last message', async () => {
    const shortLived = await person('approvers@example.com', new Date(NOW.getTime() - DAY), 2);
    let now = NOW;
    const p = mailpkiPlugin({
      smime: { signer: f.payments },
      encrypt: { recipients: [shortLived.certificate, cfo.certificate] },
      preflight: { clock: () => now, trustAnchors: [f.root], intermediates: [f.ca.issuingCertificate], revocation: { policy: 'off' } },
    });
    const first = await send(p, paymentMail());
    expect(first.error).toBeUndefined();
    const v = await verifyMessage(first.bytes!, { trustAnchors: [f.root], clock, decryptionKeys: [shortLived as never], revocation: { policy: 'off' } });
    expect(v.valid).toBe(true);
    now = new Date(NOW.getTime() + 3 * DAY);
    const later = await send(p, paymentMail());
    expect(later.error?.code).toBe('ERR_PREFLIGHT_FAILED');
    expect(later.error!.details.failed).toEqual(['encryption-recipients']);
    expect(later.error!.details.encryption.invalid).toEqual([{ recipient: 0, mailboxes: ['approvers@example.com'], problems: [expect.stringMatching(/expired|not valid/i)] }]);
  });

  it('a certificate that cannot be read is still reported on every message, as before the index', async () => {
    const p = mailpkiPlugin({
      smime: { signer: f.payments },
      encrypt: { recipients: [approver.certificate, new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])], at: NOW },
      preflight: { clock, trustAnchors: [f.root], intermediates: [f.ca.issuingCertificate], revocation: { policy: 'off' } },
    });
    for (let i = 0; i < 2; i++) {
      const r = await send(p, paymentMail());
      expect(r.error!.details.failed).toEqual(['encryption-recipients']);
      expect(r.error!.details.encryption.invalid).toMatchObject([{ recipient: 1, mailboxes: [] }]);
    }
  });
});
