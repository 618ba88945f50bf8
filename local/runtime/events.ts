import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
  ScheduledEvent,
  SNSEvent,
} from 'aws-lambda';

/**
 * Content types an HTTP API passes to Lambda as text. Anything else arrives base64, a missing
 * content type and form posts (`application/x-www-form-urlencoded`) included.
 */
const TEXTUAL = /^\s*(text\/[^;\s]+|application\/(json|xml|javascript))\s*(;|$)/i;

export interface RawRequest {
  method: string;
  path: string;
  rawQueryString: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  sourceIp: string;
}

/** An HTTP API payload v2 event, as API Gateway would build it for `routeKey`. */
export function apiGatewayEvent(
  req: RawRequest,
  routeKey: string,
  pathParameters: Record<string, string>,
): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    if (name === 'cookie') cookies.push(...String(value).split('; '));
    else headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const textual = TEXTUAL.test(headers['content-type'] ?? '');
  const now = new Date();
  const event: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey,
    rawPath: req.path,
    rawQueryString: req.rawQueryString,
    headers,
    pathParameters,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'localhost',
      http: {
        method: req.method,
        path: req.path,
        protocol: 'HTTP/1.1',
        sourceIp: req.sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    isBase64Encoded: req.body.length > 0 && !textual,
  };
  if (cookies.length) event.cookies = cookies;
  if (req.rawQueryString) {
    event.queryStringParameters = Object.fromEntries(new URLSearchParams(req.rawQueryString));
  }
  if (req.body.length > 0) {
    event.body = textual ? req.body.toString('utf8') : req.body.toString('base64');
  }
  return event;
}

/** What EventBridge hands a function on a schedule. */
export function scheduledEvent(functionName: string, at = new Date()): ScheduledEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '000000000000',
    time: at.toISOString(),
    region: process.env.AWS_REGION ?? 'us-east-1',
    resources: [`arn:aws:events:local:000000000000:rule/${functionName}`],
    detail: {},
  };
}

/** What SNS hands a subscribed function for one message of `topic` (a name or an ARN). */
export function snsEvent(topic: string, message: string, at = new Date()): SNSEvent {
  const region = process.env.AWS_REGION ?? 'us-east-1';
  const topicArn = topic.startsWith('arn:') ? topic : `arn:aws:sns:${region}:000000000000:${topic}`;
  return {
    Records: [
      {
        EventSource: 'aws:sns',
        EventVersion: '1.0',
        EventSubscriptionArn: `${topicArn}:${randomUUID()}`,
        Sns: {
          Type: 'Notification',
          MessageId: randomUUID(),
          TopicArn: topicArn,
          Subject: '',
          Message: message,
          Timestamp: at.toISOString(),
          SignatureVersion: '1',
          Signature: '',
          SigningCertUrl: '',
          UnsubscribeUrl: '',
          MessageAttributes: {},
        },
      },
    ],
  };
}

/** A Lambda context whose remaining time counts down from the function's timeout. */
export function lambdaContext(functionName: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  const requestId = randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** Normalises a handler's answer the way API Gateway does (a bare object becomes JSON 200). */
export function httpResult(result: unknown): {
  statusCode: number;
  headers: Record<string, string>;
  body: Buffer;
} {
  const structured = result as APIGatewayProxyStructuredResultV2 | undefined;
  if (structured && typeof structured === 'object' && typeof structured.statusCode === 'number') {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(structured.headers ?? {}))
      headers[k.toLowerCase()] = String(v);
    const raw = structured.body ?? '';
    const body = structured.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
    return { statusCode: structured.statusCode, headers, body };
  }
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: Buffer.from(JSON.stringify(result ?? null)),
  };
}
