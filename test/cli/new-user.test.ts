/** The CLI as a new user meets it (finding 15): read-only without the passphrase, --json, --help, CLI words. */
import { writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commands } from '../../src/cli/commands.js';
import { tempDir } from '../helpers/peers.js';
import { cli } from './helpers.js';

const t = tempDir('mailpki-cli-user-');
afterAll(() => t.cleanup());
const db = t.path('inv.db');
const pw = { MAILPKI_PASSPHRASE: 'store passphrase', USER: 'alice' };
const withPw = (args: string[], stdin = '') => cli([...args, '--db', db], pw, stdin);
const noPw = (args: string[]) => cli([...args, '--db', db], {});
const json = (r: { stdout: string; stderr: string; code: number }) => {
  expect(r.stderr.replace(/^mailpki: (warning|sweeping|\d+\/\d+ due identities).*\n/gm, '')).toBe('');
  return JSON.parse(r.stdout);
};

beforeAll(async () => {
  expect((await withPw(['init', '--domains', 'example.com'])).code).toBe(0);
  expect((await withPw(['enroll', '--email', 'payments@example.com', '--owner', 'treasury'])).code).toBe(0);
  expect((await withPw(['dkim', 'create', '--domain', 'example.com', '--owner', 'mail', '--selector', 's1'])).code).toBe(0);
});

describe('read-only commands need no passphrase (finding 15)', () => {
  it('list, events, audit verify, audit export, dkim keys and cert show run without MAILPKI_PASSPHRASE (finding 15)', async () => {
    for (const args of [['list'], ['list', '--json'], ['events'], ['audit', 'verify'], ['audit', 'export'], ['dkim', 'keys', '--domain', 'example.com']]) {
      const r = await noPw(args);
      expect(r.stderr, args.join(' ')).toBe('');
      expect(r.code, args.join(' ')).toBe(0);
    }
    expect((await noPw(['list'])).stdout).toContain('payments@example.com');
    expect((await cli(['cert', 'show', `${db}.ca/root.pem`], {})).code).toBe(0);
  });

  it('a command that changes something still asks for it', async () => {
    const r = await noPw(['renew', 'payments@example.com']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('MAILPKI_PASSPHRASE');
  });
});

describe('--json on every command that reports something (finding 15)', () => {
  it('issue, enroll, renew, run-due, audit verify, dkim create, dkim run-due print JSON (finding 15)', async () => {
    const ca = t.path('ca');
    expect((await cli(['ca', 'init', '--dir', ca])).code).toBe(0);
    expect(json(await cli(['issue', '--ca', ca, '--email', 'a@example.com', '--out', t.path('a'), '--json']))).toMatchObject({ mailbox: 'a@example.com', files: [`${t.path('a')}.cert.pem`, `${t.path('a')}.key.pem`, `${t.path('a')}.chain.pem`] });
    expect(json(await withPw(['enroll', '--email', 'hr@example.com', '--owner', 'people', '--json']))).toMatchObject({ name: 'hr@example.com', status: 'active' });
    expect(json(await withPw(['renew', 'hr@example.com', '--json']))).toMatchObject({ name: 'hr@example.com' });
    expect(json(await withPw(['run-due', '--json']))).toMatchObject({ scanned: 0, renewed: [], failed: [] });
    expect(json(await noPw(['audit', 'verify', '--json']))).toMatchObject({ ok: true });
    expect(json(await withPw(['dkim', 'create', '--domain', 'hr.example.com', '--owner', 'people', '--json']))).toMatchObject({ identity: { name: 'hr.example.com' } });
    expect(json(await withPw(['dkim', 'run-due', '--domain', 'hr.example.com', '--dns', '127.0.0.1:9', '--json']))).toHaveProperty('scanned', 1);
  }, 60_000);
});

describe('--help explains each option (finding 15)', () => {
  it.each(Object.keys(commands))('mailpki %s --help names every option it takes (finding 15)', async (name) => {
    const r = await cli([...name.split(' '), '--help']);
    expect(r.code).toBe(0);
    const missing = Object.keys(commands[name]!.options).filter((o) => !r.stdout.includes(`--${o}`));
    expect(missing).toEqual([]);
    expect(r.stdout.split('\n').length).toBeGreaterThan(3);
  });

  it('mailpki ca --help and mailpki cert --help list their subcommands (finding 15)', async () => {
    const ca = await cli(['ca', '--help']);
    expect(ca.code).toBe(0);
    expect(ca.stdout).toContain('mailpki ca init');
    expect(ca.stdout).toContain('mailpki ca root-crl');
    const cert = await cli(['cert', '--help']);
    expect(cert.code).toBe(0);
    expect(cert.stdout).toContain('mailpki cert show');
  });
});

describe('errors in CLI words (finding 15)', () => {
  it('a validation error names the flag in a sentence: --days must be at most 3650 (finding 15)', async () => {
    const ca = t.path('ca2');
    await cli(['ca', 'init', '--dir', ca]);
    const r = await cli(['issue', '--ca', ca, '--email', 'a@example.com', '--out', t.path('b'), '--days', '5000']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('mailpki: --days must be at most 3650 [ERR_INVALID_INPUT]\n');
  });

  it('dkim sign before DNS serves the key says "mailpki dkim run-due", not runDue (finding 15)', async () => {
    const r = await withPw(['dkim', 'sign', '--domain', 'example.com'], 'From: a@example.com\r\n\r\nhi\r\n');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('mailpki dkim run-due');
    expect(r.stderr).not.toContain('runDue');
  });

  it('the actor falls back to the OS user name, not cli:unknown (finding 15)', async () => {
    expect((await cli(['enroll', '--email', 'ops@example.com', '--owner', 'ops', '--db', db], { MAILPKI_PASSPHRASE: pw.MAILPKI_PASSPHRASE })).code).toBe(0);
    const audit = (await noPw(['audit', 'export'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
    const actors = audit.filter((a) => a.identityId === 'smime:ops@example.com').map((a) => a.actor);
    expect(actors.length).toBeGreaterThan(0);
    expect(new Set(actors)).toEqual(new Set([`cli:${userInfo().username}`]));
  });

  it('verify and sign give the same exit code (2) for the same unreadable input (finding 15)', async () => {
    const ca = t.path('ca3');
    await cli(['ca', 'init', '--dir', ca]);
    await cli(['issue', '--ca', ca, '--email', 'a@example.com', '--out', t.path('c')]);
    writeFileSync(t.path('garbage.bin'), new Uint8Array([0, 1, 2, 0x67, 0x61, 0x72, 0x62, 0x61, 0x67, 0x65]));
    const v = await cli(['verify', '--trust', `${ca}/root.pem`, '--in', t.path('garbage.bin')]);
    const s = await cli(['sign', '--cert', t.path('c.cert.pem'), '--key', t.path('c.key.pem'), '--in', t.path('garbage.bin')]);
    expect(v.stderr).toContain('[ERR_MIME_MALFORMED]');
    expect(s.stderr).toContain('[ERR_MIME_MALFORMED]');
    expect([v.code, s.code]).toEqual([2, 2]);
  });
});

describe('run-due --dry-run (finding 15)', () => {
  it('shows what would happen at --now and changes nothing (finding 15)', async () => {
    const later = new Date(Date.now() + 345 * 86_400_000).toISOString();
    const before = { audit: (await noPw(['audit', 'export'])).stdout, events: (await noPw(['events'])).stdout, list: (await noPw(['list', '--json'])).stdout };
    const dry = await noPw(['run-due', '--dry-run', '--now', later]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/nothing was changed/);
    expect(dry.stdout).toMatch(/would renew\s+smime:payments@example\.com/);
    const plan = json(await noPw(['run-due', '--dry-run', '--now', later, '--json']));
    expect(plan.steps.map((s: { action: string }) => s.action)).toContain('renew');
    expect({ audit: (await noPw(['audit', 'export'])).stdout, events: (await noPw(['events'])).stdout, list: (await noPw(['list', '--json'])).stdout }).toEqual(before);
    // The real run then does what the dry run said.
    const real = json(await withPw(['run-due', '--now', later, '--json']));
    expect(real.renewed).toEqual(plan.steps.filter((s: { action: string }) => s.action === 'renew').map((s: { identityId: string }) => s.identityId));
  }, 60_000);
});
