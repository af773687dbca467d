/**
 * Kill -9 at every write of an issuance (finding 13): a storage that "dies" at its n-th write
 * (the write does not happen and the CA object is abandoned, as a killed process is), then the CA
 * is opened again and the caller retries with the same idempotency key.
 */
import { describe, expect, it } from 'vitest';
import { LocalCA } from '../../src/ca/local-ca.js';
import { MailPkiError } from '../../src/errors.js';
import { MemoryCaStorage, type CaStorage } from '../../src/ca/storage.js';
import { parseCertificate } from '../../src/certs/certificate.js';
import { fromUtf8 } from '../../src/internal/bytes.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';

const NOW = new Date('2026-11-01T10:00:00Z');
const clock = () => NOW;

class Killed extends Error {}

/** Passes everything to `inner` until the `killAt`-th write, which throws instead of writing. */
class DyingStorage implements CaStorage {
  writes = 0;
  constructor(
    readonly inner: MemoryCaStorage,
    private readonly killAt: number,
  ) {}
  read(name: string) {
    return this.inner.read(name);
  }
  list(prefix: string) {
    return this.inner.list(prefix);
  }
  lock<T>(fn: () => Promise<T>) {
    return this.inner.lock(fn);
  }
  async write(name: string, data: Uint8Array) {
    if (++this.writes === this.killAt) throw new Killed(`killed before writing ${name}`);
    return this.inner.write(name, data);
  }
}

/** Every certificate the storage holds anywhere (a .pem file of the old layout or inside a record), by serial. */
function certificatesIn(storage: MemoryCaStorage): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, bytes] of storage.files) {
    if (!name.startsWith('certs/')) continue;
    const text = fromUtf8(bytes);
    if (name.endsWith('.pem')) out.set(parseCertificate(text).serialNumber, name);
    else if (name.endsWith('.json')) {
      const pem = (JSON.parse(text) as { certificate?: string }).certificate;
      if (pem) out.set(parseCertificate(pem).serialNumber, name);
    }
  }
  return out;
}

describe('LocalCA killed between the writes of an issuance (finding 13)', () => {
  it('a kill at any write leaves no certificate without a record, nothing pending, and the retry gets the one certificate', async () => {
    const spki = await exportSpki((await generateKeyPair('ec-p256')).publicKey);
    // How many writes one issuance makes (counted on a CA that is not killed).
    const probe = new MemoryCaStorage();
    await LocalCA.create(probe, { allowedDomains: ['example.com'] }, { clock });
    const counting = new DyingStorage(probe, Number.POSITIVE_INFINITY);
    await (await LocalCA.open(counting, { clock })).issue({ mailbox: 'a@example.com', publicKey: spki, idempotencyKey: 'probe' });
    expect(counting.writes).toBeGreaterThanOrEqual(2);

    for (let killAt = 1; killAt <= counting.writes; killAt++) {
      const storage = new MemoryCaStorage();
      await LocalCA.create(storage, { allowedDomains: ['example.com'] }, { clock });
      const dying = await LocalCA.open(new DyingStorage(storage, killAt), { clock });
      const first = await dying.issue({ mailbox: 'a@example.com', publicKey: spki, idempotencyKey: 'once' }).catch((e: unknown) => e);
      expect(first, `kill at write ${killAt}`).toBeInstanceOf(Killed);

      // The next process opens the CA: what the kill left is reconciled.
      const ca = await LocalCA.open(storage, { clock });
      for (const [serial, where] of certificatesIn(storage)) {
        const record = ca.getRecord(serial);
        expect(record, `kill at write ${killAt}: certificate ${serial} (${where}) has a record`).toBeDefined();
        expect(record!.state).toBe('issued');
      }
      // Every recorded certificate can be revoked; OCSP knows it.
      for (const r of ca.issued) expect(ca.ocspStatus(r.serialNumber).status).not.toBe('unknown');

      // The retry with the same key: the certificate already signed, if one was, and no second one.
      const retry = await ca.issue({ mailbox: 'a@example.com', publicKey: spki, idempotencyKey: 'once' });
      const unrevoked = ca.issued.filter((r) => !r.revocation);
      expect(unrevoked.map((r) => r.serialNumber), `kill at write ${killAt}`).toEqual([retry.serialNumber]);
      expect(certificatesIn(storage).size - ca.issued.filter((r) => r.revocation).length, `kill at write ${killAt}: certificates signed for the key`).toBe(1);
      const pending = [...storage.files.keys()].filter((n) => n.startsWith('certs/') && n.endsWith('.json') && JSON.parse(fromUtf8(storage.files.get(n)!)).state === 'pending');
      expect(pending).toEqual([]);
      await expect(ca.revoke({ serialNumber: retry.serialNumber, reason: 'keyCompromise' })).resolves.toBeDefined();
    }
  });

  it('a record of the old layout (certificate in certs/<serial>.pem) is still read, and a .pem without its record is recorded and revoked on open', async () => {
    const storage = new MemoryCaStorage();
    const ca = await LocalCA.create(storage, { allowedDomains: ['example.com'] }, { clock });
    const spki = await exportSpki((await generateKeyPair('ec-p256')).publicKey);
    const a = await ca.issue({ mailbox: 'a@example.com', publicKey: spki, idempotencyKey: 'old-a' });
    const b = await ca.issue({ mailbox: 'b@example.com', publicKey: spki });
    // Rewrite both into the old layout: a keeps its record (without state/certificate), b loses it.
    const enc = new TextEncoder();
    for (const issued of [a, b]) {
      const name = `certs/${issued.serialNumber}.json`;
      const { state: _s, certificate, request: _r, ...old } = JSON.parse(fromUtf8(storage.files.get(name)!)) as Record<string, unknown>;
      storage.files.set(`certs/${issued.serialNumber}.pem`, enc.encode(certificate as string));
      if (issued === a) storage.files.set(name, enc.encode(JSON.stringify(old)));
      else storage.files.delete(name);
    }
    for (const name of [...storage.files.keys()]) if (name.startsWith('idempotency/')) storage.files.delete(name);

    const reopened = await LocalCA.open(storage, { clock });
    expect(reopened.getRecord(a.serialNumber)).toMatchObject({ state: 'issued', mailbox: 'a@example.com' });
    expect((await reopened.getCertificate(a.serialNumber))!.der).toEqual(a.certificate);
    // The old record's idempotency key still answers with its certificate.
    expect((await reopened.issue({ mailbox: 'a@example.com', publicKey: spki, idempotencyKey: 'old-a' })).serialNumber).toBe(a.serialNumber);
    expect(reopened.getRecord(b.serialNumber)).toMatchObject({ mailbox: 'b@example.com', revocation: { reason: 'superseded' } });
    expect(reopened.ocspStatus(b.serialNumber).status).toBe('revoked');
  });
});

describe('LocalCA on storage it may only read', () => {
  it('opens and reads what is issued when the lock cannot be taken because the storage is read-only', async () => {
    const storage = new MemoryCaStorage();
    const ca = await LocalCA.create(storage, { allowedDomains: ['example.com'] }, { clock });
    const spki = await exportSpki((await generateKeyPair('ec-p256')).publicKey);
    const issued = await ca.issue({ mailbox: 'a@example.com', publicKey: spki });
    const readOnly: CaStorage = {
      read: (n) => storage.read(n),
      list: (p) => storage.list(p),
      write: async () => {
        throw new Error('read-only');
      },
      lock: async () => {
        throw new MailPkiError('ERR_IO', 'the CA is read-only here', { details: { readOnly: true } });
      },
    };
    const reader = await LocalCA.open(readOnly, { clock });
    expect(reader.ocspStatus(issued.serialNumber).status).toBe('good');
    await expect(reader.issue({ mailbox: 'b@example.com', publicKey: spki })).rejects.toMatchObject({ code: 'ERR_IO' });
  });
});
