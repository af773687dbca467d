import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithPeers, runStatus, tempDir } from '../helpers/peers.js';
import { cli, cliProcess } from './helpers.js';

const t = tempDir('mailpki-cli-smime-');
afterAll(() => t.cleanup());
const env = { CA_PW: 'ca pw', P12_PW: 'p12 pw', KEY_PW: 'key pw' };
const ca = t.path('ca');
const message =
  'From: Treasury <payments@example.com>\r\nTo: approvers@example.com\r\nSubject: Payment instruction 2026-118\r\n' +
  'Content-Type: text/plain; charset=utf-8\r\n\r\nPlease pay 1,250.00 EUR to DE89 3704 0044 0532 0130 00 by Friday.\r\n';

beforeAll(async () => {
  expect((await cli(['ca', 'init', '--dir', ca, '--domains', 'example.com', '--passphrase-env', 'CA_PW'], env)).code).toBe(0);
  const r = await cli(
    ['issue', '--ca', ca, '--email', 'payments@example.com', '--key-type', 'rsa-2048', '--out', t.path('pay'), '--passphrase-env', 'CA_PW',
      '--p12-passphrase-env', 'P12_PW', '--key-passphrase-env', 'KEY_PW'],
    env,
  );
  expect(r.code).toBe(0);
  writeFileSync(t.path('msg.eml'), message);
});

describe('mailpki sign / verify', () => {
  it('signs with --cert/--key (encrypted key) and verifies: exit 0, JSON verdict', async () => {
    const s = await cli(['sign', '--cert', t.path('pay.cert.pem'), '--key', t.path('pay.key.pem'), '--chain', t.path('pay.chain.pem'),
      '--passphrase-env', 'KEY_PW', '--in', t.path('msg.eml'), '--out', t.path('signed.eml')], env);
    expect(s.stderr).toBe('');
    expect(s.code).toBe(0);
    const v = await cli(['verify', '--trust', `${ca}/root.pem`, '--in', t.path('signed.eml'), '--json']);
    expect(v.code).toBe(0);
    const verdict = JSON.parse(v.stdout);
    expect(verdict).toMatchObject({ valid: true, signedScope: 'entire', from: { address: 'payments@example.com' }, problems: [] });
    expect(verdict.signers[0]).toMatchObject({ ok: true, matchesFrom: true, emails: ['payments@example.com'] });
    expect(verdict.signers[0].signature).toMatchObject({ ok: true, digestAlgorithm: 'SHA-256', signatureAlgorithm: 'rsa-pkcs1-sha256' });
    const human = await cli(['verify', '--trust', `${ca}/root.pem`, '--in', t.path('signed.eml')]);
    expect(human.stdout).toMatch(/^VALID: the entire message is signed by payments@example.com/);
  });

  it('signs from a .p12 with PSS and SHA-384, opaque, through stdin and stdout', async () => {
    const s = await cli(['sign', '--p12', t.path('pay.p12'), '--passphrase-env', 'P12_PW', '--pss', '--digest', 'sha384', '--opaque'], env, message);
    expect(s.code).toBe(0);
    expect(s.stdout).toContain('application/pkcs7-mime; smime-type=signed-data');
    const v = await cli(['verify', '--trust', `${ca}/root.pem`, '--json'], {}, s.stdout);
    expect(JSON.parse(v.stdout).signers[0].signature.signatureAlgorithm).toBe('rsa-pss-sha384');
    expect(v.code).toBe(0);
  });

  it('a changed amount is NOT VALID: exit 1 with the problem code', async () => {
    const signed = readFileSync(t.path('signed.eml'), 'latin1').replace('1,250.00', '9,250.00');
    const v = await cli(['verify', '--trust', `${ca}/root.pem`], {}, signed);
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(/^NOT VALID/);
    expect(v.stdout).toContain('SMIME_SIGNATURE_INVALID');
  });

  it('a different trust anchor is NOT VALID (exit 1); an unsigned message too', async () => {
    const other = t.path('other-ca');
    await cli(['ca', 'init', '--dir', other]);
    const v = await cli(['verify', '--trust', `${other}/root.pem`, '--in', t.path('signed.eml'), '--json']);
    expect(v.code).toBe(1);
    expect(JSON.parse(v.stdout).problems.map((p: { code: string }) => p.code)).toContain('SMIME_CHAIN_INVALID');
    const u = await cli(['verify', '--trust', `${ca}/root.pem`, '--json'], {}, message);
    expect(u.code).toBe(1);
    expect(JSON.parse(u.stdout)).toMatchObject({ valid: false, signedScope: 'none' });
  });

  it('--at checks an archived message at another time', async () => {
    const v = await cli(['verify', '--trust', `${ca}/root.pem`, '--in', t.path('signed.eml'), '--at', '2001-01-01T00:00:00Z', '--json']);
    expect(v.code).toBe(1);
    expect(JSON.stringify(JSON.parse(v.stdout).signers[0].chain.problems)).toContain('CHAIN_NOT_YET_VALID');
  });

  it('usage and unreadable input exit 2', async () => {
    expect((await cli(['verify', '--in', t.path('signed.eml')])).code).toBe(2);
    expect((await cli(['verify', '--trust', `${ca}/root.pem`, '--at', 'yesterday'], {}, message)).code).toBe(2);
    expect((await cli(['verify', '--trust', t.path('msg.eml')], {}, message)).code).toBe(2);
    expect((await cli(['sign', '--cert', t.path('pay.cert.pem')], {}, message)).code).toBe(2);
    expect((await cli(['sign', '--p12', t.path('pay.p12'), '--passphrase-env', 'KEY_PW'], env, message)).stderr).toContain('ERR_PKCS12_MAC_INVALID');
    expect((await cli(['sign', '--cert', t.path('pay.cert.pem'), '--key', t.path('pay.key.pem'), '--digest', 'md5'], env, message)).code).toBe(2);
  });

  it('the real process pipes sign into verify', () => {
    const s = cliProcess(['sign', '--p12', t.path('pay.p12'), '--passphrase-env', 'P12_PW'], { env, input: message });
    expect(s.code).toBe(0);
    const v = cliProcess(['verify', '--trust', `${ca}/root.pem`], { input: Buffer.from(s.stdout, 'latin1') });
    expect(v.stdout).toMatch(/^VALID/);
    expect(v.code).toBe(0);
  });

  describeWithPeers('OpenSSL verifies what the CLI signs', ['openssl'], () => {
    it('openssl smime -verify', () => {
      const r = runStatus('openssl', ['smime', '-verify', '-in', t.path('signed.eml'), '-CAfile', `${ca}/root.pem`, '-out', '/dev/null']);
      expect(r.stderr).toContain('Verification successful');
    });
  });
});
