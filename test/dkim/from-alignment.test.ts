/**
 * What DKIM alignment trusts: the one author reader (mime/author.ts) and the whole body.
 * Findings 7 (Composition Kills From forms) and 8 (l= tails) of issue 11.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { canonicalizeBody, signedHeaderData } from '../../src/dkim/canonicalization/index.js';
import { splitMessage } from '../../src/dkim/message.js';
import { authenticationResults, dmarcCandidate, signDkimMessage, staticResolver, verifyDkim, type DkimKey, type DkimVerification } from '../../src/dkim/index.js';
import { testKey, testMessage } from './fixtures.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const clock = (): Date => NOW;

let rsa: DkimKey;
let resolver: ReturnType<typeof staticResolver>;
beforeAll(async () => {
  rsa = await testKey('rsa-2048');
  // The attacker owns evil.example and publishes the same kind of key there.
  resolver = staticResolver({ [rsa.record.name]: rsa.record.value, 'rsa._domainkey.evil.example': rsa.record.value });
});

/** testMessage with its From line replaced by `from` (which may hold several lines). */
const withFrom = (from: string, body?: string): string => testMessage(body).replace('From: Joe SixPack <joe@example.com>', from);
const signAs = (domain: string, message: string, opts: { bodyLength?: boolean; overSign?: boolean } = {}): Promise<string> =>
  signDkimMessage(message, [{ domain, selector: 'rsa', privateKey: rsa.privateKey, clock, ...opts }]);
const alignedPass = (v: DkimVerification): boolean => v.results.some((r) => r.result === 'pass' && r.aligned) || dmarcCandidate(v, v.fromDomain ?? '') !== undefined;

describe('DKIM alignment reads From with the one strict author reader (finding 7)', () => {
  it.each([
    ['From: <payments@example.com>, <a@evil.example>', 'several-mailboxes'],
    ['From: <a@evil.example>payments@example.com', 'malformed'],
    ['From: "<a@evil.example>" payments@example.com', 'malformed'],
    ['From: payments@example.com\\, <a@evil.example>', 'several-mailboxes'],
    ['From: payments@example.com <a@evil.example>', 'display-name-address'],
    ['From: (payments@example.com) <a@evil.example>', 'display-name-address'],
    ['From: =?utf-8?q?payments=40example.com?= <a@evil.example>', 'display-name-address'],
    ['From: =?utf-8?q?payments=40example.com?=@evil.example', 'display-name-address'],
    ['From: "payments@example.com"@evil.example', 'display-name-address'],
    ['From: <@example.com:payments@evil.example>', 'route-address'],
    ['From: "payments@example.com": a@evil.example;', 'group'],
    ['From: payments@example.com\r<a@evil.example>', 'display-name-address'],
    ['From: payments@example.com\r\n <a@evil.example>', 'display-name-address'],
    ['From : a@evil.example', 'space-before-colon'],
    // Attack report item 1: a charset the reader cannot decode (a client that can shows the address).
    ['From: =?x-user-defined?Q?payments=40example.com?= <a@evil.example>', 'undecodable-encoded-word'],
    ['From: =?utf-7?Q?payments+AEA-example.com?= <a@evil.example>', 'undecodable-encoded-word'],
  ])('d=evil.example with an ambiguous From gives no aligned pass: %j', async (from, code) => {
    const v = await verifyDkim(await signAs('evil.example', withFrom(from)), { resolver, clock });
    expect(alignedPass(v)).toBe(false);
    expect(v.fromDomain).toBeUndefined();
    expect(v.fromProblems?.[0]?.code).toBe(code);
    // The signature itself verified: RFC 8601 `policy`, saying why.
    expect(v.results.map((r) => [r.result, r.aligned])).toEqual([['policy', false]]);
    expect(v.results[0]!.reason).toMatch(new RegExp(`^signature verified, but there is no single well-formed From to align with \\(${code}: `));
    expect(authenticationResults(v, { authservId: 'mx.example.net' })).toMatch(/dkim=policy \(signature verified, but there is no single well-formed From/);
  });

  it('d=evil.example with a NUL in From ("From: payments@example.com\\0<a@evil.example>") gives no aligned pass: the line is no header field (Postfix keeps it only up to the NUL), permerror', async () => {
    const v = await verifyDkim(await signAs('evil.example', withFrom('From: payments@example.com\0<a@evil.example>')), { resolver, clock });
    expect(alignedPass(v)).toBe(false);
    expect(v.results.map((r) => r.result)).toEqual(['permerror']);
    expect(v.results[0]!.reason).toMatch(/is not a header field/);
  });

  it('an added second From field gives no aligned pass with either one, signed or not', async () => {
    const good = await signAs('example.com', testMessage(), { overSign: false });
    const evil = await signAs('evil.example', withFrom('From: a@evil.example'), { overSign: false });
    for (const [signed, extra] of [
      [good, 'From: a@evil.example'], // an attacker adds a From on top of a genuine message
      [evil, 'From: payments@example.com'],
      [evil, 'from : payments@example.com'],
    ] as const) {
      for (const message of [`${extra}\r\n${signed}`, signed.replace('\r\n\r\n', `\r\n${extra}\r\n\r\n`)]) {
        const v = await verifyDkim(message, { resolver, clock });
        expect(alignedPass(v)).toBe(false);
        expect(v.fromProblems?.[0]?.code).toBe('several-fields');
      }
    }
  });

  it('policy.requireWellFormedFrom: false lets such a signature pass, never aligned', async () => {
    const v = await verifyDkim(await signAs('evil.example', withFrom('From: payments@example.com <a@evil.example>')), {
      resolver,
      clock,
      policy: { requireWellFormedFrom: false },
    });
    expect(v.results.map((r) => [r.result, r.aligned])).toEqual([['pass', false]]);
    expect(alignedPass(v)).toBe(false);
  });

  it('a signature that does not cover From is never aligned, even with requireFromSigned: false', async () => {
    // mailpki's signer always signs From: build one that does not (h=subject:date), as others may.
    const ed = await testKey('ed25519');
    const message = testMessage();
    const body = message.slice(message.indexOf('\r\n\r\n') + 4);
    const sha = async (b: Uint8Array): Promise<Uint8Array> => new Uint8Array(await crypto.subtle.digest('SHA-256', new Uint8Array(b)));
    const bh = btoa(String.fromCharCode(...(await sha(canonicalizeBody('relaxed', new TextEncoder().encode(body))))));
    const field = `DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.com; s=ed; h=subject:date; bh=${bh}; b=`;
    const data = signedHeaderData('relaxed', splitMessage(new TextEncoder().encode(message)).headers, ['subject', 'date'], field);
    const b = btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.sign('Ed25519', ed.privateKey, new Uint8Array(await sha(data))))));
    const signed = `${field}${b}\r\n${message}`;
    const edResolver = staticResolver({ [ed.record.name]: ed.record.value });
    expect((await verifyDkim(signed, { resolver: edResolver, clock })).results.map((r) => [r.result, r.reason])).toEqual([['policy', 'From is not signed']]);
    const v = await verifyDkim(signed, { resolver: edResolver, clock, policy: { requireFromSigned: false } });
    expect(v.results.map((r) => [r.result, r.aligned])).toEqual([['pass', false]]);
    expect(v.fromDomain).toBe('example.com');
  });

  it('a single well-formed From still aligns', async () => {
    for (const from of ['From: Payments <payments@example.com>', 'From: "Payments, Accounts" <payments@EXAMPLE.com> (team)', 'FROM:payments@example.com']) {
      const v = await verifyDkim(await signAs('example.com', withFrom(from)), { resolver, clock });
      expect([v.result, v.fromDomain, alignedPass(v)]).toEqual(['pass', 'example.com', true]);
    }
  });
});

describe('l= tails (finding 8)', () => {
  const signedBody = 'Please pay invoice INV-2026-118 by 31 March.\r\nJoe\r\n';
  const appended = 'UPDATE: pay 99,000.00 EUR to GB29 EVIL 6016 1331 9268 1919 instead.\r\n';

  it('l= covering 51 of 120 body bytes with "UPDATE: pay 99,000.00 EUR to … instead" appended is policy, not pass (finding 8)', async () => {
    const signed = await signAs('example.com', testMessage(signedBody), { bodyLength: true });
    const tampered = signed.replace(/\r\n$/, `\r\n${appended}`);
    const body = canonicalizeBody('relaxed', new TextEncoder().encode(tampered.slice(tampered.indexOf('\r\n\r\n') + 4)));
    expect([signedBody.length, body.length]).toEqual([51, 120]);
    const v = await verifyDkim(tampered, { resolver, clock });
    expect(v.results.map((r) => [r.result, r.reason, r.bodyLength, r.unsignedTail])).toEqual([
      ['policy', 'l= leaves 69 of 120 body bytes unsigned', 51, { offset: 51, length: 69 }],
    ]);
    expect(alignedPass(v)).toBe(false);
    // The untouched message passes: l= covers all of it.
    expect((await verifyDkim(signed, { resolver, clock })).results.map((r) => [r.result, r.reason, r.unsignedTail])).toEqual([['pass', 'signature verified', undefined]]);
  });

  it('policy.acceptUnsignedBodyTail accepts it and says where the unsigned tail starts', async () => {
    const tampered = (await signAs('example.com', testMessage(signedBody), { bodyLength: true })).replace(/\r\n$/, `\r\n${appended}`);
    const v = await verifyDkim(tampered, { resolver, clock, policy: { acceptUnsignedBodyTail: true } });
    expect(v.results.map((r) => [r.result, r.reason, r.unsignedTail, r.aligned])).toEqual([
      ['pass', 'signature verified; l= signs 51 of 120 body bytes; unsigned from canonical body offset 51', { offset: 51, length: 69 }, true],
    ]);
  });

  it('refuses a policy that is not a boolean', async () => {
    await expect(verifyDkim(testMessage(), { resolver, policy: { acceptUnsignedBodyTail: 'yes' as unknown as boolean } })).rejects.toMatchObject({
      code: 'ERR_INVALID_INPUT',
      message: 'policy.acceptUnsignedBodyTail: must be true or false',
    });
  });
});
