/**
 * The `mailpki` command. Exit codes: 0 success, 1 a negative result (e.g. a message that does
 * not verify), 2 bad input or usage. Errors are one line on stderr; `--debug` adds the stack.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MailPkiError, isMailPkiError } from '../errors.js';
import type { Command, CommandContext } from './args.js';
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
          [--p12-passphrase-env VAR] [--json]
  cert show FILE [--json]

S/MIME:
  sign (--cert FILE --key FILE [--chain FILE] | --p12 FILE) [--passphrase-env VAR] [--opaque]
          [--digest sha256|sha384|sha512] [--pss] [--header-protection] [--to CERT ... (sign, then encrypt)] [--in FILE] [--out FILE]
  encrypt --to CERT [--to CERT ...] [--self CERT] [--cbc] [--oaep|--pkcs1] [--trust FILE] [--in FILE] [--out FILE]
  decrypt (--p12 FILE --passphrase-env VAR | --key FILE --cert FILE | --identity ADDR) [--in FILE] [--out FILE]
  verify --trust FILE [--trust FILE ...] [--intermediates FILE ...] [--at ISO-8601] [--allow-weak]
          [--revocation off|soft-fail|hard-fail] [--p12 FILE | --key FILE --cert FILE | --identity ADDR] [--json] [--in FILE]
                                        exit 0 valid, 1 not valid, 2 unreadable input (as sign)

Lifecycle (embedded store ./mailpki.db, or --db PATH; keys encrypted with $MAILPKI_PASSPHRASE or --passphrase-env VAR):
  init [--domains example.com,...] [--name NAME] [--policy FILE]   (owners → domains, key types, validity, …)
  enroll --email ADDR --owner TEAM [--contact ADDR] [--purpose TEXT] [--approved-by WHO] [--profile P] [--key-type T]
          [--use signing|encryption|both] [--separate-certificates] [--json]
  identity show ADDR [--json]   (its certificates: signing, encryption)
  identity keys ADDR [--json]   identity export-keys ADDR --out FILE.p12 --passphrase-env VAR --actor NAME --reason TEXT
  renew ADDR [--certificate signing|encryption|all] [--json]   revoke ADDR --reason R [--certificate C] [--json]          sign --identity ADDR [...]
  run-due [--dry-run] [--now ISO-8601 (a simulation)] [--json]
  Read only, no passphrase: list [--owner TEAM] [--expiring-within 30d] [--status S,...] [--json]
                            audit verify [--expect-head SEQ:HASH] [--json]   audit export   events [--follow] [--undelivered]
  Every change records --actor WHO (default cli:<your OS user name>) in the audit log.

DKIM keys as governed identities (same store):
  dkim create --domain D --owner TEAM [--selector S] [--algo rsa-2048|ed25519]   prints the TXT record
  dkim sign --domain D [--selector S] [--in FILE] [--out FILE]
  dkim verify [--json] [--dns HOST:PORT] [--in FILE]    exit 0 aligned pass, 1 otherwise, 2 unreadable
  dkim rotate --domain D      dkim check --domain D      dkim run-due [--now] [--json]      dkim keys --domain D
  (see mailpki dkim --help for RFC 2136 publishing options)

Revocation (LocalCA):
  serve --ca DIR --port N [--host 127.0.0.1] [--passphrase-env VAR] [--ocsp-responder ca|delegated]
  revoke --ca DIR (--serial HEX | --cert FILE) [--reason keyCompromise|superseded|...] [--passphrase-env VAR]
  crl --ca DIR --out FILE [--pem] [--passphrase-env VAR]
  ca root-crl --ca DIR [--days N] [--out FILE] [--pem] [--passphrase-env VAR]   renew the root's CRL (yearly)
  status --cert FILE [--issuer FILE] [--method ocsp|crl] [--json]
                                        exit 0 good, 1 revoked or unknown, 2 could not check

Options for every command: --debug (stack traces), --help (what each option does), --version
Passphrases are read from environment variables named by --*-env options, never from the command line.
Exit codes: 0 success, 1 negative result, 2 bad input or usage.
See docs/cli.md for the full reference.`;

/** Runs the CLI; returns the exit code instead of exiting, so tests can call it in-process. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const debug = argv.includes('--debug');
  const args = argv.filter((a) => a !== '--debug');
  let command: Command | undefined;
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
    command = commands[`${name} ${sub}`] ?? commands[name!];
    if (!command) {
      // `mailpki ca`, `mailpki cert`: groups of subcommands; --help (or nothing) lists them.
      const group = Object.entries(commands).filter(([k]) => k.startsWith(`${name} `));
      if (group.length === 0) throw new MailPkiError('ERR_USAGE', `unknown command "${name}"; see mailpki help`);
      const list = `mailpki ${name} <subcommand>; subcommands:\n${group.map(([, c]) => `  ${c.usage}`).join('\n')}\nmailpki ${name} <subcommand> --help explains each option.`;
      if (sub === '--help' || sub === '-h') {
        io.stdout(`${list}\n`);
        return 0;
      }
      throw new MailPkiError('ERR_USAGE', sub === undefined ? `${name} needs a subcommand: ${group.map(([k]) => k.split(' ')[1]).join(', ')}` : `unknown command "${name} ${sub}"; see mailpki ${name} --help`);
    }
    const rest = args.slice(commands[`${name} ${sub}`] ? 2 : 1);
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout(`Usage: ${command.usage}\n${command.help ? `\n${command.help}\n` : ''}`);
      return 0;
    }
    const parsed = parseCommandArgs(command.options, rest, command.positionals ?? 0);
    const ctx: CommandContext = { ...parsed, io, readInput: (path, maxBytes) => readInput(path, io, maxBytes) };
    return await command.run(ctx);
  } catch (e) {
    io.stderr(`mailpki: ${describeError(inCliWords(e, command))}\n`);
    if (debug && e instanceof Error && e.stack) io.stderr(`${e.stack}\n`);
    if (debug && e instanceof Error && e.cause instanceof Error && e.cause.stack) io.stderr(`caused by: ${e.cause.stack}\n`);
    return 2;
  }
}

/** Library words the CLI user never typed, in CLI words. */
const WORDS: Record<string, string> = {
  '(open with create: true to make one)': '(mailpki init makes one)',
  '(open with create: true)': '(mailpki init makes one)',
};

interface ZodIssueLike {
  code?: string;
  maximum?: number | bigint;
  minimum?: number | bigint;
  origin?: string;
  expected?: string;
  values?: unknown[];
  message?: string;
}

/** A validation failure as a sentence about the flag: "--days must be at most 3650". */
function flagSentence(flag: string, issue: ZodIssueLike | undefined, message: string): string {
  const unit = issue?.origin === 'string' ? ' characters' : issue?.origin === 'array' ? ' values' : '';
  switch (issue?.code) {
    case 'too_big':
      return `${flag} must be at most ${String(issue.maximum)}${unit}`;
    case 'too_small':
      return issue.origin === 'string' && Number(issue.minimum) === 1 ? `${flag} must not be empty` : `${flag} must be at least ${String(issue.minimum)}${unit}`;
    case 'invalid_type':
      return `${flag} must be a ${issue.expected}`;
    case 'invalid_value':
      return `${flag} must be one of ${(issue.values ?? []).map(String).join(', ')}`;
    default:
      return `${flag} is not accepted: ${issue?.message ?? message.replace(/^.*?: /, '')}`;
  }
}

/** Rewrites a library error in the words of the command line: the flag instead of the field, CLI commands instead of methods. */
function inCliWords(e: unknown, command: Command | undefined): unknown {
  if (!(e instanceof MailPkiError)) return e;
  const field = e.details?.field;
  if (e.code === 'ERR_INVALID_INPUT' && typeof field === 'string' && command?.flags) {
    const flag = command.flags[field] ?? command.flags[field.split('.')[0]!];
    if (flag) {
      const issue = (e.cause as { issues?: ZodIssueLike[] } | undefined)?.issues?.[0];
      return new MailPkiError(e.code, flagSentence(flag, issue, e.message), { cause: e, details: { ...e.details, flag } });
    }
  }
  let message = e.message;
  for (const [from, to] of Object.entries({ ...WORDS, ...command?.words })) message = message.split(from).join(to);
  return message === e.message ? e : new MailPkiError(e.code, message, { cause: e, ...(e.details && { details: e.details }) });
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
): Pick<CommandContext, 'values' | 'positionals' | 'order'> {
  try {
    const r = parseArgs({ args, options, allowPositionals: positionals > 0, strict: true, tokens: true });
    if (r.positionals.length > positionals) throw new MailPkiError('ERR_USAGE', `unexpected argument "${r.positionals[positionals]}"`);
    const order = r.tokens.flatMap((t) => (t.kind === 'option' ? [{ name: t.name, value: t.value }] : []));
    return { values: r.values as Record<string, string | boolean | string[] | undefined>, positionals: r.positionals, order };
  } catch (e) {
    if (e instanceof MailPkiError) throw e;
    throw new MailPkiError('ERR_USAGE', (e as Error).message.split('\n')[0]!.replace(/\. To specify.*$/, ''), { cause: e });
  }
}

/** Every input of every command comes through here: a file or stdin (`-` or no path), at most MAX_INPUT_BYTES. */
async function readInput(path: string | undefined, io: CliIo, maxBytes = MAX_INPUT_BYTES): Promise<Uint8Array> {
  if (path === undefined || path === '-') return readStreamLimited(io.stdin(), maxBytes, 'standard input');
  return readFileLimited(path, maxBytes);
}
