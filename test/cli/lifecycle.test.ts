import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/peers.js';
import { cli } from './helpers.js';
import { importDecryptionKeysFromPkcs12 } from '../../src/cms/index.js';
import { encryptMessage } from '../../src/smime/index.js';

const t = tempDir('mailpki-cli-life-');
afterAll(() => t.cleanup());
const db = t.path('inv.db');
const env = { MAILPKI_PASSPHRASE: 'store passphrase', USER: 'alice' };
const run = (args: string[], stdin = '') => cli([...args, '--db', db], env, stdin);

describe('mailpki lifecycle commands over SQLite', () => {
  beforeAll(async () => {
    const r = await run(['init', '--domains', 'example.com']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('init refuses to overwrite, and needs the passphrase', async () => {
    expect((await run(['init'])).code).toBe(2);
    const noPw = await cli(['init', '--db', t.path('other.db')], {});
    expect(noPw.code).toBe(2);
    expect(noPw.stderr).toContain('MAILPKI_PASSPHRASE');
    expect(existsSync(t.path('other.db'))).toBe(false);
  });

  it('enroll, list as a table and as JSON', async () => {
    expect((await run(['enroll', '--email', 'payments@example.com', '--owner', 'treasury', '--contact', 'oncall@example.com', '--purpose', 'payment instructions'])).code).toBe(0);
    expect((await run(['enroll', '--email', 'hr@example.com', '--owner', 'people'])).code).toBe(0);
    const table = await run(['list']);
    expect(table.stdout.split('\n')[0]).toMatch(/^IDENTITY\s+OWNER\s+EXPIRES\s+DAYS LEFT\s+STATUS$/);
    expect(table.stdout).toMatch(/payments@example\.com\s+treasury\s+\d{4}-\d\d-\d\d\s+36[45]\s+active/);
    const json = JSON.parse((await run(['list', '--owner', 'treasury', '--json'])).stdout);
    expect(json.map((r: { name: string }) => r.name)).toEqual(['payments@example.com']);
    expect((await run(['list', '--expiring-within', '30d'])).stdout).toBe('No identities match.\n');
  });

  it('policy refusals are one line, exit 2', async () => {
    const r = await run(['enroll', '--email', 'ceo@evil.test', '--owner', 'treasury']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('sign --identity signs with the current certificate; verify accepts it', async () => {
    const msg = 'From: payments@example.com\r\nTo: ap@example.com\r\nSubject: Pay\r\n\r\nPay 5 EUR.\r\n';
    const s = await run(['sign', '--identity', 'payments@example.com'], msg);
    expect(s.code).toBe(0);
    writeFileSync(t.path('signed.eml'), s.stdout, 'latin1');
    const v = await cli(['verify', '--trust', `${db}.ca/root.pem`, '--in', t.path('signed.eml'), '--revocation', 'off']);
    expect(v.stdout).toMatch(/^VALID/);
  });

  it('run-due in the renewal window renews; a second run does nothing', async () => {
    const later = new Date(Date.now() + 340 * 86_400_000).toISOString();
    const first = await run(['run-due', '--now', later]);
    expect(first.stdout).toMatch(/2 renewed/);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const second = await run(['run-due', '--now', later]);
    expect(second.stdout).toMatch(/^Scanned 0 due identities: 0 renewed/);
  });

  it('renew and revoke by mailbox, recorded with the actor', async () => {
    expect((await run(['renew', 'hr@example.com'])).code).toBe(0);
    const r = await run(['revoke', 'hr@example.com', '--reason', 'cessationOfOperation', '--actor', 'bob@example.com']);
    expect(r.code).toBe(0);
    expect((await run(['list', '--json'])).stdout).toContain('"revoked"');
    expect((await run(['revoke', 'hr@example.com'])).code).toBe(2);
    expect((await run(['renew', 'nobody@example.com'])).stderr).toContain('ERR_IDENTITY_NOT_FOUND');
  });

  it('audit verify and export; events lists what owners were told', async () => {
    const v = await run(['audit', 'verify']);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^Audit log intact: \d+ hash-chained records/);
    const lines = (await run(['audit', 'export'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.actor)).toContain('bob@example.com');
    expect(lines.map((l) => l.actor)).toContain('cli:alice');
    const ev = (await run(['events'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(ev.map((e) => e.type)).toEqual(expect.arrayContaining(['identity.enrolled', 'certificate.issued', 'certificate.renewed', 'certificate.revoked']));
    expect(JSON.stringify(ev)).not.toMatch(/PRIVATE KEY|store passphrase/);
  });
});

describe('mailpki init --policy', () => {
  const pdb = t.path('policy.db');
  const prun = (args: string[]) => cli([...args, '--db', pdb], env);

  it('checks the file before creating anything', async () => {
    writeFileSync(t.path('bad-policy.json'), JSON.stringify({ allowedDomainsByOwner: { treasury: ['not a domain'] } }));
    const bad = await prun(['init', '--policy', t.path('bad-policy.json')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('ERR_INVALID_INPUT');
    expect(bad.stderr).toContain('allowedDomainsByOwner');
    expect(existsSync(pdb)).toBe(false);
    expect(existsSync(`${pdb}.ca`)).toBe(false);
    writeFileSync(t.path('hook-policy.json'), JSON.stringify({ approval: 'yes' }));
    expect((await prun(['init', '--policy', t.path('hook-policy.json')])).stderr).toContain('only be set in code');
  });

  it('applies owners → domains and validity to every later command', async () => {
    writeFileSync(t.path('policy.json'), JSON.stringify({ allowedDomainsByOwner: { treasury: ['example.com'] }, validityDays: 90 }));
    const init = await prun(['init', '--policy', t.path('policy.json')]);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toContain('(owners: treasury)');
    expect(existsSync(`${pdb}.policy.json`)).toBe(true);
    const ok = await prun(['enroll', '--email', 'payments@example.com', '--owner', 'treasury']);
    expect(ok.code, ok.stderr).toBe(0);
    const [row] = JSON.parse((await prun(['list', '--json'])).stdout);
    const days = (new Date(row.notAfter).getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(88);
    expect(days).toBeLessThan(91);
    const denied = await prun(['enroll', '--email', 'promo@example.com', '--owner', 'marketing']);
    expect(denied.code).toBe(2);
    expect(denied.stderr).toMatch(/marketing/);
    const events = (await prun(['events'])).stdout.trim().split('\n').map((l) => JSON.parse(l).type);
    expect(events).toContain('policy.denied');
  });
});

describe('mailpki identity keys / export-keys', () => {
  const kdb = t.path('keys.db');
  const kenv = { MAILPKI_PASSPHRASE: 'store passphrase', USER: 'alice', P12_PW: 'p12 passphrase 1' };
  const krun = (args: string[]) => cli([...args, '--db', kdb], kenv);

  it('enroll --use encryption; keys lists the history; export-keys writes a 0600 .p12 atomically, audited by the named actor; missing flags are usage errors', async () => {
    expect((await krun(['init', '--domains', 'example.com'])).code).toBe(0);
    expect((await krun(['enroll', '--email', 'legal@example.com', '--owner', 'legal', '--use', 'encryption', '--key-type', 'rsa-2048'])).code).toBe(0);
    expect((await krun(['enroll', '--email', 'sig@example.com', '--owner', 'legal', '--use', 'signing'])).code).toBe(0);
    expect((await krun(['enroll', '--email', 'x@example.com', '--owner', 'legal', '--use', 'sealing'])).code).toBe(2);
    const table = await krun(['identity', 'keys', 'legal@example.com']);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^SERIAL\s+CREATED\s+RETAIN-UNTIL\s+DESTROYED\s+OWNER\s+LIFE-ENDED$/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^[0-9a-f]+\s+\d{4}-\d\d-\d\dT\S+\s+\d{4}-\d\d-\d\dT\S+\s+-\s+legal\s+-$/);
    expect((await krun(['identity', 'keys', 'sig@example.com'])).stdout).toContain('no decryption-key history');
    const json = JSON.parse((await krun(['identity', 'keys', 'legal@example.com', '--json'])).stdout);
    expect(json).toHaveLength(1);
    // Read only: no passphrase needed.
    expect((await cli(['identity', 'keys', 'legal@example.com', '--db', kdb, '--json'], {})).stdout).toBe(JSON.stringify(json, null, 2) + '\n');
    expect((await cli(['identity', 'keys', 'nobody@example.com', '--db', kdb], {})).code).toBe(2);

    const out = t.path('legal.p12');
    expect((await krun(['identity', 'export-keys', 'legal@example.com', '--out', out, '--passphrase-env', 'P12_PW', '--reason', 'SEC-1'])).code).toBe(2);
    expect(existsSync(out)).toBe(false);
    expect((await krun(['identity', 'export-keys', 'legal@example.com', '--out', out, '--passphrase-env', 'NOPE', '--actor', 'officer', '--reason', 'SEC-1'])).code).toBe(2);
    const r = await krun(['identity', 'export-keys', 'legal@example.com', '--out', out, '--passphrase-env', 'P12_PW', '--actor', 'officer', '--reason', 'SEC-1']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(readFileSync(out)[0]).toBe(0x30);
    const audit = (await krun(['audit', 'export'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(audit.at(-1)).toMatchObject({ actor: 'officer', action: 'decryption-keys.exported', reason: 'SEC-1' });
    expect(JSON.stringify(audit)).not.toContain('p12 passphrase 1');
    expect((await krun(['identity', 'export-keys', 'sig@example.com', '--out', t.path('sig.p12'), '--passphrase-env', 'P12_PW', '--actor', 'officer', '--reason', 'SEC-2'])).code).toBe(2);
    expect(existsSync(t.path('sig.p12'))).toBe(false);
  }, 120_000);
});

describe('mailpki identity export-keys: a live signing key, earlier owners, and the recovery file read back by decrypt --p12 (outside review of issue 12)', () => {
  const rdb = t.path('recovery.db');
  const renv = { MAILPKI_PASSPHRASE: 'store passphrase', USER: 'alice', P12_PW: 'p12 passphrase 2' };
  const rrun = (args: string[], stdin?: string | Uint8Array) => cli([...args, '--db', rdb], renv, stdin);
  const exportKeys = (addr: string, out: string, ...extra: string[]) =>
    rrun(['identity', 'export-keys', addr, '--out', out, '--passphrase-env', 'P12_PW', '--actor', 'officer', '--reason', 'SEC-9', ...extra]);

  it('a dual-use identity: refused (exit 2, ERR_KEY_EXPORT_REFUSED, no file) unless --include-signing-key, which the audit records', async () => {
    expect((await rrun(['init', '--domains', 'example.com'])).code).toBe(0);
    expect((await rrun(['enroll', '--email', 'cfo@example.com', '--owner', 'treasury'])).code).toBe(0);
    const out = t.path('cfo.p12');
    const refused = await exportKeys('cfo@example.com', out);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^mailpki: the decryption key of cfo@example\.com also signs for its current certificate \([0-9a-f]+, one certificate for signing and encryption\).* or pass --include-signing-key to export it anyway \(audited as such\) \[ERR_KEY_EXPORT_REFUSED\]\n$/);
    expect(existsSync(out)).toBe(false);
    const ok = await exportKeys('cfo@example.com', out, '--include-signing-key');
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('it may include a key that signs for the current certificate');
    const audit = (await rrun(['audit', 'export'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(audit.at(-1)).toMatchObject({ action: 'decryption-keys.exported', after: { liveSigningKeys: [expect.stringMatching(/^[0-9a-f]+$/)] } });
  }, 120_000);

  it('two keys after a renewal: the export opens mail to either with decrypt --p12; a team that owned no earlier life gets nothing', async () => {
    expect((await rrun(['enroll', '--email', 'legal@example.com', '--owner', 'legal', '--use', 'encryption'])).code).toBe(0);
    expect((await rrun(['renew', 'legal@example.com'])).code).toBe(0);
    const out = t.path('legal-history.p12');
    const r = await exportKeys('legal@example.com', out);
    expect(r.code, r.stderr).toBe(0);
    const keys = await importDecryptionKeysFromPkcs12(readFileSync(out), 'p12 passphrase 2');
    expect(keys).toHaveLength(2);
    for (const k of keys) {
      const mail = await encryptMessage('To: legal@example.com\r\nSubject: s\r\nContent-Type: text/plain\r\n\r\nfor serial ' + k.certificate.serialNumber + '\r\n', [k.certificate.der]);
      const d = await rrun(['decrypt', '--p12', out, '--passphrase-env', 'P12_PW'], mail);
      expect(d.code, d.stderr).toBe(0);
      expect(d.stdout).toContain(`for serial ${k.certificate.serialNumber}`);
    }
    const none = await exportKeys('legal@example.com', t.path('none.p12'), '--previous-owner', 'treasury');
    expect(none.code).toBe(2);
    expect(none.stderr).toBe('mailpki: legal@example.com holds no decryption key of an earlier life owned by treasury (use encryption; destroyed keys are gone) [ERR_IDENTITY_STATE]\n');
    expect(existsSync(t.path('none.p12'))).toBe(false);
  }, 120_000);
});

describe('mailpki enroll --separate-certificates / identity show / revoke --certificate', () => {
  const sdb = t.path('separate.db');
  const srun = (args: string[]) => cli([...args, '--db', sdb], env);
  beforeAll(async () => {
    expect((await srun(['init', '--domains', 'example.com'])).code).toBe(0);
  });

  it('enrols a signing and an encryption certificate, shows both, revokes only the encryption one, renews it', async () => {
    const e = await srun(['enroll', '--email', 'pair@example.com', '--owner', 'treasury', '--separate-certificates', '--key-type', 'rsa-2048']);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout).toMatch(/^Enrolled pair@example\.com for treasury; signing and encryption certificates, the first expires \d{4}-/);
    const show = await srun(['identity', 'show', 'pair@example.com']);
    expect(show.code, show.stderr).toBe(0);
    const lines = show.stdout.split('\n');
    expect(lines[1]).toBe('  owner treasury, status active, use both, separate signing and encryption certificates, key rsa-2048');
    expect(lines[4]).toMatch(/^ROLE\s+SERIAL\s+STATUS\s+NOT-BEFORE\s+NOT-AFTER\s+HELD$/);
    expect(lines.slice(5, 7).map((l) => l.split(/\s+/).filter((x, i) => i !== 1 && i !== 3 && i !== 4))).toEqual([
      ['signing', 'current', 'yes'],
      ['encryption', 'current', 'yes'],
    ]);
    const bad = await srun(['revoke', 'pair@example.com', '--reason', 'keyCompromise', '--certificate', 'both']);
    expect(bad.code).toBe(2);
    const r = await srun(['revoke', 'pair@example.com', '--reason', 'keyCompromise', '--certificate', 'encryption']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('Revoked the encryption certificate of pair@example.com (keyCompromise); status active\n');
    const n = await srun(['renew', 'pair@example.com', '--certificate', 'encryption']);
    expect(n.code, n.stderr).toBe(0);
    const json = JSON.parse((await srun(['identity', 'show', 'pair@example.com', '--json'])).stdout);
    expect(json.certificates.map((c: { role: string; status: string; held: boolean }) => `${c.role} ${c.status} ${c.held}`)).toEqual([
      'signing current true',
      'encryption revoked false',
      'encryption current true',
    ]);
    expect(json.certificates[0].certificate).toBeUndefined();
    const one = await srun(['enroll', '--email', 'one@example.com', '--owner', 'treasury']);
    expect(one.code).toBe(0);
    const wrong = await srun(['revoke', 'one@example.com', '--reason', 'superseded', '--certificate', 'signing']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('holds one certificate');
    expect((await srun(['identity', 'show', 'nobody@example.com'])).code).toBe(2);
  });
});

describe('mailpki enroll with X25519 encryption keys', () => {
  const xdb = t.path('x25519.db');
  const xrun = (args: string[], stdin = '') => cli([...args, '--db', xdb], env, stdin);
  beforeAll(async () => {
    writeFileSync(t.path('x25519-policy.json'), JSON.stringify({ allowedKeyTypes: ['ec-p256', 'ed25519', 'x25519'] }));
    expect((await xrun(['init', '--domains', 'example.com', '--policy', t.path('x25519-policy.json')])).code).toBe(0);
  });

  it('--use encryption --key-type x25519 and --encryption-key-type x25519 enrol; mail encrypted to them opens with decrypt --identity; --key-type x25519 for signing is a usage error naming why', async () => {
    const e = await xrun(['enroll', '--email', 'legal@example.com', '--owner', 'legal', '--use', 'encryption', '--key-type', 'x25519']);
    expect(e.code, e.stderr).toBe(0);
    const p = await xrun(['enroll', '--email', 'pay@example.com', '--owner', 'treasury', '--key-type', 'ed25519', '--encryption-key-type', 'x25519']);
    expect(p.code, p.stderr).toBe(0);
    const show = (await xrun(['identity', 'show', 'pay@example.com'])).stdout.split('\n');
    expect(show[1]).toBe('  owner treasury, status active, use both, separate signing and encryption certificates, key ed25519 (encryption x25519)');

    for (const mailbox of ['legal@example.com', 'pay@example.com']) {
      const certs = JSON.parse((await xrun(['identity', 'show', mailbox, '--json'])).stdout);
      expect(certs.identity.attributes?.encryptionKeyType ?? certs.identity.keyType).toBe('x25519');
      const p12 = t.path(`${mailbox}.p12`);
      const x = await cli(['identity', 'export-keys', mailbox, '--out', p12, '--passphrase-env', 'P12', '--actor', 'officer', '--reason', 'test', '--db', xdb], { ...env, P12: 'p12 pass' });
      expect(x.code, x.stderr).toBe(0);
      const [key] = await importDecryptionKeysFromPkcs12(readFileSync(p12), 'p12 pass');
      expect(key!.privateKey.algorithm.name).toBe('X25519');
      const eml = await encryptMessage(`From: a@example.com\r\nTo: ${mailbox}\r\nSubject: s\r\n\r\nsealed for ${mailbox}\r\n`, [key!.certificate.der]);
      const d = await xrun(['decrypt', '--identity', mailbox, '--actor', 'gateway'], new TextDecoder('latin1').decode(eml));
      expect(d.code, d.stderr).toBe(0);
      expect(d.stdout).toContain(`sealed for ${mailbox}`);
    }

    const bad = await xrun(['enroll', '--email', 'sign@example.com', '--owner', 'treasury', '--key-type', 'x25519']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--key-type.*an X25519 key cannot sign/);
    expect((await xrun(['enroll', '--email', 'sign@example.com', '--owner', 'treasury', '--encryption-key-type', 'x25519', '--use', 'encryption'])).code).toBe(2);
  });
});
