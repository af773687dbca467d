/** formatAuthenticationResults: what the sender controls (certificate names, DKIM tags, reasons) stays well-formed text. */
import { describe, expect, it } from 'vitest';
import { arComment, arValue, formatAuthenticationResults, MAX_AR_RESULTS, MAX_AR_TEXT_OCTETS } from '../../src/internal/authentication-results.js';

const lines = (v: string) => `Authentication-Results: ${v}`.split('\r\n');
const octets = (s: string) => new TextEncoder().encode(s).length;

describe('regression (atk-ar): sender text in the filter\'s Authentication-Results', () => {
  it('controls, DEL, C1, bidi overrides and line separators in a value or comment become spaces (a quoted-string or comment holds none; Thunderbird\'s DKIM Verifier drops the whole field over one)', () => {
    const hostile = 'pay\x01ments\x00"x\x7fy\x85z\u2028w\u202eliaf\u200b@example.com';
    expect(arValue(hostile)).toBe('"pay ments \\"x y z w liaf @example.com"');
    expect(arComment(`bad\x1b[31m (x)\r\n\tend`)).toBe('(bad [31m \\(x\\) end)');
    // Was: an unquoted token with the control in it.
    expect(arValue('ex\x01ample.com')).toBe('"ex ample.com"');
  });

  it('a value with other than ASCII is quoted (RFC 6532 quoted-string), never written as a token', () => {
    // Was: παράδειγμα.δοκιμή as a bare token (RFC 2045 tokens are ASCII).
    expect(arValue('παράδειγμα.δοκιμή')).toBe('"παράδειγμα.δοκιμή"');
    expect(arValue('example.com')).toBe('example.com');
  });

  it('a 50 KB issuer or i= is cut (its start and end kept, "..." between) and no line of the field is over 998 octets (was one line of 50 KB)', () => {
    const issuer = `CN=${'Ä'.repeat(25_000)}`;
    const v = formatAuthenticationResults('mx.example.com', [
      { method: 'smime', result: 'fail', comment: `${'SMIME_CHAIN_INVALID, '.repeat(2000)}end`, properties: [['body.smime-identifier', `${'"'.repeat(5000)}@example.com`], ['body.smime-serial', '0a'.repeat(5000)], ['body.smime-issuer', issuer]] },
      { method: 'dkim', result: 'fail', properties: [['header.d', 'example.com'], ['header.i', `${'x'.repeat(20_000)}@example.com`]] },
    ]);
    for (const l of lines(v)) expect(octets(l)).toBeLessThanOrEqual(998);
    expect(v).toContain(`body.smime-issuer="CN=${'Ä'.repeat(98)}...${'Ä'.repeat(100)}"`);
    expect(octets(v)).toBeLessThan(6 * (MAX_AR_TEXT_OCTETS + 30));
    // Still one field: every line after the first is a continuation.
    expect(lines(v).slice(1).every((l) => l.startsWith('\t'))).toBe(true);
  });

  it(`at most ${MAX_AR_RESULTS} method results (20,000 DKIM-Signature fields made a 2 MB field, past Postfix's 100 KB header_size_limit), the rest counted`, () => {
    const many = Array.from({ length: 20_000 }, () => ({ method: 'dkim', result: 'policy', comment: 'more than 10 signatures; not checked', properties: [['header.d', 'example.com']] as [string, string][] }));
    const v = formatAuthenticationResults('mx.example.com', [{ method: 'smime', result: 'none' }, ...many]);
    expect(v.match(/dkim=/g)).toHaveLength(MAX_AR_RESULTS - 1);
    expect(v.endsWith(`;\r\n\tdkim=policy (more than 10 signatures; not checked) header.d=example.com\r\n\t(${20_001 - MAX_AR_RESULTS} more results not listed)`)).toBe(true);
  });

  it('ordinary results are written as before, one line per method', () => {
    expect(formatAuthenticationResults('mx.example.com', [{ method: 'dkim', result: 'pass', comment: 'signature verified', properties: [['header.d', 'example.com'], ['header.b', 'ab/c']] }])).toBe(
      'mx.example.com;\r\n\tdkim=pass (signature verified) header.d=example.com header.b="ab/c"',
    );
  });
});
