/**
 * The auditor's re-check with OpenSSL, from `mailpki evidence export` alone (issue 13: "exportable for an
 * auditor, who can re-check the OCSP signatures later"). Real parts: mailpki's LocalCA and its OCSP responder
 * over HTTP, the filter on a real SQLite store, the CLI export, `openssl ocsp -respin` and `openssl verify`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createCaHandler } from '../../src/ca/http.js';
import { LocalCA } from '../../src/ca/local-ca.js';
import { MemoryCaStorage } from '../../src/ca/storage.js';
import { parseCertificate } from '../../src/certs/certificate.js';
import type { EvidenceRecord } from '../../src/filter/evidence.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { createFilter, type RunningFilter } from '../../src/node/filter.js';
import { serveHttp, type RunningServer } from '../../src/node/http-server.js';
import { openSqliteEvidenceStore, type SqliteEvidenceStore } from '../../src/node/sqlite-evidence.js';
import { RevocationChecker } from '../../src/revocation/checker.js';
import { signMessage } from '../../src/smime/index.js';
import type { Verdict } from '../../src/smime/verdict.js';
import { cli } from '../cli/helpers.js';
import { describeWithPeers, runStatus, tempDir } from '../helpers/peers.js';
import { handOver, startSink } from '../helpers/smtp-sink.js';

describeWithPeers('an auditor re-checks an exported record with OpenSSL', ['openssl'], () => {
  const t = tempDir('mailpki-audit-openssl-');
  let http: RunningServer;
  let filter: RunningFilter;
  let store: SqliteEvidenceStore;
  let sink: Awaited<ReturnType<typeof startSink>>;

  beforeAll(async () => {
    let handler: ((r: Request) => Promise<Response>) | undefined;
    http = await serveHttp((r) => handler!(r), { port: 0 });
    const ca = await LocalCA.create(new MemoryCaStorage(), { allowedDomains: ['example.com'], baseUrl: http.url });
    handler = createCaHandler(ca);
    const keys = await generateKeyPair('ec-p256');
    const issued = await ca.issue({ mailbox: 'cfo@example.com', publicKey: await exportSpki(keys.publicKey) });
    const signed = await signMessage(
      { from: 'cfo@example.com', to: 'ap@example.com', subject: 'Pay', text: 'Pay 10 EUR.', messageId: '<audit.1@example.com>' },
      { key: keys.privateKey, certificate: parseCertificate(issued.certificate), chain: [ca.issuingCertificate] },
    );
    sink = await startSink();
    store = await openSqliteEvidenceStore(t.path('store.db'));
    filter = await createFilter({
      listen: { port: 0 },
      reinject: { port: sink.port },
      authservId: 'mx.example.test',
      evidence: store,
      smime: { trustAnchors: [ca.rootCertificate], revocation: { policy: 'hard-fail', checker: new RevocationChecker({ timeoutMs: 10_000 }) } },
    });
    expect(await handOver(filter.port, { from: 'cfo@example.com', to: ['ap@example.com'] }, signed)).toBe(250);
    await filter.close(1000);
    await store.close();
  }, 60_000);
  afterAll(async () => {
    await filter?.close(1000);
    await sink?.close();
    await http?.close();
    t.cleanup();
  });

  it('from the export alone: the chain verifies with openssl verify at receivedAt, and openssl ocsp -respin verifies the kept OCSP response and finds it about the signer\'s certificate (good); against another certificate it finds no status', async () => {
    const exported = await cli(['evidence', 'export', '--db', t.path('store.db'), '--message-id', '<audit.1@example.com>', '--out', t.path('evidence.jsonl')]);
    expect(exported.code).toBe(0);
    const lines = readFileSync(t.path('evidence.jsonl'), 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    const record = JSON.parse(lines[0]!) as EvidenceRecord;
    const signer = (record.smime.verdict as Verdict).signers[0]!;
    // The certificates named by the verdict's path, written out as PEM (docs/mail-flow.md's jq line does the same).
    const der = new Map(record.certificates!.map((c) => [c.sha256, c.der]));
    const [leaf, issuing, root] = signer.chain!.path.map((summary, i) => {
      const file = t.path(`path${i}.pem`);
      writeFileSync(file, `-----BEGIN CERTIFICATE-----\n${der.get(summary.sha256!)!.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`);
      return file;
    });
    const at = String(Math.floor(Date.parse(record.receivedAt) / 1000));
    const verified = runStatus('openssl', ['verify', '-attime', at, '-CAfile', root!, '-untrusted', issuing!, '-purpose', 'smimesign', leaf!]);
    expect(verified.stdout + verified.stderr).toContain(': OK');
    expect(verified.status).toBe(0);

    const ocsp = signer.revocation!.find((r) => r.ocspResponse)!;
    expect(ocsp).toMatchObject({ status: 'good', method: 'ocsp' });
    writeFileSync(t.path('resp.der'), Buffer.from(ocsp.ocspResponse!, 'base64'));
    writeFileSync(t.path('cas.pem'), readFileSync(issuing!, 'latin1') + readFileSync(root!, 'latin1'));
    const checked = runStatus('openssl', ['ocsp', '-respin', t.path('resp.der'), '-issuer', issuing!, '-cert', leaf!, '-CAfile', t.path('cas.pem'), '-attime', at]);
    expect(checked.stderr).toContain('Response verify OK');
    expect(checked.stdout).toContain(`${leaf!}: good`);
    expect(checked.status).toBe(0);
    // The response is about the signer's certificate only: asked about the issuing CA's, OpenSSL finds no status in it.
    const other = runStatus('openssl', ['ocsp', '-respin', t.path('resp.der'), '-issuer', root!, '-cert', issuing!, '-CAfile', t.path('cas.pem'), '-attime', at]);
    expect(other.stdout + other.stderr).toMatch(/No Status found/i);
    // Damaged by one byte of its signature, it no longer verifies.
    const bytes = Buffer.from(ocsp.ocspResponse!, 'base64');
    bytes[bytes.length - 3] = bytes[bytes.length - 3]! ^ 0x01;
    writeFileSync(t.path('bad.der'), bytes);
    const bad = runStatus('openssl', ['ocsp', '-respin', t.path('bad.der'), '-issuer', issuing!, '-cert', leaf!, '-CAfile', t.path('cas.pem'), '-attime', at]);
    expect(bad.stderr).not.toContain('Response verify OK');
  });
});
