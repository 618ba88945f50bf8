import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { LOCAL_DEV_SECRETS } from '../../local/runtime/env.ts';
import { freePort } from '../../scripts/dynamodb-local.ts';
import { signedCheckoutCompleted } from '../../scripts/stripe-checkout.ts';
import { ROOT, type Runtime, spawnRuntime, waitUntilReady } from '../helpers/npm-start.ts';

const TOPIC_ARN = 'arn:aws:sns:us-east-1:000000000000:flowpilot-e2e-alerts';
/** The runtime's per-run token, fixed here so the test can call /_local/*. */
const LOCAL_TOKEN = `e2e-${randomBytes(12).toString('hex')}`;
const AUTH = { 'x-flowpilot-token': LOCAL_TOKEN };

/** local/main.ts itself (what `npm start` runs), without npm in between. */
function runtime(env: Record<string, string>): Runtime {
  return spawnRuntime(process.execPath, ['--import', 'tsx', 'local/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      FLOWPILOT_CONFIG: '',
      IPWEB_BASE_URL: '',
      SNS_TOPIC_ARN: '',
      FLOWPILOT_LOCAL_TOKEN: LOCAL_TOKEN,
      // A free port rather than PORT + 1, which another test may hold.
      SIMULATOR_PORT: '0',
      ...env,
    },
  });
}

/** A TCP pass-through to DynamoDB Local that the test can cut to make the store unreachable. */
async function cuttableProxy(target: string) {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  const server = createTcpServer((client) => {
    const upstream = connect(Number(port), hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const address = server.address();
  const proxyPort = typeof address === 'object' && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${proxyPort}`,
    cut: () =>
      new Promise<void>((res) => {
        server.close(() => res());
        for (const s of sockets) s.destroy();
      }),
  };
}

/** Records SNS Query-protocol requests (form posts) and answers them as SNS does. */
async function snsRecorder() {
  const requests: URLSearchParams[] = [];
  const server: Server = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      requests.push(new URLSearchParams(body));
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(
        '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m-1</MessageId></PublishResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></PublishResponse>',
      );
    });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const address = server.address();
  return {
    endpoint: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    requests,
    close: () => new Promise<void>((res) => server.close(() => res())),
  };
}

/** The message attributes of a recorded Publish, by name. */
function attributesOf(form: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 1; form.has(`MessageAttributes.entry.${i}.Name`); i++) {
    out[form.get(`MessageAttributes.entry.${i}.Name`) ?? ''] =
      form.get(`MessageAttributes.entry.${i}.Value.StringValue`) ?? '';
  }
  return out;
}

function payment() {
  return signedCheckoutCompleted({
    secret: LOCAL_DEV_SECRETS.STRIPE_WEBHOOK_SECRET,
    sessionId: `cs_e2e_${randomBytes(6).toString('hex')}`,
    customerId: '1001',
    packageId: 'demo-10gb',
    quantity: 1,
    amountMinor: 500,
    currency: 'usd',
  });
}

async function call(url: string, init: RequestInit = {}) {
  const res = await fetch(url, { method: 'POST', ...init });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('local runtime contract', () => {
  describe('start-up checks', () => {
    it('refuses a configuration synth would refuse, naming each key, before starting anything', async () => {
      // Prepare
      const dir = mkdtempSync(join(tmpdir(), 'fp-e2e-bad-'));
      const file = join(dir, 'flowpilot.config.json');
      writeFileSync(
        file,
        JSON.stringify({
          payments: { leaseSeconds: 20 },
          schedules: { reconcile: 'cron(0 3 * * * *)' },
        }),
      );
      const dataDir = join(dir, 'data');

      // Act
      const run = runtime({
        PORT: String(await freePort()),
        FLOWPILOT_DATA_DIR: dataDir,
        FLOWPILOT_CONFIG: file,
      });
      const code = await run.exited;

      // Assess
      expect(code).toBe(1);
      expect(run.output()).toMatch(new RegExp(`^flowpilot: invalid ${file}:\\n`));
      expect(run.output()).toMatch(/ {2}payments\.leaseSeconds: must be more than/);
      expect(run.output()).toMatch(/ {2}schedules\.reconcile: EventBridge wants "\?"/);
      expect(run.output()).not.toMatch(/FlowPilot is running/);
      expect(existsSync(dataDir)).toBe(false);
    });

    it('refuses a bad environment, naming each variable', async () => {
      // Prepare
      const dataDir = join(mkdtempSync(join(tmpdir(), 'fp-e2e-bad-')), 'data');

      // Act
      const run = runtime({
        PORT: 'eighty',
        SNS_TOPIC_ARN: 'alerts',
        FLOWPILOT_DATA_DIR: dataDir,
      });
      const code = await run.exited;

      // Assess
      expect(code).toBe(1);
      expect(run.output()).toMatch(/^flowpilot: invalid environment:\n/);
      expect(run.output()).toMatch(/PORT must be a port number/);
      expect(run.output()).toMatch(/SNS_TOPIC_ARN must be an SNS topic ARN/);
      expect(existsSync(dataDir)).toBe(false);
    });
  });

  describe('with DynamoDB and SNS endpoints', () => {
    const cleanups: (() => Promise<unknown>)[] = [];
    afterAll(async () => {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
    });

    it('creates the table, publishes alerts to SNS, and fails loudly when the store goes away', async () => {
      // Prepare
      const dynamo = inject('dynamoEndpoint');
      const proxy = await cuttableProxy(dynamo);
      cleanups.push(proxy.cut);
      const sns = await snsRecorder();
      cleanups.push(sns.close);
      const dir = mkdtempSync(join(tmpdir(), 'fp-e2e-endpoints-'));
      const configFile = join(dir, 'config.json');
      writeFileSync(configFile, JSON.stringify({ schedules: { pollTotals: 'rate(1 minute)' } }));
      const tableName = `fp-e2e-${randomBytes(4).toString('hex')}`;
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const run = runtime({
        PORT: String(port),
        FLOWPILOT_DATA_DIR: join(dir, 'data'),
        FLOWPILOT_CONFIG: configFile,
        AWS_ENDPOINT_URL_DYNAMODB: proxy.endpoint,
        TABLE_NAME: tableName,
        SNS_TOPIC_ARN: TOPIC_ARN,
        AWS_ENDPOINT_URL_SNS: sns.endpoint,
      });
      cleanups.push(async () => {
        if (run.child.exitCode === null) run.child.kill('SIGKILL');
      });
      await waitUntilReady(run, { url: `${base}/health`, timeoutMs: 60_000 });
      const health = (await (await fetch(`${base}/health`)).json()) as { simulatorUrl: string };
      const sim = new URL('/', health.simulatorUrl).href;

      // Act: a payment, then a poll finding the pool it drew on nearly empty.
      const paid = payment();
      const credited = await call(`${base}/webhooks/stripe`, {
        headers: { 'content-type': 'application/json', 'stripe-signature': paid.signature },
        body: paid.payload,
      });
      await fetch(`${sim}_sim/pools/primary`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ residualMb: '1024' }),
      });
      const poll = await call(`${base}/_local/invoke/poll-totals`, { headers: AUTH });

      // Assess
      expect(run.output()).toContain('poll-totals rate(1 minute)');
      const { Table } = await new DynamoDBClient({ endpoint: dynamo }).send(
        new DescribeTableCommand({ TableName: tableName }),
      );
      expect(Table?.GlobalSecondaryIndexes?.map((i) => i.IndexName)).toEqual(['gsi1', 'gsi2']);
      expect(poll).toMatchObject({ status: 200, body: { function: 'poll-totals', ok: true } });
      const published = sns.requests.filter((r) => r.get('Action') === 'Publish');
      expect(published.map((r) => r.get('TopicArn'))).toContain(TOPIC_ARN);
      expect(published.map(attributesOf)).toContainEqual(
        expect.objectContaining({ severity: 'critical', rule: 'low-residual', pool: 'primary' }),
      );
      expect(credited).toMatchObject({ status: 200, body: { result: 'credited' } });

      // Act: the store goes away.
      await proxy.cut();
      const late = payment();
      const headers = { 'content-type': 'application/json', 'stripe-signature': late.signature };
      const webhook = await call(`${base}/webhooks/stripe`, { headers, body: late.payload });
      const invoked = await call(`${base}/_local/invoke/payment-webhook`, {
        headers: AUTH,
        body: JSON.stringify({
          version: '2.0',
          routeKey: 'POST /webhooks/{provider}',
          rawPath: '/webhooks/stripe',
          rawQueryString: '',
          headers,
          pathParameters: { provider: 'stripe' },
          requestContext: { http: { method: 'POST', path: '/webhooks/stripe' } },
          body: late.payload,
          isBase64Encoded: false,
        }),
      });
      const polled = await call(`${base}/_local/invoke/poll-totals`, { headers: AUTH });

      // Assess: a 5xx the provider retries, and failed invocations answered non-2xx.
      expect(webhook).toEqual({ status: 500, body: { message: 'internal error' } });
      expect(invoked).toMatchObject({
        status: 500,
        body: { function: 'payment-webhook', ok: false, result: { statusCode: 500 } },
      });
      expect(polled).toMatchObject({ status: 500, body: { function: 'poll-totals', ok: false } });

      // Act: stop.
      run.child.kill('SIGTERM');

      // Assess
      expect(await run.exited).toBe(0);
      expect(run.output()).toMatch(/SIGTERM: stopping…\nstopped/);
    }, 90_000);
  });
});
