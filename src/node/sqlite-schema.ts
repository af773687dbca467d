/**
 * The SQLite schema of the embedded store, as an ordered list of migrations. Each migration runs
 * in its own transaction and sets `PRAGMA user_version` to its number; migration 1 also stamps
 * `PRAGMA application_id`, so a file that is not ours is recognised before anything is written.
 *
 * Portability (PostgreSQL later): dates are integer milliseconds since the epoch (BIGINT), JSON is
 * TEXT, DER is BLOB (BYTEA there); queries use only syntax both understand.
 */

/** 'mPKI' as a big-endian 32-bit integer: the `PRAGMA application_id` of a mailpki store. */
export const MAILPKI_APPLICATION_ID = 0x6d504b49;

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'identities, credentials, keys, notices, outbox, audit, pending issuances',
    sql: `
CREATE TABLE identities (
  id TEXT NOT NULL PRIMARY KEY,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  domain TEXT NOT NULL,
  owner_team TEXT NOT NULL,
  owner_contact TEXT,
  purpose TEXT,
  approved_by TEXT,
  tags TEXT NOT NULL,
  ca_id TEXT,
  profile TEXT,
  key_type TEXT NOT NULL,
  policy TEXT,
  status TEXT NOT NULL,
  decommission_at BIGINT,
  current_credential_id TEXT,
  not_after BIGINT,
  next_due_at BIGINT,
  attributes TEXT,
  version BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX identities_next_due_at ON identities (next_due_at);
CREATE INDEX identities_not_after ON identities (not_after);
CREATE INDEX identities_owner_team ON identities (owner_team);
CREATE INDEX identities_domain ON identities (domain);

CREATE TABLE credentials (
  id TEXT NOT NULL PRIMARY KEY,
  identity_id TEXT NOT NULL REFERENCES identities (id),
  kind TEXT NOT NULL,
  serial_number TEXT,
  fingerprint TEXT NOT NULL,
  certificate BLOB,
  key_id TEXT,
  selector TEXT,
  not_before BIGINT NOT NULL,
  not_after BIGINT NOT NULL,
  status TEXT NOT NULL,
  revoked_at BIGINT,
  revocation_reason TEXT,
  attributes TEXT,
  created_at BIGINT NOT NULL
);
CREATE INDEX credentials_identity_id ON credentials (identity_id, created_at);

CREATE TABLE private_keys (
  id TEXT NOT NULL PRIMARY KEY,
  identity_id TEXT NOT NULL REFERENCES identities (id),
  algorithm TEXT NOT NULL,
  protected_key TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX private_keys_identity_id ON private_keys (identity_id);

CREATE TABLE notices (
  identity_id TEXT NOT NULL REFERENCES identities (id),
  credential_id TEXT NOT NULL,
  notice_key TEXT NOT NULL,
  sent_at BIGINT NOT NULL,
  PRIMARY KEY (identity_id, credential_id, notice_key)
);

CREATE TABLE outbox (
  id TEXT NOT NULL PRIMARY KEY,
  type TEXT NOT NULL,
  payload TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  attempts INTEGER NOT NULL,
  next_attempt_at BIGINT NOT NULL,
  delivered_at BIGINT,
  last_error TEXT,
  lease_owner TEXT,
  lease_until BIGINT
);
CREATE INDEX outbox_pending ON outbox (delivered_at, next_attempt_at);
CREATE INDEX outbox_created_at ON outbox (created_at, id);

CREATE TABLE audit (
  seq BIGINT NOT NULL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  at BIGINT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  identity_id TEXT,
  reason TEXT,
  before_json TEXT,
  after_json TEXT,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX audit_identity_id ON audit (identity_id);

CREATE TABLE pending_issuances (
  identity_id TEXT NOT NULL PRIMARY KEY REFERENCES identities (id),
  idempotency_key TEXT NOT NULL,
  requested_at BIGINT NOT NULL,
  status TEXT NOT NULL,
  credential_id TEXT
);
`,
  },
  {
    version: 2,
    description: 'identity claims: which worker is working on an identity, until when',
    sql: `
CREATE TABLE identity_claims (
  identity_id TEXT NOT NULL PRIMARY KEY,
  owner TEXT NOT NULL,
  claimed_until BIGINT NOT NULL
);
`,
  },
  {
    version: 3,
    description: "identity use (signing, encryption, both; existing S/MIME identities: both) and the decryption-key history",
    // Backfill: every stored key of an existing S/MIME certificate could have received encrypted
    // mail, so it enters the history with the default retention (its notAfter + 2555 days).
    sql: `
ALTER TABLE identities ADD COLUMN key_use TEXT;
UPDATE identities SET key_use = 'both' WHERE kind = 'smime';

CREATE TABLE decryption_keys (
  credential_id TEXT NOT NULL PRIMARY KEY,
  identity_id TEXT NOT NULL REFERENCES identities (id),
  key_id TEXT NOT NULL,
  retain_until BIGINT NOT NULL,
  destroyed_at BIGINT,
  created_at BIGINT NOT NULL
);
CREATE INDEX decryption_keys_identity_id ON decryption_keys (identity_id, created_at);

INSERT INTO decryption_keys (credential_id, identity_id, key_id, retain_until, destroyed_at, created_at)
  SELECT c.id, c.identity_id, c.key_id, c.not_after + 220752000000, NULL, c.created_at
  FROM credentials c JOIN identities i ON i.id = c.identity_id
  WHERE i.kind = 'smime' AND c.kind = 'certificate' AND c.key_id IS NOT NULL AND c.key_id IN (SELECT id FROM private_keys);
`,
  },
  {
    version: 4,
    description: 'filter evidence: one record per message the filter saw (verdicts, revocation answers, dispositions)',
    sql: `
CREATE TABLE filter_evidence (
  id TEXT NOT NULL PRIMARY KEY,
  message_id TEXT,
  received_at BIGINT NOT NULL,
  record TEXT NOT NULL
);
CREATE INDEX filter_evidence_received_at ON filter_evidence (received_at, id);
CREATE INDEX filter_evidence_message_id ON filter_evidence (message_id);
`,
  },
  {
    version: 5,
    description: 'separate signing and encryption certificates under one identity (existing identities: one certificate, unchanged)',
    // Only new nullable columns: NULL means what every identity meant before (one certificate,
    // current_credential_id; an issuance for it). No row is rewritten.
    sql: `
ALTER TABLE identities ADD COLUMN certificates TEXT;
ALTER TABLE identities ADD COLUMN encryption_credential_id TEXT;
ALTER TABLE pending_issuances ADD COLUMN certificate TEXT;
`,
  },
  {
    version: 6,
    description: 'the decryption-key history without Ed25519 keys (migration 3 backfilled them; an Ed25519 key cannot decrypt)',
    // Only entries whose stored key is Ed25519 go; every other entry, and every key, stays as it is.
    sql: `
DELETE FROM decryption_keys WHERE key_id IN (SELECT id FROM private_keys WHERE algorithm = 'ed25519');
`,
  },
  {
    version: 7,
    description: 'decryption keys bound to the life they were issued in: the owner team, and when that life ended (the mailbox enrolled again)',
    // Backfill: an entry created before an identity.reenrolled audit record of its identity belongs
    // to the life that record ended (its owner is that record's "before"); the others to the current
    // life and its owner. Strictly before: the new life's first key is recorded after the re-enrollment.
    // An audit record whose before is not JSON (damaged) leaves that life's owner unknown (its keys then go to
    // nobody through previousOwner) rather than failing the upgrade.
    sql: `
ALTER TABLE decryption_keys ADD COLUMN owner_team TEXT;
ALTER TABLE decryption_keys ADD COLUMN life_ended_at BIGINT;

UPDATE decryption_keys SET
  life_ended_at = (SELECT a.at FROM audit a WHERE a.action = 'identity.reenrolled' AND a.identity_id = decryption_keys.identity_id AND a.at > decryption_keys.created_at ORDER BY a.seq LIMIT 1),
  owner_team = (SELECT CASE WHEN json_valid(a.before_json) THEN json_extract(a.before_json, '$.owner.team') END FROM audit a WHERE a.action = 'identity.reenrolled' AND a.identity_id = decryption_keys.identity_id AND a.at > decryption_keys.created_at ORDER BY a.seq LIMIT 1)
WHERE EXISTS (SELECT 1 FROM audit a WHERE a.action = 'identity.reenrolled' AND a.identity_id = decryption_keys.identity_id AND a.at > decryption_keys.created_at);
UPDATE decryption_keys SET owner_team = (SELECT i.owner_team FROM identities i WHERE i.id = decryption_keys.identity_id) WHERE owner_team IS NULL AND life_ended_at IS NULL;
`,
  },
  {
    version: 8,
    description: 'filter evidence keeps the certificates its verdicts name, each once (records refer to them by SHA-256)',
    // Records written before keep no certificates (they have none to refer to); nothing is rewritten.
    sql: `
CREATE TABLE filter_evidence_certificates (
  sha256 TEXT NOT NULL PRIMARY KEY,
  der BLOB NOT NULL
);
CREATE TABLE filter_evidence_certificate_refs (
  evidence_id TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  PRIMARY KEY (evidence_id, sha256)
);
CREATE INDEX filter_evidence_certificate_refs_sha256 ON filter_evidence_certificate_refs (sha256);
`,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
