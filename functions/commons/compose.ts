import { getConfig } from '#config';
import { createAlerting } from './alerts/index.ts';
import { SNS_TOPIC_ENV } from './alerts/wiring.ts';
import { docClient } from './clients/dynamodb.ts';
import { snsClient } from './clients/sns.ts';
import { getOptionalStringFromEnv, getStringFromEnv } from './env.ts';
import { logger } from './logger.ts';
import { requireSecret } from './secrets.ts';
import { TABLE_NAME_ENV } from './store/table.ts';
import { createDynamicTrafficClient } from './upstream/client.ts';
import type { DynamicTrafficApi } from './upstream/types.ts';

/**
 * What every entry point builds the same way, once per container: the table name, the
 * alerting (state store + SNS or console notifier) and the upstream client.
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

let upstream: { token: string; client: DynamicTrafficApi } | undefined;

/**
 * The token is read per invocation (the secret cache keeps that cheap and lets a rotation
 * take effect while warm); the client is rebuilt only when the token changed.
 */
export async function upstreamFromEnv(): Promise<DynamicTrafficApi> {
  const token = await requireSecret('IPWEB_TOKEN');
  if (upstream?.token === token) return upstream.client;
  // The configuration is read once per process, so only the token can change while warm.
  const { baseUrl, timeoutMs, retry } = getConfig().upstream;
  const client = createDynamicTrafficClient({
    baseUrl,
    token,
    timeoutMs,
    retry,
    onRetry: (info) =>
      logger.warn('upstream retry', {
        endpoint: info.endpoint,
        attempt: info.attempt,
        error: info.error.name,
      }),
  });
  upstream = { token, client };
  return client;
}
