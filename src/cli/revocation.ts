/** `mailpki serve`, `revoke --ca`, `crl`, `ca root-crl`, `status`: LocalCA's revocation publishing and checking. */
import { createCaHandler } from '../ca/http.js';
import { REVOCATION_REASONS, type RevocationReason } from '../ca/types.js';
import { parseCertificate, type Certificate } from '../certs/certificate.js';
import { MailPkiError } from '../errors.js';
import { encodePem } from '../internal/pem.js';
import { openLocalCaDirectory, writeFileAtomic } from '../node/fs-storage.js';
import { serveHttp } from '../node/http-server.js';
import { RevocationChecker, type RevocationMethod } from '../revocation/checker.js';
import { parseCrl } from '../revocation/crl-parse.js';
import { httpFetchBytes } from '../revocation/fetch.js';
import { MAX_SMALL_INPUT_BYTES } from './input.js';
import { oneOf, passphraseFromEnv, positiveInt, required, str, type Command, type CommandContext } from './args.js';

const REASONS = Object.keys(REVOCATION_REASONS) as RevocationReason[];

async function openCa(ctx: CommandContext, extra: Parameters<typeof openLocalCaDirectory>[1] = {}) {
  const passphrase = passphraseFromEnv(ctx, 'passphrase-env');
  return openLocalCaDirectory(required(ctx, 'ca'), { ...extra, ...(passphrase && { passphrase }) });
}

export const serve: Command = {
  usage: 'mailpki serve --ca DIR --port N [--host 127.0.0.1] [--passphrase-env VAR] [--ocsp-responder ca|delegated]',
  options: {
    ca: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    'passphrase-env': { type: 'string' },
    'ocsp-responder': { type: 'string' },
  },
  help: `  --ca DIR              the CA directory to publish for
  --port N              TCP port (0: any free port, printed)
  --host H              address to listen on (default 127.0.0.1)
  --passphrase-env VAR  the CA's passphrase is in $VAR
  --ocsp-responder R    who signs OCSP answers: ca (the issuing CA) or delegated (a responder certificate)`,
  async run(ctx) {
    const port = Number(required(ctx, 'port'));
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new MailPkiError('ERR_USAGE', '--port must be a number from 0 to 65535');
    const responder = oneOf(ctx, 'ocsp-responder', ['ca', 'delegated'] as const);
    const ca = await openCa(ctx, responder ? { ocspResponder: responder } : {});
    const server = await serveHttp(createCaHandler(ca), { port, host: str(ctx, 'host') ?? '127.0.0.1' });
    ctx.io.stdout(
      `Serving "${ca.name}" at ${server.url}\n  ${server.url}/crl/issuing.crl\n  ${server.url}/crl/root.crl\n  ${server.url}/ocsp (POST, GET)\n` +
        (ca.baseUrl && ca.baseUrl !== server.url ? `  note: certificates of this CA point at ${ca.baseUrl}\n` : ''),
    );
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await server.close();
    return 0;
  },
};

export const revokeCertificate: Command = {
  usage: 'mailpki revoke --ca DIR (--serial HEX | --cert FILE) [--reason keyCompromise|superseded|...] [--passphrase-env VAR]',
  options: {
    ca: { type: 'string' },
    serial: { type: 'string' },
    cert: { type: 'string' },
    reason: { type: 'string' },
    'passphrase-env': { type: 'string' },
  },
  help: `  --ca DIR              the CA directory
  --serial HEX          the certificate's serial number, or
  --cert FILE           the certificate itself
  --reason R            a CRL reason: keyCompromise, superseded, cessationOfOperation, affiliationChanged, ... (default unspecified)
  --passphrase-env VAR  the CA's passphrase is in $VAR`,
  async run(ctx) {
    const serial = str(ctx, 'serial');
    const certFile = str(ctx, 'cert');
    if ((serial === undefined) === (certFile === undefined)) throw new MailPkiError('ERR_USAGE', 'give exactly one of --serial and --cert');
    const reason = oneOf(ctx, 'reason', REASONS) ?? 'unspecified';
    const serialNumber = serial ?? parseCertificate(await ctx.readInput(certFile, MAX_SMALL_INPUT_BYTES)).serialNumber;
    const ca = await openCa(ctx);
    const r = await ca.revoke({ serialNumber, reason });
    ctx.io.stdout(`Revoked ${r.serialNumber} (${r.reason}) at ${r.revokedAt.toISOString()}\n`);
    return 0;
  },
};

export const crl: Command = {
  usage: 'mailpki crl --ca DIR --out FILE [--pem] [--passphrase-env VAR]',
  options: { ca: { type: 'string' }, out: { type: 'string' }, pem: { type: 'boolean' }, 'passphrase-env': { type: 'string' } },
  help: `  --ca DIR              the CA directory
  --out FILE            where to write the issuing CA's CRL (DER, or PEM with --pem)
  --passphrase-env VAR  the CA's passphrase is in $VAR`,
  async run(ctx) {
    const out = required(ctx, 'out');
    const ca = await openCa(ctx);
    const der = await ca.createCrl();
    await writeFileAtomic(out, ctx.values.pem ? encodePem('X509 CRL', der) : der, 0o644);
    ctx.io.stdout(`Wrote ${out}: ${ca.revocations().length} revoked certificate(s)\n`);
    return 0;
  },
};

export const rootCrl: Command = {
  usage: 'mailpki ca root-crl --ca DIR [--days N] [--out FILE] [--pem] [--passphrase-env VAR]',
  options: { ca: { type: 'string' }, days: { type: 'string' }, out: { type: 'string' }, pem: { type: 'boolean' }, 'passphrase-env': { type: 'string' } },
  help: `  --ca DIR              the CA directory
  --days N              validity of the new root CRL (default 365)
  --out FILE            also write it here (DER, or PEM with --pem); it is always stored as DIR/crl/root.crl
  --passphrase-env VAR  the CA's passphrase is in $VAR (the root key is read for this one signature)`,
  async run(ctx) {
    const dir = required(ctx, 'ca');
    const passphrase = passphraseFromEnv(ctx, 'passphrase-env');
    const days = positiveInt(ctx, 'days');
    const out = str(ctx, 'out');
    const ca = await openCa(ctx);
    const der = await ca.renewRootCrl({ ...(passphrase && { passphrase }), ...(days !== undefined && { validityDays: days }) });
    if (out) await writeFileAtomic(out, ctx.values.pem ? encodePem('X509 CRL', der) : der, 0o644);
    const c = parseCrl(der);
    ctx.io.stdout(
      `Renewed the root CRL of "${ca.name}": cRLNumber ${c.crlNumber}, valid until ${c.nextUpdate?.toISOString()}\n` +
        `  ${dir}/crl/root.crl (served by mailpki serve)${out ? `\n  ${out}` : ''}\n`,
    );
    return 0;
  },
};

export const status: Command = {
  usage: 'mailpki status --cert FILE [--issuer FILE] [--method ocsp|crl] [--timeout MS] [--json]',
  options: {
    cert: { type: 'string' },
    issuer: { type: 'string' },
    method: { type: 'string' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
  },
  help: `  --cert FILE    the certificate to check
  --issuer FILE  its issuer (default: fetched from the certificate's caIssuers URL)
  --method M     ocsp or crl (default: OCSP, then the CRL)
  --timeout MS   per request (default 5000)
  --json         print the result as JSON
Exit 0 good, 1 revoked or unknown, 2 could not check.`,
  async run(ctx) {
    const cert = parseCertificate(await ctx.readInput(required(ctx, 'cert'), MAX_SMALL_INPUT_BYTES));
    const timeoutMs = positiveInt(ctx, 'timeout') ?? 5000;
    const issuerFile = str(ctx, 'issuer');
    let issuer: Certificate;
    if (issuerFile) issuer = parseCertificate(await ctx.readInput(issuerFile, MAX_SMALL_INPUT_BYTES));
    else {
      // The issuer from the certificate's AIA caIssuers, as mail clients do.
      const url = cert.caIssuersUrls.find((u) => /^https?:/i.test(u));
      if (!url) throw new MailPkiError('ERR_USAGE', 'the certificate names no issuer URL (caIssuers): give --issuer FILE');
      try {
        issuer = parseCertificate(await httpFetchBytes(url, { fetch: globalThis.fetch, timeoutMs, maxBytes: 64 * 1024 }));
      } catch (e) {
        ctx.io.stderr(`mailpki: could not get the issuer certificate: ${(e as Error).message}\n`);
        return 2;
      }
    }
    const method = oneOf(ctx, 'method', ['ocsp', 'crl'] as const);
    const order: RevocationMethod[] = method ? [method] : ['ocsp', 'crl'];
    const r = await new RevocationChecker({ order, timeoutMs }).check(cert, issuer, new Date());
    if (ctx.values.json) ctx.io.stdout(`${JSON.stringify(r, null, 2)}\n`);
    else {
      const lines = [`${r.status.toUpperCase()}: ${r.subject} (serial ${r.serialNumber})`];
      if (r.method) lines.push(`  source:      ${r.method.toUpperCase()} ${r.url}${r.source === 'cache' ? ' (cached)' : ''}`);
      if (r.revokedAt) lines.push(`  revoked at:  ${r.revokedAt}${r.reason ? ` (${r.reason})` : ''}`);
      if (r.thisUpdate) lines.push(`  thisUpdate:  ${r.thisUpdate}`);
      if (r.nextUpdate) lines.push(`  nextUpdate:  ${r.nextUpdate}`);
      if (r.producedAt) lines.push(`  producedAt:  ${r.producedAt}`);
      if (r.error) lines.push(`  could not check: ${r.error}`);
      ctx.io.stdout(`${lines.join('\n')}\n`);
    }
    return r.status === 'good' ? 0 : r.status === 'unchecked' ? 2 : 1;
  },
};
