import type { AutoTopupConfig } from '../config/autotopup.ts';
import type { PaymentsConfig } from '../config/payments.ts';
import { isFields } from '../json-values.ts';
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

/** Stripe metadata: an object of strings, or absent (null included). */
function metadataOf(v: unknown): Readonly<Record<string, string>> | undefined | false {
  if (v == null) return undefined;
  if (!isFields(v) || !Object.values(v).every((x) => typeof x === 'string')) return false;
  return v as Readonly<Record<string, string>>;
}

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
  // Typed reads, not a schema: zod/mini cost the webhook ~5 ms of every cold start.
  if (!isFields(raw) || typeof raw.type !== 'string' || !PAID_TYPES.has(raw.type)) return undefined;
  const s = isFields(raw.data) ? raw.data.object : undefined;
  if (!isFields(s) || typeof s.id !== 'string' || s.payment_status !== 'paid') return undefined;
  const ref = s.client_reference_id;
  const metadata = metadataOf(s.metadata);
  if ((ref != null && typeof ref !== 'string') || metadata === false) return undefined;
  const spec = metadata?.autoTopup;
  const customerId = ref ?? metadata?.customerId;
  if (!spec || !customerId) return undefined;
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
