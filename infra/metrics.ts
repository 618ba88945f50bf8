/**
 * EMF metrics the functions emit and the dashboard graphs. Function code emits them with
 * Powertools Metrics; the stack sets POWERTOOLS_METRICS_NAMESPACE=FlowPilot and
 * POWERTOOLS_SERVICE_NAME=flowpilot (Powertools adds `service` as a dimension on its own).
 * The dashboard finds them by namespace and metric name with SEARCH, so extra dimensions
 * do not hide them.
 *
 * | metric             | unit      | dimensions        | emitted by                       |
 * | ------------------ | --------- | ----------------- | -------------------------------- |
 * | ResidualMb         | Megabytes | Pool (primary \| secondary) | poll-totals, each snapshot |
 * | DailyConsumptionMb | Megabytes | —                 | poll-usage, the day's total      |
 * | TopUpCredited      | Count     | —                 | payment-webhook, order credited  |
 * | TopUpFailed        | Count     | —                 | payment-webhook, permanent fail  |
 * | WebhookOutcome     | Count     | Outcome           | payment-webhook, every delivery  |
 */
/** Powertools reads these from the environment the stack sets. */
export const METRICS_NAMESPACE = 'FlowPilot';
export const SERVICE_NAME = 'flowpilot';

export const METRIC_NAMES = {
  residual: 'ResidualMb',
  dailyConsumption: 'DailyConsumptionMb',
  topUpCredited: 'TopUpCredited',
  topUpFailed: 'TopUpFailed',
  webhookOutcome: 'WebhookOutcome',
} as const;

export const METRIC_DIMENSIONS = { pool: 'Pool', outcome: 'Outcome' } as const;
