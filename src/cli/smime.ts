/** `mailpki sign` and `mailpki verify`. */
import { MailPkiError } from '../errors.js';
import { parseMessage } from '../mime/index.js';
import { loadSignerFromPem, loadSignerFromPkcs12 } from '../smime/load-signer.js';
import { signMessage } from '../smime/sign.js';
import { verifyMessage } from '../smime/verify.js';
import type { Verdict } from '../smime/verdict.js';
import type { DigestAlgorithm } from '../keys/algorithms.js';
import { writeFileAtomic } from '../node/fs-storage.js';
import { identitySigner } from './lifecycle.js';
import { MAX_SMALL_INPUT_BYTES } from './input.js';
import { oneOf, passphraseFromEnv, str, type Command } from './args.js';

const DIGESTS: Record<string, DigestAlgorithm> = { sha256: 'SHA-256', sha384: 'SHA-384', sha512: 'SHA-512' };

export const sign: Command = {
  usage:
    'mailpki sign (--cert FILE --key FILE [--chain FILE] | --p12 FILE | --identity ADDR [--db PATH]) [--passphrase-env VAR] [--opaque] [--digest sha256|sha384|sha512] [--pss] [--in FILE] [--out FILE]',
  options: {
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
  --in FILE               the MIME message to sign (default: standard input, at most 64 MiB)
  --out FILE              where to write the signed message (default: standard output)
Exit 0 signed; 2 unreadable input (not a MIME message, a key that does not open) or usage.`,
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
    const signed = await signMessage(message, signer, { opaque: Boolean(ctx.values.opaque), digest, rsaPadding: loadOptions.rsaPadding });
    const out = str(ctx, 'out');
    if (out) await writeFileAtomic(out, signed, 0o644);
    else ctx.io.stdoutBytes(signed);
    return 0;
  },
};

export const verify: Command = {
  usage:
    'mailpki verify --trust FILE [--trust FILE ...] [--intermediates FILE ...] [--at ISO-8601] [--allow-weak] [--revocation off|soft-fail|hard-fail [--crl FILE ...] [--ocsp-url URL ...] [--allow-no-revocation-sources]] [--json] [--in FILE]',
  options: {
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
  --json                print the whole verdict as JSON
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
      // One CLI run is one verification: the call's own checker and cache, the runtime's fetch.
      revocation:
        policy === 'off'
          ? { policy }
          : { policy, fetch: globalThis.fetch, ...(crls.length > 0 && { crls }), ...(ocspUrls.length > 0 && { ocspUrls }), ...(allowNoSources && { allowNoSources }) },
    });
    ctx.io.stdout(
      ctx.values.json
        ? `${JSON.stringify(verdict, null, 2)}\n`
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
  v.signers.forEach((s, i) =>
    lines.push(
      `  Signer ${i}: ${s.emails.join(', ') || s.certificate?.subject || '(unknown certificate)'} — signature ${s.signature.ok ? 'ok' : 'BAD'}, chain ${s.chain?.ok ? 'ok' : 'NOT TRUSTED'}${revocationSummary(s)}${s.signature.signingTime ? `, signed ${s.signature.signingTime}` : ''}`,
    ),
  );
  for (const p of v.problems) lines.push(`  ${p.code}: ${p.message}`);
  for (const w of v.warnings) lines.push(`  warning ${w.code}: ${w.message}`);
  return `${lines.join('\n')}\n`;
}
