import type { PollStateStore } from '../pollers/store/poll-state.ts';
import type { UsageStore } from '../pollers/store/usage.ts';
import { POLL_USAGE } from '../pollers/usage.ts';
import { StoreError } from '../store/errors.ts';
import {
  addDays,
  type Decimal,
  dayInZone,
  gbToMb,
  parseDay,
  parseUpstreamDateTime,
} from '../units.ts';
import {
  applyUsage,
  balanceFigures,
  countedMb,
  emptyBalance,
  forgetSeenBefore,
  recordSums,
  type UsageCounts,
} from './balance.ts';
import { canonicalCustomerId } from './ids.ts';
import { RECORDS_CURSOR } from './poll.ts';
import type { CustomerBalanceStore, Opening } from './store/customer-balances.ts';
import type { CustomerRecordStore } from './store/customer-records.ts';
import type { CustomerBalance } from './types.ts';

/** Reads and writes while polls keep changing the balance. */
const WRITE_ATTEMPTS = 8;

export interface CalibrateDeps {
  balances: Pick<CustomerBalanceStore, 'get' | 'write'>;
  records: Pick<CustomerRecordStore, 'byCustomer'>;
  usage: Pick<UsageStore, 'byCustomer'>;
  pollState: Pick<PollStateStore, 'cursor'>;
  timeZone: string;
  usageCounts: UsageCounts;
  clock: () => Date;
}

export interface CalibrateInput {
  customerId: string;
  gb: Decimal;
  /** The balance as of the end of this upstream day; absent: as of now. */
  asOf?: string;
}

/**
 * Sets a customer's opening balance and recomputes the balance from it: the records after
 * the opening instant and the stored usage after it. As of a day, the figure is the balance
 * at the end of that day (midnight in the upstream's zone), so that day's usage is already
 * in it. As of now, today's usage stored so far is already in it too; only what is used
 * after counts (usage arrives with poll-usage, so a figure read between two of its runs is
 * off by what was used in between).
 */
export async function calibrate(
  deps: CalibrateDeps,
  input: CalibrateInput,
): Promise<{ opening: Opening; figures: CustomerBalance }> {
  const customerId = canonicalCustomerId(input.customerId);
  const now = deps.clock();
  const today = dayInZone(now, deps.timeZone);
  let opening: Opening;
  if (input.asOf !== undefined) {
    const day = addDays(parseDay(input.asOf), 1);
    const at = parseUpstreamDateTime(`${day} 00:00:00`, deps.timeZone);
    opening = { mb: gbToMb(input.gb), at: at.toISOString(), day, dayBaseMb: gbToMb(0) };
  } else {
    const [row] = await deps.usage.byCustomer(customerId, today, today);
    opening = {
      mb: gbToMb(input.gb),
      // The upstream stamps records to the second: one in this very second was not in the
      // figure the operator read before typing it, so it counts (records are `at` > opening).
      at: new Date(Math.floor(now.getTime() / 1000) * 1000 - 1).toISOString(),
      day: today,
      dayBaseMb: row ? countedMb(row, deps.usageCounts) : gbToMb(0),
    };
  }
  const keepFrom = addDays(today, -7);
  // Over the version read first: a poll that writes in between makes this read again, so
  // neither the opening nor the poll's records and usage are lost.
  for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
    const stored = await deps.balances.get(customerId);
    const [records, usage, usageCursor, recordsCursor] = await Promise.all([
      deps.records.byCustomer(customerId),
      // From the burn window on at least, so days left read the real burn.
      deps.usage.byCustomer(customerId, [opening.day, keepFrom].sort()[0] ?? keepFrom, today),
      deps.pollState.cursor(POLL_USAGE),
      deps.pollState.cursor(RECORDS_CURSOR),
    ]);
    let state = emptyBalance(customerId);
    if (stored?.state.account) state.account = stored.state.account;
    if (stored?.state.userName) state.userName = stored.state.userName;
    state.opening = opening;
    state = forgetSeenBefore(recordSums(state, records), recordsCursor);
    const days = new Map(usage.map((r) => [r.day, countedMb(r, deps.usageCounts)]));
    state = applyUsage(state, days, usageCursor ?? today, keepFrom);
    const out = await deps.balances.write([{ state, version: stored?.version }], now);
    if (out.written === 1) return { opening, figures: balanceFigures(state, today, now) };
  }
  throw new StoreError(
    `the balance of customer ${customerId} kept changing under ${WRITE_ATTEMPTS} attempts`,
    'customerBalances.write',
    { retryable: true },
  );
}
