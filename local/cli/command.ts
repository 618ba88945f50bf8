import type { ParseArgsConfig } from 'node:util';
import { ValidationError } from '../../functions/commons/errors.ts';
import { parseDay } from '../../functions/commons/units.ts';
import type { CommandContext } from './context.ts';
import { type ExitCode, UsageError } from './errors.ts';

export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * One subcommand. `parse` checks the command line before anything is opened (a UsageError
 * exits 2 having touched nothing); `run` does the work and returns the exit code.
 */
export interface Command<A = unknown> {
  name: string;
  summary: string;
  /** After `usage: `, e.g. `flowpilot order <key> [--json]`. */
  usage: string;
  /** Further help lines: what the options mean, what the exit codes say. */
  details: string;
  /** The command's own options; `--json` and `--help` are added to every command. */
  options: NonNullable<ParseArgsConfig['options']>;
  parse(args: ParsedArgs): A;
  run(args: A, ctx: CommandContext): Promise<ExitCode>;
  /** Set by commands that open no store (they talk to the running runtime): used instead. */
  runStoreless?(args: A, ctx: BaseContext): Promise<ExitCode>;
}

/** What every command has, store or not. */
export type BaseContext = Pick<CommandContext, 'io' | 'json' | 'config'>;

/** Erases the argument type so commands of different shapes share one list. */
export function defineCommand<A>(command: Command<A>): Command<unknown> {
  return command as Command<unknown>;
}

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function requiredOption(args: ParsedArgs, name: string): string {
  const v = stringOption(args, name);
  if (v === undefined || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

/** A `yyyy-MM-dd` option, checked to be a real date. */
export function dayOption(args: ParsedArgs, name: string): string | undefined {
  const v = stringOption(args, name);
  if (v === undefined) return undefined;
  try {
    return parseDay(v);
  } catch (err) {
    if (err instanceof ValidationError) {
      throw new UsageError(`--${name} must be a date as yyyy-MM-dd, got ${JSON.stringify(v)}`);
    }
    throw err;
  }
}

export function positiveIntOption(
  args: ParsedArgs,
  name: string,
  fallback: number,
  max: number,
): number {
  const v = stringOption(args, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > max) {
    throw new UsageError(
      `--${name} must be a whole number from 1 to ${max}, got ${JSON.stringify(v)}`,
    );
  }
  return n;
}

export function expectPositionals(args: ParsedArgs, names: readonly string[]): string[] {
  if (args.positionals.length < names.length) {
    throw new UsageError(
      `missing ${names
        .slice(args.positionals.length)
        .map((n) => `<${n}>`)
        .join(' ')}`,
    );
  }
  if (args.positionals.length > names.length) {
    const extra = args.positionals.slice(names.length).map((p) => JSON.stringify(p));
    throw new UsageError(`unexpected argument ${extra.join(' ')}`);
  }
  return args.positionals;
}

/** Writes one JSON document to stdout. */
export function printJson(ctx: BaseContext, value: unknown): void {
  ctx.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
