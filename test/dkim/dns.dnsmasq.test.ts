/** Key lookup through a real DNS server: dnsmasq on 127.0.0.1 at a high port, via nodeDnsResolver. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signDkimMessage, verifyDkim, type DkimKey } from '../../src/dkim/index.js';
import { nodeDnsResolver } from '../../src/node/dns.js';
import { describeWithDkimPeers, freeUdpPort, startDnsmasq, type Dnsmasq } from './peers.js';
import { DOMAIN, testKey, testMessage } from './fixtures.js';

describeWithDkimPeers('DKIM key lookup through dnsmasq', ['dnsmasq'], () => {
  let rsa4096: DkimKey;
  let ed: DkimKey;
  let dns: Dnsmasq;
  beforeAll(async () => {
    rsa4096 = await testKey('rsa-4096', 'big');
    ed = await testKey('ed25519');
    dns = await startDnsmasq(DOMAIN, { [rsa4096.record.name]: rsa4096.record.value, [ed.record.name]: ed.record.value });
  });
  afterAll(async () => dns?.stop());

  it('serves a 4096-bit key record as several strings, joined back into a passing key', async () => {
    expect(rsa4096.record.strings.length).toBeGreaterThan(2);
    const resolver = nodeDnsResolver({ servers: [`127.0.0.1:${dns.port}`], timeoutMs: 2000 });
    const answer = (await resolver(rsa4096.record.name)) as string[][];
    expect(answer).toHaveLength(1);
    expect(answer[0]!.length).toBeGreaterThan(1);
    expect(answer[0]!.join('')).toBe(rsa4096.record.value);
    const signed = await signDkimMessage(testMessage(), [
      { domain: DOMAIN, selector: rsa4096.selector, privateKey: rsa4096.privateKey },
      { domain: DOMAIN, selector: ed.selector, privateKey: ed.privateKey },
    ]);
    const v = await verifyDkim(signed, { resolver });
    expect(v.results.map((r) => [r.result, r.selector, r.keyBits])).toEqual([
      ['pass', 'big', 4096],
      ['pass', 'ed', 256],
    ]);
  });

  it('NXDOMAIN gives permerror "no key"', async () => {
    const resolver = nodeDnsResolver({ servers: [`127.0.0.1:${dns.port}`], timeoutMs: 2000 });
    expect(await resolver(`missing._domainkey.${DOMAIN}`)).toEqual([]);
    const signed = await signDkimMessage(testMessage(), [{ domain: DOMAIN, selector: 'missing', privateKey: ed.privateKey }]);
    const v = await verifyDkim(signed, { resolver });
    expect(v.results.map((r) => [r.result, r.reason])).toEqual([['permerror', `no key for selector (missing._domainkey.${DOMAIN})`]]);
  });

  it('a server that never answers gives temperror within the timeout', async () => {
    const silent = await freeUdpPort(); // nothing listens there: the query times out
    const resolver = nodeDnsResolver({ servers: [`127.0.0.1:${silent}`], timeoutMs: 300, tries: 1 });
    const signed = await signDkimMessage(testMessage(), [{ domain: DOMAIN, selector: ed.selector, privateKey: ed.privateKey }]);
    const started = Date.now();
    const v = await verifyDkim(signed, { resolver });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(v.results.map((r) => r.result)).toEqual(['temperror']);
    expect(v.results[0]!.reason).toMatch(/^key lookup failed: /);
  });
});
