/** Interop with mailauth 4.13.3 (npm) and nodemailer's DKIM option, both directions; tampered must fail. */
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import nodemailer from 'nodemailer';
import { beforeAll, describe, expect, it } from 'vitest';
import { staticResolver, verifyDkim, type DkimKey } from '../../src/dkim/index.js';
import { CANONS, DOMAIN, INTEROP_MESSAGES, mailpkiSignedCases, keyPem, tamper, testKey } from './fixtures.js';


describe('DKIM interop: mailauth and nodemailer', () => {
  let rsa: DkimKey;
  let ed: DkimKey;
  let records: Record<string, string>;
  const mailauthResolver = async (name: string): Promise<string[][]> => {
    const v = records[name.replace(/\.$/, '').toLowerCase()];
    if (v === undefined) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    return [[v]];
  };
  beforeAll(async () => {
    rsa = await testKey('rsa-2048');
    ed = await testKey('ed25519');
    records = { [rsa.record.name]: rsa.record.value, [ed.record.name]: ed.record.value };
  });

  it('mailauth dkimVerify passes what mailpki signs (RSA and Ed25519, every canonicalisation, with and without x=) and not the tampered copy', async () => {
    for (const { label, signed } of await mailpkiSignedCases([rsa, ed])) {
      const ok = await dkimVerify(Buffer.from(signed), { resolver: mailauthResolver });
      expect([label, ok.results.map((r: { status: { result: string } }) => r.status.result)]).toEqual([label, ['pass']]);
      const bad = await dkimVerify(Buffer.from(tamper(signed)), { resolver: mailauthResolver });
      // mailauth 4.13 reports a body hash mismatch as "neutral": anything but pass is a rejection.
      expect(bad.results.map((r: { status: { result: string; comment?: string } }) => r.status.result)).toEqual(['neutral']);
    }
  });

  it('mailpki verifies what mailauth dkimSign signs (RSA and Ed25519, every canonicalisation, with x=) and fails it tampered', async () => {
    const resolver = staticResolver(records);
    for (const [, body] of INTEROP_MESSAGES)
      for (const key of [rsa, ed])
        for (const canonicalization of CANONS) {
          const message = body();
          const { signatures, errors } = await dkimSign(message, {
            canonicalization,
            // mailauth 4.13 without signTime computes t= twice (Math.round(Date.now()/1000), once for the hash, once for the header): across a half second they differ and its own signature does not verify.
            signTime: new Date(),
            expires: new Date(Date.now() + 3600_000),
            signatureData: [{ signingDomain: DOMAIN, selector: key.selector, privateKey: await keyPem(key), algorithm: key.signingAlgorithm }],
            // mailauth 4.13's .d.ts wants top-level signingDomain/selector/privateKey; its runtime reads signatureData.
          } as unknown as Parameters<typeof dkimSign>[1]);
          expect(errors).toEqual([]);
          const signed = signatures + message;
          const v = await verifyDkim(signed, { resolver });
          expect(v.results.map((r) => [r.result, r.reason, r.algorithm, r.canonicalization, r.aligned])).toEqual([
            ['pass', 'signature verified', key.signingAlgorithm, canonicalization, true],
          ]);
          expect(v.results[0]!.expiresAt).toBeInstanceOf(Date);
          const t = await verifyDkim(tamper(signed), { resolver });
          expect(t.results.map((r) => r.result)).toEqual(['fail']);
        }
  });

  // nodemailer signs with RSA only (crypto.createSign('RSA-SHA256')); given an Ed25519 key it sends unsigned.
  it('mailpki verifies what nodemailer signs with its dkim option (RSA), and fails it tampered', async () => {
    const resolver = staticResolver(records);
    for (const key of [rsa]) {
      const transport = nodemailer.createTransport({
        streamTransport: true,
        buffer: true,
        newline: 'windows',
        dkim: { domainName: DOMAIN, keySelector: key.selector, privateKey: await keyPem(key) },
      });
      const info = await transport.sendMail({
        from: 'Joe <joe@example.com>',
        to: 'suzie@shopping.example.net',
        subject: 'Is dinner ready?',
        text: 'Hi.\n\nWe lost the game.  Are you hungry yet?\n\nJoe.\n',
      });
      const signed = (info.message as Buffer).toString('utf8');
      expect(signed).toMatch(/^DKIM-Signature:/);
      const v = await verifyDkim(signed, { resolver });
      expect(v.results.map((r) => [r.result, r.reason, r.algorithm])).toEqual([['pass', 'signature verified', key.signingAlgorithm]]);
      const t = await verifyDkim(signed.replace('We lost', 'We won'), { resolver });
      expect(t.results.map((r) => [r.result, r.reason])).toEqual([['fail', 'body hash did not verify']]);
    }
  });
});
