import { getConfig } from '#config';
import { logger } from '../logger.ts';
import { requireSecret } from '../secrets.ts';
import { createDynamicTrafficClient } from './client.ts';
import type { DynamicTrafficApi } from './types.ts';

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
