/**
 * DKIM peers for the interop tests, checked the way they are used: dkimpy through Debian's
 * /usr/bin/python3, opendkim-testmsg run inside private namespaces, dnsmasq as a test DNS server.
 * A missing peer is handed to describeWithPeers under its package-like name, which then skips
 * (or fails under MAILPKI_REQUIRE_PEERS=1) with that name.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { describeWithPeers } from '../helpers/peers.js';

export type DkimPeer = 'python3-dkim' | 'opendkim-testmsg' | 'dnsmasq' | 'unshare-namespaces';

const cache = new Map<DkimPeer, boolean>();
const ok = (cmd: string, args: string[]): boolean => spawnSync(cmd, args, { stdio: 'ignore', timeout: 20_000 }).status === 0;

export function dkimPeerAvailable(peer: DkimPeer): boolean {
  let v = cache.get(peer);
  if (v === undefined) {
    switch (peer) {
      case 'python3-dkim':
        v = ok('/usr/bin/python3', ['-c', 'import dkim, dns']);
        break;
      case 'opendkim-testmsg':
        v = ok('sh', ['-c', 'command -v opendkim-testmsg || test -x /usr/sbin/opendkim-testmsg']);
        break;
      case 'dnsmasq':
        v = ok('sh', ['-c', 'command -v dnsmasq || test -x /usr/sbin/dnsmasq']);
        break;
      case 'unshare-namespaces':
        v = ok('unshare', ['--mount', '--net', '--pid', '--fork', '--kill-child', 'true']);
        break;
    }
    cache.set(peer, v);
  }
  return v;
}

/** describeWithPeers for DKIM peers: the missing ones are named, present ones need nothing. */
export function describeWithDkimPeers(name: string, peers: readonly DkimPeer[], body: () => void): void {
  describeWithPeers(name, peers.filter((p) => !dkimPeerAvailable(p)), body);
}

export const DNSMASQ = '/usr/sbin/dnsmasq';

/** A free UDP port on 127.0.0.1 (bound and released; good enough for a test server). */
export async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface Dnsmasq {
  port: number;
  stop(): Promise<void>;
}

/** dnsmasq on 127.0.0.1:`port`, answering only the given TXT records (NXDOMAIN for the rest of the zone). */
export async function startDnsmasq(zone: string, records: Record<string, string>): Promise<Dnsmasq> {
  const port = await freeUdpPort();
  const args = [
    '--keep-in-foreground',
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    '--listen-address=127.0.0.1',
    '--bind-interfaces',
    `--port=${port}`,
    '--pid-file=',
    '--user=root',
    `--local=/${zone}/`,
    ...Object.entries(records).map(([n, v]) => `--txt-record=${n},${v}`),
  ];
  const child: ChildProcess = spawn(DNSMASQ, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += String(d)));
  // Ready when it answers; bounded wait.
  const { Resolver } = await import('node:dns/promises');
  const r = new Resolver({ timeout: 200, tries: 1 });
  r.setServers([`127.0.0.1:${port}`]);
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`dnsmasq exited: ${stderr}`);
    try {
      await r.resolveTxt(`probe.${zone}`);
      break;
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOTFOUND' || (e as { code?: string }).code === 'ENODATA') break;
      if (i > 50) throw new Error(`dnsmasq did not answer: ${stderr}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  }
  return {
    port,
    stop: () =>
      new Promise<void>((res) => {
        if (child.exitCode !== null) return res();
        child.once('exit', () => res());
        child.kill('SIGTERM');
      }),
  };
}
