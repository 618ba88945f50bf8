import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import {
  createStripeApi,
  StripeAccessError,
  StripeIdempotencyError,
} from '../../functions/commons/autotopup/stripe-api.ts';
import { stripeClient } from '../../functions/commons/clients/stripe.ts';
import { decodeForm } from '../../local/stripe/server.ts';
import { useStripeStandIn } from '../helpers/stripe.ts';

const KEY = 'sk_test_standin';
const SECRET = 'whsec_standin_test';

const charge = (paymentMethod: string, idempotencyKey: string, amountMinor = 8000) => ({
  customerId: '88',
  packageId: 'gb100',
  quantity: 1,
  episode: 1,
  attempt: 1,
  gb: '100',
  amountMinor,
  currency: 'usd',
  stripeCustomer: 'cus_1',
  paymentMethod,
  idempotencyKey,
});

describe("Stripe stand-in with FlowPilot's Stripe client", () => {
  const stand = useStripeStandIn({ apiKey: KEY, webhook: { secret: SECRET } });
  const { received } = stand;

  const api = () => createStripeApi(stripeClient(KEY, stand.standIn.url));

  it('decodes bracketed form keys as Stripe does', () => {
    expect(decodeForm('a=1&metadata[customerId]=88&metadata[quantity]=2')).toEqual({
      a: '1',
      metadata: { customerId: '88', quantity: '2' },
    });
  });

  it('charges pm_card_visa off-session, marked, and sends a signed payment_intent.succeeded', async () => {
    const res = await api().chargeOffSession(charge('pm_card_visa', 'k-1'));
    expect(res).toMatchObject({ kind: 'charged', status: 'succeeded' });
    const [pi] = stand.standIn.paymentIntents();
    expect(pi).toMatchObject({
      amount: 8000,
      amount_received: 8000,
      customer: 'cus_1',
      metadata: {
        flowpilot: 'autotopup',
        customerId: '88',
        package: 'gb100',
        quantity: '1',
        episode: '1',
      },
    });
    const sent = await stand.standIn.deliverWebhooks();
    expect(sent).toEqual([
      expect.objectContaining({ type: 'payment_intent.succeeded', status: 200 }),
    ]);
    const [delivery] = received;
    if (!delivery) throw new Error('no delivery');
    const event = Stripe.webhooks.constructEvent(delivery.body, delivery.signature, SECRET);
    expect(event.type).toBe('payment_intent.succeeded');
    expect((event.data.object as { id: string }).id).toBe(pi?.id);
  });

  it('A2: returns the same PaymentIntent for a repeated idempotency key; other parameters are an idempotency error, never a decline', async () => {
    const a = await api().chargeOffSession(charge('pm_card_visa', 'k-same'));
    const b = await api().chargeOffSession(charge('pm_card_visa', 'k-same'));
    expect(a.kind === 'charged' && b.kind === 'charged').toBe(true);
    expect(a).toEqual(b);
    expect(stand.standIn.paymentIntents()).toHaveLength(1);
    expect(stand.standIn.requests().map((r) => r.replayed)).toEqual([false, true]);
    await expect(
      api().chargeOffSession(charge('pm_card_visa', 'k-same', 9000)),
    ).rejects.toBeInstanceOf(StripeIdempotencyError);
    expect(stand.standIn.paymentIntents()).toHaveLength(1);
  });

  it("A2: finds an auto top-up's PaymentIntent by Stripe customer and the episode's metadata", async () => {
    await api().chargeOffSession({ ...charge('pm_card_visa', 'k-a'), episode: 2 });
    await api().chargeOffSession({ ...charge('pm_card_chargeDeclined', 'k-b'), episode: 3 });
    await api().chargeOffSession({ ...charge('pm_card_visa', 'k-c'), stripeCustomer: 'cus_2' });
    const [two, three] = stand.standIn.paymentIntents();
    const find = (episode: number, attempt = 1) =>
      api().findCharge({
        customerId: '88',
        stripeCustomer: 'cus_1',
        episode,
        attempt,
        since: new Date(Date.now() - 60_000).toISOString(),
      });
    expect(await find(2)).toEqual({
      kind: 'charged',
      paymentIntentId: two?.id,
      status: 'succeeded',
    });
    expect(await find(3)).toMatchObject({ kind: 'declined', paymentIntentId: three?.id });
    expect(await find(2, 2)).toBeUndefined();
    expect(await find(1)).toBeUndefined();
  });

  it('fails authentication-required cards off-session with authentication_required (402)', async () => {
    const res = await api().chargeOffSession(charge('pm_card_authenticationRequired', 'k-3ds'));
    expect(res).toMatchObject({ kind: 'action-required', code: 'authentication_required' });
    const [pi] = stand.standIn.paymentIntents();
    expect(res.kind === 'action-required' && res.paymentIntentId).toBe(pi?.id);
    expect(pi?.status).toBe('requires_payment_method');
    expect(await stand.standIn.deliverWebhooks()).toEqual([]);
  });

  it('declines pm_card_chargeDeclined with card_declined', async () => {
    const res = await api().chargeOffSession(charge('pm_card_chargeDeclined', 'k-decl'));
    expect(res).toMatchObject({ kind: 'declined', code: 'card_declined:generic_decline' });
  });

  it('refuses a wrong API key as an access problem, not a decline', async () => {
    const bad = createStripeApi(stripeClient('sk_test_wrong', stand.standIn.url));
    await expect(bad.chargeOffSession(charge('pm_card_visa', 'k-key'))).rejects.toBeInstanceOf(
      StripeAccessError,
    );
    expect(stand.standIn.paymentIntents()).toHaveLength(0);
  });

  it('reads the saved card of a paid Checkout Session', async () => {
    const session = stand.standIn.addCheckoutSession({
      customerId: '88',
      stripeCustomer: 'cus_88',
      paymentMethod: 'pm_card_visa',
      amountMinor: 8000,
      currency: 'usd',
    });
    expect(await api().savedCardOfCheckout(session.id)).toEqual({
      stripeCustomer: 'cus_88',
      paymentMethod: 'pm_card_visa',
    });
  });
});
