/**
 * Interop with OpenDKIM's opendkim-testmsg, both directions. It looks keys up only through
 * /etc/resolv.conf, so each run happens in private mount/net/pid namespaces with a throwaway
 * dnsmasq on 127.0.0.1:53 (test/dkim/opendkim-ns.sh); the host's network is untouched.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signDkimMessage, staticResolver, verifyDkim, type DkimKey } from '../../src/dkim/index.js';
import { runStatus, tempDir } from '../helpers/peers.js';
import { describeWithDkimPeers } from './peers.js';
import { DOMAIN, INTEROP_MESSAGES, mailpkiSignedCases, keyPem, tamper, testKey, testMessage } from './fixtures.js';

const SCRIPT = fileURLToPath(new URL('./opendkim-ns.sh', import.meta.url));

type Job = { op: 'verify'; message: string } | { op: 'sign'; message: string; selector: string; keyFile: string };

describeWithDkimPeers('DKIM interop: opendkim-testmsg (in private namespaces, dnsmasq on 127.0.0.1:53)', ['opendkim-testmsg', 'dnsmasq', 'unshare-namespaces'], () => {
  let rsa: DkimKey;
  let ed: DkimKey;
  let records: Record<string, string>;
  const tmp = tempDir('mailpki-opendkim-');
  afterAll(() => tmp.cleanup());
  beforeAll(async () => {
    rsa = await testKey('rsa-2048');
    ed = await testKey('ed25519');
    records = { [rsa.record.name]: rsa.record.value, [ed.record.name]: ed.record.value };
    writeFileSync(tmp.path('rsa.pem'), await keyPem(rsa));
    writeFileSync(tmp.path('ed.pem'), await keyPem(ed));
  });

  /** Runs the jobs in one namespace session; returns each job's exit code and output. */
  function runJobs(jobs: Job[]): { rc: number; out: string }[] {
    writeFileSync(tmp.path('records'), Object.entries(records).map(([n, v]) => `${n},${v}\n`).join(''));
    const lines = jobs.map((j, i) => {
      const file = tmp.path(`msg${i}.eml`);
      writeFileSync(file, j.message);
      return j.op === 'verify' ? `verify ${file}` : `sign ${file} ${DOMAIN} ${j.selector} ${j.keyFile}`;
    });
    writeFileSync(tmp.path('jobs'), lines.join('\n') + '\n');
    const r = runStatus('unshare', ['--mount', '--net', '--pid', '--fork', '--kill-child', 'sh', SCRIPT, tmp.dir]);
    if (r.status !== 0) throw new Error(`namespace run failed (${r.status}): ${r.stderr}`);
    return jobs.map((_, i) => ({
      rc: Number(readFileSync(tmp.path(`msg${i}.eml.rc`), 'latin1').trim()),
      out: readFileSync(tmp.path(`msg${i}.eml.out`), 'latin1'),
    }));
  }

  it('passes what mailpki signs (RSA and Ed25519, every canonicalisation, with and without x=) and rejects it tampered', async () => {
    const cases = await mailpkiSignedCases([rsa, ed]);
    const out = runJobs([...cases, ...cases.map((c) => ({ ...c, signed: tamper(c.signed) }))].map((c) => ({ op: 'verify', message: c.signed })));
    const n = cases.length;
    expect(Object.fromEntries(cases.map((c, i) => [c.label, [out[i]!.rc, out[i]!.out.trim()]]))).toEqual(
      Object.fromEntries(cases.map((c) => [c.label, [0, '']])),
    );
    for (let i = 0; i < n; i++) expect([cases[i]!.label, out[n + i]!.rc]).not.toEqual([cases[i]!.label, 0]);
  });

  // opendkim-testmsg signs with OpenDKIM's library defaults: rsa-sha1 (no option to change it), which
  // mailpki refuses by default (RFC 8301) and verifies with policy.allowSha1. It cannot sign with an
  // Ed25519 key (exit 70), and `opendkim -t` signs without printing the result, so OpenDKIM-signed
  // Ed25519 is not tested.
  it('mailpki verifies what opendkim-testmsg signs (rsa-sha1), and fails it tampered', async () => {
    const out = runJobs(INTEROP_MESSAGES.map(([, message]) => ({ op: 'sign', message: message(), selector: rsa.selector, keyFile: tmp.path('rsa.pem') })));
    const resolver = staticResolver(records);
    for (const [i, alg] of INTEROP_MESSAGES.map(() => 'rsa-sha1' as const).entries()) {
      expect([alg, out[i]!.rc, out[i]!.out.slice(0, 200)]).toEqual([alg, 0, expect.stringMatching(/^DKIM-Signature:/)]);
      const signed = out[i]!.out;
      const policy = { allowSha1: true };
      if (alg === 'rsa-sha1') {
        const strict = await verifyDkim(signed, { resolver });
        expect(strict.results.map((r) => [r.result, r.reason])).toEqual([['policy', 'rsa-sha1 is not accepted (RFC 8301)']]);
      }
      const v = await verifyDkim(signed, { resolver, policy });
      expect(v.results.map((r) => [r.result, r.reason, r.algorithm])).toEqual([['pass', 'signature verified', alg]]);
      const t = await verifyDkim(tamper(signed), { resolver, policy });
      expect(t.results.map((r) => [r.result, r.reason])).toEqual([['fail', 'body hash did not verify']]);
    }
  });
  // RFC 6376 §8.15 (test/dkim/unsigned-instances.test.ts has the rest): a second Subject above one h= signs once.
  it('a Subject (or To) added on top of a signature listing it once: opendkim-testmsg refuses the message, mailpki gives policy; both ways', async () => {
    const forged = 'Subject: URGENT: new bank details\r\n';
    const once = await signDkimMessage(testMessage(), [{ domain: DOMAIN, selector: rsa.selector, privateKey: rsa.privateKey, overSign: false }]);
    const out = runJobs([
      { op: 'verify', message: forged + once },
      { op: 'verify', message: 'X-Note: hello\r\n' + once },
      { op: 'verify', message: 'To: ap@example.com\r\n' + once },
      { op: 'sign', message: testMessage(), selector: rsa.selector, keyFile: tmp.path('rsa.pem') },
    ]);
    // libopendkim refuses a message with two Subject (or To) fields outright; another added field is fine.
    const refused = [70, 'opendkim-testmsg: dkim_chunk(): Syntax error\n'];
    expect(out.slice(0, 3).map((o) => [o.rc, o.out])).toEqual([refused, [0, ''], refused]);
    const resolver = staticResolver(records);
    const policy = { allowSha1: true };
    const mine = (await verifyDkim(forged + once, { resolver })).results;
    expect(mine.map((r) => [r.result, r.unsignedInstances])).toEqual([['policy', [{ field: 'subject', signed: 1, present: 2 }]]]);
    const signed = out[3]!.out;
    expect((await verifyDkim(signed, { resolver, policy })).results.map((r) => r.result)).toEqual(['pass']);
    const theirs = (await verifyDkim(forged + signed, { resolver, policy })).results;
    expect(theirs.map((r) => [r.result, r.unsignedInstances])).toEqual([['policy', [{ field: 'subject', signed: 1, present: 2 }]]]);
  });
});
