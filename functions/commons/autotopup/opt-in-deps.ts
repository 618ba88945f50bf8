import { getConfig } from '#config';
import { docClient } from '../clients/dynamodb.ts';
import { STRIPE_API_BASE_ENV, stripeClient } from '../clients/stripe.ts';
import { alertingFromEnv, tableName } from '../compose.ts';
import { getOptionalStringFromEnv } from '../env.ts';
import { getSecret } from '../secrets.ts';
import { AutoTopupStore } from '../store/autotopup.ts';
import { CheckoutSessionStore } from '../store/checkout-sessions.ts';
import type { OptInDeps } from './opt-in.ts';
import { createStripeApi, StripeAccessError, type StripeApi } from './stripe-api.ts';

/**
 * What the payment webhook needs to record a Checkout opt-in, apart from the engine's
 * (compose.ts) so that the webhook bundle holds no customer notices and no SES client.
 * The Stripe client is at `STRIPE_API_BASE_URL` (Stripe's own when unset), with
 * `STRIPE_API_KEY` read per run from the secret cache.
 */
export async function stripeFromEnv(): Promise<StripeApi> {
  const key = await getSecret('STRIPE_API_KEY');
  if (!key) throw new StripeAccessError('STRIPE_API_KEY is not set');
  return createStripeApi(stripeClient(key, getOptionalStringFromEnv(STRIPE_API_BASE_ENV)));
}

export function autoTopupConfig(): OptInDeps['config'] {
  const c = getConfig();
  return { autoTopup: c.autoTopup, payments: c.payments };
}

export function optInDepsFromEnv(): OptInDeps {
  const table = tableName();
  return {
    store: new AutoTopupStore(docClient, table),
    sessions: new CheckoutSessionStore(docClient, table),
    stripe: stripeFromEnv,
    sink: alertingFromEnv().events,
    clock: () => new Date(),
    config: autoTopupConfig(),
  };
}
