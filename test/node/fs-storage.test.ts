import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { initLocalCaDirectory, openLocalCaDirectory, writeFileAtomic } from '../../src/node/fs-storage.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { describeWithPeers, runStatus, tempDir } from '../helpers/peers.js';

const t = tempDir();
afterAll(() => t.cleanup());

describe('LocalCA in a directory', () => {
  it('is written whole, reopened with its passphrase, and keeps issuing', async () => {
    const dir = t.path('ca1');
    const ca = await initLocalCaDirectory(dir, { allowedDomains: ['example.com'], passphrase: 'correct horse' });
    expect(readdirSync(dir).sort()).toEqual(['.lock', 'ca.json', 'chain.pem', 'crl', 'issuing.pem', 'keys', 'root.pem']);
    expect(readFileSync(join(dir, 'keys/issuing.key.pem'), 'utf8')).toContain('BEGIN ENCRYPTED PRIVATE KEY');
    expect(readFileSync(join(dir, 'keys/root.key.pem'), 'utf8')).toContain('BEGIN ENCRYPTED PRIVATE KEY');
    const spki = await exportSpki((await generateKeyPair('ec-p256')).publicKey);
    const first = await ca.issue({ mailbox: 'a@example.com', publicKey: spki });

    const again = await openLocalCaDirectory(dir, { passphrase: 'correct horse' });
    expect(again.id).toBe(ca.id);
    expect(again.issued.map((r) => r.serialNumber)).toEqual([first.serialNumber]);
    const second = await again.issue({ mailbox: 'b@example.com', publicKey: spki });
    expect((await openLocalCaDirectory(dir, { passphrase: 'correct horse' })).issued.map((r) => r.serialNumber)).toEqual([
      first.serialNumber,
      second.serialNumber,
    ]);
    // One record per certificate, the certificate inside it (no separate .pem to lose).
    expect(readdirSync(join(dir, 'certs')).sort()).toEqual([`${first.serialNumber}.json`, `${second.serialNumber}.json`].sort());
    expect(JSON.parse(readFileSync(join(dir, `certs/${second.serialNumber}.json`), 'utf8'))).toMatchObject({ state: 'issued', certificate: expect.stringContaining('BEGIN CERTIFICATE') });
    // No temporary files left behind.
    expect(readdirSync(t.dir).filter((n) => n.includes('partial'))).toEqual([]);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('creates every file 0600 but the public certificates and CRL, whatever the umask (finding 14)', async () => {
    const old = process.umask(0o022);
    try {
      const dir = t.path('ca-modes');
      const ca = await initLocalCaDirectory(dir, { allowedDomains: ['example.com'] });
      const spki = await exportSpki((await generateKeyPair('ec-p256')).publicKey);
      const issued = await ca.issue({ mailbox: 'a@example.com', publicKey: spki, idempotencyKey: 'modes-1' });
      const mode = (name: string) => (statSync(join(dir, name)).mode & 0o777).toString(8);
      for (const name of ['ca.json', 'keys/root.key.pem', 'keys/issuing.key.pem', `certs/${issued.serialNumber}.json`, '.lock', ...readdirSync(join(dir, 'idempotency')).map((n) => `idempotency/${n}`)])
        expect([name, mode(name)]).toEqual([name, '600']);
      for (const name of ['root.pem', 'issuing.pem', 'chain.pem', 'crl/root.crl']) expect([name, mode(name)]).toEqual([name, '644']);
    } finally {
      process.umask(old);
    }
  });

  it('two CA objects on one directory (as two processes) issue under one lock: one certificate per idempotency key, none lost (finding 12)', async () => {
    const dir = t.path('ca-two');
    await initLocalCaDirectory(dir, { allowedDomains: ['example.com'] });
    const [a, b] = await Promise.all([openLocalCaDirectory(dir), openLocalCaDirectory(dir)]);
    const spki = await exportSpki((await generateKeyPair('ec-p256')).publicKey);
    const same = await Promise.all([a, b, a, b].map((ca) => ca.issue({ mailbox: 'a@example.com', publicKey: spki, idempotencyKey: 'one-key' })));
    expect(new Set(same.map((x) => x.serialNumber)).size).toBe(1);
    const distinct = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).issue({ mailbox: 'a@example.com', publicKey: spki, idempotencyKey: `k-${i}` })));
    expect(new Set(distinct.map((x) => x.serialNumber)).size).toBe(8);
    const reopened = await openLocalCaDirectory(dir);
    expect(reopened.issued).toHaveLength(9);
    expect(new Set(reopened.issued.map((r) => r.seq)).size).toBe(9);
    // A revocation through one object is what the other finds (it reads the record under the lock).
    await a.revoke({ serialNumber: distinct[0]!.serialNumber, reason: 'keyCompromise' });
    await expect(b.revoke({ serialNumber: distinct[0]!.serialNumber, reason: 'superseded' })).rejects.toMatchObject({ code: 'ERR_CA_ALREADY_REVOKED' });
  });

  it('removes temporary files a killed write left behind when it opens (finding 13)', async () => {
    const dir = t.path('ca-tmp');
    await initLocalCaDirectory(dir, { allowedDomains: ['example.com'] });
    mkdirSync(join(dir, 'certs'), { recursive: true });
    writeFileSync(join(dir, 'certs/.0a1b.json.0123456789ab.tmp'), '{"half":');
    writeFileSync(join(dir, '.ca.json.ba9876543210.tmp'), '{');
    writeFileSync(join(dir, 'certs/keep-me.txt'), 'not ours');
    await openLocalCaDirectory(dir);
    expect(readdirSync(join(dir, 'certs'))).toEqual(['keep-me.txt']);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('needs the right passphrase', async () => {
    const dir = t.path('ca2');
    await initLocalCaDirectory(dir, { passphrase: 'pw-one' });
    await expect(openLocalCaDirectory(dir)).rejects.toMatchObject({ code: 'ERR_PASSPHRASE_REQUIRED' });
    await expect(openLocalCaDirectory(dir, { passphrase: 'pw-two' })).rejects.toMatchObject({ code: 'ERR_PASSPHRASE_WRONG' });
  });

  it('never writes over an existing directory with files', async () => {
    const dir = t.path('ca3');
    mkdirSync(dir);
    writeFileSync(join(dir, 'precious.txt'), 'keep me');
    await expect(initLocalCaDirectory(dir)).rejects.toMatchObject({ code: 'ERR_CA_EXISTS' });
    expect(readFileSync(join(dir, 'precious.txt'), 'utf8')).toBe('keep me');
    const empty = t.path('ca3-empty');
    mkdirSync(empty);
    await expect(initLocalCaDirectory(empty)).resolves.toBeTruthy();
  });

  it('refuses a corrupted or foreign state file with a clear error', async () => {
    const dir = t.path('ca4');
    await initLocalCaDirectory(dir);
    writeFileSync(join(dir, 'ca.json'), '{"format":"something-else"}');
    await expect(openLocalCaDirectory(dir)).rejects.toMatchObject({ code: 'ERR_CA_STATE_INVALID', message: expect.stringMatching(/format/) });
    writeFileSync(join(dir, 'ca.json'), '{not json');
    await expect(openLocalCaDirectory(dir)).rejects.toMatchObject({ code: 'ERR_CA_STATE_INVALID' });
    await expect(openLocalCaDirectory(t.path('missing'))).rejects.toMatchObject({ code: 'ERR_CA_STATE_INVALID' });
  });

  it('leaves nothing behind when creation fails', async () => {
    const dir = t.path('ca5');
    await expect(initLocalCaDirectory(dir, { keyType: 'dsa-1024' as 'ec-p256' })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    expect(existsSync(dir)).toBe(false);
    expect(readdirSync(t.dir).filter((n) => n.startsWith('ca5'))).toEqual([]);
  });

  describeWithPeers('OpenSSL reads the CA keys at rest', ['openssl'], () => {
    it('openssl pkey decrypts the issuing key with the passphrase, and not without', async () => {
      const dir = t.path('ca6');
      await initLocalCaDirectory(dir, { passphrase: 's3cret' });
      const key = join(dir, 'keys/issuing.key.pem');
      expect(runStatus('openssl', ['pkey', '-in', key, '-passin', 'pass:s3cret', '-noout']).status).toBe(0);
      expect(runStatus('openssl', ['pkey', '-in', key, '-passin', 'pass:wrong', '-noout']).status).not.toBe(0);
    });
  });
});

describe('writeFileAtomic', () => {
  it('with its signal aborted (a caller that gave up waiting): rejects, leaves the file as it was and no temporary file', async () => {
    const dir = t.path('atomic-signal');
    mkdirSync(dir);
    const file = join(dir, 'x.eml');
    await writeFileAtomic(file, 'first', 0o600, { signal: new AbortController().signal });
    const stop = new AbortController();
    stop.abort(new Error('too late'));
    await expect(writeFileAtomic(file, 'second', 0o600, { signal: stop.signal })).rejects.toMatchObject({ code: 'ERR_IO' });
    expect(readFileSync(file, 'utf8')).toBe('first');
    expect(readdirSync(dir)).toEqual(['x.eml']);
  });
});
