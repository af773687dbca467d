/**
 * A real Postfix for mail-flow tests, in a temporary configuration directory on loopback ports,
 * delivering every recipient's copy to a Maildir under that directory (never the machine's real
 * mailboxes). Postfix accepts a configuration directory other than /etc/postfix only when
 * /etc/postfix/main.cf lists it in alternate_config_directories, so instances live in fixed slots
 * /tmp/mailpki-postfix/<n>/ (n < POSTFIX_SLOTS; .ci/run writes that line). Test files run in
 * parallel processes: a slot is taken with an exclusive lock file holding the owner's pid (a dead
 * owner's lock is taken over), and each slot has its own ports.
 *
 * Use with describeWithPeers(name, POSTFIX_PEERS, …) so a missing Postfix skips loudly (fails
 * under MAILPKI_REQUIRE_PEERS=1). Needs root (Postfix's master runs as root).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { join } from 'node:path';

export const POSTFIX_PEERS = ['postfix', 'postqueue', 'swaks'] as const;
export const POSTFIX_ROOT = '/tmp/mailpki-postfix';
export const POSTFIX_SLOTS = 8;
/** Slot n uses ports POSTFIX_BASE_PORT + 10n … + 10n + 9. */
export const POSTFIX_BASE_PORT = 31_000;

export interface PostfixOptions {
  /**
   * Route every message received on smtpPort through a content filter at 127.0.0.1:filterPort
   * (`content_filter = smtp:[127.0.0.1]:filterPort`), which re-injects to returnPort.
   */
  contentFilter?: boolean;
  /** Domains delivered to Maildirs here. Default example.org, example.com, example.net. */
  domains?: readonly string[];
  /** Postfix's own message_size_limit (bytes). */
  messageSizeLimit?: number;
  /** Postfix's mydestination (default empty: no local domain; Postfix's own default is $myhostname, localhost.$mydomain, localhost). */
  mydestination?: string;
  /** More main.cf lines, written last (a parameter set again overrides the helper's). */
  mainCf?: readonly string[];
}

export interface Delivered {
  name: string;
  path: string;
  content: Buffer;
}

export interface Postfix {
  slot: number;
  dir: string;
  /** Postfix's smtpd for clients (swaks, applications). */
  smtpPort: number;
  /** Postfix's second smtpd, without content filter: where a filter re-injects. */
  returnPort: number;
  /** Where Postfix hands messages to the content filter (when options.contentFilter). */
  filterPort: number;
  /** A spare port of this slot, free for the test (e.g. a proxy in front of returnPort). */
  sparePort: number;
  /** The one Maildir all recipients' copies go to (it exists once something was delivered). */
  maildir: string;
  /** Messages delivered to a mailbox so far (by their first Delivered-To), oldest first. */
  delivered(mailbox: string): Delivered[];
  /** Waits until a mailbox holds at least `count` messages; throws with the mail log on timeout. */
  waitForDelivery(mailbox: string, count?: number, timeoutMs?: number): Promise<Delivered[]>;
  /** Waits until the mail log matches (e.g. a bounce or deferral); throws with the log on timeout. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Asks Postfix to retry deferred mail now. */
  flush(): void;
  /** The queue as `postqueue -p` shows it. */
  queue(): string;
  log(): string;
  stop(): Promise<void>;
}

export interface SwaksResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Sends one message with swaks (the SMTP client of the Postfix docs) to 127.0.0.1:port. */
export function swaks(port: number, args: readonly string[], input?: string | Buffer): SwaksResult {
  const r = spawnSync('swaks', ['--server', `127.0.0.1:${port}`, '--silent', '2', ...args], { input, encoding: 'latin1', timeout: 60_000 });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/**
 * swaks without blocking the event loop: for a server in this same process (e.g. a filter under
 * test), which could not answer while spawnSync waits.
 */
export function swaksAsync(port: number, args: readonly string[]): Promise<SwaksResult> {
  return new Promise((resolve) => {
    const child = spawn('swaks', ['--server', `127.0.0.1:${port}`, '--silent', '2', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('latin1').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('latin1').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ status: code ?? -1, stdout, stderr });
    });
  });
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryLock(slot: number): boolean {
  const lock = join(POSTFIX_ROOT, `${slot}.lock`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lock, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner = NaN;
      try {
        owner = Number(readFileSync(lock, 'utf8'));
      } catch {
        continue; // removed meanwhile: try again
      }
      if (pidAlive(owner)) return false;
      // The owner died (kill -9 of a test run): take the slot over. Two processes may both see
      // the dead owner; rm + 'wx' lets only one of them win the next attempt.
      rmSync(lock, { force: true });
    }
  }
  return false;
}

function unlock(slot: number): void {
  const lock = join(POSTFIX_ROOT, `${slot}.lock`);
  try {
    if (Number(readFileSync(lock, 'utf8')) === process.pid) rmSync(lock, { force: true });
  } catch {
    /* already gone */
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.setTimeout(1000);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
    s.connect(port, '127.0.0.1');
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function postfixCmd(conf: string, args: readonly string[]): { status: number; out: string } {
  const r = spawnSync('postfix', ['-c', conf, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

function checkAlternateConfig(conf: string): void {
  const r = spawnSync('postconf', ['-h', 'alternate_config_directories'], { encoding: 'utf8' });
  if (!(r.stdout ?? '').split(/[\s,]+/).includes(conf)) {
    throw new Error(`/etc/postfix/main.cf must list ${conf} in alternate_config_directories (see .ci/run)`);
  }
}

function writeConfig(dir: string, ports: { smtp: number; ret: number; filter: number }, options: PostfixOptions): void {
  const conf = join(dir, 'conf');
  for (const d of ['conf', 'queue', 'data', 'mail']) mkdirSync(join(dir, d), { recursive: true, mode: 0o755 });
  const postfixUser = spawnSync('id', ['-u', 'postfix'], { encoding: 'utf8' });
  const postfixGroup = spawnSync('id', ['-g', 'postfix'], { encoding: 'utf8' });
  chownSync(join(dir, 'data'), Number(postfixUser.stdout), Number(postfixGroup.stdout));
  // Deliveries run as nobody; the test (root) reads them.
  chownSync(join(dir, 'mail'), 65534, 65534);

  const master = readFileSync('/usr/share/postfix/master.cf.dist', 'utf8')
    .split('\n')
    .filter((l) => !/^postlog\s/.test(l))
    // No chroot: the chroot would need a copy of /etc files under the queue directory.
    .map((l) => (/^[a-z]/.test(l) ? l.replace(/^(\S+\s+\S+\s+\S+\s+\S+\s+)y(\s)/, '$1n$2') : l))
    .map((l) => l.replace(/^smtp(\s+)inet/, `127.0.0.1:${ports.smtp}$1inet`));
  master.push(
    'postlog   unix-dgram n  -       n       -       1       postlogd',
    // The return port of Postfix's "advanced content filter" (FILTER_README): no filter again,
    // no header/body checks, only loopback clients.
    `127.0.0.1:${ports.ret} inet n  -       n       -       -       smtpd`,
    '  -o content_filter=',
    '  -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters',
    '  -o smtpd_client_restrictions=',
    '  -o smtpd_helo_restrictions=',
    '  -o smtpd_sender_restrictions=',
    '  -o smtpd_relay_restrictions=permit_mynetworks,reject',
    '  -o smtpd_recipient_restrictions=permit_mynetworks,reject',
    '  -o mynetworks=127.0.0.0/8',
    '  -o smtpd_authorized_xforward_hosts=127.0.0.0/8',
    // The filter is a loopback client, "local" to Postfix by default: its cleanup would add a missing From
    // (the envelope sender) and complete a From without domain ($myorigin) after the filter judged the message.
    '  -o local_header_rewrite_clients=',
    '',
  );
  writeFileSync(join(conf, 'master.cf'), master.join('\n'));

  const domains = options.domains ?? ['example.org', 'example.com', 'example.net'];
  const main = [
    'compatibility_level = 3.6',
    `queue_directory = ${dir}/queue`,
    `data_directory = ${dir}/data`,
    'inet_interfaces = 127.0.0.1',
    'inet_protocols = ipv4',
    'mynetworks = 127.0.0.0/8',
    'myhostname = mx.example.test',
    `mydestination =${options.mydestination ? ` ${options.mydestination}` : ''}`,
    'relayhost =',
    'alias_maps =',
    'alias_database =',
    'local_recipient_maps =',
    'biff = no',
    'smtpd_relay_restrictions = permit_mynetworks, reject',
    'smtpd_tls_security_level = none',
    'smtp_tls_security_level = none',
    // Every recipient of these domains gets its own copy in one Maildir, mail/all/ (virtual(8) refuses
    // $1 substitution, so no per-recipient path); virtual(8) marks each copy with Delivered-To.
    `virtual_mailbox_domains = ${domains.join(' ')}`,
    `virtual_mailbox_base = ${dir}/mail`,
    `virtual_mailbox_maps = static:all/`,
    'virtual_uid_maps = static:65534',
    'virtual_gid_maps = static:65534',
    'virtual_minimum_uid = 100',
    // Retry deferred mail within seconds, not minutes: tests wait for it.
    'queue_run_delay = 1s',
    'minimal_backoff_time = 1s',
    'maximal_backoff_time = 2s',
    'smtp_connect_timeout = 5s',
    // Bounces for senders in no local domain would wait for DNS; give up on them at once.
    'smtp_dns_support_level = disabled',
    'bounce_queue_lifetime = 0',
    `maillog_file = ${dir}/maillog`,
    `maillog_file_prefixes = ${dir}`,
  ];
  if (options.messageSizeLimit !== undefined) main.push(`message_size_limit = ${options.messageSizeLimit}`);
  if (options.contentFilter) main.push(`content_filter = smtp:[127.0.0.1]:${ports.filter}`);
  main.push(...(options.mainCf ?? []));
  writeFileSync(join(conf, 'main.cf'), `${main.join('\n')}\n`);
}

/** Mail log lines are written by postlogd asynchronously; reading a missing log is not an error. */
function readLog(dir: string): string {
  try {
    return readFileSync(join(dir, 'maillog'), 'utf8');
  } catch {
    return '';
  }
}

/** Starts a Postfix in a free slot; call stop() in afterAll (it also frees the slot). */
export async function startPostfix(options: PostfixOptions = {}): Promise<Postfix> {
  mkdirSync(POSTFIX_ROOT, { recursive: true, mode: 0o755 });
  for (let round = 0; round < 120; round++) {
    for (let slot = 0; slot < POSTFIX_SLOTS; slot++) {
      if (!tryLock(slot)) continue;
      const base = POSTFIX_BASE_PORT + 10 * slot;
      const ports = { smtp: base, ret: base + 1, filter: base + 2, spare: base + 3 };
      const dir = join(POSTFIX_ROOT, String(slot));
      const conf = join(dir, 'conf');
      // A Postfix left running by a killed run of this slot: stop it before reusing the directory.
      if (existsSync(join(conf, 'main.cf'))) postfixCmd(conf, ['abort']);
      const free = await Promise.all([ports.smtp, ports.ret, ports.filter, ports.spare].map(portFree));
      if (free.includes(false)) {
        unlock(slot);
        continue;
      }
      try {
        checkAlternateConfig(conf);
        rmSync(dir, { recursive: true, force: true });
        writeConfig(dir, ports, options);
        const started = postfixCmd(conf, ['start']);
        if (started.status !== 0) throw new Error(`postfix start failed (${started.status}): ${started.out}\n${readLog(dir)}`);
        const deadline = Date.now() + 20_000;
        while (!(await connects(ports.smtp)) || !(await connects(ports.ret))) {
          if (Date.now() > deadline) throw new Error(`postfix did not listen on ${ports.smtp}/${ports.ret}:\n${readLog(dir)}`);
          await sleep(100);
        }
      } catch (e) {
        postfixCmd(conf, ['abort']);
        unlock(slot);
        throw e;
      }
      return instance(slot, dir, conf, ports);
    }
    await sleep(500); // every slot busy: another test file is using them
  }
  throw new Error(`no free Postfix slot in ${POSTFIX_ROOT} after 60 s`);
}

function instance(slot: number, dir: string, conf: string, ports: { smtp: number; ret: number; filter: number; spare: number }): Postfix {
  const maildir = join(dir, 'mail', 'all');
  const deliveredAt = (name: string): number => {
    const m = /^(\d+)\.(?:[^.]*M(\d+))?/.exec(name);
    return m ? Number(m[1]) * 1e6 + Number(m[2] ?? 0) : 0;
  };
  const delivered = (mailbox: string): Delivered[] => {
    const dirNew = join(maildir, 'new');
    if (!existsSync(dirNew)) return [];
    const want = mailbox.toLowerCase();
    return readdirSync(dirNew)
      // Delivery order: Postfix's local(8) names a Maildir file `<seconds>.V<dev>I<inode>M<microseconds>.<host>`;
      // within one second the inode (which comes first in the name) says nothing of the order, the microseconds do.
      .sort((a, b) => deliveredAt(a) - deliveredAt(b) || a.localeCompare(b))
      .map((name) => ({ name, path: join(dirNew, name), content: readFileSync(join(dirNew, name)) }))
      .filter((m) => /^Delivered-To: (\S+)\r?$/im.exec(m.content.toString('latin1'))?.[1]?.toLowerCase() === want);
  };
  let stopped = false;
  return {
    slot,
    dir,
    smtpPort: ports.smtp,
    returnPort: ports.ret,
    filterPort: ports.filter,
    sparePort: ports.spare,
    maildir,
    delivered,
    async waitForDelivery(mailbox, count = 1, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const got = delivered(mailbox);
        if (got.length >= count) return got;
        if (Date.now() > deadline) {
          throw new Error(`${mailbox}: ${got.length} of ${count} message(s) delivered in ${timeoutMs} ms\nqueue:\n${this.queue()}\nlog:\n${readLog(dir)}`);
        }
        await sleep(100);
      }
    },
    async waitForLog(pattern, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const log = readLog(dir);
        if (pattern.test(log)) return log;
        if (Date.now() > deadline) throw new Error(`mail log did not match ${pattern} in ${timeoutMs} ms:\n${log}`);
        await sleep(100);
      }
    },
    flush() {
      spawnSync('postqueue', ['-c', conf, '-f'], { encoding: 'utf8', timeout: 30_000 });
    },
    queue() {
      const r = spawnSync('postqueue', ['-c', conf, '-p'], { encoding: 'utf8', timeout: 30_000 });
      return `${r.stdout ?? ''}${r.stderr ?? ''}`;
    },
    log: () => readLog(dir),
    async stop() {
      if (stopped) return;
      stopped = true;
      postfixCmd(conf, ['stop']);
      // master exits after its children; wait for the ports so the slot's next user can bind.
      const deadline = Date.now() + 10_000;
      while (((await connects(ports.smtp)) || (await connects(ports.ret))) && Date.now() < deadline) await sleep(100);
      if (Date.now() >= deadline) postfixCmd(conf, ['abort']);
      rmSync(dir, { recursive: true, force: true });
      unlock(slot);
    },
  };
}
