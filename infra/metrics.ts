/**
 * EMF metrics the functions emit and the dashboard graphs; the names live with the function
 * code (functions/commons/observability.ts) so both sides use the same ones. Every document
 * also carries `service` as a dimension; the dashboard finds the metrics by namespace and name
 * with SEARCH, so extra dimensions do not hide them.
 *
 * | metric             | unit      | dimensions                  | emitted by                      |
 * | ------------------ | --------- | --------------------------- | ------------------------------- |
 * | ResidualMb         | Megabytes | Pool (primary \| secondary) | poll-totals, each snapshot      |
 * | DailyConsumptionMb | Megabytes | —                           | poll-usage, the last full day   |
 * | TopUpCredited      | Count     | —                           | payment-webhook, order credited |
 * | TopUpFailed        | Count     | —                           | payment-webhook, permanent fail |
 * | WebhookOutcome     | Count     | Outcome                     | payment-webhook, every delivery |
 * | WebhookProviderDisabled | Count | Provider              | payment-webhook, unusable key   |
 * | BalanceListenerFailed | Count  | Listener                  | poll-customers, customer-actions |
 */
export {
  METRIC_DIMENSIONS,
  METRIC_NAMES,
  METRICS_NAMESPACE,
  SERVICE_NAME,
} from '../functions/commons/observability.ts';
