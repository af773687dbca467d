/** Attacks on the cut of sender text in the filter's Authentication-Results (atk-mid). Named after what broke. */
import { expect, it } from 'vitest';
import { authenticationResults, signDkimMessage, staticResolver, verifyDkim } from '../../src/dkim/index.js';
import { arValue, MAX_AR_TEXT_OCTETS } from '../../src/internal/authentication-results.js';
import { testKey } from '../dkim/fixtures.js';
import { clock, plainMessage } from '../smime/fixtures.js';

it('a DKIM pass by d=evil.example with i=cfo@example.com<500 dots>@evil.example: header.i keeps the end that says who signed (was: cut to its first 400 octets, header.i="cfo@example.com......", the @evil.example gone)', async () => {
  const key = await testKey('ed25519');
  const identity = `cfo@example.com${'.'.repeat(500)}@evil.example`;
  const signed = await signDkimMessage(plainMessage({ from: 'CFO <cfo@evil.example>', to: 'ap@example.com', subject: 'pay', body: 'Pay.\r\n' }), [
    { domain: 'evil.example', selector: 'ed', identity, privateKey: key.privateKey, timestamp: clock() },
  ]);
  const v = await verifyDkim(signed, { resolver: staticResolver({ [key.record.name.replace('example.com', 'evil.example')]: key.record.value }), clock });
  expect(v.results.map((r) => r.result)).toEqual(['pass']);
  const ar = authenticationResults(v, { authservId: 'mx.example.com' });
  const i = /header\.i="([^"]*)"/.exec(ar)![1]!;
  expect(i.startsWith('cfo@example.com')).toBe(true);
  expect(i).toContain('...');
  expect(i.endsWith('@evil.example')).toBe(true);
  expect(new TextEncoder().encode(i).length).toBeLessThanOrEqual(MAX_AR_TEXT_OCTETS + 3);
});

it('a cut value or comment keeps its start and its end, "..." between, within MAX_AR_TEXT_OCTETS (escapes kept whole)', () => {
  const v = arValue(`${'"'.repeat(300)}middle${'Ä'.repeat(300)}`);
  expect(v.startsWith('"\\"\\"')).toBe(true);
  expect(v.endsWith('ÄÄ"')).toBe(true);
  expect(v).toContain('...');
  expect(v).not.toContain('middle');
  expect(new TextEncoder().encode(v.slice(1, -1)).length).toBeLessThanOrEqual(MAX_AR_TEXT_OCTETS + 3);
});
