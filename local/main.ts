/**
 * `npm start`: the whole system on one machine with the same handlers as in AWS.
 * Order matters: environment and configuration are validated before anything starts, and
 * the handlers are imported only after the environment points their module-scope clients
 * at the local services.
 */
// First, before any module builds an SDK client or a logger: .env, log format, SDK settings.
import './runtime/process-env.ts';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { documentClient } from '../functions/commons/clients/dynamodb.ts';
import { STRIPE_KEY_NAMES, secretKeyRefusal } from '../functions/commons/clients/stripe.ts';
import { CONFIG_JSON_ENV, loadConfig } from '../functions/commons/config/load.ts';
import type { Config } from '../functions/commons/config/schema.ts';
import { PORTAL_BASE_URL_ENV } from '../functions/commons/customer-notices/from-env.ts';
import { ConfigError } from '../functions/commons/errors.ts';
import { issueLink } from '../functions/commons/portal/links.ts';
import { PortalStore } from '../functions/commons/portal/store.ts';
import { portalKeys } from '../functions/commons/portal/tokens.ts';
import { ensureTable } from '../functions/commons/store/table.ts';
import { assertDeployable } from '../infra/limits.ts';
import { removeRuntimeInfo, writeRuntimeInfo } from './cli/connection.ts';
import { shortTime } from './cli/format.ts';
import { describeDotEnv } from './runtime/dotenv.ts';
import { startEmbeddedDynamoDb } from './runtime/dynamodb.ts';
import {
  httpUrl,
  LOCAL_DEMO_CATALOG,
  LOCAL_DEV_SECRETS,
  LOCAL_TOKEN_HEADER,
  type LocalEnv,
  readLocalEnv,
} from './runtime/env.ts';
import { scheduledEvent } from './runtime/events.ts';
import { type FunctionName, Invoker, schedules } from './runtime/functions.ts';
import { createHttpServer } from './runtime/http.ts';
import { type DataDirLock, lockDataDir } from './runtime/lock.ts';
import { dotEnv, dotEnvError, readableLogs } from './runtime/process-env.ts';
import { type ScheduledJob, Scheduler } from './runtime/scheduler.ts';
import { explainListenError, listen, startupFailure } from './runtime/startup.ts';
import { startSimulator } from './simulator/index.ts';
import { statusDepsFor, statusPageHandler } from './status/page.ts';
import { startLocalStripe } from './stripe/index.ts';

type Closer = { name: string; close: () => Promise<void> };

/** The simulator's state, kept beside the store so a restart finds its ledger again. */
export const SIMULATOR_STATE_FILE = 'simulator.json';
/** The simulated customer whose page the banner links to. */
const DEMO_PORTAL_CUSTOMER = '1001';

const closers: Closer[] = [];
let lock: DataDirLock | undefined;

/** One line, then whatever was started is closed again, and exit 1. */
async function fail(err: unknown): Promise<never> {
  process.stderr.write(`${startupFailure(err)}\n`);
  for (const c of closers) await c.close().catch(() => undefined);
  lock?.release();
  process.exit(1);
}

async function main(): Promise<void> {
  // 1. Validate everything first: one clear message and a non-zero exit.
  let env: LocalEnv;
  let config: Config;
  let configSource: string;
  let jobs: ScheduledJob[];
  try {
    if (dotEnvError) throw dotEnvError;
    env = readLocalEnv(process.env, process.cwd());
    ({ config, source: configSource } = loadConfig(process.env, process.cwd()));
    if (env.upstream) {
      config = { ...config, upstream: { ...config.upstream, baseUrl: env.upstream.baseUrl } };
    }
    // What synth would refuse (lease vs webhook timeout, schedules, the real upstream over http).
    assertDeployable(config, configSource, env.upstream ? 'real' : 'simulator');
    const refused = STRIPE_KEY_NAMES.flatMap((name) => {
      const key = process.env[name];
      const problem = key && secretKeyRefusal(name, key, config.payments.stripe.allowSecretKey);
      return problem ? [problem] : [];
    });
    if (refused.length) throw new ConfigError(refused.join('\n  '), refused);
    jobs = schedules(config);
  } catch (err) {
    return fail(err);
  }
  // One runtime per data directory: a second start says who holds it instead of failing
  // somewhere inside the store.
  lock = lockDataDir(env.dataDir, `npm start, port ${env.port}`);

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
  /** Where the simulator answers: its origin, its control API, its Dynamic Traffic API. */
  let simulator: { url: string; controlUrl: string; apiUrl: string } | undefined;
  let simulatorToken: string | undefined;
  if (env.upstream) {
    upstream = `Dynamic Traffic API at ${env.upstream.baseUrl}`;
  } else {
    const stateFile = join(env.dataDir, SIMULATOR_STATE_FILE);
    const sim = await startSimulator({
      host: env.host,
      allowedHosts: env.allowedHosts,
      port: env.simulatorPort,
      seedData: true,
      stateFile,
    }).catch((err: unknown) => {
      throw explainListenError(err, {
        host: env.host,
        port: env.simulatorPort,
        variable: 'SIMULATOR_PORT, by default PORT + 1',
        example: `SIMULATOR_PORT=${env.simulatorPort + 2} npm start`,
      });
    });
    closers.unshift({ name: 'simulator', close: () => sim.close() });
    process.env.IPWEB_TOKEN = sim.token;
    simulatorToken = sim.token;
    simulator = { url: sim.origin, controlUrl: `${sim.origin}/_sim`, apiUrl: sim.url };
    config = { ...config, upstream: { ...config.upstream, baseUrl: sim.url } };
    upstream = `built-in simulator at ${sim.url}, control API ${simulator.controlUrl}, state in ${stateFile}`;
  }
  // Demo package, every provider and development secrets: with the simulator only. With the
  // real upstream nothing public may move traffic (readLocalEnv refuses the dev values).
  const demo = !env.upstream;
  const demoCatalog = demo && Object.keys(config.payments.catalog).length === 0;
  if (demoCatalog)
    config = { ...config, payments: { ...config.payments, catalog: { ...LOCAL_DEMO_CATALOG } } };
  // Locally Stripe events come signed with a development (test-mode) secret: unless the
  // configuration says otherwise, test mode is the one accepted here.
  if (config.payments.stripe.livemode === undefined) {
    const stripe = { ...config.payments.stripe, livemode: false };
    config = { ...config, payments: { ...config.payments, stripe } };
  }
  if (demo && config.payments.providers.length === 0)
    config = {
      ...config,
      payments: { ...config.payments, providers: ['stripe', 'standard', 'epay'] },
    };
  // epay needs its merchant id; the demo payments sign as the simulator's merchant 1001.
  if (demo && config.payments.epay.pid === undefined) {
    const epay = { ...config.payments.epay, pid: '1001' };
    config = { ...config, payments: { ...config.payments, epay } };
  }
  // The handlers read their configuration exactly as deployed functions do.
  process.env[CONFIG_JSON_ENV] = JSON.stringify(config);
  const devSecrets: string[] = [];
  for (const [name, value] of Object.entries(LOCAL_DEV_SECRETS)) {
    if (demo && !process.env[name]) {
      process.env[name] = value;
      devSecrets.push(name);
    }
  }
  // Auto top-up's Stripe API: the given one, or the stand-in (before the handlers load).
  const stripe = await startLocalStripe(process.env, env.upstream ? 'real' : 'simulator');
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
  const nextRuns = () => scheduler.nextRuns().map((r) => ({ ...r, at: r.at.toISOString() }));
  const server: Server = createHttpServer({
    invoker,
    health: () => ({
      upstream: env.upstream ? 'real' : 'simulator',
      // `<simulatorUrl>/_sim/...` is the control API; simulatorApiUrl is IPWEB_BASE_URL's form.
      ...(simulator
        ? {
            simulatorUrl: simulator.url,
            simulatorControlUrl: simulator.controlUrl,
            simulatorApiUrl: simulator.apiUrl,
          }
        : {}),
      store,
      alerts,
      dataDir: env.dataDir,
      nextRuns: nextRuns(),
    }),
    localToken: env.localToken,
    allowedHosts: env.allowedHosts,
    runtime: () => ({ pid: process.pid }),
    statusPage: statusPageHandler({
      ...statusDepsFor(documentClient(statusDdb), env.tableName, config),
      nextRuns: () => scheduler.nextRuns(),
    }),
  });
  await listen(server, {
    host: env.host,
    port: env.port,
    variable: 'PORT',
    example: `PORT=${env.port + 2} npm start`,
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : env.port;
  const base = httpUrl(env.host, port);
  stripe.forwardTo(`${base}/webhooks/stripe`);
  // Customer notices link to the page here unless portal.baseUrl says otherwise.
  process.env[PORTAL_BASE_URL_ENV] ??= base;
  scheduler.start();
  // Lets `npx flowpilot` reach this store while the runtime holds it (LevelDB allows one process).
  writeRuntimeInfo(env.dataDir, {
    pid: process.pid,
    dynamoEndpoint: String(process.env.AWS_ENDPOINT_URL_DYNAMODB),
    tableName: env.tableName,
    upstreamBaseUrl: config.upstream.baseUrl,
    ...(simulatorToken ? { upstreamToken: simulatorToken } : {}),
    httpUrl: base,
    localToken: env.localToken,
  });

  // A customer page to open at once: the first simulated customer's, with the simulator.
  const portalLine = demo
    ? await issueLink({
        store: new PortalStore(documentClient(statusDdb), env.tableName),
        keys: portalKeys(process.env.PORTAL_SECRET, process.env.PORTAL_SECRET_PREVIOUS),
        baseUrl: config.portal.baseUrl ?? base,
        customerId: DEMO_PORTAL_CUSTOMER,
        days: config.portal.linkDays,
        now: new Date(),
      }).then(
        (link) =>
          `  customer     ${link.url}\n               (customer ${DEMO_PORTAL_CUSTOMER}'s own page; npx flowpilot customer link <id> for others)`,
        (err: unknown) => `  customer     no page link: ${(err as Error).message}`,
      )
    : undefined;
  // The dev secrets are printed only with the simulator: they are public, and worthless there.
  const secretLines = !devSecrets.length
    ? ['  secrets      from the environment']
    : env.upstream
      ? [`  secrets      local development values for ${devSecrets.join(', ')} (see .env.example)`]
      : [
          '  secrets      local development values (simulator only; set them to use your own):',
          ...devSecrets.map((name) => `                 ${name}=${process.env[name]}`),
        ];
  const dotEnvLine = describeDotEnv(dotEnv);
  process.stdout.write(
    [
      '',
      `FlowPilot is running (local runtime)`,
      `  API          ${base}  (POST /webhooks/{stripe|standard|epay}, GET /health)`,
      `  status page  ${base}/   ·   CLI: npx flowpilot status`,
      `  invoke now   npx flowpilot invoke poll-totals   (also poll-usage, reconcile)`,
      `  local token  ${LOCAL_TOKEN_HEADER}: ${env.localToken}  (for /_local/*; also in ${env.dataDir}/runtime.json)`,
      `  providers    ${config.payments.providers.join(', ') || 'none (set payments.providers)'}`,
      ...scheduler
        .nextRuns()
        .map(
          (r, i) =>
            `  ${i === 0 ? 'schedules ' : '          '}   ${r.name} ${r.expression}, next ${shortTime(r.at.toISOString())}` +
            (r.name === 'poll-totals' ? ' (and once now, at start)' : ''),
        ),
      `  upstream     ${upstream}`,
      `  store        ${store}`,
      `  alerts       ${alerts}`,
      `  stripe       ${stripe.describe}`,
      ...(stripe.standInKey
        ? [`  stripe key   ${stripe.standInKey}  (this run's key for the stand-in only)`]
        : []),
      `  config       ${configSource}${demoCatalog ? ' (no catalog: selling the local demo package demo-10gb)' : ''}`,
      ...(dotEnvLine ? [`  .env         ${dotEnvLine}`] : []),
      ...(portalLine ? [portalLine] : []),
      `  logs         ${readableLogs ? 'readable (LOG_FORMAT=json for JSON lines)' : 'JSON lines (LOG_FORMAT=text for readable ones)'}`,
      ...secretLines,
      ...(demo
        ? [
            `  try          npm run demo:payment   (a signed Stripe payment; -- --provider epay|standard)`,
            `               npx flowpilot autotopup set 88 --package ${Object.keys(config.payments.catalog)[0] ?? '<package>'} --below-gb 20 --payment-method pm_card_visa --stripe-customer cus_local`,
            "               then lower customer 88's balance in the simulator: the next poll charges the card,",
            '               the webhook credits it   (npx flowpilot autotopup history 88)',
          ]
        : []),
      '',
    ].join('\n'),
  );
  // A first snapshot now rather than at the first schedule mark, so the status page and
  // `flowpilot status` have figures from the start.
  void fire('poll-totals');

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
    lock?.release();
    process.stdout.write('stopped\n');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: unknown) => void fail(err));
