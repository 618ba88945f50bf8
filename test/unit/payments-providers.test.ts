import { Webhook } from 'standardwebhooks';
import Stripe from 'stripe';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { CONFIG_JSON_ENV } from '../../functions/commons/config/load.ts';
import { paymentsSchema } from '../../functions/commons/config/payments.ts';
import {
  MalformedWebhookError,
  WebhookSignatureError,
} from '../../functions/commons/payments/errors.ts';
import { providerOf, toWebhookRequest } from '../../functions/commons/payments/http.ts';
import { splitSecrets } from '../../functions/commons/payments/keys.ts';
import { epayProvider, epaySign } from '../../functions/commons/payments/providers/epay.ts';
import { standardProvider } from '../../functions/commons/payments/providers/standard.ts';
import { stripeProvider } from '../../functions/commons/payments/providers/stripe.ts';
import type { WebhookRequest } from '../../functions/commons/payments/types.ts';
import { lambdaContext } from '../../local/runtime/events.ts';

const config = paymentsSchema.parse({ stripe: { livemode: false }, epay: { pid: '1001' } });
const NEW = 'whsec_new';
const OLD = 'whsec_old';

const request = (body: string, headers: Record<string, string>, rawQuery = ''): WebhookRequest => ({
  headers,
  body: Buffer.from(body),
  rawQuery,
});

describe('Provider: stripe', () => {
  const session = {
    id: 'cs_1',
    payment_status: 'paid',
    amount_total: 1000,
    currency: 'USD',
    client_reference_id: null,
    metadata: { customerId: '88', package: 'gb10', quantity: '2' },
    payment_intent: 'pi_1',
  };
  const signed = (type: string, object: unknown, secret = NEW) => {
    const body = JSON.stringify({
      id: 'evt_1',
      type,
      created: 1_800_000_000,
      livemode: false,
      data: { object },
    });
    return request(body, {
      'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload: body, secret }),
    });
  };

  it('normalises a paid session: customer from metadata, currency lower case', () => {
    // Act
    const ev = stripeProvider.parse(signed('checkout.session.completed', session), {
      secrets: [NEW],
      config,
    });

    // Assess
    expect(ev).toEqual({
      type: 'payment-succeeded',
      paymentId: 'cs_1',
      customerId: '88',
      packageId: 'gb10',
      quantity: '2',
      amountMinor: 1000,
      currency: 'usd',
      paymentIntentId: 'pi_1',
    });
  });

  it('accepts the previous key during a rotation and refuses a retired one', () => {
    // Prepare
    const ctx = { secrets: [NEW, OLD], config };

    // Act
    const rotated = stripeProvider.parse(signed('x.y', {}, OLD), ctx);

    // Assess
    expect(rotated).toEqual({ type: 'ignored', reason: 'event type x.y' });
    expect(() => stripeProvider.parse(signed('x.y', {}, 'whsec_retired'), ctx)).toThrow(
      WebhookSignatureError,
    );
  });

  it('turns a cumulative refund into a part named by the new total', () => {
    // Act
    const ev = stripeProvider.parse(
      signed('charge.refunded', {
        id: 'ch_1',
        amount_refunded: 300,
        currency: 'usd',
        payment_intent: 'pi_1',
      }),
      { secrets: [NEW], config },
    );

    // Assess
    expect(ev).toEqual({
      type: 'refund',
      ref: { paymentIntentId: 'pi_1' },
      partId: 'ch_1:300',
      refundedMinor: 300,
      currency: 'usd',
      eventCreated: 1_800_000_000,
    });
  });
});

describe('Provider: stripe modes and reversals', () => {
  const event = (type: string, object: unknown, livemode: boolean) => {
    const body = JSON.stringify({
      id: 'evt_2',
      type,
      created: 1_800_000_000,
      livemode,
      data: { object },
    });
    return request(body, {
      'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload: body, secret: NEW }),
    });
  };
  const refundFailed = {
    id: 're_1',
    amount: 300,
    currency: 'usd',
    status: 'failed',
    payment_intent: 'pi_1',
  };

  it('takes live-mode events only unless configured otherwise', () => {
    // Prepare
    const deployed = paymentsSchema.parse({});

    // Act
    const testEvent = stripeProvider.parse(event('charge.refund.updated', refundFailed, false), {
      secrets: [NEW],
      config: deployed,
    });
    const liveEvent = stripeProvider.parse(event('charge.refund.updated', refundFailed, true), {
      secrets: [NEW],
      config: deployed,
    });

    // Assess
    expect(testEvent).toMatchObject({
      type: 'ignored',
      reason: expect.stringMatching(/test-mode/),
    });
    expect(liveEvent).toEqual({
      type: 'reversal',
      kind: 'refund-failed',
      ref: { paymentIntentId: 'pi_1' },
      partId: 're_1:failed',
      amountMinor: 300,
      currency: 'usd',
      eventCreated: 1_800_000_000,
    });
  });

  it('answers an event whose data.object is not an object as malformed (400)', () => {
    for (const object of [null, 'cs_1', [{ id: 'cs_1' }]]) {
      expect(() =>
        stripeProvider.parse(event('checkout.session.completed', object, false), {
          secrets: [NEW],
          config,
        }),
      ).toThrow(MalformedWebhookError);
    }
  });

  it('ignores refund updates that do not return the money', () => {
    const ev = stripeProvider.parse(
      event('charge.refund.updated', { ...refundFailed, status: 'succeeded' }, false),
      { secrets: [NEW], config },
    );
    expect(ev).toEqual({ type: 'ignored', reason: 'refund succeeded' });
  });
});

describe('Provider: standard', () => {
  const secret = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
  const sign = (body: string, key = secret) => {
    const at = new Date();
    return request(body, {
      'webhook-id': 'msg_1',
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(key).sign('msg_1', at, body),
    });
  };

  it('verifies with any configured key and normalises payment.succeeded', () => {
    // Prepare
    const body = JSON.stringify({
      type: 'payment.succeeded',
      data: { paymentId: 'o1', customerId: 7, package: 'p', amount: 5, currency: 'EUR' },
    });

    // Act
    const ev = standardProvider.parse(sign(body), { secrets: ['whsec_b3RoZXI=', secret], config });

    // Assess
    expect(ev).toMatchObject({ paymentId: 'o1', customerId: '7', currency: 'eur' });
  });

  it('tells a bad signature (401) from a malformed body (400)', () => {
    // Prepare
    const ctx = { secrets: [secret], config };
    const other = `whsec_${Buffer.from('another-key-another-key-another!').toString('base64')}`;

    // Assess
    expect(() => standardProvider.parse(sign('{}', other), ctx)).toThrow(WebhookSignatureError);
    expect(() => standardProvider.parse(sign('{"type":1}'), ctx)).toThrow(MalformedWebhookError);
  });

  const paid = { paymentId: 'o1', customerId: '0089', package: 'p', amount: 5, currency: 'usd' };
  const succeeded = (data: unknown) =>
    standardProvider.parse(sign(JSON.stringify({ type: 'payment.succeeded', data })), {
      secrets: [secret],
      config,
    });
  /** The field the refusal names (the logged cause), or 'accepted'. */
  const refusal = (data: unknown) => {
    try {
      succeeded(data);
      return 'accepted';
    } catch (err) {
      expect(err).toBeInstanceOf(MalformedWebhookError);
      return ((err as Error).cause as Error).message;
    }
  };

  it('reads every field of payment.succeeded, the contact leniently', () => {
    expect(succeeded({ ...paid, quantity: 3, email: ' a@b.example ', phone: 42 })).toEqual({
      type: 'payment-succeeded',
      paymentId: 'o1',
      customerId: '89',
      packageId: 'p',
      quantity: 3,
      amountMinor: 5,
      currency: 'usd',
      contact: { email: 'a@b.example' },
    });
    expect(succeeded(paid)).not.toHaveProperty('quantity');
  });

  it.each([
    ['an unknown field', { ...paid, qty: 2 }, /^event\.data\.qty: unknown field$/],
    ['quantity 0', { ...paid, quantity: 0 }, /^event\.data\.quantity: expected integer from 1/],
    ['quantity null', { ...paid, quantity: null }, /^event\.data\.quantity: /],
    ['a fractional amount', { ...paid, amount: 1.5 }, /^event\.data\.amount: /],
    ['customer 0', { ...paid, customerId: '000' }, /^event\.data\.customerId: /],
    ['a package of 65 characters', { ...paid, package: 'p'.repeat(65) }, /^event\.data\.package: /],
    ['an empty package', { ...paid, package: '' }, /^event\.data\.package: /],
    ['a payment id with a space', { ...paid, paymentId: 'o 1' }, /^event\.data\.paymentId: /],
    ['a currency of four letters', { ...paid, currency: 'usdt' }, /^event\.data\.currency: /],
    ['data that is not an object', [paid], /^event\.data: expected object, received array/],
  ])('refuses %s as malformed, naming the field', (_, data, named) => {
    expect(refusal(data)).toMatch(named);
  });

  it('reads payment.refunded strictly, and ignores other types', () => {
    const ctx = { secrets: [secret], config };
    const refund = (data: unknown) =>
      standardProvider.parse(sign(JSON.stringify({ type: 'payment.refunded', data })), ctx);
    expect(refund({ paymentId: 'o1', amountRefunded: 500, currency: 'EUR' })).toEqual({
      type: 'refund',
      ref: { paymentId: 'o1' },
      partId: 'refund:500',
      refundedMinor: 500,
      currency: 'eur',
    });
    expect(() => refund({ paymentId: 'o1', amountRefunded: 500, currency: 'eur', x: 1 })).toThrow(
      MalformedWebhookError,
    );
    expect(() => refund({ paymentId: 'o1', amountRefunded: -1, currency: 'eur' })).toThrow(
      MalformedWebhookError,
    );
    expect(standardProvider.parse(sign('{"type":"payment.pending","data":1}'), ctx)).toEqual({
      type: 'ignored',
      reason: 'event type payment.pending',
    });
    expect(() => standardProvider.parse(sign('{"type":""}'), ctx)).toThrow(MalformedWebhookError);
  });
});

describe('Provider: epay', () => {
  it('signs the sorted non-empty parameters without sign and sign_type, then the key', () => {
    // Prepare
    const params = new Map([
      ['pid', '1001'],
      ['money', '1.00'],
      ['empty', ''],
      ['sign', 'x'],
      ['sign_type', 'MD5'],
    ]);

    // Act
    const sign = epaySign(params, 'KEY');

    // Assess: md5("money=1.00&pid=1001KEY")
    expect(sign).toBe('3238bb873848e79303756bbccca7ce89');
  });

  it('reads the customer, package and quantity from param and money in fen', () => {
    // Prepare
    const fields = new Map([
      ['pid', '1001'],
      ['out_trade_no', 'o-1'],
      ['money', '12.30'],
      ['trade_status', 'TRADE_SUCCESS'],
      ['param', '88:gb10:3'],
    ]);
    const body = new URLSearchParams([
      ...fields,
      ['sign', epaySign(fields, 'K')],
      ['sign_type', 'MD5'],
    ]).toString();

    // Act
    const ev = epayProvider.parse(request(body, {}), { secrets: ['K'], config });

    // Assess
    expect(ev).toEqual({
      type: 'payment-succeeded',
      paymentId: 'o-1',
      customerId: '88',
      packageId: 'gb10',
      quantity: '3',
      amountMinor: 1230,
      currency: 'cny',
    });
  });

  it('answers plain text success or fail', () => {
    expect(epayProvider.answer({ statusCode: 200, result: 'credited' }).body).toBe('success');
    expect(epayProvider.answer({ statusCode: 503, result: 'retry-later' }).body).toBe('fail');
  });
});

describe('Module: http', () => {
  it('decodes a base64 body to the bytes sent and lower-cases header names', () => {
    // Prepare
    const bytes = Buffer.from([0xe5, 0xa5, 0xbd, 0x00, 0xff]);

    // Act
    const req = toWebhookRequest({
      body: bytes.toString('base64'),
      isBase64Encoded: true,
      headers: { 'Stripe-Signature': 's' },
      rawQueryString: 'a=1',
    } as never);

    // Assess
    expect(req.body.equals(bytes)).toBe(true);
    expect(req.headers).toEqual({ 'stripe-signature': 's' });
    expect(req.rawQuery).toBe('a=1');
  });

  it('finds the provider in the route or the path', () => {
    expect(providerOf({ pathParameters: { provider: 'epay' } } as never)).toBe('epay');
    expect(providerOf({ rawPath: '/webhooks/stripe' } as never)).toBe('stripe');
  });

  it('splits rotated secrets on whitespace only, so a comma inside a key keeps it whole', () => {
    expect(splitSecrets(' a,b  c\nd\t')).toEqual(['a,b', 'c', 'd']);
    expect(splitSecrets(undefined)).toEqual([]);
  });
});

describe('Handler: payment-webhook', () => {
  // Read once per process by getConfig(), at the first delivery.
  beforeAll(() => {
    vi.stubEnv(CONFIG_JSON_ENV, JSON.stringify({ payments: { providers: ['stripe'] } }));
  });

  it('answers a known provider the configuration does not enable 404 before reading any secret', async () => {
    // Prepare: no table either, so building the clients would answer 500.
    vi.stubEnv('TABLE_NAME', '');
    const { handler } = await import('../../functions/payment-webhook.ts');

    // Act
    const res = await handler(
      {
        rawPath: '/webhooks/epay',
        pathParameters: { provider: 'epay' },
        headers: {},
        body: '',
        isBase64Encoded: false,
      } as never,
      lambdaContext('payment-webhook', 10_000),
    );

    // Assess
    expect(res).toMatchObject({ statusCode: 404 });
  });

  it('answers an unknown provider 404 without building its clients', async () => {
    // Prepare
    const { handler } = await import('../../functions/payment-webhook.ts');

    // Act
    const res = await handler(
      {
        rawPath: '/webhooks/paypal',
        pathParameters: { provider: 'paypal' },
        headers: {},
        body: '{}',
        isBase64Encoded: false,
      } as never,
      lambdaContext('payment-webhook', 10_000),
    );

    // Assess
    expect(res).toEqual({
      statusCode: 404,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'not found' }),
    });
  });

  it('answers a generic 500 when its clients cannot be built', async () => {
    // Prepare
    vi.stubEnv('TABLE_NAME', '');
    const { handler } = await import('../../functions/payment-webhook.ts');

    // Act
    const res = await handler(
      {
        rawPath: '/webhooks/stripe',
        pathParameters: { provider: 'stripe' },
        headers: {},
        body: '{}',
        isBase64Encoded: false,
      } as never,
      lambdaContext('payment-webhook', 10_000),
    );

    // Assess
    expect(res).toMatchObject({
      statusCode: 500,
      body: JSON.stringify({ message: 'internal error' }),
    });
  });
});
