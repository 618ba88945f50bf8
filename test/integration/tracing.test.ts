import { createSocket, type Socket } from 'node:dgram';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import middy from '@middy/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  parseDaemonAddress,
  parseTraceHeader,
  xrayTracing,
} from '../../functions/commons/tracing.ts';
import { localDynamoClient } from '../helpers/dynamo.ts';

/**
 * The X-Ray tracing middleware against a real UDP "daemon": what it sends for a handler that
 * calls DynamoDB Local (AWS SDK over node:http) and an HTTP server (fetch, as the upstream
 * client does).
 */

interface Doc {
  id: string;
  name: string;
  trace_id: string;
  parent_id: string;
  type: string;
  start_time: number;
  end_time: number;
  namespace?: string;
  annotations?: Record<string, unknown>;
  aws?: { operation?: string };
  http?: { request: { method: string; url: string }; response?: { status: number } };
  error?: boolean;
  fault?: boolean;
  throttle?: boolean;
  cause?: { exceptions: { type: string; message: string }[] };
}

const ROOT = '1-67891233-abcdef012345678912345678';
const PARENT = '53995c3f42cd8ad8';

let daemon: Socket;
let daemonPort: number;
let received: string[] = [];
let web: Server;
let webUrl: string;

beforeAll(async () => {
  daemon = createSocket('udp4');
  daemon.on('message', (msg) => received.push(msg.toString('utf8')));
  await new Promise<void>((resolve) => daemon.bind(0, '127.0.0.1', resolve));
  daemonPort = (daemon.address() as AddressInfo).port;
  web = createServer((req, res) => {
    res.statusCode = req.url === '/busy' ? 429 : req.url === '/broken' ? 503 : 200;
    res.end('{}');
  });
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
  webUrl = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
});

afterAll(async () => {
  daemon.close();
  await new Promise((resolve) => web.close(resolve));
});

function env(sampled: '0' | '1') {
  return {
    AWS_LAMBDA_FUNCTION_NAME: 'flowpilot-poll-totals',
    AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${daemonPort}`,
    _HANDLER: 'index.handler',
    _X_AMZN_TRACE_ID: `Root=${ROOT};Parent=${PARENT};Sampled=${sampled}`,
  };
}

/** Documents received so far, after UDP has had a moment to deliver them. */
async function documents(count: number): Promise<Doc[]> {
  for (let i = 0; i < 100 && received.length < count; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  return received.map((raw) => {
    const [header, body] = raw.split('\n');
    expect(JSON.parse(header ?? '')).toEqual({ format: 'json', version: 1 });
    return JSON.parse(body ?? '') as Doc;
  });
}

describe('X-Ray tracing middleware', () => {
  it('sends a handler subsegment and one per outgoing request, under the invocation trace', async () => {
    // Prepare
    received = [];
    const dynamo = localDynamoClient();
    const handler = middy(async () => {
      await dynamo.send(new ListTablesCommand({ Limit: 1 }));
      await fetch(`${webUrl}/ok?token=secret`);
      await fetch(`${webUrl}/busy`);
      await fetch(`${webUrl}/broken`);
      return 'done';
    }).use(xrayTracing({ service: 'flowpilot', env: env('1') }));

    // Act
    const result = await handler({}, {} as never);

    // Assess
    expect(result).toBe('done');
    const docs = await documents(5);
    const top = docs.find((d) => d.name === '## index.handler');
    expect(top).toMatchObject({
      trace_id: ROOT,
      parent_id: PARENT,
      type: 'subsegment',
      annotations: { ColdStart: true, Service: 'flowpilot' },
    });
    const children = docs.filter((d) => d !== top);
    expect(children).toHaveLength(4);
    for (const c of children) {
      expect(c).toMatchObject({ trace_id: ROOT, parent_id: top?.id, type: 'subsegment' });
      expect(c.end_time).toBeGreaterThanOrEqual(c.start_time);
      expect(c.start_time).toBeGreaterThanOrEqual(top?.start_time ?? Infinity);
    }
    const [ddb, ok, busy, broken] = children;
    expect(ddb).toMatchObject({
      name: 'dynamodb',
      namespace: 'aws',
      aws: { operation: 'ListTables' },
      http: { request: { method: 'POST' }, response: { status: 200 } },
    });
    expect(ok).toMatchObject({
      name: '127.0.0.1',
      namespace: 'remote',
      http: { request: { method: 'GET', url: `${webUrl}/ok` }, response: { status: 200 } },
    });
    // Query strings (tokens, signatures) never reach the trace.
    expect(JSON.stringify(docs)).not.toContain('secret');
    expect(ok?.error ?? false).toBe(false);
    expect(busy).toMatchObject({
      error: true,
      throttle: true,
      http: { response: { status: 429 } },
    });
    expect(broken).toMatchObject({ fault: true, http: { response: { status: 503 } } });
  });

  it('marks a thrown error on the handler subsegment and rethrows it; the next invocation is warm', async () => {
    // Prepare
    received = [];
    class UpstreamAuthError extends Error {
      override name = 'UpstreamAuthError';
    }
    const tracing = xrayTracing({ service: 'flowpilot', env: env('1') });
    let fail = true;
    const handler = middy(async () => {
      if (fail) throw new UpstreamAuthError('token rejected');
      return 'ok';
    }).use(tracing);

    // Act
    const error = await handler({}, {} as never).catch((e: unknown) => e);
    fail = false;
    await handler({}, {} as never);

    // Assess
    expect(error).toBeInstanceOf(UpstreamAuthError);
    const docs = await documents(2);
    expect(docs[0]).toMatchObject({
      fault: true,
      annotations: { ColdStart: true },
      cause: { exceptions: [{ type: 'UpstreamAuthError', message: 'token rejected' }] },
    });
    expect(docs[1]).toMatchObject({ annotations: { ColdStart: false } });
    expect(docs[1]?.fault).toBeUndefined();
  });

  it('sends nothing when the invocation is not sampled or runs outside Lambda', async () => {
    // Prepare
    received = [];
    const notSampled = middy(async () => fetch(`${webUrl}/ok`).then(() => 'x')).use(
      xrayTracing({ service: 'flowpilot', env: env('0') }),
    );
    const { AWS_LAMBDA_FUNCTION_NAME: _, ...local } = env('1');
    const outside = middy(async () => fetch(`${webUrl}/ok`).then(() => 'x')).use(
      xrayTracing({ service: 'flowpilot', env: local }),
    );

    // Act
    await notSampled({}, {} as never);
    await outside({}, {} as never);
    await new Promise((r) => setTimeout(r, 100));

    // Assess
    expect(received).toEqual([]);
  });

  it('traces a request sent through a forward proxy, and never fails the invocation over one it cannot read', async () => {
    // Prepare: a proxied request carries the whole URL as its path.
    received = [];
    const port = Number(new URL(webUrl).port);
    const viaProxy = () =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          { host: '127.0.0.1', port, path: 'http://upstream.example/api?token=secret' },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end();
      });
    const handler = middy(async () => viaProxy()).use(
      xrayTracing({ service: 'flowpilot', env: env('1') }),
    );

    // Act
    const status = await handler({}, {} as never);

    // Assess
    expect(status).toBe(200);
    const docs = await documents(2);
    expect(docs).toContainEqual(
      expect.objectContaining({
        name: 'upstream.example',
        http: {
          request: { method: 'GET', url: 'http://upstream.example/api' },
          response: { status: 200 },
        },
      }),
    );
    expect(JSON.stringify(docs)).not.toContain('secret');
  });

  it('does not call the first invocation of a provisioned environment cold', async () => {
    // Prepare
    received = [];
    const handler = middy(async () => 'ok').use(
      xrayTracing({
        service: 'flowpilot',
        env: { ...env('1'), AWS_LAMBDA_INITIALIZATION_TYPE: 'provisioned-concurrency' },
      }),
    );

    // Act
    await handler({}, {} as never);

    // Assess
    const [doc] = await documents(1);
    expect(doc?.annotations).toMatchObject({ ColdStart: false });
  });

  it('reads the trace header and daemon address forms Lambda uses', () => {
    expect(parseTraceHeader(`Root=${ROOT};Parent=${PARENT};Sampled=1;Lineage=a:1`)).toEqual({
      root: ROOT,
      parent: PARENT,
      sampled: true,
    });
    expect(parseTraceHeader('Root=1-2-3')).toBeUndefined();
    expect(parseDaemonAddress('169.254.79.129:2000')).toEqual({
      host: '169.254.79.129',
      port: 2000,
    });
    expect(parseDaemonAddress('tcp:127.0.0.1:2000 udp:127.0.0.2:2001')).toEqual({
      host: '127.0.0.2',
      port: 2001,
    });
    expect(parseDaemonAddress('[::1]:2000')).toEqual({ host: '::1', port: 2000 });
    expect(parseDaemonAddress('nonsense')).toBeUndefined();
  });
});
