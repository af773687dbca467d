/**
 * Messages per second through the filter (issue #13): 2 KiB messages, S/MIME (EC P-256) + DKIM
 * (Ed25519) signed, revocation checked by OCSP answered from the checker's cache, evidence kept in
 * a SQLite store file (as `mailpki filter --db`), beside the same messages verified in-process
 * (inspectMessage: S/MIME + DKIM + Authentication-Results, the verification the filter does per
 * message), one at a time and N in flight, in interleaved rounds.
 *
 * The SMTP client (the MTA handing messages to the filter) and the SMTP sink (the MTA's return
 * port) run in a child process (bench/filter-peer.ts), so this process does only what the filter
 * does. Besides messages/s (wall clock, noisy on a shared machine) it reports this process's CPU
 * time per message (process.cpuUsage: JavaScript and WebCrypto's threads), which other load on
 * the machine disturbs far less. The issue's target: the filter's overhead per message (its CPU
 * minus the in-process verification's) ≤ 1.5× the in-process verification's.
 *
 * Beside them, two floors built from the same parts with nothing of the filter's own: "SMTP only"
 * (smtp-server in, the filter's ReinjectPool out, an Authentication-Results line put on top) and
 * "SMTP + inspectMessage" (the same with the verification in between). The first is what any
 * content filter over SMTP pays before it looks at a message; the second shows what the
 * verification costs when it runs between network waits rather than back to back as in the
 * in-process loop (caches and branch predictors go cold while the process waits). The filter minus
 * the second floor is what the filter itself adds: evidence (two SQLite commits, each an fsync),
 * policy, the rewritten copy.
 *
 * Beside them, for context and not the issue's measure: the same in-process verification with an
 * idle pause of PAUSE_MS before each (see there): what a wait costs the work after it on this machine.
 *
 * Every figure is given per round (median and range over the rounds) as well as over all rounds:
 * the machine is shared, and one disturbed round must not pass for the result.
 *
 * Before the rounds every candidate runs unmeasured for MAILPKI_BENCH_FILTER_WARMUP_MS (default
 * 4000): the figures are those of a process that has been running, as a filter does. Without it the
 * filter was measured while V8 was still optimising its code: one at a time it handles a quarter of
 * the messages per round that the in-process loop does, and with --trace-opt dozens of its
 * functions were still being compiled (on V8's threads, which process.cpuUsage counts) in the
 * fourth round; over twelve alternating 1.5 s windows its CPU per message fell from 8.4 to about
 * 5 ms, the in-process loop's from 2.7 to 1.1 ms, most of that within the first four.
 *
 * MAILPKI_BENCH_FILTER_ROUNDS (default 5) and MAILPKI_BENCH_FILTER_MS (per round and candidate,
 * default 1000) size the run (MAILPKI_BENCH_FILTER_WARMUP_MS before it); MAILPKI_BENCH_FILTER_INFLIGHT (default 4) the concurrency;
 * MAILPKI_BENCH_FILTER_EVIDENCE=memory runs the filter without an evidence store.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { SMTPServer } from 'smtp-server';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalCA, MemoryCaStorage, createCaHandler } from '../src/ca/index.js';
import { parseCertificate } from '../src/certs/certificate.js';
import { generateDkimKey, signDkimMessage, staticResolver } from '../src/dkim/index.js';
import { inspectMessage } from '../src/filter/inspect.js';
import { exportSpki, generateKeyPair } from '../src/keys/index.js';
import { createFilter } from '../src/node/filter.js';
import { openSqliteEvidenceStore } from '../src/node/sqlite-evidence.js';
import { RevocationChecker } from '../src/revocation/checker.js';
import { ReinjectPool } from '../src/node/smtp-reinject.js';
import { signMessage } from '../src/smime/index.js';
import { median } from './harness.js';

interface Tally {
  n: number;
  seconds: number;
  /** CPU seconds used by this process. */
  cpu: number;
}

const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** Runs fn `inFlight` at a time for `ms` (after a warm-up), in this process. */
async function drive(fn: () => Promise<unknown>, inFlight: number, ms: number, warmMs: number): Promise<Tally> {
  let end = performance.now() + warmMs;
  const loop = async (): Promise<number> => {
    let n = 0;
    while (performance.now() < end) {
      await fn();
      n++;
    }
    return n;
  };
  await Promise.all(Array.from({ length: inFlight }, loop));
  const cpu0 = cpuNow();
  const start = performance.now();
  end = start + ms;
  const n = (await Promise.all(Array.from({ length: inFlight }, loop))).reduce((a, b) => a + b, 0);
  return { n, seconds: (performance.now() - start) / 1000, cpu: cpuNow() - cpu0 };
}

interface PeerResult {
  sent: number;
  seconds: number;
  received: number;
  tagged: number;
  error?: string;
}

function startPeer(): Promise<{ peer: ChildProcess; sinkPort: number }> {
  const peer = fork(fileURLToPath(new URL('./filter-peer.ts', import.meta.url)), [], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    peer.once('error', reject);
    peer.once('exit', (code) => reject(new Error(`bench peer exited (${code})`)));
    peer.once('message', (m: { sinkPort: number }) => resolve({ peer, sinkPort: m.sinkPort }));
  });
}

/** Has the peer send to the filter; counts this process's CPU from the end of the peer's warm-up. */
function driveFilter(peer: ChildProcess, run: { port: number; raw: string; inFlight: number; ms: number; warmMs: number; authservId: string }): Promise<Tally> {
  return new Promise((resolve, reject) => {
    let cpu0 = 0;
    const onMessage = (m: PeerResult | { started: true }) => {
      if ('started' in m) {
        cpu0 = cpuNow();
        return;
      }
      peer.off('message', onMessage);
      if (m.error) return reject(new Error(`bench peer: ${m.error}`));
      // Every message answered 250 must have reached the return port, with the filter's header on top.
      if (m.received !== m.sent || m.tagged !== m.sent) return reject(new Error(`filter answered 250 for ${m.sent} messages, the sink got ${m.received} (${m.tagged} with the filter's header)`));
      resolve({ n: m.sent, seconds: m.seconds, cpu: cpuNow() - cpu0 });
    };
    peer.on('message', onMessage);
    peer.send({ run });
  });
}

/**
 * A floor for the filter: smtp-server in, the filter's ReinjectPool out, with `between` (nothing,
 * or the verification) in the middle and none of the filter's own work (no evidence, policy or
 * retry check). The copy gets one Authentication-Results line on top, as the peer checks.
 */
async function startRelay(sinkPort: number, authservId: string, between?: (raw: Uint8Array) => Promise<unknown>): Promise<{ port: number; close(): Promise<void> }> {
  const pool = new ReinjectPool({ host: '127.0.0.1', port: sinkPort, name: authservId, connections: 4, timeoutMs: 30_000 });
  const top = new TextEncoder().encode(`Authentication-Results: ${authservId}; none\r\n`);
  const server = new SMTPServer({
    name: authservId,
    disabledCommands: ['AUTH', 'STARTTLS'],
    authOptional: true,
    hideSTARTTLS: true,
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = new Uint8Array(Buffer.concat(chunks));
        (async () => {
          await between?.(raw);
          const out = new Uint8Array(top.length + raw.length);
          out.set(top);
          out.set(raw, top.length);
          await pool.send(session.envelope.mailFrom ? session.envelope.mailFrom.address : '', session.envelope.rcptTo.map((r) => r.address), out);
        })().then(
          () => callback(null, 'relayed'),
          (e: Error) => callback(Object.assign(new Error(e.message), { responseCode: 451 })),
        );
      });
    },
  });
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.server.address() as { port: number }).port)));
  return { port, close: () => new Promise<void>((resolve) => server.close(() => (pool.close(), resolve()))) };
}

/**
 * The idle pause before each verification of the context candidate: about one fsync of the evidence
 * store on this machine. On the 2-core test VM a process idle for 2–5 ms does the next 1.8 ms of
 * verification with about 1.2–1.6× the CPU (caches and the host's CPU state cold after the vCPU halts;
 * 1 ms: ≈ 1.05×), so every wait in the filter makes what follows it dearer than in the in-process loop.
 */
const PAUSE_MS = 2;

export async function benchFilter(): Promise<void> {
  const rounds = Number(process.env.MAILPKI_BENCH_FILTER_ROUNDS ?? 5);
  const ms = Number(process.env.MAILPKI_BENCH_FILTER_MS ?? 1000);
  const inFlight = Number(process.env.MAILPKI_BENCH_FILTER_INFLIGHT ?? 4);
  const warmMs = Math.min(300, ms / 3);
  const authservId = 'mx.bench.test';

  const base = 'http://ca.bench.test';
  const ca = await LocalCA.create(new MemoryCaStorage(), { allowedDomains: ['example.com'], baseUrl: base });
  const handler = createCaHandler(ca);
  const keys = await generateKeyPair('ec-p256');
  const issued = await ca.issue({ mailbox: 'payments@example.com', publicKey: await exportSpki(keys.publicKey) });
  const signer = { key: keys.privateKey, certificate: parseCertificate(issued.certificate), chain: [parseCertificate(issued.chain[0]!)] };
  const dkimKey = await generateDkimKey({ domain: 'example.com', selector: 'bench', algorithm: 'ed25519' });
  const line = 'Please pay 1,250.00 EUR to IBAN DE89 3704 0044 0532 0130 00, reference INV-2026-118.\r\n';
  const body = line.repeat(Math.ceil(2048 / line.length)).slice(0, 2048);
  const plain = `From: payments@example.com\r\nTo: ap@example.com\r\nSubject: Payment\r\nMessage-ID: <bench@example.com>\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n${body}`;
  const raw = new TextEncoder().encode(await signDkimMessage(new TextDecoder('latin1').decode(await signMessage(plain, signer)), [{ domain: 'example.com', selector: 'bench', privateKey: dkimKey.privateKey }]));

  // One checker for all messages: the first message fetches OCSP from the CA (in-process), the rest hit the cache.
  const checker = new RevocationChecker({ fetch: (url, init) => handler(new Request(url, init)) });
  const smime = { trustAnchors: [ca.rootCertificate], revocation: { policy: 'hard-fail' as const, checker } };
  const dkim = { resolver: staticResolver({ [dkimKey.record.name]: dkimKey.record.value }) };
  const verify = () => inspectMessage(raw, { authservId, smime, dkim });
  const pausedVerify = () => new Promise<void>((r) => setTimeout(r, PAUSE_MS)).then(verify);
  const first = await verify();
  if (!first.facts.revocationGood || !first.facts.dkimAligned) throw new Error(`bench message does not verify: ${first.authenticationResults}`);

  const dir = mkdtempSync(join(tmpdir(), 'mailpki-bench-filter-'));
  const evidence = await openSqliteEvidenceStore(join(dir, 'evidence.db'));
  const { peer, sinkPort } = await startPeer();
  peer.removeAllListeners('exit');
  // MAILPKI_BENCH_FILTER_EVIDENCE=memory: no store (the filter's in-memory retry records), to see what SQLite costs.
  const noStore = process.env.MAILPKI_BENCH_FILTER_EVIDENCE === 'memory';
  const filter = await createFilter({ listen: { port: 0 }, reinject: { port: sinkPort }, authservId, smime, dkim, ...(noStore ? {} : { evidence }) });
  const relay = await startRelay(sinkPort, authservId);
  const relayVerify = await startRelay(sinkPort, authservId, verify);
  const rawB64 = Buffer.from(raw).toString('base64');
  const viaPeer =
    (port: number, n: number) =>
    (runMs = ms) =>
      driveFilter(peer, { port, raw: rawB64, inFlight: n, ms: runMs, warmMs, authservId });
  // `base`: the in-process candidate of the same concurrency, measured in the same rounds.
  const candidates: { name: string; run: (runMs?: number) => Promise<Tally>; base?: number }[] = [
    { name: 'in-process inspectMessage, one at a time', run: (runMs = ms) => drive(verify, 1, runMs, warmMs) },
    { name: 'through the filter, one at a time', run: viaPeer(filter.port, 1), base: 0 },
    { name: 'floor: SMTP only, one at a time', run: viaPeer(relay.port, 1), base: 0 },
    { name: 'floor: SMTP + inspectMessage, one at a time', run: viaPeer(relayVerify.port, 1), base: 0 },
    { name: `in-process inspectMessage, ${inFlight} in flight`, run: (runMs = ms) => drive(verify, inFlight, runMs, warmMs) },
    { name: `through the filter, ${inFlight} in flight`, run: viaPeer(filter.port, inFlight), base: 4 },
    { name: `floor: SMTP only, ${inFlight} in flight`, run: viaPeer(relay.port, inFlight), base: 4 },
    { name: `floor: SMTP + inspectMessage, ${inFlight} in flight`, run: viaPeer(relayVerify.port, inFlight), base: 4 },
    // Context, not the issue's measure: the same verification, each after an idle pause as long as an fsync here.
    { name: `in-process inspectMessage, ${PAUSE_MS} ms pause before each`, run: (runMs = ms) => drive(pausedVerify, 1, runMs, warmMs), base: 0 },
  ];
  const warmupMs = Number(process.env.MAILPKI_BENCH_FILTER_WARMUP_MS ?? 4000);
  try {
    // Unmeasured: every path through the code runs until V8 has optimised it (see the header).
    if (warmupMs > 0) for (const c of candidates) await c.run(warmupMs);
    const tallies: Tally[][] = candidates.map(() => []);
    for (let r = 0; r < rounds; r++)
      for (let j = 0; j < candidates.length; j++) {
        // Each round starts with a different candidate, so drift on a shared machine falls on all alike.
        const i = (r + j) % candidates.length;
        tallies[i]!.push(await candidates[i]!.run());
      }
    console.log(`\n## filter: 2 KiB, S/MIME EC P-256 + DKIM Ed25519, OCSP from cache, ${noStore ? 'no evidence store' : 'SQLite evidence'} (${rounds} rounds × ${ms} ms after ${warmupMs} ms of warm-up each; client and return port in another process)`);
    console.log('  CPU ms/msg: this process, median over rounds [range]; × in-process: per round, against the in-process candidate of the same concurrency');
    const cpuMs = tallies.map((ts) => ts.map((t) => (t.cpu * 1000) / t.n));
    const range = (xs: number[]) => `${median(xs).toFixed(2)} [${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}]`;
    candidates.forEach((c, i) => {
      const n = tallies[i]!.reduce((a, t) => a + t.n, 0);
      const seconds = tallies[i]!.reduce((a, t) => a + t.seconds, 0);
      const ratio = c.base === undefined ? '' : `  ${range(cpuMs[i]!.map((x, r) => x / cpuMs[c.base!]![r]!))}×`;
      console.log(`  ${c.name.padEnd(46)} ${(n / seconds).toFixed(0).padStart(6)} msg/s  ${range(cpuMs[i]!).padStart(20)} ms CPU/msg${ratio}`);
    });
    for (const [v, f, label] of [
      [0, 1, 'one at a time'],
      [4, 5, `${inFlight} in flight`],
    ] as const) {
      const overhead = cpuMs[f]!.map((x, r) => (x - cpuMs[v]![r]!) / cpuMs[v]![r]!);
      const own = cpuMs[f]!.map((x, r) => x - cpuMs[f + 2]![r]!);
      console.log(
        `  ${label}: filter overhead (filter − in-process) ${range(overhead)}× the verification (issue #13 target: ≤ 1.5×); ` +
          `the filter's own work (filter − SMTP + inspectMessage floor) ${range(own)} ms CPU/msg`,
      );
    }
    const paused = cpuMs[8]!.map((x, r) => x / cpuMs[0]![r]!);
    console.log(
      `  context (not the issue's measure): the same verification costs ${range(paused)}× as much CPU when the process was idle ${PAUSE_MS} ms before it ` +
        `(as it is after each network wait or fsync in the filter, never in the in-process loop); the filter's overhead against that: ` +
        `${range(cpuMs[1]!.map((x, r) => (x - cpuMs[8]![r]!) / cpuMs[8]![r]!))}×`,
    );
  } finally {
    await filter.close(1000);
    await relay.close();
    await relayVerify.close();
    peer.send({ stop: true });
    await evidence.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
