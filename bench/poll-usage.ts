/**
 * poll-usage over 20,000 usage rows, against DynamoDB Local and the simulator over HTTP.
 * Prints upstream calls, DynamoDB requests and wall time, as a ratio to a raw baseline in
 * the same run: the same pages fetched and the same items written with bare BatchWriteItem.
 *
 *   npx tsx bench/poll-usage.ts [rows] [rounds]
 */

import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { documentClient } from '../functions/commons/clients/dynamodb.ts';
import { parseConfig } from '../functions/commons/config/load.ts';
import { PollStateStore, pollKeys } from '../functions/commons/pollers/store/poll-state.ts';
import { SeriesStore, seriesKeys } from '../functions/commons/pollers/store/series.ts';
import { UsageStore, usageKeys } from '../functions/commons/pollers/store/usage.ts';
import { POLL_USAGE, pollUsage } from '../functions/commons/pollers/usage.ts';
import { runLimited } from '../functions/commons/store/batch.ts';
import { ensureTable } from '../functions/commons/store/table.ts';
import { dayExpiresAt, decimalText } from '../functions/commons/store/values.ts';
import { addDays, dayInZone } from '../functions/commons/units.ts';
import { createDynamicTrafficClient } from '../functions/commons/upstream/client.ts';
import type { DynamicTrafficApi, UsageRow } from '../functions/commons/upstream/types.ts';
import { startSimulator } from '../local/simulator/index.ts';
import { startDynamoDbLocal } from '../scripts/dynamodb-local.ts';
import { exitOnMissedGoals, goal } from './goal.ts';

const ROWS = Number(process.argv[2] ?? 20_000);
const ROUNDS = Number(process.argv[3] ?? 3);
const config = parseConfig({});
const { pageSize, maxPagesInFlight, backfillDays } = config.polling;
const zone = config.upstream.timeZone;

interface Counts {
  [command: string]: number;
}

const localClient = (endpoint: string) =>
  new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });

function counted(endpoint: string): { doc: DynamoDBDocumentClient; counts: Counts } {
  const doc = documentClient(localClient(endpoint));
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

/** The raw baseline: the same pages and series, every item written with bare BatchWriteItem. */
async function baseline(upstream: DynamicTrafficApi, doc: DynamoDBDocumentClient, table: string) {
  const now = new Date();
  const today = dayInZone(now, zone);
  const range = { startDate: addDays(today, -backfillDays), endDate: today };
  let calls = 0;
  const write = async (items: Record<string, unknown>[]) => {
    const chunks: Record<string, unknown>[][] = [];
    for (let i = 0; i < items.length; i += 25) chunks.push(items.slice(i, i + 25));
    await runLimited(chunks, 4, async (chunk) => {
      await doc.send(
        new BatchWriteCommand({
          RequestItems: { [table]: chunk.map((Item) => ({ PutRequest: { Item } })) },
        }),
      );
    });
  };
  const usageItem = (r: UsageRow) => ({
    ...usageKeys.usage(r.customerId, r.reportDate),
    customerId: r.customerId,
    day: r.reportDate,
    userName: r.userName,
    uploadMb: decimalText(r.uploadMb),
    downloadMb: decimalText(r.downloadMb),
    updatedAt: now.toISOString(),
    expiresAt: dayExpiresAt(r.reportDate, 400),
  });
  const page = async (pageNum: number) => {
    calls++;
    const p = await upstream.flowReport({ ...range, pageNum, pageSize });
    await write(p.rows.map(usageItem));
    return p;
  };
  const series = async () => {
    calls += 2;
    const [consume, nni] = await Promise.all([
      upstream.getFlowConsumeDetail(range),
      upstream.getNNIFlowConsumeDetail(range),
    ]);
    await write([
      ...consume.map((d) => ({
        ...seriesKeys.series('consume', d.date),
        day: d.date,
        uploadMb: decimalText(d.uploadMb),
        downloadMb: decimalText(d.downloadMb),
      })),
      ...nni.map((d) => ({
        ...seriesKeys.series('nni', d.date),
        day: d.date,
        flowMb: decimalText(d.flowMb),
      })),
    ]);
  };
  const pages = async () => {
    calls++;
    const first = await upstream.flowReport({ ...range, pageNum: 1, pageSize });
    const rest = Array.from({ length: Math.ceil(first.total / pageSize) - 1 }, (_, i) => i + 2);
    await Promise.all([
      write(first.rows.map(usageItem)),
      runLimited(rest, maxPagesInFlight, async (n) => {
        await page(n);
      }),
    ]);
  };
  await Promise.all([pages(), series()]);
  return { calls };
}

function stores(doc: DynamoDBDocumentClient, table: string) {
  return {
    usage: new UsageStore(doc, table),
    series: new SeriesStore(doc, table),
    pollState: new PollStateStore(doc, table),
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

async function main() {
  const ddb = await startDynamoDbLocal();
  const sim = await startSimulator({ options: { numberStyle: 'number' } });
  try {
    const customers = Array.from({ length: Math.ceil(ROWS / 30) }, (_, i) => String(10_000 + i));
    sim.generateUsage(ROWS, { customerIds: customers });
    const today = sim.listUsage()[0]?.reportDate ?? '';
    sim.setConsumeSeries(
      Array.from({ length: 31 }, (_, i) => ({
        date: addDays(today, -i),
        uploadMb: `${1000 + i}.5`,
        downloadMb: `${20000 + i}.25`,
      })),
    );
    sim.setNniSeries(
      Array.from({ length: 31 }, (_, i) => ({ date: addDays(today, -i), flowMb: i })),
    );
    const upstream = createDynamicTrafficClient({
      baseUrl: sim.url,
      token: sim.token,
      timeoutMs: 30_000,
      retry: config.upstream.retry,
    });

    const admin = localClient(ddb.endpoint);
    const fresh = async () => {
      const table = `bench-${randomUUID().slice(0, 8)}`;
      await ensureTable(admin, table);
      return { table, ...counted(ddb.endpoint) };
    };

    // Warm-up (JIT, DynamoDB Local, sockets): one unmeasured baseline pass.
    {
      const t = await fresh();
      await baseline(upstream, t.doc, t.table);
    }

    const raw: number[] = [];
    const polled: number[] = [];
    let rawCalls = 0;
    let rawCounts: Counts = {};
    let poll: Awaited<ReturnType<typeof pollUsage>>['outcome'] | undefined;
    let pollCounts: Counts = {};
    let live: Counts = {};
    let pollTable = '';
    let pollDoc: DynamoDBDocumentClient | undefined;
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate the order so neither side always runs on a warmer engine.
      const order = round % 2 === 0 ? ['raw', 'poll'] : ['poll', 'raw'];
      for (const which of order) {
        const t = await fresh();
        sim.clearCalls();
        const started = performance.now();
        if (which === 'raw') {
          rawCalls = (await baseline(upstream, t.doc, t.table)).calls;
          raw.push(performance.now() - started);
          rawCounts = { ...t.counts };
        } else {
          const { outcome } = await pollUsage({
            upstream,
            ...stores(t.doc, t.table),
            polling: config.polling,
            timeZone: zone,
          });
          polled.push(performance.now() - started);
          poll = outcome;
          pollCounts = { ...t.counts };
          live = t.counts;
          pollTable = t.table;
          pollDoc = t.doc;
        }
      }
    }
    if (!poll || !pollDoc) throw new Error('no poll ran');

    // Steady state: the next run over [yesterday, today], nothing changed.
    const steadyCounts = { ...live };
    let started = performance.now();
    const steady = (
      await pollUsage({
        upstream,
        ...stores(pollDoc, pollTable),
        polling: config.polling,
        timeZone: zone,
      })
    ).outcome;
    const steadyMs = performance.now() - started;
    const steadyDelta = Object.fromEntries(
      Object.entries(live).map(([k, v]) => [k, v - (steadyCounts[k] ?? 0)]),
    );

    // The whole 31-day window again, unchanged (cursor removed): the cost of the comparison.
    await pollDoc.send(
      new DeleteCommand({ TableName: pollTable, Key: pollKeys.poll(POLL_USAGE, 'CURSOR') }),
    );
    const beforeRereadCounts = { ...live };
    started = performance.now();
    const reread = (
      await pollUsage({
        upstream,
        ...stores(pollDoc, pollTable),
        polling: config.polling,
        timeZone: zone,
      })
    ).outcome;
    const rereadMs = performance.now() - started;
    const rereadDelta = Object.fromEntries(
      Object.entries(live).map(([k, v]) => [k, v - (beforeRereadCounts[k] ?? 0)]),
    );

    // Where the time goes: the pages alone, and the stored-day reads alone (31 gsi1 queries).
    const days = Array.from({ length: backfillDays + 1 }, (_, i) => addDays(reread.window.to, -i));
    started = performance.now();
    const first = await upstream.flowReport({
      startDate: reread.window.from,
      endDate: reread.window.to,
      pageNum: 1,
      pageSize,
    });
    await runLimited(
      Array.from({ length: Math.ceil(first.total / pageSize) - 1 }, (_, i) => i + 2),
      maxPagesInFlight,
      async (pageNum) => {
        await upstream.flowReport({
          startDate: reread.window.from,
          endDate: reread.window.to,
          pageNum,
          pageSize,
        });
      },
    );
    const fetchMs = performance.now() - started;
    const usageStore = new UsageStore(pollDoc, pollTable);
    started = performance.now();
    await runLimited(days, 4, async (day) => {
      await usageStore.fingerprintsOnDay(day);
    });
    const dayReadsMs = performance.now() - started;

    const rawMs = median(raw);
    const pollMs = median(polled);
    const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    console.log(
      `poll-usage bench: ${ROWS} rows, pageSize ${pageSize}, ${maxPagesInFlight} pages in flight, ${ROUNDS} rounds (median)`,
    );
    console.log(
      `  upstream calls     poll ${poll.upstreamCalls} (flowReport ${poll.pages}, ${Math.ceil(ROWS / pageSize)} pages + 2 series) | raw ${rawCalls}${goal(poll.upstreamCalls, { name: 'poll-usage upstream calls', op: '<=', limit: Math.ceil(ROWS / pageSize) + 2 })}`,
    );
    console.log(
      `  rows read/written  ${poll.rows} / usage ${poll.written.usage}, series ${poll.written.series}`,
    );
    console.log(
      `  DynamoDB requests  poll ${JSON.stringify(pollCounts)} | raw ${JSON.stringify(rawCounts)}`,
    );
    console.log(
      `  wall time          poll ${fmt(pollMs)} | raw ${fmt(rawMs)} | ratio ${(pollMs / rawMs).toFixed(3)}x${goal(Number((pollMs / rawMs).toFixed(3)), { name: 'poll-usage wall-time ratio to raw', op: '<=', limit: 1.15, unit: 'x' })}`,
    );
    console.log(
      `    all runs         poll ${polled.map(fmt).join(', ')} | raw ${raw.map(fmt).join(', ')}`,
    );
    console.log(
      `  breakdown          pages alone ${fmt(fetchMs)}, stored-day reads alone ${fmt(dayReadsMs)} (${days.length} gsi1 queries)`,
    );
    console.log(
      `  steady next run    ${fmt(steadyMs)}, window ${steady.window.from}..${steady.window.to}, calls ${steady.upstreamCalls}, written ${steady.written.usage + steady.written.series}, requests ${JSON.stringify(steadyDelta)}`,
    );
    console.log(
      `  31-day re-read     ${fmt(rereadMs)}, unchanged ${reread.unchanged}, written ${reread.written.usage + reread.written.series}, requests ${JSON.stringify(rereadDelta)}`,
    );
  } finally {
    await sim.close();
    await ddb.stop();
  }
}

await main();
exitOnMissedGoals();
