/**
 * The workers-and-crashes harness: real `mailpki run-due` processes on one store and one
 * LocalCA, killed (SIGKILL) at random moments and restarted, then the inventory and the CA are
 * checked for exactly-once. The store is a parameter (`WorkerStoreFactory`), so the same harness
 * runs on PostgreSQL once the CLI can open it.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { LifecycleManager, verifyAuditLog, type LifecycleEvent } from '../../src/lifecycle/index.js';
import { initLocalCaDirectory, openLocalCaDirectory } from '../../src/node/fs-storage.js';
import { openSqliteStore } from '../../src/node/sqlite-store.js';
import { passphraseKeyProtector, type Store } from '../../src/store/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const PASSPHRASE = 'harness passphrase 7';
export const T0 = new Date('2026-01-05T00:00:00Z');
const DAY = 86_400_000;
/** 340 days after enrollment: inside the default 30-day renewal window of a 365-day certificate. */
export const DUE_AT = new Date(T0.getTime() + 340 * DAY);

export interface WorkerStore {
  /** What the CLI is given to find the store (its LocalCA lives in `caDir`). */
  cliArgs: string[];
  caDir: string;
  open(): Promise<Store>;
}

/** Makes an empty store for the workers in `dir`. */
export interface WorkerStoreFactory {
  name: string;
  create(dir: string): Promise<WorkerStore>;
}

export const sqliteWorkerStore: WorkerStoreFactory = {
  name: 'SQLite',
  async create(dir) {
    const db = join(dir, 'mailpki.db');
    await (await openSqliteStore(db)).close();
    return { cliArgs: ['--db', db], caDir: `${db}.ca`, open: () => openSqliteStore(db, { create: false }) };
  },
};

let built: Promise<string> | undefined;
/**
 * The real CLI (src/cli/bin.ts), bundled once like the published one, so a worker starts in a
 * fraction of a second instead of compiling TypeScript at every start (tsx); kills then land in
 * the work, not in the start-up.
 */
export function buildCli(): Promise<string> {
  built ??= (async () => {
    const outfile = join(ROOT, 'node_modules/.cache/mailpki-harness', `cli-${process.pid}.mjs`);
    mkdirSync(join(ROOT, 'node_modules/.cache/mailpki-harness'), { recursive: true });
    await build({
      entryPoints: [join(ROOT, 'src/cli/bin.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile,
      external: ['better-sqlite3'],
      logLevel: 'error',
      banner: { js: "import { createRequire as __mailpkiRequire } from 'node:module'; const require = __mailpkiRequire(import.meta.url);" },
    });
    return outfile;
  })();
  return built;
}

export interface Inventory extends WorkerStore {
  ids: string[];
  /** Each identity's credential before the sweep. */
  before: Map<string, string>;
  /** Identities with separate signing and encryption certificates: each one's encryption credential before the sweep. */
  beforeEncryption?: Map<string, string>;
}

/** A LocalCA and `k` enrolled S/MIME identities, all due at DUE_AT; set up through the public API. */
export async function setUpDueInventory(factory: WorkerStoreFactory, dir: string, k: number, options: { separate?: boolean } = {}): Promise<Inventory> {
  const ws = await factory.create(dir);
  const clock = () => T0;
  // CA keys in the clear here: every worker would otherwise spend a PBKDF2 (600,000 rounds) opening the CA,
  // and the storm is about kills, not key derivation. The store's keys are protected as always.
  const ca = await initLocalCaDirectory(ws.caDir, { allowedDomains: ['example.com'] }, { clock });
  const store = await ws.open();
  try {
    const manager = new LifecycleManager({ ca, store, keyProtector: passphraseKeyProtector(PASSPHRASE), clock });
    const ids: string[] = [];
    const before = new Map<string, string>();
    const beforeEncryption = new Map<string, string>();
    for (let i = 0; i < k; i++) {
      const r = await manager.enroll(
        { mailbox: `w${String(i).padStart(3, '0')}@example.com`, owner: { team: 'ops' }, ...(options.separate && { certificates: 'separate' as const }) },
        { actor: 'harness' },
      );
      ids.push(r.id);
      before.set(r.id, r.currentCredentialId!);
      if (r.encryptionCredentialId) beforeEncryption.set(r.id, r.encryptionCredentialId);
    }
    return { ...ws, ids, before, ...(options.separate && { beforeEncryption }) };
  } finally {
    await store.close();
  }
}

export interface WorkerRun {
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  killed: boolean;
  /** The worker had begun the sweep (its first stderr line) when it was killed. */
  killedInSweep: boolean;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * One `mailpki run-due` process; killed with SIGKILL `killAfterMs` after it starts, or, with
 * `killInSweepAfterMs`, that long after it says it has begun the sweep (so the kill lands in the
 * work: between the store's writes and the CA's), if it is still running.
 */
export async function runWorker(
  inv: WorkerStore,
  name: string,
  options: { killAfterMs?: number; killInSweepAfterMs?: number; leaseMs: number; command?: string[]; /** Leave out `--now DUE_AT` (commands other than run-due). */ realTime?: boolean },
): Promise<WorkerRun> {
  const cli = await buildCli();
  const start = Date.now();
  const child = spawn(process.execPath, [cli, ...(options.command ?? ['run-due']), ...inv.cliArgs, ...(options.realTime ? [] : ['--now', DUE_AT.toISOString()]), '--actor', name], {
    env: { ...process.env, MAILPKI_PASSPHRASE: PASSPHRASE, MAILPKI_CLAIM_LEASE_MS: String(options.leaseMs) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let killed = false;
  let killedInSweep = false;
  let timer: NodeJS.Timeout | undefined;
  const kill = () => {
    killedInSweep = stderr.includes('sweeping');
    killed = child.kill('SIGKILL');
  };
  if (options.killAfterMs !== undefined) timer = setTimeout(kill, options.killAfterMs);
  else if (options.killInSweepAfterMs !== undefined) {
    const inSweep = options.killInSweepAfterMs;
    const watch = () => {
      if (timer || !stderr.includes('sweeping')) return;
      timer = setTimeout(kill, inSweep);
    };
    child.stderr.on('data', watch);
  }
  // A worker that hangs is a finding too: bounded.
  const hang = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  clearTimeout(hang);
  return { name, code, signal, killed: killed && signal === 'SIGKILL', killedInSweep: killed && killedInSweep && signal === 'SIGKILL', stdout, stderr, ms: Date.now() - start };
}

/** mulberry32: a small seeded generator, so a failing CI run can be replayed with its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ExactlyOnceReport {
  problems: string[];
  caCertificates: number;
  events: number;
}

/**
 * The checks after the storm: every due identity has exactly one new current certificate (and
 * its old one as previous); every certificate the CA signed is recorded, issued, and either held
 * by the inventory or revoked with a reason the inventory can account for; no pending issuance
 * anywhere; no temporary file; the audit chain verifies; one renewal event per identity, each
 * delivered once by id (two deliverers at once).
 */
export async function checkExactlyOnce(inv: Inventory): Promise<ExactlyOnceReport> {
  const problems: string[] = [];
  const store = await inv.open();
  try {
    const ca = await openLocalCaDirectory(inv.caDir);
    const caRecords = new Map(ca.issued.map((r) => [r.serialNumber, r]));
    const held = new Set<string>();
    for (const id of inv.ids) {
      const { identity, creds, pending } = await store.transaction(async (tx) => ({
        identity: (await tx.getIdentity(id))!,
        creds: await tx.listCredentials(id),
        pending: await tx.getPendingIssuance(id),
      }));
      if (pending) problems.push(`${id}: a pending issuance remains`);
      // A separate pair is two certificates, each renewed once: old + new per role.
      const roles = inv.beforeEncryption ? 2 : 1;
      const current = creds.filter((c) => c.status === 'current');
      if (current.length !== roles) problems.push(`${id}: ${current.length} current certificates`);
      if (identity.currentCredentialId === inv.before.get(id)) problems.push(`${id}: not renewed`);
      if (inv.beforeEncryption) {
        if (identity.encryptionCredentialId === inv.beforeEncryption.get(id)) problems.push(`${id}: encryption certificate not renewed`);
        const byRole = (role: string) => creds.filter((c) => c.attributes?.certificate === role).length;
        if (byRole('signing') !== 2 || byRole('encryption') !== 2) problems.push(`${id}: ${byRole('signing')} signing and ${byRole('encryption')} encryption certificates, expected 2 and 2`);
        if (new Set(creds.map((c) => c.keyId)).size !== creds.length) problems.push(`${id}: two certificates share a key`);
        const history = await store.transaction((tx) => tx.listDecryptionKeys(id));
        const encIds = creds.filter((c) => c.attributes?.certificate === 'encryption').map((c) => c.id).sort();
        if (JSON.stringify(history.map((d) => d.credentialId).sort()) !== JSON.stringify(encIds)) problems.push(`${id}: the decryption-key history is not exactly the encryption certificates`);
      }
      if (creds.length !== 2 * roles) problems.push(`${id}: ${creds.length} certificates (${creds.map((c) => c.status).join(', ')}), expected the old and one new${roles === 2 ? ' per role' : ''}`);
      if (identity.nextDueAt && identity.nextDueAt.getTime() <= DUE_AT.getTime()) problems.push(`${id}: still due`);
      for (const c of creds) {
        held.add(c.serialNumber!);
        const r = caRecords.get(c.serialNumber!);
        if (!r) problems.push(`${id}: certificate ${c.serialNumber} is not recorded by the CA`);
        else if (r.revocation && c.status !== 'revoked') problems.push(`${id}: certificate ${c.serialNumber} is revoked at the CA (${r.revocation.reason}) but ${c.status} in the inventory`);
      }
    }
    for (const r of caRecords.values()) {
      if (!held.has(r.serialNumber)) problems.push(`CA certificate ${r.serialNumber} (${r.mailbox}) is held by no identity${r.revocation ? ` (revoked: ${r.revocation.reason})` : ' and not revoked'}`);
    }
    // Nothing pending and nothing half-written in the CA directory.
    const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
    for (const f of walk(inv.caDir)) {
      if (f.endsWith('.tmp')) problems.push(`temporary file left: ${f}`);
      if (f.includes('/certs/') && f.endsWith('.json') && JSON.parse(readFileSync(f, 'utf8')).state !== 'issued') problems.push(`CA record not issued: ${f}`);
      if (f.includes('/certs/') && f.endsWith('.pem')) problems.push(`certificate file outside a record: ${f}`);
    }
    const audit = await verifyAuditLog(store);
    if (!audit.ok) problems.push(`audit chain broken at ${audit.firstBadSeq}: ${audit.problem}`);

    // Events: one renewal per identity in the outbox; two deliverers at once hand each id over once.
    const renewedEvents = (await store.listEvents({})).filter((e) => e.type === 'certificate.renewed');
    const perIdentity = new Map<string, number>();
    for (const e of renewedEvents) {
      const id = String((e.payload as { identity?: { id?: string } }).identity?.id ?? '');
      perIdentity.set(id, (perIdentity.get(id) ?? 0) + 1);
    }
    const expectedRenewals = inv.beforeEncryption ? 2 : 1;
    for (const id of inv.ids) if (perIdentity.get(id) !== expectedRenewals) problems.push(`${id}: ${perIdentity.get(id) ?? 0} certificate.renewed events`);
    const delivered: string[] = [];
    const sink = { name: 'collector', deliver: async (e: LifecycleEvent) => void delivered.push(e.id) };
    const store2 = await inv.open();
    try {
      const m1 = new LifecycleManager({ ca, store, keyProtector: passphraseKeyProtector(PASSPHRASE), sinks: [sink], instanceId: 'deliverer-1' });
      const m2 = new LifecycleManager({ ca, store: store2, keyProtector: passphraseKeyProtector(PASSPHRASE), sinks: [sink], instanceId: 'deliverer-2' });
      for (let round = 0; round < 50; round++) {
        const [a, b] = await Promise.all([m1.deliverEvents({ limit: 50, now: DUE_AT }), m2.deliverEvents({ limit: 50, now: DUE_AT })]);
        if (a.delivered + b.delivered === 0 && a.failed + b.failed === 0) break;
      }
    } finally {
      await store2.close();
    }
    const all = await store.listEvents({});
    const counts = new Map<string, number>();
    for (const id of delivered) counts.set(id, (counts.get(id) ?? 0) + 1);
    for (const e of all) if (counts.get(e.id) !== 1) problems.push(`event ${e.id} (${e.type}) delivered ${counts.get(e.id) ?? 0} times`);
    return { problems, caCertificates: caRecords.size, events: all.length };
  } finally {
    await store.close();
  }
}

/**
 * `k` S/MIME identities whose decryption keys are all past retention at DUE_AT: each enrolled and
 * renewed (two certificates, two keys; 30-day validity, retention 0 days) and decommissioned, so the
 * sweep's only work is destroying 2·k kept keys.
 */
export async function setUpRetentionInventory(factory: WorkerStoreFactory, dir: string, k: number): Promise<Inventory> {
  const ws = await factory.create(dir);
  const clock = () => T0;
  const ca = await initLocalCaDirectory(ws.caDir, { allowedDomains: ['example.com'] }, { clock });
  const store = await ws.open();
  try {
    const manager = new LifecycleManager({ ca, store, keyProtector: passphraseKeyProtector(PASSPHRASE), clock });
    const ids: string[] = [];
    for (let i = 0; i < k; i++) {
      const r = await manager.enroll(
        { mailbox: `r${String(i).padStart(3, '0')}@example.com`, owner: { team: 'ops' }, policy: { validityDays: 30, decryptionKeyRetentionDays: 0 } },
        { actor: 'harness' },
      );
      await manager.renew(r.id, { actor: 'harness' });
      await manager.decommission(r.id, { actor: 'harness', reason: 'retention storm' });
      ids.push(r.id);
    }
    return { ...ws, ids, before: new Map() };
  } finally {
    await store.close();
  }
}

/**
 * After the storm: every kept key destroyed exactly once — each entry marked, each key gone, one
 * `decryption-key.destroyed` event and one audit record per entry, nothing left due, the audit chain intact.
 */
export async function checkDestroyedOnce(inv: Inventory): Promise<string[]> {
  const problems: string[] = [];
  const store = await inv.open();
  try {
    const events = (await store.listEvents({})).filter((e) => e.type === 'decryption-key.destroyed');
    const audits = (await store.listAudit()).filter((a) => a.action === 'decryption-key.destroyed');
    for (const id of inv.ids) {
      const { identity, entries, creds } = await store.transaction(async (tx) => ({
        identity: (await tx.getIdentity(id))!,
        entries: await tx.listDecryptionKeys(id),
        creds: await tx.listCredentials(id),
      }));
      if (entries.length !== 2) problems.push(`${id}: ${entries.length} history entries, expected 2`);
      if (identity.nextDueAt) problems.push(`${id}: still due at ${identity.nextDueAt.toISOString()}`);
      for (const e of entries) {
        if (!e.destroyedAt) problems.push(`${id}: key of ${e.credentialId} not destroyed`);
        if (await store.transaction((tx) => tx.getKey(e.keyId))) problems.push(`${id}: key ${e.keyId} still stored`);
        const serial = creds.find((c) => c.id === e.credentialId)?.serialNumber;
        const ev = events.filter((x) => (x.payload as { certificate?: { serialNumber?: string } }).certificate?.serialNumber === serial).length;
        if (ev !== 1) problems.push(`${id}: ${ev} decryption-key.destroyed events for ${e.credentialId}`);
        const au = audits.filter((a) => (a.after as { credentialId?: string } | undefined)?.credentialId === e.credentialId).length;
        if (au !== 1) problems.push(`${id}: ${au} decryption-key.destroyed audit records for ${e.credentialId}`);
      }
    }
    const audit = await verifyAuditLog(store);
    if (!audit.ok) problems.push(`audit chain broken at ${audit.firstBadSeq}: ${audit.problem}`);
  } finally {
    await store.close();
  }
  return problems;
}

/**
 * After `mailpki enroll --separate-certificates` processes were killed at random and run-due
 * settled: every identity that exists is active with exactly one current signing and one current
 * encryption certificate (keyUsage to match), no pending issuance, every stored key held by a
 * credential (no orphan), every CA certificate held or revoked, the audit chain intact.
 */
export async function checkEnrolledPairs(inv: WorkerStore, dbFile: string): Promise<{ problems: string[]; identities: number }> {
  const problems: string[] = [];
  const store = await inv.open();
  let identities = 0;
  try {
    const ca = await openLocalCaDirectory(inv.caDir);
    const held = new Set<string>();
    const keyIds = new Set<string>();
    const all = await store.transaction((tx) => tx.listIdentities({ kind: 'smime' }));
    identities = all.length;
    for (const identity of all) {
      const id = identity.id;
      const { creds, pending } = await store.transaction(async (tx) => ({ creds: await tx.listCredentials(id), pending: await tx.getPendingIssuance(id) }));
      if (pending) problems.push(`${id}: a pending issuance remains`);
      if (identity.status !== 'active') problems.push(`${id}: ${identity.status}`);
      const current = (role: string) => creds.filter((c) => c.status === 'current' && c.attributes?.certificate === role);
      if (current('signing').length !== 1 || current('encryption').length !== 1)
        problems.push(`${id}: ${current('signing').length} current signing and ${current('encryption').length} current encryption certificates`);
      if (creds.length !== 2) problems.push(`${id}: ${creds.length} certificates, expected 2`);
      for (const c of creds) {
        held.add(c.serialNumber!);
        if (c.keyId) keyIds.add(c.keyId);
        const r = ca.issued.find((x) => x.serialNumber === c.serialNumber);
        if (!r) problems.push(`${id}: certificate ${c.serialNumber} is not recorded by the CA`);
      }
    }
    for (const r of ca.issued) if (!held.has(r.serialNumber) && !r.revocation) problems.push(`CA certificate ${r.serialNumber} (${r.mailbox}) is held by no identity and not revoked`);
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(dbFile, { readonly: true });
    try {
      for (const row of db.prepare('SELECT id, identity_id FROM private_keys').all() as Array<{ id: string; identity_id: string }>)
        if (!keyIds.has(row.id)) problems.push(`${row.identity_id}: orphaned key ${row.id}`);
    } finally {
      db.close();
    }
    const audit = await verifyAuditLog(store);
    if (!audit.ok) problems.push(`audit chain broken at ${audit.firstBadSeq}: ${audit.problem}`);
  } finally {
    await store.close();
  }
  return { problems, identities };
}
