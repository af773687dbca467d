import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { describeWithPeers, runStatus, tempDir, waitForOutput } from '../helpers/peers.js';
import { cli } from './helpers.js';

const t = tempDir('mailpki-cli-rev-');
const env = { CA_PW: 'ca pw' };
const BIN = fileURLToPath(new URL('../../src/cli/bin.ts', import.meta.url));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

let server: ChildProcess | undefined;
let port = 0;
const ca = t.path('ca');

async function startServer(): Promise<void> {
  server = spawn(process.execPath, ['--import', 'tsx', BIN, 'serve', '--ca', ca, '--port', String(port), '--passphrase-env', 'CA_PW'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await waitForOutput(server, /Serving/);
}

beforeAll(async () => {
  port = await freePort();
  expect((await cli(['ca', 'init', '--dir', ca, '--domains', 'example.com', '--base-url', `http://127.0.0.1:${port}`, '--passphrase-env', 'CA_PW'], env)).code).toBe(0);
  for (const who of ['pay', 'other'])
    expect((await cli(['issue', '--ca', ca, '--email', `${who}@example.com`, '--out', t.path(who), '--passphrase-env', 'CA_PW'], env)).code).toBe(0);
  await startServer();
}, 120_000);

afterAll(async () => {
  server?.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  t.cleanup();
});

describe('mailpki serve / status / revoke / crl', () => {
  it('status is GOOD (exit 0), by OCSP from the running server', async () => {
    const r = await cli(['status', '--cert', t.path('pay.cert.pem'), '--issuer', `${ca}/issuing.pem`, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'good', source: 'ocsp', url: `http://127.0.0.1:${port}/ocsp` });
  });

  it('finds the issuer through AIA caIssuers when --issuer is not given', async () => {
    const r = await cli(['status', '--cert', t.path('pay.cert.pem')]);
    expect(r.stdout).toMatch(/^GOOD: CN=pay@example.com/);
    expect(r.code).toBe(0);
  });

  it('revoke --cert, and the running server answers REVOKED (exit 1) by OCSP and by CRL', async () => {
    const rv = await cli(['revoke', '--ca', ca, '--cert', t.path('pay.cert.pem'), '--reason', 'keyCompromise', '--passphrase-env', 'CA_PW'], env);
    expect(rv.code).toBe(0);
    await new Promise((r) => setTimeout(r, 300)); // the server looks for other processes' changes every 250 ms at most
    const ocsp = await cli(['status', '--cert', t.path('pay.cert.pem'), '--issuer', `${ca}/issuing.pem`, '--json']);
    expect(ocsp.code).toBe(1);
    expect(JSON.parse(ocsp.stdout)).toMatchObject({ status: 'revoked', reason: 'keyCompromise', method: 'ocsp' });
    const crl = await cli(['status', '--cert', t.path('pay.cert.pem'), '--issuer', `${ca}/issuing.pem`, '--method', 'crl']);
    expect(crl.code).toBe(1);
    expect(crl.stdout).toMatch(/^REVOKED/);
    expect(crl.stdout).toContain('keyCompromise');
  });

  it('verify --revocation: revoked signer fails; responder down fails only under hard-fail', async () => {
    const msg = 'From: other@example.com\r\nTo: ap@example.com\r\nSubject: x\r\n\r\nPay 1 EUR.\r\n';
    const s = await cli(['sign', '--cert', t.path('other.cert.pem'), '--key', t.path('other.key.pem'), '--chain', t.path('other.chain.pem')], {}, msg);
    writeFileSync(t.path('other.eml'), s.stdout, 'latin1');
    const ok = await cli(['verify', '--trust', `${ca}/root.pem`, '--in', t.path('other.eml'), '--revocation', 'hard-fail']);
    expect(ok.stdout).toMatch(/^VALID/);
    expect(ok.stdout).toContain('revocation: good (ocsp)');
    server!.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    const soft = await cli(['verify', '--trust', `${ca}/root.pem`, '--in', t.path('other.eml'), '--revocation', 'soft-fail']);
    expect(soft.code).toBe(0);
    expect(soft.stdout).toContain('SMIME_REVOCATION_UNCHECKED');
    const hard = await cli(['verify', '--trust', `${ca}/root.pem`, '--in', t.path('other.eml'), '--revocation', 'hard-fail', '--json']);
    expect(hard.code).toBe(1);
    expect(JSON.parse(hard.stdout).problems.map((p: { code: string }) => p.code)).toContain('SMIME_REVOCATION_UNAVAILABLE');
    await startServer();
  }, 180_000);

  it('verify without --revocation checks nothing, fetches nothing, and says so (finding 11)', async () => {
    const spy = vi.spyOn(globalThis, 'fetch');
    try {
      const r = await cli(['verify', '--trust', `${ca}/root.pem`, '--in', t.path('other.eml')]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^VALID/);
      expect(r.stdout).toContain('Revocation not checked (--revocation soft-fail or hard-fail');
      expect(spy).toHaveBeenCalledTimes(0);
    } finally {
      spy.mockRestore();
    }
  });

  it('verify --revocation hard-fail with a certificate that names no OCSP and no CRL is NOT VALID unless sources are given or allowed (finding 10)', async () => {
    const bare = t.path('bare-ca');
    expect((await cli(['ca', 'init', '--dir', bare, '--domains', 'example.com'])).code).toBe(0);
    expect((await cli(['issue', '--ca', bare, '--email', 'bare@example.com', '--out', t.path('bare')])).code).toBe(0);
    const msg = 'From: bare@example.com\r\nTo: ap@example.com\r\nSubject: x\r\n\r\nPay 1 EUR.\r\n';
    const s = await cli(['sign', '--cert', t.path('bare.cert.pem'), '--key', t.path('bare.key.pem'), '--chain', t.path('bare.chain.pem')], {}, msg);
    writeFileSync(t.path('bare.eml'), s.stdout, 'latin1');
    const base = ['verify', '--trust', `${bare}/root.pem`, '--in', t.path('bare.eml'), '--revocation', 'hard-fail'];
    const hard = await cli([...base, '--json']);
    expect(hard.code).toBe(1);
    expect(JSON.parse(hard.stdout).problems.map((p: { code: string }) => p.code)).toEqual(['SMIME_REVOCATION_NO_SOURCES', 'SMIME_REVOCATION_NO_SOURCES']);
    const allowed = await cli([...base, '--allow-no-revocation-sources']);
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toContain('revocation: none published');
    expect((await cli(['crl', '--ca', bare, '--out', t.path('bare.crl')])).code).toBe(0);
    const withCrls = await cli([...base, '--crl', t.path('bare.crl'), '--crl', `${bare}/crl/root.crl`]);
    expect(withCrls.stdout).toMatch(/^VALID/);
    expect(withCrls.stdout).toContain('revocation: good (crl)');
    expect(withCrls.code).toBe(0);
    const misuse = await cli(['verify', '--trust', `${bare}/root.pem`, '--in', t.path('bare.eml'), '--crl', t.path('bare.crl')]);
    expect(misuse.code).toBe(2);
    expect(misuse.stderr).toContain('need --revocation soft-fail or hard-fail');
  });

  it('status exits 2 when nothing answers', async () => {
    const r = await cli(['status', '--cert', t.path('other.cert.pem'), '--issuer', `${ca}/root.pem`, '--method', 'ocsp']);
    expect([1, 2]).toContain(r.code);
  });

  describeWithPeers('OpenSSL reads what LocalCA publishes', ['openssl'], () => {
    it('openssl ocsp against the running server: good and revoked', () => {
      const ask = (cert: string) =>
        runStatus('openssl', ['ocsp', '-issuer', `${ca}/issuing.pem`, '-cert', cert, '-url', `http://127.0.0.1:${port}/ocsp`, '-CAfile', `${ca}/root.pem`]);
      const good = ask(t.path('other.cert.pem'));
      expect(good.stdout + good.stderr).toMatch(/Response verify OK/);
      expect(good.stdout).toMatch(/: good/);
      const revoked = ask(t.path('pay.cert.pem'));
      expect(revoked.stdout).toMatch(/: revoked/);
      expect(revoked.stdout).toMatch(/Reason: keyCompromise/);
    });

    it('mailpki ca root-crl: the next root CRL, served at once, verified by openssl', async () => {
      const r = await cli(['ca', 'root-crl', '--ca', ca, '--days', '30', '--out', t.path('root.crl'), '--pem', '--passphrase-env', 'CA_PW'], env);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Renewed the root CRL of ".*": cRLNumber 2, valid until /);
      const v = runStatus('openssl', ['crl', '-in', t.path('root.crl'), '-CAfile', `${ca}/root.pem`, '-noout', '-crlnumber']);
      expect(v.stderr + v.stdout).toMatch(/verify OK/);
      expect(v.stdout).toMatch(/crlNumber=0x02/);
      const served = Buffer.from(await (await fetch(`http://127.0.0.1:${port}/crl/root.crl`)).arrayBuffer());
      expect(served.equals(readFileSync(`${ca}/crl/root.crl`))).toBe(true);
      const noPass = await cli(['ca', 'root-crl', '--ca', ca]);
      expect(noPass.code).toBe(2);
      expect(noPass.stderr).toContain('ERR_PASSPHRASE_REQUIRED');
    });

    it('mailpki crl: openssl crl -verify and verify -crl_check agree', async () => {
      expect((await cli(['crl', '--ca', ca, '--out', t.path('issuing.crl'), '--pem', '--passphrase-env', 'CA_PW'], env)).code).toBe(0);
      writeFileSync(t.path('anchors.pem'), readFileSync(`${ca}/chain.pem`));
      const v = runStatus('openssl', ['crl', '-in', t.path('issuing.crl'), '-CAfile', t.path('anchors.pem'), '-noout']);
      expect(v.stderr + v.stdout).toMatch(/verify OK/);
      const revoked = runStatus('openssl', ['verify', '-crl_check', '-CRLfile', t.path('issuing.crl'), '-CAfile', t.path('anchors.pem'), t.path('pay.cert.pem')]);
      expect(revoked.stdout + revoked.stderr).toMatch(/certificate revoked/);
      const good = runStatus('openssl', ['verify', '-crl_check', '-CRLfile', t.path('issuing.crl'), '-CAfile', t.path('anchors.pem'), t.path('other.cert.pem')]);
      expect(good.stdout).toMatch(/: OK/);
    });
  });
});
