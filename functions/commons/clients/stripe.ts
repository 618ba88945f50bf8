import { randomUUID } from 'node:crypto';
import { ConfigError, FlowPilotError } from '../errors.ts';

/** Where the Stripe API is; unset means Stripe's own (`https://api.stripe.com`). */
export const STRIPE_API_BASE_ENV = 'STRIPE_API_BASE_URL';

/**
 * FlowPilot's three Stripe keys, each given to one function: `STRIPE_API_KEY` (PaymentIntents
 * write) to customer-actions for auto top-up charges, `STRIPE_READ_KEY` (Checkout Sessions,
 * PaymentIntents, PaymentMethods read) to the internet-facing payment-webhook,
 * `STRIPE_CHECKOUT_KEY` (Checkout Sessions write) to the customer page.
 */
export const STRIPE_KEY_NAMES = [
  'STRIPE_API_KEY',
  'STRIPE_READ_KEY',
  'STRIPE_CHECKOUT_KEY',
] as const;
export type StripeKeyName = (typeof STRIPE_KEY_NAMES)[number];

/**
 * Why a Stripe key is refused, if it is: a full live secret key (`sk_live_`) can refund,
 * pay out and read every customer, so only a restricted one (`rk_live_`) is taken unless
 * `payments.stripe.allowSecretKey` says otherwise. The message names the key, never its value.
 */
export function secretKeyRefusal(
  name: StripeKeyName,
  key: string,
  allowSecretKey: boolean,
): string | undefined {
  if (allowSecretKey || !key.startsWith('sk_live_')) return undefined;
  return (
    `${name} is a full secret key (sk_live_...), which can do anything in the Stripe account; ` +
    'put a restricted key (rk_live_...) with only the permissions README "Security model" ' +
    'lists, or set payments.stripe.allowSecretKey to true on purpose'
  );
}

/**
 * The API version every request pins, so that Stripe's answers keep the shape we read. It is
 * the version of the `stripe` package the tests and the local stand-in use (23.1.0).
 */
export const STRIPE_API_VERSION = '2026-10-28.endive';

const DEFAULT_BASE_URL = 'https://api.stripe.com';
const TIMEOUT_MS = 10_000;
/** As the stripe package's `maxNetworkRetries: 2`: three tries in all, one idempotency key. */
const MAX_RETRIES = 2;
const RETRY_DELAY_MS = 250;

/** Stripe's form parameters: nested objects become `metadata[key]=value`. */
export type StripeParams = { [key: string]: string | number | boolean | undefined | StripeParams };

/**
 * How Stripe classifies an error answer, as its own library does (from the HTTP status, then
 * the error type): a 402 is a card error, a 400 or 404 an invalid request unless Stripe calls
 * it an idempotency error, 429 (or a 400 coded `rate_limit`) a rate limit.
 */
export type StripeErrorKind =
  | 'card'
  | 'invalid-request'
  | 'idempotency'
  | 'authentication'
  | 'permission'
  | 'rate-limit'
  | 'api';

function kindOf(status: number, type: string | undefined, code: string | undefined) {
  if (status === 429 || (status === 400 && code === 'rate_limit')) return 'rate-limit';
  if (status === 400 || status === 404) {
    return type === 'idempotency_error' ? 'idempotency' : 'invalid-request';
  }
  if (status === 401) return 'authentication';
  if (status === 402) return 'card';
  if (status === 403) return 'permission';
  return 'api';
}

/** Stripe answered with an error (`{ error: { type, code, decline_code, message, … } }`). */
export class StripeApiError extends FlowPilotError {
  override name = 'StripeApiError';
  readonly kind: StripeErrorKind;
  readonly httpStatus: number;
  readonly type: string | undefined;
  readonly code: string | undefined;
  readonly declineCode: string | undefined;
  /** The PaymentIntent a failed confirmation left behind, when Stripe names it. */
  readonly paymentIntentId: string | undefined;
  readonly requestId: string | undefined;

  constructor(
    httpStatus: number,
    error: {
      type?: string;
      code?: string;
      decline_code?: string;
      message?: string;
      payment_intent?: { id?: string };
    },
    requestId: string | undefined,
  ) {
    super(error.message ?? `Stripe answered ${httpStatus}`);
    this.httpStatus = httpStatus;
    this.type = error.type;
    this.code = error.code;
    this.declineCode = error.decline_code;
    this.paymentIntentId = error.payment_intent?.id;
    this.requestId = requestId;
    this.kind = kindOf(httpStatus, error.type, error.code);
  }
}

/** Stripe could not be reached, did not answer in time, or answered something unreadable. */
export class StripeConnectionError extends FlowPilotError {
  override name = 'StripeConnectionError';
}

export interface StripeClient {
  /** `GET /v1/<path>`: an object read back. */
  get<T>(path: string): Promise<T>;
  /** `POST /v1/<path>`; every try of one call sends the same idempotency key. */
  post<T>(path: string, params: StripeParams, opts?: { idempotencyKey?: string }): Promise<T>;
}

/** `{ a: { b: 1 } }` → `a[b]=1`, as Stripe reads form bodies. */
export function encodeForm(params: StripeParams): string {
  const out = new URLSearchParams();
  const add = (prefix: string, value: StripeParams[string]) => {
    if (value === undefined) return;
    if (typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) add(`${prefix}[${k}]`, v);
    } else {
      out.append(prefix, String(value));
    }
  };
  for (const [k, v] of Object.entries(params)) add(k, v);
  return out.toString();
}

function origin(baseUrl: string): string {
  let u: URL;
  try {
    u = new URL(baseUrl);
  } catch (cause) {
    throw new ConfigError(`${STRIPE_API_BASE_ENV} must be an http(s) URL`, [], { cause });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ConfigError(`${STRIPE_API_BASE_ENV} must be an http(s) URL`);
  }
  return u.origin;
}

/** Whether a failed try may be repeated: Stripe's own rule, then conflicts, limits, 5xx. */
function retryable(status: number, headers: Headers): boolean {
  const should = headers.get('stripe-should-retry');
  if (should === 'true') return true;
  if (should === 'false') return false;
  return status === 409 || status === 429 || status >= 500;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Answer = { status: number; headers: Headers; json: unknown };

function createClient(apiKey: string, base: string, retryDelayMs: number): StripeClient {
  async function once(method: 'GET' | 'POST', url: string, body?: string, key?: string) {
    const headers: Record<string, string> = {
      authorization: `Bearer ${apiKey}`,
      'stripe-version': STRIPE_API_VERSION,
      accept: 'application/json',
    };
    if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    if (key) headers['idempotency-key'] = key;
    const res = await fetch(url, {
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, json } satisfies Answer;
  }

  async function request<T>(method: 'GET' | 'POST', path: string, body?: string, key?: string) {
    const url = `${base}/v1/${path}`;
    for (let attempt = 0; ; attempt++) {
      let answer: Answer;
      try {
        answer = await once(method, url, body, key);
      } catch (cause) {
        // Network failure or timeout: the request may or may not have arrived, and the
        // idempotency key makes asking again safe.
        if (attempt < MAX_RETRIES) {
          await sleep(retryDelayMs * 2 ** attempt);
          continue;
        }
        const what =
          cause instanceof Error && cause.name === 'TimeoutError' ? 'timed out' : 'failed';
        throw new StripeConnectionError(`Stripe ${method} /v1/${path} ${what}`, { cause });
      }
      const { status, headers, json } = answer;
      if (status >= 200 && status < 300 && json !== null && typeof json === 'object') {
        return json as T;
      }
      if (attempt < MAX_RETRIES && retryable(status, headers)) {
        await sleep(retryDelayMs * 2 ** attempt);
        continue;
      }
      const error = (json as { error?: unknown } | undefined)?.error;
      if (status >= 300 && error !== null && typeof error === 'object') {
        throw new StripeApiError(status, error, headers.get('request-id') ?? undefined);
      }
      throw new StripeConnectionError(`Stripe ${method} /v1/${path} answered ${status}, not JSON`);
    }
  }

  return {
    get: (path) => request('GET', path),
    post: (path, params, opts = {}) =>
      request('POST', path, encodeForm(params), opts.idempotencyKey ?? randomUUID()),
  };
}

const clients = new Map<string, StripeClient>();

/**
 * The Stripe client for a key and base URL, over `fetch` (whose connection pool warm
 * invocations reuse), built once per container and kept; a rotated key gets a client of its
 * own. `retryDelayMs` is the first back-off; tests shorten it. The key is only ever sent in
 * the Authorization header, never logged or put in an error.
 */
export function stripeClient(
  apiKey: string,
  baseUrl?: string,
  opts: { retryDelayMs?: number } = {},
): StripeClient {
  const base = origin(baseUrl ?? DEFAULT_BASE_URL);
  const retryDelayMs = opts.retryDelayMs ?? RETRY_DELAY_MS;
  const cacheKey = `${base}\n${retryDelayMs}\n${apiKey}`;
  let client = clients.get(cacheKey);
  if (!client) {
    client = createClient(apiKey, base, retryDelayMs);
    clients.set(cacheKey, client);
  }
  return client;
}
