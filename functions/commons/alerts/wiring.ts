import type { SNSClient } from '@aws-sdk/client-sns';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AlertsConfig } from '../config/alerts.ts';
import { createNotifier } from '../notifier/index.ts';
import { AlertStateStore } from '../store/alert-state.ts';
import type { AlertDeps } from './evaluate.ts';
import { AlertEventSink } from './events.ts';

/** Environment variable naming the alerts topic; unset locally, where alerts print instead. */
export const SNS_TOPIC_ENV = 'SNS_TOPIC_ARN';

/**
 * Builds alerting once per container: the state store, the notifier (SNS when a topic is
 * given, else the console), the deps for `evaluateAfterTotalsPoll` and the ops-event sink.
 * Clients default to the module-scope ones.
 */
export function createAlerting(options: {
  config: AlertsConfig;
  tableName: string;
  topicArn?: string;
  clock?: () => Date;
  documentClient?: DynamoDBDocumentClient;
  snsClient?: SNSClient;
}): { deps: AlertDeps; events: AlertEventSink; store: AlertStateStore } {
  const store = new AlertStateStore({
    tableName: options.tableName,
    client: options.documentClient,
  });
  const notifier = createNotifier({ topicArn: options.topicArn, client: options.snsClient });
  const clock = options.clock ?? (() => new Date());
  return {
    store,
    deps: { state: store, notifier, clock, config: options.config },
    events: new AlertEventSink({
      state: store,
      notifier,
      clock,
      reminderMs: options.config.reminderMinutes * 60_000,
    }),
  };
}
