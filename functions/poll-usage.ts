import type { Context, ScheduledEvent } from 'aws-lambda';
import { docClient } from './commons/clients/dynamodb.ts';
import { getConfig } from './commons/config/load.ts';
import { getStringFromEnv } from './commons/env.ts';
import { logger } from './commons/logger.ts';
import { type PollUsageDeps, pollUsage } from './commons/pollers/usage.ts';
import { requireSecret } from './commons/secrets.ts';
import { PollStateStore } from './commons/store/poll-state.ts';
import { SeriesStore } from './commons/store/series.ts';
import { TABLE_NAME_ENV } from './commons/store/table.ts';
import { UsageStore } from './commons/store/usage.ts';
import { createDynamicTrafficClient } from './commons/upstream/client.ts';

// Built on the first invocation and kept while the container is warm.
let stores: Pick<PollUsageDeps, 'usage' | 'series' | 'pollState'> | undefined;

/** The one place the poll's collaborators are built. */
export async function composePollUsage(context: Pick<Context, 'getRemainingTimeInMillis'>) {
  const config = getConfig();
  if (!stores) {
    const tableName = getStringFromEnv(TABLE_NAME_ENV);
    const { retentionDays } = config.polling;
    stores = {
      usage: new UsageStore(docClient, tableName, { retentionDays }),
      series: new SeriesStore(docClient, tableName, { retentionDays }),
      pollState: new PollStateStore(docClient, tableName),
    };
  }
  const token = await requireSecret('IPWEB_TOKEN');
  const { baseUrl, timeoutMs, retry, timeZone } = config.upstream;
  const deps: PollUsageDeps = {
    ...stores,
    upstream: createDynamicTrafficClient({ baseUrl, token, timeoutMs, retry }),
    polling: config.polling,
    timeZone,
    remainingMs: () => context.getRemainingTimeInMillis(),
  };
  return { config, deps };
}

/** Scheduled (EventBridge). Upstream failures are recorded in health and returned, not thrown. */
export const handler = async (_event: ScheduledEvent, context: Context) => {
  const { deps } = await composePollUsage(context);
  const { outcome, health } = await pollUsage(deps);
  const summary = { outcome, health };
  if (outcome.ok) logger.info('poll-usage done', summary);
  else logger.warn('poll-usage failed', summary);
  return summary;
};
