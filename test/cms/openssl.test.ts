/**
 * Interop with OpenSSL 3 `openssl cms`, both directions, tampered cases failing. Keys and
 * certificates are made by OpenSSL itself in a temp dir (one CA + leaf per key type).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { CMS_OID, findSignerCertificate, parseContentInfo, parseSignedData, signData, verifySignerInfo, type CmsSigner } from '../../src/cms/index.js';
import { toHex } from '../../src/internal/bytes.js';
import type { DigestAlgorithm, SignatureAlgorithm } from '../../src/keys/algorithms.js';
import { describeWithPeers, run, runStatus, tempDir } from '../helpers/peers.js';

type KeyType = 'rsa' | 'p256' | 'p384' | 'ed25519';
const KEY_TYPES: readonly KeyType[] = ['rsa', 'p256', 'p384', 'ed25519'];
const GENPKEY: Record<KeyType, string[]> = {
  rsa: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
  p256: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  p384: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'],
  ed25519: ['-algorithm', 'ED25519'],
};

interface Identity {
  type: KeyType;
  caPem: string;
  leafPem: string;
  leafKey: string;
  cert: Certificate;
  pkcs8: Uint8Array<ArrayBuffer>;
}

const subtle = globalThis.crypto.subtle;

/**
 * OpenSSL 3.0 cannot sign or verify Ed25519 CMS ("eddsa_digest_signverify_init:invalid digest");
 * 3.2 can. On 3.0, our Ed25519 output is checked with OpenSSL's primitives instead (below).
 */
function opensslDoesEd25519Cms(): boolean {
  const m = /OpenSSL (\d+)\.(\d+)/.exec(runStatus('openssl', ['version']).stdout);
  return !!m && (Number(m[1]) > 3 || (Number(m[1]) === 3 && Number(m[2]) >= 2));
}
const content = new TextEncoder().encode(
  'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nHello from mailpki.\r\n'.repeat(20),
);

describeWithPeers('CMS interop with OpenSSL', ['openssl'], () => {
  const tmp = tempDir('mailpki-cms-');
  const ids = new Map<KeyType, Identity>();
  let caFile: string;
  const dataFile = tmp.path('data.bin');

  beforeAll(() => {
    writeFileSync(dataFile, content);
    const ext = tmp.path('leaf.cnf');
    writeFileSync(
      ext,
      [
        '[v3]',
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,nonRepudiation',
        'extendedKeyUsage=emailProtection',
        'subjectKeyIdentifier=hash',
        'authorityKeyIdentifier=keyid',
        'subjectAltName=email:$ENV::MAIL',
        '',
      ].join('\n'),
    );
    let serial = 0x4d50;
    for (const type of KEY_TYPES) {
      const p = (n: string) => tmp.path(`${type}-${n}`);
      run('openssl', ['genpkey', ...GENPKEY[type], '-out', p('ca.key')]);
      run('openssl', ['genpkey', ...GENPKEY[type], '-out', p('leaf.key')]);
      const md = type === 'ed25519' ? [] : ['-sha256'];
      run('openssl', [
        'req', '-x509', '-new', '-key', p('ca.key'), ...md, '-days', '30', '-subj', `/O=mailpki test/CN=CMS test CA ${type}`,
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', p('ca.pem'),
      ]);
      run('openssl', ['req', '-new', '-key', p('leaf.key'), ...md, '-subj', `/CN=${type}@example.com`, '-out', p('leaf.csr')]);
      run(
        'openssl',
        ['x509', '-req', '-in', p('leaf.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), ...md, '-set_serial', String(serial++), '-days', '30',
          '-extfile', ext, '-extensions', 'v3', '-out', p('leaf.pem')],
        { env: { ...process.env, MAIL: `${type}@example.com` } },
      );
      run('openssl', ['pkcs8', '-topk8', '-nocrypt', '-outform', 'DER', '-in', p('leaf.key'), '-out', p('leaf.p8')]);
      const leafPem = readFileSync(p('leaf.pem'), 'latin1');
      ids.set(type, {
        type,
        caPem: p('ca.pem'),
        leafPem: p('leaf.pem'),
        leafKey: p('leaf.key'),
        cert: parseCertificate(leafPem),
        pkcs8: new Uint8Array(readFileSync(p('leaf.p8'))),
      });
    }
    caFile = tmp.path('all-ca.pem');
    writeFileSync(caFile, KEY_TYPES.map((t) => readFileSync(ids.get(t)!.caPem, 'latin1')).join(''));
  }, 120_000);

  afterAll(() => tmp.cleanup());

  const id = (t: KeyType) => ids.get(t)!;

  /** A non-extractable WebCrypto key for `alg`, imported from OpenSSL's PKCS#8. */
  async function keyFor(t: KeyType, alg: SignatureAlgorithm): Promise<CryptoKey> {
    const params =
      alg.scheme === 'rsa-pkcs1'
        ? { name: 'RSASSA-PKCS1-v1_5', hash: alg.hash }
        : alg.scheme === 'rsa-pss'
          ? { name: 'RSA-PSS', hash: alg.hash }
          : alg.scheme === 'ecdsa'
            ? { name: 'ECDSA', namedCurve: t === 'p384' ? 'P-384' : 'P-256' }
            : { name: 'Ed25519' };
    return subtle.importKey('pkcs8', id(t).pkcs8, params, false, ['sign']);
  }

  function opensslVerify(sig: Uint8Array, detachedContent?: Uint8Array, extra: string[] = []): { status: number; stderr: string } {
    const sigFile = tmp.path('sig.der');
    writeFileSync(sigFile, sig);
    const args = ['cms', '-verify', '-binary', '-inform', 'DER', '-in', sigFile, '-CAfile', caFile, '-purpose', 'smimesign', '-out', '/dev/null', ...extra];
    if (detachedContent) {
      const f = tmp.path('content.bin');
      writeFileSync(f, detachedContent);
      args.push('-content', f);
    }
    return runStatus('openssl', args);
  }

  /**
   * Ed25519 on OpenSSL 3.0: `openssl pkeyutl -verify -rawin` checks the signature over the
   * signed attributes, `openssl dgst -sha512` the messageDigest, `openssl cms -cmsout` the parse.
   */
  function opensslPrimitiveEd25519Check(der: Uint8Array): void {
    const sd = parseSignedData(der);
    const si = sd.signerInfos[0]!;
    const f = (n: string, b: Uint8Array) => {
      writeFileSync(tmp.path(n), b);
      return tmp.path(n);
    };
    run('openssl', ['cms', '-cmsout', '-inform', 'DER', '-in', f('ed.der', der), '-noout']);
    const pub = tmp.path('ed-pub.pem');
    run('openssl', ['x509', '-in', id('ed25519').leafPem, '-pubkey', '-noout', '-out', pub]);
    const args = (attrs: Uint8Array) => ['pkeyutl', '-verify', '-rawin', '-pubin', '-inkey', pub, '-in', f('attrs.der', attrs), '-sigfile', f('ed.sig', si.signature)];
    expect(runStatus('openssl', args(si.signedAttrs!.der)).status).toBe(0);
    const tampered = si.signedAttrs!.der.slice();
    tampered[tampered.length - 1]! ^= 1;
    expect(runStatus('openssl', args(tampered)).status).not.toBe(0);
    const dgst = run('openssl', ['dgst', '-sha512', '-r', f('ed-content.bin', sd.eContent ?? content)]).split(' ')[0];
    expect(dgst).toBe(toHex(si.signedAttrs!.messageDigest!));
  }

  const cases: { t: KeyType; alg: SignatureAlgorithm }[] = [
    { t: 'rsa', alg: { scheme: 'rsa-pkcs1', hash: 'SHA-256' } },
    { t: 'rsa', alg: { scheme: 'rsa-pkcs1', hash: 'SHA-384' } },
    { t: 'rsa', alg: { scheme: 'rsa-pkcs1', hash: 'SHA-512' } },
    { t: 'rsa', alg: { scheme: 'rsa-pss', hash: 'SHA-256' } },
    { t: 'rsa', alg: { scheme: 'rsa-pss', hash: 'SHA-384' } },
    { t: 'rsa', alg: { scheme: 'rsa-pss', hash: 'SHA-512' } },
    { t: 'p256', alg: { scheme: 'ecdsa', hash: 'SHA-256' } },
    { t: 'p256', alg: { scheme: 'ecdsa', hash: 'SHA-512' } },
    { t: 'p384', alg: { scheme: 'ecdsa', hash: 'SHA-384' } },
    { t: 'ed25519', alg: { scheme: 'ed25519', hash: 'SHA-512' } },
  ];

  describe('mailpki signs, openssl cms -verify checks', () => {
    for (const { t, alg } of cases) {
      for (const detached of [true, false]) {
        it(`${t} ${alg.scheme} ${alg.hash} ${detached ? 'detached' : 'opaque'}; one changed byte fails`, async () => {
          const key = await keyFor(t, alg);
          const der = await signData(content, { signers: [{ key, certificate: id(t).cert, algorithm: alg }], detached });
          if (t === 'ed25519' && !opensslDoesEd25519Cms()) {
            opensslPrimitiveEd25519Check(der);
            return;
          }
          const good = opensslVerify(der, detached ? content : undefined);
          expect(good.stderr).toContain('Verification successful');
          expect(good.status).toBe(0);
          let bad;
          if (detached) {
            const changed = content.slice();
            changed[40]! ^= 0x01;
            bad = opensslVerify(der, changed);
          } else {
            const at = toHex(der).indexOf(toHex(content.subarray(0, 32))) / 2;
            expect(at).toBeGreaterThan(0);
            const changed = der.slice();
            changed[at + 40]! ^= 0x01;
            bad = opensslVerify(changed);
          }
          expect(bad.status).not.toBe(0);
          expect(bad.stderr).toMatch(/digest failure|Verification failure/);
        });
      }
    }

    it('subjectKeyIdentifier sid, and two signers (RSA + ECDSA P-384), both checked by OpenSSL', async () => {
      const signers: CmsSigner[] = [
        { key: await keyFor('rsa', { scheme: 'rsa-pkcs1', hash: 'SHA-256' }), certificate: id('rsa').cert, sid: 'subjectKeyIdentifier' },
        { key: await keyFor('p384', { scheme: 'ecdsa', hash: 'SHA-384' }), certificate: id('p384').cert },
      ];
      const der = await signData(content, { signers });
      expect(parseSignedData(der).version).toBe(3);
      const r = opensslVerify(der, content);
      expect(r.stderr).toContain('Verification successful');
      expect(r.status).toBe(0);
    });

    it('OpenSSL -cades checks our ESS signingCertificateV2', async () => {
      const der = await signData(content, { signers: [{ key: await keyFor('p256', { scheme: 'ecdsa', hash: 'SHA-256' }), certificate: id('p256').cert }] });
      const r = opensslVerify(der, content, ['-cades']);
      expect(r.stderr).toContain('Verification successful');
      expect(r.status).toBe(0);
    });

    it('openssl cms -cmsout -print reads our attributes', async () => {
      const der = await signData(content, { signers: [{ key: await keyFor('rsa', { scheme: 'rsa-pkcs1', hash: 'SHA-256' }), certificate: id('rsa').cert }] });
      const f = tmp.path('print.der');
      writeFileSync(f, der);
      const out = run('openssl', ['cms', '-cmsout', '-print', '-inform', 'DER', '-in', f]);
      expect(out).toContain('algorithm: rsaEncryption');
      expect(out).toContain('object: signingTime');
      expect(out).toContain('object: S/MIME Capabilities');
      expect(out).toMatch(/object: (id-smime-aa-signingCertificateV2|signingCertificateV2)/);
    });
  });

  describe('openssl cms -sign signs, mailpki verifies', () => {
    /** `-keyopt` applies to the signer before it, so it goes after the signers. */
    function opensslSign(signers: KeyType[], flags: string[], input = dataFile): Uint8Array {
      const out = tmp.path('ossl.der');
      const args = ['cms', '-sign', '-binary', '-in', input, '-outform', 'DER', '-out', out];
      // OpenSSL 3.0 has no default digest for Ed25519 in CMS: RFC 8419 says SHA-512.
      if (signers.includes('ed25519') && !flags.includes('-md')) args.push('-md', 'sha512');
      for (const s of signers) args.push('-signer', id(s).leafPem, '-inkey', id(s).leafKey);
      args.push(...flags);
      run('openssl', args);
      return new Uint8Array(readFileSync(out));
    }

    async function verifyAll(der: Uint8Array, opts: { content?: Uint8Array; extraCerts?: Certificate[] } = {}) {
      const sd = parseSignedData(der);
      const certs = [...sd.certificates.map((c) => parseCertificate(c)), ...(opts.extraCerts ?? [])];
      const data = opts.content ?? sd.eContent!;
      const digestCache = new Map<string, Promise<Uint8Array>>();
      const results = [];
      for (const si of sd.signerInfos) {
        const cert = findSignerCertificate(si.sid, certs);
        expect(cert, 'signer certificate found').toBeDefined();
        results.push(await verifySignerInfo(si, { content: data, eContentType: sd.eContentType, certificate: cert!, digestCache }));
      }
      return { sd, results };
    }

    const flipped = (() => {
      const c = content.slice();
      c[10]! ^= 0x20;
      return c;
    })();

    const single: { name: string; t: KeyType; flags: string[]; digest: DigestAlgorithm; scheme: string }[] = [
      { name: 'RSA detached', t: 'rsa', flags: [], digest: 'SHA-256', scheme: 'rsa-pkcs1' },
      { name: 'RSA -md sha384', t: 'rsa', flags: ['-md', 'sha384'], digest: 'SHA-384', scheme: 'rsa-pkcs1' },
      { name: 'RSA -md sha512', t: 'rsa', flags: ['-md', 'sha512'], digest: 'SHA-512', scheme: 'rsa-pkcs1' },
      { name: 'RSA-PSS', t: 'rsa', flags: ['-keyopt', 'rsa_padding_mode:pss'], digest: 'SHA-256', scheme: 'rsa-pss' },
      { name: 'RSA-PSS -md sha512', t: 'rsa', flags: ['-keyopt', 'rsa_padding_mode:pss', '-md', 'sha512'], digest: 'SHA-512', scheme: 'rsa-pss' },
      { name: 'ECDSA P-256', t: 'p256', flags: [], digest: 'SHA-256', scheme: 'ecdsa' },
      { name: 'ECDSA P-384 -md sha384', t: 'p384', flags: ['-md', 'sha384'], digest: 'SHA-384', scheme: 'ecdsa' },
      { name: 'Ed25519', t: 'ed25519', flags: [], digest: 'SHA-512', scheme: 'ed25519' },
    ];
    for (const c of single) {
      it.skipIf(c.t === 'ed25519' && !opensslDoesEd25519Cms())(`${c.name}: verifies; changed content → CMS_DIGEST_MISMATCH`, async () => {
        const der = opensslSign([c.t], c.flags);
        const { sd, results } = await verifyAll(der, { content });
        expect(sd.eContent).toBeUndefined();
        expect(sd.signerInfos[0]!.digestAlgorithm).toBe(c.digest);
        expect(sd.signerInfos[0]!.signatureAlgorithm).toMatchObject({ scheme: c.scheme });
        expect(results[0]!.problems).toEqual([]);
        expect(results[0]!.ok).toBe(true);
        expect(results[0]!.signingTime).toBeInstanceOf(Date);
        const bad = await verifyAll(der, { content: flipped });
        expect(bad.results[0]!.ok).toBe(false);
        expect(bad.results[0]!.problems.map((p) => p.code)).toEqual(['CMS_DIGEST_MISMATCH']);
      });
    }

    it('-nodetach: the content is inside and verifies', async () => {
      const { sd, results } = await verifyAll(opensslSign(['rsa'], ['-nodetach']));
      expect(sd.eContent).toEqual(content);
      expect(results[0]!.problems).toEqual([]);
    });

    it('two -signer options (RSA and P-256): both verify', async () => {
      const { sd, results } = await verifyAll(opensslSign(['rsa', 'p256'], []), { content });
      expect(sd.signerInfos).toHaveLength(2);
      expect(results.map((r) => r.ok)).toEqual([true, true]);
    });

    it('-nocerts: no certificates; the signer is found among certificates given by the caller', async () => {
      const der = opensslSign(['p384'], ['-nocerts']);
      const { sd, results } = await verifyAll(der, { content, extraCerts: [id('rsa').cert, id('p384').cert] });
      expect(sd.certificates).toEqual([]);
      expect(results[0]!.ok).toBe(true);
    });

    it('-cades: ESS signingCertificateV2 checked; another certificate with the same name → mismatch', async () => {
      const der = opensslSign(['rsa'], ['-cades']);
      const { sd, results } = await verifyAll(der, { content });
      expect(sd.signerInfos[0]!.signedAttrs!.signingCertificateV2).toHaveLength(1);
      expect(results[0]!.problems).toEqual([]);
      const other = await verifySignerInfo(sd.signerInfos[0]!, { content, certificate: id('p256').cert });
      expect(other.problems.map((p) => p.code).sort()).toEqual(['CMS_SIGNATURE_INVALID', 'CMS_SIGNING_CERTIFICATE_MISMATCH']);
    });

    it('-stream -nodetach (indefinite-length BER, chunked eContent) parses and verifies', async () => {
      const big = new Uint8Array(100_000).map((_, i) => (i * 7) & 0xff);
      const f = tmp.path('big.bin');
      writeFileSync(f, big);
      const der = opensslSign(['p256'], ['-stream', '-nodetach'], f);
      expect(der[1]).toBe(0x80); // indefinite length: not DER
      expect(parseContentInfo(der).kind).toBe('signed-data');
      const { sd, results } = await verifyAll(der);
      expect(sd.eContent!.length).toBe(big.length);
      expect(toHex(sd.eContent!.subarray(0, 64))).toBe(toHex(big.subarray(0, 64)));
      expect(results[0]!.problems).toEqual([]);
    });

    it('-indef detached (indefinite-length BER) parses and verifies', async () => {
      const der = opensslSign(['rsa'], ['-indef']);
      expect(der[1]).toBe(0x80);
      const { results } = await verifyAll(der, { content });
      expect(results[0]!.problems).toEqual([]);
    });

    it('eContentType stays id-data and the version is 1', async () => {
      const { sd } = await verifyAll(opensslSign(['rsa'], []), { content });
      expect(sd.eContentType).toBe(CMS_OID.data);
      expect(sd.version).toBe(1);
    });
  });
});
