/**
 * Cold start of each Lambda bundle, locally: a fresh Node process imports the bundle (built
 * with the stack's esbuild settings, infra/bundling.ts) and runs its first invocation up to
 * its first AWS call, against a bare handler bundled the same way that imports the same AWS
 * SDK clients (DynamoDB document client, SNS, Secrets Manager, and SES v2 for customer-actions)
 * and makes the same first
 * call. Both run side by side, alternating, in one run; the ratio is median against median.
 * The clock runs from the process's start (performance.timeOrigin) to the moment the first
 * request reaches a local endpoint, so Node's own start-up is in both.
 *
 * Then where the time goes: the same measurement for probes that add one layer at a time
 * on top of the bare SDK clients. Lambda's own init time needs an AWS account and is not
 * measured here. Run: npx tsx bench/cold-start.ts [function…]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { build } from 'esbuild';
import Stripe from 'stripe';
import { parseConfig } from '../functions/commons/config/load.ts';
import { balanceChangeMessages } from '../functions/commons/customers/handoff.ts';
import {
  FUNCTION_ENTRIES,
  type FunctionName,
  lambdaBuildOptions,
  PROJECT_ROOT,
} from '../infra/bundling.ts';
import { configEnvironment } from '../infra/config-env.ts';
import { snsEvent } from '../local/runtime/events.ts';
import { exitOnMissedGoals, goal } from './goal.ts';

const RUNS = Number(process.env.COLD_START_RUNS ?? 15);
const OUT_DIR = join(PROJECT_ROOT, '.cache', 'cold-start');
const STRIPE_SECRET = `whsec_${randomBytes(16).toString('hex')}`;

/**
 * The bare handler: the SDK clients a function holds, built the same way, and one call each
 * (the secret, a DynamoDB read, a publish when it holds SNS), so that the ratio is about
 * FlowPilot's own code.
 */
function bareSource(clients: { sns: boolean; ses: boolean }): string {
  return `
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
${clients.sns ? "import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';\nconst sns = new SNSClient({});" : ''}
${clients.ses ? "import { SESv2Client } from '@aws-sdk/client-sesv2';\nconst ses = new SESv2Client({});" : ''}
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const secrets = new SecretsManagerClient({});
export const handler = async () => {
  const { SecretString } = await secrets.send(new GetSecretValueCommand({ SecretId: process.env.IPWEB_TOKEN_SECRET_ARN }));
  await doc.send(new GetCommand({ TableName: process.env.TABLE_NAME, Key: { pk: 'a', sk: SecretString } }));
  ${clients.sns ? "await sns.send(new PublishCommand({ TopicArn: process.env.SNS_TOPIC_ARN, Message: 'x' }));" : ''}
};
`;
}
const BARE = bareSource({ sns: true, ses: false });
/** Functions whose clients differ from the common DynamoDB + SNS + Secrets Manager. */
const BARE_CLIENTS: Partial<Record<FunctionName, { sns: boolean; ses: boolean }>> = {
  // Customer notices: SES for email, SNS for SMS.
  'customer-actions': { sns: true, ses: true },
  // It raises no alert.
  'poll-usage': { sns: false, ses: false },
};

/** One layer more per probe, each on top of the bare clients, to show what each costs. */
const LAYERS: [string, string][] = [
  ['+ logger', `import { logger } from './functions/commons/logger.ts'; logger.info('x');`],
  [
    '+ EMF metrics',
    `import { recordMetric } from './functions/commons/observability.ts'; recordMetric('x', 'Count', 1);`,
  ],
  [
    '+ X-Ray tracing',
    `import { xrayTracing } from './functions/commons/tracing.ts'; xrayTracing({ service: 'x' });`,
  ],
  ['+ middy', `import middy from '@middy/core'; middy(async () => {});`],
  ['+ decimal.js', `import { Decimal } from 'decimal.js'; new Decimal(1);`],
  [
    '+ config via zod',
    `import { parseConfig } from './functions/commons/config/load.ts'; parseConfig({});`,
  ],
  ['+ stripe', `import Stripe from 'stripe'; Stripe.webhooks;`],
];

async function bundle(label: string, input: { entry: string } | { source: string }) {
  const result = await build({
    ...lambdaBuildOptions(),
    write: false,
    logLevel: 'silent',
    ...('entry' in input
      ? { entryPoints: [join(PROJECT_ROOT, input.entry)] }
      : { stdin: { contents: input.source, resolveDir: PROJECT_ROOT, loader: 'ts' } }),
  });
  const file = join(OUT_DIR, `${label.replace(/\W+/g, '_')}.mjs`);
  writeFileSync(file, result.outputFiles?.[0]?.contents ?? new Uint8Array());
  return file;
}

// Every AWS endpoint points here, under a path per run; a run's first request ends it.
const pending = new Map<string, (at: number) => void>();
const server = createServer((req, res) => {
  const run = req.url?.split('/')[1] ?? '';
  pending.get(run)?.(performance.timeOrigin + performance.now());
  pending.delete(run);
  req.resume();
  res.writeHead(500, { 'content-type': 'application/x-amz-json-1.1' });
  res.end('{"__type":"InternalFailure"}');
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const config = configEnvironment(
  parseConfig({
    upstream: { baseUrl: 'http://127.0.0.1:9' },
    payments: {
      providers: ['stripe'],
      stripe: { livemode: false },
      catalog: { gb10: { gb: 10, price: 1000, currency: 'usd' } },
    },
  }),
);
const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:FlowPilot/';
const ENV: Record<string, string> = {
  ...config,
  PATH: process.env.PATH ?? '',
  NODE_OPTIONS: '--enable-source-maps',
  POWERTOOLS_SERVICE_NAME: 'flowpilot',
  POWERTOOLS_LOG_LEVEL: 'WARN',
  TABLE_NAME: 'bench',
  SNS_TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:alerts',
  BALANCE_CHANGES_TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:balance-changes',
  IPWEB_TOKEN_SECRET_ARN: `${ARN}IPWEB_TOKEN-a1b2c3`,
  STRIPE_WEBHOOK_SECRET_SECRET_ARN: `${ARN}STRIPE_WEBHOOK_SECRET-a1b2c3`,
  STANDARD_WEBHOOK_SECRET_SECRET_ARN: `${ARN}STANDARD_WEBHOOK_SECRET-a1b2c3`,
  EPAY_KEY_SECRET_ARN: `${ARN}EPAY_KEY-a1b2c3`,
  STRIPE_API_KEY_SECRET_ARN: `${ARN}STRIPE_API_KEY-a1b2c3`,
  STRIPE_READ_KEY_SECRET_ARN: `${ARN}STRIPE_READ_KEY-a1b2c3`,
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  AWS_LAMBDA_FUNCTION_NAME: 'bench',
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
  AWS_XRAY_DAEMON_ADDRESS: '127.0.0.1:2000',
  AWS_XRAY_CONTEXT_MISSING: 'IGNORE_ERROR',
  _X_AMZN_TRACE_ID: 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

function webhookEvent() {
  const payload = JSON.stringify({
    id: 'evt_bench',
    object: 'event',
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    type: 'checkout.session.completed',
    data: {
      object: { id: 'cs_bench', payment_status: 'paid', amount_total: 1000, currency: 'usd' },
    },
  });
  return {
    version: '2.0',
    rawPath: '/webhooks/stripe',
    headers: {
      'content-type': 'application/json',
      'stripe-signature': Stripe.webhooks.generateTestHeaderString({
        payload,
        secret: STRIPE_SECRET,
      }),
    },
    pathParameters: { provider: 'stripe' },
    requestContext: { http: { method: 'POST', path: '/webhooks/stripe' } },
    body: Buffer.from(payload).toString('base64'),
    isBase64Encoded: true,
  };
}

const EVENTS: Record<FunctionName, unknown> = {
  'poll-totals': { 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} },
  'poll-usage': { 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} },
  'poll-customers': { 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} },
  // A run with no changes: the notices still look for what waited for its time.
  'customer-actions': snsEvent(
    'balance-changes',
    balanceChangeMessages([], new Date().toISOString())[0] ?? '',
  ),
  reconcile: { 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} },
  'payment-webhook': webhookEvent(),
  // Switching the language needs no secret: the page's cold start without Secrets Manager.
  portal: {
    version: '2.0',
    rawPath: '/portal/lang/en',
    headers: {},
    requestContext: { http: { method: 'GET', path: '/portal/lang/en', sourceIp: '127.0.0.1' } },
    isBase64Encoded: false,
  },
};

/**
 * CPU milliseconds a process has used so far, all its threads (Linux schedstat, in ns): on a
 * shared machine wall time mostly measures the neighbours, CPU time the work.
 */
function cpuMs(pid: number): number {
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
  }
  return ns / 1e6;
}

interface Sample {
  wall: number;
  cpu: number;
}

/** From a fresh process's start to its first AWS request: wall and CPU milliseconds. */
function coldStart(file: string, event: unknown): Promise<Sample> {
  const script = `
    const started = performance.timeOrigin;
    process.send?.(started);
    const { handler } = await import(${JSON.stringify(file)});
    const context = { awsRequestId: 'bench', functionName: 'bench', getRemainingTimeInMillis: () => 60000 };
    await handler(${JSON.stringify(event)}, context).catch((e) => console.error(e));
  `;
  const run = randomBytes(6).toString('hex');
  const runEndpoint = `${endpoint}/${run}`;
  return new Promise((resolve, reject) => {
    let started: number | undefined;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: {
        ...ENV,
        AWS_ENDPOINT_URL_DYNAMODB: runEndpoint,
        AWS_ENDPOINT_URL_SNS: runEndpoint,
        AWS_ENDPOINT_URL_SECRETS_MANAGER: runEndpoint,
      },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    child.on('message', (m) => {
      started = Number(m);
    });
    pending.set(run, (at) => {
      const cpu = child.pid === undefined ? Number.NaN : cpuMs(child.pid);
      child.kill();
      if (started === undefined) reject(new Error('no start time'));
      else resolve({ wall: at - started, cpu });
    });
    const fail = (why: string) => {
      if (!pending.delete(run)) return;
      child.kill();
      reject(new Error(`${file}: ${why} before any AWS call\n${stderr}`));
    };
    child.on('exit', () => fail('exited'));
    setTimeout(() => fail('10 s passed'), 10_000).unref();
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const ms = (n: number) => `${n.toFixed(0).padStart(4)} ms`;
const medians = (xs: Sample[]): Sample => ({
  wall: median(xs.map((x) => x.wall)),
  cpu: median(xs.map((x) => x.cpu)),
});

mkdirSync(OUT_DIR, { recursive: true });
try {
  const bare = await bundle('bare', { source: BARE });
  console.log(
    `cold start to first AWS call, median of ${RUNS} fresh processes (Node ${process.version})`,
  );
  console.log('function          | CPU: bundle / bare / ratio | wall: bundle / bare / ratio');
  const only = process.argv.slice(2);
  for (const [name, entry] of Object.entries(FUNCTION_ENTRIES) as [FunctionName, string][]) {
    if (only.length > 0 && !only.includes(name)) continue;
    const file = await bundle(name, { entry });
    const clients = BARE_CLIENTS[name];
    const baseline = clients ? await bundle(`bare-${name}`, { source: bareSource(clients) }) : bare;
    const ours: Sample[] = [];
    const theirs: Sample[] = [];
    for (let i = 0; i < RUNS; i++) {
      // Alternate which goes first so neither always meets a warmer disk cache.
      if (i % 2) {
        ours.push(await coldStart(file, EVENTS[name]));
        theirs.push(await coldStart(baseline, {}));
      } else {
        theirs.push(await coldStart(baseline, {}));
        ours.push(await coldStart(file, EVENTS[name]));
      }
    }
    const a = medians(ours);
    const b = medians(theirs);
    console.log(
      `${name.padEnd(17)} | ${ms(a.cpu)} / ${ms(b.cpu)} / ${(a.cpu / b.cpu).toFixed(2)}      | ${ms(a.wall)} / ${ms(b.wall)} / ${(a.wall / b.wall).toFixed(2)}` +
        goal(Number((a.cpu / b.cpu).toFixed(2)), {
          name: `${name} init CPU ratio to a bare handler`,
          op: '<=',
          limit: 1.3,
          unit: 'x',
        }),
    );
  }

  console.log('\nwhere the time goes: bare clients plus one layer, CPU to the first AWS call');
  const base: Sample[] = [];
  for (let i = 0; i < RUNS; i++) base.push(await coldStart(bare, {}));
  const baseMs = medians(base).cpu;
  console.log(`  ${'bare SDK clients'.padEnd(24)} ${ms(baseMs)}`);
  for (const [label, layer] of LAYERS) {
    const file = await bundle(label, { source: `${layer}\n${BARE}` });
    const runs: Sample[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await coldStart(file, {}));
    const t = medians(runs).cpu;
    const delta = t - baseMs;
    console.log(`  ${label.padEnd(24)} ${ms(t)}  (${delta >= 0 ? '+' : ''}${delta.toFixed(0)} ms)`);
  }
} finally {
  server.close();
}
exitOnMissedGoals();
