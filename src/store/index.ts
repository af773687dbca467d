/** mailpki/store: the lifecycle Store interface, its records, the in-memory store, the audit chain and key protection. */
export * from './types.js';
export { MemoryStore, identityMatches, type MemoryStoreOptions } from './memory.js';
export {
  GENESIS_HASH,
  auditHash,
  canonicalJson,
  chainAudit,
  exportAuditJsonl,
  verifyAuditChain,
  type AuditProblem,
  type AuditVerification,
  type VerifyAuditOptions,
} from './audit.js';
export {
  kekKeyProtector,
  passphraseKeyProtector,
  protectedKeySchema,
  type KekProtectorOptions,
  type KeyProtector,
  type PassphraseKeyProtectorOptions,
  type ProtectedKey,
} from './key-protector.js';
export { MAX_LEASE_MS } from './outbox.js';
export type { AsyncContextLike } from './serial.js';
