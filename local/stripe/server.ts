import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { checkoutPage, closedPage } from './checkout-page.ts';
import {
  checkoutSession,
  customerDetails,
  type LineItem,
  newId,
  now,
  paymentIntent,
  paymentMethod,
  SESSION_LIFETIME_S,
  type StandInCheckoutSession,
  type StandInPaymentIntent,
  setupIntent,
} from './objects.ts';
import {
  ApiError,
  check,
  currencyOf,
  decodeForm,
  docUrl,
  flag,
  hash,
  integer,
  invalid,
  list,
  metadataOf,
  type Param,
  type Params,
  type Rule,
  required,
  type Shape,
  text,
} from './params.ts';

export type { StandInCheckoutSession, StandInPaymentIntent } from './objects.ts';
export type { Params } from './params.ts';
export { decodeForm } from './params.ts';

/**
 * A stand-in for the parts of the Stripe API FlowPilot uses (PaymentIntents for auto top-up,
 * Checkout Sessions for the customer page), speaking Stripe's protocol for the pinned API
 * version so that FlowPilot's Stripe client (functions/commons/clients/stripe.ts) and
 * Stripe's own library talk to it unchanged: form-encoded requests with bracketed keys,
 * `Authorization: Bearer <secret key>`, objects shaped as Stripe's (every field the spec marks
 * required), Stripe's error envelope and codes, strict parameters (an unknown one is refused
 * with `parameter_unknown`, as Stripe does, so a wrong parameter cannot pass locally),
 * lists with `limit` / `starting_after` / `has_more`, `Idempotency-Key` replays, and events
 * delivered to a webhook URL signed as `stripe listen` signs them.
 *
 * Only the event types FlowPilot's endpoint subscribes to are sent:
 * `payment_intent.succeeded`, `checkout.session.completed`, `checkout.session.expired`.
 *
 * Outcomes follow Stripe's test payment methods: `pm_card_visa` (and any other) succeeds,
 * `pm_card_authenticationRequired` / `pm_card_threeDSecureRequired` fail off-session with
 * `authentication_required` (on-session: `requires_action` with `next_action`),
 * `pm_card_chargeDeclined` with `card_declined` (`pm_card_chargeDeclinedInsufficientFunds`:
 * `insufficient_funds`). A declined or unauthenticated attempt answers 402 and leaves the
 * PaymentIntent in `requires_payment_method`, as Stripe does.
 *
 * A Checkout Session's `url` opens the stand-in's own Checkout page (`/checkout/pay/<id>`):
 * a form whose POST (`payment_method=pm_card_…`, optional `email`) pays the session, sends
 * the events, and answers 303 to `success_url`. `payCheckoutSession` does the same in-process.
 */

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
  /** Why a request is refused (403) before anything else, if it is: e.g. a foreign `Host`. */
  refuse?: (req: IncomingMessage) => string | undefined;
  /** Where events go, signed with `secret`; none: not sent. */
  webhook?: { url: string; secret: string };
  /**
   * `auto` sends each event a moment after it happens (as Stripe does); `manual` queues
   * them until `deliverWebhooks()`, so a test decides when the money "arrives".
   * @default 'auto'
   */
  webhookMode?: 'auto' | 'manual';
  /** The origin browsers reach the stand-in at, for Checkout `url`s; default its own URL. */
  publicUrl?: string;
}

export interface StandInRequest {
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
}

export interface StripeStandIn {
  url: string;
  /** Every PaymentIntent, oldest first. */
  paymentIntents(): StandInPaymentIntent[];
  /** Every Checkout Session, oldest first. */
  checkoutSessions(): StandInCheckoutSession[];
  /** API requests that reached the stand-in (not its Checkout page), oldest first. */
  requests(): StandInRequest[];
  /**
   * The next `times` requests fail before they are handled, as a Stripe outage or rate limit
   * would: answered `status` with Stripe's error envelope and nothing remembered for their
   * idempotency key, so a retry with the same key is handled afresh. `shouldRetry` sends
   * `Stripe-Should-Retry`.
   */
  failNext(times: number, status?: number, opts?: { shouldRetry?: boolean }): void;
  /** A completed Checkout Session as Stripe keeps it, with its PaymentIntent; no event. */
  addCheckoutSession(input: {
    customerId: string;
    stripeCustomer: string;
    paymentMethod: string;
    amountMinor: number;
    currency: string;
    metadata?: Record<string, string>;
  }): StandInCheckoutSession;
  /**
   * Pays an open session as its Checkout page does (default card `pm_card_visa`) and sends
   * its events; throws with the decline message for a declining card.
   */
  payCheckoutSession(
    id: string,
    opts?: { paymentMethod?: string; email?: string },
  ): StandInCheckoutSession;
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

// ---- What each endpoint takes ----------------------------------------------------------

const EXPAND = { array: 'string' } as const;
const LIST: Shape = {
  limit: 'integer',
  starting_after: 'string',
  ending_before: 'string',
  expand: EXPAND,
};
const FUTURE_USAGE = { enum: ['off_session', 'on_session'] } as const;

const PAYMENT_INTENT_CREATE: Shape = {
  amount: 'integer',
  currency: 'string',
  customer: 'string',
  payment_method: 'string',
  payment_method_types: { array: 'string' },
  confirm: 'boolean',
  off_session: 'boolean',
  description: 'string',
  metadata: 'metadata',
  receipt_email: 'string',
  setup_future_usage: FUTURE_USAGE,
  expand: EXPAND,
};
const RANGE: Rule = { hash: { gt: 'integer', gte: 'integer', lt: 'integer', lte: 'integer' } };
const PAYMENT_INTENT_LIST: Shape = { ...LIST, customer: 'string', created: RANGE };

const CHECKOUT_SESSION_CREATE: Shape = {
  mode: { enum: ['payment', 'setup', 'subscription'] },
  line_items: {
    array: {
      hash: {
        price: 'string',
        price_data: {
          hash: {
            currency: 'string',
            unit_amount: 'integer',
            product_data: {
              hash: { name: 'string', description: 'string', metadata: 'metadata' },
            },
          },
        },
        quantity: 'integer',
      },
    },
  },
  success_url: 'string',
  cancel_url: 'string',
  client_reference_id: 'string',
  customer: 'string',
  customer_creation: { enum: ['always', 'if_required'] },
  customer_email: 'string',
  currency: 'string',
  expires_at: 'integer',
  locale: 'string',
  metadata: 'metadata',
  payment_method_types: { array: 'string' },
  payment_intent_data: {
    hash: {
      description: 'string',
      metadata: 'metadata',
      receipt_email: 'string',
      setup_future_usage: FUTURE_USAGE,
    },
  },
  setup_intent_data: { hash: { description: 'string', metadata: 'metadata' } },
  expand: EXPAND,
};
const CHECKOUT_SESSION_LIST: Shape = {
  ...LIST,
  customer: 'string',
  payment_intent: 'string',
  status: { enum: ['complete', 'expired', 'open'] },
};
const RETRIEVE: Shape = { expand: EXPAND };
const CANCEL: Shape = {
  expand: EXPAND,
  cancellation_reason: { enum: ['abandoned', 'duplicate', 'fraudulent', 'requested_by_customer'] },
};
/** The statuses Stripe lets a PaymentIntent be canceled from. */
const CANCELABLE = [
  'requires_payment_method',
  'requires_capture',
  'requires_confirmation',
  'requires_action',
  'processing',
];

/** `{"b":1,"a":2}` and `{"a":2,"b":1}` are the same request to Stripe. */
function canonical(v: unknown): string {
  if (v && typeof v === 'object') {
    const entries = Object.entries(v).sort(([a], [b]) => a.localeCompare(b));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const missing = (what: string, value: string, param = 'id') =>
  new ApiError(404, {
    type: 'invalid_request_error',
    code: 'resource_missing',
    doc_url: docUrl('resource_missing'),
    message: `No such ${what}: '${value}'`,
    param,
  });

function httpUrl(p: Params, key: string): string | null {
  const v = text(p, key);
  if (v === undefined) return null;
  let u: URL;
  try {
    u = new URL(v.replace('{CHECKOUT_SESSION_ID}', 'x'));
  } catch {
    throw invalid('Not a valid URL', key, 'url_invalid');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw invalid('Not a valid URL', key, 'url_invalid');
  }
  return v;
}

/** What a session keeps besides what Stripe shows. */
interface SessionRecord {
  session: StandInCheckoutSession;
  items: LineItem[];
  intentData: Params;
  setupData: Params;
}

type Context = { requestId: string; idempotencyKey: string | undefined };

export async function startStripeStandIn(opts: StripeStandInOptions): Promise<StripeStandIn> {
  const intents = new Map<string, StandInPaymentIntent>();
  const sessions = new Map<string, SessionRecord>();
  const setupIntents = new Map<string, Record<string, unknown>>();
  const idempotent = new Map<
    string,
    { path: string; fingerprint: string; status: number; body: string }
  >();
  const log: StandInRequest[] = [];
  const queue: { id: string; type: string; payload: string }[] = [];
  const delivered: WebhookDelivery[] = [];
  const pendingSends = new Set<Promise<unknown>>();
  let webhook = opts.webhook;
  let failures: { times: number; status: number; shouldRetry?: boolean } | undefined;
  const mode = opts.webhookMode ?? 'auto';
  let publicUrl = '';

  /** `request` names the API call that caused the event; a customer's action has none. */
  function event(type: string, object: unknown, ctx?: Context) {
    const eventId = newId('evt');
    const payload = JSON.stringify({
      id: eventId,
      object: 'event',
      api_version: Stripe.API_VERSION,
      created: now(),
      data: { object },
      livemode: false,
      pending_webhooks: webhook ? 1 : 0,
      request: { id: ctx?.requestId ?? null, idempotency_key: ctx?.idempotencyKey ?? null },
      type,
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

  /** Stripe's card error, as thrown (402) and as kept in `last_payment_error`. */
  function cardError(pm: string, customer: string | null, decline: string | undefined) {
    const code = decline ? 'card_declined' : 'authentication_required';
    return {
      type: 'card_error',
      code,
      decline_code: decline ?? 'authentication_required',
      doc_url: docUrl(code),
      message: decline
        ? decline === 'insufficient_funds'
          ? 'Your card has insufficient funds.'
          : 'Your card was declined.'
        : 'Your card was declined. This transaction requires authentication.',
      payment_method: paymentMethod(pm, customer),
    };
  }

  /** Confirms with a card; a decline leaves it `requires_payment_method` and returns the error. */
  function confirm(pi: StandInPaymentIntent, pm: string, offSession: boolean) {
    pi.payment_method = pm;
    const decline = DECLINES[pm];
    if (decline || (AUTH_REQUIRED.has(pm) && offSession)) {
      const error = cardError(pm, pi.customer, decline);
      const charge = decline ? newId('ch') : undefined;
      pi.status = 'requires_payment_method';
      pi.last_payment_error = { ...error, ...(charge ? { charge } : {}) };
      pi.latest_charge = charge ?? null;
      return { ...pi.last_payment_error };
    }
    if (AUTH_REQUIRED.has(pm)) {
      // On-session: the customer is asked to authenticate (3-D Secure) through Stripe.js.
      pi.status = 'requires_action';
      pi.next_action = {
        type: 'use_stripe_sdk',
        use_stripe_sdk: { type: 'three_d_secure_redirect', source: newId('src') },
      };
      return undefined;
    }
    pi.status = 'succeeded';
    pi.amount_received = pi.amount;
    pi.latest_charge = newId('ch');
    pi.last_payment_error = null;
    pi.next_action = null;
    return undefined;
  }

  function knownPaymentMethod(p: Params, key: string): string | null {
    const pm = text(p, key) ?? null;
    if (pm !== null && !pm.startsWith('pm_')) throw missing('PaymentMethod', pm, key);
    return pm;
  }

  function knownCustomer(p: Params, key: string): string | null {
    const c = text(p, key) ?? null;
    if (c !== null && !c.startsWith('cus_')) throw missing('customer', c, key);
    return c;
  }

  function createPaymentIntent(p: Params, ctx: Context): { status: number; body: unknown } {
    check(p, PAYMENT_INTENT_CREATE);
    const amount = integer(p, 'amount', 1);
    const currency = currencyOf(p, 'currency');
    const pm = knownPaymentMethod(p, 'payment_method');
    const customer = knownCustomer(p, 'customer');
    const doConfirm = flag(p, 'confirm');
    const offSession = flag(p, 'off_session');
    if (offSession && !doConfirm) {
      throw invalid('off_session can only be used when confirm=true', 'off_session');
    }
    if (doConfirm && !pm) {
      throw new ApiError(400, {
        type: 'invalid_request_error',
        code: 'payment_intent_unexpected_state',
        doc_url: docUrl('payment_intent_unexpected_state'),
        message:
          "You cannot confirm this PaymentIntent because it's missing a payment method. Specify a payment method to confirm it.",
      });
    }
    const types = list(p, 'payment_method_types').filter((t) => typeof t === 'string');
    const pi = paymentIntent({
      amount,
      currency,
      customer,
      paymentMethod: pm,
      metadata: metadataOf(p),
      description: text(p, 'description') ?? null,
      setupFutureUsage: (text(p, 'setup_future_usage') as 'off_session' | undefined) ?? null,
      ...(types.length > 0 ? { paymentMethodTypes: types as string[] } : {}),
      receiptEmail: text(p, 'receipt_email') ?? null,
    });
    intents.set(pi.id, pi);
    if (!doConfirm || !pm) return { status: 200, body: pi };
    const error = confirm(pi, pm, offSession);
    if (error) {
      throw new ApiError(402, { ...error, payment_intent: structuredClone(pi) });
    }
    if (pi.status === 'succeeded') event('payment_intent.succeeded', structuredClone(pi), ctx);
    return { status: 200, body: pi };
  }

  function createCheckoutSession(p: Params): { status: number; body: unknown } {
    check(p, CHECKOUT_SESSION_CREATE);
    const sessionMode = required(p, 'mode');
    if (sessionMode === 'subscription') {
      throw invalid(
        'The Stripe stand-in has no subscriptions: use mode=payment or mode=setup.',
        'mode',
      );
    }
    const payment = sessionMode === 'payment';
    const customer = knownCustomer(p, 'customer');
    const exclusive = (a: string, b: string) => {
      if (p[a] !== undefined && p[b] !== undefined) {
        throw invalid(
          `You may only specify one of these parameters: ${a}, ${b}.`,
          b,
          'parameters_exclusive',
        );
      }
    };
    exclusive('customer', 'customer_creation');
    exclusive('customer', 'customer_email');
    const onlyIn = (key: string, m: string) => {
      if (p[key] !== undefined && sessionMode !== m) {
        throw invalid(`You can not pass \`${key}\` in \`${sessionMode}\` mode.`, key);
      }
    };
    onlyIn('line_items', 'payment');
    onlyIn('payment_intent_data', 'payment');
    onlyIn('customer_creation', 'payment');
    onlyIn('setup_intent_data', 'setup');

    const items: LineItem[] = [];
    if (payment) {
      const raw = list(p, 'line_items');
      if (raw.length === 0) {
        throw invalid('Missing required param: line_items.', 'line_items', 'parameter_missing');
      }
      raw.forEach((entry, i) => {
        const li = entry as Params;
        const at = `line_items[${i}]`;
        const price = text(li, 'price');
        if (price) throw missing('price', price, `${at}[price]`);
        const data = hash(li, 'price_data');
        if (!data) {
          throw invalid(
            `Missing required param: ${at}[price_data].`,
            `${at}[price_data]`,
            'parameter_missing',
          );
        }
        const product = hash(data, 'product_data');
        if (!product) {
          throw invalid(
            `Missing required param: ${at}[price_data][product_data].`,
            `${at}[price_data][product_data]`,
            'parameter_missing',
          );
        }
        items.push({
          name: required(product, 'name', `${at}[price_data][product_data][name]`),
          description: text(product, 'description') ?? null,
          currency: currencyOf(data, 'currency', `${at}[price_data][currency]`),
          unitAmount: integer(data, 'unit_amount', 0, `${at}[price_data][unit_amount]`),
          quantity: integer(li, 'quantity', 1, `${at}[quantity]`),
        });
      });
      if (new Set(items.map((li) => li.currency)).size > 1) {
        throw invalid('All line items must use the same currency.', 'line_items');
      }
    }
    const currency = payment
      ? (items[0]?.currency ?? null)
      : p.currency !== undefined
        ? currencyOf(p, 'currency')
        : null;
    if (!payment && currency === null && list(p, 'payment_method_types').length === 0) {
      throw invalid(
        'currency is required in setup mode when payment_method_types is not passed.',
        'currency',
        'parameter_missing',
      );
    }
    const created = now();
    let expiresAt: number | null = null;
    if (p.expires_at !== undefined) {
      expiresAt = integer(p, 'expires_at', 0);
      if (expiresAt < created + 1800 || expiresAt > created + SESSION_LIFETIME_S) {
        throw invalid(
          'The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.',
          'expires_at',
        );
      }
    }
    const id = newId('cs_test');
    const session = checkoutSession({
      id,
      mode: payment ? 'payment' : 'setup',
      lineItems: items,
      currency,
      customer,
      customerCreation: payment
        ? ((text(p, 'customer_creation') as 'always' | 'if_required' | undefined) ??
          (customer ? null : 'if_required'))
        : null,
      customerEmail: text(p, 'customer_email') ?? null,
      clientReferenceId: text(p, 'client_reference_id') ?? null,
      metadata: metadataOf(p),
      successUrl: httpUrl(p, 'success_url'),
      cancelUrl: httpUrl(p, 'cancel_url'),
      url: `${publicUrl}/checkout/pay/${id}`,
      expiresAt,
      locale: text(p, 'locale') ?? null,
    });
    sessions.set(id, {
      session,
      items,
      intentData: hash(p, 'payment_intent_data') ?? {},
      setupData: hash(p, 'setup_intent_data') ?? {},
    });
    return { status: 200, body: session };
  }

  /** A session past its `expires_at` expires when next looked at, as Stripe's sweep would. */
  function current(record: SessionRecord): SessionRecord {
    if (record.session.status === 'open' && now() >= Number(record.session.expires_at)) {
      expire(record);
    }
    return record;
  }

  function expire(record: SessionRecord) {
    Object.assign(record.session, { status: 'expired', url: null });
    event('checkout.session.expired', structuredClone(record.session));
  }

  /** The Checkout page's Pay: a decline keeps the session open with the error to show. */
  function pay(record: SessionRecord, pm: string, email: string | null): string | undefined {
    const { session } = current(record);
    if (session.status !== 'open') return `This Checkout Session is ${session.status}.`;
    const payment = session.mode === 'payment';
    const futureUsage = text(record.intentData, 'setup_future_usage') ?? null;
    const customer =
      session.customer ??
      (!payment || futureUsage || session.customer_creation === 'always' ? newId('cus') : null);
    const details = { customer_details: customerDetails(email, null), customer };
    if (payment) {
      let pi = session.payment_intent ? intents.get(session.payment_intent) : undefined;
      if (!pi) {
        pi = paymentIntent({
          amount: session.amount_total ?? 0,
          currency: session.currency ?? 'usd',
          customer,
          paymentMethod: null,
          metadata: metadataOf(record.intentData),
          description: text(record.intentData, 'description') ?? null,
          setupFutureUsage: futureUsage as 'off_session' | 'on_session' | null,
          receiptEmail: text(record.intentData, 'receipt_email') ?? null,
        });
        intents.set(pi.id, pi);
        session.payment_intent = pi.id;
      }
      const error = confirm(pi, pm, false);
      if (error) return String(error.message);
      if (pi.status === 'requires_action') {
        // On the page the customer is present and passes 3-D Secure.
        Object.assign(pi, { status: 'succeeded', amount_received: pi.amount, next_action: null });
        pi.latest_charge = newId('ch');
      }
      Object.assign(session, details, { payment_status: 'paid' });
      event('payment_intent.succeeded', structuredClone(pi));
    } else {
      const seti = setupIntent({
        customer: customer ?? newId('cus'),
        paymentMethod: pm,
        metadata: metadataOf(record.setupData),
        description: text(record.setupData, 'description') ?? null,
      });
      setupIntents.set(String(seti.id), seti);
      Object.assign(session, details, { setup_intent: seti.id });
    }
    Object.assign(session, {
      status: 'complete',
      url: null,
      collected_information: { business_name: null, individual_name: null, shipping_details: null },
    });
    event('checkout.session.completed', structuredClone(session));
    return undefined;
  }

  /** `expand[]=payment_intent`, `expand[]=payment_intent.payment_method`, … */
  function expand(object: Record<string, unknown>, paths: Param[]): Record<string, unknown> {
    const out = structuredClone(object);
    for (const path of paths) {
      if (typeof path !== 'string') continue;
      let node: Record<string, unknown> = out;
      for (const field of path.split('.')) {
        const v = node[field];
        const found =
          typeof v !== 'string'
            ? v
            : field === 'payment_intent'
              ? structuredClone(intents.get(v))
              : field === 'setup_intent'
                ? structuredClone(setupIntents.get(v))
                : field === 'payment_method'
                  ? paymentMethod(v, (node.customer as string | null) ?? null)
                  : undefined;
        if (v === null) break;
        if (!found || typeof found !== 'object') {
          throw invalid(`This property cannot be expanded (${field}).`, 'expand');
        }
        node[field] = found;
        node = found as Record<string, unknown>;
      }
    }
    return out;
  }

  /** Stripe's list: newest first, `limit` (1–100, default 10), cursors, `has_more`. */
  function page<T extends { id: string }>(all: T[], q: Params, url: string, what: string) {
    const limit = q.limit === undefined ? 10 : integer(q, 'limit', 1);
    if (limit > 100) {
      throw invalid(
        'This value must be less than or equal to 100.',
        'limit',
        'parameter_invalid_integer',
      );
    }
    const after = text(q, 'starting_after');
    const before = text(q, 'ending_before');
    let from = 0;
    let to = all.length;
    if (after !== undefined) {
      const i = all.findIndex((x) => x.id === after);
      if (i < 0) throw missing(what, after, 'starting_after');
      from = i + 1;
    }
    if (before !== undefined) {
      const i = all.findIndex((x) => x.id === before);
      if (i < 0) throw missing(what, before, 'ending_before');
      to = i;
      from = Math.max(from, to - limit);
    }
    const data = all.slice(from, Math.min(to, from + limit));
    const hasMore = before !== undefined ? from > 0 : from + limit < to;
    return { object: 'list', data, has_more: hasMore, url };
  }

  function route(
    method: string,
    url: URL,
    p: Params,
    ctx: Context,
  ): { status: number; body: unknown } {
    const path = url.pathname;
    if (method === 'POST' && path === '/v1/payment_intents') return createPaymentIntent(p, ctx);
    if (method === 'POST' && path === '/v1/checkout/sessions') return createCheckoutSession(p);
    if (method === 'GET' && path === '/v1/payment_intents') {
      check(p, PAYMENT_INTENT_LIST);
      const customer = text(p, 'customer');
      const range = p.created;
      const bound = (k: string) =>
        typeof range === 'object' && typeof range[k] === 'string' ? Number(range[k]) : undefined;
      const [gt, gte, lt, lte] = ['gt', 'gte', 'lt', 'lte'].map(bound);
      const all = [...intents.values()]
        .filter(
          (i) =>
            (customer === undefined || i.customer === customer) &&
            (gt === undefined || i.created > gt) &&
            (gte === undefined || i.created >= gte) &&
            (lt === undefined || i.created < lt) &&
            (lte === undefined || i.created <= lte),
        )
        .reverse();
      return { status: 200, body: page(all, p, path, 'payment_intent') };
    }
    if (method === 'GET' && path === '/v1/checkout/sessions') {
      check(p, CHECKOUT_SESSION_LIST);
      const [customer, pi, status] = ['customer', 'payment_intent', 'status'].map((k) =>
        text(p, k),
      );
      const all = [...sessions.values()]
        .map((r) => current(r).session)
        .filter(
          (s) =>
            (customer === undefined || s.customer === customer) &&
            (pi === undefined || s.payment_intent === pi) &&
            (status === undefined || s.status === status),
        )
        .reverse();
      return { status: 200, body: page(all, p, path, 'checkout.session') };
    }
    const one =
      /^\/v1\/(payment_intents|checkout\/sessions|setup_intents)\/([^/]+)(\/expire|\/cancel)?$/.exec(
        path,
      );
    const [, kind, rawId, action] = one ?? [];
    if (kind && rawId) {
      const id = decodeURIComponent(rawId);
      if (method === 'POST' && action === '/cancel' && kind === 'payment_intents') {
        check(p, CANCEL);
        const found = intents.get(id);
        if (!found) throw missing('payment_intent', id);
        if (!CANCELABLE.includes(found.status)) {
          throw invalid(
            `You cannot cancel this PaymentIntent because it has a status of ${found.status}. Only a PaymentIntent with one of the following statuses may be canceled: ${CANCELABLE.join(', ')}.`,
            undefined,
            'payment_intent_unexpected_state',
          );
        }
        Object.assign(found, {
          status: 'canceled',
          canceled_at: now(),
          cancellation_reason: text(p, 'cancellation_reason') ?? null,
          next_action: null,
        });
        event('payment_intent.canceled', structuredClone(found));
        return { status: 200, body: expand(found, list(p, 'expand')) };
      }
      check(p, RETRIEVE);
      if (kind === 'checkout/sessions') {
        const record = sessions.get(id);
        if (!record) throw missing('checkout.session', id);
        const { session } = current(record);
        if (method === 'POST' && action === '/expire') {
          if (session.status !== 'open') {
            throw invalid(
              `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "${session.status}".`,
            );
          }
          expire(record);
          return { status: 200, body: expand(session, list(p, 'expand')) };
        }
        if (method === 'GET' && !action)
          return { status: 200, body: expand(session, list(p, 'expand')) };
      }
      if (method === 'GET' && !action && kind === 'payment_intents') {
        const found = intents.get(id);
        if (!found) throw missing('payment_intent', id);
        return { status: 200, body: expand(found, list(p, 'expand')) };
      }
      if (method === 'GET' && !action && kind === 'setup_intents') {
        const found = setupIntents.get(id);
        if (!found) throw missing('setup_intent', id);
        return { status: 200, body: expand(found, list(p, 'expand')) };
      }
    }
    throw new ApiError(
      404,
      {
        type: 'invalid_request_error',
        message: `Unrecognized request URL (${method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
      },
      true,
    );
  }

  /** The stand-in's Checkout page: no API key, as a customer's browser has none. */
  async function checkoutPageRequest(req: IncomingMessage, res: ServerResponse, id: string) {
    const body = await readBody(req);
    const record = sessions.get(id);
    const html = (status: number, text: string) => {
      res.writeHead(status, {
        'content-type': 'text/html; charset=utf-8',
        // form-action covers the 303 to success_url too, wherever the shop is.
        'content-security-policy': "default-src 'none'; form-action *; frame-ancestors 'none'",
      });
      res.end(text);
    };
    if (!record) return html(404, closedPage('No such Checkout Session.'));
    const { session, items } = current(record);
    const done = () => {
      const target = session.success_url?.replace('{CHECKOUT_SESSION_ID}', session.id);
      if (!target) return html(200, closedPage('Thanks for your payment.'));
      res.writeHead(303, { location: target });
      res.end();
    };
    if (session.status === 'complete') return done();
    if (session.status === 'expired')
      return html(410, closedPage('This Checkout Session has expired.'));
    if (req.method === 'POST') {
      const form = new URLSearchParams(body);
      const pm = form.get('payment_method') || 'pm_card_visa';
      const declined = pm.startsWith('pm_')
        ? pay(record, pm, form.get('email') || null)
        : `No such PaymentMethod: '${pm}'`;
      if (declined) return html(402, checkoutPage(session, items, declined));
      return done();
    }
    return html(200, checkoutPage(session, items));
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const refused = opts.refuse?.(req);
    if (refused) {
      req.resume();
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { type: 'invalid_request_error', message: refused } }));
      return;
    }
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const pagePath = /^\/checkout\/pay\/([^/]+)$/.exec(url.pathname);
    if (pagePath?.[1]) return checkoutPageRequest(req, res, decodeURIComponent(pagePath[1]));

    const body = await readBody(req);
    const method = req.method ?? 'GET';
    const key = req.headers['idempotency-key'];
    const idemKey = typeof key === 'string' && method === 'POST' ? key : undefined;
    const path = url.pathname;
    const version = req.headers['stripe-version'];
    const requestId = newId('req');
    const params = method === 'POST' ? decodeForm(body) : decodeForm(url.search.slice(1));
    const reply = (
      status: number,
      text: string,
      replayed: boolean,
      extra: Record<string, string> = {},
    ) => {
      log.push({
        method,
        path,
        ...(idemKey ? { idempotencyKey: idemKey } : {}),
        ...(typeof version === 'string' ? { stripeVersion: version } : {}),
        ...(method === 'POST' ? { params } : {}),
        status,
        replayed,
      });
      res.writeHead(status, {
        'content-type': 'application/json',
        'request-id': requestId,
        'stripe-version': typeof version === 'string' ? version : Stripe.API_VERSION,
        ...(idemKey ? { 'idempotency-key': idemKey } : {}),
        ...(replayed ? { 'idempotent-replayed': 'true' } : {}),
        ...extra,
      });
      res.end(text);
    };
    const errorBody = (error: Record<string, unknown>) =>
      JSON.stringify({
        error: {
          ...error,
          request_log_url: `https://dashboard.stripe.com/test/logs/${requestId}?t=${now()}`,
        },
      });
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
      return reply(status, errorBody(error), false, header);
    }
    if (req.headers.authorization !== `Bearer ${opts.apiKey}`) {
      const error = { type: 'invalid_request_error', message: 'Invalid API Key provided.' };
      return reply(401, errorBody(error), false);
    }
    const fingerprint = createHash('sha256').update(canonical(params)).digest('hex');
    if (idemKey) {
      const seen = idempotent.get(idemKey);
      const mismatch =
        seen && seen.path !== path
          ? `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${seen.path}' vs '${path}'). Try using a key other than '${idemKey}' if you meant to execute a different request.`
          : seen && seen.fingerprint !== fingerprint
            ? `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idemKey}' if you meant to execute a different request.`
            : undefined;
      if (mismatch) {
        return reply(400, errorBody({ type: 'idempotency_error', message: mismatch }), false);
      }
      if (seen) return reply(seen.status, seen.body, true);
    }
    let status: number;
    let out: string;
    let keep = true;
    try {
      const r = route(method, url, params, { requestId, idempotencyKey: idemKey });
      status = r.status;
      out = JSON.stringify(r.body);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      status = err.status;
      out = errorBody(err.body);
      // Stripe keeps no result for a request refused before it ran (its parameters).
      keep = !err.beforeExecution;
    }
    if (idemKey && keep) idempotent.set(idemKey, { path, fingerprint, status, body: out });
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
  publicUrl = (opts.publicUrl ?? url).replace(/\/$/, '');

  return {
    url,
    paymentIntents: () => [...intents.values()].map((pi) => structuredClone(pi)),
    checkoutSessions: () => [...sessions.values()].map((r) => structuredClone(r.session)),
    requests: () => [...log],
    failNext(times, status = 500, o = {}) {
      failures = { times, status, ...o };
    },
    addCheckoutSession(input) {
      const pi = paymentIntent({
        amount: input.amountMinor,
        currency: input.currency,
        customer: input.stripeCustomer,
        paymentMethod: input.paymentMethod,
        metadata: {},
        description: null,
        setupFutureUsage: 'off_session',
      });
      confirm(pi, input.paymentMethod, false);
      intents.set(pi.id, pi);
      const id = newId('cs_test');
      const session = checkoutSession({
        id,
        mode: 'payment',
        lineItems: [
          {
            name: 'Traffic',
            description: null,
            unitAmount: input.amountMinor,
            quantity: 1,
            currency: input.currency,
          },
        ],
        currency: input.currency,
        customer: input.stripeCustomer,
        customerCreation: null,
        customerEmail: null,
        clientReferenceId: input.customerId,
        metadata: input.metadata ?? {},
        successUrl: null,
        cancelUrl: null,
        url: '',
        expiresAt: null,
        locale: null,
      });
      Object.assign(session, {
        status: 'complete',
        payment_status: 'paid',
        payment_intent: pi.id,
        url: null,
        customer_details: customerDetails(null, null),
      });
      sessions.set(id, { session, items: [], intentData: {}, setupData: {} });
      return structuredClone(session);
    },
    payCheckoutSession(id, o = {}) {
      const record = sessions.get(id);
      if (!record) throw new Error(`no Checkout Session ${id}`);
      const declined = pay(record, o.paymentMethod ?? 'pm_card_visa', o.email ?? null);
      if (declined) throw new Error(declined);
      return structuredClone(record.session);
    },
    authenticate(piId) {
      const pi = intents.get(piId);
      if (!pi) throw new Error(`no PaymentIntent ${piId}`);
      pi.status = 'succeeded';
      pi.amount_received = pi.amount;
      pi.last_payment_error = null;
      pi.next_action = null;
      pi.latest_charge = newId('ch');
      event('payment_intent.succeeded', structuredClone(pi));
    },
    failPaymentIntent(piId, code) {
      const pi = intents.get(piId);
      if (!pi) throw new Error(`no PaymentIntent ${piId}`);
      pi.status = 'requires_payment_method';
      pi.amount_received = 0;
      pi.last_payment_error = {
        type: 'card_error',
        code,
        doc_url: docUrl(code),
        message: 'Your card was declined.',
        ...(pi.payment_method
          ? { payment_method: paymentMethod(pi.payment_method, pi.customer) }
          : {}),
      };
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
      setupIntents.clear();
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
