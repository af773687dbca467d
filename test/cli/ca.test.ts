import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate } from '../../src/certs/certificate.js';
import { describeWithPeers, runStatus, tempDir } from '../helpers/peers.js';
import { cli, cliProcess } from './helpers.js';

const t = tempDir('mailpki-cli-');
afterAll(() => t.cleanup());
const env = { CA_PW: 'ca passphrase', P12_PW: 'p12 passphrase', KEY_PW: 'key passphrase' };

describe('mailpki ca init / issue / cert show', () => {
  const ca = t.path('ca');
  beforeAll(async () => {
    const r = await cli(['ca', 'init', '--dir', ca, '--name', 'Example Mail', '--domains', 'example.com', '--passphrase-env', 'CA_PW'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('writes the trust anchor and the chain', () => {
    expect(readFileSync(`${ca}/root.pem`, 'utf8')).toContain('BEGIN CERTIFICATE');
    expect(readFileSync(`${ca}/chain.pem`, 'utf8').match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(parseCertificate(readFileSync(`${ca}/root.pem`, 'utf8')).subject.rdns.flat().map((a) => a.value)).toEqual([
      'Example Mail',
      'Example Mail Root',
    ]);
  });

  it('issues with every output file, the .p12 included', async () => {
    const out = t.path('payments');
    const r1 = await cli(
      ['issue', '--ca', ca, '--email', 'payments@example.com', '--profile', 'multipurpose', '--key-type', 'rsa-2048', '--days', '90',
        '--out', out, '--passphrase-env', 'CA_PW', '--p12-passphrase-env', 'P12_PW', '--key-passphrase-env', 'KEY_PW'],
      env,
    );
    expect(r1.stderr).toBe('');
    expect(r1.code).toBe(0);
    expect(r1.stdout).toContain('Issued multipurpose S/MIME certificate for payments@example.com');
    for (const f of ['cert.pem', 'key.pem', 'chain.pem', 'p12']) expect(existsSync(`${out}.${f}`)).toBe(true);
    expect(readFileSync(`${out}.key.pem`, 'utf8')).toContain('BEGIN ENCRYPTED PRIVATE KEY');
    const cert = parseCertificate(readFileSync(`${out}.cert.pem`, 'utf8'));
    expect(cert.notAfter.getTime() - cert.notBefore.getTime()).toBe(90 * 86_400_000);
    expect(cert.publicKey).toMatchObject({ kind: 'rsa', bits: 2048 });
  });

  it('shows a certificate for a person and as JSON', async () => {
    const out = t.path('show');
    await cli(['issue', '--ca', ca, '--email', 'ap@example.com', '--out', out, '--passphrase-env', 'CA_PW'], env);
    const text = await cli(['cert', 'show', `${out}.cert.pem`]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('Emails:       ap@example.com');
    expect(text.stdout).toContain('S/MIME BR mailbox-validated, strict');
    const json = await cli(['cert', 'show', `${out}.cert.pem`, '--json']);
    const d = JSON.parse(json.stdout);
    expect(d).toMatchObject({ emails: ['ap@example.com'], smimeProfile: 'strict', key: { kind: 'ec', curve: 'P-256' }, isCA: false });
    const stdin = await cli(['cert', 'show', '-', '--json'], {}, readFileSync(`${out}.cert.pem`));
    expect(JSON.parse(stdin.stdout).serialNumber).toBe(d.serialNumber);
  });

  describeWithPeers('what the CLI writes is what OpenSSL reads', ['openssl'], () => {
    it('the .p12 opens with openssl pkcs12 and the chain verifies for smimesign', () => {
      const out = t.path('payments');
      const p12 = runStatus('openssl', ['pkcs12', '-in', `${out}.p12`, '-passin', `pass:${env.P12_PW}`, '-nodes', '-info']);
      expect(p12.status).toBe(0);
      expect(p12.stdout).toContain('BEGIN PRIVATE KEY');
      expect(p12.stdout.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
      const v = runStatus('openssl', ['verify', '-purpose', 'smimesign', '-CAfile', `${ca}/root.pem`, '-untrusted', `${out}.chain.pem`, `${out}.cert.pem`]);
      expect(v.stdout).toContain('OK');
      const k = runStatus('openssl', ['pkey', '-in', `${out}.key.pem`, '-passin', `pass:${env.KEY_PW}`, '-noout']);
      expect(k.status).toBe(0);
    });
  });
});

describe('mailpki error exits', () => {
  it('exit 2 and one line on stderr for usage mistakes', async () => {
    for (const args of [[], ['frobnicate'], ['ca', 'init'], ['issue', '--ca', t.path('nope')], ['cert', 'show'], ['ca', 'init', '--dir', t.path('x'), '--key-type', 'dsa'], ['issue', '--bogus']]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      if (args.length) expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
  });

  it('names the missing environment variable, never echoing a value', async () => {
    const r = await cli(['ca', 'init', '--dir', t.path('y'), '--passphrase-env', 'NOT_SET_ANYWHERE']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('NOT_SET_ANYWHERE');
    expect(existsSync(t.path('y'))).toBe(false);
  });

  it('refuses a mailbox outside the CA domains, and a wrong CA passphrase', async () => {
    const ca = t.path('ca2');
    expect((await cli(['ca', 'init', '--dir', ca, '--domains', 'example.com', '--passphrase-env', 'CA_PW'], env)).code).toBe(0);
    const bad = await cli(['issue', '--ca', ca, '--email', 'ceo@evil.test', '--out', t.path('e'), '--passphrase-env', 'CA_PW'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/evil\.test.*ERR_CA_MAILBOX_NOT_ALLOWED/);
    const wrong = await cli(['issue', '--ca', ca, '--email', 'a@example.com', '--out', t.path('e'), '--passphrase-env', 'KEY_PW'], env);
    expect(wrong.stderr).toContain('ERR_PASSPHRASE_WRONG');
    expect(existsSync(t.path('e.cert.pem'))).toBe(false);
  });

  it('a garbage certificate is bad input (2), with a stack only under --debug', async () => {
    writeFileSync(t.path('junk.pem'), 'not a certificate');
    const r = await cli(['cert', 'show', t.path('junk.pem')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('mailpki: not a certificate: neither PEM ("-----BEGIN CERTIFICATE-----") nor DER [ERR_CERT_MALFORMED]\n');
    const d = await cli(['cert', 'show', t.path('junk.pem'), '--debug']);
    expect(d.stderr).toContain('at ');
  });

  it('the real process exits with those codes', () => {
    expect(cliProcess(['--version']).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const r = cliProcess(['cert', 'show', t.path('missing.pem')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('ERR_IO');
  });
});
