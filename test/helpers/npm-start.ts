import { type ChildProcess, execFile, type SpawnOptions, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll } from 'vitest';
import { freePort } from '../../scripts/dynamodb-local.ts';

export const ROOT = resolve(import.meta.dirname, '../..');

/** A child process whose output is kept for the test to read. */
export interface Runtime {
  child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  output: () => string;
  /** Its exit code, once every pipe has closed. */
  exited: Promise<number | null>;
  /** Every pipe has closed. */
  closed: () => boolean;
}

export function spawnRuntime(command: string, args: string[], opts: SpawnOptions): Runtime {
  let output = '';
  const child = spawn(command, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (d) => {
      output += d;
    });
  }
  let closed = false;
  const exited = new Promise<number | null>((res) =>
    child.once('close', (code) => {
      closed = true;
      res(code);
    }),
  );
  return { child, output: () => output, exited, closed: () => closed };
}

/** `npm start` from the project root, in its own process group, with exactly `env`. */
export function npmStart(env: NodeJS.ProcessEnv): Runtime {
  return spawnRuntime('npm', ['start'], { cwd: ROOT, env, detached: true });
}

/**
 * Waits until the output holds `text` and `url` answers 2xx (either may be left out); throws
 * with the output when the process exits first or `timeoutMs` passes.
 */
export async function waitUntilReady(
  run: Runtime,
  ready: { url?: string; text?: string; timeoutMs?: number },
): Promise<void> {
  const deadline = Date.now() + (ready.timeoutMs ?? 90_000);
  while (Date.now() < deadline) {
    if (run.child.exitCode !== null) throw new Error(`exited early:\n${run.output()}`);
    if (!ready.text || run.output().includes(ready.text)) {
      try {
        if (!ready.url || (await fetch(ready.url)).ok) return;
      } catch {
        // not listening yet
      }
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`not ready in time:\n${run.output()}`);
}

/**
 * A signal to the whole process group, as a terminal's Ctrl-C (SIGINT) or a service manager
 * (SIGTERM) sends it: npm itself does not wait for its script, so this resolves once every
 * pipe has closed.
 */
export async function stopGroup(run: Runtime | undefined, signal: NodeJS.Signals = 'SIGTERM') {
  if (!run) return;
  if (!run.closed() && run.child.pid) {
    try {
      process.kill(-run.child.pid, signal);
    } catch {
      // the group is already gone
    }
  }
  await run.exited;
}

/** Settings a developer's shell may hold, unset so each run starts from the defaults. */
const UNSET = [
  'FLOWPILOT_CONFIG',
  'IPWEB_BASE_URL',
  'IPWEB_TOKEN',
  'STRIPE_WEBHOOK_SECRET',
  'STANDARD_WEBHOOK_SECRET',
  'EPAY_KEY',
  'SNS_TOPIC_ARN',
  'STRIPE_API_BASE_URL',
  'STRIPE_API_KEY',
  'STRIPE_READ_KEY',
  'STRIPE_CHECKOUT_KEY',
  'HOST',
];

export interface LocalRun extends Runtime {
  /** http://<loopback>:<port> */
  base: string;
  port: number;
  dataDir: string;
  /** The local routes' token (FLOWPILOT_LOCAL_TOKEN). */
  token: string;
  /** The simulator's root URL, from /health (empty with the real upstream, or not waited for). */
  sim: string;
  /** env as the run got it, to hand on to the CLI. */
  env: NodeJS.ProcessEnv;
  /** The real `flowpilot` executable, finding this run through its data folder. */
  flowpilot(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** POSTs /_local/invoke/<name> with the token. */
  invoke(name: string): Promise<{ ok: boolean; status: number; body: Record<string, unknown> }>;
}

/**
 * `npm start` as a newcomer runs it: a free port, a free simulator port (rather than PORT + 1,
 * which another test may hold), a fresh data folder, no configuration file, a known local
 * token; `env` overrides any of it. Resolves once /health answers and the output holds `text`;
 * `wait: false` returns at once (for a start meant to fail). `loopback` is where it is reached
 * (`[::1]` when HOST=::1).
 */
export async function startLocal(
  opts: {
    env?: Record<string, string>;
    dataDir?: string;
    port?: number;
    text?: string;
    timeoutMs?: number;
    wait?: boolean;
    loopback?: string;
  } = {},
): Promise<LocalRun> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'fp-e2e-'));
  const port = opts.port ?? (await freePort());
  const token = opts.env?.FLOWPILOT_LOCAL_TOKEN ?? `e2e-${randomBytes(12).toString('hex')}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...Object.fromEntries(UNSET.map((k) => [k, ''])),
    PORT: String(port),
    SIMULATOR_PORT: '0',
    FLOWPILOT_DATA_DIR: dataDir,
    FLOWPILOT_LOCAL_TOKEN: token,
    ...opts.env,
  };
  const base = `http://${opts.loopback ?? '127.0.0.1'}:${port}`;
  const run: LocalRun = {
    ...npmStart(env),
    base,
    port,
    dataDir,
    token,
    sim: '',
    env,
    flowpilot: (args) =>
      flowpilot(args, { FLOWPILOT_DATA_DIR: dataDir, FLOWPILOT_CONFIG: '', PORTAL_SECRET: '' }),
    async invoke(name) {
      const res = await fetch(`${base}/_local/invoke/${name}`, {
        method: 'POST',
        headers: { 'x-flowpilot-token': token },
      });
      const body = (await res.json()) as Record<string, unknown>;
      return { ok: res.ok, status: res.status, body };
    },
  };
  if (opts.wait === false) return run;
  await waitUntilReady(run, {
    url: `${base}/health`,
    ...(opts.text ? { text: opts.text } : {}),
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
  });
  const health = (await (await fetch(`${base}/health`)).json()) as { simulatorUrl?: string };
  if (health.simulatorUrl) run.sim = new URL('/', health.simulatorUrl).href;
  return run;
}

/** startLocal for the enclosing describe: every run it starts is stopped in afterAll. */
export function useLocalRuns(): typeof startLocal {
  const runs: LocalRun[] = [];
  afterAll(async () => {
    for (const run of runs) await stopGroup(run);
  });
  return async (opts) => {
    const run = await startLocal(opts);
    runs.push(run);
    return run;
  };
}

/** The real `flowpilot` executable (bin/flowpilot.js), with `env` over the test's own. */
export function flowpilot(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [resolve(ROOT, 'bin/flowpilot.js'), ...args],
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 },
      (err, stdout, stderr) =>
        done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

/** The banner's Stripe stand-in: its URL and the key of this run. */
export function stripeStandInOf(output: string): { url: string; key: string } {
  return {
    url: /Stripe stand-in at (http:\/\/[\d.:]+)/.exec(output)?.[1] ?? '',
    key: /stripe key {3}(\S+)/.exec(output)?.[1] ?? '',
  };
}
