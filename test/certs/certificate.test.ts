import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import { certificateEmails, certificateMailboxes, parseCertificate, parseCertificates, type Certificate } from '../../src/certs/certificate.js';
import { describeCertificate, formatDescription } from '../../src/certs/describe.js';
import { parseCsr } from '../../src/certs/csr.js';
import { LocalCA } from '../../src/ca/local-ca.js';
import { MemoryCaStorage } from '../../src/ca/storage.js';
import { normalizeAddress } from '../../src/mime/index.js';
import { describeWithPeers, run, tempDir } from '../helpers/peers.js';

describeWithPeers('certificates made by OpenSSL', ['openssl'], () => {
  const t = tempDir();
  let pem: string;
  let cert: Certificate;
  beforeAll(() => {
    run('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', t.path('k.pem'), '-out', t.path('c.pem'), '-days', '30',
      '-subj', '/O=Example Corp/CN=Payments Desk/emailAddress=Legacy@Example.com',
      '-addext', 'subjectAltName=email:payments@example.com,DNS:mail.example.com',
      '-addext', 'keyUsage=critical,digitalSignature,nonRepudiation',
      '-addext', 'extendedKeyUsage=emailProtection,clientAuth',
      '-addext', 'certificatePolicies=2.23.140.1.5.1.3',
      '-addext', 'crlDistributionPoints=URI:http://crl.example.com/ca.crl',
      '-addext', 'authorityInfoAccess=OCSP;URI:http://ocsp.example.com',
    ]);
    pem = run('cat', [t.path('c.pem')]);
    cert = parseCertificate(pem);
  });
  afterAll(() => t.cleanup());

  it('reads every field mail PKI needs', () => {
    expect(cert.version).toBe(3);
    // The subject emailAddress beside a SAN rfc822Name binds nothing (RFC 5280 §4.2.1.6, RFC 8550 §3).
    expect(certificateEmails(cert)).toEqual(['payments@example.com']);
    expect(certificateMailboxes(cert)).toEqual({ emails: ['payments@example.com'], source: 'subjectAltName', ignored: ['Legacy@Example.com'] });
    expect(cert.subjectAltName?.dnsNames).toEqual(['mail.example.com']);
    expect(cert.keyUsage).toEqual(['digitalSignature', 'nonRepudiation']);
    expect(cert.extKeyUsage).toEqual(['1.3.6.1.5.5.7.3.4', '1.3.6.1.5.5.7.3.2']);
    expect(cert.policies).toEqual(['2.23.140.1.5.1.3']);
    expect(cert.crlDistributionPoints).toEqual(['http://crl.example.com/ca.crl']);
    expect(cert.ocspUrls).toEqual(['http://ocsp.example.com']);
    expect(cert.publicKey).toMatchObject({ kind: 'rsa', bits: 2048 });
    expect(cert.notAfter.getTime() - cert.notBefore.getTime()).toBe(30 * 86_400_000);
    const serial = run('openssl', ['x509', '-in', t.path('c.pem'), '-noout', '-serial']).trim().split('=')[1]!;
    // Both print whole bytes; ours drops leading zero bytes only (a leading zero nibble stays).
    expect(cert.serialNumber).toBe(serial.toLowerCase().replace(/^(00)+(?=.)/, ''));
  });

  it('describes it with the same fingerprint OpenSSL computes', async () => {
    const d = await describeCertificate(cert);
    const fp = run('openssl', ['x509', '-in', t.path('c.pem'), '-noout', '-fingerprint', '-sha256']).trim().split('=')[1]!;
    expect(d.fingerprints.sha256).toBe(fp.replace(/:/g, '').toLowerCase());
    expect(d.subject).toBe('emailAddress=Legacy@Example.com,CN=Payments Desk,O=Example Corp');
    expect(d.smimeProfile).toBe('strict');
    expect(d.extendedKeyUsage).toEqual(['idKpEmailProtection', 'idKpClientAuth']);
    expect(d).toMatchObject({ emails: ['payments@example.com'], emailSource: 'subjectAltName', unboundEmails: ['Legacy@Example.com'] });
    expect(formatDescription(d)).toContain('Emails:       payments@example.com\n');
    expect(formatDescription(d)).toContain('Not bound:    Legacy@Example.com');
  });

  it('binds the mailboxes openssl x509 -checkemail accepts, and no other (finding 2)', () => {
    // The subject holds Legacy@Example.com beside the SAN's payments@example.com; a second certificate has no SAN mailbox.
    run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', t.path('k2.pem'), '-out', t.path('legacy.pem'),
      '-days', '30', '-subj', '/CN=Legacy Desk/emailAddress=legacy@example.com', '-addext', 'subjectAltName=DNS:mail.example.com']);
    const legacy = parseCertificate(run('cat', [t.path('legacy.pem')]));
    expect(certificateMailboxes(legacy)).toEqual({ emails: ['legacy@example.com'], source: 'subject', ignored: [] });
    for (const [file, c] of [['c.pem', cert], ['legacy.pem', legacy]] as const)
      for (const email of ['payments@example.com', 'Legacy@Example.com', 'legacy@example.com']) {
        const openssl = !run('openssl', ['x509', '-in', t.path(file), '-noout', '-checkemail', email]).includes('does NOT match');
        expect([file, email, certificateEmails(c).some((e) => normalizeAddress(e) === normalizeAddress(email))]).toEqual([file, email, openssl]);
      }
  });

  it('an SmtpUTF8Mailbox (RFC 8398) in the SAN binds, and a subject emailAddress beside it does not, as openssl x509 -checkemail says (SmtpUTF8Mailbox SAN)', () => {
    const utf8Mailbox = (file: string, mailbox: string) =>
      run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', t.path(`k-${file}`), '-out', t.path(file),
        '-days', '30', '-subj', '/CN=someone/emailAddress=ceo@example.com', '-addext', `subjectAltName=otherName:1.3.6.1.5.5.7.8.9;UTF8:${mailbox}`]);
    utf8Mailbox('u1.pem', 'payments@example.com');
    const u1 = parseCertificate(run('cat', [t.path('u1.pem')]));
    expect(certificateMailboxes(u1)).toEqual({ emails: ['payments@example.com'], source: 'subjectAltName', ignored: ['ceo@example.com'] });
    for (const [file, c] of [['u1.pem', u1]] as const)
      for (const email of ['payments@example.com', 'ceo@example.com', 'Payments@example.com', 'payments@EXAMPLE.com']) {
        const openssl = !run('openssl', ['x509', '-in', t.path(file), '-noout', '-checkemail', email]).includes('does NOT match');
        expect([file, email, certificateEmails(c).some((e) => normalizeAddress(e) === normalizeAddress(email))]).toEqual([file, email, openssl]);
      }
  });

  it('reads a bundle in order and ignores text between blocks', () => {
    const certs = parseCertificates(`subject=whatever\n${pem}\nnoise\n${pem}`);
    expect(certs.map((c) => c.serialNumber)).toEqual([cert.serialNumber, cert.serialNumber]);
  });
});

describe('hostile certificate and CSR input', () => {
  it('gives coded errors for garbage, truncation and wrong PEM labels', () => {
    const codes = [
      () => parseCertificate(new Uint8Array([0x30, 0x03, 0x02, 0x01])),
      () => parseCertificate('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'),
      () => parseCertificate('-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n'),
      () => parseCertificate(new Uint8Array(70_000).fill(0x30)),
      () => parseCsr(new Uint8Array([1, 2, 3])),
    ].map((f) => {
      try {
        f();
        return 'no error';
      } catch (e) {
        return (e as MailPkiError).code;
      }
    });
    expect(codes).toEqual(['ERR_CERT_MALFORMED', 'ERR_PEM_MALFORMED', 'ERR_PEM_MALFORMED', 'ERR_INPUT_TOO_LARGE', 'ERR_CSR_MALFORMED']);
  });

  it('never throws anything but MailPkiError on random or mutated bytes (property)', async () => {
    const ca = await LocalCA.create(new MemoryCaStorage());
    const seed = ca.rootCertificate.der;
    const check = (bytes: Uint8Array) => {
      for (const f of [parseCertificate, parseCsr]) {
        try {
          f(bytes);
        } catch (e) {
          if (!(e instanceof MailPkiError)) throw e;
        }
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => check(b)), { numRuns: 1000 });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: seed.length - 1 }), fc.integer({ min: 0, max: 255 }), (i, v) => {
        const m = seed.slice();
        m[i] = v;
        check(m);
        check(m.subarray(0, i));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('certificate mailboxes on hostile sizes', () => {
  it('a SAN with 20,000 rfc822Names is de-duplicated in linear time (quadratic de-dup took 4 s per signer for 8,000)', async () => {
    const ca = await LocalCA.create(new MemoryCaStorage());
    const root = ca.rootCertificate;
    const names = Array.from({ length: 20_000 }, (_, i) => `${i.toString(36)}@b`);
    const cert: Certificate = { ...root, subjectAltName: { rfc822Names: [...names, ...names], dnsNames: [], uris: [], directoryNames: [], ipAddresses: [], otherNames: [], smtpUtf8Mailboxes: [] } };
    const t = performance.now();
    const m = certificateMailboxes(cert);
    expect(performance.now() - t).toBeLessThan(2000);
    expect(m.emails).toEqual(names);
  });
});
