/** Regressions from the attack on the evidence change (h/atk-evidence): the SQLite store read by one process while another prunes. */
import { expect, it } from 'vitest';
import { openSqliteEvidenceStore } from '../../src/node/sqlite-evidence.js';
import { tempDir } from '../helpers/peers.js';
import { certificate, record } from './evidence-contract.js';

it('SQLite evidence: an export reading a page while the filter (another connection) prunes it is not ERR_STORE_CORRUPT — a record and the certificates it names are read as of one moment', async () => {
  const tmp = tempDir('mailpki-evidence-');
  try {
    const path = tmp.path('store.db');
    // The running filter (its own connection, as another process would have) and the auditor's export.
    const filter = await openSqliteEvidenceStore(path);
    const exporter = await openSqliteEvidenceStore(path, { create: false });
    const [a, b, ca] = [certificate('a'), certificate('b'), certificate('ca')];
    await filter.put(record(1, { certificates: [a, ca] }));
    await filter.put(record(2, { certificates: [b, ca] }));
    // The filter's daily prune lands between the export reading the page's rows and reading the
    // certificates they name (two statements): here at the export's first certificate look-up,
    // which is where another process's prune can fall.
    const statement = (exporter as unknown as { selectCertificate: { get: (sha256: string) => unknown } }).selectCertificate;
    const get = statement.get.bind(statement);
    let pruned = 0;
    statement.get = (sha256: string) => {
      if (pruned === 0) void filter.prune(new Date(record(2).receivedAt)).then((n) => (pruned = n));
      pruned ||= -1;
      return get(sha256);
    };
    const page = await exporter.list();
    expect(page.map((r) => [r.id, r.certificates])).toEqual([
      ['id-0001', [a, ca]],
      ['id-0002', [b, ca]],
    ]);
    // The prune did happen, and a later read no longer sees record 1 nor its own certificate.
    await new Promise((r) => setImmediate(r));
    expect(pruned).toBe(1);
    statement.get = get;
    expect((await exporter.list()).map((r) => r.id)).toEqual(['id-0002']);
    await exporter.close();
    await filter.close();
  } finally {
    tmp.cleanup();
  }
});
