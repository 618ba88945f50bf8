import type { Context, ScheduledEvent } from 'aws-lambda';
import { getConfig } from '#config';
import { docClient } from './commons/clients/dynamodb.ts';
import { logger } from './commons/logger.ts';
import { instrument, recordDailyConsumption } from './commons/observability.ts';
import { PollStateStore } from './commons/pollers/store/poll-state.ts';
import { SeriesStore } from './commons/pollers/store/series.ts';
import { UsageStore } from './commons/pollers/store/usage.ts';
import { type PollUsageDeps, pollUsage } from './commons/pollers/usage.ts';
import { tableName } from './commons/store/table.ts';
import { addDays, dayInZone } from './commons/units.ts';
import { upstreamFromEnv } from './commons/upstream/wiring.ts';

// Built on the first invocation and kept while the container is warm.
let stores: Pick<PollUsageDeps, 'usage' | 'series' | 'pollState'> | undefined;

/** The one place the poll's collaborators are built. */
export async function composePollUsage(context: Pick<Context, 'getRemainingTimeInMillis'>) {
  const config = getConfig();
  const { retentionDays } = config.polling;
  stores ??= {
    usage: new UsageStore(docClient, tableName(), { retentionDays }),
    series: new SeriesStore(docClient, tableName(), { retentionDays }),
    pollState: new PollStateStore(docClient, tableName()),
  };
  const deps: PollUsageDeps = {
    ...stores,
    upstream: await upstreamFromEnv(),
    polling: config.polling,
    timeZone: config.upstream.timeZone,
    remainingMs: () => context.getRemainingTimeInMillis(),
  };
  return { config, deps };
}

/** Scheduled (EventBridge). Upstream failures are recorded in health and returned, not thrown. */
export const handler = instrument(async (_event: ScheduledEvent, context: Context) => {
  const { deps, config } = await composePollUsage(context);
  const { outcome, health } = await pollUsage(deps);
  const summary = { outcome, health };
  if (outcome.ok) {
    logger.info('poll-usage done', summary);
    // The dashboard's daily consumption: the last full day in the upstream's calendar.
    const yesterday = addDays(dayInZone(new Date(), config.upstream.timeZone), -1);
    const [last] = await deps.series.dailyConsumption(1, yesterday);
    if (last) recordDailyConsumption(last.consumedMb);
  } else {
    logger.warn('poll-usage failed', summary);
  }
  return summary;
});
