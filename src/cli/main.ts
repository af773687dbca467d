/**
 * The `mailpki` command. Exit codes: 0 success, 1 a negative result (e.g. a message that does
 * not verify), 2 bad input or usage. Errors are one line on stderr; `--debug` adds the stack.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MailPkiError, isMailPkiError } from '../errors.js';
import type { CommandContext } from './args.js';
import { commands } from './commands.js';
import { MAX_INPUT_BYTES, readFileLimited, readStreamLimited } from './input.js';

export interface CliIo {
  stdout: (text: string) => void;
  /** Raw bytes to stdout (signed messages are bytes, not text). */
  stdoutBytes: (bytes: Uint8Array) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** Standard input as a stream: read through the CLI's one limited reader, never whole. */
  stdin: () => AsyncIterable<Uint8Array>;
}

export const VERSION = '0.1.0';

export const HELP = `mailpki ${VERSION}: governed mail-signing identities (S/MIME certificates, DKIM keys)

Usage: mailpki <command> [options]

CA and certificates:
  ca init --dir DIR [--name NAME] [--key-type rsa-2048|rsa-3072|rsa-4096|ec-p256|ec-p384]
          [--domains example.com,...] [--base-url http://HOST:PORT] [--passphrase-env VAR]
  issue --ca DIR --email ADDR --out PREFIX [--profile strict|multipurpose|legacy]
          [--key-type rsa-2048|rsa-3072|rsa-4096|ec-p256|ec-p384|ed25519] [--days N]
          [--usage signing|dual-use] [--passphrase-env VAR] [--key-passphrase-env VAR]
          [--p12-passphrase-env VAR]
  cert show FILE [--json]

S/MIME:
  sign (--cert FILE --key FILE [--chain FILE] | --p12 FILE) [--passphrase-env VAR] [--opaque]
          [--digest sha256|sha384|sha512] [--pss] [--in FILE] [--out FILE]
  verify --trust FILE [--trust FILE ...] [--intermediates FILE ...] [--at ISO-8601] [--allow-weak]
          [--revocation off|soft-fail|hard-fail] [--json] [--in FILE]
                                        exit 0 valid, 1 not valid, 2 unreadable input

Lifecycle (embedded store ./mailpki.db, or --db PATH; keys encrypted with $MAILPKI_PASSPHRASE or --passphrase-env VAR):
  init [--domains example.com,...] [--name NAME] [--policy FILE]   (owners → domains, key types, validity, …)
  enroll --email ADDR --owner TEAM [--contact ADDR] [--purpose TEXT] [--approved-by WHO] [--profile P] [--key-type T]
  renew ADDR          revoke ADDR --reason R          sign --identity ADDR [...]
  list [--owner TEAM] [--expiring-within 30d] [--status S,...] [--json]
  run-due [--now ISO-8601]          audit verify|export          events [--follow] [--undelivered]
  Every change records --actor WHO (default cli:$USER) in the audit log.

DKIM keys as governed identities (same store):
  dkim create --domain D --owner TEAM [--selector S] [--algo rsa-2048|ed25519]   prints the TXT record
  dkim sign --domain D [--selector S] [--in FILE] [--out FILE]
  dkim verify [--json] [--dns HOST:PORT] [--in FILE]    exit 0 aligned pass, 1 otherwise, 2 unreadable
  dkim rotate --domain D      dkim check --domain D      dkim run-due [--now]      dkim keys --domain D
  (see mailpki dkim --help for RFC 2136 publishing options)

Revocation (LocalCA):
  serve --ca DIR --port N [--host 127.0.0.1] [--passphrase-env VAR] [--ocsp-responder ca|delegated]
  revoke --ca DIR (--serial HEX | --cert FILE) [--reason keyCompromise|superseded|...] [--passphrase-env VAR]
  crl --ca DIR --out FILE [--pem] [--passphrase-env VAR]
  ca root-crl --ca DIR [--days N] [--out FILE] [--pem] [--passphrase-env VAR]   renew the root's CRL (yearly)
  status --cert FILE [--issuer FILE] [--method ocsp|crl] [--json]
                                        exit 0 good, 1 revoked or unknown, 2 could not check

Options for every command: --debug (stack traces), --help, --version
Passphrases are read from environment variables named by --*-env options, never from the command line.
Exit codes: 0 success, 1 negative result, 2 bad input or usage.
See docs/cli.md for the full reference.`;

/** Runs the CLI; returns the exit code instead of exiting, so tests can call it in-process. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const debug = argv.includes('--debug');
  const args = argv.filter((a) => a !== '--debug');
  try {
    if (args.length === 0 || args[0] === 'help' || args[0] === '--help' || args[0] === '-h') {
      io.stdout(`${HELP}\n`);
      return args.length === 0 ? 2 : 0;
    }
    if (args[0] === '--version' || args[0] === 'version') {
      io.stdout(`${VERSION}\n`);
      return 0;
    }
    const [name, sub] = args;
    const command = commands[`${name} ${sub}`] ?? commands[name!];
    if (!command) throw new MailPkiError('ERR_USAGE', `unknown command "${name}"; see mailpki help`);
    const rest = args.slice(commands[`${name} ${sub}`] ? 2 : 1);
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout(`${command.usage}\n`);
      return 0;
    }
    const parsed = parseCommandArgs(command.options, rest, command.positionals ?? 0);
    const ctx: CommandContext = { ...parsed, io, readInput: (path) => readInput(path, io) };
    return await command.run(ctx);
  } catch (e) {
    io.stderr(`mailpki: ${describeError(e)}\n`);
    if (debug && e instanceof Error && e.stack) io.stderr(`${e.stack}\n`);
    if (debug && e instanceof Error && e.cause instanceof Error && e.cause.stack) io.stderr(`caused by: ${e.cause.stack}\n`);
    return 2;
  }
}

function describeError(e: unknown): string {
  if (isMailPkiError(e)) return `${e.message} [${e.code}]`;
  if (e instanceof Error) return `internal error: ${e.message} (run with --debug for details)`;
  return `internal error: ${String(e)}`;
}

function parseCommandArgs(
  options: NonNullable<ParseArgsConfig['options']>,
  args: string[],
  positionals: number,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args, options, allowPositionals: positionals > 0, strict: true });
    if (r.positionals.length > positionals) throw new MailPkiError('ERR_USAGE', `unexpected argument "${r.positionals[positionals]}"`);
    return { values: r.values as Record<string, string | boolean | string[] | undefined>, positionals: r.positionals };
  } catch (e) {
    if (e instanceof MailPkiError) throw e;
    throw new MailPkiError('ERR_USAGE', (e as Error).message.split('\n')[0]!.replace(/\. To specify.*$/, ''), { cause: e });
  }
}

/** Every input of every command comes through here: a file or stdin (`-` or no path), at most MAX_INPUT_BYTES. */
async function readInput(path: string | undefined, io: CliIo): Promise<Uint8Array> {
  if (path === undefined || path === '-') return readStreamLimited(io.stdin(), MAX_INPUT_BYTES, 'standard input');
  return readFileLimited(path, MAX_INPUT_BYTES);
}
