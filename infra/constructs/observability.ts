import { Duration, Stack } from 'aws-cdk-lib';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { LISTENER_NAMES } from '../../functions/commons/customers/listeners.ts';
import { METRIC_DIMENSIONS, METRIC_NAMES, METRICS_NAMESPACE, SERVICE_NAME } from '../metrics.ts';
import { stoppedWindow } from '../schedule.ts';
import type { FlowPilotFunction } from './function.ts';
import type { ScheduledJob } from './scheduled-job.ts';
import type { WebhookApi } from './webhook-api.ts';

export interface ObservabilityProps {
  /** Every alarm notifies here, on alarm and on recovery. */
  readonly opsTopic: ITopic;
  /** Functions run by a schedule or a topic, each with its dead-letter queue. */
  readonly jobs: readonly Pick<ScheduledJob, 'function' | 'deadLetterQueue' | 'interval'>[];
  readonly webhook: WebhookApi;
  /** Other functions behind the API (the customer page): alarmed on errors and throttles. @default none */
  readonly functions?: readonly FlowPilotFunction[];
  /** The payment providers the configuration turns on (`payments.providers`). */
  readonly providers: readonly string[];
}

const FIVE_MINUTES = Duration.minutes(5);

/**
 * Alarms about FlowPilot itself (the alerts topic is for the business: low traffic, stale
 * data), all to the ops topic: function errors and throttles, webhook 5xx, a scheduled job
 * that stopped running, a dead-letter queue that is not empty. And one dashboard graphing the
 * EMF metrics listed in infra/metrics.ts next to the functions' health.
 */
export class Observability extends Construct {
  readonly alarms: Alarm[] = [];
  readonly dashboard: Dashboard;
  private readonly action: SnsAction;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    this.action = new SnsAction(props.opsTopic);
    const functions: FlowPilotFunction[] = [
      ...props.jobs.map((job) => job.function),
      props.webhook.function,
      ...(props.functions ?? []),
    ];

    for (const fn of functions) {
      const label = fn.functionLabel;
      this.alarm(`${label}-errors`, fn.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' }), {
        description: `${label} threw or timed out`,
      });
      this.alarm(
        `${label}-throttles`,
        fn.metricThrottles({ period: FIVE_MINUTES, statistic: 'Sum' }),
        { description: `${label} was throttled (a run overlapped the next one, or a flood)` },
      );
    }
    for (const job of props.jobs) {
      const label = job.function.functionLabel;
      if (job.interval) {
        this.alarm(
          `${label}-stopped`,
          job.function.metricInvocations({ period: stoppedWindow(job.interval), statistic: 'Sum' }),
          {
            description: `${label} has not run for two of its intervals (schedule disabled or broken)`,
            comparison: ComparisonOperator.LESS_THAN_THRESHOLD,
            threshold: 1,
            missing: TreatMissingData.BREACHING,
          },
        );
      }
      this.alarm(
        `${label}-dlq`,
        job.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: FIVE_MINUTES,
          statistic: 'Maximum',
        }),
        { description: `${label} runs failed after retries; see its dead-letter queue` },
      );
    }
    this.alarm(
      'webhook-5xx',
      props.webhook.api.metricServerError({ period: FIVE_MINUTES, statistic: 'Sum' }),
      { description: 'Payment webhooks answered 5xx (providers will retry)' },
    );
    // A balance listener that threw: the run went on, so only this and the log know.
    this.seriesSumAlarm(
      'balance-listener-failed',
      METRIC_NAMES.balanceListenerFailed,
      METRIC_DIMENSIONS.listener,
      Object.entries(LISTENER_NAMES),
      'Balance changes were not handed on to customer-actions, or its customer notices or auto top-up threw on them; see the logs (balance listeners failed)',
    );
    // A provider whose secret holds no usable key refuses every delivery: paid orders wait.
    if (props.providers.length > 0) {
      this.seriesSumAlarm(
        'webhook-provider-disabled',
        METRIC_NAMES.webhookProviderDisabled,
        METRIC_DIMENSIONS.provider,
        props.providers.map((p) => [p, p]),
        "A payment provider's secret holds no usable key, so its deliveries are refused and paid orders wait; set the secret (see the webhook's log)",
      );
    }

    this.dashboard = new Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.days(7),
    });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown: '# FlowPilot\nTraffic pools, top-ups and the health of the functions.',
        width: 24,
        height: 1,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Residual traffic per pool (MB)',
        left: [search(METRIC_NAMES.residual, 'Minimum', FIVE_MINUTES)],
        width: 8,
      }),
      new GraphWidget({
        title: 'Daily consumption (MB)',
        left: [search(METRIC_NAMES.dailyConsumption, 'Maximum', Duration.days(1))],
        width: 8,
      }),
      new GraphWidget({
        title: 'Top-ups and webhook outcomes',
        left: [
          search(METRIC_NAMES.topUpCredited, 'Sum', Duration.hours(1)),
          search(METRIC_NAMES.topUpFailed, 'Sum', Duration.hours(1)),
        ],
        right: [
          search(METRIC_NAMES.webhookOutcome, 'Sum', Duration.hours(1)),
          // Deliveries refused because a provider's secret holds no usable key.
          search(METRIC_NAMES.webhookProviderDisabled, 'Sum', Duration.hours(1)),
          // Notices and auto top-ups that did not run on a balance change.
          search(METRIC_NAMES.balanceListenerFailed, 'Sum', Duration.hours(1)),
        ],
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Invocations',
        left: functions.map((fn) => labelled(fn.metricInvocations(), fn.functionLabel)),
        width: 8,
      }),
      new GraphWidget({
        title: 'Errors and throttles',
        left: functions.map((fn) => labelled(fn.metricErrors(), `${fn.functionLabel} errors`)),
        right: functions.map((fn) =>
          labelled(fn.metricThrottles(), `${fn.functionLabel} throttles`),
        ),
        width: 8,
      }),
      new GraphWidget({
        title: 'Duration p95 (ms)',
        left: functions.map((fn) =>
          labelled(fn.metricDuration({ statistic: 'p95' }), fn.functionLabel),
        ),
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Webhook API',
        left: [
          labelled(props.webhook.api.metricCount({ statistic: 'Sum' }), 'requests'),
          labelled(props.webhook.api.metricClientError({ statistic: 'Sum' }), '4xx'),
          labelled(props.webhook.api.metricServerError({ statistic: 'Sum' }), '5xx'),
        ],
        right: [labelled(props.webhook.api.metricLatency({ statistic: 'p95' }), 'latency p95')],
        width: 8,
      }),
      new GraphWidget({
        title: 'Dead-letter queues (messages)',
        left: props.jobs.map((job) =>
          labelled(
            job.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum' }),
            job.function.functionLabel,
          ),
        ),
        width: 8,
      }),
      new AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 8 }),
    );
  }

  /**
   * An alarm on the sum of one EMF metric over the given values of its dimension (an alarm
   * cannot SEARCH), each series under its id in the expression.
   */
  private seriesSumAlarm(
    name: string,
    metricName: string,
    dimension: string,
    series: readonly (readonly [id: string, value: string])[],
    description: string,
  ): Alarm {
    const metric = (value: string) =>
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { service: SERVICE_NAME, [dimension]: value },
        statistic: 'Sum',
        period: FIVE_MINUTES,
      });
    return this.alarm(
      name,
      new MathExpression({
        expression: series.map(([id]) => id).join(' + '),
        usingMetrics: Object.fromEntries(series.map(([id, value]) => [id, metric(value)])),
        label: metricName,
        period: FIVE_MINUTES,
      }),
      { description },
    );
  }

  private alarm(
    name: string,
    metric: IMetric,
    options: {
      description: string;
      comparison?: ComparisonOperator;
      threshold?: number;
      missing?: TreatMissingData;
    },
  ): Alarm {
    const alarm = new Alarm(this, `Alarm-${name}`, {
      alarmName: `${Stack.of(this).stackName}-${name}`,
      alarmDescription: options.description,
      metric,
      threshold: options.threshold ?? 1,
      comparisonOperator:
        options.comparison ?? ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: options.missing ?? TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(this.action);
    alarm.addOkAction(this.action);
    this.alarms.push(alarm);
    return alarm;
  }
}

/** Every series of one EMF metric, whatever dimensions it carries (Pool, Outcome, service). */
function search(metricName: string, statistic: string, period: Duration): IMetric {
  return new MathExpression({
    expression: `SEARCH('Namespace="${METRICS_NAMESPACE}" MetricName="${metricName}"', '${statistic}', ${period.toSeconds()})`,
    usingMetrics: {},
    label: '',
    period,
  });
}

function labelled(metric: Metric, label: string): Metric {
  return metric.with({ label });
}
