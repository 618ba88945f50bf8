import type { SNSClient } from '@aws-sdk/client-sns';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { docClient } from '../clients/dynamodb.ts';
import type { AlertsConfig } from '../config/alerts.ts';
import { createNotifier } from '../notifier/index.ts';
import type { DigestDeps } from './digest.ts';
import type { AlertDeps } from './evaluate.ts';
import { AlertEventSink } from './events.ts';
import { DigestClaimStore } from './store/alert-digest.ts';
import { SilenceStore } from './store/alert-silences.ts';
import { AlertStateStore } from './store/alert-state.ts';

/** Environment variable naming the alerts topic; unset locally, where alerts print instead. */
export const SNS_TOPIC_ENV = 'SNS_TOPIC_ARN';

/**
 * Builds alerting once per container: the state and silence stores, the notifier (SNS when
 * a topic is given, else the console), the deps for `evaluateAfterTotalsPoll`, the ops-event
 * sink and the daily digest. Clients default to the module-scope ones.
 */
export function createAlerting(options: {
  config: AlertsConfig;
  tableName: string;
  topicArn?: string;
  clock?: () => Date;
  documentClient?: DynamoDBDocumentClient;
  snsClient?: SNSClient;
}): {
  deps: AlertDeps;
  events: AlertEventSink;
  store: AlertStateStore;
  silences: SilenceStore;
  digest: DigestDeps;
} {
  const doc = options.documentClient ?? docClient;
  const store = new AlertStateStore({ tableName: options.tableName, client: doc });
  const silences = new SilenceStore(doc, options.tableName);
  const notifier = createNotifier({ topicArn: options.topicArn, client: options.snsClient });
  const clock = options.clock ?? (() => new Date());
  const { config } = options;
  return {
    store,
    silences,
    deps: { state: store, notifier, clock, config, silences },
    events: new AlertEventSink({
      state: store,
      notifier,
      clock,
      reminderMs: config.reminderMinutes * 60_000,
      silences,
      maintenance: config.maintenance,
    }),
    digest: {
      alerts: store,
      claims: new DigestClaimStore(doc, options.tableName),
      silences,
      notifier,
      clock,
      config,
      seen: {},
    },
  };
}
