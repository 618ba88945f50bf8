import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../functions/commons/config/load.ts';
import type { Config } from '../../functions/commons/config/schema.ts';
import { closest } from '../../functions/commons/config/suggest.ts';
import { ConfigError, FlowPilotError } from '../../functions/commons/errors.ts';
import { describeDotEnv, loadDotEnv } from '../runtime/dotenv.ts';
import { LOCAL_DEMO_CATALOG } from '../runtime/env.ts';
import type { Command, ParsedArgs } from './command.ts';
import { alertsCommand } from './commands/alerts.ts';
import { autoTopupCommand } from './commands/autotopup.ts';
import { backfillCommand } from './commands/backfill.ts';
import { customerCommand } from './commands/customer.ts';
import { customerContactCommand } from './commands/customer-contact.ts';
import { customersCommand } from './commands/customers.ts';
import { invokeCommand } from './commands/invoke.ts';
import { orderCommand, ordersCommand } from './commands/orders.ts';
import { outboxCommand } from './commands/outbox.ts';
import { reconcileCommand } from './commands/reconcile.ts';
import { replayCommand } from './commands/replay.ts';
import { silenceCommand } from './commands/silence.ts';
import { statusCommand } from './commands/status.ts';
import { usageCommand } from './commands/usage.ts';
import { connect } from './connection.ts';
import { type CliIo, type CommandContext, createContext } from './context.ts';
import { CliError, EXIT, type ExitCode, UsageError } from './errors.ts';

export const COMMANDS: readonly Command[] = [
  statusCommand,
  ordersCommand,
  orderCommand,
  usageCommand,
  customersCommand,
  customerCommand,
  backfillCommand,
  replayCommand,
  reconcileCommand,
  alertsCommand,
  silenceCommand,
  invokeCommand,
  customerContactCommand,
  outboxCommand,
  autoTopupCommand,
];

/** Opens what the commands work on; tests hand in their own table and upstream. */
export type OpenContext = (
  io: CliIo,
  opts: { json: boolean; config: Config; command: string },
) => Promise<{ ctx: CommandContext; close(): Promise<void> }>;

/**
 * The real one: a deployed table, the running local runtime, or its store on disk. Which
 * local store it reads is said on stderr (not with --json), so a wrong directory shows.
 */
export const openContext: OpenContext = async (io, { json, config, command }) => {
  const conn = await connect({ env: io.env, cwd: io.cwd, config, command });
  if (!json && conn.kind !== 'deployed') io.stderr.write(`flowpilot: reading ${conn.describe}\n`);
  // The local runtime sells a demo package when the configuration sells nothing: replay
  // must price orders as it did.
  const local = conn.kind !== 'deployed' && Object.keys(config.payments.catalog).length === 0;
  const effective = local
    ? { ...config, payments: { ...config.payments, catalog: { ...LOCAL_DEMO_CATALOG } } }
    : config;
  const ctx = createContext({
    io,
    json,
    config: effective,
    doc: conn.doc,
    tableName: conn.tableName,
    where: conn.describe,
    upstream: conn.upstream,
  });
  return { ctx, close: () => conn.close() };
};

const GLOBAL_OPTIONS = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function generalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'flowpilot: the operator CLI of FlowPilot',
    '',
    'usage: flowpilot <command> [options]    flowpilot <command> --help    flowpilot --version',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Every command takes --json (one JSON document on stdout) and --help.',
    'Where it works, first match wins: TABLE_NAME set: that table (a deployed stack, with the',
    "environment's AWS credentials and region, or AWS_ENDPOINT_URL_DYNAMODB); else a running",
    '`npm start` (found through .data/runtime.json); else the local store in .data/dynamodb.',
    'The upstream: IPWEB_TOKEN with IPWEB_BASE_URL or upstream.baseUrl (the local runtime',
    "provides its simulator's). Configuration: FLOWPILOT_CONFIG or flowpilot.config.json.",
    '',
    'exit codes: 0 ok, 1 failed, 2 bad arguments, 3 not found',
    '',
  ].join('\n');
}

export function commandHelp(c: Command): string {
  return `usage: ${c.usage}\n\n${c.summary}\n\n${c.details}\n`;
}

/** node:util's complaints, said the way the rest of the CLI speaks. */
function usageMessage(command: Command, err: Error & { code?: string }): string {
  const flags = Object.keys({ ...command.options, ...GLOBAL_OPTIONS }).map((o) => `--${o}`);
  const option = /'(-[^' ]+)/.exec(err.message)?.[1];
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const hint = option && closest(option, flags);
      return `unknown option ${option ?? ''}${hint ? ` (did you mean ${hint}?)` : ''}; options: ${flags.join(', ')}`;
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return option && command.options[option.replace(/^-+/, '')]?.type === 'string'
        ? `${option} needs a value`
        : `${option ?? 'an option'} takes no value`;
    default:
      return err.message.split('. ')[0] ?? err.message;
  }
}

function parse(command: Command, argv: string[]): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...command.options, ...GLOBAL_OPTIONS },
      allowPositionals: true,
      strict: true,
    });
    return { values: values as ParsedArgs['values'], positionals };
  } catch (err) {
    // node:util marks its own complaints (unknown option, missing value) with ERR_PARSE_ARGS_*.
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code.startsWith('ERR_PARSE_ARGS'))
      throw new UsageError(usageMessage(command, err as Error));
    throw err;
  }
}

function describeFailure(err: unknown): string {
  if (err instanceof CliError || err instanceof ConfigError) return err.message;
  if (err instanceof FlowPilotError) {
    // Upstream and store errors carry no secrets by construction; add their cause's name.
    const cause = (err as Error & { cause?: unknown }).cause;
    const detail = cause instanceof Error && cause.name !== err.name ? ` (${cause.name})` : '';
    return `${err.message}${detail}`;
  }
  if (err instanceof Error) return `unexpected ${err.name}: ${err.message}`;
  return 'unexpected failure';
}

/** A two-word command (`customer contact`) wins over its first word alone. */
function findCommand(
  name: string | undefined,
  rest: readonly string[],
): { command: Command; argv: string[] } | undefined {
  const two = COMMANDS.find((c) => c.name === `${name} ${rest[0]}`);
  if (two) return { command: two, argv: rest.slice(1) };
  const one = COMMANDS.find((c) => c.name === name);
  return one ? { command: one, argv: [...rest] } : undefined;
}

/**
 * Runs one command line and returns the exit code. Arguments are checked before anything
 * is opened; output goes to `io`, errors to its stderr as `flowpilot <command>: <message>`.
 */
export async function run(
  argv: readonly string[],
  io: CliIo,
  opts: { openContext?: OpenContext } = {},
): Promise<ExitCode> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    io.stdout.write(generalHelp());
    return EXIT.ok;
  }
  if (name === '--version' || name === '-V') {
    io.stdout.write(`flowpilot ${version()}\n`);
    return EXIT.ok;
  }
  if (name === 'help') {
    const target = findCommand(rest[0], rest.slice(1))?.command;
    io.stdout.write(target ? commandHelp(target) : generalHelp());
    return rest[0] === undefined || target ? EXIT.ok : EXIT.usage;
  }
  const found = findCommand(name, rest);
  if (!found) {
    const hint = closest(
      name,
      COMMANDS.map((c) => c.name),
    );
    io.stderr.write(
      `flowpilot: unknown ${name.startsWith('-') ? 'option' : 'command'} ${JSON.stringify(name)}` +
        `${hint ? ` (did you mean ${hint}?)` : ''}\n` +
        `commands: ${COMMANDS.map((c) => c.name).join(', ')} (flowpilot --help)\n`,
    );
    return EXIT.usage;
  }

  const { command, argv: commandArgv } = found;
  let args: unknown;
  let json = false;
  try {
    const parsed = parse(command, commandArgv);
    if (parsed.values.help === true) {
      io.stdout.write(commandHelp(command));
      return EXIT.ok;
    }
    json = parsed.values.json === true;
    args = command.parse(parsed);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`flowpilot ${command.name}: ${err.message}\nusage: ${command.usage}\n`);
      return EXIT.usage;
    }
    throw err;
  }

  let opened: Awaited<ReturnType<OpenContext>> | undefined;
  try {
    const { config } = loadConfig(io.env, io.cwd);
    if (command.runStoreless) return await command.runStoreless(args, { io, json, config });
    opened = await (opts.openContext ?? openContext)(io, { json, config, command: command.name });
    return await command.run(args, opened.ctx);
  } catch (err) {
    const code = err instanceof CliError ? err.exitCode : EXIT.failure;
    io.stderr.write(`flowpilot ${command.name}: ${describeFailure(err)}\n`);
    if (code === EXIT.usage) io.stderr.write(`usage: ${command.usage}\n`);
    return code;
  } finally {
    await opened?.close().catch(() => undefined);
  }
}

/** The package's version, for `flowpilot --version`. */
function version(): string {
  const url = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}

/** The `flowpilot` executable (bin/flowpilot.js). */
export async function main(): Promise<void> {
  // `.env` as npm start reads it, so both find the same data directory and port.
  try {
    const loaded = describeDotEnv(loadDotEnv(process.env, process.cwd()));
    if (loaded) process.stderr.write(`flowpilot: ${loaded}\n`);
  } catch (err) {
    process.stderr.write(`flowpilot: ${(err as Error).message}\n`);
    process.exitCode = EXIT.failure;
    return;
  }
  const code = await run(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
  });
  process.exitCode = code;
}
