/**
 * LocalCA: an in-process CA with a root and an issuing intermediate that issues S/MIME
 * certificates by the CA/B Forum mailbox-validated profiles. Its state lives in a CaStorage;
 * private keys are stored as passphrase-encrypted PKCS#8 when a passphrase is given.
 */
import { z } from 'zod';
import { MailPkiError } from '../errors.js';
import { fromUtf8, normalizeSerialHex, toHex, utf8 } from '../internal/bytes.js';
import { systemClock, type Clock } from '../internal/clock.js';
import { resolveCrypto } from '../internal/crypto.js';
import { encodePem } from '../internal/pem.js';
import { parseInput } from '../internal/validate.js';
import { defaultSignatureAlgorithm, readPublicKeyInfo, type SignatureAlgorithm } from '../keys/algorithms.js';
import { exportPkcs8Pem, exportSpki, generateKeyPair, importPrivateKey } from '../keys/index.js';
import { authorityKeyIdentifierValue, computeKeyIdentifier, keySigner, randomSerial, signCertificate, type TbsSigner } from '../certs/builder.js';
import { OID } from '../internal/oids.js';
import { parseCertificate, type Certificate } from '../certs/certificate.js';
import { parseCsr, verifyCsr } from '../certs/csr.js';
import { encodeName } from '../certs/name.js';
import { createCrl } from '../revocation/crl-create.js';
import { parseCrl } from '../revocation/crl-parse.js';
import { verifyCrl } from '../revocation/crl-verify.js';
import { parseOcspRequest } from '../revocation/ocsp-request.js';
import { createOcspErrorResponse, createOcspResponse, ocspResponderExtensions, type OcspLookupResult } from '../revocation/ocsp-responder.js';
import { PROFILE_RULES, caExtensions, checkSubscriberKey, isDomainAllowed, mailboxDomain, subscriberExtensions } from './profiles.js';
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

const issuedRecordSchema = z.object({
  /** Issue order within this CA (1, 2, ...). */
  seq: z.number().int().positive(),
  serialNumber: z.string().regex(/^[0-9a-f]+$/),
  mailbox: z.string(),
  profile: z.enum(SMIME_PROFILES),
  notBefore: z.iso.datetime(),
  notAfter: z.iso.datetime(),
  idempotencyKey: z.string().optional(),
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
} as const;

export class LocalCA implements CertificateAuthority {
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * Issued certificates by serial, and serials by idempotency key (records live in certs/<serial>.json).
   * `refresh` builds new maps off to the side and swaps them in whole, so a reader (OCSP, CRL)
   * never sees a half-loaded set; `recordsRevision` is the ca.json revision they were loaded at.
   */
  private records = new Map<string, IssuedRecord>();
  private byIdempotencyKey = new Map<string, string>();
  private lastSeq = 0;
  private recordsRevision = -1;

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
    await ca.loadRecords();
    ca.recordsRevision = state.revision;
    return ca;
  }

  /** Reads every record into new maps and swaps them in at once. */
  private async loadRecords(): Promise<void> {
    const records = new Map<string, IssuedRecord>();
    const byKey = new Map<string, string>();
    for (const name of await this.storage.list('certs/')) {
      if (!name.endsWith('.json')) continue;
      const record = await this.readRecordFile(name);
      if (!record) continue;
      records.set(record.serialNumber, record);
      if (record.idempotencyKey) byKey.set(record.idempotencyKey, record.serialNumber);
    }
    this.records = records;
    this.byIdempotencyKey = byKey;
    for (const r of records.values()) this.lastSeq = Math.max(this.lastSeq, r.seq);
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

  private remember(record: IssuedRecord): void {
    this.records.set(record.serialNumber, record);
    this.lastSeq = Math.max(this.lastSeq, record.seq);
    if (record.idempotencyKey) this.byIdempotencyKey.set(record.idempotencyKey, record.serialNumber);
  }

  private async saveRecord(record: IssuedRecord): Promise<void> {
    await this.storage.write(`certs/${record.serialNumber}.json`, utf8(JSON.stringify(record, null, 2)));
    this.remember(record);
    await this.saveState({ ...(await this.readState()), revision: this.state.revision + 1 });
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
   * ca.json (unless `full`). Otherwise every record is read into a new set that replaces the old one whole:
   * OCSP and CRLs made meanwhile answer from the old set, never from a partial one.
   */
  async refresh(options: { full?: boolean } = {}): Promise<void> {
    return this.exclusive(async () => {
      const current = await this.readState();
      // Compared with the revision the records were loaded at, not this.state's: createCrl adopts
      // the stored state (and its revision) without loading the records behind it. `full` reloads
      // anyway: two writers that opened at the same revision write the same next one.
      if (options.full || current.revision !== this.recordsRevision) {
        await this.loadRecords();
        this.recordsRevision = current.revision;
      }
      this.state = current;
    });
  }

  /**
   * What the CA's storage says about one serial now, without waiting for `refresh`: the record
   * (good or revoked), `nonIssued` for a certificate file without a record (an issuance cut
   * short), or `unknown`. For OCSP answers about serials issued since the last refresh.
   */
  async readOcspStatus(serialNumber: string): Promise<OcspLookupResult> {
    const serial = normaliseSerial(serialNumber);
    // RFC 5280 §4.1.2.2: at most 20 octets; anything longer was never a serial of this CA.
    if (!/^[0-9a-f]{1,40}$/.test(serial)) return { status: 'unknown' };
    const record = await this.readRecordFile(`certs/${serial}.json`);
    if (record) return statusOf(record);
    if (await this.storage.read(`certs/${serial}.pem`)) return { status: 'nonIssued' };
    return { status: 'unknown' };
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
    return this.exclusive(() => this.issueNow(request));
  }

  revoke(request: RevokeRequest): Promise<RevocationRecord> {
    return this.exclusive(() => this.revokeNow(request));
  }

  /** The stored certificate with this serial (hex), if this CA issued it. */
  async getCertificate(serialNumber: string): Promise<Certificate | undefined> {
    const serial = normaliseSerial(serialNumber);
    if (!/^[0-9a-f]+$/.test(serial)) return undefined;
    const b = await this.storage.read(`certs/${serial}.pem`);
    return b && parseCertificate(fromUtf8(b));
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
    return this.exclusive(async () => {
      const now = floorToSecond(this.clock());
      const hours = Math.min(this.runtime.crlValidityHours ?? 168, 168);
      const stored = await this.readState();
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
    return this.exclusive(async () => {
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
    // Serials the snapshot lacks cost two storage reads each: a request that asks about many of
    // them (no client does; a flood of made-up serials would) is told to try later.
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

  private async issueNow(request: IssueRequest): Promise<IssuedCertificate> {
    const req = parseInput(issueRequestSchema, request, 'issue request');
    if (req.idempotencyKey) {
      const prior = this.byIdempotencyKey.get(req.idempotencyKey);
      if (prior) return this.replay(this.records.get(prior)!, req.mailbox);
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
    const key = readPublicKeyInfo(spki);
    checkSubscriberKey(key);
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

    const serial = this.freshSerial();
    const base = this.state.baseUrl;
    const der = await signCertificate(
      {
        serial,
        issuer: this.issuingCertificate.subject.der,
        subject: encodeName([{ type: 'CN', value: mailbox }]),
        notBefore,
        notAfter,
        spki,
        extensions: subscriberExtensions({
          profile: req.profile,
          mailbox,
          key,
          usage: req.usage,
          subjectKeyId: await computeKeyIdentifier(spki, this.crypto),
          authorityKeyId: this.issuingCertificate.subjectKeyIdentifier!,
          ...(base && { crlUrl: `${base}/crl/issuing.crl`, ocspUrl: `${base}/ocsp`, caIssuersUrl: `${base}/ca/issuing.cer` }),
        }),
      },
      keySigner(this.issuingKey, caSignatureAlgorithm(this.issuingKey), this.crypto),
    );
    const serialNumber = normalizeSerialHex(toHex(serial));
    await this.storage.write(`certs/${serialNumber}.pem`, utf8(encodePem('CERTIFICATE', der)));
    const record: IssuedRecord = {
      seq: ++this.lastSeq,
      serialNumber,
      mailbox,
      profile: req.profile,
      notBefore: notBefore.toISOString(),
      notAfter: notAfter.toISOString(),
      ...(req.idempotencyKey && { idempotencyKey: req.idempotencyKey }),
    };
    await this.saveRecord(record);
    return { certificate: der, chain: await this.getChain(), serialNumber, notBefore, notAfter, profile: req.profile };
  }

  private async replay(prior: IssuedRecord, mailbox: string): Promise<IssuedCertificate> {
    if (prior.mailbox.toLowerCase() !== mailbox.toLowerCase())
      throw new MailPkiError('ERR_CA_REJECTED', 'this idempotency key was already used for another mailbox');
    const cert = await this.getCertificate(prior.serialNumber);
    if (!cert) throw new MailPkiError('ERR_CA_STATE_INVALID', `certificate ${prior.serialNumber} is recorded but missing`);
    return {
      certificate: cert.der,
      chain: await this.getChain(),
      serialNumber: prior.serialNumber,
      notBefore: new Date(prior.notBefore),
      notAfter: new Date(prior.notAfter),
      profile: prior.profile,
    };
  }

  private async spkiFromCsr(der: Uint8Array): Promise<Uint8Array> {
    const csr = parseCsr(der);
    await verifyCsr(csr, this.crypto);
    // The CA issues for the validated mailbox of the request, never for names the CSR asks for.
    return csr.publicKey.spki;
  }

  private freshSerial(): Uint8Array {
    for (;;) {
      const s = randomSerial(this.crypto);
      const hex = toHex(s);
      if (!this.records.has(hex)) return s;
    }
  }

  private async revokeNow(request: RevokeRequest): Promise<RevocationRecord> {
    const req = parseInput(revokeRequestSchema, request, 'revoke request');
    const record = this.records.get(req.serialNumber);
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

function floorToSecond(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}
