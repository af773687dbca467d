/**
 * A verdict without what was only inside the ciphertext, for records kept outside the mailbox
 * (evidence stores, logs, audit trails). A verdict of an encrypted message carries decrypted content:
 * the message shown, the protected header fields (an encrypted Subject), and problem messages quoting
 * them. Evidence must say what was checked and why it failed, not what the message said.
 */
import type { SmimeProblem, SmimeProblemCode, SmimeWarning, SmimeWarningCode, Verdict } from './verdict.js';

/** What stands in for a value that came from inside an encrypted layer. */
export const REDACTED_VALUE = '[encrypted]';

/**
 * Codes whose messages quote nothing of the message content (certificates, algorithms, counts, CMS
 * and decryption errors). Every other message may quote a header field (a From, a Subject, an
 * HP-Outer record) and is withheld: a new code is withheld until it is added here.
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

function withhold<T extends SmimeProblem | SmimeWarning>(p: T): T {
  return PLAIN_MESSAGES.has(p.code) ? { ...p } : { ...p, message: `${p.code}: details withheld (the message was encrypted, and they may quote its content)` };
}

/**
 * A copy of a verdict that keeps no value from inside an encrypted layer, for evidence. When the
 * message had no encrypted layer, an unchanged copy (everything in it travelled in clear). Otherwise:
 * no `decryptedMessage`; `signedHeaders` and the protected `fields`, `sentOuter` and `protected`/`sent`
 * values of `headerProtection` become REDACTED_VALUE (names kept, outer values kept: they were on the
 * wire); problem and warning messages that may quote header fields are withheld (code, `header`
 * and `signer` kept); `redacted` is true. Signers (certificates, chain, revocation) and layers stay:
 * who signed, and with what, is what evidence is for.
 *
 * @example
 * const verdict = await verifyMessage(eml, { trustAnchors, decryptionKeys });
 * await evidence.put({ smime: redactVerdict(verdict) });
 */
export function redactVerdict(verdict: Verdict): Verdict {
  const copy: Verdict = structuredClone(verdict);
  if (!verdict.layers.some((l) => l.kind === 'encrypted')) return copy;
  delete copy.decryptedMessage;
  copy.signedHeaders = copy.signedHeaders.map((h) => ({ name: h.name, value: REDACTED_VALUE }));
  copy.headerProtection = copy.headerProtection.map((hp) => ({
    ...hp,
    fields: hp.fields.map((f) => ({ name: f.name, value: REDACTED_VALUE })),
    ...(hp.sentOuter && { sentOuter: hp.sentOuter.map((f) => ({ name: f.name, value: REDACTED_VALUE })) }),
    differences: hp.differences.map((d) => ({ ...d, protected: d.protected.map(() => REDACTED_VALUE), ...(d.sent && { sent: d.sent.map(() => REDACTED_VALUE) }) })),
  }));
  copy.problems = copy.problems.map(withhold);
  copy.warnings = copy.warnings.map(withhold);
  copy.redacted = true;
  return copy;
}
