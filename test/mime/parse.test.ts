import { describe, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import { findEntity, getHeaders, parseMessage, walkEntities } from '../../src/mime/index.js';

const crlf = (...lines: string[]) => lines.join('\r\n');
const lf = (...lines: string[]) => lines.join('\n');
const str = (b: Uint8Array) => new TextDecoder('latin1').decode(b);
function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof MailPkiError) return e.code;
    throw e;
  }
  throw new Error('nothing was thrown');
}

const SIGNED_LINES = [
  'From: Alice <alice@example.org>',
  'To: bob@example.net',
  'Subject: signed',
  'MIME-Version: 1.0',
  'Content-Type: multipart/signed; protocol="application/pkcs7-signature";',
  ' micalg=sha-256; boundary="----sig-0001"',
  '',
  'This is an S/MIME signed message',
  '',
  '------sig-0001',
  'Content-Type: text/plain; charset=us-ascii',
  'Content-Transfer-Encoding: 7bit',
  '',
  'Hello Bob,',
  'this line has --sig-0001 inside and ------sig-0001 not at line start.',
  '',
  '------sig-0001',
  'Content-Type: application/pkcs7-signature; name=smime.p7s',
  'Content-Transfer-Encoding: base64',
  'Content-Disposition: attachment; filename=smime.p7s',
  '',
  'MIIBAQID',
  'BAUG',
  '',
  '------sig-0001--',
  'the epilogue',
  '',
];
const SIGNED_PART = crlf(
  'Content-Type: text/plain; charset=us-ascii',
  'Content-Transfer-Encoding: 7bit',
  '',
  'Hello Bob,',
  'this line has --sig-0001 inside and ------sig-0001 not at line start.',
  '',
);

describe('parseMessage: multipart/signed', () => {
  const msg = crlf(...SIGNED_LINES);
  const root = parseMessage(msg);

  it('gives the first part exactly as signed (up to, not including, the CRLF before the delimiter)', () => {
    const part = root.children[0]!;
    expect(str(part.raw())).toBe(SIGNED_PART);
    expect(part.start).toBe(msg.indexOf('Content-Type: text/plain'));
    expect(part.end).toBe(msg.indexOf('\r\n------sig-0001\r\nContent-Type: application'));
    expect(part.path).toEqual([0]);
    expect(part.contentType.mediaType).toBe('text/plain');
  });

  it('decodes the signature part and reads its disposition', () => {
    const sig = root.children[1]!;
    expect([...sig.decodedBody()]).toEqual([0x30, 0x82, 0x01, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06]);
    expect(sig.contentType.mediaType).toBe('application/pkcs7-signature');
    expect(sig.contentDisposition?.type).toBe('attachment');
    expect(sig.contentDisposition?.filename).toBe('smime.p7s');
    expect(sig.path).toEqual([1]);
    expect(str(sig.body())).toBe('MIIBAQID\r\nBAUG\r\n');
  });

  it('reports root type, params, preamble and epilogue ranges', () => {
    expect(root.kind).toBe('multipart');
    expect(root.path).toEqual([]);
    expect(root.contentType.params.get('protocol')).toBe('application/pkcs7-signature');
    expect(root.contentType.params.get('micalg')).toBe('sha-256');
    expect(root.children).toHaveLength(2);
    const slice = (r: { start: number; end: number }) => msg.slice(r.start, r.end);
    expect(slice(root.preamble!)).toBe('This is an S/MIME signed message\r\n');
    expect(slice(root.epilogue!)).toBe('the epilogue\r\n');
    expect(root.start).toBe(0);
    expect(root.end).toBe(msg.length);
    expect(root.headerEnd).toBe(msg.indexOf('\r\n\r\n') + 2);
    expect(root.bodyStart).toBe(msg.indexOf('\r\n\r\n') + 4);
  });

  it('keeps header fields raw (folding and CRLF included) and unfolded', () => {
    const ct = getHeaders(root, 'content-type')[0]!;
    expect(ct.name).toBe('Content-Type');
    expect(str(ct.raw)).toBe(
      'Content-Type: multipart/signed; protocol="application/pkcs7-signature";\r\n micalg=sha-256; boundary="----sig-0001"\r\n',
    );
    expect(ct.value).toBe('multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="----sig-0001"');
  });

  it('gives identical bytes and offsets for the LF-only form of the same message', () => {
    const lfRoot = parseMessage(lf(...SIGNED_LINES));
    expect(str(lfRoot.source)).toBe(msg);
    expect(str(lfRoot.children[0]!.raw())).toBe(SIGNED_PART);
    expect(lfRoot.children[0]!.start).toBe(root.children[0]!.start);
    expect(lfRoot.children[0]!.end).toBe(root.children[0]!.end);
    expect(lfRoot.epilogue).toEqual(root.epilogue);
  });

  it('accepts bytes as well as strings', () => {
    const bytes = new TextEncoder().encode(msg);
    expect(str(parseMessage(bytes).children[0]!.raw())).toBe(SIGNED_PART);
  });
});

describe('parseMessage: boundaries', () => {
  it('accepts linear white space after delimiter and close delimiter lines', () => {
    const msg = crlf('Content-Type: multipart/mixed; boundary=b', '', '--b \t', '', 'one', '--b  ', '', 'two', '--b-- \t', '');
    const root = parseMessage(msg);
    expect(root.children.map((c) => str(c.body()))).toEqual(['one', 'two']);
    expect(str(root.children[0]!.raw())).toBe('\r\none');
    expect(root.epilogue).toEqual({ start: msg.length, end: msg.length });
  });

  it('does not take a longer line that starts with the boundary for a delimiter', () => {
    const msg = crlf('Content-Type: multipart/mixed; boundary=b', '', '--b', '', '--bc', '--b-x', '--b', '', 'two', '--b--');
    const root = parseMessage(msg);
    expect(root.children.map((c) => str(c.body()))).toEqual(['--bc\r\n--b-x', 'two']);
  });

  it('reads an unquoted boundary holding "=" (common in real mail)', () => {
    const msg = crlf('Content-Type: multipart/alternative; boundary=----=_Part_1.2', '', '------=_Part_1.2', '', 'x', '------=_Part_1.2--');
    expect(parseMessage(msg).children).toHaveLength(1);
  });

  it('accepts a boundary longer than 70 characters (leniently)', () => {
    const b = 'x'.repeat(100);
    const msg = crlf(`Content-Type: multipart/mixed; boundary="${b}"`, '', `--${b}`, '', 'x', `--${b}--`);
    expect(parseMessage(msg).children).toHaveLength(1);
  });

  it('gives the close delimiter of the outer boundary priority over an inner boundary that extends it', () => {
    // "--a--" closes "a" rather than opening a part of "a--": the outer level wins, as in a top-down split.
    const msg = crlf(
      'Content-Type: multipart/mixed; boundary=a',
      '',
      '--a',
      'Content-Type: multipart/mixed; boundary=a--',
      '',
      '--a--',
    );
    expect(codeOf(() => parseMessage(msg))).toBe('ERR_MIME_MALFORMED');
  });

  it('parses empty parts and a part with headers but no blank line', () => {
    const msg = crlf('Content-Type: multipart/mixed; boundary=b', '', '--b', '--b', 'Content-Type: text/html', '--b--');
    const root = parseMessage(msg);
    expect(root.children).toHaveLength(2);
    const [empty, headersOnly] = root.children;
    expect(str(empty!.raw())).toBe('');
    expect(headersOnly!.contentType.mediaType).toBe('text/html');
    expect(str(headersOnly!.raw())).toBe('Content-Type: text/html');
    expect(str(headersOnly!.body())).toBe('');
  });

  it('treats a blank line just before a delimiter as the delimiter CRLF', () => {
    const msg = crlf('Content-Type: multipart/mixed; boundary=b', '', '--b', 'Content-Type: text/plain', '', '--b--');
    const part = parseMessage(msg).children[0]!;
    expect(str(part.raw())).toBe('Content-Type: text/plain\r\n');
    expect(part.body().length).toBe(0);
  });
});

describe('parseMessage: nesting', () => {
  const inner = crlf(
    'Content-Type: multipart/mixed; boundary="inner"',
    '',
    'inner preamble',
    '--inner',
    'Content-Type: text/plain',
    '',
    'body text',
    '--inner',
    'Content-Type: application/pdf; name="a.pdf"',
    'Content-Disposition: attachment; filename="a.pdf"',
    'Content-Transfer-Encoding: base64',
    '',
    'JVBERi0=',
    '--inner--',
    '',
  );
  const msg = crlf(
    'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; boundary=outer',
    '',
    '--outer',
    inner,
    '--outer',
    'Content-Type: application/pkcs7-signature',
    'Content-Transfer-Encoding: base64',
    '',
    'AAEC',
    '--outer--',
    '',
  );
  const root = parseMessage(msg);

  it('signs the whole inner multipart, its close delimiter line CRLF included', () => {
    expect(str(root.children[0]!.raw())).toBe(inner);
  });

  it('gives paths, kinds and offsets for the whole tree', () => {
    const all = [...walkEntities(root)].map((e) => [e.path.join('.'), e.kind, e.contentType.mediaType]);
    expect(all).toEqual([
      ['', 'multipart', 'multipart/signed'],
      ['0', 'multipart', 'multipart/mixed'],
      ['0.0', 'leaf', 'text/plain'],
      ['0.1', 'leaf', 'application/pdf'],
      ['1', 'leaf', 'application/pkcs7-signature'],
    ]);
    const pdf = findEntity(root, [0, 1])!;
    expect(pdf.contentDisposition?.filename).toBe('a.pdf');
    expect(str(pdf.decodedBody())).toBe('%PDF-');
    const mixed = root.children[0]!;
    expect(msg.slice(mixed.preamble!.start, mixed.preamble!.end)).toBe('inner preamble');
    expect(mixed.epilogue!.start).toBe(mixed.epilogue!.end);
    expect(findEntity(root, [0, 5])).toBeUndefined();
  });

  it('parses message/rfc822 bodies as nested messages', () => {
    const fwd = crlf(
      'Content-Type: multipart/mixed; boundary=m',
      '',
      '--m',
      'Content-Type: message/rfc822',
      '',
      'From: ceo@bank.example',
      'Subject: inner',
      '',
      'inner body',
      '--m--',
    );
    const r = parseMessage(fwd);
    const wrapper = r.children[0]!;
    expect(wrapper.kind).toBe('message');
    const nested = wrapper.children[0]!;
    expect(nested.path).toEqual([0, 0]);
    expect(getHeaders(nested, 'from')[0]!.value).toBe('ceo@bank.example');
    expect(str(nested.body())).toBe('inner body');
    expect(nested.end).toBe(wrapper.end);
  });

  it('defaults parts of multipart/digest to message/rfc822', () => {
    const digest = crlf('Content-Type: multipart/digest; boundary=d', '', '--d', '', 'Subject: one', '', 'x', '--d--');
    const part = parseMessage(digest).children[0]!;
    expect(part.contentType.mediaType).toBe('message/rfc822');
    expect(part.contentType.explicit).toBe(false);
    expect(part.kind).toBe('message');
  });

  it('refuses a nested multipart that reuses an enclosing boundary', () => {
    const m = crlf('Content-Type: multipart/mixed; boundary=a', '', '--a', 'Content-Type: multipart/mixed; boundary=a', '', '--a', '', 'x', '--a--', '--a--');
    expect(codeOf(() => parseMessage(m))).toBe('ERR_MIME_MALFORMED');
  });
});

describe('parseMessage: headers', () => {
  it('tolerates white space before the colon and compares names case-insensitively', () => {
    const r = parseMessage(crlf('SUBJECT : hi', 'content-TYPE: Text/HTML; CharSet=UTF-8', '', 'x'));
    expect(getHeaders(r, 'Subject')[0]!.name).toBe('SUBJECT');
    expect(getHeaders(r, 'subject')[0]!.value).toBe('hi');
    expect(r.contentType.mediaType).toBe('text/html');
    expect(r.contentType.params.get('charset')).toBe('UTF-8');
  });

  it('returns every field of a name, so duplicates are visible', () => {
    const r = parseMessage(crlf('From: a@example.org', 'From: b@example.org', '', ''));
    expect(getHeaders(r, 'from').map((h) => h.value)).toEqual(['a@example.org', 'b@example.org']);
  });

  it('reads a message without a blank line as all headers and an empty body', () => {
    const m = crlf('From: a@example.org', 'Subject: x');
    const r = parseMessage(m);
    expect(r.headers).toHaveLength(2);
    expect(r.body().length).toBe(0);
    expect(r.bodyStart).toBe(m.length);
    expect(r.contentType.mediaType).toBe('text/plain');
    expect(r.contentType.explicit).toBe(false);
  });

  it('reads a message with no header fields', () => {
    const r = parseMessage('\r\nbody only');
    expect(r.headers).toHaveLength(0);
    expect(str(r.body())).toBe('body only');
  });

  it('decodes UTF-8 header values (RFC 6532) and falls back to latin1', () => {
    const r = parseMessage(new Uint8Array([...new TextEncoder().encode('Subject: caf\u00e9\r\nX-L: '), 0xe9, 0x0d, 0x0a, 0x0d, 0x0a]));
    expect(getHeaders(r, 'subject')[0]!.value).toBe('café');
    expect(getHeaders(r, 'x-l')[0]!.value).toBe('é');
  });

  it.each([
    ['a header line without a colon', crlf('From: a@b', 'not a header', '', 'x')],
    ['a continuation line first', crlf(' folded', '', 'x')],
    ['an empty field name', crlf(': x', '', '')],
    ['a space inside the field name', crlf('Bad Name: x', '', '')],
    ['two Content-Type fields', crlf('Content-Type: text/plain', 'Content-Type: multipart/mixed; boundary=b', '', '')],
    ['a missing boundary parameter', crlf('Content-Type: multipart/mixed', '', '--b', '', 'x', '--b--')],
    ['two boundary parameters', crlf('Content-Type: multipart/mixed; boundary=a; boundary=b', '', '--b', '', 'x', '--b--')],
    ['a missing close delimiter', crlf('Content-Type: multipart/mixed; boundary=b', '', '--b', '', 'x')],
    ['no delimiter at all', crlf('Content-Type: multipart/mixed; boundary=b', '', 'just text')],
    ['a multipart without parts', crlf('Content-Type: multipart/mixed; boundary=b', '', '--b--')],
    [
      'an inner multipart cut by the outer delimiter',
      crlf('Content-Type: multipart/mixed; boundary=o', '', '--o', 'Content-Type: multipart/mixed; boundary=i', '', '--i', '', 'x', '--o--'),
    ],
  ])('refuses %s with ERR_MIME_MALFORMED', (_what, m) => {
    expect(codeOf(() => parseMessage(m))).toBe('ERR_MIME_MALFORMED');
  });
});

describe('parseMessage: bodies', () => {
  it('decodes quoted-printable and keeps 7bit/8bit/binary as they are', () => {
    const qp = parseMessage(crlf('Content-Transfer-Encoding: Quoted-Printable', '', 'caf=C3=A9 =', 'ok'));
    expect(new TextDecoder().decode(qp.decodedBody())).toBe('café ok');
    const bin = parseMessage(crlf('Content-Transfer-Encoding: binary', '', 'raw'));
    expect(str(bin.decodedBody())).toBe('raw');
  });

  it('throws ERR_MIME_MALFORMED for an unknown transfer encoding, only when decoding', () => {
    const r = parseMessage(crlf('Content-Transfer-Encoding: x-uuencode', '', 'begin 644 a'));
    expect(r.contentTransferEncoding).toBe('x-uuencode');
    expect(codeOf(() => r.decodedBody())).toBe('ERR_MIME_MALFORMED');
  });
});

describe('parseMessage: limits', () => {
  const nested = (depth: number) => {
    let s = '\r\nx';
    for (let i = depth - 1; i >= 0; i--) s = crlf(`Content-Type: multipart/mixed; boundary=b${i}`, '', `--b${i}`, s, `--b${i}--`);
    return s;
  };

  it('parses nesting up to maxDepth and refuses deeper with ERR_NESTING_TOO_DEEP', () => {
    expect(() => parseMessage(nested(3), { maxDepth: 3 })).not.toThrow();
    expect(codeOf(() => parseMessage(nested(4), { maxDepth: 3 }))).toBe('ERR_NESTING_TOO_DEEP');
  });

  it('refuses too many parts, header fields, long header lines and big messages with ERR_INPUT_TOO_LARGE', () => {
    const parts = crlf('Content-Type: multipart/mixed; boundary=b', '', ...Array(5).fill('--b\r\n\r\nx'), '--b--');
    expect(parseMessage(parts, { maxParts: 6 }).children).toHaveLength(5);
    expect(codeOf(() => parseMessage(parts, { maxParts: 5 }))).toBe('ERR_INPUT_TOO_LARGE');
    const fields = crlf(...Array(11).fill('X-A: 1'), '', '');
    expect(codeOf(() => parseMessage(fields, { maxHeaderFields: 10 }))).toBe('ERR_INPUT_TOO_LARGE');
    expect(codeOf(() => parseMessage(`X-A: ${'a'.repeat(100)}\r\n\r\n`, { maxHeaderLineLength: 50 }))).toBe('ERR_INPUT_TOO_LARGE');
    expect(codeOf(() => parseMessage('a'.repeat(101), { maxMessageBytes: 100 }))).toBe('ERR_INPUT_TOO_LARGE');
    // LF-only input grows when canonicalised; the limit applies to the canonical form too.
    expect(codeOf(() => parseMessage('\n'.repeat(60), { maxMessageBytes: 100 }))).toBe('ERR_INPUT_TOO_LARGE');
  });

  it('refuses invalid limits with ERR_INVALID_INPUT', () => {
    expect(codeOf(() => parseMessage('', { maxDepth: -1 }))).toBe('ERR_INVALID_INPUT');
    expect(codeOf(() => parseMessage('', { maxDepth: 100_000 }))).toBe('ERR_INVALID_INPUT');
    expect(codeOf(() => parseMessage(42 as unknown as string))).toBe('ERR_INVALID_INPUT');
  });
});

describe('regressions', () => {
  it('empty enclosed message in a digest: a digest part with no content gives ERR_MIME_MALFORMED, not a child outside its parent', () => {
    // Found by the property test: the blank line ending the part's headers is also the CRLF before --c--.
    expect(() => parseMessage('Content-Type: multipart/digest; boundary=c\r\n\r\n--c\r\n\r\n--c--\r\n')).toThrow(
      expect.objectContaining({ code: 'ERR_MIME_MALFORMED' }),
    );
  });
});
