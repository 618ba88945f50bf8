import {
  FLOWPILOT_SESSION_KEY,
  newSessionRef,
  recordCreatedSession,
} from '../autotopup/checkout-sessions.ts';
import type {
  CheckoutSessionStore,
  CreatedSessionPurpose,
} from '../autotopup/store/checkout-sessions.ts';
import type { StripeClient } from '../clients/stripe.ts';
import type { PaymentsConfig } from '../config/payments.ts';
import { FlowPilotError } from '../errors.ts';
import type { CheckoutPort } from './app.ts';

/** Stripe's hosted Checkout pages; the page's CSP lets its Buy form redirect there. */
export const STRIPE_CHECKOUT_ORIGIN = 'https://checkout.stripe.com';

/** Stripe answered a create without the Checkout page's address. */
export class CheckoutSessionError extends FlowPilotError {
  override name = 'CheckoutSessionError';
}

export interface StripeCheckoutOptions {
  stripe: () => Promise<StripeClient>;
  catalog: PaymentsConfig['catalog'];
  /** FlowPilot's record of the sessions it created: the webhook trusts only these. */
  sessions: Pick<CheckoutSessionStore, 'put' | 'get'>;
  clock: () => Date;
  /** Where Checkout pages are served (the stand-in's origin locally). @default Stripe's */
  origin?: string;
}

/**
 * The Buy button's Stripe client: one `POST /v1/checkout/sessions` per click, in payment mode,
 * for one catalog package at its catalog price, the customer taken from the signed session
 * (`client_reference_id`), never from a form field. "Top up automatically" adds
 * `setup_future_usage=off_session` and the auto top-up rule in the metadata. Every session
 * carries `metadata[flowpilot_session]` and is recorded (checkout-sessions.ts) before its URL
 * is handed out, so the webhook can tell it from any other. The Stripe customer on file
 * pays it; without one Checkout creates one (`customer_creation=always`) for the opt-in to
 * bind.
 */
export function stripeCheckout(opts: StripeCheckoutOptions): CheckoutPort {
  return {
    origin: opts.origin ?? STRIPE_CHECKOUT_ORIGIN,
    async create(input) {
      const pkg = opts.catalog[input.packageId];
      if (!pkg) throw new CheckoutSessionError(`no package ${input.packageId} in the catalog`);
      const ref = newSessionRef();
      const metadata: Record<string, string> = {
        package: input.packageId,
        customerId: input.customerId,
        [FLOWPILOT_SESSION_KEY]: ref,
      };
      if (input.autoTopup) metadata.autoTopup = `${input.packageId}:${input.autoTopup.belowGb}`;
      const stripe = await opts.stripe();
      const session = await stripe.post<{ id?: unknown; url?: unknown }>(
        'checkout/sessions',
        {
          mode: 'payment',
          client_reference_id: input.customerId,
          ...(input.stripeCustomer
            ? { customer: input.stripeCustomer }
            : { customer_creation: 'always' }),
          success_url: input.successUrl,
          cancel_url: input.cancelUrl,
          line_items: {
            0: {
              quantity: 1,
              price_data: {
                currency: pkg.currency,
                unit_amount: pkg.price,
                // Whose traffic this buys, on the Checkout page: a payer sees the customer before paying.
                product_data: { name: `${pkg.gb} GB for customer ${input.customerId}` },
              },
            },
          },
          metadata,
          ...(input.autoTopup
            ? { payment_intent_data: { setup_future_usage: 'off_session' } }
            : {}),
        },
        { idempotencyKey: `portal-checkout-${ref}` },
      );
      return recorded(opts, session, ref, input.customerId, input.autoTopup ? 'autotopup' : 'buy');
    },

    async createSetup(input) {
      const pkg = opts.catalog[input.packageId];
      if (!pkg) throw new CheckoutSessionError(`no package ${input.packageId} in the catalog`);
      const ref = newSessionRef();
      const stripe = await opts.stripe();
      const session = await stripe.post<{ id?: unknown; url?: unknown }>(
        'checkout/sessions',
        {
          mode: 'setup',
          // The currency auto top-up will charge in, for the payment methods offered.
          currency: pkg.currency,
          client_reference_id: input.customerId,
          ...(input.stripeCustomer ? { customer: input.stripeCustomer } : {}),
          success_url: input.successUrl,
          cancel_url: input.cancelUrl,
          metadata: {
            package: input.packageId,
            customerId: input.customerId,
            autoTopup: `${input.packageId}:${input.autoTopup.belowGb}`,
            [FLOWPILOT_SESSION_KEY]: ref,
          },
        },
        { idempotencyKey: `portal-checkout-${ref}` },
      );
      return recorded(opts, session, ref, input.customerId, 'autotopup');
    },
  };
}

/** Records the session Stripe created before anyone is sent to it. */
async function recorded(
  opts: StripeCheckoutOptions,
  session: { id?: unknown; url?: unknown },
  ref: string,
  customerId: string,
  purpose: CreatedSessionPurpose,
): Promise<{ url: string }> {
  if (typeof session.id !== 'string' || typeof session.url !== 'string') {
    throw new CheckoutSessionError('Stripe created a Checkout Session without an id or url');
  }
  await recordCreatedSession(opts.sessions, {
    sessionId: session.id,
    ref,
    customerId,
    purpose,
    now: opts.clock(),
  });
  return { url: session.url };
}
