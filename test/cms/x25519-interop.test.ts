/**
 * X25519 (RFC 8418) interop. OpenSSL 3.0 has no X25519 in CMS (see test/vectors/cms-x25519/README.md), so the
 * peer is Bouncy Castle 1.72 (test/helpers/BcCms.java): committed vectors it made, and live runs both ways with
 * tampered messages failing on both sides. OpenSSL still makes the keys and certificates, and decrypts the RSA
 * and P-256 parts of a mixed message.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { decryptData, encryptData, importDecryptionKey, parseEnvelopedData, type CmsDecryptionKey } from '../../src/cms/index.js';
import { MailPkiError } from '../../src/errors.js';
import { equalBytes } from '../../src/internal/bytes.js';
import { describeWithPeers, peersRequired, run, runStatus, tempDir } from '../helpers/peers.js';

const vectors = new URL('../vectors/cms-x25519/', import.meta.url);
const read = (name: string) => new Uint8Array(readFileSync(new URL(name, vectors)));
const text = (name: string) => readFileSync(new URL(name, vectors), 'utf8');

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(MailPkiError);
  expect((e as MailPkiError).code).toBe(code);
}

/** The message with one bit of its (first) wrapped content-encryption key flipped. */
function alterWrappedKey(der: Uint8Array): Uint8Array {
  const ri = parseEnvelopedData(der).recipients[0]!;
  if (ri.type !== 'kari') throw new Error('expected a KeyAgreeRecipientInfo');
  const at = Buffer.from(der).indexOf(Buffer.from(ri.encryptedKey));
  expect(at).toBeGreaterThan(0);
  const bad = der.slice();
  bad[at + 3]! ^= 0x40;
  return bad;
}

describe('Bouncy Castle-made X25519 vectors (test/vectors/cms-x25519)', () => {
  let key: CmsDecryptionKey;
  const plain = read('plain.txt');
  beforeAll(async () => {
    key = await importDecryptionKey(text('x25519.key'), text('x25519.pem'));
  });

  for (const [file, alg, integrity] of [
    ['bc-aes256gcm.der', 'aes-256-gcm', true],
    ['bc-aes256cbc.der', 'aes-256-cbc', false],
  ] as const) {
    it(`${file} decrypts to plain.txt`, async () => {
      const r = await decryptData(read(file), [key]);
      expect(equalBytes(r.content, plain)).toBe(true);
      expect(r.contentEncryption).toBe(alg);
      expect(r.keyManagement).toBe('ecdh');
      expect(r.integrityProtected).toBe(integrity);
      const ri = parseEnvelopedData(read(file)).recipients[0]!;
      expect(ri.type === 'kari' && ri.originatorX25519).toBe(true);
    });

    it(`${file} with its wrapped key altered is refused (ERR_CMS_WRONG_KEY)`, async () => {
      await rejects(decryptData(alterWrappedKey(read(file)), [key]), 'ERR_CMS_WRONG_KEY');
    });
  }
});

const BC_JARS = ['bcprov', 'bcpkix', 'bcutil'].map((n) => `/usr/share/java/${n}.jar`);
const haveJars = BC_JARS.every((j) => existsSync(j));
if (!haveJars && !peersRequired) process.stderr.write('\n!!! Bouncy Castle jars missing (apt: libbcpkix-java): the live X25519 interop is skipped\n');

describeWithPeers('X25519 interop with Bouncy Castle, live', haveJars || peersRequired ? ['openssl', 'java', 'javac'] : ['bouncycastle-jars'], () => {
  const tmp = tempDir('mailpki-x25519-');
  const content = new TextEncoder().encode('Content-Type: text/plain\r\n\r\nApprove payment 4711: 25,000.00 EUR.\r\n'.repeat(20));
  let classpath = '';
  const ids = {} as Record<'x' | 'rsa' | 'p256', { cert: Certificate; key: CmsDecryptionKey; certFile: string; keyFile: string }>;
  let pk8 = '';
  let n = 0;
  const file = (name: string) => tmp.path(`${n++}-${name}`);

  const bc = (...args: string[]) => runStatus('java', ['-cp', classpath, 'BcCms', ...args]);

  beforeAll(async () => {
    if (!haveJars) throw new Error(`MAILPKI_REQUIRE_PEERS=1 but the Bouncy Castle jars are missing (${BC_JARS.join(', ')}): apt-get install libbcpkix-java`);
    const classes = tmp.path('classes');
    execFileSync('javac', ['-nowarn', '-d', classes, '-cp', BC_JARS.join(':'), new URL('../helpers/BcCms.java', import.meta.url).pathname], { stdio: 'pipe' });
    classpath = [classes, ...BC_JARS].join(':');
    run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', tmp.path('ca.key'), '-out', tmp.path('ca.pem'), '-subj', '/CN=interop CA', '-days', '30']);
    const ext = tmp.path('ext.cnf');
    writeFileSync(ext, 'keyUsage=critical,keyAgreement\nextendedKeyUsage=emailProtection\n');
    run('openssl', ['genpkey', '-algorithm', 'X25519', '-out', tmp.path('x.key')]);
    run('openssl', ['pkey', '-in', tmp.path('x.key'), '-pubout', '-out', tmp.path('x.pub')]);
    run('openssl', ['x509', '-new', '-force_pubkey', tmp.path('x.pub'), '-subj', '/CN=x25519', '-CA', tmp.path('ca.pem'), '-CAkey', tmp.path('ca.key'), '-days', '30', '-extfile', ext, '-out', tmp.path('x.pem')]);
    pk8 = tmp.path('x.pk8');
    run('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', tmp.path('x.key'), '-outform', 'DER', '-out', pk8]);
    for (const [who, genkey] of [
      ['rsa', ['-newkey', 'rsa:2048']],
      ['p256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']],
    ] as const) {
      run('openssl', ['req', '-x509', ...genkey, '-nodes', '-keyout', tmp.path(`${who}.key`), '-out', tmp.path(`${who}.pem`), '-subj', `/CN=${who}`, '-days', '30']);
    }
    for (const who of ['x', 'rsa', 'p256'] as const) {
      const certFile = tmp.path(`${who}.pem`);
      const keyFile = tmp.path(`${who}.key`);
      const cert = parseCertificate(readFileSync(certFile, 'utf8'));
      ids[who] = { cert, certFile, keyFile, key: await importDecryptionKey(readFileSync(keyFile, 'utf8'), cert) };
    }
  }, 120_000);

  for (const mode of ['gcm', 'cbc'] as const) {
    it(`Bouncy Castle encrypts (${mode}) → mailpki decrypts; altered → refused`, async () => {
      const inFile = file('in.txt');
      const out = file('bc.der');
      writeFileSync(inFile, content);
      const r = bc('encrypt', mode, ids.x.certFile, inFile, out);
      expect(r.status, r.stderr).toBe(0);
      const der = new Uint8Array(readFileSync(out));
      const got = await decryptData(der, [ids.x.key]);
      expect(equalBytes(got.content, content)).toBe(true);
      expect(got.contentEncryption).toBe(mode === 'gcm' ? 'aes-256-gcm' : 'aes-256-cbc');
      // CBC has no integrity check of its own (EFAIL): what must fail there is an altered wrapped key.
      await rejects(decryptData(alterWrappedKey(der), [ids.x.key]), 'ERR_CMS_WRONG_KEY');
      if (mode === 'gcm') {
        const ed = parseEnvelopedData(der);
        const bad = der.slice();
        bad[Buffer.from(der).indexOf(Buffer.from(ed.mac!)) + 5]! ^= 1;
        await rejects(decryptData(bad, [ids.x.key]), 'ERR_CMS_DECRYPTION_FAILED');
      }
    }, 60_000);

    it(`mailpki encrypts (${mode}) → Bouncy Castle decrypts; altered → Bouncy Castle refuses`, async () => {
      const der = await encryptData(content, [{ certificate: ids.x.cert }], { contentEncryption: mode === 'gcm' ? 'aes-256-gcm' : 'aes-128-cbc' });
      const msg = file('mp.der');
      writeFileSync(msg, der);
      const out = file('out.txt');
      const r = bc('decrypt', pk8, ids.x.certFile, msg, out);
      expect(r.status, r.stderr).toBe(0);
      expect(equalBytes(new Uint8Array(readFileSync(out)), content)).toBe(true);
      const altered = [alterWrappedKey(der)];
      if (mode === 'gcm') {
        const bad = der.slice();
        bad[bad.length - 3]! ^= 1; // the tag
        altered.push(bad);
      }
      for (const bad of altered) {
        writeFileSync(msg, bad);
        const out2 = file('out2.txt');
        const r2 = bc('decrypt', pk8, ids.x.certFile, msg, out2);
        expect(r2.status).not.toBe(0);
        expect(existsSync(out2)).toBe(false);
      }
    }, 60_000);
  }

  it('mailpki encrypts to RSA + P-256 + X25519 at once: OpenSSL opens the RSA and P-256 parts, Bouncy Castle the X25519 one', async () => {
    const der = await encryptData(content, [{ certificate: ids.rsa.cert }, { certificate: ids.p256.cert }, { certificate: ids.x.cert }]);
    const msg = file('mixed.der');
    writeFileSync(msg, der);
    for (const who of ['rsa', 'p256'] as const) {
      const out = file(`${who}.out`);
      run('openssl', ['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', msg, '-recip', ids[who].certFile, '-inkey', ids[who].keyFile, '-out', out]);
      expect(equalBytes(new Uint8Array(readFileSync(out)), content)).toBe(true);
    }
    const out = file('x.out');
    const r = bc('decrypt', pk8, ids.x.certFile, msg, out);
    expect(r.status, r.stderr).toBe(0);
    expect(equalBytes(new Uint8Array(readFileSync(out)), content)).toBe(true);
    for (const who of ['rsa', 'p256', 'x'] as const) expect(equalBytes((await decryptData(der, [ids[who].key])).content, content)).toBe(true);
  }, 60_000);
});
