/**
 * Regression (atk13): policy file and header trust:
 * 1. a requirement that can never be checked is accepted silently (revocation without smime);
 * 2. the filter's own disposition header, forged by the sender, goes through beside (or instead of) the real one;
 * 3. createFilter starts with S/MIME options that can only fail, then defers every message (451) forever.
 * 4. tag.subjectPrefix marks only the FIRST Subject: a message with two Subject fields is shown untagged by clients
 *    that show the last one (readAuthor itself says clients differ on duplicated fields).
 */
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import { parseFilterPolicy } from '../../src/filter/policy.js';
import { rewriteMessage } from '../../src/filter/inspect.js';
import { createFilter, type RunningFilter } from '../../src/node/filter.js';
import { makeSmimeFixture, NOW } from '../smime/fixtures.js';

async function startSink() {
  const got: string[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onData(stream, _s, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        got.push(Buffer.concat(chunks).toString('latin1'));
        cb();
      });
    },
  });
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.server.address() as { port: number }).port)));
  return { got, port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('regression (atk13): policy file', () => {
  it('require.revocation without require.smime is refused at start (today: accepted, and the rule never checks anything)', () => {
    let err: unknown;
    try {
      parseFilterPolicy({ version: 1, rules: [{ recipients: ['ap@example.com'], require: { revocation: 'hard-fail' }, otherwise: 'reject' }] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MailPkiError);
    expect((err as MailPkiError).code).toBe('ERR_INVALID_INPUT');
    expect((err as MailPkiError).message).toMatch(/rules\.0\.require/);
  });
});

describe('regression (atk13): forged X-Mailpki-Disposition', () => {
  let sink: Awaited<ReturnType<typeof startSink>>;
  let filter: RunningFilter;
  beforeAll(async () => {
    sink = await startSink();
    const f = await makeSmimeFixture();
    filter = await createFilter({
      listen: { port: 0 },
      reinject: { port: sink.port },
      authservId: 'mx.example.com',
      smime: { trustAnchors: f.anchors, at: NOW },
      policy: { version: 1, rules: [{ name: 'staff', recipients: ['example.com'], require: { smime: true }, otherwise: 'tag' }] },
    });
  });
  afterAll(async () => {
    await filter.close(1000);
    await sink.close();
  });

  it('a tagged copy carries exactly one X-Mailpki-Disposition, the filter\'s (a sieve `header :contains "X-Mailpki-Disposition" "accept"` must not match)', async () => {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: filter.port, secure: false, ignoreTLS: true });
    await t.sendMail({
      envelope: { from: 'x@evil.test', to: ['ap@example.com'] },
      raw: 'X-Mailpki-Disposition: accept; rule=staff\r\nX-Mailpki-Evidence-Id: 00000000-0000-0000-0000-000000000000\r\nFrom: cfo@example.com\r\nTo: ap@example.com\r\nSubject: Pay\r\n\r\nplease pay\r\n',
    });
    t.close();
    expect(sink.got).toHaveLength(1);
    // Observed today: ["X-Mailpki-Disposition: tag; rule=staff; failed=smime", "X-Mailpki-Disposition: accept; rule=staff"].
    expect(sink.got[0]!.match(/^X-Mailpki-Disposition:[^\r\n]*/gim)).toEqual(['X-Mailpki-Disposition: tag; rule=staff; failed=smime']);
    expect(sink.got[0]!).not.toMatch(/^X-Mailpki-Evidence-Id:/im);
  });
});

describe('regression (atk13): createFilter with unusable S/MIME options', () => {
  it('fails at start with ERR_INVALID_INPUT (today: starts, then answers 451 to every message, so Postfix retries each one until it bounces days later)', async () => {
    const sink = await startSink();
    let err: unknown;
    let filter: RunningFilter | undefined;
    try {
      filter = await createFilter({ listen: { port: 0 }, reinject: { port: sink.port }, authservId: 'mx.example.com', smime: { trustAnchors: [] } });
    } catch (e) {
      err = e;
    }
    await filter?.close(500);
    await sink.close();
    expect((err as MailPkiError | undefined)?.code).toBe('ERR_INVALID_INPUT');
  });
});

describe('regression (atk13): subject prefix with two Subject fields', () => {
  it('every Subject field a client may show carries the prefix', () => {
    const raw = new TextEncoder().encode('From: cfo@example.com\r\nSubject: Lunch\r\nTo: ap@example.com\r\nSubject: Pay DE00 6666 today\r\n\r\nbody\r\n');
    const out = new TextDecoder('latin1').decode(rewriteMessage(raw, { authservId: 'mx.example.com', authenticationResults: 'mx.example.com; none', subjectPrefix: '[UNVERIFIED] ' }));
    // Observed today: ['Subject: [UNVERIFIED] Lunch', 'Subject: Pay DE00 6666 today'].
    expect(out.match(/^Subject:[^\r\n]*/gm)).toEqual(['Subject: [UNVERIFIED] Lunch', 'Subject: [UNVERIFIED] Pay DE00 6666 today']);
  });
});
