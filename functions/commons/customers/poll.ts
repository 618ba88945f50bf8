import type { CustomerBalancesConfig } from '../config/customer-balances.ts';
import { classifyUpstreamFailure } from '../pollers/outcome.ts';
import { POLL_USAGE } from '../pollers/usage.ts';
import { matchRecharges } from '../reconcile/match.ts';
import type { CreditSource } from '../reconcile/run.ts';
import type { BalanceState, CustomerBalanceStore } from '../store/customer-balances.ts';
import type { CustomerRecord, CustomerRecordStore } from '../store/customer-records.ts';
import type { PollHealth, PollStateStore } from '../store/poll-state.ts';
import type { UsageStore } from '../store/usage.ts';
import { addDays, Decimal, dayInZone, daysBetween } from '../units.ts';
import { UpstreamTransportError } from '../upstream/errors.ts';
import type { DynamicTrafficApi } from '../upstream/types.ts';
import {
  addRecords,
  applyUsage,
  balanceFigures,
  countedMb,
  emptyBalance,
  recordSums,
  sameFigures,
} from './balance.ts';
import { canonicalCustomerId } from './ids.ts';
import { type ListenerFailure, runListeners } from './listeners.ts';
import { keyRecords } from './records.ts';
import type { BalanceChange, BalanceListener, CustomerBalance, CustomerCredit } from './types.ts';

export const POLL_CUSTOMERS = 'poll-customers';
/** The records sweep keeps its own cursor: the first day it still reads. */
export const RECORDS_CURSOR = 'poll-customers#records';
/** Set by the first complete run: from then on balances are whole and changes are news. */
export const READY_CURSOR = 'poll-customers#ready';

/** Stored days read at once. */
const DAY_READS_IN_FLIGHT = 4;
/** Records are re-read from a little before the previous run, so a late-stamped one is seen. */
const RECORDS_OVERLAP_MS = 10 * 60_000;

export interface PollCustomersDeps {
  upstream: Pick<DynamicTrafficApi, 'myRechargeFlowList'>;
  usage: Pick<UsageStore, 'onDay' | 'byCustomer'>;
  balances: Pick<CustomerBalanceStore, 'getMany' | 'put'>;
  records: Pick<CustomerRecordStore, 'knownOnDay' | 'put' | 'byCustomer'>;
  pollState: PollStateStore;
  /** FlowPilot's own ledger, to name the order behind a credit; optional. */
  credits?: CreditSource;
  listeners: readonly BalanceListener[];
  config: Pick<CustomerBalancesConfig, 'usageCounts' | 'recordsPageSize' | 'usageDaysPerStep'> & {
    timeZone: string;
    /** Oldest usage day a first run reads (the usage rows' retention). */
    retentionDays: number;
    safetyMarginMs: number;
    /** How far apart a ledger credit and its upstream record may be. */
    toleranceMinutes: number;
  };
  clock?: () => Date;
  /** Milliseconds the invocation has left; no limit when absent. */
  remainingMs?: () => number;
}

export interface CustomersPollStats {
  upstreamCalls: number;
  /** Records read, and the ones not seen before. */
  records: { read: number; new: number };
  /** Usage days read from the store, and the rows they held. */
  usage: { days: number; rows: number };
  /** Customers whose balance was recomputed, and those whose stored balance changed. */
  customers: { touched: number; written: number };
  /** Changes handed to the listeners (0 when they were held back). */
  changes: number;
  /**
   * Listeners that threw: each gets the changes whatever the others do, and the balances
   * stay written, so one failing reaction neither blocks another nor repeats the run.
   */
  listenerFailures: ListenerFailure[];
}

export type CustomersPollOutcome = CustomersPollStats & {
  at: string;
  /** Usage days this run covered, and where the next one starts. */
  usageWindow?: { from: string; to: string; next: string };
} & (
    | { ok: true; complete: true }
    /**
     * `time`: ran short, resumes next run; `total-changed`: records moved while paging;
     * `usage-not-ready`: poll-usage has not completed a first run, so there is nothing to count.
     */
    | { ok: true; complete: false; stopReason: 'time' | 'total-changed' | 'usage-not-ready' }
    | { ok: false; complete: false; reason: 'auth' | 'transport' | 'data'; message: string }
  );

export interface PollCustomersResult {
  outcome: CustomersPollOutcome;
  health: PollHealth;
}

function limiter(n: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active < n) active++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

class OutOfTime extends Error {
  override name = 'OutOfTime';
}

/**
 * The customer-balance poll. Two passes, each incremental and resumable:
 *
 * 1. Records: myRechargeFlowList, type 0 and type 1, from the records cursor (a day) to
 *    today, `recordsPageSize` a call. Records not stored before are stored; every customer
 *    with a record newer than its balance has its credits and deductions summed again from
 *    the stored records (few per customer), so a run repeated after a failure counts nothing
 *    twice.
 * 2. Usage: the per-customer daily rows poll-usage already stored (no second flowReport
 *    read), from this poll's cursor to today, a few days at a time, oldest first; each step
 *    updates the balances of the customers it holds (BatchGet 100, BatchWrite 25) and moves
 *    the cursor over the days that can no longer change. A first run walks back through the
 *    retention (the backfill), across several runs if the deadline says so.
 *
 * After a complete run the listeners get one change per customer whose figures moved or who
 * received a credit. A backfill run, or one cut short, hands them nothing: historic credits
 * are not news, and half-applied history is not a balance.
 */
export async function pollCustomers(deps: PollCustomersDeps): Promise<PollCustomersResult> {
  const now = (deps.clock ?? (() => new Date()))();
  const at = now.toISOString();
  const { timeZone } = deps.config;
  const today = dayInZone(now, timeZone);
  const keepFrom = addDays(today, -7);
  const remainingMs = deps.remainingMs ?? (() => Number.POSITIVE_INFINITY);
  const checkTime = () => {
    if (remainingMs() <= deps.config.safetyMarginMs) throw new OutOfTime();
  };
  const budgetMs = remainingMs() - deps.config.safetyMarginMs;
  const deadline =
    budgetMs > 0 && Number.isFinite(budgetMs) ? AbortSignal.timeout(budgetMs) : undefined;
  // An upstream call cut short by the deadline: the run ran out of time, it did not fail.
  const cutByDeadline = (err: unknown) =>
    deadline?.aborted === true && err instanceof UpstreamTransportError && err.kind === 'aborted';
  const stats: CustomersPollStats = {
    upstreamCalls: 0,
    records: { read: 0, new: 0 },
    usage: { days: 0, rows: 0 },
    customers: { touched: 0, written: 0 },
    changes: 0,
    listenerFailures: [],
  };

  // One entry per customer over the whole run: figures before the first update, after the last.
  const changes = new Map<
    string,
    { before?: CustomerBalance; after: CustomerBalance; credits: CustomerCredit[] }
  >();
  const touched = new Set<string>();

  const [recordsFrom, usageCursor, usageFromStored, ready] = await Promise.all([
    deps.pollState.cursor(RECORDS_CURSOR),
    deps.pollState.cursor(POLL_USAGE),
    deps.pollState.cursor(POLL_CUSTOMERS),
    deps.pollState.cursor(READY_CURSOR),
  ]);
  // poll-usage re-reads from its cursor on: the days before it are final.
  const finalBefore = usageCursor ?? addDays(today, -deps.config.retentionDays);
  // Credits found by the very first sweep are history, not news.
  const reportCredits = recordsFrom !== undefined;

  /** Recomputes and stores these customers' balances; `usage` holds day → counted MB. */
  const update = async (
    ids: readonly string[],
    usage: ReadonlyMap<string, { userName?: string; days: Map<string, Decimal> }>,
    records: ReadonlyMap<string, CustomerRecord[]>,
    newCredits: ReadonlyMap<string, CustomerRecord[]>,
    added: ReadonlyMap<string, CustomerRecord[]> = new Map(),
  ) => {
    if (ids.length === 0) return;
    const stored = await deps.balances.getMany(ids);
    const written: BalanceState[] = [];
    for (const id of ids) {
      touched.add(id);
      const old = stored.get(id)?.state;
      let state = old ?? emptyBalance(id);
      const recs = records.get(id);
      if (recs) state = recordSums(state, recs);
      const more = added.get(id);
      if (more) state = addRecords(state, more);
      const u = usage.get(id);
      if (u) {
        if (u.userName && !state.userName) state = { ...state, userName: u.userName };
        state = applyUsage(state, u.days, finalBefore, keepFrom);
      }
      const after = balanceFigures(state, today, now);
      const before = old ? balanceFigures(old, today, now) : undefined;
      const credits = (newCredits.get(id) ?? []).map((r) => ({ mb: r.mb.toFixed(), at: r.at }));
      if (
        !old ||
        !sameFigures(before, after) ||
        JSON.stringify(stateText(old)) !== JSON.stringify(stateText(state))
      ) {
        written.push(state);
      }
      const entry = changes.get(id);
      if (entry) {
        entry.after = after;
        entry.credits.push(...credits);
      } else {
        changes.set(id, { ...(before && { before }), after, credits });
      }
    }
    if (written.length) {
      const w = await deps.balances.put(written, now);
      stats.customers.written += w.items;
    }
  };

  // Customers whose records changed, until a usage step (or the end of the run) writes them.
  const pending = {
    ids: new Set<string>(),
    /** Every record of the customer: the sums are made again. */
    records: new Map<string, CustomerRecord[]>(),
    /** Records newer than what the balance counted: added to the sums. */
    added: new Map<string, CustomerRecord[]>(),
    credits: new Map<string, CustomerRecord[]>(),
    clear() {
      this.ids.clear();
      this.records.clear();
      this.added.clear();
      this.credits.clear();
    },
  };
  const flushPending = async () => {
    if (pending.ids.size === 0) return;
    await update([...pending.ids], new Map(), pending.records, pending.credits, pending.added);
    pending.clear();
  };
  let stopReason: 'time' | 'total-changed' | 'usage-not-ready' | undefined;
  let usageWindow: CustomersPollOutcome['usageWindow'];
  try {
    // ---- 1. records ----
    const fetched: CustomerRecord[] = [];
    let recordsComplete = true;
    for (const type of [0, 1] as const) {
      const rows = [];
      const totals = new Set<number>();
      for (let pageNum = 1; ; pageNum++) {
        checkTime();
        stats.upstreamCalls++;
        const page = await deps.upstream.myRechargeFlowList(
          {
            type,
            pageNum,
            pageSize: deps.config.recordsPageSize,
            ...(recordsFrom && { startDate: recordsFrom }),
            endDate: today,
          },
          deadline ? { signal: deadline } : {},
        );
        totals.add(page.total);
        rows.push(...page.rows);
        if (page.rows.length < deps.config.recordsPageSize || rows.length >= page.total) break;
      }
      if (totals.size > 1) recordsComplete = false;
      fetched.push(...keyRecords(rows, type, timeZone));
    }
    stats.records.read = fetched.length;
    const known = new Map<string, Set<string>>();
    const readDay = limiter(DAY_READS_IN_FLIGHT);
    await Promise.all(
      [...new Set(fetched.map((r) => r.day))].map((day) =>
        readDay(async () => known.set(day, await deps.records.knownOnDay(day))),
      ),
    );
    const fresh = fetched.filter((r) => !known.get(r.day)?.has(`${r.customerId}#${r.key}`));
    stats.records.new = fresh.length;
    if (fresh.length) await deps.records.put(fresh, now);

    // A customer needs its sums again when a record is new, or newer than what it counted
    // (a previous run stored the record but stopped before the balance).
    const byCustomer = new Map<string, CustomerRecord[]>();
    for (const r of fetched)
      byCustomer.set(r.customerId, [...(byCustomer.get(r.customerId) ?? []), r]);
    const freshIds = new Set(fresh.map((r) => r.customerId));
    const freshKeys = new Set(fresh.map((r) => `${r.customerId}#${r.key}`));
    const candidates = [...byCustomer.keys()];
    const balancesNow = candidates.length ? await deps.balances.getMany(candidates) : new Map();
    const stale = candidates.filter((id) => {
      if (freshIds.has(id)) return true;
      const through = balancesNow.get(id)?.state.recordsThrough ?? '';
      return (byCustomer.get(id) ?? []).some((r) => r.key > through);
    });
    await Promise.all(
      stale.map((id) =>
        readDay(async () => {
          const old = balancesNow.get(id)?.state;
          const through = old?.recordsThrough ?? '';
          const newer = (byCustomer.get(id) ?? []).filter((r) => r.key > through);
          if (recordsFrom === undefined) {
            // A first sweep read every record there is: no need to read them back.
            pending.records.set(id, byCustomer.get(id) ?? []);
          } else if (
            old &&
            newer.length > 0 &&
            newer.every((r) => freshKeys.has(`${r.customerId}#${r.key}`))
          ) {
            // Only records just stored, all after what the balance counted: add them.
            pending.added.set(id, newer);
          } else {
            pending.records.set(id, await deps.records.byCustomer(id));
          }
          const credits = (byCustomer.get(id) ?? []).filter((r) => r.type === 0 && r.key > through);
          if (reportCredits && credits.length) pending.credits.set(id, credits);
        }),
      ),
    );
    // Written with the first usage step, so a customer is written once per run.
    for (const id of stale) pending.ids.add(id);
    if (recordsComplete) {
      await deps.pollState.advanceCursor(
        RECORDS_CURSOR,
        dayInZone(new Date(now.getTime() - RECORDS_OVERLAP_MS), timeZone),
        now,
      );
    } else {
      stopReason = 'total-changed';
    }

    // ---- 2. usage ----
    if (usageCursor === undefined) {
      stopReason ??= 'usage-not-ready';
    } else {
      const from = usageFromStored ?? addDays(today, -deps.config.retentionDays);
      const days = daysBetween([from, finalBefore].sort()[0] ?? from, today);
      usageWindow = { from: days[0] ?? today, to: today, next: days[0] ?? today };
      const step = deps.config.usageDaysPerStep;
      for (let i = 0; i < days.length; i += step) {
        checkTime();
        const chunk = days.slice(i, i + step);
        const rows = await Promise.all(chunk.map((day) => readDay(() => deps.usage.onDay(day))));
        const usage = new Map<string, { userName?: string; days: Map<string, Decimal> }>();
        for (const row of rows.flat()) {
          const id = canonicalCustomerId(row.customerId);
          const entry = usage.get(id) ?? { days: new Map<string, Decimal>() };
          if (row.userName) entry.userName = row.userName;
          entry.days.set(row.day, countedMb(row, deps.config.usageCounts));
          usage.set(id, entry);
        }
        stats.usage.days += chunk.length;
        stats.usage.rows += rows.reduce((n, r) => n + r.length, 0);
        await update(
          [...new Set([...usage.keys(), ...pending.ids])],
          usage,
          pending.records,
          pending.credits,
          pending.added,
        );
        pending.clear();
        const last = chunk[chunk.length - 1] ?? today;
        const next = last < finalBefore ? addDays(last, 1) : finalBefore;
        await deps.pollState.advanceCursor(POLL_CUSTOMERS, next, now);
        usageWindow.next = next;
      }
    }
  } catch (err) {
    if (!(err instanceof OutOfTime) && !cutByDeadline(err)) {
      const failure = classifyUpstreamFailure(err);
      if (!failure) throw err;
      const health = await deps.pollState.recordFailure(POLL_CUSTOMERS, now, failure);
      stats.customers.touched = touched.size;
      return {
        outcome: {
          ...stats,
          at,
          ...(usageWindow && { usageWindow }),
          ok: false,
          complete: false,
          reason: failure.kind,
          message: failure.message,
        },
        health,
      };
    }
    stopReason = 'time';
  }
  await flushPending();
  stats.customers.touched = touched.size;

  if (stopReason) {
    const health = await deps.pollState.recordAttempt(POLL_CUSTOMERS, now);
    return {
      outcome: {
        ...stats,
        at,
        ...(usageWindow && { usageWindow }),
        ok: true,
        complete: false,
        stopReason,
      },
      health,
    };
  }

  // The first complete run ends the backfill: what it found is history, not news.
  if (ready !== undefined) {
    const list: BalanceChange[] = [];
    for (const c of changes.values()) {
      if (c.credits.length === 0 && sameFigures(c.before, c.after)) continue;
      list.push({ before: c.before, after: c.after, credits: c.credits });
    }
    await nameOrders(deps, list);
    stats.changes = list.length;
    stats.listenerFailures = await runListeners(deps.listeners, list);
  } else await deps.pollState.advanceCursor(READY_CURSOR, today, now);
  const health = await deps.pollState.recordSuccess(POLL_CUSTOMERS, now);
  return {
    outcome: { ...stats, at, ...(usageWindow && { usageWindow }), ok: true, complete: true },
    health,
  };
}

/** Comparable text of a state, to skip writes that would change nothing. */
function stateText(s: BalanceState) {
  return {
    ...s,
    creditsMb: s.creditsMb.toFixed(),
    deductionsMb: s.deductionsMb.toFixed(),
    settledMb: s.settledMb.toFixed(),
    lastCreditMb: s.lastCreditMb?.toFixed(),
    opening: s.opening && {
      ...s.opening,
      mb: s.opening.mb.toFixed(),
      dayBaseMb: s.opening.dayBaseMb.toFixed(),
    },
    recent: [...s.recent].sort(([a], [b]) => a.localeCompare(b)).map(([d, v]) => [d, v.toFixed()]),
  };
}

/** Joins credits with FlowPilot's ledger, so a receipt can name the order it paid for. */
async function nameOrders(deps: PollCustomersDeps, changes: readonly BalanceChange[]) {
  const credits = changes.flatMap((c) =>
    c.credits.map((credit) => ({ customerId: c.after.customerId, credit })),
  );
  if (!deps.credits || credits.length === 0) return;
  const tolerance = deps.config.toleranceMinutes * 60_000;
  const times = credits.map((c) => Date.parse(c.credit.at));
  const ledger = await deps.credits.listCredited(
    new Date(Math.min(...times) - tolerance),
    new Date(Math.max(...times) + tolerance),
  );
  const upstream = credits.map((c) => ({
    customerId: c.customerId,
    account: '',
    mb: new Decimal(c.credit.mb),
    at: new Date(c.credit.at),
    createTime: c.credit.at,
  }));
  const matching = matchRecharges(
    ledger.map((l) => ({ ...l, customerId: canonicalCustomerId(l.customerId) })),
    upstream,
    tolerance,
  );
  for (const m of matching.matched) {
    const i = upstream.indexOf(m.upstream);
    const target = credits[i]?.credit as { orderId?: string } | undefined;
    if (target) target.orderId = m.credit.orderKey;
  }
}
