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
} as const;
export const METRIC_DIMENSIONS = {
  pool: 'Pool',
  outcome: 'Outcome',
  provider: 'Provider',
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

/** The EMF document of one figure, serialized whole. */
function emfDocumentOf(
  name: string,
  unit: MetricUnitName,
  value: number,
  dimension: readonly [string, string] | undefined,
  timestamp: number,
): string {
  const dimensions = dimension ? ['service', dimension[0]] : ['service'];
  return JSON.stringify({
    _aws: {
      Timestamp: timestamp,
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
  });
}

/**
 * The text around the timestamp and the values, per metric name, unit and dimension name:
 * the webhook writes one or two documents per delivery, and serializing each whole cost
 * ~10 µs of the CPU its 50 concurrent deliveries share in bench/webhook.ts.
 */
const emfFrames = new Map<string, { head: string; value: string }>();

/** Keys the document has already, or that JSON would put first (integer-like): built whole. */
const plainKey = (key: string) => key !== '_aws' && key !== 'service' && !/^\d+$/.test(key);

/** The same text as serializing the document whole (test/unit/metrics.test.ts holds them equal). */
export function emfDocument(
  name: string,
  unit: MetricUnitName,
  value: number,
  dimension: readonly [string, string] | undefined,
  timestamp: number,
): string {
  const dimensionName = dimension?.[0];
  if (
    !plainKey(name) ||
    (dimensionName !== undefined && (!plainKey(dimensionName) || dimensionName === name))
  ) {
    return emfDocumentOf(name, unit, value, dimension, timestamp);
  }
  const key = dimensionName === undefined ? `${name}|${unit}` : `${name}|${unit}|${dimensionName}`;
  let frame = emfFrames.get(key);
  if (!frame) {
    const metrics = [
      {
        Namespace: METRICS_NAMESPACE,
        Dimensions: [dimensionName === undefined ? ['service'] : ['service', dimensionName]],
        Metrics: [{ Name: name, Unit: unit }],
      },
    ];
    frame = {
      head: `,"CloudWatchMetrics":${JSON.stringify(metrics)}},"service":${JSON.stringify(SERVICE_NAME)}${
        dimensionName === undefined ? '' : `,${JSON.stringify(dimensionName)}:`
      }`,
      value: `,${JSON.stringify(name)}:`,
    };
    emfFrames.set(key, frame);
  }
  const dimensionValue = dimension ? JSON.stringify(dimension[1]) : '';
  return `{"_aws":{"Timestamp":${JSON.stringify(timestamp)}${frame.head}${dimensionValue}${frame.value}${JSON.stringify(value)}}`;
}

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
  metricsOutput.write(emfDocument(name, unit, value, dimension, Date.now()));
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
