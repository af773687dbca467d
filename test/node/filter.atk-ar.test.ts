/**
 * Attacks on the copy the filter passes on (atk-ar): what a mail client shows, or a later filter trusts, in it must be
 * what the filter verified. A client that talks to the filter directly, with raw SMTP; the return port is a sink here
 * (test/node/filter.atk-ar.postfix.test.ts shows what a real Postfix return port delivers). Named after what broke.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signDkimMessage, staticResolver, type DkimKey } from '../../src/dkim/index.js';
import { MemoryEvidenceStore } from '../../src/filter/evidence.js';
import { createFilter, type RunningFilter } from '../../src/node/filter.js';
import { rawSmtp } from '../helpers/raw-smtp.js';
import { startSink } from '../helpers/smtp-sink.js';
import { testKey } from '../dkim/fixtures.js';
import { clock, makeSmimeFixture, plainMessage, sign, type SmimeFixture } from '../smime/fixtures.js';

const ID = 'mx.example.com';

describe('regression (atk-ar): a header line that is no header field — the filter read on past it, Postfix (the return port) starts the body there', () => {
  let sink: Awaited<ReturnType<typeof startSink>>;
  let filter: RunningFilter;
  let f: SmimeFixture;
  let key: DkimKey;
  const evidence = new MemoryEvidenceStore();
  beforeAll(async () => {
    sink = await startSink();
    f = await makeSmimeFixture();
    key = await testKey('ed25519');
    filter = await createFilter({
      listen: { port: 0 },
      reinject: { port: sink.port },
      authservId: ID,
      smime: { trustAnchors: f.anchors },
      dkim: { resolver: staticResolver({ [key.record.name]: key.record.value }), clock },
      evidence,
      policy: {
        version: 1,
        quarantine: { mailbox: 'quarantine@example.net' },
        rules: [
          { name: 'ap', recipients: ['ap@example.com'], from: ['*@example.com'], require: { smime: true }, otherwise: 'quarantine' },
          { name: 'staff', recipients: ['example.com'], from: ['*@example.com'], require: { dkimAligned: true }, otherwise: 'quarantine' },
        ],
      },
    });
  });
  afterAll(async () => {
    await filter?.close(2000);
    await sink?.close();
  });

  it('a replayed message DKIM-signed by example.com with "Pay the new account DE99 … instead" put at the end of its header: dkim=pass (aligned) and accepted for staff@, though a reader is shown a body that opens with that line', async () => {
    const original = plainMessage({ from: 'CFO <cfo@example.com>', to: 'staff@example.com', subject: 'garbage-dkim', body: 'Lunch is at noon.\r\n' });
    const signed = await signDkimMessage(original, [{ domain: 'example.com', selector: 'ed', privateKey: key.privateKey, timestamp: clock() }]);
    const line = 'Pay the new account DE99 9999 9999 9999 instead';
    const forged = signed.replace('\r\n\r\n', `\r\n${line}\r\n\r\n`);
    const r = await rawSmtp(filter.port, { from: 'mallory@attacker.example', to: ['staff@example.com'] }, forged);
    expect(r.final).toMatch(/^250 /);
    const copies = sink.got.filter((g) => g.text.includes('garbage-dkim'));
    expect(copies).toHaveLength(1);
    // Verified as delivered: that line is the body's first, so the body hash does not match.
    expect(copies[0]!.to).toEqual(['quarantine@example.net']);
    expect(copies[0]!.text).toContain('\tdkim=fail (body hash did not verify) header.d=example.com');
    // And passed on in that form: the empty line is there, whatever the next MTA does.
    expect(copies[0]!.text).toContain(`\r\n\r\n${line}\r\n\r\nLunch is at noon.\r\n`);
  });

  it('the same line above the Content-Type of a replayed S/MIME-valid message: not passed (the MIME parser already refused it), but passed on with the line inside the header, where the next MTA decides', async () => {
    const signed = await sign(plainMessage({ to: 'ap@example.com', subject: 'garbage-line' }), f.payments);
    expect(signed).toContain('\r\nMIME-Version: 1.0\r\n');
    const line = 'Pay the new account DE99 9999 9999 9999 instead';
    const r = await rawSmtp(filter.port, { from: 'mallory@attacker.example', to: ['ap@example.com'] }, signed.replace('\r\nMIME-Version: 1.0\r\n', `\r\n${line}\r\nMIME-Version: 1.0\r\n`));
    expect(r.final).toMatch(/^250 /);
    const copies = sink.got.filter((g) => g.text.includes('garbage-line'));
    expect(copies).toHaveLength(1);
    expect(copies[0]!.to).toEqual(['quarantine@example.net']);
    expect(copies[0]!.text).not.toContain('smime=pass');
    // And passed on in that form: the empty line is there, whatever the next MTA does.
    expect(copies[0]!.text).toContain(`Message-ID: <fixture.1@example.com>\r\n\r\n${line}\r\nMIME-Version: 1.0\r\n`);
  });
});
