import * as z from 'zod/mini';
import type { AutoTopupConfig } from '../config/autotopup.ts';
import type { PaymentsConfig } from '../config/payments.ts';
import { logger } from '../logger.ts';
import type { OpsEventSink } from '../ops-events.ts';
import type { AutoTopupStore } from '../store/autotopup.ts';
import { AutoTopupSettingsError, parseOptIn, setAutoTopup } from './settings.ts';
import type { StripeApi } from './stripe-api.ts';

/**
 * A shop opts a customer in at checkout: a Checkout Session created with
 * `payment_intent_data.setup_future_usage=off_session` and `metadata.autoTopup` =
 * `<package>:<belowGb>[:<quantity>]`. Once the session is paid (and credited), the saved card
 * is read back from Stripe (the session's customer, its PaymentIntent's payment method) and
 * the settings are written, recorded as `checkout:<session id>`.
 */

export interface CheckoutOptIn {
  sessionId: string;
  customerId: string;
  spec: string;
}

const eventSchema = z.object({
  type: z.string(),
  data: z.object({
    object: z.object({
      id: z.string(),
      payment_status: z.optional(z.string()),
      client_reference_id: z.nullish(z.string()),
      metadata: z.nullish(z.record(z.string(), z.string())),
    }),
  }),
});

const PAID_TYPES = new Set([
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
]);

/** The opt-in a verified Stripe event carries, if any. */
export function checkoutOptInOf(body: Buffer): CheckoutOptIn | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  const parsed = eventSchema.safeParse(raw);
  if (!parsed.success || !PAID_TYPES.has(parsed.data.type)) return undefined;
  const s = parsed.data.data.object;
  const spec = s.metadata?.autoTopup;
  const customerId = s.client_reference_id ?? s.metadata?.customerId;
  if (!spec || !customerId || s.payment_status !== 'paid') return undefined;
  return { sessionId: s.id, customerId, spec };
}

export interface OptInDeps {
  store: Pick<AutoTopupStore, 'get' | 'commit'>;
  stripe: () => Promise<StripeApi>;
  sink: OpsEventSink;
  clock: () => Date;
  config: { payments: PaymentsConfig; autoTopup: AutoTopupConfig };
}

/**
 * Records the opt-in. Settings that cannot be used are told to the agent and dropped (the
 * payment itself stands); Stripe failures throw so that the webhook is retried.
 */
export async function recordCheckoutOptIn(optIn: CheckoutOptIn, deps: OptInDeps): Promise<string> {
  const by = `checkout:${optIn.sessionId}`;
  const current = await deps.store.get(optIn.customerId);
  if (current?.updatedBy === by) return 'already-recorded';
  try {
    const rule = parseOptIn(optIn.spec);
    const card = await (await deps.stripe()).savedCardOfCheckout(optIn.sessionId);
    if (!card) {
      throw new AutoTopupSettingsError(
        'the session saved no card for off-session use (setup_future_usage=off_session missing?)',
      );
    }
    await setAutoTopup(
      deps.store,
      {
        customerId: optIn.customerId,
        ...rule,
        paymentMethod: card.paymentMethod,
        stripeCustomer: card.stripeCustomer,
        by,
        now: deps.clock(),
      },
      deps.config,
    );
    return 'recorded';
  } catch (err) {
    if (!(err instanceof AutoTopupSettingsError)) throw err;
    logger.warn('checkout auto top-up opt-in refused', {
      customerId: optIn.customerId,
      reason: err.message,
    });
    await deps.sink.raise({
      kind: 'topup-failed',
      severity: 'warning',
      subject: `autotopup:opt-in:${optIn.sessionId}`,
      summary: `Auto top-up opt-in at checkout not recorded: ${err.message}`,
      details: {
        customerId: optIn.customerId,
        session: optIn.sessionId,
        autoTopup: optIn.spec.slice(0, 80),
      },
    });
    return 'refused';
  }
}
