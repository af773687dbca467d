/**
 * OCSP interop with OpenSSL 3 (`openssl ocsp`), both directions:
 * (a) OpenSSL reads our requests and verifies our responses (`-respin`, no server needed);
 * (b) OpenSSL's responder (`-index … -port`) answers our requests, which we validate;
 * (c) OpenSSL's requests (`-reqout`) are read by parseOcspRequest with the same CertID.
 * Tampered responses must fail on both sides.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { toHex } from '../../src/internal/bytes.js';
import { encodePem } from '../../src/internal/pem.js';
import type { Certificate } from '../../src/certs/certificate.js';
import {
  createOcspRequest,
  createOcspResponse,
  ocspGetUrl,
  parseOcspRequest,
  parseOcspResponse,
  validateOcspResponse,
  type OcspResponseSigner,
} from '../../src/revocation/ocsp.js';
import { describeWithPeers, run, runStatus, tempDir } from '../helpers/peers.js';
import { makeWorld, type OcspWorld } from './ocsp-fixtures.js';

const HOUR = 3600_000;

describeWithPeers('OCSP interop with openssl ocsp', ['openssl'], () => {
  let w: OcspWorld;
  let tmp: ReturnType<typeof tempDir>;
  let server: ChildProcess | undefined;
  let serverLog = '';
  let base = '';
  const p = (name: string) => tmp.path(name);
  const pem = (c: Certificate) => encodePem('CERTIFICATE', c.der);

  beforeAll(async () => {
    w = await makeWorld();
    tmp = tempDir('mailpki-ocsp-');
    writeFileSync(p('issuing.pem'), pem(w.a.issuing));
    writeFileSync(p('issuing.key'), w.a.keyPem);
    writeFileSync(p('chain.pem'), pem(w.a.issuing) + pem(w.a.root));
    writeFileSync(p('good.pem'), pem(w.good));
    writeFileSync(p('revoked.pem'), pem(w.revoked));
    writeFileSync(p('unknown.pem'), pem(w.unknown));
    writeFileSync(p('responder.pem'), pem(w.responder.certificate));
    writeFileSync(p('responder.key'), w.responder.keyPem);
    writeFileSync(p('b-issuing.pem'), pem(w.b.issuing));
    writeFileSync(p('b-issuing.key'), w.b.keyPem);
    // OpenSSL's CA database; written before the responder starts (it answers the first request
    // after an edit from the old copy). `unknown` is left out on purpose.
    const utc = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
    const rec = w.a.ca.getRecord(w.revoked.serialNumber)!;
    const line = (status: string, cert: Certificate, revoked: string) =>
      `${status}\t${utc(cert.notAfter)}\t${revoked}\t${cert.serialNumber.toUpperCase()}\tunknown\t/CN=${cert.subjectAltName!.rfc822Names[0]}\n`;
    writeFileSync(
      p('index.txt'),
      line('V', w.good, '') + line('R', w.revoked, `${utc(new Date(rec.revocation!.revokedAt))},${rec.revocation!.reason}`),
    );

    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = spawn(
      'openssl',
      ['ocsp', '-index', 'index.txt', '-port', String(port), '-rsigner', 'responder.pem', '-rkey', 'responder.key', '-CA', 'issuing.pem', '-ignore_err', '-nmin', '5'],
      { cwd: tmp.dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    server.stdout!.on('data', (d: Buffer) => (serverLog += d.toString('latin1')));
    server.stderr!.on('data', (d: Buffer) => (serverLog += d.toString('latin1')));
    // Bounded wait: up to 10 s for the responder to answer at all.
    const probe = createOcspRequest({ certificate: w.good, issuer: w.a.issuing }).der;
    for (let i = 0; ; i++) {
      try {
        await post(probe);
        break;
      } catch (e) {
        if (i >= 100 || server.exitCode !== null) throw new Error(`openssl ocsp did not start: ${serverLog}`, { cause: e });
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }, 60_000);

  afterAll(() => {
    if (server && server.exitCode === null) server.kill('SIGTERM');
    tmp?.cleanup();
  });

  async function post(der: Uint8Array): Promise<Uint8Array> {
    const res = await fetch(base, {
      method: 'POST',
      headers: { 'content-type': 'application/ocsp-request' },
      body: new Uint8Array(der),
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  }

  const ourResponse = async (cert: Certificate, signer: OcspResponseSigner = { certificate: w.a.issuing, signer: w.a.signer }) =>
    createOcspResponse({
      request: parseOcspRequest(createOcspRequest({ certificate: cert, issuer: w.a.issuing }).der),
      signer,
      issuer: w.a.issuing,
      lookup: w.lookup,
      thisUpdate: w.now,
      nextUpdate: new Date(w.now.getTime() + HOUR),
      producedAt: w.now,
    });

  const opensslCheck = (resp: Uint8Array, certFile: string) => {
    writeFileSync(p('resp.der'), resp);
    return runStatus('openssl', ['ocsp', '-respin', 'resp.der', '-issuer', 'issuing.pem', '-cert', certFile, '-CAfile', 'chain.pem'], { cwd: tmp.dir });
  };

  // (a) OpenSSL reads what we make.

  it('(a) openssl ocsp -reqin -text reads our request: CertID and nonce', () => {
    const req = createOcspRequest({ certificate: w.good, issuer: w.a.issuing, nonce: true });
    writeFileSync(p('req.der'), req.der);
    const out = run('openssl', ['ocsp', '-reqin', 'req.der', '-text'], { cwd: tmp.dir });
    expect(out).toContain('Hash Algorithm: sha1');
    expect(out).toContain(`Issuer Name Hash: ${toHex(req.certId.issuerNameHash).toUpperCase()}`);
    expect(out).toContain(`Issuer Key Hash: ${toHex(req.certId.issuerKeyHash).toUpperCase()}`);
    expect(out).toContain(`Serial Number: ${w.good.serialNumber.toUpperCase()}`);
    expect(out.replace(/\s+/g, '')).toContain(`OCSPNonce:0420${toHex(req.nonce!).toUpperCase()}`);
  });

  it('(a) openssl verifies our CA-signed responses: good, and revoked with its reason', async () => {
    const good = opensslCheck(await ourResponse(w.good), 'good.pem');
    expect(good.stderr).toContain('Response verify OK');
    expect(good.stdout).toContain('good.pem: good');
    const revoked = opensslCheck(await ourResponse(w.revoked), 'revoked.pem');
    expect(revoked.stderr).toContain('Response verify OK');
    expect(revoked.stdout).toContain('revoked.pem: revoked');
    expect(revoked.stdout).toContain('Reason: keyCompromise');
  });

  it('(a) openssl verifies a response from our delegated responder (OCSP EKU, nocheck), and refuses one without the EKU', async () => {
    const ok = opensslCheck(await ourResponse(w.good, w.responder), 'good.pem');
    expect(ok.stderr).toContain('Response verify OK');
    expect(ok.stdout).toContain('good.pem: good');
    const noEku = opensslCheck(await ourResponse(w.good, { certificate: w.responderNoEku, signer: w.responder.signer }), 'good.pem');
    expect(noEku.stderr).toContain('Response Verify Failure');
  });

  it('(a) openssl refuses our response when tampered with', async () => {
    const resp = await ourResponse(w.good);
    const basic = parseOcspResponse(resp).basic!;
    const t = resp.slice();
    const at = resp.length - 1; // the last byte of the signature (CA-signed: no certs after it)
    expect(t[at]).toBe(basic.signature[basic.signature.length - 1]);
    t[at]! ^= 1;
    const r = opensslCheck(t, 'good.pem');
    expect(r.stderr).toContain('Response Verify Failure');
    expect(r.stdout).not.toContain('Response verify OK');
  });

  // (b) OpenSSL's responder answers; we validate.

  for (const [name, status, reason] of [
    ['good', 'good', undefined],
    ['revoked', 'revoked', 'keyCompromise'],
    ['unknown', 'unknown', undefined],
  ] as const) {
    it(`(b) openssl responder over HTTP POST: ${name} → ${status}${reason ? ` (${reason})` : ''}, nonce echoed, delegated responder`, async () => {
      const cert = w[name];
      const req = createOcspRequest({ certificate: cert, issuer: w.a.issuing, nonce: true });
      const resp = await post(req.der);
      const r = await validateOcspResponse(resp, { certificate: cert, issuer: w.a.issuing, certId: req.certId, nonce: req.nonce!, at: new Date() });
      expect(r.problems).toEqual([]);
      expect(r.ok).toBe(true);
      expect(r.status).toBe(status);
      expect(r.reason).toBe(reason);
      if (status === 'revoked') expect(r.revokedAt).toEqual(new Date(w.now.getTime() - HOUR));
      expect(r.responder?.delegated).toBe(true);
      expect(r.responder?.ocspNoCheck).toBe(true);
      expect(r.nextUpdate!.getTime() - r.thisUpdate!.getTime()).toBe(5 * 60_000);
    });
  }

  it('(b) openssl responder over HTTP GET (ocspGetUrl), SHA-256 CertID', async () => {
    const req = createOcspRequest({ certificate: w.revoked, issuer: w.a.issuing, hash: 'SHA-256' });
    const res = await fetch(ocspGetUrl(base, req.der), { signal: AbortSignal.timeout(5000) });
    expect(res.status).toBe(200);
    const r = await validateOcspResponse(new Uint8Array(await res.arrayBuffer()), { certificate: w.revoked, issuer: w.a.issuing, certId: req.certId, at: new Date() });
    expect([r.ok, r.status, r.reason]).toEqual([true, 'revoked', 'keyCompromise']);
  });

  it('(b) a response OpenSSL signs with another CA’s key → OCSP_RESPONDER_NOT_AUTHORIZED; a tampered one → OCSP_SIGNATURE_INVALID', async () => {
    const req = createOcspRequest({ certificate: w.good, issuer: w.a.issuing });
    writeFileSync(p('req.der'), req.der);
    const opts = { certificate: w.good, issuer: w.a.issuing, certId: req.certId, at: new Date() };
    for (const extra of [[], ['-resp_no_certs']]) {
      run(
        'openssl',
        ['ocsp', '-index', 'index.txt', '-rsigner', 'b-issuing.pem', '-rkey', 'b-issuing.key', '-CA', 'issuing.pem', '-reqin', 'req.der', '-respout', 'wrong.der', ...extra],
        { cwd: tmp.dir },
      );
      const r = await validateOcspResponse(new Uint8Array(readFileSync(p('wrong.der'))), opts);
      expect(r.ok).toBe(false);
      expect(new Set(r.problems.map((x) => x.code))).toEqual(new Set(['OCSP_RESPONDER_NOT_AUTHORIZED']));
      expect(r.status).toBe('good');
    }
    const resp = await post(req.der);
    const basic = parseOcspResponse(resp).basic!;
    const t = resp.slice();
    const sigEnd = indexOf(resp, basic.signature) + basic.signature.length;
    t[sigEnd - 1]! ^= 1;
    const r = await validateOcspResponse(t, opts);
    expect(r.problems.map((x) => x.code)).toEqual(['OCSP_SIGNATURE_INVALID']);
  });

  // (c) OpenSSL's requests, read by us.

  for (const hash of ['SHA-1', 'SHA-256'] as const) {
    it(`(c) openssl ocsp -reqout (${hash}, with nonce) parses with the same CertID as ours`, () => {
      run('openssl', ['ocsp', '-issuer', 'issuing.pem', ...(hash === 'SHA-256' ? ['-sha256'] : []), '-cert', 'good.pem', '-reqout', 'oreq.der'], { cwd: tmp.dir });
      const parsed = parseOcspRequest(new Uint8Array(readFileSync(p('oreq.der'))));
      const ours = createOcspRequest({ certificate: w.good, issuer: w.a.issuing, hash }).certId;
      expect(parsed.requests).toHaveLength(1);
      const id = parsed.requests[0]!;
      expect([id.hashAlgorithm, toHex(id.issuerNameHash), toHex(id.issuerKeyHash), id.serialNumber]).toEqual([
        hash,
        toHex(ours.issuerNameHash),
        toHex(ours.issuerKeyHash),
        w.good.serialNumber,
      ]);
      expect(parsed.nonce?.length).toBe(16);
    });
  }

  it('(c) our responder answers an OpenSSL request (nonce echoed exactly) and OpenSSL accepts the answer', async () => {
    run('openssl', ['ocsp', '-issuer', 'issuing.pem', '-cert', 'revoked.pem', '-cert', 'unknown.pem', '-reqout', 'oreq2.der'], { cwd: tmp.dir });
    const request = parseOcspRequest(new Uint8Array(readFileSync(p('oreq2.der'))));
    expect(request.requests.map((r) => r.serialNumber)).toEqual([w.revoked.serialNumber, w.unknown.serialNumber]);
    const resp = await createOcspResponse({
      request,
      signer: w.responder,
      issuer: w.a.issuing,
      lookup: w.lookup,
      thisUpdate: w.now,
      nextUpdate: new Date(w.now.getTime() + HOUR),
      producedAt: w.now,
    });
    expect(parseOcspResponse(resp).basic!.nonce).toEqual(request.nonce);
    writeFileSync(p('resp2.der'), resp);
    // With -reqin and no -cert, OpenSSL checks the nonce against that request (a -cert would make a new one).
    const r = runStatus('openssl', ['ocsp', '-reqin', 'oreq2.der', '-respin', 'resp2.der', '-issuer', 'issuing.pem', '-CAfile', 'chain.pem', '-resp_text'], {
      cwd: tmp.dir,
    });
    expect(r.stderr).toContain('Response verify OK');
    expect(r.stderr + r.stdout).not.toMatch(/Nonce Verify error|WARNING: no nonce/);
    expect(r.stdout).toContain('Cert Status: revoked');
    expect(r.stdout).toContain('Revocation Reason: keyCompromise (0x1)');
    expect(r.stdout).toContain('Cert Status: unknown');
    const s = runStatus('openssl', ['ocsp', '-no_nonce', '-respin', 'resp2.der', '-issuer', 'issuing.pem', '-cert', 'revoked.pem', '-cert', 'unknown.pem', '-CAfile', 'chain.pem'], {
      cwd: tmp.dir,
    });
    expect(s.stdout, s.stderr).toContain('revoked.pem: revoked');
    expect(s.stdout).toContain('unknown.pem: unknown');
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

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  throw new Error('not found');
}
