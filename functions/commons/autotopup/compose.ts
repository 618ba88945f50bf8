import { getConfig } from '#config';
import { docClient } from '../clients/dynamodb.ts';
import { STRIPE_API_BASE_ENV, stripeClient } from '../clients/stripe.ts';
import { alertingFromEnv, tableName } from '../compose.ts';
import { customerNoticesFromEnv } from '../customer-notices/from-env.ts';
import type { BalanceListener } from '../customers/types.ts';
import { getOptionalStringFromEnv } from '../env.ts';
import { getSecret } from '../secrets.ts';
import { AutoTopupStore } from '../store/autotopup.ts';
import { DynamoLedger } from '../store/ledger.ts';
import { SnapshotStore } from '../store/snapshots.ts';
import { AutoTopupEngine } from './engine.ts';
import { type AutoTopupNotices, customerAutoTopupNotices } from './notices.ts';
import type { OptInDeps } from './opt-in.ts';
import { createStripeApi, StripeAccessError, type StripeApi } from './stripe-api.ts';

/**
 * Auto top-up as the functions build it: the store over the table, the Stripe client at
 * `STRIPE_API_BASE_URL` (Stripe's own when unset) with `STRIPE_API_KEY` read per run from the
 * secret cache, payment alerts through the alerting module, customer notices through the
 * customer notices (email, SMS, outbox).
 */
export async function stripeFromEnv(): Promise<StripeApi> {
  const key = await getSecret('STRIPE_API_KEY');
  if (!key) throw new StripeAccessError('STRIPE_API_KEY is not set');
  return createStripeApi(stripeClient(key, getOptionalStringFromEnv(STRIPE_API_BASE_ENV)));
}

function config() {
  const c = getConfig();
  return { autoTopup: c.autoTopup, payments: c.payments };
}

/** The listener the balance poll hands its changes to. */
export function createAutoTopupListener(
  opts: { notices?: AutoTopupNotices } = {},
): BalanceListener {
  const table = tableName();
  return new AutoTopupEngine({
    store: new AutoTopupStore(docClient, table),
    stripe: stripeFromEnv,
    ledger: new DynamoLedger(docClient, table),
    snapshots: new SnapshotStore(docClient, table),
    sink: alertingFromEnv().events,
    notices: opts.notices ?? customerAutoTopupNotices(customerNoticesFromEnv()),
    clock: () => new Date(),
    config: config(),
  });
}

export function optInDepsFromEnv(): OptInDeps {
  return {
    store: new AutoTopupStore(docClient, tableName()),
    stripe: stripeFromEnv,
    sink: alertingFromEnv().events,
    clock: () => new Date(),
    config: config(),
  };
}
