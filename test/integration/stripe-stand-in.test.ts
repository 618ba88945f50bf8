import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { createStripeApi } from '../../functions/commons/autotopup/stripe-api.ts';
import {
  encodeForm,
  STRIPE_API_VERSION,
  type StripeParams,
  stripeClient,
} from '../../functions/commons/clients/stripe.ts';
import { paymentsSchema } from '../../functions/commons/config/payments.ts';
import { stripeProvider } from '../../functions/commons/payments/providers/stripe.ts';
import { useStripeStandIn } from '../helpers/stripe.ts';
import { stripeSchemaProblems, stripeSchemaRequired } from '../helpers/stripe-schema.ts';

/**
 * The Stripe stand-in speaks Stripe for the pinned API version: its answers (objects, lists,
 * errors, events) conform to Stripe's schemas (test/fixtures/stripe-openapi-subset.json), it
 * refuses what Stripe refuses with Stripe's codes, and a Checkout Session can be paid on its
 * Checkout page, which sends the signed `checkout.session.completed`.
 */
const KEY = 'sk_test_stand_in_spec';
const SECRET = 'whsec_stand_in_spec';

type Answer = { status: number; body: Record<string, unknown>; headers: Headers };

describe('Stripe stand-in against Stripe’s schemas', () => {
  const stand = useStripeStandIn({ apiKey: KEY, webhook: { secret: SECRET } });
  const { received } = stand;

  async function call(
    method: 'GET' | 'POST',
    path: string,
    params: StripeParams | string = {},
    headers: Record<string, string> = {},
  ): Promise<Answer> {
    const form = typeof params === 'string' ? params : encodeForm(params);
    const res = await fetch(
      `${stand.standIn.url}/v1/${path}${method === 'GET' && form ? `?${form}` : ''}`,
      {
        method,
        headers: {
          authorization: `Bearer ${KEY}`,
          'stripe-version': STRIPE_API_VERSION,
          ...(method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
          ...headers,
        },
        ...(method === 'POST' ? { body: form } : {}),
      },
    );
    return {
      status: res.status,
      body: (await res.json()) as Record<string, unknown>,
      headers: res.headers,
    };
  }

  /** The events the webhook received, verified with the endpoint secret. */
  async function events(): Promise<Stripe.Event[]> {
    await stand.standIn.deliverWebhooks();
    return received.map((d) => Stripe.webhooks.constructEvent(d.body, d.signature, SECRET));
  }

  const conforms = (value: unknown, schema: string) =>
    expect(stripeSchemaProblems(value, schema)).toEqual([]);

  const errorOf = (a: Answer) => a.body.error as Record<string, unknown>;

  const session = (extra: StripeParams = {}): StripeParams => ({
    mode: 'payment',
    client_reference_id: '88',
    metadata: { package: 'gb100', quantity: '1' },
    line_items: {
      0: {
        price_data: { currency: 'usd', unit_amount: 4000, product_data: { name: '100 GB' } },
        quantity: 2,
      },
    },
    success_url: 'https://shop.example/portal?paid={CHECKOUT_SESSION_ID}',
    cancel_url: 'https://shop.example/portal',
    ...extra,
  });

  it('the validator catches what the issue found: missing required fields, a wrong enum, an extra field', () => {
    const problems = stripeSchemaProblems(
      { id: 'cs_1', object: 'checkout.session', mode: 'payment', status: 'paid', foo: 1 },
      'checkout.session',
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'checkout.session.created: required, missing',
        'checkout.session.expires_at: required, missing',
        'checkout.session.status: "paid" not one of complete, expired, open',
        "checkout.session.foo: not in Stripe's schema",
      ]),
    );
  });

  it('requires at least what spec3.json itself requires', () => {
    // The `required` lists of openapi/spec3.json at stripe/openapi af5309c (2026-07-29), the
    // newest spec3 readable here; the subset (from the pinned SDK) adds every nullable field,
    // which Stripe always sends, null when unset.
    const spec3 = {
      'checkout.session': [
        'automatic_tax',
        'created',
        'custom_fields',
        'custom_text',
        'expires_at',
        'id',
        'livemode',
        'mode',
        'object',
        'payment_method_types',
        'payment_status',
        'shipping_options',
      ],
      payment_intent: ['created', 'id', 'livemode', 'object', 'status'],
    };
    for (const [name, required] of Object.entries(spec3)) {
      expect(stripeSchemaRequired(name)).toEqual(expect.arrayContaining(required));
    }
  });

  describe('PaymentIntents', () => {
    it('creates without a payment method as requires_payment_method, shaped as Stripe’s', async () => {
      const a = await call('POST', 'payment_intents', { amount: 500, currency: 'usd' });
      expect(a.status).toBe(200);
      expect(a.body).toMatchObject({
        status: 'requires_payment_method',
        capture_method: 'automatic_async',
        confirmation_method: 'automatic',
        payment_method_types: ['card'],
        next_action: null,
      });
      conforms(a.body, 'payment_intent');
      const b = await call('POST', 'payment_intents', {
        amount: 500,
        currency: 'usd',
        payment_method: 'pm_card_visa',
      });
      expect(b.body.status).toBe('requires_confirmation');
      conforms(b.body, 'payment_intent');
    });

    it('answers a 3-D Secure card on-session with requires_action and its next_action', async () => {
      const a = await call('POST', 'payment_intents', {
        amount: 500,
        currency: 'usd',
        payment_method: 'pm_card_authenticationRequired',
        confirm: true,
      });
      expect(a.body).toMatchObject({
        status: 'requires_action',
        next_action: { type: 'use_stripe_sdk' },
      });
      conforms(a.body, 'payment_intent');
    });

    it('charges off-session and sends payment_intent.succeeded naming the request', async () => {
      const a = await call(
        'POST',
        'payment_intents',
        {
          amount: 8000,
          currency: 'usd',
          customer: 'cus_1',
          payment_method: 'pm_card_visa',
          confirm: true,
          off_session: true,
          metadata: { flowpilot: 'autotopup' },
        },
        { 'idempotency-key': 'k-event' },
      );
      expect(a.body).toMatchObject({ status: 'succeeded', amount_received: 8000 });
      conforms(a.body, 'payment_intent');
      const [event] = await events();
      expect(event).toMatchObject({
        type: 'payment_intent.succeeded',
        api_version: STRIPE_API_VERSION,
        pending_webhooks: 1,
        request: { id: a.headers.get('request-id'), idempotency_key: 'k-event' },
      });
      conforms(event, 'event');
      conforms(event?.data.object, 'payment_intent');
    });

    it('shows a declined card in the error as Stripe does, the full PaymentMethod included', async () => {
      const a = await call('POST', 'payment_intents', {
        amount: 500,
        currency: 'usd',
        payment_method: 'pm_card_chargeDeclined',
        confirm: true,
      });
      expect(a.status).toBe(402);
      expect(errorOf(a)).toMatchObject({
        type: 'card_error',
        code: 'card_declined',
        decline_code: 'generic_decline',
        payment_method: {
          id: 'pm_card_chargeDeclined',
          object: 'payment_method',
          type: 'card',
          card: { brand: 'visa', last4: '0002' },
        },
        payment_intent: { status: 'requires_payment_method' },
      });
      conforms(a.body, 'error');
      const [pi] = stand.standIn.paymentIntents();
      expect(pi?.last_payment_error).toMatchObject({ code: 'card_declined' });
      conforms(pi, 'payment_intent');
    });

    it.each([
      [{ currency: 'usd' }, 'parameter_missing', 'Missing required param: amount.'],
      [{ amount: 'abc', currency: 'usd' }, 'parameter_invalid_integer', 'Invalid integer: abc'],
      [{ amount: '1.5', currency: 'usd' }, 'parameter_invalid_integer', 'Invalid integer: 1.5'],
      [{ amount: '', currency: 'usd' }, 'parameter_invalid_empty', undefined],
      [
        { amount: 0, currency: 'usd' },
        'parameter_invalid_integer',
        'This value must be greater than or equal to 1.',
      ],
    ])('refuses amount in %o with %s', async (params, code, message) => {
      const a = await call('POST', 'payment_intents', params);
      expect(a.status).toBe(400);
      expect(errorOf(a)).toMatchObject({
        type: 'invalid_request_error',
        code,
        param: 'amount',
        ...(message ? { message } : {}),
      });
      conforms(a.body, 'error');
      expect(stand.standIn.paymentIntents()).toHaveLength(0);
    });

    it('refuses unknown parameters, top-level and nested, with parameter_unknown', async () => {
      const top = await call('POST', 'payment_intents', {
        amount: 500,
        currency: 'usd',
        amount_minor: 500,
      });
      expect(top.status).toBe(400);
      expect(errorOf(top)).toMatchObject({
        code: 'parameter_unknown',
        param: 'amount_minor',
        message: 'Received unknown parameter: amount_minor',
      });
      conforms(top.body, 'error');
      const nested = await call('POST', 'checkout/sessions', {
        ...session(),
        payment_intent_data: { setup_future_use: 'off_session' },
      });
      expect(errorOf(nested)).toMatchObject({
        code: 'parameter_unknown',
        param: 'payment_intent_data[setup_future_use]',
      });
      const query = await call('GET', 'payment_intents', { customr: 'cus_1' });
      expect(errorOf(query)).toMatchObject({ code: 'parameter_unknown', param: 'customr' });
    });

    it('reads numeric metadata keys as keys and `[]` as a list, as Stripe does', async () => {
      const a = await call('POST', 'payment_intents', {
        amount: 500,
        currency: 'usd',
        metadata: { 2024: 'year', customerId: '88' },
      });
      expect(a.body.metadata).toEqual({ 2024: 'year', customerId: '88' });
      const b = await call(
        'GET',
        `payment_intents/${a.body.id}`,
        'expand[]=payment_method&expand[]=latest_charge',
      );
      expect(b.status).toBe(200);
    });

    it('pages lists by limit and starting_after with has_more', async () => {
      for (let i = 0; i < 5; i++) {
        await call('POST', 'payment_intents', { amount: 100 + i, currency: 'usd' });
      }
      const first = await call('GET', 'payment_intents', { limit: 2 });
      expect(first.body).toMatchObject({
        object: 'list',
        has_more: true,
        url: '/v1/payment_intents',
      });
      conforms(first.body, 'list');
      const data = first.body.data as { id: string; amount: number }[];
      expect(data.map((d) => d.amount)).toEqual([104, 103]);
      for (const pi of data) conforms(pi, 'payment_intent');
      const rest = await call('GET', 'payment_intents', {
        limit: 10,
        starting_after: data[1]?.id ?? '',
      });
      expect((rest.body.data as { amount: number }[]).map((d) => d.amount)).toEqual([
        102, 101, 100,
      ]);
      expect(rest.body.has_more).toBe(false);
      const tooMany = await call('GET', 'payment_intents', { limit: 101 });
      expect(errorOf(tooMany)).toMatchObject({ code: 'parameter_invalid_integer', param: 'limit' });
    });

    it('reads a missing object as resource_missing', async () => {
      const a = await call('GET', 'payment_intents/pi_nope');
      expect(a.status).toBe(404);
      expect(errorOf(a)).toMatchObject({ code: 'resource_missing', param: 'id' });
      conforms(a.body, 'error');
    });
  });

  describe('idempotency keys', () => {
    it('replays the same parameters (in any order), refuses other ones and other endpoints', async () => {
      const params = { amount: 700, currency: 'usd', metadata: { a: '1', b: '2' } };
      const headers = { 'idempotency-key': 'k-idem' };
      const a = await call('POST', 'payment_intents', params, headers);
      const b = await call(
        'POST',
        'payment_intents',
        'metadata[b]=2&currency=usd&metadata[a]=1&amount=700',
        headers,
      );
      expect(b.body).toEqual(a.body);
      expect(b.headers.get('idempotent-replayed')).toBe('true');
      expect(stand.standIn.paymentIntents()).toHaveLength(1);
      const c = await call('POST', 'payment_intents', { ...params, amount: 701 }, headers);
      expect(c.status).toBe(400);
      expect(errorOf(c)).toMatchObject({ type: 'idempotency_error' });
      conforms(c.body, 'error');
      const d = await call('POST', 'checkout/sessions', session(), headers);
      expect(errorOf(d)).toMatchObject({ type: 'idempotency_error' });
      expect(String(errorOf(d).message)).toContain('same endpoint');
    });

    it('keeps no result for a request refused for its parameters, as Stripe', async () => {
      const headers = { 'idempotency-key': 'k-fix' };
      const bad = await call('POST', 'payment_intents', { currency: 'usd' }, headers);
      expect(errorOf(bad).code).toBe('parameter_missing');
      const good = await call('POST', 'payment_intents', { amount: 5, currency: 'usd' }, headers);
      expect(good.status).toBe(200);
    });

    it('replays a card error (the request ran)', async () => {
      const params = {
        amount: 500,
        currency: 'usd',
        payment_method: 'pm_card_chargeDeclined',
        confirm: true,
      };
      const headers = { 'idempotency-key': 'k-card' };
      const a = await call('POST', 'payment_intents', params, headers);
      const b = await call('POST', 'payment_intents', params, headers);
      expect([a.status, b.status]).toEqual([402, 402]);
      expect(b.body).toEqual(a.body);
      expect(stand.standIn.paymentIntents()).toHaveLength(1);
    });
  });

  describe('Checkout Sessions', () => {
    it('creates a payment session shaped as Stripe’s, with a url to pay it', async () => {
      const a = await call(
        'POST',
        'checkout/sessions',
        session({ payment_intent_data: { setup_future_usage: 'off_session' } }),
      );
      expect(a.status).toBe(200);
      const created = a.body;
      conforms(created, 'checkout.session');
      expect(created).toMatchObject({
        object: 'checkout.session',
        mode: 'payment',
        status: 'open',
        payment_status: 'unpaid',
        amount_subtotal: 8000,
        amount_total: 8000,
        currency: 'usd',
        client_reference_id: '88',
        metadata: { package: 'gb100', quantity: '1' },
        livemode: false,
        payment_method_types: ['card'],
        automatic_tax: { enabled: false, status: null },
        total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
        customer: null,
        customer_creation: 'if_required',
        payment_intent: null,
        ui_mode: 'hosted_page',
      });
      expect(created.url).toBe(`${stand.standIn.url}/checkout/pay/${created.id}`);
      expect(Number(created.expires_at) - Number(created.created)).toBe(24 * 3600);
      const read = await call('GET', `checkout/sessions/${created.id}`);
      expect(read.body).toEqual(created);
    });

    it('is paid on its Checkout page: 303 to success_url, completed event, card saved', async () => {
      const created = (
        await call(
          'POST',
          'checkout/sessions',
          session({
            payment_intent_data: {
              setup_future_usage: 'off_session',
              metadata: { customerId: '88' },
            },
          }),
        )
      ).body;
      const url = String(created.url);
      const page = await fetch(url);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('80.00 USD');
      const paid = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'payment_method=pm_card_visa&email=buyer%40example.com',
        redirect: 'manual',
      });
      expect(paid.status).toBe(303);
      expect(paid.headers.get('location')).toBe(`https://shop.example/portal?paid=${created.id}`);

      const done = (await call('GET', `checkout/sessions/${created.id}`)).body;
      conforms(done, 'checkout.session');
      expect(done).toMatchObject({
        status: 'complete',
        payment_status: 'paid',
        url: null,
        customer_details: { email: 'buyer@example.com' },
      });
      expect(String(done.customer)).toMatch(/^cus_/);
      const pi = (await call('GET', `payment_intents/${done.payment_intent}`)).body;
      conforms(pi, 'payment_intent');
      expect(pi).toMatchObject({
        status: 'succeeded',
        amount_received: 8000,
        customer: done.customer,
        payment_method: 'pm_card_visa',
        setup_future_usage: 'off_session',
        metadata: { customerId: '88' },
      });

      const sent = await events();
      expect(sent.map((e) => e.type)).toEqual([
        'payment_intent.succeeded',
        'checkout.session.completed',
      ]);
      for (const e of sent) conforms(e, 'event');
      const completed = sent[1];
      expect(completed?.request).toEqual({ id: null, idempotency_key: null });
      expect(completed?.data.object).toEqual(done);

      // FlowPilot's webhook reads the stand-in's event as the payment it is.
      const delivery = received[1];
      expect(
        stripeProvider.parse(
          {
            headers: { 'stripe-signature': delivery?.signature ?? '' },
            body: Buffer.from(delivery?.body ?? ''),
            rawQuery: '',
          },
          { secrets: [SECRET], config: paymentsSchema.parse({ stripe: { livemode: false } }) },
        ),
      ).toMatchObject({
        type: 'payment-succeeded',
        paymentId: created.id,
        customerId: '88',
        packageId: 'gb100',
        amountMinor: 8000,
        subtotalMinor: 8000,
        currency: 'usd',
        paymentIntentId: done.payment_intent,
      });

      // What auto top-up's opt-in reads back: the customer and the card the session saved.
      const api = createStripeApi(stripeClient(KEY, stand.standIn.url));
      expect(await api.savedCardOfCheckout(String(created.id))).toEqual({
        stripeCustomer: done.customer,
        paymentMethod: 'pm_card_visa',
      });
      // Paid sessions send the payer on to success_url, as Stripe does.
      const again = await fetch(url, { redirect: 'manual' });
      expect(again.status).toBe(303);
    });

    it('keeps the session open after a declined card, then takes another', async () => {
      const created = (await call('POST', 'checkout/sessions', session())).body;
      const declined = await fetch(String(created.url), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'payment_method=pm_card_chargeDeclined',
        redirect: 'manual',
      });
      expect(declined.status).toBe(402);
      expect(await declined.text()).toContain('Your card was declined.');
      const open = (await call('GET', `checkout/sessions/${created.id}`)).body;
      expect(open).toMatchObject({ status: 'open', payment_status: 'unpaid' });
      conforms(open, 'checkout.session');
      expect(await events()).toEqual([]);
      const paid = stand.standIn.payCheckoutSession(String(created.id));
      expect(paid).toMatchObject({ status: 'complete', payment_status: 'paid', customer: null });
      expect(stand.standIn.paymentIntents()).toHaveLength(1);
    });

    it('creates and completes a setup session that saves a card on a new customer', async () => {
      const a = await call('POST', 'checkout/sessions', {
        mode: 'setup',
        currency: 'usd',
        client_reference_id: '88',
        metadata: { autoTopup: 'gb100:20' },
        success_url: 'https://shop.example/ok',
      });
      expect(a.status).toBe(200);
      conforms(a.body, 'checkout.session');
      expect(a.body).toMatchObject({
        mode: 'setup',
        payment_status: 'no_payment_required',
        amount_total: null,
        total_details: null,
      });
      const done = stand.standIn.payCheckoutSession(String(a.body.id), {
        paymentMethod: 'pm_card_mastercard',
      });
      conforms(done, 'checkout.session');
      const seti = await call('GET', `setup_intents/${done.setup_intent}`);
      conforms(seti.body, 'setup_intent');
      expect(seti.body).toMatchObject({
        status: 'succeeded',
        usage: 'off_session',
        customer: done.customer,
        payment_method: 'pm_card_mastercard',
      });
      const [event] = await events();
      expect(event?.type).toBe('checkout.session.completed');
    });

    it('expands the PaymentIntent of a paid session on request', async () => {
      const created = (await call('POST', 'checkout/sessions', session())).body;
      stand.standIn.payCheckoutSession(String(created.id));
      const a = await call('GET', `checkout/sessions/${created.id}`, {
        expand: { 0: 'payment_intent' },
      });
      expect(a.body.payment_intent).toMatchObject({
        object: 'payment_intent',
        status: 'succeeded',
      });
      conforms(a.body, 'checkout.session');
    });

    it('expires an open session: event, no more paying', async () => {
      const created = (await call('POST', 'checkout/sessions', session())).body;
      const a = await call('POST', `checkout/sessions/${created.id}/expire`);
      expect(a.body).toMatchObject({ status: 'expired', url: null });
      conforms(a.body, 'checkout.session');
      expect((await events()).map((e) => e.type)).toEqual(['checkout.session.expired']);
      expect((await fetch(String(created.url))).status).toBe(410);
      const twice = await call('POST', `checkout/sessions/${created.id}/expire`);
      expect(twice.status).toBe(400);
    });

    it('lists sessions by customer, paged', async () => {
      for (let i = 0; i < 3; i++) {
        await call('POST', 'checkout/sessions', session({ customer: 'cus_list' }));
      }
      await call('POST', 'checkout/sessions', session());
      const a = await call('GET', 'checkout/sessions', { customer: 'cus_list', limit: 2 });
      expect(a.body).toMatchObject({ has_more: true });
      expect(a.body.data).toHaveLength(2);
      conforms(a.body, 'list');
      for (const s of a.body.data as unknown[]) conforms(s, 'checkout.session');
    });

    it.each<[string, StripeParams, string, string | undefined]>([
      ['no mode', { ...session(), mode: undefined }, 'mode', 'parameter_missing'],
      ['no line items', { ...session(), line_items: undefined }, 'line_items', 'parameter_missing'],
      [
        'no quantity',
        session({
          line_items: {
            0: { price_data: { currency: 'usd', unit_amount: 1, product_data: { name: 'x' } } },
          },
        }),
        'line_items[0][quantity]',
        'parameter_missing',
      ],
      [
        'a non-integer unit amount',
        session({
          line_items: {
            0: {
              price_data: { currency: 'usd', unit_amount: '9.99', product_data: { name: 'x' } },
              quantity: 1,
            },
          },
        }),
        'line_items[0][price_data][unit_amount]',
        'parameter_invalid_integer',
      ],
      [
        'customer with customer_creation',
        session({ customer: 'cus_1', customer_creation: 'always' }),
        'customer_creation',
        'parameters_exclusive',
      ],
      ['an unknown mode', session({ mode: 'donation' }), 'mode', undefined],
      ['a relative success_url', session({ success_url: '/portal' }), 'success_url', 'url_invalid'],
      [
        'payment_intent_data in setup mode',
        {
          mode: 'setup',
          currency: 'usd',
          payment_intent_data: { setup_future_usage: 'off_session' },
        },
        'payment_intent_data',
        undefined,
      ],
    ])('refuses a session with %s', async (_, params, param, code) => {
      const a = await call('POST', 'checkout/sessions', params);
      expect(a.status).toBe(400);
      expect(errorOf(a)).toMatchObject({
        type: 'invalid_request_error',
        param,
        ...(code ? { code } : {}),
      });
      conforms(a.body, 'error');
      expect(stand.standIn.checkoutSessions()).toHaveLength(0);
    });
  });

  it('serves Stripe’s own library: a session created and read with stripe-node', async () => {
    const { hostname, port } = new URL(stand.standIn.url);
    const stripe = new Stripe(KEY, { host: hostname, port: Number(port), protocol: 'http' });
    const created = await stripe.checkout.sessions.create({
      mode: 'payment',
      client_reference_id: '88',
      line_items: [
        {
          price_data: { currency: 'eur', unit_amount: 1500, product_data: { name: '10 GB' } },
          quantity: 1,
        },
      ],
      success_url: 'https://shop.example/ok',
      customer_creation: 'always',
    });
    expect(created.amount_total).toBe(1500);
    const read = await stripe.checkout.sessions.retrieve(created.id);
    expect(read.status).toBe('open');
    await expect(
      stripe.paymentIntents.create({ amount: 100, currency: 'usd', confirm: true }),
    ).rejects.toMatchObject({
      type: 'StripeInvalidRequestError',
      code: 'payment_intent_unexpected_state',
    });
  });
});
