import { StripeApiError, type StripeClient } from '../clients/stripe.ts';
import { FlowPilotError } from '../errors.ts';
import { AUTO_TOPUP_MARKER } from '../payments/autotopup-marker.ts';

/** What an off-session charge asks Stripe for; everything fixed when the episode was claimed. */
export interface OffSessionCharge {
  customerId: string;
  packageId: string;
  quantity: number;
  episode: number;
  /** Each attempt of an episode is its own PaymentIntent, found again by this. */
  attempt: number;
  /** The GB this charge buys, decimal text: the webhook credits these, whatever the catalog says by then. */
  gb: string;
  amountMinor: number;
  currency: string;
  stripeCustomer: string | undefined;
  paymentMethod: string;
  /** Same key, same PaymentIntent: a retry after a crash never charges twice. */
  idempotencyKey: string;
}

export type ChargeResult =
  /** Captured (or being captured): the webhook credits it. */
  | { kind: 'charged'; paymentIntentId: string; status: string }
  /** The bank wants the customer to authenticate (3-D Secure): they must come back. */
  | { kind: 'action-required'; paymentIntentId: string | undefined; code: string }
  /** Declined (or a payment method Stripe will not use): retry later, then give up. */
  | { kind: 'declined'; paymentIntentId: string | undefined; code: string; message: string };

/** Stripe could not be asked (network, 5xx, rate limit): retry with the same key. */
export class StripeUnavailableError extends FlowPilotError {
  override name = 'StripeUnavailableError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, statusCode: 503 });
  }
}

/**
 * Stripe refused the idempotency key: it was first used with other parameters. Never a
 * decline: the first request may have charged, so the engine looks the charge up instead.
 */
export class StripeIdempotencyError extends FlowPilotError {
  override name = 'StripeIdempotencyError';
}

/** Stripe refused our key or account: nothing a customer did, an operator must act. */
export class StripeAccessError extends FlowPilotError {
  override name = 'StripeAccessError';
}

export interface SavedCard {
  stripeCustomer: string;
  paymentMethod: string;
}

/** Which auto top-up charge to look for: the metadata every attempt's PaymentIntent carries. */
export interface ChargeLookup {
  customerId: string;
  stripeCustomer: string | undefined;
  episode: number;
  attempt: number;
  /** ISO 8601: the charge cannot be older (the episode's start). */
  since: string;
}

/** The part of Stripe auto top-up uses; one module owns it. */
export interface StripeApi {
  chargeOffSession(charge: OffSessionCharge): Promise<ChargeResult>;
  /**
   * The attempt's PaymentIntent as Stripe has it now, or undefined when there is none: what a
   * resume asks before it creates one, since Stripe forgets idempotency keys after 24 hours.
   */
  findCharge(lookup: ChargeLookup): Promise<ChargeResult | undefined>;
  /** A PaymentIntent's status and, after a failure, its error code. */
  paymentIntentStatus(id: string): Promise<{ status: string; code?: string }>;
  /**
   * Cancels a PaymentIntent so no earlier link can pay it; its status after (`canceled`, or
   * the status that kept it from being canceled, e.g. `succeeded`: paid meanwhile).
   */
  cancelPaymentIntent(id: string): Promise<{ status: string }>;
  /** The customer and card a paid Checkout Session saved (setup_future_usage=off_session). */
  savedCardOfCheckout(sessionId: string): Promise<SavedCard | undefined>;
  /** The customer and card a completed setup-mode Checkout Session saved (its SetupIntent). */
  savedCardOfSetup(sessionId: string): Promise<SavedCard | undefined>;
}

/** The fields of Stripe's objects auto top-up reads (API version STRIPE_API_VERSION). */
type Ref = string | { id: string } | null | undefined;
interface PaymentIntent {
  id: string;
  status: string;
  payment_method?: Ref;
  last_payment_error?: { code?: string; message?: string } | null;
  metadata?: Record<string, string>;
}
interface List<T> {
  data: T[];
  has_more: boolean;
}
interface CheckoutSession {
  customer?: Ref;
  payment_intent?: Ref;
  setup_intent?: Ref;
}
interface SetupIntent {
  status: string;
  customer?: Ref;
  payment_method?: Ref;
}

const idOf = (v: Ref) =>
  v === null || v === undefined ? undefined : typeof v === 'string' ? v : v.id;

function failure(err: unknown, what: string): never {
  if (err instanceof StripeApiError && err.kind === 'authentication') {
    throw new StripeAccessError(`Stripe refused the API key (${what})`, { cause: err });
  }
  if (err instanceof StripeApiError && err.kind === 'permission') {
    throw new StripeAccessError(`the Stripe API key may not ${what}`, { cause: err });
  }
  const name =
    err instanceof StripeApiError
      ? `${err.name} ${err.httpStatus}`
      : err instanceof Error
        ? err.name
        : 'unknown error';
  throw new StripeUnavailableError(`Stripe ${what} failed (${name})`, { cause: err });
}

const path = (prefix: string, id: string) => `${prefix}/${encodeURIComponent(id)}`;

/** A PaymentIntent as the engine records it. */
function resultOf(pi: PaymentIntent): ChargeResult {
  if (
    pi.status === 'requires_action' ||
    (pi.status === 'requires_payment_method' &&
      pi.last_payment_error?.code === 'authentication_required')
  ) {
    const code = pi.status === 'requires_action' ? pi.status : 'authentication_required';
    return { kind: 'action-required', paymentIntentId: pi.id, code };
  }
  // Unconfirmed (never charged) counts as declined: the next attempt is a new PaymentIntent.
  if (
    pi.status === 'requires_payment_method' ||
    pi.status === 'canceled' ||
    pi.status === 'requires_confirmation'
  ) {
    return {
      kind: 'declined',
      paymentIntentId: pi.id,
      code: pi.last_payment_error?.code ?? pi.status,
      message: pi.last_payment_error?.message ?? pi.status,
    };
  }
  return { kind: 'charged', paymentIntentId: pi.id, status: pi.status };
}

export function createStripeApi(stripe: StripeClient): StripeApi {
  return {
    chargeOffSession: (charge) => chargeOffSession(stripe, charge),
    findCharge: (lookup) => findCharge(stripe, lookup),
    paymentIntentStatus: (id) => paymentIntentStatus(stripe, id),
    cancelPaymentIntent: (id) => cancelPaymentIntent(stripe, id),
    savedCardOfCheckout: (sessionId) => savedCardOfCheckout(stripe, sessionId),
    savedCardOfSetup: (sessionId) => savedCardOfSetup(stripe, sessionId),
  };
}

async function chargeOffSession(stripe: StripeClient, c: OffSessionCharge): Promise<ChargeResult> {
  try {
    const pi = await stripe.post<PaymentIntent>('payment_intents', paymentIntentOf(c), {
      idempotencyKey: c.idempotencyKey,
    });
    return resultOf(pi);
  } catch (err) {
    return refusedCharge(err, c);
  }
}

/** The confirmed off-session PaymentIntent, with the metadata findCharge looks for. */
function paymentIntentOf(c: OffSessionCharge) {
  return {
    amount: c.amountMinor,
    currency: c.currency,
    ...(c.stripeCustomer ? { customer: c.stripeCustomer } : {}),
    payment_method: c.paymentMethod,
    confirm: true,
    off_session: true,
    description: `Auto top-up ${c.packageId} × ${c.quantity} for customer ${c.customerId}`,
    metadata: {
      [AUTO_TOPUP_MARKER.key]: AUTO_TOPUP_MARKER.value,
      customerId: c.customerId,
      package: c.packageId,
      quantity: String(c.quantity),
      episode: String(c.episode),
      attempt: String(c.attempt),
      gb: c.gb,
    },
  };
}

/** A charge Stripe answered with an error: a decline, 3-D Secure, or a typed error thrown. */
function refusedCharge(err: unknown, c: OffSessionCharge): ChargeResult {
  if (err instanceof StripeApiError && err.kind === 'card') {
    const paymentIntentId = err.paymentIntentId;
    const code = err.code ?? 'card_error';
    if (code === 'authentication_required' || err.declineCode === 'authentication_required') {
      return { kind: 'action-required', paymentIntentId, code: 'authentication_required' };
    }
    return {
      kind: 'declined',
      paymentIntentId,
      code: err.declineCode ? `${code}:${err.declineCode}` : code,
      message: err.message,
    };
  }
  if (err instanceof StripeApiError && err.kind === 'idempotency') {
    throw new StripeIdempotencyError(
      `Stripe refused idempotency key ${c.idempotencyKey}: first used with other parameters`,
      { cause: err },
    );
  }
  // A payment method or customer Stripe does not know: charging again would fail the same
  // way, so it counts as a decline.
  if (err instanceof StripeApiError && err.kind === 'invalid-request') {
    return {
      kind: 'declined',
      paymentIntentId: err.paymentIntentId,
      code: err.code ?? 'invalid_request_error',
      message: err.message,
    };
  }
  return failure(err, 'create a PaymentIntent');
}

async function findCharge(
  stripe: StripeClient,
  q: ChargeLookup,
): Promise<ChargeResult | undefined> {
  // Listing by customer is read-after-write consistent (search is not); newest first.
  const created = Math.floor(Date.parse(q.since) / 1000) - 3600;
  let after: string | undefined;
  try {
    for (;;) {
      const query = new URLSearchParams({ limit: '100', 'created[gte]': String(created) });
      if (q.stripeCustomer) query.set('customer', q.stripeCustomer);
      if (after) query.set('starting_after', after);
      const page = await stripe.get<List<PaymentIntent>>(`payment_intents?${query}`);
      const found = page.data.find((pi) => isAttempt(pi, q));
      if (found) return resultOf(found);
      after = page.data.at(-1)?.id;
      if (!page.has_more || !after) return undefined;
    }
  } catch (err) {
    return failure(err, 'list PaymentIntents');
  }
}

/** Whether the PaymentIntent is the looked-for attempt, by the metadata every attempt carries. */
function isAttempt(pi: PaymentIntent, q: ChargeLookup): boolean {
  const m = pi.metadata ?? {};
  return (
    m[AUTO_TOPUP_MARKER.key] === AUTO_TOPUP_MARKER.value &&
    m.customerId === q.customerId &&
    m.episode === String(q.episode) &&
    m.attempt === String(q.attempt)
  );
}

async function paymentIntentStatus(stripe: StripeClient, id: string) {
  try {
    const pi = await stripe.get<PaymentIntent>(path('payment_intents', id));
    const code = pi.last_payment_error?.code;
    return { status: pi.status, ...(code ? { code } : {}) };
  } catch (err) {
    return failure(err, 'read a PaymentIntent');
  }
}

async function cancelPaymentIntent(stripe: StripeClient, id: string) {
  try {
    const pi = await stripe.post<PaymentIntent>(`${path('payment_intents', id)}/cancel`, {
      cancellation_reason: 'abandoned',
    });
    return { status: pi.status };
  } catch (err) {
    // Not cancelable (paid or canceled already): its status says which.
    if (err instanceof StripeApiError && err.code === 'payment_intent_unexpected_state') {
      return paymentIntentStatus(stripe, id);
    }
    return failure(err, 'cancel a PaymentIntent');
  }
}

async function savedCardOfCheckout(
  stripe: StripeClient,
  sessionId: string,
): Promise<SavedCard | undefined> {
  try {
    const session = await stripe.get<CheckoutSession>(path('checkout/sessions', sessionId));
    const stripeCustomer = idOf(session.customer);
    const piId = idOf(session.payment_intent);
    if (!stripeCustomer || !piId) return undefined;
    const pi = await stripe.get<PaymentIntent>(path('payment_intents', piId));
    const paymentMethod = idOf(pi.payment_method);
    return paymentMethod ? { stripeCustomer, paymentMethod } : undefined;
  } catch (err) {
    return failure(err, 'read the Checkout Session');
  }
}

async function savedCardOfSetup(
  stripe: StripeClient,
  sessionId: string,
): Promise<SavedCard | undefined> {
  try {
    const session = await stripe.get<CheckoutSession>(path('checkout/sessions', sessionId));
    const setiId = idOf(session.setup_intent);
    if (!setiId) return undefined;
    const seti = await stripe.get<SetupIntent>(path('setup_intents', setiId));
    // The card belongs to the SetupIntent's customer; the session names the same one.
    const stripeCustomer = idOf(seti.customer) ?? idOf(session.customer);
    const paymentMethod = idOf(seti.payment_method);
    if (seti.status !== 'succeeded' || !stripeCustomer || !paymentMethod) return undefined;
    return { stripeCustomer, paymentMethod };
  } catch (err) {
    return failure(err, 'read the setup Checkout Session');
  }
}
