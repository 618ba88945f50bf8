import type { AutoTopupConfig } from '../config/autotopup.ts';
import type { PaymentsConfig } from '../config/payments.ts';
import { canonicalCustomerId } from '../customer-id.ts';
import { isFields } from '../json-values.ts';
import { logger } from '../logger.ts';
import type { OpsEventSink } from '../ops-events.ts';
import type { AutoTopupStore } from '../store/autotopup.ts';
import type { CheckoutSessionStore } from '../store/checkout-sessions.ts';
import { FLOWPILOT_SESSION_KEY, notCreatedFor } from './checkout-sessions.ts';
import {
  AutoTopupSettingsError,
  applyCheckoutOptIn,
  type OptInResult,
  optInStanding,
  parseOptIn,
  StripeCustomerMismatchError,
} from './settings.ts';
import type { StripeApi } from './stripe-api.ts';

/**
 * A customer opts in at checkout: a Checkout Session created with
 * `payment_intent_data.setup_future_usage=off_session` (or a `mode=setup` session, which
 * saves a card without a payment) and `metadata.autoTopup` =
 * `<package>:<belowGb>[:<quantity>]`. Once the session is paid (and credited) or completed, and if
 * `autoTopup.checkoutOptIn` accepts it (by default: FlowPilot created the session for this
 * customer, checkout-sessions.ts), the saved card is read back from Stripe (the session's
 * customer, its PaymentIntent's payment method) and the settings are written, recorded as
 * `checkout:<session id>`: once per session, never over a later change (settings.ts).
 */

export interface CheckoutOptIn {
  sessionId: string;
  /** Canonical. */
  customerId: string;
  spec: string;
  /** When Stripe recorded the payment (the event's `created`): later changes stand. */
  paidAt: Date;
  /** `metadata.flowpilot_session`: FlowPilot created the session, if its record agrees. */
  ref?: string;
  /** A setup-mode session: it saved a card and took no money. */
  setup?: true;
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
  if (!Number.isSafeInteger(raw.created)) return undefined;
  const s = isFields(raw.data) ? raw.data.object : undefined;
  if (!isFields(s) || typeof s.id !== 'string') return undefined;
  const setup = s.mode === 'setup';
  const done = setup
    ? raw.type === 'checkout.session.completed' && s.status === 'complete'
    : s.payment_status === 'paid';
  if (!done) return undefined;
  const ref = s.client_reference_id;
  const metadata = metadataOf(s.metadata);
  if ((ref != null && typeof ref !== 'string') || metadata === false) return undefined;
  const spec = metadata?.autoTopup;
  // The spelling the credit went to (payments/catalog.ts), so every guard sees one customer.
  const customerId = canonicalCustomerId(ref ?? metadata?.customerId);
  if (!spec || !customerId) return undefined;
  const flowpilot = metadata?.[FLOWPILOT_SESSION_KEY];
  return {
    sessionId: s.id,
    customerId,
    spec,
    paidAt: new Date((raw.created as number) * 1000),
    ...(flowpilot ? { ref: flowpilot } : {}),
    ...(setup ? { setup: true as const } : {}),
  };
}

export interface OptInDeps {
  store: Pick<AutoTopupStore, 'get' | 'commit'>;
  sessions: Pick<CheckoutSessionStore, 'get'>;
  stripe: () => Promise<StripeApi>;
  sink: OpsEventSink;
  clock: () => Date;
  config: { payments: PaymentsConfig; autoTopup: AutoTopupConfig };
}

export type OptInOutcome = OptInResult | 'refused';

/** Why `autoTopup.checkoutOptIn` does not take this opt-in, or undefined when it does. */
async function refusal(optIn: CheckoutOptIn, deps: OptInDeps): Promise<string | undefined> {
  switch (deps.config.autoTopup.checkoutOptIn) {
    case 'off':
      return 'opt-ins at checkout are turned off (autoTopup.checkoutOptIn: off)';
    case 'any':
      return undefined;
    case 'created-by-flowpilot': {
      const rec = optIn.ref ? await deps.sessions.get(optIn.sessionId) : undefined;
      const why = notCreatedFor(rec, optIn);
      return why && `${why} (autoTopup.checkoutOptIn: created-by-flowpilot)`;
    }
  }
}

function noted(optIn: CheckoutOptIn, result: OptInResult): OptInResult {
  if (result === 'superseded') {
    logger.info('checkout auto top-up opt-in not applied: the settings changed since', {
      customerId: optIn.customerId,
      session: optIn.sessionId,
    });
  }
  return result;
}

/**
 * Records the opt-in. Settings that cannot be used, or an opt-in the configuration does not
 * take, are told to the agent and dropped (the payment itself stands); Stripe failures throw
 * so that the webhook is retried.
 */
export async function recordCheckoutOptIn(
  optIn: CheckoutOptIn,
  deps: OptInDeps,
): Promise<OptInOutcome> {
  try {
    // Most deliveries after the first end here, without asking Stripe or alerting again.
    const standing = optInStanding(await deps.store.get(optIn.customerId), optIn);
    if (standing !== 'recorded') return noted(optIn, standing);
    const why = await refusal(optIn, deps);
    if (why) throw new AutoTopupSettingsError(why);
    const rule = parseOptIn(optIn.spec);
    const stripe = await deps.stripe();
    const card = optIn.setup
      ? await stripe.savedCardOfSetup(optIn.sessionId)
      : await stripe.savedCardOfCheckout(optIn.sessionId);
    if (!card) {
      throw new AutoTopupSettingsError(
        optIn.setup
          ? 'the setup session saved no card (its SetupIntent did not succeed)'
          : 'the session saved no card for off-session use (setup_future_usage=off_session missing?)',
      );
    }
    const result = await applyCheckoutOptIn(
      deps.store,
      {
        customerId: optIn.customerId,
        sessionId: optIn.sessionId,
        paidAt: optIn.paidAt,
        ...rule,
        ...card,
        now: deps.clock(),
      },
      deps.config,
    );
    return noted(optIn, result);
  } catch (err) {
    if (!(err instanceof AutoTopupSettingsError)) throw err;
    // Another payer's card aimed at a customer who has one: perhaps an attempt to redirect it.
    const mismatch = err instanceof StripeCustomerMismatchError;
    logger.warn('checkout auto top-up opt-in refused', {
      customerId: optIn.customerId,
      reason: err.message,
    });
    await deps.sink.raise({
      kind: 'topup-failed',
      severity: mismatch ? 'critical' : 'warning',
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
