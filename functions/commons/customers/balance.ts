import type { CustomerBalancesConfig } from '../config/customer-balances.ts';
import type { BalanceState } from '../store/customer-balances.ts';
import type { CustomerRecord } from '../store/customer-records.ts';
import { addDays, Decimal, sum } from '../units.ts';
import type { CustomerBalance } from './types.ts';

export type { BalanceState } from '../store/customer-balances.ts';

/*
 * balance = opening + credits − deductions − usage. Usage days that can no longer change
 * (before poll-usage's cursor) and are older than the burn window are folded into a sum;
 * the days after stay one by one, where a re-read day overwrites its value. Applying the
 * same days twice changes nothing, so a run that failed half way is simply repeated.
 */

export type UsageCounts = CustomerBalancesConfig['usageCounts'];

/** The MB of one flowReport row that count against the customer's balance. */
export function countedMb(
  row: { uploadMb: Decimal; downloadMb: Decimal },
  counts: UsageCounts,
): Decimal {
  if (counts === 'download') return row.downloadMb;
  if (counts === 'upload') return row.uploadMb;
  return row.uploadMb.plus(row.downloadMb);
}

export function emptyBalance(customerId: string): BalanceState {
  return {
    customerId,
    creditsMb: new Decimal(0),
    deductionsMb: new Decimal(0),
    settledMb: new Decimal(0),
    recent: new Map(),
    seen: new Set(),
    recentCredits: [],
  };
}

/** What the opening leaves of a day's usage. */
function afterOpening(state: BalanceState, day: string, mb: Decimal): Decimal {
  const o = state.opening;
  if (!o || day > o.day) return mb;
  if (day < o.day) return new Decimal(0);
  return Decimal.max(mb.minus(o.dayBaseMb), 0);
}

/**
 * Applies a customer's usage days (counted MB, before the opening is taken off). `finalBefore`:
 * days before it will not be re-read (poll-usage's cursor); `keepFrom`: the first day the burn
 * figures need one by one. Days already settled are ignored: they were counted and are final.
 */
export function applyUsage(
  state: BalanceState,
  days: ReadonlyMap<string, Decimal>,
  finalBefore: string,
  keepFrom: string,
): BalanceState {
  const recent = new Map(state.recent);
  for (const [day, mb] of days) {
    if (state.settledThrough !== undefined && day <= state.settledThrough) continue;
    recent.set(day, mb);
  }
  const foldBefore = finalBefore < keepFrom ? finalBefore : keepFrom;
  let settledMb = state.settledMb;
  let settledThrough = state.settledThrough;
  for (const day of [...recent.keys()].sort()) {
    if (day >= foldBefore) break;
    settledMb = settledMb.plus(afterOpening(state, day, recent.get(day) ?? new Decimal(0)));
    settledThrough = day;
    recent.delete(day);
  }
  return { ...state, recent, settledMb, ...(settledThrough && { settledThrough }) };
}

/** Whether the balance has taken this record into account already. */
export function hasSeen(state: BalanceState, r: CustomerRecord): boolean {
  if (state.seenFrom !== undefined && r.day < state.seenFrom) return true;
  return state.seen?.has(r.key) === true;
}

/** Forgets the keys of days before `from`: no run reads them again, all are taken into account. */
export function forgetSeenBefore(state: BalanceState, from: string | undefined): BalanceState {
  if (from === undefined || !state.seen || (state.seenFrom ?? '') >= from) return state;
  const seen = new Set([...state.seen].filter((key) => key.slice(0, 10) >= from));
  return { ...state, seen, seenFrom: from };
}

/** Records of one customer counted after the opening: every stored record, summed again. */
export function recordSums(state: BalanceState, records: readonly CustomerRecord[]): BalanceState {
  const next: BalanceState = {
    ...state,
    creditsMb: new Decimal(0),
    deductionsMb: new Decimal(0),
    seen: new Set(),
  };
  delete next.seenFrom;
  delete next.recordsThrough;
  delete next.lastCreditMb;
  delete next.lastCreditAt;
  next.recentCredits = [];
  return addRecords(next, records).state;
}

/**
 * Adds the records the balance has not taken into account yet, by identity: a record that
 * sorts before the newest one counted (stamped in the same second, or written between the
 * type-0 and type-1 reads) is counted too, and adding the same records twice changes nothing.
 * Records at or before the opening are taken into account without being counted.
 */
export function addRecords(
  state: BalanceState,
  records: readonly CustomerRecord[],
): { state: BalanceState; added: CustomerRecord[] } {
  const seen = new Set(state.seen);
  const next: BalanceState = { ...state, seen };
  const added: CustomerRecord[] = [];
  const credits = [...(state.recentCredits ?? [])];
  for (const r of [...records].sort((a, b) => a.key.localeCompare(b.key))) {
    if (hasSeen(next, r)) continue;
    seen.add(r.key);
    added.push(r);
    if (next.recordsThrough === undefined || r.key > next.recordsThrough) {
      next.recordsThrough = r.key;
    }
    // Before the opening too: the opening's figure holds it.
    if (r.type === 0) credits.push({ at: r.at, mb: r.mb });
    if (state.opening && r.at <= state.opening.at) continue;
    if (r.type === 1) {
      next.deductionsMb = next.deductionsMb.plus(r.mb);
      continue;
    }
    next.creditsMb = next.creditsMb.plus(r.mb);
    if (next.lastCreditAt === undefined || r.at >= next.lastCreditAt) {
      next.lastCreditMb = r.mb;
      next.lastCreditAt = r.at;
    }
    if (!next.account && r.account) next.account = r.account;
  }
  if (added.length > 0) next.recentCredits = recentOf(credits);
  return { state: next, added };
}

/** How far back from its newest credit record a balance keeps the records it counted. */
export const RECENT_CREDITS_WINDOW_MS = 48 * 3_600_000;
/** At most this many are kept (the newest): a customer has a few credits a day. */
const RECENT_CREDITS_MAX = 50;

/** The credit records of the window, oldest first, at most RECENT_CREDITS_MAX. */
function recentOf(credits: readonly { at: string; mb: Decimal }[]): { at: string; mb: Decimal }[] {
  const sorted = [...credits].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  const newest = sorted.at(-1);
  if (!newest) return [];
  const from = Date.parse(newest.at) - RECENT_CREDITS_WINDOW_MS;
  return sorted.filter((c) => Date.parse(c.at) >= from).slice(-RECENT_CREDITS_MAX);
}

/** Usage counted against the balance: what the opening leaves of every day. */
export function usageMb(state: BalanceState): Decimal {
  return state.settledMb.plus(
    sum([...state.recent].map(([day, mb]) => afterOpening(state, day, mb))),
  );
}

export function balanceMb(state: BalanceState): Decimal {
  return (state.opening?.mb ?? new Decimal(0))
    .plus(state.creditsMb)
    .minus(state.deductionsMb)
    .minus(usageMb(state));
}

/**
 * The figures listeners and views read. Burn: the last full day (yesterday) and the average
 * of the last 7 full days, a day without a row being a day without traffic. Days left, as for
 * pools, only when both burns agree that the balance runs out: the balance over the milder
 * (smaller) of the two; none when either is zero; 0 once the balance is gone.
 */
export function balanceFigures(state: BalanceState, today: string, asOf: Date): CustomerBalance {
  const yesterday = addDays(today, -1);
  const hasUsage = state.settledThrough !== undefined || state.recent.size > 0;
  const day = (d: string) => state.recent.get(d) ?? new Decimal(0);
  const burn1d = hasUsage ? day(yesterday) : undefined;
  const burn7d = hasUsage
    ? sum(Array.from({ length: 7 }, (_, i) => day(addDays(yesterday, -i)))).div(7)
    : undefined;
  const balance = balanceMb(state);
  const uncalibrated = state.opening === undefined && balance.lt(0);
  let daysLeft: number | null = null;
  if (uncalibrated) daysLeft = null;
  else if (balance.lte(0)) daysLeft = 0;
  else if (burn1d?.gt(0) && burn7d?.gt(0)) {
    daysLeft = balance.div(Decimal.min(burn1d, burn7d)).toDecimalPlaces(1).toNumber();
  }
  const figures: CustomerBalance = {
    customerId: state.customerId,
    balanceMb: balance.toFixed(),
    burn1dMb: burn1d ? burn1d.toFixed() : null,
    burn7dMb: burn7d ? burn7d.toDecimalPlaces(2).toFixed() : null,
    daysLeft,
    lastCreditMb: state.lastCreditMb ? state.lastCreditMb.toFixed() : null,
    lastCreditAt: state.lastCreditAt ?? null,
    asOf: asOf.toISOString(),
  };
  if (state.account) figures.account = state.account;
  if (uncalibrated) figures.uncalibrated = true;
  if (state.recentCredits) {
    figures.recentCredits = state.recentCredits.map((c) => ({ at: c.at, mb: c.mb.toFixed() }));
  }
  return figures;
}

/** Whether two computations tell a listener anything different (asOf aside). */
export function sameFigures(a: CustomerBalance | undefined, b: CustomerBalance): boolean {
  if (!a) return false;
  return JSON.stringify({ ...a, asOf: '' }) === JSON.stringify({ ...b, asOf: '' });
}
