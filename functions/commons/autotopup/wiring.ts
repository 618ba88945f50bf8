import { getConfig } from '#config';
import { docClient } from '../clients/dynamodb.ts';
import { customerNoticesFromEnv } from '../customer-notices/wiring.ts';
import { CustomerBalanceStore } from '../customers/store/customer-balances.ts';
import type { BalanceListener } from '../customers/types.ts';
import { OrderStore, readOrder } from '../payments/ledger/ledger-orders.ts';
import { SnapshotStore } from '../pollers/store/snapshots.ts';
import { alertingFromEnv, tableName } from '../wiring.ts';
import { storedBalances } from './balances.ts';
import { AutoTopupEngine } from './engine.ts';
import { type AutoTopupNotices, customerAutoTopupNotices } from './notices.ts';
import { autoTopupConfig, stripeFromEnv } from './opt-in-wiring.ts';
import { AutoTopupStore } from './store/autotopup.ts';

/**
 * Auto top-up as the balance poll builds it: the store over the table, Stripe as
 * opt-in-wiring.ts builds it, payment alerts through the alerting module, customer notices
 * through the customer notices (email, SMS, outbox).
 */
export function createAutoTopupListener(
  opts: { notices?: AutoTopupNotices } = {},
): BalanceListener {
  const table = tableName();
  const clock = () => new Date();
  return new AutoTopupEngine({
    store: new AutoTopupStore(docClient, table),
    stripe: stripeFromEnv,
    // Reads only: the ledger's writes stay out of customer-actions' bundle.
    ledger: {
      getOrder: (key) => readOrder(docClient, table, key),
      listCredited: (from, to) => new OrderStore(docClient, table).listCredited(from, to),
      listPaidNotCredited: (from, to) =>
        new OrderStore(docClient, table).listPaidNotCredited(from, to),
    },
    balances: storedBalances(
      new CustomerBalanceStore(docClient, table),
      getConfig().upstream.timeZone,
      clock,
    ),
    snapshots: new SnapshotStore(docClient, table),
    sink: alertingFromEnv().events,
    notices: opts.notices ?? customerAutoTopupNotices(customerNoticesFromEnv()),
    clock,
    config: autoTopupConfig(),
  });
}
