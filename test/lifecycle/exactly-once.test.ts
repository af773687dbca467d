/**
 * Exactly-once renewal against a person acting mid-issuance, a lost CA answer, and a CA failing after
 * it recorded the certificate (issue 11, findings 12-13; attacks A, B, C). Two "processes" are two
 * SQLite connections and two LocalCA objects on one directory.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalCA } from '../../src/ca/index.js';
import { MailPkiError } from '../../src/errors.js';
import { LifecycleManager } from '../../src/lifecycle/index.js';
import { DirectoryCaStorage, openLocalCaDirectory } from '../../src/node/fs-storage.js';
import { passphraseKeyProtector, type Store } from '../../src/store/index.js';
import { DUE_AT, PASSPHRASE, setUpDueInventory, sqliteWorkerStore } from './workers.js';

const tempDir = () => mkdtempSync(join(tmpdir(), 'mailpki-exactly-once-'));
const kp = passphraseKeyProtector(PASSPHRASE);

/** Every certificate the CA directory signed that no credential holds and nobody revoked. */
async function unheldUnrevoked(caDir: string, store: Store, ids: readonly string[]): Promise<string[]> {
  const held = new Set<string>();
  for (const id of ids) for (const c of await store.transaction((tx) => tx.listCredentials(id))) held.add(c.serialNumber!);
  const ca = await openLocalCaDirectory(caDir);
  return ca.issued.filter((r) => !held.has(r.serialNumber) && !r.revocation).map((r) => `${r.serialNumber} ${r.mailbox}`);
}

/** A disk that fills up on the ca.json write that follows the CA's "issued" record. */
class DiskFillsUpAfterRecord extends DirectoryCaStorage {
  armed = false;
  fired = false;
  override async write(name: string, data: Uint8Array): Promise<void> {
    if (this.armed && name === 'ca.json') {
      this.armed = false;
      this.fired = true;
      throw new MailPkiError('ERR_IO', `could not write ${name} (ENOSPC)`, { cause: Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }) });
    }
    await super.write(name, data);
    if (name.startsWith('certs/') && new TextDecoder().decode(data).includes('"state": "issued"') && !this.fired) this.armed = true;
  }
}

describe('an error from the CA after it recorded the certificate (attack C)', () => {
  it('ERR_IO after the CA recorded the certificate keeps the pending issuance: the retry gets that certificate, none is left unheld (finding 13 C)', async () => {
    const inv = await setUpDueInventory(sqliteWorkerStore, tempDir(), 1);
    const id = inv.ids[0]!;
    const store = await inv.open();
    const storage = new DiskFillsUpAfterRecord(inv.caDir);
    const ca = await LocalCA.open(storage, {});
    const m = new LifecycleManager({ ca, store, keyProtector: kp, clock: () => DUE_AT });
    const first = await m.runDue(DUE_AT, { actor: 'worker' });
    expect(storage.fired).toBe(true);
    expect(first.failed.map((f) => f.code)).toEqual(['ERR_IO']);
    expect(await store.transaction((tx) => tx.getPendingIssuance(id))).toBeDefined();
    await m.renew(id, { actor: 'ops' });
    expect(await unheldUnrevoked(inv.caDir, store, inv.ids)).toEqual([]);
    expect((await openLocalCaDirectory(inv.caDir)).issued.length).toBe(2); // the enrolment's and the one renewal
    await store.close();
  }, 60_000);
});
