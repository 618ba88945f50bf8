import { AUTO_TOPUP_MARKER } from '../autotopup-marker.ts';
import { payerContact } from '../contact.ts';
import { WebhookSignatureError } from '../errors.ts';
import type { PaymentEvent, PaymentProvider, PaymentSucceeded, WebhookRequest } from '../types.ts';
import { jsonAnswer, parseJsonBody } from './common.ts';
import { FieldReader } from './fields.ts';
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

/** What every event type reads the same way: the charged thing, its amount and its intent. */
function chargeLike(object: FieldReader, amountKey: string) {
  return {
    id: object.paymentId('id'),
    amount: object.count(amountKey),
    currency: object.currency('currency'),
    paymentIntent: object.optionalRef('payment_intent'),
  };
}

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
function paid(object: FieldReader): PaymentSucceeded {
  const id = object.paymentId('id');
  const status = object.string('payment_status');
  const amountTotal = object.count('amount_total');
  const subtotal = object.optionalCount('amount_subtotal');
  const totals = object.optionalObject('total_details');
  const tax = totals?.optionalCount('amount_tax');
  const discount = totals?.optionalCount('amount_discount');
  const currency = object.currency('currency');
  const metadata = object.optionalStringMap('metadata');
  const customerId = object.optionalString('client_reference_id') ?? metadata?.customerId;
  const pkg = metadata?.package;
  const quantity = metadata?.quantity;
  const paymentIntent = object.optionalRef('payment_intent');
  const mode = object.optionalString('mode') ?? 'payment';
  const ev: PaymentSucceeded = {
    type: 'payment-succeeded',
    paymentId: id,
    amountMinor: amountTotal,
    currency,
  };
  if (customerId) ev.customerId = customerId;
  if (pkg) ev.packageId = pkg;
  if (quantity !== undefined) ev.quantity = quantity;
  if (subtotal !== undefined) ev.subtotalMinor = subtotal;
  if (tax) ev.taxMinor = tax;
  if (discount) ev.discountMinor = discount;
  if (status === 'no_payment_required') ev.noPaymentRequired = true;
  if (paymentIntent) ev.paymentIntentId = paymentIntent;
  // Refunds and disputes name a PaymentIntent: without one a credit could never be taken back.
  if (mode !== 'payment') {
    ev.noRefundPath = `a ${mode.slice(0, 40)}-mode Checkout Session; only payment mode is supported`;
  } else if (!paymentIntent && status !== 'no_payment_required') {
    ev.noRefundPath = 'a paid Checkout Session without a PaymentIntent';
  }
  // Read leniently: a contact never makes a paid session malformed.
  const { contact } = payerContact(object.fields.customer_details);
  if (contact) ev.contact = contact;
  return ev;
}

/**
 * What Stripe returned of a dispute, in the dispute's currency: its balance transactions
 * (withdrawal negative, reinstatement positive, in the balance's currency) give the share
 * returned. A lost dispute on a partly refunded payment returns only the refunded part.
 */
function reinstatedMinor(dispute: FieldReader, amount: number, status: string | undefined) {
  let withdrawn = 0;
  let back = 0;
  for (const bt of dispute.optionalObjects('balance_transactions')) {
    const v = bt.integer('amount');
    if (v < 0) withdrawn -= v;
    else back += v;
  }
  if (withdrawn === 0) return status === 'won' ? amount : 0;
  return Math.min(amount, Math.round((amount * back) / withdrawn));
}

// ---- Auto top-up (README "Auto top-up") ------------------------------------------------

/** The order is the PaymentIntent itself (key and refund pointer alike). */
function autoTopupPaid(object: FieldReader): PaymentEvent {
  const pi = {
    id: object.paymentId('id'),
    amount_received: object.count('amount_received'),
    currency: object.currency('currency'),
  };
  const meta = object.optionalStringMap('metadata') ?? {};
  // The marker alone can be set by the merchant on a Checkout payment's PaymentIntent; the
  // engine also sets the episode, attempt and GB. The ledger's claim on the PaymentIntent
  // keeps a forged one from a second credit.
  if (
    meta[AUTO_TOPUP_MARKER.key] !== AUTO_TOPUP_MARKER.value ||
    meta.episode === undefined ||
    meta.attempt === undefined ||
    meta.gb === undefined
  ) {
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
    charged: { amountMinor: object.count('amount'), currency: pi.currency, gb: meta.gb },
  };
}

// ------------------------------------------------------------------------------------------

function normalise(
  type: string,
  object: FieldReader,
  created: number,
  previous: FieldReader | undefined,
): PaymentEvent {
  switch (type) {
    case 'checkout.session.completed':
      return sessionCompleted(object);
    case 'checkout.session.async_payment_succeeded':
      return paid(object);
    case 'payment_intent.succeeded':
      return autoTopupPaid(object);
    case 'checkout.session.async_payment_failed':
      // The whole session is read, as for a paid one, though only its id is kept.
      return { type: 'payment-failed', paymentId: paid(object).paymentId };
    case 'charge.refunded':
      return chargeRefunded(object, created);
    case 'charge.refund.updated':
      return refundUpdated(object, created, previous);
    case 'charge.dispute.funds_reinstated':
      return fundsReinstated(object, created);
    case 'charge.dispute.funds_withdrawn':
      return fundsWithdrawn(object);
    default:
      return { type: 'ignored', reason: `event type ${type}` };
  }
}

function sessionCompleted(object: FieldReader): PaymentEvent {
  // A setup-mode session saved a card and took no money: never a credit (auto top-up's
  // hook may take the card, autotopup/opt-in.ts).
  if (object.optionalString('mode') === 'setup') {
    return { type: 'ignored', reason: 'setup-mode Checkout Session', result: 'card-saved' };
  }
  // Delayed methods complete unpaid and follow up with async_payment_succeeded.
  const status = object.string('payment_status');
  return status === 'paid' || status === 'no_payment_required'
    ? paid(object)
    : { type: 'ignored', reason: `payment ${status}` };
}

function chargeRefunded(object: FieldReader, created: number): PaymentEvent {
  const c = chargeLike(object, 'amount_refunded');
  if (!c.paymentIntent) return { type: 'ignored', reason: 'charge without payment intent' };
  return {
    type: 'refund',
    ref: { paymentIntentId: c.paymentIntent },
    // amount_refunded is cumulative: each new total is a new part, a redelivery is not.
    partId: `${c.id}:${c.amount}`,
    refundedMinor: c.amount,
    currency: c.currency,
    eventCreated: created,
  };
}

/**
 * A refund that failed (or was canceled) gives the money back to the shop. Its failure is
 * dated by the event in which its status changed (`previous_attributes.status`): a later
 * update of a refund failed already (its metadata, say) is not its failure.
 */
function refundUpdated(
  object: FieldReader,
  created: number,
  previous: FieldReader | undefined,
): PaymentEvent {
  const r = chargeLike(object, 'amount');
  const status = object.optionalString('status');
  if (status !== 'failed' && status !== 'canceled') {
    return { type: 'ignored', reason: `refund ${status ?? 'updated'}` };
  }
  if (previous && previous.optionalString('status') === undefined) {
    return { type: 'ignored', reason: `refund ${status} before this update` };
  }
  if (!r.paymentIntent) return { type: 'ignored', reason: 'refund without payment intent' };
  // Which refunded totals counted this refund: those created from its creation to its failure.
  const refundCreated = object.optionalCount('created');
  return {
    type: 'reversal',
    kind: 'refund-failed',
    ref: { paymentIntentId: r.paymentIntent },
    partId: `${r.id}:${status}`,
    amountMinor: r.amount,
    currency: r.currency,
    eventCreated: created,
    ...(refundCreated === undefined ? {} : { refundCreated }),
  };
}

function fundsReinstated(object: FieldReader, created: number): PaymentEvent {
  const d = chargeLike(object, 'amount');
  if (!d.paymentIntent) return { type: 'ignored', reason: 'dispute without payment intent' };
  const status = object.optionalString('status');
  const ev: PaymentEvent = {
    type: 'reversal',
    kind: 'dispute-won',
    ref: { paymentIntentId: d.paymentIntent },
    partId: `${d.id}:reinstated`,
    disputePartId: d.id,
    amountMinor: reinstatedMinor(object, d.amount, status),
    currency: d.currency,
    eventCreated: created,
  };
  if (status === 'lost') ev.disputeLost = true;
  return ev;
}

function fundsWithdrawn(object: FieldReader): PaymentEvent {
  const d = chargeLike(object, 'amount');
  if (!d.paymentIntent) return { type: 'ignored', reason: 'dispute without payment intent' };
  return {
    type: 'dispute',
    ref: { paymentIntentId: d.paymentIntent },
    partId: d.id,
    amountMinor: d.amount,
    currency: d.currency,
  };
}

export const stripeProvider: PaymentProvider = {
  id: 'stripe',
  secretName: 'STRIPE_WEBHOOK_SECRET',
  acceptsContentType: (mediaType) => mediaType === 'application/json',
  parse(req, ctx) {
    const event = FieldReader.of(
      verify(req, ctx.secrets, ctx.config.stripe.toleranceSeconds),
      'event',
    );
    event.string('id');
    const type = event.string('type');
    const created = event.count('created');
    const livemode = event.boolean('livemode');
    const data = event.object('data');
    const object = data.object('object');
    const live = ctx.config.stripe.livemode ?? true;
    if (livemode !== live) {
      return {
        type: 'ignored',
        reason: `${livemode ? 'live' : 'test'}-mode event; this deployment takes ${live ? 'live' : 'test'} mode only`,
      };
    }
    return normalise(type, object, created, data.optionalObject('previous_attributes'));
  },
  answer: jsonAnswer,
};
