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
  /**
   * The switch Powertools metrics honoured, `POWERTOOLS_METRICS_DISABLED=true`: the local
   * runtime and the benches set it, where there is no CloudWatch and the documents would only
   * bury the console. Read once, with the rest of the process's configuration: nothing reads
   * the environment per delivery.
   */
  enabled: process.env.POWERTOOLS_METRICS_DISABLED !== 'true',
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
 * The text of a document but its timestamp, per metric name, unit, dimension and values: the
 * webhook writes one or two documents per delivery with the same few outcomes, and building
 * each whole (JSON.stringify) costs several times more (bench/hot-path.perf.ts). `null`: a
 * name JSON would place elsewhere, built whole every time.
 */
interface EmfFrame {
  /** Up to the dimension's value. */
  head: string;
  /** Between the dimension's value (or the head) and the metric's value. */
  value: string;
  /** Finished tails by dimension value, then metric value. */
  tails: Map<string, Map<number, string>>;
}
interface EmfFrames {
  none?: EmfFrame | null;
  byDimension: Map<string, EmfFrame | null>;
}
const emfFrames = new Map<string, Map<string, EmfFrames>>();

/** Keys the document has already, or that JSON would put first (integer-like). */
const plainKey = (key: string) => key !== '_aws' && key !== 'service' && !/^\d+$/.test(key);

function emfFrame(name: string, unit: string, dimensionName: string | undefined): EmfFrame | null {
  let byUnit = emfFrames.get(name);
  if (byUnit === undefined) {
    byUnit = new Map();
    emfFrames.set(name, byUnit);
  }
  let frames = byUnit.get(unit);
  if (frames === undefined) {
    frames = { byDimension: new Map() };
    byUnit.set(unit, frames);
  }
  const known = dimensionName === undefined ? frames.none : frames.byDimension.get(dimensionName);
  if (known !== undefined) return known;
  let frame: EmfFrame | null = null;
  if (
    plainKey(name) &&
    (dimensionName === undefined || (plainKey(dimensionName) && dimensionName !== name))
  ) {
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
      tails: new Map(),
    };
  }
  if (dimensionName === undefined) frames.none = frame;
  else frames.byDimension.set(dimensionName, frame);
  return frame;
}

/** The same text as serializing the document whole (test/unit/metrics.test.ts holds them equal). */
export function emfDocument(
  name: string,
  unit: MetricUnitName,
  value: number,
  dimension: readonly [string, string] | undefined,
  timestamp: number,
): string {
  const frame = emfFrame(name, unit, dimension?.[0]);
  if (frame === null) return emfDocumentOf(name, unit, value, dimension, timestamp);
  const dimensionValue = dimension === undefined ? '' : dimension[1];
  let byValue = frame.tails.get(dimensionValue);
  let tail = byValue?.get(value);
  if (tail === undefined) {
    const dimensionText = dimension === undefined ? '' : JSON.stringify(dimensionValue);
    tail = `${frame.head}${dimensionText}${frame.value}${JSON.stringify(value)}}`;
    // Bounded: outcomes and values are a handful; anything beyond is built every time.
    if (byValue === undefined && frame.tails.size < 64) {
      byValue = new Map();
      frame.tails.set(dimensionValue, byValue);
    }
    if (byValue !== undefined && byValue.size < 16) byValue.set(value, tail);
  }
  // JSON writes a finite number as String does.
  const stamp = Number.isFinite(timestamp) ? String(timestamp) : 'null';
  return `{"_aws":{"Timestamp":${stamp}${tail}`;
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
  if (!metricsOutput.enabled) return;
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
