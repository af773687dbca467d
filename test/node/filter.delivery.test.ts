/**
 * Regression (atk13): faults turned into the wrong SMTP answer:
 * 1. A temporary revocation outage (OCSP unreachable) under a rule `revocation: "hard-fail"`, otherwise "reject":
 *    the filter answers a PERMANENT 550, so Postfix bounces a correctly signed payment instruction for a
 *    responder blip. A temporary condition must give 4xx (the MTA retries), and the evidence must say why.
 * 2. The return port refuses ONE recipient permanently (550 at RCPT) and takes the others: the filter answers 451
 *    for the whole message, so Postfix retries — and each retry delivers again to the recipients that were taken.
 * 3. The evidence store fails (disk full): docs/mail-flow.md says "451 … no message goes through without its
 *    evidence", but evidence is written AFTER the copies were passed on: the message is delivered with no evidence,
 *    the filter answers 451, and every Postfix retry delivers it again (the repo's own test only checks a reject rule,
 *    where nothing is passed on anyway). Same window for kill -9 between re-injection and the evidence write.
 * 4. The return port refuses the message permanently (552/554 at DATA): the filter answers 451, so Postfix retries it
 *    for maximal_queue_lifetime (5 days), re-verifying each time, before the sender hears anything.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryEvidenceStore } from '../../src/filter/evidence.js';
import { createFilter, type RunningFilter } from '../../src/node/filter.js';
import { RevocationChecker } from '../../src/revocation/checker.js';
import { handOver, startSink as startSmtpSink } from '../helpers/smtp-sink.js';
import { makeSmimeFixture, NOW, plainMessage, sign, type SmimeFixture } from '../smime/fixtures.js';

/** The return port, refusing `refuse` at RCPT (550) and, with `refuseData`, every message at the end of its data. */
const startSink = (refuse?: string, refuseData?: number) =>
  startSmtpSink({
    rcpt: (address) => (address === refuse ? { code: 550, text: '5.1.1 no such user' } : undefined),
    ...(refuseData ? { data: { code: refuseData, text: '5.3.4 Message size exceeds fixed limit' } } : {}),
  });

const deliver = (port: number, to: string[], raw: string) => handOver(port, { from: 'payments@example.com', to }, raw);

let f: SmimeFixture;
beforeAll(async () => {
  f = await makeSmimeFixture();
});

describe('regression (atk13): OCSP outage under a hard-fail reject rule', () => {
  let sink: Awaited<ReturnType<typeof startSink>>;
  let filter: RunningFilter;
  const evidence = new MemoryEvidenceStore();
  beforeAll(async () => {
    sink = await startSink();
    const checker = new RevocationChecker({
      ocspUrls: ['http://ocsp.example.com/'],
      fetch: async () => {
        throw new Error('connect ETIMEDOUT');
      },
      clock: () => NOW,
    });
    filter = await createFilter({
      listen: { port: 0 },
      reinject: { port: sink.port },
      authservId: 'mx.example.com',
      evidence,
      smime: { trustAnchors: f.anchors, at: NOW, revocation: { policy: 'soft-fail', checker } },
      policy: { version: 1, rules: [{ name: 'board', recipients: ['board@example.com'], require: { smime: true, revocation: 'hard-fail' }, otherwise: 'reject' }] },
    });
  });
  afterAll(async () => {
    await filter.close(1000);
    await sink.close();
  });

  it('a correctly signed message while the responder is unreachable: 451 (retry later), not 550 (bounce)', async () => {
    const eml = await sign(plainMessage({ to: 'board@example.com' }), f.payments);
    const code = await deliver(filter.port, ['board@example.com'], eml);
    const [record] = await evidence.list();
    expect(record?.smime.result).toBe('pass'); // soft-fail verdict: valid, with the outage as a warning
    // Observed before the fix: 550 "5.7.1 Rejected by policy board: revocation not verified" — a permanent bounce.
    expect(code).toBe(451);
    expect(record?.outcome).toBe('deferred');
    expect(record?.faults.at(-1)).toMatch(/^4\.7\.0 Cannot verify now for policy board \(revocation: temporary error\)/);
  });
});

describe('regression (atk13): return port refuses one recipient permanently', () => {
  let sink: Awaited<ReturnType<typeof startSink>>;
  let filter: RunningFilter;
  beforeAll(async () => {
    sink = await startSink('gone@example.com');
    filter = await createFilter({ listen: { port: 0 }, reinject: { port: sink.port }, authservId: 'mx.example.com' });
  });
  afterAll(async () => {
    await filter.close(1000);
    await sink.close();
  });

  it('after the MTA retries (it got 4xx), ok@ has the message exactly once', async () => {
    const raw = plainMessage({ to: 'ok@example.com, gone@example.com' });
    const codes: number[] = [];
    // Postfix retries a 4xx; three attempts stand for the first hour of its queue schedule.
    for (let i = 0; i < 3; i++) {
      const c = await deliver(filter.port, ['ok@example.com', 'gone@example.com'], raw);
      codes.push(c);
      if (c < 400 || c >= 500) break;
    }
    // Observed before the fix: codes [451, 451, 451] and ok@ received 3 copies (one per retry, for up to 5 days of retries).
    expect(sink.got.filter((g) => g.to.includes('ok@example.com'))).toHaveLength(1);
    // The retry finds only gone@ left, refused again: the refusal is passed on as permanent (Postfix bounces).
    expect(codes).toEqual([451, 550]);
  });

  it('a retry of a message already delivered passes nothing on again and answers 250 with the same evidence id', async () => {
    const evidence = new MemoryEvidenceStore();
    const f2 = await createFilter({ listen: { port: 0 }, reinject: { port: sink.port }, authservId: 'mx.example.com', evidence });
    const raw = plainMessage({ to: 'ok@example.com' });
    const before = sink.got.length;
    const codes = [await deliver(f2.port, ['ok@example.com'], raw), await deliver(f2.port, ['ok@example.com'], raw)];
    await f2.close(1000);
    expect(codes).toEqual([250, 250]);
    expect(sink.got.length).toBe(before + 1);
    const records = await evidence.list();
    expect(records.map((r) => [r.outcome, r.attempts, r.delivered])).toEqual([['delivered', 2, ['ok@example.com']]]);
  });
});

describe('regression (atk13): evidence written before any copy leaves', () => {
  it('the record is pending while the copy is passed on; an update failing after delivery answers 250 and leaves it pending', async () => {
    const sink = await startSink();
    const evidence = new MemoryEvidenceStore();
    const seen: string[] = [];
    const update = evidence.update.bind(evidence);
    let failAfter = Infinity;
    evidence.update = async (id, change, options) =>
      update(
        id,
        (current) => {
          const r = change(current);
          // The pending record waits for the disk (the default); only the last update of a delivered message may not.
          if (r) seen.push(`${r.outcome}:${sink.got.length}${options?.durable === false ? ':not durable' : ''}`);
          if (seen.length > failAfter) throw new Error('disk full');
          return r;
        },
        options,
      );
    const filter = await createFilter({ listen: { port: 0 }, reinject: { port: sink.port }, authservId: 'mx.example.com', evidence });
    expect(await deliver(filter.port, ['ok@example.com'], plainMessage({ to: 'ok@example.com', subject: 'p1' }))).toBe(250);
    expect(seen).toEqual(['pending:0', 'delivered:1:not durable']);
    failAfter = seen.length + 1;
    expect(await deliver(filter.port, ['ok@example.com'], plainMessage({ to: 'ok@example.com', subject: 'p2' }))).toBe(250);
    await filter.close(1000);
    await sink.close();
    expect(sink.got).toHaveLength(2);
    expect((await evidence.list()).map((r) => r.outcome).sort()).toEqual(['delivered', 'pending']);
  });
});

describe('regression (atk13): evidence store fails while the disposition is accept / quarantine', () => {
  it('nothing reaches the mailbox without evidence; retries do not deliver again', async () => {
    const sink = await startSink();
    const broken = new MemoryEvidenceStore();
    broken.put = async () => {
      throw new Error('disk full');
    };
    broken.update = async () => {
      throw new Error('disk full');
    };
    const filter = await createFilter({ listen: { port: 0 }, reinject: { port: sink.port }, authservId: 'mx.example.com', evidence: broken });
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) codes.push(await deliver(filter.port, ['ok@example.com'], plainMessage({ to: 'ok@example.com' })));
    await filter.close(1000);
    await sink.close();
    expect(codes).toEqual([451, 451, 451]);
    // Observed today: 3 deliveries to ok@example.com, none with an evidence record.
    expect(sink.got).toHaveLength(0);
  });
});

describe('regression (atk13): return port refuses the message permanently (552 at DATA)', () => {
  it('the filter passes a permanent refusal on as permanent (5xx), not 451 for the whole queue lifetime', async () => {
    // E.g. Postfix's return smtpd has message_size_limit too: a message just under it on the way in is over it once
    // the filter added Authentication-Results and X-Mailpki-* fields.
    const sink = await startSink(undefined, 552);
    const filter = await createFilter({ listen: { port: 0 }, reinject: { port: sink.port }, authservId: 'mx.example.com' });
    const code = await deliver(filter.port, ['ok@example.com'], plainMessage({ to: 'ok@example.com' }));
    await filter.close(1000);
    await sink.close();
    // Observed today: 451 "4.3.0 Cannot pass the message on now (… 552 …); try again later".
    expect(code).toBeGreaterThanOrEqual(500);
  });
});
