/**
 * atk13 — the top disposition bypass end to end through a real Postfix (swaks → Postfix → mailpki filter → Postfix →
 * Maildir), with the docs' own "ap" rule: unsigned mail whose From a client shows as cfo@example.com (second mailbox
 * of the From field; second From field) is DELIVERED to ap@example.com instead of quarantined. Control: a plain
 * `From: cfo@example.com` is quarantined (as test/node/filter.postfix.test.ts shows).
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MemoryEvidenceStore } from '../../src/filter/evidence.js';
import { createFilter, type RunningFilter } from '../../src/node/filter.js';
import { describeWithPeers, tempDir } from '../helpers/peers.js';
import { POSTFIX_PEERS, startPostfix, swaks, type Postfix } from '../helpers/postfix.js';
import { makeSmimeFixture } from '../smime/fixtures.js';

describeWithPeers('atk13: From-form bypass through Postfix', [...POSTFIX_PEERS], () => {
  let mta: Postfix;
  let filter: RunningFilter;
  const evidence = new MemoryEvidenceStore();
  const tmp = tempDir('atk13-postfix-');
  const quarantine = join(tmp.dir, 'quarantine');

  beforeAll(async () => {
    const f = await makeSmimeFixture();
    mta = await startPostfix({ contentFilter: true });
    filter = await createFilter({
      listen: { port: mta.filterPort },
      reinject: { port: mta.returnPort },
      authservId: 'filter.example.test',
      smime: { trustAnchors: f.anchors },
      evidence,
      reinjectTimeoutMs: 5000,
      policy: {
        version: 1,
        quarantine: { directory: quarantine },
        rules: [{ name: 'ap', recipients: ['ap@example.com'], from: ['*@example.com'], require: { smime: true, revocation: 'hard-fail' }, otherwise: 'quarantine' }],
      },
    });
  });
  afterAll(async () => {
    await filter?.close(5000);
    await mta?.stop();
    tmp.cleanup();
  });

  const send = (from: string, tag: string) => {
    const file = tmp.path(`${tag}.eml`);
    writeFileSync(file, `${from}To: ap@example.com\r\nSubject: ${tag}: new beneficiary DE00 6666 6666\r\nMessage-ID: <${tag}@evil.test>\r\n\r\nplease pay today\r\n`, 'latin1');
    const r = swaks(mta.smtpPort, ['--to', 'ap@example.com', '--from', 'billing@evil.test', '--data', file]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
  };

  it('From: billing@evil.test, cfo@example.com  and  two From fields: both quarantined, none delivered to ap@', async () => {
    send('From: cfo@example.com\r\n', 'control');
    send('From: billing@evil.test, cfo@example.com\r\n', 'twomailboxes');
    send('From: billing@evil.test\r\nFrom: cfo@example.com\r\n', 'twofields');
    const deadline = Date.now() + 30_000;
    while ((await evidence.list()).length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 3000)); // let the return leg deliver
    const records = await evidence.list();
    const byTag = Object.fromEntries(records.map((r) => [r.messageId, r.dispositions.map((d) => d.action).join(',')]));
    expect(byTag['<control@evil.test>']).toBe('quarantine');
    const delivered = mta.delivered('ap@example.com').map((m) => /Subject: (\w+):/.exec(m.content.toString('latin1'))?.[1]);
    // Observed today: byTag twomailboxes/twofields 'accept', delivered ['twomailboxes', 'twofields'].
    expect({ twomailboxes: byTag['<twomailboxes@evil.test>'], twofields: byTag['<twofields@evil.test>'], delivered, quarantined: readdirSync(quarantine).length }).toEqual({
      twomailboxes: 'quarantine',
      twofields: 'quarantine',
      delivered: [],
      quarantined: 3,
    });
  });
});
