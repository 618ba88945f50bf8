import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { documentClient } from '../../functions/commons/clients/dynamodb.ts';
import { PollStateStore } from '../../functions/commons/pollers/store/poll-state.ts';
import { SeriesStore } from '../../functions/commons/pollers/store/series.ts';
import { UsageStore } from '../../functions/commons/pollers/store/usage.ts';
import {
  POLL_USAGE,
  type PollUsageDeps,
  pollUsage,
} from '../../functions/commons/pollers/usage.ts';
import { addDays, daysBetween } from '../../functions/commons/units.ts';
import { createTestTable, localDynamoClient } from '../helpers/dynamo.ts';
import { useSimulator } from '../helpers/simulator.ts';
import { countWrites, flakyBatchWrites } from './store-fixtures.ts';

const fixture = useSimulator();
// Roomy timeouts: the machine running the tests may be busy.
// 04:00 UTC is noon in Asia/Shanghai: "today" there is 2026-03-10.
const now = new Date('2026-03-10T04:00:00.000Z');
const today = '2026-03-10';
const yesterday = '2026-03-09';

const customers = (n: number) => Array.from({ length: n }, (_, i) => String(1000 + i));

async function setup(opts: { pageSize?: number; maxPagesInFlight?: number; flaky?: boolean } = {}) {
  const table = await createTestTable('usage');
  const doc = opts.flaky ? documentClient(localDynamoClient()) : table.doc;
  const flaky = opts.flaky ? flakyBatchWrites(doc, { throttles: 2, partial: 6 }) : undefined;
  const writes = countWrites(doc);
  const batch = { baseDelayMs: 1 };
  const usage = new UsageStore(doc, table.tableName, { batch });
  const series = new SeriesStore(doc, table.tableName, { batch });
  const pollState = new PollStateStore(doc, table.tableName);
  fixture.sim.setNow(now);
  const deps: PollUsageDeps = {
    upstream: fixture.client({ timeoutMs: 10_000 }),
    usage,
    series,
    pollState,
    polling: {
      backfillDays: 30,
      pageSize: opts.pageSize ?? 2000,
      maxPagesInFlight: opts.maxPagesInFlight ?? 4,
      safetyMarginMs: 1000,
    },
    timeZone: 'Asia/Shanghai',
    clock: () => now,
  };
  return { deps, doc, usage, series, pollState, writes, flaky };
}

type Capacity = { CapacityUnits?: number };

/** Capacity units DynamoDB reports (ReturnConsumedCapacity) for every request `doc` sends. */
function countCapacity(doc: DynamoDBDocumentClient): { read: number; write: number } {
  const total = { read: 0, write: 0 };
  doc.middlewareStack.add(
    (next, context) => async (args) => {
      (args.input as { ReturnConsumedCapacity?: string }).ReturnConsumedCapacity = 'TOTAL';
      const out = await next(args);
      const consumed = (out.output as { ConsumedCapacity?: Capacity | Capacity[] })
        .ConsumedCapacity;
      const units = [consumed ?? []].flat().reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0);
      if (/^(Get|BatchGet|Query|Scan)/.test(context.commandName ?? '')) total.read += units;
      else total.write += units;
      return out;
    },
    { step: 'initialize', name: 'countCapacity' },
  );
  return total;
}

/** Every stored usage row in the backfill window as `day#customer=upload/download`. */
async function storedRows(usage: UsageStore): Promise<string[]> {
  const days = daysBetween(addDays(today, -30), today);
  const perDay = await Promise.all(days.map((day) => usage.onDay(day)));
  return perDay
    .flat()
    .map((r) => `${r.day}#${r.customerId}=${r.uploadMb.toFixed()}/${r.downloadMb.toFixed()}`)
    .sort();
}

function upstreamRows(): string[] {
  return fixture.sim
    .listUsage()
    .map((r) => `${r.reportDate}#${r.customerId}=${r.uploadMb}/${r.downloadMb}`)
    .sort();
}

describe('Function: pollUsage', () => {
  it('reads 4,500 rows in exactly 3 flowReport calls and stores each once, exactly', {
    timeout: 90_000,
  }, async () => {
    // Prepare
    const { deps, usage, series } = await setup();
    fixture.sim.generateUsage(4500, { customerIds: customers(150) });
    fixture.sim.setConsumeSeries([
      { date: '2026-03-08', uploadMb: '6529.83', downloadMb: '21889.75' },
      { date: yesterday, uploadMb: '1', downloadMb: '2.5' },
    ]);
    fixture.sim.setNniSeries([{ date: yesterday, flowMb: '32335.47' }]);

    // Act
    const { outcome, health } = await pollUsage(deps);

    // Assess
    expect(fixture.sim.callCount('flowReport')).toBe(3);
    expect(fixture.sim.calls('flowReport').map((c) => c.query.pageSize)).toEqual([
      '2000',
      '2000',
      '2000',
    ]);
    expect(outcome).toMatchObject({
      ok: true,
      complete: true,
      window: { from: '2026-02-08', to: today },
      cursor: yesterday,
      rows: 4500,
      written: { usage: 4500, series: 3 },
    });
    expect(await storedRows(usage)).toEqual(upstreamRows());
    const burn = await series.dailyConsumption(7, yesterday);
    expect(burn.map((b) => [b.day, b.consumedMb.toFixed()])).toEqual([
      ['2026-03-08', '28419.58'],
      [yesterday, '3.5'],
    ]);
    expect(health).toMatchObject({ consecutiveFailures: 0, lastSuccessAt: now.toISOString() });
  });

  it('writes 0 items on a second poll over unchanged history, then only what changed', async () => {
    // Prepare
    const { deps, writes } = await setup({ pageSize: 500 });
    fixture.sim.generateUsage(1200, { customerIds: customers(40) });
    await pollUsage(deps);
    const afterFirst = { ...writes };

    // Act
    const second = await pollUsage(deps);
    const afterSecond = { ...writes };
    fixture.sim.addUsageRows([
      { reportDate: today, customerId: '1003', uploadMb: '1', downloadMb: '999999.5' },
    ]);
    const third = await pollUsage(deps);

    // Assess
    expect(second.outcome).toMatchObject({
      complete: true,
      window: { from: yesterday, to: today },
      rows: 80,
      unchanged: 80,
      written: { usage: 0, series: 0 },
      writeRequests: 0,
    });
    expect(afterSecond.batchWrites).toBe(afterFirst.batchWrites);
    expect(third.outcome).toMatchObject({ written: { usage: 1, series: 0 }, unchanged: 79 });
    // One item rewritten for the one changed row (its day's part), besides the poll state and
    // the day's first part write noting the newest day in USAGEFINAL.
    expect(writes.items).toBe(afterSecond.items);
    const stateWrites = afterSecond.singleWrites - afterFirst.singleWrites;
    expect(writes.singleWrites - afterSecond.singleWrites).toBe(stateWrites + 2);
  });

  it('writes an hour in which 30 % of 2,000 customers changed in under 200 write units', {
    timeout: 300_000,
  }, async () => {
    // Prepare: yesterday finished, today open with every customer, then 600 of them move.
    const { deps, doc, usage } = await setup();
    const ids = customers(2000);
    const row = (day: string, id: string, downloadMb: string) => ({
      reportDate: day,
      customerId: id,
      uploadMb: '12.5',
      downloadMb,
    });
    fixture.sim.addUsageRows(ids.map((id) => row(yesterday, id, '100')));
    await pollUsage(deps);
    fixture.sim.addUsageRows(ids.map((id) => row(today, id, '1')));
    await pollUsage(deps);
    fixture.sim.addUsageRows(ids.filter((_, i) => i % 10 < 3).map((id) => row(today, id, '2.75')));
    const capacity = countCapacity(doc);

    // Act
    const { outcome } = await pollUsage(deps);

    // Assess: each changed row cost 2 WRU before (its item plus the day index).
    expect(outcome).toMatchObject({ complete: true, written: { usage: 600 }, unchanged: 3400 });
    expect(capacity.write).toBeLessThan(200);
    expect(capacity.read).toBeLessThan(200);
    expect(await storedRows(usage)).toEqual(upstreamRows());
    const [moved] = await usage.byCustomer('1000', today, today);
    expect(moved?.downloadMb.toFixed()).toBe('2.75');
  });

  it('leaves the cursor and writes no duplicates when the upstream fails half-way', async () => {
    // Prepare
    const { deps, usage, pollState } = await setup({ pageSize: 500, maxPagesInFlight: 1 });
    fixture.sim.generateUsage(1200, { customerIds: customers(40) });
    const client = fixture.client({ timeoutMs: 10_000 });
    const failing: PollUsageDeps['upstream'] = {
      flowReport: async (query, opts) => {
        const page = await client.flowReport(query, opts);
        // From the second page on, the upstream answers 500 to every attempt.
        fixture.sim.addFault({ kind: 'status', status: 500, endpoint: 'flowReport' });
        return page;
      },
      getFlowConsumeDetail: (range, opts) => client.getFlowConsumeDetail(range, opts),
      getNNIFlowConsumeDetail: (range, opts) => client.getNNIFlowConsumeDetail(range, opts),
    };

    // Act
    const failed = await pollUsage({ ...deps, upstream: failing });
    const cursorAfterFailure = await pollState.cursor(POLL_USAGE);
    fixture.sim.clearFaults();
    const resumed = await pollUsage(deps);

    // Assess
    expect(failed.outcome).toMatchObject({
      ok: false,
      reason: 'transport',
      cursor: undefined,
      written: { usage: 500 },
    });
    expect(failed.health.consecutiveFailures).toBe(1);
    expect(cursorAfterFailure).toBeUndefined();
    expect(resumed.outcome).toMatchObject({
      complete: true,
      cursor: yesterday,
      written: { usage: 700 },
      unchanged: 500,
    });
    expect(await storedRows(usage)).toEqual(upstreamRows());
  });

  it('holds the cursor when rows appear between pages, and completes on the next run', async () => {
    // Prepare
    const { deps, usage, pollState } = await setup({ pageSize: 500, maxPagesInFlight: 1 });
    fixture.sim.generateUsage(1200, { customerIds: customers(40) });
    const client = fixture.client({ timeoutMs: 10_000 });
    let added = false;
    const growing: PollUsageDeps['upstream'] = {
      flowReport: async (query, opts) => {
        const page = await client.flowReport(query, opts);
        if (!added) {
          // A new customer's first row of today lands while the sweep is running.
          fixture.sim.addUsageRows([
            { reportDate: today, customerId: '5', uploadMb: '1', downloadMb: '2' },
          ]);
          added = true;
        }
        return page;
      },
      getFlowConsumeDetail: (range, opts) => client.getFlowConsumeDetail(range, opts),
      getNNIFlowConsumeDetail: (range, opts) => client.getNNIFlowConsumeDetail(range, opts),
    };

    // Act
    const first = await pollUsage({ ...deps, upstream: growing });
    const cursorAfterFirst = await pollState.cursor(POLL_USAGE);
    const second = await pollUsage(deps);

    // Assess
    expect(first.outcome).toMatchObject({ ok: true, complete: false, stopReason: 'total-changed' });
    expect(cursorAfterFirst).toBeUndefined();
    expect(second.outcome).toMatchObject({ complete: true, cursor: yesterday });
    expect(await storedRows(usage)).toEqual(upstreamRows());
  });

  it('writes a row listed twice in one page once, with its last figures', async () => {
    // Prepare: the upstream lists a customer's day twice, the second time grown.
    const { deps, usage } = await setup();
    fixture.sim.generateUsage(30, { customerIds: customers(3) });
    const client = fixture.client({ timeoutMs: 10_000 });
    const repeating: PollUsageDeps['upstream'] = {
      flowReport: async (query, opts) => {
        const page = await client.flowReport(query, opts);
        const [first] = page.rows;
        if (!first) return page;
        const grown = { ...first, downloadMb: first.downloadMb.plus('0.5') };
        return { total: page.total + 1, rows: [...page.rows, grown] };
      },
      getFlowConsumeDetail: (range, opts) => client.getFlowConsumeDetail(range, opts),
      getNNIFlowConsumeDetail: (range, opts) => client.getNNIFlowConsumeDetail(range, opts),
    };
    const [listed] = (await client.flowReport({ startDate: addDays(today, -30), endDate: today }))
      .rows;

    // Act
    const { outcome } = await pollUsage({ ...deps, upstream: repeating });

    // Assess
    expect(outcome).toMatchObject({ ok: true, complete: true, rows: 31, written: { usage: 30 } });
    const day = listed?.reportDate ?? today;
    const stored = await usage.byCustomer(listed?.customerId ?? '', day, day);
    expect(stored.map((r) => r.downloadMb.toFixed())).toEqual([
      listed?.downloadMb.plus('0.5').toFixed(),
    ]);
  });

  it('writes nothing when the upstream rejects the token', async () => {
    // Prepare
    const { deps, pollState, writes } = await setup();
    fixture.sim.generateUsage(100, { customerIds: customers(10) });
    fixture.sim.setConsumeSeries([{ date: yesterday, uploadMb: '1', downloadMb: '2' }]);
    fixture.sim.addFault({ kind: 'auth' });

    // Act
    const { outcome, health } = await pollUsage(deps);

    // Assess
    expect(outcome).toMatchObject({ ok: false, reason: 'auth', written: { usage: 0, series: 0 } });
    expect(writes.batchWrites).toBe(0);
    expect(await pollState.cursor(POLL_USAGE)).toBeUndefined();
    expect(health).toMatchObject({ consecutiveFailures: 1, lastError: { kind: 'auth' } });
  });

  it('retries throttled and unprocessed writes and still stores every row', async () => {
    // Prepare
    const { deps, usage, flaky } = await setup({ flaky: true });
    fixture.sim.generateUsage(600, { customerIds: customers(20) });

    // Act
    const { outcome } = await pollUsage(deps);

    // Assess
    expect(outcome).toMatchObject({ complete: true, written: { usage: 600 } });
    expect(outcome.writeRequests).toBe(flaky?.calls);
    expect(outcome.writeRequests).toBeGreaterThan(600 / 25 + 2);
    expect(await storedRows(usage)).toEqual(upstreamRows());
  });

  it('aborts pages still in flight at the deadline and stops as out of time, not failed', {
    timeout: 60_000,
  }, async () => {
    // Prepare
    const { deps, usage, pollState } = await setup({ pageSize: 500, maxPagesInFlight: 2 });
    fixture.sim.generateUsage(1200, { customerIds: customers(40) });
    const client = fixture.client({ timeoutMs: 10_000 });
    const stalling: PollUsageDeps['upstream'] = {
      flowReport: async (query, opts) => {
        const page = await client.flowReport(query, opts);
        // From the second page on the upstream never answers; alone, the client would wait
        // its timeout on every attempt, far past the invocation's deadline.
        fixture.sim.addFault({ kind: 'hang', endpoint: 'flowReport' });
        return page;
      },
      getFlowConsumeDetail: (range, opts) => client.getFlowConsumeDetail(range, opts),
      getNNIFlowConsumeDetail: (range, opts) => client.getNNIFlowConsumeDetail(range, opts),
    };
    // A real deadline: the invocation ends 4 s from now, the margin is the last second.
    const end = Date.now() + 4_000;
    const remainingMs = () => end - Date.now();

    // Act
    const stopped = await pollUsage({ ...deps, upstream: stalling, remainingMs });
    const cursorAfterStop = await pollState.cursor(POLL_USAGE);
    fixture.sim.clearFaults();
    const resumed = await pollUsage(deps);

    // Assess
    expect(stopped.outcome).toMatchObject({ ok: true, complete: false, stopReason: 'time' });
    expect(stopped.health.consecutiveFailures).toBe(0);
    expect(cursorAfterStop).toBeUndefined();
    expect(resumed.outcome).toMatchObject({ complete: true, cursor: yesterday });
    expect(resumed.outcome.written.usage + resumed.outcome.unchanged).toBe(1200);
    expect(await storedRows(usage)).toEqual(upstreamRows());
  });

  it('stops cleanly when time runs short and resumes with only the remainder', async () => {
    // Prepare
    const { deps, usage, pollState } = await setup({ pageSize: 500, maxPagesInFlight: 1 });
    fixture.sim.generateUsage(1200, { customerIds: customers(40) });
    let checks = 0;
    // Time for the start and page 2; page 3 finds the deadline too close.
    const remainingMs = () => (++checks <= 2 ? 60_000 : 500);

    // Act
    const stopped = await pollUsage({ ...deps, remainingMs });
    const cursorAfterStop = await pollState.cursor(POLL_USAGE);
    const resumed = await pollUsage(deps);

    // Assess
    expect(stopped.outcome).toMatchObject({
      ok: true,
      complete: false,
      stopReason: 'time',
      pages: 2,
      written: { usage: 1000 },
    });
    expect(cursorAfterStop).toBeUndefined();
    expect(resumed.outcome).toMatchObject({
      complete: true,
      cursor: yesterday,
      written: { usage: 200 },
    });
    expect(await storedRows(usage)).toEqual(upstreamRows());
  });
});
