/**
 * The filter when a dependency times out (issue 13: "a DNS or OCSP timeout → the policy's soft/hard
 * rule, recorded"). Real parts: a LocalCA whose OCSP and CRL URLs point at a local HTTP server that
 * either answers or never does, a UDP DNS "server" that never answers, the real RevocationChecker
 * and node:dns resolver, an SMTP sink as the return port.
 *
 * - OCSP/CRL unreachable, hard-fail: the S/MIME verdict is not valid, the rule quarantines, the
 *   evidence says which check failed and why (SMIME_REVOCATION_UNAVAILABLE), AR says temperror.
 * - OCSP/CRL unreachable, soft-fail: the verdict stays valid with a warning; a rule that asks for
 *   revocation 'hard-fail' still quarantines (status not known good); a rule that does not accepts.
 * - Responder answers: the raw OCSP response is in the evidence (an auditor can re-check it).
 * - DNS timeout: dkim=temperror in AR and evidence; a rule requiring aligned DKIM applies `otherwise`.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCaHandler } from '../../src/ca/http.js';
import { LocalCA } from '../../src/ca/local-ca.js';
import { MemoryCaStorage } from '../../src/ca/storage.js';
import { parseCertificate } from '../../src/certs/certificate.js';
import { generateDkimKey, signDkimMessage } from '../../src/dkim/index.js';
import { MemoryEvidenceStore, type EvidenceRecord } from '../../src/filter/evidence.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { createFilter, type RunningFilter } from '../../src/node/filter.js';
import { serveHttp, type RunningServer } from '../../src/node/http-server.js';
import { nodeDnsResolver } from '../../src/node/index.js';
import { RevocationChecker } from '../../src/revocation/checker.js';
import { validateOcspResponse } from '../../src/revocation/ocsp-validate.js';
import type { Verdict } from '../../src/smime/verdict.js';
import { signMessage } from '../../src/smime/index.js';

const ID = 'filter.example.test';

async function startSink() {
  const got: string[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onData(stream, _session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        got.push(Buffer.concat(chunks).toString('latin1'));
        cb();
      });
    },
  });
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.server.address() as { port: number }).port)));
  return { got, port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('createFilter when OCSP or DNS time out', () => {
  let http: RunningServer;
  let ca: LocalCA;
  let respond = true;
  const hanging: Array<() => void> = [];
  let dns: UdpSocket;
  let dnsQueries = 0;
  let sink: Awaited<ReturnType<typeof startSink>>;
  let quarantine: string;
  let smimeSigned: Uint8Array;
  let dkimSigned: string;
  const filters: RunningFilter[] = [];
  const transports: Array<ReturnType<typeof nodemailer.createTransport>> = [];

  beforeAll(async () => {
    let handler: ((r: Request) => Promise<Response>) | undefined;
    // Unanswered requests are released at the end so the server can close.
    http = await serveHttp((r) => (respond ? handler!(r) : new Promise<Response>((resolve) => hanging.push(() => resolve(new Response('', { status: 503 }))))), { port: 0 });
    ca = await LocalCA.create(new MemoryCaStorage(), { allowedDomains: ['example.com'], baseUrl: http.url });
    handler = createCaHandler(ca);
    const keys = await generateKeyPair('ec-p256');
    const issued = await ca.issue({ mailbox: 'cfo@example.com', publicKey: await exportSpki(keys.publicKey) });
    smimeSigned = await signMessage(
      { from: 'cfo@example.com', to: 'ap@example.com', subject: 'Pay', text: 'Pay 10 EUR.', messageId: '<smime.1@example.com>' },
      { key: keys.privateKey, certificate: parseCertificate(issued.certificate), chain: [ca.issuingCertificate] },
    );
    const dkimKey = await generateDkimKey({ domain: 'example.com', selector: 's1', algorithm: 'ed25519' });
    const plain = 'From: cfo@example.com\r\nTo: ap@example.com\r\nSubject: Hi\r\nMessage-ID: <dkim.1@example.com>\r\n\r\nbody\r\n';
    dkimSigned = await signDkimMessage(plain, [{ domain: 'example.com', selector: 's1', privateKey: dkimKey.privateKey }]);
    dns = createSocket('udp4');
    dns.on('message', () => void dnsQueries++); // a DNS server that never answers
    await new Promise<void>((r) => dns.bind(0, '127.0.0.1', () => r()));
    sink = await startSink();
    quarantine = mkdtempSync(join(tmpdir(), 'mailpki-filter-faults-'));
  });

  afterAll(async () => {
    for (const t of transports) t.close();
    for (const f of filters) await f.close(1000);
    for (const release of hanging) release();
    await http?.close();
    await sink?.close();
    dns?.close();
    rmSync(quarantine, { recursive: true, force: true });
  });

  async function start(revocation: 'soft-fail' | 'hard-fail', rule: { revocation?: 'soft-fail' | 'hard-fail'; dkim?: boolean }, timeoutMs = 300) {
    const evidence = new MemoryEvidenceStore();
    const checker = new RevocationChecker({ timeoutMs });
    const filter = await createFilter({
      listen: { port: 0 },
      reinject: { port: sink.port },
      authservId: ID,
      evidence,
      smime: { trustAnchors: [ca.rootCertificate], revocation: { policy: revocation, checker } },
      dkim: { resolver: nodeDnsResolver({ servers: [`127.0.0.1:${(dns.address() as { port: number }).port}`], timeoutMs: 300 }) },
      policy: {
        version: 1,
        quarantine: { directory: quarantine },
        rules: [
          {
            name: 'ap',
            recipients: ['ap@example.com'],
            require: rule.dkim ? { dkimAligned: true } : { smime: true, ...(rule.revocation ? { revocation: rule.revocation } : {}) },
            otherwise: 'quarantine',
          },
        ],
      },
    });
    filters.push(filter);
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: filter.port, secure: false, ignoreTLS: true });
    transports.push(t);
    const send = async (raw: string | Uint8Array): Promise<EvidenceRecord> => {
      const before = (await evidence.list()).length;
      await t.sendMail({ envelope: { from: 'cfo@example.com', to: ['ap@example.com'] }, raw: Buffer.from(raw) });
      const all = await evidence.list();
      expect(all).toHaveLength(before + 1);
      return all[all.length - 1]!;
    };
    return { send };
  }

  const problemCodes = (rec: EvidenceRecord) => ((rec.smime.verdict as { problems?: Array<{ code: string }> }).problems ?? []).map((p) => p.code);
  const warningCodes = (rec: EvidenceRecord) => ((rec.smime.verdict as { warnings?: Array<{ code: string }> }).warnings ?? []).map((p) => p.code);
  const quarantined = () => readdirSync(quarantine).length;

  it('OCSP and CRL time out under hard-fail: S/MIME temperror, quarantined, the reason in the evidence', async () => {
    respond = false;
    const { send } = await start('hard-fail', { revocation: 'hard-fail' });
    const held = quarantined();
    const started = Date.now();
    const rec = await send(smimeSigned);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(rec.outcome).toBe('delivered');
    expect(rec.smime.result).toBe('temperror');
    expect(rec.authenticationResults).toMatch(/smime=temperror/);
    expect(problemCodes(rec)).toContain('SMIME_REVOCATION_UNAVAILABLE');
    expect(rec.dispositions).toEqual([{ recipient: 'ap@example.com', action: 'quarantine', rule: 'ap', failed: expect.arrayContaining(['smime']) }]);
    expect(quarantined()).toBe(held + 1);
  });

  it('OCSP and CRL time out under soft-fail: the verdict is valid with a warning; a rule asking for hard-fail revocation still quarantines', async () => {
    respond = false;
    const soft = await start('soft-fail', {});
    const sinkBefore = sink.got.length;
    const rec = await soft.send(smimeSigned);
    expect(rec.smime.result).toBe('pass');
    expect(warningCodes(rec).length).toBeGreaterThan(0);
    expect(rec.dispositions).toEqual([{ recipient: 'ap@example.com', action: 'accept', rule: 'ap', failed: [] }]);
    expect(sink.got.length).toBe(sinkBefore + 1);

    const strict = await start('soft-fail', { revocation: 'hard-fail' });
    const held = quarantined();
    const rec2 = await strict.send(smimeSigned);
    expect(rec2.smime.result).toBe('pass');
    expect(rec2.dispositions).toEqual([{ recipient: 'ap@example.com', action: 'quarantine', rule: 'ap', failed: ['revocation'] }]);
    expect(quarantined()).toBe(held + 1);
  });

  it('the responder answers: accepted under hard-fail, and the raw OCSP response is kept in the evidence', async () => {
    respond = true;
    // A generous timeout: on a loaded machine a 300 ms OCSP timeout would fall back to the CRL.
    const { send } = await start('hard-fail', { revocation: 'hard-fail' }, 10_000);
    const rec = await send(smimeSigned);
    expect(rec.smime.result).toBe('pass');
    expect(rec.dispositions).toEqual([{ recipient: 'ap@example.com', action: 'accept', rule: 'ap', failed: [] }]);
    expect(JSON.stringify(rec.smime.verdict)).toMatch(/"ocspResponse":"[A-Za-z0-9+/=]{100,}"/);

    // An auditor, later, with the record alone: the certificates the verdict names are in it (once
    // each, linked by fingerprint), and with them the kept OCSP response checks again.
    const signer = (rec.smime.verdict as Verdict).signers[0]!;
    const byFingerprint = new Map((rec.certificates ?? []).map((c) => [c.sha256, parseCertificate(Buffer.from(c.der, 'base64'))]));
    expect(byFingerprint.size).toBe(rec.certificates!.length);
    const path = signer.chain!.path.map((summary) => byFingerprint.get(summary.sha256!)!);
    expect(path.length).toBeGreaterThanOrEqual(2);
    expect(signer.certificate!.sha256).toBe(signer.chain!.path[0]!.sha256);
    expect(JSON.stringify(rec.smime.verdict)).not.toContain('"der"');
    path.forEach((c, i) => expect(c.serialNumber).toBe(signer.chain!.path[i]!.serialNumber));
    const ocsp = signer.revocation!.find((r) => r.ocspResponse)!;
    const again = await validateOcspResponse(Buffer.from(ocsp.ocspResponse!, 'base64'), { certificate: path[0]!, issuer: path[1]!, at: new Date(rec.receivedAt) });
    expect(again).toMatchObject({ ok: true, status: 'good' });
    // A certificate swapped for another (here the issuer's own) does not check.
    const wrong = await validateOcspResponse(Buffer.from(ocsp.ocspResponse!, 'base64'), { certificate: path[1]!, issuer: path[path.length - 1]!, at: new Date(rec.receivedAt) }).catch((e) => e);
    expect(wrong.ok).not.toBe(true);
  });

  it('the DNS server never answers: dkim=temperror in AR and evidence, the rule requiring aligned DKIM quarantines', async () => {
    const { send } = await start('soft-fail', { dkim: true });
    const held = quarantined();
    const queries = dnsQueries;
    const started = Date.now();
    const rec = await send(dkimSigned);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(dnsQueries).toBeGreaterThan(queries);
    expect(rec.dkim?.result).toBe('temperror');
    expect(rec.authenticationResults).toMatch(/dkim=temperror/);
    expect(rec.dispositions).toEqual([{ recipient: 'ap@example.com', action: 'quarantine', rule: 'ap', failed: ['dkim'] }]);
    expect(quarantined()).toBe(held + 1);
  });
});
