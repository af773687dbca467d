/**
 * The filter's disposition policy: per recipient (mailbox or domain), what a message must prove
 * (S/MIME valid, revocation status known and good, an aligned DKIM pass) and what happens when it
 * does not (accept, tag, quarantine, reject). Pure decisions, no I/O: the filter asks
 * `decideDispositions(policy, facts, recipients)` and carries the answer out.
 */
import { z } from 'zod';
import { parseInput } from '../internal/validate.js';
import { domainToUnicode, lowerCaseDomain } from '../internal/mailbox.js';

export const DISPOSITION_ACTIONS = ['accept', 'tag', 'quarantine', 'reject'] as const;
export type DispositionAction = (typeof DISPOSITION_ACTIONS)[number];

/** Rules in one policy at most, so matching stays cheap per recipient. */
export const MAX_POLICY_RULES = 1000;
/** Patterns in one rule's recipients or from list at most. */
export const MAX_POLICY_PATTERNS = 1000;

/** The default subaddress delimiter (Postfix recipient_delimiter): a rule for ap@ also governs ap+anything@. */
export const DEFAULT_RECIPIENT_DELIMITER = '+';

/**
 * A mailbox (`ap@example.com`), every mailbox of a domain (`*@example.com` or `example.com`), or
 * every mailbox of a domain and its subdomains (`*@*.example.com`, `*.example.com`). Case-insensitive;
 * an internationalised domain may be written with U-labels or A-labels (compared as A-labels).
 */
const pattern = z
  .string()
  .max(320)
  .regex(/^(\*@|[^\s@*]+@)?(\*\.)?[\p{L}\p{N}\p{M}-]+(\.[\p{L}\p{N}\p{M}-]+)*$/iu, 'expected a mailbox (ap@example.com), a domain (example.com, *@example.com) or a domain tree (*.example.com)');

const requirementsSchema = z
  .object({
    /** The message must be S/MIME signed, entirely, by a valid signer bound to its From. */
    smime: z.boolean().optional(),
    /**
     * With smime: 'hard-fail' also needs every certificate's revocation status known and good;
     * 'soft-fail' accepts an unreachable responder (the verdict then carries a warning).
     */
    revocation: z.enum(['soft-fail', 'hard-fail']).optional(),
    /** A DKIM signature that passes and whose d= aligns with the From domain. */
    dkimAligned: z.boolean().optional(),
  })
  .strict();

const ruleSchema = z
  .object({
    /**
     * Short name, reported in the evidence, the X-Mailpki-Disposition header (`rule=NAME;`) and the SMTP reply: no
     * control or line-separating character (a reply or header line it would break) and no ";" (it ends the header's item).
     */
    name: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[^\p{Cc}\u2028\u2029;]+$/u, 'no control characters, line separators or ";"')
      .optional(),
    /** Recipients this rule governs. */
    recipients: z.array(pattern).min(1).max(MAX_POLICY_PATTERNS),
    /** Only for messages whose From mailbox matches one of these (default: any From). */
    from: z.array(pattern).min(1).max(MAX_POLICY_PATTERNS).optional(),
    require: requirementsSchema,
    /** What to do when a requirement is not met. */
    otherwise: z.enum(DISPOSITION_ACTIONS),
  })
  .strict();

/**
 * Names a tag header may not take: the filter removes every sender's field of the tag header's name and adds its own
 * on top, so under one of these it would remove what the message means or is verified by (From, Subject, the
 * signatures, MIME and trace fields) or write a second Authentication-Results (of an authserv-id "tag"), and the
 * filter's other fields.
 */
const RESERVED_TAG_HEADERS = new Set([
  'authentication-results', 'arc-authentication-results', 'arc-message-signature', 'arc-seal', 'dkim-signature',
  'from', 'sender', 'reply-to', 'to', 'cc', 'bcc', 'subject', 'date', 'message-id', 'in-reply-to', 'references',
  'resent-from', 'resent-sender', 'resent-to', 'resent-cc', 'resent-bcc', 'resent-date', 'resent-message-id',
  'mime-version', 'content-type', 'content-transfer-encoding', 'content-disposition', 'content-id',
  'received', 'return-path', 'delivered-to', 'list-id', 'x-mailpki-evidence-id', 'x-mailpki-quarantined-for',
]);

export const filterPolicySchema = z
  .object({
    version: z.literal(1),
    rules: z.array(ruleSchema).max(MAX_POLICY_RULES),
    tag: z
      .object({
        /** A header added to tagged messages (default X-Mailpki-Disposition: the rule's name or "tag"). */
        header: z
          .string()
          .regex(/^[!-9;-~]{1,76}$/, 'expected a header field name')
          .refine((h) => !RESERVED_TAG_HEADERS.has(h.toLowerCase()), 'names a field the message or its verification rests on')
          .optional(),
        /** Put before the Subject of a tagged message, e.g. "[UNVERIFIED] ". */
        subjectPrefix: z
          .string()
          .max(100)
          .regex(/^[^\p{Cc}\u2028\u2029]*$/u, 'no line breaks or other control characters')
          .optional(),
      })
      .strict()
      .optional(),
    /**
     * Characters that start a subaddress (Postfix recipient_delimiter), default "+": a rule for
     * ap@example.com governs ap+invoices@example.com. "" turns subaddressing off.
     */
    recipientDelimiter: z.string().max(8).regex(/^[^\s@"]*$/, 'expected delimiter characters').optional(),
    quarantine: z
      .union([
        z.object({ directory: z.string().min(1) }).strict(),
        z.object({ mailbox: z.string().regex(/^[^\s@<>]+@[^\s@<>]+$/, 'expected a mailbox') }).strict(),
      ])
      .optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    // A revocation requirement is checked on the S/MIME signers: without smime it would never be checked.
    for (const [i, r] of p.rules.entries())
      if (r.require.revocation !== undefined && r.require.smime !== true)
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['rules', i, 'require', 'revocation'], message: 'revocation is checked on the S/MIME signers: it needs smime: true' });
  })
  .refine((p) => !p.rules.some((r) => r.otherwise === 'quarantine') || p.quarantine !== undefined, {
    message: 'a rule quarantines: say where (quarantine.directory or quarantine.mailbox)',
    path: ['quarantine'],
  });

export type FilterPolicy = z.output<typeof filterPolicySchema>;
export type FilterPolicyRule = FilterPolicy['rules'][number];

/**
 * Checks a policy (e.g. JSON.parse of the policy file). Throws ERR_INVALID_INPUT naming the bad
 * field (`rules.0.otherwise: …`).
 *
 * @example
 * const policy = parseFilterPolicy({ version: 1, quarantine: { directory: '/var/spool/mailpki' },
 *   rules: [{ recipients: ['ap@example.com'], from: ['*@example.com'],
 *             require: { smime: true, revocation: 'hard-fail' }, otherwise: 'quarantine' }] });
 */
export function parseFilterPolicy(value: unknown): FilterPolicy {
  return parseInput(filterPolicySchema, value, 'filter policy');
}

/** What the policy looks at: the verification outcome, reduced to facts. */
export interface DispositionFacts {
  /** The From mailbox (lower-case domain), when there is one well-formed author. */
  from?: string;
  /**
   * Every address a reader could take as the author (readAuthorCandidates): a rule with `from`
   * applies when any of them matches. Absent: `from` alone is used.
   */
  fromCandidates?: readonly string[];
  /** False when the From fields could not be read whole: a rule with `from` then applies (fail closed). */
  fromComplete?: boolean;
  /**
   * What a reader takes an author candidate for when its domain only looks like another (latinLookalike:
   * pay@аpple.com, a Cyrillic "а", reads as pay@apple.com): a rule whose `from` matches one of these and
   * none of the candidates themselves applies, and fails as `from-lookalike` whatever the message proves —
   * what it proves is about another domain than the one the reader sees.
   */
  fromLookalikes?: readonly string[];
  /**
   * An author candidate's domain reads as a Latin name it is not by the rule a mail client shows domains by
   * (latinLookalike without `everyLabel`, Chromium's IDN spoof checker: the verdict's SMIME_FROM_DOMAIN_LOOKALIKE):
   * a rule without `from` that requires smime or dkimAligned fails as `from-lookalike` — what the message proves is
   * about a domain the reader does not see (a validly signed pay@раураӏ.com reads as pay@paypal.com).
   */
  fromMisleading?: boolean;
  /** S/MIME verdict valid (entire message, valid signer bound to From). */
  smimeValid: boolean;
  /** Every certificate of every signer's chain was checked and is good (not revoked, status known). */
  revocationGood: boolean;
  /** A DKIM signature passed and aligns with the From domain. */
  dkimAligned: boolean;
  /** smimeValid is false only because revocation status could not be had now (SMIME_REVOCATION_UNAVAILABLE alone). */
  smimeTemporary?: boolean;
  /** revocationGood is false only because a responder/CRL could not be reached now (nothing revoked). */
  revocationTemporary?: boolean;
  /** dkimAligned is false and a DKIM check ended in temperror (DNS): a retry may pass. */
  dkimTemporary?: boolean;
}

export interface Disposition {
  action: DispositionAction;
  /** The rule that decided (undefined: no rule matched, accepted). */
  rule?: string;
  /** Requirements not met, in words for the evidence and the tag header. */
  failed: string[];
  /** Every failed requirement failed only for a temporary reason: a reject becomes a 4xx (the MTA retries). */
  temporary?: boolean;
}

/** A domain as an A-label string (`bücher.example` → `xn--bcher-kva.example`), lower case, no trailing dot. WHATWG URL does the IDNA mapping, so this runs anywhere. */
function asciiDomain(domain: string): string {
  const d = lowerCaseDomain(domain).replace(/\.+$/, '');
  if (!/[^\x00-\x7f]/.test(d)) return d;
  try {
    return new URL(`http://${d}/`).hostname;
  } catch {
    return d;
  }
}

/**
 * A local part case-folded as Postfix folds an SMTPUTF8 address for its lookups (ICU full case folding): upper-cased,
 * then each character lower-cased — so "ΑΣ", "ας" and "ασ" are one local part (toLowerCase made "ΑΣ" the "ας" of
 * no rule for "ασ"), and "STRASSE" and "straße" are one. ASCII: toLowerCase.
 */
function foldLocalPart(local: string): string {
  return /^[\x00-\x7f]*$/.test(local) ? local.toLowerCase() : Array.from(local.toUpperCase(), (c) => c.toLowerCase()).join('');
}

/** A policy pattern read once: the local part ('*' for any) and the domain as A-labels, with its subdomains when `tree`. */
interface CompiledPattern {
  local: string;
  domain: string;
  tree: boolean;
  /** The domain as U-labels, by code point (for a look-alike reading that keeps letters: readsAs). */
  shown: readonly string[];
}

function compilePattern(p: string): CompiledPattern {
  const pat = p.includes('@') ? p : `*@${p}`;
  const at = pat.lastIndexOf('@');
  // The domain lower-cased by asciiDomain (lowerCaseDomain): toLowerCase on the whole pattern made "*@ΑΣ-1.GR" name ας-1.gr.
  const rawDomain = pat.slice(at + 1);
  const tree = rawDomain.startsWith('*.');
  const domain = asciiDomain(tree ? rawDomain.slice(2) : rawDomain);
  return { local: foldLocalPart(pat.slice(0, at)), domain, tree, shown: Array.from(domainToUnicode(domain)) };
}

/** An address read once: local part in lower case, its part before the subaddress delimiter, the domain as A-labels. */
interface ParsedAddress {
  local: string;
  base?: string;
  domain: string;
  /**
   * A look-alike reading that keeps Cyrillic or Greek letters no table reads (gσσgle.com, example.ϲom with a Greek
   * lunate sigma), by code point, each such letter as undefined: it may be taken for any Latin letter (readsAs).
   */
  kept?: readonly (string | undefined)[];
}

function parseAddress(address: string, delimiter: string): ParsedAddress | undefined {
  const at = address.lastIndexOf('@');
  if (at < 1) return undefined;
  const local = foldLocalPart(address.slice(0, at));
  let cut = -1;
  for (const c of delimiter) {
    const i = local.indexOf(c);
    if (i > 0 && (cut < 0 || i < cut)) cut = i;
  }
  return { local, ...(cut > 0 ? { base: local.slice(0, cut) } : {}), domain: asciiDomain(address.slice(at + 1)) };
}

function matchesCompiled(a: ParsedAddress, p: CompiledPattern): boolean {
  if (p.local !== '*' && p.local !== a.local && p.local !== a.base) return false;
  if (a.kept) return readsAs(a.kept, p.shown, 0) || (p.tree && a.kept.length > p.shown.length && a.kept[a.kept.length - p.shown.length - 1] === '.' && readsAs(a.kept, p.shown, a.kept.length - p.shown.length));
  return a.domain === p.domain || (p.tree && a.domain.endsWith(`.${p.domain}`));
}

const KEPT = /^[\p{Script=Cyrillic}\p{Script=Greek}]$/u;

/** Does `read` from `start` to its end read as `shown`: the same characters, a kept Cyrillic or Greek letter (undefined) for any Latin a–z? Linear in `shown`. */
function readsAs(read: readonly (string | undefined)[], shown: readonly string[], start: number): boolean {
  if (read.length - start !== shown.length) return false;
  for (let i = 0; i < shown.length; i++) {
    const r = read[start + i];
    const s = shown[i]!;
    if (r !== s && !(r === undefined && s >= 'a' && s <= 'z')) return false;
  }
  return true;
}

/**
 * Does `address` match a policy pattern? Case-insensitive, domains compared as A-labels, and the
 * address's subaddress (from the first of `delimiter`'s characters in the local part, default "+")
 * ignored when the pattern names a mailbox without it.
 */
export function matchesPattern(address: string, p: string, delimiter: string = DEFAULT_RECIPIENT_DELIMITER): boolean {
  const a = parseAddress(address, delimiter);
  return a !== undefined && matchesCompiled(a, compilePattern(p));
}

/**
 * A rule's patterns as lookups: an address is matched by its domain and each domain above it (a few map lookups per
 * label, however many patterns the rule has); a look-alike reading that keeps letters, by each pattern (readsAs).
 */
interface PatternIndex {
  /** Patterns for exactly one domain: the domain → their local parts ('*' for any). */
  readonly exact: ReadonlyMap<string, ReadonlySet<string>>;
  /** Patterns for a domain and its subdomains: the domain → their local parts. */
  readonly tree: ReadonlyMap<string, ReadonlySet<string>>;
  readonly all: readonly CompiledPattern[];
}

function indexPatterns(patterns: readonly CompiledPattern[]): PatternIndex {
  const exact = new Map<string, Set<string>>();
  const tree = new Map<string, Set<string>>();
  for (const p of patterns) {
    const m = p.tree ? tree : exact;
    let locals = m.get(p.domain);
    if (!locals) m.set(p.domain, (locals = new Set()));
    locals.add(p.local);
  }
  return { exact, tree, all: patterns };
}

/** Does the address match one of the patterns (as matchesCompiled would one of them)? */
function matchesAny(a: ParsedAddress, index: PatternIndex): boolean {
  if (a.kept) return index.all.some((p) => matchesCompiled(a, p));
  const locals = (s: ReadonlySet<string> | undefined) => s !== undefined && (s.has('*') || s.has(a.local) || (a.base !== undefined && s.has(a.base)));
  if (locals(index.exact.get(a.domain))) return true;
  for (let d = a.domain; ; ) {
    if (locals(index.tree.get(d))) return true;
    const dot = d.indexOf('.');
    if (dot < 0) return false;
    d = d.slice(dot + 1);
  }
}

/** Each policy's patterns, read once (a parsed policy is not changed afterwards). */
const compiledPolicies = new WeakMap<FilterPolicy, { recipients: PatternIndex; from?: PatternIndex }[]>();

function compiledRules(policy: FilterPolicy) {
  let c = compiledPolicies.get(policy);
  if (!c) {
    c = policy.rules.map((r) => ({ recipients: indexPatterns(r.recipients.map(compilePattern)), ...(r.from ? { from: indexPatterns(r.from.map(compilePattern)) } : {}) }));
    compiledPolicies.set(policy, c);
  }
  return c;
}

function ruleName(rule: FilterPolicyRule, index: number): string {
  return rule.name ?? `rules.${index}`;
}

/** Routes read from one recipient at most (MAX_RECIPIENT_ROUTES); one with more gets the policy's strictest action. */
export const MAX_RECIPIENT_ROUTES = 16;

/**
 * Every mailbox an MTA may deliver `recipient` to after the filter: the address itself, and the
 * routes written into its local part that Postfix's resolver follows when the domain is one of its
 * own (allow_percent_hack: `user%domain@local` → `user@domain`, the rightmost `%` first;
 * swap_bangpath: `site!user@local` → `user@site`) — both on by default, and the filter cannot know
 * which domains are local. Undefined when there are more than MAX_RECIPIENT_ROUTES.
 */
export function recipientRoutes(recipient: string): string[] | undefined {
  const routes = new Set<string>([recipient]);
  const queue = [recipient];
  while (queue.length) {
    const a = queue.shift()!;
    const at = a.lastIndexOf('@');
    const local = at < 0 ? a : a.slice(0, at);
    const next: string[] = [];
    const pct = local.lastIndexOf('%');
    if (pct > 0 && pct < local.length - 1) next.push(`${local.slice(0, pct)}@${local.slice(pct + 1)}`);
    const bang = local.indexOf('!');
    if (bang > 0 && bang < local.length - 1) next.push(`${local.slice(bang + 1)}@${local.slice(0, bang)}`);
    for (const n of next) {
      if (routes.has(n)) continue;
      if (routes.size >= MAX_RECIPIENT_ROUTES) return undefined;
      routes.add(n);
      queue.push(n);
    }
  }
  return [...routes];
}

/**
 * The disposition for one address. Each author candidate (and each look-alike reading) is a reader's view of who
 * wrote the message: for each, the first rule (in file order) whose recipients match and whose `from` matches that
 * view (or that has no `from`) decides, and the strictest of those answers applies — so a second candidate (a Sender
 * at a partner domain) cannot pick an earlier, more lenient rule than the one another candidate falls under. A
 * From not read whole applies every rule with `from` (fail closed): every rule whose recipients match answers, and the
 * strictest answer applies. None: accept.
 */
function decideForAddress(policy: FilterPolicy, facts: DispositionFacts, recipient: string, views: AuthorViews): Disposition {
  const delimiter = policy.recipientDelimiter ?? DEFAULT_RECIPIENT_DELIMITER;
  const address = parseAddress(recipient, delimiter);
  if (!address) return { action: 'accept', failed: [] };
  const compiled = compiledRules(policy);
  /** The rule's answer; `lookalike`: it applies through a look-alike reading only. */
  const answer = (i: number, lookalike: boolean): Disposition => {
    const rule = policy.rules[i]!;
    const c = compiled[i]!;
    // What smime and dkimAligned prove is about the one author (facts.from): a rule that applies through another candidate
    // only (Sender: cfo@example.com on a From x@evil.example with a DKIM pass aligned with evil.example) is not met by that proof.
    const proves = rule.require.smime === true || rule.require.dkimAligned === true;
    const unproven = !lookalike && c.from !== undefined && views.author !== undefined && proves && !views.author[i];
    // A rule for any From whose proof is about a domain the reader takes for another: not met either.
    const misleading = !lookalike && c.from === undefined && proves && facts.fromMisleading === true;
    // A candidate not read whole (a Sender over MAX_FROM_BYTES, an encoded word in a charset not known here) may be shown as
    // such a name too, and fromMisleading cannot say: fail closed, as `from` does for it.
    const unread = !lookalike && c.from === undefined && proves && facts.fromComplete === false;
    // A From that only reads as one of the rule's: its requirements cannot be met.
    const failed: string[] = lookalike || misleading ? ['from-lookalike'] : unproven ? ['from-unproven'] : unread ? ['from-unread'] : [];
    const temporary: boolean[] = failed.length ? [false] : [];
    if (rule.require.smime && !facts.smimeValid) (failed.push('smime'), temporary.push(facts.smimeTemporary === true));
    if (rule.require.smime && rule.require.revocation === 'hard-fail' && !facts.revocationGood)
      (failed.push('revocation'), temporary.push(facts.revocationTemporary === true || facts.smimeTemporary === true));
    if (rule.require.dkimAligned && !facts.dkimAligned) (failed.push('dkim'), temporary.push(facts.dkimTemporary === true));
    if (failed.length === 0) return { action: 'accept', rule: ruleName(rule, i), failed };
    return { action: rule.otherwise, rule: ruleName(rule, i), failed, ...(temporary.every(Boolean) ? { temporary: true } : {}) };
  };
  // Whether each rule's recipients match this address: found only for the rules a view takes (0: not yet, 1: no, 2: yes).
  const governs = new Uint8Array(compiled.length);
  const governed = (i: number) => (governs[i] ||= matchesAny(address, compiled[i]!.recipients) ? 2 : 1) === 2;
  // A From not read whole may be any author: every rule whose recipients match answers and the strictest applies (the first
  // of them deciding let an earlier lenient rule for a partner accept cfo@example.com padded with an unreadable Sender).
  if (facts.fromComplete === false) {
    const all = compiled.flatMap((_, i) => (governed(i) ? [answer(i, false)] : []));
    return all.length ? strictestOf(all) : { action: 'accept', failed: [] };
  }
  /** The first rule governing the address that the view takes; none: accept. */
  const first = (view: readonly Taken[]): Disposition => {
    const hit = view.find((t) => governed(t.rule));
    return hit ? answer(hit.rule, hit.lookalike) : { action: 'accept', failed: [] };
  };
  return strictestOf(views.views.map(first));
}

/** Whether a view of the author takes a rule: its `from` matches (or it has none), or only through a look-alike reading. */
type RuleView = boolean | 'lookalike';

/** A rule a view takes (by its index), and whether only through a look-alike reading. */
interface Taken {
  readonly rule: number;
  readonly lookalike: boolean;
}

/**
 * What the author fields make of each rule, read once per message rather than once per recipient and route: each distinct
 * view (a candidate, a look-alike reading) as the rules it takes, and which rules' `from` the proven author matches.
 */
interface AuthorViews {
  /** Each distinct view, as the rules it takes in file order (the rest it does not: a view is asked only about those). */
  readonly views: readonly (readonly Taken[])[];
  /** Per rule: the proven author (facts.from) matches its `from` (true for a rule without one); undefined without an author. */
  readonly author: readonly boolean[] | undefined;
}

function authorViews(policy: FilterPolicy, facts: DispositionFacts): AuthorViews {
  const delimiter = policy.recipientDelimiter ?? DEFAULT_RECIPIENT_DELIMITER;
  const compiled = compiledRules(policy);
  const parse = (addresses: readonly string[]) => addresses.map((a) => parseAddress(a, delimiter)).filter((a): a is ParsedAddress => a !== undefined);
  const takes = (a: ParsedAddress) => compiled.map((c) => c.from === undefined || matchesAny(a, c.from));
  const author = facts.from === undefined ? undefined : parseAddress(facts.from, delimiter);
  if (facts.fromComplete === false) return { views: [], author: author && takes(author) };
  const candidates = parse(facts.fromCandidates ?? (facts.from ? [facts.from] : [])).map(takes);
  const lookalikes = parse(facts.fromLookalikes ?? []).map((a) => {
    // A reading that keeps Cyrillic or Greek letters (a mixed label's, no table reads them) is compared letter by letter (readsAs).
    const read = domainToUnicode(a.domain);
    const kept = Array.from(read, (c) => (KEPT.test(c) ? undefined : c));
    return kept.includes(undefined) ? { ...a, kept } : a;
  });
  // No candidate at all (no From, no Sender): rules with `from` match nothing.
  const views: RuleView[][] = candidates.length === 0 ? [compiled.map((c) => c.from === undefined)] : candidates;
  // A look-alike reading applies a rule that no candidate itself matches (a candidate that does is judged as itself).
  const byCandidate = compiled.map((_, i) => candidates.some((t) => t[i]));
  for (const l of lookalikes) {
    const t = takes(l);
    views.push(compiled.map((c, i) => c.from === undefined || (t[i] && !byCandidate[i] ? 'lookalike' : false)));
  }
  // Views that take the same rules answer alike: each once (the strictest of answers does not change by a repeated one).
  const distinct = new Map<string, Taken[]>();
  for (const v of views) {
    const key = v.map((x) => (x === 'lookalike' ? 'l' : x ? '1' : '0')).join('');
    if (!distinct.has(key)) distinct.set(key, v.flatMap((x, rule) => (x ? [{ rule, lookalike: x === 'lookalike' }] : [])));
  }
  return { views: [...distinct.values()], author: author && takes(author) };
}

/** The strictest of several answers; of equal severity a permanent one over a temporary one, then one a rule gave over none, else the first. */
function strictestOf(answers: readonly Disposition[]): Disposition {
  let decided = answers[0]!;
  for (const d of answers.slice(1)) {
    const same = SEVERITY[d.action] === SEVERITY[decided.action];
    if (SEVERITY[d.action] > SEVERITY[decided.action] || (same && decided.temporary && !d.temporary) || (same && !decided.temporary === !d.temporary && decided.rule === undefined && d.rule !== undefined)) decided = d;
  }
  return decided;
}

const SEVERITY: Record<DispositionAction, number> = { accept: 0, tag: 1, quarantine: 2, reject: 3 };

/**
 * The disposition for one recipient: for the address and each route the MTA may still follow from
 * it (recipientRoutes: `ap%example.com@mx.example.com` is delivered to ap@example.com), and for each
 * author candidate, the first rule (in file order) whose recipients and from match decides (decideForAddress), and
 * the strictest of those answers applies; no matching rule, or no policy, accepts. A recipient with more routes than
 * MAX_RECIPIENT_ROUTES gets the strictest `otherwise` of the policy's rules.
 */
export function decideDisposition(policy: FilterPolicy | undefined, facts: DispositionFacts, recipient: string): Disposition {
  return policy ? decideWith(policy, facts, recipient, authorViews(policy, facts)) : { action: 'accept', failed: [] };
}

function decideWith(policy: FilterPolicy, facts: DispositionFacts, recipient: string, views: AuthorViews): Disposition {
  const routes = recipientRoutes(recipient);
  if (!routes) {
    let strictest: Disposition = { action: 'accept', failed: [] };
    for (const [i, rule] of policy.rules.entries())
      if (SEVERITY[rule.otherwise] > SEVERITY[strictest.action]) strictest = { action: rule.otherwise, rule: ruleName(rule, i), failed: [`recipient routes (more than ${MAX_RECIPIENT_ROUTES})`] };
    return strictest;
  }
  // Of equal severity, a permanent answer wins over a temporary one (a reject is not turned into a retry by another route).
  return strictestOf(routes.map((r) => decideForAddress(policy, facts, r, views)));
}

export interface MessageDisposition {
  /** 'reject' when any recipient's disposition is reject: SMTP answers DATA once, for all recipients. */
  reject: boolean;
  /** Each recipient's own disposition (the message is split: accepted, tagged and quarantined copies). */
  perRecipient: Map<string, Disposition>;
  /** The strictest action over all recipients (for the log and the evidence). */
  strictest: DispositionAction;
}

/**
 * Dispositions for all recipients of one message. Recipients with different dispositions get
 * different copies; a reject for any recipient rejects the message for all (an SMTP server answers
 * the message once; a sender told "5xx" for one copy must not believe the others went through).
 */
export function decideDispositions(policy: FilterPolicy | undefined, facts: DispositionFacts, recipients: readonly string[]): MessageDisposition {
  const perRecipient = new Map<string, Disposition>();
  let strictest: DispositionAction = 'accept';
  // The author fields read against the rules once for the message, not once per recipient.
  const views = policy && authorViews(policy, facts);
  for (const r of recipients) {
    const d = policy && views ? decideWith(policy, facts, r, views) : { action: 'accept' as const, failed: [] };
    perRecipient.set(r, d);
    if (SEVERITY[d.action] > SEVERITY[strictest]) strictest = d.action;
  }
  return { reject: strictest === 'reject', perRecipient, strictest };
}
