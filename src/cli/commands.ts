/** The CLI commands; each parses its options and calls the library. */
import { MailPkiError } from '../errors.js';
import { encodePem } from '../internal/pem.js';
import { parseCertificate } from '../certs/certificate.js';
import { describeCertificate, formatDescription } from '../certs/describe.js';
import { CA_KEY_TYPES } from '../ca/local-ca.js';
import { SMIME_PROFILES } from '../ca/types.js';
import { KEY_TYPES, exportPkcs8Pem, exportSpki, generateKeyPair, keyTypeSigns, type KeyType } from '../keys/index.js';
import { exportPkcs12 } from '../pkcs12/index.js';
import { initLocalCaDirectory, openLocalCaDirectory, writeFileAtomic } from '../node/fs-storage.js';
import { MAX_SMALL_INPUT_BYTES } from './input.js';
import { oneOf, passphraseFromEnv, positiveInt, required, str, type Command } from './args.js';
import { decrypt, encrypt, sign, verify } from './smime.js';
import { crl, revokeCertificate, rootCrl, serve, status } from './revocation.js';
import { audit, enroll, events, identityExportKeys, identityKeys, identityShow, init, list, renew, revokeIdentity, runDue } from './lifecycle.js';
import { dkim } from './dkim.js';
import { evidenceExport, filter } from './filter.js';

/** `revoke` serves two levels: a certificate of a CA directory (--ca), or an identity of the store. */
const revoke: Command = {
  usage: `${revokeIdentity.usage}\n       ${revokeCertificate.usage}`,
  help: `An identity of the store (ADDR):\n${revokeIdentity.help}\nA certificate of a CA directory (--ca):\n${revokeCertificate.help}`,
  flags: revokeIdentity.flags,
  options: { ...revokeIdentity.options, ...revokeCertificate.options },
  positionals: 1,
  run: (ctx) => (ctx.values.ca !== undefined ? revokeCertificate.run(ctx) : revokeIdentity.run(ctx)),
};

const caInit: Command = {
  usage:
    'mailpki ca init --dir DIR [--name NAME] [--key-type rsa-2048|rsa-3072|rsa-4096|ec-p256|ec-p384] [--domains example.com,...] [--base-url URL] [--passphrase-env VAR]',
  options: {
    dir: { type: 'string' },
    name: { type: 'string' },
    'key-type': { type: 'string' },
    domains: { type: 'string' },
    'base-url': { type: 'string' },
    'passphrase-env': { type: 'string' },
  },
  help: `  --dir DIR             where to create the CA (must not exist, or be empty)
  --name NAME           the CA's name, in its certificates' subjects (default "mailpki Local CA")
  --key-type TYPE       key of the root and issuing CA: rsa-2048|rsa-3072|rsa-4096|ec-p256|ec-p384 (default ec-p256)
  --domains D,...       mail domains the CA may issue for; .example.com allows subdomains (default: any)
  --base-url URL        put CRL and OCSP URLs under URL into issued certificates (what mailpki serve answers)
  --passphrase-env VAR  encrypt the CA keys with the passphrase in $VAR (recommended; a warning without it)`,
  flags: { name: '--name', keyType: '--key-type', allowedDomains: '--domains', baseUrl: '--base-url', passphrase: '--passphrase-env' },
  async run(ctx) {
    const dir = required(ctx, 'dir');
    const passphrase = passphraseFromEnv(ctx, 'passphrase-env');
    const keyType = oneOf(ctx, 'key-type', CA_KEY_TYPES);
    const domains = str(ctx, 'domains')
      ?.split(',')
      .map((d) => d.trim())
      .filter(Boolean);
    const name = str(ctx, 'name');
    const baseUrl = str(ctx, 'base-url');
    const ca = await initLocalCaDirectory(dir, {
      ...(name && { name }),
      ...(keyType && { keyType }),
      ...(domains && { allowedDomains: domains }),
      ...(baseUrl && { baseUrl }),
      ...(passphrase && { passphrase }),
    });
    if (!passphrase) ctx.io.stderr('mailpki: warning: CA keys are stored unencrypted; use --passphrase-env to protect them\n');
    ctx.io.stdout(
      `Created CA "${ca.name}" in ${dir}\n` +
        `  trust anchor: ${dir}/root.pem\n  chain:        ${dir}/chain.pem\n` +
        `  domains:      ${ca.allowedDomains.join(', ') || '(any)'}\n`,
    );
    return 0;
  },
};

const issue: Command = {
  usage:
    'mailpki issue --ca DIR --email ADDR --out PREFIX [--profile strict|multipurpose|legacy] [--key-type TYPE] [--days N] [--usage signing|dual-use] [--passphrase-env VAR] [--key-passphrase-env VAR] [--p12-passphrase-env VAR]',
  options: {
    ca: { type: 'string' },
    email: { type: 'string' },
    out: { type: 'string' },
    profile: { type: 'string' },
    'key-type': { type: 'string' },
    days: { type: 'string' },
    usage: { type: 'string' },
    'passphrase-env': { type: 'string' },
    'key-passphrase-env': { type: 'string' },
    'p12-passphrase-env': { type: 'string' },
    json: { type: 'boolean' },
  },
  help: `  --ca DIR                  the CA directory (from mailpki ca init)
  --email ADDR              the mailbox the certificate is for (SAN rfc822Name)
  --out PREFIX              writes PREFIX.cert.pem, PREFIX.key.pem (0600), PREFIX.chain.pem [, PREFIX.p12]
  --profile P               strict|multipurpose|legacy (CA/B Forum S/MIME BR profiles; default strict)
  --key-type TYPE           rsa-2048|rsa-3072|rsa-4096|ec-p256|ec-p384|ed25519 (default ec-p256)
  --days N                  validity in days (default 365; at most what the profile allows)
  --usage U                 signing (default) or dual-use (signing and encryption)
  --passphrase-env VAR      the CA's passphrase is in $VAR
  --key-passphrase-env VAR  encrypt PREFIX.key.pem with the passphrase in $VAR (a warning without it)
  --p12-passphrase-env VAR  also write PREFIX.p12 for mail clients, protected by the passphrase in $VAR
  --json                    print what was issued as JSON`,
  flags: { mailbox: '--email', validityDays: '--days', profile: '--profile', usage: '--usage', keyType: '--key-type', publicKey: '--key-type' },
  async run(ctx) {
    const dir = required(ctx, 'ca');
    const email = required(ctx, 'email');
    const out = required(ctx, 'out');
    const profile = oneOf(ctx, 'profile', SMIME_PROFILES) ?? 'strict';
    // Its certificate signs (signing or dual-use): an X25519 key is enrolled with `mailpki enroll --use encryption`.
    const keyType: KeyType = oneOf(ctx, 'key-type', KEY_TYPES.filter(keyTypeSigns)) ?? 'ec-p256';
    const usage = oneOf(ctx, 'usage', ['signing', 'dual-use'] as const);
    const days = positiveInt(ctx, 'days');
    const caPassphrase = passphraseFromEnv(ctx, 'passphrase-env');
    const keyPassphrase = passphraseFromEnv(ctx, 'key-passphrase-env');
    const p12Passphrase = passphraseFromEnv(ctx, 'p12-passphrase-env');

    const ca = await openLocalCaDirectory(dir, { ...(caPassphrase && { passphrase: caPassphrase }) });
    const keys = await generateKeyPair(keyType, { extractable: true });
    const issued = await ca.issue({
      mailbox: email,
      profile,
      publicKey: await exportSpki(keys.publicKey),
      ...(days && { validityDays: days }),
      ...(usage && { usage }),
    });
    const chainPem = issued.chain.map((c) => encodePem('CERTIFICATE', c)).join('');
    await writeFileAtomic(`${out}.key.pem`, await exportPkcs8Pem(keys.privateKey, { ...(keyPassphrase && { passphrase: keyPassphrase }) }), 0o600);
    await writeFileAtomic(`${out}.cert.pem`, encodePem('CERTIFICATE', issued.certificate), 0o644);
    await writeFileAtomic(`${out}.chain.pem`, chainPem, 0o644);
    const written = [`${out}.cert.pem`, `${out}.key.pem`, `${out}.chain.pem`];
    if (p12Passphrase) {
      const p12 = await exportPkcs12({
        privateKey: keys.privateKey,
        certificate: issued.certificate,
        chain: issued.chain,
        passphrase: p12Passphrase,
        friendlyName: email,
      });
      await writeFileAtomic(`${out}.p12`, p12, 0o600);
      written.push(`${out}.p12`);
    }
    if (!keyPassphrase) ctx.io.stderr(`mailpki: warning: ${out}.key.pem is not encrypted; use --key-passphrase-env to protect it\n`);
    if (ctx.values.json) {
      ctx.io.stdout(
        `${JSON.stringify({ mailbox: email, profile, serialNumber: issued.serialNumber, notBefore: issued.notBefore, notAfter: issued.notAfter, files: written }, null, 2)}\n`,
      );
      return 0;
    }
    ctx.io.stdout(
      `Issued ${profile} S/MIME certificate for ${email}\n  serial:  ${issued.serialNumber}\n  expires: ${issued.notAfter.toISOString()}\n` +
        written.map((w) => `  wrote:   ${w}\n`).join(''),
    );
    return 0;
  },
};

const certShow: Command = {
  usage: 'mailpki cert show FILE [--json]',
  help: `  FILE    a certificate, PEM or DER; - reads standard input
  --json  print the description as JSON (CertificateDescription in mailpki/certs)`,
  options: { json: { type: 'boolean' } },
  positionals: 1,
  async run(ctx) {
    const file = ctx.positionals[0];
    if (!file) throw new MailPkiError('ERR_USAGE', 'cert show needs a certificate FILE (PEM or DER; - for stdin)');
    const cert = parseCertificate(await ctx.readInput(file, MAX_SMALL_INPUT_BYTES));
    const d = await describeCertificate(cert);
    ctx.io.stdout(ctx.values.json ? `${JSON.stringify(d, null, 2)}\n` : `${formatDescription(d)}\n`);
    return 0;
  },
};

export const commands: Record<string, Command> = {
  'ca init': caInit,
  'ca root-crl': rootCrl,
  issue,
  'cert show': certShow,
  sign,
  encrypt,
  decrypt,
  verify,
  serve,
  revoke,
  crl,
  status,
  init,
  enroll,
  renew,
  list,
  'run-due': runDue,
  'identity show': identityShow,
  'identity keys': identityKeys,
  'identity export-keys': identityExportKeys,
  audit,
  events,
  dkim,
  filter,
  'evidence export': evidenceExport,
};

