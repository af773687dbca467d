/**
 * Finding 9, with real processes: `mailpki serve` answers OCSP while `mailpki revoke --ca` and
 * `mailpki issue` run in other processes, and clients poll in tight loops (our own client and
 * `openssl ocsp`). After a revoke is acknowledged, every request sent `REFRESH_BOUND_MS` later is
 * answered "revoked"; no certificate the CA issued is ever answered "unknown".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { encodePem } from '../../src/internal/pem.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { initLocalCaDirectory } from '../../src/node/fs-storage.js';
import { createOcspRequest, parseOcspResponse } from '../../src/revocation/ocsp.js';
import { describeWithPeers, tempDir, waitForOutput } from '../helpers/peers.js';

const BIN = fileURLToPath(new URL('../../src/cli/bin.ts', import.meta.url));
/** The documented bound (createCaHandler's default refreshMs). */
const REFRESH_BOUND_MS = 250;
const t = tempDir('mailpki-serve-refresh-');
const dir = t.path('ca');
const now = () => performance.now();

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Runs the real CLI; resolves when `ackPattern` appears on stdout (the command's acknowledgement) and when it exits. */
function runCli(args: string[], ackPattern: RegExp): { ack: Promise<number>; exit: Promise<{ code: number | null; out: string }> } {
  const child = spawn(process.execPath, ['--import', 'tsx', BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let acked: (t: number) => void;
  const ack = new Promise<number>((r) => (acked = r));
  child.stdout!.on('data', (d) => {
    out += d;
    if (ackPattern.test(out)) acked(now());
  });
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<{ code: number | null; out: string }>((resolve) => child.on('close', (code) => resolve({ code, out })));
  return { ack, exit };
}

let server: ChildProcess | undefined;
let url = '';
let issuing: Certificate;
const certs: Certificate[] = [];

beforeAll(async () => {
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  const ca = await initLocalCaDirectory(dir, { allowedDomains: ['example.com'], baseUrl: url });
  issuing = ca.issuingCertificate;
  writeFileSync(t.path('issuing.pem'), encodePem('CERTIFICATE', issuing.der));
  writeFileSync(t.path('root.pem'), encodePem('CERTIFICATE', ca.rootCertificate.der));
  // Enough records that reloading them takes a while (the window the finding was about).
  const keys = await generateKeyPair('ec-p256');
  const spki = await exportSpki(keys.publicKey);
  for (let i = 0; i < 150; i++) certs.push(parseCertificate((await ca.issue({ mailbox: `u${i}@example.com`, publicKey: spki })).certificate));
  certs.forEach((c, i) => writeFileSync(t.path(`c${i}.pem`), encodePem('CERTIFICATE', c.der)));
  server = spawn(process.execPath, ['--import', 'tsx', BIN, 'serve', '--ca', dir, '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  await waitForOutput(server, /Serving/);
}, 180_000);

afterAll(async () => {
  server?.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  t.cleanup();
});

type Status = 'good' | 'revoked' | 'unknown' | 'nonIssued' | 'error';

async function ask(cert: Certificate): Promise<Status> {
  const req = createOcspRequest({ certificate: cert, issuer: issuing });
  try {
    const res = await fetch(`${url}/ocsp`, { method: 'POST', body: req.der.slice(), headers: { 'content-type': 'application/ocsp-request' } });
    const r = parseOcspResponse(new Uint8Array(await res.arrayBuffer()));
    const single = r.basic?.responses[0];
    if (!single) return 'error';
    if (single.certStatus === 'revoked' && single.revocationTime?.getTime() === 0) return 'nonIssued';
    return single.certStatus;
  } catch {
    return 'error';
  }
}

interface Answer {
  sentAt: number;
  status: Status;
}

/** `n` clients asking about `cert` back to back until `stop()`. */
function poll(cert: () => Certificate | undefined, n: number) {
  const log: Answer[] = [];
  let running = true;
  const loops = Array.from({ length: n }, async () => {
    while (running) {
      const c = cert();
      if (!c) {
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      const sentAt = now();
      log.push({ sentAt, status: await ask(c) });
    }
  });
  return {
    log,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe('mailpki serve answers from whole snapshots (finding 9)', () => {
  it('after `mailpki revoke --ca` in another process is acknowledged, serve answers revoked within the bound and never unknown (finding 9)', async () => {
    const target = certs[7]!;
    const p = poll(() => target, 4);
    await new Promise((r) => setTimeout(r, 300));
    const rv = runCli(['revoke', '--ca', dir, '--serial', target.serialNumber, '--reason', 'keyCompromise'], /^Revoked /m);
    const ackAt = await rv.ack;
    expect((await rv.exit).code).toBe(0);
    await new Promise((r) => setTimeout(r, REFRESH_BOUND_MS + 1500));
    await p.stop();
    const before = p.log.filter((a) => a.sentAt < ackAt);
    const after = p.log.filter((a) => a.sentAt >= ackAt + REFRESH_BOUND_MS);
    expect(before.length).toBeGreaterThan(10);
    expect(after.length).toBeGreaterThan(10);
    // Never unknown, never an error, at any time.
    expect(p.log.filter((a) => a.status !== 'good' && a.status !== 'revoked')).toEqual([]);
    expect(after.filter((a) => a.status !== 'revoked')).toEqual([]);
    // Once revoked, never good again.
    const firstRevoked = p.log.findIndex((a) => a.status === 'revoked');
    expect(p.log.slice(firstRevoked).filter((a) => a.status === 'good' && a.sentAt > p.log[firstRevoked]!.sentAt)).toEqual([]);
  }, 60_000);

  it('a certificate `mailpki issue` made in another process after serve started is never unknown, even before serve reloads (finding 9)', async () => {
    // The serve process knows the other certificates; these are new to it.
    let fresh: Certificate | undefined;
    const p = poll(() => fresh, 2);
    const others = poll(() => certs[3], 2);
    for (let i = 0; i < 3; i++) {
      const out = t.path(`new${i}`);
      const r = runCli(['issue', '--ca', dir, '--email', `new${i}@example.com`, '--out', out], /./);
      const { code, out: text } = await r.exit;
      expect(code, text).toBe(0);
      const { readFileSync } = await import('node:fs');
      fresh = parseCertificate(readFileSync(`${out}.cert.pem`, 'latin1'));
      await new Promise((r) => setTimeout(r, 300));
    }
    await p.stop();
    await others.stop();
    expect(p.log.length).toBeGreaterThan(10);
    expect(p.log.filter((a) => a.status !== 'good')).toEqual([]);
    expect(others.log.filter((a) => a.status !== 'good')).toEqual([]);
  }, 60_000);

  describeWithPeers('with openssl ocsp as the client', ['openssl'], () => {
    it('openssl ocsp polling in a loop never sees good after the revoke is acknowledged + the bound, nor unknown (finding 9)', async () => {
      const target = certs[11]!;
      const file = t.path('c11.pem');
      const log: { sentAt: number; out: string }[] = [];
      let running = true;
      const loop = (async () => {
        while (running) {
          const sentAt = now();
          const out = await new Promise<string>((resolve) => {
            const c = spawn('openssl', ['ocsp', '-issuer', t.path('issuing.pem'), '-cert', file, '-url', `${url}/ocsp`, '-CAfile', t.path('root.pem'), '-no_nonce'], {
              stdio: ['ignore', 'pipe', 'pipe'],
            });
            let o = '';
            c.stdout.on('data', (d) => (o += d));
            c.stderr.on('data', (d) => (o += d));
            // 'close', not 'exit': under load a process can exit before its output has been read.
            c.on('close', () => resolve(o));
          });
          log.push({ sentAt, out });
        }
      })();
      // Our own clients keep the server busy meanwhile, so that requests meet every refresh.
      const busy = poll(() => target, 3);
      await new Promise((r) => setTimeout(r, 500));
      const rv = runCli(['revoke', '--ca', dir, '--serial', target.serialNumber, '--reason', 'superseded'], /^Revoked /m);
      const ackAt = await rv.ack;
      expect((await rv.exit).code).toBe(0);
      await new Promise((r) => setTimeout(r, REFRESH_BOUND_MS + 1500));
      running = false;
      await loop;
      await busy.stop();
      expect(busy.log.filter((a) => a.status !== 'good' && a.status !== 'revoked')).toEqual([]);
      expect(busy.log.filter((a) => a.sentAt >= ackAt + REFRESH_BOUND_MS && a.status !== 'revoked')).toEqual([]);
      const status = (o: string) => /: (good|revoked|unknown)/.exec(o)?.[1] ?? `error: ${o}`;
      expect(log.every((l) => /Response verify OK/.test(l.out)), log.map((l) => l.out).join('\n')).toBe(true);
      expect(log.map((l) => status(l.out)).filter((s) => s !== 'good' && s !== 'revoked')).toEqual([]);
      const after = log.filter((l) => l.sentAt >= ackAt + REFRESH_BOUND_MS);
      expect(after.length).toBeGreaterThan(3);
      expect(after.map((l) => status(l.out)).filter((s) => s !== 'revoked')).toEqual([]);
      expect(after.every((l) => /Reason: superseded/.test(l.out))).toBe(true);
    }, 60_000);
  });
});
