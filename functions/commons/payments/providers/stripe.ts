import * as z from 'zod/mini';
import { AUTO_TOPUP_MARKER } from '../autotopup-marker.ts';
import { payerContact } from '../contact.ts';
import { WebhookSignatureError } from '../errors.ts';
import type { PaymentEvent, PaymentProvider, PaymentSucceeded, WebhookRequest } from '../types.ts';
import {
  currencySchema,
  jsonAnswer,
  minorUnits,
  parseJsonBody,
  parseShape,
  paymentIdSchema,
} from './common.ts';
import { stripeSignatureValid } from './stripe-signature.ts';

/**
 * Stripe Checkout. The order is the Checkout Session (never the event: its id differs between
 * retries and between `completed` and `async_payment_succeeded`). The shop creates sessions
 * with `client_reference_id` = the Dynamic Traffic customer id (or `metadata.customerId`),
 * `metadata.package` = a catalog package id and optional `metadata.quantity` (default 1).
 * Refunds and disputes name the PaymentIntent, which the order stores when it is credited.
 * A won dispute (`charge.dispute.funds_reinstated`) and a failed refund
 * (`charge.refund.updated`, status `failed` or `canceled`) give the deducted traffic back.
 * Only events of the configured mode (`payments.stripe.livemode`) act.
 */

const eventSchema = z.object({
  id: z.string(),
  type: z.string(),
  created: z.int().check(z.minimum(0)),
  livemode: z.boolean(),
  // Checked to be an object, not copied key by key: the event type's own schema reads it.
  data: z.object({
    object: z.custom<Record<string, unknown>>(
      (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
      { error: 'expected an object' },
    ),
  }),
});

const idRef = z.union([
  z.string(),
  z.pipe(
    z.object({ id: z.string() }),
    z.transform((o) => o.id),
  ),
]);

const sessionSchema = z.object({
  id: paymentIdSchema,
  payment_status: z.string(),
  amount_total: minorUnits,
  amount_subtotal: z.nullish(minorUnits),
  total_details: z.nullish(
    z.object({ amount_discount: z.nullish(minorUnits), amount_tax: z.nullish(minorUnits) }),
  ),
  currency: currencySchema,
  client_reference_id: z.nullish(z.string()),
  metadata: z.nullish(z.record(z.string(), z.string())),
  payment_intent: z.nullish(idRef),
  // Read leniently: a contact never makes a paid session malformed.
  customer_details: z.optional(z.unknown()),
});

// Schemas live at module scope: zod compiles an object schema's parser on first use, so a
// schema built per delivery would be compiled per delivery.
const sessionStatusSchema = z.object({ payment_status: z.string() });

const chargeSchema = z.object({
  id: paymentIdSchema,
  amount_refunded: minorUnits,
  currency: currencySchema,
  payment_intent: z.nullish(idRef),
});

const refundSchema = z.object({
  id: paymentIdSchema,
  amount: minorUnits,
  currency: currencySchema,
  status: z.nullish(z.string()),
  payment_intent: z.nullish(idRef),
});

const disputeSchema = z.object({
  id: paymentIdSchema,
  amount: minorUnits,
  currency: currencySchema,
  payment_intent: z.nullish(idRef),
});

function verify(req: WebhookRequest, secrets: readonly string[], tolerance: number): unknown {
  if (!stripeSignatureValid(req.body, req.headers['stripe-signature'], secrets, tolerance)) {
    throw new WebhookSignatureError();
  }
  // The body is parsed only after it verified.
  return parseJsonBody(req.body);
}

/**
 * The session's money: `amount_total` is what was charged (after discounts, with tax),
 * `amount_subtotal` what the line items cost, which the catalog is matched against.
 */
function paid(object: Record<string, unknown>): PaymentSucceeded {
  const s = parseShape(sessionSchema, object);
  const customerId = s.client_reference_id ?? s.metadata?.customerId;
  const pkg = s.metadata?.package;
  const quantity = s.metadata?.quantity;
  const tax = s.total_details?.amount_tax;
  const discount = s.total_details?.amount_discount;
  return {
    type: 'payment-succeeded',
    paymentId: s.id,
    ...(customerId ? { customerId } : {}),
    ...(pkg ? { packageId: pkg } : {}),
    ...(quantity !== undefined ? { quantity } : {}),
    amountMinor: s.amount_total,
    ...(s.amount_subtotal != null ? { subtotalMinor: s.amount_subtotal } : {}),
    ...(tax ? { taxMinor: tax } : {}),
    ...(discount ? { discountMinor: discount } : {}),
    ...(s.payment_status === 'no_payment_required' ? { noPaymentRequired: true } : {}),
    currency: s.currency,
    ...(s.payment_intent ? { paymentIntentId: s.payment_intent } : {}),
    ...payerContact(s.customer_details),
  };
}

// ---- Auto top-up (README "Auto top-up") ------------------------------------------------

const autoTopupIntentSchema = z.object({
  id: paymentIdSchema,
  amount_received: minorUnits,
  currency: currencySchema,
  metadata: z.nullish(z.record(z.string(), z.string())),
});

/** The order is the PaymentIntent itself (key and refund pointer alike). */
function autoTopupPaid(object: Record<string, unknown>): PaymentEvent {
  const pi = parseShape(autoTopupIntentSchema, object);
  const meta = pi.metadata ?? {};
  if (meta[AUTO_TOPUP_MARKER.key] !== AUTO_TOPUP_MARKER.value) {
    return { type: 'ignored', reason: 'payment intent not created by auto top-up' };
  }
  return {
    type: 'payment-succeeded',
    paymentId: pi.id,
    ...(meta.customerId ? { customerId: meta.customerId } : {}),
    ...(meta.package ? { packageId: meta.package } : {}),
    ...(meta.quantity !== undefined ? { quantity: meta.quantity } : {}),
    amountMinor: pi.amount_received,
    currency: pi.currency,
    paymentIntentId: pi.id,
  };
}

// ------------------------------------------------------------------------------------------

function normalise(type: string, object: Record<string, unknown>, created: number): PaymentEvent {
  switch (type) {
    case 'checkout.session.completed': {
      // Delayed methods complete unpaid and follow up with async_payment_succeeded.
      const status = parseShape(sessionStatusSchema, object).payment_status;
      return status === 'paid' || status === 'no_payment_required'
        ? paid(object)
        : { type: 'ignored', reason: `payment ${status}` };
    }
    case 'checkout.session.async_payment_succeeded':
      return paid(object);
    case 'payment_intent.succeeded':
      return autoTopupPaid(object);
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
        eventCreated: created,
      };
    }
    case 'charge.refund.updated': {
      // A refund that failed (or was canceled) gives the money back to the shop.
      const r = parseShape(refundSchema, object);
      if (r.status !== 'failed' && r.status !== 'canceled') {
        return { type: 'ignored', reason: `refund ${r.status ?? 'updated'}` };
      }
      if (!r.payment_intent) return { type: 'ignored', reason: 'refund without payment intent' };
      return {
        type: 'reversal',
        kind: 'refund-failed',
        ref: { paymentIntentId: r.payment_intent },
        partId: `${r.id}:${r.status}`,
        amountMinor: r.amount,
        currency: r.currency,
        eventCreated: created,
      };
    }
    case 'charge.dispute.funds_reinstated': {
      const d = parseShape(disputeSchema, object);
      if (!d.payment_intent) return { type: 'ignored', reason: 'dispute without payment intent' };
      return {
        type: 'reversal',
        kind: 'dispute-won',
        ref: { paymentIntentId: d.payment_intent },
        partId: `${d.id}:reinstated`,
        disputePartId: d.id,
        amountMinor: d.amount,
        currency: d.currency,
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
    const live = ctx.config.stripe.livemode ?? true;
    if (event.livemode !== live) {
      return {
        type: 'ignored',
        reason: `${event.livemode ? 'live' : 'test'}-mode event; this deployment takes ${live ? 'live' : 'test'} mode only`,
      };
    }
    return normalise(event.type, event.data.object, event.created);
  },
  answer: jsonAnswer,
};
