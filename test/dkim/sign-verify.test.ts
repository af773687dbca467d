/** Keys, records, signing options, streaming, verification policy and results. */
import fc from 'fast-check';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  authenticationResults,
  createDkimSigner,
  dkimRecord,
  dmarcCandidate,
  dohResolver,
  generateDkimKey,
  parseDkimRecord,
  revokedDkimRecord,
  signDkim,
  signDkimMessage,
  staticResolver,
  verifyDkim,
  type DkimKey,
} from '../../src/dkim/index.js';
import { isMailPkiError, MailPkiError } from '../../src/errors.js';
import { DOMAIN, tamper, testKey, testMessage } from './fixtures.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const clock = (): Date => NOW;

let rsa: DkimKey;
let ed: DkimKey;
let resolver: ReturnType<typeof staticResolver>;
beforeAll(async () => {
  rsa = await testKey('rsa-2048');
  ed = await testKey('ed25519');
  resolver = staticResolver({ [rsa.record.name]: rsa.record.value, [ed.record.name]: ed.record.value });
});

describe('keys and records', () => {
  it('generateDkimKey makes RSA and Ed25519 keys with their record', async () => {
    expect(rsa.record.name).toBe('rsa._domainkey.example.com');
    expect(rsa.record.value).toMatch(/^v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA[A-Za-z0-9+/]+=*$/);
    expect(ed.record.value).toMatch(/^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/);
    expect(ed.record.zoneLine).toBe(`ed._domainkey.example.com. 3600 IN TXT "${ed.record.value}"`);
    const k = await generateDkimKey({ domain: 'Example.COM', selector: 's1' });
    expect([k.algorithm, k.signingAlgorithm, k.privateKey.extractable]).toEqual(['rsa-2048', 'rsa-sha256', false]);
  });

  it('splits long records into ≤ 255-byte strings and writes a zone-file line', async () => {
    const rec = await dkimRecord(rsa.publicKey, { domain: DOMAIN, selector: 'rsa', testing: true, strict: true, hashAlgorithms: ['sha256'], notes: 'ops; team', ttl: 300 });
    expect(rec.value).toMatch(/^v=DKIM1; k=rsa; h=sha256; t=y:s; n=ops=3B=20team; p=/);
    expect(rec.strings.join('')).toBe(rec.value);
    expect(rec.strings.every((s) => s.length <= 255)).toBe(true);
    expect(rec.strings.length).toBe(2);
    expect(rec.zoneLine).toBe(`rsa._domainkey.example.com. 300 IN TXT ( "${rec.strings[0]}" "${rec.strings[1]}" )`);
    const parsed = parseDkimRecord(rec.value);
    expect([parsed.keyType, parsed.testing, parsed.strict, parsed.hashAlgorithms, parsed.notes]).toEqual(['rsa', true, true, ['sha256'], 'ops=3B=20team']);
  });

  it('revokedDkimRecord has an empty p=, which parses as a revoked key', () => {
    const r = revokedDkimRecord({ domain: DOMAIN, selector: 'old' });
    expect(r.value).toBe('v=DKIM1; k=rsa; p=');
    expect(parseDkimRecord(r.value).publicKey).toBeNull();
  });

  it('parseDkimRecord: unknown tags ignored, strict syntax, coded errors', () => {
    expect(parseDkimRecord('k=ed25519; xnew=1; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=').keyType).toBe('ed25519');
    const code = (txt: string): string | undefined => {
      try {
        parseDkimRecord(txt);
        return undefined;
      } catch (e) {
        return (e as MailPkiError).code;
      }
    };
    expect(code('v=DKIM1; k=rsa; p=AA==; p=AA==')).toBe('ERR_INVALID_INPUT');
    expect(code('k=rsa; v=DKIM1; p=')).toBe('ERR_INVALID_INPUT');
    expect(code('v=DKIM2; p=')).toBe('ERR_INVALID_INPUT');
    expect(code('v=DKIM1; k=dsa; p=')).toBe('ERR_KEY_UNSUPPORTED');
    expect(code('v=DKIM1; k=rsa; p=!!!')).toBe('ERR_KEY_MALFORMED');
    expect(code('v=DKIM1; k=ed25519; p=AAAA')).toBe('ERR_KEY_MALFORMED');
    expect(code('v=DKIM1; k=rsa')).toBe('ERR_INVALID_INPUT');
  });

  it('refuses bad domains, selectors and ECDSA keys', async () => {
    await expect(dkimRecord(rsa.publicKey, { domain: 'not a domain', selector: 's' })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    await expect(dkimRecord(rsa.publicKey, { domain: DOMAIN, selector: 'a;b' })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    const ec = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    await expect(dkimRecord(ec.publicKey, { domain: DOMAIN, selector: 's' })).rejects.toMatchObject({ code: 'ERR_KEY_UNSUPPORTED' });
  });
});

describe('signing', () => {
  it('writes the tags asked for, over-signs, and leaves l= out by default', async () => {
    const field = await signDkim(testMessage(), { domain: DOMAIN, selector: 'rsa', privateKey: rsa.privateKey, clock, expires: 86400, identity: 'joe@mail.example.com' });
    const flat = field.replace(/\r\n\t/g, ' ');
    expect(flat).toMatch(/^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example.com; s=rsa; t=1772366400; x=1772452800; i=joe@mail.example.com; h=from:from:/);
    expect(flat).not.toMatch(/ l=/);
    expect(field.split('\r\n').every((l) => l.length <= 78)).toBe(true);
    const h = / h=([^;]+);/.exec(flat)![1]!.replace(/\s/g, '').split(':');
    expect(h.filter((n) => n === 'subject')).toHaveLength(2);
    expect(h.filter((n) => n === 'cc')).toHaveLength(1);
    const plain = await signDkim(testMessage(), { domain: DOMAIN, selector: 'rsa', privateKey: rsa.privateKey, clock, overSign: false, headers: ['Subject'], bodyLength: true });
    expect(plain.replace(/\r\n\t/g, ' ')).toMatch(/ l=\d+; h=from:from:subject; bh=/);
  });

  it('an added header field breaks an over-signed signature', async () => {
    const signed = await signDkimMessage(testMessage(), [{ domain: DOMAIN, selector: 'ed', privateKey: ed.privateKey, clock }]);
    const added = signed.replace('\r\nFrom:', '\r\nCc: eve@evil.example\r\nFrom:');
    const v = await verifyDkim(added, { resolver, clock });
    expect(v.results.map((r) => [r.result, r.reason])).toEqual([['fail', 'signature did not verify']]);
  });

  it('refuses caller mistakes before signing', async () => {
    const base = { domain: DOMAIN, selector: 'rsa', privateKey: rsa.privateKey };
    await expect(signDkim(testMessage(), { ...base, domain: 'bad domain' })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    await expect(signDkim(testMessage(), { ...base, algorithm: 'ed25519-sha256' })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    await expect(signDkim(testMessage(), { ...base, identity: 'joe@other.example' })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    await expect(signDkim(testMessage(), { ...base, identity: 'jöe@example.com' })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', details: { field: 'identity' } });
    await expect(signDkim(testMessage(), { ...base, identity: 'a=b@example.com' })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    await expect(signDkim(testMessage(), { ...base, privateKey: rsa.publicKey })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    await expect(signDkim(testMessage(), { ...base, canonicalization: 'relaxed' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    await expect(signDkim('Subject: no from\r\n\r\nx\r\n', base)).rejects.toMatchObject({ code: 'ERR_MIME_MALFORMED' });
  });

  it('streaming gives the same field as the byte version for any chunking', async () => {
    const message = new TextEncoder().encode(testMessage('Line one\r\n\r\n  spaced \t out \r\nend\r\n\r\n'));
    for (const key of [rsa, ed]) {
      const opts = { domain: DOMAIN, selector: key.selector, privateKey: key.privateKey, clock };
      const whole = await signDkim(message, opts);
      await fc.assert(
        fc.asyncProperty(fc.array(fc.nat(message.length), { maxLength: 12 }), async (cuts) => {
          const s = createDkimSigner(opts);
          let at = 0;
          for (const cut of [...cuts].sort((a, b) => a - b)) {
            s.update(message.subarray(at, Math.max(at, cut)));
            at = Math.max(at, cut);
          }
          s.update(message.subarray(at));
          expect(await s.finish()).toBe(whole);
        }),
        { numRuns: 25 },
      );
    }
  });

  it('string chunks fed to signers in progress at the same time give each its own field (the UTF-8 scratch is reused between calls)', async () => {
    const a = testMessage('Grüße aus Köln\r\n'.repeat(40));
    const b = testMessage('Second message,  other body \r\n'.repeat(300));
    const opts = { domain: DOMAIN, selector: rsa.selector, privateKey: rsa.privateKey, clock };
    const [wantA, wantB] = [await signDkim(a, opts), await signDkim(b, opts)];
    expect(wantA).not.toBe(wantB);
    const sa = createDkimSigner(opts);
    const sb = createDkimSigner(opts);
    // Cuts inside the header blocks too, so a partial header is held between calls.
    for (let at = 0; at < Math.max(a.length, b.length); at += 97) {
      if (at < a.length) sa.update(a.slice(at, at + 97));
      if (at < b.length) sb.update(b.slice(at, at + 97));
    }
    expect(await sa.finish()).toBe(wantA);
    expect(await sb.finish()).toBe(wantB);
    expect((await verifyDkim(`${wantA}\r\n${a}`, { resolver, clock })).result).toBe('pass');
  });

  it('signDkimMessage keeps bare-LF messages in LF and signs them as CRLF', async () => {
    const lf = testMessage().replace(/\r\n/g, '\n');
    const signed = await signDkimMessage(lf, [{ domain: DOMAIN, selector: 'ed', privateKey: ed.privateKey }]);
    expect(signed).not.toContain('\r');
    expect((await verifyDkim(signed, { resolver })).result).toBe('pass');
  });
});

describe('verifying', () => {
  const sign = (opts: Partial<Parameters<typeof signDkim>[1]> = {}, message = testMessage()): Promise<string> =>
    signDkimMessage(message, [{ domain: DOMAIN, selector: 'rsa', privateKey: rsa.privateKey, clock, ...opts }]);
  const words = async (message: string, extra: Partial<Parameters<typeof verifyDkim>[1]> = {}): Promise<[string, string][]> =>
    (await verifyDkim(message, { resolver, clock, ...extra })).results.map((r) => [r.result, r.reason]);

  it('none without a signature', async () => {
    const v = await verifyDkim(testMessage(), { resolver });
    expect(v).toEqual({ result: 'none', results: [], from: 'joe@example.com', fromDomain: 'example.com' });
    expect(authenticationResults(v, { authservId: 'mx.example.net' })).toBe('mx.example.net; dkim=none');
  });

  it('pass, with alignment, key size and Authentication-Results', async () => {
    const v = await verifyDkim(await sign(), { resolver, clock });
    expect(v.result).toBe('pass');
    const r = v.results[0]!;
    expect([r.aligned, r.keyBits, r.testing, r.signedAt?.toISOString()]).toEqual([true, 2048, false, NOW.toISOString()]);
    expect(dmarcCandidate(v, 'example.com')).toBe(r);
    expect(dmarcCandidate(v, 'sub.example.com')).toBe(r);
    expect(dmarcCandidate(v, 'example.org')).toBeUndefined();
    expect(authenticationResults(v, { authservId: 'mx.example.net' })).toBe(
      `mx.example.net;\r\n\tdkim=pass (signature verified) header.d=example.com header.s=rsa header.a=rsa-sha256 header.b=${r.signature!.slice(0, 8).match(/[/=]/) ? `"${r.signature!.slice(0, 8)}"` : r.signature!.slice(0, 8)}`,
    );
  });

  it('fail: body hash, and signature after a header change', async () => {
    const signed = await sign();
    expect(await words(tamper(signed))).toEqual([['fail', 'body hash did not verify']]);
    expect(await words(signed.replace('Subject: Is dinner', 'Subject: Is lunch'))).toEqual([['fail', 'signature did not verify']]);
  });

  it('policy: expired x=, From not signed, weak key refused, rsa-sha1, l= covering little', async () => {
    expect(await words(await sign({ expires: 60 }), { clock: () => new Date(NOW.getTime() + 120_000) })).toEqual([['policy', 'signature expired (x=)']]);
    const noFrom = (await sign()).replace(/h=from:from:/, 'h=');
    expect((await words(noFrom))[0]).toEqual(['policy', 'From is not signed']);
    expect(await words(await sign(), { policy: { minRsaBits: 3072 } })).toEqual([['policy', 'RSA key of 2048 bits is below the minimum of 3072']]);
    const l = await sign({ bodyLength: true });
    const appended = l.replace(/\r\n$/, '\r\nAppended by someone else.\r\n');
    expect(await words(appended)).toEqual([['policy', expect.stringMatching(/^l= leaves \d+ of \d+ body bytes unsigned$/)]]);
    expect(await words(appended, { policy: { acceptUnsignedBodyTail: true } })).toEqual([
      ['pass', expect.stringMatching(/^signature verified; l= signs (\d+) of \d+ body bytes; unsigned from canonical body offset \1$/)],
    ]);
    expect(await words(appended, { policy: { acceptUnsignedBodyTail: true, maxBodyLengthFraction: 0.05 } })).toEqual([
      ['policy', expect.stringMatching(/^l= leaves \d+ of \d+ body bytes unsigned$/)],
    ]);
    expect(await words(l)).toEqual([['pass', 'signature verified']]);
  });

  it('permerror: no key, revoked, key type mismatch, h= restriction, syntax, unsupported algorithm', async () => {
    const signed = await sign();
    const rec = (v: string) => ({ resolver: staticResolver({ 'rsa._domainkey.example.com': v }) });
    expect(await words(signed, { resolver: staticResolver({}) })).toEqual([['permerror', 'no key for selector (rsa._domainkey.example.com)']]);
    expect(await words(signed, rec('v=DKIM1; k=rsa; p='))).toEqual([['permerror', 'key revoked (empty p=)']]);
    expect(await words(signed, rec(ed.record.value))).toEqual([['permerror', 'key type k=ed25519 does not match a=rsa-sha256']]);
    expect(await words(signed, rec(rsa.record.value.replace('k=rsa;', 'k=rsa; h=sha1;')))).toEqual([['permerror', 'key record h= does not allow sha256']]);
    expect(await words(signed, rec('v=DKIM1; p=MIIB;;'))).toEqual([['permerror', 'key record: DKIM key record syntax: empty tag-spec']]);
    expect(await words(signed.replace('a=rsa-sha256', 'a=rsa-sha512'))).toEqual([['permerror', 'unsupported algorithm a=rsa-sha512']]);
    expect(await words(signed.replace('v=1;', 'v=1; v=1;'))).toEqual([['permerror', 'signature syntax: tag v= given twice']]);
    expect(await words(signed.replace(/ d=example.com;/, ' d=example.com; i=joe@example.org;'))).toEqual([['permerror', 'i= domain is not d= or a subdomain of it']]);
  });

  it('temperror when the resolver fails for another reason than "not found"', async () => {
    const failing = async (): Promise<never> => {
      throw Object.assign(new Error('queryTxt ETIMEOUT'), { code: 'ETIMEOUT' });
    };
    expect(await words(await sign(), { resolver: failing })).toEqual([['temperror', 'key lookup failed: queryTxt ETIMEOUT']]);
    const nx = async (): Promise<never> => {
      throw Object.assign(new Error('nx'), { code: 'ENOTFOUND' });
    };
    expect((await words(await sign(), { resolver: nx }))[0]![0]).toBe('permerror');
  });

  it('t=y is reported; a failing testing signature stays a failure', async () => {
    const signed = await sign();
    const testing = { resolver: staticResolver({ 'rsa._domainkey.example.com': rsa.record.value.replace('k=rsa;', 'k=rsa; t=y;') }) };
    const ok = await verifyDkim(signed, { ...testing, clock });
    expect([ok.results[0]!.result, ok.results[0]!.testing]).toEqual(['pass', true]);
    const bad = await verifyDkim(tamper(signed), { ...testing, clock });
    expect([bad.result, bad.results[0]!.testing]).toEqual(['fail', true]);
    expect(authenticationResults(bad, { authservId: 'mx' })).toContain('dkim=fail (body hash did not verify; testing mode)');
  });

  it('the body hash is judged first, though the signature check starts before it', async () => {
    // Both the body and a signed header changed: the result names the body (RFC 6376 §6.1.3).
    const signed = await sign();
    const both = tamper(signed).replace('Subject: Is dinner', 'Subject: Is lunch');
    expect(await words(both)).toEqual([['fail', 'body hash did not verify']]);
    // The same for Ed25519, whose header data is hashed before it is verified.
    const edSigned = await signDkimMessage(testMessage(), [{ domain: DOMAIN, selector: 'ed', privateKey: ed.privateKey, clock }]);
    expect(await words(tamper(edSigned).replace('Subject: Is dinner', 'Subject: Is lunch'))).toEqual([['fail', 'body hash did not verify']]);
    expect(await words(edSigned.replace('Subject: Is dinner', 'Subject: Is lunch'))).toEqual([['fail', 'signature did not verify']]);
  });

  it('parsed key records are reused by their text: a new key under the same selector is seen at once', async () => {
    const signed = await sign();
    const other = await testKey('rsa-2048', 'other');
    const rec = (v: string) => ({ resolver: staticResolver({ 'rsa._domainkey.example.com': v }) });
    for (let i = 0; i < 3; i++) {
      expect(await words(signed, rec(rsa.record.value))).toEqual([['pass', 'signature verified']]);
      expect(await words(signed, rec(other.record.value))).toEqual([['fail', 'signature did not verify']]);
    }
    // A p= that is base64 but no key gives the same answer every time, cached or not.
    const junk = 'v=DKIM1; k=rsa; p=AAAAAAAA';
    for (let i = 0; i < 2; i++) expect((await words(signed, rec(junk)))[0]![1]).toMatch(/^key syntax: /);
    // Records longer than the cache takes are parsed every time, with the same result.
    const long = `${rsa.record.value.replace('k=rsa;', `k=rsa; n=${'x'.repeat(5000)};`)}`;
    for (let i = 0; i < 2; i++) expect(await words(signed, rec(long))).toEqual([['pass', 'signature verified']]);
  });

  it('a WebCrypto that rejects the key or the signature gives permerror, not an exception', async () => {
    const signed = await sign();
    const subtle = globalThis.crypto.subtle;
    const broken = {
      subtle: {
        importKey: subtle.importKey.bind(subtle),
        verify: async () => {
          throw new Error('engine failure');
        },
      },
    } as unknown as Crypto;
    expect(await words(signed, { crypto: broken })).toEqual([['permerror', 'key unusable: engine failure']]);
    // A body-hash failure is still reported as such, and the rejected check is not left unhandled.
    expect(await words(tamper(signed), { crypto: broken })).toEqual([['fail', 'body hash did not verify']]);
  });

  it('verifies every signature: RSA and Ed25519 side by side, one broken', async () => {
    const signed = await signDkimMessage(testMessage(), [
      { domain: DOMAIN, selector: 'rsa', privateKey: rsa.privateKey, clock },
      { domain: 'other.example', selector: 'ed', privateKey: ed.privateKey, clock, canonicalization: 'simple/simple' },
    ]);
    const v = await verifyDkim(signed, { resolver: staticResolver({ [rsa.record.name]: rsa.record.value, 'ed._domainkey.other.example': ed.record.value }), clock });
    expect(v.results.map((r) => [r.result, r.domain, r.aligned])).toEqual([
      ['pass', 'example.com', true],
      ['pass', 'other.example', false],
    ]);
    expect(dmarcCandidate(v.results, 'example.com')?.domain).toBe('example.com');
  });

  it('dohResolver reads the JSON API, maps NXDOMAIN to "no key" and SERVFAIL to temperror', async () => {
    const answers: Record<string, unknown> = {
      [rsa.record.name]: { Status: 0, Answer: [{ type: 16, data: rsa.record.strings.map((s) => `"${s}"`).join(' ') }] },
      'gone._domainkey.example.com': { Status: 3 },
      'broken._domainkey.example.com': { Status: 2 },
    };
    const urls: string[] = [];
    const fakeFetch = (async (url: string) => {
      urls.push(url);
      const name = new URL(url).searchParams.get('name')!;
      return new Response(JSON.stringify(answers[name] ?? { Status: 3 }), { headers: { 'content-type': 'application/dns-json' } });
    }) as unknown as typeof fetch;
    const doh = dohResolver({ url: 'https://dns.example/dns-query', fetch: fakeFetch });
    expect(await words(await sign(), { resolver: doh })).toEqual([['pass', 'signature verified']]);
    expect(urls[0]).toBe('https://dns.example/dns-query?name=rsa._domainkey.example.com&type=TXT');
    expect((await words(await sign({ selector: 'gone' }), { resolver: doh }))[0]![0]).toBe('permerror');
    expect((await words(await sign({ selector: 'broken' }), { resolver: doh }))[0]).toEqual(['temperror', 'key lookup failed: DNS-over-HTTPS status 2']);
  });

  it('hostile messages give results, never an exception', async () => {
    const signed = await sign();
    const pieces = ['DKIM-Signature:', ' v=1;', ' a=rsa-sha256;', ' b=', 'AAAA', ' bh=', ' d=example.com;', ' s=rsa;', ' h=from;', ';', '=', '\r\n', '\n', '\r', ' ', '\t', 'From: a@example.com', '\u00ff', '\u0000', 'l=99999999999999999999;', 'x=1;', 't=9;'];
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.array(fc.constantFrom(...pieces), { maxLength: 40 }).map((a) => a.join('')),
          fc.tuple(fc.nat(signed.length), fc.string({ maxLength: 8 })).map(([at, s]) => signed.slice(0, at) + s + signed.slice(at + 1)),
          fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1')),
        ),
        async (message) => {
          try {
            const v = await verifyDkim(message, { resolver, clock });
            expect(['none', 'pass', 'fail', 'neutral', 'policy', 'temperror', 'permerror']).toContain(v.result);
            for (const r of v.results) expect(typeof r.reason).toBe('string');
          } catch (e) {
            expect(isMailPkiError(e)).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('the default resolver', () => {
  type Modules = { getBuiltinModule?: (id: string) => unknown };
  const proc = globalThis.process as unknown as Modules;
  const original = proc.getBuiltinModule;
  afterEach(() => {
    proc.getBuiltinModule = original;
    vi.resetModules();
  });

  it("is the runtime's DNS client, found without importing node:dns", async () => {
    const asked: string[] = [];
    class FakeResolver {
      constructor(readonly options: unknown) {}
      setServers(): void {}
      async resolveTxt(name: string): Promise<string[][]> {
        asked.push(name);
        if (name === rsa.record.name) return [rsa.record.strings];
        throw Object.assign(new Error('queryTxt ENOTFOUND'), { code: 'ENOTFOUND' });
      }
    }
    proc.getBuiltinModule = (id: string) => (id === 'node:dns' ? { promises: { Resolver: FakeResolver } } : original?.(id));
    vi.resetModules();
    const fresh = await import('../../src/dkim/index.js');
    const signed = await signDkimMessage(testMessage(), [{ domain: DOMAIN, selector: 'rsa', privateKey: rsa.privateKey }]);
    expect((await fresh.verifyDkim(signed)).result).toBe('pass');
    expect(asked).toEqual([rsa.record.name]);
    expect(typeof fresh.systemDnsResolver()).toBe('function');
  });

  it('is a coded error where the runtime has no DNS client', async () => {
    proc.getBuiltinModule = undefined;
    vi.resetModules();
    const fresh = await import('../../src/dkim/index.js');
    expect(fresh.systemDnsResolver()).toBeUndefined();
    const signed = await signDkimMessage(testMessage(), [{ domain: DOMAIN, selector: 'rsa', privateKey: rsa.privateKey }]);
    await expect(fresh.verifyDkim(signed)).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED_RUNTIME', message: expect.stringContaining('dohResolver') });
  });
});
