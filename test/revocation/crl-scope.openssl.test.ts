/**
 * A CRL's scope (issuingDistributionPoint, RFC 5280 §5.2.5 and §6.3.3 (b)(2)) against CRLs made by
 * `openssl ca -gencrl`, really signed by the issuer: a CRL that does not cover the certificate, or
 * covers only some reasons, is no proof of "good" — for the caller's `crls` and for a fetched CRL
 * alike (ATTACK-REPORT item 3). OpenSSL's own `verify -crl_check` is the peer for what "covers" means.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CA_FILES, LocalCA, MemoryCaStorage } from '../../src/ca/index.js';
import { certificateToPem, parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { fromUtf8 } from '../../src/internal/bytes.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { RevocationChecker, SUPPLIED_CRL } from '../../src/revocation/checker.js';
import { parseCrl } from '../../src/revocation/crl.js';
import { signMessage, verifyMessage } from '../../src/smime/index.js';
import { describeWithPeers, run, runStatus, tempDir } from '../helpers/peers.js';

const HOUR = 3_600_000;
const BASE = 'http://ca.example.test';
const LEAF_CDP = `${BASE}/crl/issuing.crl`;

describeWithPeers('CRL scope (issuingDistributionPoint) with CRLs made by openssl ca -gencrl', ['openssl'], () => {
  const tmp = tempDir('mailpki-crl-scope-');
  const f = tmp.path;
  let ca: LocalCA;
  let leaf: Certificate;
  let signed: Uint8Array;
  const crls: Record<string, string> = {};
  const now = new Date();

  /** A CRL of the issuing CA (or the root) by `openssl ca -gencrl`, with this issuingDistributionPoint section. */
  function gencrl(name: string, idp: string | undefined, revokeLeaf: boolean, issuer: 'issuing' | 'root' = 'issuing'): string {
    const ymd = (d: Date) => d.toISOString().replace(/^\d\d(\d\d)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d).*$/, '$1$2$3$4$5$6Z');
    const exp = ymd(new Date(now.getTime() + 300 * 24 * HOUR));
    const rev = ymd(new Date(now.getTime() - 5 * HOUR));
    writeFileSync(f(`${name}.index`), revokeLeaf ? `R\t${exp}\t${rev},keyCompromise\t${leaf.serialNumber.toUpperCase()}\tunknown\t/CN=payments\n` : '');
    writeFileSync(f(`${name}.index.attr`), 'unique_subject = no\n');
    writeFileSync(f(`${name}.crlnumber`), '01\n');
    writeFileSync(
      f(`${name}.cnf`),
      `[ ca ]\ndefault_ca = d\n[ d ]\ndatabase = ${f(`${name}.index`)}\ncrlnumber = ${f(`${name}.crlnumber`)}\ndefault_md = sha256\ndefault_crl_days = 7\n` +
        `crl_extensions = crl_ext\n[ crl_ext ]\nauthorityKeyIdentifier = keyid:always\n${idp ? `issuingDistributionPoint = critical, @idp\n[ idp ]\n${idp}\n` : ''}`,
    );
    run('openssl', ['ca', '-config', f(`${name}.cnf`), '-gencrl', '-keyfile', f(`${issuer}.key`), '-cert', f(`${issuer}.pem`), '-out', f(`${name}.crl`), '-batch']);
    return (crls[name] = run('openssl', ['crl', '-in', f(`${name}.crl`)]));
  }

  beforeAll(async () => {
    const storage = new MemoryCaStorage();
    ca = await LocalCA.create(storage, { allowedDomains: ['example.com'], baseUrl: BASE }, { clock: () => new Date(now.getTime() - 24 * HOUR) });
    const keys = await generateKeyPair('ec-p256');
    leaf = parseCertificate((await ca.issue({ mailbox: 'payments@example.com', publicKey: await exportSpki(keys.publicKey) })).certificate);
    expect(leaf.crlDistributionPoints).toEqual([LEAF_CDP]);
    signed = await signMessage({ from: 'payments@example.com', to: 'ap@example.com', subject: 'Pay', text: 'Pay 10 EUR.' }, { key: keys.privateKey, certificate: leaf, chain: [ca.issuingCertificate] });
    writeFileSync(f('issuing.key'), fromUtf8((await storage.read(CA_FILES.issuingKey))!));
    writeFileSync(f('issuing.pem'), certificateToPem(ca.issuingCertificate));
    writeFileSync(f('root.key'), fromUtf8((await storage.read(CA_FILES.rootKey))!));
    writeFileSync(f('root.pem'), certificateToPem(ca.rootCertificate));
    writeFileSync(f('leaf.pem'), certificateToPem(leaf));
    gencrl('full', undefined, true);
    gencrl('caOnly', 'onlyCA = TRUE', false);
    gencrl('caCompromiseOnly', 'onlysomereasons = CACompromise', false);
    gencrl('attributeOnly', 'onlyAA = TRUE', false);
    gencrl('keyCompromiseOnly', 'onlysomereasons = keyCompromise', true);
    gencrl('userOnly', 'onlyuser = TRUE', true);
    gencrl('otherDp', `fullname = URI:${BASE}/crl/partition-2.crl`, false);
    gencrl('sameDp', `fullname = URI:${LEAF_CDP}`, true);
    gencrl('root', undefined, false, 'root');
  });
  afterAll(() => tmp.cleanup());

  const checker = (given: string[], fetch?: (url: string) => Promise<Response>) =>
    new RevocationChecker({ crls: given, order: ['crl'], fetch: fetch ?? (async () => new Response(null, { status: 503 })) });

  it('control: the full CRL shows the leaf revoked, and OpenSSL agrees', async () => {
    const r = await checker([crls.full!]).check(leaf, ca.issuingCertificate);
    expect(r).toMatchObject({ status: 'revoked', reason: 'keyCompromise', url: SUPPLIED_CRL });
    const o = runStatus('openssl', ['verify', '-crl_check', '-CRLfile', f('full.crl'), '-CAfile', f('root.pem'), '-untrusted', f('issuing.pem'), f('leaf.pem')]);
    expect(o.stdout + o.stderr).toMatch(/certificate revoked/);
  });

  it.each([
    ['caOnly', /onlyContainsCACerts/],
    ['caCompromiseOnly', /onlySomeReasons/],
    ['attributeOnly', /onlyContainsAttributeCerts/],
    ['otherDp', /another distribution point/],
  ])('a given CRL whose scope excludes the end-entity certificate (%s) is no proof of good (item 3)', async (name, why) => {
    expect(parseCrl(crls[name]!).issuingDistributionPoint).toBeDefined();
    const r = await checker([crls[name]!]).check(leaf, ca.issuingCertificate);
    expect(r.status).toBe('unchecked');
    expect(r.error).toMatch(/the CRL's scope does not cover the certificate/);
    expect(r.error).toMatch(why);
    // OpenSSL does not take it as the leaf's CRL either.
    const o = runStatus('openssl', ['verify', '-crl_check', '-CRLfile', f(`${name}.crl`), '-CAfile', f('root.pem'), '-untrusted', f('issuing.pem'), f('leaf.pem')]);
    expect(o.status).not.toBe(0);
    expect(o.stdout + o.stderr).toMatch(/different CRL scope|unable to get certificate CRL/);
  });

  it('hard-fail with a given CA-only / other-reasons / attribute-only CRL: the keyCompromise-revoked leaf is not valid (item 3)', async () => {
    for (const name of ['caOnly', 'caCompromiseOnly', 'attributeOnly', 'otherDp']) {
      const v = await verifyMessage(signed, {
        trustAnchors: [ca.rootCertificate],
        revocation: { policy: 'hard-fail', fetch: async () => new Response(null, { status: 503 }), crls: [crls[name]!, crls.root!] },
      });
      expect(v.valid, name).toBe(false);
      expect(v.problems.map((p) => p.code), name).toEqual(['SMIME_REVOCATION_UNAVAILABLE']);
      expect(v.problems[0]!.message, name).toMatch(/the CRL's scope does not cover the certificate/);
      expect(v.signers[0]!.revocation![0]!.status, name).toBe('unchecked');
    }
  });

  it('soft-fail with a CRL that does not cover the leaf: valid with SMIME_REVOCATION_UNCHECKED, as for an unreachable source (item 3)', async () => {
    const v = await verifyMessage(signed, {
      trustAnchors: [ca.rootCertificate],
      revocation: { policy: 'soft-fail', fetch: async () => new Response(null, { status: 503 }), crls: [crls.caOnly!, crls.root!] },
    });
    expect(v.valid).toBe(true);
    expect(v.warnings.map((w) => w.code)).toEqual(['SMIME_REVOCATION_UNCHECKED']);
    expect(v.warnings[0]!.message).toMatch(/the CRL's scope does not cover the certificate/);
  });

  it('hard-fail, network: the leaf’s distribution point answered with the CA-only CRL (a MITM on plain HTTP) is not valid (item 3)', async () => {
    const der = (pem: string) => Uint8Array.from(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64'));
    for (const name of ['caOnly', 'caCompromiseOnly', 'attributeOnly', 'otherDp']) {
      const asked: string[] = [];
      const mitm = async (url: string) => {
        asked.push(url);
        return url === LEAF_CDP ? new Response(der(crls[name]!), { status: 200 }) : new Response(null, { status: 503 });
      };
      const v = await verifyMessage(signed, { trustAnchors: [ca.rootCertificate], revocation: { policy: 'hard-fail', fetch: mitm, crls: [crls.root!] } });
      expect(asked, name).toContain(LEAF_CDP);
      expect(v.valid, name).toBe(false);
      expect(v.problems.map((p) => p.code), name).toEqual(['SMIME_REVOCATION_UNAVAILABLE']);
      expect(v.problems[0]!.message, name).toMatch(/the CRL's scope does not cover the certificate/);
    }
  });

  it('a CRL in scope still answers: onlySomeReasons=keyCompromise listing the leaf, onlyContainsUserCerts, the same distribution point', async () => {
    for (const name of ['keyCompromiseOnly', 'userOnly', 'sameDp']) {
      const r = await checker([crls[name]!]).check(leaf, ca.issuingCertificate);
      expect(r, name).toMatchObject({ status: 'revoked', reason: 'keyCompromise' });
      // OpenSSL wants all reasons covered before it answers at all; a listed serial is proof enough for us.
      if (name === 'keyCompromiseOnly') continue;
      const o = runStatus('openssl', ['verify', '-crl_check', '-CRLfile', f(`${name}.crl`), '-CAfile', f('root.pem'), '-untrusted', f('issuing.pem'), f('leaf.pem')]);
      expect(o.stdout + o.stderr, name).toMatch(/certificate revoked/);
    }
    // A complete CRL of the right scope that does not list the leaf: good.
    const r = await checker([gencrl('sameDpEmpty', `fullname = URI:${LEAF_CDP}\nonlyuser = TRUE`, false)]).check(leaf, ca.issuingCertificate);
    expect(r).toMatchObject({ status: 'good', url: SUPPLIED_CRL });
  });

  it('a CA-only CRL does cover the issuing CA certificate (the root’s ARL)', async () => {
    const arl = gencrl('rootArl', 'onlyCA = TRUE', false, 'root');
    const r = await checker([arl]).check(ca.issuingCertificate, ca.rootCertificate);
    expect(r).toMatchObject({ status: 'good', url: SUPPLIED_CRL });
    // ...and a user-only CRL does not.
    const userOnly = gencrl('rootUserOnly', 'onlyuser = TRUE', false, 'root');
    const u = await checker([userOnly]).check(ca.issuingCertificate, ca.rootCertificate);
    expect(u.status).toBe('unchecked');
    expect(u.error).toMatch(/onlyContainsUserCerts/);
  });
});
