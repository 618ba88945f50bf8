import { parseArgs } from 'node:util';
import { loadConfig } from '../../functions/commons/config/load.ts';
import type { Config } from '../../functions/commons/config/schema.ts';
import { ConfigError, FlowPilotError } from '../../functions/commons/errors.ts';
import { LOCAL_DEMO_CATALOG } from '../runtime/env.ts';
import type { Command, ParsedArgs } from './command.ts';
import { autoTopupCommand } from './commands/autotopup.ts';
import { backfillCommand } from './commands/backfill.ts';
import { orderCommand, ordersCommand } from './commands/orders.ts';
import { reconcileCommand } from './commands/reconcile.ts';
import { replayCommand } from './commands/replay.ts';
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
  backfillCommand,
  replayCommand,
  reconcileCommand,
  autoTopupCommand,
];

/** Opens what the commands work on; tests hand in their own table and upstream. */
export type OpenContext = (
  io: CliIo,
  opts: { json: boolean; config: Config },
) => Promise<{ ctx: CommandContext; close(): Promise<void> }>;

/** The real one: a deployed table, the running local runtime, or its store on disk. */
export const openContext: OpenContext = async (io, { json, config }) => {
  const conn = await connect({ env: io.env, cwd: io.cwd, config });
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
    'usage: flowpilot <command> [options]    flowpilot <command> --help',
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
    if (code.startsWith('ERR_PARSE_ARGS')) throw new UsageError((err as Error).message);
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
  if (name === 'help') {
    const target = COMMANDS.find((c) => c.name === rest[0]);
    io.stdout.write(target ? commandHelp(target) : generalHelp());
    return rest[0] === undefined || target ? EXIT.ok : EXIT.usage;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.stderr.write(
      `flowpilot: unknown command ${JSON.stringify(name)}\n` +
        `commands: ${COMMANDS.map((c) => c.name).join(', ')} (flowpilot --help)\n`,
    );
    return EXIT.usage;
  }

  let args: unknown;
  let json = false;
  try {
    const parsed = parse(command, [...rest]);
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
    opened = await (opts.openContext ?? openContext)(io, { json, config });
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

/** The `flowpilot` executable (bin/flowpilot.js). */
export async function main(): Promise<void> {
  const code = await run(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
  });
  process.exitCode = code;
}
