/**
 * The revocation checker against OpenSSL as the other side: `openssl ocsp -index … -port` responders (an honest one
 * whose database lacks a certificate, and one run by whoever stole a delegated responder key without ocsp-nocheck)
 * and a CRL made by `openssl ca -gencrl`. The CRL must be asked when OCSP says "unknown", and must overrule a
 * responder it lists as revoked.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Certificate } from '../../src/certs/certificate.js';
import { encodePem } from '../../src/internal/pem.js';
import { RevocationChecker } from '../../src/revocation/checker.js';
import { createOcspRequest } from '../../src/revocation/ocsp.js';
import { describeWithPeers, run, tempDir } from '../helpers/peers.js';
import { checkedResponderCertificate, makeWorld, type OcspWorld } from './ocsp-fixtures.js';

describeWithPeers('RevocationChecker with openssl ocsp responders and an openssl ca CRL', ['openssl'], () => {
  let w: OcspWorld;
  let tmp: ReturnType<typeof tempDir>;
  const servers: ChildProcess[] = [];
  let honest = '';
  let thief = '';
  let crlPem = '';
  let checkedResponder: Certificate;
  const p = (name: string) => tmp.path(name);
  const pem = (c: Certificate) => encodePem('CERTIFICATE', c.der);
  const utc = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
  const line = (status: 'V' | 'R', cert: Certificate, revoked = '') => `${status}\t${utc(cert.notAfter)}\t${revoked}\t${cert.serialNumber.toUpperCase()}\tunknown\t/CN=${cert.serialNumber}\n`;

  async function responder(index: string, signer: string): Promise<string> {
    const port = await freePort();
    const server = spawn('openssl', ['ocsp', '-index', index, '-port', String(port), '-rsigner', signer, '-rkey', 'responder.key', '-CA', 'issuing.pem', '-ignore_err', '-nmin', '5'], {
      cwd: tmp.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    server.stdout!.on('data', (d: Buffer) => (log += d.toString('latin1')));
    server.stderr!.on('data', (d: Buffer) => (log += d.toString('latin1')));
    servers.push(server);
    const url = `http://127.0.0.1:${port}/`;
    const probe = new Uint8Array(createOcspRequest({ certificate: w.good, issuer: w.a.issuing }).der);
    for (let i = 0; ; i++) {
      try {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: probe, signal: AbortSignal.timeout(5000) });
        await res.arrayBuffer();
        if (res.ok) return url;
      } catch (e) {
        if (i >= 100 || server.exitCode !== null) throw new Error(`openssl ocsp did not start: ${log}`, { cause: e });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  beforeAll(async () => {
    w = await makeWorld();
    tmp = tempDir('mailpki-checker-');
    // A delegated responder certificate the CA wants checked: no id-pkix-ocsp-nocheck.
    checkedResponder = await checkedResponderCertificate(w);
    writeFileSync(p('issuing.pem'), pem(w.a.issuing));
    writeFileSync(p('issuing.key'), w.a.keyPem);
    writeFileSync(p('responder.pem'), pem(w.responder.certificate));
    writeFileSync(p('checked.pem'), pem(checkedResponder));
    writeFileSync(p('responder.key'), w.responder.keyPem);
    const compromised = `${utc(new Date(w.now.getTime() - 3600_000))},keyCompromise`;
    // The honest responder's database lacks `unknown` (not loaded yet); the thief's says `revoked` is valid.
    writeFileSync(p('honest.txt'), line('V', w.good) + line('R', w.revoked, compromised));
    writeFileSync(p('thief.txt'), line('V', w.good) + line('V', w.revoked));
    // The CA's CRL lists both leaves and the responder whose key was stolen.
    writeFileSync(p('crl-index.txt'), line('R', w.revoked, compromised) + line('R', w.unknown, compromised) + line('R', checkedResponder, compromised));
    writeFileSync(p('crlnumber'), '1000\n');
    writeFileSync(
      p('ca.cnf'),
      `[ ca ]\ndefault_ca = d\n[ d ]\ndatabase = ${p('crl-index.txt')}\ncrlnumber = ${p('crlnumber')}\ndefault_md = sha256\ndefault_crl_days = 7\ncrl_extensions = crl_ext\n[ crl_ext ]\nauthorityKeyIdentifier = keyid:always\n`,
    );
    run('openssl', ['ca', '-config', p('ca.cnf'), '-gencrl', '-keyfile', p('issuing.key'), '-cert', p('issuing.pem'), '-out', p('ca.crl'), '-batch']);
    crlPem = run('openssl', ['crl', '-in', p('ca.crl')]);
    honest = await responder('honest.txt', 'responder.pem');
    thief = await responder('thief.txt', 'checked.pem');
  }, 60_000);

  afterAll(() => {
    for (const s of servers) if (s.exitCode === null) s.kill('SIGTERM');
    tmp?.cleanup();
  });

  it('OpenSSL answers "unknown" for a certificate its database lacks: the CRL is asked, and it says revoked', async () => {
    const ocspOnly = await new RevocationChecker({ ocspUrls: [honest], order: ['ocsp'] }).check(w.unknown, w.a.issuing);
    expect(ocspOnly).toMatchObject({ status: 'unknown', method: 'ocsp' });
    // Before: the 'unknown' ended the check (valid with a warning under soft-fail).
    const r = await new RevocationChecker({ ocspUrls: [honest], crls: [crlPem] }).check(w.unknown, w.a.issuing);
    expect(r).toMatchObject({ status: 'revoked', method: 'crl', reason: 'keyCompromise', crlNumber: String(0x1000) });
  });

  it('a responder OpenSSL runs with a stolen delegated key (no ocsp-nocheck) that the CRL lists is not believed', async () => {
    const thiefSays = await new RevocationChecker({ ocspUrls: [thief], order: ['ocsp'] }).check(w.revoked, w.a.issuing);
    // Without a CRL to ask about the responder, its word stands: a signed, authorised 'good'.
    expect(thiefSays).toMatchObject({ status: 'good', method: 'ocsp' });
    // Before: the same 'good' with the CA's CRL at hand.
    const r = await new RevocationChecker({ ocspUrls: [thief], crls: [crlPem] }).check(w.revoked, w.a.issuing);
    expect(r).toMatchObject({ status: 'revoked', method: 'crl', reason: 'keyCompromise' });
    // The honest responder (ocsp-nocheck) is believed as before, with the same CRL at hand.
    expect(await new RevocationChecker({ ocspUrls: [honest], crls: [crlPem] }).check(w.good, w.a.issuing)).toMatchObject({ status: 'good', method: 'ocsp' });
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
