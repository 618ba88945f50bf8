import { expect } from 'vitest';
import type { Config } from '../../functions/commons/config/schema.ts';
import { pollCustomers } from '../../functions/commons/customers/poll.ts';
import { CustomerBalanceStore } from '../../functions/commons/customers/store/customer-balances.ts';
import { CustomerRecordStore } from '../../functions/commons/customers/store/customer-records.ts';
import { PollStateStore } from '../../functions/commons/pollers/store/poll-state.ts';
import { SeriesStore } from '../../functions/commons/pollers/store/series.ts';
import { UsageStore } from '../../functions/commons/pollers/store/usage.ts';
import { pollUsage } from '../../functions/commons/pollers/usage.ts';
import type { DynamicTrafficApi } from '../../functions/commons/upstream/types.ts';
import type { TestTable } from './dynamo.ts';

/**
 * poll-usage, then poll-customers, as the schedule runs them (the first run is the backfill),
 * on the test table with no listeners; poll-customers must complete.
 */
export async function pollUsageThenCustomers(
  table: TestTable,
  opts: { upstream: DynamicTrafficApi; config: Config; clock: () => Date },
): Promise<void> {
  const { upstream, config, clock } = opts;
  const timeZone = config.upstream.timeZone;
  const usage = new UsageStore(table.doc, table.tableName);
  const pollState = new PollStateStore(table.doc, table.tableName);
  await pollUsage({
    upstream,
    usage,
    series: new SeriesStore(table.doc, table.tableName),
    pollState,
    polling: { backfillDays: 30, pageSize: 2000, maxPagesInFlight: 2, safetyMarginMs: 1000 },
    timeZone,
    clock,
  });
  const { outcome } = await pollCustomers({
    upstream,
    usage,
    balances: new CustomerBalanceStore(table.doc, table.tableName),
    records: new CustomerRecordStore(table.doc, table.tableName),
    pollState,
    listeners: [],
    config: {
      ...config.customers,
      timeZone,
      retentionDays: 60,
      safetyMarginMs: 1000,
      toleranceMinutes: 15,
    },
    clock,
  });
  expect(outcome.complete).toBe(true);
}
