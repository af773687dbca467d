/** The exact verdict verifyMessage gives: every field for a good message, line endings, and `at`. */
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Certificate } from '../../src/certs/certificate.js';
import { formatName } from '../../src/certs/name.js';
import { MailPkiError } from '../../src/errors.js';
import { signMessage, verifyMessage, type CertificateSummary } from '../../src/smime/index.js';
import { fromLatin1 } from '../../src/internal/bytes.js';
import {
  EXPIRED_INSIDE,
  GOOD_FROM,
  NOW,
  entityOf,
  makeSmimeFixture,
  plainMessage,
  sign,
  verifyOptions,
  type SmimeFixture,
} from './fixtures.js';

let f: SmimeFixture;
let good: string;

beforeAll(async () => {
  f = await makeSmimeFixture();
  good = await sign(plainMessage(), f.payments);
});

const summary = (c: Certificate): CertificateSummary => ({
  subject: formatName(c.subject),
  issuer: formatName(c.issuer),
  serialNumber: c.serialNumber,
  notBefore: c.notBefore.toISOString(),
  notAfter: c.notAfter.toISOString(),
});

describe('a good message', () => {
  it('gives exactly this verdict', async () => {
    const v = await verifyMessage(good, verifyOptions(f));
    const leaf = f.payments.certificate;
    expect(v).toEqual({
      valid: true,
      signedScope: 'entire',
      signedPart: { path: [], kind: 'detached', contentType: 'multipart/signed' },
      from: { address: 'payments@example.com', name: 'Payments' },
      signers: [
        {
          layer: 0,
          index: 0,
          certificate: {
            subject: 'CN=payments@example.com',
            issuer: 'CN=Fixture CA S/MIME Issuing CA,O=Fixture CA',
            serialNumber: leaf.serialNumber,
            notBefore: GOOD_FROM.toISOString(),
            notAfter: '2027-01-01T00:00:00.000Z',
          },
          emails: ['payments@example.com'],
          emailSource: 'subjectAltName',
          signature: {
            ok: true,
            digestAlgorithm: 'SHA-256',
            signatureAlgorithm: 'ecdsa-sha256',
            signingTime: NOW.toISOString(),
            problems: [],
          },
          chain: {
            ok: true,
            path: [summary(leaf), summary(f.ca.issuingCertificate), summary(f.ca.rootCertificate)],
            problems: [],
            policies: {
              userConstrainedPolicySet: ['2.23.140.1.5.1.3'],
              authorityConstrainedPolicySet: ['2.23.140.1.5.1.3'],
              anyPolicy: false,
              explicitPolicyRequired: false,
            },
          },
          // No revocation option: nothing is checked (and nothing fetched), so no `revocation` here.
          matchesFrom: true,
          ok: true,
        },
      ],
      signedHeaders: [
        { name: 'Content-Type', value: 'text/plain; charset=us-ascii' },
        { name: 'Content-Transfer-Encoding', value: '7bit' },
      ],
      signedContentType: 'text/plain',
      layers: [{ kind: 'signed', signatureLayer: 0, form: 'detached' }],
      headerProtection: [],
      problems: [],
      warnings: [],
      at: NOW.toISOString(),
    });
    expect(v.signers[0]!.chain!.path.map((c) => c.subject)).toEqual([
      'CN=payments@example.com',
      'CN=Fixture CA S/MIME Issuing CA,O=Fixture CA',
      'CN=Fixture CA Root,O=Fixture CA',
    ]);
  });

  it('includeCertificates: every summary also carries the certificate (DER, base64) and its SHA-256; without it, neither', async () => {
    const plain = await verifyMessage(good, verifyOptions(f));
    const v = await verifyMessage(good, { ...verifyOptions(f), includeCertificates: true });
    const withCert = (c: Certificate) => ({ ...summary(c), der: Buffer.from(c.der).toString('base64'), sha256: createHash('sha256').update(c.der).digest('hex') });
    expect(v.signers[0]!.certificate).toEqual(withCert(f.payments.certificate));
    expect(v.signers[0]!.chain!.path).toEqual([withCert(f.payments.certificate), withCert(f.ca.issuingCertificate), withCert(f.ca.rootCertificate)]);
    // Nothing else changes; the plain verdict has no certificate bytes.
    const strip = (x: unknown) => JSON.parse(JSON.stringify(x, (k, val) => (k === 'der' || k === 'sha256' ? undefined : val)));
    expect(strip(v)).toEqual(strip(plain));
    expect(JSON.stringify(plain)).not.toMatch(/"der"|"sha256"/);
    // Summaries are copies: changing one changes no later verdict.
    v.signers[0]!.certificate!.der = 'changed';
    expect((await verifyMessage(good, { ...verifyOptions(f), includeCertificates: true })).signers[0]!.certificate).toEqual(withCert(f.payments.certificate));
  });

  it('RSA-2048 signer: rsa-pkcs1-sha256', async () => {
    const v = await verifyMessage(await sign(plainMessage(), f.paymentsRsa), verifyOptions(f));
    expect(v.valid).toBe(true);
    expect(v.signers[0]!.signature).toMatchObject({ ok: true, digestAlgorithm: 'SHA-256', signatureAlgorithm: 'rsa-pkcs1-sha256' });
  });

  it('opaque: signedPart says opaque; the signed entity is the eContent', async () => {
    const v = await verifyMessage(await sign(plainMessage(), f.payments, { opaque: true }), verifyOptions(f));
    expect(v.valid).toBe(true);
    expect(v.signedPart).toEqual({ path: [], kind: 'opaque', contentType: 'application/pkcs7-mime' });
    expect(v.signedContentType).toBe('text/plain');
    expect(v.signedHeaders.map((h) => h.name)).toEqual(['Content-Type', 'Content-Transfer-Encoding']);
  });

  it('every message gets its own boundary (the random pool is never reused)', async () => {
    const boundaries = new Set<string>();
    for (let i = 0; i < 40; i++) boundaries.add(/boundary="([^"]+)"/.exec(fromLatin1(await signMessage(plainMessage(), f.payments)))![1]!);
    expect(boundaries.size).toBe(40);
  });

  it('two signers: one SignerResult each, in SignerInfo order', async () => {
    const v = await verifyMessage(await sign(plainMessage(), f.payments, { additionalSigners: [f.paymentsRsa] }), verifyOptions(f));
    expect(v.valid).toBe(true);
    expect(v.signers.map((s) => [s.layer, s.index, s.ok, s.matchesFrom])).toEqual([
      [0, 0, true, true],
      [0, 1, true, true],
    ]);
    expect(v.signers.map((s) => s.signature.signatureAlgorithm).sort()).toEqual(['ecdsa-sha256', 'rsa-pkcs1-sha256']);
  });

  it('a From without display name gives from without name', async () => {
    const v = await verifyMessage(await sign(plainMessage({ from: 'payments@example.com' }), f.payments), verifyOptions(f));
    expect(v.valid).toBe(true);
    expect(v.from).toEqual({ address: 'payments@example.com' });
  });
});

describe('line endings', () => {
  it('LF-only line endings verify (canonicalised to CRLF first)', async () => {
    const lf = good.replace(/\r\n/g, '\n');
    expect(lf).not.toContain('\r');
    const v = await verifyMessage(lf, verifyOptions(f));
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
  });

  it('LF-only bytes verify too', async () => {
    const v = await verifyMessage(new TextEncoder().encode(good.replace(/\r\n/g, '\n')), verifyOptions(f));
    expect(v.valid).toBe(true);
  });

  it('but a changed body line is still caught after canonicalisation', async () => {
    const v = await verifyMessage(good.replace(/\r\n/g, '\n').replace('1,250.00', '1,250.01'), verifyOptions(f));
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_SIGNATURE_INVALID']);
  });

  it('trailing white space added to a signed line breaks the signature (no relaxed canonicalisation)', async () => {
    const v = await verifyMessage(good.replace('78.\r\n', '78. \r\n'), verifyOptions(f));
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_SIGNATURE_INVALID']);
  });
});

describe('`at`', () => {
  it('defaults to the clock option', async () => {
    const v = await verifyMessage(good, { trustAnchors: f.anchors, clock: () => NOW });
    expect(v.at).toBe(NOW.toISOString());
    expect(v.valid).toBe(true);
  });

  it('`at` wins over the clock', async () => {
    const v = await verifyMessage(good, { trustAnchors: f.anchors, at: NOW, clock: () => new Date('2030-01-01T00:00:00Z') });
    expect(v.at).toBe(NOW.toISOString());
    expect(v.valid).toBe(true);
  });

  it('before the certificate is valid → SMIME_CHAIN_INVALID with CHAIN_NOT_YET_VALID', async () => {
    const v = await verifyMessage(good, verifyOptions(f, { at: new Date('2025-12-31T23:59:59Z') }));
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toEqual(['SMIME_CHAIN_INVALID']);
    expect(v.signers[0]!.chain!.problems.map((p) => [p.code, p.certificateIndex])).toEqual([['CHAIN_NOT_YET_VALID', 0]]);
  });

  it('after the certificate expired → CHAIN_EXPIRED; at the last valid second → valid', async () => {
    const notAfter = f.payments.certificate.notAfter;
    const late = await verifyMessage(good, verifyOptions(f, { at: new Date(notAfter.getTime() + 1000) }));
    expect(late.signers[0]!.chain!.problems.map((p) => p.code)).toEqual(['CHAIN_EXPIRED']);
    const edge = await verifyMessage(good, verifyOptions(f, { at: notAfter }));
    expect(edge.valid).toBe(true);
  });

  it('a claimed signing time outside the certificate validity is a warning, not a pass/fail input', async () => {
    // Signed "now" with a certificate that expired long ago, checked as of its validity period.
    const m = await sign(plainMessage(), f.expired);
    const v = await verifyMessage(m, verifyOptions(f, { at: EXPIRED_INSIDE }));
    expect(v.valid).toBe(true);
    expect(v.warnings.map((w) => w.code)).toEqual(['SMIME_SIGNING_TIME_OUTSIDE_VALIDITY']);
  });

  it('an invalid Date is refused as a caller mistake', async () => {
    const err = await verifyMessage(good, verifyOptions(f, { at: new Date(Number.NaN) })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MailPkiError);
    expect((err as MailPkiError).code).toBe('ERR_INVALID_INPUT');
  });
});

describe('options and warnings', () => {
  it('no trust anchor is a caller mistake', async () => {
    const err = await verifyMessage(good, { trustAnchors: [] }).catch((e: unknown) => e);
    expect((err as MailPkiError).code).toBe('ERR_INVALID_INPUT');
  });

  it('requireSenderMatch: false leaves the From binding to the caller (matchesFrom still says it)', async () => {
    const m = await sign(plainMessage(), f.attacker);
    const strict = await verifyMessage(m, verifyOptions(f));
    expect(strict.problems.map((p) => p.code)).toEqual(['SMIME_FROM_NOT_SIGNER']);
    const loose = await verifyMessage(m, verifyOptions(f, { requireSenderMatch: false }));
    expect(loose.valid).toBe(true);
    expect(loose.signers[0]!.matchesFrom).toBe(false);
  });

  it('PEM trust anchors work like parsed ones', async () => {
    const { encodePem } = await import('../../src/internal/pem.js');
    const v = await verifyMessage(good, { trustAnchors: [encodePem('CERTIFICATE', f.ca.rootCertificate.der)], at: NOW });
    expect(v.valid).toBe(true);
  });

  it('unsigned text in the multipart/signed preamble → SMIME_UNSIGNED_PREAMBLE warning', async () => {
    const m = good.replace('This is an S/MIME signed message', 'Pay 9,999.00 EUR to XX99 instead');
    const v = await verifyMessage(m, verifyOptions(f));
    expect(v.valid).toBe(true);
    expect(v.warnings.map((w) => w.code)).toEqual(['SMIME_UNSIGNED_PREAMBLE']);
  });

  it('a micalg that does not name the digest used → SMIME_MICALG_MISMATCH warning', async () => {
    const v = await verifyMessage(good.replace('micalg=sha-256', 'micalg=sha-512'), verifyOptions(f));
    expect(v.valid).toBe(true);
    expect(v.warnings.map((w) => w.code)).toEqual(['SMIME_MICALG_MISMATCH']);
  });

  it('signedHeaders are those of the signed entity, not the outer header', async () => {
    const v = await verifyMessage(good, verifyOptions(f));
    expect(v.signedHeaders.some((h) => h.name === 'Subject')).toBe(false);
    expect(entityOf(good)).toMatch(/^Content-Type: multipart\/signed/);
  });
});
