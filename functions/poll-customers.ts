import { PublishCommand } from '@aws-sdk/client-sns';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { getConfig } from '#config';
import { docClient } from './commons/clients/dynamodb.ts';
import { snsClient } from './commons/clients/sns.ts';
import { BALANCE_CHANGES_TOPIC_ENV, BalanceChangesHandoff } from './commons/customers/handoff.ts';
import { type PollCustomersDeps, pollCustomers } from './commons/customers/poll.ts';
import { CustomerBalanceStore } from './commons/customers/store/customer-balances.ts';
import { CustomerRecordStore } from './commons/customers/store/customer-records.ts';
import type { BalanceListener } from './commons/customers/types.ts';
import { getStringFromEnv } from './commons/env.ts';
import { logger } from './commons/logger.ts';
import { instrument, recordListenerFailures } from './commons/observability.ts';
import { ledgerReads } from './commons/payments/ledger/ledger-read.ts';
import { PollStateStore } from './commons/pollers/store/poll-state.ts';
import { UsageStore } from './commons/pollers/store/usage.ts';
import { upstreamFromEnv } from './commons/upstream/wiring.ts';
import { tableName } from './commons/wiring.ts';

/** In AWS the changes go to customer-actions through the balance-changes topic. */
function snsHandoff(): BalanceListener {
  const topicArn = getStringFromEnv(BALANCE_CHANGES_TOPIC_ENV);
  return new BalanceChangesHandoff(async (body) => {
    await snsClient.send(new PublishCommand({ TopicArn: topicArn, Message: body }));
  });
}

/**
 * The handler with `handoff` as what hears the balance changes: the SNS topic in AWS; the
 * local runtime gives one that invokes customer-actions in process.
 */
export function createPollCustomersHandler(handoff: () => BalanceListener) {
  // Built on the first invocation and kept while the container is warm.
  let built:
    | Pick<
        PollCustomersDeps,
        'usage' | 'balances' | 'records' | 'pollState' | 'credits' | 'listeners'
      >
    | undefined;

  return instrument(async (_event: ScheduledEvent, context: Context) => {
    const config = getConfig();
    if (!built) {
      const table = tableName();
      built = {
        usage: new UsageStore(docClient, table, { retentionDays: config.polling.retentionDays }),
        balances: new CustomerBalanceStore(docClient, table),
        records: new CustomerRecordStore(docClient, table),
        pollState: new PollStateStore(docClient, table),
        credits: ledgerReads(docClient, table),
        listeners: [handoff()],
      };
    }
    const { outcome, health } = await pollCustomers({
      ...built,
      upstream: await upstreamFromEnv(),
      config: {
        ...config.customers,
        timeZone: config.upstream.timeZone,
        retentionDays: config.polling.retentionDays,
        safetyMarginMs: config.polling.safetyMarginMs,
        toleranceMinutes: config.reconcile.toleranceMinutes,
      },
      remainingMs: () => context.getRemainingTimeInMillis(),
    });
    const summary = { outcome, health };
    if (outcome.ok) logger.info('poll-customers done', summary);
    else logger.warn('poll-customers failed', summary);
    if (outcome.listenerFailures.length) {
      logger.error('balance changes not handed on', { failures: outcome.listenerFailures });
      recordListenerFailures(outcome.listenerFailures);
    }
    return summary;
  });
}

/** Scheduled (EventBridge). Upstream failures are recorded in health and returned, not thrown. */
export const handler = createPollCustomersHandler(snsHandoff);
