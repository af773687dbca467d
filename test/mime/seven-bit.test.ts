import { describe, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import { getHeaders, is7bitClean, make7bitSafe, parseMessage } from '../../src/mime/index.js';

const crlf = (...lines: string[]) => lines.join('\r\n');
const str = (b: Uint8Array) => new TextDecoder('latin1').decode(b);
const utf8 = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (s: string) => new TextEncoder().encode(s);

describe('make7bitSafe', () => {
  it('re-encodes an 8bit text body as quoted-printable and keeps the other header fields as written', () => {
    const entity = crlf('Content-Type: text/plain;', '  charset=utf-8', 'Content-Transfer-Encoding: 8bit', 'X-Keep:  me ', '', 'Grüße', '');
    const out = make7bitSafe(bytes(entity));
    expect(str(out)).toBe(
      crlf('Content-Type: text/plain;', '  charset=utf-8', 'Content-Transfer-Encoding: quoted-printable', 'X-Keep:  me ', '', 'Gr=C3=BC=C3=9Fe', ''),
    );
    expect(utf8(parseMessage(out).decodedBody())).toBe('Grüße\r\n');
    expect(is7bitClean(out)).toBe(true);
  });

  it('adds a Content-Transfer-Encoding field when there was none, and uses base64 for non-text', () => {
    const entity = new Uint8Array([...bytes('Content-Type: application/octet-stream\r\n\r\n'), 0x00, 0xff, 0x80]);
    const out = parseMessage(make7bitSafe(entity));
    expect(getHeaders(out, 'content-transfer-encoding')[0]!.value).toBe('base64');
    expect([...out.decodedBody()]).toEqual([0x00, 0xff, 0x80]);
  });

  it('re-encodes a 7bit body with a line over 998 bytes', () => {
    const long = 'x'.repeat(1200);
    const out = parseMessage(make7bitSafe(crlf('Content-Type: text/plain', '', long)));
    expect(out.contentTransferEncoding).toBe('quoted-printable');
    expect(str(out.decodedBody())).toBe(long);
  });

  it('works through multiparts, relabels an 8bit multipart as 7bit, and keeps clean parts byte for byte', () => {
    const clean = crlf('Content-Type: text/plain', '', 'plain ascii');
    const entity = crlf(
      'Content-Type: multipart/mixed; boundary=b',
      'Content-Transfer-Encoding: 8bit',
      '',
      'preamble',
      '--b',
      clean,
      '--b',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<p>café</p>',
      '--b--',
      'epilogue',
    );
    const out = make7bitSafe(bytes(entity));
    expect(is7bitClean(out)).toBe(true);
    const root = parseMessage(out);
    expect(root.contentTransferEncoding).toBe('7bit');
    expect(str(root.children[0]!.raw())).toBe(clean);
    expect(utf8(root.children[1]!.decodedBody())).toBe('<p>café</p>');
    expect(str(root.source.subarray(root.preamble!.start, root.preamble!.end))).toBe('preamble');
    expect(str(root.source.subarray(root.epilogue!.start, root.epilogue!.end))).toBe('epilogue');
  });

  it('returns clean input unchanged (apart from line ends)', () => {
    const entity = 'Content-Type: text/plain\n\nhello\n';
    expect(str(make7bitSafe(entity))).toBe('Content-Type: text/plain\r\n\r\nhello\r\n');
  });

  it('refuses a binary body given with bare LF line ends', () => {
    const entity = new Uint8Array([...bytes('Content-Type: application/octet-stream\nContent-Transfer-Encoding: binary\n\n'), 0x0a, 0xff]);
    let err: unknown;
    try {
      make7bitSafe(entity);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MailPkiError);
    expect((err as MailPkiError).code).toBe('ERR_INVALID_INPUT');
  });

  it('keeps a binary body exact when the input is already canonical', () => {
    const entity = new Uint8Array([...bytes('Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n'), 0x0d, 0x0a, 0xff]);
    expect([...parseMessage(make7bitSafe(entity)).decodedBody()]).toEqual([0x0d, 0x0a, 0xff]);
  });
});
