import type { CustomerBalancesConfig } from '../config/customer-balances.ts';
import type { BalanceState, CustomerBalanceStore } from '../store/customer-balances.ts';
import { Decimal, dayInZone, gbToMb } from '../units.ts';
import { balanceFigures } from './balance.ts';
import type { CustomerBalance } from './types.ts';

export interface CustomerRow {
  figures: CustomerBalance;
  state: BalanceState;
  /** When poll-customers last wrote the balance (ISO 8601). */
  updatedAt: string;
  /** The customer notices' episode state, where they keep one; blank otherwise. */
  noticeState?: string;
}

/**
 * Running low for the operator's views: at or under `lowList.gb`, or `lowList.daysLeft`. A
 * customer not calibrated is listed as such, not as running low.
 */
export function isLow(f: CustomerBalance, lowList: CustomerBalancesConfig['lowList']): boolean {
  if (f.uncalibrated) return false;
  if (gbToMb(lowList.gb).gte(f.balanceMb)) return true;
  return f.daysLeft !== null && f.daysLeft <= lowList.daysLeft;
}

/**
 * Every customer with figures as of now (burn counts full days up to yesterday, so a
 * balance untouched since yesterday still shows today's burn), lowest days left first.
 */
export async function customerRows(
  balances: Pick<CustomerBalanceStore, 'list'>,
  timeZone: string,
  now: Date,
): Promise<CustomerRow[]> {
  const today = dayInZone(now, timeZone);
  const rows = (await balances.list()).map((b) => ({
    figures: balanceFigures(b.state, today, now),
    state: b.state,
    updatedAt: b.updatedAt,
  }));
  const rank = (r: CustomerRow) => r.figures.daysLeft ?? Number.POSITIVE_INFINITY;
  return rows.sort(
    (a, b) => rank(a) - rank(b) || new Decimal(a.figures.balanceMb).cmp(b.figures.balanceMb) || 0,
  );
}
