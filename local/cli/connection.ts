import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { documentClient } from '../../functions/commons/clients/dynamodb.ts';
import type { Config } from '../../functions/commons/config/schema.ts';
import { getSecret } from '../../functions/commons/secrets.ts';
import { ensureTable, TABLE_NAME_ENV } from '../../functions/commons/store/table.ts';
import { startEmbeddedDynamoDb } from '../runtime/dynamodb.ts';
import { LOCAL_TOKEN_HEADER } from '../runtime/env.ts';
import { DataDirInUseError, lockDataDir } from '../runtime/lock.ts';
import { CliError } from './errors.ts';
import { refuseOtherRuntime } from './runtime-probe.ts';

/**
 * Where the CLI works, first match wins:
 * 1. `TABLE_NAME` in the environment: that table (a deployed stack with the AWS credentials
 *    and region of the environment, or the DynamoDB at `AWS_ENDPOINT_URL_DYNAMODB`); the
 *    upstream from `config.upstream.baseUrl` (or `IPWEB_BASE_URL`) and the `IPWEB_TOKEN` secret;
 * 2. a running local runtime, found through `<data dir>/runtime.json` and confirmed by its
 *    per-run token on `/health`; the upstream token from the file is only ever the
 *    simulator's; a token from the environment goes only to the URL the environment or the
 *    configuration names, never to one from the file;
 * 3. the local runtime's embedded store on disk, opened by the CLI itself (only while the
 *    runtime is stopped: LevelDB admits one process); no upstream unless `IPWEB_BASE_URL`
 *    and `IPWEB_TOKEN` are set.
 */

/** Written by `npm start` into its data directory while it runs. */
export const RUNTIME_INFO_FILE = 'runtime.json';

export const runtimeInfoSchema = z.object({
  pid: z.int().positive(),
  dynamoEndpoint: z.url(),
  tableName: z.string().min(1),
  upstreamBaseUrl: z.url(),
  /** Only ever the simulator's token; a real token stays in the environment. */
  upstreamToken: z.string().min(1).optional(),
  httpUrl: z.url(),
  /** The runtime's per-run token (`x-flowpilot-token`), which its `/health` confirms. */
  localToken: z.string().min(16),
});

export type RuntimeInfo = z.infer<typeof runtimeInfoSchema>;

/** The data directory as the local runtime computes it (`FLOWPILOT_DATA_DIR`, default `.data`). */
export function dataDirOf(env: NodeJS.ProcessEnv, cwd: string): string {
  return resolve(cwd, env.FLOWPILOT_DATA_DIR || '.data');
}

/**
 * Records where the running local runtime can be reached. Written atomically and readable
 * by the owner only (it may hold the simulator's token). Returns the file's path.
 */
export function writeRuntimeInfo(dataDir: string, info: RuntimeInfo): string {
  const parsed = runtimeInfoSchema.parse(info);
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, RUNTIME_INFO_FILE);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(parsed, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
  return path;
}

/** Removes the file on shutdown, if it is still this process's. */
export function removeRuntimeInfo(dataDir: string, pid = process.pid): void {
  const info = readRuntimeInfo(dataDir);
  if (info && info.pid !== pid) return;
  rmSync(join(dataDir, RUNTIME_INFO_FILE), { force: true });
}

/** The file's content when it is present and well formed, else undefined. */
export function readRuntimeInfo(dataDir: string): RuntimeInfo | undefined {
  const path = join(dataDir, RUNTIME_INFO_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = runtimeInfoSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** How long the CLI waits for a runtime's `/health` before treating it as not running. */
const VERIFY_TIMEOUT_MS = 3_000;

/**
 * Whether the runtime the file names answers `/health` as that runtime: the token it was
 * started with, and the pid the file gives. A file left behind by a stopped runtime (whose pid
 * was reused) or planted by someone else is thereby not taken for a running one.
 */
export async function verifyRuntime(info: RuntimeInfo): Promise<boolean> {
  const url = new URL('/health', info.httpUrl);
  // A runtime listening on every interface is reached on loopback.
  if (url.hostname === '0.0.0.0') url.hostname = '127.0.0.1';
  if (url.hostname === '[::]') url.hostname = '[::1]';
  try {
    const res = await fetch(url, {
      headers: { [LOCAL_TOKEN_HEADER]: info.localToken },
      signal: AbortSignal.timeout(VERIFY_TIMEOUT_MS),
    });
    if (!res.ok) return false;
    const body = (await res.json()) as { runtime?: { pid?: unknown } };
    return body.runtime?.pid === info.pid;
  } catch {
    return false;
  }
}

export interface UpstreamTarget {
  baseUrl: string;
  token: string;
}

export interface Connection {
  /** For people: where the CLI is working. */
  describe: string;
  /** `deployed`: a table named by the environment; the others: the local runtime's store. */
  kind: 'deployed' | 'local-runtime' | 'embedded';
  doc: DynamoDBDocumentClient;
  tableName: string;
  /** Undefined when no upstream is configured; commands that need it say so. */
  upstream: UpstreamTarget | undefined;
  close(): Promise<void>;
}

export interface ConnectOptions {
  env: NodeJS.ProcessEnv;
  cwd: string;
  config: Config;
  /** For the data directory's lock: what holds it (`flowpilot backfill`). */
  command?: string;
}

function dynamoClient(endpoint: string | undefined, local: boolean): DynamoDBClient {
  // The local engines accept any credentials; a deployed stack uses the environment's.
  return new DynamoDBClient({
    ...(endpoint ? { endpoint } : {}),
    ...(local
      ? {
          region: 'us-east-1',
          credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        }
      : {}),
  });
}

export async function connect(opts: ConnectOptions): Promise<Connection> {
  const { env, cwd, config } = opts;
  const explicitTable = env[TABLE_NAME_ENV];
  if (explicitTable) {
    const endpoint = env.AWS_ENDPOINT_URL_DYNAMODB || undefined;
    const client = dynamoClient(endpoint, false);
    const token = await getSecret('IPWEB_TOKEN', env);
    const baseUrl = env.IPWEB_BASE_URL || config.upstream.baseUrl;
    return {
      describe: `table ${explicitTable}${endpoint ? ` at ${endpoint}` : ' (AWS)'}`,
      kind: 'deployed',
      doc: documentClient(client),
      tableName: explicitTable,
      upstream: token ? { baseUrl, token } : undefined,
      close: async () => client.destroy(),
    };
  }

  const dataDir = dataDirOf(env, cwd);
  const info = readRuntimeInfo(dataDir);
  if (info && isProcessAlive(info.pid) && (await verifyRuntime(info))) {
    const client = dynamoClient(info.dynamoEndpoint, true);
    // The simulator's token with the simulator's URL; a real token never with a URL from a file.
    const realBaseUrl = env.IPWEB_BASE_URL || config.upstream.baseUrl;
    const upstream = info.upstreamToken
      ? { baseUrl: info.upstreamBaseUrl, token: info.upstreamToken }
      : env.IPWEB_TOKEN
        ? { baseUrl: realBaseUrl, token: env.IPWEB_TOKEN }
        : undefined;
    return {
      describe: `local runtime (pid ${info.pid}, ${info.httpUrl}), table ${info.tableName}`,
      kind: 'local-runtime',
      doc: documentClient(client),
      tableName: info.tableName,
      upstream,
      close: async () => client.destroy(),
    };
  }

  await refuseOtherRuntime(env, dataDir);
  const storeDir = join(dataDir, 'dynamodb');
  if (!existsSync(storeDir)) {
    throw new CliError(
      `no FlowPilot data in ${dataDir}: start the local runtime (npm start), or set ` +
        `${TABLE_NAME_ENV} (and AWS credentials) to work on a deployed stack`,
    );
  }
  let embedded: Awaited<ReturnType<typeof startEmbeddedDynamoDb>>;
  let lock: ReturnType<typeof lockDataDir>;
  try {
    lock = lockDataDir(dataDir, `flowpilot ${opts.command ?? 'CLI'}`);
  } catch (cause) {
    if (cause instanceof DataDirInUseError) throw new CliError(cause.message, { cause });
    throw cause;
  }
  try {
    embedded = await startEmbeddedDynamoDb(storeDir);
  } catch (cause) {
    lock.release();
    throw new CliError(
      `cannot open the local store ${storeDir}; is another process using it? ` +
        `(a running npm start is found through ${join(dataDir, RUNTIME_INFO_FILE)})`,
      { cause },
    );
  }
  // The runtime's default name; a TABLE_NAME in the environment took the first branch.
  const tableName = 'flowpilot';
  const client = dynamoClient(embedded.endpoint, true);
  try {
    await ensureTable(client, tableName);
  } catch (cause) {
    client.destroy();
    await embedded.close();
    lock.release();
    throw new CliError(`cannot open table ${tableName} in ${storeDir}`, { cause });
  }
  const baseUrl = env.IPWEB_BASE_URL;
  const token = env.IPWEB_TOKEN;
  return {
    describe: `local store ${storeDir} (runtime not running), table ${tableName}`,
    kind: 'embedded',
    doc: documentClient(client),
    tableName,
    upstream: baseUrl && token ? { baseUrl, token } : undefined,
    close: async () => {
      client.destroy();
      await embedded.close();
      lock.release();
    },
  };
}
