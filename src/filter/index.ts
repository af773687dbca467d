/** `mailpki/filter`: the inbound filter's core — disposition policy, inspection, evidence. Runtime-agnostic; the SMTP server is createFilter in mailpki/node. */
export {
  parseFilterPolicy,
  filterPolicySchema,
  decideDisposition,
  decideDispositions,
  matchesPattern,
  DISPOSITION_ACTIONS,
  MAX_POLICY_RULES,
  MAX_POLICY_PATTERNS,
  DEFAULT_RECIPIENT_DELIMITER,
  type FilterPolicy,
  type FilterPolicyRule,
  type DispositionAction,
  type DispositionFacts,
  type Disposition,
  type MessageDisposition,
} from './policy.js';
export { inspectMessage, rewriteMessage, smimeArResult, type InspectOptions, type Inspection, type SmimeOutcome, type RewriteOptions } from './inspect.js';
export {
  MemoryEvidenceStore,
  checkEvidenceRecord,
  evidenceVerdict,
  evidenceCertificates,
  MAX_EVIDENCE_CERTIFICATES,
  checkEvidenceQuery,
  MAX_EVIDENCE_PAGE,
  MAX_EVIDENCE_FAULTS,
  type EvidenceStore,
  type EvidenceRecord,
  type EvidenceQuery,
  type EvidenceDisposition,
  type EvidenceCertificate,
} from './evidence.js';
