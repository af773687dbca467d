/**
 * A verdict without what was only inside the ciphertext, for records kept outside the mailbox
 * (evidence stores, logs, audit trails). A verdict of an encrypted message carries decrypted content:
 * the message shown, the protected header fields (an encrypted Subject, RFC 9788), and problem
 * messages quoting them. Evidence must say what was checked and why it failed, not what the message
 * said. The one redaction: the filter's evidenceVerdict (mailpki/filter) is this, as JSON.
 */
import type { HeaderDifference, HeaderProtection } from './protected-headers.js';
import type { SmimeProblem, SmimeProblemCode, SmimeWarning, SmimeWarningCode, Verdict } from './verdict.js';

/**
 * Codes whose messages quote nothing of the message content (certificates, algorithms, counts, CMS
 * and decryption errors). Every other message may quote a header field (a From, a Subject, an
 * HP-Outer record) and is left out: a new code is left out until it is added here.
 */
const PLAIN_MESSAGES = new Set<SmimeProblemCode | SmimeWarningCode>([
  'SMIME_NESTING_TOO_DEEP',
  'SMIME_ENCRYPTED_NO_KEY',
  'SMIME_DECRYPTION_FAILED',
  'SMIME_INTEGRITY_UNKNOWN',
  'SMIME_ECONTENT_IN_DETACHED',
  'SMIME_CONTENT_TYPE_NOT_DATA',
  'SMIME_NO_SIGNERS',
  'SMIME_WORK_LIMIT_EXCEEDED',
  'SMIME_SIGNER_CERTIFICATE_MISSING',
  'SMIME_SIGNATURE_INVALID',
  'SMIME_WEAK_ALGORITHM',
  'SMIME_CHAIN_INVALID',
  'SMIME_CERTIFICATE_REVOKED',
  'SMIME_REVOCATION_UNAVAILABLE',
  'SMIME_REVOCATION_UNKNOWN',
  'SMIME_REVOCATION_NO_SOURCES',
  'SMIME_MICALG_MISMATCH',
  'SMIME_SIGNING_TIME_OUTSIDE_VALIDITY',
  'SMIME_WEAK_ALGORITHM_ALLOWED',
  'SMIME_REVOCATION_UNCHECKED',
  'SMIME_REVOKED_AFTER_SIGNING',
]);

/** A problem or warning as evidence keeps it: code, `header` and `signer`; the message only when it quotes no content. */
export type RedactedNote<T extends SmimeProblem | SmimeWarning> = Omit<T, 'message'> & { message?: string };

/** Header protection as evidence keeps it: where it was and which fields differed, and why; no value. */
export interface RedactedHeaderProtection {
  hp: HeaderProtection['hp'];
  where: string;
  differences: { name: string; cause: HeaderDifference['cause'] }[];
}

/**
 * What redactVerdict returns. A verdict of a message with no encrypted layer is one too, unchanged
 * (`contentRedacted` absent); with one, `contentRedacted: 'encrypted'` and the fields below narrowed.
 */
export type RedactedVerdict = Omit<Verdict, 'decryptedMessage' | 'signedHeaders' | 'headerProtection' | 'problems' | 'warnings'> & {
  /** 'encrypted': values from inside an encrypted layer were left out. */
  contentRedacted?: 'encrypted';
  decryptedMessage?: Uint8Array;
  /** Field names only, when redacted. */
  signedHeaders: { name: string; value?: string }[];
  headerProtection: RedactedHeaderProtection[];
  problems: RedactedNote<SmimeProblem>[];
  warnings: RedactedNote<SmimeWarning>[];
};

function note<T extends SmimeProblem | SmimeWarning>(p: T): RedactedNote<T> {
  if (PLAIN_MESSAGES.has(p.code)) return { ...p };
  const { message: _quotesContent, ...rest } = p;
  return rest;
}

/**
 * A copy of a verdict that keeps no value from inside an encrypted layer, for evidence. When the
 * message had no encrypted layer, an equal copy (everything in it travelled in clear). Otherwise:
 * no `decryptedMessage`; `signedHeaders` keep field names only; `headerProtection` keeps `hp`,
 * `where` and each difference's field name and cause (no protected, sent or outer values, no
 * HP-Outer record); problem and warning messages that may quote a header field are left out (code,
 * `header` and `signer` kept; certificate, algorithm and decryption messages kept);
 * `contentRedacted: 'encrypted'`. Signers (certificates, chain, revocation answers) and layers stay:
 * who signed, and with what, is what evidence is for. The input is not changed.
 *
 * @example
 * const verdict = await verifyMessage(eml, { trustAnchors, decryptionKeys });
 * await log.write(JSON.stringify(redactVerdict(verdict)));
 */
export function redactVerdict(verdict: Verdict): RedactedVerdict {
  return structuredClone(redactedView(verdict));
}

/**
 * @internal What redactVerdict copies: the verdict itself when it had no encrypted layer, otherwise
 * a new top level whose fields not narrowed are the verdict's own objects (not copies). Only for a
 * caller that copies it next (evidenceVerdict serialises it), so as not to copy a verdict twice.
 */
export function redactedView(verdict: Verdict): RedactedVerdict {
  if (!verdict.layers.some((l) => l.kind === 'encrypted')) return verdict;
  const { decryptedMessage: _plaintext, signedHeaders, headerProtection, problems, warnings, ...rest } = verdict;
  return {
    ...rest,
    contentRedacted: 'encrypted',
    signedHeaders: signedHeaders.map((h) => ({ name: h.name })),
    headerProtection: headerProtection.map((h) => ({ hp: h.hp, where: h.where, differences: h.differences.map((d) => ({ name: d.name, cause: d.cause })) })),
    problems: problems.map(note),
    warnings: warnings.map(note),
  };
}
