/**
 * Regression: a message the MTA hands the filter again (a retry after 451) had its one evidence
 * record overwritten by the retry's verdict, Authentication-Results, dispositions, certificates and
 * revocation evidence — the verdict under which earlier recipients were delivered was lost (an
 * auditor asking "why did ap@'s copy go through on Monday" saw Tuesday's verdict, after the
 * certificate was revoked). Now each attempt keeps what it decided, each delivered recipient names
 * the attempt it went under, and the kept attempts are bounded.
 *
 * Real parts: a LocalCA whose OCSP responder is a local HTTP server (the certificate is revoked
 * between the attempts), the real RevocationChecker, a SQLite evidence store file, SMTP sinks as the
 * return port. The MTA's retries are sent by the test, as Postfix would after a 4xx.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCaHandler } from '../../src/ca/http.js';
import { LocalCA } from '../../src/ca/local-ca.js';
import { MemoryCaStorage } from '../../src/ca/storage.js';
import { parseCertificate } from '../../src/certs/certificate.js';
import { MAX_EVIDENCE_UNDELIVERED_ATTEMPTS, MemoryEvidenceStore, evidenceAttempts, type EvidenceRecord } from '../../src/filter/evidence.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { createFilter, type RunningFilter } from '../../src/node/filter.js';
import { serveHttp, type RunningServer } from '../../src/node/http-server.js';
import { openSqliteEvidenceStore, type SqliteEvidenceStore } from '../../src/node/sqlite-evidence.js';
import { RevocationChecker } from '../../src/revocation/checker.js';
import { validateOcspResponse } from '../../src/revocation/ocsp-validate.js';
import { signMessage } from '../../src/smime/index.js';
import type { Verdict } from '../../src/smime/verdict.js';
import { cli } from '../cli/helpers.js';
import { tempDir } from '../helpers/peers.js';
import { handOver, startSink as startSmtpSink } from '../helpers/smtp-sink.js';

const ID = 'mx.example.com';
const TO = ['ap@example.com', 'ar@example.com'];

/** The return port: takes what `accept(recipient)` allows, refuses the rest with 450 (for now). */
const startSink = (accept: (recipient: string) => boolean = () => true) =>
  startSmtpSink({ rcpt: (r) => (accept(r) ? undefined : { code: 450, text: '4.2.1 mailbox busy, try later' }) });

/** Sends like Postfix's content_filter client: the SMTP reply code of DATA. */
const deliver = (port: number, raw: Uint8Array) => handOver(port, { from: 'cfo@example.com', to: TO }, raw);

const verdictOf = (smime: EvidenceRecord['smime']) => smime.verdict as Verdict;
const statuses = (smime: EvidenceRecord['smime']) => verdictOf(smime).signers.flatMap((s) => (s.revocation ?? []).map((r) => r.status));
/** Every certificate a verdict's validated chains name (the record must hold each). */
const chainFingerprints = (smime: EvidenceRecord['smime']) =>
  verdictOf(smime)
    .signers.filter((s) => s.chain?.ok)
    .flatMap((s) => [s.certificate!, ...s.chain!.path].map((c) => c.sha256!));

let http: RunningServer;
let ca: LocalCA;
const tmp = tempDir('mailpki-filter-retry-');

beforeAll(async () => {
  let handler: ((r: Request) => Promise<Response>) | undefined;
  http = await serveHttp((r) => handler!(r), { port: 0 });
  ca = await LocalCA.create(new MemoryCaStorage(), { allowedDomains: ['example.com'], baseUrl: http.url });
  handler = createCaHandler(ca);
});

/** A payment instruction signed by a certificate of its own (so one test's revocation is not another's). */
async function signedMessage(messageId: string): Promise<{ signed: Uint8Array; serialNumber: string }> {
  const keys = await generateKeyPair('ec-p256');
  const issued = await ca.issue({ mailbox: 'cfo@example.com', publicKey: await exportSpki(keys.publicKey) });
  const certificate = parseCertificate(issued.certificate);
  const signed = await signMessage(
    { from: 'cfo@example.com', to: TO, subject: 'Pay invoice 4711', text: 'Pay 10 EUR.', messageId },
    { key: keys.privateKey, certificate, chain: [ca.issuingCertificate] },
  );
  return { signed, serialNumber: certificate.serialNumber };
}

afterAll(async () => {
  await http?.close();
  tmp.cleanup();
});

/**
 * A filter over `evidence`, revocation by OCSP with no cache (the cached "good" would have expired
 * by the retry a day later), a policy that tags what is not S/MIME-valid under hard-fail revocation.
 */
function startFilter(port: number, evidence: MemoryEvidenceStore | SqliteEvidenceStore, clock?: () => Date): Promise<RunningFilter> {
  const checker = new RevocationChecker({ timeoutMs: 10_000, cache: { get: () => undefined, set: () => undefined } });
  return createFilter({
    listen: { port: 0 },
    reinject: { port },
    authservId: ID,
    evidence,
    ...(clock ? { clock } : {}),
    smime: { trustAnchors: [ca.rootCertificate], revocation: { policy: 'hard-fail', checker } },
    policy: { version: 1, rules: [{ name: 'finance', recipients: ['*@example.com'], require: { smime: true, revocation: 'hard-fail' }, otherwise: 'tag' }] },
  });
}

describe('regression: a retry overwrote the evidence of the attempt earlier recipients were delivered under', () => {
  it('ap@ delivered under a valid verdict, ar@ refused for now, the certificate revoked, the retry: the record keeps both verdicts and which recipient went under which', async () => {
    const { signed, serialNumber } = await signedMessage('<retry.1@example.com>');
    let arBusy = true;
    const sink = await startSink((r) => r !== 'ar@example.com' || !arBusy);
    const evidence = await openSqliteEvidenceStore(tmp.path('revoked.db'));
    const filter = await startFilter(sink.port, evidence);
    try {
      // Monday: ap@ served, ar@'s mailbox busy → 451, Postfix keeps the message.
      expect(await deliver(filter.port, signed)).toBe(451);
      expect(sink.got.map((g) => g.to)).toEqual([['ap@example.com']]);
      // The certificate is revoked; Tuesday the retry comes.
      await ca.revoke({ serialNumber, reason: 'keyCompromise' });
      arBusy = false;
      expect(await deliver(filter.port, signed)).toBe(250);
      expect(sink.got.map((g) => g.to)).toEqual([['ap@example.com'], ['ar@example.com']]);
    } finally {
      await filter.close(1000);
      await sink.close();
      await evidence.close();
    }

    // What the auditor reads: the store file, through `mailpki evidence export`.
    const exported = await cli(['evidence', 'export', '--db', tmp.path('revoked.db'), '--message-id', '<retry.1@example.com>']);
    expect(exported.code).toBe(0);
    const lines = exported.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const rec = JSON.parse(lines[0]!) as EvidenceRecord;
    expect(rec).toMatchObject({ attempts: 2, outcome: 'delivered', delivered: ['ap@example.com', 'ar@example.com'] });
    // Observed before the fix: the record held only the retry's verdict (revoked); nothing said ap@'s copy went under a valid one.
    expect(rec.deliveries).toEqual([
      { recipient: 'ap@example.com', attempt: 1 },
      { recipient: 'ar@example.com', attempt: 2 },
    ]);
    expect(rec.earlier).toHaveLength(1);
    const [monday, tuesday] = evidenceAttempts(rec);
    expect(monday).toMatchObject({ attempt: 1, receivedAt: rec.receivedAt, outcome: 'deferred', delivered: ['ap@example.com'] });
    expect(monday!.authenticationResults).toMatch(/smime=pass/);
    expect(monday!.smime.result).toBe('pass');
    expect(statuses(monday!.smime)).toContain('good');
    expect(monday!.dispositions.map((d) => [d.recipient, d.action])).toEqual([
      ['ap@example.com', 'accept'],
      ['ar@example.com', 'accept'],
    ]);
    expect(tuesday).toMatchObject({ attempt: 2, receivedAt: rec.lastAttemptAt, outcome: 'delivered', delivered: ['ar@example.com'] });
    expect(tuesday!.authenticationResults).not.toMatch(/smime=pass/);
    expect(statuses(tuesday!.smime)).toContain('revoked');
    expect(tuesday!.dispositions.map((d) => [d.recipient, d.action])).toEqual([
      ['ap@example.com', 'tag'],
      ['ar@example.com', 'tag'],
    ]);
    expect(rec.faults.some((f) => /Cannot pass the message on to 1 recipient/.test(f))).toBe(true);

    // The record's certificates cover every kept attempt's chains, and the auditor re-checks each attempt's OCSP answer with them.
    const byFingerprint = new Map((rec.certificates ?? []).map((c) => [c.sha256, parseCertificate(Buffer.from(c.der, 'base64'))]));
    for (const a of [monday!, tuesday!]) {
      for (const sha of chainFingerprints(a.smime)) expect(byFingerprint.has(sha)).toBe(true);
      const signer = verdictOf(a.smime).signers[0]!;
      const path = signer.chain!.path.map((s) => byFingerprint.get(s.sha256!)!);
      const ocsp = signer.revocation!.find((r) => r.ocspResponse)!;
      const again = await validateOcspResponse(Buffer.from(ocsp.ocspResponse!, 'base64'), { certificate: path[0]!, issuer: path[1]!, at: new Date(a.receivedAt!) });
      expect(again).toMatchObject({ ok: true, status: a === monday ? 'good' : 'revoked' });
    }
  });

  it('the filter stopped after passing ap@\'s copy on (record left pending); the retry keeps that attempt\'s verdict beside its own', async () => {
    const { signed } = await signedMessage('<retry.2@example.com>');
    const sink = await startSink();
    const evidence = new MemoryEvidenceStore();
    const update = evidence.update.bind(evidence);
    let crashed = false;
    // The process "dies" once its copies are out: the update after passing on (the one not durable) never comes.
    evidence.update = (id, change, o) => (o?.durable === false && !crashed ? ((crashed = true), new Promise<undefined>(() => undefined)) : update(id, change, o));
    const first = await startFilter(sink.port, evidence);
    void deliver(first.port, signed);
    for (let i = 0; i < 200 && !crashed; i++) await new Promise((r) => setTimeout(r, 25));
    expect(crashed).toBe(true);
    expect(sink.got).toHaveLength(1);
    await first.close(100);
    const pending = (await evidence.list())[0]!;
    expect(pending).toMatchObject({ outcome: 'pending', attempts: 1, delivered: [] });

    // Postfix never got the 250: it hands the message to the restarted filter, after the lease of the dead one's claim (10 min).
    const second = await startFilter(sink.port, evidence, () => new Date(Date.now() + 11 * 60_000));
    try {
      expect(await deliver(second.port, signed)).toBe(250);
    } finally {
      await second.close(1000);
      await sink.close();
    }
    const rec = (await evidence.get(pending.id))!;
    expect(rec).toMatchObject({ attempts: 2, outcome: 'delivered' });
    // At least once: the copies went out again, under attempt 2; attempt 1 is kept as it was left (it may have passed copies on).
    expect(rec.deliveries).toEqual(TO.map((recipient) => ({ recipient, attempt: 2 })));
    expect(rec.earlier).toEqual([
      {
        attempt: 1,
        receivedAt: pending.receivedAt,
        authenticationResults: pending.authenticationResults,
        smime: pending.smime,
        ...(pending.dkim ? { dkim: pending.dkim } : {}),
        dispositions: pending.dispositions,
        outcome: 'pending',
      },
    ]);
    expect(new Set(rec.certificates!.map((c) => c.sha256))).toEqual(new Set([...chainFingerprints(pending.smime), ...chainFingerprints(rec.smime)]));
  });

  it(`bounded: a message deferred 28 times keeps the first attempt, every delivering one and the latest ${MAX_EVIDENCE_UNDELIVERED_ATTEMPTS} others`, async () => {
    const { signed } = await signedMessage('<retry.3@example.com>');
    let open = new Set(['ap@example.com']);
    const sink = await startSink((r) => open.has(r));
    const evidence = new MemoryEvidenceStore();
    const filter = await startFilter(sink.port, evidence);
    const sizes: number[] = [];
    try {
      // Attempt 1 serves ap@; ar@'s mailbox stays busy for 28 attempts; then it is served.
      for (let i = 1; i <= 30; i++) {
        if (i === 2) open = new Set();
        if (i === 30) open = new Set(['ar@example.com']);
        expect(await deliver(filter.port, signed)).toBe(i === 30 ? 250 : 451);
        sizes.push(JSON.stringify((await evidence.list())[0]).length);
      }
    } finally {
      await filter.close(1000);
      await sink.close();
    }
    const rec = (await evidence.list())[0]!;
    expect(rec.attempts).toBe(30);
    expect(rec.earlier!.map((a) => a.attempt)).toEqual([1, 22, 23, 24, 25, 26, 27, 28, 29]);
    expect(rec.deliveries).toEqual([
      { recipient: 'ap@example.com', attempt: 1 },
      { recipient: 'ar@example.com', attempt: 30 },
    ]);
    expect(evidenceAttempts(rec).find((a) => a.delivered.includes('ap@example.com'))!.smime.result).toBe('pass');
    // The record stops growing once the bound is reached (the faults too: the last 20).
    expect(Math.max(...sizes.slice(20))).toBeLessThanOrEqual(Math.max(...sizes.slice(10, 20)) * 1.05);
    expect(rec.certificates!.length).toBe(new Set(chainFingerprints(rec.smime)).size);
  });
});
