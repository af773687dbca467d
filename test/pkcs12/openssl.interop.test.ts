/** PKCS#12 interop with OpenSSL 3 (`openssl pkcs12`), both directions, with OpenSSL-made certificates. */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import { decodePem } from '../../src/internal/pem.js';
import { importPrivateKey } from '../../src/keys/index.js';
import { findCertificateForKey } from '../../src/pkcs12/certificate.js';
import { exportPkcs12, importPkcs12 } from '../../src/pkcs12/index.js';
import { describeWithPeers, run, runStatus, tempDir } from '../helpers/peers.js';
import { bytesEqual, flipByte } from './helpers.js';

const LEAVES: Record<string, string[]> = {
  rsa: ['-newkey', 'rsa:2048'],
  p384: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'],
  ed25519: ['-newkey', 'ed25519'],
};
const PASS = 'Pä55 wörd ✓';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(MailPkiError);
    return (e as MailPkiError).code;
  }
  return 'resolved';
}

describeWithPeers('PKCS#12 with OpenSSL', ['openssl'], () => {
  const t = tempDir();
  const der = (pemFile: string) => decodePem(readFileSync(pemFile, 'utf8'), ['CERTIFICATE']).der;
  const bytes = (file: string) => new Uint8Array(readFileSync(file));
  afterAll(() => t.cleanup());

  beforeAll(() => {
    run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', t.path('ca.key'), '-out', t.path('ca.pem'), '-subj', '/CN=Test CA', '-days', '30']);
    for (const [name, args] of Object.entries(LEAVES)) {
      run('openssl', ['req', ...args, '-nodes', '-keyout', t.path(`${name}.key`), '-out', t.path(`${name}.csr`), '-subj', `/CN=${name}@example.com`]);
      run('openssl', ['x509', '-req', '-in', t.path(`${name}.csr`), '-CA', t.path('ca.pem'), '-CAkey', t.path('ca.key'), '-set_serial', '7', '-days', '30', '-out', t.path(`${name}.pem`)]);
    }
  });

  /** `openssl pkcs12 -export` of a leaf with the CA in the chain. */
  function opensslP12(name: string, extra: string[] = [], pass = PASS): Uint8Array {
    const out = t.path(`${name}-${extra.join('')}.p12`);
    run('openssl', ['pkcs12', '-export', '-inkey', t.path(`${name}.key`), '-in', t.path(`${name}.pem`), '-certfile', t.path('ca.pem'), '-name', `${name} key`, '-passout', `pass:${pass}`, '-out', out, ...extra]);
    return bytes(out);
  }

  for (const name of Object.keys(LEAVES)) {
    it(`${name}: reads "openssl pkcs12 -export": key matches certificate, chain holds the CA`, async () => {
      const r = await importPkcs12(opensslP12(name), PASS);
      expect(bytesEqual(r.certificate, der(t.path(`${name}.pem`)))).toBe(true);
      expect(r.chain.map((c) => bytesEqual(c, der(t.path('ca.pem'))))).toEqual([true]);
      expect(r.friendlyName).toBe(`${name} key`);
      expect(await findCertificateForKey(crypto, r.privateKey, [der(t.path(`${name}.pem`))])).toBe(0);
      const fromPem = await importPrivateKey(readFileSync(t.path(`${name}.key`), 'utf8'));
      expect(r.privateKey.algorithm).toEqual(fromPem.algorithm);
    });

    it(`${name}: OpenSSL reads ours (-info -nodes), key and certificate match, CA comes out`, async () => {
      const { privateKey } = await importPkcs12(opensslP12(name), PASS, { extractable: true });
      const file = t.path(`${name}.ours.p12`);
      writeFileSync(file, await exportPkcs12({ privateKey, certificate: der(t.path(`${name}.pem`)), chain: [der(t.path('ca.pem'))], passphrase: PASS, friendlyName: 'Our key', iterations: 2048 }));
      const r = runStatus('openssl', ['pkcs12', '-info', '-in', file, '-nodes', '-passin', `pass:${PASS}`]);
      expect(r.status).toBe(0);
      const info = r.stdout + r.stderr;
      expect(info).toContain('-----BEGIN PRIVATE KEY-----');
      expect(info.match(/-----BEGIN CERTIFICATE-----/g)).toHaveLength(2);
      expect(info).toContain('friendlyName: Our key');
      expect(info).toContain('PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256');
      expect(info).toContain('MAC: sha256, Iteration 2048');
      const keyPem = run('openssl', ['pkcs12', '-in', file, '-nocerts', '-nodes', '-passin', `pass:${PASS}`]);
      writeFileSync(t.path(`${name}.out.key`), keyPem);
      const leafPem = run('openssl', ['pkcs12', '-in', file, '-clcerts', '-nokeys', '-passin', `pass:${PASS}`]);
      writeFileSync(t.path(`${name}.out.pem`), leafPem);
      expect(run('openssl', ['pkey', '-in', t.path(`${name}.out.key`), '-pubout'])).toBe(run('openssl', ['x509', '-in', t.path(`${name}.out.pem`), '-pubkey', '-noout']));
      expect(run('openssl', ['x509', '-in', t.path(`${name}.out.pem`), '-outform', 'DER'])).toBe(run('openssl', ['x509', '-in', t.path(`${name}.pem`), '-outform', 'DER']));
      const caOut = run('openssl', ['pkcs12', '-in', file, '-cacerts', '-nokeys', '-passin', `pass:${PASS}`]);
      expect(bytesEqual(decodePem(caOut, ['CERTIFICATE']).der, der(t.path('ca.pem')))).toBe(true);
      expect(runStatus('openssl', ['pkcs12', '-info', '-in', file, '-nodes', '-passin', 'pass:wrong']).status).not.toBe(0);
    });
  }

  it('reads SHA-1 MACs, unencrypted cert bags (-certpbe NONE), AES-128 and an empty passphrase', async () => {
    for (const extra of [['-macalg', 'sha1'], ['-certpbe', 'NONE'], ['-keypbe', 'AES-128-CBC', '-certpbe', 'AES-128-CBC']]) {
      const r = await importPkcs12(opensslP12('p384', extra), PASS);
      expect(bytesEqual(r.certificate, der(t.path('p384.pem')))).toBe(true);
    }
    expect((await importPkcs12(opensslP12('p384', [], ''), '')).chain).toHaveLength(1);
  });

  it('wrong passphrase and one-byte-tampered OpenSSL files are ERR_PKCS12_MAC_INVALID', async () => {
    const p12 = opensslP12('rsa');
    expect(await codeOf(importPkcs12(p12, 'wrong'))).toBe('ERR_PKCS12_MAC_INVALID');
    for (const at of [Math.floor(p12.length / 3), Math.floor(p12.length / 2), p12.length - 40, p12.length - 1])
      expect(await codeOf(importPkcs12(flipByte(p12, at), PASS))).toMatch(/^ERR_PKCS12_(MAC_INVALID|MALFORMED)$/);
    expect(await codeOf(importPkcs12(flipByte(p12, Math.floor(p12.length / 2)), PASS))).toBe('ERR_PKCS12_MAC_INVALID');
  });

  it('legacy 3DES / RC2 files are ERR_ALGORITHM_UNSUPPORTED with the conversion command, which works', async () => {
    const legacy = opensslP12('p384', ['-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES']);
    const e = await importPkcs12(legacy, PASS).then(() => undefined, (x: unknown) => x as MailPkiError);
    expect(e?.code).toBe('ERR_ALGORITHM_UNSUPPORTED');
    expect(e?.message).toContain('pbeWithSHAAnd3-KeyTripleDES-CBC');
    expect(e?.message).toContain('`openssl pkcs12 -legacy -in old.p12 -out tmp.pem` then `openssl pkcs12 -export -in tmp.pem -out new.p12`');
    writeFileSync(t.path('legacy.p12'), legacy);
    // The two commands the error message gives.
    const pass = ['-passin', `pass:${PASS}`, '-passout', `pass:${PASS}`];
    run('openssl', ['pkcs12', '-legacy', '-in', t.path('legacy.p12'), '-out', t.path('tmp.pem'), ...pass]);
    run('openssl', ['pkcs12', '-export', '-in', t.path('tmp.pem'), '-out', t.path('converted.p12'), ...pass]);
    expect(bytesEqual((await importPkcs12(bytes(t.path('converted.p12')), PASS)).certificate, der(t.path('p384.pem')))).toBe(true);
  });

  it('-nomac files need allowMissingMac', async () => {
    const p12 = opensslP12('ed25519', ['-nomac']);
    expect(await codeOf(importPkcs12(p12, PASS))).toBe('ERR_PKCS12_MAC_INVALID');
    expect((await importPkcs12(p12, PASS, { allowMissingMac: true })).privateKey.algorithm.name).toBe('Ed25519');
  });
});
