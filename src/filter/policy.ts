/**
 * The filter's disposition policy: per recipient (mailbox or domain), what a message must prove
 * (S/MIME valid, revocation status known and good, an aligned DKIM pass) and what happens when it
 * does not (accept, tag, quarantine, reject). Pure decisions, no I/O: the filter asks
 * `decideDispositions(policy, facts, recipients)` and carries the answer out.
 */
import { z } from 'zod';
import { parseInput } from '../internal/validate.js';

export const DISPOSITION_ACTIONS = ['accept', 'tag', 'quarantine', 'reject'] as const;
export type DispositionAction = (typeof DISPOSITION_ACTIONS)[number];

/** Rules in one policy at most, so matching stays cheap per recipient. */
export const MAX_POLICY_RULES = 1000;
/** Patterns in one rule's recipients or from list at most. */
export const MAX_POLICY_PATTERNS = 1000;

/**
 * A mailbox (`ap@example.com`), every mailbox of a domain (`*@example.com` or `example.com`), or
 * every mailbox of a domain and its subdomains (`*@*.example.com`, `*.example.com`). Case-insensitive.
 */
const pattern = z
  .string()
  .max(320)
  .regex(/^(\*@|[^\s@*]+@)?(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*$/i, 'expected a mailbox (ap@example.com), a domain (example.com, *@example.com) or a domain tree (*.example.com)');

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
    /** Short name, reported in the evidence and the X-Mailpki-Disposition header. */
    name: z.string().min(1).max(100).optional(),
    /** Recipients this rule governs. */
    recipients: z.array(pattern).min(1).max(MAX_POLICY_PATTERNS),
    /** Only for messages whose From mailbox matches one of these (default: any From). */
    from: z.array(pattern).min(1).max(MAX_POLICY_PATTERNS).optional(),
    require: requirementsSchema,
    /** What to do when a requirement is not met. */
    otherwise: z.enum(DISPOSITION_ACTIONS),
  })
  .strict();

export const filterPolicySchema = z
  .object({
    version: z.literal(1),
    rules: z.array(ruleSchema).max(MAX_POLICY_RULES),
    tag: z
      .object({
        /** A header added to tagged messages (default X-Mailpki-Disposition: the rule's name or "tag"). */
        header: z.string().regex(/^[!-9;-~]{1,76}$/, 'expected a header field name').optional(),
        /** Put before the Subject of a tagged message, e.g. "[UNVERIFIED] ". */
        subjectPrefix: z.string().max(100).regex(/^[^\r\n]*$/, 'no line breaks').optional(),
      })
      .strict()
      .optional(),
    quarantine: z
      .union([
        z.object({ directory: z.string().min(1) }).strict(),
        z.object({ mailbox: z.string().regex(/^[^\s@<>]+@[^\s@<>]+$/, 'expected a mailbox') }).strict(),
      ])
      .optional(),
  })
  .strict()
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
  /** S/MIME verdict valid (entire message, valid signer bound to From). */
  smimeValid: boolean;
  /** Every certificate of every signer's chain was checked and is good (not revoked, status known). */
  revocationGood: boolean;
  /** A DKIM signature passed and aligns with the From domain. */
  dkimAligned: boolean;
}

export interface Disposition {
  action: DispositionAction;
  /** The rule that decided (undefined: no rule matched, accepted). */
  rule?: string;
  /** Requirements not met, in words for the evidence and the tag header. */
  failed: string[];
}

/** Does `address` match a policy pattern? */
export function matchesPattern(address: string, p: string): boolean {
  const at = address.lastIndexOf('@');
  if (at < 1) return false;
  const a = address.toLowerCase();
  const domain = a.slice(at + 1);
  const q = p.toLowerCase();
  const pat = q.includes('@') ? q : `*@${q}`;
  const pAt = pat.lastIndexOf('@');
  const local = pat.slice(0, pAt);
  const pDomain = pat.slice(pAt + 1);
  if (local !== '*' && `${local}@${pDomain}` !== a) return false;
  if (pDomain.startsWith('*.')) return domain === pDomain.slice(2) || domain.endsWith(pDomain.slice(1));
  return domain === pDomain;
}

function ruleName(rule: FilterPolicyRule, index: number): string {
  return rule.name ?? `rules.${index}`;
}

/**
 * The disposition for one recipient: the first rule (in file order) whose recipients and from
 * match decides; no matching rule, or no policy, accepts.
 */
export function decideDisposition(policy: FilterPolicy | undefined, facts: DispositionFacts, recipient: string): Disposition {
  if (!policy) return { action: 'accept', failed: [] };
  for (const [i, rule] of policy.rules.entries()) {
    if (!rule.recipients.some((p) => matchesPattern(recipient, p))) continue;
    if (rule.from && !(facts.from && rule.from.some((p) => matchesPattern(facts.from!, p)))) continue;
    const failed: string[] = [];
    if (rule.require.smime && !facts.smimeValid) failed.push('smime');
    if (rule.require.smime && rule.require.revocation === 'hard-fail' && !facts.revocationGood) failed.push('revocation');
    if (rule.require.dkimAligned && !facts.dkimAligned) failed.push('dkim');
    return { action: failed.length ? rule.otherwise : 'accept', rule: ruleName(rule, i), failed };
  }
  return { action: 'accept', failed: [] };
}

const SEVERITY: Record<DispositionAction, number> = { accept: 0, tag: 1, quarantine: 2, reject: 3 };

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
  for (const r of recipients) {
    const d = decideDisposition(policy, facts, r);
    perRecipient.set(r, d);
    if (SEVERITY[d.action] > SEVERITY[strictest]) strictest = d.action;
  }
  return { reject: strictest === 'reject', perRecipient, strictest };
}
