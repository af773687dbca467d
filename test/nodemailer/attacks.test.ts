/**
 * Preflight refusals: each unfit sender or message stops the send with ERR_PREFLIGHT_FAILED naming
 * every failed check, and nothing reaches the transport. Header injection through nodemailer's
 * fields either stays inside one field or is refused.
 */
import nodemailer from 'nodemailer';
import { describe, expect, it } from 'vitest';
import { staticResolver, type DkimSignOptions } from '../../src/dkim/index.js';
import { MailPkiError } from '../../src/errors.js';
import { mailpkiPlugin, preflight, type MailpkiPluginOptions, type NodemailerMail, type PreflightResult } from '../../src/nodemailer/index.js';
import { RevocationChecker } from '../../src/revocation/index.js';
import { verifyMessage } from '../../src/smime/index.js';
import { harness } from '../lifecycle/helpers.js';
import { clock, mailFixture, paymentMail } from './fixtures.js';
import { rfc822Name, selfSignedSigner } from '../smime/fixtures.js';

const f = await mailFixture();
const exampleKey: DkimSignOptions = { domain: 'example.com', selector: 'nm1', privateKey: f.dkim.privateKey };
const evilKey: DkimSignOptions = { domain: 'evil.test', selector: 'ev1', privateKey: f.dkimEvil.privateKey };

/** A transport that counts what reaches it and keeps the bytes. */
function countingTransport() {
  const sent: Buffer[] = [];
  const transport = nodemailer.createTransport({
    name: 'counting',
    version: '1',
    send(mail: { message: { createReadStream(): NodeJS.ReadableStream } }, cb: (err: Error | null, info: unknown) => void) {
      const chunks: Buffer[] = [];
      const s = mail.message.createReadStream();
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('end', () => {
        sent.push(Buffer.concat(chunks));
        cb(null, { messageId: 'x' });
      });
    },
  } as never);
  return { transport, sent };
}

async function attempt(options: MailpkiPluginOptions, mail: Record<string, unknown> = paymentMail()) {
  const { transport, sent } = countingTransport();
  let result: PreflightResult | undefined;
  transport.use('stream', mailpkiPlugin({ ...options, onPreflight: (r) => (result = r) }) as unknown as (m: unknown, cb: () => void) => void);
  let error: MailPkiError | undefined;
  try {
    await transport.sendMail(mail);
  } catch (e) {
    error = e as MailPkiError;
  }
  return { error, sent, result };
}

const base = (extra: Partial<MailpkiPluginOptions['preflight']> = {}): MailpkiPluginOptions['preflight'] => ({
  clock,
  trustAnchors: [f.root],
  resolver: f.resolver,
  revocation: { policy: 'hard-fail', checker: f.checker() },
  ...extra,
});

function failedOf(r: Awaited<ReturnType<typeof attempt>>) {
  expect(r.sent).toEqual([]);
  expect(r.error).toBeInstanceOf(MailPkiError);
  expect(r.error!.code).toBe('ERR_PREFLIGHT_FAILED');
  expect(r.error!.details!.failed).toEqual(r.result!.failed);
  return r.result!.failed;
}

describe('preflight refusals: nothing is sent', () => {
  it('control: the fit sender sends exactly one message', async () => {
    const r = await attempt({ smime: { signer: f.payments }, dkim: { keys: [exampleKey] }, preflight: base() });
    expect(r.error).toBeUndefined();
    expect(r.sent.length).toBe(1);
    expect(r.result!.ok).toBe(true);
  });

  it('From is not a mailbox of the certificate', async () => {
    const r = await attempt({ smime: { signer: f.attacker }, preflight: base() });
    expect(failedOf(r)).toEqual(['from']);
    expect(r.error!.message).toContain('from: From payments@example.com is not a mailbox of the signing certificate (attacker@evil.test)');
  });

  it.each([
    ['another address in the display name', { from: { name: 'ceo@example.com', address: 'payments@example.com' } }],
    ['a newline in from (nodemailer makes it a group)', { from: 'payments@example.com\r\nFrom: ceo@example.com' }],
    ['a second From through a prepared header', { headers: { 'X-Note': { prepared: true, value: 'a\r\nFrom: ceo@example.com' } } }],
    ['a Sender other than From', { sender: 'ceo@example.com' }],
    ['another address spelled out in the display name', { from: { name: 'ceo at example dot com', address: 'payments@example.com' } }],
    ['another address with a full-width at sign in the display name', { from: { name: 'ceo＠example.com', address: 'payments@example.com' } }],
  ])('display-name and header tricks: %s', async (_name, extra) => {
    const r = await attempt({ smime: { signer: f.payments }, preflight: base() }, paymentMail(extra));
    expect(failedOf(r)).toEqual(['from']);
  });

  it('a From domain wholly in Cyrillic letters that look Latin (pay@xn--80aa0cbo65f.com, shown pay@раураӏ.com): from fails, as verifiers warn SMIME_FROM_DOMAIN_LOOKALIKE; under .ru, a Cyrillic ccTLD, it passes', async () => {
    const fromCheck = async (mailbox: string, shown = mailbox) => {
      // A self-signed certificate for the mailbox: only the from check is looked at here.
      const signer = await selfSignedSigner([rfc822Name(mailbox)], mailbox);
      const message = `From: Payments <${shown}>\r\nTo: approvers@example.com\r\nSubject: Payment instruction\r\n\r\nPay 1,250.00 EUR\r\n`;
      const r = await preflight(message, { smime: { signer }, clock, trustAnchors: [signer.certificate] });
      return r.checks.find((c) => c.check === 'from');
    };
    const refused = {
      check: 'from',
      outcome: 'fail',
      message: 'the From domain \u0440\u0430\u0443\u0440\u0430\u04CF.com (xn--80aa0cbo65f.com) is written in Cyrillic letters that look Latin: a reader may take it for paypal.com',
    };
    expect(await fromCheck('pay@xn--80aa0cbo65f.com')).toEqual(refused);
    expect(await fromCheck('pay@xn--80aa0cbo65f.com', 'pay@\u0440\u0430\u0443\u0440\u0430\u04CF.com')).toEqual(refused);
    expect(await fromCheck('pay@xn--80aa0cbo65f.ru')).toEqual({ check: 'from', outcome: 'pass', message: 'From pay@xn--80aa0cbo65f.ru is a mailbox of the signing certificate' });
  });

  it('a certificate within the expiry margin (default 7 days); a margin of 0 lets it sign', async () => {
    const r = await attempt({ smime: { signer: f.expiring }, preflight: base() });
    expect(failedOf(r)).toEqual(['certificate-expiry']);
    expect(r.error!.message).toContain('within the margin of 168 hours: renew it first');
    const ok = await attempt({ smime: { signer: f.expiring }, preflight: base({ expiryMarginMs: 0 }) });
    expect(ok.error).toBeUndefined();
    expect(ok.sent.length).toBe(1);
  });

  it('a revoked certificate, under hard-fail and soft-fail alike', async () => {
    for (const policy of ['hard-fail', 'soft-fail'] as const) {
      const r = await attempt({ smime: { signer: f.revoked }, preflight: base({ revocation: { policy, checker: f.checker() } }) });
      expect(failedOf(r)).toEqual(['revocation']);
      expect(r.result!.revocation).toMatchObject({ status: 'revoked', reason: 'keyCompromise' });
    }
  });

  it('no revocation answer: hard-fail refuses, soft-fail sends and says so', async () => {
    const noAnswer = () => new RevocationChecker({ clock, fetch: async () => { throw new Error('unreachable'); } });
    const hard = await attempt({ smime: { signer: f.payments }, preflight: base({ revocation: { policy: 'hard-fail', checker: noAnswer() } }) });
    expect(failedOf(hard)).toEqual(['revocation']);
    const soft = await attempt({ smime: { signer: f.payments }, preflight: base({ revocation: { policy: 'soft-fail', checker: noAnswer() } }) });
    expect(soft.sent.length).toBe(1);
    expect(soft.result!.checks.find((c) => c.check === 'revocation')!.message).toContain('soft-fail lets it pass');
  });

  it('the issuer is not known: revocation cannot be checked, hard-fail refuses', async () => {
    const r = await attempt({ smime: { signer: { ...f.payments, chain: [] } }, preflight: base() });
    // Without the issuing CA neither the chain nor the status can be had.
    expect(failedOf(r)).toEqual(['certificate-chain', 'revocation']);
    const withIssuer = await attempt({ smime: { signer: { ...f.payments, chain: [] } }, preflight: base({ revocation: { policy: 'hard-fail', checker: f.checker(), issuers: [f.ca.issuingCertificate] } }) });
    expect(withIssuer.sent.length).toBe(1);
    const withIntermediate = await attempt({ smime: { signer: { ...f.payments, chain: [] } }, preflight: base({ intermediates: [f.ca.issuingCertificate] }) });
    expect(withIntermediate.sent.length).toBe(1);
  });

  it('DKIM d= that does not align with From', async () => {
    const r = await attempt({ dkim: { keys: [evilKey] }, preflight: base() });
    expect(failedOf(r)).toEqual(['dkim-alignment']);
    expect(r.error!.message).toContain('d=evil.test does not align with the From domain example.com');
  });

  it('DNS serves another key at the selector, or none', async () => {
    const other = staticResolver({ [f.dkim.record.name]: f.dkimEvil.record.value });
    const r = await attempt({ dkim: { keys: [exampleKey] }, preflight: base({ resolver: other }) });
    expect(failedOf(r)).toEqual(['dkim-dns']);
    const none = await attempt({ dkim: { keys: [exampleKey] }, preflight: base({ resolver: staticResolver({}) }) });
    expect(failedOf(none)).toEqual(['dkim-dns']);
    expect(none.error!.message).toContain('nm1._domainkey.example.com');
  });

  it('every failed check at once: wrong mailbox, revoked-style expiry, unaligned and unpublished DKIM', async () => {
    const r = await attempt({ smime: { signer: f.expiring }, dkim: { keys: [evilKey] }, preflight: base({ resolver: staticResolver({}) }) }, paymentMail({ from: 'treasury@example.com' }));
    expect(failedOf(r)).toEqual(['from', 'certificate-expiry', 'dkim-alignment', 'dkim-dns']);
  });
});

describe('the most expensive input', () => {
  it('a message over maxMessageBytes is ERR_INPUT_TOO_LARGE, read no further, and not sent', async () => {
    const big = 'x'.repeat(1024 * 1024);
    const r = await attempt(
      { smime: { signer: f.payments }, preflight: base(), maxMessageBytes: 512 * 1024 },
      paymentMail({ attachments: [{ filename: 'a.txt', content: big }, { filename: 'b.txt', content: big }] }),
    );
    expect(r.sent).toEqual([]);
    expect(r.result).toBeUndefined();
    expect(r.error).toMatchObject({ code: 'ERR_INPUT_TOO_LARGE', details: { limit: 512 * 1024 } });
  });

  it('maxMessageBytes above the MIME parser limit, or not a positive whole number, is refused', () => {
    for (const maxMessageBytes of [0, 1.5, 65 * 1024 * 1024])
      expect(() => mailpkiPlugin({ smime: { signer: f.payments }, maxMessageBytes })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT', details: { field: 'maxMessageBytes' } }));
  });
});

describe('governed identities', () => {
  async function enrolled() {
    const h = await harness();
    await h.manager.enroll({ mailbox: 'payments@example.com', owner: { team: 'treasury' } }, { actor: 'alice' });
    const crls = [await h.ca.local.createCrl(), (await h.ca.local.rootCrl())!];
    const preflight = { clock: h.clock, trustAnchors: [h.ca.local.rootCertificate], revocation: { policy: 'hard-fail' as const, checker: new RevocationChecker({ crls, clock: h.clock }) } };
    return { h, preflight };
  }

  it('a suspended identity does not sign, and nothing is audited as signed', async () => {
    const { h, preflight } = await enrolled();
    await h.manager.suspend('payments@example.com', { actor: 'alice', reason: 'investigation' });
    const r = await attempt({ smime: { identity: 'payments@example.com', manager: h.manager }, preflight }, paymentMail({ date: h.clock() }));
    expect(failedOf(r)).toEqual(['identity', 'from', 'certificate-validity', 'certificate-expiry', 'certificate-usage', 'certificate-chain', 'revocation']);
    expect(r.result!.checks[0]).toEqual({ check: 'identity', outcome: 'fail', message: 'the identity payments@example.com is suspended, not active' });
    expect((await h.store.listAudit()).filter((a) => a.action === 'message.signed')).toEqual([]);
  });

  it('an identity whose use is encryption only does not sign (its record says so, or getSigner refuses it)', async () => {
    const record = { id: 'smime:payments@example.com', kind: 'smime', name: 'payments@example.com', status: 'active' };
    const refused = new MailPkiError('ERR_IDENTITY_STATE', 'payments@example.com holds an encryption-only certificate: it cannot sign', { details: { use: 'encryption' } });
    const managers = [
      { get: async () => ({ ...record, use: 'encryption' }), getSigner: async () => f.payments, recordSignature: async () => {} },
      { get: async () => record, getSigner: async () => { throw refused; }, recordSignature: async () => {} },
    ];
    const messages: string[] = [];
    for (const manager of managers) {
      const r = await attempt({ smime: { identity: 'payments@example.com', manager: manager as never }, preflight: base() });
      expect(failedOf(r)).toEqual(['identity', 'from', 'certificate-validity', 'certificate-expiry', 'certificate-usage', 'certificate-chain', 'revocation']);
      messages.push(r.result!.checks[0]!.message);
    }
    expect(messages).toEqual(['the identity payments@example.com is for encryption only: its use does not allow signing', refused.message]);
  });

  it('an unknown identity', async () => {
    const { h, preflight } = await enrolled();
    const r = await attempt({ smime: { identity: 'treasury@example.com', manager: h.manager }, preflight }, paymentMail({ date: h.clock() }));
    expect(failedOf(r)[0]).toBe('identity');
  });

  it('a DKIM manager without an active key for the domain', async () => {
    const manager = {
      getSigningKeys: async (domain: string) => {
        throw new MailPkiError('ERR_IDENTITY_STATE', `${domain} has no active DKIM key yet`);
      },
    };
    const r = await attempt({ dkim: { manager }, preflight: base() });
    expect(failedOf(r)).toEqual(['dkim-key', 'dkim-alignment', 'dkim-dns']);
    expect(r.result!.checks[0]!.message).toBe('example.com has no active DKIM key yet');
  });

  it("a DKIM manager's active key is taken for the From domain", async () => {
    const asked: string[] = [];
    const manager = {
      getSigningKeys: async (domain: string) => {
        asked.push(domain);
        return [{ domain: 'example.com', selector: 'nm1', privateKey: f.dkim.privateKey, algorithm: 'rsa-sha256' as const, keyAlgorithm: 'rsa-2048' as const }];
      },
    };
    const r = await attempt({ dkim: { manager }, preflight: base() });
    expect(r.error).toBeUndefined();
    expect(asked).toEqual(['example.com']);
  });
});

describe('header injection through nodemailer fields', () => {
  it('a CRLF in the subject stays inside Subject: one From, and the message verifies', async () => {
    const r = await attempt({ smime: { signer: f.payments }, preflight: base() }, paymentMail({ subject: 'Payment\r\nFrom: ceo@example.com' }));
    expect(r.error).toBeUndefined();
    const text = r.sent[0]!.toString('latin1');
    // One From in the outer header, and its signed copy (RFC 9788 hp="clear") in the signed part.
    expect(text.split('\r\n\r\n')[0]!.match(/^From:/gim)).toEqual(['From:']);
    expect(text.match(/^From:/gim)).toEqual(['From:', 'From:']);
    expect(text).toContain('Subject: Payment From: ceo@example.com\r\n');
    const v = await verifyMessage(new Uint8Array(r.sent[0]!), { trustAnchors: [f.root], clock, revocation: { policy: 'hard-fail', crls: f.crls } });
    expect(v.valid).toBe(true);
    expect(v.from).toEqual({ address: 'payments@example.com', name: 'Payments' });
  });

  it('a CRLF in a custom header value stays inside that field', async () => {
    const r = await attempt({ smime: { signer: f.payments }, preflight: base() }, paymentMail({ headers: { 'X-Note': 'a\r\nFrom: ceo@example.com' } }));
    expect(r.error).toBeUndefined();
    expect(r.sent[0]!.toString('latin1').split('\r\n\r\n')[0]!.match(/^From:/gim)).toEqual(['From:']);
    expect(r.sent[0]!.toString('latin1').match(/^From:/gim)).toEqual(['From:', 'From:']);
  });
});

void ({} as NodemailerMail);
