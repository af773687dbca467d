/**
 * Attacks on createFilter by a client that talks to it directly (an MTA that passes bare CR on, or a
 * test harness), with raw SMTP: what the filter inspected must be what it passes on. Named after what broke.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { staticResolver } from '../../src/dkim/index.js';
import { MemoryEvidenceStore } from '../../src/filter/evidence.js';
import { createFilter, type RunningFilter } from '../../src/node/filter.js';
import { rawSmtp } from '../helpers/raw-smtp.js';
import { startSink } from '../helpers/smtp-sink.js';
import { makeSmimeFixture, plainMessage } from '../smime/fixtures.js';

const ID = 'mx.example.com';


describe('regression (atk-filter): bare CR — one header field for the filter, two once re-injected (nodemailer makes a bare CR CRLF)', () => {
  let sink: Awaited<ReturnType<typeof startSink>>;
  let filter: RunningFilter;
  const evidence = new MemoryEvidenceStore();
  beforeAll(async () => {
    sink = await startSink();
    const f = await makeSmimeFixture();
    filter = await createFilter({
      listen: { port: 0 },
      reinject: { port: sink.port },
      authservId: ID,
      smime: { trustAnchors: f.anchors },
      dkim: { resolver: staticResolver({}) },
      evidence,
      policy: {
        version: 1,
        quarantine: { mailbox: 'quarantine@example.net' },
        rules: [{ name: 'ap', recipients: ['ap@example.com'], from: ['*@example.com'], require: { smime: true }, otherwise: 'quarantine' }],
      },
    });
  });
  afterAll(async () => {
    await filter?.close(2000);
    await sink?.close();
  });

  const send = (message: string) => rawSmtp(filter.port, { from: 'mallory@attacker.example', to: ['ap@example.com'] }, message);

  it('a From field behind a bare CR: the filter saw no From (no rule applied) and passed on a message whose From is cfo@example.com to ap@', async () => {
    const r = await send(plainMessage({ from: null, to: 'ap@example.com', subject: 'bare-cr-from', headers: ['X-Note: hi\rFrom: CFO <cfo@example.com>'] }));
    expect(r.final).toMatch(/^250 /);
    const copies = sink.got.filter((g) => g.text.includes('bare-cr-from'));
    expect(copies).toHaveLength(1);
    // Whatever the copy looks like, a From the reader sees as cfo@example.com must not reach ap@ unverified.
    expect(copies[0]!.to).toEqual(['quarantine@example.net']);
  });

  it('a forged Authentication-Results of our authserv-id behind a bare CR: passed on as a field of its own beside ours', async () => {
    const r = await send(plainMessage({ from: 'Payments <payments@example.org>', to: 'ap@example.com', subject: 'bare-cr-ar', headers: [`X-Note: hi\rAuthentication-Results: ${ID}; smime=pass body.smime-identifier=cfo@example.com`] }));
    expect(r.final).toMatch(/^250 /);
    const copies = sink.got.filter((g) => g.text.includes('bare-cr-ar'));
    expect(copies).toHaveLength(1);
    expect(copies[0]!.text.match(/^Authentication-Results:/gim)).toHaveLength(1);
    expect(copies[0]!.text).not.toContain('smime=pass');
  });
});

describe('regression (atk-filter): a message that starts with a folded line', () => {
  let sink: Awaited<ReturnType<typeof startSink>>;
  let filter: RunningFilter;
  beforeAll(async () => {
    sink = await startSink();
    filter = await createFilter({ listen: { port: 0 }, reinject: { port: sink.port }, authservId: ID, dkim: { resolver: staticResolver({}) } });
  });
  afterAll(async () => {
    await filter?.close(2000);
    await sink?.close();
  });

  it('its first line (white space first) became a continuation of the filter\'s own Authentication-Results: "; dkim=pass header.d=example.com" inside our trusted field', async () => {
    const msg = `\t; dkim=pass header.d=example.com header.s=s1\r\n${plainMessage({ from: 'CFO <cfo@example.com>', to: 'ap@example.com', subject: 'fold-first' })}`;
    const r = await rawSmtp(filter.port, { from: 'mallory@attacker.example', to: ['ap@example.com'] }, msg);
    expect(r.final).toMatch(/^250 /);
    const [copy] = sink.got.filter((g) => g.text.includes('fold-first'));
    // That line continues no field: Postfix's cleanup (and, since atk-ar, the filter: endHeaderAtNonField) starts the
    // body there, so the header passed on is the filter's field alone, and the forged words are body text.
    const header = copy!.text.slice(0, copy!.text.indexOf('\r\n\r\n'));
    expect(header).toBe(`Authentication-Results: ${ID};\r\n\tdkim=none`);
    expect(header).not.toContain('dkim=pass');
  });
});
