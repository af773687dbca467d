/** Regressions from the attack on the evidence an auditor relies on (h/atk-audit): a Message-ID as the store keeps it and is queried by. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MAX_EVIDENCE_VERDICT_LIST } from '../../src/filter/evidence.js';
import { createFilter, type RunningFilter } from '../../src/node/filter.js';
import { openSqliteEvidenceStore, type SqliteEvidenceStore } from '../../src/node/sqlite-evidence.js';
import { handOver, startSink } from '../helpers/smtp-sink.js';
import { tempDir } from '../helpers/peers.js';

const t = tempDir('mailpki-atk-audit-');
let sink: Awaited<ReturnType<typeof startSink>>;
let filter: RunningFilter;
let store: SqliteEvidenceStore;

beforeAll(async () => {
  sink = await startSink();
  store = await openSqliteEvidenceStore(t.path('store.db'));
  filter = await createFilter({ listen: { port: 0 }, reinject: { port: sink.port }, authservId: 'filter.example.test', evidence: store });
});
afterAll(async () => {
  await filter?.close(1000);
  await store?.close();
  await sink?.close();
  t.cleanup();
});

it('a Message-ID written in UTF-8 (RFC 6532) is kept as that text and found by it (was: kept one char per byte, "<paiement-Ã©…>", so a query by the Message-ID the auditor reads in the mailbox found nothing)', async () => {
  const messageId = '<paiement-é-2026@exemple.fr>';
  const raw = Buffer.from(`From: cfo@exemple.fr\r\nTo: ap@exemple.fr\r\nSubject: Paiement\r\nMessage-ID: ${messageId}\r\n\r\nVirement de 10 EUR.\r\n`, 'utf8');
  expect(await handOver(filter.port, { from: 'cfo@exemple.fr', to: ['ap@exemple.fr'] }, raw)).toBe(250);
  const found = await store.list({ messageId });
  expect(found.map((r) => r.messageId)).toEqual([messageId]);
  // Folded and followed by white space: the same text, as the MIME parser unfolds a field.
  const folded = Buffer.from(`From: cfo@exemple.fr\r\nTo: ap@exemple.fr\r\nSubject: Paiement 2\r\nMessage-ID:\r\n\t<paiement-ü@exemple.fr> \r\n\r\nVirement.\r\n`, 'utf8');
  expect(await handOver(filter.port, { from: 'cfo@exemple.fr', to: ['ap@exemple.fr'] }, folded)).toBe(250);
  expect((await store.list({ messageId: '<paiement-ü@exemple.fr>' })).length).toBe(1);
});

it('a message with 3000 DKIM-Signature fields, the first with a 1 MB s= (folded), the others a 500-character one and a 1000-character b=: its record stays small (was: megabytes — 3.9 MB measured without the long s= — every signature\'s result kept whole, per attempt, for the retention time)', async () => {
  const dkimStore = await openSqliteEvidenceStore(t.path('dkim.db'));
  const dkimFilter = await createFilter({
    listen: { port: 0 },
    reinject: { port: sink.port },
    authservId: 'filter.example.test',
    evidence: dkimStore,
    dkim: { resolver: async () => Promise.reject(Object.assign(new Error('no such name'), { code: 'ENOTFOUND' })) },
  });
  try {
    const selector = (i: number) => (i === 0 ? Array.from({ length: 1000 }, () => 's'.repeat(1000)).join('\r\n ') : 's'.repeat(500));
    const sig = (i: number) => `DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=evil${i}.example; s=${selector(i)}; h=from:to:subject; bh=${'A'.repeat(44)}; b=${'B'.repeat(1000)}\r\n`;
    const raw = `${Array.from({ length: 3000 }, (_, i) => sig(i)).join('')}From: a@evil0.example\r\nTo: ap@example.com\r\nSubject: x\r\nMessage-ID: <many-dkim@evil0.example>\r\n\r\nbody\r\n`;
    expect(await handOver(dkimFilter.port, { from: 'a@evil0.example', to: ['ap@example.com'] }, raw)).toBe(250);
    const [record] = await dkimStore.list({ messageId: '<many-dkim@evil0.example>' });
    expect(JSON.stringify(record).length).toBeLessThan(256 * 1024);
    // The first MAX_EVIDENCE_VERDICT_LIST results kept, the others counted; the long selector cut.
    expect(record!.dkim!.results).toHaveLength(MAX_EVIDENCE_VERDICT_LIST);
    expect(record!.dkim!.evidenceCut!.entries).toBe(3000 - MAX_EVIDENCE_VERDICT_LIST);
    expect(record!.dkim!.evidenceCut!.characters).toBeGreaterThan(900_000);
    // The header the filter added (and the record keeps) is bounded too (MAX_AR_RESULTS, MAX_AR_TEXT_OCTETS).
    expect(record!.authenticationResults.length).toBeLessThan(32 * 1024);
    expect(sink.got[sink.got.length - 1]!.text).toContain(record!.authenticationResults);
  } finally {
    await dkimFilter.close(1000);
    await dkimStore.close();
  }
});

it('a Message-ID longer than the record keeps is cut before half a surrogate pair: the record and its query column hold the same text', async () => {
  const long = `<${'a'.repeat(1998)}\u{1F4B6}@exemple.fr>`;
  const raw = Buffer.from(`From: cfo@exemple.fr\r\nTo: ap@exemple.fr\r\nSubject: Long\r\nMessage-ID: ${long}\r\n\r\nx\r\n`, 'utf8');
  expect(await handOver(filter.port, { from: 'cfo@exemple.fr', to: ['ap@exemple.fr'] }, raw)).toBe(250);
  const kept = long.slice(0, 1999);
  const found = await store.list({ messageId: kept });
  expect(found.map((r) => r.messageId)).toEqual([kept]);
});
