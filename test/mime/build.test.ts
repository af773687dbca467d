import { describe, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import {
  assembleMessage,
  buildMessage,
  decodeEncodedWords,
  getHeaders,
  parseAddressList,
  parseMessage,
  type BuildMessageInput,
} from '../../src/mime/index.js';

const str = (b: Uint8Array) => new TextDecoder('latin1').decode(b);
const utf8 = (b: Uint8Array) => new TextDecoder().decode(b);
const NOW = new Date(Date.UTC(2025, 6, 1, 10, 52, 37));
function counter() {
  let n = 0;
  return () => `=_b${++n}`;
}
const deterministic = () => ({ boundary: counter(), now: NOW, randomBytes: (n: number) => new Uint8Array(n).fill(0xab) });
function errorOf(fn: () => unknown): MailPkiError {
  try {
    fn();
  } catch (e) {
    if (e instanceof MailPkiError) return e;
    throw e;
  }
  throw new Error('nothing was thrown');
}

describe('buildMessage', () => {
  it('builds a plain 7bit text message, byte for byte', () => {
    const { outerHeaders, entity } = buildMessage(
      { from: { name: 'Alice', address: 'alice@example.org' }, to: 'bob@example.net', subject: 'Hi', text: 'Hello\nBob' },
      deterministic(),
    );
    expect(outerHeaders).toBe(
      'From: Alice <alice@example.org>\r\n' +
        'To: bob@example.net\r\n' +
        'Subject: Hi\r\n' +
        'Date: Tue, 01 Jul 2025 10:52:37 +0000\r\n' +
        `Message-ID: <${'ab'.repeat(16)}@example.org>\r\n` +
        'MIME-Version: 1.0\r\n',
    );
    expect(str(entity)).toBe(
      'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\nHello\r\nBob',
    );
  });

  it('uses quoted-printable for non-ASCII or long lines, and encoded words for non-ASCII headers', () => {
    const { outerHeaders, entity } = buildMessage(
      {
        from: { name: 'Jörg Müller', address: 'j@example.de' },
        to: [{ name: 'Smith, John', address: 'js@example.com' }, 'x@example.com'],
        cc: 'cc@example.com',
        subject: 'Grüße aus Köln',
        text: 'Grüße\n' + 'a'.repeat(100),
        messageId: 'id1@example.de',
      },
      deterministic(),
    );
    const root = parseMessage(assembleMessage(outerHeaders, entity));
    const value = (n: string) => getHeaders(root, n)[0]!.value;
    expect(decodeEncodedWords(value('subject'))).toBe('Grüße aus Köln');
    expect(parseAddressList(value('from')).mailboxes[0]!.name).toBe('Jörg Müller');
    expect(parseAddressList(value('to')).mailboxes.map((m) => [m.name, m.address])).toEqual([
      ['Smith, John', 'js@example.com'],
      [undefined, 'x@example.com'],
    ]);
    expect(value('cc')).toBe('cc@example.com');
    expect(value('message-id')).toBe('<id1@example.de>');
    expect(root.contentTransferEncoding).toBe('quoted-printable');
    expect(utf8(root.decodedBody())).toBe('Grüße\r\n' + 'a'.repeat(100));
    for (const line of str(root.source).split('\r\n')) expect(line.length).toBeLessThanOrEqual(78);
    for (const b of root.source) expect(b).toBeLessThan(0x80);
  });

  it('builds multipart/alternative for text + html, and multipart/mixed with attachments', () => {
    const pdf = new Uint8Array(200).map((_, i) => i);
    const { outerHeaders, entity } = buildMessage(
      {
        from: 'a@example.org',
        to: 'b@example.org',
        subject: 'Report',
        text: 'See attached.',
        html: '<p>See attached.</p>',
        attachments: [
          { filename: 'report.pdf', contentType: 'application/PDF', content: pdf },
          { filename: 'Übersicht – 2025 Quartalsbericht mit sehr langem Namen.txt', contentType: 'text/plain', content: 'ok' },
        ],
      },
      deterministic(),
    );
    const root = parseMessage(assembleMessage(outerHeaders, entity));
    expect(root.contentType.mediaType).toBe('multipart/mixed');
    const [alt, att1, att2] = root.children;
    expect(alt!.contentType.mediaType).toBe('multipart/alternative');
    expect(alt!.children.map((c) => utf8(c.decodedBody()))).toEqual(['See attached.', '<p>See attached.</p>']);
    expect(att1!.contentType.mediaType).toBe('application/pdf');
    expect(att1!.contentDisposition?.filename).toBe('report.pdf');
    expect([...att1!.decodedBody()]).toEqual([...pdf]);
    for (const line of str(att1!.body()).split('\r\n')) expect(line.length).toBeLessThanOrEqual(76);
    expect(att2!.contentDisposition?.filename).toBe('Übersicht – 2025 Quartalsbericht mit sehr langem Namen.txt');
    expect(att2!.contentType.params.get('name')).toBe('Übersicht – 2025 Quartalsbericht mit sehr langem Namen.txt');
    expect(att2!.contentType.params.get('charset')).toBe('utf-8');
    expect(utf8(att2!.decodedBody())).toBe('ok');
    // The content entity parses on its own too, and is what a signer gets.
    expect(parseMessage(entity).children).toHaveLength(3);
  });

  it('picks another boundary when one occurs in the content, and gives up on a constant that does', () => {
    const input: BuildMessageInput = { from: 'a@x.org', to: 'b@x.org', subject: 's', text: 'x\n--=_b1\ny', html: '<b/>' };
    const root = parseMessage(buildMessage(input, deterministic()).entity);
    expect(root.contentType.params.get('boundary')).toBe('=_b2');
    expect(errorOf(() => buildMessage(input, { boundary: () => '=_b1' })).code).toBe('ERR_INVALID_INPUT');
    expect(errorOf(() => buildMessage(input, { boundary: () => 'bad\r\nboundary' })).code).toBe('ERR_INVALID_INPUT');
  });

  it('adds custom header fields, encoded when needed', () => {
    const { outerHeaders } = buildMessage(
      { from: 'a@x.org', to: 'b@x.org', subject: 's', headers: { 'X-Note': 'Grüße', 'Reply-To': 'r@x.org' } },
      deterministic(),
    );
    expect(outerHeaders).toContain('X-Note: =?UTF-8?B?R3LDvMOfZQ==?=\r\n');
    expect(outerHeaders).toContain('Reply-To: r@x.org\r\n');
    expect(outerHeaders.endsWith('MIME-Version: 1.0\r\n')).toBe(true);
  });

  it('folds long header fields at 78 characters and encodes words too long to fold', () => {
    const to = Array.from({ length: 8 }, (_, i) => `recipient${i}@example.org`);
    const { outerHeaders } = buildMessage({ from: 'a@x.org', to, subject: 'w'.repeat(120) }, deterministic());
    for (const line of outerHeaders.split('\r\n')) expect(line.length).toBeLessThanOrEqual(78);
    const root = parseMessage(outerHeaders + '\r\n');
    expect(parseAddressList(getHeaders(root, 'to')[0]!.value).mailboxes.map((m) => m.address)).toEqual(to);
    expect(decodeEncodedWords(getHeaders(root, 'subject')[0]!.value)).toBe('w'.repeat(120));
  });

  it.each<[string, Partial<BuildMessageInput> | Record<string, unknown>, string]>([
    ['CRLF in the subject', { subject: 'hi\r\nBcc: victim@x.org' }, 'subject'],
    ['LF in the subject', { subject: 'hi\nBcc: victim@x.org' }, 'subject'],
    ['CR in a display name', { from: { name: 'A\rBcc: v@x.org', address: 'a@x.org' } }, 'from.name'],
    ['CRLF in an address', { to: 'b@x.org\r\nBcc: v@x.org' }, 'to'],
    ['CRLF in a custom header value', { headers: { 'X-A': 'v\r\nBcc: v@x.org' } }, 'headers.X-A'],
    ['a colon in a custom header name', { headers: { 'Bcc: v@x.org\r\nX': 'v' } }, 'headers'],
    ['a reserved custom header', { headers: { 'content-type': 'text/html' } }, 'headers.content-type'],
    ['CRLF in an attachment filename', { attachments: [{ filename: 'a\r\nb', contentType: 'text/plain', content: '' }] }, 'attachments.0.filename'],
    ['parameters in an attachment type', { attachments: [{ filename: 'a', contentType: 'text/plain; x=y', content: '' }] }, 'attachments.0.contentType'],
    ['a NUL in the subject', { subject: 'a\u0000b' }, 'subject'],
    ['an address without domain', { to: 'bob' }, 'to'],
    ['an unknown field', { bcc: 'x@x.org' }, ''],
    ['an invalid date', { date: new Date(Number.NaN) }, 'date'],
  ])('refuses %s with ERR_INVALID_INPUT naming the field', (_what, patch, field) => {
    const input = { from: 'a@x.org', to: 'b@x.org', subject: 's', text: 't', ...patch } as BuildMessageInput;
    const err = errorOf(() => buildMessage(input, deterministic()));
    expect(err.code).toBe('ERR_INVALID_INPUT');
    expect(String(err.details?.field).startsWith(field)).toBe(true);
  });
});

describe('assembleMessage', () => {
  it('joins headers and entity', () => {
    expect(str(assembleMessage('A: b\r\n', new TextEncoder().encode('\r\nbody')))).toBe('A: b\r\n\r\nbody');
  });

  it.each(['A: b', 'A: b\r\n\r\nX: y\r\n', '\r\nA: b\r\n', 'A: \ud800\r\n', 'A: b\x00\r\n', 'A: b\u0085\r\n', 'A: b\rc\r\n'])('refuses outer headers %j', (h) => {
    expect(errorOf(() => assembleMessage(h, new Uint8Array())).code).toBe('ERR_INVALID_INPUT');
  });

  it('writes UTF-8 header text (RFC 6532) as UTF-8 (it refused it); a lone surrogate is refused, not written as U+FFFD', () => {
    expect(assembleMessage('Subject: für 😀\r\n', new TextEncoder().encode('\r\n'))).toEqual(new TextEncoder().encode('Subject: für 😀\r\n\r\n'));
    expect(errorOf(() => assembleMessage('Subject: \udc00\r\n', new Uint8Array())).message).toMatch(/lone UTF-16 surrogate/);
  });
});
