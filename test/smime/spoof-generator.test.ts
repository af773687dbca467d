/**
 * Spoof generator (issue 11): from valid signed messages (detached and opaque), generate variants that
 * change what a reader sees — outer and wrapped From / Sender / Reply-To / Subject / To, display names,
 * encoded words, several From fields, message/rfc822 wrappers (nested, `forwarded=no`), triple wraps
 * (multipart/signed → message/rfc822 → a signed message, with wrappers inside its signature too), signed
 * header fields on the content, a second signature around it, a signer certificate whose subject
 * emailAddress differs from its SAN mailbox, partial signing (the signed message
 * inside an unsigned multipart/mixed), header order — and check the verdict against a model of what
 * a client following RFC 8551 §3.1 shows (the innermost wrapped message's header, else the outer
 * one) and what a client that does not follow it shows (the outer header):
 *
 * - valid only when every From a client may show as the author is one unambiguous mailbox, the same
 *   everywhere, whose display name holds no other address, and that mailbox is a signer's whose
 *   signature covers it; no Sender names another mailbox; the whole message is signed;
 * - when valid, the warnings are exactly those the model predicts (a look-alike display name, a
 *   Reply-To outside the From domain, an unsigned outer Subject/To/Reply-To differing from a signed one);
 * - the model's valid variants are really valid (the generator is not vacuous).
 *
 * The UTF-8 paths (RFC 6532) do the same with raw UTF-8 header fields and certificates bound by an
 * rfc822Name in A-labels or an SmtpUTF8Mailbox; the model knows by hand which spellings are one
 * mailbox (U-label and A-label, any case, a domain in NFD) and which only look like it (a Cyrillic
 * or full-width letter, a final sigma, a local part in NFD or another case), and which domain is written
 * wholly in Cyrillic letters that look Latin, or mixes them with Latin ones (pay@раураӏ.example, pay@аpple.example:
 * bound, and always SMIME_FROM_DOMAIN_LOOKALIKE).
 *
 * Fixed seed in CI (test/setup.ts; MAILPKI_FC_SEED with CI set picks another), random locally; fast-check
 * prints the seed and path of a failure. SPOOF_RUNS=<n> runs each property n times and prints the tallies.
 */
import fc from 'fast-check';
import { beforeAll, expect, it } from 'vitest';
import { encryptData, signData, type ContentEncryptionAlgorithm } from '../../src/cms/index.js';
import { fromLatin1, toBase64 } from '../../src/internal/bytes.js';
import { getHeaders, normalizeAddress, parseMessage } from '../../src/mime/index.js';
import { MAX_HP_OUTER_FIELDS, signMessage, verifyMessage, type SmimeWarningCode } from '../../src/smime/index.js';
import { encodeBase64Lines } from '../../src/mime/index.js';
import { ENTITY, NOW, entityOf, makeSmimeFixture, multipartSigned, opaqueSigned, rfc822Name, selfSignedSigner, sign, smtpUtf8Mailbox, utf8, verifyOptions, type FixtureSigner, type SmimeFixture } from './fixtures.js';

let f: SmimeFixture;
beforeAll(async () => {
  f = await makeSmimeFixture();
});

/**
 * `sanSubject`: SAN payments@example.com, subject emailAddress ceo@example.com, which binds nothing.
 * The UTF-8 paths' signers (self-signed, each its own trust anchor): `idnA` rfc822Name
 * pay@xn--bcher-kva.example (A-label), `idnU` SmtpUTF8Mailbox pay@bücher.example (U-label) — one
 * mailbox —, `zoe` SmtpUTF8Mailbox zoë@bücher.example (NFC local part), `sigma` SmtpUTF8Mailbox pay@ασ.example,
 * `mixed` rfc822Name pay@xn--pple-43d.example (pay@аpple.example: a Cyrillic "а" before Latin letters, one label in
 * two scripts — a client that shows U-labels shows what reads as pay@apple.example: SMIME_FROM_DOMAIN_LOOKALIKE), `whole` rfc822Name pay@xn--80aa0cbo65f.example (pay@раураӏ.example:
 * one label wholly in Cyrillic letters that look Latin — a client that shows U-labels shows what reads as
 * pay@paypal.example: SMIME_FROM_DOMAIN_LOOKALIKE).
 */
type SignerName = 'payments' | 'attacker' | 'sanSubject' | Utf8SignerName;
type Utf8SignerName = 'idnA' | 'idnU' | 'zoe' | 'sigma' | 'mixed' | 'whole';
/** The mailbox each signer binds, as the model names it (for the UTF-8 ones: the NFC, lower-case U-label spelling). */
const MAILBOX: Record<SignerName, string> = {
  payments: 'payments@example.com',
  attacker: 'attacker@evil.test',
  sanSubject: 'payments@example.com',
  idnA: 'pay@bücher.example',
  idnU: 'pay@bücher.example',
  zoe: 'zo\u00EB@bücher.example',
  sigma: 'pay@\u03B1\u03C3.example',
  mixed: 'pay@\u0430pple.example',
  whole: 'pay@\u0440\u0430\u0443\u0440\u0430\u04CF.example',
};
let utf8Signers: Record<Utf8SignerName, FixtureSigner>;
const signerOf = (n: SignerName): FixtureSigner =>
  n === 'payments' ? f.payments : n === 'attacker' ? f.attacker : n === 'sanSubject' ? f.sanAndSubjectEmail : utf8Signers[n];

// ---------------------------------------------------------------------------------------------
// What goes in a From field, and what the model knows about it.

interface FromChoice {
  /** The From field values (none, one, or two fields). */
  values: string[];
  /** The one mailbox a client shows when the field is unambiguous and its name holds no other address. */
  mailbox?: string;
  /** The display name spells another address without "@" (a warning, not a problem). */
  lookalike: boolean;
  /** The display name as shown (decoded; a comment of the old `a@b (Name)` form counts as the name). */
  name: string;
  label: string;
}

const b64 = (s: string) => `=?utf-8?b?${toBase64(utf8(s))}?=`;
const upperDomain = (m: string) => m.replace(/@(.*)$/, (_, d: string) => `@${d.toUpperCase()}`);

/** From forms for mailbox `m`: clean ones (bindable) and spoofs (never valid). */
function fromChoices(m: string): fc.Arbitrary<FromChoice> {
  const clean = (label: string, value: string, name: string, lookalike = false): FromChoice => ({ values: [value], mailbox: normalizeAddress(m), lookalike, label, name });
  const spoof = (label: string, values: string[]): FromChoice => ({ values, lookalike: false, label, name: '?' });
  return fc.oneof(
    {
      weight: 12,
      arbitrary: fc.constantFrom(clean('bare', m, ''), clean('named', `Payments <${m}>`, 'Payments'), clean('quoted, domain upper-cased', `"Team Payments" <${upperDomain(m)}>`, 'Team Payments')),
    },
    { weight: 3, arbitrary: fc.constantFrom(clean('encoded name', `=?utf-8?q?Payments_Team?= <${m}>`, 'Payments Team'), clean('comment name', `${m} (Payments Team)`, 'Payments Team')) },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        clean('name "boss at example.org"', `"boss at example.org" <${m}>`, 'boss at example.org', true),
        clean('name "boss (at) example (dot) org"', `"boss (at) example (dot) org" <${m}>`, 'boss (at) example (dot) org', true),
        clean('encoded name "boss at example.org"', `${b64('boss at example.org')} <${m}>`, 'boss at example.org', true),
        clean('name "bossⓐexample.org"', `${b64('boss\u24D0example.org')} <${m}>`, 'boss\u24D0example.org', true),
        clean('name "boss at example。org"', `${b64('boss at example\u3002org')} <${m}>`, 'boss at example\u3002org', true),
      ),
    },
    {
      weight: 4,
      arbitrary: fc.constantFrom(
        spoof('address in the name', [`"boss@example.org" <${m}>`]),
        spoof('encoded address in the name', [`${b64('Boss <boss@example.org>')} <${m}>`]),
        spoof('full-width address in the name', [`${b64('boss\uFF20example.org')} <${m}>`]),
        spoof('address in a comment', [`${m} (boss@example.org)`]),
        // Charsets a verifier cannot decode (or must not: UTF-7 spells "@" as +AEA-), which a client may show as an address.
        spoof('address in an x-user-defined encoded word', [`=?x-user-defined?q?boss=40example.org?= <${m}>`]),
        spoof('address in a UTF-7 encoded word', [`=?utf-7?q?boss+AEA-example.org?= <${m}>`]),
        spoof('two mailboxes', [`${m}, boss@example.org`]),
        spoof('two mailboxes, the other first', [`boss@example.org, ${m}`]),
        spoof('group', [`Team: ${m};`]),
        spoof('name only', ['Payments Team']),
        spoof('two From fields', [m, 'boss@example.org']),
        spoof('two From fields, the other first', ['boss@example.org', m]),
        spoof('no From field', []),
        spoof('empty From field', ['']),
      ),
    },
  );
}

/** Mailboxes a From may name: the signers' (often), a case variant of the local part (never bound), others. */
const mailboxes = fc.oneof(
  { weight: 8, arbitrary: fc.constant(MAILBOX.payments) },
  { weight: 2, arbitrary: fc.constant(MAILBOX.attacker) },
  { weight: 1, arbitrary: fc.constantFrom('Payments@example.com', 'ceo@example.com', 'payments@example.com.evil.test') },
);

// ---------------------------------------------------------------------------------------------
// Header sections: the outer header, each wrapped message's, and header fields on the signed content.

interface Written {
  raw: string;
  shown: string;
}
const written = (raw: string, shown = raw): Written => ({ raw, shown });

interface HeaderSet {
  from: FromChoice;
  sender?: 'same' | 'other';
  replyTo?: string;
  /** As written, and as a reader sees it (encoded words decoded, angle brackets alone dropped). */
  subject: Written;
  to: Written;
  /** Header order: rotate by `rotate`, then reverse or not. */
  rotate: number;
  reverse: boolean;
}

const headerSet: fc.Arbitrary<HeaderSet> = fc.record(
  {
    from: mailboxes.chain(fromChoices),
    sender: fc.option(fc.constantFrom<'same' | 'other'>('same', 'same', 'other'), { nil: undefined, freq: 3 }),
    replyTo: fc.option(fc.constantFrom('payments@example.com', 'ap@billing.example.com', 'payments@example.com.evil.test', 'ap@evil.test'), { nil: undefined, freq: 2 }),
    subject: fc.constantFrom(
      written('Payment run 2026-03'),
      written('=?utf-8?q?Payment_run_2026-03?=', 'Payment run 2026-03'),
      written('Payment  run\r\n 2026-03', 'Payment run 2026-03'),
      written('URGENT: new bank details'),
    ),
    to: fc.constantFrom(written('approvers@example.com'), written('<approvers@example.com>', 'approvers@example.com'), written('everyone@example.com')),
    rotate: fc.nat(6),
    reverse: fc.boolean(),
  },
  { requiredKeys: ['from', 'subject', 'to', 'rotate', 'reverse'] },
);

function headerLines(h: HeaderSet): string[] {
  const lines = [
    ...h.from.values.map((v) => `From: ${v}`),
    ...(h.sender ? [`Sender: ${h.sender === 'same' ? (h.from.mailbox ?? MAILBOX.payments) : 'boss@example.org'}`] : []),
    ...(h.replyTo ? [`Reply-To: ${h.replyTo}`] : []),
    `To: ${h.to.raw}`,
    `Subject: ${h.subject.raw}`,
    'Date: Sun, 15 Mar 2026 12:00:00 +0000',
  ];
  const r = h.rotate % lines.length;
  const rotated = [...lines.slice(r), ...lines.slice(0, r)];
  return h.reverse ? rotated.reverse() : rotated;
}

interface Scenario {
  signer: SignerName;
  carrier: 'detached' | 'opaque';
  outer: HeaderSet;
  /** message/rfc822 wrappers around the content, outermost first; each holds a whole header set. */
  wrappers: { set: HeaderSet; forwardedNo: boolean }[];
  /** Header fields on the signed content itself (OpenSSL-style whole message, RFC 9788 injected headers). */
  injected?: HeaderSet;
  /** Signed again around the whole message, by this signer. */
  resign?: SignerName;
  /** The signed message sits in an unsigned multipart/mixed after attacker text. */
  partial: boolean;
  /** RFC 9788 marking of the signed content (with `injected` only): its hp parameter and HP-Outer record. */
  hp?: HpChoice;
  /**
   * Triple wrap (with wrappers only): the innermost wrapped message is itself a signed message, by
   * this signer, around the content — multipart/signed → message/rfc822 → multipart/signed (a
   * signed message forwarded inside another signature). Its signature covers the content, not the
   * wrapper's header, which only the signatures outside vouch for. `wrappers`: message/rfc822
   * wrappers inside that signature too (then no injected fields), which every signature covers.
   */
  innerSigned?: { signer: SignerName; carrier: 'detached' | 'opaque'; wrappers?: { set: HeaderSet; forwardedNo: boolean }[] };
}

/**
 * hp: 'cipher', 'clear', or repeated ('twice'). record: what the signer wrote as HP-Outer —
 * 'sender' (its outer header, one field each), 'none', 'duplicated' (each field twice), 'no-subject'
 * (its Subject left out), 'malformed' (plus a field naming nothing), 'too-many' (over MAX_HP_OUTER_FIELDS).
 */
interface HpChoice {
  param: 'cipher' | 'clear' | 'twice';
  record: 'sender' | 'none' | 'duplicated' | 'no-subject' | 'malformed' | 'too-many';
}

const hpChoice: fc.Arbitrary<HpChoice> = fc.record({
  param: fc.constantFrom<HpChoice['param']>('cipher', 'cipher', 'cipher', 'clear', 'twice'),
  record: fc.constantFrom<HpChoice['record']>('sender', 'sender', 'sender', 'none', 'duplicated', 'no-subject', 'malformed', 'too-many'),
});

/** A header set that is mostly a copy of the outer one, so that valid variants stay frequent. */
const likeOuter = (outer: HeaderSet) =>
  fc.oneof({ weight: 3, arbitrary: fc.constant(outer) }, { weight: 2, arbitrary: headerSet.map((h) => ({ ...h, from: outer.from })) }, { weight: 1, arbitrary: headerSet });

const scenario: fc.Arbitrary<Scenario> = fc
  .record({
    signer: fc.constantFrom<SignerName>('payments', 'payments', 'payments', 'attacker', 'sanSubject'),
    carrier: fc.constantFrom<'detached' | 'opaque'>('detached', 'opaque'),
    outer: headerSet,
    wrapCount: fc.constantFrom(0, 0, 1, 1, 2),
    injectedWanted: fc.boolean(),
    resign: fc.option(fc.constantFrom<SignerName>('payments', 'attacker'), { nil: undefined, freq: 4 }),
    partialDraw: fc.nat(9),
    hp: fc.option(hpChoice, { nil: undefined, freq: 2 }),
    innerSigned: fc.option(fc.record({ signer: fc.constantFrom<SignerName>('payments', 'payments', 'attacker', 'sanSubject'), carrier: fc.constantFrom<'detached' | 'opaque'>('detached', 'opaque') }), {
      nil: undefined,
      freq: 2,
    }),
  })
  .chain((s) =>
    fc
      .record({
        wrappers: fc.array(fc.record({ set: likeOuter(s.outer), forwardedNo: fc.boolean() }), { minLength: s.wrapCount, maxLength: s.wrapCount }),
        // Header fields on the signed content: without wrappers, or inside the inner signature of a triple wrap.
        injected: (s.wrapCount === 0 || s.innerSigned) && s.injectedWanted ? likeOuter(s.outer) : fc.constant(undefined),
        innerWrappers: fc.array(fc.record({ set: likeOuter(s.outer), forwardedNo: fc.boolean() }), { maxLength: 1 }),
      })
      .map(({ wrappers, injected, innerWrappers }) => {
        const partial = s.partialDraw === 0;
        const out: Scenario = { signer: s.signer, carrier: s.carrier, outer: s.outer, wrappers, partial };
        const triple = s.innerSigned && wrappers.length > 0;
        if (triple) out.innerSigned = { ...s.innerSigned!, ...(innerWrappers.length > 0 && !injected && { wrappers: innerWrappers }) };
        if (injected && (wrappers.length === 0 || triple)) out.injected = injected;
        if (out.injected && s.hp && !triple) out.hp = s.hp;
        // Partial signing is judged on its own; a second signature around it would sign the whole.
        if (s.resign && !partial) out.resign = s.resign;
        return out;
      }),
  );

// ---------------------------------------------------------------------------------------------
// Building the message.

/** The signer's HP-Outer lines for its outer header, as `record` says. */
function hpOuterLines(s: Scenario, record: HpChoice['record']): string[] {
  const sent = headerLines(s.outer).map((l) => `HP-Outer: ${l}`);
  if (record === 'none') return [];
  if (record === 'duplicated') return [...sent, ...sent];
  if (record === 'no-subject') return sent.filter((l) => !l.startsWith('HP-Outer: Subject:'));
  if (record === 'malformed') return [...sent, 'HP-Outer: nothing named here'];
  if (record === 'too-many') return [...sent, ...Array.from({ length: MAX_HP_OUTER_FIELDS }, (_, i) => `HP-Outer: X-Pad-${i}: ${i}`)];
  return sent;
}

/** The signed content: ENTITY, with the injected header fields, hp parameter and HP-Outer record. */
function signedContent(s: Scenario): string {
  if (!s.injected) return ENTITY;
  if (!s.hp) return `${headerLines(s.injected).join('\r\n')}\r\n${ENTITY}`;
  const param = s.hp.param === 'twice' ? 'hp="clear"; hp="cipher"' : `hp="${s.hp.param}"`;
  const marked = ENTITY.replace('Content-Type: text/plain; charset=us-ascii', `Content-Type: text/plain; charset=us-ascii; ${param}`);
  return `${[...headerLines(s.injected), ...hpOuterLines(s, s.hp.record)].join('\r\n')}\r\n${marked}`;
}

/** A signed message (multipart/signed or opaque) of `entity` by `signer`, under the outer header `outer`. */
async function signedMessage(outer: string[], entity: string, signer: FixtureSigner, carrier: 'detached' | 'opaque', boundary?: string): Promise<string> {
  const cms = await signData(utf8(entity), {
    signers: [{ key: signer.key, certificate: signer.certificate, signingTime: NOW }],
    certificates: [signer.certificate.der, ...signer.chain.map((c) => c.der)],
    detached: carrier === 'detached',
  });
  return carrier === 'detached' ? multipartSigned(outer, entity, cms, boundary ? { boundary } : {}) : opaqueSigned(outer, cms);
}

/** `entity` inside message/rfc822 wrappers, the first outermost. */
function wrap(entity: string, wrappers: readonly { set: HeaderSet; forwardedNo: boolean }[]): string {
  let e = entity;
  for (let k = wrappers.length - 1; k >= 0; k--) {
    const w = wrappers[k]!;
    e = `Content-Type: message/rfc822${w.forwardedNo ? '; forwarded=no' : ''}\r\n\r\n${headerLines(w.set).join('\r\n')}\r\n${e}`;
  }
  return e;
}

async function build(s: Scenario): Promise<string> {
  let entity = signedContent(s);
  // Triple wrap: the innermost wrapper holds a signed message (its header is the wrapper's, added below).
  if (s.innerSigned) {
    const inner = wrap(entity, s.innerSigned.wrappers ?? []);
    entity = entityOf(await signedMessage(['X-Dropped: by entityOf'], inner, signerOf(s.innerSigned.signer), s.innerSigned.carrier, 'inner-boundary-3'));
  }
  entity = wrap(entity, s.wrappers);
  const outer = headerLines(s.outer);
  let message = await signedMessage(outer, entity, signerOf(s.signer), s.carrier);
  if (s.partial) {
    const b = 'mixed-boundary-9';
    const text = 'Content-Type: text/plain; charset=us-ascii\r\n\r\nUPDATE: pay 99,000.00 EUR to XX99 ATTACKER instead.\r\n';
    message = `${outer.join('\r\n')}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="${b}"\r\n\r\n--${b}\r\n${text}\r\n--${b}\r\n${entityOf(message)}\r\n--${b}--\r\n`;
  }
  if (s.resign) message = await sign(message, signerOf(s.resign));
  return message;
}

// ---------------------------------------------------------------------------------------------
// The model: what clients show, and what the verdict must be.

interface Expected {
  valid: boolean;
  why: string[];
  warnings: SmimeWarningCode[];
}

/** The domain of a mailbox as the model knows it: for the UTF-8 spellings, written down by hand (FORMS); else lower-cased. */
const domainOf = (a: string) => FORMS.get(a)?.domain ?? normalizeAddress(a).slice(normalizeAddress(a).lastIndexOf('@') + 1);
const sameValue = (a: string | undefined, b: string | undefined) => a === b;

/**
 * When the verifier uses the signer's HP-Outer record (an hp="cipher" payload inside an opened
 * encrypted layer): the header set the signer sent outside, and the record's form.
 */
interface RecordInUse {
  sent: HeaderSet;
  record: 'sender' | 'duplicated' | 'no-subject';
}

/**
 * A From (or Reply-To) value with each address written as its mailbox: the verifier compares an outer field with the
 * HP-Outer record's by mailbox key (RFC 9598 §5: U-label and A-label, the domain's case), so a relay that
 * respells the address changed nothing. The model knows the UTF-8 spellings' mailboxes (FORMS); other
 * addresses keep their local part and get a lower-case domain.
 */
const asMailbox = (a: string) => FORMS.get(a)?.mailbox ?? a.replace(/@([^@]*)$/, (_, d: string) => `@${d.toLowerCase()}`);
const asMailboxes = (v: string) => v.replace(/<([^<>]+)>/g, (_, a: string) => `<${asMailbox(a)}>`).replace(/^[^\s<>",]+$/, asMailbox);

function expected(s: Scenario, inUse?: RecordInUse): Expected {
  const why: string[] = [];
  const warnings = new Set<SmimeWarningCode>();
  if (s.injected && s.hp?.param === 'twice') why.push('the hp parameter is repeated');
  /** Does the record say the sender put this outer value there? (Multiset equality, as the verifier.) */
  const explains = (k: 'subject' | 'to' | 'replyTo' | 'from'): boolean => {
    if (!inUse) return false;
    const value = (h: HeaderSet) => (k === 'from' ? JSON.stringify(h.from.values.map(asMailboxes)) : k === 'replyTo' ? h.replyTo && asMailboxes(h.replyTo) : h[k].shown);
    const [outer, sent] = [value(s.outer), value(inUse.sent)];
    if (inUse.record === 'duplicated') return outer === undefined && sent === undefined;
    if (inUse.record === 'no-subject' && k === 'subject') return false;
    return outer === sent;
  };
  // The signatures around the wrapped messages' header fields; the inner signature of a triple wrap covers only what it holds.
  const outside = new Set([MAILBOX[s.signer], ...(s.resign ? [MAILBOX[s.resign]] : [])]);
  const signers = new Set([...outside, ...(s.innerSigned ? [MAILBOX[s.innerSigned.signer]] : [])]);
  if (s.partial) why.push('only part of the message is signed');
  const outerMailbox = s.outer.from.mailbox;
  const sections: { kind: 'outer' | 'wrapped' | 'injected'; set: HeaderSet; covered: Set<string> }[] = [
    { kind: 'outer', set: s.outer, covered: signers },
    ...s.wrappers.map((w) => ({ kind: 'wrapped' as const, set: w.set, covered: outside })),
    ...(s.innerSigned?.wrappers ?? []).map((w) => ({ kind: 'wrapped' as const, set: w.set, covered: signers })),
    ...(s.injected ? [{ kind: 'injected' as const, set: s.injected, covered: signers }] : []),
  ];
  for (const { kind, set, covered } of sections) {
    // Under partial signing only the outer header is read for the author; the rest is not displayed as signed anyway.
    if (s.partial && kind !== 'outer') continue;
    if (kind !== 'outer') {
      // What a §3.1 client shows instead of the outer field, when they differ; an address as its mailbox, as the
      // verifier compares it (RFC 9598 §5: Reply-To ap@bücher.example outside and ap@XN--BCHER-KVA.example signed are one).
      const shown = (h: HeaderSet) => ({ subject: h.subject.shown, to: h.to.shown, replyTo: h.replyTo && asMailboxes(h.replyTo) });
      const [mine, theirs] = [shown(set), shown(s.outer)];
      for (const k of ['subject', 'to', 'replyTo'] as const) {
        const differs = !sameValue(mine[k], theirs[k]);
        const bothPresent = mine[k] !== undefined && theirs[k] !== undefined;
        if (kind === 'injected' && inUse) {
          // The record decides: a difference it explains is the sender's; any other was made after sending.
          if (differs && !explains(k)) warnings.add('SMIME_OUTER_HEADER_MISMATCH');
        } else if (differs && (kind === 'wrapped' || bothPresent)) warnings.add('SMIME_OUTER_HEADER_MISMATCH');
      }
    }
    if (kind === 'injected' && set.from.values.length === 0) {
      // No protected From: the outer one is shown (and bound). With a record in use it must be one the
      // sender recorded, compared as a multiset like every field: a record of two From fields does not explain one.
      if (inUse && (inUse.record === 'duplicated' || s.outer.from.name !== inUse.sent.from.name)) warnings.add('SMIME_OUTER_HEADER_MISMATCH');
      continue;
    }
    const m = set.from.mailbox;
    if (m === undefined) why.push(`${kind} From is ambiguous or spoofed (${set.from.label})`);
    else {
      if (!signers.has(m)) why.push(`${kind} From ${m} is not a signer's`);
      else if (!covered.has(m)) why.push(`${kind} From ${m} is signed only inside, by the forwarded message's signer`);
      if (kind !== 'outer' && m !== outerMailbox) why.push(`${kind} From ${m} is not the outer From ${outerMailbox}`);
      // The same mailbox under another display name outside the signature.
      if (kind !== 'outer' && m === outerMailbox && set.from.name !== s.outer.from.name && !(kind === 'injected' && explains('from'))) warnings.add('SMIME_OUTER_HEADER_MISMATCH');
      if (set.from.lookalike) warnings.add('SMIME_FROM_DISPLAY_NAME_LOOKALIKE');
      if (LATIN_LOOKALIKE_DOMAINS.has(domainOf(m))) warnings.add('SMIME_FROM_DOMAIN_LOOKALIKE');
      if (set.replyTo) {
        const d = domainOf(set.replyTo);
        const fd = domainOf(m);
        if (d !== fd && !d.endsWith(`.${fd}`)) warnings.add('SMIME_REPLY_TO_OTHER_DOMAIN');
      }
    }
    if (set.sender === 'other') why.push(`${kind} Sender names another mailbox`);
  }
  return { valid: why.length === 0, why, warnings: [...warnings].sort() };
}

function explain(s: Scenario): string {
  const set = (h: HeaderSet) => `From=${JSON.stringify(h.from.values)} (${h.from.label}) Sender=${h.sender ?? '-'} Reply-To=${h.replyTo ?? '-'} Subject=${JSON.stringify(h.subject.raw)} To=${JSON.stringify(h.to.raw)}`;
  return [
    `${s.carrier} signed by ${s.signer}${s.resign ? `, signed again by ${s.resign}` : ''}${s.partial ? ', inside unsigned multipart/mixed' : ''}${s.innerSigned ? `; the innermost wrapped message ${s.innerSigned.carrier} signed by ${s.innerSigned.signer}` : ''}`,
    `outer: ${set(s.outer)}`,
    ...s.wrappers.map((w, i) => `wrapper ${i}${w.forwardedNo ? ' (forwarded=no)' : ''}: ${set(w.set)}`),
    ...(s.innerSigned?.wrappers ?? []).map((w, i) => `wrapper ${i} inside the inner signature${w.forwardedNo ? ' (forwarded=no)' : ''}: ${set(w.set)}`),
    ...(s.injected ? [`signed content header: ${set(s.injected)}`] : []),
    ...(s.hp ? [`hp: ${s.hp.param}, HP-Outer record: ${s.hp.record}`] : []),
  ].join('\n  ');
}

const tally = { valid: 0, invalid: 0 };
const tripleTally = { valid: 0, invalid: 0, innerWrapped: 0 };

it('a verdict is valid only when what a §3.1 client (and any other) shows is what the bound mailbox signed', async () => {
  await fc.assert(
    fc.asyncProperty(scenario, async (s) => {
      const message = await build(s);
      const v = await verifyMessage(message, verifyOptions(f));
      const want = expected(s);
      const got = { valid: v.valid, problems: v.problems.map((p) => `${p.code}: ${p.message}`), warnings: [...new Set(v.warnings.map((w) => w.code))].sort() };
      const context = `\n  ${explain(s)}\n  model: ${JSON.stringify(want)}\n  verdict: ${JSON.stringify(got, null, 1)}`;
      expect(v.valid, context).toBe(want.valid);
      if (want.valid) {
        expect(got.warnings, context).toEqual(want.warnings);
        // What a §3.1 client shows as the author is among the signed headers when wrapped.
        if (s.wrappers.length > 0) expect(v.signedHeaders.filter((h) => h.name.toLowerCase() === 'from').length, context).toBeGreaterThan(0);
        // The author the verdict names is the outermost From a reader sees, and a signer's.
        expect(v.from?.address && normalizeAddress(v.from.address), context).toBe(s.outer.from.mailbox);
        if (s.innerSigned) {
          tripleTally.valid++;
          if (s.innerSigned.wrappers) tripleTally.innerWrapped++;
          // Both signatures verified: the one around the wrapper, and the forwarded message's inside it.
          expect(new Set(v.signers.map((x) => x.layer)).size, context).toBe(s.resign ? 3 : 2);
        }
        tally.valid++;
      } else {
        tally.invalid++;
        if (s.innerSigned) tripleTally.invalid++;
      }
    }),
    { numRuns: Number(process.env.SPOOF_RUNS ?? 250) },
  );
  // The generator must reach both sides, or the property says little.
  if (process.env.SPOOF_RUNS) console.log(tally, { triple: tripleTally });
  expect(tally.valid).toBeGreaterThan(25);
  expect(tally.invalid).toBeGreaterThan(25);
  expect(tripleTally.valid).toBeGreaterThan(2);
  expect(tripleTally.invalid).toBeGreaterThan(5);
}, 60_000);

// The counterexample fast-check found (seed 410540133, path 12099:16:1:1:1:1:1, about 1 run in 150 of
// the property above), written out: the comparison of outer and signed From counted the comment of
// the old form `a@b (Name)` twice, as the display name and again as a comment, so the same name
// given as an encoded word outside differed. Both are shown "Payments Team <payments@example.com>".
it('regression: a signed From "payments@example.com (Payments Team)" and an outer From "=?utf-8?q?Payments_Team?= <payments@example.com>" are one display name, no SMIME_OUTER_HEADER_MISMATCH', async () => {
  const mailbox = 'payments@example.com';
  const encoded: FromChoice = { values: [`=?utf-8?q?Payments_Team?= <${mailbox}>`], mailbox, lookalike: false, label: 'encoded name', name: 'Payments Team' };
  const comment: FromChoice = { values: [`${mailbox} (Payments Team)`], mailbox, lookalike: false, label: 'comment name', name: 'Payments Team' };
  const s: Scenario = {
    signer: 'payments',
    carrier: 'opaque',
    outer: { from: encoded, subject: written('Payment  run\r\n 2026-03', 'Payment run 2026-03'), to: written('<approvers@example.com>', 'approvers@example.com'), rotate: 4, reverse: false },
    wrappers: [],
    injected: { from: comment, subject: written('Payment run 2026-03'), to: written('approvers@example.com'), rotate: 0, reverse: false },
    hp: { param: 'clear', record: 'sender' },
    resign: 'payments',
    partial: false,
  };
  expect(expected(s)).toEqual({ valid: true, why: [], warnings: [] });
  for (const t of [s, { ...s, outer: { ...s.outer, from: comment }, injected: { ...s.injected!, from: encoded } }, { ...s, resign: undefined, hp: undefined }]) {
    const v = await verifyMessage(await build(t), verifyOptions(f));
    expect({ valid: v.valid, problems: v.problems, warnings: v.warnings }, explain(t)).toEqual({ valid: true, problems: [], warnings: [] });
  }
  // A comment beside a display name is still shown, and still compared.
  const besides: Scenario = { ...s, injected: { ...s.injected!, from: { ...encoded, values: [`=?utf-8?q?Payments_Team?= <${mailbox}> (NEW IBAN XX99)`] } } };
  const v = await verifyMessage(await build(besides), verifyOptions(f));
  expect(v.warnings.map((w) => [w.code, w.header]), explain(besides)).toContainEqual(['SMIME_OUTER_HEADER_MISMATCH', 'From']);
});

// Triple wrap, written out: multipart/signed → message/rfc822 → multipart/signed. The wrapped header is
// what a §3.1 client shows as the message; only the signature around it vouches for it.
const tripleWrap = (outerSigner: SignerName, innerSigner: SignerName, subject = 'Payment run 2026-03'): Scenario => {
  const from: FromChoice = { values: ['Payments <payments@example.com>'], mailbox: 'payments@example.com', lookalike: false, label: 'named', name: 'Payments' };
  const set: HeaderSet = { from, subject: written(subject), to: written('approvers@example.com'), rotate: 0, reverse: false };
  return { signer: outerSigner, carrier: 'detached', outer: set, wrappers: [{ set, forwardedNo: true }], partial: false, innerSigned: { signer: innerSigner, carrier: 'detached' } };
};

it('triple wrap: payments signs a wrapper around a message the attacker signed — valid, both signatures verified, the author is payments', async () => {
  const s = tripleWrap('payments', 'attacker');
  expect(expected(s)).toEqual({ valid: true, why: [], warnings: [] });
  const v = await verifyMessage(await build(s), verifyOptions(f));
  expect(v.valid, JSON.stringify(v.problems)).toBe(true);
  expect(v.from?.address).toBe('payments@example.com');
  expect(v.signers.map((x) => [x.layer, x.emails])).toEqual([[0, ['payments@example.com']], [1, ['attacker@evil.test']]]);
});

it('triple wrap: the attacker re-wraps a payments-signed message under his own signature and a Subject of his — SMIME_FROM_NOT_SIGNER, signed or encrypted', async () => {
  const s = tripleWrap('attacker', 'payments', 'URGENT: new bank details');
  expect(expected(s).valid).toBe(false);
  const v = await verifyMessage(await build(s), verifyOptions(f));
  expect(v.valid).toBe(false);
  // The outer From is payments and payments did sign (inside): only the wrapped header's cover catches it.
  expect(v.problems.map((p) => p.code)).toEqual(['SMIME_FROM_NOT_SIGNER']);
  expect(v.problems[0]!.message).toMatch(/the wrapped message of layer 0 says From payments@example\.com, but no signature covering it/);
  const e: Envelope = { placement: 'whole', alg: 'aes-256-gcm', signedInside: true, keyGiven: true };
  const keys = { decryptionKeys: [{ privateKey: f.payments.key, certificate: f.payments.certificate }] };
  const enc = await verifyMessage(await buildEncrypted(s, e), verifyOptions(f, keys));
  expect(enc.valid).toBe(expectedEncrypted(s, e).valid);
  expect(enc.problems.map((p) => p.code)).toContain('SMIME_FROM_NOT_SIGNER');
});

// ---------------------------------------------------------------------------------------------
// Encrypted paths (issue 12): the signed scenarios above, encrypted. The outer header of the
// envelope is what every client shows (the signed message's own outer header is gone), so the model
// is the same with the envelope's header as the outer one — when the whole message is one encrypted
// layer that opens and a signature is inside. Everything else is never valid: encrypted but not
// signed (anyone can encrypt to you), CBC without a signature (EFAIL), an encrypted part beside a
// visible unsigned part, a message whose key was not given, protected headers that disagree.

interface Envelope {
  /**
   * 'whole': the message is the encrypted layer; 'beside': an unsigned part is shown next to it;
   * 'signed-beside': the same multipart/mixed, signed (by payments) around the captured ciphertext.
   */
  placement: 'whole' | 'beside' | 'signed-beside';
  alg: ContentEncryptionAlgorithm;
  /** The envelope's outer header: the signed message's, or one the attacker wrote. */
  outer?: HeaderSet;
  /** Sign inside (the scenario), or encrypt an unsigned entity carrying protected header fields. */
  signedInside: boolean;
  keyGiven: boolean;
  /**
   * Header fields on the decrypted entity that encloses the signature, outside what was signed (a
   * re-wrap by whoever encrypted, or a CBC gadget): 'copy' repeats the signed (else the outer)
   * Subject and adds an X- field; 'subject' and 'from' are the attacker's.
   */
  wrapper?: 'copy' | 'subject' | 'from';
  /** Fields the encrypting party (anyone) puts on the signed layer inside: a Subject, hp="cipher", an HP-Outer record. */
  layerFields?: boolean;
}

const LAYER_SUBJECT = 'PAY XX99 ATTACKER NOW';

const envelope: fc.Arbitrary<Envelope> = fc.record(
  {
    placement: fc.constantFrom<Envelope['placement']>('whole', 'whole', 'whole', 'beside', 'signed-beside'),
    alg: fc.constantFrom<ContentEncryptionAlgorithm>('aes-256-gcm', 'aes-256-gcm', 'aes-128-gcm', 'aes-256-cbc'),
    outer: fc.option(headerSet, { nil: undefined, freq: 3 }),
    signedInside: fc.constantFrom(true, true, true, false),
    keyGiven: fc.constantFrom(true, true, true, true, false),
  },
  { requiredKeys: ['placement', 'alg', 'signedInside', 'keyGiven'] },
);

/** The wrapper fields of an envelope, when they apply (a signature inside; 'copy' only where one Subject is signed or shown). */
function wrapperLines(s: Scenario, e: Envelope): string[] {
  if (!e.signedInside || !e.wrapper) return [];
  if (e.wrapper === 'subject') return ['Subject: URGENT: wire 98,000 EUR to XX99 today'];
  if (e.wrapper === 'from') return ['From: CEO <ceo@bank.example>'];
  if (s.wrappers.length > 0 || s.resign || s.partial) return [];
  return [`Subject: ${(s.injected ?? e.outer ?? s.outer).subject.raw}`, 'X-Rewrapped: yes'];
}

async function buildEncrypted(s: Scenario, e: Envelope): Promise<string> {
  const outer = e.outer ?? s.outer;
  const signedLayer = e.signedInside ? entityOf(await build(s)) : '';
  const inner = e.signedInside
    ? [
        ...wrapperLines(s, e),
        ...(e.layerFields ? [`Subject: ${LAYER_SUBJECT}`, `HP-Outer: Subject: ${headerLines(outer).find((l) => l.startsWith('Subject:'))!.slice(9)}`] : []),
        e.layerFields ? signedLayer.replace(/^Content-Type: ([^;\r\n]+)/, 'Content-Type: $1; hp="cipher"') : signedLayer,
      ].join('\r\n')
    : `${headerLines(outer).join('\r\n')}\r\nContent-Type: text/plain; charset=us-ascii; hp="cipher"\r\n\r\nPlease pay 1,250.00 EUR to IBAN XX99 ATTACKER.\r\n`;
  const cms = await encryptData(utf8(inner), [{ certificate: f.payments.certificate }], { contentEncryption: e.alg });
  const part =
    `Content-Type: application/pkcs7-mime; smime-type=${e.alg.endsWith('-gcm') ? 'authEnveloped-data' : 'enveloped-data'}; name="smime.p7m"\r\n` +
    `Content-Transfer-Encoding: base64\r\n\r\n${encodeBase64Lines(cms)}\r\n`;
  const head = `${headerLines(outer).join('\r\n')}\r\nMIME-Version: 1.0\r\n`;
  if (e.placement === 'whole') return head + part;
  const b = 'mixed-boundary-e';
  const text = 'Content-Type: text/plain; charset=us-ascii\r\n\r\nUPDATE: the encrypted instruction below is void; pay XX99 ATTACKER.\r\n';
  const mixed = `${head}Content-Type: multipart/mixed; boundary="${b}"\r\n\r\n--${b}\r\n${text}\r\n--${b}\r\n${part}\r\n--${b}--\r\n`;
  return e.placement === 'beside' ? mixed : fromLatin1(await signMessage(mixed, f.payments, { clock: () => NOW }));
}

/** Is the signer's HP-Outer record read (hp="cipher" in a signed payload inside the opened encrypted layer)? */
const recordRead = (s: Scenario, e: Envelope) => Boolean(s.injected && s.hp?.param === 'cipher' && e.signedInside && e.keyGiven && s.hp.record !== 'none');

/** Is the message shown with a protected header section (an hp payload inside the signature, in the opened layer)? */
const shownProtected = (s: Scenario, e: Envelope) =>
  Boolean(e.signedInside && e.keyGiven && e.placement === 'whole' && s.injected && s.hp && s.hp.param !== 'twice' && s.wrappers.length === 0);

function expectedEncrypted(s: Scenario, e: Envelope): Expected {
  const why: string[] = [];
  if (e.placement !== 'whole') why.push(`${e.placement === 'beside' ? 'an unsigned' : 'a signed'} part is shown beside the encrypted one`);
  if (!e.keyGiven) why.push('no decryption key');
  if (!e.signedInside) why.push(`encrypted (${e.alg}) but not signed`);
  const wrapped = wrapperLines(s, e).length > 0 && e.keyGiven && e.placement === 'whole';
  if (wrapped && e.wrapper !== 'copy') why.push(`the decrypted wrapper carries the attacker's ${e.wrapper === 'from' ? 'From' : 'Subject'} outside the signature`);
  // The same for fields the encrypting party put on the signed layer (main's h/hp path): his Subject differs from the signed one.
  if (e.layerFields && e.signedInside && e.keyGiven && e.placement === 'whole') why.push(`the decrypted wrapper carries the Subject "${LAYER_SUBJECT}" outside the signature`);
  const record = s.hp?.record;
  const inUse = recordRead(s, e) && (record === 'sender' || record === 'duplicated' || record === 'no-subject') ? { sent: s.outer, record } : undefined;
  const inner = e.signedInside ? expected({ ...s, outer: e.outer ?? s.outer }, inUse) : { valid: false, why: [], warnings: [] };
  why.push(...inner.why);
  // A record over the limits or naming nothing is set aside, and said so.
  const warnings = recordRead(s, e) && (record === 'malformed' || record === 'too-many') ? [...inner.warnings, 'SMIME_HP_OUTER_IGNORED' as const].sort() : inner.warnings;
  // Shown with the protected section, the outer header gives only trace fields: an outer Sender
  // the section lacks is left out, and said.
  const outer = e.outer ?? s.outer;
  if (shownProtected(s, e) && outer.sender && !s.injected!.sender) warnings.push('SMIME_OUTER_FIELD_NOT_SHOWN');
  if (wrapped && e.wrapper === 'copy') warnings.push('SMIME_WRAPPER_HEADER_IGNORED');
  return { valid: why.length === 0, why, warnings: [...new Set(warnings)].sort() };
}

const encTally = { valid: 0, invalid: 0 };
const hpTally = { obscured: 0, changed: 0, unexplained: 0, same: 0 };

it('encrypted paths: valid only when the whole message is one opened encrypted layer around what the model calls valid', async () => {
  await fc.assert(
    fc.asyncProperty(scenario, envelope, async (s, e) => {
      const message = await buildEncrypted(s, e);
      const v = await verifyMessage(message, verifyOptions(f, e.keyGiven ? { decryptionKeys: [{ privateKey: f.payments.key, certificate: f.payments.certificate }] } : {}));
      const want = expectedEncrypted(s, e);
      const got = { valid: v.valid, problems: v.problems.map((p) => `${p.code}: ${p.message}`), layers: v.layers, warnings: [...new Set(v.warnings.map((w) => w.code))].sort() };
      const context = `\n  envelope: ${JSON.stringify({ ...e, outer: e.outer && headerLines(e.outer) })}\n  ${explain(s)}\n  model: ${JSON.stringify(want)}\n  verdict: ${JSON.stringify(got, null, 1)}`;
      expect(v.valid, context).toBe(want.valid);
      if (!want.valid) {
        // A reason a program can act on, for each kind of envelope failure.
        const codes = v.problems.map((p) => p.code);
        if (!e.keyGiven && e.placement === 'whole') expect(codes, context).toContain('SMIME_ENCRYPTED_NO_KEY');
        if (e.placement !== 'whole') expect(codes, context).toContain('SMIME_PARTIALLY_ENCRYPTED');
        if (!e.signedInside && e.keyGiven && e.placement === 'whole') expect(codes, context).toContain('SMIME_NOT_SIGNED');
        if (!e.signedInside && e.keyGiven && e.placement === 'whole' && e.alg.endsWith('-cbc')) expect(codes, context).toContain('SMIME_INTEGRITY_UNKNOWN');
        if (e.placement !== 'whole') expect(v.decryptedMessage, context).toBeUndefined();
        encTally.invalid++;
      } else {
        expect(got.warnings, context).toEqual(want.warnings);
        expect(v.layers[0], context).toMatchObject({ kind: 'encrypted', opened: true, contentEncryption: e.alg, integrityProtected: e.alg.endsWith('-gcm') });
        expect(v.decryptedMessage, context).toBeDefined();
        if (s.injected && s.hp) {
          // What a client shows is the protected header, whatever the envelope says outside.
          const shown = parseMessage(v.decryptedMessage!);
          const values = (name: string) => getHeaders(shown, name).map((h) => h.value);
          const unfold = (x: string) => x.replace(/\r\n/g, '');
          expect(values('Subject'), context).toEqual([unfold(s.injected.subject.raw)]);
          expect(values('To'), context).toEqual([s.injected.to.raw]);
          expect(values('Reply-To'), context).toEqual(s.injected.replyTo ? [s.injected.replyTo] : []);
          expect(values('From'), context).toEqual(s.injected.from.values.length > 0 ? s.injected.from.values : (e.outer ?? s.outer).from.values);
          // A Subject the envelope changed after signing is never explained as the sender's.
          const subject = v.headerProtection.flatMap((h) => h.differences).find((d) => d.name === 'Subject');
          if (subject?.cause === 'obscured') expect((e.outer ?? s.outer).subject.shown, context).toBe(s.outer.subject.shown);
          hpTally[subject?.cause ?? 'same']++;
        }
        encTally.valid++;
      }
    }),
    { numRuns: Number(process.env.SPOOF_RUNS ?? 150) },
  );
  if (process.env.SPOOF_RUNS) console.log(encTally, hpTally);
  // Coverage, not a rate (since nested encrypted parts are invalid, about 6% of the cases are valid).
  expect(encTally.valid).toBeGreaterThan(3);
  expect(encTally.invalid).toBeGreaterThan(25);
}, 120_000);

// ---------------------------------------------------------------------------------------------
// RFC 9788 paths (issue 12 item 4): every scenario signed content with injected header fields, an hp
// parameter and an HP-Outer record, encrypted whole to a key that is given; the envelope's outer
// header is the signer's or one changed after sending (a field rewritten, or all of it). A difference
// the signer's record explains is the sender's obscuring, never a warning; any other is
// SMIME_OUTER_HEADER_MISMATCH; a repeated hp is never valid; the message shown carries the
// protected fields; and a Subject the envelope changed is never called obscured.

const afterSending = (outer: HeaderSet): fc.Arbitrary<HeaderSet | undefined> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constant<HeaderSet>({ ...outer, subject: written('URGENT: new bank details') }) },
    { weight: 1, arbitrary: fc.constant<HeaderSet>({ ...outer, to: written('everyone@example.com') }) },
    { weight: 1, arbitrary: fc.constant<HeaderSet>({ ...outer, replyTo: 'ap@evil.test' }) },
    { weight: 1, arbitrary: headerSet },
  );

const hpScenario: fc.Arbitrary<{ s: Scenario; e: Envelope }> = fc
  .record({
    signer: fc.constantFrom<SignerName>('payments', 'payments', 'payments', 'attacker'),
    carrier: fc.constantFrom<'detached' | 'opaque'>('detached', 'opaque'),
    outer: headerSet,
    hp: hpChoice,
    alg: fc.constantFrom<ContentEncryptionAlgorithm>('aes-256-gcm', 'aes-128-gcm', 'aes-256-cbc'),
    layerFields: fc.boolean(),
  })
  .chain((x) =>
    fc
      .record({
        // The protected header: often the outer one with the Subject the signer obscured outside.
        injected: fc.oneof({ weight: 2, arbitrary: likeOuter(x.outer) }, { weight: 2, arbitrary: fc.constant<HeaderSet>({ ...x.outer, subject: written('Q1 supplier payments (confidential)') }) }),
        changed: afterSending(x.outer),
      })
      .map(({ injected, changed }) => {
      const s: Scenario = { signer: x.signer, carrier: x.carrier, outer: x.outer, wrappers: [], injected, partial: false, hp: x.hp };
      const e: Envelope = { placement: 'whole', alg: x.alg, signedInside: true, keyGiven: true, layerFields: x.layerFields };
      if (changed) e.outer = changed;
      return { s, e };
    }),
  );

// The counterexample fast-check found (seed -1393625208, path 684:11:1:1:1:1:1, also on main): the
// protected section has no From, so the outer one is shown; the sender's HP-Outer record lists that
// From twice. The verifier's multiset rule calls the one outer From "changed" (as it does for every
// field: a display name rewritten after sending is caught the same way); the model had skipped From.
it('regression: no protected From, an HP-Outer record of two identical From fields, one outside: SMIME_OUTER_HEADER_MISMATCH on From (the model had skipped it)', async () => {
  const mailbox = 'payments@example.com';
  const outer: HeaderSet = {
    from: { values: [`"Team Payments" <payments@EXAMPLE.COM>`], mailbox, lookalike: false, label: 'quoted, domain upper-cased', name: 'Team Payments' },
    sender: 'same',
    subject: written('Payment  run\r\n 2026-03', 'Payment run 2026-03'),
    to: written('approvers@example.com'),
    rotate: 1,
    reverse: false,
  };
  const injected: HeaderSet = { from: { values: [], lookalike: false, label: 'no From field', name: '?' }, subject: written('Payment run 2026-03'), to: written('approvers@example.com'), rotate: 0, reverse: false };
  const s: Scenario = { signer: 'payments', carrier: 'detached', outer, wrappers: [], injected, partial: false, hp: { param: 'cipher', record: 'duplicated' } };
  const keys = { decryptionKeys: [{ privateKey: f.payments.key, certificate: f.payments.certificate }] };
  for (const [record, warned] of [['duplicated', true], ['sender', false]] as const) {
    const e: Envelope = { placement: 'whole', alg: 'aes-128-gcm', signedInside: true, keyGiven: true, layerFields: false };
    const t = { ...s, hp: { param: 'cipher' as const, record } };
    const v = await verifyMessage(await buildEncrypted(t, e), verifyOptions(f, keys));
    const want = expectedEncrypted(t, e);
    expect(want.valid).toBe(true);
    expect(want.warnings.includes('SMIME_OUTER_HEADER_MISMATCH')).toBe(warned);
    expect(v.valid, explain(t)).toBe(true);
    expect([...new Set(v.warnings.map((w) => w.code))].sort(), explain(t)).toEqual(want.warnings);
    expect(v.warnings.filter((w) => w.code === 'SMIME_OUTER_HEADER_MISMATCH').map((w) => w.header)).toEqual(warned ? ['From'] : []);
  }
});

const rfcTally = { valid: 0, invalid: 0, obscured: 0, changed: 0 };

it('RFC 9788 paths: the HP-Outer record explains only what the signer sent; changes after sending warn; the protected fields are what is shown', async () => {
  await fc.assert(
    fc.asyncProperty(hpScenario, async ({ s, e }) => {
      const message = await buildEncrypted(s, e);
      const v = await verifyMessage(message, verifyOptions(f, { decryptionKeys: [{ privateKey: f.payments.key, certificate: f.payments.certificate }] }));
      const want = expectedEncrypted(s, e);
      const got = { valid: v.valid, problems: v.problems.map((p) => `${p.code}: ${p.message}`), warnings: [...new Set(v.warnings.map((w) => w.code))].sort() };
      const context = `\n  envelope: ${JSON.stringify({ ...e, outer: e.outer && headerLines(e.outer) })}\n  ${explain(s)}\n  model: ${JSON.stringify(want)}\n  verdict: ${JSON.stringify(got, null, 1)}\n  differences: ${JSON.stringify(v.headerProtection.map((h) => h.differences))}`;
      expect(v.valid, context).toBe(want.valid);
      if (s.hp?.param === 'twice') expect(v.problems.map((p) => p.code), context).toContain('SMIME_STRUCTURE_INVALID');
      // Whatever the verdict: a difference is 'obscured' only when the envelope shows what the signer recorded.
      const subject = v.headerProtection.flatMap((h) => h.differences).find((d) => d.name === 'Subject');
      if (subject?.cause === 'obscured') expect((e.outer ?? s.outer).subject.shown, context).toBe(s.outer.subject.shown);
      // Fields on the signed layer inside the encryption are nobody's protected fields, and never shown.
      expect(v.headerProtection.map((h) => h.where), context).not.toContain('the encrypted part');
      if (v.decryptedMessage) expect(new TextDecoder('latin1').decode(v.decryptedMessage), context).not.toContain(LAYER_SUBJECT);
      // ...and reported, once, under the wrapper's code (not also as an outer-header difference).
      if (e.layerFields) {
        expect(v.problems.filter((p) => p.message.includes(LAYER_SUBJECT)).map((p) => p.code), context).toEqual(['SMIME_WRAPPER_HEADER_MISMATCH']);
        expect(v.warnings.filter((w) => w.code === 'SMIME_WRAPPER_HEADER_IGNORED').map((w) => w.header), context).toEqual(['HP-Outer']);
      }
      if (subject?.cause === 'obscured') rfcTally.obscured++;
      if (subject?.cause === 'changed') rfcTally.changed++;
      if (want.valid) {
        expect(got.warnings, context).toEqual(want.warnings);
        const shown = parseMessage(v.decryptedMessage!);
        expect(getHeaders(shown, 'Subject').map((h) => h.value), context).toEqual([s.injected!.subject.raw.replace(/\r\n/g, '')]);
        rfcTally.valid++;
      } else rfcTally.invalid++;
    }),
    { numRuns: Number(process.env.SPOOF_RUNS ?? 150) },
  );
  if (process.env.SPOOF_RUNS) console.log(rfcTally);
  // Coverage, not a rate: about 15% of the cases are valid (since the wrapper rule), so > 15 of 150 failed ~1 run in 20.
  expect(rfcTally.valid).toBeGreaterThan(5);
  expect(rfcTally.invalid).toBeGreaterThan(15);
  expect(rfcTally.obscured).toBeGreaterThan(3);
  expect(rfcTally.changed).toBeGreaterThan(3);
}, 120_000);

// ---------------------------------------------------------------------------------------------
// Wrapper paths (atk12): the RFC 9788 scenarios above, with header fields on the decrypted entity
// that encloses the signature — outside what was signed, as whoever encrypted (anyone can) or a CBC
// gadget puts them. They are never in the message shown; the attacker's Subject or From is never
// valid; a copy of what is shown anyway leaves the verdict as it was, with a warning.

const wrapTally = { valid: 0, invalid: 0 };

it('wrapper paths: fields outside the signature inside the encryption are never shown; the attacker\'s are never valid', async () => {
  await fc.assert(
    fc.asyncProperty(hpScenario, fc.constantFrom<'copy' | 'subject' | 'from'>('copy', 'copy', 'subject', 'from'), async ({ s, e: base }, wrapper) => {
      const e: Envelope = { ...base, wrapper };
      const message = await buildEncrypted(s, e);
      const v = await verifyMessage(message, verifyOptions(f, { decryptionKeys: [{ privateKey: f.payments.key, certificate: f.payments.certificate }] }));
      const want = expectedEncrypted(s, e);
      const got = { valid: v.valid, problems: v.problems.map((p) => `${p.code}: ${p.message}`), warnings: [...new Set(v.warnings.map((w) => w.code))].sort() };
      const context = `\n  wrapper: ${JSON.stringify(wrapperLines(s, e))}\n  envelope: ${JSON.stringify({ ...e, outer: e.outer && headerLines(e.outer) })}\n  ${explain(s)}\n  model: ${JSON.stringify(want)}\n  verdict: ${JSON.stringify(got, null, 1)}`;
      expect(v.valid, context).toBe(want.valid);
      if (v.decryptedMessage) expect(new TextDecoder('latin1').decode(v.decryptedMessage), context).not.toMatch(/URGENT: wire|ceo@bank\.example|X-Rewrapped/);
      expect(JSON.stringify(v.headerProtection), context).not.toMatch(/URGENT: wire|ceo@bank\.example|X-Rewrapped/);
      const codes = v.problems.map((p) => p.code);
      if (wrapper === 'subject') expect(codes, context).toContain('SMIME_WRAPPER_HEADER_MISMATCH');
      if (wrapper === 'from') expect(codes, context).toContain('SMIME_ENCRYPTED_FROM_MISMATCH');
      if (want.valid) {
        expect(got.warnings, context).toEqual(want.warnings);
        expect(v.warnings.filter((w) => w.code === 'SMIME_WRAPPER_HEADER_IGNORED').map((w) => w.header), context).toEqual(['Subject', 'X-Rewrapped']);
        wrapTally.valid++;
      } else wrapTally.invalid++;
    }),
    { numRuns: Number(process.env.SPOOF_RUNS ?? 150) },
  );
  if (process.env.SPOOF_RUNS) console.log(wrapTally);
  // Coverage, not a rate: 4–16 of 150 valid in practice.
  expect(wrapTally.valid).toBeGreaterThan(1);
  expect(wrapTally.invalid).toBeGreaterThan(25);
}, 120_000);

// ---------------------------------------------------------------------------------------------
// UTF-8 paths (RFC 6532): the signed scenarios with raw UTF-8 in From, Sender, Reply-To, Subject and
// To (and the display names), signed by certificates bound with an rfc822Name in A-labels or an
// SmtpUTF8Mailbox. The model knows each spelling's mailbox by hand (FORMS), not by the verifier's
// mailboxKey: U-label and A-label, any case, a domain in NFD are one mailbox; a Cyrillic "с", a
// full-width "ｂ", a final sigma "ς" for "σ", a local part in NFD or another case are other
// mailboxes that nobody signed. A reader then deserves what the model says for the ASCII paths.

/** A spelling of a mailbox: the mailbox the model calls it (MAILBOX's names) and its domain (one name per DNS name). */
const FORMS = new Map<string, { mailbox: string; domain: string }>();
const spell = (mailbox: string, domain: string, forms: string[]) => forms.forEach((x) => FORMS.set(x, { mailbox, domain }));
spell('pay@bücher.example', 'bücher.example', ['pay@bücher.example', 'pay@xn--bcher-kva.example', 'pay@BÜCHER.example', 'pay@XN--BCHER-KVA.EXAMPLE', 'pay@bu\u0308cher.example']);
spell('pay@b\u00FC\u0441her.example', 'b\u00FC\u0441her.example', ['pay@b\u00FC\u0441her.example']); // Cyrillic с
spell('pay@\uFF42ücher.example', '\uFF42ücher.example', ['pay@\uFF42ücher.example']); // full-width ｂ
spell('pay@bucher.example', 'bucher.example', ['pay@bucher.example']);
spell('zo\u00EB@bücher.example', 'bücher.example', ['zo\u00EB@bücher.example', 'zo\u00EB@xn--bcher-kva.example', 'zo\u00EB@BÜCHER.EXAMPLE']);
spell('zoe\u0308@bücher.example', 'bücher.example', ['zoe\u0308@bücher.example']); // NFD local part: another mailbox (RFC 5321 §2.4)
spell('Zo\u00EB@bücher.example', 'bücher.example', ['Zo\u00EB@bücher.example']);
// ασ is xn--mxa0b, ας xn--mxa8a (Node's url.domainToASCII); Σ lower-cases to σ, never ς (UTS #46).
spell('pay@\u03B1\u03C3.example', '\u03B1\u03C3.example', ['pay@\u03B1\u03C3.example', 'pay@\u0391\u03A3.example', 'pay@\u0391\u03C3.EXAMPLE', 'pay@xn--mxa0b.example']);
spell('pay@\u03B1\u03C2.example', '\u03B1\u03C2.example', ['pay@\u03B1\u03C2.example']);
// A label in two scripts (Cyrillic а, Latin pple): one mailbox in any spelling; shown in a display name as a U-label it is
// not the From's own address unless written exactly as the From writes it (UTS #39: clients show such labels as A-labels).
spell('pay@\u0430pple.example', '\u0430pple.example', ['pay@\u0430pple.example', 'pay@xn--pple-43d.example', 'pay@XN--PPLE-43D.EXAMPLE']);
// A label wholly in Cyrillic letters that look Latin (р а у р а ӏ): one mailbox in any spelling, capitals too (Ӏ is ӏ);
// in one script, so its U-label in a display name is its own address (shownAs); its domain reads as paypal.example.
spell(MAILBOX.whole, '\u0440\u0430\u0443\u0440\u0430\u04CF.example', [
  MAILBOX.whole,
  'pay@xn--80aa0cbo65f.example',
  'pay@XN--80AA0CBO65F.EXAMPLE',
  'pay@\u0420\u0410\u0423\u0420\u0410\u04C0.example',
]);
spell('payments@example.com', 'example.com', ['payments@example.com']);
spell('attacker@evil.test', 'evil.test', ['attacker@evil.test']);
// Reply-To spellings.
spell('ap@bücher.example', 'bücher.example', ['ap@bücher.example', 'ap@XN--BCHER-KVA.example']);
spell('ap@rechnung.bücher.example', 'rechnung.bücher.example', ['ap@rechnung.bücher.example', 'ap@rechnung.xn--bcher-kva.example']);
spell('ap@b\u00FC\u0441her.example', 'b\u00FC\u0441her.example', ['ap@b\u00FC\u0441her.example']);
spell('ap@\u03B1\u03C3.example', '\u03B1\u03C3.example', ['ap@\u0391\u03A3.example']);
spell('ap@\u03B1\u03C2.example', '\u03B1\u03C2.example', ['ap@\u03B1\u03C2.example']);

/**
 * The domains the model knows a reader may take for a Latin one (written down by hand, not by the verifier's check):
 * wholly in Cyrillic look-alikes (раураӏ), or mixing a Cyrillic look-alike with Latin letters (аpple, büсher).
 */
const LATIN_LOOKALIKE_DOMAINS = new Set(['\u0440\u0430\u0443\u0440\u0430\u04CF.example', '\u0430pple.example', 'b\u00FC\u0441her.example']);

const spellingsOf = (mailbox: string) => [...FORMS].filter(([, v]) => v.mailbox === mailbox).map(([k]) => k);

/** UTF-8 From forms of spelling `m` (name template `t`): clean ones (bindable when m's mailbox signed) and spoofs. */
function utf8From(m: string, t: number): FromChoice {
  const mailbox = FORMS.get(m)!.mailbox;
  const clean = (label: string, value: string, name: string, lookalike = false): FromChoice => ({ values: [value], mailbox, lookalike, label: `${label} [${m}]`, name });
  const spoof = (label: string, values: string[]): FromChoice => ({ values, lookalike: false, label: `${label} [${m}]`, name: '?' });
  const forms = [
    () => clean('bare', m, ''),
    () => clean('raw UTF-8 name', `Jörg Müller <${m}>`, 'Jörg Müller'),
    () => clean('quoted raw UTF-8 name', `"Zahlungen (Bücher)" <${m}>`, 'Zahlungen (Bücher)'),
    () => clean('encoded UTF-8 name', `=?utf-8?q?J=C3=B6rg_M=C3=BCller?= <${m}>`, 'Jörg Müller'),
    () => clean('Greek name', `Πληρωμές <${m}>`, 'Πληρωμές'),
    () => clean('name "ceo at bücher.example"', `"ceo at bücher.example" <${m}>`, 'ceo at bücher.example', true),
    () => spoof('raw UTF-8 address in the name', [`"ceo@bücher.example" <${m}>`]),
    () => spoof('raw full-width "＠" in the name', [`"boss\uFF20bücher.example" <${m}>`]),
    () => spoof('two UTF-8 mailboxes', [`${m}, zo\u00EB@bücher.example`]),
    () => spoof('two From fields', [m, 'pay@bücher.example']),
    // Raw control characters in the field (not in an encoded word): refused like any control character.
    () => spoof('raw name with a bidi override', [`"\u202Eyap\u202C Jörg" <${m}>`]),
    // pay@bücher.example's address in the name, in A-labels: its own (no problem) or, beside another mailbox, a spoof.
    () =>
      mailbox === 'pay@bücher.example'
        ? clean('its own address in A-labels in the name', `"pay@XN--BCHER-KVA.example" <${m}>`, 'pay@XN--BCHER-KVA.example')
        : spoof('pay@bücher.example in A-labels in the name', [`"pay@XN--BCHER-KVA.example" <${m}>`]),
    // pay@bücher.example spelled out without "@", in A-labels: its own (no look-alike) or another's (a look-alike).
    () => clean('name "pay at xn--bcher-kva.example"', `"pay at xn--bcher-kva.example" <${m}>`, 'pay at xn--bcher-kva.example', mailbox !== 'pay@bücher.example'),
    // pay@аpple.example (mixed-script label) in the name: the From's own only where the From writes it the same way.
    () =>
      m === 'pay@\u0430pple.example'
        ? clean('its own mixed-script address in the name, written as the From writes it', `"${m}" <${m}>`, m)
        : spoof('pay@аpple.example (a mixed-script U-label) in the name', [`"pay@\u0430pple.example" <${m}>`]),
    // pay@раураӏ.example (one script) in the name as a U-label: the From's own in any spelling (it shows the
    // look-alike domain, which the From's own domain warning covers), another's address otherwise.
    () =>
      mailbox === MAILBOX.whole
        ? clean('its own whole-script address in the name as a U-label', `"${MAILBOX.whole}" <${m}>`, MAILBOX.whole)
        : spoof('pay@раураӏ.example (a whole-script U-label) in the name', [`"${MAILBOX.whole}" <${m}>`]),
  ];
  return forms[t % forms.length]!();
}
const UTF8_TEMPLATES = 15;

const utf8Spellings = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...spellingsOf('pay@bücher.example')) },
  { weight: 3, arbitrary: fc.constantFrom(...spellingsOf('zo\u00EB@bücher.example')) },
  { weight: 3, arbitrary: fc.constantFrom(...spellingsOf('pay@\u03B1\u03C3.example')) },
  { weight: 2, arbitrary: fc.constantFrom(...spellingsOf('pay@\u0430pple.example')) },
  { weight: 2, arbitrary: fc.constantFrom(...spellingsOf(MAILBOX.whole)) },
  { weight: 1, arbitrary: fc.constantFrom('payments@example.com', 'attacker@evil.test') },
  {
    weight: 3,
    arbitrary: fc.constantFrom('pay@b\u00FC\u0441her.example', 'pay@\uFF42ücher.example', 'pay@bucher.example', 'zoe\u0308@bücher.example', 'Zo\u00EB@bücher.example', 'pay@\u03B1\u03C2.example'),
  },
);

const utf8FromChoice = fc.tuple(utf8Spellings, fc.oneof({ weight: 4, arbitrary: fc.nat(5) }, { weight: 1, arbitrary: fc.integer({ min: 6, max: UTF8_TEMPLATES - 1 }) })).map(([m, t]) => ({ ...utf8From(m, t), t, m }));

const utf8HeaderSet: fc.Arbitrary<HeaderSet> = fc.record(
  {
    from: utf8FromChoice,
    sender: fc.option(fc.constantFrom<'same' | 'other'>('same', 'same', 'other'), { nil: undefined, freq: 4 }),
    replyTo: fc.option(fc.constantFrom('ap@bücher.example', 'ap@XN--BCHER-KVA.example', 'ap@rechnung.xn--bcher-kva.example', 'ap@b\u00FC\u0441her.example', 'ap@\u0391\u03A3.example', 'ap@\u03B1\u03C2.example'), { nil: undefined, freq: 2 }),
    subject: fc.constantFrom(
      written('Zahlung für März'),
      written('=?utf-8?q?Zahlung_f=C3=BCr_M=C3=A4rz?=', 'Zahlung für März'),
      written('Zahlung  für\r\n März', 'Zahlung für März'),
      written('Zahlung für Mai'),
      written('Πληρωμή Μαρτίου'),
    ),
    to: fc.constantFrom(written('Zoë <approvers@example.com>'), written('everyone@example.com')),
    rotate: fc.nat(6),
    reverse: fc.boolean(),
  },
  { requiredKeys: ['from', 'subject', 'to', 'rotate', 'reverse'] },
);

/** The outer From respelled (another spelling of the same mailbox, the same name template): what U-label/A-label changes look like. */
const respelled = (outer: HeaderSet): fc.Arbitrary<HeaderSet> => {
  const { m, t } = outer.from as FromChoice & { m?: string; t?: number };
  if (m === undefined || t === undefined) return fc.constant(outer);
  return fc.constantFrom(...spellingsOf(FORMS.get(m)!.mailbox)).map((other) => ({ ...outer, from: { ...utf8From(other, t), m: other, t } }));
};

/** A signed header set: often the outer one or the outer one respelled, so valid variants stay frequent. */
const likeOuterUtf8 = (outer: HeaderSet) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constant(outer) },
    { weight: 3, arbitrary: respelled(outer) },
    { weight: 2, arbitrary: utf8HeaderSet.map((h) => ({ ...h, from: outer.from })) },
    { weight: 1, arbitrary: utf8HeaderSet },
  );

/** UTF-8 scenarios with the outer header set drawn from `outer` and the signer from `signers`. */
const utf8ScenarioOf = (outer: fc.Arbitrary<HeaderSet>, signers: SignerName[]): fc.Arbitrary<Scenario> => fc
  .record({
    signer: fc.constantFrom<SignerName>(...signers),
    carrier: fc.constantFrom<'detached' | 'opaque'>('detached', 'opaque'),
    outer,
    wrapCount: fc.constantFrom(0, 0, 0, 1, 1, 2),
    injectedWanted: fc.constantFrom(true, true, false),
    partialDraw: fc.nat(14),
    hp: fc.option(hpChoice, { nil: undefined, freq: 2 }),
    innerSigned: fc.option(fc.record({ signer: fc.constantFrom<SignerName>('idnA', 'idnU', 'attacker', 'zoe'), carrier: fc.constantFrom<'detached' | 'opaque'>('detached', 'opaque') }), { nil: undefined, freq: 3 }),
  })
  .chain((s) =>
    fc
      .record({
        wrappers: fc.array(fc.record({ set: likeOuterUtf8(s.outer), forwardedNo: fc.boolean() }), { minLength: s.wrapCount, maxLength: s.wrapCount }),
        injected: (s.wrapCount === 0 || s.innerSigned) && s.injectedWanted ? likeOuterUtf8(s.outer) : fc.constant(undefined),
      })
      .map(({ wrappers, injected }) => {
        // No second signature around it: the fixture's re-signing reads the message as Latin-1.
        const out: Scenario = { signer: s.signer, carrier: s.carrier, outer: s.outer, wrappers, partial: s.partialDraw === 0 };
        const triple = s.innerSigned && wrappers.length > 0;
        if (triple) out.innerSigned = s.innerSigned!;
        if (injected && (wrappers.length === 0 || triple)) out.injected = injected;
        if (out.injected && s.hp && !triple) out.hp = s.hp;
        return out;
      }),
  );

const utf8Scenario = utf8ScenarioOf(utf8HeaderSet, ['idnA', 'idnU', 'zoe', 'sigma', 'mixed', 'whole', 'idnA', 'idnU', 'payments', 'attacker']);


beforeAll(async () => {
  const [idnA, idnU, zoe, sigma, mixed, whole] = await Promise.all([
    selfSignedSigner([rfc822Name('pay@xn--bcher-kva.example')], 'pay@xn--bcher-kva.example'),
    selfSignedSigner([smtpUtf8Mailbox('pay@bücher.example')], 'pay@bücher.example'),
    selfSignedSigner([smtpUtf8Mailbox('zo\u00EB@bücher.example')], 'zo\u00EB@bücher.example'),
    selfSignedSigner([smtpUtf8Mailbox('pay@\u03B1\u03C3.example')], 'pay@\u03B1\u03C3.example'),
    selfSignedSigner([rfc822Name('pay@xn--pple-43d.example')], 'pay@xn--pple-43d.example'),
    selfSignedSigner([rfc822Name('pay@xn--80aa0cbo65f.example')], 'pay@xn--80aa0cbo65f.example'),
  ]);
  utf8Signers = { idnA, idnU, zoe, sigma, mixed, whole };
});
/** The fixture CA's root and the UTF-8 signers' own certificates. */
const utf8Anchors = () => [...f.anchors, ...Object.values(utf8Signers).map((x) => x.certificate)];

const utf8Tally = { valid: 0, invalid: 0, respelledValid: 0, utf8LocalValid: 0, lookalikeDomainFrom: 0, mixedScriptValid: 0, mixedScriptInName: 0 };

it('UTF-8 paths (RFC 6532): U-label and A-label spellings of one mailbox bind alike; a look-alike domain, a final sigma, an NFD local part are other mailboxes; outer changes after signing warn', async () => {
  const anchors = utf8Anchors();
  await fc.assert(
    fc.asyncProperty(utf8Scenario, async (s) => {
      const message = await build(s);
      const v = await verifyMessage(utf8(message), verifyOptions(f, { trustAnchors: anchors }));
      const want = expected(s);
      const got = { valid: v.valid, problems: v.problems.map((p) => `${p.code}: ${p.message}`), warnings: [...new Set(v.warnings.map((w) => w.code))].sort() };
      const context = `\n  ${explain(s)}\n  model: ${JSON.stringify(want)}\n  verdict: ${JSON.stringify(got, null, 1)}`;
      expect(v.valid, context).toBe(want.valid);
      if (['b\u00FC\u0441her', '\uFF42ücher', '\u03B1\u03C2.'].some((d) => s.outer.from.values.join().includes(d))) utf8Tally.lookalikeDomainFrom++;
      if (s.outer.from.values.join().includes('"pay@\u0430pple.example"')) utf8Tally.mixedScriptInName++;
      if (want.valid) {
        expect(got.warnings, context).toEqual(want.warnings);
        // The author the verdict names is a spelling of the outer From's mailbox.
        expect(FORMS.get(v.from?.address ?? '')?.mailbox, context).toBe(s.outer.from.mailbox);
        const spellings = new Set([s.outer, ...s.wrappers.map((w) => w.set), ...(s.injected ? [s.injected] : [])].map((h) => (h.from as { m?: string }).m).filter(Boolean));
        if (spellings.size > 1) utf8Tally.respelledValid++;
        if (s.outer.from.mailbox === MAILBOX.zoe) utf8Tally.utf8LocalValid++;
        if (s.outer.from.mailbox === MAILBOX.mixed) utf8Tally.mixedScriptValid++;
        utf8Tally.valid++;
      } else utf8Tally.invalid++;
    }),
    // 300: with the whole-script signer and its spellings among the choices, 200 runs gave 8–9 valid verdicts under CI's fixed seed.
    { numRuns: Number(process.env.SPOOF_RUNS ?? 300) },
  );
  if (process.env.SPOOF_RUNS) console.log({ utf8: utf8Tally });
  expect(utf8Tally.valid).toBeGreaterThan(10);
  expect(utf8Tally.invalid).toBeGreaterThan(25);
  expect(utf8Tally.respelledValid).toBeGreaterThan(1);
}, 60_000);

it('UTF-8 paths: the From\'s own mailbox shown in its display name as a mixed-script U-label while the address writes the A-label is another address to a reader (invalid); written as the From writes it, its own', async () => {
  const anchors = utf8Anchors();
  let spoofs = 0;
  const mixedInName = utf8Scenario.chain((s) =>
    fc.constantFrom(...spellingsOf(MAILBOX.mixed)).map((m): Scenario => {
      const { injected: _i, hp: _h, innerSigned: _s, ...rest } = s;
      return { ...rest, signer: 'mixed', wrappers: [], outer: { ...s.outer, from: { ...utf8From(m, 13), t: 13, m } as FromChoice } };
    }),
  );
  await fc.assert(
    fc.asyncProperty(mixedInName, async (s) => {
      const v = await verifyMessage(utf8(await build(s)), verifyOptions(f, { trustAnchors: anchors }));
      const want = expected(s);
      const context = `\n  ${explain(s)}\n  model: ${JSON.stringify(want)}\n  verdict: ${JSON.stringify({ valid: v.valid, problems: v.problems.map((p) => p.code) })}`;
      expect(v.valid, context).toBe(want.valid);
      if (s.outer.from.mailbox === undefined) {
        spoofs++;
        // Invalid for the display name itself, not for anything else the scenario drew.
        if (!s.partial && s.outer.sender !== 'other') expect(v.problems.map((p) => p.code), context).toContain('SMIME_FROM_DISPLAY_NAME_ADDRESS');
      }
    }),
    { numRuns: Number(process.env.SPOOF_RUNS ?? 100) },
  );
  expect(spoofs).toBeGreaterThan(10);
});

// A From domain wholly in Cyrillic letters that look Latin (pay@раураӏ.example, A-label pay@xn--80aa0cbo65f.example):
// the mailbox is bound like any other, and a reader of a client that shows U-labels sees pay@paypal.example. The model
// knows the domain by hand (LATIN_LOOKALIKE_DOMAINS): every valid verdict must carry the warning.
const wholeHeaderSet: fc.Arbitrary<HeaderSet> = utf8HeaderSet.chain((h) =>
  fc
    .tuple(fc.constantFrom(...spellingsOf(MAILBOX.whole)), fc.oneof({ weight: 4, arbitrary: fc.nat(5) }, { weight: 2, arbitrary: fc.constant(14) }, { weight: 1, arbitrary: fc.integer({ min: 6, max: UTF8_TEMPLATES - 1 }) }))
    .map(([m, t]) => ({ ...h, from: { ...utf8From(m, t), t, m } as FromChoice })),
);
const wholeScenario = utf8ScenarioOf(wholeHeaderSet, ['whole', 'whole', 'whole', 'idnA', 'attacker']);

it('UTF-8 paths: a From domain wholly in Cyrillic letters that look Latin (pay@раураӏ.example in any spelling, in the outer and the wrapped From) is bound, and every valid verdict warns SMIME_FROM_DOMAIN_LOOKALIKE', async () => {
  const anchors = utf8Anchors();
  const tally = { valid: 0, invalid: 0, wrappedValid: 0, nameValid: 0 };
  await fc.assert(
    fc.asyncProperty(wholeScenario, async (s) => {
      const v = await verifyMessage(utf8(await build(s)), verifyOptions(f, { trustAnchors: anchors }));
      const want = expected(s);
      const got = { valid: v.valid, problems: v.problems.map((p) => `${p.code}: ${p.message}`), warnings: [...new Set(v.warnings.map((w) => w.code))].sort() };
      const context = `\n  ${explain(s)}\n  model: ${JSON.stringify(want)}\n  verdict: ${JSON.stringify(got, null, 1)}`;
      expect(v.valid, context).toBe(want.valid);
      if (!want.valid) return void tally.invalid++;
      expect(got.warnings, context).toEqual(want.warnings);
      expect(want.warnings, context).toContain('SMIME_FROM_DOMAIN_LOOKALIKE');
      for (const w of v.warnings.filter((x) => x.code === 'SMIME_FROM_DOMAIN_LOOKALIKE'))
        expect(w.message, context).toMatch(/the From domain \u0440\u0430\u0443\u0440\u0430\u04CF\.example \(xn--80aa0cbo65f\.example\) is written in Cyrillic letters that look Latin: a reader may take it for paypal\.example$/);
      tally.valid++;
      if (s.wrappers.length > 0) tally.wrappedValid++;
      if (s.outer.from.values.join().includes(`"${MAILBOX.whole}"`)) tally.nameValid++;
    }),
    { numRuns: Number(process.env.SPOOF_RUNS ?? 100) },
  );
  if (process.env.SPOOF_RUNS) console.log({ whole: tally });
  expect(tally.valid).toBeGreaterThan(10);
  expect(tally.invalid).toBeGreaterThan(10);
  expect(tally.wrappedValid).toBeGreaterThan(1);
}, 60_000);

// The RFC 9788 paths with UTF-8 header fields: signed with injected fields, an hp parameter and an
// HP-Outer record, encrypted whole; the envelope's UTF-8 outer header is the signer's or one
// changed after sending (the Subject, the Reply-To to a look-alike domain, the From respelled or
// replaced, or all of it). The model is expectedEncrypted, as for the ASCII paths.

const afterSendingUtf8 = (outer: HeaderSet): fc.Arbitrary<HeaderSet | undefined> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constant<HeaderSet>({ ...outer, subject: written('Zahlung für Mai') }) },
    { weight: 1, arbitrary: fc.constant<HeaderSet>({ ...outer, replyTo: 'ap@b\u00FC\u0441her.example' }) },
    { weight: 1, arbitrary: respelled(outer) },
    { weight: 1, arbitrary: utf8HeaderSet },
  );

const utf8HpScenario: fc.Arbitrary<{ s: Scenario; e: Envelope }> = fc
  .record({
    signer: fc.constantFrom<SignerName>('idnA', 'idnU', 'zoe', 'sigma', 'attacker'),
    carrier: fc.constantFrom<'detached' | 'opaque'>('detached', 'opaque'),
    outer: utf8HeaderSet,
    hp: hpChoice,
    alg: fc.constantFrom<ContentEncryptionAlgorithm>('aes-256-gcm', 'aes-128-gcm', 'aes-256-cbc'),
  })
  .chain((x) =>
    fc
      .record({
        injected: fc.oneof({ weight: 2, arbitrary: likeOuterUtf8(x.outer) }, { weight: 2, arbitrary: fc.constant<HeaderSet>({ ...x.outer, subject: written('Zahlungen Q1 (vertraulich)') }) }),
        changed: afterSendingUtf8(x.outer),
      })
      .map(({ injected, changed }) => {
        const s: Scenario = { signer: x.signer, carrier: x.carrier, outer: x.outer, wrappers: [], injected, partial: false, hp: x.hp };
        const e: Envelope = { placement: 'whole', alg: x.alg, signedInside: true, keyGiven: true };
        if (changed) e.outer = changed;
        return { s, e };
      }),
  );

const utf8HpTally = { valid: 0, invalid: 0, changedAfterSending: 0 };

it('UTF-8 RFC 9788 paths: the UTF-8 HP-Outer record explains only what the signer sent; UTF-8 changes after sending warn; the protected UTF-8 fields are shown', async () => {
  const anchors = utf8Anchors();
  await fc.assert(
    fc.asyncProperty(utf8HpScenario, async ({ s, e }) => {
      const message = await buildEncrypted(s, e);
      const v = await verifyMessage(utf8(message), verifyOptions(f, { trustAnchors: anchors, decryptionKeys: [{ privateKey: f.payments.key, certificate: f.payments.certificate }] }));
      const want = expectedEncrypted(s, e);
      const got = { valid: v.valid, problems: v.problems.map((p) => `${p.code}: ${p.message}`), warnings: [...new Set(v.warnings.map((w) => w.code))].sort() };
      const context = `\n  envelope: ${JSON.stringify({ ...e, outer: e.outer && headerLines(e.outer) })}\n  ${explain(s)}\n  model: ${JSON.stringify(want)}\n  verdict: ${JSON.stringify(got, null, 1)}\n  differences: ${JSON.stringify(v.headerProtection.map((h) => h.differences))}`;
      expect(v.valid, context).toBe(want.valid);
      if (want.valid) {
        expect(got.warnings, context).toEqual(want.warnings);
        const shown = parseMessage(v.decryptedMessage!);
        expect(getHeaders(shown, 'Subject').map((h) => h.value), context).toEqual([s.injected!.subject.raw.replace(/\r\n/g, '')]);
        if (e.outer) utf8HpTally.changedAfterSending++;
        utf8HpTally.valid++;
      } else utf8HpTally.invalid++;
    }),
    { numRuns: Number(process.env.SPOOF_RUNS ?? 100) },
  );
  if (process.env.SPOOF_RUNS) console.log({ utf8Hp: utf8HpTally });
  expect(utf8HpTally.valid).toBeGreaterThan(3);
  expect(utf8HpTally.invalid).toBeGreaterThan(10);
}, 60_000);
