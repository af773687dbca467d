/** Shared option helpers for the CLI commands. */
import type { ParseArgsConfig } from 'node:util';
import { MailPkiError } from '../errors.js';
import type { CliIo } from './main.js';

export interface CommandContext {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  /** The options in command-line order (repeatable options that pair up, e.g. --p12 FILE --passphrase-env VAR). */
  order?: readonly { name: string; value: string | undefined }[];
  io: CliIo;
  /** A file, or stdin for undefined/`-`; at most `maxBytes` (default 64 MiB, for messages; MAX_SMALL_INPUT_BYTES for the rest). */
  readInput: (path: string | undefined, maxBytes?: number) => Promise<Uint8Array>;
}

export interface Command {
  usage: string;
  /** What each option does (and its default), printed by `--help` under the usage line. */
  help?: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** Library field paths (`validityDays`, `owner.team`) → the flag that sets them, so errors name the flag. */
  flags?: Record<string, string>;
  /** Library words → CLI words in error messages (`runDue` → `mailpki dkim run-due`). */
  words?: Record<string, string>;
  positionals?: number;
  run: (ctx: CommandContext) => Promise<number>;
}

export function str(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function required(ctx: CommandContext, name: string): string {
  const v = str(ctx, name);
  if (v === undefined || v === '') throw new MailPkiError('ERR_USAGE', `--${name} is required`);
  return v;
}

export function oneOf<T extends string>(ctx: CommandContext, name: string, allowed: readonly T[]): T | undefined {
  const v = str(ctx, name);
  if (v === undefined) return undefined;
  if (!allowed.includes(v as T)) throw new MailPkiError('ERR_USAGE', `--${name} must be one of ${allowed.join(', ')} (got "${v}")`);
  return v as T;
}

export function positiveInt(ctx: CommandContext, name: string): number | undefined {
  const v = str(ctx, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) <= 0) throw new MailPkiError('ERR_USAGE', `--${name} must be a positive whole number (got "${v}")`);
  return Number(v);
}

/** Reads a passphrase from the environment variable named by `--<name>`. */
export function passphraseFromEnv(ctx: CommandContext, name: string): string | undefined {
  const variable = str(ctx, name);
  if (variable === undefined) return undefined;
  const value = ctx.io.env[variable];
  if (value === undefined || value === '')
    throw new MailPkiError('ERR_USAGE', `--${name} names ${variable}, but that environment variable is not set`);
  return value;
}


/** The values of a repeatable option (a single-valued one gives a list of one). */
export function list(ctx: CommandContext, name: string): string[] {
  const v = ctx.values[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}
