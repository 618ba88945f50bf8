/**
 * poll-customers at scale, against DynamoDB Local and the simulator over HTTP: the backfill
 * over `days` days of stored usage, then a steady run an hour later, for `customers`
 * customers. Prints upstream calls (with the budget), DynamoDB requests by command
 * and wall time. The backfill's requests grow with customers × days; the figures for 400
 * days are projected from the measured per-step cost (every step costs the same).
 *
 *   npx tsx bench/customer-balances.ts [customers] [days]
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '../functions/commons/clients/dynamodb.ts';
import { parseConfig } from '../functions/commons/config/load.ts';
import { type PollCustomersDeps, pollCustomers } from '../functions/commons/customers/poll.ts';
import { CustomerBalanceStore } from '../functions/commons/customers/store/customer-balances.ts';
import { CustomerRecordStore } from '../functions/commons/customers/store/customer-records.ts';
import { PollStateStore } from '../functions/commons/pollers/store/poll-state.ts';
import { SeriesStore } from '../functions/commons/pollers/store/series.ts';
import { UsageStore } from '../functions/commons/pollers/store/usage.ts';
import { pollUsage } from '../functions/commons/pollers/usage.ts';
import { ensureTable } from '../functions/commons/store/table.ts';
import { addDays, dayInZone } from '../functions/commons/units.ts';
import { createDynamicTrafficClient } from '../functions/commons/upstream/client.ts';
import { startSimulator } from '../local/simulator/index.ts';
import { wallTime } from '../local/simulator/state.ts';
import { startDynamoDbLocal } from '../scripts/dynamodb-local.ts';

const CUSTOMERS = Number(process.argv[2] ?? 10_000);
const DAYS = Number(process.argv[3] ?? 8);
const NEW_CREDITS = 500;
const NEW_DEDUCTIONS = 50;
const config = parseConfig({});
const zone = config.upstream.timeZone;
// 04:00 UTC is noon upstream.
const T0 = new Date('2026-11-20T04:00:00.000Z');
const T1 = new Date(T0.getTime() + 3_600_000);

type Counts = Record<string, number>;

function counted(endpoint: string): { doc: DynamoDBDocumentClient; counts: Counts } {
  const doc = documentClient(
    new DynamoDBClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
  );
  const counts: Counts = {};
  doc.middlewareStack.add(
    (next, context) => async (args) => {
      const name = (context.commandName ?? 'unknown').replace(/Command$/, '');
      counts[name] = (counts[name] ?? 0) + 1;
      return next(args);
    },
    { step: 'initialize', name: 'benchCounts' },
  );
  return { doc, counts };
}

const delta = (after: Counts, before: Counts) =>
  Object.fromEntries(
    Object.entries(after)
      .map(([k, v]) => [k, v - (before[k] ?? 0)] as const)
      .filter(([, v]) => v > 0),
  );
const total = (c: Counts) => Object.values(c).reduce((a, b) => a + b, 0);
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main() {
  const ddb = await startDynamoDbLocal();
  const sim = await startSimulator({ options: { numberStyle: 'number' } });
  try {
    sim.setNow(T0);
    const today = dayInZone(T0, zone);
    const ids = Array.from({ length: CUSTOMERS }, (_, i) => String(100_000 + i));
    const first = addDays(today, 1 - DAYS);
    for (const id of ids) sim.addCustomer({ customerId: id, balanceMb: 0 });
    sim.setPool('primary', { rechargedMb: 1e12, consumedMb: 0, residualMb: 1e12 });
    // History: one top-up per customer on the first day, and a row per customer per day.
    sim.addRecords(
      ids.map((id, i) => ({
        customerId: id,
        account: `customer${id}@example.com`,
        flowMb: 102_400,
        createTime: `${first} ${String(8 + (i % 12)).padStart(2, '0')}:00:00`,
      })),
    );
    for (let d = 0; d < DAYS; d++) {
      const day = addDays(first, d);
      sim.addUsageRows(
        ids.map((id, i) => ({
          reportDate: day,
          customerId: id,
          uploadMb: `${(i % 50) + 1}.25`,
          downloadMb: `${(i % 700) + 100}.5`,
        })),
      );
    }

    const { doc, counts } = counted(ddb.endpoint);
    const table = `bench-${randomUUID().slice(0, 8)}`;
    await ensureTable(
      new DynamoDBClient({
        endpoint: ddb.endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
      table,
    );
    let now = T0;
    const clock = () => now;
    const upstream = createDynamicTrafficClient({
      baseUrl: sim.url,
      token: sim.token,
      timeoutMs: 60_000,
      retry: config.upstream.retry,
    });
    const usage = new UsageStore(doc, table);
    const pollState = new PollStateStore(doc, table);
    const usageDeps = {
      upstream,
      usage,
      series: new SeriesStore(doc, table),
      pollState,
      polling: { ...config.polling, backfillDays: DAYS },
      timeZone: zone,
      clock,
    };
    const deps: PollCustomersDeps = {
      upstream,
      usage,
      balances: new CustomerBalanceStore(doc, table),
      records: new CustomerRecordStore(doc, table),
      pollState,
      listeners: [],
      config: {
        ...config.customers,
        timeZone: zone,
        // The history this bench stored: a first run reads it all.
        retentionDays: DAYS,
        safetyMarginMs: config.polling.safetyMarginMs,
        toleranceMinutes: config.reconcile.toleranceMinutes,
      },
      clock,
    };

    // poll-usage fills the store first, as it does in production.
    sim.clearCalls();
    let t = performance.now();
    const u0 = await pollUsage(usageDeps);
    const usageBackfillMs = performance.now() - t;

    // ---- backfill ----
    sim.clearCalls();
    let before = { ...counts };
    t = performance.now();
    const backfill = (await pollCustomers(deps)).outcome;
    const backfillMs = performance.now() - t;
    const backfillReqs = delta(counts, before);
    const backfillCalls = sim.callCount('myRechargeFlowList');

    // ---- an hour later: today's rows grew, new top-ups and deductions ----
    now = T1;
    sim.setNow(T1);
    sim.addUsageRows(
      ids.map((id, i) => ({
        reportDate: today,
        customerId: id,
        uploadMb: `${(i % 50) + 2}.25`,
        downloadMb: `${(i % 700) + 160}.5`,
      })),
    );
    const at = wallTime(T1, zone);
    sim.addRecords([
      ...ids.slice(0, NEW_CREDITS).map((id) => ({
        customerId: id,
        account: `customer${id}@example.com`,
        flowMb: 10_240,
        createTime: at,
      })),
      ...ids.slice(NEW_CREDITS, NEW_CREDITS + NEW_DEDUCTIONS).map((id) => ({
        customerId: id,
        account: `customer${id}@example.com`,
        flowMb: -1024,
        createTime: at,
      })),
    ]);
    sim.clearCalls();
    t = performance.now();
    const u1 = await pollUsage(usageDeps);
    const usageSteadyMs = performance.now() - t;
    const flowReportCalls = sim.callCount('flowReport');
    sim.clearCalls();
    before = { ...counts };
    t = performance.now();
    const steady = (await pollCustomers(deps)).outcome;
    const steadyMs = performance.now() - t;
    const steadyReqs = delta(counts, before);
    const recordCalls = sim.callCount('myRechargeFlowList');

    const page = config.customers.recordsPageSize;
    const steps = Math.ceil(DAYS / config.customers.usageDaysPerStep);
    const steps400 = Math.ceil(400 / config.customers.usageDaysPerStep);
    console.log(
      `poll-customers bench: ${CUSTOMERS} customers, ${DAYS} days of stored usage (${CUSTOMERS * DAYS} rows)`,
    );
    console.log(
      `  poll-usage first   ${fmt(usageBackfillMs)}, flowReport pages ${u0.outcome.pages}, rows ${u0.outcome.rows}`,
    );
    console.log(
      `  backfill           ${fmt(backfillMs)}, myRechargeFlowList ${backfillCalls} calls (${backfill.records.read} records), ` +
        `usage ${backfill.usage.days} days / ${backfill.usage.rows} rows, customers ${backfill.customers.touched} touched / ${backfill.customers.written} written`,
    );
    console.log(
      `    DynamoDB         ${total(backfillReqs)} requests ${JSON.stringify(backfillReqs)} over ${steps} steps of ${config.customers.usageDaysPerStep} days`,
    );
    // Every usage step costs the same at a given number of customers: BatchGetItem over all
    // of them, one conditional PutItem each, and the day queries (pages of up to 1 MB) of its
    // days. The steady run's queries: one for the records' day, the rest are the two days' usage.
    const dayQueries = (steadyReqs.Query ?? 0) - 1;
    const perStep =
      Math.ceil(CUSTOMERS / 100) +
      CUSTOMERS +
      Math.max(1, Math.round(Math.max(dayQueries, 0) / 2)) * config.customers.usageDaysPerStep;
    console.log(
      `    400 days         ~${perStep * steps400 + CUSTOMERS + Math.ceil(CUSTOMERS / 100)} requests (projected: ${steps400} steps × ~${perStep} + the records), ` +
        `~${fmt((backfillMs / Math.max(1, backfill.usage.rows)) * CUSTOMERS * 400)} at the measured time per row`,
    );
    console.log(
      `  steady poll-usage  ${fmt(usageSteadyMs)}, flowReport ${flowReportCalls} calls for ${u1.outcome.rows} rows in the window (budget ceil(rows/2000) = ${Math.ceil(u1.outcome.rows / 2000)})`,
    );
    console.log(
      `  steady customers   ${fmt(steadyMs)}, myRechargeFlowList ${recordCalls} calls for ${steady.records.read} records in the window, ${steady.records.new} new ` +
        `(budget ceil(new/${page}) per type = ${Math.ceil(NEW_CREDITS / page)} + ${Math.ceil(NEW_DEDUCTIONS / page)})`,
    );
    console.log(
      `    work             usage ${steady.usage.days} days / ${steady.usage.rows} rows, customers ${steady.customers.touched} touched / ${steady.customers.written} written, changes ${steady.changes}`,
    );
    console.log(`    DynamoDB         ${total(steadyReqs)} requests ${JSON.stringify(steadyReqs)}`);
  } finally {
    await sim.close();
    await ddb.stop();
  }
}

await main();
