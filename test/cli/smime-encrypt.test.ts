/** `mailpki encrypt`, `decrypt`, `sign --to` and `verify` with key flags: exit codes, files 0600, the verdict's layers. */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/peers.js';
import { cli } from './helpers.js';

const t = tempDir('mailpki-cli-smime-enc-');
afterAll(() => t.cleanup());
const env = { CA_PW: 'ca pw', P12_PW: 'p12 pw', KEY_PW: 'key pw' };
const ca = t.path('ca');
const TEXT = 'Please pay 1,250.00 EUR to DE89 3704 0044 0532 0130 00 by Friday.';
const message = (cc = '') =>
  `From: Finance <finance@example.com>\r\nTo: approver@example.com\r\n${cc ? `Cc: ${cc}\r\n` : ''}Subject: Payment instruction 2026-118\r\n` +
  `Content-Type: text/plain; charset=utf-8\r\n\r\n${TEXT}\r\n`;
const mode = (f: string) => statSync(f).mode & 0o777;

beforeAll(async () => {
  expect((await cli(['ca', 'init', '--dir', ca, '--domains', 'example.com', '--passphrase-env', 'CA_PW'], env)).code).toBe(0);
  for (const [name, mailbox, keyType] of [
    ['approver', 'approver@example.com', 'rsa-2048'],
    ['finance', 'finance@example.com', 'ec-p256'],
    ['other', 'other@example.com', 'ec-p256'],
  ] as const) {
    const r = await cli(
      ['issue', '--ca', ca, '--email', mailbox, '--key-type', keyType, '--usage', 'dual-use', '--out', t.path(name), '--passphrase-env', 'CA_PW',
        '--p12-passphrase-env', 'P12_PW', '--key-passphrase-env', 'KEY_PW'],
      env,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  }
  writeFileSync(t.path('msg.eml'), message());
}, 60_000);

const trust = () => ['--trust', `${ca}/root.pem`, '--intermediates', t.path('approver.chain.pem')];

describe('mailpki encrypt / decrypt', () => {
  it('encrypts to a certificate (file 0600) and decrypts with --key/--cert and with --p12', async () => {
    const e = await cli(['encrypt', '--to', t.path('approver.cert.pem'), ...trust(), '--in', t.path('msg.eml'), '--out', t.path('enc.eml')]);
    expect(e.stderr).toBe('');
    expect(e.code).toBe(0);
    expect(mode(t.path('enc.eml'))).toBe(0o600);
    const eml = readFileSync(t.path('enc.eml'), 'latin1');
    expect(eml).toContain('smime-type=authEnveloped-data');
    expect(eml).toContain('Subject: [...]');
    expect(eml).not.toContain('1,250.00');

    const d = await cli(['decrypt', '--key', t.path('approver.key.pem'), '--cert', t.path('approver.cert.pem'), '--passphrase-env', 'KEY_PW', '--in', t.path('enc.eml'), '--out', t.path('dec.eml')], env);
    expect(d.stderr).toBe('');
    expect(d.code).toBe(0);
    expect(mode(t.path('dec.eml'))).toBe(0o600);
    const dec = readFileSync(t.path('dec.eml'), 'latin1');
    expect(dec).toContain(TEXT);
    expect(dec).toContain('Subject: Payment instruction 2026-118');
    const p = await cli(['decrypt', '--p12', t.path('approver.p12'), '--passphrase-env', 'P12_PW'], env, eml);
    expect(p.code).toBe(0);
    expect(p.stdout).toContain(TEXT);
  });

  it('a Cc address without a certificate is refused: exit 1, the address named, nothing written', async () => {
    const e = await cli(['encrypt', '--to', t.path('approver.cert.pem'), ...trust(), '--out', t.path('never.eml')], {}, message('audit@example.com'));
    expect(e.code).toBe(1);
    expect(e.stderr).toContain('audit@example.com');
    expect(() => statSync(t.path('never.eml'))).toThrow();
  });

  it('--cbc --pkcs1: decrypt notes that the content is not integrity-protected', async () => {
    const e = await cli(['encrypt', '--to', t.path('approver.cert.pem'), '--cbc', '--pkcs1', ...trust()], {}, message());
    expect(e.code).toBe(0);
    expect(e.stdout).toContain('smime-type=enveloped-data');
    const d = await cli(['decrypt', '--p12', t.path('approver.p12'), '--passphrase-env', 'P12_PW'], env, e.stdout);
    expect(d.code).toBe(0);
    expect(d.stderr).toMatch(/AES-256-CBC encrypted, which does not detect alterations/);
  });

  it('decrypting with a key the message is not for: exit 1; an unencrypted message: exit 2; usage: exit 2', async () => {
    const eml = readFileSync(t.path('enc.eml'), 'latin1');
    const wrong = await cli(['decrypt', '--p12', t.path('other.p12'), '--passphrase-env', 'P12_PW'], env, eml);
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toBe('');
    const plain = await cli(['decrypt', '--p12', t.path('approver.p12'), '--passphrase-env', 'P12_PW'], env, message());
    expect(plain.code).toBe(2);
    expect((await cli(['decrypt'], {}, eml)).code).toBe(2);
    expect((await cli(['encrypt'], {}, message())).code).toBe(2);
  });
});

describe('mailpki sign --to / verify with a key', () => {
  it('signs and encrypts (file 0600); verify with the key: VALID with the encrypted layer; without: exit 1 SMIME_ENCRYPTED_NO_KEY', async () => {
    const s = await cli(
      ['sign', '--p12', t.path('finance.p12'), '--passphrase-env', 'P12_PW', '--to', t.path('approver.cert.pem'), '--self-signer', ...trust(), '--in', t.path('msg.eml'), '--out', t.path('se.eml')],
      env,
    );
    expect(s.stderr).toBe('');
    expect(s.code).toBe(0);
    expect(mode(t.path('se.eml'))).toBe(0o600);
    const v = await cli(['verify', '--trust', `${ca}/root.pem`, '--p12', t.path('approver.p12'), '--passphrase-env', 'P12_PW', '--in', t.path('se.eml')], env);
    expect(v.stdout).toMatch(/^VALID: the entire message is signed by finance@example.com/);
    expect(v.stdout).toContain('Encrypted: AES-256-GCM (authenticated), key rsa-oaep');
    // RFC 9788: the obscured Subject is the sender's, per the HP-Outer record; a rewritten one is named as changed.
    expect(v.stdout).toContain('Protected Subject (the signed part): Payment instruction 2026-118; outside: [...] (obscured by the sender)');
    expect(v.code).toBe(0);
    writeFileSync(t.path('se-changed.eml'), readFileSync(t.path('se.eml'), 'latin1').replace('Subject: [...]', 'Subject: Re: new bank details'));
    const changed = await cli(['verify', '--trust', `${ca}/root.pem`, '--p12', t.path('approver.p12'), '--passphrase-env', 'P12_PW', '--in', t.path('se-changed.eml')], env);
    expect(changed.stdout).toContain('outside: Re: new bank details (CHANGED after sending; sent: [...])');
    expect(changed.stdout).toContain('warning SMIME_OUTER_HEADER_MISMATCH');
    // The sender's own copy opens with the sender's key.
    const self = await cli(['verify', '--trust', `${ca}/root.pem`, '--p12', t.path('finance.p12'), '--passphrase-env', 'P12_PW', '--in', t.path('se.eml'), '--json'], env);
    expect(self.code).toBe(0);
    expect(JSON.parse(self.stdout).layers[0]).toMatchObject({ kind: 'encrypted', opened: true, keyManagement: 'ecdh' });
    const none = await cli(['verify', '--trust', `${ca}/root.pem`, '--in', t.path('se.eml')]);
    expect(none.code).toBe(1);
    expect(none.stdout).toContain('SMIME_ENCRYPTED_NO_KEY');
  });

  it('sign --out writes 0600 too; encryption flags without --to are a usage error', async () => {
    const s = await cli(['sign', '--p12', t.path('finance.p12'), '--passphrase-env', 'P12_PW', '--in', t.path('msg.eml'), '--out', t.path('signed.eml')], env);
    expect(s.code).toBe(0);
    expect(mode(t.path('signed.eml'))).toBe(0o600);
    const u = await cli(['sign', '--p12', t.path('finance.p12'), '--passphrase-env', 'P12_PW', '--cbc'], env, message());
    expect(u.code).toBe(2);
  });
});

describe('mailpki decrypt / verify --identity (the store keeps the decryption-key history)', () => {
  it('opens mail with every key the identity kept, audited as --actor', async () => {
    const db = t.path('inv.db');
    const lenv = { MAILPKI_PASSPHRASE: 'store passphrase', USER: 'alice' };
    expect((await cli(['init', '--domains', 'example.com', '--db', db], lenv)).code).toBe(0);
    expect((await cli(['enroll', '--email', 'approver@example.com', '--owner', 'finance', '--db', db], lenv)).code).toBe(0);
    // The identity's certificate, as a sender would have it.
    const { openSqliteStore } = await import('../../src/node/index.js');
    const store = await openSqliteStore(db, { create: false });
    const credential = await store.transaction(async (tx) => (await tx.getCredential((await tx.getIdentity('smime:approver@example.com'))!.currentCredentialId!))!);
    await store.close();
    const { encodePem } = await import('../../src/internal/pem.js');
    writeFileSync(t.path('id.cert.pem'), encodePem('CERTIFICATE', credential.certificate!));
    const e = await cli(['encrypt', '--to', t.path('id.cert.pem')], {}, message());
    expect(e.code).toBe(0);
    // Renewal rekeys: mail encrypted to the old certificate still opens.
    expect((await cli(['renew', 'approver@example.com', '--db', db], lenv)).code).toBe(0);
    const d = await cli(['decrypt', '--identity', 'approver@example.com', '--db', db, '--actor', 'mail-gateway'], lenv, e.stdout);
    expect(d.stderr).toBe('');
    expect(d.code).toBe(0);
    expect(d.stdout).toContain(TEXT);
    const audit = await cli(['audit', 'export', '--db', db, '--json'], lenv);
    expect(audit.stdout).toContain('decryption-keys.used');
    expect(audit.stdout).toContain('mail-gateway');
  }, 60_000);

  it('repeated key flags: two identities of one store and a .p12, each --passphrase-env opening the one before it', async () => {
    const db = t.path('inv2.db');
    const lenv = { STORE_PW: 'store pw 2', P12_PW: env.P12_PW, USER: 'alice' };
    expect((await cli(['init', '--domains', 'example.com', '--db', db, '--passphrase-env', 'STORE_PW'], lenv)).code).toBe(0);
    const { openSqliteStore } = await import('../../src/node/index.js');
    const { encodePem } = await import('../../src/internal/pem.js');
    for (const mailbox of ['ap@example.com', 'treasury@example.com']) {
      expect((await cli(['enroll', '--email', mailbox, '--owner', 'finance', '--db', db, '--passphrase-env', 'STORE_PW'], lenv)).code).toBe(0);
      const store = await openSqliteStore(db, { create: false });
      const credential = await store.transaction(async (tx) => (await tx.getCredential((await tx.getIdentity(`smime:${mailbox}`))!.currentCredentialId!))!);
      await store.close();
      writeFileSync(t.path(`${mailbox}.pem`), encodePem('CERTIFICATE', credential.certificate!));
    }
    const keys = ['--identity', 'ap@example.com', '--passphrase-env', 'STORE_PW', '--p12', t.path('other.p12'), '--passphrase-env', 'P12_PW', '--identity', 'treasury@example.com', '--db', db];
    for (const [cert, to] of [[t.path('ap@example.com.pem'), 'ap@example.com'], [t.path('treasury@example.com.pem'), 'treasury@example.com'], [t.path('other.cert.pem'), 'other@example.com']]) {
      const e = await cli(['encrypt', '--to', cert!], {}, message().replace('To: approver@example.com', `To: ${to}`));
      expect(e.code).toBe(0);
      const d = await cli(['decrypt', ...keys], lenv, e.stdout);
      expect([d.code, d.stderr]).toEqual([0, '']);
      expect(d.stdout).toContain(TEXT);
    }
    // The identities share one store, so one passphrase: two different ones is a usage error, as is a stray one.
    const two = await cli(['decrypt', '--identity', 'ap@example.com', '--passphrase-env', 'STORE_PW', '--identity', 'treasury@example.com', '--passphrase-env', 'P12_PW', '--db', db], lenv, message());
    expect([two.code, two.stderr]).toEqual([2, 'mailpki: the --identity options share one store (--db) and so one passphrase; got STORE_PW and P12_PW [ERR_USAGE]\n']);
    const stray = await cli(['decrypt', '--passphrase-env', 'STORE_PW', '--identity', 'ap@example.com', '--passphrase-env', 'STORE_PW', '--db', db], lenv, message());
    expect(stray.code).toBe(2);
    expect(stray.stderr).toContain('--passphrase-env STORE_PW follows no --p12, --key or --identity of its own');
  }, 120_000);
});
