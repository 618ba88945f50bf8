import { getConfig } from '#config';
import { createAlerting } from './alerts/index.ts';
import { SNS_TOPIC_ENV } from './alerts/wiring.ts';
import { docClient } from './clients/dynamodb.ts';
import { snsClient } from './clients/sns.ts';
import { getOptionalStringFromEnv } from './env.ts';
import { tableName } from './store/table.ts';

/**
 * What every entry point builds the same way, once per container: the table name and the
 * alerting (state store + SNS or console notifier). The upstream client is in
 * upstream/wiring.ts, apart, so that customer-actions (which never calls it) carries none.
 */
let alerting: ReturnType<typeof createAlerting> | undefined;

// Where most entry points have always found it; poll-usage takes it from the store, so that
// it carries no SNS client.
export { tableName };

export function alertingFromEnv(): ReturnType<typeof createAlerting> {
  alerting ??= createAlerting({
    config: getConfig().alerts,
    tableName: tableName(),
    topicArn: getOptionalStringFromEnv(SNS_TOPIC_ENV),
    documentClient: docClient,
    snsClient,
  });
  return alerting;
}
