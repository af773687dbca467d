/**
 * Unsigned instances of signed single-instance fields (RFC 6376 §5.4.2, §8.15; issue 13 / atk13): a
 * signer that lists Subject once in h=, then a second Subject added on top. The signature still
 * verifies over the bottom one; a client shows the top one. mailpki gives `policy` and lists the
 * field; over-signed messages and fields that may repeat keep passing. Both directions with real
 * peers: mailauth 4.13 (npm) and dkimpy (Debian python3-dkim) sign, mailpki verifies; the peers'
 * own verdict on the forged message is recorded to show why mailpki differs (they say pass).
 */
import { fileURLToPath } from 'node:url';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { SINGLE_INSTANCE_FIELDS, signDkimMessage, staticResolver, verifyDkim, type DkimKey } from '../../src/dkim/index.js';
import { run } from '../helpers/peers.js';
import { DOMAIN, keyPem, testKey, testMessage } from './fixtures.js';
import { describeWithDkimPeers } from './peers.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const clock = (): Date => NOW;
const FORGED_SUBJECT = 'Subject: URGENT: new bank details, pay DE00 6666 6666 today';
const reasonFor = (what: string): string =>
  `signature verified, but not every instance of a signed field is signed (unsigned-header-instance: ${what}; a reader may show one nobody signed)`;

/** Puts `field` on top of the header block, above the DKIM-Signature (where anyone on the path adds one). */
const onTop = (signed: string, field: string): string => `${field}\r\n${signed}`;
/** Puts `field` at the bottom of the header block. */
const atBottom = (signed: string, field: string): string => signed.replace('\r\n\r\n', `\r\n${field}\r\n\r\n`);

let ed: DkimKey;
let rsa: DkimKey;
let records: Record<string, string>;
let resolver: ReturnType<typeof staticResolver>;
beforeAll(async () => {
  ed = await testKey('ed25519');
  rsa = await testKey('rsa-2048');
  records = { [ed.record.name]: ed.record.value, [rsa.record.name]: rsa.record.value };
  resolver = staticResolver(records);
});

const verify = async (m: string, policy?: { requireSignedInstances?: boolean }) =>
  (await verifyDkim(m, { resolver, clock, ...(policy ? { policy } : {}) })).results.map((r) => [r.result, r.reason, r.aligned, r.unsignedInstances]);

/** testMessage signed by mailpki listing each present field once (overSign false: what mailauth does). */
const signedOnce = (message = testMessage()): Promise<string> =>
  signDkimMessage(message, [{ domain: DOMAIN, selector: ed.selector, privateKey: ed.privateKey, clock, overSign: false }]);

describe('unsigned instances of signed fields (mailpki signer, no over-signing)', () => {
  it('the list is RFC 5322 §3.6 at-most-once fields plus the top-level MIME fields, nothing that may repeat', () => {
    expect(SINGLE_INSTANCE_FIELDS).toEqual([
      'date', 'from', 'sender', 'reply-to', 'to', 'cc', 'bcc', 'message-id', 'in-reply-to', 'references', 'subject',
      'mime-version', 'content-type', 'content-transfer-encoding',
    ]);
  });

  it('as signed: pass, aligned, nothing listed', async () => {
    expect(await verify(await signedOnce())).toEqual([['pass', 'signature verified', true, undefined]]);
  });

  // Every single-instance field testMessage carries (From has its own, earlier reason: several-fields).
  for (const [field, name, add] of [
    ['subject', 'Subject', FORGED_SUBJECT],
    ['to', 'To', 'To: ap@example.com'],
    ['date', 'Date', 'Date: Sun, 1 Mar 2026 12:00:00 +0000'],
    ['message-id', 'Message-ID', 'Message-ID: <forged@evil.example>'],
    ['mime-version', 'MIME-Version', 'MIME-Version: 1.0'],
    ['content-type', 'Content-Type', 'Content-Type: text/html; charset=utf-8'],
  ] as const)
    it(`a second ${name} on top: policy, not aligned, the field listed with its counts`, async () => {
      expect(await verify(onTop(await signedOnce(), add))).toEqual([
        ['policy', reasonFor(`the message has 2 ${name} fields and h= signs 1`), true, [{ field, signed: 1, present: 2 }]],
      ]);
    });

  it('the filter-facing facts: `aligned` stays the domain fact, the result is not pass (dmarcCandidate finds none)', async () => {
    const v = await verifyDkim(onTop(await signedOnce(), FORGED_SUBJECT), { resolver, clock });
    expect(v.result).toBe('policy');
    expect(v.results.some((r) => r.result === 'pass' && r.aligned)).toBe(false);
  });

  it('two Subjects added: counts 3 vs 1; a Subject and a To: both named in one reason, in h= order', async () => {
    const s = await signedOnce();
    expect(await verify(onTop(onTop(s, FORGED_SUBJECT), 'Subject: again'))).toEqual([
      ['policy', reasonFor('the message has 3 Subject fields and h= signs 1'), true, [{ field: 'subject', signed: 1, present: 3 }]],
    ]);
    expect(await verify(onTop(onTop(s, FORGED_SUBJECT), 'To: x@evil.example'))).toEqual([
      [
        'policy',
        reasonFor('the message has 2 Subject fields and h= signs 1; the message has 2 To fields and h= signs 1'),
        true,
        [{ field: 'subject', signed: 1, present: 2 }, { field: 'to', signed: 1, present: 2 }],
      ],
    ]);
  });

  it('field names as h= matches them: "SUBJECT:" and "Subject :" on top count as Subject', async () => {
    const s = await signedOnce();
    for (const add of ['SUBJECT: pay now', 'Subject : pay now', 'subject:pay now'])
      expect([add, ...(await verify(onTop(s, add)))]).toEqual([
        add,
        ['policy', reasonFor('the message has 2 Subject fields and h= signs 1'), true, [{ field: 'subject', signed: 1, present: 2 }]],
      ]);
  });

  it('a second Subject at the bottom is the one h= selects: the signature breaks (fail), and it is still listed', async () => {
    expect(await verify(atBottom(await signedOnce(), FORGED_SUBJECT))).toEqual([
      ['fail', 'signature did not verify', true, [{ field: 'subject', signed: 1, present: 2 }]],
    ]);
  });

  it('policy.requireSignedInstances false: pass, with the unsigned instances in the reason and the result', async () => {
    expect(await verify(onTop(await signedOnce(), FORGED_SUBJECT), { requireSignedInstances: false })).toEqual([
      ['pass', 'signature verified; unsigned header instances: the message has 2 Subject fields and h= signs 1', true, [{ field: 'subject', signed: 1, present: 2 }]],
    ]);
  });

  it('policy.requireSignedInstances other than true/false is a caller mistake naming the field', async () => {
    await expect(verifyDkim(await signedOnce(), { resolver, clock, policy: { requireSignedInstances: 'yes' as unknown as boolean } })).rejects.toMatchObject({
      code: 'ERR_INVALID_INPUT',
      details: { field: 'policy.requireSignedInstances' },
    });
  });

  it('over-signed (mailpki default, h= lists Subject twice): an added Subject breaks the signature', async () => {
    const signed = await signDkimMessage(testMessage(), [{ domain: DOMAIN, selector: ed.selector, privateKey: ed.privateKey, clock }]);
    expect(signed).toMatch(/subject:subject/);
    expect(await verify(signed)).toEqual([['pass', 'signature verified', true, undefined]]);
    expect((await verify(onTop(signed, FORGED_SUBJECT))).map((r) => r.slice(0, 2))).toEqual([['fail', 'signature did not verify']]);
  });

  it('a message signed with two Subjects, both in h=: pass (the signer vouched for both)', async () => {
    const two = testMessage().replace('Date:', 'Subject: second\r\nDate:');
    const signed = await signedOnce(two);
    expect(signed).toMatch(/subject:subject/);
    expect(await verify(signed)).toEqual([['pass', 'signature verified', true, undefined]]);
  });

  it('a field h= does not list at all is no unsigned instance (Sender, Reply-To, Cc added on top of a signature without them): pass; the shown ones are listed in unsignedFields', async () => {
    const s = await signedOnce();
    expect(s).not.toMatch(/h=[^;]*(sender|reply-to|cc)/);
    const m = onTop(onTop(onTop(onTop(s, 'Sender: a@evil.example'), 'Sender: b@evil.example'), 'Reply-To: a@evil.example'), 'Cc: a@evil.example');
    expect(await verify(m)).toEqual([['pass', 'signature verified', true, undefined]]);
    // Cc is not among the shown fields a reader acts on; Sender and Reply-To are, in SHOWN_FIELDS order.
    expect((await verifyDkim(m, { resolver, clock })).results.map((r) => r.unsignedFields)).toEqual([['sender', 'reply-to']]);
    expect((await verifyDkim(s, { resolver, clock })).results.map((r) => r.unsignedFields)).toEqual([undefined]);
  });

  it('fields that may repeat keep passing: Received, Comments, Keywords, Resent-*, signed once or not, added again', async () => {
    const base = testMessage().replace(
      'From:',
      'Received: from a by b; Sun, 1 Mar 2026 11:00:00 +0000\r\nReceived: from c by a; Sun, 1 Mar 2026 10:59:00 +0000\r\nComments: first\r\nComments: second\r\nKeywords: invoice\r\nKeywords: payment\r\nResent-From: x@example.com\r\nFrom:',
    );
    const signed = await signDkimMessage(base, [
      { domain: DOMAIN, selector: ed.selector, privateKey: ed.privateKey, clock, overSign: false, headers: ['From', 'Subject', 'Comments', 'Keywords', 'Resent-From', 'Received'] },
    ]);
    // From is always over-signed by signDkim; the rest once per instance.
    expect(signed.replace(/\r\n\t/g, '')).toMatch(/h=from:from:subject:comments:comments:keywords:keywords:resent-from:received:received;/);
    let m = signed;
    for (const add of ['Received: from evil by a; Sun, 1 Mar 2026 12:00:00 +0000', 'Comments: third', 'Keywords: urgent', 'Resent-From: y@example.com', 'X-Mailer: x'])
      m = onTop(m, add);
    expect(await verify(m)).toEqual([['pass', 'signature verified', true, undefined]]);
  });

  it('cost: 20,000 added Subject fields are counted once per message, not per signature × field', async () => {
    const s = await signedOnce();
    const many = `${'Subject: x\r\n'.repeat(20_000)}${s}`;
    const t0 = performance.now();
    const r = await verify(many);
    expect(r).toEqual([['policy', reasonFor('the message has 20001 Subject fields and h= signs 1'), true, [{ field: 'subject', signed: 1, present: 20001 }]]]);
    // Generous: a quadratic count would take minutes here.
    expect(performance.now() - t0).toBeLessThan(5_000);
  });
});

// mailauth 4.13 never over-signs: it lists each present instance of a listed name once (its
// getSigningHeaderLines), whatever its headerList says; its default list includes Subject.
describe('unsigned instances: mailauth 4.13 signs (it cannot over-sign), mailpki verifies', () => {
  const mailauthResolver = async (name: string): Promise<string[][]> => {
    const v = records[name.replace(/\.$/, '').toLowerCase()];
    if (v === undefined) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    return [[v]];
  };
  const mailauthSigned = async (key: DkimKey, headerList?: string, message = testMessage()): Promise<string> => {
    const { signatures, errors } = await dkimSign(message, {
      ...(headerList ? { headerList } : {}),
      // mailauth 4.13 without signTime computes t= twice (Math.round(Date.now()/1000), once for the hash, once for the header): across a half second they differ and its own signature does not verify.
      signTime: new Date(),
      signatureData: [{ signingDomain: DOMAIN, selector: key.selector, privateKey: await keyPem(key), algorithm: key.signingAlgorithm }],
    } as unknown as Parameters<typeof dkimSign>[1]);
    expect(errors).toEqual([]);
    return signatures + message;
  };
  const mailauthResult = async (m: string): Promise<string[]> =>
    (await dkimVerify(Buffer.from(m), { resolver: mailauthResolver })).results.map((r: { status: { result: string } }) => r.status.result);

  for (const alg of ['rsa', 'ed25519'] as const)
    it(`${alg}: a Subject added on top is policy for mailpki (mailauth itself says pass); the unchanged message passes`, async () => {
      const key = alg === 'rsa' ? rsa : ed;
      const signed = await mailauthSigned(key);
      expect(signed).toMatch(/h=Content-Type: MIME-Version: Message-ID: Date: Subject: To: From;/);
      expect(await verifyDkim(signed, { resolver }).then((v) => v.results.map((r) => [r.result, r.aligned]))).toEqual([['pass', true]]);
      const forged = onTop(signed, FORGED_SUBJECT);
      expect(await mailauthResult(forged)).toEqual(['pass']);
      expect((await verifyDkim(forged, { resolver })).results.map((r) => [r.result, r.reason, r.unsignedInstances])).toEqual([
        ['policy', reasonFor('the message has 2 Subject fields and h= signs 1'), [{ field: 'subject', signed: 1, present: 2 }]],
      ]);
    });

  it('a second From on top: the author reader reason (several-fields) comes first, From is listed too', async () => {
    const v = (await verifyDkim(onTop(await mailauthSigned(rsa), 'From: ceo@example.com'), { resolver })).results;
    expect(v.map((r) => [r.result, r.aligned, r.unsignedInstances])).toEqual([['policy', false, [{ field: 'from', signed: 1, present: 2 }]]]);
    expect(v[0]!.reason).toMatch(/^signature verified, but there is no single well-formed From to align with \(several-fields: /);
  });

  it('a second From on top with requireWellFormedFrom false: still policy (unsigned instance) until requireSignedInstances is false too', async () => {
    const forged = onTop(await mailauthSigned(rsa), 'From: ceo@example.com');
    const run = async (policy: object) => (await verifyDkim(forged, { resolver, policy })).results.map((r) => [r.result, r.aligned]);
    expect(await run({ requireWellFormedFrom: false })).toEqual([['policy', false]]);
    expect(await run({ requireWellFormedFrom: false, requireSignedInstances: false })).toEqual([['pass', false]]);
  });

  it('a headerList naming Subject twice still signs it once (mailauth cannot over-sign): the added Subject is policy', async () => {
    const signed = await mailauthSigned(rsa, 'from:to:subject:subject:date');
    expect(signed).toMatch(/h=Date: Subject: To: From;/);
    expect((await verifyDkim(onTop(signed, FORGED_SUBJECT), { resolver })).results.map((r) => [r.result, r.unsignedInstances])).toEqual([
      ['policy', [{ field: 'subject', signed: 1, present: 2 }]],
    ]);
  });

  it('a message mailauth signed with two Subjects (both in h=): passes for both; a third on top is policy for mailpki', async () => {
    const signed = await mailauthSigned(rsa, 'from:to:subject:date', testMessage().replace('Date:', 'Subject: second\r\nDate:'));
    expect(signed).toMatch(/h=Date: Subject: Subject: To: From;/);
    expect((await verifyDkim(signed, { resolver })).results.map((r) => [r.result, r.reason])).toEqual([['pass', 'signature verified']]);
    expect(await mailauthResult(signed)).toEqual(['pass']);
    expect((await verifyDkim(onTop(signed, FORGED_SUBJECT), { resolver })).results.map((r) => [r.result, r.unsignedInstances])).toEqual([
      ['policy', [{ field: 'subject', signed: 2, present: 3 }]],
    ]);
  });

  it('mailpki signs (over-signing by default): mailauth passes it, and not with a Subject added on top', async () => {
    const signed = await signDkimMessage(testMessage(), [{ domain: DOMAIN, selector: ed.selector, privateKey: ed.privateKey }]);
    expect(await mailauthResult(signed)).toEqual(['pass']);
    expect(await mailauthResult(onTop(signed, FORGED_SUBJECT))).toEqual(['fail']);
  });

  it('a repeated Received / Keywords, signed by mailauth and added to: passes for both', async () => {
    const message = testMessage().replace('From:', 'Received: from a by b; Sun, 1 Mar 2026 11:00:00 +0000\r\nKeywords: invoice\r\nKeywords: payment\r\nFrom:');
 const signed = await mailauthSigned(rsa, 'from:subject:keywords:received', message);
    expect(signed.replace(/\r\n /g, ' ')).toMatch(/h=Subject: From: Keywords: Keywords: Received;/);
    const m = onTop(onTop(signed, 'Received: from evil by a; Sun, 1 Mar 2026 12:00:00 +0000'), 'Keywords: urgent');
    expect((await verifyDkim(m, { resolver })).results.map((r) => [r.result, r.reason])).toEqual([['pass', 'signature verified']]);
    expect(await mailauthResult(m)).toEqual(['pass']);
  });
});

const DKIMPY = fileURLToPath(new URL('./dkimpy-job.py', import.meta.url));
const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

describeWithDkimPeers('unsigned instances: dkimpy signs (From frozen, the rest once), mailpki verifies', ['python3-dkim'], () => {
  interface SignJob {
    msg: string;
    selector: string;
    domain: string;
    key: string;
    canon: string;
    alg: string;
    include: string[];
  }
  const dkimpy = (job: { records: Record<string, string>; verify?: string[]; sign?: SignJob[] }): { verify: boolean[]; sign: string[] } =>
    JSON.parse(run('/usr/bin/python3', [DKIMPY], { input: JSON.stringify(job) }));

  it('not over-signed: mailpki gives policy for a Subject (or Date) added on top, dkimpy says pass; the unchanged message passes both', async () => {
    const pem = await keyPem(rsa);
    const include = ['from', 'to', 'subject', 'date', 'message-id'];
    const jobs = ['relaxed/relaxed', 'simple/simple'].map((canon) => ({ msg: b64(testMessage()), selector: rsa.selector, domain: DOMAIN, key: pem, canon, alg: 'rsa-sha256', include }));
    const signed = dkimpy({ records, sign: jobs }).sign.map((s) => Buffer.from(s, 'base64').toString('utf8'));
    const forged = signed.flatMap((s) => [onTop(s, FORGED_SUBJECT), onTop(s, 'Date: Sun, 1 Mar 2026 12:00:00 +0000')]);
    expect(dkimpy({ records, verify: [...signed, ...forged].map(b64) }).verify).toEqual([true, true, true, true, true, true]);
    for (const s of signed) expect((await verifyDkim(s, { resolver })).results.map((r) => [r.result, r.aligned])).toEqual([['pass', true]]);
    const got = await Promise.all(forged.map(async (m) => (await verifyDkim(m, { resolver })).results.map((r) => [r.result, r.unsignedInstances])));
    expect(got).toEqual([
      [['policy', [{ field: 'subject', signed: 1, present: 2 }]]],
      [['policy', [{ field: 'date', signed: 1, present: 2 }]]],
      [['policy', [{ field: 'subject', signed: 1, present: 2 }]]],
      [['policy', [{ field: 'date', signed: 1, present: 2 }]]],
    ]);
  });

  it('over-signed by dkimpy (include lists subject twice): passes; an added Subject fails for mailpki and dkimpy', async () => {
    const pem = await keyPem(rsa);
    const [s] = dkimpy({
      records,
      sign: [{ msg: b64(testMessage()), selector: rsa.selector, domain: DOMAIN, key: pem, canon: 'relaxed/relaxed', alg: 'rsa-sha256', include: ['from', 'to', 'subject', 'subject', 'date'] }],
    }).sign;
    const signed = Buffer.from(s!, 'base64').toString('utf8');
    expect(signed.replace(/\r\n /g, ' ')).toMatch(/h=from : to : subject : subject : date;/);
    const forged = onTop(signed, FORGED_SUBJECT);
    expect((await verifyDkim(signed, { resolver })).results.map((r) => r.result)).toEqual(['pass']);
    expect((await verifyDkim(forged, { resolver })).results.map((r) => [r.result, r.reason])).toEqual([['fail', 'signature did not verify']]);
    expect(dkimpy({ records, verify: [b64(signed), b64(forged)] }).verify).toEqual([true, false]);
  });

  it('mailpki signs (over-signing by default): dkimpy passes it, and fails it with a Subject, To or Date added on top', async () => {
    const signed = await signDkimMessage(testMessage(), [{ domain: DOMAIN, selector: rsa.selector, privateKey: rsa.privateKey }]);
    const forged = [FORGED_SUBJECT, 'To: ap@example.com', 'Date: Sun, 1 Mar 2026 12:00:00 +0000'].map((f) => onTop(signed, f));
    expect(dkimpy({ records, verify: [signed, ...forged].map(b64) }).verify).toEqual([true, false, false, false]);
  });

  it('mailpki signs with repeated Received / Comments / Keywords and more are added: dkimpy and mailpki pass it', async () => {
    const base = testMessage().replace('From:', 'Received: from a by b; Sun, 1 Mar 2026 11:00:00 +0000\r\nComments: one\r\nComments: two\r\nKeywords: invoice\r\nFrom:');
    const signed = await signDkimMessage(base, [
      { domain: DOMAIN, selector: rsa.selector, privateKey: rsa.privateKey, clock, overSign: false, headers: ['From', 'Subject', 'Comments', 'Keywords'] },
    ]);
    const m = onTop(onTop(onTop(signed, 'Received: from evil by a; Sun, 1 Mar 2026 12:00:00 +0000'), 'Comments: three'), 'Keywords: urgent');
    expect((await verifyDkim(m, { resolver, clock })).results.map((r) => [r.result, r.reason])).toEqual([['pass', 'signature verified']]);
    expect(dkimpy({ records, verify: [b64(m)] }).verify).toEqual([true]);
  });
});
