import type { Context } from 'aws-lambda';
import { getConfig } from '#config';
import { docClient } from './commons/clients/dynamodb.ts';
import { ValidationError } from './commons/errors.ts';
import { logger } from './commons/logger.ts';
import { instrument } from './commons/observability.ts';
import { ledgerReads } from './commons/payments/ledger/ledger-read.ts';
import { ReportStore } from './commons/reconcile/report-store.ts';
import { reconcile } from './commons/reconcile/run.ts';
import { parseDay } from './commons/units.ts';
import { upstreamFromEnv } from './commons/upstream/wiring.ts';
import { alertingFromEnv, tableName } from './commons/wiring.ts';

/** On demand the event may name a window: `{ "from": "2026-01-01", "to": "2026-01-07" }`. */
function windowOf(event: unknown): { from: string; to: string } | undefined {
  const e = (event ?? {}) as { from?: unknown; to?: unknown };
  if (e.from === undefined && e.to === undefined) return undefined;
  if (typeof e.from !== 'string' || typeof e.to !== 'string') {
    throw new ValidationError('reconcile: give both "from" and "to" as yyyy-MM-dd');
  }
  const window = { from: parseDay(e.from), to: parseDay(e.to) };
  if (window.from > window.to) throw new ValidationError('reconcile: "from" is after "to"');
  return window;
}

/** Scheduled daily (EventBridge) and on demand; throws on failure so the run is retried. */
export const handler = instrument(async (event: unknown, context: Context) => {
  const config = getConfig();
  const table = tableName();
  const window = windowOf(event);
  const report = await reconcile(
    {
      upstream: await upstreamFromEnv(),
      credits: ledgerReads(docClient, table),
      reports: new ReportStore(docClient, table, config.polling.retentionDays),
      sink: alertingFromEnv().events,
      clock: () => new Date(),
      config: { timeZone: config.upstream.timeZone, ...config.reconcile },
      signal: AbortSignal.timeout(Math.max(1_000, context.getRemainingTimeInMillis() - 5_000)),
    },
    window,
  );
  logger.info('reconcile done', {
    window: report.window,
    counts: report.counts,
    alerted: report.alerted,
  });
  return { id: report.id, window: report.window, counts: report.counts, alerted: report.alerted };
});
