import { getConfig } from '#config';
import { docClient } from '../clients/dynamodb.ts';
import {
  STRIPE_API_BASE_ENV,
  type StripeKeyName,
  secretKeyRefusal,
  stripeClient,
} from '../clients/stripe.ts';
import { getOptionalStringFromEnv } from '../env.ts';
import { getSecret } from '../secrets.ts';
import { alertingFromEnv, tableName } from '../wiring.ts';
import type { OptInDeps } from './opt-in.ts';
import { AutoTopupStore } from './store/autotopup.ts';
import { CheckoutSessionStore } from './store/checkout-sessions.ts';
import { createStripeApi, StripeAccessError, type StripeApi } from './stripe-api.ts';

/**
 * What the payment webhook needs to record a Checkout opt-in, apart from the engine's
 * (wiring.ts) so that the webhook bundle holds no customer notices and no SES client.
 * The Stripe client is at `STRIPE_API_BASE_URL` (Stripe's own when unset), with the named
 * key (customer-actions' `STRIPE_API_KEY`, the webhook's `STRIPE_READ_KEY`) read per run from
 * the secret cache.
 */
export async function stripeFromEnv(name: StripeKeyName = 'STRIPE_API_KEY'): Promise<StripeApi> {
  const key = await getSecret(name);
  if (!key) throw new StripeAccessError(`${name} is not set`);
  const refused = secretKeyRefusal(name, key, getConfig().payments.stripe.allowSecretKey);
  if (refused) throw new StripeAccessError(refused);
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
    // The webhook only reads (Checkout Sessions, PaymentMethods): its own read-only key.
    stripe: () => stripeFromEnv('STRIPE_READ_KEY'),
    sink: alertingFromEnv().events,
    clock: () => new Date(),
    config: autoTopupConfig(),
  };
}
