/**
 * CRL interop with OpenSSL 3, both ways: our CRLs are read, verified and applied by `openssl crl`
 * and `openssl verify -crl_check`; a CRL made by `openssl ca -gencrl` is read and verified by ours.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CA_FILES, LocalCA, MemoryCaStorage, type CaKeyType } from '../../src/ca/index.js';
import { keySigner } from '../../src/certs/builder.js';
import { certificateToPem, parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { fromUtf8 } from '../../src/internal/bytes.js';
import { defaultSignatureAlgorithm, exportSpki, generateKeyPair, importPrivateKey } from '../../src/keys/index.js';
import { createCrl, crlToPem, parseCrl, verifyCrl } from '../../src/revocation/crl.js';
import { describeWithPeers, run, runStatus, tempDir } from '../helpers/peers.js';

const HOUR = 3_600_000;

for (const keyType of ['ec-p256', 'rsa-2048'] as CaKeyType[]) {
  describeWithPeers(`CRL interop with OpenSSL (${keyType} CA)`, ['openssl'], () => {
    const tmp = tempDir('mailpki-crl-');
    const f = tmp.path;
    let ca: LocalCA;
    let issuer: Certificate;
    let revoked: Certificate;
    let good: Certificate;
    let keyPem: string;
    let ourCrl: Uint8Array;
    const now = new Date();
    const compromisedAt = new Date(Math.floor((now.getTime() - 48 * HOUR) / 1000) * 1000);

    beforeAll(async () => {
      const storage = new MemoryCaStorage();
      ca = await LocalCA.create(storage, { keyType, allowedDomains: ['example.com'] }, { clock: () => new Date(now.getTime() - 24 * HOUR) });
      issuer = ca.issuingCertificate;
      keyPem = fromUtf8((await storage.read(CA_FILES.issuingKey))!);
      const key = await importPrivateKey(keyPem);
      const spki = await exportSpki((await generateKeyPair('ec-p256')).publicKey);
      revoked = parseCertificate((await ca.issue({ mailbox: 'revoked@example.com', publicKey: spki })).certificate);
      good = parseCertificate((await ca.issue({ mailbox: 'good@example.com', publicKey: spki })).certificate);
      ourCrl = await createCrl({
        issuer,
        signer: keySigner(key, defaultSignatureAlgorithm(key)),
        thisUpdate: new Date(now.getTime() - HOUR),
        nextUpdate: new Date(now.getTime() + 7 * 24 * HOUR),
        crlNumber: 42,
        entries: [
          { serialNumber: revoked.serialNumber, revocationDate: new Date(now.getTime() - 2 * HOUR), reason: 'keyCompromise', invalidityDate: compromisedAt },
          { serialNumber: '0a', revocationDate: new Date(now.getTime() - 3 * HOUR), reason: 'superseded' },
          { serialNumber: '0b', revocationDate: new Date(now.getTime() - 3 * HOUR), reason: 'cessationOfOperation' },
        ],
      });
      writeFileSync(f('crl.pem'), crlToPem(ourCrl));
      writeFileSync(f('issuing-chain.pem'), certificateToPem(issuer) + certificateToPem(ca.rootCertificate));
      writeFileSync(f('root+issuing.pem'), certificateToPem(ca.rootCertificate) + certificateToPem(issuer));
      writeFileSync(f('issuing.pem'), certificateToPem(issuer));
      writeFileSync(f('key.pem'), keyPem);
      writeFileSync(f('revoked.pem'), certificateToPem(revoked));
      writeFileSync(f('good.pem'), certificateToPem(good));
    });
    afterAll(() => tmp.cleanup());

    it('openssl crl verifies our CRL against the issuing chain', () => {
      const r = runStatus('openssl', ['crl', '-in', f('crl.pem'), '-CAfile', f('issuing-chain.pem'), '-noout']);
      expect(r.stderr + r.stdout).toMatch(/verify OK/);
      expect(r.status).toBe(0);
    });

    it('openssl crl -text shows the reasons, the invalidity date, the CRL number and the AKI', () => {
      const text = run('openssl', ['crl', '-in', f('crl.pem'), '-text', '-noout']);
      expect(text).toMatch(/Version 2 \(0x1\)/);
      expect(text).toMatch(/X509v3 CRL Number:\s*\n\s*42/);
      expect(text).toMatch(/X509v3 Authority Key Identifier/);
      expect(text).toMatch(/Key Compromise/);
      expect(text).toMatch(/Superseded/);
      expect(text).toMatch(/Cessation Of Operation/);
      expect(text).toMatch(/Invalidity Date/);
      expect(text.match(/Serial Number:/g)).toHaveLength(3);
    });

    it('openssl verify -crl_check: the revoked leaf is revoked, the other is OK', () => {
      const bad = runStatus('openssl', ['verify', '-crl_check', '-CRLfile', f('crl.pem'), '-CAfile', f('root+issuing.pem'), f('revoked.pem')]);
      expect(bad.status).not.toBe(0);
      expect(bad.stdout + bad.stderr).toMatch(/certificate revoked/);
      const ok = runStatus('openssl', ['verify', '-crl_check', '-CRLfile', f('crl.pem'), '-CAfile', f('root+issuing.pem'), f('good.pem')]);
      expect(ok.stdout + ok.stderr).toMatch(/good\.pem: OK/);
      expect(ok.status).toBe(0);
    });

    it('a tampered byte is refused by OpenSSL and by verifyCrl', async () => {
      const bad = ourCrl.slice();
      const crl = parseCrl(ourCrl);
      const at = crl.tbs.byteOffset - ourCrl.byteOffset + crl.tbs.length - 1; // the cRLNumber value, last signed byte
      bad[at]! ^= 0x01;
      writeFileSync(f('tampered.pem'), crlToPem(bad));
      const r = runStatus('openssl', ['crl', '-in', f('tampered.pem'), '-CAfile', f('issuing-chain.pem'), '-noout']);
      expect(r.stdout + r.stderr).toMatch(/verify failure/);
      const v = await verifyCrl(parseCrl(bad), issuer, { at: now });
      expect(v.problems.map((p) => p.code)).toEqual(['CRL_SIGNATURE_INVALID']);
    });

    it('a CRL made by openssl ca -gencrl is parsed and verified by ours, lookups right', async () => {
      const ymd = (d: Date) => d.toISOString().replace(/^\d\d(\d\d)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d).*$/, '$1$2$3$4$5$6Z');
      const gen = (d: Date) => d.toISOString().replace(/^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d).*$/, '$1$2$3$4$5$6Z');
      const exp = ymd(new Date(now.getTime() + 300 * 24 * HOUR));
      const rev = new Date(Math.floor((now.getTime() - 5 * HOUR) / 1000) * 1000);
      const lines = [
        ['R', exp, `${ymd(rev)},keyCompromise`, revoked.serialNumber.toUpperCase(), 'unknown', '/CN=revoked'],
        ['R', exp, `${ymd(rev)},superseded`, '0A', 'unknown', '/CN=a'],
        ['R', exp, ymd(rev), '0B', 'unknown', '/CN=b'],
        ['R', exp, `${ymd(rev)},keyTime,${gen(compromisedAt)}`, '0C', 'unknown', '/CN=c'],
        ['R', exp, `${ymd(rev)},certificateHold,holdInstructionReject`, '0D', 'unknown', '/CN=d'],
        ['V', exp, '', good.serialNumber.toUpperCase(), 'unknown', '/CN=good'],
      ];
      writeFileSync(f('index.txt'), lines.map((l) => `${l.join('\t')}\n`).join(''));
      writeFileSync(f('index.txt.attr'), 'unique_subject = no\n');
      writeFileSync(f('crlnumber'), '1000\n');
      writeFileSync(
        f('ca.cnf'),
        `[ ca ]\ndefault_ca = d\n[ d ]\ndatabase = ${f('index.txt')}\ncrlnumber = ${f('crlnumber')}\ndefault_md = sha256\ndefault_crl_days = 7\ncrl_extensions = crl_ext\n[ crl_ext ]\nauthorityKeyIdentifier = keyid:always\n`,
      );
      run('openssl', ['ca', '-config', f('ca.cnf'), '-gencrl', '-keyfile', f('key.pem'), '-cert', f('issuing.pem'), '-out', f('openssl.crl'), '-batch']);
      const pem = run('openssl', ['crl', '-in', f('openssl.crl')]);
      expect(pem).toMatch(/-----BEGIN X509 CRL-----/);
      const crl = parseCrl(pem);
      expect(crl.entryCount).toBe(5);
      expect(crl.crlNumber).toBe(0x1000n);
      expect(crl.authorityKeyIdentifier).toEqual(issuer.subjectKeyIdentifier);
      expect(crl.unsupportedCriticalExtensions).toEqual([]);
      // openssl ca stamps thisUpdate with its own clock, a little after `now`.
      expect(await verifyCrl(crl, issuer, { at: new Date(crl.thisUpdate.getTime() + 1000) })).toEqual({ ok: true, problems: [] });
      expect(crl.lookup(revoked.serialNumber)).toEqual({ revocationDate: rev, reason: 'keyCompromise' });
      expect(crl.lookup('0a')).toEqual({ revocationDate: rev, reason: 'superseded' });
      expect(crl.lookup('0b')).toEqual({ revocationDate: rev });
      expect(crl.lookup('0c')).toEqual({ revocationDate: rev, reason: 'keyCompromise', invalidityDate: compromisedAt });
      expect(crl.lookup('0d')).toEqual({ revocationDate: rev, reason: 'certificateHold' }); // holdInstructionCode ignored
      expect(crl.lookup(good.serialNumber)).toBeUndefined();
      // And it is the same verdict OpenSSL gives with its own CRL.
      const v = runStatus('openssl', ['verify', '-crl_check', '-CRLfile', f('openssl.crl'), '-CAfile', f('root+issuing.pem'), f('revoked.pem')]);
      expect(v.stdout + v.stderr).toMatch(/certificate revoked/);
    });
  });
}
