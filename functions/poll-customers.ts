import type { Context, ScheduledEvent } from 'aws-lambda';
import { getConfig } from '#config';
import { createAutoTopupListener } from './commons/autotopup/compose.ts';
import { docClient } from './commons/clients/dynamodb.ts';
import { tableName, upstreamFromEnv } from './commons/compose.ts';
import { customerNoticesFromEnv } from './commons/customer-notices/from-env.ts';
import { type PollCustomersDeps, pollCustomers } from './commons/customers/poll.ts';
import type { BalanceListener } from './commons/customers/types.ts';
import { logger } from './commons/logger.ts';
import { instrument } from './commons/observability.ts';
import { CustomerBalanceStore } from './commons/store/customer-balances.ts';
import { CustomerRecordStore } from './commons/store/customer-records.ts';
import { DynamoLedger } from './commons/store/ledger.ts';
import { PollStateStore } from './commons/store/poll-state.ts';
import { UsageStore } from './commons/store/usage.ts';

// Built on the first invocation and kept while the container is warm.
let listeners: readonly BalanceListener[] | undefined;
let stores:
  | Pick<PollCustomersDeps, 'usage' | 'balances' | 'records' | 'pollState' | 'credits'>
  | undefined;

/** The one place the poll's collaborators are built. */
export async function composePollCustomers(context: Pick<Context, 'getRemainingTimeInMillis'>) {
  const config = getConfig();
  const table = tableName();
  stores ??= {
    usage: new UsageStore(docClient, table, { retentionDays: config.polling.retentionDays }),
    balances: new CustomerBalanceStore(docClient, table),
    records: new CustomerRecordStore(docClient, table),
    pollState: new PollStateStore(docClient, table),
    credits: new DynamoLedger(docClient, table),
  };
  listeners ??= [customerNoticesFromEnv(), createAutoTopupListener()];
  const deps: PollCustomersDeps = {
    ...stores,
    upstream: await upstreamFromEnv(),
    // What reacts to each computation, in order: the customer's notices, then auto top-up.
    listeners,
    config: {
      ...config.customers,
      timeZone: config.upstream.timeZone,
      retentionDays: config.polling.retentionDays,
      safetyMarginMs: config.polling.safetyMarginMs,
      toleranceMinutes: config.reconcile.toleranceMinutes,
    },
    remainingMs: () => context.getRemainingTimeInMillis(),
  };
  return { config, deps };
}

/** Scheduled (EventBridge). Upstream failures are recorded in health and returned, not thrown. */
export const handler = instrument(async (_event: ScheduledEvent, context: Context) => {
  const { deps } = await composePollCustomers(context);
  const { outcome, health } = await pollCustomers(deps);
  const summary = { outcome, health };
  if (outcome.ok) logger.info('poll-customers done', summary);
  else logger.warn('poll-customers failed', summary);
  if (outcome.listenerFailures.length) {
    logger.error('balance listeners failed', { failures: outcome.listenerFailures });
  }
  return summary;
});
