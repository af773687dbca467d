/**
 * `mailpki encrypt`, `sign --to`, `decrypt` and `verify` run the content's AES-GCM through
 * nodeAesGcm (mailpki/node): one large buffer instead of three for a big message. The module is
 * wrapped to count the calls that go through it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { tempDir } from '../helpers/peers.js';
import { cli } from './helpers.js';

const calls = vi.hoisted(() => ({ encrypt: 0, decrypt: 0 }));
vi.mock('../../src/node/index.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/node/index.js')>();
  return {
    ...real,
    nodeAesGcm: () => {
      const inner = real.nodeAesGcm();
      return {
        encrypt: (...a: Parameters<typeof inner.encrypt>) => (calls.encrypt++, inner.encrypt(...a)),
        decrypt: (...a: Parameters<typeof inner.decrypt>) => (calls.decrypt++, inner.decrypt(...a)),
      };
    },
  };
});

const t = tempDir('mailpki-cli-aes-gcm-');
afterAll(() => t.cleanup());
const env = { CA_PW: 'ca pw', P12_PW: 'p12 pw' };
const ca = t.path('ca');
const TEXT = 'Please pay 1,250.00 EUR to DE89 3704 0044 0532 0130 00 by Friday.';

beforeAll(async () => {
  expect((await cli(['ca', 'init', '--dir', ca, '--domains', 'example.com', '--passphrase-env', 'CA_PW'], env)).code).toBe(0);
  for (const name of ['approver', 'finance']) {
    const r = await cli(['issue', '--ca', ca, '--email', `${name}@example.com`, '--usage', 'dual-use', '--out', t.path(name), '--passphrase-env', 'CA_PW', '--p12-passphrase-env', 'P12_PW'], env);
    expect(r.code).toBe(0);
  }
  writeFileSync(t.path('msg.eml'), `From: finance@example.com\r\nTo: approver@example.com\r\nSubject: Payment\r\nContent-Type: text/plain\r\n\r\n${TEXT}\r\n`);
}, 60_000);
beforeEach(() => {
  calls.encrypt = 0;
  calls.decrypt = 0;
});

const trust = () => ['--trust', `${ca}/root.pem`, '--intermediates', t.path('approver.chain.pem')];
const p12 = (name: string) => ['--p12', t.path(`${name}.p12`), '--passphrase-env', 'P12_PW'];

describe('the CLI encrypts and decrypts AES-GCM content with nodeAesGcm', () => {
  it('encrypt, then decrypt: once each', async () => {
    const e = await cli(['encrypt', '--to', t.path('approver.cert.pem'), ...trust(), '--in', t.path('msg.eml'), '--out', t.path('enc.eml')]);
    expect(e.code).toBe(0);
    expect(calls).toEqual({ encrypt: 1, decrypt: 0 });
    const d = await cli(['decrypt', ...p12('approver'), '--in', t.path('enc.eml')], env);
    expect(d.code).toBe(0);
    expect(d.stdout).toContain(TEXT);
    expect(calls).toEqual({ encrypt: 1, decrypt: 1 });
  });

  it('sign --to, then verify with a key: once each, and the verdict is valid', async () => {
    const s = await cli(['sign', ...p12('finance'), '--to', t.path('approver.cert.pem'), ...trust(), '--in', t.path('msg.eml'), '--out', t.path('se.eml')], env);
    expect(s.code).toBe(0);
    expect(calls).toEqual({ encrypt: 1, decrypt: 0 });
    const v = await cli(['verify', '--trust', `${ca}/root.pem`, ...p12('approver'), '--in', t.path('se.eml')], env);
    expect(v.stdout).toMatch(/^VALID/);
    expect(v.code).toBe(0);
    expect(calls).toEqual({ encrypt: 1, decrypt: 1 });
    expect(readFileSync(t.path('se.eml'), 'latin1')).not.toContain('1,250.00');
  });
});
