/**
 * Regression through a real MTA: Postfix hands a message to the filter, gives up waiting for the answer
 * (smtp_data_done_timeout) while the filter still waits on a slow return port, and hands the same message
 * again. Each attempt read the pending record (nobody served yet) and passed the copies on: with a return port
 * slower than Postfix's patience, every retry delivered again. Now the retry finds the first attempt's claim
 * and gets 451 without passing a copy on; once the first attempt is done, the next retry gets 250 with nothing
 * left to pass on. One copy per recipient.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MemoryEvidenceStore } from '../../src/filter/evidence.js';
import { createFilter, type RunningFilter } from '../../src/node/filter.js';
import { describeWithPeers, tempDir } from '../helpers/peers.js';
import { POSTFIX_PEERS, startPostfix, swaks, type Postfix } from '../helpers/postfix.js';
import { startSink } from '../helpers/smtp-sink.js';
import { plainMessage } from '../smime/fixtures.js';

describeWithPeers('filter through Postfix: the same message handed over again while the first attempt still works', [...POSTFIX_PEERS], () => {
  let mta: Postfix;
  let filter: RunningFilter;
  let sink: Awaited<ReturnType<typeof startSink>>;
  const evidence = new MemoryEvidenceStore();
  const tmp = tempDir('mailpki-filter-twice-');

  beforeAll(async () => {
    // Postfix waits 2 s for the filter's answer to the data; the return port answers each copy after 5 s.
    mta = await startPostfix({ contentFilter: true, mainCf: ['smtp_data_done_timeout = 2s'] });
    sink = await startSink({ delayMs: 5000 });
    filter = await createFilter({ listen: { port: mta.filterPort }, reinject: { port: sink.port }, authservId: 'filter.example.test', evidence });
  });

  afterAll(async () => {
    await filter?.close(8000);
    await sink?.close();
    await mta?.stop();
    tmp.cleanup();
  });

  it('Postfix times out and hands the message again: the retry answers 451 (no copy) while the first attempt holds it; one copy per recipient in all', async () => {
    const file = tmp.path('m.eml');
    writeFileSync(file, plainMessage({ to: 'ap@example.com', subject: 'slow return port' }), 'latin1');
    const r = swaks(mta.smtpPort, ['--to', 'ap@example.com,ar@example.com', '--from', 'payments@example.com', '--data', file]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    await mta.waitForLog(/timed out while sending end of data/, 30_000);
    const log = await mta.waitForLog(/being handled by another attempt/, 30_000);
    expect(log).toMatch(/451 4\.3\.0 The same message is being handled by another attempt now/);
    // The first attempt finishes (5 s); Postfix's next retry finds nobody left to serve and the message leaves the queue.
    await mta.waitForLog(/to=<ar@example\.com>.*status=sent \(250 2\.0\.0 Ok: verified/, 60_000);
    const [rec] = await evidence.list();
    expect(rec).toMatchObject({ outcome: 'delivered' });
    expect(rec!.deliveries?.map((d) => d.attempt)).toEqual([1, 1]);
    // Observed before: a copy per attempt (each retry timed out too, so every retry delivered again).
    expect(sink.got.flatMap((g) => g.to).sort()).toEqual(['ap@example.com', 'ar@example.com']);
  }, 90_000);
});
