/** `mailpki sign`, `encrypt`, `decrypt` and `verify`. */
import { importDecryptionKey, importDecryptionKeysFromPkcs12 } from '../cms/index.js';
import { MailPkiError, isMailPkiError } from '../errors.js';
import { parseMessage } from '../mime/index.js';
import {
  decryptMessage,
  encryptMessage,
  loadSignerFromPem,
  loadSignerFromPkcs12,
  signAndEncrypt,
  signMessage,
  verifyMessage,
  type EncryptMessageOptions,
  type SmimeDecryptionKey,
  type Verdict,
} from '../smime/index.js';
import type { DigestAlgorithm } from '../keys/algorithms.js';
import { writeFileAtomic } from '../node/fs-storage.js';
import { nodeAesGcm } from '../node/index.js';
import { identityDecryptors, identitySigner } from './lifecycle.js';
import { MAX_SMALL_INPUT_BYTES } from './input.js';
import { list, oneOf, passphraseFromEnv, str, type Command, type CommandContext } from './args.js';

const DIGESTS: Record<string, DigestAlgorithm> = { sha256: 'SHA-256', sha384: 'SHA-384', sha512: 'SHA-512' };

const ENCRYPT_OPTIONS = {
  to: { type: 'string', multiple: true },
  self: { type: 'string' },
  cbc: { type: 'boolean' },
  oaep: { type: 'boolean' },
  pkcs1: { type: 'boolean' },
  trust: { type: 'string', multiple: true },
  intermediates: { type: 'string', multiple: true },
} as const;

const ENCRYPT_HELP = `  --self CERT             also encrypt to this certificate (yours: the sent copy stays readable)
  --cbc                   AES-256-CBC EnvelopedData for old clients (not integrity-protected; default AES-256-GCM)
  --oaep | --pkcs1        RSA key transport: RSAES-OAEP SHA-256 (default) or PKCS#1 v1.5 (legacy)
  --trust FILE            recipient certificates must chain to these anchors (else only dates and key usage are checked)
  --intermediates FILE    CA certificates to build the recipients' chains with`;

/** Most --p12, --key and --identity options one command takes (each is a file read, or a store lookup, at start). */
export const MAX_DECRYPTION_KEY_OPTIONS = 64;

/** The decryption-key options of decrypt, verify and filter (read by readDecryptionKeys). */
export const KEY_OPTIONS = {
  p12: { type: 'string', multiple: true },
  key: { type: 'string', multiple: true },
  cert: { type: 'string', multiple: true },
  identity: { type: 'string', multiple: true },
  db: { type: 'string' },
  actor: { type: 'string' },
  'passphrase-env': { type: 'string', multiple: true },
} as const;

export const KEY_HELP = `  --p12 FILE --passphrase-env VAR   the decryption keys and certificates of a PKCS#12 file (every one: a recovery export)
  --key FILE --cert FILE            or a private key (PEM/DER; encrypted: --passphrase-env) and its certificate
  --identity ADDR [--db PATH]       or every decryption key a store identity kept (its history; passphrase $MAILPKI_PASSPHRASE
                                    or --passphrase-env); the use is audited as --actor WHO (default cli:<your user name>)
                                    Each may be repeated (at most ${MAX_DECRYPTION_KEY_OPTIONS}); with several, write each
                                    --passphrase-env right after the --p12, --key or --identity it opens`;

export const sign: Command = {
  usage:
    'mailpki sign (--cert FILE --key FILE [--chain FILE] | --p12 FILE | --identity ADDR [--db PATH]) [--passphrase-env VAR] [--opaque] [--digest sha256|sha384|sha512] [--pss] [--header-protection] [--to CERT ... [--self CERT|--self-signer] [--cbc] [--oaep|--pkcs1] [--trust FILE ...] [--intermediates FILE ...]] [--in FILE] [--out FILE]',
  options: {
    ...ENCRYPT_OPTIONS,
    'self-signer': { type: 'boolean' },
    'header-protection': { type: 'boolean' },
    identity: { type: 'string' },
    db: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    chain: { type: 'string' },
    p12: { type: 'string' },
    'passphrase-env': { type: 'string' },
    opaque: { type: 'boolean' },
    digest: { type: 'string' },
    pss: { type: 'boolean' },
    in: { type: 'string' },
    out: { type: 'string' },
  },
  help: `  --cert FILE --key FILE  the signer's certificate and PKCS#8 key (PEM or DER) [--chain FILE: its CA certificates]
  --p12 FILE              or the signer from a PKCS#12 file (needs --passphrase-env)
  --identity ADDR         or the current certificate of a store identity (--db PATH, passphrase $MAILPKI_PASSPHRASE)
  --passphrase-env VAR    the key's or the .p12's passphrase is in $VAR
  --opaque                application/pkcs7-mime (readable only by S/MIME clients) instead of multipart/signed
  --digest D              sha256 (default), sha384, sha512
  --pss                   RSA-PSS instead of PKCS#1 v1.5 (RSA keys)
  --header-protection     copy From, To, Subject... into the signed part (RFC 9788 hp="clear"); always on with --to
  --to CERT               sign, then encrypt to this recipient certificate (PEM/DER); repeat for each To/Cc address
  --self-signer           also encrypt to the signer's own certificate (the sent copy stays readable)
${ENCRYPT_HELP}
  --in FILE               the MIME message to sign (default: standard input, at most 64 MiB)
  --out FILE              where to write the signed message (default: standard output; files are written 0600)
Exit 0 signed; 1 a recipient refused (no certificate for a To/Cc address, an invalid certificate); 2 unreadable input (not a MIME message, a key that does not open) or usage.`,
  async run(ctx) {
    const digest = DIGESTS[oneOf(ctx, 'digest', ['sha256', 'sha384', 'sha512'] as const) ?? 'sha256']!;
    const passphrase = str(ctx, 'identity') ? undefined : passphraseFromEnv(ctx, 'passphrase-env');
    const loadOptions = { digest, rsaPadding: ctx.values.pss ? ('pss' as const) : ('pkcs1' as const) };
    const p12 = str(ctx, 'p12');
    const identity = str(ctx, 'identity');
    let signer;
    if (identity) {
      if (p12 || str(ctx, 'cert') || str(ctx, 'key')) throw new MailPkiError('ERR_USAGE', 'give one of --identity, --p12, or --cert and --key');
      signer = await identitySigner(ctx, identity);
    } else if (p12) {
      if (str(ctx, 'cert') || str(ctx, 'key')) throw new MailPkiError('ERR_USAGE', 'give either --p12 or --cert and --key, not both');
      if (passphrase === undefined) throw new MailPkiError('ERR_USAGE', '--p12 needs --passphrase-env naming the variable that holds its passphrase');
      signer = await loadSignerFromPkcs12(await ctx.readInput(p12, MAX_SMALL_INPUT_BYTES), passphrase, loadOptions);
    } else {
      const cert = str(ctx, 'cert');
      const key = str(ctx, 'key');
      if (!cert || !key) throw new MailPkiError('ERR_USAGE', 'sign needs --cert and --key (or --p12)');
      const chain = str(ctx, 'chain');
      signer = await loadSignerFromPem(
        { certificate: await ctx.readInput(cert, MAX_SMALL_INPUT_BYTES), key: await ctx.readInput(key, MAX_SMALL_INPUT_BYTES), ...(chain && { chain: await ctx.readInput(chain, MAX_SMALL_INPUT_BYTES) }) },
        { ...loadOptions, ...(passphrase !== undefined && { passphrase }) },
      );
    }
    const message = await ctx.readInput(str(ctx, 'in'));
    // headerProtection only when asked: a false here would also turn off signAndEncrypt's default (hp="cipher").
    const signOptions = { opaque: Boolean(ctx.values.opaque), digest, rsaPadding: loadOptions.rsaPadding, ...(ctx.values['header-protection'] === true && { headerProtection: true }) };
    const to = (ctx.values.to as string[] | undefined) ?? [];
    if (to.length === 0 && (str(ctx, 'self') || ctx.values['self-signer'] || ctx.values.cbc || ctx.values.oaep || ctx.values.pkcs1 || ctx.values.trust || ctx.values.intermediates))
      throw new MailPkiError('ERR_USAGE', '--self, --self-signer, --cbc, --oaep, --pkcs1 and --trust are for encrypting: give --to CERT');
    let signed: Uint8Array;
    if (to.length > 0) {
      const encryptOptions = await readEncryptOptions(ctx);
      if (ctx.values['self-signer']) {
        if (encryptOptions.encryptToSelf) throw new MailPkiError('ERR_USAGE', 'give either --self CERT or --self-signer');
        encryptOptions.encryptToSelf = true;
      }
      const refused = await refusedRecipients(ctx, () => signAndEncrypt(message, signer, encryptOptions.recipients, { ...signOptions, ...encryptOptions.options, encryptToSelf: encryptOptions.encryptToSelf }));
      if (typeof refused === 'number') return refused;
      signed = refused;
    } else signed = await signMessage(message, signer, signOptions);
    await writeOutput(ctx, signed);
    return 0;
  },
};

/** The recipients and encryption options of --to, --self, --cbc, --oaep|--pkcs1, --trust. */
async function readEncryptOptions(ctx: CommandContext): Promise<{ recipients: Uint8Array[]; encryptToSelf?: Uint8Array | boolean; options: EncryptMessageOptions }> {
  if (ctx.values.oaep && ctx.values.pkcs1) throw new MailPkiError('ERR_USAGE', 'give either --oaep or --pkcs1');
  const recipients = await Promise.all(((ctx.values.to as string[] | undefined) ?? []).map((f) => ctx.readInput(f, MAX_SMALL_INPUT_BYTES)));
  const self = str(ctx, 'self');
  const trust = await Promise.all(((ctx.values.trust as string[] | undefined) ?? []).map((f) => ctx.readInput(f, MAX_SMALL_INPUT_BYTES)));
  const intermediates = await Promise.all(((ctx.values.intermediates as string[] | undefined) ?? []).map((f) => ctx.readInput(f, MAX_SMALL_INPUT_BYTES)));
  return {
    recipients,
    ...(self && { encryptToSelf: await ctx.readInput(self, MAX_SMALL_INPUT_BYTES) }),
    options: {
      aesGcm: nodeAesGcm(),
      ...(ctx.values.cbc && { contentEncryption: 'aes-256-cbc' as const }),
      ...(ctx.values.pkcs1 && { keyTransport: 'rsa-pkcs1' as const }),
      ...(ctx.values.oaep && { keyTransport: 'rsa-oaep' as const }),
      ...(trust.length > 0 && { trustAnchors: trust }),
      ...(intermediates.length > 0 && { intermediates }),
    },
  };
}

/** Runs an encryption; a refused recipient is a negative result (exit 1) with the library's sentence. */
async function refusedRecipients(ctx: CommandContext, run: () => Promise<Uint8Array>): Promise<Uint8Array | number> {
  try {
    return await run();
  } catch (e) {
    if (!isMailPkiError(e, 'ERR_RECIPIENT_MISSING') && !isMailPkiError(e, 'ERR_RECIPIENT_INVALID')) throw e;
    ctx.io.stderr(`mailpki: ${e.message}\n`);
    return 1;
  }
}

/** --out FILE (0600: a message is private until sent) or standard output. */
async function writeOutput(ctx: CommandContext, bytes: Uint8Array): Promise<void> {
  const out = str(ctx, 'out');
  if (out) await writeFileAtomic(out, bytes, 0o600);
  else ctx.io.stdoutBytes(bytes);
}

export const encrypt: Command = {
  usage: 'mailpki encrypt --to CERT [--to CERT ...] [--self CERT] [--cbc] [--oaep|--pkcs1] [--trust FILE ...] [--intermediates FILE ...] [--in FILE] [--out FILE]',
  options: { ...ENCRYPT_OPTIONS, in: { type: 'string' }, out: { type: 'string' } },
  help: `  --to CERT               a recipient certificate (PEM/DER); every To and Cc address needs one. Repeat for each.
${ENCRYPT_HELP}
  --in FILE               the MIME message to encrypt (default: standard input, at most 64 MiB)
  --out FILE              where to write the encrypted message (default: standard output; files are written 0600)
Exit 0 encrypted; 1 a recipient refused (no certificate for a To/Cc address, an invalid certificate); 2 unreadable input or usage.`,
  async run(ctx) {
    const { recipients, encryptToSelf, options } = await readEncryptOptions(ctx);
    if (recipients.length === 0) throw new MailPkiError('ERR_USAGE', 'encrypt needs at least one --to CERT');
    const message = await ctx.readInput(str(ctx, 'in'));
    const encrypted = await refusedRecipients(ctx, () => encryptMessage(message, recipients, { ...options, ...(encryptToSelf && { encryptToSelf }) }));
    if (typeof encrypted === 'number') return encrypted;
    await writeOutput(ctx, encrypted);
    return 0;
  },
};

type KeySource = { kind: 'p12' | 'key' | 'identity'; value: string; passphraseVar?: string };

/**
 * Pairs each --passphrase-env with the --p12, --key or --identity written just before it. One
 * --passphrase-env alone opens everything (as when only one source could be given).
 */
function keySources(ctx: CommandContext): KeySource[] {
  const passVars = list(ctx, 'passphrase-env');
  const order = ctx.order ?? [];
  const sources: KeySource[] = [];
  for (const t of order) {
    if (t.value === undefined) continue;
    if (t.name === 'p12' || t.name === 'key' || t.name === 'identity') sources.push({ kind: t.name, value: t.value });
    else if (t.name === 'passphrase-env' && passVars.length > 1) {
      const last = sources[sources.length - 1];
      if (!last || last.passphraseVar !== undefined)
        throw new MailPkiError('ERR_USAGE', `--passphrase-env ${t.value} follows no --p12, --key or --identity of its own: with several, write each one after the file or identity it opens`);
      last.passphraseVar = t.value;
    }
  }
  // Without the order (a caller that built the context itself) the values alone, one passphrase for all.
  if (order.length === 0) for (const kind of ['p12', 'key', 'identity'] as const) for (const value of list(ctx, kind)) sources.push({ kind, value });
  if (passVars.length === 1) for (const s of sources) s.passphraseVar = passVars[0];
  else if (passVars.length > 1 && order.length === 0) throw new MailPkiError('ERR_USAGE', 'several --passphrase-env need the command-line order');
  return sources;
}

/**
 * The decryption keys of every --p12 FILE, --key FILE with --cert FILE (paired in order) and
 * --identity ADDR (one store, --db); undefined when none is given. Repeat them for a gateway in
 * front of several mailboxes.
 */
export async function readDecryptionKeys(ctx: CommandContext, reason?: string): Promise<SmimeDecryptionKey[] | undefined> {
  const sources = keySources(ctx);
  const certs = list(ctx, 'cert');
  const keyCount = sources.filter((s) => s.kind === 'key').length;
  if (keyCount !== certs.length) throw new MailPkiError('ERR_USAGE', '--key and --cert go together: give one --cert FILE for each --key FILE, in the same order');
  if (sources.length === 0) return undefined;
  if (sources.length > MAX_DECRYPTION_KEY_OPTIONS)
    throw new MailPkiError('ERR_USAGE', `at most ${MAX_DECRYPTION_KEY_OPTIONS} --p12, --key and --identity options (got ${sources.length})`);
  const passphrase = (s: KeySource) => (s.passphraseVar === undefined ? undefined : passphraseFromEnv({ ...ctx, values: { 'passphrase-env': s.passphraseVar } }, 'passphrase-env'));
  const keys: SmimeDecryptionKey[] = [];
  let certIndex = 0;
  for (const s of sources) {
    if (s.kind === 'p12') {
      const pw = passphrase(s);
      if (pw === undefined) throw new MailPkiError('ERR_USAGE', `--p12 ${s.value} needs --passphrase-env naming the variable that holds its passphrase`);
      // Every key of the file: a key-recovery export holds the whole history.
      keys.push(...(await importDecryptionKeysFromPkcs12(await ctx.readInput(s.value, MAX_SMALL_INPUT_BYTES), pw)));
    } else if (s.kind === 'key') {
      const pw = passphrase(s);
      const cert = certs[certIndex++]!;
      keys.push(await importDecryptionKey(await ctx.readInput(s.value, MAX_SMALL_INPUT_BYTES), await ctx.readInput(cert, MAX_SMALL_INPUT_BYTES), { ...(pw !== undefined && { passphrase: pw }) }));
    }
  }
  // Every key of each identity's history (mail encrypted to an earlier certificate still opens), from one store.
  const identities = sources.filter((s) => s.kind === 'identity');
  if (identities.length > 0) {
    const vars = [...new Set(identities.map((s) => s.passphraseVar).filter((v) => v !== undefined))];
    if (vars.length > 1) throw new MailPkiError('ERR_USAGE', `the --identity options share one store (--db) and so one passphrase; got ${vars.join(' and ')}`);
    const storeCtx = { ...ctx, values: { ...ctx.values, 'passphrase-env': vars[0] } };
    keys.push(...(await identityDecryptors(storeCtx, identities.map((s) => s.value), reason)));
  }
  return keys;
}

/** Decryption that failed on the message's side (not for these keys, altered, cut short): a negative result. */
const REFUSED_DECRYPTION = new Set(['ERR_CMS_NOT_FOR_RECIPIENT', 'ERR_CMS_WRONG_KEY', 'ERR_CMS_DECRYPTION_FAILED', 'ERR_CMS_TRUNCATED']);

export const decrypt: Command = {
  usage: 'mailpki decrypt (--p12 FILE --passphrase-env VAR | --key FILE --cert FILE [--passphrase-env VAR] | --identity ADDR [--db PATH]) [--in FILE] [--out FILE]',
  options: { ...KEY_OPTIONS, in: { type: 'string' }, out: { type: 'string' } },
  help: `${KEY_HELP}
  --in FILE               the encrypted message (default: standard input, at most 64 MiB)
  --out FILE              where to write the decrypted message (default: standard output; files are written 0600)
Prints a note on standard error when the content was AES-CBC encrypted (not integrity-protected).
Exit 0 decrypted; 1 not decryptable with these keys (not addressed to them, altered, cut short); 2 unreadable input, not an encrypted message, or usage.`,
  async run(ctx) {
    const keys = await readDecryptionKeys(ctx);
    if (!keys) throw new MailPkiError('ERR_USAGE', 'decrypt needs --p12, --key and --cert, or --identity');
    const message = await ctx.readInput(str(ctx, 'in'));
    let result;
    try {
      result = await decryptMessage(message, { keys, aesGcm: nodeAesGcm() });
    } catch (e) {
      if (!(e instanceof MailPkiError) || !REFUSED_DECRYPTION.has(e.code)) throw e;
      ctx.io.stderr(`mailpki: ${e.message}\n`);
      return 1;
    }
    if (!result.integrityProtected)
      ctx.io.stderr(`mailpki: note: the content was ${result.contentEncryption.toUpperCase()} encrypted, which does not detect alterations; trust it only if a valid signature covers it (mailpki verify)\n`);
    await writeOutput(ctx, result.message);
    return 0;
  },
};

export const verify: Command = {
  usage:
    'mailpki verify --trust FILE [--trust FILE ...] [--intermediates FILE ...] [--at ISO-8601] [--allow-weak] [--revocation off|soft-fail|hard-fail [--crl FILE ...] [--ocsp-url URL ...] [--allow-no-revocation-sources]] [--p12 FILE --passphrase-env VAR | --key FILE --cert FILE | --identity ADDR [--db PATH]] [--json] [--in FILE]',
  options: {
    ...KEY_OPTIONS,
    revocation: { type: 'string' },
    crl: { type: 'string', multiple: true },
    'ocsp-url': { type: 'string', multiple: true },
    'allow-no-revocation-sources': { type: 'boolean' },
    trust: { type: 'string', multiple: true },
    intermediates: { type: 'string', multiple: true },
    at: { type: 'string' },
    'allow-weak': { type: 'boolean' },
    json: { type: 'boolean' },
    in: { type: 'string' },
  },
  help: `  --trust FILE          a trust anchor (PEM, may hold several); repeat for more. There is no system store.
  --intermediates FILE  CA certificates to build chains with, besides those in the message
  --at ISO-8601         verify as of that time (an archived message), not now
  --allow-weak          accept SHA-1 and RSA below 2048 bits (old archives only)
  --revocation P        off | soft-fail (default: unreachable sources warn) | hard-fail (status must be known and good)
${KEY_HELP}
                        (to open an encrypted message; without a key it is not valid: SMIME_ENCRYPTED_NO_KEY)
  --json                print the whole verdict as JSON (the decrypted message as its size)
  --in FILE             the signed message (default: standard input, at most 64 MiB)
Exit 0 valid; 1 not valid (the verdict says why); 2 unreadable input (not a MIME message) or usage — as sign.`,
  async run(ctx) {
    const trust = (ctx.values.trust as string[] | undefined) ?? [];
    if (trust.length === 0) throw new MailPkiError('ERR_USAGE', 'verify needs at least one --trust FILE (the trust anchors; there is no system store)');
    const at = str(ctx, 'at');
    let atDate: Date | undefined;
    if (at !== undefined) {
      atDate = new Date(at);
      if (!/^\d{4}-\d\d-\d\d/.test(at) || Number.isNaN(atDate.getTime())) throw new MailPkiError('ERR_USAGE', `--at must be an ISO-8601 time (got "${at}")`);
    }
    const anchors = await Promise.all(trust.map((f) => ctx.readInput(f, MAX_SMALL_INPUT_BYTES)));
    const decryptionKeys = await readDecryptionKeys(ctx);
    const intermediates = await Promise.all(((ctx.values.intermediates as string[] | undefined) ?? []).map((f) => ctx.readInput(f, MAX_SMALL_INPUT_BYTES)));
    const message = await ctx.readInput(str(ctx, 'in'));
    // Input that is not a MIME message at all is unreadable (exit 2), as for sign; the verdict is for messages.
    try {
      parseMessage(message);
    } catch (e) {
      if (e instanceof MailPkiError && e.code === 'ERR_MIME_MALFORMED') throw new MailPkiError(e.code, `the input is not a readable MIME message: ${e.message}`, { cause: e });
      throw e;
    }
    // Revocation is asked only when --revocation says so: then, and only then, the CLI goes to the network.
    const policy = oneOf(ctx, 'revocation', ['off', 'soft-fail', 'hard-fail'] as const) ?? 'off';
    const crls = await Promise.all(((ctx.values.crl as string[] | undefined) ?? []).map((f) => ctx.readInput(f)));
    const ocspUrls = (ctx.values['ocsp-url'] as string[] | undefined) ?? [];
    const allowNoSources = Boolean(ctx.values['allow-no-revocation-sources']);
    if (policy === 'off' && (crls.length > 0 || ocspUrls.length > 0 || allowNoSources))
      throw new MailPkiError('ERR_USAGE', '--crl, --ocsp-url and --allow-no-revocation-sources need --revocation soft-fail or hard-fail');
    const verdict = await verifyMessage(message, {
      trustAnchors: anchors,
      intermediates,
      ...(atDate && { at: atDate }),
      allowWeakAlgorithms: Boolean(ctx.values['allow-weak']),
      ...(decryptionKeys && { decryptionKeys, aesGcm: nodeAesGcm() }),
      // One CLI run is one verification: the call's own checker and cache, the runtime's fetch.
      revocation:
        policy === 'off'
          ? { policy }
          : { policy, fetch: globalThis.fetch, ...(crls.length > 0 && { crls }), ...(ocspUrls.length > 0 && { ocspUrls }), ...(allowNoSources && { allowNoSources }) },
    });
    ctx.io.stdout(
      ctx.values.json
        ? `${JSON.stringify({ ...verdict, ...(verdict.decryptedMessage && { decryptedMessage: { bytes: verdict.decryptedMessage.length } }) }, null, 2)}\n`
        : formatVerdict(verdict) + (policy === 'off' ? '  Revocation not checked (--revocation soft-fail or hard-fail asks the OCSP responders and CRLs the certificates name)\n' : ''),
    );
    return verdict.valid ? 0 : 1;
  },
};

function revocationSummary(s: Verdict['signers'][number]): string {
  if (!s.revocation) return '';
  const leaf = s.revocation[0];
  if (!leaf) return '';
  return leaf.status === 'unchecked' ? (leaf.noSources ? ', revocation: none published' : ', revocation: NOT CHECKED') : `, revocation: ${leaf.status} (${leaf.method}${leaf.source === 'cache' ? ', cached' : ''})`;
}

/** A short summary for a person: the answer first, then why. */
export function formatVerdict(v: Verdict): string {
  const lines: string[] = [];
  const signer = v.signers.find((s) => s.ok && s.matchesFrom) ?? v.signers[0];
  if (v.valid) lines.push(`VALID: the entire message is signed by ${signer?.emails.join(', ')} (${signer?.certificate?.subject}, issued by ${signer?.certificate?.issuer})`);
  else lines.push(`NOT VALID (signed: ${v.signedScope})`);
  if (v.from?.address) lines.push(`  From:    ${v.from.name ? `${v.from.name} ` : ''}<${v.from.address}>`);
  for (const l of v.layers)
    if (l.kind === 'encrypted')
      lines.push(
        l.opened
          ? `  Encrypted: ${l.contentEncryption?.toUpperCase()} (${l.integrityProtected ? 'authenticated' : 'NOT integrity-protected'}), key ${l.keyManagement}, opened with recipient ${l.recipientIndex} of ${l.recipients.length}`
          : `  Encrypted: NOT OPENED${l.error ? ` (${l.error})` : ''}`,
      );
  for (const h of v.headerProtection)
    for (const d of h.differences)
      lines.push(
        `  Protected ${d.name} (${h.where}): ${d.protected.join(', ') || '(none)'}; outside: ${d.outer.join(', ') || '(none)'}${d.cause === 'obscured' ? ' (obscured by the sender)' : d.cause === 'changed' ? ` (CHANGED after sending; sent: ${d.sent?.join(', ') || '(none)'})` : ''}`,
      );
  v.signers.forEach((s, i) =>
    lines.push(
      `  Signer ${i}: ${s.emails.join(', ') || s.certificate?.subject || '(unknown certificate)'} — signature ${s.signature.ok ? 'ok' : 'BAD'}, chain ${s.chain?.ok ? 'ok' : 'NOT TRUSTED'}${revocationSummary(s)}${s.signature.signingTime ? `, signed ${s.signature.signingTime}` : ''}`,
    ),
  );
  for (const p of v.problems) lines.push(`  ${p.code}: ${p.message}`);
  for (const w of v.warnings) lines.push(`  warning ${w.code}: ${w.message}`);
  return `${lines.join('\n')}\n`;
}
