/**
 * Attacks on the copy the filter passes on (atk-ar, atk-mid), with a real Postfix as the return port: what its cleanup
 * delivers (where it ends the header) is what a client shows, and must be what the filter verified. Named after what broke.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signDkimMessage, staticResolver, type DkimKey } from '../../src/dkim/index.js';
import { MemoryEvidenceStore } from '../../src/filter/evidence.js';
import { createFilter, type RunningFilter } from '../../src/node/filter.js';
import { testKey } from '../dkim/fixtures.js';
import { describeWithPeers, tempDir } from '../helpers/peers.js';
import { POSTFIX_PEERS, startPostfix, type Postfix } from '../helpers/postfix.js';
import { rawSmtp } from '../helpers/raw-smtp.js';
import { clock, plainMessage } from '../smime/fixtures.js';

const ID = 'filter.example.test';

describeWithPeers('filter with a Postfix return port, attacked by a client of the filter (atk-ar)', [...POSTFIX_PEERS], () => {
  let mta: Postfix;
  let filter: RunningFilter;
  let key: DkimKey;
  const evidence = new MemoryEvidenceStore();
  const tmp = tempDir('mailpki-atk-ar-');
  const quarantine = join(tmp.dir, 'quarantine');

  beforeAll(async () => {
    key = await testKey('ed25519');
    mta = await startPostfix({ contentFilter: true });
    filter = await createFilter({
      listen: { port: mta.filterPort },
      reinject: { port: mta.returnPort },
      authservId: ID,
      dkim: { resolver: staticResolver({ [key.record.name]: key.record.value }), clock },
      evidence,
      reinjectTimeoutMs: 5000,
      policy: {
        version: 1,
        quarantine: { directory: quarantine },
        rules: [{ name: 'staff', recipients: ['example.com'], from: ['*@example.com'], require: { dkimAligned: true }, otherwise: 'quarantine' }],
      },
    });
  });

  afterAll(async () => {
    await filter?.close(5000);
    await mta?.stop();
    tmp.cleanup();
  });

  it('a header line that is no field ("Pay the new account … instead") under a replayed DKIM-signed header: dkim=pass for the filter, and the return port delivered it to staff@ as the first line of the body', async () => {
    const signed = await signDkimMessage(plainMessage({ from: 'CFO <cfo@example.com>', to: 'staff@example.com', subject: 'garbage-pf', body: 'Lunch is at noon.\r\n' }), [
      { domain: 'example.com', selector: 'ed', privateKey: key.privateKey, timestamp: clock() },
    ]);
    const line = 'Pay the new account DE99 9999 9999 9999 instead';
    // To the filter's port directly (through Postfix's smtpd, its cleanup would already have put the empty line in).
    const r = await rawSmtp(mta.filterPort, { from: 'mallory@attacker.example', to: ['staff@example.com'] }, signed.replace('\r\n\r\n', `\r\n${line}\r\n\r\n`));
    expect(r.final).toMatch(/^250 /);
    const [rec] = await evidence.list({ messageId: '<fixture.1@example.com>' });
    expect(rec!.dispositions).toEqual([{ recipient: 'staff@example.com', action: 'quarantine', rule: 'staff', failed: ['dkim'] }]);
    await new Promise((res) => setTimeout(res, 1000));
    expect(mta.delivered('staff@example.com').filter((m) => m.content.includes('garbage-pf'))).toEqual([]);
    const [held] = readdirSync(quarantine).map((n) => readFileSync(join(quarantine, n), 'latin1'));
    expect(held).toContain(`\r\n\r\n${line}\r\n\r\nLunch is at noon.\r\n`);
  });

  it('a line whose field name runs past 2048 octets (Postfix line_length_limit) under a replayed DKIM-signed header: Postfix reads only the first 2048 octets for "name:", finds no colon and starts the body there — the filter must not verify it as a header', async () => {
    const signed = await signDkimMessage(plainMessage({ from: 'CFO <cfo@example.com>', to: 'staff@example.com', subject: 'longname-pf', body: 'Lunch is at noon.\r\n' }).replace('<fixture.1@example.com>', '<longname@example.com>'), [
      { domain: 'example.com', selector: 'ed', privateKey: key.privateKey, timestamp: clock() },
    ]);
    const line = `${'_'.repeat(2100)}: Pay the new account DE99 9999 9999 9999 instead`;
    const r = await rawSmtp(mta.filterPort, { from: 'mallory@attacker.example', to: ['staff@example.com'] }, signed.replace('\r\n\r\n', `\r\n${line}\r\n\r\n`));
    expect(r.final).toMatch(/^250 /);
    const [rec] = await evidence.list({ messageId: '<longname@example.com>' });
    await new Promise((res) => setTimeout(res, 1000));
    const delivered = mta.delivered('staff@example.com').filter((m) => m.content.toString('latin1').includes('longname-pf'));
    // What Postfix made of it, whoever got it: the line is the body's first line.
    const copies = [...delivered.map((m) => m.content.toString('latin1')), ...(readdirSync(quarantine, { withFileTypes: true }).length ? readdirSync(quarantine).map((n) => readFileSync(join(quarantine, n), 'latin1')) : [])].filter((c) => c.includes('longname-pf'));
    expect(copies).toHaveLength(1);
    expect(copies[0]).toMatch(/\r?\n\r?\n_{2100}: Pay the new account/);
    // And the filter verified that: the body hash fails, the rule quarantines.
    expect(rec!.dispositions).toEqual([{ recipient: 'staff@example.com', action: 'quarantine', rule: 'staff', failed: ['dkim'] }]);
    expect(delivered).toEqual([]);
  });

  it('a NUL in the From field ("From: cfo@example.com\\0<mallory@attacker.example>"): Postfix keeps a header line only up to a NUL and delivered "From: cfo@example.com", which the filter had not read as the author — accepted unsigned past the rule for *@example.com', async () => {
    const m = 'Message-ID: <nulfrom@attacker.example>\r\nFrom: cfo@example.com\x00<mallory@attacker.example>\r\nSubject: nulfrom-pf\r\nTo: staff@example.com\r\n\r\nPay the new account DE99 9999 9999 9999.\r\n';
    const r = await rawSmtp(mta.filterPort, { from: 'mallory@attacker.example', to: ['staff@example.com'] }, m);
    expect(r.final).toMatch(/^250 /);
    await new Promise((res) => setTimeout(res, 1000));
    const copies = [
      ...mta.delivered('staff@example.com').map((d) => d.content.toString('latin1')),
      ...readdirSync(quarantine).map((n) => readFileSync(join(quarantine, n), 'latin1')),
    ].filter((c) => c.includes('nulfrom'));
    expect(copies).toHaveLength(1);
    const header = copies[0]!.split(/\r?\n\r?\n/)[0]!;
    const [rec] = await evidence.list({ messageId: '<nulfrom@attacker.example>' });
    // A copy whose header shows an author at example.com was judged by the rule for it (here: no DKIM, so quarantined);
    // or the header the filter verified and passed on has no such author.
    if (/^From:[^\n]*@example\.com/im.test(header)) expect(rec?.dispositions).toEqual([{ recipient: 'staff@example.com', action: 'quarantine', rule: 'staff', failed: ['dkim'] }]);
    else expect(header).not.toMatch(/^From:/im);
  });
});
