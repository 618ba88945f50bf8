import type { Context, ScheduledEvent } from 'aws-lambda';
import { docClient } from './commons/clients/dynamodb.ts';
import { getConfig } from './commons/config/load.ts';
import { getStringFromEnv } from './commons/env.ts';
import { logger } from './commons/logger.ts';
import { totalsOutcomeJson } from './commons/pollers/summary.ts';
import { type PollTotalsDeps, pollTotals } from './commons/pollers/totals.ts';
import { requireSecret } from './commons/secrets.ts';
import { PollStateStore } from './commons/store/poll-state.ts';
import { SnapshotStore } from './commons/store/snapshots.ts';
import { TABLE_NAME_ENV } from './commons/store/table.ts';
import { createDynamicTrafficClient } from './commons/upstream/client.ts';

// Built on the first invocation and kept while the container is warm.
let stores: Pick<PollTotalsDeps, 'snapshots' | 'pollState'> | undefined;

/** The one place the poll's collaborators are built. */
export async function composePollTotals(context: Pick<Context, 'awsRequestId'>) {
  const config = getConfig();
  if (!stores) {
    const tableName = getStringFromEnv(TABLE_NAME_ENV);
    stores = {
      snapshots: new SnapshotStore(docClient, tableName, {
        retentionDays: config.polling.retentionDays,
      }),
      pollState: new PollStateStore(docClient, tableName),
    };
  }
  // Read per invocation: the secret cache keeps it cheap and lets a rotation take effect.
  const token = await requireSecret('IPWEB_TOKEN');
  const { baseUrl, timeoutMs, retry } = config.upstream;
  const deps: PollTotalsDeps = {
    ...stores,
    upstream: createDynamicTrafficClient({ baseUrl, token, timeoutMs, retry }),
    pollId: context.awsRequestId,
  };
  return { config, deps };
}

/**
 * Scheduled (EventBridge). An upstream failure is an outcome, not an error: it is recorded
 * in the poll's health (the staleness alert reads it) and returned; throwing would only make
 * Lambda retry and count the same failure again. Store failures do throw.
 */
export const handler = async (_event: ScheduledEvent, context: Context) => {
  const { deps } = await composePollTotals(context);
  const { outcome, health } = await pollTotals(deps);
  const summary = { outcome: totalsOutcomeJson(outcome), health };
  if (outcome.ok) logger.info('poll-totals done', summary);
  else logger.warn('poll-totals failed', summary);
  return summary;
};
