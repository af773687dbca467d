/**
 * Work budget (issue 11, finding 4): messages built to burn CPU in verification — many signers in
 * many layers, each signer certificate naming an issuer that the message offers hundreds of times
 * with slow RSA keys — must come back invalid, with SMIME_WORK_LIMIT_EXCEEDED, in milliseconds.
 * The report's message took 82 s wall / 128 s CPU. bench/smime.ts times the same shapes.
 *
 * The time bounds here are loose (a loaded 2-core machine); the bench shows the real numbers.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { latin1 } from '../../src/internal/bytes.js';
import { verifyMessage, type Verdict } from '../../src/smime/index.js';
import { ADVERSARIAL_NOW, buildAdversarialMessage, REPORTED_SHAPE, type AdversarialMessage, type AdversarialShape } from './adversarial.js';
import { buildSignedData, buildSignerInfo, ENTITY, makeSmimeFixture, multipartSigned, OUTER, plainMessage, sign, verifyOptions } from './fixtures.js';

const codes = (v: Verdict) => [...new Set(v.problems.map((p) => p.code))];

async function timedVerify(m: AdversarialMessage, limits?: Record<string, number>): Promise<{ verdict: Verdict; ms: number }> {
  const raw = latin1(m.message);
  const t = performance.now();
  const verdict = await verifyMessage(raw, { trustAnchors: m.anchors, at: ADVERSARIAL_NOW, revocation: { policy: 'off' }, ...(limits && { limits }) });
  return { verdict, ms: performance.now() - t };
}

describe('work budget (finding 4)', () => {
  let reported: AdversarialMessage;
  beforeAll(async () => {
    reported = await buildAdversarialMessage(REPORTED_SHAPE);
  });

  it('64 SignerInfos × 8 layers with 255 fake issuers (3,064-bit RSA exponents) is invalid with SMIME_WORK_LIMIT_EXCEEDED in milliseconds (finding 4)', async () => {
    expect(reported.bytes).toBeGreaterThan(3_000_000);
    const { verdict, ms } = await timedVerify(reported);
    expect(verdict.valid).toBe(false);
    expect(codes(verdict)).toEqual(['SMIME_WORK_LIMIT_EXCEEDED']);
    expect(verdict.problems[0]!.message).toMatch(/maxSigners/);
    expect(ms).toBeLessThan(2000);
  });

  it('the same message with the signer and certificate caps raised: the fake issuers are refused at parse and the budget holds (finding 4)', async () => {
    const { verdict, ms } = await timedVerify(reported, { maxSigners: 512, maxCertificates: 2048 });
    expect(verdict.valid).toBe(false);
    expect(codes(verdict)).toContain('SMIME_WORK_LIMIT_EXCEEDED');
    expect(verdict.signers).toHaveLength(512);
    // No fake issuer was parsed (3,064-bit exponents): no path search tried one.
    for (const s of verdict.signers) expect(s.chain?.path ?? []).toHaveLength(1);
    expect(ms).toBeLessThan(5000);
  });

  // Within the default caps (16 signers, 64 certificates), with the slowest keys still accepted.
  const withinCaps = (modulusBits: number, exponentBits: number): AdversarialShape => ({
    layers: 8,
    signersPerLayer: 2,
    fakeIssuers: 40,
    modulusBits,
    exponentBits,
    fakesInEveryLayer: false,
  });
  const shapes: [string, AdversarialShape][] = [
    ['RSA-3072 fake issuers with 256-bit exponents (the largest accepted)', withinCaps(3072, 256)],
    ['RSA-4096 fake issuers with e = 65537 (cost 1 each: the most checks)', withinCaps(4096, 17)],
    ['RSA-16384 fake issuers (the largest modulus accepted)', withinCaps(16384, 17)],
    ['P-521 fake issuers (the slowest ECDSA)', { ...withinCaps(0, 0), curve: 'P-521' }],
  ];
  for (const [what, shape] of shapes) {
    it(`16 signers in 8 layers, ${what}: invalid with SMIME_WORK_LIMIT_EXCEEDED (finding 4)`, async () => {
      const m = await buildAdversarialMessage(shape);
      const { verdict, ms } = await timedVerify(m);
      expect(verdict.valid).toBe(false);
      expect(codes(verdict)).toContain('SMIME_WORK_LIMIT_EXCEEDED');
      expect(verdict.signers).toHaveLength(16);
      expect(ms).toBeLessThan(1500);
    });
  }

  it('more SignerInfos than limits.maxSigners: nothing is verified, the verdict names the limit', async () => {
    const f = await makeSmimeFixture();
    const content = latin1(ENTITY);
    const si = await buildSignerInfo({ content, key: f.payments.key, certificate: f.payments.certificate, hash: 'SHA-256' });
    const cms = buildSignedData({ signerInfos: [si, si], certificates: [f.payments.certificate, ...f.payments.chain] });
    const message = multipartSigned(OUTER, ENTITY, cms);
    const opts = verifyOptions(f, { revocation: { policy: 'off' } });
    expect((await verifyMessage(message, opts)).valid).toBe(true);
    const v = await verifyMessage(message, { ...opts, limits: { maxSigners: 1 } });
    expect(v.valid).toBe(false);
    expect(codes(v)).toEqual(['SMIME_WORK_LIMIT_EXCEEDED']);
    expect(v.signers).toEqual([]);
    const c = await verifyMessage(message, { ...opts, limits: { maxCertificates: 1 } });
    expect(codes(c)).toEqual(['SMIME_WORK_LIMIT_EXCEEDED']);
    // Both SignerInfos use SHA-256: the content is hashed once.
    const once = content.length + 2; // the signed part is the entity with its CRLF line ends
    expect((await verifyMessage(message, { ...opts, limits: { maxDigestBytes: 2 * once } })).valid).toBe(true);
    const d = await verifyMessage(message, { ...opts, limits: { maxDigestBytes: 10 } });
    expect(codes(d)).toEqual(['SMIME_WORK_LIMIT_EXCEEDED']);
    expect(d.problems[0]!.message).toMatch(/maxDigestBytes/);
  });

  it('limits are validated: unknown keys and non-positive counts are ERR_INVALID_INPUT', async () => {
    const f = await makeSmimeFixture();
    const signed = await sign(plainMessage(), f.payments);
    await expect(verifyMessage(signed, verifyOptions(f, { limits: { maxPublicKeyOperations: 0 } }))).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    await expect(verifyMessage(signed, verifyOptions(f, { limits: { maxWork: 5 } }))).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
  });
});
