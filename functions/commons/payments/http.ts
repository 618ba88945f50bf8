import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { WebhookAnswer, WebhookRequest } from './types.ts';

/** The `{provider}` of `POST /webhooks/{provider}` (or `GET /webhooks/epay`), from the route or, failing that, the path. */
export function providerOf(event: APIGatewayProxyEventV2): string {
  const fromRoute = event.pathParameters?.provider;
  if (fromRoute) return fromRoute;
  return /^\/webhooks\/([^/]+)\/?$/.exec(event.rawPath ?? '')?.[1] ?? '';
}

/** The request exactly as sent: signatures are over these bytes, not a re-encoding. */
export function toWebhookRequest(event: APIGatewayProxyEventV2): WebhookRequest {
  const headers: Record<string, string> = {};
  const given = event.headers ?? {};
  for (const name in given) {
    const value = given[name];
    if (value !== undefined) headers[name.toLowerCase()] = value;
  }
  const raw = event.body ?? '';
  const body = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  return {
    method: event.requestContext?.http?.method ?? 'POST',
    headers,
    body,
    rawQuery: event.rawQueryString ?? '',
  };
}

export function toResult(answer: WebhookAnswer): APIGatewayProxyStructuredResultV2 {
  return { statusCode: answer.statusCode, headers: answer.headers, body: answer.body };
}
