/**
 * sendEach through a real SMTP server (smtp-server on loopback), issue 13: an encrypted message with Bcc recipients
 * needed glue — the plugin refused the Bcc, and docs/mail-flow.md told the caller to send the To/Cc copy and loop
 * over the Bcc recipients. Now one call sends the To/Cc copy and one copy per Bcc recipient, each encrypted to its own
 * readers, after the preflight of every copy; a transport failure part-way reports exactly which copies went out, and
 * `resume` sends the others only. `openssl cms -decrypt` opens a Bcc copy with that recipient's key, not another's.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { encodePem } from '../../src/internal/pem.js';
import { exportPkcs8Pem, exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { mailpkiPlugin, sendEach, type NodemailerMail } from '../../src/nodemailer/index.js';
import { parseMessage, getHeaders } from '../../src/mime/index.js';
import { verifyMessage } from '../../src/smime/index.js';
import { describeWithPeers, runStatus, tempDir } from '../helpers/peers.js';
import { CA_START, clock, mailFixture, NOW, paymentMail } from './fixtures.js';
import { startSink, type Sink } from './sink.js';

const PEOPLE = ['approvers', 'cfo', 'auditor', 'compliance', 'legal'] as const;
type Person = (typeof PEOPLE)[number];
const at = (who: Person) => `${who}@example.com`;

describeWithPeers('sendEach(transporter, mail): the To/Cc copy and one copy per Bcc recipient → smtp-server', ['openssl'], () => {
  const f = mailFixture();
  let sink: Sink;
  const tmp = tempDir('mailpki-send-each-');
  const people = {} as Record<Person, { privateKey: CryptoKey; certificate: Certificate }>;
  let encrypting: ReturnType<Sink['transport']>;
  let preflights = 0;

  beforeAll(async () => {
    const fx = await f;
    for (const who of PEOPLE) {
      const pair = await generateKeyPair('ec-p256', { extractable: true });
      const r = await fx.ca.issue({ mailbox: at(who), publicKey: await exportSpki(pair.publicKey), profile: 'strict', notBefore: CA_START, validityDays: 365 });
      people[who] = { privateKey: pair.privateKey, certificate: parseCertificate(r.certificate) };
      writeFileSync(tmp.path(`${who}.pem`), encodePem('CERTIFICATE', people[who].certificate.der));
      writeFileSync(tmp.path(`${who}.key`), await exportPkcs8Pem(pair.privateKey), { mode: 0o600 });
    }
    sink = await startSink();
    encrypting = sink.transport();
    const plugin = mailpkiPlugin({
      smime: { signer: fx.payments },
      encrypt: { recipients: PEOPLE.map((p) => people[p].certificate), at: NOW },
      preflight: { clock, trustAnchors: [fx.root], intermediates: [fx.ca.issuingCertificate], revocation: { policy: 'hard-fail', checker: fx.checker() } },
      onPreflight: () => void preflights++,
    });
    encrypting.use('stream', (m, cb) => plugin(m as unknown as NodemailerMail, cb));
  });

  beforeEach(() => {
    sink.delivered.length = 0;
    sink.refuse.clear();
    preflights = 0;
  });

  afterAll(async () => {
    encrypting?.close();
    await sink?.close();
    tmp.cleanup();
  });

  const opens = async (bytes: Buffer, who: Person) => {
    const fx = await f;
    const v = await verifyMessage(new Uint8Array(bytes), { trustAnchors: [fx.root], clock, decryptionKeys: [people[who]], revocation: { policy: 'hard-fail', crls: fx.crls } });
    return v.valid && v.layers[0]?.kind === 'encrypted' && (v.layers[0] as { opened?: boolean }).opened === true;
  };
  const messageIdOf = (bytes: Buffer) => getHeaders(parseMessage(new Uint8Array(bytes)), 'Message-ID')[0]?.value.trim();

  it('one call: the To/Cc copy without the Bcc recipients, then each Bcc recipient its own copy, one Message-ID; each opens only for its readers', async () => {
    const r = await sendEach(encrypting, paymentMail({ cc: at('cfo'), bcc: [at('auditor'), `Compliance <${at('compliance')}>`] }));
    expect(r.messageId).toBe('<pi-2026-118@example.com>');
    expect(r.copies.map((c) => [c.copy, c.envelope, c.messageId])).toEqual([
      ['main', { from: 'payments@example.com', to: [at('approvers'), at('cfo')] }, r.messageId],
      [at('auditor'), { from: 'payments@example.com', to: [at('auditor')] }, r.messageId],
      [at('compliance'), { from: 'payments@example.com', to: [at('compliance')] }, r.messageId],
    ]);
    expect(r.copies.map((c) => c.info.accepted)).toEqual([[at('approvers'), at('cfo')], [at('auditor')], [at('compliance')]]);
    expect(sink.delivered.map((d) => d.to)).toEqual([[at('approvers'), at('cfo')], [at('auditor')], [at('compliance')]]);
    expect(sink.delivered.map((d) => messageIdOf(d.bytes))).toEqual([r.messageId, r.messageId, r.messageId]);
    // Each copy is preflighted once (all before the first is sent).
    expect(preflights).toBe(3);
    const [main, auditor, compliance] = sink.delivered.map((d) => d.bytes) as [Buffer, Buffer, Buffer];
    expect([await opens(main, 'approvers'), await opens(main, 'cfo'), await opens(main, 'auditor'), await opens(main, 'compliance')]).toEqual([true, true, false, false]);
    expect([await opens(auditor, 'auditor'), await opens(auditor, 'approvers'), await opens(auditor, 'compliance'), await opens(auditor, 'legal')]).toEqual([true, true, false, false]);
    expect([await opens(compliance, 'compliance'), await opens(compliance, 'auditor')]).toEqual([true, false]);
    for (const d of sink.delivered) expect(d.bytes.toString('latin1')).not.toMatch(/^Bcc:/im);

    // A real peer agrees: openssl opens the auditor's copy with the auditor's key, not with the compliance officer's.
    writeFileSync(tmp.path('auditor-copy.eml'), auditor);
    const decrypt = (who: Person) => runStatus('openssl', ['cms', '-decrypt', '-in', tmp.path('auditor-copy.eml'), '-recip', tmp.path(`${who}.pem`), '-inkey', tmp.path(`${who}.key`), '-out', tmp.path(`auditor-copy.${who}.txt`)]);
    expect(decrypt('auditor').status).toBe(0);
    expect(decrypt('compliance').status).not.toBe(0);
  });

  it('a Bcc recipient without a certificate stops the whole send before any copy reaches the server (ERR_PREFLIGHT_FAILED naming that copy)', async () => {
    const before = sink.transactions();
    const e = (await sendEach(encrypting, paymentMail({ bcc: [at('auditor'), 'nobody@example.com'] })).catch((x: unknown) => x)) as {
      code: string;
      message: string;
      details: { failed: string[]; copies: { copy: string; to: string[]; failed: string[]; encryption: { missing: string[] } }[] };
    };
    expect(e.code).toBe('ERR_PREFLIGHT_FAILED');
    expect(e.details.failed).toEqual(['encryption-recipients']);
    expect(e.details.copies).toMatchObject([{ copy: 'nobody@example.com', to: ['nobody@example.com'], failed: ['encryption-recipients'], encryption: { missing: ['nobody@example.com'] } }]);
    expect(e.message).toMatch(/^not sent \(none of the 3 copies\): the preflight failed for the Bcc copy to nobody@example\.com \(encryption-recipients: no recipient certificate names nobody@example\.com/);
    expect(sink.transactions()).toBe(before);
    expect(sink.delivered).toEqual([]);
  });

  it('the server refuses copy 3 of 4: ERR_SEND_INCOMPLETE lists the copies sent and those not; resume sends only the pending ones, and every recipient gets exactly one copy', async () => {
    sink.refuse.add(at('compliance'));
    const mail = paymentMail({ messageId: undefined, bcc: [at('auditor'), at('compliance'), at('legal')] });
    const e = (await sendEach(encrypting, mail).catch((x: unknown) => x)) as {
      code: string;
      message: string;
      details: { messageId: string; sent: { copy: string }[]; pending: string[]; error: { copy: string; code?: string; message: string } };
    };
    expect(e.code).toBe('ERR_SEND_INCOMPLETE');
    expect(e.details.sent.map((c) => c.copy)).toEqual(['main', at('auditor')]);
    expect(e.details.pending).toEqual([at('compliance'), at('legal')]);
    expect(e.details.error).toMatchObject({ copy: at('compliance'), code: 'EENVELOPE' });
    expect(e.message).toMatch(/^sendEach: 2 of 4 copies sent \(main, auditor@example\.com\); the copy compliance@example\.com failed \(.*\), and compliance@example\.com, legal@example\.com were not sent/);
    expect(sink.delivered.map((d) => d.to)).toEqual([[at('approvers')], [at('auditor')]]);
    // nodemailer made the Message-ID (the mail has none): the resumed copies carry the same one.
    expect(e.details.messageId).toMatch(/^<.+@example\.com>$/);

    sink.refuse.clear();
    const r = await sendEach(encrypting, mail, { resume: e.details });
    expect(r.copies.map((c) => c.copy)).toEqual([at('compliance'), at('legal')]);
    expect(sink.delivered.map((d) => d.to)).toEqual([[at('approvers')], [at('auditor')], [at('compliance')], [at('legal')]]);
    expect(new Set(sink.delivered.map((d) => messageIdOf(d.bytes)))).toEqual(new Set([e.details.messageId]));
    expect(await opens(sink.delivered[3]!.bytes, 'legal')).toBe(true);
    expect(await opens(sink.delivered[3]!.bytes, 'compliance')).toBe(false);
  });

  it('a Bcc recipient\'s certificate revoked after the preflight, while earlier copies go out: its copy is not made (ERR_SEND_INCOMPLETE, ERR_RECIPIENT_INVALID), the others stay sent', async () => {
    const fx = await f;
    const rc = fx.checker();
    const real = rc.check.bind(rc);
    let revoked = false;
    rc.check = async (c, i, when) => (revoked && c.serialNumber === people.legal.certificate.serialNumber ? { serialNumber: c.serialNumber, subject: 'legal', status: 'revoked' as const } : real(c, i, when));
    const plugin = mailpkiPlugin({
      smime: { signer: fx.payments },
      encrypt: { recipients: PEOPLE.map((p) => people[p].certificate), at: NOW, revocation: { policy: 'hard-fail', checker: rc } },
      preflight: { clock, trustAnchors: [fx.root], intermediates: [fx.ca.issuingCertificate], revocation: { policy: 'hard-fail', checker: fx.checker() } },
    });
    const t = sink.transport();
    t.use('stream', (m, cb) => plugin(m as unknown as NodemailerMail, cb));
    // Revoked as soon as the server has the first copy: after every preflight, before the legal copy is made.
    const delivered = sink.delivered.push.bind(sink.delivered);
    sink.delivered.push = (...d) => ((revoked = true), delivered(...d));
    try {
      const e = (await sendEach(t, paymentMail({ bcc: [at('auditor'), at('legal')] })).catch((x: unknown) => x)) as { code: string; details: { sent: { copy: string }[]; pending: string[]; error: { copy: string; code?: string } } };
      expect(e.code).toBe('ERR_SEND_INCOMPLETE');
      expect(e.details.sent.map((c) => c.copy)).toEqual(['main', at('auditor')]);
      expect(e.details.pending).toEqual([at('legal')]);
      expect(e.details.error).toMatchObject({ copy: at('legal'), code: 'ERR_RECIPIENT_INVALID' });
      expect(sink.delivered.map((d) => d.to)).toEqual([[at('approvers')], [at('auditor')]]);
    } finally {
      t.close();
      delete (sink.delivered as { push?: unknown }).push;
    }
  });

  it('the To/Cc readers\' certificates are checked once per message, not once per Bcc copy (3 Bcc: the approvers\' certificate checked once by the preflights, not 4 times)', async () => {
    const fx = await f;
    const rc = fx.checker();
    const real = rc.check.bind(rc);
    let checks = 0;
    let planning = true;
    rc.check = async (c, i, when) => {
      if (planning && c.serialNumber === people.approvers.certificate.serialNumber) checks++;
      return real(c, i, when);
    };
    let planned = 0;
    const plugin = mailpkiPlugin({
      smime: { signer: fx.payments },
      encrypt: { recipients: PEOPLE.map((p) => people[p].certificate), at: NOW, revocation: { policy: 'hard-fail', checker: rc } },
      preflight: { clock, trustAnchors: [fx.root], intermediates: [fx.ca.issuingCertificate], revocation: { policy: 'hard-fail', checker: fx.checker() } },
      // The last copy's preflight ends the planning pass; the copies made after it are checked again by signAndEncrypt.
      onPreflight: () => void (++planned === 4 && (planning = false)),
    });
    const t = sink.transport();
    t.use('stream', (m, cb) => plugin(m as unknown as NodemailerMail, cb));
    try {
      const r = await sendEach(t, paymentMail({ bcc: [at('auditor'), at('compliance'), at('legal')] }));
      expect(r.copies).toHaveLength(4);
      expect(checks).toBe(1);
    } finally {
      t.close();
    }
  });

  it('a transporter without the mailpki plugin: ERR_INVALID_INPUT and nothing delivered (the planning pass has no recipient)', async () => {
    const bare = sink.transport();
    try {
      await expect(sendEach(bare, paymentMail({ bcc: at('auditor') }))).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'transporter' } });
      expect(sink.delivered).toEqual([]);
    } finally {
      bare.close();
    }
  });

  it('without encrypt there is nothing to hide: one signed copy to every recipient, Bcc in the envelope only', async () => {
    const fx = await f;
    const signing = sink.transport();
    const plugin = mailpkiPlugin({ smime: { signer: fx.payments }, preflight: { clock, trustAnchors: [fx.root], intermediates: [fx.ca.issuingCertificate], revocation: { policy: 'hard-fail', checker: fx.checker() } } });
    signing.use('stream', (m, cb) => plugin(m as unknown as NodemailerMail, cb));
    try {
      const r = await sendEach(signing, paymentMail({ bcc: at('auditor') }));
      expect(r.copies.map((c) => [c.copy, c.envelope.to])).toEqual([['main', [at('approvers'), at('auditor')]]]);
      expect(sink.delivered).toHaveLength(1);
      const v = await verifyMessage(new Uint8Array(sink.delivered[0]!.bytes), { trustAnchors: [fx.root], clock, revocation: { policy: 'hard-fail', crls: fx.crls } });
      expect(v.valid).toBe(true);
      expect(sink.delivered[0]!.bytes.toString('latin1')).not.toMatch(/^Bcc:/im);
    } finally {
      signing.close();
    }
  });

  it('caller mistakes: recipients in mail.envelope, a forged token, a resume naming no copy of the message', async () => {
    await expect(sendEach(encrypting, paymentMail({ envelope: { from: 'payments@example.com', to: [at('auditor')] } }))).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'mail.envelope' } });
    await expect(encrypting.sendMail(paymentMail({ mailpkiSendEach: {} }))).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'mailpkiSendEach' } });
    await expect(sendEach(encrypting, paymentMail(), { resume: { messageId: '<pi-2026-118@example.com>', pending: [at('auditor')] } })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'resume' } });
    expect(sink.delivered).toEqual([]);
  });
});

describe('sendEach with a governed identity: the audit names each copy handed to the transport', () => {
  it('one message.signed per copy handed over (the refused one too, as a plain send), each the SHA-256 of those bytes; none for a copy not handed over', async () => {
    const { harness } = await import('../lifecycle/helpers.js');
    const { RevocationChecker } = await import('../../src/revocation/index.js');
    const { createHash } = await import('node:crypto');
    const h = await harness();
    await h.manager.enroll({ mailbox: 'payments@example.com', owner: { team: 'treasury' } }, { actor: 'alice' });
    const readers = [];
    for (const who of ['approvers', 'auditor', 'legal']) {
      const pair = await generateKeyPair('ec-p256');
      readers.push(parseCertificate((await h.ca.local.issue({ mailbox: `${who}@example.com`, publicKey: await exportSpki(pair.publicKey), profile: 'strict' })).certificate));
    }
    const crls = [await h.ca.local.createCrl(), (await h.ca.local.rootCrl())!];
    const plugin = mailpkiPlugin({
      smime: { identity: 'payments@example.com', manager: h.manager },
      encrypt: { recipients: readers, revocation: { policy: 'hard-fail', crls } },
      preflight: { clock: h.clock, trustAnchors: [h.ca.local.rootCertificate], intermediates: [h.ca.local.issuingCertificate], revocation: { policy: 'hard-fail', checker: new RevocationChecker({ crls, clock: h.clock }) } },
      actor: 'app:payments',
    });
    const sink = await startSink();
    const t = sink.transport();
    t.use('stream', (m, cb) => plugin(m as unknown as NodemailerMail, cb));
    try {
      sink.refuse.add('auditor@example.com');
      const mail = paymentMail({ date: h.clock(), bcc: ['auditor@example.com', 'legal@example.com'] });
      const e = (await sendEach(t, mail).catch((x: unknown) => x)) as { code: string; details: { messageId: string; pending: string[] } };
      expect(e.code).toBe('ERR_SEND_INCOMPLETE');
      const audited = async () => (await h.store.listAudit()).filter((r) => r.action === 'message.signed').map((r) => (r.after as { sha256: string }).sha256);
      // The main copy (delivered) and the auditor's (handed over, then refused by the server); not legal's.
      expect(await audited()).toHaveLength(2);
      expect((await audited())[0]).toBe(createHash('sha256').update(sink.delivered[0]!.bytes).digest('hex'));
      sink.refuse.clear();
      await sendEach(t, mail, { resume: e.details });
      const digests = sink.delivered.map((d) => createHash('sha256').update(d.bytes).digest('hex'));
      expect(sink.delivered.map((d) => d.to)).toEqual([['approvers@example.com'], ['auditor@example.com'], ['legal@example.com']]);
      expect(await audited()).toHaveLength(4);
      for (const d of digests) expect(await audited()).toContain(d);
    } finally {
      t.close();
      await sink.close();
    }
  });
});
