import { getConfig } from '#config';
import { createAlerting } from './alerts/index.ts';
import { SNS_TOPIC_ENV } from './alerts/wiring.ts';
import { docClient } from './clients/dynamodb.ts';
import { snsClient } from './clients/sns.ts';
import { getOptionalStringFromEnv, getStringFromEnv } from './env.ts';
import { TABLE_NAME_ENV } from './store/table.ts';

/**
 * What every entry point builds the same way, once per container: the table name and the
 * alerting (state store + SNS or console notifier). The upstream client is in
 * upstream/from-env.ts, apart, so that customer-actions (which never calls it) carries none.
 */
let alerting: ReturnType<typeof createAlerting> | undefined;

export function tableName(): string {
  return getStringFromEnv(TABLE_NAME_ENV);
}

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
