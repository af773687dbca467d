/**
 * Attacks on the filter as deployed (issue 13), by a sender on the Internet: raw SMTP → Postfix →
 * mailpki filter → Postfix (return port) → Maildir. Each test is named after what broke.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { staticResolver } from '../../src/dkim/index.js';
import { MemoryEvidenceStore } from '../../src/filter/evidence.js';
import { createFilter, type RunningFilter } from '../../src/node/filter.js';
import { describeWithPeers, tempDir } from '../helpers/peers.js';
import { POSTFIX_PEERS, startPostfix, type Postfix } from '../helpers/postfix.js';
import { rawSmtp } from '../helpers/raw-smtp.js';
import { makeSmimeFixture, plainMessage, type SmimeFixture } from '../smime/fixtures.js';

const ID = 'filter.example.test';

describeWithPeers('filter through Postfix, attacked with raw SMTP (atk-filter)', [...POSTFIX_PEERS], () => {
  let mta: Postfix;
  let filter: RunningFilter;
  let f: SmimeFixture;
  const evidence = new MemoryEvidenceStore();
  const tmp = tempDir('mailpki-atk-filter-');
  const quarantine = join(tmp.dir, 'quarantine');

  beforeAll(async () => {
    f = await makeSmimeFixture();
    mta = await startPostfix({
      contentFilter: true,
      mydestination: 'mx.example.test, localhost',
      mainCf: ['myorigin = example.com'],
    });
    filter = await createFilter({
      listen: { port: mta.filterPort },
      reinject: { port: mta.returnPort },
      authservId: ID,
      smime: { trustAnchors: f.anchors, intermediates: [f.payments.chain[0]!] },
      dkim: { resolver: staticResolver({}) },
      evidence,
      reinjectTimeoutMs: 5000,
      policy: {
        version: 1,
        quarantine: { directory: quarantine },
        rules: [{ name: 'ap', recipients: ['ap@example.com'], from: ['*@example.com'], require: { smime: true }, otherwise: 'quarantine' }],
      },
    });
  });

  afterAll(async () => {
    await filter?.close(5000);
    await mta?.stop();
    tmp.cleanup();
  });

  const quarantined = () => {
    try {
      return readdirSync(quarantine).map((n) => readFileSync(join(quarantine, n), 'latin1'));
    } catch {
      return [];
    }
  };

  /** Sends through Postfix and waits until the filter answered for this message (by its Message-ID marker). */
  async function send(id: string, to: string, message: string, options: { from?: string; remote?: boolean } = {}) {
    const r = await rawSmtp(mta.smtpPort, { from: options.from ?? 'mallory@attacker.example', to: [to] }, message.replace('<fixture.1@', `<${id}@`), {
      // 127.0.0.2 is in mynetworks but not one of Postfix's inet_interfaces (127.0.0.1): not a "local" client to it.
      ...(options.remote ? { localAddress: '127.0.0.2' } : {}),
    });
    expect(r.final, JSON.stringify(r.replies)).toMatch(/^250 /);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const [rec] = await evidence.list({ messageId: `<${id}@example.com>` });
      if (rec && rec.outcome !== 'pending') return rec;
      if (Date.now() > deadline) throw new Error(`no evidence for ${id}:\n${mta.log()}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  const deliveredWith = (marker: string) => mta.delivered('ap@example.com').map((m) => m.content.toString('latin1')).filter((t) => t.includes(marker));

  it('percent hack / bang path: unsigned mail "from" cfo@example.com to RCPT TO:<ap%example.com@mx.example.test> (or example.com!ap@…, …@localhost, …@[127.0.0.1]) reached ap@example.com unverified — Postfix routes it there only after the filter', async () => {
    // mydestination holds the MTA's own names (Postfix's default: $myhostname, localhost): Postfix's
    // resolver (allow_percent_hack, swap_bangpath, both on by default) turns these into ap@example.com
    // when it delivers the re-injected copy; the filter saw them as given.
    const forms = ['ap%example.com@mx.example.test', 'example.com!ap@mx.example.test', 'ap%example.com@localhost', 'ap%example.com@[127.0.0.1]'];
    for (const [i, to] of forms.entries()) {
      const rec = await send(`route${i}`, to, plainMessage({ from: 'CFO <cfo@example.com>', to: 'ap@example.com', subject: `Urgent wire route-${i}` }));
      expect(rec.dispositions, to).toEqual([{ recipient: to, action: 'quarantine', rule: 'ap', failed: ['smime'] }]);
    }
    // Each one is held in quarantine, none was delivered to ap@.
    expect(quarantined().filter((t) => /Urgent wire route-\d/.test(t))).toHaveLength(forms.length);
    await new Promise((res) => setTimeout(res, 1000));
    expect(deliveredWith('Urgent wire route-')).toEqual([]);
  });

  it('a forged Authentication-Results whose quoted authserv-id has a space before the closing quote (Thunderbird\'s DKIM Verifier reads it as ours) reached the mailbox beside ours', async () => {
    const msg = plainMessage({ from: 'Payments <payments@example.org>', to: 'ap@example.com', subject: 'quoted-ar', headers: [`Authentication-Results: "${ID} "; smime=pass body.smime-identifier=cfo@example.com`] });
    await send('quoted.ar', 'ap@example.com', msg);
    const [m] = await mta.waitForDelivery('ap@example.com', 1);
    expect(deliveredWith('quoted-ar')).toHaveLength(1);
    const text = deliveredWith('quoted-ar')[0]!;
    expect(text.match(/^Authentication-Results:/gim)).toHaveLength(1);
    expect(text).not.toContain('cfo@example.com');
    void m;
  });

  it('a Sender at example.com beside a From elsewhere ("cfo@example.com on behalf of Mallory", as Outlook shows it) skipped the from *@example.com rule: unsigned, delivered to ap@', async () => {
    const msg = plainMessage({ from: 'Mallory <mallory@attacker.example>', to: 'ap@example.com', subject: 'Urgent wire on-behalf', headers: ['Sender: CFO <cfo@example.com>'] });
    const rec = await send('sender.1', 'ap@example.com', msg);
    expect(rec.dispositions).toEqual([{ recipient: 'ap@example.com', action: 'quarantine', rule: 'ap', failed: ['from-unproven', 'smime'] }]);
    expect(deliveredWith('Urgent wire on-behalf')).toEqual([]);
  });

  it('no From field, MAIL FROM:<cfo@example.com> from a client not local to Postfix: the filter saw no author (no rule applied), and the return port — its client, the filter at 127.0.0.1, is "local" to Postfix (local_header_rewrite_clients) — added From: cfo@example.com after the filter; delivered to ap@ unverified', async () => {
    const rec = await send('nofrom.1', 'ap@example.com', plainMessage({ from: null, to: 'ap@example.com', subject: 'Urgent wire no-from' }), { from: 'cfo@example.com', remote: true });
    expect(rec.dispositions).toEqual([{ recipient: 'ap@example.com', action: 'quarantine', rule: 'ap', failed: ['smime'] }]);
    await new Promise((res) => setTimeout(res, 1000));
    expect(deliveredWith('Urgent wire no-from')).toEqual([]);
  });

  it('From: CFO <cfo> (no domain) from a client not local to Postfix: the return port completed it to cfo@example.com ($myorigin) after the filter; delivered to ap@ unverified', async () => {
    const rec = await send('nodomain.1', 'ap@example.com', plainMessage({ from: 'CFO <cfo>', to: 'ap@example.com', subject: 'Urgent wire no-domain' }), { remote: true });
    await new Promise((res) => setTimeout(res, 1000));
    // Nothing after the filter may turn the author into an example.com one: what ap@ gets shows the From the filter judged.
    expect(deliveredWith('Urgent wire no-domain').filter((t) => /^From:.*cfo@example\.com/m.test(t))).toEqual([]);
    expect(rec.dispositions).toEqual([{ recipient: 'ap@example.com', action: 'accept', failed: [] }]);
  });
});
