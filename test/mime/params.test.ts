import { describe, expect, it } from 'vitest';
import { parseContentDisposition, parseContentType, parseTransferEncoding } from '../../src/mime/index.js';

describe('parseContentType', () => {
  it('lower-cases type, subtype and parameter names, but not values', () => {
    const ct = parseContentType('Multipart/Signed; Protocol="application/pkcs7-signature"; MICALG=SHA-256; Boundary="AbC"');
    expect(ct.mediaType).toBe('multipart/signed');
    expect(ct.type).toBe('multipart');
    expect(ct.subtype).toBe('signed');
    expect(Object.fromEntries(ct.params)).toEqual({ protocol: 'application/pkcs7-signature', micalg: 'SHA-256', boundary: 'AbC' });
    expect(ct.explicit).toBe(true);
  });

  it('unescapes quoted strings and skips comments', () => {
    const ct = parseContentType('text/plain (a (nested) comment); name="a \\"b\\" \\\\c" (trailing); charset = utf-8');
    expect(ct.params.get('name')).toBe('a "b" \\c');
    expect(ct.params.get('charset')).toBe('utf-8');
  });

  it.each([
    // RFC 2231 §4 and §5 examples
    ["application/x-stuff; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A", 'title', 'This is ***fun***'],
    [
      "application/x-stuff; title*0*=us-ascii'en'This%20is%20even%20more%20; title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2=\"isn't it!\"",
      'title',
      "This is even more ***fun*** isn't it!",
    ],
    ['message/external-body; access-type=URL; URL*0="ftp://"; URL*1="cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar"', 'url', 'ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar'],
    ["application/pdf; name*=UTF-8''%E2%82%AC%20rates.pdf", 'name', '€ rates.pdf'],
    ["application/pdf; name*=iso-8859-1''caf%E9.pdf", 'name', 'café.pdf'],
    // A UTF-8 character split across sections, sections out of order.
    ["application/pdf; name*1*=%AC.pdf; name*0*=utf-8''%E2%82", 'name', '€.pdf'],
    // The extended form wins over the plain one.
    ["application/pdf; name=\"fallback.pdf\"; name*=utf-8''real.pdf", 'name', 'real.pdf'],
    // Non-standard but common: RFC 2047 inside a quoted name.
    ['application/pdf; name="=?UTF-8?B?w6kudHh0?="', 'name', 'é.txt'],
    ['multipart/mixed; boundary=----=_Part_0_1.2', 'boundary', '----=_Part_0_1.2'],
  ])('%s', (value, name, want) => {
    expect(parseContentType(value).params.get(name)).toBe(want);
  });

  it('falls back to text/plain; charset=us-ascii for a value it cannot read', () => {
    for (const bad of ['', 'garbage', '/plain', 'text/', '; charset=x']) {
      const ct = parseContentType(bad);
      expect(ct.mediaType).toBe('text/plain');
      expect(ct.params.get('charset')).toBe('us-ascii');
      expect(ct.explicit).toBe(false);
    }
  });

  it('keeps the first of duplicate parameters and reports them', () => {
    const ct = parseContentType('multipart/mixed; boundary=a; BOUNDARY=b');
    expect(ct.params.get('boundary')).toBe('a');
    expect(ct.duplicateParams).toEqual(['boundary']);
  });

  it('skips junk between parameters and an unclosed quoted string runs to the end', () => {
    expect(parseContentType('text/plain; junk; charset=utf-8').params.get('charset')).toBe('utf-8');
    expect(parseContentType('text/plain; name="open').params.get('name')).toBe('open');
  });
});

describe('parseContentDisposition and parseTransferEncoding', () => {
  it('reads the type and a decoded filename', () => {
    const d = parseContentDisposition("Attachment; filename*=utf-8''%C3%A9t%C3%A9.txt; size=12");
    expect(d.type).toBe('attachment');
    expect(d.filename).toBe('été.txt');
    expect(d.params.get('size')).toBe('12');
    expect(parseContentDisposition('inline').filename).toBeUndefined();
  });

  it('lower-cases the encoding and defaults to 7bit', () => {
    expect(parseTransferEncoding('BASE64 (comment)')).toBe('base64');
    expect(parseTransferEncoding(undefined)).toBe('7bit');
    expect(parseTransferEncoding('')).toBe('7bit');
  });
});
