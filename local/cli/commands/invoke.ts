import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type BaseContext,
  dayOption,
  defineCommand,
  expectPositionals,
  printJson,
} from '../command.ts';
import { dataDirOf, isProcessAlive, RUNTIME_INFO_FILE, readRuntimeInfo } from '../connection.ts';
import { CliError, EXIT, type ExitCode, UsageError } from '../errors.ts';
import { refuseOtherRuntime } from '../runtime-probe.ts';

/** What `invoke` can run: the scheduled functions (payment-webhook takes a delivery). */
export const INVOKABLE = ['poll-totals', 'poll-usage', 'poll-customers', 'reconcile'] as const;
type Invokable = (typeof INVOKABLE)[number];

type InvokeArgs = { name: Invokable; window: { from: string; to: string } | undefined };

/**
 * The per-run token of the local routes: FLOWPILOT_LOCAL_TOKEN, else the one the runtime
 * wrote beside runtime.json (read raw: the file is the runtime's to describe).
 */
function localToken(env: NodeJS.ProcessEnv, dataDir: string): string | undefined {
  if (env.FLOWPILOT_LOCAL_TOKEN) return env.FLOWPILOT_LOCAL_TOKEN;
  try {
    const raw = JSON.parse(readFileSync(join(dataDir, RUNTIME_INFO_FILE), 'utf8')) as {
      localToken?: unknown;
    };
    return typeof raw.localToken === 'string' ? raw.localToken : undefined;
  } catch {
    return undefined;
  }
}

async function invokeNow(args: InvokeArgs, ctx: BaseContext): Promise<ExitCode> {
  const { env, cwd } = ctx.io;
  const dataDir = dataDirOf(env, cwd);
  const info = readRuntimeInfo(dataDir);
  if (!info || !isProcessAlive(info.pid)) {
    await refuseOtherRuntime(env, dataDir);
    throw new CliError(`no local runtime is running on ${dataDir}: start it with npm start`);
  }
  const token = localToken(env, dataDir);
  const started = Date.now();
  let res: Response;
  try {
    res = await fetch(`${info.httpUrl}/_local/invoke/${args.name}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token ? { 'x-flowpilot-token': token } : {}),
      },
      body: args.window ? JSON.stringify(args.window) : '',
    });
  } catch (cause) {
    throw new CliError(`the local runtime at ${info.httpUrl} does not answer`, { cause });
  }
  const body = (await res.json().catch(() => ({}))) as {
    ok?: boolean;
    result?: unknown;
    error?: { message?: string };
    message?: string;
  };
  if (ctx.json) {
    printJson(ctx, body);
  } else {
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const detail =
      body.error?.message ??
      body.message ??
      (body.ok === false ? 'see the runtime console for why' : undefined);
    ctx.io.stdout.write(
      `${args.name}: ${res.ok && body.ok ? 'ok' : `failed (HTTP ${res.status})`} in ${seconds} s` +
        `${detail ? `: ${detail}` : ''}\n`,
    );
  }
  return res.ok && body.ok ? EXIT.ok : EXIT.failure;
}

export const invokeCommand = defineCommand<InvokeArgs>({
  name: 'invoke',
  summary: 'run a scheduled function now in the running local runtime',
  usage: `flowpilot invoke <${INVOKABLE.join('|')}> [--from yyyy-MM-dd --to yyyy-MM-dd] [--json]`,
  details:
    'Asks the running npm start (found through <data dir>/runtime.json) to run the function at\n' +
    'once, as its scheduler would; --from/--to give reconcile a window. --json prints the\n' +
    "runtime's answer ({function, ok, result}). Exit 1 when the run failed.",
  options: { from: { type: 'string' }, to: { type: 'string' } },
  parse(args) {
    const [name = ''] = expectPositionals(args, ['function']);
    if (!(INVOKABLE as readonly string[]).includes(name)) {
      throw new UsageError(
        `no function named ${JSON.stringify(name)}; functions: ${INVOKABLE.join(', ')}`,
      );
    }
    const from = dayOption(args, 'from');
    const to = dayOption(args, 'to');
    if ((from === undefined) !== (to === undefined)) {
      throw new UsageError('give both --from and --to, or neither');
    }
    if (from !== undefined && name !== 'reconcile') {
      throw new UsageError('--from and --to are for reconcile only');
    }
    return {
      name: name as Invokable,
      window: from !== undefined && to !== undefined ? { from, to } : undefined,
    };
  },
  run: invokeNow,
  runStoreless: invokeNow,
});
