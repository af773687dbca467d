/**
 * Regression (atk-ar), with a real downstream filter: Dovecot's Sieve (Pigeonhole, `sieve-test`). A Sieve `header`
 * test compares a field's value with its RFC 2047 encoded words decoded (RFC 5228 §2.7.2), so a rule that trusts the
 * filter's results — `header :matches "Authentication-Results" "<authserv-id>;*dkim=pass*"`, the authserv-id checked
 * as RFC 8601 §7.1 asks — took a forged field whose authserv-id is an encoded word for the filter's, and the filter
 * passed that field on (it read the id as the encoded word it is written as).
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { afterAll, expect, it } from 'vitest';
import { rewriteMessage } from '../../src/filter/inspect.js';
import { describeWithPeers, run, tempDir } from '../helpers/peers.js';

const ID = 'mx.example.com';

describeWithPeers('rewriteMessage read by Dovecot Sieve', ['sieve-test'], () => {
  const tmp = tempDir('mailpki-sieve-');
  // sieve-test runs as an unprivileged user: a configuration of its own, files it can read.
  chmodSync(tmp.dir, 0o755);
  writeFileSync(tmp.path('dovecot.conf'), `mail_uid = nobody\nmail_gid = nogroup\nfirst_valid_uid = 0\nfirst_valid_gid = 0\nmail_location = maildir:${tmp.path('mail')}\nprotocols =\n`);
  writeFileSync(tmp.path('trust.sieve'), `require ["fileinto"];\nif header :matches "Authentication-Results" "${ID};*dkim=pass*" { fileinto "Trusted"; }\n`);
  afterAll(() => tmp.cleanup());

  const sieve = (message: Uint8Array, name: string) => {
    writeFileSync(tmp.path(name), message, { mode: 0o644 });
    return run('sieve-test', ['-c', tmp.path('dovecot.conf'), tmp.path('trust.sieve'), tmp.path(name)]);
  };
  const ours = `${ID};\r\n\tdkim=fail (body hash did not verify) header.d=example.com`;

  it('the rule files the filter\'s own dkim=pass as trusted, and another server\'s not (the set-up works)', () => {
    const pass = rewriteMessage(new TextEncoder().encode('From: a@example.com\r\n\r\nb\r\n'), { authservId: ID, authenticationResults: `${ID};\r\n\tdkim=pass header.d=example.com` });
    expect(sieve(pass, 'pass.eml')).toMatch(/store message in folder: Trusted/);
    const other = rewriteMessage(new TextEncoder().encode('Authentication-Results: other.example; dkim=pass header.d=example.com\r\nFrom: a@example.com\r\n\r\nb\r\n'), { authservId: ID, authenticationResults: ours });
    expect(sieve(other, 'other.eml')).not.toMatch(/Trusted/);
  });

  it.each([
    ['a Q-encoded authserv-id', `=?us-ascii?q?${ID}?=`],
    ['a B-encoded authserv-id', `=?utf-8?b?${Buffer.from(ID).toString('base64')}?=`],
    ['the id split over two encoded words', `=?us-ascii?q?mx.exa?= =?us-ascii?q?mple.com?=`],
    ['a charset no one knows (Dovecot reads it as ASCII)', `=?x-foo?q?${ID}?=`],
    ['UTF-7, the dot written as +AC4-', `=?utf-7?q?mx+AC4-example.com?=`],
    ['EBCDIC (IBM037, which iconv decodes)', `=?IBM037?b?${Buffer.from([0x94, 0xa7, 0x4b, 0x85, 0xa7, 0x81, 0x94, 0x97, 0x93, 0x85, 0x4b, 0x83, 0x96, 0x94]).toString('base64')}?=`],
    ['UTF-16 with a byte-order mark', `=?utf-16?b?${Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(ID, 'utf16le')]).toString('base64')}?=`],
  ])('a forged dkim=pass with %s is removed, and Sieve does not trust the copy', (_what, id) => {
    const msg = `Authentication-Results: ${id}; dkim=pass header.d=example.com\r\nFrom: cfo@example.com\r\nSubject: wire\r\n\r\nbody\r\n`;
    const out = rewriteMessage(new TextEncoder().encode(msg), { authservId: ID, authenticationResults: ours });
    expect(new TextDecoder().decode(out)).toBe(`Authentication-Results: ${ours}\r\nFrom: cfo@example.com\r\nSubject: wire\r\n\r\nbody\r\n`);
    expect(sieve(out, 'forged.eml')).not.toMatch(/Trusted/);
  });
});
