/**
 * Exactly-once renewal against a person acting mid-issuance, a lost CA answer, and a CA failing after
 * it recorded the certificate (issue 11, findings 12-13; attacks A, B, C). Two "processes" are two
 * SQLite connections and two LocalCA objects on one directory.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalCA, type CertificateAuthority, type IssueRequest } from '../../src/ca/index.js';
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

/** A CA whose issue waits for `release()` before asking the real CA (a slow CA). */
function gatedCa(real: CertificateAuthority) {
  let release!: () => void;
  let entered!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const inIssue = new Promise<void>((r) => (entered = r));
  let first = true;
  const ca: CertificateAuthority = new Proxy(real, {
    get(t, p, r) {
      if (p === 'issue')
        return async (req: IssueRequest) => {
          if (first) {
            first = false;
            entered();
            await gate;
          }
          return t.issue(req);
        };
      const v = Reflect.get(t, p, r);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
  return { ca, release, inIssue };
}

describe('a person revokes or suspends while a renewal is at the CA (attack A)', () => {
  for (const action of ['revoke', 'suspend'] as const) {
    it(`${action} during an in-flight renewal stands: the renewal's certificate is discarded and revoked, not made current (finding 12 A)`, async () => {
      const inv = await setUpDueInventory(sqliteWorkerStore, tempDir(), 1);
      const id = inv.ids[0]!;
      const storeA = await inv.open();
      const storeB = await inv.open();
      const g = gatedCa(await openLocalCaDirectory(inv.caDir));
      const worker = new LifecycleManager({ ca: g.ca, store: storeA, keyProtector: kp, clock: () => DUE_AT, instanceId: 'worker' });
      const person = new LifecycleManager({ ca: await openLocalCaDirectory(inv.caDir), store: storeB, keyProtector: kp, clock: () => DUE_AT, instanceId: 'person' });
      const sweep = worker.runDue(DUE_AT, { actor: 'worker' });
      await g.inIssue;
      if (action === 'revoke') await person.revoke(id, { actor: 'security', reason: 'keyCompromise' });
      else await person.suspend(id, { actor: 'security', reason: 'investigation' });
      g.release();
      const summary = await sweep;
      expect(summary.renewed).toEqual([]);
      const identity = (await storeB.transaction((tx) => tx.getIdentity(id)))!;
      const creds = await storeB.transaction((tx) => tx.listCredentials(id));
      expect(identity.status).toBe(action === 'revoke' ? 'revoked' : 'suspended');
      expect(creds.length).toBe(1); // the renewal's certificate was never taken
      expect(creds.filter((c) => c.status === 'current').length).toBe(action === 'suspend' ? 1 : 0);
      expect(await storeB.transaction((tx) => tx.getPendingIssuance(id))).toBeUndefined();
      expect(await unheldUnrevoked(inv.caDir, storeB, inv.ids)).toEqual([]);
      const ca = await openLocalCaDirectory(inv.caDir);
      const discarded = ca.issued.filter((r) => r.serialNumber !== creds[0]!.serialNumber);
      expect(discarded.map((r) => r.revocation?.reason)).toEqual(['superseded']);
      const audit = (await storeB.listAudit()).filter((a) => a.identityId === id);
      expect(audit.filter((a) => a.action === 'issuance.discarded').length).toBe(1);
      await storeA.close();
      await storeB.close();
    }, 60_000);
  }

  it('a keyCompromise revocation during a same-key renewal (rekeyOnRenewal: false) leaves the compromised key no current certificate (finding 12 A)', async () => {
    const inv = await setUpDueInventory(sqliteWorkerStore, tempDir(), 1);
    const id = inv.ids[0]!;
    const storeA = await inv.open();
    const storeB = await inv.open();
    const g = gatedCa(await openLocalCaDirectory(inv.caDir));
    const policy = { rekeyOnRenewal: false };
    const worker = new LifecycleManager({ ca: g.ca, store: storeA, keyProtector: kp, clock: () => DUE_AT, policy });
    const person = new LifecycleManager({ ca: await openLocalCaDirectory(inv.caDir), store: storeB, keyProtector: kp, clock: () => DUE_AT, policy });
    const oldKey = (await storeB.transaction((tx) => tx.listCredentials(id)))[0]!.keyId;
    const sweep = worker.runDue(DUE_AT, { actor: 'worker' });
    await g.inIssue;
    await person.revoke(id, { actor: 'security', reason: 'keyCompromise' });
    g.release();
    await sweep;
    const creds = await storeB.transaction((tx) => tx.listCredentials(id));
    expect(creds.filter((c) => c.status === 'current' && c.keyId === oldKey)).toEqual([]);
    expect(await unheldUnrevoked(inv.caDir, storeB, inv.ids)).toEqual([]);
    await storeA.close();
    await storeB.close();
  }, 60_000);
});

/** The process dies right after the CA wrote its pending record, before the certificate is signed. */
class DiesBeforeSigning extends DirectoryCaStorage {
  override async write(name: string, data: Uint8Array): Promise<void> {
    if (name.startsWith('certs/') && new TextDecoder().decode(data).includes('"state": "issued"')) throw new Error('killed');
    await super.write(name, data);
  }
}

/** A CA that signs but whose answer is lost on the way back ("socket hang up"). */
function answerLost(real: CertificateAuthority): CertificateAuthority {
  return new Proxy(real, {
    get(t, p, r) {
      if (p === 'issue')
        return async (req: IssueRequest) => {
          await t.issue(req);
          throw new Error('socket hang up');
        };
      const v = Reflect.get(t, p, r);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
}

describe('decommission of an identity whose issuance has an unknown outcome at the CA (attack B)', () => {
  it('a CA that signed but whose answer was lost, then decommission: the signed certificate is revoked, none left unheld (finding 12 B)', async () => {
    const inv = await setUpDueInventory(sqliteWorkerStore, tempDir(), 1);
    const id = inv.ids[0]!;
    const store = await inv.open();
    const real = await openLocalCaDirectory(inv.caDir);
    const lossy = answerLost(real);
    const s = await new LifecycleManager({ ca: lossy, store, keyProtector: kp, clock: () => DUE_AT }).runDue(DUE_AT, { actor: 'worker' });
    expect(s.failed.length).toBe(1);
    expect(await store.transaction((tx) => tx.getPendingIssuance(id))).toBeDefined();
    const m = new LifecycleManager({ ca: real, store, keyProtector: kp, clock: () => DUE_AT });
    const after = await m.decommission(id, { actor: 'ops', reason: 'left the company' });
    expect(after.status).toBe('decommissioned');
    expect(await store.transaction((tx) => tx.getPendingIssuance(id))).toBeUndefined();
    expect(await unheldUnrevoked(inv.caDir, store, inv.ids)).toEqual([]);
    const ca = await openLocalCaDirectory(inv.caDir);
    const held = new Set((await store.transaction((tx) => tx.listCredentials(id))).map((c) => c.serialNumber));
    expect(ca.issued.filter((r) => !held.has(r.serialNumber)).map((r) => r.revocation?.reason)).toEqual(['cessationOfOperation']);
    const audit = (await store.listAudit()).filter((a) => a.identityId === id);
    expect(audit.some((a) => a.action === 'issuance.discarded')).toBe(true);
    await store.close();
  }, 60_000);

  it('kill -9 between the CA record and the store write, then decommission: the certificate LocalCA completes on open is revoked (finding 12 B)', async () => {
    const inv = await setUpDueInventory(sqliteWorkerStore, tempDir(), 1);
    const id = inv.ids[0]!;
    const store = await inv.open();
    // The "killed" worker: the CA wrote its pending record (intent), the process died before signing.
    const killed = await LocalCA.open(new DiesBeforeSigning(inv.caDir), {});
    const s = await new LifecycleManager({ ca: killed, store, keyProtector: kp, clock: () => DUE_AT }).runDue(DUE_AT, { actor: 'worker' });
    expect(s.failed.map((f) => f.message)).toEqual(['killed']);
    const pending = (await store.transaction((tx) => tx.getPendingIssuance(id)))!;
    expect(pending).toBeDefined();
    const m = new LifecycleManager({ ca: await openLocalCaDirectory(inv.caDir), store, keyProtector: kp, clock: () => DUE_AT });
    await m.decommission(id, { actor: 'ops', reason: 'left the company' });
    expect(await unheldUnrevoked(inv.caDir, store, inv.ids)).toEqual([]);
    await store.close();
  }, 60_000);
});

describe('enrolling again a mailbox decommissioned with an issuance of unknown outcome (attack B)', () => {
  it("re-enrolment settles the old life's issuance at the CA: the certificate signed for it is revoked, not left unheld (finding 12 B)", async () => {
    const inv = await setUpDueInventory(sqliteWorkerStore, tempDir(), 1);
    const id = inv.ids[0]!;
    const store = await inv.open();
    const real = await openLocalCaDirectory(inv.caDir);
    const lossy = answerLost(real);
    await new LifecycleManager({ ca: lossy, store, keyProtector: kp, clock: () => DUE_AT }).runDue(DUE_AT, { actor: 'worker' });
    // Decommissioned by an older version, which dropped nothing at the CA and left the issuance written down.
    await store.transaction(async (tx) => {
      const identity = (await tx.getIdentity(id))!;
      await tx.updateIdentity({ ...identity, status: 'decommissioned', updatedAt: DUE_AT }, identity.version);
    });
    expect(await store.transaction((tx) => tx.getPendingIssuance(id))).toBeDefined();
    const m = new LifecycleManager({ ca: real, store, keyProtector: kp, clock: () => DUE_AT });
    const identity = (await store.transaction((tx) => tx.getIdentity(id)))!;
    const again = await m.enroll({ mailbox: identity.name, owner: identity.owner }, { actor: 'ops' });
    expect(again.status).toBe('active');
    expect(await unheldUnrevoked(inv.caDir, store, inv.ids)).toEqual([]);
    expect((await store.listAudit()).filter((a) => a.identityId === id).map((a) => a.action)).toContain('issuance.discarded');
    await store.close();
  }, 60_000);
});
