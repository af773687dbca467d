import { beforeAll, describe, expect, it } from 'vitest';
import { CA_FILES, LocalCA, MemoryCaStorage } from '../../src/ca/index.js';
import { keySigner, keyUsageValue, signCertificate, subjectKeyIdentifierValue, type TbsSigner } from '../../src/certs/builder.js';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { MailPkiError } from '../../src/errors.js';
import { fromLatin1, fromUtf8, toHex } from '../../src/internal/bytes.js';
import {
  Tag,
  bitString,
  bool,
  contentOf,
  cursor,
  encodedOf,
  enumerated,
  explicit,
  int,
  octets,
  oid,
  parseDer,
  readOid,
  seq,
  time,
  tlv,
  type Der,
} from '../../src/internal/der.js';
import { OID } from '../../src/internal/oids.js';
import { defaultSignatureAlgorithm, importPrivateKey, signatureAlgorithmIdentifier } from '../../src/keys/index.js';
import { createCrl, crlCoverage, crlToPem, parseCrl, verifyCrl, type CreateCrlOptions } from '../../src/revocation/crl.js';

const T0 = new Date(Date.UTC(2026, 5, 1, 0, 0, 0));
const T1 = new Date(Date.UTC(2026, 5, 8, 0, 0, 0));
const AT = new Date(Date.UTC(2026, 5, 2));

let ca: LocalCA;
let issuer: Certificate;
let signer: TbsSigner;
let key: CryptoKey;

beforeAll(async () => {
  const storage = new MemoryCaStorage();
  ca = await LocalCA.create(storage, { keyType: 'ec-p256' }, { clock: () => new Date(Date.UTC(2026, 0, 1)) });
  issuer = ca.issuingCertificate;
  key = await importPrivateKey(fromUtf8((await storage.read(CA_FILES.issuingKey))!));
  signer = keySigner(key, defaultSignatureAlgorithm(key));
});

const base = (): CreateCrlOptions => ({ issuer, signer, thisUpdate: T0, nextUpdate: T1, crlNumber: 42n, entries: [] });

async function expectCode(p: Promise<unknown> | (() => unknown), code: string): Promise<MailPkiError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(MailPkiError);
    expect((e as MailPkiError).code).toBe(code);
    return e as MailPkiError;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

/** Signs a hand-made TBSCertList with the issuing key (for CRLs createCrl would never make). */
async function signTbs(tbs: Uint8Array): Promise<Uint8Array> {
  const alg = signatureAlgorithmIdentifier(signer.algorithm);
  return seq(tbs, alg, bitString(await signer.sign(tbs)));
}

function tbsWith(parts: { revoked?: Uint8Array[]; crlExtensions?: Uint8Array[] }): Uint8Array {
  return seq(
    int(1),
    signatureAlgorithmIdentifier(signer.algorithm),
    issuer.subject.der,
    time(T0),
    time(T1),
    ...(parts.revoked ? [seq(...parts.revoked)] : []),
    ...(parts.crlExtensions ? [explicit(0, seq(...parts.crlExtensions))] : []),
  );
}

const ext = (id: string, critical: boolean, value: Uint8Array) =>
  critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));

describe('createCrl: the exact structure of a small CRL', () => {
  it('writes every field as RFC 5280 §5.1 says, entries sorted by serial', async () => {
    const der = await createCrl({
      ...base(),
      entries: [
        { serialNumber: '0x7F:00:01', revocationDate: new Date(Date.UTC(2026, 4, 3, 10, 11, 12, 999)), reason: 'keyCompromise', invalidityDate: new Date(Date.UTC(2026, 4, 1, 8, 0, 0)) },
        { serialNumber: '80', revocationDate: new Date(Date.UTC(2026, 4, 2)), reason: 'unspecified' },
        { serialNumber: '0005', revocationDate: new Date(Date.UTC(2051, 0, 1)), reason: 'superseded' },
      ],
    });
    const root = cursor(parseDer(der));
    const tbsNode = root.next(Tag.SEQUENCE);
    const sigAlg = root.next(Tag.SEQUENCE);
    root.next(Tag.BIT_STRING);
    root.end();
    expect(toHex(encodedOf(sigAlg))).toBe(toHex(signatureAlgorithmIdentifier(signer.algorithm)));

    const t = cursor(tbsNode);
    expect(toHex(encodedOf(t.next(Tag.INTEGER)))).toBe('020101'); // v2
    expect(toHex(encodedOf(t.next(Tag.SEQUENCE)))).toBe(toHex(encodedOf(sigAlg)));
    expect(toHex(encodedOf(t.next(Tag.SEQUENCE)))).toBe(toHex(issuer.subject.der));
    expect(text(t.next(Tag.UTC_TIME))).toBe('260601000000Z');
    expect(text(t.next(Tag.UTC_TIME))).toBe('260608000000Z');

    const list = cursor(t.next(Tag.SEQUENCE));
    // 0x05 < 0x80 < 0x7f0001: numeric order
    const e1 = cursor(list.next(Tag.SEQUENCE));
    expect(toHex(encodedOf(e1.next(Tag.INTEGER)))).toBe('020105');
    expect(text(e1.next(Tag.GENERALIZED_TIME))).toBe('20510101000000Z'); // from 2050: GeneralizedTime
    expect(toHex(encodedOf(e1.next(Tag.SEQUENCE)))).toBe('300c300a0603551d1504030a0104'); // superseded (4)
    e1.end();
    const e2 = cursor(list.next(Tag.SEQUENCE));
    expect(toHex(encodedOf(e2.next(Tag.INTEGER)))).toBe('02020080'); // sign byte
    expect(text(e2.next(Tag.UTC_TIME))).toBe('260502000000Z');
    e2.end(); // 'unspecified': no reasonCode at all
    const e3 = cursor(list.next(Tag.SEQUENCE));
    expect(toHex(encodedOf(e3.next(Tag.INTEGER)))).toBe('02037f0001');
    expect(text(e3.next(Tag.UTC_TIME))).toBe('260503101112Z'); // milliseconds dropped
    const exts = cursor(e3.next(Tag.SEQUENCE));
    expect(toHex(encodedOf(exts.next(Tag.SEQUENCE)))).toBe('300a0603551d1504030a0101'); // keyCompromise (1)
    const inv = cursor(exts.next(Tag.SEQUENCE));
    expect(readOid(inv.next(Tag.OID))).toBe('2.5.29.24');
    expect(text(parseDer(contentOf(inv.next(Tag.OCTET_STRING))))).toBe('20260501080000Z'); // always GeneralizedTime
    exts.end();
    e3.end();
    list.end();

    const crlExts = cursor(cursor(t.next(0xa0)).next(Tag.SEQUENCE));
    const aki = cursor(crlExts.next(Tag.SEQUENCE));
    expect(readOid(aki.next(Tag.OID))).toBe(OID.authorityKeyIdentifier);
    expect(toHex(contentOf(aki.next(Tag.OCTET_STRING)))).toBe(`30168014${toHex(issuer.subjectKeyIdentifier!)}`); // [0] keyIdentifier
    aki.end(); // non-critical: no BOOLEAN
    const num = cursor(crlExts.next(Tag.SEQUENCE));
    expect(readOid(num.next(Tag.OID))).toBe(OID.cRLNumber);
    expect(toHex(contentOf(num.next(Tag.OCTET_STRING)))).toBe('02012a');
    num.end();
    crlExts.end();
    t.end();

    const crl = parseCrl(der);
    expect(crl.version).toBe(2);
    expect(crl.entryCount).toBe(3);
    expect(crl.crlNumber).toBe(42n);
    expect(toHex(crl.authorityKeyIdentifier!)).toBe(toHex(issuer.subjectKeyIdentifier!));
    expect(crl.issuerName).toBe('CN=mailpki Local CA S/MIME Issuing CA,O=mailpki Local CA');
    expect(crl.thisUpdate).toEqual(T0);
    expect(crl.nextUpdate).toEqual(T1);
    expect(crl.unsupportedCriticalExtensions).toEqual([]);
    expect(crl.lookup('7f0001')).toEqual({
      revocationDate: new Date(Date.UTC(2026, 4, 3, 10, 11, 12)),
      reason: 'keyCompromise',
      invalidityDate: new Date(Date.UTC(2026, 4, 1, 8)),
    });
    expect(crl.lookup('0x80')).toEqual({ revocationDate: new Date(Date.UTC(2026, 4, 2)) });
    expect(crl.lookup('5')).toEqual({ revocationDate: new Date(Date.UTC(2051, 0, 1)), reason: 'superseded' });
    expect(crl.lookup(Uint8Array.of(0, 0x80))).toBeDefined(); // the INTEGER bytes, as Certificate.serialBytes
    expect(crl.lookup('81')).toBeUndefined();
    expect([...crl.entries()].map((e) => e.serialNumber)).toEqual(['05', '80', '7f0001']);
    expect(await verifyCrl(crl, issuer, { at: AT })).toEqual({ ok: true, problems: [] });
  });

  it('leaves revokedCertificates out when there are no entries (RFC 5280 §5.1.2.6)', async () => {
    const crl = parseCrl(await createCrl(base()));
    expect(crl.entryCount).toBe(0);
    expect(crl.lookup('01')).toBeUndefined();
    expect([...crl.entries()]).toEqual([]);
    const t = cursor(parseDer(crl.tbs));
    for (let i = 0; i < 5; i++) t.next();
    expect(t.peekTag()).toBe(0xa0);
  });

  it('encodes large CRL numbers (20 octets) as positive INTEGERs', async () => {
    const n = (1n << 159n) - 1n;
    expect(parseCrl(await createCrl({ ...base(), crlNumber: n })).crlNumber).toBe(n);
    expect(parseCrl(await createCrl({ ...base(), crlNumber: 0 })).crlNumber).toBe(0n);
  });

  it('PEM is labelled X509 CRL; parseCrl reads X509 CRL and CRL (@peculiar/x509) labels', async () => {
    const der = await createCrl({ ...base(), entries: [{ serialNumber: '01', revocationDate: T0 }] });
    const pem = crlToPem(der);
    expect(pem.startsWith('-----BEGIN X509 CRL-----\n')).toBe(true);
    expect(parseCrl(pem).entryCount).toBe(1);
    expect(parseCrl(new TextEncoder().encode(pem)).entryCount).toBe(1);
    expect(parseCrl(pem.replaceAll('X509 CRL', 'CRL')).entryCount).toBe(1);
    await expectCode(() => parseCrl(pem.replaceAll('X509 CRL', 'CERTIFICATE')), 'ERR_PEM_MALFORMED');
  });
});

describe('createCrl: input validation', () => {
  const e = { serialNumber: '01', revocationDate: T0 };
  it.each([
    ['a serial that is not hex', { entries: [{ ...e, serialNumber: 'xyz' }] }, 'entries.0.serialNumber'],
    ['a serial over 20 bytes', { entries: [e, { ...e, serialNumber: '1'.repeat(41) }] }, 'entries.1.serialNumber'],
    ['nextUpdate before thisUpdate', { nextUpdate: T0, thisUpdate: T1 }, 'nextUpdate'],
    ['nextUpdate equal to thisUpdate', { nextUpdate: T0 }, 'nextUpdate'],
    ['an invalid date', { entries: [{ ...e, revocationDate: new Date(NaN) }] }, 'entries.0.revocationDate'],
    ['an unknown reason', { entries: [{ ...e, reason: 'lostIt' }] }, 'entries.0.reason'],
    ['removeFromCRL in a full CRL', { entries: [{ ...e, reason: 'removeFromCRL' }] }, 'entries.0.reason'],
    ['a negative CRL number', { crlNumber: -1 }, 'crlNumber'],
    ['a CRL number over 20 octets', { crlNumber: 1n << 160n }, 'crlNumber'],
    ['entries that are not iterable', { entries: 5 }, 'entries'],
  ])('refuses %s with ERR_INVALID_INPUT naming the field', async (_what, patch, field) => {
    const err = await expectCode(createCrl({ ...base(), ...(patch as Partial<CreateCrlOptions>) }), 'ERR_INVALID_INPUT');
    expect(err.details?.field).toBe(field);
  });

  it('refuses the same serial twice, however written', async () => {
    await expectCode(createCrl({ ...base(), entries: [e, { ...e, serialNumber: '0x0001' }] }), 'ERR_INVALID_INPUT');
  });

  it('accepts serials with upper case, 0x and colons, and entries from a generator', async () => {
    function* gen() {
      yield { serialNumber: '0xAB:CD', revocationDate: T0, extra: 'ignored' };
      yield { serialNumber: '00ff', revocationDate: T0, reason: 'cACompromise' as const };
    }
    const crl = parseCrl(await createCrl({ ...base(), entries: gen() }));
    expect(crl.lookup('abcd')).toBeDefined();
    expect(crl.lookup('ff')?.reason).toBe('cACompromise');
  });
});

describe('parseCrl: what it refuses and what it reports', () => {
  it('lists unknown critical CRL and entry extensions, and verifyCrl refuses the CRL', async () => {
    const der = await signTbs(
      tbsWith({
        revoked: [seq(int(7), time(T0), seq(ext('1.2.3.4.5', true, octets(new Uint8Array(1)))))],
        crlExtensions: [ext(OID.cRLNumber, false, int(1)), ext('1.2.3.9', true, seq()), ext('1.2.3.10', false, seq())],
      }),
    );
    const crl = parseCrl(der);
    expect([...crl.unsupportedCriticalExtensions].sort()).toEqual(['1.2.3.4.5', '1.2.3.9']);
    expect(crl.lookup('07')).toEqual({ revocationDate: T0 });
    const v = await verifyCrl(crl, issuer, { at: AT });
    expect(v.ok).toBe(false);
    expect(v.problems.map((p) => p.code)).toEqual(['CRL_UNSUPPORTED_CRITICAL_EXTENSION']);
  });

  it('reads deltaCRLIndicator and issuingDistributionPoint; an indirect CRL is unsupported', async () => {
    const idp = seq(new Uint8Array([0x81, 1, 0xff]), new Uint8Array([0x84, 1, 0xff])); // onlyContainsUserCerts, indirectCRL
    const crl = parseCrl(await signTbs(tbsWith({ crlExtensions: [ext('2.5.29.27', true, int(41)), ext('2.5.29.28', true, idp)] })));
    expect(crl.deltaCrlIndicator).toBe(41n);
    expect(crl.issuingDistributionPoint).toMatchObject({ onlyContainsUserCerts: true, indirectCRL: true, onlyContainsCACerts: false });
    expect(crl.unsupportedCriticalExtensions).toEqual(['2.5.29.28']);
  });

  describe('crlCoverage: the scope of an issuingDistributionPoint (RFC 5280 §6.3.3 (b)(2), ATTACK-REPORT item 3)', () => {
    let leaf: Certificate;
    beforeAll(async () => {
      const { exportSpki, generateKeyPair } = await import('../../src/keys/index.js');
      leaf = parseCertificate((await ca.issue({ mailbox: 'a@example.com', publicKey: await exportSpki((await generateKeyPair('ec-p256')).publicKey) })).certificate);
    });
    const withIdp = async (...fields: Uint8Array[]) => parseCrl(await signTbs(tbsWith({ crlExtensions: [ext('2.5.29.28', true, seq(...fields))] })));
    const uri = (u: string) => new Uint8Array([0x86, u.length, ...new TextEncoder().encode(u)]);
    const fullName = (...names: Uint8Array[]) => explicit(0, tlv(0xa0, ...names));

    it('a CRL without issuingDistributionPoint covers every certificate for every reason', async () => {
      const crl = parseCrl(await createCrl(base()));
      expect(crlCoverage(crl, leaf)).toEqual({ covers: true, complete: true });
      expect(crlCoverage(crl, issuer)).toEqual({ covers: true, complete: true });
    });

    it('onlyContainsCACerts does not cover an end-entity certificate; onlyContainsUserCerts does not cover a CA', async () => {
      const caOnly = await withIdp(new Uint8Array([0x82, 1, 0xff]));
      expect(crlCoverage(caOnly, leaf)).toMatchObject({ covers: false, complete: false, why: expect.stringMatching(/onlyContainsCACerts/) });
      expect(crlCoverage(caOnly, issuer)).toEqual({ covers: true, complete: true });
      const userOnly = await withIdp(new Uint8Array([0x81, 1, 0xff]));
      expect(crlCoverage(userOnly, issuer)).toMatchObject({ covers: false, why: expect.stringMatching(/onlyContainsUserCerts/) });
      expect(crlCoverage(userOnly, leaf)).toEqual({ covers: true, complete: true });
    });

    it('onlyContainsAttributeCerts covers no public-key certificate', async () => {
      const attr = await withIdp(new Uint8Array([0x85, 1, 0xff]));
      expect(crlCoverage(attr, leaf)).toMatchObject({ covers: false, why: expect.stringMatching(/onlyContainsAttributeCerts/) });
      expect(crlCoverage(attr, issuer).covers).toBe(false);
    });

    it('onlySomeReasons: the reasons are read; covered but not complete unless all eight are set', async () => {
      const some = await withIdp(new Uint8Array([0x83, 2, 0x05, 0x60])); // keyCompromise, cACompromise
      expect(some.issuingDistributionPoint).toMatchObject({ onlySomeReasons: true, reasons: ['keyCompromise', 'cACompromise'] });
      expect(crlCoverage(some, leaf)).toMatchObject({ covers: true, complete: false, why: expect.stringMatching(/only revocations for keyCompromise, cACompromise/) });
      const all = await withIdp(new Uint8Array([0x83, 3, 0x07, 0x7f, 0x80])); // bits 1..8
      expect(all.issuingDistributionPoint!.reasons).toHaveLength(8);
      expect(crlCoverage(all, leaf)).toEqual({ covers: true, complete: true });
    });

    it('a CRL of one distribution point does not cover a certificate that names none (RFC 5280 §6.3.3 (b)(2)(i), as OpenSSL)', async () => {
      const dp = await withIdp(fullName(uri('http://crl.example.test/p1.crl')));
      expect(toHex(dp.issuingDistributionPoint!.distributionPoint!)).toBe(toHex(tlv(0xa0, uri('http://crl.example.test/p1.crl'))));
      // The LocalCA here has no baseUrl: its certificates name no CRL, so a partition CRL says nothing about them.
      expect(leaf.crlDistributionPoints).toEqual([]);
      expect(crlCoverage(dp, leaf)).toEqual({ covers: false, complete: false, why: 'its issuingDistributionPoint names a distribution point and the certificate names none' });
    });

    it('checker: a given CA-only CRL gives no status for an end-entity certificate, and a CRL of some reasons no "good"', async () => {
      const { RevocationChecker } = await import('../../src/revocation/checker.js');
      const noFetch = async () => new Response(null, { status: 503 });
      const at = () => AT;
      const caOnly = await signTbs(tbsWith({ crlExtensions: [ext('2.5.29.28', true, seq(new Uint8Array([0x82, 1, 0xff])))] }));
      const r = await new RevocationChecker({ crls: [caOnly], order: ['crl'], fetch: noFetch, clock: at }).check(leaf, issuer);
      expect(r.status).toBe('unchecked');
      expect(r.error).toBe("crl (given): the CRL's scope does not cover the certificate: it lists CA certificates only (onlyContainsCACerts) and this is an end-entity certificate");
      const some = await signTbs(tbsWith({ crlExtensions: [ext('2.5.29.28', true, seq(new Uint8Array([0x83, 2, 0x05, 0x20])))] }));
      const s = await new RevocationChecker({ crls: [some], order: ['crl'], fetch: noFetch, clock: at }).check(leaf, issuer);
      expect(s.status).toBe('unchecked');
      expect(s.error).toMatch(/does not cover the certificate for every reason \(it lists only revocations for cACompromise \(onlySomeReasons\)\)/);
      // The same CRL listing the certificate proves it revoked.
      const listed = await signTbs(
        tbsWith({ revoked: [seq(tlv(0x02, leaf.serialBytes), time(T0))], crlExtensions: [ext('2.5.29.28', true, seq(new Uint8Array([0x83, 2, 0x05, 0x20])))] }),
      );
      expect(await new RevocationChecker({ crls: [listed], order: ['crl'], fetch: noFetch, clock: at }).check(leaf, issuer)).toMatchObject({ status: 'revoked' });
      // A complete CRL given after the partial one answers "good".
      const full = await createCrl(base());
      expect(await new RevocationChecker({ crls: [some, full], order: ['crl'], fetch: noFetch, clock: at }).check(leaf, issuer)).toMatchObject({ status: 'good' });
    });
  });

  it('keeps the first of duplicate serials and counts every entry', async () => {
    const crl = parseCrl(
      await signTbs(tbsWith({ revoked: [seq(int(9), time(T0)), seq(int(9), time(T1), seq(ext(OID.cRLReason, false, enumerated(1))))] })),
    );
    expect(crl.entryCount).toBe(2);
    expect(crl.lookup('09')).toEqual({ revocationDate: T0 });
  });

  it.each([
    ['trailing bytes', (d: Uint8Array) => Uint8Array.from([...d, 0])],
    ['a truncated CRL', (d: Uint8Array) => d.subarray(0, d.length - 10)],
    ['an empty input', () => new Uint8Array(0)],
    ['random text', () => new TextEncoder().encode('hello')],
  ])('refuses %s with ERR_CRL_MALFORMED', async (_what, mutate) => {
    const der = await createCrl({ ...base(), entries: [{ serialNumber: '01', revocationDate: T0 }] });
    await expectCode(() => parseCrl(mutate(der)), 'ERR_CRL_MALFORMED');
  });

  it.each([
    ['a reason code that does not exist (7)', seq(int(1), time(T0), seq(ext(OID.cRLReason, false, enumerated(7))))],
    ['an invalidityDate in UTCTime', seq(int(1), time(T0), seq(ext('2.5.29.24', false, time(T0))))],
    ['a fractional GeneralizedTime', seq(int(1), Uint8Array.of(0x18, 17, ...new TextEncoder().encode('20260101000000.5Z')))],
    ['an impossible date (30 February)', seq(int(1), Uint8Array.of(0x17, 13, ...new TextEncoder().encode('260230000000Z')))],
    ['an empty serial', seq(Uint8Array.of(2, 0), time(T0))],
    ['an entry extension twice', seq(int(1), time(T0), seq(ext(OID.cRLReason, false, enumerated(1)), ext(OID.cRLReason, false, enumerated(1))))],
    ['an empty crlEntryExtensions', seq(int(1), time(T0), seq())],
  ])('refuses an entry with %s', async (_what, entry) => {
    await expectCode(async () => parseCrl(await signTbs(tbsWith({ revoked: [entry] }))), 'ERR_CRL_MALFORMED');
  });

  it('refuses a CRL over the size limit, and one with more entries than allowed', async () => {
    const der = await createCrl({ ...base(), entries: [{ serialNumber: '01', revocationDate: T0 }, { serialNumber: '02', revocationDate: T0 }] });
    await expectCode(() => parseCrl(der, { maxBytes: 100 }), 'ERR_INPUT_TOO_LARGE');
    await expectCode(() => parseCrl(crlToPem(der), { maxBytes: 100 }), 'ERR_INPUT_TOO_LARGE');
    await expectCode(() => parseCrl(der, { maxEntries: 1 }), 'ERR_INPUT_TOO_LARGE');
    expect(parseCrl(der, { maxEntries: 2 }).entryCount).toBe(2);
  });

  it('refuses a lookup argument that is not hex', async () => {
    const crl = parseCrl(await createCrl(base()));
    await expectCode(() => crl.lookup('nope'), 'ERR_INVALID_INPUT');
    await expectCode(() => crl.lookup(''), 'ERR_INVALID_INPUT');
  });
});

describe('verifyCrl: problems are data', () => {
  let der: Uint8Array;
  beforeAll(async () => {
    der = await createCrl({ ...base(), entries: [{ serialNumber: '01', revocationDate: T0, reason: 'keyCompromise' }] });
  });

  it('a tampered byte gives CRL_SIGNATURE_INVALID', async () => {
    const bad = der.slice();
    const text = fromLatin1(bad);
    bad[text.indexOf('260601000000Z') + 11] = 0x31; // thisUpdate second 00 → 01
    const v = await verifyCrl(parseCrl(bad), issuer, { at: AT });
    expect(v.problems.map((p) => p.code)).toEqual(['CRL_SIGNATURE_INVALID']);
  });

  it('freshness: CRL_NOT_YET_VALID before thisUpdate, CRL_EXPIRED after nextUpdate, ok at both ends', async () => {
    const crl = parseCrl(der);
    expect((await verifyCrl(crl, issuer, { at: new Date(T0.getTime() - 1000) })).problems.map((p) => p.code)).toEqual(['CRL_NOT_YET_VALID']);
    expect((await verifyCrl(crl, issuer, { at: new Date(T1.getTime() + 1000) })).problems.map((p) => p.code)).toEqual(['CRL_EXPIRED']);
    expect((await verifyCrl(crl, issuer, { at: T0 })).ok).toBe(true);
    expect((await verifyCrl(crl, issuer, { at: T1 })).ok).toBe(true);
  });

  it('another CA: CRL_ISSUER_MISMATCH (name, then AKI/SKI) and CRL_SIGNATURE_INVALID', async () => {
    const v = await verifyCrl(parseCrl(der), ca.rootCertificate, { at: AT });
    expect(v.problems.map((p) => p.code)).toEqual(['CRL_ISSUER_MISMATCH', 'CRL_ISSUER_MISMATCH', 'CRL_SIGNATURE_INVALID']);
  });

  it('same name and key but keyUsage without cRLSign: CRL_NOT_AUTHORIZED; another SKI: CRL_ISSUER_MISMATCH', async () => {
    const spki = issuer.publicKey.spki;
    const noCrlSign = parseCertificate(
      await signCertificate(
        {
          serial: Uint8Array.of(0x11),
          issuer: issuer.subject.der,
          subject: issuer.subject.der,
          notBefore: T0,
          notAfter: T1,
          spki,
          extensions: [
            { oid: OID.keyUsage, critical: true, value: keyUsageValue(['digitalSignature', 'keyCertSign']) },
            { oid: OID.subjectKeyIdentifier, critical: false, value: subjectKeyIdentifierValue(new Uint8Array(20).fill(7)) },
          ],
        },
        signer,
      ),
    );
    const v = await verifyCrl(parseCrl(der), noCrlSign, { at: AT });
    expect(v.problems.map((p) => p.code)).toEqual(['CRL_ISSUER_MISMATCH', 'CRL_NOT_AUTHORIZED']);
  });

  it('an unsupported signature algorithm is CRL_ALGORITHM_UNSUPPORTED, not an exception', async () => {
    const weird = seq(oid('1.2.3.4'));
    const tbs = seq(int(1), weird, issuer.subject.der, time(T0), time(T1));
    const crl = parseCrl(seq(tbs, weird, bitString(new Uint8Array(8))));
    expect(crl.signatureAlgorithm).toHaveProperty('unsupported');
    expect((await verifyCrl(crl, issuer, { at: AT })).problems.map((p) => p.code)).toEqual(['CRL_ALGORITHM_UNSUPPORTED']);
  });
});

function text(node: Der): string {
  return fromLatin1(contentOf(node));
}
