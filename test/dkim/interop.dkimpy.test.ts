/** Interop with dkimpy (Debian python3-dkim), both directions; tampered messages must fail. */
import { fileURLToPath } from 'node:url';
import { beforeAll, expect, it } from 'vitest';
import { signDkimMessage, staticResolver, verifyDkim, type DkimKey } from '../../src/dkim/index.js';
import { run } from '../helpers/peers.js';
import { describeWithDkimPeers } from './peers.js';
import { CANONS, DOMAIN, INTEROP_MESSAGES, mailpkiSignedCases, ed25519Seed, keyPem, tamper, testKey, testMessage } from './fixtures.js';

const SCRIPT = fileURLToPath(new URL('./dkimpy-job.py', import.meta.url));

interface Job {
  records: Record<string, string>;
  verify?: string[];
  sign?: { msg: string; selector: string; domain: string; key: string; canon: string; alg: string }[];
}

function dkimpy(job: Job): { verify: boolean[]; sign: string[] } {
  const enc = (j: Job): string => JSON.stringify(j);
  return JSON.parse(run('/usr/bin/python3', [SCRIPT], { input: enc(job) }));
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

describeWithDkimPeers('DKIM interop: dkimpy', ['python3-dkim'], () => {
  let rsa: DkimKey;
  let ed: DkimKey;
  let records: Record<string, string>;
  beforeAll(async () => {
    rsa = await testKey('rsa-2048');
    ed = await testKey('ed25519');
    records = { [rsa.record.name]: rsa.record.value, [ed.record.name]: ed.record.value };
  });

  it('verifies what mailpki signs (RSA and Ed25519, every canonicalisation, with and without x=), and rejects it tampered', async () => {
    const cases = await mailpkiSignedCases([rsa, ed]);
    const out = dkimpy({ records, verify: [...cases.map((c) => b64(c.signed)), ...cases.map((c) => b64(tamper(c.signed)))] });
    const n = cases.length;
    expect(Object.fromEntries(cases.map((c, i) => [c.label, out.verify[i]]))).toEqual(Object.fromEntries(cases.map((c) => [c.label, true])));
    expect(out.verify.slice(n)).toEqual(cases.map(() => false));
  });

  it('both signatures of a dual-signed message (RSA + Ed25519) pass dkimpy', async () => {
    const signed = await signDkimMessage(testMessage(), [
      { domain: DOMAIN, selector: rsa.selector, privateKey: rsa.privateKey },
      { domain: DOMAIN, selector: ed.selector, privateKey: ed.privateKey },
    ]);
    // dkimpy.verify checks the first signature; remove it to check the second.
    const second = signed.replace(/^DKIM-Signature:[^]*?\r\n(?=DKIM-Signature:)/, '');
    expect(second).not.toBe(signed);
    expect(dkimpy({ records, verify: [b64(signed), b64(second)] }).verify).toEqual([true, true]);
  });

  it('a signed header with a line under it that is no field: dkimpy refuses it, and mailpki no longer passes it (permerror)', async () => {
    const signed = await signDkimMessage(testMessage(), [{ domain: DOMAIN, selector: ed.selector, privateKey: ed.privateKey }]);
    const end = signed.indexOf('\r\n\r\n');
    // Postfix's cleanup ends the header at such a line and delivers it, with all after it, as the body's start.
    const stray = `${signed.slice(0, end)}\r\nPay the new account DE99 3704 0044 0532 0130 00 instead.${signed.slice(end)}`;
    expect(dkimpy({ records, verify: [b64(signed), b64(stray)] }).verify).toEqual([true, false]);
    const v = await verifyDkim(stray, { resolver: staticResolver(records) });
    expect(v.result).toBe('permerror');
    expect(v.results.map((r) => r.reason)).toEqual([expect.stringMatching(/^header line \d+ \(folded lines counted as one\) is not a header field/)]);
    expect((await verifyDkim(signed, { resolver: staticResolver(records) })).result).toBe('pass');
  });

  it('mailpki verifies what dkimpy signs, and fails it tampered', async () => {
    const rsaPem = await keyPem(rsa);
    const edSeed = await ed25519Seed(ed);
    const jobs = [];
    for (const [, message] of INTEROP_MESSAGES)
      for (const canon of CANONS) {
        jobs.push({ msg: b64(message()), selector: rsa.selector, domain: DOMAIN, key: rsaPem, canon, alg: 'rsa-sha256' });
        jobs.push({ msg: b64(message()), selector: ed.selector, domain: DOMAIN, key: edSeed, canon, alg: 'ed25519-sha256' });
      }
    const out = dkimpy({ records, sign: jobs });
    const resolver = staticResolver(records);
    for (const [i, s] of out.sign.entries()) {
      const signed = Buffer.from(s, 'base64').toString('utf8');
      const v = await verifyDkim(signed, { resolver });
      expect(v.results.map((r) => [r.result, r.reason, r.algorithm, r.canonicalization])).toEqual([
        ['pass', 'signature verified', jobs[i]!.alg, jobs[i]!.canon],
      ]);
      const t = await verifyDkim(tamper(signed), { resolver });
      expect(t.results.map((r) => [r.result, r.reason])).toEqual([['fail', 'body hash did not verify']]);
    }
  });
});
