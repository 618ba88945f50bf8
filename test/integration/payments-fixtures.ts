import { createHash, randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { Webhook } from 'standardwebhooks';
import Stripe from 'stripe';
import { type PaymentsConfig, paymentsSchema } from '../../functions/commons/config/payments.ts';
import type { OpsEvent, OpsEventSink } from '../../functions/commons/ops-events.ts';
import type { SecretName } from '../../functions/commons/secrets.ts';

export const STRIPE_SECRET = 'whsec_test_stripe_secret';
export const STRIPE_OLD_SECRET = 'whsec_test_stripe_old_secret';
export const STANDARD_SECRET = `whsec_${Buffer.from('standard-webhooks-test-secret-32').toString('base64')}`;
export const STANDARD_OLD_SECRET = `whsec_${Buffer.from('standard-webhooks-old-secret-32b').toString('base64')}`;
export const EPAY_KEY = 'epay-test-merchant-key';

export const SECRETS: Record<SecretName, string> = {
  IPWEB_TOKEN: 'unused',
  STRIPE_WEBHOOK_SECRET: `${STRIPE_SECRET} ${STRIPE_OLD_SECRET}`,
  STANDARD_WEBHOOK_SECRET: `${STANDARD_SECRET}\n${STANDARD_OLD_SECRET}`,
  EPAY_KEY,
  STRIPE_API_KEY: 'sk_test_unused',
  STRIPE_READ_KEY: 'rk_test_unused',
  STRIPE_CHECKOUT_KEY: 'rk_test_unused',
  PORTAL_SECRET: 'unused-portal-secret-of-32-characters',
};

export const getTestSecret = async (name: SecretName) => SECRETS[name];

/** gb10: 10 GB for 1000 usd cents; gb100: 100 GB for 8000; cn5: 5 GB for 30.00 yuan. */
export function testPaymentsConfig(overrides: Record<string, unknown> = {}): PaymentsConfig {
  return paymentsSchema.parse({
    providers: ['stripe', 'standard', 'epay'],
    catalog: {
      gb10: { gb: 10, price: 1000, currency: 'USD' },
      gb100: { gb: '100', price: 8000, currency: 'usd' },
      cn5: { gb: 5, price: 3000, currency: 'cny' },
    },
    maxGbPerOrder: 500,
    monthlyCapGbPerCustomer: 1000,
    maxBodyBytes: 4096,
    // The fixtures' events are test-mode, as Stripe's test keys send them.
    stripe: { livemode: false },
    epay: { pid: '1001' },
    ...overrides,
  });
}

export class RecordingSink implements OpsEventSink {
  readonly events: OpsEvent[] = [];
  async raise(event: OpsEvent): Promise<void> {
    this.events.push(event);
  }
  kinds(): string[] {
    return this.events.map((e) => e.kind);
  }
}

/** Counts DynamoDB requests (one per command, SDK retries not counted twice). */
export function countRequests(client: DynamoDBClient): { total(): number; reset(): void } {
  let count = 0;
  client.middlewareStack.add(
    (next) => async (args) => {
      count += 1;
      return next(args);
    },
    { step: 'initialize', name: `requestCounter-${Math.random()}` },
  );
  return {
    total: () => count,
    reset: () => {
      count = 0;
    },
  };
}

export function apiEvent(
  provider: string,
  body: string | Buffer,
  headers: Record<string, string>,
  opts: { base64?: boolean; rawQueryString?: string } = {},
): APIGatewayProxyEventV2 {
  const raw = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return {
    version: '2.0',
    routeKey: 'POST /webhooks/{provider}',
    rawPath: `/webhooks/${provider}`,
    rawQueryString: opts.rawQueryString ?? '',
    headers,
    pathParameters: { provider },
    requestContext: {
      accountId: '000000000000',
      apiId: 'test',
      domainName: 'test.local',
      domainPrefix: 'test',
      http: {
        method: 'POST',
        path: `/webhooks/${provider}`,
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'test',
      },
      requestId: 'req',
      routeKey: 'POST /webhooks/{provider}',
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    body: opts.base64 ? raw.toString('base64') : raw.toString('utf8'),
    isBase64Encoded: opts.base64 ?? false,
  };
}

// ---- Stripe ------------------------------------------------------------------------------

let eventSeq = 0;

export function stripeEvent(
  type: string,
  object: Record<string, unknown>,
  opts: { livemode?: boolean; created?: number } = {},
): string {
  eventSeq += 1;
  return JSON.stringify({
    id: `evt_${eventSeq}_${Math.random().toString(36).slice(2)}`,
    object: 'event',
    api_version: '2025-01-27',
    created: opts.created ?? Math.floor(Date.now() / 1000),
    livemode: opts.livemode ?? false,
    type,
    data: { object },
  });
}

export function checkoutSession(
  id: string,
  opts: {
    customerId?: string | null;
    /** `null` leaves the package out. @default 'gb10' */
    pkg?: string | null;
    quantity?: string;
    amount?: number;
    currency?: string;
    paymentStatus?: string;
    paymentIntent?: string | null;
    metadataCustomer?: string;
  } = {},
): Record<string, unknown> {
  const metadata: Record<string, string> = {};
  if (opts.pkg !== null) metadata.package = opts.pkg ?? 'gb10';
  if (opts.quantity !== undefined) metadata.quantity = opts.quantity;
  if (opts.metadataCustomer !== undefined) metadata.customerId = opts.metadataCustomer;
  return {
    id,
    object: 'checkout.session',
    mode: 'payment',
    payment_status: opts.paymentStatus ?? 'paid',
    amount_total: opts.amount ?? 1000,
    currency: opts.currency ?? 'usd',
    client_reference_id: opts.customerId === undefined ? '88' : opts.customerId,
    metadata,
    payment_intent: opts.paymentIntent === undefined ? `pi_${id}` : opts.paymentIntent,
  };
}

export function stripeHeaders(
  payload: string,
  opts: { secret?: string; timestamp?: number } = {},
): Record<string, string> {
  const signature = Stripe.webhooks.generateTestHeaderString({
    payload,
    secret: opts.secret ?? STRIPE_SECRET,
    ...(opts.timestamp === undefined ? {} : { timestamp: opts.timestamp }),
  });
  return { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': signature };
}

export function stripeDelivery(provider: string, payload: string, opts?: { secret?: string }) {
  return apiEvent(provider, payload, stripeHeaders(payload, opts));
}

/** A Checkout Session id no other test uses. */
export const newSessionId = () => `cs_test_${randomUUID().replace(/-/g, '')}`;

/** Stripe's checkout.session.completed for checkoutSession(id, opts). */
export function checkoutCompleted(id: string, opts: Parameters<typeof checkoutSession>[1] = {}) {
  return stripeDelivery(
    'stripe',
    stripeEvent('checkout.session.completed', checkoutSession(id, opts)),
  );
}

/** Stripe's charge.refunded for a 1000-cent charge, `refunded` cents refunded so far. */
export function chargeRefunded(
  charge: string,
  paymentIntent: string,
  refunded: number,
  created?: number,
) {
  return stripeDelivery(
    'stripe',
    stripeEvent(
      'charge.refunded',
      {
        id: charge,
        object: 'charge',
        amount: 1000,
        amount_refunded: refunded,
        currency: 'usd',
        payment_intent: paymentIntent,
      },
      created === undefined ? {} : { created },
    ),
  );
}

/** Stripe's dispute event for the charge of session `id` (1000 cents unless `amount`). */
export function stripeDispute(
  id: string,
  type: 'charge.dispute.funds_withdrawn' | 'charge.dispute.funds_reinstated',
  opts: { amount?: number; status: string; reinstated?: number },
) {
  const amount = opts.amount ?? 1000;
  const balance_transactions: Record<string, unknown>[] = [
    { object: 'balance_transaction', amount: -amount, currency: 'usd', fee: 1500 },
  ];
  if (opts.reinstated !== undefined) {
    balance_transactions.push({
      object: 'balance_transaction',
      amount: opts.reinstated,
      currency: 'usd',
      fee: -1500,
    });
  }
  return stripeDelivery(
    'stripe',
    stripeEvent(type, {
      id: `dp_${id}`,
      object: 'dispute',
      amount,
      currency: 'usd',
      charge: `ch_${id}`,
      payment_intent: `pi_${id}`,
      status: opts.status,
      balance_transactions,
    }),
  );
}

// ---- Standard Webhooks -------------------------------------------------------------------

export function standardHeaders(
  payload: string,
  opts: { secret?: string; at?: Date; id?: string } = {},
): Record<string, string> {
  const id = opts.id ?? `msg_${Math.random().toString(36).slice(2)}`;
  const at = opts.at ?? new Date();
  const signature = new Webhook(opts.secret ?? STANDARD_SECRET).sign(id, at, payload);
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signature,
  };
}

export function standardPayload(type: string, data: Record<string, unknown>): string {
  return JSON.stringify({ type, timestamp: new Date().toISOString(), data });
}

// ---- epay --------------------------------------------------------------------------------

export function epayParams(fields: Record<string, string>, key = EPAY_KEY): Record<string, string> {
  const text = Object.entries(fields)
    .filter(([k, v]) => k !== 'sign' && k !== 'sign_type' && v !== '')
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const sign = createHash('md5')
    .update(text + key)
    .digest('hex');
  return { ...fields, sign, sign_type: 'MD5' };
}

export function epayNotify(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    pid: '1001',
    trade_no: `2026${Math.floor(Math.random() * 1e9)}`,
    out_trade_no: 'shop-1',
    type: 'alipay',
    name: '5 GB',
    money: '30.00',
    trade_status: 'TRADE_SUCCESS',
    param: '88:cn5',
    ...overrides,
  };
}

export function formBody(params: Record<string, string>): string {
  return new URLSearchParams(params).toString();
}
