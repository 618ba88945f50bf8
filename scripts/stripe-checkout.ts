import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';

/**
 * A `checkout.session.completed` event as Stripe sends it for a paid Checkout Session, signed
 * with the endpoint secret: what the demo script and the end-to-end test deliver.
 */
export function signedCheckoutCompleted(input: {
  secret: string;
  sessionId: string;
  customerId: string;
  packageId: string;
  quantity: number;
  amountMinor: number;
  currency: string;
}): { payload: string; signature: string } {
  const payload = JSON.stringify({
    id: `evt_${randomBytes(8).toString('hex')}`,
    object: 'event',
    type: 'checkout.session.completed',
    created: Math.floor(Date.now() / 1000),
    // Signed with a development (test-mode) secret, so a test-mode event, as Stripe sends.
    livemode: false,
    data: {
      object: {
        id: input.sessionId,
        object: 'checkout.session',
        payment_status: 'paid',
        amount_total: input.amountMinor,
        currency: input.currency,
        client_reference_id: input.customerId,
        metadata: { package: input.packageId, quantity: String(input.quantity) },
        payment_intent: `pi_${randomBytes(8).toString('hex')}`,
      },
    },
  });
  return {
    payload,
    signature: Stripe.webhooks.generateTestHeaderString({ payload, secret: input.secret }),
  };
}
