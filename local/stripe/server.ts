import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';

/**
 * A stand-in for the parts of the Stripe API that auto top-up uses, speaking Stripe's own
 * protocol so FlowPilot's Stripe client (functions/commons/clients/stripe.ts) and Stripe's
 * own library talk to it unchanged: form-encoded requests with
 * bracketed keys, `Authorization: Bearer <secret key>`, `Idempotency-Key` replays (and the
 * idempotency error for a reused key with other parameters), Stripe's error envelope, and
 * `payment_intent.succeeded` delivered to a webhook URL signed as `stripe listen` signs it.
 *
 * Outcomes follow Stripe's test payment methods: `pm_card_visa` (and any other) succeeds,
 * `pm_card_authenticationRequired` / `pm_card_threeDSecureRequired` fail off-session with
 * `authentication_required`, `pm_card_chargeDeclined` with `card_declined`
 * (`pm_card_chargeDeclinedInsufficientFunds`: `insufficient_funds`). A declined or
 * unauthenticated off-session attempt answers 402 and leaves the PaymentIntent in
 * `requires_payment_method`, as Stripe does.
 */

type Params = { [key: string]: string | Params };

export interface StandInPaymentIntent {
  id: string;
  object: 'payment_intent';
  amount: number;
  amount_received: number;
  currency: string;
  customer: string | null;
  payment_method: string | null;
  status: 'succeeded' | 'requires_payment_method' | 'requires_action' | 'requires_confirmation';
  metadata: Record<string, string>;
  client_secret: string;
  created: number;
  livemode: false;
  latest_charge: string | null;
  last_payment_error: Record<string, unknown> | null;
  description: string | null;
}

export interface StandInCheckoutSession {
  id: string;
  object: 'checkout.session';
  mode: 'payment';
  payment_status: 'paid';
  status: 'complete';
  amount_total: number;
  currency: string;
  customer: string | null;
  client_reference_id: string | null;
  payment_intent: string | null;
  metadata: Record<string, string>;
}

export interface WebhookDelivery {
  eventId: string;
  type: string;
  status: number | 'error';
}

export interface StripeStandInOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** The secret key requests must carry. */
  apiKey: string;
  /** Where `payment_intent.succeeded` goes, signed with `secret`; none: not sent. */
  webhook?: { url: string; secret: string };
  /**
   * `auto` sends each event a moment after the charge (as Stripe does); `manual` queues
   * them until `deliverWebhooks()`, so a test decides when the money "arrives".
   * @default 'auto'
   */
  webhookMode?: 'auto' | 'manual';
}

export interface StripeStandIn {
  url: string;
  /** Every PaymentIntent, oldest first. */
  paymentIntents(): StandInPaymentIntent[];
  /** Requests that reached the API (method, path, what they were sent with), oldest first. */
  requests(): {
    method: string;
    path: string;
    idempotencyKey?: string;
    /** The `Stripe-Version` header, when sent. */
    stripeVersion?: string;
    /** The form body of a POST, decoded. */
    params?: Params;
    /** The status answered. */
    status: number;
    replayed: boolean;
  }[];
  /**
   * The next `times` requests fail before they are handled, as a Stripe outage or rate limit
   * would: answered `status` with Stripe's error envelope and nothing remembered for their
   * idempotency key, so a retry with the same key is handled afresh. `shouldRetry` sends
   * `Stripe-Should-Retry`.
   */
  failNext(times: number, status?: number, opts?: { shouldRetry?: boolean }): void;
  /** A completed Checkout Session as Stripe keeps it, with its PaymentIntent. */
  addCheckoutSession(input: {
    customerId: string;
    stripeCustomer: string;
    paymentMethod: string;
    amountMinor: number;
    currency: string;
    metadata?: Record<string, string>;
  }): StandInCheckoutSession;
  /**
   * The customer completes 3-D Secure for a PaymentIntent that needed it (through the link
   * they were sent): it succeeds and `payment_intent.succeeded` follows.
   */
  authenticate(id: string): void;
  /** A payment that fails after the fact (a delayed decline), as Stripe would record it. */
  failPaymentIntent(id: string, code: string): void;
  /** Forgets every idempotency key, as Stripe does 24 hours after a key's first use. */
  forgetIdempotencyKeys(): void;
  setWebhook(webhook: { url: string; secret: string } | undefined): void;
  /** Sends the queued events (manual mode); resolves when each was answered. */
  deliverWebhooks(): Promise<WebhookDelivery[]>;
  deliveries(): WebhookDelivery[];
  reset(): void;
  close(): Promise<void>;
}

const AUTH_REQUIRED = new Set(['pm_card_authenticationRequired', 'pm_card_threeDSecureRequired']);
const DECLINES: Record<string, string> = {
  pm_card_chargeDeclined: 'generic_decline',
  pm_card_chargeDeclinedInsufficientFunds: 'insufficient_funds',
};

const id = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;

/** `a[b][c]=1` → `{ a: { b: { c: '1' } } }`, as Stripe reads form bodies. */
export function decodeForm(body: string): Params {
  const out: Params = {};
  for (const [rawKey, value] of new URLSearchParams(body)) {
    const path = rawKey.replace(/\]/g, '').split('[');
    let node: Params = out;
    for (const [i, part] of path.entries()) {
      if (i === path.length - 1) {
        node[part] = value;
      } else {
        const next = node[part];
        const child: Params = typeof next === 'object' ? next : {};
        node[part] = child;
        node = child;
      }
    }
  }
  return out;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(String(body.message));
  }
}

const invalid = (message: string, param?: string) =>
  new ApiError(400, { type: 'invalid_request_error', message, ...(param ? { param } : {}) });

function text(p: Params, key: string): string | undefined {
  const v = p[key];
  return typeof v === 'string' ? v : undefined;
}

const flag = (p: Params, key: string) => text(p, key) === 'true';

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startStripeStandIn(opts: StripeStandInOptions): Promise<StripeStandIn> {
  const intents = new Map<string, StandInPaymentIntent>();
  const sessions = new Map<string, StandInCheckoutSession>();
  const idempotent = new Map<string, { fingerprint: string; status: number; body: string }>();
  const log: ReturnType<StripeStandIn['requests']> = [];
  const queue: { id: string; type: string; payload: string }[] = [];
  const delivered: WebhookDelivery[] = [];
  const pendingSends = new Set<Promise<unknown>>();
  let webhook = opts.webhook;
  let failures: { times: number; status: number; shouldRetry?: boolean } | undefined;
  const mode = opts.webhookMode ?? 'auto';

  function event(type: string, object: unknown) {
    const eventId = id('evt');
    const payload = JSON.stringify({
      id: eventId,
      object: 'event',
      api_version: Stripe.API_VERSION,
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      type,
      data: { object },
    });
    queue.push({ id: eventId, type, payload });
    if (mode === 'auto') {
      const p = new Promise((r) => setTimeout(r, 20)).then(() => sendQueued());
      pendingSends.add(p);
      void p.finally(() => pendingSends.delete(p));
    }
  }

  async function send(item: { id: string; type: string; payload: string }) {
    if (!webhook) return;
    const target = webhook;
    let status: number | 'error' = 'error';
    // Stripe retries an unanswered or failed delivery; a few quick tries stand in for that.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const signature = Stripe.webhooks.generateTestHeaderString({
          payload: item.payload,
          secret: target.secret,
        });
        const res = await fetch(target.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'stripe-signature': signature },
          body: item.payload,
        });
        await res.arrayBuffer();
        status = res.status;
        if (res.ok) break;
      } catch {
        status = 'error';
      }
      await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
    }
    delivered.push({ eventId: item.id, type: item.type, status });
  }

  async function sendQueued(): Promise<WebhookDelivery[]> {
    const batch = queue.splice(0, queue.length);
    const from = delivered.length;
    for (const item of batch) await send(item);
    return delivered.slice(from);
  }

  function createPaymentIntent(p: Params): { status: number; body: unknown } {
    const amount = Number(text(p, 'amount'));
    if (!Number.isSafeInteger(amount) || amount < 1) {
      throw invalid('Invalid positive integer', 'amount');
    }
    const currency = text(p, 'currency')?.toLowerCase();
    if (!currency || !/^[a-z]{3}$/.test(currency)) throw invalid('Invalid currency', 'currency');
    const confirm = flag(p, 'confirm');
    const offSession = flag(p, 'off_session');
    const paymentMethod = text(p, 'payment_method') ?? null;
    if (offSession && !confirm) {
      throw invalid('off_session can only be used when confirm=true', 'off_session');
    }
    if (confirm && !paymentMethod) {
      throw invalid('You must provide a payment_method when confirm=true', 'payment_method');
    }
    const meta = p.metadata;
    const metadata: Record<string, string> = {};
    if (typeof meta === 'object') {
      for (const [k, v] of Object.entries(meta)) if (typeof v === 'string') metadata[k] = v;
    }
    const pi: StandInPaymentIntent = {
      id: id('pi'),
      object: 'payment_intent',
      amount,
      amount_received: 0,
      currency,
      customer: text(p, 'customer') ?? null,
      payment_method: paymentMethod,
      status: 'requires_confirmation',
      metadata,
      client_secret: '',
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      latest_charge: null,
      last_payment_error: null,
      description: text(p, 'description') ?? null,
    };
    pi.client_secret = `${pi.id}_secret_${randomBytes(8).toString('hex')}`;
    intents.set(pi.id, pi);
    if (!confirm || !paymentMethod) return { status: 200, body: pi };

    const decline = DECLINES[paymentMethod];
    if (AUTH_REQUIRED.has(paymentMethod) || decline) {
      const code = decline ? 'card_declined' : 'authentication_required';
      const error = {
        type: 'card_error',
        code,
        decline_code: decline ?? 'authentication_required',
        message: decline
          ? 'Your card was declined.'
          : 'Your card was declined. This transaction requires authentication.',
        payment_method: { id: paymentMethod, object: 'payment_method' },
      };
      if (offSession || decline) {
        pi.status = 'requires_payment_method';
        pi.last_payment_error = error;
        pi.latest_charge = decline ? id('ch') : null;
        return { status: 402, body: { error: { ...error, payment_intent: pi } } };
      }
      // On-session: the customer is asked to authenticate.
      pi.status = 'requires_action';
      return { status: 200, body: pi };
    }
    pi.status = 'succeeded';
    pi.amount_received = amount;
    pi.latest_charge = id('ch');
    event('payment_intent.succeeded', { ...pi });
    return { status: 200, body: pi };
  }

  async function route(
    req: IncomingMessage,
    body: string,
  ): Promise<{ status: number; body: unknown }> {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const auth = req.headers.authorization ?? '';
    if (auth !== `Bearer ${opts.apiKey}`) {
      throw new ApiError(401, {
        type: 'invalid_request_error',
        message: 'Invalid API Key provided.',
      });
    }
    const method = req.method ?? 'GET';
    if (method === 'POST' && url.pathname === '/v1/payment_intents') {
      return createPaymentIntent(decodeForm(body));
    }
    if (method === 'GET' && url.pathname === '/v1/payment_intents') {
      // Stripe's list, newest first, optionally by customer (no paging: a stand-in holds few).
      const customer = url.searchParams.get('customer');
      const data = [...intents.values()]
        .filter((i) => customer === null || i.customer === customer)
        .reverse();
      return { status: 200, body: { object: 'list', url: url.pathname, has_more: false, data } };
    }
    const pi = /^\/v1\/payment_intents\/([^/]+)$/.exec(url.pathname);
    if (method === 'GET' && pi?.[1]) {
      const found = intents.get(decodeURIComponent(pi[1]));
      if (!found) throw missing('payment_intent', pi[1]);
      return { status: 200, body: found };
    }
    const cs = /^\/v1\/checkout\/sessions\/([^/]+)$/.exec(url.pathname);
    if (method === 'GET' && cs?.[1]) {
      const found = sessions.get(decodeURIComponent(cs[1]));
      if (!found) throw missing('checkout.session', cs[1]);
      return { status: 200, body: found };
    }
    throw new ApiError(404, {
      type: 'invalid_request_error',
      message: `Unrecognized request URL (${method}: ${url.pathname}).`,
    });
  }

  const missing = (what: string, value: string) =>
    new ApiError(404, {
      type: 'invalid_request_error',
      code: 'resource_missing',
      message: `No such ${what}: '${value}'`,
      param: 'id',
    });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const body = await readBody(req);
    const key = req.headers['idempotency-key'];
    const idemKey = typeof key === 'string' && req.method === 'POST' ? key : undefined;
    const path = new URL(req.url ?? '/', 'http://stand-in').pathname;
    const version = req.headers['stripe-version'];
    const reply = (
      status: number,
      text: string,
      replayed: boolean,
      extra: Record<string, string> = {},
    ) => {
      log.push({
        method: req.method ?? 'GET',
        path,
        ...(idemKey ? { idempotencyKey: idemKey } : {}),
        ...(typeof version === 'string' ? { stripeVersion: version } : {}),
        ...(req.method === 'POST' ? { params: decodeForm(body) } : {}),
        status,
        replayed,
      });
      res.writeHead(status, {
        'content-type': 'application/json',
        'request-id': id('req'),
        ...(idemKey ? { 'idempotency-key': idemKey } : {}),
        ...(replayed ? { 'idempotent-replayed': 'true' } : {}),
        ...extra,
      });
      res.end(text);
    };
    if (failures && failures.times > 0) {
      const { status, shouldRetry } = failures;
      failures.times -= 1;
      const error =
        status === 429
          ? { type: 'invalid_request_error', code: 'rate_limit', message: 'Too many requests.' }
          : status >= 500
            ? { type: 'api_error', message: 'An error occurred with our connection to Stripe.' }
            : { type: 'invalid_request_error', message: `Refused (${status}).` };
      const header: Record<string, string> =
        shouldRetry === undefined ? {} : { 'stripe-should-retry': String(shouldRetry) };
      return reply(status, JSON.stringify({ error }), false, header);
    }
    const fingerprint = createHash('sha256').update(`${req.method} ${path} ${body}`).digest('hex');
    if (idemKey) {
      const seen = idempotent.get(idemKey);
      if (seen && seen.fingerprint !== fingerprint) {
        const error = {
          type: 'idempotency_error',
          message:
            'Keys for idempotent requests can only be used with the same parameters they were first used with.',
        };
        return reply(400, JSON.stringify({ error }), false);
      }
      if (seen) return reply(seen.status, seen.body, true);
    }
    let status: number;
    let out: string;
    try {
      const r = await route(req, body);
      status = r.status;
      out = JSON.stringify(r.body);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      status = err.status;
      out = JSON.stringify(err.status === 402 ? err.body : { error: err.body });
    }
    // Stripe keeps the first answer for a key (errors included, except 5xx and 401).
    if (idemKey && status !== 401) idempotent.set(idemKey, { fingerprint, status, body: out });
    reply(status, out, false);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { type: 'api_error', message: 'stand-in failure' } }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${opts.host ?? '127.0.0.1'}:${port}`;

  return {
    url,
    paymentIntents: () => [...intents.values()].map((pi) => ({ ...pi })),
    requests: () => [...log],
    failNext(times, status = 500, o = {}) {
      failures = { times, status, ...o };
    },
    addCheckoutSession(input) {
      const pi: StandInPaymentIntent = {
        id: id('pi'),
        object: 'payment_intent',
        amount: input.amountMinor,
        amount_received: input.amountMinor,
        currency: input.currency,
        customer: input.stripeCustomer,
        payment_method: input.paymentMethod,
        status: 'succeeded',
        metadata: {},
        client_secret: '',
        created: Math.floor(Date.now() / 1000),
        livemode: false,
        latest_charge: id('ch'),
        last_payment_error: null,
        description: null,
      };
      intents.set(pi.id, pi);
      const session: StandInCheckoutSession = {
        id: id('cs_test'),
        object: 'checkout.session',
        mode: 'payment',
        payment_status: 'paid',
        status: 'complete',
        amount_total: input.amountMinor,
        currency: input.currency,
        customer: input.stripeCustomer,
        client_reference_id: input.customerId,
        payment_intent: pi.id,
        metadata: input.metadata ?? {},
      };
      sessions.set(session.id, session);
      return { ...session };
    },
    authenticate(piId) {
      const pi = intents.get(piId);
      if (!pi) throw new Error(`no PaymentIntent ${piId}`);
      pi.status = 'succeeded';
      pi.amount_received = pi.amount;
      pi.last_payment_error = null;
      pi.latest_charge = id('ch');
      event('payment_intent.succeeded', { ...pi });
    },
    failPaymentIntent(piId, code) {
      const pi = intents.get(piId);
      if (!pi) throw new Error(`no PaymentIntent ${piId}`);
      pi.status = 'requires_payment_method';
      pi.amount_received = 0;
      pi.last_payment_error = { type: 'card_error', code, message: 'Your card was declined.' };
      // The success event of a payment that failed is never sent.
      const at = queue.findIndex((q) => q.payload.includes(`"id":"${piId}"`));
      if (at >= 0) queue.splice(at, 1);
    },
    forgetIdempotencyKeys() {
      idempotent.clear();
    },
    setWebhook(w) {
      webhook = w;
    },
    deliverWebhooks: sendQueued,
    deliveries: () => [...delivered],
    reset() {
      intents.clear();
      sessions.clear();
      idempotent.clear();
      failures = undefined;
      log.length = 0;
      queue.length = 0;
      delivered.length = 0;
    },
    async close() {
      await Promise.allSettled([...pendingSends]);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
