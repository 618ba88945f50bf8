/**
 * `npm start`: the whole system on one machine with the same handlers as in AWS.
 * Order matters: environment and configuration are validated before anything starts, and
 * the handlers are imported only after the environment points their module-scope clients
 * at the local services.
 */
import './runtime/process-env.ts';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { documentClient } from '../functions/commons/clients/dynamodb.ts';
import { CONFIG_JSON_ENV, loadConfig } from '../functions/commons/config/load.ts';
import type { Config } from '../functions/commons/config/schema.ts';
import { ConfigError } from '../functions/commons/errors.ts';
import { ensureTable } from '../functions/commons/store/table.ts';
import { assertDeployable } from '../infra/limits.ts';
import { removeRuntimeInfo, writeRuntimeInfo } from './cli/connection.ts';
import { startEmbeddedDynamoDb } from './runtime/dynamodb.ts';
import {
  LOCAL_DEMO_CATALOG,
  LOCAL_DEV_SECRETS,
  type LocalEnv,
  readLocalEnv,
} from './runtime/env.ts';
import { scheduledEvent } from './runtime/events.ts';
import { type FunctionName, Invoker, schedules } from './runtime/functions.ts';
import { createHttpServer } from './runtime/http.ts';
import { type ScheduledJob, Scheduler } from './runtime/scheduler.ts';
import { startSimulator } from './simulator/index.ts';
import { statusDepsFor, statusPageHandler } from './status/page.ts';
import { startLocalStripe } from './stripe/index.ts';

type Closer = { name: string; close: () => Promise<void> };

function fail(err: unknown): never {
  const message =
    err instanceof ConfigError ? err.message : `could not start: ${(err as Error).message}`;
  process.stderr.write(`flowpilot: ${message}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  // 1. Validate everything first: one clear message and a non-zero exit.
  let env: LocalEnv;
  let config: Config;
  let configSource: string;
  let jobs: ScheduledJob[];
  try {
    env = readLocalEnv(process.env, process.cwd());
    ({ config, source: configSource } = loadConfig(process.env, process.cwd()));
    // What synth would refuse (lease vs webhook timeout, schedules EventBridge rejects).
    assertDeployable(config, configSource);
    jobs = schedules(config);
  } catch (err) {
    fail(err);
  }
  const closers: Closer[] = [];

  // 2. DynamoDB: the given endpoint, or the embedded engine with data on disk.
  process.env.AWS_REGION ??= 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID ??= 'local';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
  let store: string;
  if (env.dynamoEndpoint) {
    store = `DynamoDB at ${env.dynamoEndpoint}, table ${env.tableName}`;
  } else {
    const dir = join(env.dataDir, 'dynamodb');
    const embedded = await startEmbeddedDynamoDb(dir);
    closers.push({ name: 'embedded DynamoDB', close: embedded.close });
    process.env.AWS_ENDPOINT_URL_DYNAMODB = embedded.endpoint;
    store = `embedded DynamoDB (dynalite), data in ${dir}, table ${env.tableName}`;
  }
  process.env.TABLE_NAME = env.tableName;
  const ddb = new DynamoDBClient({ endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB });
  await ensureTable(ddb, env.tableName);
  ddb.destroy();

  // 3. Upstream: the real one, or the built-in simulator.
  let upstream: string;
  let simulatorUrl: string | undefined;
  let simulatorToken: string | undefined;
  if (env.upstream) {
    config = { ...config, upstream: { ...config.upstream, baseUrl: env.upstream.baseUrl } };
    upstream = `Dynamic Traffic API at ${env.upstream.baseUrl}`;
  } else {
    const sim = await startSimulator({ host: env.host, port: env.simulatorPort, seedData: true });
    closers.unshift({ name: 'simulator', close: () => sim.close() });
    process.env.IPWEB_TOKEN = sim.token;
    simulatorToken = sim.token;
    simulatorUrl = sim.url;
    config = { ...config, upstream: { ...config.upstream, baseUrl: sim.url } };
    upstream = `built-in simulator at ${sim.url} (control API under ${new URL('/_sim', sim.url).href})`;
  }
  const demoCatalog = Object.keys(config.payments.catalog).length === 0;
  if (demoCatalog)
    config = { ...config, payments: { ...config.payments, catalog: { ...LOCAL_DEMO_CATALOG } } };
  // The handlers read their configuration exactly as deployed functions do.
  process.env[CONFIG_JSON_ENV] = JSON.stringify(config);
  const devSecrets: string[] = [];
  for (const [name, value] of Object.entries(LOCAL_DEV_SECRETS)) {
    if (!process.env[name]) {
      process.env[name] = value;
      devSecrets.push(name);
    }
  }
  // Auto top-up's Stripe API: the given one, or the stand-in (before the handlers load).
  const stripe = await startLocalStripe(process.env, env.host);
  if (stripe.standIn) closers.unshift({ name: 'Stripe stand-in', close: stripe.standIn.close });
  const alerts = env.snsTopicArn
    ? `SNS topic ${env.snsTopicArn}${process.env.AWS_ENDPOINT_URL_SNS ? ` at ${process.env.AWS_ENDPOINT_URL_SNS}` : ''}`
    : 'console (set SNS_TOPIC_ARN to publish)';

  // 4. The real handlers, an HTTP front and the scheduler.
  const invoker = new Invoker();
  await invoker.load();
  const fire = async (name: FunctionName) => {
    try {
      await invoker.invoke(name, scheduledEvent(name));
    } catch {
      // The handler logged its failure; the next tick tries again, as in AWS.
    }
  };
  const scheduler = new Scheduler(jobs, fire, (n) => invoker.isRunning(n));
  const statusDdb = new DynamoDBClient({ endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB });
  closers.unshift({ name: 'status page client', close: async () => statusDdb.destroy() });
  const server: Server = createHttpServer({
    invoker,
    health: () => ({ upstream: env.upstream ? 'real' : 'simulator', simulatorUrl, store, alerts }),
    statusPage: statusPageHandler(statusDepsFor(documentClient(statusDdb), env.tableName, config)),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(env.port, env.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : env.port;
  const base = `http://${env.host}:${port}`;
  stripe.forwardTo(`${base}/webhooks/stripe`);
  scheduler.start();
  // Lets `npx flowpilot` reach this store while the runtime holds it (LevelDB allows one process).
  writeRuntimeInfo(env.dataDir, {
    pid: process.pid,
    dynamoEndpoint: String(process.env.AWS_ENDPOINT_URL_DYNAMODB),
    tableName: env.tableName,
    upstreamBaseUrl: config.upstream.baseUrl,
    ...(simulatorToken ? { upstreamToken: simulatorToken } : {}),
    httpUrl: base,
  });

  process.stdout.write(
    [
      '',
      `FlowPilot is running (local runtime)`,
      `  API          ${base}  (POST /webhooks/{stripe|standard|epay}, GET /health)`,
      `  status page  ${base}/   ·   CLI: npx flowpilot status`,
      `  invoke now   curl -X POST ${base}/_local/invoke/poll-totals`,
      `  schedules    ${jobs.map((j) => `${j.name} ${j.expression}`).join(', ')}`,
      `  upstream     ${upstream}`,
      `  store        ${store}`,
      `  alerts       ${alerts}`,
      `  stripe       ${stripe.describe}`,
      `  config       ${configSource}${demoCatalog ? ' (no catalog: selling the local demo package demo-10gb)' : ''}`,
      devSecrets.length
        ? `  secrets      local development values for ${devSecrets.join(', ')} (see .env.example)`
        : '  secrets      from the environment',
      `  try          npm run demo:payment   (a signed Stripe payment, credited through the simulator)`,
      `               npx flowpilot autotopup set 88 --package ${Object.keys(config.payments.catalog)[0] ?? '<package>'} --below-gb 20 --payment-method pm_card_visa --stripe-customer cus_local`,
      "               then lower customer 88's balance in the simulator: the next poll charges the card,",
      '               the webhook credits it   (npx flowpilot autotopup history 88)',
      '',
    ].join('\n'),
  );

  // 5. Clean shutdown: stop new work, let in-flight requests and runs finish, close the store.
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping…\n`);
    scheduler.stop();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    await invoker.idle();
    removeRuntimeInfo(env.dataDir);
    for (const c of closers) await c.close().catch(() => undefined);
    process.stdout.write('stopped\n');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch(fail);
