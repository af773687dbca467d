/** `mailpki/lifecycle`: the lifecycle manager, its policy functions, events, the webhook sink and audit evidence. */
export {
  LifecycleManager,
  readDecryptionKeys,
  smimeIdentityId,
  type Actor,
  type DeliverySummary,
  type DecryptionKeyInfo,
  type DueSummary,
  type EncryptionCertificate,
  type EnrollInput,
  type ExportDecryptionKeysOptions,
  type KeyAccessOptions,
  type LifecycleManagerOptions,
  type ListFilter,
  type RenewOptions,
  type RevokeOptions,
  type RevokeReason,
  type SignatureRecord,
} from './manager.js';
export {
  DAY_MS,
  DEFAULT_DECRYPTION_KEY_RETENTION_DAYS,
  checkIssuancePolicy,
  checkPolicyOverrides,
  decryptionKeyRetainUntil,
  dueDecryptionKeys,
  receivesEncryptedMail,
  defaultRenewalChecks,
  dueBecauseRevoked,
  dueByDaysLeft,
  dueByFraction,
  dueNotices,
  effectivePolicy,
  isExpired,
  isPastDecommission,
  isRenewable,
  lifecyclePolicySchema,
  missingCredential,
  nextDueAt,
  noticeKey,
  parseLifecyclePolicy,
  parsePolicyOverrides,
  policyOverridesSchema,
  renewalDecision,
  sweepStep,
  renewalWindowStart,
  type ApprovalDecision,
  type ApprovalHook,
  type ApprovalRequest,
  type DueNotice,
  type LifecyclePolicy,
  type LifecyclePolicyInput,
  type PolicyContext,
  type PolicyOverrides,
  type PolicyViolation,
  type RenewalCheck,
  type RenewalVerdict,
  type SweepStep,
} from './policy.js';
export {
  LIFECYCLE_EVENT_TYPES,
  type CertificateSummary,
  type EventListener,
  type EventSink,
  type IdentitySummary,
  type LifecycleEvent,
  type LifecycleEventData,
  type LifecycleEventOf,
  type LifecycleEventType,
} from './events.js';
export {
  EVENT_ID_HEADER,
  SIGNATURE_HEADER,
  backoffDelay,
  createWebhookSink,
  signWebhookBody,
  verifyWebhookSignature,
  type WebhookSignatureResult,
  type WebhookSink,
  type WebhookSinkOptions,
} from './webhook.js';
export { checkInventoryOwners, exportAuditLog, verifyAuditLog, type InventoryMismatch } from './audit.js';
export {
  DkimManager,
  dkimIdentityId,
  type DkimCreateInput,
  type DkimDueSummary,
  type DkimDuePlan,
  type DkimKeyInfo,
  type DkimManagerOptions,
  type DkimSigningKey,
  type DriftEntry,
  type DriftReport,
  type DriftStatus,
} from './dkim.js';
export { DKIM_EVENT_TYPES, DKIM_KEY_STATES, type DkimEvent, type DkimEventType, type DkimKeyState } from './dkim-events.js';
export { dkimPolicySchema, nextDkimStep, parseDkimPolicy, type DkimPolicy as DkimRotationPolicy, type DkimPolicyInput } from './dkim-policy.js';
export { DEFAULT_CLAIM_LEASE_MS, type ClaimOptions } from './claims.js';
export { importDecryptionKey, type DecryptionKey } from './decryption-keys.js';
export type { CertificateChoice } from './certificates.js';
// The option types of separate certificates, beside the functions that take them (also in mailpki/store).
export type { CertificateRole, IdentityCertificates, IdentityUse } from '../store/index.js';
export { planDue, type DuePlan, type PlannedAction, type PlannedStep } from './plan.js';
