/** verifyMessage and certificate policies: what the verdict reports, and requirePolicies. */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  basicConstraintsValue,
  certificatePoliciesValue,
  extKeyUsageValue,
  keySigner,
  keyUsageValue,
  randomSerial,
  signCertificate,
  subjectAltNameValue,
} from '../../src/certs/builder.js';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { encodeName } from '../../src/certs/name.js';
import { OID } from '../../src/internal/oids.js';
import { defaultSignatureAlgorithm } from '../../src/keys/algorithms.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { SMIME_BR_MAILBOX_VALIDATED_POLICIES, verifyMessage } from '../../src/smime/index.js';
import { GOOD_FROM, makeSmimeFixture, plainMessage, sign, verifyOptions, type SmimeFixture } from './fixtures.js';

let f: SmimeFixture;
let good: string;

beforeAll(async () => {
  f = await makeSmimeFixture();
  good = await sign(plainMessage(), f.payments);
});

describe('certificate policies in the verdict', () => {
  it('reports the policies the chain holds (the LocalCA issues the S/MIME BR strict mailbox-validated policy)', async () => {
    const v = await verifyMessage(good, verifyOptions(f));
    expect(v.valid).toBe(true);
    expect(v.signers[0]!.chain!.policies).toEqual({
      userConstrainedPolicySet: [OID.smimeMailboxStrict],
      authorityConstrainedPolicySet: [OID.smimeMailboxStrict],
      anyPolicy: false,
      explicitPolicyRequired: false,
    });
  });

  it('requirePolicies: the mailbox-validated policies are held; another policy is not, and the chain is invalid', async () => {
    const ok = await verifyMessage(good, verifyOptions(f, { requirePolicies: SMIME_BR_MAILBOX_VALIDATED_POLICIES }));
    expect(ok.valid).toBe(true);
    expect(ok.signers[0]!.chain!.policies?.userConstrainedPolicySet).toEqual([OID.smimeMailboxStrict]);
    expect(ok.signers[0]!.chain!.policies?.explicitPolicyRequired).toBe(true);

    const legacyOnly = await verifyMessage(good, verifyOptions(f, { requirePolicies: [OID.smimeMailboxLegacy] }));
    expect(legacyOnly.valid).toBe(false);
    expect(legacyOnly.problems.map((p) => p.code)).toEqual(['SMIME_CHAIN_INVALID']);
    expect(legacyOnly.signers[0]!.chain!.problems.map((p) => [p.code, p.certificateIndex])).toEqual([['CHAIN_NO_ACCEPTABLE_POLICY', 0]]);
    expect(legacyOnly.signers[0]!.ok).toBe(false);
  });

  it('requirePolicies: a signer certificate without certificatePolicies holds none', async () => {
    const msg = await sign(plainMessage(), f.sanAndSubjectEmail);
    expect((await verifyMessage(msg, verifyOptions(f))).valid).toBe(true);
    const v = await verifyMessage(msg, verifyOptions(f, { requirePolicies: SMIME_BR_MAILBOX_VALIDATED_POLICIES }));
    expect(v.valid).toBe(false);
    expect(v.signers[0]!.chain!.problems.map((p) => p.code)).toEqual(['CHAIN_NO_ACCEPTABLE_POLICY']);
  });

  it('requirePolicies is strict: a chain that holds them only through anyPolicy does not count', async () => {
    const rootKeys = await generateKeyPair('ec-p256', { extractable: true });
    const leafKeys = await generateKeyPair('ec-p256', { extractable: true });
    const rootName = encodeName([{ type: 'CN', value: 'AnyPolicy Root' }]);
    const signer = keySigner(rootKeys.privateKey, defaultSignatureAlgorithm(rootKeys.privateKey));
    const notAfter = new Date(GOOD_FROM.getTime() + 365 * 86_400_000);
    const root = parseCertificate(
      await signCertificate(
        {
          serial: randomSerial(crypto),
          issuer: rootName,
          subject: rootName,
          notBefore: GOOD_FROM,
          notAfter,
          spki: await exportSpki(rootKeys.publicKey),
          extensions: [
            { oid: OID.basicConstraints, critical: true, value: basicConstraintsValue(true) },
            { oid: OID.keyUsage, critical: true, value: keyUsageValue(['keyCertSign']) },
          ],
        },
        signer,
      ),
    );
    const leaf: Certificate = parseCertificate(
      await signCertificate(
        {
          serial: randomSerial(crypto),
          issuer: rootName,
          subject: encodeName([{ type: 'CN', value: 'payments@example.com' }]),
          notBefore: GOOD_FROM,
          notAfter,
          spki: await exportSpki(leafKeys.publicKey),
          extensions: [
            { oid: OID.basicConstraints, critical: true, value: basicConstraintsValue(false) },
            { oid: OID.keyUsage, critical: true, value: keyUsageValue(['digitalSignature']) },
            { oid: OID.extKeyUsage, critical: false, value: extKeyUsageValue([OID.idKpEmailProtection]) },
            { oid: OID.subjectAltName, critical: false, value: subjectAltNameValue({ rfc822Names: ['payments@example.com'] }) },
            { oid: OID.certificatePolicies, critical: false, value: certificatePoliciesValue([OID.anyPolicy]) },
          ],
        },
        signer,
      ),
    );
    const msg = await sign(plainMessage(), { key: leafKeys.privateKey, certificate: leaf });
    const plain = await verifyMessage(msg, verifyOptions(f, { trustAnchors: [root] }));
    expect(plain.valid).toBe(true);
    expect(plain.signers[0]!.chain!.policies).toMatchObject({ authorityConstrainedPolicySet: [OID.anyPolicy], anyPolicy: true });
    const v = await verifyMessage(msg, verifyOptions(f, { trustAnchors: [root], requirePolicies: SMIME_BR_MAILBOX_VALIDATED_POLICIES }));
    expect(v.valid).toBe(false);
    const problems = v.signers[0]!.chain!.problems;
    expect(problems.map((p) => [p.code, p.certificateIndex])).toEqual([['CHAIN_NO_ACCEPTABLE_POLICY', 0]]);
    expect(problems[0]!.message).toContain('only through anyPolicy');
  });

  it('a requirePolicies entry that is not an OID is a caller mistake', async () => {
    for (const requirePolicies of [['mailbox'], [], ['1.2.3', 5]])
      await expect(verifyMessage(good, verifyOptions(f, { requirePolicies }))).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
  });
});
