import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { subscribe } from 'node:diagnostics_channel';
import type { MiddlewareObj } from '@middy/core';

/**
 * AWS X-Ray for the Lambdas without the X-Ray SDK (which, behind the Powertools tracer, was
 * ~125 KB of every bundle and most of its init time). With active tracing, Lambda records
 * the invocation itself and hands each invocation its trace header; this module adds what the
 * Powertools tracer added: a `## <handler>` subsegment (annotations `ColdStart`, `Service`,
 * fault and exception on a thrown error) and a subsegment per outgoing HTTP request (the AWS
 * SDK's through `node:http`, the upstream's through `fetch`), taken from Node's own
 * diagnostics channels rather than by patching modules. Documents go to the X-Ray daemon
 * over UDP in its documented format (header line, then one JSON segment document).
 */

/** Parsed `_X_AMZN_TRACE_ID`: `Root=1-…;Parent=…;Sampled=1`. */
export interface TraceHeader {
  root: string;
  parent: string;
  sampled: boolean;
}

export function parseTraceHeader(value: string | undefined): TraceHeader | undefined {
  if (!value) return undefined;
  const fields = new Map<string, string>();
  for (const part of value.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const root = fields.get('Root');
  const parent = fields.get('Parent');
  if (!root || !parent) return undefined;
  return { root, parent, sampled: fields.get('Sampled') === '1' };
}

/** `AWS_XRAY_DAEMON_ADDRESS`: `host:port`, or `tcp:host:port udp:host:port` (UDP is used). */
export function parseDaemonAddress(
  value: string | undefined,
): { host: string; port: number } | undefined {
  if (!value) return undefined;
  const parts = value.trim().split(/\s+/);
  const udp =
    parts.find((p) => p.startsWith('udp:'))?.slice(4) ??
    (parts.length === 1 ? parts[0] : undefined);
  if (!udp) return undefined;
  const colon = udp.lastIndexOf(':');
  const port = Number(udp.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65_535) return undefined;
  // `[::1]:2000`: an IPv6 host loses its brackets.
  return { host: udp.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port };
}

interface Subsegment {
  id: string;
  name: string;
  trace_id: string;
  parent_id: string;
  start_time: number;
  end_time?: number;
  type: 'subsegment';
  namespace?: 'aws' | 'remote';
  annotations?: Record<string, string | number | boolean>;
  aws?: { operation?: string };
  http?: { request: { method: string; url: string }; response?: { status: number } };
  error?: boolean;
  throttle?: boolean;
  fault?: boolean;
  cause?: { exceptions: { id: string; type: string; message: string }[] };
}

const HEADER = '{"format":"json","version":1}\n';
const newId = () => randomBytes(8).toString('hex');
const now = () => Date.now() / 1000;

/** Sends one segment document; resolves once it has left. */
type SegmentSender = (document: string) => Promise<void>;

function udpSender(address: { host: string; port: number }): SegmentSender {
  let socket: Socket | undefined;
  return (document) =>
    new Promise((resolve) => {
      socket ??= createSocket(address.host.includes(':') ? 'udp6' : 'udp4').unref();
      // Tracing never fails an invocation: a lost document is a gap in a trace, nothing more.
      socket.send(HEADER + document, address.port, address.host, () => resolve());
    });
}

function describeError(err: unknown): NonNullable<Subsegment['cause']> {
  const type = err instanceof Error ? err.name : typeof err;
  // Capped: a document must fit one UDP datagram (64 KB) or it is lost.
  const message = err instanceof Error ? err.message.slice(0, 1000) : '';
  return { exceptions: [{ id: newId(), type, message }] };
}

/** What names a request's subsegment, read from its headers. */
interface RequestHints {
  /** `X-Amz-Target`: JSON protocols name the operation there (`DynamoDB_20120810.PutItem`). */
  target?: string | undefined;
  /** SigV4 `Authorization`: its credential scope names the service (`…/us-east-1/dynamodb/aws4_request`). */
  authorization?: string | undefined;
}

/** AWS calls (SigV4-signed, wherever the endpoint is) are named by service, others by host. */
function remoteName(url: URL, hints: RequestHints): Pick<Subsegment, 'name' | 'namespace' | 'aws'> {
  const service = hints.authorization?.match(/Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//)?.[1];
  if (!service) return { name: url.hostname, namespace: 'remote' };
  const operation = hints.target?.split('.').pop();
  return { name: service, namespace: 'aws', ...(operation ? { aws: { operation } } : {}) };
}

function settle(sub: Subsegment, status: number | undefined, err?: unknown): void {
  sub.end_time = now();
  if (status !== undefined && sub.http) sub.http.response = { status };
  if (status === 429) sub.throttle = true;
  if (status !== undefined && status >= 400 && status < 500) sub.error = true;
  if ((status !== undefined && status >= 500) || err !== undefined) sub.fault = true;
  if (err !== undefined) sub.cause = describeError(err);
}

/** One traced invocation: the handler subsegment and the requests made under it. */
class Invocation {
  readonly handler: Subsegment;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    trace: TraceHeader,
    name: string,
    annotations: Record<string, string | boolean>,
    private readonly send: SegmentSender,
  ) {
    this.handler = {
      id: newId(),
      name,
      trace_id: trace.root,
      parent_id: trace.parent,
      start_time: now(),
      type: 'subsegment',
      annotations,
    };
  }

  open(method: string, url: URL, hints: RequestHints): Subsegment {
    return {
      id: newId(),
      ...remoteName(url, hints),
      trace_id: this.handler.trace_id,
      parent_id: this.handler.id,
      start_time: now(),
      type: 'subsegment',
      http: { request: { method, url: `${url.origin}${url.pathname}` } },
    };
  }

  emit(sub: Subsegment): void {
    const sent = this.send(JSON.stringify(sub));
    this.pending.add(sent);
    void sent.then(() => this.pending.delete(sent));
  }

  /** Ends the handler subsegment and waits until every document has left. */
  async close(err?: unknown): Promise<void> {
    this.handler.end_time = now();
    if (err !== undefined) {
      this.handler.fault = true;
      this.handler.cause = describeError(err);
    }
    this.emit(this.handler);
    await Promise.all(this.pending);
  }
}

// One invocation at a time per process, as the Node.js runtime runs them; the trace header
// comes from the environment, which the runtime sets per invocation.
let current: Invocation | undefined;
const httpRequests = new WeakMap<object, Subsegment>();

function start(method: string, url: URL, hints: RequestHints, request: object): void {
  if (current) httpRequests.set(request, current.open(method, url, hints));
}

function finish(request: object, status: number | undefined, err?: unknown): void {
  const sub = httpRequests.get(request);
  if (!sub || !current) return;
  httpRequests.delete(request);
  settle(sub, status, err);
  current.emit(sub);
}

interface NodeClientRequest {
  method: string;
  protocol: string;
  host: string;
  path: string;
  getHeader(name: string): unknown;
}
interface UndiciRequest {
  method: string;
  origin: string;
  path: string;
}

/**
 * A diagnostics-channel subscriber runs inside the request's own call: an exception there
 * would surface in the invocation (or as an uncaught exception). Tracing never fails an
 * invocation, so a message it cannot read is skipped.
 */
function guarded<T>(read: (message: T) => void): (message: unknown) => void {
  return (message) => {
    if (!current) return;
    try {
      read(message as T);
    } catch {
      // A request this module cannot describe goes untraced.
    }
  };
}

/** `request.path` is a whole URL when the request goes through a forward proxy. */
function clientUrl(request: NodeClientRequest, host: string | undefined): URL {
  if (/^https?:\/\//.test(request.path)) return new URL(request.path);
  // The Host header carries a non-default port; `request.host` does not.
  return new URL(`${request.protocol}//${host ?? request.host}${request.path}`);
}

let subscribed = false;
function subscribeOnce(): void {
  if (subscribed) return;
  subscribed = true;
  subscribe(
    'http.client.request.start',
    guarded<{ request: NodeClientRequest }>(({ request }) => {
      const header = (name: string) => {
        const v = request.getHeader(name);
        return typeof v === 'string' ? v : undefined;
      };
      start(
        request.method,
        clientUrl(request, header('host')),
        { target: header('x-amz-target'), authorization: header('authorization') },
        request,
      );
    }),
  );
  subscribe(
    'http.client.response.finish',
    guarded<{ request: object; response: { statusCode?: number } }>(({ request, response }) =>
      finish(request, response.statusCode),
    ),
  );
  subscribe(
    'http.client.request.error',
    guarded<{ request: object; error: unknown }>(({ request, error }) =>
      finish(request, undefined, error),
    ),
  );
  subscribe(
    'undici:request:create',
    guarded<{ request: UndiciRequest }>(({ request }) =>
      start(request.method, new URL(request.path, request.origin), {}, request),
    ),
  );
  subscribe(
    'undici:request:headers',
    guarded<{ request: object; response: { statusCode: number } }>(({ request, response }) =>
      finish(request, response.statusCode),
    ),
  );
  subscribe(
    'undici:request:error',
    guarded<{ request: object; error: unknown }>(({ request, error }) =>
      finish(request, undefined, error),
    ),
  );
}

export interface TracingOptions {
  service: string;
  /** Where the Lambda variables are read; tests hand in their own. */
  env?: NodeJS.ProcessEnv;
}

/**
 * The middy middleware. Active only inside Lambda with tracing on (a daemon address and a
 * sampled trace header for the invocation); anywhere else it does nothing.
 */
export function xrayTracing(opts: TracingOptions): MiddlewareObj {
  const env = opts.env ?? process.env;
  // A provisioned environment is initialised before any invocation: none of them is cold.
  let coldStart = env.AWS_LAMBDA_INITIALIZATION_TYPE !== 'provisioned-concurrency';
  // The UDP socket to `AWS_XRAY_DAEMON_ADDRESS`, made on the first traced invocation.
  let send: SegmentSender | undefined;
  const end = async (err?: unknown) => {
    const invocation = current;
    current = undefined;
    await invocation?.close(err);
  };
  return {
    before: () => {
      const isCold = coldStart;
      coldStart = false;
      current = undefined;
      const trace = parseTraceHeader(env._X_AMZN_TRACE_ID);
      if (!trace?.sampled || !env.AWS_LAMBDA_FUNCTION_NAME) return;
      if (!send) {
        const address = parseDaemonAddress(env.AWS_XRAY_DAEMON_ADDRESS);
        if (!address) return;
        send = udpSender(address);
      }
      subscribeOnce();
      current = new Invocation(
        trace,
        `## ${env._HANDLER ?? 'handler'}`,
        { ColdStart: isCold, Service: opts.service },
        send,
      );
    },
    after: () => end(),
    onError: (request) => end(request.error ?? undefined),
  };
}
