import Stripe from 'stripe';
import { z } from 'zod';
import { payerContact } from '../contact.ts';
import { MalformedWebhookError, WebhookSignatureError } from '../errors.ts';
import type { PaymentEvent, PaymentProvider, PaymentSucceeded, WebhookRequest } from '../types.ts';
import { currencySchema, jsonAnswer, minorUnits, parseShape, paymentIdSchema } from './common.ts';

/**
 * Stripe Checkout. The order is the Checkout Session (never the event: its id differs between
 * retries and between `completed` and `async_payment_succeeded`). The shop creates sessions
 * with `client_reference_id` = the Dynamic Traffic customer id (or `metadata.customerId`),
 * `metadata.package` = a catalog package id and optional `metadata.quantity` (default 1).
 * Refunds and disputes name the PaymentIntent, which the order stores when it is credited.
 */

const eventSchema = z.object({
  id: z.string(),
  type: z.string(),
  data: z.object({ object: z.record(z.string(), z.unknown()) }),
});

const idRef = z.union([z.string(), z.object({ id: z.string() }).transform((o) => o.id)]);

const sessionSchema = z.object({
  id: paymentIdSchema,
  payment_status: z.string(),
  amount_total: minorUnits,
  currency: currencySchema,
  client_reference_id: z.string().nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  payment_intent: idRef.nullish(),
  // Read leniently: a contact never makes a paid session malformed.
  customer_details: z.unknown().optional(),
});

const chargeSchema = z.object({
  id: paymentIdSchema,
  amount_refunded: minorUnits,
  currency: currencySchema,
  payment_intent: idRef.nullish(),
});

const disputeSchema = z.object({
  id: paymentIdSchema,
  amount: minorUnits,
  currency: currencySchema,
  payment_intent: idRef.nullish(),
});

function verify(req: WebhookRequest, secrets: readonly string[], tolerance: number) {
  const header = req.headers['stripe-signature'];
  if (!header) throw new WebhookSignatureError();
  for (const secret of secrets) {
    try {
      return Stripe.webhooks.constructEvent(req.body, header, secret, tolerance);
    } catch (err) {
      // Only a signature mismatch tries the next secret; the body is parsed after it verified.
      if (err instanceof Stripe.errors.StripeSignatureVerificationError) continue;
      throw new MalformedWebhookError('malformed JSON', { cause: err });
    }
  }
  throw new WebhookSignatureError();
}

function paid(object: Record<string, unknown>): PaymentSucceeded {
  const s = parseShape(sessionSchema, object);
  const customerId = s.client_reference_id ?? s.metadata?.customerId;
  const pkg = s.metadata?.package;
  const quantity = s.metadata?.quantity;
  return {
    type: 'payment-succeeded',
    paymentId: s.id,
    ...(customerId ? { customerId } : {}),
    ...(pkg ? { packageId: pkg } : {}),
    ...(quantity !== undefined ? { quantity } : {}),
    amountMinor: s.amount_total,
    currency: s.currency,
    ...(s.payment_intent ? { paymentIntentId: s.payment_intent } : {}),
    ...payerContact(s.customer_details),
  };
}

function normalise(type: string, object: Record<string, unknown>): PaymentEvent {
  switch (type) {
    case 'checkout.session.completed': {
      // Delayed methods complete unpaid and follow up with async_payment_succeeded.
      const status = parseShape(z.object({ payment_status: z.string() }), object).payment_status;
      return status === 'paid' ? paid(object) : { type: 'ignored', reason: `payment ${status}` };
    }
    case 'checkout.session.async_payment_succeeded':
      return paid(object);
    case 'checkout.session.async_payment_failed':
      return { type: 'payment-failed', paymentId: parseShape(sessionSchema, object).id };
    case 'charge.refunded': {
      const c = parseShape(chargeSchema, object);
      if (!c.payment_intent) return { type: 'ignored', reason: 'charge without payment intent' };
      return {
        type: 'refund',
        ref: { paymentIntentId: c.payment_intent },
        // amount_refunded is cumulative: each new total is a new part, a redelivery is not.
        partId: `${c.id}:${c.amount_refunded}`,
        refundedMinor: c.amount_refunded,
        currency: c.currency,
      };
    }
    case 'charge.dispute.funds_withdrawn': {
      const d = parseShape(disputeSchema, object);
      if (!d.payment_intent) return { type: 'ignored', reason: 'dispute without payment intent' };
      return {
        type: 'dispute',
        ref: { paymentIntentId: d.payment_intent },
        partId: d.id,
        amountMinor: d.amount,
        currency: d.currency,
      };
    }
    default:
      return { type: 'ignored', reason: `event type ${type}` };
  }
}

export const stripeProvider: PaymentProvider = {
  id: 'stripe',
  secretName: 'STRIPE_WEBHOOK_SECRET',
  acceptsContentType: (mediaType) => mediaType === 'application/json',
  parse(req, ctx) {
    const raw = verify(req, ctx.secrets, ctx.config.stripe.toleranceSeconds);
    const event = parseShape(eventSchema, raw);
    return normalise(event.type, event.data.object);
  },
  answer: jsonAnswer,
};
