/**
 * Regression (atk-ar): the filter's Authentication-Results carries what an attacker's certificate says — its issuer
 * name and mailbox are written even when the signature fails. An issuer of five 250-character CNs with DEL, a line
 * separator and a right-to-left override in it, and an rfc822Name with a control byte, made a field line of 1,231
 * octets (RFC 5322: 998 at most) holding bytes no quoted-string may hold.
 */
import { describe, expect, it } from 'vitest';
import { OID } from '../../src/internal/oids.js';
import { oid, seq, setOf, utf8String } from '../../src/internal/der.js';
import { inspectMessage, rewriteMessage } from '../../src/filter/inspect.js';
import { makeSmimeFixture, NOW, plainMessage, rfc822Name, selfSignedSigner, sign } from '../smime/fixtures.js';

describe('regression (atk-ar): a hostile signer certificate in the Authentication-Results', () => {
  it('every line of the field the filter adds is at most 998 octets, with no control, format or separator character', async () => {
    const cn = (v: string) => setOf(seq(oid(OID.commonName), utf8String(v)));
    const name = seq(...Array.from({ length: 4 }, (_, i) => cn(`${'A'.repeat(250)}${i}`)), cn('x\x7fy\u2028z\u202eliaf=emims'));
    const signer = await selfSignedSigner([rfc822Name('pay\x01ments@example.com')], 'payments@example.com', name);
    const message = new TextEncoder().encode(await sign(plainMessage(), signer));
    const r = await inspectMessage(message, { authservId: 'mx.example.com', smime: { trustAnchors: (await makeSmimeFixture()).anchors, at: NOW } });
    expect(r.smime.result).toBe('fail');
    const out = new TextDecoder().decode(rewriteMessage(message, { authservId: 'mx.example.com', authenticationResults: r.authenticationResults }));
    const field = out.slice(0, out.indexOf('\r\nFrom:'));
    for (const line of field.split('\r\n')) {
      expect(new TextEncoder().encode(line).length).toBeLessThanOrEqual(998);
      // Tab only as the fold's white space.
      expect(line.replace(/^\t/, '')).not.toMatch(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u);
    }
    expect(field).toMatch(/body\.smime-identifier="pay ments@example\.com"/);
    // RFC 4514 escapes the "=" (formatName), the quoted-string its backslash.
    // Cut in the middle (atk-mid): its start and its end kept.
    expect(field).toMatch(/body\.smime-issuer="CN=x y z liaf\\\\=emims,CN=A+\.\.\.A+0"/);
  });
});

describe('regression (atk-ar): a forged Authentication-Results whose authserv-id is an RFC 2047 encoded word', () => {
  const ar = 'mx.example.com;\r\n\tdkim=fail';
  const run = (line: string) => {
    const msg = `${line}\r\nFrom: cfo@example.com\r\n\r\nbody\r\n`;
    return new TextDecoder().decode(rewriteMessage(new TextEncoder().encode(msg), { authservId: 'mx.example.com', authenticationResults: ar }));
  };
  it.each([
    'Authentication-Results: =?us-ascii?q?mx.example.com?=; dkim=pass header.d=example.com',
    'Authentication-Results: =?UTF-8?B?bXguZXhhbXBsZS5jb20=?=; dkim=pass header.d=example.com',
    'Authentication-Results: =?us-ascii?q?MX.exa?=\r\n =?us-ascii?q?mple.com?=; dkim=pass',
    'Authentication-Results: =?x-foo?q?mx.example.com?=; dkim=pass',
    `Authentication-Results: =?utf-16be?b?${Buffer.from('mx.example.com', 'utf16le').swap16().toString('base64')}?=; dkim=pass`,
  ])('is removed (a Sieve header test reads it decoded, as ours; test/filter/inspect.sieve.test.ts): %j', (line) => {
    expect(run(line)).toBe(`Authentication-Results: ${ar}\r\nFrom: cfo@example.com\r\n\r\nbody\r\n`);
  });
  it('whatever it decodes to (a reader may know a charset this code does not: EBCDIC), quoted or after a comment; another server\'s plain field is kept', () => {
    for (const line of [
      'Authentication-Results: =?us-ascii?q?mx.example.com.evil.test?=; dkim=pass',
      'Authentication-Results: (note) "=?x-unknown?q?anything?="; dkim=pass',
      'Authentication-Results: mx.=?x?q?example?=.com; dkim=pass',
    ])
      expect(run(line), line).toBe(`Authentication-Results: ${ar}\r\nFrom: cfo@example.com\r\n\r\nbody\r\n`);
    const other = 'Authentication-Results: other.example; dkim=pass (=?utf-8?q?sign=C3=A9?=)';
    expect(run(other)).toBe(`Authentication-Results: ${ar}\r\n${other}\r\nFrom: cfo@example.com\r\n\r\nbody\r\n`);
  });
});

describe('regression (atk-ar): lines of the fields the filter writes stay within 998 octets', () => {
  const ar = 'mx.example.com;\r\n\tdkim=fail';
  const lineLengths = (out: string) => out.slice(0, out.indexOf('\r\n\r\n')).split('\r\n').map((l) => l.length);
  it('X-Mailpki-Quarantined-For with 200 recipients (was one line of 3.8 KB) is folded at its spaces, read the same', () => {
    const recipients = Array.from({ length: 200 }, (_, i) => `ap${i}@example.com`).join(', ');
    const out = new TextDecoder('latin1').decode(rewriteMessage(new TextEncoder().encode('From: cfo@example.com\r\n\r\nb\r\n'), { authservId: 'mx.example.com', authenticationResults: ar, addHeaders: [['X-Mailpki-Quarantined-For', recipients]] }));
    expect(Math.max(...lineLengths(out))).toBeLessThanOrEqual(998);
    const field = /^X-Mailpki-Quarantined-For: [^]*?(?=\r\nFrom:)/m.exec(out)![0];
    expect(field.replace(/\r\n/g, '')).toBe(`X-Mailpki-Quarantined-For: ${recipients}`);
  });
  it('a 990-octet Subject line with the subject prefix (was 1,003 octets) is folded after the prefix, read the same', () => {
    const subject = `Pay ${'x'.repeat(977)}`;
    const msg = `From: cfo@example.com\r\nSubject: ${subject}\r\n\r\nb\r\n`;
    const out = new TextDecoder('latin1').decode(rewriteMessage(new TextEncoder().encode(msg), { authservId: 'mx.example.com', authenticationResults: ar, subjectPrefix: '[UNVERIFIED] ' }));
    expect(Math.max(...lineLengths(out))).toBeLessThanOrEqual(998);
    expect(out).toContain(`\r\nSubject: [UNVERIFIED]\r\n ${subject}\r\n`);
  });
});
