/** RFC 2136 updates with TSIG against a real Knot DNS server started on 127.0.0.1 by the test. */
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { rfc2136Publisher, type Rfc2136Publisher } from '../../src/dns/index.js';
import { nodeDnsResolver } from '../../src/node/dns.js';
import { nodeDnsTransport, parseServer } from '../../src/node/dns-update.js';
import { describeWithPeers } from '../helpers/peers.js';
import { KNOT_BINARY, TSIG_NAME, TSIG_SECRET, startKnot, type KnotServer } from './knot.js';

const WRONG_SECRET = 'd3JvbmctZ2VoZWltbmlzLXdyb25nLXNlY3JldC0zMmI=';

describeWithPeers('rfc2136Publisher against knotd', [KNOT_BINARY], () => {
  let knot: KnotServer;
  let resolve: ReturnType<typeof nodeDnsResolver>;
  const publisher = (o: { secret?: string; name?: string; protocol?: 'auto' | 'tcp' | 'udp' } = {}): Rfc2136Publisher =>
    rfc2136Publisher({
      server: knot.server,
      zone: 'example.com',
      tsig: { name: o.name ?? TSIG_NAME, algorithm: 'hmac-sha256', secret: o.secret ?? TSIG_SECRET },
      transport: nodeDnsTransport({ protocol: o.protocol ?? 'auto' }),
      ttl: 60,
      timeoutMs: 3000,
    });
  const txt = async (name: string) => (await resolve(name)).map((r) => (typeof r === 'string' ? r : r.join('')));

  beforeAll(async () => {
    knot = await startKnot();
    resolve = nodeDnsResolver({ servers: [knot.server], timeoutMs: 1000 });
  });
  afterAll(async () => {
    await knot?.stop();
  });

  it('publishes a 2048-bit-RSA-sized record over TCP (several strings), replaces it, retires it with p=, removes it', async () => {
    const p = publisher();
    const name = 'big._domainkey.example.com';
    const value = `v=DKIM1; k=rsa; p=${'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'.padEnd(392, 'Q')}`;
    await p.publish({ name, value });
    expect(await txt(name)).toEqual([value]);
    const raw = await resolve(name);
    expect((raw[0] as readonly string[]).map((s) => s.length)).toEqual([255, value.length - 255]);
    await p.publish({ name, value: 'v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=' });
    expect(await txt(name)).toEqual(['v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=']);
    await p.retire({ name });
    expect(await txt(name)).toEqual(['v=DKIM1; p=']);
    await p.remove({ name });
    expect(await txt(name)).toEqual([]);
    // Removing what is not there is fine (RFC 2136 §3.4.2.3): idempotent.
    await p.remove({ name });
  });

  it('works over UDP for small records', async () => {
    const p = publisher({ protocol: 'udp' });
    await p.publish({ name: 'small._domainkey.example.com', value: 'v=DKIM1; p=' });
    expect(await txt('small._domainkey.example.com')).toEqual(['v=DKIM1; p=']);
  });

  it('a wrong TSIG secret or an unknown key is refused by the server: ERR_DNS_UPDATE_REFUSED, nothing changes', async () => {
    await expect(publisher({ secret: WRONG_SECRET }).publish({ name: 'evil._domainkey.example.com', value: 'v=DKIM1; p=' })).rejects.toMatchObject({
      code: 'ERR_DNS_UPDATE_REFUSED',
      details: { tsigError: 'BADSIG' },
    });
    await expect(publisher({ name: 'nobody.' }).publish({ name: 'evil._domainkey.example.com', value: 'v=DKIM1; p=' })).rejects.toMatchObject({
      code: 'ERR_DNS_UPDATE_REFUSED',
      details: { tsigError: 'BADKEY' },
    });
    expect(await txt('evil._domainkey.example.com')).toEqual([]);
  });

  it('the server\u2019s policy holds: the key may not touch names outside _domainkey (signed NOTAUTH)', async () => {
    await expect(publisher().publish({ name: 'www.example.com', value: 'hijack' })).rejects.toMatchObject({ code: 'ERR_DNS_UPDATE_REFUSED', details: { rcode: 'NOTAUTH' } });
    expect(await txt('www.example.com')).toEqual([]);
  });

  it('refuses names outside the zone before sending anything', async () => {
    await expect(publisher().publish({ name: 'x._domainkey.example.org', value: 'v=DKIM1; p=' })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { zone: 'example.com' } });
  });
});

describeWithPeers('nodeDnsTransport limits', [], () => {
  let silent: Socket;
  let port = 0;
  beforeAll(async () => {
    silent = createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    port = silent.address().port;
  });
  afterAll(() => silent.close());

  it('gives up after the timeout with ERR_DNS_UNAVAILABLE (UDP server that never answers; TCP port closed)', async () => {
    const p = (protocol: 'udp' | 'tcp') =>
      rfc2136Publisher({ server: `127.0.0.1:${port}`, zone: 'example.com', tsig: { name: TSIG_NAME, algorithm: 'hmac-sha256', secret: TSIG_SECRET }, transport: nodeDnsTransport({ protocol }), timeoutMs: 300 });
    const t0 = Date.now();
    await expect(p('udp').publish({ name: 'a.example.com', value: 'v=DKIM1; p=' })).rejects.toMatchObject({ code: 'ERR_DNS_UNAVAILABLE' });
    expect(Date.now() - t0).toBeLessThan(2000);
    await expect(p('tcp').publish({ name: 'a.example.com', value: 'v=DKIM1; p=' })).rejects.toMatchObject({ code: 'ERR_DNS_UNAVAILABLE' });
  });

  it('parses server addresses', () => {
    expect(parseServer('127.0.0.1:5353')).toEqual({ host: '127.0.0.1', port: 5353 });
    expect(parseServer('[::1]:53')).toEqual({ host: '::1', port: 53 });
    expect(parseServer('ns1.example.com')).toEqual({ host: 'ns1.example.com', port: 53 });
    for (const bad of ['', '1.2.3.4:0', '1.2.3.4:99999', '[nope]:53']) expect(() => parseServer(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
  });
});
