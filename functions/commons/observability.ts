import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger } from './logger.ts';
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
} as const;
export const METRIC_DIMENSIONS = {
  pool: 'Pool',
  outcome: 'Outcome',
  provider: 'Provider',
} as const;

export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });
// X-Ray only inside Lambda; locally there is no daemon to send to.
export const tracer = new Tracer({
  serviceName: SERVICE_NAME,
  enabled: Boolean(process.env.AWS_LAMBDA_FUNCTION_NAME),
});

/** A figure with a dimension of its own (one EMF document, so dimensions do not mix). */
function single(
  name: string,
  value: number,
  unit: (typeof MetricUnit)[keyof typeof MetricUnit],
  dimension?: [string, string],
): void {
  const m = metrics.singleMetric();
  if (dimension) m.addDimension(dimension[0], dimension[1]);
  m.addMetric(name, unit, value);
}

export function recordResidual(pool: string, residualMb: Decimal): void {
  single(METRIC_NAMES.residual, residualMb.toNumber(), MetricUnit.Megabytes, [
    METRIC_DIMENSIONS.pool,
    pool,
  ]);
}

export function recordDailyConsumption(mb: Decimal): void {
  single(METRIC_NAMES.dailyConsumption, mb.toNumber(), MetricUnit.Megabytes);
}

/** Every webhook delivery by outcome, plus credits and permanent failures as their own counts. */
export function recordWebhookOutcome(result: string): void {
  single(METRIC_NAMES.webhookOutcome, 1, MetricUnit.Count, [METRIC_DIMENSIONS.outcome, result]);
  if (result === 'credited') single(METRIC_NAMES.topUpCredited, 1, MetricUnit.Count);
  if (result === 'failed') single(METRIC_NAMES.topUpFailed, 1, MetricUnit.Count);
}

/** A delivery refused because the provider's keys are missing or unusable. */
export function recordProviderDisabled(provider: string): void {
  single(METRIC_NAMES.webhookProviderDisabled, 1, MetricUnit.Count, [
    METRIC_DIMENSIONS.provider,
    provider,
  ]);
}

/**
 * Wraps an entry point with the Powertools middlewares: Lambda context in every log line and
 * a trace segment. Metrics need no flush at the end: each figure above is its own EMF
 * document, written when it is recorded.
 */
export function instrument<E, R>(handler: (event: E, context: Context) => Promise<R>) {
  return middy(handler).use(injectLambdaContext(logger)).use(captureLambdaHandler(tracer));
}
