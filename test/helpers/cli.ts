import type { Config } from '../../functions/commons/config/schema.ts';
import type { OpsEventSink } from '../../functions/commons/ops-events.ts';
import type { DynamicTrafficApi } from '../../functions/commons/upstream/types.ts';
import {
  type CliIo,
  type CommandContext,
  createContext,
  type OutputStream,
} from '../../local/cli/context.ts';
import { run } from '../../local/cli/main.ts';
import type { TestTable } from './dynamo.ts';

/** An output stream that keeps what was written, for the test to read. */
export class Captured implements OutputStream {
  text = '';
  isTTY = false;
  write(chunk: string) {
    this.text += chunk;
    return true;
  }
}

export interface CliHarness {
  stdout: Captured;
  stderr: Captured;
  io: CliIo;
  /** Runs one command line in-process against the test table; stdout and stderr start empty. */
  cli(...argv: string[]): Promise<number>;
  /** The commands' context on the same table, for a test to read and seed its stores. */
  context(): CommandContext;
  /** stdout as JSON. */
  // biome-ignore lint/suspicious/noExplicitAny: each test reads the shape its command prints
  json(): any;
}

/**
 * The operator CLI in-process, on a test table instead of a running `npm start`: `config` and
 * `clock` as the commands should see them, no upstream unless given.
 */
export function cliHarness(
  table: TestTable,
  opts: {
    config: Config;
    clock?: () => Date;
    upstream?: () => DynamicTrafficApi;
    sink?: OpsEventSink;
    env?: NodeJS.ProcessEnv;
    cwd?: string;
  },
): CliHarness {
  const stdout = new Captured();
  const stderr = new Captured();
  const io: CliIo = { stdout, stderr, env: opts.env ?? {}, cwd: opts.cwd ?? process.cwd() };
  const context = (json: boolean, upstream?: DynamicTrafficApi) =>
    createContext({
      io,
      json,
      config: opts.config,
      doc: table.doc,
      tableName: table.tableName,
      where: 'test table',
      upstream,
      clock: opts.clock ?? (() => new Date()),
      ...(opts.sink ? { sink: opts.sink } : {}),
    });
  return {
    stdout,
    stderr,
    io,
    cli(...argv) {
      stdout.text = '';
      stderr.text = '';
      return run(argv, io, {
        openContext: async (_io, { json }) => ({
          ctx: context(json, opts.upstream?.()),
          close: async () => {},
        }),
      });
    },
    context: () => context(false),
    json: () => JSON.parse(stdout.text),
  };
}
