/**
 * `mailpki dkim create|sign|verify|rotate|decommission|check|run-due|keys`: DKIM keys governed in the embedded
 * store (`--db PATH`, keys encrypted with $MAILPKI_PASSPHRASE or `--passphrase-env VAR`). DNS is
 * read with Node's resolver (`--dns HOST:PORT,...` or the system's) and written by hand from the
 * printed records, or by RFC 2136 with `--update-server HOST:PORT --zone Z --tsig-name N --tsig-secret-env VAR`.
 */
import { existsSync } from 'node:fs';
import { DKIM_KEY_ALGORITHMS, type DkimKeyAlgorithm } from '../dkim/key.js';
import { dmarcCandidate } from '../dkim/results.js';
import { signDkimMessage } from '../dkim/sign.js';
import { verifyDkim } from '../dkim/verify.js';
import { manualPublisher } from '../dns/manual.js';
import { rfc2136Publisher } from '../dns/rfc2136.js';
import type { DnsPublisher } from '../dns/types.js';
import { MailPkiError } from '../errors.js';
import { DkimManager, type DkimDueSummary, type DkimKeyInfo } from '../lifecycle/dkim.js';
import { nodeDnsResolver } from '../node/dns.js';
import { nodeDnsTransport } from '../node/dns-update.js';
import { writeFileAtomic } from '../node/fs-storage.js';
import { openSqliteStore, type SqliteStore } from '../node/sqlite-store.js';
import { passphraseKeyProtector, type KeyProtector } from '../store/key-protector.js';
import { positiveInt, required, str, type Command, type CommandContext } from './args.js';
import { actorOf, claimOptions, dbPath, policyFile, readPolicy, storePassphrase } from './lifecycle.js';

const SUBCOMMANDS = ['create', 'sign', 'verify', 'rotate', 'decommission', 'check', 'run-due', 'keys'] as const;
type Sub = (typeof SUBCOMMANDS)[number];

const USAGE = `mailpki dkim <subcommand> [options]   (store: --db PATH, default ./mailpki.db; keys encrypted with $MAILPKI_PASSPHRASE or --passphrase-env VAR)
  create --domain D --owner TEAM [--selector S] [--algo rsa-2048|rsa-3072|rsa-4096|ed25519[,ed25519]] [--contact ADDR] [--purpose TEXT]
         [--rotation-days N] [--grace-days N] [--remove-after-days N] [--json]   prints the TXT record to publish and its zone-file line
  sign --domain D [--selector S] [--in FILE] [--out FILE]                   signs with the active key(s)
  verify [--json] [--dns HOST:PORT,...] [--in FILE]                         exit 0 when a signature aligned with From passes, 1 otherwise, 2 unreadable
  rotate --domain D [--selector S] [--json]                                 starts a new key; signing switches once DNS serves it
  decommission --domain D [--reason TEXT] [--json]                          stops signing now; run-due then retires and removes every key
  check --domain D [--json]                                                 drift: every selector against DNS; exit 1 on drift
  run-due [--domain D] [--now ISO-8601] [--dry-run] [--json]                publishes, confirms, activates, retires, removes, rotates
  keys --domain D [--json]                                                  the domain's keys and their states
Options:
  --domain D            the signing domain (d=)          --selector S      the selector (s=; default: generated)
  --owner TEAM          the owning team                  --contact ADDR    where the owner's notices go
  --purpose TEXT        why the key exists               --algo A[,A]      key type(s); two sign side by side (default rsa-2048)
  --rotation-days N     rotate after N days              --grace-days N    keep the old key published N days after a rotation
  --remove-after-days N remove a revoked record after N days
  --now ISO-8601        simulate run-due at another time; a real run really acts at that time (test stores only)
  --dry-run             run-due: print the step each key would take next, change nothing (no passphrase, no DNS)
  --in FILE / --out FILE  message to sign or verify (default stdin, at most 64 MiB) / signed output (default stdout)
  --json                print the result as JSON      keys and check read only: no passphrase needed
DNS: --dns HOST:PORT,... to read (default: the system resolver); to publish by RFC 2136 instead of by hand:
  --update-server HOST:PORT --zone ZONE --tsig-name NAME --tsig-secret-env VAR  (HMAC-SHA256, secret base64 in VAR)
Every change records --actor WHO (default cli:<your OS user name>) in the audit log.`;

const options = {
  db: { type: 'string' as const },
  'passphrase-env': { type: 'string' as const },
  actor: { type: 'string' as const },
  domain: { type: 'string' as const },
  selector: { type: 'string' as const },
  reason: { type: 'string' as const },
  owner: { type: 'string' as const },
  contact: { type: 'string' as const },
  purpose: { type: 'string' as const },
  algo: { type: 'string' as const },
  'rotation-days': { type: 'string' as const },
  'grace-days': { type: 'string' as const },
  'remove-after-days': { type: 'string' as const },
  in: { type: 'string' as const },
  out: { type: 'string' as const },
  json: { type: 'boolean' as const },
  'dry-run': { type: 'boolean' as const },
  dns: { type: 'string' as const },
  now: { type: 'string' as const },
  'update-server': { type: 'string' as const },
  zone: { type: 'string' as const },
  'tsig-name': { type: 'string' as const },
  'tsig-secret-env': { type: 'string' as const },
};

function dnsServers(ctx: CommandContext): string[] | undefined {
  return str(ctx, 'dns')
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function resolverOf(ctx: CommandContext) {
  const servers = dnsServers(ctx);
  return nodeDnsResolver({ ...(servers?.length && { servers }), timeoutMs: 2000 });
}

function publisherOf(ctx: CommandContext): DnsPublisher {
  const server = str(ctx, 'update-server');
  if (server === undefined) {
    for (const o of ['zone', 'tsig-name', 'tsig-secret-env'])
      if (str(ctx, o) !== undefined) throw new MailPkiError('ERR_USAGE', `--${o} needs --update-server HOST:PORT`);
    return manualPublisher();
  }
  const zone = required(ctx, 'zone');
  const name = required(ctx, 'tsig-name');
  const variable = required(ctx, 'tsig-secret-env');
  const secret = ctx.io.env[variable];
  if (!secret) throw new MailPkiError('ERR_USAGE', `--tsig-secret-env names ${variable}, but that environment variable is not set`);
  return rfc2136Publisher({ server, zone, tsig: { name, algorithm: 'hmac-sha256', secret }, transport: nodeDnsTransport() });
}

function nowOf(ctx: CommandContext): Date | undefined {
  const text = str(ctx, 'now');
  if (text === undefined) return undefined;
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) throw new MailPkiError('ERR_USAGE', `--now must be an ISO-8601 time (got "${text}")`);
  return d;
}

/** For commands that only read (keys, check): refuses, naming the variable, if a key were ever to be opened. */
function lockedKeyProtector(ctx: CommandContext): KeyProtector {
  const refuse = async (): Promise<never> => {
    storePassphrase(ctx);
    throw new MailPkiError('ERR_PASSPHRASE_REQUIRED', 'this command reads the store only; it never opens a private key');
  };
  return { id: 'passphrase', protect: refuse, unprotect: refuse };
}

async function withDkim(
  ctx: CommandContext,
  fn: (m: DkimManager, store: SqliteStore) => Promise<number>,
  now?: Date,
  access: 'read' | 'write' = 'write',
): Promise<number> {
  const path = dbPath(ctx);
  if (!existsSync(path)) throw new MailPkiError('ERR_USAGE', `no store at ${path}: run "mailpki init" first (or give --db PATH)`);
  const keyProtector = access === 'read' ? lockedKeyProtector(ctx) : passphraseKeyProtector(storePassphrase(ctx));
  const publisher = publisherOf(ctx);
  // The store's lifecycle policy (init --policy) decides look-alike domains for DKIM signing domains too.
  const policy = existsSync(policyFile(path)) ? await readPolicy(policyFile(path), ctx.readInput) : undefined;
  const store = await openSqliteStore(path, { create: false });
  try {
    const manager = new DkimManager({
      store,
      keyProtector,
      resolver: resolverOf(ctx),
      publisher,
      ...(policy?.lookalikeDomains && { lookalikeDomains: policy.lookalikeDomains }),
      ...(now && { clock: () => now }),
      ...claimOptions(ctx),
    });
    return await fn(manager, store);
  } finally {
    await store.close();
  }
}

function formatKey(k: DkimKeyInfo): string {
  return `${k.selector.padEnd(12)} ${k.algorithm.padEnd(9)} ${k.state.padEnd(17)} ${k.signing ? 'signing' : '       '}  ${k.record.name}`;
}

function formatDue(s: DkimDueSummary): string {
  return [
    `Scanned ${s.scanned} DKIM identit${s.scanned === 1 ? 'y' : 'ies'}: ${s.transitions.length} step(s), ${s.rotated.length} rotation(s) started, ${s.waiting.length} waiting for DNS, ${s.failed.length} failed`,
    ...s.rotated.map((r) => `  rotation       ${r.identityId}: ${r.selectors.join(', ')}`),
    ...s.transitions.map((t) => `  ${t.state.padEnd(14)} ${t.identityId} ${t.selector}`),
    ...s.waiting.map((w) => `  waiting        ${w.identityId} ${w.selector} (${w.state}; DNS has: ${w.found})`),
    ...s.failed.map((f) => `  FAILED         ${f.identityId}${f.selector ? ` ${f.selector}` : ''}: ${f.message} [${f.code}]`),
  ].join('\n');
}

function algorithms(ctx: CommandContext): DkimKeyAlgorithm[] | undefined {
  const text = str(ctx, 'algo');
  if (text === undefined) return undefined;
  const list = text.split(',').map((a) => a.trim());
  for (const a of list)
    if (!(DKIM_KEY_ALGORITHMS as readonly string[]).includes(a)) throw new MailPkiError('ERR_USAGE', `--algo must be one of ${DKIM_KEY_ALGORITHMS.join(', ')} (got "${a}")`);
  return list as DkimKeyAlgorithm[];
}

const run: Record<Sub, (ctx: CommandContext) => Promise<number>> = {
  async create(ctx) {
    const domain = required(ctx, 'domain');
    const team = required(ctx, 'owner');
    const selector = str(ctx, 'selector');
    const contact = str(ctx, 'contact');
    const purpose = str(ctx, 'purpose');
    const algos = algorithms(ctx);
    const rotationDays = positiveInt(ctx, 'rotation-days');
    const graceDays = positiveInt(ctx, 'grace-days');
    const removeAfterDays = positiveInt(ctx, 'remove-after-days');
    const policy = { ...(rotationDays && { rotationDays }), ...(graceDays && { graceDays }), ...(removeAfterDays && { removeAfterDays }) };
    return withDkim(ctx, async (m) => {
      const { identity, keys } = await m.create(
        {
          domain,
          owner: { team, ...(contact && { contact }) },
          ...(selector && { selector }),
          ...(purpose && { purpose }),
          ...(algos && { algorithm: algos }),
          ...(Object.keys(policy).length && { policy }),
        },
        { actor: actorOf(ctx) },
      );
      if (ctx.values.json) {
        ctx.io.stdout(`${JSON.stringify({ identity, keys }, null, 2)}\n`);
        return 0;
      }
      const out = [`Created ${identity.id} for ${identity.owner.team}. Publish ${keys.length === 1 ? 'this record' : 'these records'}; signing starts once DNS serves ${keys.length === 1 ? 'it' : 'them'} ("mailpki dkim run-due"):`];
      for (const k of keys) out.push('', `selector: ${k.selector} (${k.algorithm})`, `name:     ${k.record.name}`, `TXT:      ${k.record.value}`, `zone:     ${k.record.zoneLine}`);
      ctx.io.stdout(`${out.join('\n')}\n`);
      return 0;
    });
  },

  async sign(ctx) {
    const domain = required(ctx, 'domain');
    const selector = str(ctx, 'selector');
    const message = await ctx.readInput(str(ctx, 'in'));
    return withDkim(ctx, async (m) => {
      const keys = await m.getSigningKeys(domain, selector === undefined ? {} : { selector });
      const signed = await signDkimMessage(message, keys);
      const out = str(ctx, 'out');
      if (out) await writeFileAtomic(out, signed, 0o644);
      else ctx.io.stdoutBytes(signed);
      return 0;
    });
  },

  async verify(ctx) {
    const message = await ctx.readInput(str(ctx, 'in'));
    const v = await verifyDkim(message, { resolver: resolverOf(ctx) });
    const aligned = v.fromDomain ? dmarcCandidate(v, v.fromDomain) : undefined;
    if (ctx.values.json) ctx.io.stdout(`${JSON.stringify({ ...v, aligned: aligned ?? null }, null, 2)}\n`);
    else {
      const lines = v.results.length ? v.results.map((r) => `dkim=${r.result} d=${r.domain} s=${r.selector} a=${r.algorithm}${r.aligned ? ' (aligned with From)' : ''}: ${r.reason}`) : ['dkim=none: no DKIM-Signature'];
      lines.push(aligned ? `PASS: ${aligned.domain} (${aligned.selector}) signed this message and aligns with From` : `NO aligned passing signature (From domain: ${v.fromDomain ?? 'none'})`);
      ctx.io.stdout(`${lines.join('\n')}\n`);
    }
    return aligned ? 0 : 1;
  },

  async rotate(ctx) {
    const domain = required(ctx, 'domain');
    const selector = str(ctx, 'selector');
    return withDkim(ctx, async (m) => {
      const keys = await m.rotate(domain, { actor: actorOf(ctx), ...(selector && { selector }) });
      if (ctx.values.json) {
        ctx.io.stdout(`${JSON.stringify(keys, null, 2)}\n`);
        return 0;
      }
      const out = [`Rotation started for ${domain}; the current key signs until DNS serves the new record. Publish:`];
      for (const k of keys) out.push('', `selector: ${k.selector} (${k.algorithm})`, `TXT:      ${k.record.value}`, `zone:     ${k.record.zoneLine}`);
      ctx.io.stdout(`${out.join('\n')}\n`);
      return 0;
    });
  },

  async decommission(ctx) {
    const domain = required(ctx, 'domain');
    const reason = str(ctx, 'reason');
    return withDkim(ctx, async (m) => {
      const { identity, keys } = await m.decommission(domain, { actor: actorOf(ctx), ...(reason && { reason }) });
      if (ctx.values.json) {
        ctx.io.stdout(`${JSON.stringify({ identity, keys }, null, 2)}\n`);
        return 0;
      }
      const out = [`Decommissioned ${identity.id}; nothing signs for ${identity.name} any more. "mailpki dkim run-due" takes the keys out of DNS:`, ''];
      out.push(...keys.map(formatKey));
      ctx.io.stdout(`${out.join('\n')}\n`);
      return 0;
    });
  },

  async check(ctx) {
    const domain = required(ctx, 'domain');
    return withDkim(ctx, async (m) => {
      const r = await m.checkDrift(domain);
      if (ctx.values.json) ctx.io.stdout(`${JSON.stringify(r, null, 2)}\n`);
      else
        ctx.io.stdout(
          `${[
            `${r.ok ? 'No drift' : 'DRIFT'} for ${r.domain}:`,
            ...r.entries.map((e) => `  ${e.status.padEnd(22)} ${e.selector.padEnd(12)} ${e.state.padEnd(17)} DNS has: ${e.found}${e.detail ? ` (${e.detail})` : ''}`),
          ].join('\n')}\n`,
        );
      return r.ok ? 0 : 1;
    }, undefined, 'read');
  },

  async 'run-due'(ctx) {
    const now = nowOf(ctx);
    const domain = str(ctx, 'domain');
    if (ctx.values['dry-run'])
      return withDkim(
        ctx,
        async (m) => {
          const plan = await m.planDue(now ?? new Date(), { ...(domain && { domain }) });
          ctx.io.stdout(
            ctx.values.json
              ? `${JSON.stringify(plan, null, 2)}\n`
              : `${[
                  `Dry run at ${plan.now.toISOString()}: ${plan.scanned} due DKIM identit${plan.scanned === 1 ? 'y' : 'ies'}; nothing was changed`,
                  ...plan.steps.map((p) => `  would ${p.step.padEnd(15)} ${p.identityId}${p.selector ? ` ${p.selector} (${p.state})` : ''}`),
                ].join('\n')}\n`,
          );
          return 0;
        },
        now,
        'read',
      );
    return withDkim(
      ctx,
      async (m) => {
        const s = await m.runDue(now ?? new Date(), { actor: actorOf(ctx), ...(domain && { domain }) });
        ctx.io.stdout(ctx.values.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatDue(s)}\n`);
        return s.failed.length ? 1 : 0;
      },
      now,
    );
  },

  async keys(ctx) {
    const domain = required(ctx, 'domain');
    return withDkim(
      ctx,
      async (m) => {
        const keys = await m.keys(domain);
        ctx.io.stdout(ctx.values.json ? `${JSON.stringify(keys, null, 2)}\n` : `${['SELECTOR     ALGORITHM STATE                      NAME', ...keys.map(formatKey)].join('\n')}\n`);
        return 0;
      },
      undefined,
      'read',
    );
  },
};

/** `mailpki dkim <subcommand>`: one Command whose first positional picks the subcommand. */
export const dkim: Command = {
  usage: USAGE,
  options,
  flags: {
    domain: '--domain',
    selector: '--selector',
    owner: '--owner',
    'owner.team': '--owner',
    'owner.contact': '--contact',
    purpose: '--purpose',
    algorithm: '--algo',
    'policy.rotationDays': '--rotation-days',
    'policy.graceDays': '--grace-days',
    'policy.removeAfterDays': '--remove-after-days',
    actor: '--actor',
    reason: '--reason',
  },
  words: { 'run runDue': 'run "mailpki dkim run-due"', 'once runDue': 'once "mailpki dkim run-due"', runDue: '"mailpki dkim run-due"' },
  positionals: 1,
  async run(ctx) {
    const sub = ctx.positionals[0];
    if (sub === undefined || !(SUBCOMMANDS as readonly string[]).includes(sub))
      throw new MailPkiError('ERR_USAGE', `dkim needs a subcommand: ${SUBCOMMANDS.join(', ')}${sub === undefined ? '' : ` (got "${sub}")`}`);
    return run[sub as Sub](ctx);
  },
};
