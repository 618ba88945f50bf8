import { describe, expect, it } from 'vitest';
import { readLocalEnv } from '../../local/runtime/env.ts';
import { apiGatewayEvent, httpResult } from '../../local/runtime/events.ts';
import { parseSchedule } from '../../local/runtime/schedule.ts';

describe('local runtime: schedule expressions', () => {
  it('fires rate() schedules on their period boundaries', () => {
    const every5 = parseSchedule('rate(5 minutes)');
    expect(every5.next(new Date('2026-01-01T10:02:30Z')).toISOString()).toBe(
      '2026-01-01T10:05:00.000Z',
    );
    expect(every5.next(new Date('2026-01-01T10:05:00Z')).toISOString()).toBe(
      '2026-01-01T10:10:00.000Z',
    );
    expect(parseSchedule('rate(1 hour)').next(new Date('2026-01-01T10:59:59Z')).toISOString()).toBe(
      '2026-01-01T11:00:00.000Z',
    );
  });

  it('fires cron() schedules in UTC with EventBridge fields', () => {
    const daily = parseSchedule('cron(30 1 * * ? *)');
    expect(daily.next(new Date('2026-01-01T01:30:00Z')).toISOString()).toBe(
      '2026-01-02T01:30:00.000Z',
    );
    const weekdays = parseSchedule('cron(0/15 9-10 ? * MON-FRI *)');
    // 2026-01-03 is a Saturday: the next fire is Monday 09:00.
    expect(weekdays.next(new Date('2026-01-02T10:50:00Z')).toISOString()).toBe(
      '2026-01-05T09:00:00.000Z',
    );
    expect(weekdays.next(new Date('2026-01-05T09:00:00Z')).toISOString()).toBe(
      '2026-01-05T09:15:00.000Z',
    );
  });

  it('refuses expressions it cannot honour, saying why', () => {
    expect(() => parseSchedule('every 5 minutes')).toThrow(/not a rate/);
    expect(() => parseSchedule('cron(0 0 L * ? *)')).toThrow(/not supported/);
    expect(() => parseSchedule('cron(0 25 * * ? *)')).toThrow(/out of range/);
    expect(() => parseSchedule('cron(0 0 * *)')).toThrow(/6 fields/);
  });
});

describe('local runtime: environment', () => {
  it('uses defaults when nothing is set', () => {
    const env = readLocalEnv({}, '/srv');
    expect(env).toMatchObject({
      port: 3000,
      dataDir: '/srv/.data',
      tableName: 'flowpilot',
      upstream: undefined,
    });
  });

  it('lists every bad variable by name', () => {
    const bad = { PORT: 'abc', IPWEB_BASE_URL: 'ftp://x', SNS_TOPIC_ARN: 'topic', TABLE_NAME: 'a' };
    for (const name of Object.keys(bad)) {
      expect(() => readLocalEnv(bad, '/')).toThrow(new RegExp(`${name} must be`));
    }
    expect(() => readLocalEnv({ IPWEB_BASE_URL: 'https://up.example' }, '/')).toThrow(
      /IPWEB_TOKEN must be set/,
    );
  });
});

describe('local runtime: API Gateway v2 events', () => {
  const request = (contentType: string, body: Buffer) => ({
    method: 'POST',
    path: '/webhooks/stripe',
    rawQueryString: 'a=1&b=2',
    headers: { 'content-type': contentType, 'stripe-signature': 't=1,v1=x', cookie: 'c=1; d=2' },
    body,
    sourceIp: '127.0.0.1',
  });

  it('passes JSON and form bodies as text, byte for byte', () => {
    const raw = Buffer.from('{"a": 1,\n "é": "ü"}');
    const event = apiGatewayEvent(request('application/json', raw), 'POST /webhooks/{provider}', {
      provider: 'stripe',
    });
    expect(event.isBase64Encoded).toBe(false);
    expect(event.body).toBe(raw.toString('utf8'));
    expect(event.pathParameters).toEqual({ provider: 'stripe' });
    expect(event.queryStringParameters).toEqual({ a: '1', b: '2' });
    expect(event.cookies).toEqual(['c=1', 'd=2']);
    expect(event.requestContext.http.method).toBe('POST');
  });

  it('base64-encodes other bodies, as API Gateway does', () => {
    const raw = Buffer.from([0, 1, 2, 255]);
    const event = apiGatewayEvent(
      request('application/octet-stream', raw),
      'POST /webhooks/{provider}',
      {},
    );
    expect(event.isBase64Encoded).toBe(true);
    expect(Buffer.from(event.body ?? '', 'base64')).toEqual(raw);
  });

  it('turns handler results into HTTP answers', () => {
    expect(httpResult({ statusCode: 202, headers: { 'X-A': 'b' }, body: 'ok' })).toEqual({
      statusCode: 202,
      headers: { 'x-a': 'b' },
      body: Buffer.from('ok'),
    });
    expect(httpResult({ done: true }).statusCode).toBe(200);
  });
});
