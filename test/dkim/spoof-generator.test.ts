/**
 * Spoof generator (issue 11, DKIM half): from DKIM-signed messages, generate variants that change
 * what a reader sees — From forms (Composition Kills), several From fields, display names, encoded
 * words, Sender/Reply-To, l= tails, header re-ordering, added headers outside h=, a second instance
 * of a signed at-most-once field (Subject, To, Date, ...) on top, a header line that is no field (the body to a
 * reader) — and check that
 * the result is an aligned pass only when the From a client shows is exactly the signed, single,
 * well-formed From whose domain aligns with d=.
 *
 * The oracle below is written from the generator's own knowledge (which form it chose, what it
 * changed), not from mailpki's readers. Fixed seed in CI, random locally (test/setup.ts).
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { dmarcCandidate, signDkimMessage, staticResolver, verifyDkim, type Canonicalization, type DkimKey } from '../../src/dkim/index.js';
import { testKey, testMessage } from './fixtures.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const clock = (): Date => NOW;
const GOOD = 'example.com';
const EVIL = 'evil.example';

let ed: DkimKey;
let resolver: ReturnType<typeof staticResolver>;
beforeAll(async () => {
  ed = await testKey('ed25519');
  resolver = staticResolver({ [`ed._domainkey.${GOOD}`]: ed.record.value, [`ed._domainkey.${EVIL}`]: ed.record.value });
});

/** A From value and the domain a reader would align with, when it is a single well-formed mailbox. */
interface FromForm {
  value: string;
  /** The one author's domain; undefined for a form readers may show differently. */
  domain: string | undefined;
}

const cleanForms = (d: string): FromForm[] =>
  [
    `payments@${d}`,
    `<payments@${d}>`,
    `Payments <payments@${d}>`,
    `"Payments, Accounts" <payments@${d}>`,
    `=?utf-8?q?Zahlungsstelle_M=C3=BCnchen?= <payments@${d}>`,
    `payments@${d} (Payments)`,
    `"Joe Q. Public" <joe.public@mail.${d}>`,
  ].map((value) => ({ value, domain: d }));

// Composition Kills (Chen et al., USENIX Security 2020) and friends: what one reader shows is
// not what another aligns with.
const HOSTILE: FromForm[] = [
  `<payments@${GOOD}>, <a@${EVIL}>`,
  `<a@${EVIL}>payments@${GOOD}`,
  `"<a@${EVIL}>" payments@${GOOD}`,
  `payments@${GOOD}\\, <a@${EVIL}>`,
  `payments@${GOOD} <a@${EVIL}>`,
  `"payments@${GOOD}" <a@${EVIL}>`,
  `(payments@${GOOD}) <a@${EVIL}>`,
  `=?utf-8?q?payments=40${GOOD}?= <a@${EVIL}>`,
  `=?utf-8?q?payments=40${GOOD}?=@${EVIL}`,
  `=?utf-8?b?${btoa(`payments@${GOOD}`)}?=`,
  `"payments@${GOOD}"@${EVIL}`,
  `<@${GOOD}:a@${EVIL}>`,
  `Payments: a@${EVIL};`,
  `payments@${GOOD}\0<a@${EVIL}>`,
  `payments@${GOOD}\r<a@${EVIL}>`,
  `"\u202e${[...`moc.${EVIL}`].join('')}" <a@${EVIL}>`,
  `payments@${GOOD}\r\nFrom: a@${EVIL}`, // two From fields at signing time
  `a@${EVIL}\r\nFrom: payments@${GOOD}`,
  `Payments Department`,
  ``,
].map((value) => ({ value, domain: undefined }));

const anyForm = fc.constantFrom(...cleanForms(GOOD), ...cleanForms(EVIL), ...HOSTILE);

// Fields testMessage carries that signDkim's default list signs (so h= lists them), fields that list
// signs though absent (only over-signed ones are in h=), and fields outside the list.
const SIGNED_PRESENT = ['Subject', 'To', 'Date', 'Message-ID', 'Content-Type'] as const;
const SIGNED_ABSENT = ['Sender', 'Reply-To'] as const;
const UNLISTED = ['X-Mailer', 'Received', 'Comments', 'Keywords'] as const;
type AddedName = (typeof SIGNED_PRESENT)[number] | (typeof SIGNED_ABSENT)[number] | (typeof UNLISTED)[number];
// RFC 5322 §3.6: at most once. A second one on top of a signature listing the name once is what a
// client may show instead of the signed one (RFC 6376 §8.15).
const AT_MOST_ONCE = new Set(['date', 'from', 'sender', 'reply-to', 'to', 'cc', 'bcc', 'message-id', 'in-reply-to', 'references', 'subject', 'content-type']);

type Mutation =
  | { kind: 'addFrom'; top: boolean; spaced: boolean; form: FromForm }
  | { kind: 'replaceFrom'; form: FromForm }
  | { kind: 'refoldFrom' }
  | { kind: 'wspFrom' }
  | { kind: 'caseFrom' }
  | { kind: 'spaceBeforeColon' }
  | { kind: 'addHeader'; name: AddedName; top: boolean; value: string }
  | { kind: 'move'; from: number; to: number }
  | { kind: 'appendBody'; text: string }
  | { kind: 'strayLine'; at: number; text: string }
  | { kind: 'bareLf' };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('addFrom' as const), top: fc.boolean(), spaced: fc.boolean(), form: anyForm }),
  fc.record({ kind: fc.constant('replaceFrom' as const), form: anyForm }),
  fc.constant({ kind: 'refoldFrom' as const }),
  fc.constant({ kind: 'wspFrom' as const }),
  fc.constant({ kind: 'caseFrom' as const }),
  fc.constant({ kind: 'spaceBeforeColon' as const }),
  fc.record({
    kind: fc.constant('addHeader' as const),
    name: fc.constantFrom<AddedName>(...SIGNED_PRESENT, ...SIGNED_ABSENT, ...UNLISTED),
    top: fc.boolean(),
    value: fc.constantFrom(`ceo@${EVIL}`, `"payments@${GOOD}" <a@${EVIL}>`, 'by mx.example.net; Sun, 1 Mar 2026 12:00:00 +0000', 'Urgent: new bank details', 'text/html'),
  }),
  fc.record({ kind: fc.constant('move' as const), from: fc.nat(20), to: fc.nat(20) }),
  fc.constant({ kind: 'bareLf' as const }),
  // A header line that is no field: an MTA (Postfix's cleanup) ends the header before it, and a client shows it and
  // all after it as the body, which the signature does not cover.
  fc.record({
    kind: fc.constant('strayLine' as const),
    at: fc.nat(20),
    text: fc.constantFrom('Pay the new account DE99 3704 0044 0532 0130 00 instead.', 'X Bad: a name with a space', 'Subj\u00e9ct: an 8-bit name', ' a first line that starts with a space', 'NoColonHere'),
  }),
  fc.record({ kind: fc.constant('appendBody' as const), text: fc.constantFrom('UPDATE: pay 99,000.00 EUR to GB29 EVIL 6016 1331 9268 19 instead.', 'P.S. ignore the above') }),
);

const scenario = fc.record({
  form: anyForm,
  signer: fc.constantFrom(GOOD, EVIL),
  canonicalization: fc.constantFrom<Canonicalization>('relaxed/relaxed', 'simple/simple', 'relaxed/simple'),
  overSign: fc.boolean(),
  bodyLength: fc.boolean(),
  mutations: fc.array(mutation, { maxLength: 3 }),
});

/** Header fields (continuation lines kept with their field) and the body. */
function split(message: string): { fields: string[]; body: string } {
  const end = message.indexOf('\r\n\r\n');
  const fields: string[] = [];
  for (const line of message.slice(0, end).split('\r\n'))
    if (/^[ \t]/.test(line) && fields.length) fields[fields.length - 1] += `\r\n${line}`;
    else fields.push(line);
  return { fields, body: message.slice(end + 4) };
}

const isFrom = (f: string): boolean => /^from[ \t]*:/i.test(f);
/** What a reader shows of a From value: unfolded, white-space runs as one space, trimmed. */
const shown = (f: string): string => f.slice(f.indexOf(':') + 1).replace(/\r\n(?=[ \t])/g, '').replace(/[ \t]+/g, ' ').trim();
const nameOf = (f: string): string => f.slice(0, f.indexOf(':')).trim().toLowerCase();
const aligns = (a: string, b: string): boolean => a === b || a.endsWith(`.${b}`) || b.endsWith(`.${a}`);

interface Outcome {
  message: string;
  /** The oracle: the only case where an aligned pass is allowed. */
  alignedPassAllowed: boolean;
  /** The signature must still verify and align: nothing a reader sees changed. */
  alignedPassExpected: boolean;
}

type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

function mutate(signed: string, s: Scenario): Outcome {
  let { fields, body } = split(signed);
  const signedFrom = fields.filter(isFrom);
  const headerRelaxed = s.canonicalization.startsWith('relaxed/');
  let benign = true;
  let tail = false;
  let unsignedTwin = false;
  let lf = false;
  const fromIndex = (): number => fields.findIndex(isFrom);
  for (const m of s.mutations) {
    const i = fromIndex();
    switch (m.kind) {
      case 'addFrom': {
        const f = `From${m.spaced ? ' ' : ''}: ${m.form.value}`;
        if (m.top) fields.unshift(f);
        else fields.push(f);
        benign = false;
        break;
      }
      case 'replaceFrom':
        if (i >= 0) fields[i] = `From: ${m.form.value}`;
        benign = false;
        break;
      case 'refoldFrom':
        // Folding at a space: the same text for every reader, and for relaxed header canonicalisation.
        if (i >= 0) fields[i] = fields[i]!.replace(/(\S) (?=\S)/, '$1\r\n ');
        benign &&= headerRelaxed;
        break;
      case 'wspFrom':
        if (i >= 0) fields[i] = fields[i]!.replace(/: ?/, ':  \t');
        benign &&= headerRelaxed;
        break;
      case 'caseFrom':
        if (i >= 0) fields[i] = fields[i]!.replace(/^from/i, 'FROM');
        benign &&= headerRelaxed;
        break;
      case 'spaceBeforeColon':
        if (i >= 0) fields[i] = fields[i]!.replace(/^(from)[ \t]*:/i, '$1 :');
        benign = false;
        break;
      case 'addHeader': {
        const f = `${m.name}: ${m.value}`;
        if (m.top) fields.unshift(f);
        else fields.push(f);
        // Outside h= (never listed, or not over-signed and absent): the signature still holds.
        const present = (SIGNED_PRESENT as readonly string[]).includes(m.name);
        const absent = (SIGNED_ABSENT as readonly string[]).includes(m.name);
        benign &&= !present && (!absent || !s.overSign);
        // A second instance of a signed at-most-once field: if the signature still holds (not
        // over-signed, added on top), a client may show the added one.
        if (present && AT_MOST_ONCE.has(m.name.toLowerCase())) unsignedTwin = true;
        break;
      }
      case 'move': {
        const from = m.from % fields.length;
        const to = m.to % fields.length;
        const before = fields.slice();
        const [f] = fields.splice(from, 1);
        fields.splice(to, 0, f!);
        // h= takes same-named fields bottom-up: only the order among fields of one name matters.
        const sameName = (list: string[]): string => list.filter((x) => nameOf(x) === nameOf(f!)).join('\n');
        benign &&= sameName(before) === sameName(fields);
        break;
      }
      case 'appendBody':
        body = `${body}${m.text}\r\n`;
        tail = true;
        benign = false;
        break;
      case 'strayLine':
        // Under a field, a line starting with a space would continue it: such a line is stray only at the top.
        fields.splice(m.text.startsWith(' ') ? 0 : m.at % (fields.length + 1), 0, m.text);
        tail = true;
        benign = false;
        break;
      case 'bareLf':
        // The message as a Unix mailbox holds it: DKIM verifies it as CRLF, clients show the same.
        lf = true;
        break;
    }
  }
  const froms = fields.filter(isFrom);
  const single = froms.length === 1 && signedFrom.length === 1 && /^from:/i.test(froms[0]!);
  const same = single && shown(froms[0]!) === shown(signedFrom[0]!);
  const alignedAuthor = s.form.domain !== undefined && aligns(s.form.domain, s.signer);
  const alignedPassAllowed = same && alignedAuthor && !tail && !unsignedTwin;
  const message = `${fields.join('\r\n')}\r\n\r\n${body}`;
  return { message: lf ? message.replace(/\r\n/g, '\n') : message, alignedPassAllowed, alignedPassExpected: alignedPassAllowed && benign };
}

describe('spoof generator (DKIM)', () => {
  it('an aligned pass only when the From a client shows is the signed, single, well-formed From aligned with d=', async () => {
    let expectedPasses = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const message = testMessage().replace('From: Joe SixPack <joe@example.com>', `From: ${s.form.value}`);
        const signed = await signDkimMessage(message, [
          { domain: s.signer, selector: 'ed', privateKey: ed.privateKey, clock, canonicalization: s.canonicalization, overSign: s.overSign, bodyLength: s.bodyLength },
        ]);
        const o = mutate(signed, s);
        const v = await verifyDkim(o.message, { resolver, clock });
        const alignedPass = v.results.some((r) => r.result === 'pass' && r.aligned) || dmarcCandidate(v, v.fromDomain ?? '') !== undefined;
        if (alignedPass && !o.alignedPassAllowed)
          throw new Error(`aligned pass for a variant a reader may show otherwise:\n${JSON.stringify(o.message.slice(0, o.message.indexOf('\r\n\r\n')))}\n${JSON.stringify(v.results)}`);
        if (o.alignedPassExpected) {
          expectedPasses++;
          if (!alignedPass) throw new Error(`no aligned pass for an unchanged, well-formed, aligned From:\n${JSON.stringify(o.message)}\n${JSON.stringify(v.results)}`);
        }
      }),
      { numRuns: Number(process.env.MAILPKI_SPOOF_RUNS ?? 300) },
    );
    // The generator reaches both sides of the property.
    expect(expectedPasses).toBeGreaterThan(5);
  });

  // From values assembled at random from the pieces spoofs are made of, signed by evil.example. What
  // a client may show is judged without mailpki's parser: every address-like text in the unfolded,
  // decoded value must be in evil.example's own domain for an aligned pass.
  const PIECES = [`payments@${GOOD}`, `a@${EVIL}`, '<', '>', '"', ',', ' ', '(', ')', '\\', ':', ';', '@', '.', 'Payments', `=?utf-8?q?payments=40${GOOD}?=`, '=?utf-8?q?Pay?=', '\0', '\r', '\t', '\r\n ', '\u202e', '\uff20'];
  const decodeWords = (v: string): string =>
    v.replace(/=\?utf-8\?q\?([^?]*)\?=/gi, (_, q: string) => q.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16))));
  const addressesShown = (v: string): string[] => decodeWords(v.replace(/\r\n(?=[ \t])/g, '')).replace(/\uff20/g, '@').match(/[^\s<>"(),;:\\[\]@]+@[^\s<>"(),;:\\[\]@.]+(?:\.[^\s<>"(),;:\\[\]@.]+)+/g) ?? [];

  // Soup, and a display name of pieces before the attacker's own address (which may pass).
  const fromValue = fc.oneof(
    fc.array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 8 }).map((p) => p.join('')),
    fc.array(fc.constantFrom('Payments', ' ', 'Dept', '"', '.', `payments@${GOOD}`, '=?utf-8?q?Pay?=', '=?utf-8?q?payments=40example.com?=', '(', ')', ',', '\0', '\u202e', '\uff20', '@'), { maxLength: 4 })
      .map((p) => `${p.join('')} <a@${EVIL}>`),
  );

  it('random From values: an aligned pass only when every address a client can see is in a domain aligned with d=', async () => {
    let passes = 0;
    await fc.assert(
      fc.asyncProperty(fromValue, async (value) => {
        const message = testMessage().replace('From: Joe SixPack <joe@example.com>', `From: ${value}`);
        const signed = await signDkimMessage(message, [{ domain: EVIL, selector: 'ed', privateKey: ed.privateKey, clock }]);
        const v = await verifyDkim(signed, { resolver, clock });
        const alignedPass = v.results.some((r) => r.result === 'pass' && r.aligned);
        if (!alignedPass) return;
        passes++;
        const shownAddresses = addressesShown(value);
        const clean = !/[\u0000-\u0008\u000a-\u001f\u007f\u202e]/.test(value.replace(/\r\n(?=[ \t])/g, ''));
        if (!clean || shownAddresses.length === 0 || shownAddresses.some((a) => !aligns(a.slice(a.lastIndexOf('@') + 1).toLowerCase(), EVIL)))
          throw new Error(`aligned pass for From: ${JSON.stringify(value)} (a client may show ${JSON.stringify(shownAddresses)})`);
      }),
      { numRuns: Number(process.env.MAILPKI_SPOOF_RUNS ?? 300) },
    );
    expect(passes).toBeGreaterThan(5);
  });
});
