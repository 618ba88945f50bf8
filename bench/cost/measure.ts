/**
 * One size of the cost bench (bench/cost.ts spawns it once per size, so that every
 * module-scope client and cache starts cold, as in a fresh deployment): the real handlers,
 * DynamoDB Local and the simulator over HTTP, after the backfill a day's first hour and then a
 * steady hour at the default schedules, then per-event samples of the webhook. Prints one JSON line: what each
 * function consumed (DynamoDB request units from ReturnConsumedCapacity, wall time, log bytes
 * as the deployed log level writes them, requests by command), the EMF metrics it emitted
 * and the table's bytes per item kind.
 *
 * Every invocation is also listed (`runs`: wall time, DynamoDB requests, upstream calls, how
 * the run ended) for bench/scale.ts, the backfill's hand-over across invocations included.
 *
 *   npx tsx bench/cost/measure.ts <customers> [webhookSample]
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import Stripe from 'stripe';
import { startSimulator } from '../../local/simulator/index.ts';
import { wallTime } from '../../local/simulator/state.ts';
import { startDynamoDbLocal } from '../../scripts/dynamodb-local.ts';
import { ASSUMPTIONS } from './assumptions.ts';

const CUSTOMERS = Number(process.argv[2] ?? 1000);
const SAMPLE = Number(process.argv[3] ?? 40);
const SECRET = 'whsec_cost_bench_signing_secret_01';
const ZONE = 'Asia/Shanghai';

const ddb = await startDynamoDbLocal();
const sim = await startSimulator({ options: { numberStyle: 'number' } });
const table = `cost-${randomUUID().slice(0, 8)}`;

// The environment a deployed function sees (secrets as variables, as the local runtime does),
// set before any handler module builds its clients.
Object.assign(process.env, {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
  AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  TABLE_NAME: table,
  IPWEB_TOKEN: sim.token,
  STRIPE_WEBHOOK_SECRET: SECRET,
  POWERTOOLS_METRICS_DISABLED: 'false',
  POWERTOOLS_METRICS_NAMESPACE: 'FlowPilot',
  FLOWPILOT_CONFIG_JSON: JSON.stringify({
    upstream: { baseUrl: sim.url, allowInsecureHttp: true },
    polling: { backfillDays: ASSUMPTIONS.historyDays },
    payments: {
      providers: ['stripe'],
      stripe: { livemode: false },
      catalog: { gb10: { gb: 10, price: 1000, currency: 'usd' } },
      monthlyCapGbPerCustomer: 1_000_000,
    },
  }),
});
delete process.env.LOG_FORMAT;

const { DynamoDBClient, DescribeTableCommand } = await import('@aws-sdk/client-dynamodb');
const { ScanCommand } = await import('@aws-sdk/lib-dynamodb');
const { docClient, documentClient } = await import('../../functions/commons/clients/dynamodb.ts');
const { ensureTable } = await import('../../functions/commons/store/table.ts');
const { lambdaContext, scheduledEvent, snsEvent } = await import('../../local/runtime/events.ts');
const { FUNCTION_TIMEOUT_SECONDS } = await import('../../infra/limits.ts');
const { BalanceChangesHandoff } = await import('../../functions/commons/customers/handoff.ts');
const pollTotals = (await import('../../functions/poll-totals.ts')).handler;
const pollUsage = (await import('../../functions/poll-usage.ts')).handler;
const reconcile = (await import('../../functions/reconcile.ts')).handler;
const webhook = (await import('../../functions/payment-webhook.ts')).handler;
const customerActions = (await import('../../functions/customer-actions.ts')).handler;
const { createPollCustomersHandler } = await import('../../functions/poll-customers.ts');

type Fn =
  | 'poll-totals'
  | 'poll-usage'
  | 'poll-customers'
  | 'customer-actions'
  | 'reconcile'
  | 'webhook-fresh'
  | 'webhook-duplicate';

interface Usage {
  invocations: number;
  ms: number;
  rru: number;
  wru: number;
  /** WRU by the kind of item written (key prefixes, e.g. `CUSTOMER/BALANCE`). */
  wruByKind: Record<string, number>;
  logBytes: number;
  requests: Record<string, number>;
}
const blank = (): Usage => ({
  invocations: 0,
  ms: 0,
  rru: 0,
  wru: 0,
  wruByKind: {},
  logBytes: 0,
  requests: {},
});
/** What each function consumed in the hour being measured (a day's first hour, a steady one). */
let usage = new Map<Fn, Usage>();
const current = new AsyncLocalStorage<Fn>();
/** Only what the measured hour and samples consume is kept; the warm-up is not. */
let measuring = false;
const metrics = new Set<string>();
/** DynamoDB requests per function since the start, warm-up included (for `runs`). */
const requestsOf = new Map<Fn, number>();
interface Run {
  fn: Fn;
  /** `day-hour`: the first hour of a day; `hour`: a steady one. */
  phase: 'warm-up' | 'day-hour' | 'hour';
  /** Milliseconds since its phase (warm-up, the measured hour) began. */
  startMs: number;
  ms: number;
  requests: number;
  upstreamCalls: number;
  /** complete / time / usage-not-ready … as the outcome says; absent for other functions. */
  ended?: string;
}
const runs: Run[] = [];
let hourStart = 0;
let phase: Run['phase'] = 'warm-up';

const READS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);
type Capacity = { CapacityUnits?: number } | undefined;

type Keyed = Record<string, unknown>;
/** An item's kind: its key prefixes, e.g. `CUSTOMER/BALANCE`, `POLL/CURSOR`, `USAGE/DAY`. */
const kindOf = (k: Keyed) =>
  `${String(k.pk ?? '?').split('#')[0]}/${String(k.sk ?? '?').split('#')[0]}`;
/** The items a write request writes, with a weight each (its size in 1 KB units). */
function written(command: string, input: Keyed): { kind: string; weight: number }[] {
  const one = (k: Keyed | undefined, item?: Keyed) =>
    k
      ? [
          {
            kind: kindOf(k),
            weight: Math.ceil(Buffer.byteLength(JSON.stringify(item ?? k)) / 1024),
          },
        ]
      : [];
  if (command === 'PutItem') return one(input.Item as Keyed, input.Item as Keyed);
  if (command === 'UpdateItem' || command === 'DeleteItem') return one(input.Key as Keyed);
  if (command === 'BatchWriteItem') {
    return Object.values(input.RequestItems as Record<string, Keyed[]>)
      .flat()
      .flatMap((r) => {
        const put = r.PutRequest as { Item: Keyed } | undefined;
        const del = r.DeleteRequest as { Key: Keyed } | undefined;
        return put ? one(put.Item, put.Item) : one(del?.Key);
      });
  }
  if (command === 'TransactWriteItems') {
    return (input.TransactItems as Record<string, { Item?: Keyed; Key?: Keyed }>[]).flatMap((t) =>
      Object.values(t).flatMap((op) => one(op.Item ?? op.Key, op.Item)),
    );
  }
  return [];
}
/** A request's units shared among the items it wrote by their weights. */
function addByKind(u: Usage, command: string, input: Keyed, units: number): void {
  const items = written(command, input);
  const total = items.reduce((a, i) => a + i.weight, 0) || 1;
  for (const i of items) {
    u.wruByKind[i.kind] = (u.wruByKind[i.kind] ?? 0) + (units * i.weight) / total;
  }
}

docClient.middlewareStack.add(
  (next, context) => async (args) => {
    const fn = current.getStore();
    const command = (context.commandName ?? '').replace(/Command$/, '');
    const input = args.input as Record<string, unknown>;
    input.ReturnConsumedCapacity = 'TOTAL';
    const u = fn && measuring ? usage.get(fn) : undefined;
    if (u) u.requests[command] = (u.requests[command] ?? 0) + 1;
    if (fn) requestsOf.set(fn, (requestsOf.get(fn) ?? 0) + 1);
    try {
      const out = await next(args);
      const consumed = (out.output as { ConsumedCapacity?: Capacity | Capacity[] })
        .ConsumedCapacity;
      const units = [consumed].flat().reduce((sum, c) => sum + (c?.CapacityUnits ?? 0), 0);
      if (u) {
        if (READS.has(command)) u.rru += units;
        else {
          u.wru += units;
          addByKind(u, command, input, units);
        }
      }
      return out;
    } catch (err) {
      // A refused conditional write is billed as a write of the item (1 unit under 1 KB).
      if (u && !READS.has(command)) {
        u.wru += 1;
        addByKind(u, command, input, 1);
      }
      throw err;
    }
  },
  { step: 'initialize', name: 'costMeter' },
);

// Every byte a function writes to stdout/stderr is a CloudWatch Logs byte in Lambda.
const write = process.stdout.write.bind(process.stdout);
const sink = (chunk: unknown): boolean => {
  const fn = current.getStore();
  const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString();
  if (fn && measuring) {
    const u = usage.get(fn);
    if (u) u.logBytes += Buffer.byteLength(text);
    for (const line of text.split('\n')) {
      if (!line.includes('"_aws"')) continue;
      try {
        const doc = JSON.parse(line) as {
          _aws: { CloudWatchMetrics: { Dimensions: string[][]; Metrics: { Name: string }[] }[] };
          [k: string]: unknown;
        };
        for (const d of doc._aws.CloudWatchMetrics) {
          const dims = (d.Dimensions[0] ?? []).map((k) => `${k}=${String(doc[k])}`).join(',');
          for (const m of d.Metrics) metrics.add(`${m.Name}{${dims}}`);
        }
      } catch {
        // Not an EMF document after all.
      }
    }
  }
  return true;
};
process.stdout.write = sink as typeof process.stdout.write;
// A handler past its deadline (middy's timeout fires from a timer): name the function.
process.on('uncaughtException', (err) => {
  write(`${current.getStore() ?? 'no function'} failed: ${String(err)}\n`);
  process.exit(1);
});
process.stderr.write = sink as typeof process.stderr.write;

/** How a poll's run ended, from the summary its handler returns. */
function ended(result: unknown): string | undefined {
  const o = (result as { outcome?: Record<string, unknown> } | undefined)?.outcome;
  if (!o) return undefined;
  if (o.complete === true) return 'complete';
  return String(o.stopReason ?? o.reason ?? 'incomplete');
}

async function run<T>(fn: Fn, call: () => Promise<T>): Promise<T> {
  if (measuring && !usage.has(fn)) usage.set(fn, blank());
  const t = performance.now();
  const requestsBefore = requestsOf.get(fn) ?? 0;
  const callsBefore = fn.startsWith('webhook') ? 0 : sim.callCount();
  let result: T | undefined;
  try {
    result = await current.run(fn, call);
    return result;
  } finally {
    const ms = performance.now() - t;
    const u = measuring ? usage.get(fn) : undefined;
    if (u) {
      u.invocations += 1;
      u.ms += ms;
    }
    if (!fn.startsWith('webhook')) {
      const end = ended(result);
      runs.push({
        fn,
        phase,
        startMs: Math.round(t - hourStart),
        ms: Math.round(ms),
        requests: (requestsOf.get(fn) ?? 0) - requestsBefore,
        // customer-actions runs inside poll-customers: its calls are counted there too.
        upstreamCalls: sim.callCount() - callsBefore,
        ...(end && { ended: end }),
      });
    }
  }
}

// BENCH_DEADLINE_FACTOR > 1 lengthens each invocation's deadline on a loaded machine, where a
// handler would otherwise hit it; the deployed timeouts are unchanged.
const DEADLINE_FACTOR = Number(process.env.BENCH_DEADLINE_FACTOR ?? 1);
const ctx = (name: keyof typeof FUNCTION_TIMEOUT_SECONDS) =>
  lambdaContext(name, FUNCTION_TIMEOUT_SECONDS[name] * 1000 * DEADLINE_FACTOR);
const scheduled =
  (name: 'poll-totals' | 'poll-usage' | 'poll-customers' | 'reconcile') => (): Promise<unknown> =>
    name === 'poll-totals'
      ? pollTotals(scheduledEvent(name), ctx(name))
      : name === 'poll-usage'
        ? pollUsage(scheduledEvent(name), ctx(name))
        : name === 'poll-customers'
          ? pollCustomers(scheduledEvent(name), ctx(name))
          : reconcile(scheduledEvent(name), ctx(name));

// In AWS the changes go through an SNS topic to customer-actions: the same message here.
let handoffs = 0;
const pollCustomers = createPollCustomersHandler(
  () =>
    new BalanceChangesHandoff(async (body) => {
      handoffs += 1;
      await run('customer-actions', () =>
        customerActions(snsEvent('balance-changes', body), ctx('customer-actions')),
      );
    }),
);

function delivery(sessionId: string, customerId: string) {
  const payload = JSON.stringify({
    id: `evt_${randomUUID()}`,
    object: 'event',
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    type: 'checkout.session.completed',
    data: {
      object: {
        id: sessionId,
        object: 'checkout.session',
        mode: 'payment',
        payment_status: 'paid',
        amount_subtotal: 1000,
        amount_total: 1000,
        currency: 'usd',
        client_reference_id: customerId,
        metadata: { package: 'gb10' },
        payment_intent: `pi_${sessionId.slice(3)}`,
      },
    },
  });
  const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: SECRET });
  const now = new Date();
  return {
    version: '2.0',
    routeKey: 'POST /webhooks/{provider}',
    rawPath: '/webhooks/stripe',
    rawQueryString: '',
    headers: { 'content-type': 'application/json', 'stripe-signature': signature },
    pathParameters: { provider: 'stripe' },
    requestContext: {
      accountId: '000000000000',
      apiId: 'bench',
      domainName: 'bench',
      domainPrefix: 'bench',
      http: {
        method: 'POST',
        path: '/webhooks/stripe',
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'Stripe/1.0',
      },
      requestId: randomUUID(),
      routeKey: 'POST /webhooks/{provider}',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    body: payload,
    isBase64Encoded: false,
  };
}

const ids = Array.from({ length: CUSTOMERS }, (_, i) => String(100_000 + i));
const today = () => new Intl.DateTimeFormat('en-CA', { timeZone: ZONE }).format(new Date());
const addDays = (day: string, n: number) =>
  new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

try {
  const client = new DynamoDBClient({ endpoint: ddb.endpoint });
  await ensureTable(client, table);

  // An agent with history: each customer bought 100 GB a month ago and used some every day.
  sim.setPool('primary', { rechargedMb: 1e12, consumedMb: 0, residualMb: 1e12 });
  for (const id of ids) sim.addCustomer({ customerId: id, balanceMb: 0 });
  const first = addDays(today(), 1 - ASSUMPTIONS.historyDays);
  sim.addRecords(
    ids.map((id) => ({
      customerId: id,
      account: `customer${id}@example.com`,
      flowMb: 102_400,
      createTime: `${first} 08:00:00`,
    })),
  );
  for (let d = 0; d < ASSUMPTIONS.historyDays; d++) {
    sim.addUsageRows(
      ids.map((id, i) => ({
        reportDate: addDays(first, d),
        customerId: id,
        uploadMb: `${(i % 50) + 1}.25`,
        downloadMb: `${(i % 700) + 100}.5`,
      })),
    );
  }

  // Warm-up, not counted: the first runs backfill the history.
  hourStart = performance.now();
  await run('poll-totals', scheduled('poll-totals'));
  for (let i = 0; i < 20; i++) {
    const r = (await run('poll-usage', scheduled('poll-usage'))) as {
      outcome: { ok: boolean; complete?: boolean };
    };
    if (r.outcome.ok && r.outcome.complete !== false) break;
  }
  for (let i = 0; i < 20; i++) {
    const r = (await run('poll-customers', scheduled('poll-customers'))) as {
      outcome: { ok: boolean; complete?: boolean };
    };
    if (r.outcome.ok && r.outcome.complete !== false) break;
  }

  // ---- the measured hours ----
  // A share of the customers used traffic in an hour: their row for today grew.
  const active = ids.filter((_, i) => i % Math.round(1 / ASSUMPTIONS.activeShare) === 0);
  const topupsThisHour = Math.round((CUSTOMERS * ASSUMPTIONS.topupsPerCustomer) / 720);
  const hour = async (n: number) => {
    measuring = true;
    usage = new Map();
    handoffs = 0;
    sim.addUsageRows(
      active.map((id, i) => ({
        reportDate: today(),
        customerId: id,
        uploadMb: `${(i % 50) + 3 * n}.75`,
        downloadMb: `${(i % 700) + 260 * n}.5`,
      })),
    );
    // The hour's share of the month's top-ups land upstream (their webhooks are sampled below).
    sim.addRecords(
      ids.slice(topupsThisHour * n, topupsThisHour * (n + 1)).map((id) => ({
        customerId: id,
        account: `customer${id}@example.com`,
        flowMb: 10_240,
        createTime: wallTime(new Date(), ZONE),
      })),
    );
    hourStart = performance.now();
    for (let minute = 0; minute < 60; minute += 5) {
      await run('poll-totals', scheduled('poll-totals'));
      if (minute === 0) await run('poll-usage', scheduled('poll-usage'));
      if (minute % 15 === 0) await run('poll-customers', scheduled('poll-customers'));
    }
    return { ms: Math.round(performance.now() - hourStart), handoffs, functions: usage };
  };
  // The first hour after the backfill stands for a day's first hour: the records window and
  // the final days move, so every balance with usage in the window is written once (in a
  // deployment once a day, when the upstream's day turns).
  phase = 'day-hour';
  const dayHour = await hour(1);
  phase = 'hour';
  const steady = await hour(2);
  await run('reconcile', scheduled('reconcile'));

  // ---- webhook samples: fresh orders, then a redelivery of each ----
  const sessions = Array.from({ length: SAMPLE }, (_, i) => ({
    session: `cs_bench_${randomUUID().replaceAll('-', '')}`,
    customer: ids[i % ids.length] ?? '',
  }));
  const answers: number[] = [];
  for (const s of sessions) {
    const r = await run('webhook-fresh', () =>
      webhook(delivery(s.session, s.customer) as never, ctx('payment-webhook')),
    );
    answers.push((r as { statusCode: number }).statusCode);
  }
  for (const s of sessions) {
    const r = await run('webhook-duplicate', () =>
      webhook(delivery(s.session, s.customer) as never, ctx('payment-webhook')),
    );
    answers.push((r as { statusCode: number }).statusCode);
  }
  measuring = false;

  // ---- storage: bytes per item kind (the key prefix), from a scan ----
  const bytes: Record<string, { items: number; bytes: number }> = {};
  let start: Record<string, unknown> | undefined;
  const scanner = documentClient(client);
  do {
    const page = await scanner.send(
      new ScanCommand({ TableName: table, ExclusiveStartKey: start }),
    );
    for (const item of page.Items ?? []) {
      const kind = String(item.pk ?? '').split('#')[0] ?? '?';
      const b = bytes[kind] ?? { items: 0, bytes: 0 };
      bytes[kind] = b;
      b.items += 1;
      // Attribute names and values, about as DynamoDB sizes an item, plus 100 bytes of overhead.
      b.bytes += Buffer.byteLength(JSON.stringify(item)) + 100;
    }
    start = page.LastEvaluatedKey;
  } while (start);
  const described = await client.send(new DescribeTableCommand({ TableName: table }));

  write(
    `${JSON.stringify({
      customers: CUSTOMERS,
      activeThisHour: active.length,
      topupsThisHour,
      handoffs: steady.handoffs,
      hourWallMs: steady.ms,
      firstHourOfDay: {
        handoffs: dayHour.handoffs,
        hourWallMs: dayHour.ms,
        functions: Object.fromEntries(dayHour.functions),
      },
      runs,
      webhookAnswers: [...new Set(answers)],
      functions: Object.fromEntries(usage),
      metrics: [...metrics].sort(),
      storage: bytes,
      tableSizeBytes: described.Table?.TableSizeBytes ?? null,
    })}\n`,
  );
} finally {
  await sim.close();
  await ddb.stop();
}
process.exit(0);
