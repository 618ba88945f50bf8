import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  type AttributeDefinition,
  CreateTableCommand,
  type GlobalSecondaryIndex,
  type KeySchemaElement,
} from '@aws-sdk/client-dynamodb';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { build } from 'esbuild';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ConfigInput } from '../../functions/commons/config/schema.ts';
import { portalKeys, signToken } from '../../functions/commons/portal/tokens.ts';
import { addDays, dayInZone } from '../../functions/commons/units.ts';
import { NODE_TARGET } from '../../infra/bundling.ts';
import { snsEvent } from '../../local/runtime/events.ts';
import { type Simulator, startSimulator } from '../../local/simulator/index.ts';
import { type StripeStandIn, startStripeStandIn } from '../../local/stripe/index.ts';
import { localDynamoClient } from '../helpers/dynamo.ts';
import {
  type DeployedFunction,
  type DeployedStack,
  resolveEnvironment,
  synthDeployed,
} from './assembly.ts';
import { type Invocation, invokeStaged, nodeModulesAbove, stageAsset } from './invoke.ts';
import {
  type SecretsManagerStandIn,
  type SnsStandIn,
  startSecretsManagerStandIn,
  startSnsStandIn,
  startXrayDaemonStandIn,
  type XrayDaemonStandIn,
} from './stand-ins.ts';

/**
 * The deployed-artifact tier: what `cdk deploy` would upload, run as Lambda would run it.
 * The stack is synthesized once, offline, with cdk.json's context; each Lambda's asset is
 * copied out of the cloud assembly to a directory with no node_modules anywhere above it
 * and run in a fresh Node process with exactly the template's environment (references
 * resolved to local stand-ins) plus the runtime's own variables and endpoint overrides.
 */

const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const CUSTOMER = '4242';
const STRIPE_SECRET = `whsec_${randomBytes(16).toString('hex')}`;

let sim: Simulator;
let sns: SnsStandIn;
let secretsManager: SecretsManagerStandIn;
let xray: XrayDaemonStandIn;
let stripe: StripeStandIn;
const STRIPE_API_KEY = `sk_test_${randomBytes(16).toString('hex')}`;
const PORTAL_SECRET = randomBytes(32).toString('hex');
let outdir: string;
let deployed: DeployedStack;
const refs: Record<string, string> = {};
const tableNames: string[] = [];
const staged: string[] = [];

/** What each secret holds, by its name in the template (`<stack>/<NAME>`): a plain string, as the README tells operators to put it. */
function secretValues(): Record<string, string> {
  return {
    IPWEB_TOKEN: sim.token,
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    STANDARD_WEBHOOK_SECRET: `whsec_${randomBytes(24).toString('base64')}`,
    EPAY_KEY: randomBytes(16).toString('hex'),
    STRIPE_API_KEY,
    // The stand-in takes one key; the webhook's read-only key is the same string here.
    STRIPE_READ_KEY: STRIPE_API_KEY,
    STRIPE_CHECKOUT_KEY: STRIPE_API_KEY,
    PORTAL_SECRET,
  };
}

const resourcesOf = (type: string) =>
  Object.entries(deployed.resources).filter(([, r]) => r.Type === type);

const topicArn = (name: RegExp) => {
  const [id] = resourcesOf('AWS::SNS::Topic').find(([logicalId]) => name.test(logicalId)) ?? [];
  if (!id) throw new Error(`no ${name} topic in the template`);
  return refs[id];
};
const alertsTopicArn = () => topicArn(/Alerts/);
const balanceChangesTopicArn = () => topicArn(/BalanceChanges/);
const publishedTo = (arn: string | undefined) =>
  sns.published.filter((p) => p.get('TopicArn') === arn);

const functionNamed = (name: string) => {
  const fn = deployed.functions.find((f) => f.name === name);
  if (!fn) throw new Error(`${name}: not in the template`);
  return fn;
};

/** The balance changes poll-customers published in customer-actions' arrange step. */
let handedOn: string[] = [];

async function scanTable(): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  for (const TableName of tableNames) {
    const { Items = [] } = await localDynamoClient().send(new ScanCommand({ TableName }));
    items.push(...Items);
  }
  return items;
}

/** The environment Lambda would give the function, pointed at the local stand-ins. */
function lambdaEnvironment(fn: DeployedFunction): Record<string, string> {
  const functionName = `${fn.name}-${fn.logicalId}`;
  const memory = deployed.resources[fn.logicalId]?.Properties?.MemorySize;
  return {
    // What the template gives the function …
    ...resolveEnvironment(fn, refs),
    // … what the Lambda runtime adds (credentials, identity, X-Ray) …
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_SESSION_TOKEN: 'local',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    AWS_LAMBDA_FUNCTION_NAME: functionName,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memory ?? 128),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${functionName}`,
    AWS_XRAY_DAEMON_ADDRESS: xray.address,
    AWS_XRAY_CONTEXT_MISSING: 'LOG_ERROR',
    _X_AMZN_TRACE_ID: `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')};Parent=${randomBytes(8).toString('hex')};Sampled=1`,
    TZ: ':UTC',
    // … and, for this machine only, the local endpoints (Node 20 here, 22 in Lambda).
    AWS_ENDPOINT_URL_DYNAMODB: inject('dynamoEndpoint'),
    AWS_ENDPOINT_URL_SNS: sns.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.endpoint,
    STRIPE_API_BASE_URL: stripe.url,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

/** Runs a function's deployed bundle once, as Lambda would, and reads back its outcome. */
async function invoke(fn: DeployedFunction, event: unknown): Promise<Invocation> {
  const taskRoot = stageAsset(fn);
  staged.push(taskRoot);
  const invocation = await invokeStaged(fn, taskRoot, lambdaEnvironment(fn), event);
  if (invocation.error) {
    throw new Error(
      `${fn.name} threw ${invocation.error.name}: ${invocation.error.message}\n${invocation.stdout}\n${invocation.stderr}`,
    );
  }
  return invocation;
}

function scheduledEvent(fn: DeployedFunction) {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: ACCOUNT,
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: REGION,
    resources: [`arn:aws:events:${REGION}:${ACCOUNT}:rule/FlowPilot-${fn.logicalId}Schedule`],
    detail: {},
  };
}

/** A Stripe delivery as API Gateway's HTTP API (payload 2.0) hands it over: body base64. */
function stripeDelivery(
  sessionId: string,
  session: { metadata?: Record<string, string>; paymentIntent?: string } = {},
) {
  const payload = JSON.stringify({
    id: `evt_${randomUUID().replaceAll('-', '')}`,
    object: 'event',
    api_version: '2025-01-27.acacia',
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    type: 'checkout.session.completed',
    data: {
      object: {
        id: sessionId,
        object: 'checkout.session',
        payment_status: 'paid',
        status: 'complete',
        amount_total: 1000,
        currency: 'usd',
        client_reference_id: CUSTOMER,
        metadata: { package: 'gb10', ...session.metadata },
        payment_intent: session.paymentIntent ?? `pi_${sessionId}`,
      },
    },
  });
  const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: STRIPE_SECRET });
  const now = new Date();
  return {
    version: '2.0',
    routeKey: 'POST /webhooks/{provider}',
    rawPath: '/webhooks/stripe',
    rawQueryString: '',
    headers: {
      accept: '*/*; q=0.5, application/xml',
      'cache-control': 'no-cache',
      'content-length': String(Buffer.byteLength(payload)),
      'content-type': 'application/json; charset=utf-8',
      host: 'abc123.execute-api.us-east-1.amazonaws.com',
      'stripe-signature': signature,
      'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
      'x-forwarded-for': '54.187.174.169',
      'x-forwarded-port': '443',
      'x-forwarded-proto': 'https',
    },
    requestContext: {
      accountId: ACCOUNT,
      apiId: 'abc123',
      domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: {
        method: 'POST',
        path: '/webhooks/stripe',
        protocol: 'HTTP/1.1',
        sourceIp: '54.187.174.169',
        userAgent: 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
      },
      requestId: randomUUID(),
      routeKey: 'POST /webhooks/{provider}',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    pathParameters: { provider: 'stripe' },
    body: Buffer.from(payload).toString('base64'),
    isBase64Encoded: true,
  };
}

interface InvocationSpec {
  /** Puts the simulator in the state the invocation needs. */
  arrange?(): void | Promise<void>;
  event(fn: DeployedFunction): unknown;
  /** Checks the answer and the side effects (simulator, table, SNS). */
  assess(invocation: Invocation): Promise<void>;
}

/**
 * One entry per function, run in this order. A Lambda in the template without an entry here
 * fails the tier: every deployed bundle is run before it ships.
 */
const SPECS: Record<string, InvocationSpec> = {
  'poll-totals': {
    arrange() {
      // 10 GB left, under the default critical level (50 GB): a low-residual alert.
      sim.setPool('primary', { rechargedMb: 2_048_000, consumedMb: 2_037_760, residualMb: 10_240 });
    },
    event: scheduledEvent,
    async assess({ result }) {
      expect(result).toMatchObject({
        outcome: { ok: true, pools: { primary: { residualMb: '10240' } } },
      });
      const items = await scanTable();
      expect(items).toContainEqual(
        expect.objectContaining({ pk: 'POOL#primary', sk: expect.stringMatching(/^SNAP#/) }),
      );
      const toAlerts = publishedTo(alertsTopicArn());
      expect(toAlerts.length).toBeGreaterThan(0);
      expect(toAlerts.map((p) => p.get('Message')).join('\n')).toMatch(/primary/i);
    },
  },
  'poll-usage': {
    arrange() {
      sim.addCustomer({ customerId: CUSTOMER });
      sim.generateUsage(6, { customerIds: [CUSTOMER] });
    },
    event: scheduledEvent,
    async assess({ result }) {
      expect(result).toMatchObject({ outcome: { ok: true } });
      const usage = (await scanTable()).filter((i) => i.pk === `USAGE#${CUSTOMER}`);
      expect(usage.length).toBeGreaterThan(0);
    },
  },
  'payment-webhook': {
    // A Checkout that opts the customer into auto top-up: after the credit, the bundle reads
    // the saved card back from the Stripe API (its own fetch client, the stand-in here).
    event: () => {
      const session = stripe.addCheckoutSession({
        customerId: CUSTOMER,
        stripeCustomer: 'cus_deployed',
        paymentMethod: 'pm_card_visa',
        amountMinor: 1000,
        currency: 'usd',
        metadata: { package: 'gb10', autoTopup: 'gb10:5' },
      });
      return stripeDelivery(session.id, {
        metadata: session.metadata,
        ...(session.payment_intent ? { paymentIntent: session.payment_intent } : {}),
      });
    },
    async assess({ result }) {
      expect(result).toMatchObject({ statusCode: 200 });
      const credits = sim.ledger().filter((o) => o.customerId === CUSTOMER);
      expect(credits).toHaveLength(1);
      expect(credits[0]?.trafficGb).toBe('10');
      const secretIds = secretsManager.requested.join('\n');
      expect(secretIds).toMatch(/STRIPE_WEBHOOK_SECRET/);
      expect(secretIds).toMatch(/IPWEB_TOKEN/);
      // The webhook reads the Checkout Session with its own, read-only key.
      expect(secretIds).toMatch(/STRIPE_READ_KEY/);
      const items = await scanTable();
      expect(items.filter((i) => i.orderId === credits[0]?.orderId).length).toBeGreaterThan(0);
      expect(stripe.requests().map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
        expect.stringMatching(/^GET \/v1\/checkout\/sessions\/cs_\w+ 200$/),
        expect.stringMatching(/^GET \/v1\/payment_intents\/pi_\w+ 200$/),
      ]);
      expect(items).toContainEqual(
        expect.objectContaining({
          pk: `AUTOTOPUP#${CUSTOMER}`,
          sk: 'STATE',
          enabled: true,
          stripeCustomer: 'cus_deployed',
          paymentMethod: 'pm_card_visa',
        }),
      );
    },
  },
  'poll-customers': {
    event: scheduledEvent,
    async assess({ result }) {
      expect(result).toMatchObject({ outcome: { ok: true, complete: true } });
      // The webhook's credit above, read back from the upstream's records into a balance.
      const balance = (await scanTable()).find(
        (i) => i.pk === `CUSTOMER#${CUSTOMER}` && i.sk === 'BALANCE',
      );
      expect(balance).toBeDefined();
      // The first complete run is the backfill: history, not news, so nothing is handed on.
      expect(publishedTo(balanceChangesTopicArn())).toEqual([]);
    },
  },
  'customer-actions': {
    // The customer (who opted into auto top-up below 5 GB at the webhook's Checkout) uses
    // 30 GB; poll-usage and poll-customers, from their bundles, see it and publish the change.
    async arrange() {
      sim.useTraffic({ customerId: CUSTOMER, downloadMb: 30 * 1024 });
      // The agent refilled the pool since the Checkout's credit took its last 10 GB; the
      // totals poll sees it (auto top-up never charges on a snapshot its credits outran).
      sim.setPool('primary', {
        rechargedMb: 2_150_400,
        consumedMb: 2_048_000,
        residualMb: 102_400,
      });
      for (const name of ['poll-totals', 'poll-usage', 'poll-customers']) {
        const fn = functionNamed(name);
        await invoke(fn, scheduledEvent(fn));
      }
      handedOn = publishedTo(balanceChangesTopicArn()).map((p) => p.get('Message') ?? '');
      expect(handedOn).toHaveLength(1);
    },
    // … and SNS hands the message over as it would.
    event: () => snsEvent(balanceChangesTopicArn() ?? '', handedOn[0] ?? ''),
    async assess({ result }) {
      expect(result).toMatchObject({ parts: ['1/1'], changes: 1, listenerFailures: [] });
      // The saved card is charged off-session, once, for the opted-in package.
      const charges = stripe.requests().filter((r) => r.method === 'POST');
      expect(charges.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
        'POST /v1/payment_intents 200',
      ]);
      const autoTopup = (await scanTable()).find(
        (i) => i.pk === `AUTOTOPUP#${CUSTOMER}` && i.sk === 'STATE',
      );
      expect(autoTopup).toMatchObject({ episodeSeq: 1, episode: { n: 1, packageId: 'gb10' } });
      expect(secretsManager.requested.join('\n')).toMatch(/STRIPE_API_KEY/);
    },
  },
  reconcile: {
    event: () => {
      const today = dayInZone(new Date());
      return { from: addDays(today, -1), to: today };
    },
    async assess({ result }) {
      // The webhook's credit above, found on both sides.
      expect(result).toMatchObject({
        counts: { ledger: 1, upstream: 1, matched: 1, missingUpstream: 0 },
        alerted: false,
      });
    },
  },
  portal: {
    // A customer opens the link `flowpilot customer link` printed: a session cookie and 303.
    event: () => {
      const token = signToken(portalKeys(PORTAL_SECRET), 'link', {
        customerId: CUSTOMER,
        version: 0,
        expires: Math.floor(Date.now() / 1000) + 3600,
      });
      return {
        version: '2.0',
        routeKey: 'GET /portal/{proxy+}',
        rawPath: '/portal/open',
        rawQueryString: `token=${token}`,
        headers: {
          host: 'abc123.execute-api.us-east-1.amazonaws.com',
          'x-forwarded-proto': 'https',
          'sec-fetch-site': 'none',
        },
        requestContext: {
          accountId: ACCOUNT,
          apiId: 'abc123',
          domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
          http: {
            method: 'GET',
            path: '/portal/open',
            protocol: 'HTTP/1.1',
            sourceIp: '198.51.100.7',
          },
          requestId: randomUUID(),
          routeKey: 'GET /portal/{proxy+}',
          stage: '$default',
        },
        isBase64Encoded: false,
      };
    },
    async assess({ result }) {
      expect(result).toMatchObject({ statusCode: 303, headers: { location: '/portal/me' } });
      expect((result as { cookies?: string[] }).cookies?.[0]).toMatch(
        /^__Host-fp_portal=.+; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax; Secure$/,
      );
      expect(secretsManager.requested.join('\n')).toMatch(/PORTAL_SECRET/);
    },
  },
};

beforeAll(async () => {
  sim = await startSimulator({ options: { numberStyle: 'number' } });
  sns = await startSnsStandIn();
  xray = await startXrayDaemonStandIn();
  stripe = await startStripeStandIn({ apiKey: STRIPE_API_KEY });
  const config: ConfigInput = {
    upstream: {
      baseUrl: sim.url,
      // The simulator speaks plain HTTP on loopback.
      allowInsecureHttp: true,
      timeoutMs: 5_000,
      retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 },
    },
    payments: {
      providers: ['stripe'],
      stripe: { livemode: false },
      catalog: { gb10: { gb: 10, price: 1000, currency: 'usd' } },
    },
    // The stand-in's Checkout Session below is the shop's own (FlowPilot keeps no record of
    // it), so this path takes opt-ins from any session; the default refuses them (tested in
    // autotopup-opt-in.test.ts).
    autoTopup: { checkoutOptIn: 'any' },
  };
  outdir = mkdtempSync(join(tmpdir(), 'flowpilot-cdk-out-'));
  deployed = synthDeployed(config, outdir);

  // The HTTP API's id and the pseudo parameters its URL is joined from (PORTAL_BASE_URL).
  for (const [logicalId] of resourcesOf('AWS::ApiGatewayV2::Api')) refs[logicalId] = 'abc123';
  refs['AWS::Region'] = REGION;
  refs['AWS::URLSuffix'] = 'amazonaws.com';
  for (const [logicalId] of resourcesOf('AWS::SNS::Topic')) {
    refs[logicalId] = `arn:aws:sns:${REGION}:${ACCOUNT}:FlowPilot-${logicalId}`;
  }
  const values = secretValues();
  const secrets = resourcesOf('AWS::SecretsManager::Secret').map(([logicalId, r]) => {
    const name = String(r.Properties?.Name);
    const value = values[name.split('/').pop() ?? ''];
    if (value === undefined)
      throw new Error(`no value for secret ${name}: add it to secretValues()`);
    const arn = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-${randomBytes(3).toString('hex')}`;
    refs[logicalId] = arn;
    return { arn, name, value };
  });
  secretsManager = await startSecretsManagerStandIn(secrets);

  // Each table as the template defines it (keys, attributes, indexes).
  for (const [logicalId, r] of resourcesOf('AWS::DynamoDB::Table')) {
    const p = r.Properties ?? {};
    const TableName = `deployed-${logicalId}-${randomUUID().slice(0, 8)}`;
    await localDynamoClient().send(
      new CreateTableCommand({
        TableName,
        KeySchema: p.KeySchema as KeySchemaElement[],
        AttributeDefinitions: p.AttributeDefinitions as AttributeDefinition[],
        GlobalSecondaryIndexes: p.GlobalSecondaryIndexes as GlobalSecondaryIndex[] | undefined,
        BillingMode: p.BillingMode as 'PAY_PER_REQUEST',
      }),
    );
    refs[logicalId] = TableName;
    tableNames.push(TableName);
  }
}, 240_000);

afterAll(async () => {
  await sim?.close();
  await sns?.close();
  await secretsManager?.close();
  await xray?.close();
  await stripe?.close();
  for (const dir of [...staged, outdir]) if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('deployed bundles', () => {
  it('has an invocation for every Lambda in the template, and a Lambda for every invocation', () => {
    const names = deployed.functions.map((f) => f.name ?? `(untagged ${f.logicalId})`);
    expect([...names].sort()).toEqual(Object.keys(SPECS).sort());
  });

  it('targets the runtime the template names (nodejs22.x, esbuild node22)', () => {
    for (const fn of deployed.functions) {
      expect(fn.runtime, fn.logicalId).toBe(`nodejs${NODE_TARGET.replace('node', '')}.x`);
    }
  });

  it('needs nothing outside the bundle: every import resolves inside the asset', async () => {
    for (const fn of deployed.functions) {
      const taskRoot = stageAsset(fn);
      staged.push(taskRoot);
      expect(nodeModulesAbove(taskRoot), `${taskRoot} must not see a node_modules`).toBeUndefined();
      // Re-bundling the output from there fails on any import that is not a Node builtin.
      const result = await build({
        entryPoints: [join(taskRoot, `${fn.handler.split('.')[0]}.mjs`)],
        bundle: true,
        write: false,
        platform: 'node',
        format: 'esm',
        external: [...builtinModules, ...builtinModules.map((m) => `node:${m}`)],
        logLevel: 'silent',
        metafile: true,
      });
      const outside = Object.keys(result.metafile.inputs)
        .map((f) => resolve(f))
        .filter((f) => !f.startsWith(taskRoot));
      expect(outside, fn.logicalId).toEqual([]);
    }
    // Re-parsing four bundles of about 1 MB: slow on a busy machine.
  }, 180_000);

  it('refuses configuration edited after synth instead of trusting it', async () => {
    const fn = functionNamed('poll-totals');
    const env = lambdaEnvironment(fn);
    const config = JSON.parse(env.FLOWPILOT_CONFIG_JSON ?? '{}');
    config.polling.retentionDays += 1;
    const taskRoot = stageAsset(fn);
    staged.push(taskRoot);
    const invocation = await invokeStaged(
      fn,
      taskRoot,
      { ...env, FLOWPILOT_CONFIG_JSON: JSON.stringify(config) },
      scheduledEvent(fn),
    );
    expect(invocation.error).toMatchObject({
      name: 'ConfigError',
      message: expect.stringMatching(/FLOWPILOT_CONFIG_JSON changed after it was validated/),
    });
  }, 90_000);

  it.each(Object.keys(SPECS))(
    'runs %s from its asset against local stand-ins',
    async (name) => {
      const spec = SPECS[name];
      const fn = deployed.functions.find((f) => f.name === name);
      if (!spec || !fn) throw new Error(`${name}: not in the template`);
      await spec.arrange?.();
      xray.received.length = 0;
      const invocation = await invoke(fn, spec.event(fn));
      await spec.assess(invocation);
      // Traced as active tracing would show it: the handler, and its DynamoDB calls under it.
      await expect.poll(() => xray.received.length, { timeout: 2_000 }).toBeGreaterThan(1);
      const handler = xray.received.find((s) => s.name === '## index.handler');
      expect(handler, `${name}: no handler subsegment`).toMatchObject({
        annotations: { ColdStart: true, Service: 'flowpilot' },
      });
      expect(handler?.fault).toBeUndefined();
      expect(xray.received).toContainEqual(
        expect.objectContaining({
          name: 'dynamodb',
          namespace: 'aws',
          parent_id: handler?.id,
          trace_id: handler?.trace_id,
        }),
      );
    },
    90_000,
  );
});
