import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import {
  createStripeApi,
  StripeAccessError,
  StripeUnavailableError,
} from '../../functions/commons/autotopup/stripe-api.ts';
import {
  encodeForm,
  STRIPE_API_VERSION,
  StripeApiError,
  StripeConnectionError,
  stripeClient,
} from '../../functions/commons/clients/stripe.ts';
import { useStripeStandIn } from '../helpers/stripe.ts';

/** FlowPilot's fetch-based Stripe client against the stand-in, over real HTTP. */
const KEY = 'sk_test_client_key';

const charge = (paymentMethod: string, idempotencyKey: string, amountMinor = 8000) => ({
  customerId: '88',
  packageId: 'gb100',
  quantity: 2,
  episode: 3,
  attempt: 1,
  gb: '200',
  amountMinor,
  currency: 'usd',
  stripeCustomer: 'cus_1',
  paymentMethod,
  idempotencyKey,
});

describe('Stripe client (fetch) against the stand-in', () => {
  const stand = useStripeStandIn({ apiKey: KEY });
  // Short back-off: the retries are what is tested, not the waiting.
  const client = (key = KEY) => stripeClient(key, stand.standIn.url, { retryDelayMs: 5 });
  const api = (key = KEY) => createStripeApi(client(key));

  it('pins the API version of the installed stripe package', () => {
    expect(STRIPE_API_VERSION).toBe(Stripe.API_VERSION);
  });

  it('encodes nested parameters as Stripe reads them and skips unset ones', () => {
    expect(
      encodeForm({ amount: 5, confirm: true, customer: undefined, metadata: { a: 'x y', b: '1' } }),
    ).toBe('amount=5&confirm=true&metadata%5Ba%5D=x+y&metadata%5Bb%5D=1');
  });

  it('sends the form, the pinned version and the idempotency key', async () => {
    const res = await api().chargeOffSession(charge('pm_card_visa', 'key-form'));
    expect(res).toMatchObject({ kind: 'charged', status: 'succeeded' });
    const [sent] = stand.standIn.requests();
    expect(sent).toMatchObject({
      method: 'POST',
      path: '/v1/payment_intents',
      idempotencyKey: 'key-form',
      stripeVersion: Stripe.API_VERSION,
      status: 200,
      params: {
        amount: '8000',
        currency: 'usd',
        customer: 'cus_1',
        payment_method: 'pm_card_visa',
        confirm: 'true',
        off_session: 'true',
        metadata: { flowpilot: 'autotopup', customerId: '88', package: 'gb100', quantity: '2' },
      },
    });
    expect(stand.standIn.paymentIntents()[0]?.description).toBe(
      'Auto top-up gb100 × 2 for customer 88',
    );
  });

  it('retries a 5xx with the same idempotency key and charges once', async () => {
    stand.standIn.failNext(1, 500);
    const res = await api().chargeOffSession(charge('pm_card_visa', 'key-retry'));
    expect(res).toMatchObject({ kind: 'charged' });
    expect(stand.standIn.requests().map((r) => [r.status, r.idempotencyKey])).toEqual([
      [500, 'key-retry'],
      [200, 'key-retry'],
    ]);
    expect(stand.standIn.paymentIntents()).toHaveLength(1);
  });

  it('retries a rate limit, then gives up after two retries as unavailable', async () => {
    const id = await charged();
    stand.standIn.failNext(1, 429);
    expect(await api().paymentIntentStatus(id)).toEqual({ status: 'succeeded' });
    expect(stand.standIn.requests().map((r) => `${r.method} ${r.status}`)).toEqual([
      'POST 200',
      'GET 429',
      'GET 200',
    ]);
    stand.standIn.reset();
    stand.standIn.failNext(3, 503);
    const err = await api()
      .chargeOffSession(charge('pm_card_visa', 'key-down'))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StripeUnavailableError);
    expect((err as Error).cause).toBeInstanceOf(StripeApiError);
    expect(stand.standIn.requests()).toHaveLength(3);
    expect(stand.standIn.paymentIntents()).toHaveLength(0);
  });

  it('does not retry when Stripe says not to', async () => {
    stand.standIn.failNext(3, 500, { shouldRetry: false });
    await expect(api().chargeOffSession(charge('pm_card_visa', 'key-no'))).rejects.toBeInstanceOf(
      StripeUnavailableError,
    );
    expect(stand.standIn.requests()).toHaveLength(1);
  });

  it('maps a wrong key (401) and a forbidden call (403) to access errors, without the key', async () => {
    const wrong = await api('sk_test_wrong_key')
      .chargeOffSession(charge('pm_card_visa', 'key-401'))
      .catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(StripeAccessError);
    expect((wrong as Error).message).toBe('Stripe refused the API key (create a PaymentIntent)');
    expect((wrong as Error).cause).toMatchObject({ kind: 'authentication', httpStatus: 401 });
    expect(JSON.stringify(wrong, Object.getOwnPropertyNames(wrong))).not.toContain('sk_test');
    expect(stand.standIn.requests()).toHaveLength(1);
    stand.standIn.failNext(1, 403);
    await expect(api().paymentIntentStatus('pi_x')).rejects.toThrow(
      'the Stripe API key may not read a PaymentIntent',
    );
  });

  it('counts a request Stripe refuses as invalid as a decline, with its message', async () => {
    const res = await api().chargeOffSession(charge('pm_card_visa', 'key-zero', 0));
    expect(res).toEqual({
      kind: 'declined',
      paymentIntentId: undefined,
      code: 'parameter_invalid_integer',
      message: 'This value must be greater than or equal to 1.',
    });
  });

  it('maps a card error to its code, decline code and PaymentIntent', async () => {
    const res = await api().chargeOffSession(
      charge('pm_card_chargeDeclinedInsufficientFunds', 'key-funds'),
    );
    expect(res).toEqual({
      kind: 'declined',
      paymentIntentId: stand.standIn.paymentIntents()[0]?.id,
      code: 'card_declined:insufficient_funds',
      message: 'Your card has insufficient funds.',
    });
    const direct = await client()
      .post('payment_intents', {
        amount: 100,
        currency: 'usd',
        payment_method: 'pm_card_chargeDeclined',
        confirm: true,
      })
      .catch((e: unknown) => e);
    expect(direct).toMatchObject({
      kind: 'card',
      httpStatus: 402,
      type: 'card_error',
      code: 'card_declined',
      declineCode: 'generic_decline',
    });
  });

  it('reads a missing PaymentIntent as Stripe unavailable, not as a decline', async () => {
    const err = await api()
      .paymentIntentStatus('pi_missing')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StripeUnavailableError);
    expect((err as Error).cause).toMatchObject({
      kind: 'invalid-request',
      code: 'resource_missing',
    });
  });

  it('retries a refused connection, then reports Stripe unavailable', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((r) => closed.close(() => r()));
    const err = await createStripeApi(stripeClient(KEY, url, { retryDelayMs: 5 }))
      .paymentIntentStatus('pi_1')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StripeUnavailableError);
    expect((err as Error).cause).toBeInstanceOf(StripeConnectionError);
  });

  async function charged(): Promise<string> {
    const res = await api().chargeOffSession(charge('pm_card_visa', `key-${Math.random()}`));
    if (res.kind !== 'charged') throw new Error(`not charged: ${res.kind}`);
    return res.paymentIntentId;
  }
});
