import { setTimeout as delay } from 'node:timers/promises';
import { ValidationError } from '../errors.ts';
import { type Decimal, gbParam, parseDay } from '../units.ts';
import {
  NotChannelCustomerError,
  UpstreamAuthError,
  UpstreamDataError,
  type UpstreamError,
  UpstreamRejectedError,
  UpstreamTransportError,
} from './errors.ts';
import {
  isObject,
  parseConsumeDays,
  parseFlowTotals,
  parseNniDays,
  parseRecordPage,
  parseUsagePage,
  ShapeError,
} from './parse.ts';
import type { CallOptions, DateRange, DynamicTrafficApi, RechargeOutcome } from './types.ts';

/**
 * The one module that talks to the Dynamic Traffic API (see shared/api/NOTES.md for the traps
 * handled here). Every call is a GET with the token in the `token` header; the token never
 * reaches an error message or a log line.
 */

export const ENDPOINT_PATHS = {
  myRechargeFlowList: '/open/dynamic/myRechargeFlowList',
  rechargeFlowListForMe: '/open/dynamic/rechargeFlowListForMe',
  flowReport: '/open/dynamic/flowReport',
  getFlowTotalFull: '/api/agent/getFlowTotalFull',
  getNNIFlowConsumeDetail: '/api/agent/getNNIFlowConsumeDetail',
  getFlowConsumeDetail: '/api/agent/getFlowConsumeDetail',
  rechargeTrafficCount: '/api/agent/rechargeTrafficCount',
  deductionFlow: '/api/agent/deductionFlow',
} as const;

export type Endpoint = keyof typeof ENDPOINT_PATHS;

/** The upstream's word for a rejected token, sent with `code: 200`. */
export const AUTH_FAILURE_MESSAGE = '无效的认证令牌';

/** flowReport's documented maximum page size. */
export const FLOW_REPORT_MAX_PAGE_SIZE = 2000;

export interface RetryPolicy {
  /** Total attempts, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface RetryInfo {
  endpoint: Endpoint;
  /** The attempt that failed (1-based). */
  attempt: number;
  delayMs: number;
  error: UpstreamError;
}

export interface DynamicTrafficClientOptions {
  /** e.g. `https://user.ipweb.cc/prod-api`; endpoint paths are appended to it. */
  baseUrl: string;
  token: string;
  /** Per attempt; a caller's `signal` bounds the whole call (attempts and backoff) too. */
  timeoutMs: number;
  retry: RetryPolicy;
  fetch?: typeof fetch;
  /** In [0, 1): the jitter source. */
  random?: () => number;
  /** Backoff wait; rejects when `signal` aborts. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Told about every retry, e.g. to log it (the error carries no secret). */
  onRetry?: (info: RetryInfo) => void;
  /** Largest answer body read; past it the exchange fails. @default MAX_UPSTREAM_BODY_BYTES */
  maxBodyBytes?: number;
}

/**
 * The largest upstream answer read (a full flowReport page of 2000 rows is about 0.5 MB): a
 * misbehaving or impostor server cannot make a function buffer without bound.
 */
export const MAX_UPSTREAM_BODY_BYTES = 8 * 1024 * 1024;

/** The body as text, or undefined once it is longer than `limit` bytes (reading stops there). */
async function readLimited(res: Response, limit: number): Promise<string | undefined> {
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (declared > limit) {
    await res.body?.cancel().catch(() => undefined);
    return undefined;
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

interface Envelope {
  code: number;
  msg: string;
  data: unknown;
}

type Params = Record<string, string | number | undefined>;

const DIGITS = /^\d+$/;

/** Errors from a connection that was never made: the request cannot have reached the upstream. */
const CONNECT_FAILURES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function errorCodes(err: unknown, depth = 0): string[] {
  if (!isObject(err) && !(err instanceof Error)) return [];
  if (depth > 4) return [];
  const e = err as { code?: unknown; cause?: unknown; errors?: unknown };
  const own = typeof e.code === 'string' ? [e.code] : [];
  const nested = Array.isArray(e.errors) ? e.errors.flatMap((x) => errorCodes(x, depth + 1)) : [];
  return [...own, ...nested, ...errorCodes(e.cause, depth + 1)];
}

function isConnectFailure(err: unknown): boolean {
  const codes = errorCodes(err);
  return codes.length > 0 && codes.every((c) => CONNECT_FAILURES.has(c));
}

function asCode(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && DIGITS.test(value.trim())) return Number(value);
  return undefined;
}

function isAuthFailure(code: number, msg: string): boolean {
  return msg.trim() === AUTH_FAILURE_MESSAGE || code === 401;
}

function isRetryableRead(err: unknown): boolean {
  if (err instanceof UpstreamDataError) return true;
  return isRetryableTransport(err);
}

function isRetryableTransport(err: unknown): boolean {
  if (!(err instanceof UpstreamTransportError) || err.kind === 'aborted') return false;
  if (err.kind !== 'http-status') return true;
  const status = err.httpStatus ?? 0;
  return status >= 500 || status === 408 || status === 429;
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return delay(ms, undefined, signal ? { signal } : undefined);
}

function day(value: string | undefined): string | undefined {
  return value === undefined ? undefined : parseDay(value);
}

function digits(value: string, what: string): string {
  if (!DIGITS.test(value)) throw new ValidationError(`${what} must be a string of digits`);
  return value;
}

function trafficParam(gb: Decimal): string {
  const text = gbParam(gb);
  if (!(Number(text) > 0)) throw new ValidationError('trafficGb must be at least 0.01 GB');
  return text;
}

function transportFailure(
  t: Transport,
  endpoint: Endpoint,
  err: unknown,
  timeout: AbortSignal,
  caller: AbortSignal | undefined,
  phase: 'request' | 'body',
): UpstreamTransportError {
  if (caller?.aborted) {
    return new UpstreamTransportError(`upstream ${endpoint}: aborted by the caller`, endpoint, {
      kind: 'aborted',
      sent: true,
      cause: err,
    });
  }
  if (timeout.aborted) {
    return new UpstreamTransportError(
      `upstream ${endpoint}: no answer within ${t.opts.timeoutMs} ms`,
      endpoint,
      { kind: 'timeout', sent: true, cause: err },
    );
  }
  const sent = phase === 'body' || !isConnectFailure(err);
  const code = errorCodes(err)[0];
  return new UpstreamTransportError(
    `upstream ${endpoint}: network failure${code ? ` (${code})` : ''}${sent ? '' : ' before sending'}`,
    endpoint,
    { kind: 'network', sent, cause: err },
  );
}

/** One HTTP exchange, read up to a well-formed envelope. */
async function exchange(
  t: Transport,
  endpoint: Endpoint,
  params: Params,
  caller: AbortSignal | undefined,
): Promise<Envelope> {
  const url = new URL(t.base + ENDPOINT_PATHS[endpoint]);
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
  }
  if (caller?.aborted) {
    throw new UpstreamTransportError(`upstream ${endpoint}: aborted before sending`, endpoint, {
      kind: 'aborted',
      sent: false,
    });
  }
  // A timer cleared when the exchange ends, rather than AbortSignal.timeout, whose timer and
  // weak references stay behind for the whole timeout after every call.
  const deadline = new AbortController();
  const timer = setTimeout(
    () => deadline.abort(new DOMException('upstream timeout', 'TimeoutError')),
    t.opts.timeoutMs,
  );
  try {
    return await exchangeWithin(t, endpoint, url, deadline.signal, caller);
  } finally {
    clearTimeout(timer);
  }
}

async function exchangeWithin(
  t: Transport,
  endpoint: Endpoint,
  url: URL,
  timeout: AbortSignal,
  caller: AbortSignal | undefined,
): Promise<Envelope> {
  const signal = caller ? AbortSignal.any([timeout, caller]) : timeout;
  let res: Response;
  let body: string | undefined;
  try {
    // `manual`: a redirect must not carry the token header to another host.
    res = await t.doFetch(url, {
      method: 'GET',
      headers: { token: t.opts.token, accept: 'application/json' },
      redirect: 'manual',
      signal,
    });
  } catch (err) {
    throw transportFailure(t, endpoint, err, timeout, caller, 'request');
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    throw new UpstreamTransportError(`upstream ${endpoint} answered HTTP ${res.status}`, endpoint, {
      kind: 'http-status',
      httpStatus: res.status,
      sent: true,
    });
  }
  try {
    body = await readLimited(res, t.maxBodyBytes);
  } catch (err) {
    throw transportFailure(t, endpoint, err, timeout, caller, 'body');
  }
  const badBody = (why: string, cause?: unknown) =>
    new UpstreamTransportError(`upstream ${endpoint} sent ${why}`, endpoint, {
      kind: 'bad-body',
      httpStatus: res.status,
      sent: true,
      cause,
    });
  if (body === undefined) throw badBody(`a body larger than ${t.maxBodyBytes} bytes`);
  if (body.trim() === '') throw badBody('an empty body');
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (cause) {
    const type = res.headers.get('content-type') ?? 'no content type';
    throw badBody(`a body that is not JSON (${type})`, cause);
  }
  const code = isObject(json) ? asCode(json.code) : undefined;
  if (!isObject(json) || code === undefined) throw badBody('JSON without a numeric code');
  return { code, msg: typeof json.msg === 'string' ? json.msg : '', data: json.data };
}

/** Runs `attempt` until it succeeds, fails for good, runs out of attempts or is aborted. */
async function withRetry<T>(
  t: Transport,
  endpoint: Endpoint,
  signal: AbortSignal | undefined,
  retryable: (err: unknown) => boolean,
  attempt: () => Promise<T>,
): Promise<T> {
  let mayHaveReached = false;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (err instanceof UpstreamTransportError && err.sent) mayHaveReached = true;
      const last = n >= t.attempts || !retryable(err) || signal?.aborted === true;
      if (last) throw rememberSent(err, mayHaveReached);
      const cap = Math.min(t.opts.retry.maxDelayMs, t.opts.retry.baseDelayMs * 2 ** (n - 1));
      const delayMs = Math.floor(t.random() * cap);
      t.opts.onRetry?.({ endpoint, attempt: n, delayMs, error: err as UpstreamError });
      try {
        await t.sleep(delayMs, signal);
      } catch {
        // The caller's deadline ended the backoff: report the failure that caused it.
        throw rememberSent(err, mayHaveReached);
      }
    }
  }
}

/** A later attempt that never connected must not hide that an earlier one was sent. */
function rememberSent(err: unknown, mayHaveReached: boolean): unknown {
  if (!(err instanceof UpstreamTransportError) || err.sent || !mayHaveReached) return err;
  return new UpstreamTransportError(
    `${err.message}; an earlier attempt may have reached the upstream`,
    err.endpoint as Endpoint,
    { kind: err.kind, httpStatus: err.httpStatus, sent: true, cause: err },
  );
}

/** A read: `code 200` with data, else the reason it is not. */
async function read<T>(
  t: Transport,
  endpoint: Endpoint,
  params: Params,
  parse: (data: unknown) => T,
  callOpts: CallOptions | undefined,
): Promise<T> {
  const signal = callOpts?.signal;
  return withRetry(t, endpoint, signal, isRetryableRead, async () => {
    const env = await exchange(t, endpoint, params, signal);
    if (isAuthFailure(env.code, env.msg)) throw new UpstreamAuthError(endpoint);
    if (env.code !== 200) throw new UpstreamRejectedError(endpoint, env.code, env.msg);
    if (env.data === null || env.data === undefined) {
      throw new UpstreamDataError(
        `upstream ${endpoint} answered code 200 without data (msg: ${env.msg || 'none'})`,
        endpoint,
      );
    }
    // List endpoints repeat code and msg inside data: they must agree.
    if (isObject(env.data) && env.data.code !== undefined) {
      const inner = asCode(env.data.code) ?? -1;
      const innerMsg = typeof env.data.msg === 'string' ? env.data.msg : '';
      if (isAuthFailure(inner, innerMsg)) throw new UpstreamAuthError(endpoint);
      if (inner !== 200) throw new UpstreamRejectedError(endpoint, inner, innerMsg);
    }
    try {
      return parse(env.data);
    } catch (err) {
      if (!(err instanceof ShapeError)) throw err;
      throw new UpstreamDataError(`upstream ${endpoint} sent ${err.message}`, endpoint, {
        cause: err,
      });
    }
  });
}

function pageParams(q: { pageNum?: number; pageSize?: number }, maxPageSize?: number) {
  const size = q.pageSize;
  return {
    pageNum: q.pageNum,
    pageSize: size !== undefined && maxPageSize !== undefined ? Math.min(size, maxPageSize) : size,
  };
}

function range(r: DateRange) {
  return { startDate: day(r.startDate), endDate: day(r.endDate) };
}

/** What every exchange with the upstream needs: the options, with their defaults applied. */
interface Transport {
  opts: DynamicTrafficClientOptions;
  base: string;
  doFetch: typeof fetch;
  random: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  attempts: number;
  maxBodyBytes: number;
}

export function createDynamicTrafficClient(opts: DynamicTrafficClientOptions): DynamicTrafficApi {
  const base = opts.baseUrl.replace(/\/+$/, '');
  if (!/^https?:\/\//.test(base)) throw new ValidationError('upstream baseUrl must be http(s)');
  const t: Transport = {
    opts,
    base,
    doFetch: opts.fetch ?? fetch,
    random: opts.random ?? Math.random,
    sleep: opts.sleep ?? defaultSleep,
    attempts: Math.max(1, Math.floor(opts.retry.attempts)),
    maxBodyBytes: opts.maxBodyBytes ?? MAX_UPSTREAM_BODY_BYTES,
  };

  return {
    getFlowTotalFull: async (callOpts) =>
      read(t, 'getFlowTotalFull', {}, parseFlowTotals, callOpts),

    flowReport: async (q, callOpts) =>
      read(
        t,
        'flowReport',
        {
          ...pageParams(q, FLOW_REPORT_MAX_PAGE_SIZE),
          customerId: q.customerId === undefined ? undefined : digits(q.customerId, 'customerId'),
          ...range(q),
        },
        parseUsagePage,
        callOpts,
      ),

    getFlowConsumeDetail: async (r, callOpts) =>
      read(t, 'getFlowConsumeDetail', range(r), parseConsumeDays, callOpts),

    getNNIFlowConsumeDetail: async (r, callOpts) =>
      read(t, 'getNNIFlowConsumeDetail', range(r), parseNniDays, callOpts),

    myRechargeFlowList: async (q, callOpts) =>
      read(
        t,
        'myRechargeFlowList',
        { ...pageParams(q), type: q.type, account: q.account, ...range(q) },
        parseRecordPage,
        callOpts,
      ),

    rechargeFlowListForMe: async (q, callOpts) =>
      read(
        t,
        'rechargeFlowListForMe',
        { ...pageParams(q), account: q.account, ...range(q) },
        parseRecordPage,
        callOpts,
      ),

    rechargeTrafficCount: async (req, callOpts) => recharge(t, req, callOpts),
    deductionFlow: async (req, callOpts) => deduct(t, req, callOpts),
  };
}

/** A credit: repeated on transport failures, since the upstream is idempotent on orderId. */
async function recharge(
  t: Transport,
  req: Parameters<DynamicTrafficApi['rechargeTrafficCount']>[0],
  callOpts: CallOptions | undefined,
): Promise<RechargeOutcome> {
  const endpoint = 'rechargeTrafficCount';
  if (req.orderId.trim() === '') throw new ValidationError('orderId must not be empty');
  const params = {
    customerId: digits(req.customerId, 'customerId'),
    orderId: req.orderId,
    trafficCount: trafficParam(req.trafficGb),
  };
  const signal = callOpts?.signal;
  // Safe to repeat only because the upstream is idempotent on orderId (201/203 on a repeat).
  return withRetry(t, endpoint, signal, isRetryableTransport, async () => {
    const env = await exchange(t, endpoint, params, signal);
    // The auth failure also says code 200: only the message tells it from a success.
    if (isAuthFailure(env.code, env.msg)) throw new UpstreamAuthError(endpoint);
    switch (env.code) {
      case 200:
        return { status: 'applied', code: env.code, message: env.msg };
      case 201:
      case 203:
        return { status: 'already-applied', code: env.code, message: env.msg };
      case 204:
        throw new NotChannelCustomerError(endpoint, env.code, env.msg);
      default:
        throw new UpstreamRejectedError(endpoint, env.code, env.msg);
    }
  });
}

/** A deduction: exactly one attempt. */
async function deduct(
  t: Transport,
  req: Parameters<DynamicTrafficApi['deductionFlow']>[0],
  callOpts: CallOptions | undefined,
): ReturnType<DynamicTrafficApi['deductionFlow']> {
  const endpoint = 'deductionFlow';
  const params = {
    customerId: digits(req.customerId, 'customerId'),
    trafficCount: trafficParam(req.trafficGb),
  };
  // No idempotency key upstream: exactly one attempt, whatever happens.
  const env = await exchange(t, endpoint, params, callOpts?.signal);
  if (isAuthFailure(env.code, env.msg)) throw new UpstreamAuthError(endpoint);
  if (env.code !== 200) throw new UpstreamRejectedError(endpoint, env.code, env.msg);
  return { code: env.code, message: env.msg };
}
