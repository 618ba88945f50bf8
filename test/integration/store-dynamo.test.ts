import { describe, expect, it } from 'vitest';
import { documentClient } from '../../functions/commons/clients/dynamodb.ts';
import { PollStateStore } from '../../functions/commons/pollers/store/poll-state.ts';
import { SeriesStore } from '../../functions/commons/pollers/store/series.ts';
import { SnapshotStore } from '../../functions/commons/pollers/store/snapshots.ts';
import { UsageStore } from '../../functions/commons/pollers/store/usage.ts';
import { StoreError } from '../../functions/commons/store/errors.ts';
import { Decimal } from '../../functions/commons/units.ts';
import { createTestTable, localDynamoClient } from '../helpers/dynamo.ts';
import { countWrites, flakyBatchWrites } from './store-fixtures.ts';

const d = (v: string) => new Decimal(v);
const at = new Date('2026-03-10T04:00:00.000Z');

function usageRows(count: number, day = '2026-03-09') {
  return Array.from({ length: count }, (_, i) => ({
    customerId: String(1000 + i),
    day,
    userName: `user${i}`,
    uploadMb: d(`${i}.25`),
    downloadMb: d('57500.89'),
  }));
}

describe('Class: SnapshotStore', () => {
  it('keeps exact decimals and answers latest and range per pool', async () => {
    // Prepare
    const { doc, tableName } = await createTestTable('snap');
    const store = new SnapshotStore(doc, tableName);
    const snap = (pool: 'primary' | 'secondary', iso: string, residual: string) => ({
      pool,
      at: iso,
      pollId: `poll-${iso}`,
      rechargedMb: d('5242880'),
      consumedMb: d('0.10'),
      residualMb: d(residual),
    });
    await store.put([
      snap('primary', '2026-03-10T01:00:00.000Z', '5242879.90'),
      snap('secondary', '2026-03-10T01:00:00.000Z', '12.5'),
    ]);
    await store.put([snap('primary', '2026-03-10T02:00:00.000Z', '0.30000000000000000001')]);

    // Act
    const latest = await store.latestAll();
    const range = await store.range(
      'primary',
      new Date('2026-03-10T00:00:00Z'),
      new Date('2026-03-10T01:30:00Z'),
    );

    // Assess
    expect(latest.primary?.residualMb.toFixed()).toBe('0.30000000000000000001');
    expect(latest.primary?.pollId).toBe('poll-2026-03-10T02:00:00.000Z');
    expect(latest.secondary?.residualMb.toFixed()).toBe('12.5');
    expect(range.map((s) => s.residualMb.toFixed())).toEqual(['5242879.9']);
  });
});

describe('Class: UsageStore', () => {
  it('reads rows by customer and range and everyone on a day', async () => {
    // Prepare
    const { doc, tableName } = await createTestTable('usage');
    const store = new UsageStore(doc, tableName);
    await store.put([...usageRows(3, '2026-03-08'), ...usageRows(2, '2026-03-09')], at);

    // Act
    const customer = await store.byCustomer('1001', '2026-03-01', '2026-03-31');
    const day = await store.onDay('2026-03-08');
    const fingerprints = await store.fingerprintsOnDay('2026-03-09');

    // Assess
    expect(customer.map((r) => [r.day, r.uploadMb.toFixed()])).toEqual([
      ['2026-03-08', '1.25'],
      ['2026-03-09', '1.25'],
    ]);
    expect(day.map((r) => r.customerId).sort()).toEqual(['1000', '1001', '1002']);
    expect([...fingerprints.keys()].sort()).toEqual(['1000', '1001']);
  });

  it('writes 60 rows in 3 BatchWriteItem requests of at most 25', async () => {
    // Prepare
    const { doc, tableName } = await createTestTable('usage');
    const counter = countWrites(doc);
    const store = new UsageStore(doc, tableName);

    // Act
    const stats = await store.put(usageRows(60), at);

    // Assess
    expect(stats).toEqual({ requests: 3, items: 60, retries: 0 });
    expect(counter.batchWrites).toBe(3);
    expect(await store.onDay('2026-03-09')).toHaveLength(60);
  });
});

describe('Function: batchWriteAll (through the stores)', () => {
  it('retries throttled calls and unprocessed items until every item is written', async () => {
    // Prepare
    const { tableName } = await createTestTable('flaky');
    const doc = documentClient(localDynamoClient());
    const flaky = flakyBatchWrites(doc, { throttles: 2, partial: 3 });
    const store = new UsageStore(doc, tableName, { batch: { baseDelayMs: 1, concurrency: 1 } });

    // Act
    const stats = await store.put(usageRows(40), at);

    // Assess
    expect(stats.items).toBe(40);
    expect(stats.retries).toBeGreaterThanOrEqual(5);
    expect(flaky.calls).toBe(stats.requests);
    expect(await store.onDay('2026-03-09')).toHaveLength(40);
  });

  it('gives up with a retryable StoreError when items stay unprocessed', async () => {
    // Prepare
    const { tableName } = await createTestTable('flaky');
    const doc = documentClient(localDynamoClient());
    flakyBatchWrites(doc, { partial: 100 });
    const store = new UsageStore(doc, tableName, { batch: { baseDelayMs: 1, maxAttempts: 3 } });

    // Act
    const failure = await store.put(usageRows(10), at).catch((err: unknown) => err);

    // Assess
    expect(failure).toBeInstanceOf(StoreError);
    expect((failure as StoreError).retryable).toBe(true);
    expect((failure as StoreError).operation).toBe('usage.put');
  });

  it('turns an SDK error into a StoreError with the cause kept', async () => {
    // Prepare
    const { doc } = await createTestTable('missing');
    const store = new UsageStore(doc, 'no-such-table');

    // Act
    const failure = await store.onDay('2026-03-09').catch((err: unknown) => err);

    // Assess
    expect(failure).toBeInstanceOf(StoreError);
    expect((failure as StoreError).cause).toHaveProperty('name', 'ResourceNotFoundException');
  });
});

describe('Class: SeriesStore', () => {
  it('gives the daily burn (upload + download) of the last N days, missing days left out', async () => {
    // Prepare
    const { doc, tableName } = await createTestTable('series');
    const store = new SeriesStore(doc, tableName);
    await store.putConsume(
      [
        { day: '2026-03-05', uploadMb: d('1'), downloadMb: d('2') },
        { day: '2026-03-07', uploadMb: d('0.1'), downloadMb: d('0.2') },
        { day: '2026-03-08', uploadMb: d('6529.83'), downloadMb: d('21889.75') },
        { day: '2026-03-09', uploadMb: d('1'), downloadMb: d('1') },
      ],
      at,
    );

    // Act
    const burn = await store.dailyConsumption(3, '2026-03-08');

    // Assess
    expect(burn.map((b) => [b.day, b.consumedMb.toFixed()])).toEqual([
      ['2026-03-07', '0.3'],
      ['2026-03-08', '28419.58'],
    ]);
  });
});

describe('Class: PollStateStore', () => {
  it('moves the cursor forward only', async () => {
    // Prepare
    const { doc, tableName } = await createTestTable('poll');
    const store = new PollStateStore(doc, tableName);

    // Act
    const first = await store.advanceCursor('poll-usage', '2026-03-09', at);
    const back = await store.advanceCursor('poll-usage', '2026-03-01', at);

    // Assess
    expect([first, back]).toEqual([true, false]);
    expect(await store.cursor('poll-usage')).toBe('2026-03-09');
  });

  it('counts consecutive failures and resets them on success', async () => {
    // Prepare
    const { doc, tableName } = await createTestTable('poll');
    const store = new PollStateStore(doc, tableName);
    const later = new Date('2026-03-10T05:00:00.000Z');

    // Act
    await store.recordFailure('poll-totals', at, { kind: 'transport', message: 'timeout' });
    const failing = await store.recordFailure('poll-totals', later, {
      kind: 'auth',
      message: 'rejected',
    });
    const ok = await store.recordSuccess('poll-totals', later);

    // Assess
    expect(failing).toMatchObject({
      consecutiveFailures: 2,
      lastAttemptAt: later.toISOString(),
      lastError: { kind: 'auth', message: 'rejected', at: later.toISOString() },
    });
    expect(failing.lastSuccessAt).toBeUndefined();
    expect(ok).toMatchObject({ consecutiveFailures: 0, lastSuccessAt: later.toISOString() });
    expect(await store.health('poll-totals')).toEqual(ok);
  });
});
