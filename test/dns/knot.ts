/**
 * A throwaway Knot DNS server for tests: zone example.com (SOA, NS) in a temp directory, a TSIG key
 * allowed to update TXT records below _domainkey only (the policy docs/dkim-rotation.md recommends), listening on 127.0.0.1 at a free high port, in the foreground as a child
 * of the test. `stop()` kills it and removes the directory. Startup is bounded (10 s).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { createServer } from 'node:net';
import { tempDir } from '../helpers/peers.js';

export const KNOT_BINARY = 'knotd';
export const TSIG_NAME = 'mailpki-update.';
/** Fixed test secret (32 bytes, base64); never used outside tests. */
export const TSIG_SECRET = 'bWFpbHBraS10ZXN0LXRzaWctc2VjcmV0LTMyYnl0ZXM=';

export interface KnotServer {
  port: number;
  server: string;
  dir: string;
  log: () => string;
  stop: () => Promise<void>;
}

/** A port free for both TCP and UDP on 127.0.0.1 right now. */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const a = s.address();
        s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (port > 1024 && udpFree) return port;
  }
  throw new Error('no free port');
}

export async function startKnot(options: { zone?: string } = {}): Promise<KnotServer> {
  const zone = options.zone ?? 'example.com';
  const tmp = tempDir('mailpki-knot-');
  const port = await freePort();
  mkdirSync(tmp.path('db'));
  writeFileSync(
    tmp.path(`${zone}.zone`),
    [
      `$ORIGIN ${zone}.`,
      '$TTL 60',
      `@ IN SOA ns1.${zone}. hostmaster.${zone}. 1 3600 600 86400 60`,
      `@ IN NS ns1.${zone}.`,
      'ns1 IN A 127.0.0.1',
      '',
    ].join('\n'),
  );
  writeFileSync(
    tmp.path('knot.conf'),
    `server:
    rundir: "${tmp.dir}"
    pidfile: "${tmp.dir}/knot.pid"
    listen: 127.0.0.1@${port}
database:
    storage: "${tmp.dir}/db"
control:
    listen: "${tmp.dir}/knot.sock"
log:
  - target: stderr
    any: info
key:
  - id: ${TSIG_NAME}
    algorithm: hmac-sha256
    secret: ${TSIG_SECRET}
acl:
  - id: mailpki-update
    key: ${TSIG_NAME}
    action: update
    update-type: TXT
    update-owner: name
    update-owner-match: sub
    update-owner-name: _domainkey.${zone}.
zone:
  - domain: ${zone}
    storage: "${tmp.dir}"
    file: "${zone}.zone"
    acl: mailpki-update
    zonefile-sync: -1
    journal-content: changes
`,
  );
  let log = '';
  const child: ChildProcess = spawn(KNOT_BINARY, ['-c', tmp.path('knot.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  let exited = false;
  child.once('exit', () => (exited = true));
  const stop = async () => {
    if (!exited) {
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(t);
    }
    tmp.cleanup();
  };
  const server = `127.0.0.1:${port}`;
  const resolver = new Resolver({ timeout: 500, tries: 1 });
  resolver.setServers([server]);
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (exited) {
      tmp.cleanup();
      throw new Error(`knotd exited during startup:\n${log}`);
    }
    try {
      const soa = await resolver.resolveSoa(zone);
      if (soa.serial >= 1) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`knotd did not answer within 10 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { port, server, dir: tmp.dir, log: () => log, stop };
}

