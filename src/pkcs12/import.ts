/** Reading PKCS#12 (.p12/.pfx) files as CAs deliver S/MIME identities: one key, its certificate, the chain. */
import { MailPkiError } from '../errors.js';
import { resolveCrypto } from '../internal/crypto.js';
import {
  Tag,
  contentOf,
  cursor,
  encodedOf,
  parseDer,
  readOctetString,
  readOid,
  readSmallInt,
  readString,
  type Der,
  type DerCursor,
} from '../internal/der.js';
import type { SignatureAlgorithm } from '../keys/algorithms.js';
import { decryptKeyInfo, pbeDecrypt, type IterationBudget, type PbeDecryptContext } from '../keys/pbes2.js';
import { importPrivateKeyInfo } from '../keys/pkcs8.js';
import { parsePrivateKeyInfo } from '../keys/private-key-info.js';
import { recodeDerErrors } from '../keys/recode.js';
import { utf8 } from '../internal/bytes.js';
import { findCertificateForKey, spkiOfCertificate } from './certificate.js';
import {
  MAX_PKCS12_BAGS,
  MAX_PKCS12_BYTES,
  MAX_PKCS12_NESTING,
  MAX_PKCS12_TOTAL_PBKDF2_ITERATIONS,
} from './limits.js';
import { readMacData, verifyMac, type MacData } from './mac.js';
import { P12_OID } from './oids.js';

export interface ImportPkcs12Options {
  crypto?: Crypto;
  /** Default false: signing does not need it. */
  extractable?: boolean;
  /** For an RSA key, the scheme and hash it will sign with; default rsa-pkcs1 with SHA-256. */
  algorithm?: SignatureAlgorithm;
  /**
   * Accept a file without a MAC (`openssl pkcs12 -export -nomac`). Default false: without the
   * MAC an altered unencrypted certificate would go unnoticed.
   */
  allowMissingMac?: boolean;
}

export interface Pkcs12Contents {
  privateKey: CryptoKey;
  /** DER of the certificate whose public key is the private key's. */
  certificate: Uint8Array;
  /** DER of the other certificates, in file order (usually the issuing CA chain). */
  chain: Uint8Array[];
  /** The friendlyName of the key (or, failing that, of its certificate), if any. */
  friendlyName?: string;
}

const WHAT = 'invalid PKCS#12';
const CODE = 'ERR_PKCS12_MALFORMED';
// Two steps, not a pipe: OpenSSL 3.0 `pkcs12 -export` reads its -in file twice (key, then certificates).
const HINT =
  'convert the file with `openssl pkcs12 -legacy -in old.p12 -out tmp.pem` then `openssl pkcs12 -export -in tmp.pem -out new.p12` ' +
  '(OpenSSL 3 writes PBES2 with AES-256-CBC; tmp.pem keeps the key encrypted), and delete tmp.pem';

const c = (node: Der): DerCursor => cursor(node, CODE, WHAT);

interface Bag {
  kind: 'key' | 'shrouded-key' | 'cert';
  der: Uint8Array;
  localKeyId?: Uint8Array;
  friendlyName?: string;
}

/** PFX → the AuthenticatedSafe bytes (what the MAC covers) and the MacData. */
function readPfx(bytes: Uint8Array): { authSafe: Uint8Array; mac?: MacData } {
  const pfx = c(parseDer(bytes, CODE, WHAT));
  const version = readSmallInt(pfx.next(Tag.INTEGER));
  if (version !== 3) throw new MailPkiError(CODE, `${WHAT}: version ${version}, expected 3`);
  const authSafe = c(pfx.next(Tag.SEQUENCE));
  const type = readOid(authSafe.next(Tag.OID));
  if (type === P12_OID.signedData)
    throw new MailPkiError('ERR_ALGORITHM_UNSUPPORTED', 'PKCS#12 public-key integrity mode (signedData) is not supported; only password integrity is');
  if (type !== P12_OID.data) throw new MailPkiError(CODE, `${WHAT}: unexpected authSafe content type ${type}`);
  const content = readOctetString(c(authSafe.next(0xa0)).next(Tag.OCTET_STRING));
  authSafe.end();
  const macNode = pfx.optional(Tag.SEQUENCE);
  pfx.end();
  return macNode ? { authSafe: content, mac: readMacData(macNode) } : { authSafe: content };
}

type SafeContentsSource = { encrypted: false; der: Uint8Array } | { encrypted: true; algorithm: Der; ciphertext: Uint8Array };

/** AuthenticatedSafe → its ContentInfos, each plain or password-encrypted SafeContents. */
function readAuthenticatedSafe(authSafe: Uint8Array): SafeContentsSource[] {
  const list = c(parseDer(authSafe, CODE, WHAT));
  const out: SafeContentsSource[] = [];
  while (!list.done) {
    if (out.length >= MAX_PKCS12_BAGS) throw tooMany();
    const info = c(list.next(Tag.SEQUENCE));
    const type = readOid(info.next(Tag.OID));
    const content = c(info.next(0xa0));
    info.end();
    if (type === P12_OID.data) out.push({ encrypted: false, der: readOctetString(content.next(Tag.OCTET_STRING)) });
    else if (type === P12_OID.encryptedData) out.push({ encrypted: true, ...readEncryptedData(content.next(Tag.SEQUENCE)) });
    else if (type === P12_OID.envelopedData)
      throw new MailPkiError('ERR_ALGORITHM_UNSUPPORTED', 'PKCS#12 public-key privacy mode (envelopedData) is not supported');
    else throw new MailPkiError(CODE, `${WHAT}: unexpected content type ${type}`);
    content.end();
  }
  return out;
}

/** EncryptedData (RFC 5652 8): version, EncryptedContentInfo with the ciphertext in [0] IMPLICIT. */
function readEncryptedData(node: Der): { algorithm: Der; ciphertext: Uint8Array } {
  const ed = c(node);
  ed.next(Tag.INTEGER);
  const eci = c(ed.next(Tag.SEQUENCE));
  ed.optional(0xa1); // unprotectedAttrs
  ed.end();
  if (readOid(eci.next(Tag.OID)) !== P12_OID.data) throw new MailPkiError(CODE, `${WHAT}: encrypted content is not data`);
  const algorithm = eci.next(Tag.SEQUENCE);
  const ciphertext = eci.optional(0x80);
  eci.end();
  if (!ciphertext) throw new MailPkiError(CODE, `${WHAT}: encrypted content is missing`);
  return { algorithm, ciphertext: contentOf(ciphertext) };
}

function tooMany(): MailPkiError {
  return new MailPkiError('ERR_INPUT_TOO_LARGE', `PKCS#12 file has more than ${MAX_PKCS12_BAGS} bags`, { details: { limit: MAX_PKCS12_BAGS } });
}

/** SafeContents → bags, appended to `out`; nested safeContentsBags are followed to a bounded depth. */
function readSafeContents(der: Uint8Array, out: Bag[], depth: number): void {
  if (depth > MAX_PKCS12_NESTING)
    throw new MailPkiError('ERR_NESTING_TOO_DEEP', `PKCS#12 safeContentsBag nesting is deeper than ${MAX_PKCS12_NESTING}`);
  const list = c(parseDer(der, CODE, WHAT));
  let count = 0;
  while (!list.done) {
    if (out.length + ++count > MAX_PKCS12_BAGS) throw tooMany();
    const bag = c(list.next(Tag.SEQUENCE));
    const bagId = readOid(bag.next(Tag.OID));
    const value = c(bag.next(0xa0)).next();
    const attrs = bag.optional(Tag.SET);
    bag.end();
    const labels = attrs ? readAttributes(attrs) : {};
    if (bagId === P12_OID.keyBag) out.push({ kind: 'key', der: encodedOf(value), ...labels });
    else if (bagId === P12_OID.pkcs8ShroudedKeyBag) out.push({ kind: 'shrouded-key', der: encodedOf(value), ...labels });
    else if (bagId === P12_OID.certBag) {
      const cert = readCertBag(value);
      if (cert) out.push({ kind: 'cert', der: cert, ...labels });
    } else if (bagId === P12_OID.safeContentsBag) readSafeContents(encodedOf(value), out, depth + 1);
    // crlBag, secretBag and unknown bags carry nothing an S/MIME identity needs.
  }
}

/** CertBag → X.509 certificate DER; other certificate types (SDSI) are skipped. */
function readCertBag(node: Der): Uint8Array | undefined {
  const bag = c(node);
  const certId = readOid(bag.next(Tag.OID));
  const value = readOctetString(c(bag.next(0xa0)).next(Tag.OCTET_STRING));
  bag.end();
  if (certId !== P12_OID.x509Certificate) return undefined;
  spkiOfCertificate(value, CODE);
  return value;
}

/** friendlyName and localKeyId from bagAttributes; other attributes are ignored. */
function readAttributes(set: Der): { localKeyId?: Uint8Array; friendlyName?: string } {
  const attrs = c(set);
  const out: { localKeyId?: Uint8Array; friendlyName?: string } = {};
  while (!attrs.done) {
    const attr = c(attrs.next(Tag.SEQUENCE));
    const type = readOid(attr.next(Tag.OID));
    const values = c(attr.next(Tag.SET));
    attr.end();
    if (values.done) continue;
    if (type === P12_OID.localKeyId) out.localKeyId = readOctetString(values.next(Tag.OCTET_STRING));
    else if (type === P12_OID.friendlyName) out.friendlyName = readString(values.next());
  }
  return out;
}

/** Every bag of the file, decrypting encrypted SafeContents with the UTF-8 passphrase (as OpenSSL does for PBES2). */
async function collectBags(crypto: Crypto, sources: SafeContentsSource[], passphrase: string, budget: IterationBudget): Promise<Bag[]> {
  const ctx: PbeDecryptContext = { code: CODE, conversionHint: HINT, budget };
  const bags: Bag[] = [];
  for (const s of sources) {
    const der = s.encrypted ? await pbeDecrypt(crypto, s.algorithm, s.ciphertext, utf8(passphrase), ctx) : s.der;
    recodeDerErrors(s.encrypted ? 'ERR_PASSPHRASE_WRONG' : CODE, WHAT, () => readSafeContents(der, bags, 0));
  }
  return bags;
}

function checkInput(bytes: unknown, passphrase: unknown): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array))
    throw new MailPkiError('ERR_INVALID_INPUT', 'bytes: must be the .p12 file as a Uint8Array', { details: { field: 'bytes' } });
  if (typeof passphrase !== 'string')
    throw new MailPkiError('ERR_INVALID_INPUT', 'passphrase: must be a string', { details: { field: 'passphrase' } });
  if (bytes.length > MAX_PKCS12_BYTES)
    throw new MailPkiError('ERR_INPUT_TOO_LARGE', `PKCS#12 file is larger than ${MAX_PKCS12_BYTES} bytes`, { details: { limit: MAX_PKCS12_BYTES } });
}

/**
 * Reads a PKCS#12 file: checks the MAC first (so a wrong passphrase or an altered file is
 * reported as such before anything is decrypted), then decrypts the PBES2-protected bags and
 * pairs the one private key with its certificate by proving the key signs for it.
 *
 * @example
 * const { privateKey, certificate, chain } = await importPkcs12(await readFile('alice.p12'), passphrase);
 */
export async function importPkcs12(bytes: Uint8Array, passphrase: string, options: ImportPkcs12Options = {}): Promise<Pkcs12Contents> {
  const crypto = resolveCrypto(options.crypto);
  const { bags, budget } = await readBags(crypto, bytes, passphrase, options);
  const keys = bags.filter((b) => b.kind !== 'cert');
  if (keys.length !== 1)
    throw new MailPkiError('ERR_PKCS12_CONTENT', `PKCS#12 file holds ${keys.length} private keys; exactly one is expected${keys.length > 1 ? ' (a key-recovery export: read it with importDecryptionKeysFromPkcs12, or --p12 on the command line)' : ''}`, {
      details: { keys: keys.length },
    });
  const keyBag = keys[0]!;
  const privateKey = await importKeyBag(crypto, keyBag, passphrase, budget, options);
  const certs = orderByLocalKeyId(bags.filter((b) => b.kind === 'cert'), keyBag.localKeyId);
  const index = await findCertificateForKey(crypto, privateKey, certs.map((b) => b.der));
  if (index < 0) throw new MailPkiError('ERR_PKCS12_CONTENT', 'PKCS#12 file has no certificate for its private key');
  const certBag = certs[index]!;
  const friendlyName = keyBag.friendlyName ?? certBag.friendlyName;
  const result: Pkcs12Contents = {
    privateKey,
    certificate: certBag.der.slice(),
    chain: bags.filter((b) => b.kind === 'cert' && b !== certBag).map((b) => b.der.slice()),
  };
  if (friendlyName !== undefined) result.friendlyName = friendlyName;
  return result;
}

/** The MAC checked first, then every bag decrypted, within the file's PBKDF2 budget. */
async function readBags(crypto: Crypto, bytes: Uint8Array, passphrase: string, options: ImportPkcs12Options): Promise<{ bags: Bag[]; budget: IterationBudget }> {
  checkInput(bytes, passphrase);
  const { authSafe, mac } = recodeDerErrors(CODE, WHAT, () => readPfx(bytes));
  if (mac) await verifyMac(crypto, mac, passphrase, authSafe);
  else if (!options.allowMissingMac)
    throw new MailPkiError('ERR_PKCS12_MAC_INVALID', 'PKCS#12 file has no MAC, so its integrity cannot be checked (pass allowMissingMac to accept it)');
  const sources = recodeDerErrors(CODE, WHAT, () => readAuthenticatedSafe(authSafe));
  const budget: IterationBudget = { remaining: MAX_PKCS12_TOTAL_PBKDF2_ITERATIONS };
  return { bags: await collectBags(crypto, sources, passphrase, budget), budget };
}

/** One private key of a PKCS#12 file and the certificate whose public key it is. */
export interface Pkcs12KeyPair {
  privateKey: CryptoKey;
  /** DER. */
  certificate: Uint8Array;
  /** The friendlyName of the key (or, failing that, of its certificate), if any. */
  friendlyName?: string;
}

/** Every key of a PKCS#12 file with its certificate, and the certificates no key claims. */
export interface Pkcs12AllContents {
  /** In file order of the keys. */
  keys: Pkcs12KeyPair[];
  /** DER of the certificates that are no key's (usually the issuing CA chain), in file order. */
  chain: Uint8Array[];
}

/**
 * Reads a PKCS#12 file holding one or more private keys (a key-recovery export: every kept
 * decryption key with its certificate, as `LifecycleManager.exportDecryptionKeys` and
 * `openssl pkcs12 -export` of several keys write). Each key is paired with a certificate it is
 * proven to sign for, those with its localKeyId first, each certificate to one key; a key without
 * a certificate is ERR_PKCS12_CONTENT. Limits as for `importPkcs12` (MAX_PKCS12_BAGS bags in all).
 *
 * @example
 * const { keys } = await importPkcs12All(await readFile('recovery.p12'), passphrase, { extractable: true });
 */
export async function importPkcs12All(bytes: Uint8Array, passphrase: string, options: ImportPkcs12Options = {}): Promise<Pkcs12AllContents> {
  const crypto = resolveCrypto(options.crypto);
  const { bags, budget } = await readBags(crypto, bytes, passphrase, options);
  const keyBags = bags.filter((b) => b.kind !== 'cert');
  if (keyBags.length === 0) throw new MailPkiError('ERR_PKCS12_CONTENT', 'PKCS#12 file holds no private key', { details: { keys: 0 } });
  const certs = bags.filter((b) => b.kind === 'cert');
  const taken = new Set<Bag>();
  const keys: Pkcs12KeyPair[] = [];
  for (const [i, keyBag] of keyBags.entries()) {
    const privateKey = await importKeyBag(crypto, keyBag, passphrase, budget, options);
    // A renewal without a new key gives two entries of one key: each takes a certificate of its own.
    const candidates = orderByLocalKeyId(certs.filter((b) => !taken.has(b)), keyBag.localKeyId);
    const index = await findCertificateForKey(crypto, privateKey, candidates.map((b) => b.der));
    if (index < 0) throw new MailPkiError('ERR_PKCS12_CONTENT', `PKCS#12 file has no certificate for its private key ${i + 1} of ${keyBags.length}`, { details: { key: i } });
    const certBag = candidates[index]!;
    taken.add(certBag);
    const friendlyName = keyBag.friendlyName ?? certBag.friendlyName;
    keys.push({ privateKey, certificate: certBag.der.slice(), ...(friendlyName !== undefined && { friendlyName }) });
  }
  return { keys, chain: certs.filter((b) => !taken.has(b)).map((b) => b.der.slice()) };
}

async function importKeyBag(
  crypto: Crypto,
  bag: Bag,
  passphrase: string,
  budget: IterationBudget,
  options: ImportPkcs12Options,
): Promise<CryptoKey> {
  const info =
    bag.kind === 'shrouded-key' ? await decryptKeyInfo(crypto, bag.der, passphrase, { code: CODE, conversionHint: HINT, budget }) : bag.der;
  const key = parsePrivateKeyInfo(info);
  // An X25519 key (a key-recovery export of an X25519 encryption certificate) can only agree keys.
  return importPrivateKeyInfo(crypto, key, key.kind === 'x25519' ? { ...options, usage: 'decrypt' } : options);
}

/** Certificates whose localKeyId matches the key's first: they are tried first, still proven by signature. */
function orderByLocalKeyId(certs: Bag[], id: Uint8Array | undefined): Bag[] {
  if (!id) return certs;
  const same = (b: Bag) => b.localKeyId !== undefined && b.localKeyId.length === id.length && b.localKeyId.every((x, i) => x === id[i]);
  return [...certs.filter(same), ...certs.filter((b) => !same(b))];
}
