/**
 * Hostile input into verifyMessage: random bytes, random MIME trees, and mutations of a real
 * signed message. The only acceptable outcomes are a verdict or a MailPkiError; never another
 * exception, never a hang. A verdict may say valid only when what the signature protects (the
 * signed entity bytes, the CMS, the From field) is byte-for-byte the original's.
 *
 * Limits relied on (defaults unless a test sets them):
 * - MIME (src/mime/limits.ts): maxMessageBytes 64 MiB, maxDepth 32, maxParts 1000,
 *   maxHeaderFields 1000, maxHeaderLineLength 32 KiB → ERR_INPUT_TOO_LARGE / ERR_NESTING_TOO_DEEP.
 * - S/MIME: MAX_SIGNATURE_LAYERS 8 → the problem SMIME_NESTING_TOO_DEEP (a verdict, not a throw).
 * - CMS (docs/cms.md): 64 SignerInfos, 256 certificates, BER depth 64 → SMIME_CMS_MALFORMED.
 * - Chain building: MAX_SIGNATURE_CHECKS 32, MAX_BUILD_STEPS 256 per signer.
 * - Time: every single run must finish within RUN_BUDGET_MS (generous for a loaded 2-core box;
 *   the parser is linear, so a hang or blow-up shows as seconds, not milliseconds).
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { MailPkiError } from '../../src/errors.js';
import { parseSignedData } from '../../src/cms/index.js';
import { toHex } from '../../src/internal/bytes.js';
import { getHeaders, normalizeAddress, parseAddressList, parseMessage, type MimeEntity } from '../../src/mime/index.js';
import { MAX_SIGNATURE_LAYERS, verifyMessage, type Verdict } from '../../src/smime/index.js';
import { makeSmimeFixture, plainMessage, sign, verifyOptions, type SmimeFixture } from './fixtures.js';

const RUN_BUDGET_MS = 3000;

let f: SmimeFixture;
let good: string;
let goodBytes: Uint8Array;

beforeAll(async () => {
  f = await makeSmimeFixture();
  good = await sign(plainMessage(), f.payments);
  goodBytes = latin1Bytes(good);
});

function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/** Runs verifyMessage under the rules above; returns the verdict or the coded error. */
async function run(input: Uint8Array | string, extra: Record<string, unknown> = {}): Promise<Verdict | MailPkiError> {
  const t0 = performance.now();
  let out: Verdict | MailPkiError;
  try {
    out = await verifyMessage(input, verifyOptions(f, extra));
  } catch (e) {
    if (!(e instanceof MailPkiError)) throw e;
    out = e;
  }
  const ms = performance.now() - t0;
  if (ms > RUN_BUDGET_MS) throw new Error(`verifyMessage took ${ms.toFixed(0)} ms (budget ${RUN_BUDGET_MS} ms)`);
  if (!(out instanceof MailPkiError)) {
    expect(typeof out.valid).toBe('boolean');
    expect(Array.isArray(out.problems)).toBe(true);
    // A valid verdict never comes with problems, and an invalid one always names at least one.
    if (out.valid) expect(out.problems).toEqual([]);
    else expect(out.problems.length).toBeGreaterThan(0);
  }
  return out;
}

/**
 * What a valid verdict vouches for: the signed entity bytes, each SignerInfo's signature and
 * signed attributes, and the From mailbox. Not the rest of the CMS container: its
 * digestAlgorithms set, for one, is informational (each SignerInfo names its own digest), and
 * the outer header, display name included, is not signed (readFrom checks that the display
 * name shows no other address).
 */
function protectedParts(root: MimeEntity) {
  if (root.children.length !== 2) return undefined;
  try {
    const sd = parseSignedData(root.children[1]!.decodedBody());
    return {
      signed: toHex(root.children[0]!.raw()),
      signerInfos: sd.signerInfos.map((si) => [toHex(si.signature), toHex(si.signedAttrs?.der ?? new Uint8Array())]),
      eContentType: sd.eContentType,
      from: getHeaders(root, 'From').flatMap((h) => parseAddressList(h.value).mailboxes.map((m) => normalizeAddress(m.address))),
    };
  } catch {
    return undefined;
  }
}

function expectUnchangedWhereItMatters(mutated: Uint8Array): void {
  const b = protectedParts(parseMessage(mutated));
  expect(b).toBeDefined();
  expect(b).toEqual(protectedParts(parseMessage(goodBytes)));
}

describe('random input', () => {
  it('random bytes: a verdict (never valid) or a MailPkiError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), async (bytes) => {
        const out = await run(bytes);
        if (!(out instanceof MailPkiError)) expect(out.valid).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  const token = fc.constantFrom(
    'From: payments@example.com\r\n',
    'From: "a@b.c" <payments@example.com>\r\n',
    'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; boundary=b\r\n',
    'Content-Type: multipart/mixed; boundary=b\r\n',
    'Content-Type: application/pkcs7-mime; smime-type=signed-data\r\n',
    'Content-Type: application/pkcs7-signature\r\n',
    'Content-Transfer-Encoding: base64\r\n',
    'Content-Transfer-Encoding: x-unknown\r\n',
    '\r\n',
    '\n',
    '--b\r\n',
    '--b--\r\n',
    ' folded\r\n',
    'MIIB',
    '=?utf-8?b?QA==?=',
    'text\r\n',
  );

  it('MIME-looking token soup: a verdict (never valid) or a MailPkiError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(token, { maxLength: 60 }), async (parts) => {
        const out = await run(parts.join(''));
        if (!(out instanceof MailPkiError)) expect(out.valid).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});

describe('random MIME trees', () => {
  type Node = { kind: 'leaf'; type: string; cte: string; body: string } | { kind: 'multi'; subtype: string; boundary: string; params: string; children: Node[] };

  const leaf: fc.Arbitrary<Node> = fc.record({
    kind: fc.constant('leaf' as const),
    type: fc.constantFrom(
      'text/plain',
      'text/html',
      'application/pkcs7-signature',
      'application/pkcs7-mime; smime-type=signed-data',
      'application/pkcs7-mime',
      'message/rfc822',
      'application/octet-stream',
    ),
    cte: fc.constantFrom('7bit', 'base64', 'quoted-printable', 'binary'),
    body: fc.oneof(fc.string({ maxLength: 200 }), fc.base64String({ maxLength: 300 }), fc.constant('MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A')),
  });

  const { tree } = fc.letrec<{ tree: Node; multi: Node }>((tie) => ({
    tree: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('multi')),
    multi: fc.record({
      kind: fc.constant('multi' as const),
      subtype: fc.constantFrom('mixed', 'signed', 'alternative', 'related', 'digest'),
      // A small set so that nested parts sometimes reuse an enclosing boundary.
      boundary: fc.constantFrom('a', 'b', 'c', 'd', '----=_x', 'very-long-boundary-'.repeat(3)),
      params: fc.constantFrom('', '; protocol="application/pkcs7-signature"', '; protocol="application/pgp-signature"', '; micalg=sha-256', '; boundary=dup'),
      children: fc.array(tie('tree'), { maxLength: 4 }),
    }),
  }));

  function render(n: Node, headers = ''): string {
    if (n.kind === 'leaf') return `${headers}Content-Type: ${n.type}\r\nContent-Transfer-Encoding: ${n.cte}\r\n\r\n${n.body}`;
    const head = `${headers}Content-Type: multipart/${n.subtype}; boundary="${n.boundary}"${n.params}\r\n\r\npreamble\r\n`;
    return head + n.children.map((c) => `--${n.boundary}\r\n${render(c)}\r\n`).join('') + `--${n.boundary}--\r\nepilogue\r\n`;
  }

  it('random trees (nesting, boundaries, parameters): a verdict (never valid) or a MailPkiError', async () => {
    await fc.assert(
      fc.asyncProperty(tree, fc.boolean(), async (t, lf) => {
        const text = render(t, 'From: Payments <payments@example.com>\r\nMIME-Version: 1.0\r\n');
        const out = await run(lf ? text.replace(/\r\n/g, '\n') : text);
        if (!(out instanceof MailPkiError)) expect(out.valid).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('the real signed message placed anywhere in a random tree is never valid (never the entire message)', async () => {
    const signedEntity = good.slice(good.indexOf('Content-Type: multipart/signed'));
    const withSigned = fc.letrec<{ t: Node }>((tie) => ({
      t: fc.record({
        kind: fc.constant('multi' as const),
        subtype: fc.constantFrom('mixed', 'alternative', 'related'),
        boundary: fc.constantFrom('x1', 'x2', 'x3'),
        params: fc.constant(''),
        children: fc.array(fc.oneof(leaf, tie('t')), { maxLength: 3 }),
      }),
    })).t;
    await fc.assert(
      fc.asyncProperty(withSigned, fc.nat(), async (t, where) => {
        // Put the signed entity in as one more leaf of the outermost multipart.
        const parts = (t as Extract<Node, { kind: 'multi' }>).children.map((c) => render(c));
        parts.splice(where % (parts.length + 1), 0, signedEntity.replace(/\r\n$/, ''));
        const b = 'outer-wrap';
        const text =
          `From: Payments <payments@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="${b}"\r\n\r\n` +
          parts.map((p) => `--${b}\r\n${p}\r\n`).join('') +
          `--${b}--\r\n`;
        const out = await run(text);
        if (out instanceof MailPkiError) return;
        expect(out.valid).toBe(false);
        expect(out.signedScope).not.toBe('entire');
      }),
      { numRuns: 150 },
    );
  });

  function nested(depth: number): string {
    let s = 'Content-Type: text/plain\r\n\r\ninnermost';
    for (let i = depth - 1; i >= 0; i--) s = `Content-Type: multipart/mixed; boundary="n${i}"\r\n\r\n--n${i}\r\n${s}\r\n--n${i}--`;
    return `From: payments@example.com\r\n${s}\r\n`;
  }

  it('nesting up to the limit gives a verdict; beyond it ERR_NESTING_TOO_DEEP', async () => {
    const atLimit = await run(nested(32));
    expect(atLimit).not.toBeInstanceOf(MailPkiError);
    expect((atLimit as Verdict).problems.map((p) => p.code)).toEqual(['SMIME_NOT_SIGNED']);
    for (const depth of [33, 500, 5000]) {
      const out = await run(nested(depth));
      expect(out).toBeInstanceOf(MailPkiError);
      expect((out as MailPkiError).code).toBe('ERR_NESTING_TOO_DEEP');
    }
  });

  it('a lower maxDepth from the caller is honoured', async () => {
    const out = await run(nested(5), { mimeLimits: { maxDepth: 4 } });
    expect((out as MailPkiError).code).toBe('ERR_NESTING_TOO_DEEP');
  });

  it('more parts than maxParts → ERR_INPUT_TOO_LARGE', async () => {
    const parts = Array.from({ length: 1001 }, () => '--p\r\nContent-Type: text/plain\r\n\r\nx\r\n').join('');
    const out = await run(`From: payments@example.com\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n${parts}--p--\r\n`);
    expect((out as MailPkiError).code).toBe('ERR_INPUT_TOO_LARGE');
  });

  it('huge headers: a 1 MiB header line and 1001 fields → ERR_INPUT_TOO_LARGE', async () => {
    const long = await run(`From: payments@example.com\r\nSubject: ${'A'.repeat(1 << 20)}\r\n\r\nbody\r\n`);
    expect((long as MailPkiError).code).toBe('ERR_INPUT_TOO_LARGE');
    const many = await run(`${'X-Filler: 1\r\n'.repeat(1001)}From: payments@example.com\r\n\r\nbody\r\n`);
    expect((many as MailPkiError).code).toBe('ERR_INPUT_TOO_LARGE');
    // Folded to just under the limit per line: accepted, and still quick.
    const folded = await run(good.replace('Subject: ', `Subject: ${'B'.repeat(30_000)}\r\n `));
    expect((folded as Verdict).valid).toBe(true);
  });

  it('a message larger than maxMessageBytes → ERR_INPUT_TOO_LARGE', async () => {
    const out = await run(good, { mimeLimits: { maxMessageBytes: 1000 } });
    expect((out as MailPkiError).code).toBe('ERR_INPUT_TOO_LARGE');
  });

  it('an 8 MiB signed body of many short lines verifies within the budget (linear time)', async () => {
    const big = await sign(plainMessage({ body: 'x\r\n'.repeat(8 << 18) }), f.payments);
    const out = await run(big);
    expect((out as Verdict).valid).toBe(true);
  });

  it('thousands of boundary-like lines that close nothing stay linear', async () => {
    const noise = Array.from({ length: 50_000 }, (_, i) => `--b${i}`).join('\r\n');
    const out = await run(`From: payments@example.com\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n\r\n${noise}\r\n--z--\r\n`);
    expect((out as Verdict).problems.map((p) => p.code)).toEqual(['SMIME_NOT_SIGNED']);
  });
});

describe('signature layers beyond the limit', () => {
  it(`${MAX_SIGNATURE_LAYERS} layers verify; one more → SMIME_NESTING_TOO_DEEP`, async () => {
    let m = good;
    for (let i = 1; i < MAX_SIGNATURE_LAYERS; i++) m = await sign(m, f.payments);
    const atLimit = await run(m);
    expect((atLimit as Verdict).valid).toBe(true);
    expect((atLimit as Verdict).signers).toHaveLength(MAX_SIGNATURE_LAYERS);
    const over = await run(await sign(m, f.payments));
    expect((over as Verdict).valid).toBe(false);
    expect((over as Verdict).problems.map((p) => p.code)).toEqual(['SMIME_NESTING_TOO_DEEP']);
  });

  it('opaque layers too', async () => {
    let m = plainMessage();
    for (let i = 0; i <= MAX_SIGNATURE_LAYERS; i++) m = await sign(m, f.payments, { opaque: true });
    const over = await run(m);
    expect((over as Verdict).problems.map((p) => p.code)).toEqual(['SMIME_NESTING_TOO_DEEP']);
  });
});

describe('mutations of a valid signed message', () => {
  it('the unmodified message is valid (control)', async () => {
    expect(((await run(goodBytes)) as Verdict).valid).toBe(true);
  });

  async function checkMutation(mutated: Uint8Array): Promise<void> {
    const out = await run(mutated);
    if (out instanceof MailPkiError || !out.valid) return;
    expect(out.from?.address).toBe('payments@example.com');
    // Valid after a change: only if the change is outside what the signature and From cover
    // (outer To/Subject, the part headers of the signature part, preamble/epilogue...).
    expectUnchangedWhereItMatters(mutated);
  }

  it('bit flips', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 3 }), async (flips) => {
        const m = goodBytes.slice();
        for (const [pos, bit] of flips) m[pos % m.length]! ^= 1 << bit;
        await checkMutation(m);
      }),
      { numRuns: 400 },
    );
  });

  it('truncation', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), async (n) => {
        // Cutting only the final CRLF after the close delimiter changes nothing that is read.
        const cut = n % (goodBytes.length - 2);
        const out = await run(goodBytes.subarray(0, cut));
        if (!(out instanceof MailPkiError)) expect(out.valid).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  const lines = () => good.split('\r\n');

  it('duplicated, deleted and swapped lines', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('dup', 'del', 'swap'), fc.nat(), fc.nat(), async (op, a, b) => {
        const ls = lines();
        const i = a % ls.length;
        const j = b % ls.length;
        if (op === 'dup') ls.splice(i, 0, ls[i]!);
        else if (op === 'del') ls.splice(i, 1);
        else [ls[i], ls[j]] = [ls[j]!, ls[i]!];
        await checkMutation(latin1Bytes(ls.join('\r\n')));
      }),
      { numRuns: 300 },
    );
  });

  it('a duplicated From line is never valid', async () => {
    const out = (await run(good.replace(/^(From: .*\r\n)/m, '$1$1'))) as Verdict;
    expect(out.problems.map((p) => p.code)).toEqual(['SMIME_FROM_MULTIPLE_FIELDS']);
  });
});
