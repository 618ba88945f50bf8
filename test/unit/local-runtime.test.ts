import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../functions/commons/config/load.ts';
import { ConfigError } from '../../functions/commons/errors.ts';
import { readLocalEnv } from '../../local/runtime/env.ts';
import { apiGatewayEvent, httpResult } from '../../local/runtime/events.ts';
import type { FunctionName } from '../../local/runtime/function-names.ts';
import { schedules } from '../../local/runtime/functions.ts';
import { parseSchedule } from '../../local/runtime/schedule.ts';
import { type ScheduledJob, Scheduler } from '../../local/runtime/scheduler.ts';

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

  it('passes JSON and text bodies as text, byte for byte', () => {
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

  it('base64-encodes other bodies, form posts included, as an HTTP API does', () => {
    const raw = Buffer.from([0, 1, 2, 255]);
    const event = apiGatewayEvent(
      request('application/octet-stream', raw),
      'POST /webhooks/{provider}',
      {},
    );
    expect(event.isBase64Encoded).toBe(true);
    expect(Buffer.from(event.body ?? '', 'base64')).toEqual(raw);

    const form = Buffer.from('pid=1001&money=5.00&sign=abc');
    for (const type of [
      'application/x-www-form-urlencoded; charset=utf-8',
      '',
      'application/jsonp',
    ]) {
      const e = apiGatewayEvent(request(type, form), 'POST /webhooks/{provider}', {});
      expect([type, e.isBase64Encoded, Buffer.from(e.body ?? '', 'base64')]).toEqual([
        type,
        true,
        form,
      ]);
    }
    for (const type of ['text/plain', 'application/json; charset=utf-8', 'application/xml']) {
      const e = apiGatewayEvent(request(type, form), 'POST /webhooks/{provider}', {});
      expect([type, e.isBase64Encoded, e.body]).toEqual([type, false, form.toString()]);
    }
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

describe('local runtime: scheduled functions from the configuration', () => {
  it('schedules the four scheduled functions on their configured expressions', () => {
    // Prepare
    const config = parseConfig({
      schedules: { pollTotals: 'rate(1 minute)', reconcile: 'cron(0 3 * * ? *)' },
    });

    // Act
    const jobs = schedules(config);

    // Assess
    expect(jobs.map((j) => [j.name, j.expression])).toEqual([
      ['poll-totals', 'rate(1 minute)'],
      ['poll-usage', 'rate(1 hour)'],
      ['poll-customers', 'rate(15 minutes)'],
      ['reconcile', 'cron(0 3 * * ? *)'],
    ]);
    const after = new Date('2026-01-01T10:00:30Z');
    expect(jobs[0]?.schedule.next(after).toISOString()).toBe('2026-01-01T10:01:00.000Z');
  });

  it('names the key of every schedule it cannot run, including one that never fires', () => {
    // Prepare
    const config = parseConfig({
      schedules: { pollUsage: 'cron(0 0 L * ? *)', reconcile: 'cron(0 0 31 2 ? *)' },
    });

    // Act
    const attempt = () => schedules(config);

    // Assess
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/schedules\.pollUsage: cron\(0 0 L \* \? \*\): L, W and # are not/);
    expect(attempt).toThrow(/schedules\.reconcile: cron\(0 0 31 2 \? \*\): never fires/);
  });
});

describe('Class: Scheduler', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2026-01-01T10:00:30Z'));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const job = (name: FunctionName, expression: string): ScheduledJob => ({
    name,
    expression,
    schedule: parseSchedule(expression),
  });

  /** A fire() whose runs last until `finish()` is called, recording when each one began. */
  function recorder() {
    const started: string[] = [];
    const running = new Set<FunctionName>();
    const finishers: (() => void)[] = [];
    const fire = async (name: FunctionName) => {
      started.push(`${name}@${new Date().toISOString().slice(11, 19)}`);
      running.add(name);
      await new Promise<void>((resolve) => finishers.push(resolve));
      running.delete(name);
    };
    const finish = () => {
      for (const f of finishers.splice(0)) f();
    };
    return { started, fire, finish, isRunning: (n: FunctionName) => running.has(n) };
  }

  it('fires a rate(1 minute) job at every minute boundary', async () => {
    // Prepare
    const r = recorder();
    const scheduler = new Scheduler([job('poll-totals', 'rate(1 minute)')], r.fire, r.isRunning);

    // Act
    scheduler.start();
    await vi.advanceTimersByTimeAsync(29_000);
    const beforeBoundary = [...r.started];
    await vi.advanceTimersByTimeAsync(1_000);
    r.finish();
    await vi.advanceTimersByTimeAsync(60_000);
    r.finish();
    await vi.advanceTimersByTimeAsync(60_000);
    scheduler.stop();

    // Assess
    expect(beforeBoundary).toEqual([]);
    expect(r.started).toEqual([
      'poll-totals@10:01:00',
      'poll-totals@10:02:00',
      'poll-totals@10:03:00',
    ]);
  });

  it('skips the ticks that find the previous run still going, and runs jobs independently', async () => {
    // Prepare
    const r = recorder();
    const scheduler = new Scheduler(
      [job('poll-totals', 'rate(1 minute)'), job('poll-usage', 'rate(2 minutes)')],
      r.fire,
      r.isRunning,
    );

    // Act: the first runs last until 10:03:30, over the 10:02 and 10:03 poll-totals ticks.
    scheduler.start();
    await vi.advanceTimersByTimeAsync(3 * 60_000);
    r.finish();
    await vi.advanceTimersByTimeAsync(60_000);
    scheduler.stop();

    // Assess (same-minute fires in any order)
    expect([...r.started].sort()).toEqual([
      'poll-totals@10:01:00',
      'poll-totals@10:04:00',
      'poll-usage@10:02:00',
      'poll-usage@10:04:00',
    ]);
  });

  it('fires nothing once stopped and leaves no timer behind', async () => {
    // Prepare
    const r = recorder();
    const scheduler = new Scheduler([job('poll-totals', 'rate(1 minute)')], r.fire, r.isRunning);
    scheduler.start();

    // Act
    scheduler.stop();
    await vi.advanceTimersByTimeAsync(10 * 60_000);

    // Assess
    expect(r.started).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
