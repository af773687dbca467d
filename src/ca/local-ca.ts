/**
 * LocalCA: an in-process CA with a root and an issuing intermediate that issues S/MIME
 * certificates by the CA/B Forum mailbox-validated profiles. Its state lives in a CaStorage;
 * private keys are stored as passphrase-encrypted PKCS#8 when a passphrase is given.
 */
import { z } from 'zod';
import { MailPkiError, isMailPkiError } from '../errors.js';
import { fromBase64, fromHex, fromUtf8, normalizeSerialHex, toBase64, toHex, utf8 } from '../internal/bytes.js';
import { systemClock, type Clock } from '../internal/clock.js';
import { resolveCrypto } from '../internal/crypto.js';
import { decodePem, encodePem } from '../internal/pem.js';
import { parseInput } from '../internal/validate.js';
import { defaultSignatureAlgorithm, readPublicKeyInfo, type SignatureAlgorithm } from '../keys/algorithms.js';
import { exportPkcs8Pem, exportSpki, generateKeyPair, importPrivateKey } from '../keys/index.js';
import { authorityKeyIdentifierValue, computeKeyIdentifier, keySigner, randomSerial, signCertificate, type TbsSigner } from '../certs/builder.js';
import { OID } from '../internal/oids.js';
import { certificateEmails, parseCertificate, type Certificate } from '../certs/certificate.js';
import { parseCsr, verifyCsr } from '../certs/csr.js';
import { encodeName } from '../certs/name.js';
import { createCrl } from '../revocation/crl-create.js';
import { parseCrl } from '../revocation/crl-parse.js';
import { verifyCrl } from '../revocation/crl-verify.js';
import { parseOcspRequest } from '../revocation/ocsp-request.js';
import { createOcspErrorResponse, createOcspResponse, ocspResponderExtensions, type OcspLookupResult } from '../revocation/ocsp-responder.js';
import { PROFILE_RULES, caExtensions, checkSubscriberKey, isDomainAllowed, mailboxDomain, subscriberExtensions, subscriberKeyUsage } from './profiles.js';
import type { CaStorage } from './storage.js';
import {
  REVOCATION_REASONS,
  SMIME_PROFILES,
  issueRequestSchema,
  revokeRequestSchema,
  type CaInfo,
  type CertificateAuthority,
  type IssueRequest,
  type IssuedCertificate,
  type RevocationReason,
  type RevocationRecord,
  type RevokeRequest,
} from './types.js';

export const CA_KEY_TYPES = ['rsa-2048', 'rsa-3072', 'rsa-4096', 'ec-p256', 'ec-p384'] as const;
export type CaKeyType = (typeof CA_KEY_TYPES)[number];

const DAY = 86_400_000;
/** Most serials of one OCSP request looked up in storage (not in the records in memory). */
const MAX_STORAGE_LOOKUPS_PER_OCSP_REQUEST = 32;

export const createLocalCaSchema = z
  .object({
    name: z.string().min(1).max(64).default('mailpki Local CA'),
    keyType: z.enum(CA_KEY_TYPES).default('ec-p256'),
    /** Mail domains the CA may issue for (`example.com`; `.example.com` for its subdomains). Empty: any. */
    allowedDomains: z
      .array(z.string().regex(/^\.?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$/, 'not a domain name'))
      .default([]),
    /** e.g. http://127.0.0.1:8080 — issued certificates then carry CRL and OCSP URLs under it. */
    baseUrl: z.url({ protocol: /^https?$/ }).optional(),
    /** Encrypts the CA keys at rest (PBES2). Without it keys are stored in the clear. */
    passphrase: z.string().min(1).optional(),
    rootValidityDays: z.number().int().positive().max(36500).default(7300),
    issuingValidityDays: z.number().int().positive().max(36500).default(3650),
    /** Validity when a request names none. */
    defaultValidityDays: z.number().int().positive().default(365),
  })
  .strict();
export type CreateLocalCaOptions = z.input<typeof createLocalCaSchema>;

export interface LocalCaRuntime {
  clock?: Clock;
  crypto?: Crypto;
  /**
   * Who signs OCSP responses: the issuing CA key itself ('ca', default), or a short-lived
   * delegated responder certificate (id-kp-OCSPSigning, ocsp-nocheck) made on first use.
   */
  ocspResponder?: 'ca' | 'delegated';
  /** How long an OCSP answer stays fresh (its nextUpdate). Default 10 minutes: a revocation is seen within that. */
  ocspValidityMinutes?: number;
  /** How long a CRL stays fresh (nextUpdate). Default and maximum 7 days (S/MIME BR §4.9.7). */
  crlValidityHours?: number;
}

/**
 * One issuance, one file (`certs/<serial>.json`), replaced atomically as it moves on: written
 * 'pending' (serial, names, dates, public key) before the CA key signs anything, and 'issued'
 * (with the certificate) after. A certificate therefore never exists without its record. Records
 * of mailpki ≤ 0.x have no `state` and keep the certificate beside them in `certs/<serial>.pem`:
 * they are read as issued.
 */
const issuedRecordSchema = z.object({
  /** Issue order within this CA (1, 2, ...). */
  seq: z.number().int().positive(),
  serialNumber: z.string().regex(/^[0-9a-f]+$/),
  mailbox: z.string(),
  profile: z.enum(SMIME_PROFILES),
  notBefore: z.iso.datetime(),
  notAfter: z.iso.datetime(),
  idempotencyKey: z.string().optional(),
  state: z.enum(['pending', 'issued']).default('issued'),
  /** What the certificate is made of besides the fields above (kept after issuance too). */
  request: z.object({ spki: z.string().min(1), usage: z.enum(['signing', 'encryption', 'dual-use']) }).optional(),
  /** The signed certificate (PEM), once issued. */
  certificate: z.string().optional(),
  /** Set when the record was completed by reconciliation rather than by the issuing call. */
  recovered: z.string().optional(),
  revocation: z
    .object({
      reason: z.enum(Object.keys(REVOCATION_REASONS) as [RevocationReason, ...RevocationReason[]]),
      revokedAt: z.iso.datetime(),
      invalidityDate: z.iso.datetime().optional(),
    })
    .optional(),
});
export type IssuedRecord = z.infer<typeof issuedRecordSchema>;

const stateSchema = z.object({
  format: z.literal('mailpki-localca'),
  version: z.literal(1),
  id: z.string().min(1),
  name: z.string(),
  keyType: z.enum(CA_KEY_TYPES),
  allowedDomains: z.array(z.string()),
  baseUrl: z.string().optional(),
  keysEncrypted: z.boolean(),
  defaultValidityDays: z.number().int().positive(),
  createdAt: z.iso.datetime(),
  crlNumber: z.number().int().nonnegative(),
  /** Bumped on every issuance and revocation, so other processes (a running server) notice. */
  revision: z.number().int().nonnegative().default(0),
  /** The seq of the last issuance (absent in CAs made before it was kept here). */
  lastSeq: z.number().int().nonnegative().optional(),
});
type State = z.infer<typeof stateSchema>;

/** File names inside the CA storage. */
export const CA_FILES = {
  state: 'ca.json',
  root: 'root.pem',
  issuing: 'issuing.pem',
  chain: 'chain.pem',
  rootKey: 'keys/root.key.pem',
  issuingKey: 'keys/issuing.key.pem',
  rootCrl: 'crl/root.crl',
  /** One record per issuance: `certs/<serial>.json`. */
  records: 'certs/',
  /** Idempotency key → serial: `idempotency/<SHA-256 of the key>.json`, written before the record. */
  idempotency: 'idempotency/',
} as const;

const recordName = (serial: string) => `${CA_FILES.records}${serial}.json`;
const legacyPemName = (serial: string) => `${CA_FILES.records}${serial}.pem`;

export class LocalCA implements CertificateAuthority {
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * Issued certificates by serial, and serials by idempotency key: what this object has seen
   * (at open, by its own writes, and by `refresh`). Decisions that another process may have
   * changed (idempotency, revocation) read the storage under its lock instead.
   */
  private records = new Map<string, IssuedRecord>();
  private byIdempotencyKey = new Map<string, string>();
  private lastSeq = 0;
  /** Another writer changed the storage since the records were loaded: `refresh` reloads them. */
  private stale = false;

  private constructor(
    private readonly storage: CaStorage,
    private state: State,
    readonly rootCertificate: Certificate,
    readonly issuingCertificate: Certificate,
    private readonly issuingKey: CryptoKey,
    private readonly clock: Clock,
    private readonly crypto: Crypto,
    private readonly runtime: LocalCaRuntime = {},
  ) {}

  /** Creates a root and an issuing CA and writes them to `storage` (which must be empty). */
  static async create(storage: CaStorage, options: CreateLocalCaOptions = {}, runtime: LocalCaRuntime = {}): Promise<LocalCA> {
    const opts = parseInput(createLocalCaSchema, options, 'LocalCA options');
    if (await storage.read(CA_FILES.state)) throw new MailPkiError('ERR_CA_EXISTS', 'a CA already exists in this storage; it is never overwritten');
    const crypto = resolveCrypto(runtime.crypto);
    const clock = runtime.clock ?? systemClock;
    const now = floorToSecond(clock());

    const rootKeys = await generateKeyPair(opts.keyType, { crypto, extractable: true });
    const issuingKeys = await generateKeyPair(opts.keyType, { crypto, extractable: true });
    const rootSpki = await exportSpki(rootKeys.publicKey, { crypto });
    const issuingSpki = await exportSpki(issuingKeys.publicKey, { crypto });
    const rootKid = await computeKeyIdentifier(rootSpki, crypto);
    const issuingKid = await computeKeyIdentifier(issuingSpki, crypto);
    const rootName = encodeName([
      { type: 'O', value: opts.name },
      { type: 'CN', value: `${opts.name} Root` },
    ]);
    const issuingName = encodeName([
      { type: 'O', value: opts.name },
      { type: 'CN', value: `${opts.name} S/MIME Issuing CA` },
    ]);
    const rootSigner = keySigner(rootKeys.privateKey, caSignatureAlgorithm(rootKeys.privateKey), crypto);
    const baseUrl = opts.baseUrl?.replace(/\/+$/, '');
    const rootDer = await signCertificate(
      {
        serial: randomSerial(crypto),
        issuer: rootName,
        subject: rootName,
        notBefore: now,
        notAfter: new Date(now.getTime() + opts.rootValidityDays * DAY),
        spki: rootSpki,
        extensions: caExtensions({ kind: 'root', subjectKeyId: rootKid }),
      },
      rootSigner,
    );
    const issuingDer = await signCertificate(
      {
        serial: randomSerial(crypto),
        issuer: rootName,
        subject: issuingName,
        notBefore: now,
        notAfter: new Date(now.getTime() + Math.min(opts.issuingValidityDays, opts.rootValidityDays) * DAY),
        spki: issuingSpki,
        extensions: caExtensions({
          kind: 'issuing',
          subjectKeyId: issuingKid,
          authorityKeyId: rootKid,
          ...(baseUrl && { crlUrl: `${baseUrl}/crl/root.crl` }),
        }),
      },
      rootSigner,
    );
    const state: State = {
      format: 'mailpki-localca',
      version: 1,
      id: `localca:${toHex(await computeKeyIdentifier(rootSpki, crypto))}`,
      name: opts.name,
      keyType: opts.keyType,
      allowedDomains: opts.allowedDomains.map((d) => d.toLowerCase()),
      ...(baseUrl && { baseUrl }),
      keysEncrypted: opts.passphrase !== undefined,
      defaultValidityDays: opts.defaultValidityDays,
      createdAt: now.toISOString(),
      crlNumber: 0,
      revision: 0,
    };
    const keyPem = (k: CryptoKey) =>
      exportPkcs8Pem(k, { crypto, ...(opts.passphrase !== undefined && { passphrase: opts.passphrase }) });
    // Keys and certificates first, state last: a reader finds no CA until the state exists.
    await storage.write(CA_FILES.rootKey, utf8(await keyPem(rootKeys.privateKey)));
    await storage.write(CA_FILES.issuingKey, utf8(await keyPem(issuingKeys.privateKey)));
    await storage.write(CA_FILES.root, utf8(encodePem('CERTIFICATE', rootDer)));
    await storage.write(CA_FILES.issuing, utf8(encodePem('CERTIFICATE', issuingDer)));
    await storage.write(CA_FILES.chain, utf8(encodePem('CERTIFICATE', issuingDer) + encodePem('CERTIFICATE', rootDer)));
    // The root key stays at rest after this; its CRL (revoking the issuing CA) is made now for a year.
    const rootCrl = await createCrl({
      issuer: parseCertificate(rootDer),
      signer: rootSigner,
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + 365 * DAY),
      crlNumber: 1,
      entries: [],
    });
    await storage.write(CA_FILES.rootCrl, rootCrl);
    await storage.write(CA_FILES.state, utf8(JSON.stringify(state, null, 2)));
    const issuingKey = await importPrivateKey(await keyPem(issuingKeys.privateKey), {
      crypto,
      ...(opts.passphrase !== undefined && { passphrase: opts.passphrase }),
    });
    return new LocalCA(storage, state, parseCertificate(rootDer), parseCertificate(issuingDer), issuingKey, clock, crypto, runtime);
  }

  /** Opens a CA from storage; the passphrase is needed when its keys are encrypted. */
  static async open(storage: CaStorage, options: { passphrase?: string } & LocalCaRuntime = {}): Promise<LocalCA> {
    const crypto = resolveCrypto(options.crypto);
    const raw = await storage.read(CA_FILES.state);
    if (!raw) throw new MailPkiError('ERR_CA_STATE_INVALID', 'no CA found here (ca.json is missing)');
    let json: unknown;
    try {
      json = JSON.parse(fromUtf8(raw));
    } catch (e) {
      throw new MailPkiError('ERR_CA_STATE_INVALID', 'the CA state file ca.json is not valid JSON', { cause: e });
    }
    const state = parseInput(stateSchema, json, 'CA state ca.json', 'ERR_CA_STATE_INVALID');
    const read = async (name: string) => {
      const b = await storage.read(name);
      if (!b) throw new MailPkiError('ERR_CA_STATE_INVALID', `the CA is incomplete: ${name} is missing`);
      return fromUtf8(b);
    };
    if (state.keysEncrypted && options.passphrase === undefined)
      throw new MailPkiError('ERR_PASSPHRASE_REQUIRED', 'the CA keys are encrypted: a passphrase is needed to open it');
    const root = parseCertificate(await read(CA_FILES.root));
    const issuing = parseCertificate(await read(CA_FILES.issuing));
    const issuingKey = await importPrivateKey(await read(CA_FILES.issuingKey), {
      crypto,
      ...(state.keysEncrypted && { passphrase: options.passphrase! }),
    });
    const ca = new LocalCA(storage, state, root, issuing, issuingKey, options.clock ?? systemClock, crypto, options);
    await ca.reconcile();
    return ca;
  }

  /**
   * What a crash may have left, put right under the storage lock (so never a writer that is still
   * running): temporary files removed; an issuance recorded 'pending' completed from its record
   * (same serial, dates and key; it was never handed out, so this is its only certificate); a
   * certificate file of the old layout without its record (mailpki ≤ 0.x, killed between its two
   * writes) recorded from the certificate and revoked as superseded — its retry got another one.
   */
  private async reconcile(): Promise<void> {
    try {
      await this.reconcileLocked();
    } catch (e) {
      // A storage this process may only read (e.g. a responder's read-only copy): it reads what is
      // issued and leaves repairs to a process that can write.
      if (!(isMailPkiError(e, 'ERR_IO') && (e.details as { readOnly?: unknown } | undefined)?.readOnly === true)) throw e;
      this.adopt((await this.scanRecords()).records);
    }
  }

  private async reconcileLocked(): Promise<void> {
    await this.locked(async () => {
      await this.storage.cleanup?.();
      const { records, pending, orphans } = await this.scanRecords();
      this.adopt(records);
      for (const r of pending) await this.completePending(r, 'completed when the CA was opened after an interrupted issuance');
      for (const serial of orphans) await this.adoptOrphan(serial);
    });
  }

  /** Reads every record: issued ones, pending ones, and legacy certificate files without a record. */
  private async scanRecords(): Promise<{ records: Map<string, IssuedRecord>; pending: IssuedRecord[]; orphans: string[] }> {
    const records = new Map<string, IssuedRecord>();
    const pending: IssuedRecord[] = [];
    const names = await this.storage.list(CA_FILES.records);
    const jsons = new Set(names.filter((n) => n.endsWith('.json')));
    for (const name of jsons) {
      const record = await this.readRecordFile(name);
      if (!record) continue;
      if (record.state === 'pending') pending.push(record);
      else records.set(record.serialNumber, record);
    }
    const orphans = names
      .filter((n) => n.endsWith('.pem') && !jsons.has(n.replace(/\.pem$/, '.json')))
      .map((n) => n.slice(CA_FILES.records.length, -'.pem'.length))
      .filter((serial) => /^[0-9a-f]+$/.test(serial));
    return { records, pending, orphans };
  }

  private async readRecordFile(name: string): Promise<IssuedRecord | undefined> {
    const raw = await this.storage.read(name);
    if (!raw) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(fromUtf8(raw));
    } catch (e) {
      throw new MailPkiError('ERR_CA_STATE_INVALID', `the CA record ${name} is not valid JSON`, { cause: e });
    }
    return parseInput(issuedRecordSchema, json, `CA record ${name}`, 'ERR_CA_STATE_INVALID');
  }

  /** The stored record of a serial, read now from the storage (not this object's memory). */
  private readRecord(serial: string): Promise<IssuedRecord | undefined> {
    return this.readRecordFile(recordName(serial));
  }

  /** Replaces this object's view of the records in one step (readers never see it half-built). */
  private adopt(records: Map<string, IssuedRecord>): void {
    const byKey = new Map<string, string>();
    let lastSeq = 0;
    for (const r of records.values()) {
      lastSeq = Math.max(lastSeq, r.seq);
      if (r.idempotencyKey) byKey.set(r.idempotencyKey, r.serialNumber);
    }
    this.records = records;
    this.byIdempotencyKey = byKey;
    this.lastSeq = Math.max(this.lastSeq, lastSeq);
  }

  private remember(record: IssuedRecord): void {
    if (record.state !== 'issued') return;
    this.records.set(record.serialNumber, record);
    this.lastSeq = Math.max(this.lastSeq, record.seq);
    if (record.idempotencyKey) this.byIdempotencyKey.set(record.idempotencyKey, record.serialNumber);
  }

  /** Writes a record (one atomic replace) and bumps the CA revision. Only under `locked`. */
  private async saveRecord(record: IssuedRecord): Promise<void> {
    await this.storage.write(recordName(record.serialNumber), utf8(JSON.stringify(record, null, 2)));
    this.remember(record);
    const stored = await this.readState();
    await this.saveState({ ...stored, revision: stored.revision + 1, lastSeq: Math.max(stored.lastSeq ?? 0, record.seq) });
  }

  /** Runs `op` alone: after this object's earlier calls, and under the storage's lock (other objects, other processes). */
  private locked<T>(op: () => Promise<T>): Promise<T> {
    return this.exclusive(() => (this.storage.lock ? this.storage.lock(op) : op()));
  }

  /** Under the lock: the stored state; notes when another writer moved it on since this object last looked. */
  private async syncState(): Promise<State> {
    const stored = await this.readState();
    if (stored.revision !== this.state.revision || stored.crlNumber !== this.state.crlNumber) this.stale = true;
    this.state = stored;
    return stored;
  }

  /** The next seq, from the stored state (shared by every writer) or, for older CAs, from the records seen. */
  private nextSeq(state: State): number {
    return Math.max(state.lastSeq ?? 0, this.lastSeq) + 1;
  }

  private async readState(): Promise<State> {
    const raw = await this.storage.read(CA_FILES.state);
    if (!raw) throw new MailPkiError('ERR_CA_STATE_INVALID', 'the CA state file ca.json disappeared');
    let json: unknown;
    try {
      json = JSON.parse(fromUtf8(raw));
    } catch (e) {
      throw new MailPkiError('ERR_CA_STATE_INVALID', 'the CA state file ca.json is not valid JSON', { cause: e });
    }
    return parseInput(stateSchema, json, 'CA state ca.json', 'ERR_CA_STATE_INVALID');
  }

  /**
   * Picks up issuances and revocations made by other processes on the same storage (e.g. the
   * CLI revoking while `mailpki serve` runs). Cheap when nothing changed: one small read of
   * ca.json (unless `full`, a backstop that reloads every record anyway). Otherwise every record
   * is read into a new set that replaces the old one whole: OCSP and CRLs made meanwhile answer
   * from the old set, never from a partial one.
   */
  async refresh(options: { full?: boolean } = {}): Promise<void> {
    return this.exclusive(async () => {
      const current = await this.readState();
      if (!options.full && !this.stale && current.revision === this.state.revision && current.crlNumber === this.state.crlNumber) return;
      // Built aside and swapped in whole: a lookup meanwhile sees the old records or the new.
      const { records } = await this.scanRecords();
      this.adopt(records);
      this.stale = false;
      this.state = current;
    });
  }

  get id(): string {
    return this.state.id;
  }

  get name(): string {
    return this.state.name;
  }

  get allowedDomains(): readonly string[] {
    return this.state.allowedDomains;
  }

  get baseUrl(): string | undefined {
    return this.state.baseUrl;
  }

  /** Every certificate this CA issued, oldest first. */
  get issued(): IssuedRecord[] {
    return [...this.records.values()].sort((a, b) => a.seq - b.seq);
  }

  /** The record of one issued certificate (serial in hex). */
  getRecord(serialNumber: string): IssuedRecord | undefined {
    return this.records.get(normaliseSerial(serialNumber));
  }

  async info(): Promise<CaInfo> {
    return {
      id: this.state.id,
      name: this.state.name,
      profiles: [...SMIME_PROFILES],
      allowedDomains: [...this.state.allowedDomains],
      supportsSuspension: true,
      maxValidityDays: Object.fromEntries(SMIME_PROFILES.map((p) => [p, PROFILE_RULES[p].maxValidityDays])),
    };
  }

  async getChain(): Promise<Uint8Array[]> {
    return [this.issuingCertificate.der, this.rootCertificate.der];
  }

  /** Issues a certificate; see IssueRequest. Serialised so concurrent calls cannot lose a record. */
  issue(request: IssueRequest): Promise<IssuedCertificate> {
    return this.locked(() => this.issueNow(request));
  }

  revoke(request: RevokeRequest): Promise<RevocationRecord> {
    return this.locked(() => this.revokeNow(request));
  }

  /** The stored certificate with this serial (hex), if this CA issued it (read from the storage, so also one another process issued). */
  async getCertificate(serialNumber: string): Promise<Certificate | undefined> {
    const serial = normaliseSerial(serialNumber);
    if (!/^[0-9a-f]+$/.test(serial)) return undefined;
    const record = this.records.get(serial) ?? (await this.readRecord(serial));
    if (record?.state === 'pending') return undefined;
    const der = record && (await this.certificateOf(record));
    if (der) return parseCertificate(der);
    // A certificate file of the old layout whose record was never written (reconciled on open).
    const b = await this.storage.read(legacyPemName(serial));
    return b && parseCertificate(fromUtf8(b));
  }

  /** The DER of an issued record: in the record, or (old layout) in certs/<serial>.pem beside it. */
  private async certificateOf(record: IssuedRecord): Promise<Uint8Array | undefined> {
    if (record.certificate) return decodePem(record.certificate, ['CERTIFICATE']).der;
    const b = await this.storage.read(legacyPemName(record.serialNumber));
    return b && parseCertificate(fromUtf8(b)).der;
  }

  /** Revoked (and on-hold) certificates, for CRLs: serial, time and reason. */
  revocations(): { serialNumber: string; revocationDate: Date; reason: RevocationReason; invalidityDate?: Date }[] {
    return this.issued
      .filter((r) => r.revocation)
      .map((r) => ({
        serialNumber: r.serialNumber,
        revocationDate: new Date(r.revocation!.revokedAt),
        reason: r.revocation!.reason,
        ...(r.revocation!.invalidityDate && { invalidityDate: new Date(r.revocation!.invalidityDate) }),
      }));
  }

  /**
   * A fresh full CRL (v2) of the issuing CA, signed by it: every revoked or held certificate
   * with its reason, the next cRLNumber, and nextUpdate at most 7 days ahead.
   */
  createCrl(): Promise<Uint8Array> {
    return this.locked(async () => {
      const now = floorToSecond(this.clock());
      const hours = Math.min(this.runtime.crlValidityHours ?? 168, 168);
      const stored = await this.syncState();
      // Another process may have issued or revoked meanwhile: the CRL lists what the storage holds.
      if (this.stale) {
        this.adopt((await this.scanRecords()).records);
        this.stale = false;
      }
      // Another process may have published a CRL too: cRLNumber must only go up.
      const crlNumber = Math.max(stored.crlNumber, this.state.crlNumber) + 1;
      const der = await createCrl({
        issuer: this.issuingCertificate,
        signer: keySigner(this.issuingKey, caSignatureAlgorithm(this.issuingKey), this.crypto),
        thisUpdate: now,
        nextUpdate: new Date(now.getTime() + hours * 3_600_000),
        crlNumber,
        entries: this.revocations(),
      });
      await this.saveState({ ...stored, crlNumber });
      return der;
    });
  }

  /** The root's CRL (made when the CA was created, renewed by renewRootCrl; it lists no certificate). */
  async rootCrl(): Promise<Uint8Array | undefined> {
    return this.storage.read(CA_FILES.rootCrl);
  }

  /**
   * Signs a new root CRL (next cRLNumber, thisUpdate now, nextUpdate `validityDays` ahead, default
   * 365) and stores it where `rootCrl()` and the HTTP handler read it. The root key stays at rest
   * otherwise, so it is read from storage for this one signature: give the passphrase when the
   * keys are encrypted. Renew before the current one's nextUpdate, or relying parties that check
   * the issuing CA against the root CRL stop accepting every certificate.
   *
   * @example
   * await ca.renewRootCrl({ passphrase });   // e.g. monthly, from a scheduler
   */
  async renewRootCrl(options: { passphrase?: string; validityDays?: number } = {}): Promise<Uint8Array> {
    const days = options.validityDays ?? 365;
    if (!Number.isInteger(days) || days < 1 || days > 400)
      throw new MailPkiError('ERR_INVALID_INPUT', 'validityDays: a whole number of days, 1 to 400', { details: { field: 'validityDays' } });
    return this.locked(async () => {
      if (this.state.keysEncrypted && options.passphrase === undefined)
        throw new MailPkiError('ERR_PASSPHRASE_REQUIRED', 'the CA keys are encrypted: the passphrase is needed to sign the root CRL');
      const pem = await this.storage.read(CA_FILES.rootKey);
      if (!pem) throw new MailPkiError('ERR_CA_STATE_INVALID', `the CA is incomplete: ${CA_FILES.rootKey} is missing`);
      const rootKey = await importPrivateKey(fromUtf8(pem), {
        crypto: this.crypto,
        ...(this.state.keysEncrypted && { passphrase: options.passphrase! }),
      });
      const current = await this.storage.read(CA_FILES.rootCrl);
      const previous = current ? parseCrl(current).crlNumber ?? 0n : 0n;
      const now = floorToSecond(this.clock());
      const der = await createCrl({
        issuer: this.rootCertificate,
        signer: keySigner(rootKey, caSignatureAlgorithm(rootKey), this.crypto),
        thisUpdate: now,
        nextUpdate: new Date(now.getTime() + days * DAY),
        crlNumber: previous + 1n,
        // LocalCA never revokes its issuing CA, so the root CRL lists nothing.
        entries: [],
      });
      // A root key that is not the root certificate's would publish a CRL nobody can verify.
      const check = await verifyCrl(parseCrl(der), this.rootCertificate, { crypto: this.crypto, at: now });
      if (!check.ok) throw new MailPkiError('ERR_CA_STATE_INVALID', `the stored root key does not match the root certificate (${check.problems.map((p) => p.code).join(', ')})`);
      await this.storage.write(CA_FILES.rootCrl, der);
      return der;
    });
  }

  /** What OCSP says about a serial of this CA, from the records in memory (see `readOcspStatus`). */
  ocspStatus(serialNumber: string): OcspLookupResult {
    const r = this.records.get(normaliseSerial(serialNumber));
    return r ? statusOf(r) : { status: 'unknown' };
  }

  /**
   * What the CA's storage says about one serial now, without waiting for `refresh`: the record
   * (good or revoked); `nonIssued` for an issuance not completed (a 'pending' record, or a
   * certificate file of the old layout without its record); or `unknown`. For OCSP answers about
   * serials issued since the last refresh.
   */
  async readOcspStatus(serialNumber: string): Promise<OcspLookupResult> {
    const serial = normaliseSerial(serialNumber);
    // RFC 5280 §4.1.2.2: at most 20 octets; anything longer was never a serial of this CA.
    if (!/^[0-9a-f]{1,40}$/.test(serial)) return { status: 'unknown' };
    const record = await this.readRecord(serial);
    if (record) return record.state === 'pending' ? { status: 'nonIssued' } : statusOf(record);
    if (await this.storage.read(legacyPemName(serial))) return { status: 'nonIssued' };
    return { status: 'unknown' };
  }

  /**
   * Answers a DER OCSP request (RFC 6960) for this CA's certificates: good, revoked (time,
   * reason) or unknown, nonce echoed, signed by the CA or a delegated responder. A malformed
   * request gets a malformedRequest response, never an exception.
   */
  async respondOcsp(requestDer: Uint8Array): Promise<Uint8Array> {
    let request;
    try {
      request = parseOcspRequest(requestDer);
    } catch {
      return createOcspErrorResponse('malformedRequest');
    }
    const now = floorToSecond(this.clock());
    const minutes = this.runtime.ocspValidityMinutes ?? 10;
    // One set of records for the whole answer; a serial it lacks may have been issued by another
    // process since the last refresh: ask the storage before saying unknown.
    const records = this.records;
    // Serials the snapshot lacks cost storage reads each: a request that asks about many of them
    // (no client does; a flood of made-up serials would) is told to try later.
    const missing = new Set(request.requests.map((r) => normaliseSerial(r.serialNumber)).filter((s) => !records.has(s)));
    if (missing.size > MAX_STORAGE_LOOKUPS_PER_OCSP_REQUEST) return createOcspErrorResponse('tryLater');
    return createOcspResponse({
      request,
      signer: await this.ocspSigner(now),
      issuer: this.issuingCertificate,
      lookup: (serial) => {
        const r = records.get(normaliseSerial(serial));
        return r ? statusOf(r) : this.readOcspStatus(serial);
      },
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + minutes * 60_000),
      producedAt: now,
    });
  }

  private responder?: Promise<{ certificate: Certificate; signer: TbsSigner; notAfter: number }>;

  private async ocspSigner(now: Date): Promise<{ certificate: Certificate; signer: TbsSigner }> {
    if (this.runtime.ocspResponder !== 'delegated')
      return { certificate: this.issuingCertificate, signer: keySigner(this.issuingKey, caSignatureAlgorithm(this.issuingKey), this.crypto) };
    const held = this.responder && (await this.responder);
    if (held && held.notAfter - now.getTime() > DAY) return held;
    this.responder = this.makeResponder(now);
    return this.responder;
  }

  /** A 7-day delegated OCSP responder (id-kp-OCSPSigning, ocsp-nocheck), its key only in memory. */
  private async makeResponder(now: Date): Promise<{ certificate: Certificate; signer: TbsSigner; notAfter: number }> {
    const keys = await generateKeyPair('ec-p256', { crypto: this.crypto });
    const spki = await exportSpki(keys.publicKey, { crypto: this.crypto });
    const notAfter = new Date(Math.min(now.getTime() + 7 * DAY, this.issuingCertificate.notAfter.getTime()));
    const der = await signCertificate(
      {
        serial: randomSerial(this.crypto),
        issuer: this.issuingCertificate.subject.der,
        subject: encodeName([
          { type: 'O', value: this.state.name },
          { type: 'CN', value: `${this.state.name} OCSP Responder` },
        ]),
        notBefore: now,
        notAfter,
        spki,
        extensions: [
          ...ocspResponderExtensions(),
          { oid: OID.authorityKeyIdentifier, critical: false, value: authorityKeyIdentifierValue(this.issuingCertificate.subjectKeyIdentifier!) },
        ],
      },
      keySigner(this.issuingKey, caSignatureAlgorithm(this.issuingKey), this.crypto),
    );
    return { certificate: parseCertificate(der), signer: keySigner(keys.privateKey, { scheme: 'ecdsa', hash: 'SHA-256' }, this.crypto), notAfter: notAfter.getTime() };
  }

  private async saveState(next: State): Promise<void> {
    await this.storage.write(CA_FILES.state, utf8(JSON.stringify(next, null, 2)));
    this.state = next;
  }

  /**
   * Under the lock: an idempotency key seen before (by any process) gives its certificate back;
   * otherwise the key → serial index and the 'pending' record are written before the CA key
   * signs, and the 'issued' record (certificate inside) after. A kill at any point leaves either
   * nothing signed or a pending record that the next open, or the retry with the same key,
   * completes into the one certificate for that serial.
   */
  private async issueNow(request: IssueRequest): Promise<IssuedCertificate> {
    const req = parseInput(issueRequestSchema, request, 'issue request');
    const state = await this.syncState();
    if (req.idempotencyKey) {
      const prior = await this.findByIdempotencyKey(req.idempotencyKey);
      if (prior) return this.replay(prior, req.mailbox);
    }
    const mailbox = req.mailbox;
    const domain = mailboxDomain(mailbox);
    if (!isDomainAllowed(domain, this.state.allowedDomains))
      throw new MailPkiError(
        'ERR_CA_MAILBOX_NOT_ALLOWED',
        `this CA may not issue for ${domain}; allowed: ${this.state.allowedDomains.join(', ')}`,
        { details: { domain } },
      );
    const spki = req.csr ? await this.spkiFromCsr(req.csr) : req.publicKey!;
    const keyInfo = readPublicKeyInfo(spki);
    checkSubscriberKey(keyInfo);
    // Refused before anything is written: a key that cannot do what the certificate is for.
    subscriberKeyUsage(keyInfo, req.usage);
    const rules = PROFILE_RULES[req.profile];
    const days = req.validityDays ?? Math.min(this.state.defaultValidityDays, rules.maxValidityDays);
    if (days > rules.maxValidityDays)
      throw new MailPkiError(
        'ERR_CA_VALIDITY_EXCEEDED',
        `the ${req.profile} profile allows at most ${rules.maxValidityDays} days (asked: ${days})`,
        { details: { maxValidityDays: rules.maxValidityDays } },
      );
    const notBefore = floorToSecond(req.notBefore ?? this.clock());
    const notAfter = new Date(notBefore.getTime() + days * DAY);
    if (notAfter > this.issuingCertificate.notAfter)
      throw new MailPkiError('ERR_CA_POLICY_VIOLATION', 'the certificate would outlive the issuing CA certificate; ask for fewer days');
    if (notBefore < this.issuingCertificate.notBefore)
      throw new MailPkiError('ERR_CA_POLICY_VIOLATION', 'notBefore is earlier than the issuing CA certificate');

    const serialNumber = await this.freshSerial();
    const pending: IssuedRecord = {
      seq: this.nextSeq(state),
      serialNumber,
      mailbox,
      profile: req.profile,
      notBefore: notBefore.toISOString(),
      notAfter: notAfter.toISOString(),
      ...(req.idempotencyKey && { idempotencyKey: req.idempotencyKey }),
      state: 'pending',
      request: { spki: toBase64(spki), usage: req.usage },
    };
    // The index first: a kill before the record leaves an index to nothing, which counts as "never issued".
    if (req.idempotencyKey) await this.storage.write(await this.idempotencyName(req.idempotencyKey), utf8(JSON.stringify({ idempotencyKey: req.idempotencyKey, serialNumber })));
    await this.storage.write(recordName(serialNumber), utf8(JSON.stringify(pending, null, 2)));
    return this.answer(await this.completePending(pending));
  }

  /** Signs the certificate a pending record describes and writes the record as issued. Only under `locked`. */
  private async completePending(pending: IssuedRecord, recovered?: string): Promise<IssuedRecord> {
    if (!pending.request) throw new MailPkiError('ERR_CA_STATE_INVALID', `the pending CA record ${pending.serialNumber} has no request to complete it from`);
    const spki = fromBase64(pending.request.spki);
    if (!spki) throw new MailPkiError('ERR_CA_STATE_INVALID', `the pending CA record ${pending.serialNumber} holds an unreadable public key`);
    const base = this.state.baseUrl;
    const der = await signCertificate(
      {
        serial: fromHexSerial(pending.serialNumber),
        issuer: this.issuingCertificate.subject.der,
        subject: encodeName([{ type: 'CN', value: pending.mailbox }]),
        notBefore: new Date(pending.notBefore),
        notAfter: new Date(pending.notAfter),
        spki,
        extensions: subscriberExtensions({
          profile: pending.profile,
          mailbox: pending.mailbox,
          key: readPublicKeyInfo(spki),
          usage: pending.request.usage,
          subjectKeyId: await computeKeyIdentifier(spki, this.crypto),
          authorityKeyId: this.issuingCertificate.subjectKeyIdentifier!,
          ...(base && { crlUrl: `${base}/crl/issuing.crl`, ocspUrl: `${base}/ocsp`, caIssuersUrl: `${base}/ca/issuing.cer` }),
        }),
      },
      keySigner(this.issuingKey, caSignatureAlgorithm(this.issuingKey), this.crypto),
    );
    const issued: IssuedRecord = { ...pending, state: 'issued', certificate: encodePem('CERTIFICATE', der), ...(recovered && { recovered }) };
    await this.saveRecord(issued);
    if (pending.idempotencyKey) {
      // A pending record whose index write was lost cannot be, but one of the old layout may lack it.
      const name = await this.idempotencyName(pending.idempotencyKey);
      if (!(await this.storage.read(name))) await this.storage.write(name, utf8(JSON.stringify({ idempotencyKey: pending.idempotencyKey, serialNumber: pending.serialNumber })));
    }
    return issued;
  }

  /** Where the serial of an idempotency key is kept (the key hashed: any string makes a safe file name). */
  private async idempotencyName(key: string): Promise<string> {
    const digest = new Uint8Array(await this.crypto.subtle.digest('SHA-256', utf8(key) as Uint8Array<ArrayBuffer>));
    return `${CA_FILES.idempotency}${toHex(digest)}.json`;
  }

  /** Under the lock: the record an idempotency key was used for, by this process or any other. */
  private async findByIdempotencyKey(key: string): Promise<IssuedRecord | undefined> {
    const raw = await this.storage.read(await this.idempotencyName(key));
    let serial: string | undefined;
    if (raw) {
      try {
        const entry = JSON.parse(fromUtf8(raw)) as { idempotencyKey?: unknown; serialNumber?: unknown };
        if (entry.idempotencyKey === key && typeof entry.serialNumber === 'string' && /^[0-9a-f]+$/.test(entry.serialNumber)) serial = entry.serialNumber;
      } catch (e) {
        throw new MailPkiError('ERR_CA_STATE_INVALID', `the idempotency index of the CA is not valid JSON`, { cause: e });
      }
    }
    // Records of the old layout have no index entry; they were all seen when this object opened.
    serial ??= this.byIdempotencyKey.get(key);
    if (!serial) return undefined;
    const record = await this.readRecord(serial);
    return record?.idempotencyKey === key ? record : undefined;
  }

  /** The answer to an issue call from a record (completing it first if a crash left it pending). */
  private async replay(prior: IssuedRecord, mailbox: string): Promise<IssuedCertificate> {
    if (prior.mailbox.toLowerCase() !== mailbox.toLowerCase())
      throw new MailPkiError('ERR_CA_REJECTED', 'this idempotency key was already used for another mailbox');
    const record = prior.state === 'pending' ? await this.completePending(prior, 'completed by the retry of an interrupted issuance') : prior;
    return this.answer(record);
  }

  private async answer(record: IssuedRecord): Promise<IssuedCertificate> {
    const der = await this.certificateOf(record);
    if (!der) throw new MailPkiError('ERR_CA_STATE_INVALID', `certificate ${record.serialNumber} is recorded but missing`);
    return {
      certificate: der,
      chain: await this.getChain(),
      serialNumber: record.serialNumber,
      notBefore: new Date(record.notBefore),
      notAfter: new Date(record.notAfter),
      profile: record.profile,
    };
  }

  /**
   * A certificate file of the old layout without a record: it was signed, never handed out (the
   * kill came before the call returned), and its retry got another certificate. Recorded from the
   * certificate itself and revoked as superseded, so it is known, listed on the CRL and answered
   * for by OCSP.
   */
  private async adoptOrphan(serial: string): Promise<void> {
    const pem = await this.storage.read(legacyPemName(serial));
    if (!pem) return;
    const cert = parseCertificate(fromUtf8(pem));
    const profile = SMIME_PROFILES.find((p) => cert.policies.includes(PROFILE_RULES[p].policyOid)) ?? 'strict';
    const now = floorToSecond(this.clock());
    const state = await this.readState();
    await this.saveRecord({
      seq: this.nextSeq(state),
      serialNumber: serial,
      mailbox: certificateEmails(cert)[0] ?? '',
      profile,
      notBefore: cert.notBefore.toISOString(),
      notAfter: cert.notAfter.toISOString(),
      state: 'issued',
      certificate: encodePem('CERTIFICATE', cert.der),
      recovered: 'certificate file without a record (killed between two writes); revoked when the CA was opened',
      revocation: { reason: 'superseded', revokedAt: now.toISOString() },
    });
  }

  private async spkiFromCsr(der: Uint8Array): Promise<Uint8Array> {
    const csr = parseCsr(der);
    await verifyCsr(csr, this.crypto);
    // The CA issues for the validated mailbox of the request, never for names the CSR asks for.
    return csr.publicKey.spki;
  }

  /** A random serial no record (of this process or another) holds yet. Only under `locked`. */
  private async freshSerial(): Promise<string> {
    for (;;) {
      const serial = normalizeSerialHex(toHex(randomSerial(this.crypto)));
      if (this.records.has(serial) || (await this.storage.read(recordName(serial))) || (await this.storage.read(legacyPemName(serial)))) continue;
      return serial;
    }
  }

  private async revokeNow(request: RevokeRequest): Promise<RevocationRecord> {
    const req = parseInput(revokeRequestSchema, request, 'revoke request');
    await this.syncState();
    // From the storage: another process may have issued or revoked it since this object looked.
    let record = await this.readRecord(req.serialNumber);
    if (record?.state === 'pending') record = await this.completePending(record, 'completed when it was revoked after an interrupted issuance');
    if (!record) throw new MailPkiError('ERR_CA_NOT_FOUND', `this CA has not issued a certificate with serial ${req.serialNumber}`);
    const time = floorToSecond(req.time ?? this.clock());
    let updated: IssuedRecord;
    if (req.reason === 'removeFromCRL') {
      // Reinstating: only a certificate on hold may come back (RFC 5280 §5.3.1).
      if (record.revocation?.reason !== 'certificateHold')
        throw new MailPkiError('ERR_CA_REJECTED', 'only a certificate on hold (certificateHold) can be reinstated');
      const { revocation: _dropped, ...rest } = record;
      updated = rest;
    } else {
      if (record.revocation && record.revocation.reason !== 'certificateHold')
        throw new MailPkiError('ERR_CA_ALREADY_REVOKED', `certificate ${req.serialNumber} is already revoked (${record.revocation.reason})`);
      updated = {
        ...record,
        revocation: {
          reason: req.reason,
          revokedAt: time.toISOString(),
          ...(req.invalidityDate && { invalidityDate: req.invalidityDate.toISOString() }),
        },
      };
    }
    await this.saveRecord(updated);
    return { serialNumber: req.serialNumber, reason: req.reason, revokedAt: time };
  }

  private exclusive<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function caSignatureAlgorithm(key: CryptoKey): SignatureAlgorithm {
  return defaultSignatureAlgorithm(key);
}

const normaliseSerial = normalizeSerialHex;

function statusOf(r: IssuedRecord): OcspLookupResult {
  if (r.revocation) return { status: 'revoked', revokedAt: new Date(r.revocation.revokedAt), reason: r.revocation.reason };
  return { status: 'good' };
}

/** The serial bytes of a stored (normalised) hex serial, with the 0 byte a DER INTEGER needs before a set top bit. */
function fromHexSerial(hex: string): Uint8Array {
  const bytes = fromHex(hex.length % 2 ? `0${hex}` : hex);
  return bytes[0]! & 0x80 ? new Uint8Array([0, ...bytes]) : bytes;
}

function floorToSecond(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}
