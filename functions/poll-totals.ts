import type { Context, ScheduledEvent } from 'aws-lambda';
import { getConfig } from '#config';
import { docClient } from './commons/clients/dynamodb.ts';
import { alertingFromEnv, tableName, upstreamFromEnv } from './commons/compose.ts';
import { logger } from './commons/logger.ts';
import { instrument, recordResidual } from './commons/observability.ts';
import { totalsOutcomeJson } from './commons/pollers/summary.ts';
import { type PollTotalsDeps, pollTotals } from './commons/pollers/totals.ts';
import { alertAfterTotals } from './commons/pollers/totals-alerts.ts';
import { PollStateStore } from './commons/store/poll-state.ts';
import { SeriesStore } from './commons/store/series.ts';
import { SnapshotStore } from './commons/store/snapshots.ts';

// Built on the first invocation and kept while the container is warm.
let stores: Pick<PollTotalsDeps, 'snapshots' | 'pollState'> | undefined;

/** The one place the poll's collaborators are built. */
export async function composePollTotals(context: Pick<Context, 'awsRequestId'>) {
  const config = getConfig();
  stores ??= {
    snapshots: new SnapshotStore(docClient, tableName(), {
      retentionDays: config.polling.retentionDays,
    }),
    pollState: new PollStateStore(docClient, tableName()),
  };
  const deps: PollTotalsDeps = {
    ...stores,
    upstream: await upstreamFromEnv(),
    pollId: context.awsRequestId,
  };
  return { config, deps };
}

/**
 * Scheduled (EventBridge). An upstream failure is an outcome, not an error: it is recorded
 * in the poll's health (the staleness alert reads it) and returned; throwing would only make
 * Lambda retry and count the same failure again. Store failures do throw.
 */
export const handler = instrument(async (_event: ScheduledEvent, context: Context) => {
  const { config, deps } = await composePollTotals(context);
  const result = await pollTotals(deps);
  const { outcome, health } = result;
  if (outcome.ok) {
    for (const [pool, totals] of Object.entries(outcome.pools))
      recordResidual(pool, totals.residualMb);
  }
  const alerts = await alertAfterTotals(
    {
      alerts: alertingFromEnv().deps,
      series: new SeriesStore(docClient, tableName()),
      timeZone: config.upstream.timeZone,
    },
    result,
  );
  // A notice SNS refused stays pending and is sent again on the next poll.
  if (alerts.failed.length)
    logger.error('alert notices not delivered', { failed: alerts.failed.length });
  const eventReminders = await remindOpenEvents();
  const summary = {
    outcome: totalsOutcomeJson(outcome),
    health,
    alerts: alerts.changes.map((c) => ({
      rule: c.rule,
      subject: c.subject,
      status: c.status,
      notice: c.notice,
    })),
    eventReminders,
  };
  if (outcome.ok) logger.info('poll-totals done', summary);
  else logger.warn('poll-totals failed', summary);
  return summary;
});

/**
 * Reminds of open ops events (a deduction nobody checked yet). The poll's own work is done
 * by then, so a failure here is logged, not thrown: the next poll tries again.
 */
async function remindOpenEvents(): Promise<number> {
  try {
    const changes = await alertingFromEnv().events.remindDue();
    const failed = changes.filter((c) => c.delivery === 'failed');
    if (failed.length) logger.error('event reminders not delivered', { failed: failed.length });
    return changes.filter((c) => c.notice === 'reminder' && c.delivery === 'sent').length;
  } catch (error) {
    logger.error('event reminders failed', {
      error: error instanceof Error ? `${error.name}: ${error.message}` : 'unknown',
    });
    return 0;
  }
}
