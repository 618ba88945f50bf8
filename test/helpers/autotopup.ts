import { type AutoTopupDeps, AutoTopupEngine } from '../../functions/commons/autotopup/engine.ts';
import { setAutoTopup } from '../../functions/commons/autotopup/settings.ts';
import { AutoTopupStore } from '../../functions/commons/autotopup/store/autotopup.ts';
import { createStripeApi } from '../../functions/commons/autotopup/stripe-api.ts';
import { stripeClient } from '../../functions/commons/clients/stripe.ts';
import { autoTopupSchema } from '../../functions/commons/config/autotopup.ts';
import type { BalanceChange } from '../../functions/commons/customers/types.ts';
import { DynamoLedger } from '../../functions/commons/payments/ledger/ledger.ts';
import { SnapshotStore } from '../../functions/commons/pollers/store/snapshots.ts';
import { Decimal, gbToMb } from '../../functions/commons/units.ts';
import { testPaymentsConfig } from '../integration/payments-fixtures.ts';
import { customerBalance } from './balances.ts';
import { createTestTable } from './dynamo.ts';

/** The agent opts a customer in: gb100 below 20 GB, a saved card; `over` changes any of it. */
export function optInWithCard(
  store: AutoTopupStore,
  config: Parameters<typeof setAutoTopup>[2],
  customerId: string,
  now: Date,
  over: Partial<Parameters<typeof setAutoTopup>[1]> = {},
) {
  return setAutoTopup(
    store,
    {
      customerId,
      packageId: 'gb100',
      quantity: 1,
      belowGb: '20',
      paymentMethod: 'pm_card_visa',
      stripeCustomer: 'cus_test',
      by: 'cli:test',
      now,
      ...over,
    },
    config,
  );
}

/**
 * An auto top-up engine over a fresh table, on the test's clock, charging the Stripe stand-in
 * at `stripeUrl`: customers opted in (gb100 below 20 GB, a saved card), the pool as the totals
 * poll saw it a minute ago, and balance changes as the balances poll hands them to the engine.
 * `engine` takes the deps a test replaces (a flaky store, a sink, a rotating key).
 */
export async function autoTopupRig(
  name: string,
  clock: () => Date,
  stripe: { url: string; key: string },
) {
  const table = await createTestTable(name);
  const store = new AutoTopupStore(table.doc, table.tableName);
  const snapshots = new SnapshotStore(table.doc, table.tableName);
  const ledger = new DynamoLedger(table.doc, table.tableName);
  const config = { autoTopup: autoTopupSchema.parse({}), payments: testPaymentsConfig() };
  let poll = 0;
  const balance = (id: string, gb: string) =>
    customerBalance(id, gb, clock(), { recentCredits: [] });
  return {
    store,
    snapshots,
    ledger,
    config,
    engine: (deps: Pick<AutoTopupDeps, 'sink'> & Partial<AutoTopupDeps>) =>
      new AutoTopupEngine({
        store,
        stripe: async () => createStripeApi(stripeClient(stripe.key, stripe.url)),
        ledger,
        balances: { current: async () => new Map() },
        snapshots,
        notices: { send: async () => undefined },
        clock,
        config,
        ...deps,
      }),
    async optIn(...ids: string[]) {
      for (const id of ids) await optInWithCard(store, config, id, clock());
    },
    /** The pool as the totals poll last saw it, a minute ago. */
    pool(gb: string) {
      const mb = gbToMb(gb);
      poll += 1;
      return snapshots.put([
        {
          pool: 'primary',
          at: new Date(clock().getTime() - 60_000).toISOString(),
          pollId: `p${poll}`,
          rechargedMb: mb,
          consumedMb: new Decimal(0),
          residualMb: mb,
        },
      ]);
    },
    change: (id: string, before: string, after: string): BalanceChange => ({
      before: balance(id, before),
      after: balance(id, after),
      credits: [],
    }),
    /**
     * A customer's Buy of 100 GB (Stripe Checkout, never pool-gated): its webhook holds the
     * order at the upstream (CREDITING), or has credited it.
     */
    async buy(customerId: string, credited: boolean) {
      const now = clock();
      const key = { provider: 'stripe', paymentId: `pi_buy_${customerId}_${now.getTime()}` };
      await ledger.createOrder(
        {
          ...key,
          orderId: `o${key.paymentId}`,
          state: 'CREDITING',
          customerId,
          packageId: 'gb100',
          quantity: 1,
          gb: '100',
          amountMinor: 8000,
          currency: 'usd',
        },
        { now, lease: { owner: 'webhook', until: now.getTime() + 60_000 } },
      );
      if (credited) await ledger.markCredited(key, { now, code: 200, message: '充值成功' });
      return key;
    },
  };
}
