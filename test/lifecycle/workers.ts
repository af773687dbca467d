/**
 * The workers-and-crashes harness: real `mailpki run-due` processes on one store and one
 * LocalCA, killed (SIGKILL) at random moments and restarted, then the inventory and the CA are
 * checked for exactly-once. The store is a parameter (`WorkerStoreFactory`), so the same harness
 * runs on PostgreSQL once the CLI can open it.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { parseCertificate } from '../../src/certs/certificate.js';
import { LifecycleManager, verifyAuditLog, type LifecycleEvent } from '../../src/lifecycle/index.js';
import { initLocalCaDirectory, openLocalCaDirectory } from '../../src/node/fs-storage.js';
import { openSqliteStore } from '../../src/node/sqlite-store.js';
import { passphraseKeyProtector, type CredentialRecord, type IdentityRecord, type Store } from '../../src/store/index.js';

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
  /** Where the CLI reads the lifecycle policy kept beside the store (`init --policy` writes it there). */
  policyFile: string;
  /** The ids of every private key the store holds, with their identity (to find orphans). */
  storedKeys(): Promise<Array<{ id: string; identityId: string }>>;
  open(): Promise<Store>;
}

/** Makes an empty store for the workers in `dir`. */
export interface WorkerStoreFactory {
  name: string;
  create(dir: string): Promise<WorkerStore>;
}

async function sqliteKeyIds(db: string): Promise<Array<{ id: string; identityId: string }>> {
  const { default: Database } = await import('better-sqlite3');
  const handle = new Database(db, { readonly: true });
  try {
    return (handle.prepare('SELECT id, identity_id FROM private_keys').all() as Array<{ id: string; identity_id: string }>).map((r) => ({ id: r.id, identityId: r.identity_id }));
  } finally {
    handle.close();
  }
}

/** The default allowedKeyTypes plus x25519: what an inventory with X25519 encryption identities runs under (store and CLI alike). */
export const X25519_POLICY = { allowedKeyTypes: ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096', 'x25519'] as const };

/** Writes X25519_POLICY where the CLI reads it, so every worker's manager allows the X25519 identities it renews. */
export function allowX25519(ws: WorkerStore): void {
  writeFileSync(ws.policyFile, `${JSON.stringify(X25519_POLICY, null, 2)}\n`);
}

export const sqliteWorkerStore: WorkerStoreFactory = {
  name: 'SQLite',
  async create(dir) {
    const db = join(dir, 'mailpki.db');
    await (await openSqliteStore(db)).close();
    return { cliArgs: ['--db', db], caDir: `${db}.ca`, policyFile: `${db}.policy.json`, storedKeys: () => sqliteKeyIds(db), open: () => openSqliteStore(db, { create: false }) };
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
  /**
   * X25519 identities (option `x25519`): 'encryption' is encryption-only with an X25519 key (one
   * certificate); 'pair' signs with EC P-256 beside an X25519 encryption certificate.
   */
  x25519?: Map<string, 'encryption' | 'pair'>;
}

/** How many certificates each identity holds, per role: 2 for a separate pair, else 1. */
export const rolesOf = (inv: Inventory, id: string): number => (inv.beforeEncryption?.has(id) ? 2 : 1);

/** The CA certificates after every identity was renewed once: the old and the new of each role. */
export const certificatesAfterRenewal = (inv: Inventory): number => inv.ids.reduce((n, id) => n + 2 * rolesOf(inv, id), 0);

/**
 * A LocalCA and `k` enrolled S/MIME identities, all due at DUE_AT; set up through the public API.
 * `x25519: n` adds n encryption-only X25519 identities and n EC signing identities with an X25519
 * encryption certificate (`encryptionKeyType`), under a policy (store and CLI) that allows x25519.
 */
export async function setUpDueInventory(factory: WorkerStoreFactory, dir: string, k: number, options: { separate?: boolean; x25519?: number } = {}): Promise<Inventory> {
  const ws = await factory.create(dir);
  if (options.x25519) allowX25519(ws);
  const clock = () => T0;
  // CA keys in the clear here: every worker would otherwise spend a PBKDF2 (600,000 rounds) opening the CA,
  // and the storm is about kills, not key derivation. The store's keys are protected as always.
  const ca = await initLocalCaDirectory(ws.caDir, { allowedDomains: ['example.com'] }, { clock });
  const store = await ws.open();
  try {
    const policy = options.x25519 ? { policy: { allowedKeyTypes: [...X25519_POLICY.allowedKeyTypes] } } : {};
    const manager = new LifecycleManager({ ca, store, keyProtector: passphraseKeyProtector(PASSPHRASE), clock, ...policy });
    const ids: string[] = [];
    const before = new Map<string, string>();
    const beforeEncryption = new Map<string, string>();
    const x25519 = new Map<string, 'encryption' | 'pair'>();
    for (let i = 0; i < k; i++) {
      const r = await manager.enroll(
        { mailbox: `w${String(i).padStart(3, '0')}@example.com`, owner: { team: 'ops' }, ...(options.separate && { certificates: 'separate' as const }) },
        { actor: 'harness' },
      );
      ids.push(r.id);
      before.set(r.id, r.currentCredentialId!);
      if (r.encryptionCredentialId) beforeEncryption.set(r.id, r.encryptionCredentialId);
    }
    for (let i = 0; i < (options.x25519 ?? 0); i++) {
      const owner = { team: 'ops' };
      const enc = await manager.enroll({ mailbox: `xe${String(i).padStart(3, '0')}@example.com`, owner, use: 'encryption', keyType: 'x25519' }, { actor: 'harness' });
      const pair = await manager.enroll({ mailbox: `xp${String(i).padStart(3, '0')}@example.com`, owner, certificates: 'separate', encryptionKeyType: 'x25519' }, { actor: 'harness' });
      for (const [r, kind] of [[enc, 'encryption'], [pair, 'pair']] as const) {
        ids.push(r.id);
        before.set(r.id, r.currentCredentialId!);
        if (r.encryptionCredentialId) beforeEncryption.set(r.id, r.encryptionCredentialId);
        x25519.set(r.id, kind);
      }
    }
    return { ...ws, ids, before, ...(beforeEncryption.size > 0 && { beforeEncryption }), ...(x25519.size > 0 && { x25519 }) };
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
 * by the inventory or revoked with a reason the inventory can account for; every certificate that
 * receives encrypted mail has its key in the decryption-key history exactly once (kept, of the
 * certificate's key type: X25519 where enrolled so), and no other entry; every stored key held by
 * a certificate (no orphan); no pending issuance anywhere; no temporary file; the audit chain verifies; one renewal event per identity, each
 * delivered once by id (two deliverers at once).
 */
export async function checkExactlyOnce(inv: Inventory): Promise<ExactlyOnceReport> {
  const problems: string[] = [];
  const store = await inv.open();
  try {
    const ca = await openLocalCaDirectory(inv.caDir);
    const caRecords = new Map(ca.issued.map((r) => [r.serialNumber, r]));
    const held = new Set<string>();
    const heldKeys = new Set<string>();
    for (const id of inv.ids) {
      const { identity, creds, pending } = await store.transaction(async (tx) => ({
        identity: (await tx.getIdentity(id))!,
        creds: await tx.listCredentials(id),
        pending: await tx.getPendingIssuance(id),
      }));
      if (pending) problems.push(`${id}: a pending issuance remains`);
      // A separate pair is two certificates, each renewed once: old + new per role.
      const roles = rolesOf(inv, id);
      const current = creds.filter((c) => c.status === 'current');
      if (current.length !== roles) problems.push(`${id}: ${current.length} current certificates`);
      if (identity.currentCredentialId === inv.before.get(id)) problems.push(`${id}: not renewed`);
      if (roles === 2) {
        if (identity.encryptionCredentialId === inv.beforeEncryption?.get(id)) problems.push(`${id}: encryption certificate not renewed`);
        const byRole = (role: string) => creds.filter((c) => c.attributes?.certificate === role).length;
        if (byRole('signing') !== 2 || byRole('encryption') !== 2) problems.push(`${id}: ${byRole('signing')} signing and ${byRole('encryption')} encryption certificates, expected 2 and 2`);
      }
      if ((roles === 2 || inv.x25519?.has(id)) && new Set(creds.map((c) => c.keyId)).size !== creds.length) problems.push(`${id}: two certificates share a key`);
      problems.push(...(await checkDecryptionKeyHistory(store, identity, creds, inv.x25519?.get(id))));
      for (const c of creds) if (c.keyId) heldKeys.add(c.keyId);
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
    for (const k of await inv.storedKeys()) if (!heldKeys.has(k.id)) problems.push(`${k.identityId}: orphaned key ${k.id}`);
    const audit = await verifyAuditLog(store);
    if (!audit.ok) problems.push(`audit chain broken at ${audit.firstBadSeq}: ${audit.problem}`);

    // Events: one renewal per identity in the outbox; two deliverers at once hand each id over once.
    const renewedEvents = (await store.listEvents({})).filter((e) => e.type === 'certificate.renewed');
    const perIdentity = new Map<string, number>();
    for (const e of renewedEvents) {
      const id = String((e.payload as { identity?: { id?: string } }).identity?.id ?? '');
      perIdentity.set(id, (perIdentity.get(id) ?? 0) + 1);
    }
    for (const id of inv.ids) if (perIdentity.get(id) !== rolesOf(inv, id)) problems.push(`${id}: ${perIdentity.get(id) ?? 0} certificate.renewed events`);
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
 * An identity's decryption-key history against its certificates: exactly one entry per certificate
 * that receives encrypted mail (a separate pair's encryption certificates; every certificate of an
 * identity of one certificate unless it only signs), none for another, each with its certificate's
 * key, kept and stored. With `x25519`, the key types too: X25519 for what receives encrypted mail
 * (certificate SPKI and stored key), EC P-256 for a pair's signing certificates.
 */
async function checkDecryptionKeyHistory(store: Store, identity: IdentityRecord, creds: CredentialRecord[], x25519?: 'encryption' | 'pair'): Promise<string[]> {
  const problems: string[] = [];
  const id = identity.id;
  const separate = identity.certificates === 'separate';
  const receives = (c: CredentialRecord) => (separate ? c.attributes?.certificate === 'encryption' : (identity.use ?? 'both') !== 'signing');
  const receivers = creds.filter(receives);
  const history = await store.transaction((tx) => tx.listDecryptionKeys(id));
  const ids = (xs: string[]) => JSON.stringify([...xs].sort());
  if (ids(history.map((d) => d.credentialId)) !== ids(receivers.map((c) => c.id)))
    problems.push(`${id}: the decryption-key history ${ids(history.map((d) => d.credentialId))} is not exactly the certificates that receive encrypted mail ${ids(receivers.map((c) => c.id))}`);
  for (const d of history) {
    const c = creds.find((x) => x.id === d.credentialId);
    if (c && c.keyId !== d.keyId) problems.push(`${id}: the history keeps key ${d.keyId} for ${c.id}, whose key is ${c.keyId}`);
    if (d.destroyedAt) problems.push(`${id}: the key of ${d.credentialId} was destroyed inside its retention`);
    const key = await store.transaction((tx) => tx.getKey(d.keyId));
    if (!key) problems.push(`${id}: the kept key ${d.keyId} of ${d.credentialId} is not stored`);
    else if (x25519 && key.algorithm !== 'x25519') problems.push(`${id}: the kept key of ${d.credentialId} is ${key.algorithm}, not x25519`);
  }
  if (x25519) {
    for (const c of creds) {
      const want = receives(c) ? 'x25519' : 'ec';
      const got = parseCertificate(c.certificate!).publicKey.kind;
      if (got !== want) problems.push(`${id}: ${c.attributes?.certificate ?? 'the'} certificate ${c.serialNumber} has a ${got} key, expected ${want}`);
    }
  }
  return problems;
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
    // Retention 0 is the manager's policy: an identity's override may only lengthen it.
    const manager = new LifecycleManager({ ca, store, keyProtector: passphraseKeyProtector(PASSPHRASE), clock, policy: { decryptionKeyRetentionDays: 0 } });
    const ids: string[] = [];
    for (let i = 0; i < k; i++) {
      const r = await manager.enroll(
        { mailbox: `r${String(i).padStart(3, '0')}@example.com`, owner: { team: 'ops' }, policy: { validityDays: 30 } },
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
 * encryption certificate (keyUsage to match) — an encryption-only one (`--use encryption`) exactly
 * one certificate —, its decryption-key history exactly its encryption certificate (of X25519 keys
 * where enrolled so), no pending issuance, every stored key held by a credential (no orphan),
 * every CA certificate held or revoked, the audit chain intact.
 */
export async function checkEnrolledPairs(inv: WorkerStore): Promise<{ problems: string[]; identities: number }> {
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
      if (identity.use === 'encryption') {
        if (creds.length !== 1 || creds[0]!.status !== 'current') problems.push(`${id}: ${creds.length} certificates (${creds.map((c) => c.status).join(', ')}), expected 1 current`);
      } else {
        if (current('signing').length !== 1 || current('encryption').length !== 1)
          problems.push(`${id}: ${current('signing').length} current signing and ${current('encryption').length} current encryption certificates`);
        if (creds.length !== 2) problems.push(`${id}: ${creds.length} certificates, expected 2`);
      }
      const x25519 = identity.keyType === 'x25519' ? 'encryption' : identity.attributes?.encryptionKeyType === 'x25519' ? 'pair' : undefined;
      problems.push(...(await checkDecryptionKeyHistory(store, identity, creds, x25519)));
      for (const c of creds) {
        held.add(c.serialNumber!);
        if (c.keyId) keyIds.add(c.keyId);
        const r = ca.issued.find((x) => x.serialNumber === c.serialNumber);
        if (!r) problems.push(`${id}: certificate ${c.serialNumber} is not recorded by the CA`);
      }
    }
    for (const r of ca.issued) if (!held.has(r.serialNumber) && !r.revocation) problems.push(`CA certificate ${r.serialNumber} (${r.mailbox}) is held by no identity and not revoked`);
    for (const k of await inv.storedKeys()) if (!keyIds.has(k.id)) problems.push(`${k.identityId}: orphaned key ${k.id}`);
    const audit = await verifyAuditLog(store);
    if (!audit.ok) problems.push(`audit chain broken at ${audit.firstBadSeq}: ${audit.problem}`);
  } finally {
    await store.close();
  }
  return { problems, identities };
}

/**
 * `k` decommissioned S/MIME identities (use encryption, owner 'treasury', one kept decryption key
 * each), ready to be enrolled again by other teams; set up through the public API.
 */
export async function setUpDecommissionedInventory(factory: WorkerStoreFactory, dir: string, k: number): Promise<Inventory> {
  const ws = await factory.create(dir);
  const clock = () => T0;
  const ca = await initLocalCaDirectory(ws.caDir, { allowedDomains: ['example.com'] }, { clock });
  const store = await ws.open();
  try {
    const manager = new LifecycleManager({ ca, store, keyProtector: passphraseKeyProtector(PASSPHRASE), clock });
    const ids: string[] = [];
    for (let i = 0; i < k; i++) {
      const r = await manager.enroll({ mailbox: `life${i}@example.com`, owner: { team: 'treasury' }, use: 'encryption' }, { actor: 'harness' });
      await manager.decommission(r.id, { actor: 'harness', reason: 'mailbox handed over' });
      ids.push(r.id);
    }
    return { ...ws, ids, before: new Map() };
  } finally {
    await store.close();
  }
}

/**
 * After enrollments again by other teams (killed at random, then completed): each identity is in
 * its new life under its new owner; the treasury life's keys are all marked as ended and owned by
 * treasury, the new life's are not, and getDecryptor hands the new holder exactly its own keys and
 * treasury (previousOwner) exactly the old ones.
 */
export async function checkLivesApart(inv: Inventory): Promise<string[]> {
  const problems: string[] = [];
  const store = await inv.open();
  try {
    const ca = await openLocalCaDirectory(inv.caDir);
    const manager = new LifecycleManager({ ca, store, keyProtector: passphraseKeyProtector(PASSPHRASE) });
    for (const id of inv.ids) {
      const identity = await manager.get(id);
      if (identity.status !== 'active' || identity.owner.team === 'treasury') {
        problems.push(`${id}: ${identity.status}, owner ${identity.owner.team}`);
        continue;
      }
      const entries = await manager.decryptionKeys(id);
      const old = entries.filter((e) => e.ownerTeam === 'treasury');
      const mine = entries.filter((e) => e.ownerTeam === identity.owner.team);
      if (old.length !== 1 || old.some((e) => e.lifeEndedAt === undefined)) problems.push(`${id}: treasury entries ${JSON.stringify(old)}`);
      if (mine.length !== 1 || mine.some((e) => e.lifeEndedAt !== undefined)) problems.push(`${id}: ${identity.owner.team} entries ${JSON.stringify(mine)}`);
      if (old.length + mine.length !== entries.length) problems.push(`${id}: entries of a third owner ${JSON.stringify(entries)}`);
      const serials = async (previousOwner?: string) =>
        (await manager.getDecryptor(id, { actor: 'harness', reason: 'check', ...(previousOwner && { previousOwner }) })).map((k) => k.certificate.serialNumber).join(',');
      if ((await serials()) !== mine.map((e) => e.serialNumber).join(',')) problems.push(`${id}: the new holder gets ${await serials()}`);
      if ((await serials('treasury')) !== old.map((e) => e.serialNumber).join(',')) problems.push(`${id}: treasury gets ${await serials('treasury')}`);
    }
  } finally {
    await store.close();
  }
  return problems;
}
