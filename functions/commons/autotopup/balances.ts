import { balanceFigures } from '../customers/balance.ts';
import type { CustomerBalanceStore } from '../customers/store/customer-balances.ts';
import type { CustomerBalance } from '../customers/types.ts';
import { dayInZone } from '../units.ts';
import type { AutoTopupDeps } from './engine.ts';

/**
 * The balances as poll-customers last stored them, with figures as of now (the same
 * computation the poll hands its listeners) and `asOf` the poll's write: what a due retry or
 * resume decides on when the customer's balance did not change in the run, and what a change
 * handed after a newer one is replaced by.
 */
export function storedBalances(
  store: Pick<CustomerBalanceStore, 'getMany'>,
  timeZone: string,
  clock: () => Date,
): AutoTopupDeps['balances'] {
  return {
    async current(customerIds) {
      const now = clock();
      const today = dayInZone(now, timeZone);
      const out = new Map<string, CustomerBalance>();
      for (const [id, stored] of await store.getMany(customerIds)) {
        // asOf: when the poll computed and wrote it, so a change handed late is told older.
        const figures = balanceFigures(stored.state, today, now);
        out.set(id, { ...figures, asOf: stored.updatedAt || figures.asOf });
      }
      return out;
    },
  };
}
