/**
 * One rule for caller mistakes (finding 17): a wrong type, a missing option or a value out of range given
 * to any public entry point is a MailPkiError ERR_INVALID_INPUT naming the field in `details.field` —
 * never a TypeError (round 1: verifyMessage said ERR_INVALID_INPUT where signDkim threw TypeError).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as root from '../src/index.js';
import * as dkim from '../src/dkim/index.js';
import * as dns from '../src/dns/index.js';
import * as node from '../src/node/index.js';
import * as revocation from '../src/revocation/index.js';
import * as store from '../src/store/index.js';
import * as lifecycle from '../src/lifecycle/index.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const bad = <T>(v: unknown): T => v as T;
const resolver = bad<dkim.DkimResolver>(async () => []);
const message = 'From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n';

const cases: Array<[string, () => unknown]> = [
  ['signDkim without options', () => root.signDkim(message, bad(null))],
  ['signDkim with a number as message', () => root.signDkim(bad(42), bad({}))],
  ['signDkimMessage with a number as message', () => root.signDkimMessage(bad(42), [])],
  ['verifyDkim with a number as message', () => root.verifyDkim(bad(42), { resolver })],
  ['verifyDkim with options that are not an object', () => root.verifyDkim(message, bad('x'))],
  ['verifyDkim with a resolver that is not a function', () => root.verifyDkim(message, bad({ resolver: 'dns' }))],
  ['verifyMessage with trust anchors that are not certificates', () => root.verifyMessage(message, bad({ trustAnchors: [42] }))],
  ['verifyMessage with a bad revocation policy', () => root.verifyMessage(message, bad({ trustAnchors: [], revocation: { policy: 'sometimes' } }))],
  ['signMessage without a signer', () => root.signMessage(message, bad(null))],
  ['authenticationResults with a bad authserv-id', () => root.authenticationResults(bad('a b'), bad({ results: [] }))],
  ['parseDkimRecord with a number', () => dkim.parseDkimRecord(bad(42))],
  ['relaxedHeader with text above U+00FF', () => dkim.relaxedHeader('Subject: \u20ac')],
  ['parseOcspResponse with a string', () => revocation.parseOcspResponse(bad('x'))],
  ['parseOcspRequest with a string', () => revocation.parseOcspRequest(bad('x'))],
  ['ocspGetUrl with an empty base', () => revocation.ocspGetUrl('', new Uint8Array(2))],
  ['decodeOcspGetPath with a number', () => revocation.decodeOcspGetPath(bad(1))],
  ['parseCrl with a negative limit', () => revocation.parseCrl(new Uint8Array(2), { maxBytes: -1 })],
  ['new LifecycleManager without options', () => new root.LifecycleManager(bad(undefined))],
  ['new LifecycleManager without a key protector', () => new root.LifecycleManager(bad({ ca: { issue() {} }, store: new root.MemoryStore() }))],
  ['new DkimManager without a resolver', () => new lifecycle.DkimManager(bad({ store: new root.MemoryStore(), keyProtector: root.passphraseKeyProtector('pw') }))],
  ['passphraseKeyProtector with an empty passphrase', () => root.passphraseKeyProtector('')],
  ['kekKeyProtector with a 16-byte KEK', () => store.kekKeyProtector(new Uint8Array(16), { id: 'x' })],
  ['canonicalJson with NaN', () => store.canonicalJson(Number.NaN)],
  ['MemoryStore.leaseEvents with an empty owner', () => new root.MemoryStore().leaseEvents('', new Date(), 1000, 1)],
  ['MemoryStore.transaction without a function', () => new root.MemoryStore().transaction(bad(undefined))],
  ['openSqliteStore with an empty path', () => node.openSqliteStore('')],
  ['openSqliteStore with :memory:', () => node.openSqliteStore(':memory:')],
  ['parseServer with port 0', () => node.parseServer('dns.example:0')],
  ['encodeName with an empty label', () => dns.encodeName('a..b')],
  ['txtRdata with non-ASCII', () => dns.txtRdata('caf\u00e9')],
];

describe('one rule for caller mistakes (finding 17)', () => {
  it.each(cases)('%s: MailPkiError ERR_INVALID_INPUT with details.field, not TypeError (finding 17)', async (_name, call) => {
    let error: unknown;
    try {
      await call();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(root.MailPkiError);
    expect(error).toMatchObject({ code: 'ERR_INVALID_INPUT' });
    expect(typeof (error as root.MailPkiError).details?.field).toBe('string');
  });

  it('no module under src/ throws a TypeError (finding 17)', () => {
    const dir = fileURLToPath(new URL('../src', import.meta.url));
    const files = (d: string): string[] =>
      readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? files(join(d, n)) : n.endsWith('.ts') ? [join(d, n)] : []));
    const offenders = files(dir).filter((f) => /new TypeError\(/.test(readFileSync(f, 'utf8')));
    expect(offenders).toEqual([]);
  });
});
