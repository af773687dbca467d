/**
 * The lifecycle commands over the embedded store: `init`, `enroll`, `renew`, `revoke ADDR`,
 * `list`, `run-due`, `audit verify|export`, `events`, and `sign --identity` (in smime.ts).
 * The store is `./mailpki.db` (or `--db PATH`); its LocalCA lives beside it in `PATH.ca/`.
 */
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { REVOCATION_REASONS, SMIME_PROFILES, type RevocationReason } from '../ca/types.js';
import { MailPkiError } from '../errors.js';
import { KEY_TYPES } from '../keys/index.js';
import { LifecycleManager, readDecryptionKeys } from '../lifecycle/manager.js';
import { parseLifecyclePolicy, type LifecyclePolicyInput } from '../lifecycle/policy.js';
import { checkInventoryOwners, exportAuditLog, verifyAuditLog } from '../lifecycle/audit.js';
import { planDue } from '../lifecycle/plan.js';
import { initLocalCaDirectory, openLocalCaDirectory, writeFileAtomic } from '../node/fs-storage.js';
import { openSqliteStore, type SqliteStore } from '../node/sqlite-store.js';
import { passphraseKeyProtector } from '../store/key-protector.js';
import { IDENTITY_STATUSES, IDENTITY_USES, type CredentialRecord, type IdentityRecord } from '../store/types.js';

const CERTIFICATE_CHOICES = ['signing', 'encryption', 'all'] as const;
import { MAX_SMALL_INPUT_BYTES } from './input.js';
import { oneOf, required, str, type Command, type CommandContext } from './args.js';

const DAY = 86_400_000;

const dbOption = { db: { type: 'string' as const }, 'passphrase-env': { type: 'string' as const }, actor: { type: 'string' as const } };

/** The options every store command shares, for --help. */
const DB_HELP = `  --db PATH             the store (default ./mailpki.db; its CA is PATH.ca/)
  --passphrase-env VAR  the passphrase of the store's keys and CA is in $VAR (default $MAILPKI_PASSPHRASE)
  --actor WHO           who to record in the audit log (default cli:<your OS user name>)`;
const DB_HELP_READ = `  --db PATH             the store (default ./mailpki.db); read only: no passphrase needed
  --passphrase-env VAR, --actor WHO   accepted like on every store command, and not used (nothing is decrypted or changed)`;

/** Library fields of enroll/renew/revoke → their flags. */
const IDENTITY_FLAGS = {
  mailbox: '--email',
  owner: '--owner',
  'owner.team': '--owner',
  'owner.contact': '--contact',
  purpose: '--purpose',
  approvedBy: '--approved-by',
  profile: '--profile',
  keyType: '--key-type',
  encryptionKeyType: '--encryption-key-type',
  reason: '--reason',
  actor: '--actor',
};

export function dbPath(ctx: CommandContext): string {
  return str(ctx, 'db') ?? 'mailpki.db';
}

/** The passphrase protecting the CA keys and the identity keys: `--passphrase-env VAR`, else $MAILPKI_PASSPHRASE. */
export function storePassphrase(ctx: CommandContext): string {
  const variable = str(ctx, 'passphrase-env') ?? 'MAILPKI_PASSPHRASE';
  const value = ctx.io.env[variable];
  if (!value)
    throw new MailPkiError(
      'ERR_USAGE',
      `private keys in the store are always encrypted: set ${variable}${str(ctx, 'passphrase-env') ? '' : ' (or name another variable with --passphrase-env)'}`,
    );
  return value;
}

/** The OS account running the command: $USER, $LOGNAME, else the account's name from the system. */
function osUser(env: NodeJS.ProcessEnv): string {
  if (env.USER) return env.USER;
  if (env.LOGNAME) return env.LOGNAME;
  try {
    return userInfo().username;
  } catch {
    return `uid-${process.getuid?.() ?? 'unknown'}`;
  }
}

export function actorOf(ctx: CommandContext): string {
  return str(ctx, 'actor') ?? `cli:${osUser(ctx.io.env)}`;
}

/** Read-only commands (list, events, audit): the store alone, without the passphrase or the CA. */
export async function withStore(ctx: CommandContext, fn: (store: SqliteStore) => Promise<number>): Promise<number> {
  const path = dbPath(ctx);
  if (!existsSync(path)) throw new MailPkiError('ERR_USAGE', `no store at ${path}: run "mailpki init" first (or give --db PATH)`);
  const store = await openSqliteStore(path, { create: false });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/**
 * How long a run-due worker's claim on an identity lasts: $MAILPKI_CLAIM_LEASE_MS, else the
 * library default (5 minutes). A worker killed mid-sweep holds its identities that long.
 */
export function claimOptions(ctx: CommandContext): { claimLeaseMs?: number } {
  const text = ctx.io.env.MAILPKI_CLAIM_LEASE_MS;
  if (text === undefined || text === '') return {};
  const ms = Number(text);
  if (!Number.isInteger(ms) || ms < 1 || ms > 86_400_000)
    throw new MailPkiError('ERR_USAGE', `MAILPKI_CLAIM_LEASE_MS must be a whole number of milliseconds from 1 to 86400000 (got "${text}")`);
  return { claimLeaseMs: ms };
}

interface Opened {
  manager: LifecycleManager;
  store: SqliteStore;
}

/** The lifecycle policy kept beside the store (`PATH.policy.json`, written by `init --policy`); JSON fields only. */
export const policyFile = (path: string): string => `${path}.policy.json`;

/** Reads and checks a policy file: ERR_INVALID_INPUT naming the field, ERR_USAGE for unreadable JSON. */
export async function readPolicy(file: string, read: (f: string, maxBytes?: number) => Promise<Uint8Array>): Promise<LifecyclePolicyInput> {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(await read(file, MAX_SMALL_INPUT_BYTES)));
  } catch (e) {
    if (e instanceof MailPkiError) throw e;
    throw new MailPkiError('ERR_USAGE', `${file} is not JSON: ${(e as Error).message}`, { cause: e });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new MailPkiError('ERR_INVALID_INPUT', `${file}: a policy is a JSON object`);
  if ('approval' in json) throw new MailPkiError('ERR_INVALID_INPUT', `${file}: approval is a function; it can only be set in code`);
  parseLifecyclePolicy(json as LifecyclePolicyInput);
  return json as LifecyclePolicyInput;
}

async function openManager(ctx: CommandContext, now?: Date): Promise<Opened> {
  const path = dbPath(ctx);
  if (!existsSync(path)) throw new MailPkiError('ERR_USAGE', `no store at ${path}: run "mailpki init" first (or give --db PATH)`);
  const passphrase = storePassphrase(ctx);
  const clock = now ? () => now : undefined;
  const policy = existsSync(policyFile(path)) ? await readPolicy(policyFile(path), ctx.readInput) : undefined;
  const store = await openSqliteStore(path, { create: false });
  try {
    const ca = await openLocalCaDirectory(`${path}.ca`, { passphrase, ...(clock && { clock }) });
    const manager = new LifecycleManager({ ca, store, keyProtector: passphraseKeyProtector(passphrase), ...(clock && { clock }), ...(policy && { policy }), ...claimOptions(ctx) });
    return { manager, store };
  } catch (e) {
    await store.close();
    throw e;
  }
}

async function withManager(ctx: CommandContext, fn: (o: Opened) => Promise<number>, now?: Date): Promise<number> {
  const opened = await openManager(ctx, now);
  try {
    return await fn(opened);
  } finally {
    await opened.store.close();
  }
}

export const init: Command = {
  usage: 'mailpki init [--db PATH] [--domains example.com,...] [--name NAME] [--policy FILE] [--passphrase-env VAR]',
  options: { ...dbOption, domains: { type: 'string' }, name: { type: 'string' }, policy: { type: 'string' } },
  help: `  --domains D,...       mail domains the store's CA may issue for (.example.com: subdomains; default any)
  --name NAME           the CA's name
  --policy FILE         a lifecycle policy (JSON; see docs/cli.md), checked and kept as PATH.policy.json
${DB_HELP}`,
  flags: { allowedDomains: '--domains', name: '--name' },
  async run(ctx) {
    const path = dbPath(ctx);
    if (existsSync(path)) throw new MailPkiError('ERR_USAGE', `${path} already exists; it is never overwritten`);
    const passphrase = storePassphrase(ctx);
    const domains = str(ctx, 'domains')?.split(',').map((d) => d.trim()).filter(Boolean);
    const name = str(ctx, 'name');
    // The policy is checked before anything is created.
    const from = str(ctx, 'policy');
    const policy = from !== undefined ? await readPolicy(from, ctx.readInput) : undefined;
    await initLocalCaDirectory(`${path}.ca`, { passphrase, ...(domains && { allowedDomains: domains }), ...(name && { name }) });
    if (policy) await writeFileAtomic(policyFile(path), new TextEncoder().encode(`${JSON.stringify(policy, null, 2)}\n`), 0o644);
    const store = await openSqliteStore(path, { create: true });
    await store.close();
    ctx.io.stdout(
      `Created ${path} (inventory) and ${path}.ca/ (CA; trust anchor ${path}.ca/root.pem)\n  domains: ${domains?.join(', ') || '(any)'}\n` +
        (policy ? `  policy:  ${policyFile(path)}${policy.allowedDomainsByOwner ? ` (owners: ${Object.keys(policy.allowedDomainsByOwner).join(', ')})` : ''}\n` : ''),
    );
    return 0;
  },
};

export const enroll: Command = {
  usage: 'mailpki enroll --email ADDR --owner TEAM [--contact ADDR] [--purpose TEXT] [--approved-by WHO] [--profile strict|multipurpose|legacy] [--key-type TYPE] [--use signing|encryption|both] [--separate-certificates] [--encryption-key-type TYPE] [--db PATH] [--actor WHO]',
  options: {
    ...dbOption,
    email: { type: 'string' },
    owner: { type: 'string' },
    contact: { type: 'string' },
    purpose: { type: 'string' },
    'approved-by': { type: 'string' },
    profile: { type: 'string' },
    'key-type': { type: 'string' },
    use: { type: 'string' },
    'separate-certificates': { type: 'boolean' },
    'encryption-key-type': { type: 'string' },
    json: { type: 'boolean' },
  },
  help: `  --email ADDR          the mailbox to enrol
  --owner TEAM          the team that owns it (policy may limit teams to domains)
  --contact ADDR        where expiry notices for the owner go
  --purpose TEXT        why the identity exists (kept in the inventory)
  --approved-by WHO     who approved it (recorded with the issuance)
  --profile P           strict|multipurpose|legacy (default from the policy, else strict)
  --key-type TYPE       rsa-2048|rsa-3072|rsa-4096|ec-p256|ec-p384|ed25519|x25519 (default from the policy);
                        x25519 only with --use encryption (an X25519 key cannot sign), and the policy's
                        allowedKeyTypes must name it
  --use U               signing|encryption|both (default both): the certificate's keyUsage; keys of
                        certificates that receive encrypted mail are kept until their retention ends
  --separate-certificates   use both, as two certificates with two keys: a signing one (digitalSignature)
                        and an encryption one (keyEncipherment / keyAgreement), each renewed on its own
                        schedule; only the encryption keys are kept after renewal (default: the policy's
                        "certificates", else one certificate)
  --encryption-key-type TYPE   with separate certificates (implies them): the encryption certificate's
                        key type, e.g. x25519 beside an ed25519 or ec-p256 signing key (default --key-type)
  --json                print the identity record as JSON
${DB_HELP}`,
  flags: IDENTITY_FLAGS,
  async run(ctx) {
    const mailbox = required(ctx, 'email');
    const team = required(ctx, 'owner');
    const contact = str(ctx, 'contact');
    const purpose = str(ctx, 'purpose');
    const approvedBy = str(ctx, 'approved-by');
    const profile = oneOf(ctx, 'profile', SMIME_PROFILES);
    const keyType = oneOf(ctx, 'key-type', KEY_TYPES);
    const use = oneOf(ctx, 'use', IDENTITY_USES);
    const separate = ctx.values['separate-certificates'] === true;
    const encryptionKeyType = oneOf(ctx, 'encryption-key-type', KEY_TYPES);
    return withManager(ctx, async ({ manager }) => {
      const id = await manager.enroll(
        {
          mailbox,
          owner: { team, ...(contact && { contact }) },
          ...(purpose && { purpose }),
          ...(approvedBy && { approvedBy }),
          ...(profile && { profile }),
          ...(keyType && { keyType }),
          ...(use && { use }),
          ...(separate && { certificates: 'separate' as const }),
          ...(encryptionKeyType && { encryptionKeyType }),
        },
        { actor: actorOf(ctx) },
      );
      if (ctx.values.json) ctx.io.stdout(`${JSON.stringify(id, null, 2)}\n`);
      else
        ctx.io.stdout(
          `Enrolled ${id.name} for ${id.owner.team}; ${id.certificates === 'separate' ? 'signing and encryption certificates, the first expires' : 'certificate valid until'} ${id.notAfter?.toISOString() ?? '?'}\n`,
        );
      return 0;
    });
  },
};

export const renew: Command = {
  usage: 'mailpki renew ADDR [--reason TEXT] [--certificate signing|encryption|all] [--json] [--db PATH] [--actor WHO]',
  options: { ...dbOption, reason: { type: 'string' }, certificate: { type: 'string' }, json: { type: 'boolean' } },
  help: `  ADDR                  the identity's mailbox
  --reason TEXT         why (recorded in the audit log)
  --certificate C       an identity with separate certificates: renew only the signing or the encryption
                        one (default all)
  --json                print the identity record as JSON
${DB_HELP}`,
  flags: IDENTITY_FLAGS,
  positionals: 1,
  async run(ctx) {
    const mailbox = ctx.positionals[0];
    if (!mailbox) throw new MailPkiError('ERR_USAGE', 'renew needs the mailbox: mailpki renew ADDR');
    const reason = str(ctx, 'reason');
    const certificate = oneOf(ctx, 'certificate', CERTIFICATE_CHOICES);
    return withManager(ctx, async ({ manager }) => {
      const id = await manager.renew(mailbox, { actor: actorOf(ctx), ...(reason && { reason }), ...(certificate && { certificate }) });
      if (ctx.values.json) ctx.io.stdout(`${JSON.stringify(id, null, 2)}\n`);
      else ctx.io.stdout(`Renewed ${id.name}; valid until ${id.notAfter?.toISOString() ?? '?'}\n`);
      return 0;
    });
  },
};

const IDENTITY_REVOKE_REASONS = (Object.keys(REVOCATION_REASONS) as RevocationReason[]).filter((r) => r !== 'certificateHold' && r !== 'removeFromCRL');

export const revokeIdentity: Command = {
  usage: 'mailpki revoke ADDR --reason keyCompromise|superseded|cessationOfOperation|... [--certificate signing|encryption|all] [--json] [--db PATH] [--actor WHO]',
  options: { ...dbOption, reason: { type: 'string' }, certificate: { type: 'string' }, json: { type: 'boolean' } },
  help: `  ADDR                  the identity's mailbox
  --reason R            ${IDENTITY_REVOKE_REASONS.join(', ')}
  --certificate C       an identity with separate certificates: revoke only the signing or the encryption
                        one (the identity and the other certificate go on; "renew --certificate C" issues
                        it anew), or all (default: both, and the identity is revoked)
  --json                print the identity record as JSON
${DB_HELP}`,
  flags: IDENTITY_FLAGS,
  positionals: 1,
  async run(ctx) {
    const mailbox = ctx.positionals[0];
    if (!mailbox) throw new MailPkiError('ERR_USAGE', 'revoke needs the mailbox (or --ca DIR with --serial/--cert)');
    const reason = oneOf(ctx, 'reason', IDENTITY_REVOKE_REASONS);
    if (!reason) throw new MailPkiError('ERR_USAGE', `--reason is required (${IDENTITY_REVOKE_REASONS.join(', ')})`);
    const certificate = oneOf(ctx, 'certificate', CERTIFICATE_CHOICES);
    return withManager(ctx, async ({ manager }) => {
      const id = await manager.revoke(mailbox, { actor: actorOf(ctx), reason, ...(certificate && { certificate }) });
      if (ctx.values.json) ctx.io.stdout(`${JSON.stringify(id, null, 2)}\n`);
      else
        ctx.io.stdout(
          `Revoked ${certificate && certificate !== 'all' ? `the ${certificate} certificate` : id.certificates === 'separate' ? 'the certificates' : 'the certificate'} of ${id.name} (${reason}); status ${id.status}\n`,
        );
      return 0;
    });
  },
};

function parseWithin(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d+)d?$/.exec(text.trim());
  if (!m) throw new MailPkiError('ERR_USAGE', `--expiring-within takes days, e.g. 30d (got "${text}")`);
  return Number(m[1]);
}

export function formatIdentityTable(rows: IdentityRecord[], now: Date): string {
  const header = ['IDENTITY', 'OWNER', 'EXPIRES', 'DAYS LEFT', 'STATUS'];
  const data = rows.map((r) => [
    r.name,
    r.owner.team,
    r.notAfter ? r.notAfter.toISOString().slice(0, 10) : '-',
    r.notAfter ? String(Math.floor((r.notAfter.getTime() - now.getTime()) / DAY)) : '-',
    r.status,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...data.map((d) => d[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...data.map(line)].join('\n') + '\n';
}

export const list: Command = {
  usage: 'mailpki list [--owner TEAM] [--expiring-within 30d] [--status active,...] [--json] [--db PATH]',
  options: { ...dbOption, owner: { type: 'string' }, 'expiring-within': { type: 'string' }, status: { type: 'string' }, json: { type: 'boolean' } },
  help: `  --owner TEAM          only this team's identities
  --expiring-within Nd  only those whose certificate expires within N days (e.g. 30d)
  --status S,...        only these statuses: ${IDENTITY_STATUSES.join(', ')}
  --json                print the records as JSON
${DB_HELP_READ}`,
  async run(ctx) {
    const within = parseWithin(str(ctx, 'expiring-within'));
    const owner = str(ctx, 'owner');
    const statuses = str(ctx, 'status')?.split(',').map((s) => s.trim()) as IdentityRecord['status'][] | undefined;
    for (const s of statuses ?? [])
      if (!(IDENTITY_STATUSES as readonly string[]).includes(s)) throw new MailPkiError('ERR_USAGE', `--status takes ${IDENTITY_STATUSES.join(', ')} (got "${s}")`);
    return withStore(ctx, async (store) => {
      const now = new Date();
      const rows: IdentityRecord[] = [];
      let afterId: string | undefined;
      for (;;) {
        const page = await store.transaction((tx) =>
          tx.listIdentities({
            ...(owner && { owner }),
            ...(statuses && { status: statuses }),
            ...(within !== undefined && { expiringBefore: new Date(now.getTime() + within * DAY) }),
            limit: 1000,
            ...(afterId && { afterId }),
          }),
        );
        rows.push(...page);
        if (page.length < 1000) break;
        afterId = page[page.length - 1]!.id;
      }
      if (ctx.values.json) ctx.io.stdout(`${JSON.stringify(rows, null, 2)}\n`);
      else ctx.io.stdout(rows.length ? formatIdentityTable(rows, now) : 'No identities match.\n');
      return 0;
    });
  },
};

export const runDue: Command = {
  usage: 'mailpki run-due [--dry-run] [--now ISO-8601] [--json] [--db PATH] [--actor WHO]',
  options: { ...dbOption, now: { type: 'string' }, 'dry-run': { type: 'boolean' }, json: { type: 'boolean' } },
  help: `  --dry-run             print what the sweep would do (renew, notice, expire, decommission) and change nothing:
                        no passphrase needed, nothing issued, written or sent
  --now ISO-8601        simulate the sweep at another time (e.g. to see what renews next month). With a
                        real run it really renews and records at that simulated time: use it on test stores
  --json                print the summary (or the plan) as JSON
${DB_HELP}
Exit 0 done, 1 when an identity failed (listed).`,
  flags: { actor: '--actor', now: '--now' },
  async run(ctx) {
    const nowText = str(ctx, 'now');
    const now = nowText === undefined ? new Date() : new Date(nowText);
    if (Number.isNaN(now.getTime())) throw new MailPkiError('ERR_USAGE', `--now must be an ISO-8601 time (got "${nowText}")`);
    if (ctx.values['dry-run']) {
      const path = dbPath(ctx);
      const policy = existsSync(policyFile(path)) ? await readPolicy(policyFile(path), ctx.readInput) : undefined;
      return withStore(ctx, async (store) => {
        const plan = await planDue(store, now, { ...(policy && { policy }) });
        if (ctx.values.json) ctx.io.stdout(`${JSON.stringify(plan, null, 2)}\n`);
        else
          ctx.io.stdout(
            `${[
              `Dry run at ${now.toISOString()}: ${plan.scanned} due identit${plan.scanned === 1 ? 'y' : 'ies'}; nothing was changed`,
              ...plan.steps.map((p) => `  would ${p.action.padEnd(12)} ${p.identityId}${p.certificate ? ` [${p.certificate} certificate]` : ''} (${p.reason})`),
            ].join('\n')}\n`,
          );
        return 0;
      });
    }
    return withManager(
      ctx,
      async ({ manager }) => {
        ctx.io.stderr(`mailpki: sweeping identities due by ${now.toISOString()}...\n`);
        let last = Date.now();
        const s = await manager.runDue(now, {
          actor: actorOf(ctx),
          // A progress line every 2 seconds on long runs (stderr, so stdout stays the summary).
          onProgress: (p, total) => {
            if (Date.now() - last < 2000) return;
            last = Date.now();
            ctx.io.stderr(`mailpki: ${p.scanned}/${total} due identities processed (${p.renewed.length} renewed, ${p.failed.length} failed)\n`);
          },
        });
        if (ctx.values.json) {
          ctx.io.stdout(`${JSON.stringify(s, null, 2)}\n`);
          return s.failed.length ? 1 : 0;
        }
        const out = [
          `Scanned ${s.scanned} due identit${s.scanned === 1 ? 'y' : 'ies'}: ${s.renewed.length} renewed, ${s.notices.length} notice(s), ${s.expired.length} expired, ${s.decommissioned.length} decommissioned, ${s.failed.length} failed`,
          ...s.renewed.map((r) => `  renewed        ${r}`),
          ...s.notices.map((n) => `  notice         ${n.identityId} (${n.daysLeft} days left)`),
          ...s.expired.map((r) => `  expired        ${r}`),
          ...s.decommissioned.map((r) => `  decommissioned ${r}`),
          ...s.decryptionKeysDestroyed.map((d) => `  key destroyed  ${d.identityId} (credential ${d.credentialId}: retention ended)`),
          ...s.failed.map((f) => `  FAILED         ${f.identityId}: ${f.message} [${f.code}]`),
        ];
        ctx.io.stdout(`${out.join('\n')}\n`);
        return s.failed.length ? 1 : 0;
      },
      now,
    );
  },
};

/** `--expect-head SEQ:HASH`: a head printed by an earlier `audit verify` and kept outside the store. */
function expectedHead(ctx: CommandContext): { seq: number; hash: string } | undefined {
  const text = str(ctx, 'expect-head');
  if (text === undefined) return undefined;
  const m = /^([1-9][0-9]{0,15}):([0-9a-fA-F]{64})$/.exec(text);
  const seq = m ? Number(m[1]) : Number.NaN;
  if (!m || !Number.isSafeInteger(seq)) throw new MailPkiError('ERR_USAGE', `--expect-head takes SEQ:HASH as audit verify prints it (a record number and 64 hex digits), got "${text.slice(0, 100)}"`);
  return { seq, hash: m[2]!.toLowerCase() };
}

export const audit: Command = {
  usage: 'mailpki audit verify|export [--expect-head SEQ:HASH] [--json] [--db PATH]',
  options: { ...dbOption, json: { type: 'boolean' }, 'expect-head': { type: 'string' } },
  help: `  verify                check the hash chain of the audit log, and that every identity is owned by the team
                        its last audit record names; exit 1 when either fails. Prints the head
                        (SEQ:HASH of the last record): keep it outside the store (a ticket, another system)
  --expect-head SEQ:HASH verify: the log must still hold that record with that hash — catches records cut from
                        the end and a log re-chained from some record on, which the chain alone cannot see
  export                print the audit log as JSON Lines
  --json                verify: print the result as JSON
${DB_HELP_READ}`,
  positionals: 1,
  async run(ctx) {
    const action = ctx.positionals[0];
    if (action !== 'verify' && action !== 'export') throw new MailPkiError('ERR_USAGE', 'audit takes verify or export');
    const expected = action === 'verify' ? expectedHead(ctx) : undefined;
    return withStore(ctx, async (store) => {
      if (action === 'export') {
        ctx.io.stdout(await exportAuditLog(store));
        return 0;
      }
      const r = await verifyAuditLog(store, expected ? { head: expected } : {});
      // ok: records 1..checked are there, in order; the last of them is the head.
      const last = r.ok && r.checked > 0 ? (await store.listAudit({ fromSeq: r.checked, limit: 1 }))[0] : undefined;
      const head = last && { seq: last.seq, hash: last.hash };
      // Against a broken log the comparison means nothing (and a damaged row would not read).
      const inventory = r.ok ? await checkInventoryOwners(store) : undefined;
      if (ctx.values.json) ctx.io.stdout(`${JSON.stringify({ ...r, ...(head && { head }), ...(inventory && { inventory }) }, null, 2)}\n`);
      else {
        if (!r.ok) ctx.io.stdout(`Audit log BROKEN at record ${r.firstBadSeq} (${r.problem})\n`);
        else {
          const shown = head ? `head ${head.seq}:${head.hash}` : 'no head (empty)';
          ctx.io.stdout(
            expected
              ? `Audit log intact: ${r.checked} hash-chained records; ${shown}; record ${expected.seq} has the expected hash\n`
              : `Audit log intact: ${r.checked} hash-chained records; ${shown}\n` +
                  `Without a head kept outside this store, records cut from the end or a log re-chained from some record on also read intact: keep the head elsewhere and check with --expect-head ${head ? `${head.seq}:${head.hash}` : 'SEQ:HASH'}\n`,
          );
        }
        // Names from the store are quoted (JSON): whoever edited them there may have put control characters in.
        if (!inventory) ctx.io.stdout('Inventory not compared with a broken audit log\n');
        else if (inventory.mismatches.length === 0) ctx.io.stdout(`Inventory: ${inventory.checked} identities, each owned by the team its last audit record names\n`);
        for (const m of inventory?.mismatches ?? [])
          ctx.io.stdout(
            `Inventory DIFFERS from the audit log: ${JSON.stringify(m.identityId)} is owned by ${JSON.stringify(m.owner)}, ${m.audited !== undefined ? `the audit log says ${JSON.stringify(m.audited)} (record ${m.seq})` : 'no audit record states its owner'}\n`,
          );
      }
      return r.ok && inventory?.mismatches.length === 0 ? 0 : 1;
    });
  },
};

export const events: Command = {
  usage: 'mailpki events [--follow] [--undelivered] [--db PATH]',
  options: { ...dbOption, follow: { type: 'boolean' }, undelivered: { type: 'boolean' } },
  help: `  --follow              keep printing new events until interrupted (Ctrl-C)
  --undelivered         only events not yet delivered to the sinks
Each event is one JSON line.
${DB_HELP_READ}`,
  async run(ctx) {
    return withStore(ctx, async (store) => {
      let after: { at: Date; id: string } | undefined;
      let stop = false;
      if (ctx.values.follow) {
        process.once('SIGINT', () => (stop = true));
        process.once('SIGTERM', () => (stop = true));
      }
      do {
        for (;;) {
          const page = await store.listEvents({
            ...(ctx.values.undelivered && { undeliveredOnly: true }),
            ...(after && { afterCreatedAt: after.at, afterId: after.id }),
            limit: 500,
          });
          for (const e of page) ctx.io.stdout(`${JSON.stringify({ id: e.id, type: e.type, createdAt: e.createdAt, delivered: e.deliveredAt !== undefined, ...e.payload })}\n`);
          if (page.length > 0) after = { at: page[page.length - 1]!.createdAt, id: page[page.length - 1]!.id };
          if (page.length < 500) break;
        }
        if (ctx.values.follow && !stop) await new Promise((r) => setTimeout(r, 1000));
      } while (ctx.values.follow && !stop);
      return 0;
    });
  },
};

/** The signer of an identity's current certificate, for `mailpki sign --identity`. */
export async function identitySigner(ctx: CommandContext, mailbox: string) {
  const opened = await openManager(ctx);
  try {
    return await opened.manager.getSigner(mailbox);
  } finally {
    await opened.store.close();
  }
}

export const identityShow: Command = {
  usage: 'mailpki identity show ADDR [--json] [--db PATH]',
  options: { ...dbOption, json: { type: 'boolean' } },
  help: `  ADDR                  the identity's mailbox
  --json                print the identity record and its certificates as JSON (no certificate bytes)
Shows the identity (owner, use, status, next due) and every certificate it holds or held: for an
identity with separate certificates, which is the signing and which the encryption certificate.
Reads only: no passphrase, no key is read or decrypted.
${DB_HELP_READ}`,
  positionals: 1,
  async run(ctx) {
    const mailbox = ctx.positionals[0];
    if (!mailbox) throw new MailPkiError('ERR_USAGE', 'identity show needs the mailbox: mailpki identity show ADDR');
    const lower = mailbox.trim().toLowerCase();
    const id = /^(smime|dkim):/.test(lower) ? lower : `smime:${lower}`;
    return withStore(ctx, async (store) => {
      const found = await store.transaction(async (tx) => {
        const identity = await tx.getIdentity(id);
        return identity && { identity, credentials: await tx.listCredentials(id) };
      });
      if (!found) throw new MailPkiError('ERR_IDENTITY_NOT_FOUND', `no identity ${id} in the inventory`, { details: { identityId: id } });
      const { identity, credentials } = found;
      const role = (c: CredentialRecord): string => {
        const r = c.attributes?.certificate;
        if (r === 'signing' || r === 'encryption') return r;
        return c.kind === 'dkim-key' ? 'dkim' : (identity.use ?? 'both');
      };
      const held = (c: CredentialRecord): boolean => c.id === identity.currentCredentialId || c.id === identity.encryptionCredentialId;
      if (ctx.values.json) {
        const certs = credentials.map((full) => {
          const { certificate: _der, attributes: _attributes, ...c } = full;
          return { ...c, role: role(full), held: held(full) };
        });
        ctx.io.stdout(`${JSON.stringify({ identity, certificates: certs }, null, 2)}\n`);
        return 0;
      }
      const rows = [
        ['ROLE', 'SERIAL', 'STATUS', 'NOT-BEFORE', 'NOT-AFTER', 'HELD'],
        ...credentials.map((c) => [role(c), c.serialNumber ?? c.id, c.status, c.notBefore.toISOString(), c.notAfter.toISOString(), held(c) ? 'yes' : '-']),
      ];
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      ctx.io.stdout(
        [
          `${identity.name} (${identity.id})`,
          `  owner ${identity.owner.team}, status ${identity.status}, use ${identity.use ?? 'both'}, ${identity.certificates === 'separate' ? 'separate signing and encryption certificates' : 'one certificate'}, key ${identity.keyType}${identity.attributes?.encryptionKeyType ? ` (encryption ${String(identity.attributes.encryptionKeyType)})` : ''}`,
          `  next due ${identity.nextDueAt?.toISOString() ?? '-'}`,
          '',
          ...rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()),
        ].join('\n') + '\n',
      );
      return 0;
    });
  },
};

export const identityKeys: Command = {
  usage: 'mailpki identity keys ADDR [--json] [--db PATH]',
  options: { ...dbOption, json: { type: 'boolean' } },
  help: `  ADDR                  the identity's mailbox
  --json                print the history as JSON
Lists the decryption-key history: each certificate's serial, when its key was kept, until when
(retain-until), when the sweep destroyed it, the team that owned the mailbox then, and when that life
ended (the mailbox enrolled again: its keys are the earlier owner's, reached with export-keys
--previous-owner). Reads only: no passphrase, no key is read or decrypted.
${DB_HELP_READ}`,
  positionals: 1,
  async run(ctx) {
    const mailbox = ctx.positionals[0];
    if (!mailbox) throw new MailPkiError('ERR_USAGE', 'identity keys needs the mailbox: mailpki identity keys ADDR');
    return withStore(ctx, async (store) => {
      const keys = await readDecryptionKeys(store, mailbox);
      if (ctx.values.json) {
        ctx.io.stdout(`${JSON.stringify(keys, null, 2)}\n`);
        return 0;
      }
      const rows = [
        ['SERIAL', 'CREATED', 'RETAIN-UNTIL', 'DESTROYED', 'OWNER', 'LIFE-ENDED'],
        ...keys.map((k) => [k.serialNumber ?? k.credentialId, k.createdAt.toISOString(), k.retainUntil.toISOString(), k.destroyedAt?.toISOString() ?? '-', k.ownerTeam ?? '-', k.lifeEndedAt?.toISOString() ?? '-']),
      ];
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      ctx.io.stdout(keys.length === 0 ? `${mailbox} has no decryption-key history (a signing-only identity, or none issued yet)\n` : `${rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n')}\n`);
      return 0;
    });
  },
};

export const identityExportKeys: Command = {
  usage:
    'mailpki identity export-keys ADDR --out FILE.p12 --passphrase-env VAR --actor NAME --reason TEXT [--previous-owner TEAM] [--include-signing-key] [--db PATH] [--store-passphrase-env VAR]',
  options: {
    ...dbOption,
    out: { type: 'string' },
    reason: { type: 'string' },
    'store-passphrase-env': { type: 'string' },
    'previous-owner': { type: 'string' },
    'include-signing-key': { type: 'boolean' },
  },
  words: { 'includeLiveSigningKey: true (--include-signing-key)': '--include-signing-key', previousOwner: '--previous-owner' },
  help: `  ADDR                  the identity's mailbox
  --out FILE.p12        where the PKCS#12 file goes (written 0600, atomically; an existing file is replaced)
  --passphrase-env VAR  the passphrase for the .p12 is in $VAR (required)
  --actor NAME          who exports (required: key recovery is audited by name)
  --reason TEXT         why (required; recorded in the audit log and told to the owner)
  --previous-owner TEAM the keys of earlier lives of the mailbox that TEAM owned (before it was decommissioned
                        and enrolled again), instead of the current holder's
  --include-signing-key export a key that also signs for the current certificate (one certificate for signing
                        and encryption): refused without it, since whoever holds the .p12 could sign as the mailbox
  --store-passphrase-env VAR   the store's passphrase is in $VAR (default $MAILPKI_PASSPHRASE)
  --db PATH             the store (default ./mailpki.db)`,
  positionals: 1,
  async run(ctx) {
    const mailbox = ctx.positionals[0];
    if (!mailbox) throw new MailPkiError('ERR_USAGE', 'identity export-keys needs the mailbox: mailpki identity export-keys ADDR --out FILE.p12 ...');
    const out = required(ctx, 'out');
    const reason = required(ctx, 'reason');
    const actor = required(ctx, 'actor');
    const p12Variable = required(ctx, 'passphrase-env');
    const passphrase = ctx.io.env[p12Variable];
    if (!passphrase) throw new MailPkiError('ERR_USAGE', `the .p12 passphrase is read from $${p12Variable}, which is not set or empty`);
    // --passphrase-env names the .p12's passphrase here; the store's comes from --store-passphrase-env.
    const storeCtx: CommandContext = { ...ctx, values: { ...ctx.values, 'passphrase-env': str(ctx, 'store-passphrase-env') } };
    return withManager(storeCtx, async ({ manager }) => {
      const previousOwner = str(ctx, 'previous-owner');
      const p12 = await manager.exportDecryptionKeys(mailbox, {
        actor,
        reason,
        passphrase,
        ...(previousOwner !== undefined && { previousOwner }),
        ...(ctx.values['include-signing-key'] === true && { includeLiveSigningKey: true }),
      });
      await writeFileAtomic(out, p12, 0o600);
      ctx.io.stdout(
        `Exported the decryption keys of ${mailbox}${previousOwner !== undefined ? ` from its earlier lives owned by ${previousOwner}` : ''} to ${out} (audited: ${actor}, "${reason}")${ctx.values['include-signing-key'] === true ? '; it may include a key that signs for the current certificate' : ''}\n`,
      );
      return 0;
    });
  },
};

/** Every decryption key a store identity kept (its history), fetched as --actor for reading mail (audited). */
export async function identityDecryptors(ctx: CommandContext, mailboxes: string | readonly string[], reason = 'mailpki decrypt/verify: open an encrypted message') {
  const opened = await openManager(ctx);
  try {
    const keys = [];
    for (const mailbox of typeof mailboxes === 'string' ? [mailboxes] : mailboxes) keys.push(...(await opened.manager.getDecryptor(mailbox, { actor: actorOf(ctx), reason })));
    return keys;
  } finally {
    await opened.store.close();
  }
}
