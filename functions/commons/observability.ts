import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger } from './logger.ts';
import { xrayTracing } from './tracing.ts';
import type { Decimal } from './units.ts';

/** The EMF metrics the dashboard graphs (infra/metrics.ts reads these names). */
export const METRICS_NAMESPACE = 'FlowPilot';
export const SERVICE_NAME = 'flowpilot';
export const METRIC_NAMES = {
  residual: 'ResidualMb',
  dailyConsumption: 'DailyConsumptionMb',
  topUpCredited: 'TopUpCredited',
  topUpFailed: 'TopUpFailed',
  webhookOutcome: 'WebhookOutcome',
  webhookProviderDisabled: 'WebhookProviderDisabled',
  balanceListenerFailed: 'BalanceListenerFailed',
} as const;
export const METRIC_DIMENSIONS = {
  pool: 'Pool',
  outcome: 'Outcome',
  provider: 'Provider',
  listener: 'Listener',
} as const;

/** CloudWatch units FlowPilot's figures use. */
export const MetricUnit = { Count: 'Count', Megabytes: 'Megabytes' } as const;
export type MetricUnitName = (typeof MetricUnit)[keyof typeof MetricUnit];

/** Where EMF documents go: one JSON line on stdout, which CloudWatch Logs turns into metrics. */
export const metricsOutput = {
  write(line: string): void {
    process.stdout.write(`${line}\n`);
  },
};

/**
 * One figure as its own EMF document (so dimensions never mix), with the `service`
 * dimension on every document, as the Powertools metrics utility wrote them before: the
 * format is the documented embedded metric format, a few lines that spare every bundle the
 * utility's weight.
 */
export function recordMetric(
  name: string,
  unit: MetricUnitName,
  value: number,
  dimension?: readonly [string, string],
): void {
  // The switch Powertools metrics honoured: the local runtime and the benches set it, where
  // there is no CloudWatch and the documents would only bury the console.
  if (process.env.POWERTOOLS_METRICS_DISABLED === 'true') return;
  const dimensions = dimension ? ['service', dimension[0]] : ['service'];
  metricsOutput.write(
    JSON.stringify({
      _aws: {
        Timestamp: Date.now(),
        CloudWatchMetrics: [
          {
            Namespace: METRICS_NAMESPACE,
            Dimensions: [dimensions],
            Metrics: [{ Name: name, Unit: unit }],
          },
        ],
      },
      service: SERVICE_NAME,
      ...(dimension ? { [dimension[0]]: dimension[1] } : {}),
      [name]: value,
    }),
  );
}

export function recordResidual(pool: string, residualMb: Decimal): void {
  recordMetric(METRIC_NAMES.residual, MetricUnit.Megabytes, residualMb.toNumber(), [
    METRIC_DIMENSIONS.pool,
    pool,
  ]);
}

export function recordDailyConsumption(mb: Decimal): void {
  recordMetric(METRIC_NAMES.dailyConsumption, MetricUnit.Megabytes, mb.toNumber());
}

/** Every webhook delivery by outcome, plus credits and permanent failures as their own counts. */
export function recordWebhookOutcome(result: string): void {
  recordMetric(METRIC_NAMES.webhookOutcome, MetricUnit.Count, 1, [
    METRIC_DIMENSIONS.outcome,
    result,
  ]);
  if (result === 'credited') recordMetric(METRIC_NAMES.topUpCredited, MetricUnit.Count, 1);
  if (result === 'failed') recordMetric(METRIC_NAMES.topUpFailed, MetricUnit.Count, 1);
}

/** A delivery refused because the provider's keys are missing or unusable. */
export function recordProviderDisabled(provider: string): void {
  recordMetric(METRIC_NAMES.webhookProviderDisabled, MetricUnit.Count, 1, [
    METRIC_DIMENSIONS.provider,
    provider,
  ]);
}

/**
 * Wraps an entry point: Lambda context in every log line (Powertools) and X-Ray subsegments
 * (functions/commons/tracing.ts; active only inside Lambda with tracing on). Metrics need no flush at the end: each figure above is its own EMF
 * document, written when it is recorded.
 */
export function instrument<E, R>(handler: (event: E, context: Context) => Promise<R>) {
  return middy(handler)
    .use(injectLambdaContext(logger))
    .use(xrayTracing({ service: SERVICE_NAME }));
}

/**
 * Balance listeners that threw (poll-customers' hand-off, customer-actions' notices and auto
 * top-up): the run goes on, so without this only the log would know.
 */
export function recordListenerFailures(failures: readonly { name: string }[]): void {
  for (const f of failures) {
    recordMetric(METRIC_NAMES.balanceListenerFailed, MetricUnit.Count, 1, [
      METRIC_DIMENSIONS.listener,
      f.name,
    ]);
  }
}
