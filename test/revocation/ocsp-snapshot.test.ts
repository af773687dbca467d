/**
 * LocalCA's OCSP answers while its records change under it (finding 9), in one process with two
 * LocalCA objects on one storage standing for `mailpki serve` and another process.
 */
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createCaHandler } from '../../src/ca/http.js';
import { LocalCA } from '../../src/ca/local-ca.js';
import { MemoryCaStorage } from '../../src/ca/storage.js';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { seq } from '../../src/internal/der.js';
import { encodePem } from '../../src/internal/pem.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { OCSP_OID } from '../../src/revocation/ocsp-common.js';
import { createOcspRequest, parseOcspResponse, validateOcspResponse } from '../../src/revocation/ocsp.js';
import { describeWithPeers, runStatus, tempDir } from '../helpers/peers.js';

const now = new Date('2026-11-01T10:00:00Z');
const clock = () => now;

/** Storage whose reads can be slowed down, to hold a refresh in the middle of loading. */
class SlowStorage extends MemoryCaStorage {
  delayMs = 0;
  override async read(name: string): Promise<Uint8Array | undefined> {
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    return super.read(name);
  }
}

async function world(n = 5) {
  const storage = new SlowStorage();
  const other = await LocalCA.create(storage, { allowedDomains: ['example.com'] }, { clock });
  const spki = await exportSpki((await generateKeyPair('ec-p256')).publicKey);
  const issue = async (ca: LocalCA, who: string) => parseCertificate((await ca.issue({ mailbox: `${who}@example.com`, publicKey: spki })).certificate);
  const certs: Certificate[] = [];
  for (let i = 0; i < n; i++) certs.push(await issue(other, `u${i}`));
  const serving = await LocalCA.open(storage, { clock });
  const status = async (ca: LocalCA, c: Certificate) => {
    const req = createOcspRequest({ certificate: c, issuer: ca.issuingCertificate });
    const der = await ca.respondOcsp(req.der);
    const v = await validateOcspResponse(der, { certificate: c, issuer: ca.issuingCertificate, certId: req.certId, at: now });
    expect(v.problems).toEqual([]);
    return { status: v.status, revokedAt: v.revokedAt, reason: v.reason, der };
  };
  return { storage, other, serving, certs, spki, issue, status };
}

describe('LocalCA OCSP from a whole snapshot (finding 9)', () => {
  it('answers given while a refresh is loading the records are never unknown (finding 9)', async () => {
    const w = await world(8);
    await w.other.revoke({ serialNumber: w.certs[0]!.serialNumber, reason: 'keyCompromise' });
    w.storage.delayMs = 5;
    const refreshing = w.serving.refresh();
    const during: string[] = [];
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 3));
      during.push((await w.status(w.serving, w.certs[3]!)).status!);
    }
    await refreshing;
    w.storage.delayMs = 0;
    expect(during.every((s) => s === 'good')).toBe(true);
    expect((await w.status(w.serving, w.certs[0]!)).status).toBe('revoked');
  });

  it('a revocation by the serving process is in its very next answer', async () => {
    const w = await world(2);
    await w.serving.revoke({ serialNumber: w.certs[1]!.serialNumber, reason: 'superseded' });
    expect((await w.status(w.serving, w.certs[1]!)).status).toBe('revoked');
  });

  it('under concurrent requests and refreshes, every request sent after the revocation returned is answered revoked', async () => {
    const w = await world(2);
    const target = w.certs[1]!;
    const before: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) before.push(w.status(w.serving, target), w.serving.refresh({ full: i % 2 === 0 }));
    await w.serving.revoke({ serialNumber: target.serialNumber, reason: 'superseded' });
    const after: Promise<{ status?: string }>[] = [];
    for (let i = 0; i < 20; i++) {
      after.push(w.status(w.serving, target));
      before.push(w.serving.refresh({ full: true }));
    }
    await Promise.all(before);
    expect((await Promise.all(after)).map((r) => r.status)).toEqual(Array(20).fill('revoked'));
  });

  it('a certificate issued by another process since the last refresh is good, not unknown (finding 9)', async () => {
    const w = await world(1);
    const fresh = await w.issue(w.other, 'fresh');
    expect(w.serving.ocspStatus(fresh.serialNumber)).toEqual({ status: 'unknown' }); // not in the snapshot yet
    expect((await w.status(w.serving, fresh)).status).toBe('good');
    // and revoked there, before any refresh: the storage answer says so too
    await w.other.revoke({ serialNumber: fresh.serialNumber, reason: 'keyCompromise' });
    expect((await w.status(w.serving, fresh)).status).toBe('revoked');
  });

  it('a certificate file without its record (an issuance cut short) is revoked/certificateHold at 1970 with extended revoke, never good or unknown (finding 9)', async () => {
    const w = await world(1);
    // What an issuance in flight in another process looks like: its record still 'pending'.
    const orphan = await w.issue(w.other, 'orphan');
    const json = markPending(w.storage, orphan);
    const r = await w.status(w.serving, orphan);
    expect(r).toMatchObject({ status: 'revoked', reason: 'certificateHold' });
    expect(r.revokedAt!.getTime()).toBe(0);
    const basic = parseOcspResponse(r.der).basic!;
    expect(basic.extensions.map((e) => [e.oid, e.critical])).toEqual([[OCSP_OID.idPkixOcspExtendedRevoke, false]]);
    // The old layout (mailpki ≤ 0.1: certs/<serial>.pem, then .json), killed between the two writes.
    w.storage.files.delete(json);
    w.storage.files.set(`certs/${orphan.serialNumber}.pem`, new TextEncoder().encode(encodePem('CERTIFICATE', orphan.der)));
    expect(await w.status(w.serving, orphan)).toMatchObject({ status: 'revoked', reason: 'certificateHold' });
    // A serial the CA never used stays unknown (RFC 6960 allows either; nothing was signed).
    w.storage.files.delete(`certs/${orphan.serialNumber}.pem`);
    expect((await w.status(w.serving, orphan)).status).toBe('unknown');
  });

  it('a request about many serials not in the snapshot is answered tryLater, without a storage read for each', async () => {
    const w = await world(1);
    const made = [];
    for (let i = 0; i < 40; i++) made.push(await w.issue(w.other, `n${i}`));
    const ids = made.map((c) => createOcspRequest({ certificate: c, issuer: w.serving.issuingCertificate }).certId.der);
    const reads = { n: 0 };
    const read = w.storage.read.bind(w.storage);
    w.storage.read = (name: string) => (reads.n++, read(name));
    const many = await w.serving.respondOcsp(seq(seq(seq(...ids.map((id) => seq(id))))));
    expect(parseOcspResponse(many).responseStatus).toBe('tryLater');
    expect(reads.n).toBe(0);
    const few = parseOcspResponse(await w.serving.respondOcsp(seq(seq(seq(...ids.slice(0, 32).map((id) => seq(id)))))));
    expect(few.basic!.responses.map((r) => r.certStatus)).toEqual(Array(32).fill('good'));
  });

  it('a CRL made by the serving process does not hide a revocation made by another process (finding 9)', async () => {
    const w = await world(2);
    await w.serving.refresh();
    await w.other.revoke({ serialNumber: w.certs[0]!.serialNumber, reason: 'keyCompromise' });
    // createCrl adopts the stored ca.json (with the other process's revision) without loading the records.
    await w.serving.createCrl();
    await w.serving.refresh();
    expect(w.serving.ocspStatus(w.certs[0]!.serialNumber).status).toBe('revoked');
    expect(w.serving.revocations().map((r) => r.serialNumber)).toEqual([w.certs[0]!.serialNumber]);
  });
});

describe('createCaHandler picks up other processes\' changes (finding 9)', () => {
  const post = (handler: (r: Request) => Promise<Response>, der: Uint8Array) =>
    handler(new Request('http://ca.test/ocsp', { method: 'POST', body: der.slice(), headers: { 'content-type': 'application/ocsp-request' } }));
  const statusVia = async (handler: (r: Request) => Promise<Response>, ca: LocalCA, c: Certificate) => {
    const req = createOcspRequest({ certificate: c, issuer: ca.issuingCertificate });
    const der = new Uint8Array(await (await post(handler, req.der)).arrayBuffer());
    return parseOcspResponse(der).basic!.responses[0]!.certStatus;
  };

  it('two writers that opened the CA at the same revision: the second one\'s revocation is still answered, within fullRefreshMs (finding 9)', async () => {
    const w = await world(2);
    const a = await LocalCA.open(w.storage, { clock });
    const b = await LocalCA.open(w.storage, { clock });
    const handler = createCaHandler(w.serving, { refreshMs: 0, fullRefreshMs: 100, clock });
    await a.revoke({ serialNumber: w.certs[0]!.serialNumber, reason: 'keyCompromise' });
    expect(await statusVia(handler, w.serving, w.certs[0]!)).toBe('revoked');
    // b still holds revision n and writes n+1 again: the revision alone does not move.
    await b.revoke({ serialNumber: w.certs[1]!.serialNumber, reason: 'keyCompromise' });
    await new Promise((r) => setTimeout(r, 120));
    expect(await statusVia(handler, w.serving, w.certs[1]!)).toBe('revoked');
  });
});

describeWithPeers('openssl reads the extended-revoke answer', ['openssl'], () => {
  it('openssl ocsp -respin: revoked, certificateHold, 1970, with the extended-revoke extension', async () => {
    const w = await world(1);
    const orphan = await w.issue(w.other, 'orphan');
    // An issuance in flight elsewhere: its record still 'pending'.
    markPending(w.storage, orphan);
    const r = await w.status(w.serving, orphan);
    const t = tempDir('mailpki-extrevoke-');
    try {
      writeFileSync(t.path('resp.der'), r.der);
      writeFileSync(t.path('issuing.pem'), encodePem('CERTIFICATE', w.serving.issuingCertificate.der));
      writeFileSync(t.path('leaf.pem'), encodePem('CERTIFICATE', orphan.der));
      const o = runStatus('openssl', ['ocsp', '-respin', t.path('resp.der'), '-resp_text', '-noverify', '-issuer', t.path('issuing.pem'), '-cert', t.path('leaf.pem')]);
      expect(o.stdout).toMatch(/: revoked/);
      expect(o.stdout).toMatch(/Reason: certificateHold/);
      expect(o.stdout).toMatch(/Revocation Time: Jan  1 00:00:00 1970 GMT/);
      // OpenSSL names {id-pkix-ocsp 9} by its draft name, "valid"; RFC 6960 §4.4.8 calls it extended-revoke.
      expect(o.stdout).toMatch(/Response Extensions:\s*\n\s*valid:/);
    } finally {
      t.cleanup();
    }
  });
});

/** Puts a record back to 'pending', as an issuance cut short between its two writes leaves it. */
function markPending(storage: MemoryCaStorage, cert: Certificate): string {
  const json = `certs/${cert.serialNumber}.json`;
  const record = JSON.parse(new TextDecoder().decode(storage.files.get(json)!));
  delete record.certificate;
  storage.files.set(json, new TextEncoder().encode(JSON.stringify({ ...record, state: 'pending' })));
  return json;
}
