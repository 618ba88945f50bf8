import type { CustomerBalancesConfig } from '../config/customer-balances.ts';
import { classifyUpstreamFailure } from '../pollers/outcome.ts';
import type { PollHealth, PollStateStore } from '../pollers/store/poll-state.ts';
import type { UsageStore } from '../pollers/store/usage.ts';
import { POLL_USAGE } from '../pollers/usage.ts';
import type { CreditSource } from '../reconcile/run.ts';
import { StoreError } from '../store/errors.ts';
import { addDays, type Decimal, dayInZone, daysBetween } from '../units.ts';
import { UpstreamTransportError } from '../upstream/errors.ts';
import type { DynamicTrafficApi } from '../upstream/types.ts';
import {
  addRecords,
  applyUsage,
  balanceFigures,
  countedMb,
  emptyBalance,
  forgetSeenBefore,
  recordSums,
  sameFigures,
} from './balance.ts';
import { canonicalCustomerId } from './ids.ts';
import { type ListenerFailure, runListeners } from './listeners.ts';
import { assignOrders } from './orders.ts';
import { keyRecords } from './records.ts';
import type {
  BalanceState,
  BalanceWrite,
  CustomerBalanceStore,
} from './store/customer-balances.ts';
import type { CustomerRecord, CustomerRecordStore } from './store/customer-records.ts';
import type { BalanceChange, BalanceListener, CustomerBalance } from './types.ts';

export const POLL_CUSTOMERS = 'poll-customers';
/** The records sweep keeps its own cursor: the first day it still reads. */
export const RECORDS_CURSOR = 'poll-customers#records';
/** Set by the first complete run: from then on balances are whole and changes are news. */
export const READY_CURSOR = 'poll-customers#ready';
/**
 * What the balances last took in from the usage store: the run's time, then today, poll-usage's
 * cursor and each usage day's stamp (usage.stampedDay, a digest of its rows). A run that finds the same figures
 * again updates only the customers with new records.
 */
export const USAGE_SEEN_CURSOR = 'poll-customers#usage-seen';

/** Stored days read at once. */
const DAY_READS_IN_FLIGHT = 4;
/** Per customer, what a balance update applies: records read, usage days (day → counted MB). */
type Work = Map<string, WorkItem>;
interface WorkItem {
  records?: readonly CustomerRecord[];
  usage?: { userName?: string; days: Map<string, Decimal> };
}

/** Reads of one record type while records keep landing between its pages. */
const TYPE_READS = 3;
/** Reads and writes of one balance while other writers keep changing it. */
const WRITE_ATTEMPTS = 8;

export interface PollCustomersDeps {
  upstream: Pick<DynamicTrafficApi, 'myRechargeFlowList'>;
  usage: Pick<UsageStore, 'stampedDay'>;
  balances: Pick<CustomerBalanceStore, 'getMany' | 'write'>;
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
  /**
   * Usage days read from the store, the rows they held, and the days whose figures the
   * balances already held (their customers were not read again).
   */
  usage: { days: number; rows: number; unchanged: number };
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

/** One customer's figures over the whole run: before the first update, after the last. */
interface Change {
  before?: CustomerBalance;
  after: CustomerBalance;
  credits: CustomerRecord[];
}

type StopReason = 'time' | 'total-changed' | 'usage-not-ready';

/** What one run of the poll knows and has done so far; the steps below share it. */
interface Run {
  deps: PollCustomersDeps;
  now: Date;
  at: string;
  today: string;
  keepFrom: string;
  remainingMs: () => number;
  deadline: AbortSignal | undefined;
  stats: CustomersPollStats;
  /** One entry per customer over the whole run. */
  changes: Map<string, Change>;
  touched: Set<string>;
  recordsFrom: string | undefined;
  usageCursor: string | undefined;
  /** This poll's cursor as stored (moved by the run's steps). */
  usageFromStored: string | undefined;
  ready: string | undefined;
  seenText: string | undefined;
  /** poll-usage re-reads from its cursor on: the days before it are final. */
  finalBefore: string;
  /** Credits found by the very first sweep are history, not news. */
  reportCredits: boolean;
  readDay: ReturnType<typeof limiter>;
  /**
   * Customers with records read, written with the first usage step so that a customer is
   * written once per run; the records cursor moves only once their balances hold the records,
   * so none is left behind it.
   */
  pending: Work;
  recordsDone: boolean;
  usageWindow?: { from: string; to: string; next: string };
}

/**
 * The customer-balance poll. Two passes, each incremental and resumable:
 *
 * 1. Records: myRechargeFlowList, type 0 and type 1, from the records cursor (the day before
 *    the previous run's day) to today, `recordsPageSize` a call. Records not stored before
 *    are stored; every customer with a record newer than its balance has its credits and
 *    deductions summed again from the stored records (few per customer), so a run repeated
 *    after a failure counts nothing twice.
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
  const run = await startRun(deps);
  let stopReason: StopReason | undefined;
  try {
    const recordsComplete = await readRecords(run);
    if (!recordsComplete) stopReason = 'total-changed';
    if (run.usageCursor === undefined) stopReason ??= 'usage-not-ready';
    else await readUsage(run);
    await flushRecords(run);
  } catch (err) {
    if (!(err instanceof OutOfTime) && !cutByDeadline(run, err)) {
      const failure = classifyUpstreamFailure(err);
      if (!failure) throw err;
      return failed(run, failure);
    }
    stopReason = 'time';
    await flushRecords(run);
  }
  run.stats.customers.touched = run.touched.size;
  if (stopReason) return stopped(run, stopReason);
  return completed(run);
}

/** Reads the cursors and sets up the run's clock, deadline and counters. */
async function startRun(deps: PollCustomersDeps): Promise<Run> {
  const now = (deps.clock ?? (() => new Date()))();
  const today = dayInZone(now, deps.config.timeZone);
  const remainingMs = deps.remainingMs ?? (() => Number.POSITIVE_INFINITY);
  const budgetMs = remainingMs() - deps.config.safetyMarginMs;
  const [recordsFrom, usageCursor, usageFromStored, ready, seenText] = await Promise.all([
    deps.pollState.cursor(RECORDS_CURSOR),
    deps.pollState.cursor(POLL_USAGE),
    deps.pollState.cursor(POLL_CUSTOMERS),
    deps.pollState.cursor(READY_CURSOR),
    deps.pollState.cursor(USAGE_SEEN_CURSOR),
  ]);
  return {
    deps,
    now,
    at: now.toISOString(),
    today,
    keepFrom: addDays(today, -7),
    remainingMs,
    deadline: budgetMs > 0 && Number.isFinite(budgetMs) ? AbortSignal.timeout(budgetMs) : undefined,
    stats: {
      upstreamCalls: 0,
      records: { read: 0, new: 0 },
      usage: { days: 0, rows: 0, unchanged: 0 },
      customers: { touched: 0, written: 0 },
      changes: 0,
      listenerFailures: [],
    },
    changes: new Map(),
    touched: new Set(),
    recordsFrom,
    usageCursor,
    usageFromStored,
    ready,
    seenText,
    finalBefore: usageCursor ?? addDays(today, -deps.config.retentionDays),
    reportCredits: recordsFrom !== undefined,
    readDay: limiter(DAY_READS_IN_FLIGHT),
    pending: new Map(),
    recordsDone: false,
  };
}

function checkTime(run: Run): void {
  if (run.remainingMs() <= run.deps.config.safetyMarginMs) throw new OutOfTime();
}

/** An upstream call cut short by the deadline: the run ran out of time, it did not fail. */
function cutByDeadline(run: Run, err: unknown): boolean {
  return (
    run.deadline?.aborted === true &&
    err instanceof UpstreamTransportError &&
    err.kind === 'aborted'
  );
}

/**
 * Recomputes and stores these customers' balances from what is stored and what this run
 * read: `records` are added by identity, `usage` holds day → counted MB. Each write is
 * conditional on the version read; a customer another writer changed meanwhile (a
 * calibration, a concurrent run) is read again and recomputed, so neither loses the other's.
 */
async function update(run: Run, work: Work): Promise<void> {
  let ids = [...work.keys()];
  for (let attempt = 0; ids.length > 0; attempt++) {
    if (attempt === WRITE_ATTEMPTS) {
      throw new StoreError(
        `customer balances kept changing under ${WRITE_ATTEMPTS} attempts: ${ids.slice(0, 5).join(', ')}`,
        'customerBalances.write',
        { retryable: true },
      );
    }
    // The write is conditional on the version read: a stale first read costs a retry, which
    // reads consistently.
    const stored = await run.deps.balances.getMany(ids, { consistent: attempt > 0 });
    const legacy = await legacyRecords(run, ids, stored);
    const writes: BalanceWrite[] = [];
    const results = new Map<string, Change>();
    for (const id of ids) {
      const old = stored.get(id);
      const { state, credits } = nextState(run, id, old?.state, work.get(id), legacy.get(id));
      const after = balanceFigures(state, run.today, run.now);
      const before = old ? balanceFigures(old.state, run.today, run.now) : undefined;
      // A change in the counted credit records (recentCredits) is a move that must be
      // written: the auto top-up tells by them which of its credits the balance shows.
      if (
        !old ||
        !sameFigures(before, after) ||
        JSON.stringify(stateText(old.state)) !== JSON.stringify(stateText(state))
      ) {
        writes.push({ state, version: old?.version });
      }
      results.set(id, {
        ...(before && { before }),
        after,
        credits: run.reportCredits ? credits.filter((r) => r.type === 0) : [],
      });
    }
    const out = await run.deps.balances.write(writes, run.now);
    run.stats.customers.written += out.written;
    const conflicts = new Set(out.conflicts);
    noteChanges(run, results, conflicts);
    ids = [...conflicts];
  }
}

/**
 * A balance written before records were known by identity, or before it kept its recent
 * credit records: its records, to be summed again.
 */
async function legacyRecords(
  run: Run,
  ids: readonly string[],
  stored: Map<string, { state: BalanceState }>,
): Promise<Map<string, CustomerRecord[]>> {
  const legacy = new Map<string, CustomerRecord[]>();
  await Promise.all(
    ids
      .filter((id) => {
        const state = stored.get(id)?.state;
        return state && (!state.seen || !state.recentCredits);
      })
      .map((id) => run.readDay(async () => legacy.set(id, await run.deps.records.byCustomer(id)))),
  );
  return legacy;
}

/** One customer's new state from its stored one, the work this run read, and legacy records. */
function nextState(
  run: Run,
  id: string,
  stored: BalanceState | undefined,
  w: WorkItem | undefined,
  all: readonly CustomerRecord[] | undefined,
): { state: BalanceState; credits: CustomerRecord[] } {
  let state = stored ?? emptyBalance(id);
  const credits: CustomerRecord[] = [];
  if (all) {
    const through = state.recordsThrough ?? '';
    state = recordSums(state, all);
    credits.push(...all.filter((r) => r.key > through));
  }
  if (w?.records) {
    const out = addRecords(state, w.records);
    state = out.state;
    credits.push(...out.added);
  }
  // No run reads records before this one's first day again.
  state = forgetSeenBefore(state, run.recordsFrom);
  if (w?.usage) {
    const u = w.usage;
    if (u.userName && !state.userName) state = { ...state, userName: u.userName };
    state = applyUsage(state, u.days, run.finalBefore, run.keepFrom);
  }
  return { state, credits };
}

/** Folds the written customers' results into the run's changes; conflicts are retried. */
function noteChanges(run: Run, results: Map<string, Change>, conflicts: Set<string>): void {
  for (const [id, r] of results) {
    if (conflicts.has(id)) continue;
    run.touched.add(id);
    const entry = run.changes.get(id);
    if (entry) {
      entry.after = r.after;
      entry.credits.push(...r.credits);
    } else run.changes.set(id, r);
  }
}

/** The pending records are in their balances: the records cursor may move. */
async function recordsWritten(run: Run): Promise<void> {
  run.pending = new Map();
  if (!run.recordsDone) return;
  run.recordsDone = false;
  // The next run reads yesterday again: a record listed up to a full day after its
  // stamp (late across midnight) is still read, and its balance keeps that window's keys.
  const next = addDays(run.today, -1);
  // Cursors are written only when they move: most runs of a day leave them where they are.
  if (next !== run.recordsFrom) {
    await run.deps.pollState.advanceCursor(RECORDS_CURSOR, next, run.now);
  }
}

async function flushRecords(run: Run): Promise<void> {
  if (run.pending.size > 0) await update(run, run.pending);
  await recordsWritten(run);
}

/** One type's rows, read again while records land between its pages; undefined: still moving. */
async function readType(run: Run, type: 0 | 1): Promise<CustomerRecord[] | undefined> {
  const { deps } = run;
  for (let attempt = 0; attempt < TYPE_READS; attempt++) {
    const rows = [];
    const totals = new Set<number>();
    for (let pageNum = 1; ; pageNum++) {
      checkTime(run);
      run.stats.upstreamCalls++;
      const page = await deps.upstream.myRechargeFlowList(
        {
          type,
          pageNum,
          pageSize: deps.config.recordsPageSize,
          ...(run.recordsFrom && { startDate: run.recordsFrom }),
          endDate: run.today,
        },
        run.deadline ? { signal: run.deadline } : {},
      );
      totals.add(page.total);
      rows.push(...page.rows);
      if (page.rows.length < deps.config.recordsPageSize || rows.length >= page.total) break;
    }
    if (totals.size === 1) return keyRecords(rows, type, deps.config.timeZone);
  }
  return undefined;
}

/**
 * Pass 1: reads both record types, stores the ones not seen before and leaves every customer
 * with a record read pending. False when records moved while paging.
 */
async function readRecords(run: Run): Promise<boolean> {
  const recharges = await readType(run, 0);
  const consumptions = recharges && (await readType(run, 1));
  // Rows read across a move may repeat at a page boundary (and pass for a second identical
  // record): nothing of such a run counts, so no credit is counted by a run that cannot
  // hand it on. The next run reads them again.
  const recordsComplete = recharges !== undefined && consumptions !== undefined;
  const fetched = recordsComplete ? [...recharges, ...consumptions] : [];
  run.stats.records.read = fetched.length;
  const known = new Map<string, Set<string>>();
  await Promise.all(
    [...new Set(fetched.map((r) => r.day))].map((day) =>
      run.readDay(async () => known.set(day, await run.deps.records.knownOnDay(day))),
    ),
  );
  const fresh = fetched.filter((r) => !known.get(r.day)?.has(`${r.customerId}#${r.key}`));
  run.stats.records.new = fresh.length;
  // Stored before any balance counts them: a calibration sums the stored records.
  if (fresh.length) await run.deps.records.put(fresh, run.now);

  // Every customer with a record read: each record it has not taken into account is added,
  // whatever it sorts after (a previous run may have stored it and stopped before the balance).
  const byCustomer = new Map<string, CustomerRecord[]>();
  for (const r of fetched)
    byCustomer.set(r.customerId, [...(byCustomer.get(r.customerId) ?? []), r]);
  run.pending = new Map([...byCustomer].map(([id, records]) => [id, { records }]));
  run.recordsDone = recordsComplete;
  return recordsComplete;
}

/** Pass 2: the stored usage days from this poll's cursor to today, a step at a time. */
async function readUsage(run: Run): Promise<void> {
  const { deps, today, finalBefore } = run;
  const from = run.usageFromStored ?? addDays(today, -deps.config.retentionDays);
  const days = daysBetween([from, finalBefore].sort()[0] ?? from, today);
  run.usageWindow = { from: days[0] ?? today, to: today, next: days[0] ?? today };
  const step = deps.config.usageDaysPerStep;
  const seen = readUsageSeen(run.seenText, today, finalBefore);
  const stamps: Record<string, string> = {};
  for (let i = 0; i < days.length; i += step) {
    checkTime(run);
    await usageStep(run, days.slice(i, i + step), seen, stamps);
  }
  if (!sameStamps(seen, stamps)) {
    await deps.pollState.advanceCursor(
      USAGE_SEEN_CURSOR,
      usageSeenText(run.at, today, finalBefore, stamps),
      run.now,
    );
  }
}

/** One step of pass 2: reads these days, updates their customers, moves the usage cursor. */
async function usageStep(
  run: Run,
  chunk: readonly string[],
  seen: Record<string, string> | undefined,
  stamps: Record<string, string>,
): Promise<void> {
  const { deps } = run;
  const read = await Promise.all(chunk.map((day) => run.readDay(() => deps.usage.stampedDay(day))));
  const rows = read.map((r) => r.rows);
  read.forEach((r, j) => {
    stamps[chunk[j] ?? ''] = r.stamp;
  });
  // The balances hold these days' figures already: only customers with records are updated.
  const unchanged = chunk.every((day) => stamps[day] !== undefined && seen?.[day] === stamps[day]);
  if (unchanged) run.stats.usage.unchanged += chunk.length;
  const usage = new Map<string, { userName?: string; days: Map<string, Decimal> }>();
  for (const row of rows.flat()) {
    const id = canonicalCustomerId(row.customerId);
    const entry = usage.get(id) ?? { days: new Map<string, Decimal>() };
    if (row.userName) entry.userName = row.userName;
    entry.days.set(row.day, countedMb(row, deps.config.usageCounts));
    usage.set(id, entry);
  }
  run.stats.usage.days += chunk.length;
  run.stats.usage.rows += rows.reduce((n, r) => n + r.length, 0);
  const work: Work = new Map(run.pending);
  for (const [id, u] of usage) {
    if (!unchanged || run.pending.has(id)) work.set(id, { ...run.pending.get(id), usage: u });
  }
  await update(run, work);
  await recordsWritten(run);
  const last = chunk[chunk.length - 1] ?? run.today;
  const next = last < run.finalBefore ? addDays(last, 1) : run.finalBefore;
  if (next !== run.usageFromStored) {
    await deps.pollState.advanceCursor(POLL_CUSTOMERS, next, run.now);
    run.usageFromStored = next;
  }
  if (run.usageWindow) run.usageWindow.next = next;
}

/** The run met an upstream failure: recorded, nothing handed on. */
async function failed(
  run: Run,
  failure: NonNullable<ReturnType<typeof classifyUpstreamFailure>>,
): Promise<PollCustomersResult> {
  const health = await run.deps.pollState.recordFailure(POLL_CUSTOMERS, run.now, failure);
  run.stats.customers.touched = run.touched.size;
  return {
    outcome: {
      ...run.stats,
      at: run.at,
      ...(run.usageWindow && { usageWindow: run.usageWindow }),
      ok: false,
      complete: false,
      reason: failure.kind,
      message: failure.message,
    },
    health,
  };
}

/** The run stopped short: it resumes next time, nothing handed on. */
async function stopped(run: Run, stopReason: StopReason): Promise<PollCustomersResult> {
  const health = await run.deps.pollState.recordAttempt(POLL_CUSTOMERS, run.now);
  return {
    outcome: {
      ...run.stats,
      at: run.at,
      ...(run.usageWindow && { usageWindow: run.usageWindow }),
      ok: true,
      complete: false,
      stopReason,
    },
    health,
  };
}

/** A complete run: its changes go to the listeners, unless it ended the backfill. */
async function completed(run: Run): Promise<PollCustomersResult> {
  const { deps, stats } = run;
  // The first complete run ends the backfill: what it found is history, not news.
  if (run.ready !== undefined) {
    const list = await withOrders(
      deps,
      [...run.changes.values()].filter(
        (c) => c.credits.length > 0 || !sameFigures(c.before, c.after),
      ),
    );
    stats.changes = list.length;
    stats.listenerFailures = await runListeners(deps.listeners, list);
  } else await deps.pollState.advanceCursor(READY_CURSOR, run.today, run.now);
  const health = await deps.pollState.recordSuccess(POLL_CUSTOMERS, run.now);
  return {
    outcome: {
      ...stats,
      at: run.at,
      ...(run.usageWindow && { usageWindow: run.usageWindow }),
      ok: true,
      complete: true,
    },
    health,
  };
}

/**
 * The usage seen mark (USAGE_SEEN_CURSOR): the run's time first, so the cursor only moves
 * forward; then what the figures depend on besides the rows.
 */
function usageSeenText(
  at: string,
  today: string,
  finalBefore: string,
  stamps: Record<string, string>,
): string {
  return `${at} ${JSON.stringify({ today, finalBefore, stamps })}`;
}

/** The day stamps the balances hold, when today and poll-usage's cursor are still the same. */
function readUsageSeen(
  text: string | undefined,
  today: string,
  finalBefore: string,
): Record<string, string> | undefined {
  if (text === undefined) return undefined;
  try {
    const mark = JSON.parse(text.slice(text.indexOf(' ') + 1)) as {
      today?: unknown;
      finalBefore?: unknown;
      stamps?: Record<string, string>;
    };
    return mark.today === today && mark.finalBefore === finalBefore ? mark.stamps : undefined;
  } catch {
    // An unreadable mark only costs one full pass.
    return undefined;
  }
}

/** Whether the stored mark holds these stamps already, day for day. */
function sameStamps(seen: Record<string, string> | undefined, stamps: Record<string, string>) {
  if (!seen) return false;
  const days = Object.keys(stamps);
  return days.length === Object.keys(seen).length && days.every((day) => seen[day] === stamps[day]);
}

/** Comparable text of a state, to skip writes that would change nothing. */
function stateText(s: BalanceState) {
  return {
    ...s,
    creditsMb: s.creditsMb.toFixed(),
    deductionsMb: s.deductionsMb.toFixed(),
    settledMb: s.settledMb.toFixed(),
    lastCreditMb: s.lastCreditMb?.toFixed(),
    seen: s.seen && [...s.seen].sort(),
    opening: s.opening && {
      ...s.opening,
      mb: s.opening.mb.toFixed(),
      dayBaseMb: s.opening.dayBaseMb.toFixed(),
    },
    recent: [...s.recent].sort(([a], [b]) => a.localeCompare(b)).map(([d, v]) => [d, v.toFixed()]),
  };
}

/**
 * The changes with their credits, each joined with FlowPilot's ledger where it holds the
 * credit, so a receipt names the order it paid for. The customer's records around the new
 * credits, those counted before included, take part in the assignment (customers/orders.ts).
 */
async function withOrders(
  deps: PollCustomersDeps,
  changes: readonly {
    before?: CustomerBalance;
    after: CustomerBalance;
    credits: CustomerRecord[];
  }[],
): Promise<BalanceChange[]> {
  const news = changes.flatMap((c) => c.credits);
  const orders = new Map<string, string>();
  if (deps.credits && news.length > 0) {
    const tolerance = deps.config.toleranceMinutes * 60_000;
    const times = news.map((r) => Date.parse(r.at));
    const [from, to] = [Math.min(...times) - tolerance, Math.max(...times) + tolerance];
    // Up to now: a credit healed by a later retry is stamped after its record's tolerance.
    const now = (deps.clock ?? (() => new Date()))().getTime();
    const ledger = await deps.credits.listCredited(new Date(from), new Date(Math.max(to, now)));
    // Every record a credit of the ledger window may belong to.
    const fromDay = dayInZone(new Date(from - tolerance), deps.config.timeZone);
    const readDay = limiter(DAY_READS_IN_FLIGHT);
    const around = await Promise.all(
      [...new Set(news.map((r) => r.customerId))].map((id) =>
        readDay(() => deps.records.byCustomer(id, fromDay)),
      ),
    );
    for (const [key, order] of assignOrders(ledger, around.flat(), tolerance)) {
      orders.set(key, order);
    }
  }
  return changes.map((c) => ({
    before: c.before,
    after: c.after,
    credits: c.credits.map((r) => {
      const orderId = orders.get(r.key);
      return { mb: r.mb.toFixed(), at: r.at, ...(orderId && { orderId }) };
    }),
  }));
}
