/** readAuthor: the one strict From reader (S/MIME binding, DKIM alignment, Authentication-Results). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_AUTHOR_BYTES, MAX_AUTHOR_CANDIDATES, MAX_FROM_BYTES, readAuthorCandidates } from '../../src/mime/author.js';
import { parseMessage, readAuthor, type AuthorProblemCode } from '../../src/mime/index.js';

const enc = new TextEncoder();
const fields = (...raw: (string | Uint8Array)[]): Uint8Array[] => raw.map((r) => (typeof r === 'string' ? enc.encode(r) : r));
const codes = (...raw: (string | Uint8Array)[]): AuthorProblemCode[] => readAuthor(fields(...raw)).problems.map((p) => p.code);

describe('readAuthor', () => {
  it.each([
    ['From: payments@example.com', 'payments@example.com'],
    ['From: Payments <payments@EXAMPLE.com>', 'payments@example.com'],
    ['FROM:"Accounts, Payments" <payments@example.com> (team)', 'payments@example.com'],
    ['From: =?utf-8?q?Zo=C3=AB?= <zoe@example.org>', 'zoe@example.org'],
    ['From: Zoë <zoë@bücher.example>', 'zoë@bücher.example'],
    // Was: no author (display-name-address: "shows cfo@ας-1.gr") — toLowerCase made the capital sigma a final ς.
    ['From: CFO <cfo@ΑΣ-1.GR>', 'cfo@ασ-1.gr'],
    ['From: payments@example.com\r\n', 'payments@example.com'],
    ['From: Payments\r\n <payments@example.com>', 'payments@example.com'],
    ['From: "Bob" <"bob smith"@example.org>', '"bob smith"@example.org'],
    ['From: joe@example.com <joe@example.com>', 'joe@example.com'],
    ["From: Seán O'Brien <sean@example.ie>", 'sean@example.ie'],
  ])('one well-formed author: %j', (raw, address) => {
    const r = readAuthor(fields('To: x@example.net', raw, 'Subject: hi'));
    expect(r.problems).toEqual([]);
    expect(r.author?.address).toBe(address);
    expect(r.author?.domain).toBe(address.slice(address.lastIndexOf('@') + 1).toLowerCase());
  });

  // Composition Kills (Chen et al., USENIX Security 2020): each is a From that readers show differently.
  it.each<[string, string | Uint8Array, AuthorProblemCode[]]>([
    ['two mailboxes', 'From: <payments@example.com>, <a@evil.example>', ['several-mailboxes']],
    ['text after the angle address', 'From: <a@evil.example>payments@example.com', ['malformed', 'display-name-address']],
    ['a quoted address before an address', 'From: "<a@evil.example>" payments@example.com', ['malformed', 'display-name-address', 'address-in-local-part']],
    ['an escaped comma', 'From: payments@example.com\\, <a@evil.example>', ['several-mailboxes', 'malformed']],
    ['an unquoted address as the display name', 'From: payments@example.com <a@evil.example>', ['display-name-address']],
    ['a quoted address as the display name', 'From: "payments@example.com" <a@evil.example>', ['display-name-address']],
    ['an address in a comment', 'From: (payments@example.com) <a@evil.example>', ['display-name-address']],
    ['an encoded-word display name', 'From: =?utf-8?q?payments=40example.com?= <a@evil.example>', ['display-name-address']],
    ['an encoded word in a charset that cannot be decoded (x-user-defined)', 'From: =?x-user-defined?Q?payments=40example.com?= <a@evil.example>', ['undecodable-encoded-word']],
    ['an encoded word in UTF-7 ("+AEA-" is "@")', 'From: =?utf-7?Q?payments+AEA-example.com?= <a@evil.example>', ['undecodable-encoded-word']],
    ['an encoded word in UTF-16 with a big-endian byte-order mark (Node reads it little-endian)', `From: =?utf-16?B?${Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from('payments@example.com', 'utf16le').swap16()]).toString('base64')}?= <a@evil.example>`, ['undecodable-encoded-word']],
    ['an encoded word in cp850 (known to Outlook, not here)', 'From: Payments =?cp850?Q?payments=40example.com?= <a@evil.example>', ['undecodable-encoded-word']],
    ['an encoded word as the whole From', 'From: =?utf-8?q?payments=40example.com?=', ['no-address', 'encoded-word-address']],
    ['an encoded word as the local part', 'From: =?utf-8?q?payments=40example.com?=@evil.example', ['display-name-address', 'encoded-word-address']],
    ['a route', 'From: <@example.com:a@evil.example>', ['route-address']],
    ['a quoted local part holding an address', 'From: "payments@example.com"@evil.example', ['display-name-address', 'address-in-local-part']],
    ['group syntax', 'From: Payments: a@evil.example;', ['group']],
    ['white space before the colon', 'From : a@evil.example', ['space-before-colon']],
    ['a NUL byte', 'From: payments@example.com\0<a@evil.example>', ['malformed', 'display-name-address', 'control-character']],
    ['a bare CR', 'From: a@evil.example\rFrom: payments@example.com', ['no-address', 'control-character']],
    ['a line break that is not a fold', 'From: a@evil.example\r\nX: y', ['no-address', 'control-character']],
    ['a right-to-left override', 'From: "\u202emoc.elpmaxe@stnemyap" <a@evil.example>', ['display-name-address', 'control-character']],
    ['8-bit bytes that are not UTF-8', new Uint8Array([...enc.encode('From: J'), 0xf6, ...enc.encode('rg <a@evil.example>')]), ['not-utf8']],
    ['a space inside the domain', 'From: a@exa mple.com', ['malformed', 'display-name-address']],
    ['a domain literal', 'From: a@[192.0.2.1]', ['malformed']],
    ['a single-label domain', 'From: a@localhost', ['malformed']],
    ['a lone "@" as the display name (found by the spoof generator)', 'From: @ <a@evil.example>', ['malformed']],
    ['an empty From', 'From:  ', ['empty']],
    ['a name only', 'From: Payments Department', ['no-address']],
  ])('no author: %s', (_label, raw, expected) => {
    const r = readAuthor(fields(raw));
    expect(r.author).toBeUndefined();
    expect(r.problems.map((p) => p.code)).toEqual(expected);
    for (const p of r.problems) expect(p.message).not.toMatch(/[\u0000-\u001f\u202e]/);
  });

  it('several From fields, missing From', () => {
    expect(codes('From: payments@example.com', 'From: a@evil.example')).toEqual(['several-fields']);
    expect(codes('From: payments@example.com', 'from : a@evil.example')).toEqual(['several-fields']);
    expect(codes('To: a@example.com', 'Fromage: cheese', 'X-From: a@evil.example')).toEqual(['missing']);
    expect(readAuthor(fields('From: payments@example.com', 'From: a@evil.example')).shown?.address).toBe('payments@example.com');
  });

  it('reads a parsed entity the same way as raw fields', () => {
    const m = parseMessage(enc.encode('From : <@example.com:a@evil.example>\r\nSubject: x\r\n\r\nbody\r\n'));
    expect(readAuthor(m).problems.map((p) => p.code)).toEqual(['route-address', 'space-before-colon']);
    expect(readAuthor(m).shown?.address).toBe('a@evil.example');
  });

  it('bounds the work: a From field over MAX_FROM_BYTES is not parsed, one just under it is parsed fast', () => {
    expect(codes(`From: ${'a@b.c, '.repeat(200_000)}`)).toEqual(['malformed']);
    expect(readAuthor(fields(`From: ${'x'.repeat(MAX_FROM_BYTES)}`)).problems[0]!.message).toBe(`the From field is ${MAX_FROM_BYTES + 1} bytes long; more than ${MAX_FROM_BYTES} is not read`);
    for (const unit of ['=?a?q?', '"(', '<@a,', 'a@', 'a.', '(a@b.c) ', 'a@b.c, ', 'a ', '\0']) {
      const t0 = performance.now();
      const r = readAuthor(fields(`From: ${unit.repeat(Math.floor((MAX_FROM_BYTES - 2) / unit.length))}`));
      expect(performance.now() - t0).toBeLessThan(500); // ≈ 10 ms each, warm, on one core
      for (const p of r.problems) expect(p.message.length).toBeLessThan(600);
    }
  });

  it('never throws, and gives an author or a reason, on arbitrary bytes', () => {
    const head = enc.encode('From: ');
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { minLength: 1, maxLength: 3 }), (values) => {
        const r = readAuthor(values.map((v) => new Uint8Array([...head, ...v])));
        expect(r.author !== undefined || r.problems.length > 0).toBe(true);
        if (r.author) expect(r.problems).toEqual([]);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('readAuthorCandidates (atk13: every address a reader could take as the author)', () => {
  const read = (lines: string) => readAuthorCandidates(lines.split('\r\n').filter(Boolean).map((l) => new TextEncoder().encode(`${l}\r\n`)));
  const cases: [string, string, string[], boolean][] = [
    ['two From fields', 'From: billing@evil.test\r\nFrom: cfo@example.com', ['billing@evil.test', 'cfo@example.com'], true],
    ['two mailboxes', 'From: billing@evil.test, cfo@example.com', ['billing@evil.test', 'cfo@example.com'], true],
    ['display-name address', 'From: "cfo@example.com" <billing@evil.test>', ['billing@evil.test', 'cfo@example.com'], false],
    ['encoded-word display name', 'From: =?utf-8?q?cfo=40example=2Ecom?= <billing@evil.test>', ['billing@evil.test', 'cfo@example.com'], false],
    ['trailing dot, upper case', 'From: CFO@Example.COM.', ['cfo@example.com'], false],
    ['route', 'From : <@route:cfo@example.com>', ['cfo@example.com'], false],
    ['comment inside', 'From: cfo@(comment)example.com', ['cfo@example.com'], false],
  ];
  for (const [what, from, expected, ambiguous] of cases)
    it(what, () => {
      const r = read(from);
      for (const a of expected) expect(r.addresses).toContain(a);
      expect(r.complete).toBe(true);
      expect(r.ambiguous).toBe(ambiguous);
    });
  it('quoted local part, encoded-word domain and a right-to-left override all yield cfo@example.com', () => {
    expect(read('From: "cfo@example.com"@evil.test').addresses).toContain('cfo@example.com');
    expect(read('From: cfo@=?utf-8?q?example.com?=').addresses).toContain('cfo@example.com');
    expect(read('From: "\u202emoc.elpmaxe@ofc" <x@evil.test>').addresses).toContain('cfo@example.com');
  });
  it('an undecodable encoded word or an oversized field is incomplete; candidates are capped', () => {
    expect(read('From: =?x-user-defined?q?cfo=40example.com?= <x@evil.test>').complete).toBe(false);
    expect(read(`From: ${'a'.repeat(MAX_FROM_BYTES + 1)}@x.test`).complete).toBe(false);
    const many = read(`From: ${Array.from({ length: MAX_AUTHOR_CANDIDATES + 5 }, (_, i) => `u${i}@example.com`).join(', ')}`);
    expect(many.addresses).toHaveLength(MAX_AUTHOR_CANDIDATES);
    expect(many.complete).toBe(false);
  });
  // Was: every From field read, each up to MAX_FROM_BYTES — a header of a hundred and more 16 KiB fields cost seconds
  // here and seconds more in the filter's look-alike readings of their thousands-of-labels domains.
  it('reads at most MAX_AUTHOR_BYTES of From fields and no domain longer than a domain can be: past either, incomplete (fields still counted)', () => {
    const field = (i: number) => `From: u${i}@example.com (${'x'.repeat(MAX_FROM_BYTES - 40)})`;
    const fields = Array.from({ length: MAX_AUTHOR_BYTES / MAX_FROM_BYTES + 2 }, (_, i) => field(i)).join('\r\n');
    const r = read(fields);
    expect(r.complete).toBe(false);
    expect(r.ambiguous).toBe(true);
    expect(r.addresses).toEqual(Array.from({ length: MAX_AUTHOR_BYTES / MAX_FROM_BYTES }, (_, i) => `u${i}@example.com`));
    expect(read(Array.from({ length: MAX_AUTHOR_BYTES / MAX_FROM_BYTES }, (_, i) => field(i)).join('\r\n')).complete).toBe(true);
    // A domain of 254 characters names no host; 253 does.
    const domain = (n: number) => `${'a.'.repeat((n - 3) / 2)}com`;
    expect(read(`From: x@${domain(253)}`)).toMatchObject({ addresses: [`x@${domain(253)}`], complete: true });
    expect(read(`From: x@${domain(255)}, y@example.com`)).toMatchObject({ addresses: ['y@example.com'], complete: false });
    // The costliest header: 200 fields of 16 KiB look-alike labels, read in bounded time.
    const t0 = performance.now();
    expect(read(Array.from({ length: 200 }, (_, i) => `From: x${i}@${'\u0410.'.repeat(5000)}ru`).join('\r\n')).complete).toBe(false);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
  it('a capital sigma in a domain is σ (as DNS reads it), not the final ς toLowerCase makes at the end of a word', () => {
    expect(read('From: cfo@ΑΣ-1.gr, "x" <y@ΕΛΛΑΣ.gr>').addresses).toEqual(['cfo@ασ-1.gr', 'y@ελλασ.gr']);
  });
  it('asWritten: the addresses whose case as written differs (cfo@НЅВС.com, which reads as HSBC where нѕвс does not), capped like the addresses', () => {
    expect(read('From: CFO <cfo@НЅВС.com.>')).toMatchObject({ addresses: ['cfo@нѕвс.com'], asWritten: ['cfo@НЅВС.com'], complete: true });
    expect(read('From: cfo@example.com').asWritten).toEqual([]);
    // ASCII reads alike in any case (nothing to read twice).
    expect(read('From: CFO@Example.COM, CFO@XN--80AA0CBO65F.COM, CFO@раураӏ.COM').asWritten).toEqual([]);
    // Many spellings of one address: listed up to the cap, then the reading is incomplete (a reader may see one not listed).
    const cased = read(`From: ${Array.from({ length: MAX_AUTHOR_CANDIDATES + 1 }, (_, i) => `${Array.from('абвгдежзий', (c, j) => (((i + 1) >> j) & 1 ? c.toUpperCase() : c)).join('')}@example.com`).join(', ')}`);
    expect(cased.addresses).toEqual(['абвгдежзий@example.com']);
    expect(cased.asWritten).toHaveLength(MAX_AUTHOR_CANDIDATES);
    expect(cased.complete).toBe(false);
  });
});

// Found by the spoof generator's UTF-8 paths: the whole From field is scanned for addresses as a
// reader sees it (NFKC), and what it found was compared with the raw address by string, so a From
// whose domain is written in NFD ("u" + U+0308) — the same mailbox as pay@bücher.example to the
// binding (mailboxKey NFC-normalises the domain) — "showed pay@bücher.example but the address is
// pay@bücher.example", and the verdict was invalid. Compared as mailboxes now: a domain in NFD or in
// A-labels is the same mailbox; an NFD local part or a full-width letter is still another one.
describe('regression: an address shown in the From compared with the From address as a mailbox (mailboxKey), not as a string', () => {
  it.each([
    ['From: pay@bu\u0308cher.example'],
    ['From: Jörg <pay@bu\u0308cher.example>'],
    ['From: "pay@xn--bcher-kva.example" <pay@bücher.example>'],
    ['From: "pay@BÜCHER.example" <pay@xn--bcher-kva.example>'],
  ])('no display-name-address problem: %j', (raw) => {
    expect(codes(raw)).toEqual([]);
  });
  it.each([
    ['From: zoe\u0308@bücher.example', 'zoë@bücher.example'],
    ['From: pay@\uFF42ücher.example', 'pay@bücher.example'],
    ['From: "pay@bücher.example" <pay@b\u00FC\u0441her.example>', 'pay@bücher.example'],
  ])('still one when the shown address is another mailbox: %j', (raw, shown) => {
    const r = readAuthor(fields(raw));
    expect(r.problems.map((p) => p.code)).toEqual(['display-name-address']);
    expect(r.problems[0]!.message).toContain(`shows ${shown} but`);
  });
});

// The message of display-name-address made the From address's mailbox key (A-labels of every
// label) once per address shown: a From of 15 kB — 2,000 "a@b" in the name, an address of 2,500
// labels "ü" — took 6 s. The key is made once now.
describe('regression: the From address is keyed once, not once per address shown in its name', () => {
  it('a From under MAX_FROM_BYTES with thousands of shown addresses and an address of thousands of IDN labels is read fast', () => {
    const raw = `From: "${'a@b '.repeat(2000)}" <x@${'ü.'.repeat(2500)}example>`;
    expect(enc.encode(raw).length).toBeLessThan(MAX_FROM_BYTES);
    const t0 = performance.now();
    expect(codes(raw)).toEqual(['display-name-address']);
    expect(performance.now() - t0).toBeLessThan(500);
  });
});

// The name may show the From's domain in U-labels when the address has its A-labels (the same
// mailbox); but a label mixing scripts — a Cyrillic "а" in "аpple" — is what clients refuse to show
// in Unicode (Mozilla's IDN policy shows its A-label): `"ceo@аpple.com" <ceo@xn--pple-43d.com>`
// showed ceo@apple.com, to the eye, with no problem. Another mailbox to a reader now.
describe('regression: a name showing the address\'s A-labels as a mixed-script U-label is another address', () => {
  it.each([
    ['From: "ceo@\u0430pple.com" <ceo@xn--pple-43d.com>', 'ceo@\u0430pple.com'],
    ['From: "ceo@p\u0430ypal.com" <ceo@XN--PYPAL-4VE.com>', 'ceo@p\u0430ypal.com'],
    ['From: "pay@b\u00FC\u0441her.example" <pay@xn--bher-0ra631c.example>', 'pay@b\u00FC\u0441her.example'],
  ])('display-name-address: %j', (raw, shown) => {
    const r = readAuthor(fields(raw));
    expect(r.problems.map((p) => p.code)).toEqual(['display-name-address']);
    expect(r.problems[0]!.message).toContain(`shows ${shown} but`);
  });
  it.each([['From: "ceo@\u0430\u0440\u0440\u04CF\u0435.com" <ceo@xn--80ak6aa92e.com>'], ['From: "\u0443\u0434@\u0443\u0434\u0430\u0440.\u0440\u0444" <\u0443\u0434@xn--80ah1bj.xn--p1ai>'], ['From: "pay@日本語.example" <pay@xn--wgv71a119e.example>']])(
    'a label in one script is the same mailbox: %j',
    (raw) => {
      expect(codes(raw)).toEqual([]);
    },
  );
});
