import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import {
  assembleMessage,
  buildMessage,
  canonicalizeLineEndings,
  decodeEncodedWords,
  decodeQuotedPrintable,
  encodeEncodedWords,
  encodeQuotedPrintable,
  findAddressesInDisplayNames,
  getHeaders,
  isCanonical,
  parseAddressList,
  parseContentType,
  parseMessage,
  walkEntities,
  type MimeEntity,
} from '../../src/mime/index.js';

const utf8 = (b: Uint8Array) => new TextDecoder().decode(b);

/** A tree or a MailPkiError: the only acceptable outcomes; anything else is rethrown and fails the test. */
function tryParse(input: Uint8Array | string, limits?: Parameters<typeof parseMessage>[1]): MimeEntity | MailPkiError {
  try {
    return parseMessage(input, limits);
  } catch (e) {
    if (e instanceof MailPkiError) return e;
    throw e;
  }
}

/** As tryParse, and a tree must satisfy the offset invariants. */
function parseOrCodedError(input: Uint8Array | string, limits?: Parameters<typeof parseMessage>[1]): MimeEntity | MailPkiError {
  const out = tryParse(input, limits);
  if (!(out instanceof MailPkiError)) checkInvariants(out);
  return out;
}

// Plain checks, not expect(): this runs for every entity of trees with 100,000 of them.
function check(ok: boolean, what: string, e: MimeEntity): void {
  if (!ok) throw new Error(`invariant broken at path [${e.path.join(',')}]: ${what}`);
}

function checkInvariants(root: MimeEntity): void {
  for (const e of walkEntities(root)) {
    check(e.start <= e.headerEnd && e.headerEnd <= e.bodyStart && e.bodyStart <= e.end, 'offsets out of order', e);
    check(e.end <= root.source.length, 'end past the message', e);
    let previousEnd = e.bodyStart;
    e.children.forEach((c, i) => {
      check(c.start >= previousEnd && c.end <= e.end, 'child outside its parent or overlapping', c);
      check(c.path.length === e.path.length + 1 && c.path[c.path.length - 1] === i, 'wrong path', c);
      previousEnd = c.end;
    });
    for (const h of e.headers) check(h.start >= e.start && h.end <= e.headerEnd + 2 && h.end <= e.end, 'header outside entity', e);
    try {
      e.decodedBody();
    } catch (err) {
      if (!(err instanceof MailPkiError)) throw err;
    }
  }
}

const MIME_LINES = [
  'Content-Type: multipart/mixed; boundary=a',
  'Content-Type: multipart/signed; boundary="b"; protocol="application/pkcs7-signature"',
  'Content-Type: multipart/digest; boundary=c',
  'Content-Type: message/rfc822',
  'Content-Type: text/plain; charset*0*=utf-8\'\'%C3; charset*1*=%A9',
  'Content-Type: multipart/mixed; boundary=a--',
  'Content-Transfer-Encoding: base64',
  'Content-Transfer-Encoding: quoted-printable',
  'Content-Transfer-Encoding: x-unknown',
  'Content-Disposition: attachment; filename="=?utf-8?B?w6k=?="',
  'From: "ceo@bank.example" <x@evil.example>',
  'X-Obs : value',
  ' folded continuation',
  '',
  '',
  '--a',
  '--a--',
  '--a-- ',
  '--b',
  '--b--',
  '--c',
  '--c--',
  '--a----',
  'text =C3=A9 =',
  'SGVsbG8=',
  'no colon here',
  '\u00e9\u00ff binary \u0000',
];

const mimeish = fc
  .array(fc.tuple(fc.constantFrom(...MIME_LINES), fc.constantFrom('\r\n', '\n', '\r', '\r\n\r\n')), { maxLength: 60 })
  .map((lines) => lines.map(([l, sep]) => l + sep).join(''));

describe('parser properties', () => {
  it('random bytes give a tree or a MailPkiError, never another exception', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), (b) => void parseOrCodedError(b)), { numRuns: 500 });
  });

  it('MIME-shaped random messages give a consistent tree or a MailPkiError', () => {
    fc.assert(fc.property(mimeish, (m) => void parseOrCodedError(m)), { numRuns: 2000 });
  });

  it('MIME-shaped random messages also hold under tight limits', () => {
    const limits = { maxDepth: 2, maxParts: 5, maxHeaderFields: 3, maxHeaderLineLength: 60 };
    fc.assert(fc.property(mimeish, (m) => void parseOrCodedError(m, limits)), { numRuns: 500 });
  });
});

describe('parser time on hostile input', () => {
  const within = (ms: number, fn: () => unknown) => {
    const t0 = performance.now();
    const out = fn();
    expect(performance.now() - t0).toBeLessThan(ms);
    return out;
  };
  const nestedOpen = (levels: number, pad: number) => {
    const chunks: string[] = [];
    for (let i = 0; i < levels; i++) {
      const b = `b${i}${'x'.repeat(pad)}`;
      chunks.push(`Content-Type: multipart/mixed; boundary="${b}"\r\n\r\n--${b}\r\n`);
    }
    return chunks.join('');
  };

  it('a 2 MiB message of 10,000 nested boundaries errors within a second', () => {
    const m = nestedOpen(10_000, 140);
    expect(m.length).toBeGreaterThan(2 * 1024 * 1024);
    const out = within(1000, () => tryParse(m));
    expect((out as MailPkiError).code).toBe('ERR_NESTING_TOO_DEEP');
    const deeper = within(1000, () => tryParse(m, { maxDepth: 1000, maxParts: 100_000 }));
    expect((deeper as MailPkiError).code).toBe('ERR_NESTING_TOO_DEEP');
  });

  it('1,000 correctly closed nested multiparts parse in linear time', () => {
    const levels = 1000;
    let m = nestedOpen(levels, 1000) + '\r\nleaf';
    for (let i = levels - 1; i >= 0; i--) m += `\r\n--b${i}${'x'.repeat(1000)}--`;
    const root = within(1000, () => tryParse(m, { maxDepth: levels, maxParts: 2 * levels })) as MimeEntity;
    expect(root.kind).toBe('multipart');
    checkInvariants(root);
    let e = root;
    while (e.children[0]) e = e.children[0];
    expect(e.path).toHaveLength(levels);
    expect(new TextDecoder().decode(e.body())).toBe('leaf');
  });

  it('100,000 flat parts error on maxParts, and parse quickly when allowed', () => {
    const m = 'Content-Type: multipart/mixed; boundary=b\r\n\r\n' + '--b\r\n\r\nx\r\n'.repeat(100_000) + '--b--\r\n';
    expect((within(1000, () => tryParse(m)) as MailPkiError).code).toBe('ERR_INPUT_TOO_LARGE');
    const root = within(2000, () => tryParse(m, { maxParts: 200_000 })) as MimeEntity;
    expect(root.children).toHaveLength(100_000);
    checkInvariants(root);
  });

  it('2 MiB of near-delimiter lines and giant header values stay fast (linear: a quadratic step takes minutes here; 3 s allows a loaded machine, 1 s flaked beside other work)', () => {
    const near = 'Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n' + '--bb\r\n--b-\r\n--' + 'b'.repeat(2_000_000) + '\r\n--b--';
    within(3000, () => tryParse(near));
    const comments = `Content-Type: text/plain; ${'('.repeat(20_000)}x${')'.repeat(20_000)}; a="${'\\"'.repeat(10_000)}\r\n\r\n`;
    within(3000, () => tryParse(comments, { maxHeaderLineLength: 100_000 }));
    within(3000, () => parseAddressList('=?'.repeat(200_000) + '"'.repeat(1000) + '('.repeat(100_000) + '<'.repeat(100_000)));
    within(3000, () => decodeEncodedWords('=?a?B?'.repeat(100_000) + '=?utf-8?Q?' + 'x'.repeat(200_000)));
    within(3000, () =>
      findAddressesInDisplayNames([{ name: 'a@'.repeat(200_000), address: 'x@y', local: 'x', domain: 'y', group: undefined }]),
    );
  });
});

describe('encoding properties', () => {
  it('quoted-printable: decode(encode(x)) === x, lines of at most 76 ASCII chars', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        const encoded = encodeQuotedPrintable(b);
        expect([...decodeQuotedPrintable(encoded)]).toEqual([...b]);
        for (const line of encoded.split('\r\n')) {
          expect(line.length).toBeLessThanOrEqual(76);
          expect(/^[\x21-\x7e \t]*$/.test(line)).toBe(true);
          expect(/[ \t]$/.test(line)).toBe(false);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('quoted-printable round trip on text-like input', () => {
    const textish = fc
      .array(fc.constantFrom('a', ' ', '\t', '\r\n', '=', 'é', 'From ', '.', 'x'.repeat(80)), { maxLength: 80 })
      .map((a) => a.join(''));
    fc.assert(
      fc.property(textish, (s) => {
        expect(utf8(decodeQuotedPrintable(encodeQuotedPrintable(s)))).toBe(s);
      }),
    );
  });

  it('canonicalizeLineEndings is idempotent and leaves no bare CR or LF', () => {
    const bytes = fc.array(fc.constantFrom(0x0d, 0x0a, 0x61, 0x00), { maxLength: 200 }).map((a) => new Uint8Array(a));
    fc.assert(
      fc.property(fc.oneof(bytes, fc.uint8Array({ maxLength: 200 })), (b) => {
        const once = canonicalizeLineEndings(b);
        expect(isCanonical(once)).toBe(true);
        expect([...canonicalizeLineEndings(once)]).toEqual([...once]);
      }),
      { numRuns: 1000 },
    );
  });

  it('RFC 2047: decode(encode(s)) === s, every word at most 75 chars', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 120 }), fc.constantFrom<'B' | 'Q'>('B', 'Q'), (s, encoding) => {
        const encoded = encodeEncodedWords(s, { encoding });
        expect(decodeEncodedWords(encoded)).toBe(s);
        if (encoded !== s) for (const w of encoded.split(' ')) expect(w.length).toBeLessThanOrEqual(75);
      }),
      { numRuns: 1000 },
    );
  });

  it('header-value parsers never throw on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => {
        const list = parseAddressList(s);
        findAddressesInDisplayNames(list);
        decodeEncodedWords(s);
        parseContentType(s);
      }),
      { numRuns: 500 },
    );
    const addressy = fc
      .array(fc.constantFrom('a', '@', '.', ',', ';', ':', '<', '>', '"', '\\', '(', ')', '[', ']', ' ', '=?utf-8?Q?x?=', 'b.c'), { maxLength: 40 })
      .map((a) => a.join(''));
    fc.assert(fc.property(addressy, (s) => void findAddressesInDisplayNames(parseAddressList(s))), { numRuns: 1000 });
  });
});

describe('builder round trip', () => {
  const headerSafe = fc
    .string({ unit: 'grapheme', minLength: 1, maxLength: 100 })
    .filter((s) => !/[\x00-\x1f\x7f]/.test(s) && s.trim() === s && s.length > 0);

  it('subject, names and text survive build -> parse', () => {
    let n = 0;
    fc.assert(
      fc.property(headerSafe, headerSafe, fc.string({ unit: 'grapheme', maxLength: 300 }), (subject, name, text) => {
        const { outerHeaders, entity } = buildMessage(
          { from: { name, address: 'a@example.org' }, to: 'b@example.org', subject, text },
          { boundary: () => `=_${n++}`, now: new Date(0), randomBytes: (k) => new Uint8Array(k) },
        );
        const root = parseMessage(assembleMessage(outerHeaders, entity));
        expect(decodeEncodedWords(getHeaders(root, 'subject')[0]!.value)).toBe(subject);
        expect(parseAddressList(getHeaders(root, 'from')[0]!.value).mailboxes[0]!.name).toBe(name);
        expect(utf8(root.decodedBody())).toBe(text.replace(/\r\n|\r|\n/g, '\r\n'));
        expect(root.source.every((b) => b < 0x80)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
