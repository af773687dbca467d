/**
 * S/MIME interop with OpenSSL 3 (`openssl smime`, `openssl cms`), both directions, tampered
 * cases failing. Certificates come from a LocalCA (one key per key type); its root is the only
 * trust anchor on both sides.
 *
 * What OpenSSL 3.0 cannot do (asserted below as the peer's own "unsupported" failure, never skipped):
 * - Ed25519 CMS, verify or sign (support came in 3.2): `openssl cms` fails with
 *   "eddsa_digest_signverify_init:invalid digest", `openssl smime` with "operation not supported
 *   for this keytype".
 * - RSA-PSS in `openssl smime` (the PKCS7 API): "rsa_verify:RSA lib" / "PKCS7_signatureVerify:
 *   signature failure" after the content digest matched; OpenSSL's own PSS messages fail the same
 *   way. `openssl cms -verify` verifies them.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LocalCA } from '../../src/ca/local-ca.js';
import { MemoryCaStorage } from '../../src/ca/storage.js';
import { encodePem } from '../../src/internal/pem.js';
import { exportPkcs8Pem, exportSpki, generateKeyPair, type DigestAlgorithm } from '../../src/keys/index.js';
import { signMessage } from '../../src/smime/sign.js';
import { verifyMessage } from '../../src/smime/verify.js';
import type { Verdict } from '../../src/smime/verdict.js';
import { describeWithPeers, run, runStatus, tempDir } from '../helpers/peers.js';

const KEY_TYPES = ['rsa-2048', 'rsa-3072', 'ec-p256', 'ec-p384', 'ed25519'] as const;
type KeyType = (typeof KEY_TYPES)[number];
const DIGESTS: readonly DigestAlgorithm[] = ['SHA-256', 'SHA-384', 'SHA-512'];

interface Identity {
  type: KeyType;
  mailbox: string;
  key: CryptoKey;
  certificate: Uint8Array;
  certFile: string;
  keyFile: string;
}

const TEXT = 'Pay 1,250.00 EUR to ACME GmbH, IBAN DE89 3704 0044 0532 0130 00.';
/** One byte changed in the signed text. */
const TAMPERED_TEXT = TEXT.replace('1,250.00', '9,250.00');

function opensslVersion(): [number, number] {
  const m = /OpenSSL (\d+)\.(\d+)/.exec(runStatus('openssl', ['version']).stdout);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}
const atLeast = (v: [number, number], major: number, minor: number) => v[0] > major || (v[0] === major && v[1] >= minor);

/** Replaces the first `from` in `s` by `to`, failing loudly when it is not there. */
function replaceOnce(s: string, from: string, to: string): string {
  const i = s.indexOf(from);
  if (i < 0) throw new Error(`"${from}" not found`);
  return s.slice(0, i) + to + s.slice(i + from.length);
}

/**
 * Changes one byte of the signed text inside an opaque (pkcs7-mime) message: the text sits in the
 * CMS eContent, so decode the base64 body, patch the DER, encode again. No mailpki code involved.
 */
function tamperOpaque(eml: string): string {
  const sep = eml.includes('\r\n\r\n') ? '\r\n\r\n' : '\n\n';
  const eol = sep === '\r\n\r\n' ? '\r\n' : '\n';
  const at = eml.indexOf(sep);
  const der = Buffer.from(eml.slice(at + sep.length).replace(/\s+/g, ''), 'base64');
  const i = der.indexOf(Buffer.from(TEXT, 'latin1'));
  if (i < 0) throw new Error('signed text not found in the CMS eContent');
  der[i + 4] = '9'.charCodeAt(0);
  return eml.slice(0, at + sep.length) + der.toString('base64').replace(/.{1,64}/g, `$&${eol}`);
}

/**
 * The problem codes, without SMIME_FROM_NOT_SIGNER when another problem explains it (a signer
 * whose signature broke is no valid signer of From either; whether that is reported twice is
 * the verdict's business, not the peer's).
 */
function codes(v: Verdict): string[] {
  const all = [...new Set(v.problems.map((p) => p.code))].sort();
  return all.length > 1 ? all.filter((c) => c !== 'SMIME_FROM_NOT_SIGNER') : all;
}

describeWithPeers('S/MIME interop with OpenSSL', ['openssl'], () => {
  const tmp = tempDir('mailpki-smime-openssl-');
  const ids = new Map<KeyType, Identity>();
  const version = opensslVersion();
  let rootPem: string;
  let issuingPem: string;
  const rootFile = tmp.path('root.pem');
  const issuingFile = tmp.path('issuing.pem');

  beforeAll(async () => {
    const ca = await LocalCA.create(new MemoryCaStorage(), { name: 'mailpki OpenSSL interop', keyType: 'ec-p256' });
    rootPem = encodePem('CERTIFICATE', ca.rootCertificate.der);
    issuingPem = encodePem('CERTIFICATE', ca.issuingCertificate.der);
    writeFileSync(rootFile, rootPem);
    writeFileSync(issuingFile, issuingPem);
    for (const type of KEY_TYPES) {
      const pair = await generateKeyPair(type, { extractable: true });
      const mailbox = `payments-${type}@example.com`;
      const issued = await ca.issue({ mailbox, publicKey: await exportSpki(pair.publicKey), usage: 'signing' });
      const certFile = tmp.path(`${type}.pem`);
      const keyFile = tmp.path(`${type}.key`);
      writeFileSync(certFile, encodePem('CERTIFICATE', issued.certificate));
      writeFileSync(keyFile, await exportPkcs8Pem(pair.privateKey), { mode: 0o600 });
      ids.set(type, { type, mailbox, key: pair.privateKey, certificate: issued.certificate, certFile, keyFile });
    }
  });

  afterAll(() => tmp.cleanup());

  const id = (t: KeyType) => ids.get(t)!;
  const verify = (eml: string | Uint8Array, extra: { intermediates?: string[] } = {}) =>
    verifyMessage(eml, { trustAnchors: [rootPem], ...extra });

  function file(name: string, data: string | Uint8Array): string {
    const f = tmp.path(name);
    writeFileSync(f, data);
    return f;
  }

  const opensslSmimeVerify = (f: string) => runStatus('openssl', ['smime', '-verify', '-in', f, '-CAfile', rootFile, '-out', '/dev/null']);
  const opensslCmsVerify = (f: string) =>
    runStatus('openssl', ['cms', '-verify', '-in', f, '-CAfile', rootFile, '-purpose', 'smimesign', '-out', '/dev/null']);

  // ---------------------------------------------------------------- mailpki signs, OpenSSL verifies

  interface SignCase {
    type: KeyType;
    padding?: 'pkcs1' | 'pss';
    digest: DigestAlgorithm;
    opaque: boolean;
  }
  const signCases: SignCase[] = [];
  for (const type of KEY_TYPES)
    for (const opaque of [false, true]) {
      if (type === 'ed25519') signCases.push({ type, digest: 'SHA-512', opaque });
      else if (type.startsWith('rsa')) for (const padding of ['pkcs1', 'pss'] as const) for (const digest of DIGESTS) signCases.push({ type, padding, digest, opaque });
      else for (const digest of DIGESTS) signCases.push({ type, digest, opaque });
    }
  const caseName = (c: SignCase) => `${c.type}${c.padding ? ` ${c.padding}` : ''} ${c.digest} ${c.opaque ? 'opaque' : 'detached'}`;

  /**
   * The failure OpenSSL gives for a combination it cannot do, or undefined when it must verify.
   * Versions after the ones checked here may do more: then success is accepted as well.
   */
  function opensslLimit(tool: 'smime' | 'cms', c: { type: KeyType; padding?: 'pkcs1' | 'pss' }): { pattern: RegExp; strict: boolean } | undefined {
    if (c.type === 'ed25519')
      return {
        pattern: tool === 'cms' ? /eddsa_digest_signverify_init:invalid digest/ : /operation not supported for this keytype/,
        strict: !atLeast(version, 3, 2),
      };
    if (tool === 'smime' && c.padding === 'pss') return { pattern: /rsa_verify:RSA lib/, strict: !atLeast(version, 3, 2) };
    return undefined;
  }

  function expectPeer(tool: 'smime' | 'cms', c: SignCase, r: { status: number; stderr: string }): void {
    const limit = opensslLimit(tool, c);
    if (!limit || (!limit.strict && r.status === 0)) {
      expect(r.stderr, `openssl ${tool} -verify should pass`).toMatch(/Verification successful/);
      expect(r.status).toBe(0);
      return;
    }
    expect(r.status, `openssl ${tool} cannot do ${caseName(c)}`).not.toBe(0);
    expect(r.stderr).toMatch(limit.pattern);
    // "Unsupported", not a digest mismatch: the content digest matched before the signature step.
    expect(r.stderr).not.toMatch(/digest failure|content verify error/i);
  }

  for (const c of signCases) {
    it(`mailpki-signed ${caseName(c)} passes openssl smime and cms -verify; one changed byte fails`, async () => {
      const me = id(c.type);
      const message =
        `From: Payments <${me.mailbox}>\r\nTo: approvers@example.com\r\nSubject: Payment run ${caseName(c)}\r\n` +
        `Content-Type: text/plain; charset=utf-8\r\n\r\n${TEXT}\r\n`;
      const signed = await signMessage(
        message,
        { key: me.key, certificate: me.certificate, chain: [issuingPem] },
        { opaque: c.opaque, digest: c.digest, ...(c.padding && { rsaPadding: c.padding }) },
      );
      const eml = Buffer.from(signed).toString('latin1');
      const self = await verify(signed);
      expect(self.problems).toEqual([]);
      expect(self.valid).toBe(true);

      const good = file('good.eml', eml);
      expectPeer('smime', c, opensslSmimeVerify(good));
      expectPeer('cms', c, opensslCmsVerify(good));

      const bad = file('bad.eml', c.opaque ? tamperOpaque(eml) : replaceOnce(eml, TEXT, TAMPERED_TEXT));
      for (const r of [opensslSmimeVerify(bad), opensslCmsVerify(bad)]) {
        expect(r.status).not.toBe(0);
        if (!opensslLimit('cms', c)) expect(r.stderr).toMatch(/digest failure|content verify error/i);
      }
    });
  }

  it('OpenSSL 3.0 `smime -verify` refuses its own RSA-PSS message too (the PKCS7 API has no PSS), `cms -verify` takes it', () => {
    const body = file('pss-body.txt', `Content-Type: text/plain\r\n\r\n${TEXT}\r\n`);
    const out = tmp.path('pss-openssl.eml');
    const me = id('rsa-2048');
    run('openssl', ['cms', '-sign', '-in', body, '-signer', me.certFile, '-inkey', me.keyFile, '-certfile', issuingFile, '-keyopt', 'rsa_padding_mode:pss', '-out', out]);
    expectPeer('cms', { type: 'rsa-2048', padding: 'pss', digest: 'SHA-256', opaque: false }, opensslCmsVerify(out));
    expectPeer('smime', { type: 'rsa-2048', padding: 'pss', digest: 'SHA-256', opaque: false }, opensslSmimeVerify(out));
  });

  // ---------------------------------------------------------------- OpenSSL signs, mailpki verifies

  interface OpensslCase {
    name: string;
    tool: 'smime' | 'cms';
    signers: KeyType[];
    opaque?: boolean;
    md?: 'sha256' | 'sha384' | 'sha512';
    pss?: boolean;
    nocerts?: boolean;
    /** Save the message with LF line ends only, as an mbox or a Unix mail client would. */
    lfOnly?: boolean;
    expectAlgorithms: string[];
  }
  const opensslCases: OpensslCase[] = [
    { name: 'smime -sign detached (default), RSA-2048', tool: 'smime', signers: ['rsa-2048'], expectAlgorithms: ['rsa-pkcs1-sha256'] },
    { name: 'cms -sign detached, ECDSA P-256', tool: 'cms', signers: ['ec-p256'], expectAlgorithms: ['ecdsa-sha256'] },
    { name: 'smime -sign -nodetach (opaque), RSA-3072', tool: 'smime', signers: ['rsa-3072'], opaque: true, expectAlgorithms: ['rsa-pkcs1-sha256'] },
    { name: 'cms -sign -nodetach (opaque), ECDSA P-384 -md sha384', tool: 'cms', signers: ['ec-p384'], opaque: true, md: 'sha384', expectAlgorithms: ['ecdsa-sha384'] },
    { name: 'cms -sign -keyopt rsa_padding_mode:pss, RSA-2048', tool: 'cms', signers: ['rsa-2048'], pss: true, expectAlgorithms: ['rsa-pss-sha256'] },
    { name: 'cms -sign -nodetach -keyopt rsa_padding_mode:pss -md sha512, RSA-3072', tool: 'cms', signers: ['rsa-3072'], opaque: true, pss: true, md: 'sha512', expectAlgorithms: ['rsa-pss-sha512'] },
    { name: 'cms -sign -md sha384, RSA-2048', tool: 'cms', signers: ['rsa-2048'], md: 'sha384', expectAlgorithms: ['rsa-pkcs1-sha384'] },
    { name: 'smime -sign -md sha512, ECDSA P-256', tool: 'smime', signers: ['ec-p256'], md: 'sha512', expectAlgorithms: ['ecdsa-sha512'] },
    { name: 'cms -sign -md sha512, ECDSA P-384', tool: 'cms', signers: ['ec-p384'], md: 'sha512', expectAlgorithms: ['ecdsa-sha512'] },
    { name: 'cms -sign with two -signer (RSA-2048 + ECDSA P-256)', tool: 'cms', signers: ['rsa-2048', 'ec-p256'], expectAlgorithms: ['rsa-pkcs1-sha256', 'ecdsa-sha256'] },
    { name: 'smime -sign with two -signer, -nodetach (ECDSA P-384 + RSA-3072)', tool: 'smime', signers: ['ec-p384', 'rsa-3072'], opaque: true, expectAlgorithms: ['ecdsa-sha256', 'rsa-pkcs1-sha256'] },
    { name: 'cms -sign -nocerts, certificates given as intermediates', tool: 'cms', signers: ['ec-p256'], nocerts: true, expectAlgorithms: ['ecdsa-sha256'] },
    { name: 'smime -sign -nocerts -nodetach, certificates given as intermediates', tool: 'smime', signers: ['rsa-2048'], nocerts: true, opaque: true, expectAlgorithms: ['rsa-pkcs1-sha256'] },
    { name: 'smime -sign detached, saved with LF-only line ends', tool: 'smime', signers: ['rsa-2048'], lfOnly: true, expectAlgorithms: ['rsa-pkcs1-sha256'] },
    { name: 'cms -sign detached -md sha384, ECDSA P-384, saved with LF-only line ends', tool: 'cms', signers: ['ec-p384'], md: 'sha384', lfOnly: true, expectAlgorithms: ['ecdsa-sha384'] },
    { name: 'cms -sign -nodetach, ECDSA P-256, saved with LF-only line ends', tool: 'cms', signers: ['ec-p256'], opaque: true, lfOnly: true, expectAlgorithms: ['ecdsa-sha256'] },
  ];

  function opensslSign(c: { tool: 'smime' | 'cms'; signers: KeyType[]; opaque?: boolean; md?: string; pss?: boolean; nocerts?: boolean }, body: string): string {
    const from = id(c.signers[0]!).mailbox;
    const args = [c.tool, '-sign', '-in', file('body.txt', body)];
    for (const t of c.signers) args.push('-signer', id(t).certFile, '-inkey', id(t).keyFile, ...(c.pss ? ['-keyopt', 'rsa_padding_mode:pss'] : []));
    if (c.opaque) args.push('-nodetach');
    if (c.md) args.push('-md', c.md);
    args.push(...(c.nocerts ? ['-nocerts'] : ['-certfile', issuingFile]));
    args.push('-from', `Payments <${from}>`, '-to', 'approvers@example.com', '-subject', 'Payment run');
    const out = tmp.path('openssl-signed.eml');
    run('openssl', [...args, '-out', out]);
    return readFileSync(out, 'latin1');
  }

  for (const c of opensslCases) {
    it(`verifyMessage accepts ${c.name}; one changed byte is SMIME_SIGNATURE_INVALID`, async () => {
      let eml = opensslSign(c, `Content-Type: text/plain; charset=utf-8\r\n\r\n${TEXT}\r\nSecond line.\r\n`);
      if (c.lfOnly) eml = eml.replace(/\r\n/g, '\n');
      // The control: OpenSSL verifies what it signed.
      const control = opensslCmsVerify(file('control.eml', eml));
      if (!c.nocerts) expect(control.stderr).toMatch(/Verification successful/);

      const intermediates = c.nocerts ? [...c.signers.map((t) => readFileSync(id(t).certFile, 'latin1')), issuingPem] : undefined;
      const v = await verify(eml, intermediates ? { intermediates } : {});
      expect(v.problems).toEqual([]);
      expect(v.valid).toBe(true);
      expect(v.from?.address).toBe(id(c.signers[0]!).mailbox);
      expect(v.signedPart?.kind).toBe(c.opaque ? 'opaque' : 'detached');
      expect(v.signers.map((s) => s.signature.signatureAlgorithm).sort()).toEqual([...c.expectAlgorithms].sort());
      expect(v.signers.every((s) => s.ok && s.chain?.ok)).toBe(true);
      expect(v.signers.find((s) => s.matchesFrom)?.emails).toEqual([id(c.signers[0]!).mailbox]);
      expect(v.signedContentType).toBe('text/plain');

      const bad = await verify(c.opaque ? tamperOpaque(eml) : replaceOnce(eml, TEXT, TAMPERED_TEXT), intermediates ? { intermediates } : {});
      expect(bad.valid).toBe(false);
      // Every signer's signature breaks; the chain stays good.
      expect(codes(bad)).toEqual(['SMIME_SIGNATURE_INVALID']);
      expect(bad.signers.map((s) => [s.signature.ok, s.chain?.ok])).toEqual(c.signers.map(() => [false, true]));
    });
  }

  it('an OpenSSL -nocerts message without the certificates given is SMIME_SIGNER_CERTIFICATE_MISSING', async () => {
    const eml = opensslSign({ tool: 'cms', signers: ['ec-p256'], nocerts: true }, `Content-Type: text/plain\r\n\r\n${TEXT}\r\n`);
    const v = await verify(eml);
    expect(v.valid).toBe(false);
    expect(codes(v)).toEqual(['SMIME_SIGNER_CERTIFICATE_MISSING']);
  });

  it('an OpenSSL message whose From is not the signer is SMIME_FROM_NOT_SIGNER', async () => {
    let eml = opensslSign({ tool: 'smime', signers: ['rsa-2048'] }, `Content-Type: text/plain\r\n\r\n${TEXT}\r\n`);
    eml = replaceOnce(eml, `From: Payments <${id('rsa-2048').mailbox}>`, 'From: Payments <ceo@example.com>');
    expect(opensslSmimeVerify(file('from.eml', eml)).status).toBe(0); // OpenSSL does not look at From
    const v = await verify(eml);
    expect(v.valid).toBe(false);
    expect(codes(v)).toEqual(['SMIME_FROM_NOT_SIGNER']);
  });

  for (const nodetach of [false, true])
    it(`OpenSSL-signed wrapped message/rfc822 (${nodetach ? 'opaque' : 'detached'}) with another inner From: OpenSSL verifies, mailpki says invalid (finding 1)`, async () => {
      // RFC 8551 §3.1: the signed entity is a whole message; its From (ceo@) is what a §3.1 client shows.
      const me = id('ec-p256');
      const wrapped = file(
        'wrapped.txt',
        `Content-Type: message/rfc822; forwarded=no\r\n\r\nFrom: CEO <ceo@example.com>\r\nTo: approvers@example.com\r\nSubject: Payment run\r\n` +
          `Content-Type: text/plain\r\n\r\n${TEXT}\r\n`,
      );
      const eml = run('openssl', ['smime', '-sign', '-in', wrapped, '-signer', me.certFile, '-inkey', me.keyFile, '-certfile', issuingFile,
        ...(nodetach ? ['-nodetach'] : []), '-from', me.mailbox, '-to', 'approvers@example.com', '-subject', 'Payment run']);
      expect(opensslSmimeVerify(file('wrapped.eml', eml)).status).toBe(0); // OpenSSL does not look at any From
      const v = await verify(eml);
      expect(v.valid).toBe(false);
      expect([...new Set(v.problems.map((p) => p.code))].sort()).toEqual(['SMIME_FROM_NOT_SIGNER', 'SMIME_SIGNED_FROM_MISMATCH']);
      expect(v.signers.map((s) => s.ok)).toEqual([true]);
      expect(v.signedHeaders[0]).toEqual({ name: 'From', value: 'CEO <ceo@example.com>' });
    });

  it('OpenSSL-signed whole message whose outer Subject differs from the signed one: valid, SMIME_OUTER_HEADER_MISMATCH (finding 3)', async () => {
    const me = id('ec-p256');
    const whole = file('whole.txt', `From: ${me.mailbox}\r\nSubject: Payment run 2026-03\r\nContent-Type: text/plain\r\n\r\n${TEXT}\r\n`);
    const eml = run('openssl', ['smime', '-sign', '-in', whole, '-signer', me.certFile, '-inkey', me.keyFile, '-certfile', issuingFile, '-nodetach',
      '-from', me.mailbox, '-to', 'approvers@example.com', '-subject', 'URGENT: new bank details']);
    const v = await verify(eml);
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
    expect(v.warnings.map((w) => [w.code, w.header])).toEqual([['SMIME_OUTER_HEADER_MISMATCH', 'Subject']]);
  });

  it(`OpenSSL ${version.join('.')} ${atLeast(version, 3, 2) ? 'can' : 'cannot'} sign Ed25519 CMS`, async () => {
    const me = id('ed25519');
    const sign = (md: string[]) =>
      runStatus('openssl', ['cms', '-sign', '-in', file('ed-body.txt', `Content-Type: text/plain\r\n\r\n${TEXT}\r\n`), '-signer', me.certFile,
        '-inkey', me.keyFile, '-certfile', issuingFile, ...md, '-from', me.mailbox, '-to', 'approvers@example.com', '-subject', 'Ed25519']);
    const byDefault = sign([]);
    const sha512 = sign(['-md', 'sha512']);
    if (!atLeast(version, 3, 2)) {
      // OpenSSL 3.0: cannot do it, and says so (no digest for Ed25519 / the EdDSA provider refuses
      // a digest): the "unsupported" kind, not a key or file problem.
      expect(byDefault.status).not.toBe(0);
      expect(byDefault.stderr).toMatch(/CMS_add1_signer:no default digest/);
      expect(sha512.status).not.toBe(0); // after writing the headers: OpenSSL streams its output
      expect(sha512.stderr).toMatch(/eddsa_digest_signverify_init:invalid digest/);
      return;
    }
    for (const r of [byDefault, sha512]) {
      expect(r.status).toBe(0);
      const v = await verify(r.stdout);
      expect(v.problems).toEqual([]);
      expect(v.valid).toBe(true);
    }
  });
});
