import { SESv2Client } from '@aws-sdk/client-sesv2';

/**
 * The SDK reads `AWS_ENDPOINT_URL_SESV2` for this client (its service id is SESv2); FlowPilot
 * documents `AWS_ENDPOINT_URL_SES`, so that one is honoured here and wins when both are set.
 */
export function sesClientFor(env: NodeJS.ProcessEnv = process.env): SESv2Client {
  const endpoint = env.AWS_ENDPOINT_URL_SES || undefined;
  return new SESv2Client(endpoint ? { endpoint } : {});
}

// Built once per container so warm invocations reuse connections.
export const sesClient = sesClientFor();
