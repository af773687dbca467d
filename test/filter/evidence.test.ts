/** EvidenceStore implementations against the contract, and the SQLite one across reopen. */
import { statSync } from 'node:fs';
import { expect, it } from 'vitest';
import { MemoryEvidenceStore } from '../../src/filter/evidence.js';
import { openSqliteEvidenceStore } from '../../src/node/sqlite-evidence.js';
import { tempDir } from '../helpers/peers.js';
import { record, runEvidenceContract } from './evidence-contract.js';

runEvidenceContract('memory', async () => ({ store: new MemoryEvidenceStore(), close: async () => undefined }));

runEvidenceContract('SQLite', async () => {
  const tmp = tempDir('mailpki-evidence-');
  const store = await openSqliteEvidenceStore(tmp.path('store.db'));
  return {
    store,
    close: async () => {
      await store.close();
      tmp.cleanup();
    },
  };
});

it('SQLite evidence survives reopening; the store file is 0600', async () => {
  const tmp = tempDir('mailpki-evidence-');
  try {
    const path = tmp.path('store.db');
    const a = await openSqliteEvidenceStore(path);
    await a.put(record(7));
    await a.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const b = await openSqliteEvidenceStore(path);
    expect(await b.get('id-0007')).toEqual(record(7));
    await b.close();
  } finally {
    tmp.cleanup();
  }
});
