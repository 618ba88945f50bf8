import type { Context, ScheduledEvent } from 'aws-lambda';
import { getConfig } from '#config';
import { sendDigestIfDue } from './commons/alerts/digest.ts';
import { docClient } from './commons/clients/dynamodb.ts';
import { logger } from './commons/logger.ts';
import { instrument, recordResidual } from './commons/observability.ts';
import { DynamoLedger } from './commons/payments/ledger/ledger.ts';
import { LedgerReader } from './commons/payments/ledger/ledger-read.ts';
import { sweepStuckDeductions } from './commons/payments/sweep.ts';
import { alertUncreditedOrders } from './commons/payments/uncredited.ts';
import { PollStateStore } from './commons/pollers/store/poll-state.ts';
import { SeriesStore } from './commons/pollers/store/series.ts';
import { SnapshotStore } from './commons/pollers/store/snapshots.ts';
import { totalsOutcomeJson } from './commons/pollers/summary.ts';
import { type PollTotalsDeps, pollTotals } from './commons/pollers/totals.ts';
import { alertAfterTotals } from './commons/pollers/totals-alerts.ts';
import { noteRefills } from './commons/pool-ledger/refills.ts';
import { PoolRefillStore } from './commons/pool-ledger/store/pool-refills.ts';
import type { DynamicTrafficApi } from './commons/upstream/types.ts';
import { upstreamFromEnv } from './commons/upstream/wiring.ts';
import { alertingFromEnv, tableName } from './commons/wiring.ts';

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
  const upstream = await upstreamFromEnv();
  const deps: PollTotalsDeps = { ...stores, upstream, pollId: context.awsRequestId };
  return { config, deps, upstream };
}

/**
 * Scheduled (EventBridge). An upstream failure is an outcome, not an error: it is recorded
 * in the poll's health (the staleness alert reads it) and returned; throwing would only make
 * Lambda retry and count the same failure again. Store failures do throw.
 */
export const handler = instrument(async (_event: ScheduledEvent, context: Context) => {
  const { config, deps, upstream } = await composePollTotals(context);
  const previous = await deps.snapshots.latestAll();
  const result = await pollTotals(deps);
  const refills = result.outcome.ok
    ? await noteRefills(
        {
          upstream,
          refills: new PoolRefillStore(docClient, tableName(), config.polling.retentionDays),
          timeZone: config.upstream.timeZone,
        },
        previous,
        result.outcome,
      )
    : {};
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
    refills,
  );
  // A notice SNS refused stays pending and is sent again on the next poll.
  if (alerts.failed.length)
    logger.error('alert notices not delivered', { failed: alerts.failed.length });
  const stuckDeductions = await sweepDeductions(config.payments.leaseSeconds, upstream);
  const uncreditedOrders = await alertUncredited();
  const eventReminders = await remindOpenEvents();
  const digest = await sendDailyDigest();
  const summary = {
    outcome: totalsOutcomeJson(outcome),
    health,
    alerts: alerts.changes.map((c) => ({
      rule: c.rule,
      subject: c.subject,
      status: c.status,
      notice: c.notice,
    })),
    stuckDeductions,
    uncreditedOrders,
    eventReminders,
    digest,
  };
  if (outcome.ok) logger.info('poll-totals done', summary);
  else logger.warn('poll-totals failed', summary);
  return summary;
});

/**
 * Marks deductions a dead delivery left DEDUCTING past the lease UNKNOWN and alerts, and
 * credits again reversals left RECREDITING. Like the reminders, a failure is logged, not
 * thrown: the next poll sweeps again.
 */
async function sweepDeductions(
  leaseSeconds: number,
  upstream: Pick<DynamicTrafficApi, 'rechargeTrafficCount'>,
): Promise<number> {
  try {
    const { marked } = await sweepStuckDeductions({
      ledger: new DynamoLedger(docClient, tableName()),
      reader: new LedgerReader(docClient, tableName()),
      upstream,
      sink: alertingFromEnv().events,
      clock: () => new Date(),
      leaseSeconds,
    });
    return marked;
  } catch (error) {
    logger.error('deduction sweep failed', {
      error: error instanceof Error ? `${error.name}: ${error.message}` : 'unknown',
    });
    return 0;
  }
}

/**
 * Tells a person of paid orders left uncredited for over an hour. Like the sweep, a failure
 * is logged, not thrown: the next poll looks again.
 */
async function alertUncredited(): Promise<number> {
  try {
    return await alertUncreditedOrders({
      ledger: new DynamoLedger(docClient, tableName()),
      sink: alertingFromEnv().events,
      clock: () => new Date(),
    });
  } catch (error) {
    logger.error('uncredited orders check failed', {
      error: error instanceof Error ? `${error.name}: ${error.message}` : 'unknown',
    });
    return 0;
  }
}

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

/**
 * The daily alert digest (`alerts.digest`), due on the first poll at or after its local
 * time. Like the reminders, a failure is logged and the next poll tries again.
 */
async function sendDailyDigest(): Promise<string> {
  try {
    const outcome = await sendDigestIfDue(alertingFromEnv().digest);
    return outcome.sent ? 'sent' : outcome.reason;
  } catch (error) {
    logger.error('alert digest failed', {
      error: error instanceof Error ? `${error.name}: ${error.message}` : 'unknown',
    });
    return 'failed';
  }
}
