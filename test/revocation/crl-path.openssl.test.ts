/**
 * validateChain({ crls }) against `openssl verify -crl_check_all -CRLfile` on the same chains and
 * CRLs: both must agree on valid, revoked (leaf and intermediate), tampered, expired and missing
 * CRLs, and on a CRL signed by a separate CRL-signing key (OpenSSL needs -extended_crl for that).
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { certificateToPem, type Certificate } from '../../src/certs/certificate.js';
import { validateChain } from '../../src/certs/chain.js';
import { crlToPem } from '../../src/revocation/crl-create.js';
import { describeWithPeers, runStatus, tempDir } from '../helpers/peers.js';
import { NOW, days, makeCrl, mint, type Node } from './crl-path-fixtures.js';

describeWithPeers('CRL path processing agrees with openssl verify -crl_check_all', ['openssl'], () => {
  const tmp = tempDir('mailpki-crl-path-');
  afterAll(() => tmp.cleanup());
  let root: Node;
  let ca: Node;
  let leaf: Node;
  let crlSigner: Node;
  beforeAll(async () => {
    root = await mint({ cn: 'Root', ca: true });
    ca = await mint({ cn: 'Issuing CA', ca: true, issuer: root });
    leaf = await mint({ cn: 'alice', issuer: ca });
    crlSigner = await mint({ cn: 'Issuing CA', name: ca.name, issuer: root, ca: true, ku: ['cRLSign'] });
  });

  /** Both verdicts for the leaf with these CRLs (and extra untrusted certificates). */
  async function both(crls: Uint8Array[], extra: Certificate[] = []): Promise<{ mailpki: string; openssl: string; detail: string }> {
    const r = await validateChain(leaf.cert, { trustAnchors: [root.cert], intermediates: [ca.cert, ...extra], at: NOW, crls });
    writeFileSync(tmp.path('root.pem'), certificateToPem(root.cert));
    writeFileSync(tmp.path('untrusted.pem'), [ca.cert, ...extra].map((c) => certificateToPem(c)).join(''));
    writeFileSync(tmp.path('leaf.pem'), certificateToPem(leaf.cert));
    writeFileSync(tmp.path('crls.pem'), crls.map(crlToPem).join(''));
    const o = runStatus('openssl', [
      'verify', '-crl_check_all', '-extended_crl', '-CRLfile', tmp.path('crls.pem'), '-CAfile', tmp.path('root.pem'), '-untrusted', tmp.path('untrusted.pem'),
      '-attime', String(Math.floor(NOW.getTime() / 1000)), '-purpose', 'any', tmp.path('leaf.pem'),
    ]);
    const text = o.stdout + o.stderr;
    const openssl = o.status === 0 ? 'valid' : /certificate revoked/.test(text) ? 'revoked' : 'invalid';
    const mailpki = r.ok ? 'valid' : r.problems.some((p) => p.code === 'CHAIN_REVOKED') ? 'revoked' : 'invalid';
    return { mailpki, openssl, detail: `${text.trim()} | ${r.problems.map((p) => `${p.code}: ${p.message}`).join('; ')}` };
  }

  it('valid: current CRLs of both CAs that list neither certificate', async () => {
    const r = await both([await makeCrl({ issuer: root }), await makeCrl({ issuer: ca })]);
    expect([r.mailpki, r.openssl], r.detail).toEqual(['valid', 'valid']);
  });

  it('revoked: the leaf on its CA CRL, the CA on the root CRL', async () => {
    const leafRevoked = await both([await makeCrl({ issuer: root }), await makeCrl({ issuer: ca, entries: [{ cert: leaf.cert, reason: 'keyCompromise' }] })]);
    expect([leafRevoked.mailpki, leafRevoked.openssl], leafRevoked.detail).toEqual(['revoked', 'revoked']);
    const caRevoked = await both([await makeCrl({ issuer: root, entries: [{ cert: ca.cert }] }), await makeCrl({ issuer: ca })]);
    expect([caRevoked.mailpki, caRevoked.openssl], caRevoked.detail).toEqual(['revoked', 'revoked']);
  });

  it('invalid: a tampered CRL (even one that lists nothing), an expired CRL, a missing CRL', async () => {
    for (const crls of [
      [await makeCrl({ issuer: root }), await makeCrl({ issuer: ca, tamper: true })],
      [await makeCrl({ issuer: root }), await makeCrl({ issuer: ca, thisUpdate: days(-10), nextUpdate: days(-2) })],
      [await makeCrl({ issuer: root })],
    ]) {
      const r = await both(crls);
      expect([r.mailpki, r.openssl], r.detail).toEqual(['invalid', 'invalid']);
    }
  });

  it('a separate CRL-signing key certified by the root: valid, and revoked when it lists the leaf', async () => {
    const good = await both([await makeCrl({ issuer: root }), await makeCrl({ issuer: ca, signer: crlSigner })], [crlSigner.cert]);
    expect([good.mailpki, good.openssl], good.detail).toEqual(['valid', 'valid']);
    const revoked = await both([await makeCrl({ issuer: root }), await makeCrl({ issuer: ca, signer: crlSigner, entries: [{ cert: leaf.cert }] })], [crlSigner.cert]);
    expect([revoked.mailpki, revoked.openssl], revoked.detail).toEqual(['revoked', 'revoked']);
  });
});
