import type { PollingConfig } from '../config/polling.ts';
import { addDays, dayInZone, daysBetween } from '../units.ts';
import { UpstreamTransportError } from '../upstream/errors.ts';
import type { CallOptions, DynamicTrafficApi, Page, UsageRow } from '../upstream/types.ts';
import { classifyUpstreamFailure } from './outcome.ts';
import type { PollErrorKind, PollHealth, PollStateStore } from './store/poll-state.ts';
import {
  type ConsumeSeriesDay,
  consumeFingerprint,
  type NniSeriesDay,
  nniFingerprint,
  type SeriesStore,
} from './store/series.ts';
import { type UsageRecord, type UsageStore, usageFingerprint } from './store/usage.ts';

export const POLL_USAGE = 'poll-usage';

/** Stored days read at once while pages are being fetched. */
const DAY_READS_IN_FLIGHT = 4;

export interface PollUsageDeps {
  upstream: Pick<
    DynamicTrafficApi,
    'flowReport' | 'getFlowConsumeDetail' | 'getNNIFlowConsumeDetail'
  >;
  usage: UsageStore;
  series: SeriesStore;
  pollState: PollStateStore;
  polling: Pick<PollingConfig, 'backfillDays' | 'pageSize' | 'maxPagesInFlight' | 'safetyMarginMs'>;
  /** The upstream's calendar (config.upstream.timeZone). */
  timeZone: string;
  clock?: () => Date;
  /** Milliseconds the invocation has left (Lambda context); no limit when absent. */
  remainingMs?: () => number;
}

export interface UsagePollStats {
  /** flowReport pages plus the two series calls. */
  upstreamCalls: number;
  pages: number;
  /** Usage rows received. */
  rows: number;
  /** Usage rows equal to what was stored, so not written. */
  unchanged: number;
  /**
   * Items written: usage rows (figures of a customer on a day), series days, and rows of
   * days finished by this run (written once per customer when a day can no longer change).
   */
  written: { usage: number; series: number; finished: number };
  /** DynamoDB BatchWriteItem requests, retries included. */
  writeRequests: number;
}

interface UsagePollCommon extends UsagePollStats {
  at: string;
  /** Days read, in the upstream's calendar, inclusive. */
  window: { from: string; to: string };
  /** The cursor after this run: the last day fully written. */
  cursor: string | undefined;
}

export type UsagePollOutcome = UsagePollCommon &
  (
    | { ok: true; complete: true }
    /**
     * Stopped cleanly; the next run resumes from the unchanged cursor, and writes only
     * what this one did not. `time`: the invocation ran short. `total-changed`: the row
     * count moved between pages, so a row may have slid past a page boundary unseen.
     */
    | { ok: true; complete: false; stopReason: 'time' | 'total-changed' }
    | { ok: false; complete: false; reason: PollErrorKind; message: string }
  );

export interface PollUsageResult {
  outcome: UsagePollOutcome;
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
      // Hand the slot straight to the next waiter so the bound holds.
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

/** Settles every task, then throws the first failure, so no write is left running. */
async function allOrFirstError(tasks: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(tasks);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

// Days are yyyy-MM-dd, so text order is calendar order.
function earlier(a: string, b: string): string {
  if (a <= b) return a;
  return b;
}

function later(a: string, b: string): string {
  if (a >= b) return a;
  return b;
}

/** Keeps the last value per key so one batch never holds the same key twice. */
function lastPerKey<T>(items: readonly T[], key: (item: T) => string): T[] {
  return [...new Map(items.map((i) => [key(i), i])).values()];
}

/** What one run of the usage poll knows and has done so far; the steps below share it. */
interface UsageRun {
  deps: PollUsageDeps;
  now: Date;
  at: string;
  today: string;
  /** The cursor the run started from (undefined before the first complete run). */
  previous: string | undefined;
  window: { from: string; to: string };
  budgetMs: number;
  hasTime: () => boolean;
  deadline: AbortSignal | undefined;
  callOpts: CallOptions;
  stats: UsagePollStats;
  /** Stored fingerprints per day, loaded in the background while the pages download. */
  storedDays: Map<string, Promise<Map<string, string>>>;
  readDay: ReturnType<typeof limiter>;
  /**
   * Changed rows of the whole run, written at once: a part item is then rewritten once per
   * run, not once per page that touches it.
   */
  changed: UsageRecord[];
  stopReason: 'time' | 'total-changed' | undefined;
  /** Set by the first failure: no new page starts after it. */
  aborted: boolean;
}

/**
 * Incremental usage poll. Reads flowReport for [cursor, today] (first run: `backfillDays`
 * back), every page at `pageSize` with at most `maxPagesInFlight` pages at once, and the two
 * daily series over the same window. Each row is compared with the stored row of the same
 * customer and day (read per day through gsi1 while pages download) and written only when
 * new or different. The cursor moves to yesterday only when every page and every write of
 * the window succeeded; today is never complete, and the cursor day is re-read because rows
 * can still change after midnight. Out of time, the run stops starting pages, lets the
 * running ones finish and reports `complete: false`; the next run resumes from the same
 * cursor and, since written rows now compare equal, writes only the remainder. A call still
 * waiting on the upstream when the margin begins is aborted (its page writes nothing), so
 * the margin stays free for the writes of pages already read and for the bookkeeping.
 */
export async function pollUsage(deps: PollUsageDeps): Promise<PollUsageResult> {
  const run = await startUsageRun(deps);
  if (run.budgetMs <= 0) return stoppedRun(run, 'time');

  // Newest first: the upstream lists the latest days first, so the first pages need them.
  for (const day of daysBetween(run.window.from, run.today).reverse()) storedDay(run, day);
  try {
    await allOrFirstError([
      stopOnFailure(run, () => sweepPages(run)),
      stopOnFailure(run, () => syncSeries(run)),
    ]);
  } catch (err) {
    await Promise.allSettled(run.storedDays.values());
    // What was read before the failure is kept, so the next run writes only the rest.
    await writeChanged(run);
    if (!cutByDeadline(run, err)) {
      const failure = classifyUpstreamFailure(err);
      if (!failure) throw err;
      return failedRun(run, failure);
    }
    run.stopReason = 'time';
  }
  await Promise.allSettled(run.storedDays.values());
  await writeChanged(run);

  if (run.stopReason) return stoppedRun(run, run.stopReason);
  return completedRun(run);
}

/** Reads the cursor and sets up the run's window, clock, deadline and counters. */
async function startUsageRun(deps: PollUsageDeps): Promise<UsageRun> {
  const now = (deps.clock ?? (() => new Date()))();
  const today = dayInZone(now, deps.timeZone);
  const { backfillDays, safetyMarginMs } = deps.polling;
  const remainingMs = deps.remainingMs ?? (() => Number.POSITIVE_INFINITY);
  const budgetMs = remainingMs() - safetyMarginMs;
  const deadline =
    budgetMs > 0 && Number.isFinite(budgetMs) ? AbortSignal.timeout(budgetMs) : undefined;
  const previous = await deps.pollState.cursor(POLL_USAGE);
  const from = previous === undefined ? addDays(today, -backfillDays) : earlier(previous, today);
  return {
    deps,
    now,
    at: now.toISOString(),
    today,
    previous,
    window: { from, to: today },
    budgetMs,
    hasTime: () => remainingMs() > safetyMarginMs,
    deadline,
    callOpts: deadline ? { signal: deadline } : {},
    stats: {
      upstreamCalls: 0,
      pages: 0,
      rows: 0,
      unchanged: 0,
      written: { usage: 0, series: 0, finished: 0 },
      writeRequests: 0,
    },
    storedDays: new Map(),
    readDay: limiter(DAY_READS_IN_FLIGHT),
    changed: [],
    stopReason: undefined,
    aborted: false,
  };
}

/** An upstream call cut short by the deadline: the run ran out of time, it did not fail. */
function cutByDeadline(run: UsageRun, err: unknown): boolean {
  return (
    run.deadline?.aborted === true &&
    err instanceof UpstreamTransportError &&
    err.kind === 'aborted'
  );
}

/** The run's figures as its outcome reports them, with the cursor after it. */
function common(run: UsageRun, cursor: string | undefined): UsagePollCommon {
  return { at: run.at, window: run.window, cursor, ...run.stats };
}

/** A task whose failure stops new pages from starting. */
function stopOnFailure(run: UsageRun, task: () => Promise<void>): Promise<void> {
  return task().catch((err: unknown) => {
    run.aborted = true;
    throw err;
  });
}

/** The stored fingerprints of a day, read once per run. */
function storedDay(run: UsageRun, day: string): Promise<Map<string, string>> {
  let known = run.storedDays.get(day);
  if (!known) {
    known = run.readDay(() => run.deps.usage.fingerprintsOnDay(day));
    known.catch(() => {}); // awaited where needed; a day nobody needs may fail unseen
    run.storedDays.set(day, known);
  }
  return known;
}

/** Keeps the rows that differ from the stored ones (or are new) for `writeChanged`. */
async function collectChanged(run: UsageRun, rows: readonly UsageRow[]): Promise<void> {
  run.stats.rows += rows.length;
  for (const row of lastPerKey(rows, (r) => `${r.reportDate}#${r.customerId}`)) {
    const known = await storedDay(run, row.reportDate);
    const fingerprint = usageFingerprint(row);
    if (known.get(row.customerId) === fingerprint) {
      run.stats.unchanged++;
      continue;
    }
    // Claimed so an overlapping page with the same row skips it.
    known.set(row.customerId, fingerprint);
    const { customerId, reportDate: day, userName, uploadMb, downloadMb } = row;
    run.changed.push({ customerId, day, userName, uploadMb, downloadMb });
  }
}

async function writeChanged(run: UsageRun): Promise<void> {
  if (run.changed.length === 0) return;
  const written = await run.deps.usage.put(run.changed.splice(0), run.now);
  run.stats.written.usage += written.items;
  run.stats.writeRequests += written.requests;
}

async function fetchPage(run: UsageRun, pageNum: number): Promise<Page<UsageRow>> {
  run.stats.upstreamCalls++;
  const { from, to } = run.window;
  const page = await run.deps.upstream.flowReport(
    { startDate: from, endDate: to, pageNum, pageSize: run.deps.polling.pageSize },
    run.callOpts,
  );
  run.stats.pages++;
  return page;
}

/** Every flowReport page of the window, `maxPagesInFlight` at once, while time lasts. */
async function sweepPages(run: UsageRun): Promise<void> {
  const { pageSize, maxPagesInFlight } = run.deps.polling;
  const first = await fetchPage(run, 1);
  const totals = new Set([first.total]);
  // Grows when a later page reports more rows than the first did.
  let lastPage = Math.max(1, Math.ceil(first.total / pageSize));
  let nextPage = 2;
  const worker = async () => {
    while (!run.aborted && nextPage <= lastPage) {
      if (!run.hasTime()) {
        run.stopReason = 'time';
        return;
      }
      const page = await fetchPage(run, nextPage++);
      totals.add(page.total);
      lastPage = Math.max(lastPage, Math.ceil(page.total / pageSize));
      await collectChanged(run, page.rows);
    }
  };
  await allOrFirstError([
    stopOnFailure(run, () => collectChanged(run, first.rows)),
    ...Array.from({ length: maxPagesInFlight }, () => stopOnFailure(run, worker)),
  ]);
  if (totals.size > 1) run.stopReason ??= 'total-changed';
}

/** The stored series days that differ from the fresh ones (or are new). */
function changedOnly<T extends { day: string }>(
  fresh: T[],
  stored: T[],
  fingerprint: (d: T) => string,
): T[] {
  const known = new Map(stored.map((d) => [d.day, fingerprint(d)]));
  return lastPerKey(fresh, (d) => d.day).filter((d) => known.get(d.day) !== fingerprint(d));
}

/** The two daily series over the window, each day written only when it changed. */
async function syncSeries(run: UsageRun): Promise<void> {
  const { deps, stats, callOpts, now } = run;
  const { from, to } = run.window;
  const range = { startDate: from, endDate: to };
  stats.upstreamCalls += 2;
  const [consume, nni, storedConsume, storedNni] = await Promise.all([
    deps.upstream.getFlowConsumeDetail(range, callOpts),
    deps.upstream.getNNIFlowConsumeDetail(range, callOpts),
    deps.series.consume(from, to),
    deps.series.nni(from, to),
  ]);
  const consumeDays: ConsumeSeriesDay[] = consume.map((d) => ({
    day: d.date,
    uploadMb: d.uploadMb,
    downloadMb: d.downloadMb,
  }));
  const nniDays: NniSeriesDay[] = nni.map((d) => ({ day: d.date, flowMb: d.flowMb }));
  const written = await Promise.all([
    deps.series.putConsume(changedOnly(consumeDays, storedConsume, consumeFingerprint), now),
    deps.series.putNni(changedOnly(nniDays, storedNni, nniFingerprint), now),
  ]);
  for (const w of written) {
    stats.written.series += w.items;
    stats.writeRequests += w.requests;
  }
}

/** The run met an upstream failure: recorded, the cursor unchanged. */
async function failedRun(
  run: UsageRun,
  failure: NonNullable<ReturnType<typeof classifyUpstreamFailure>>,
): Promise<PollUsageResult> {
  const health = await run.deps.pollState.recordFailure(POLL_USAGE, run.now, failure);
  return {
    outcome: {
      ...common(run, run.previous),
      ok: false,
      complete: false,
      reason: failure.kind,
      ...failure,
    },
    health,
  };
}

/** The run stopped short: the next one resumes from the unchanged cursor. */
async function stoppedRun(
  run: UsageRun,
  stopReason: 'time' | 'total-changed',
): Promise<PollUsageResult> {
  const health = await run.deps.pollState.recordAttempt(POLL_USAGE, run.now);
  return {
    outcome: { ...common(run, run.previous), ok: true, complete: false, stopReason },
    health,
  };
}

/** A complete run: the finished days are written per customer, then the cursor moves. */
async function completedRun(run: UsageRun): Promise<PollUsageResult> {
  const { deps, stats, now, previous } = run;
  const yesterday = addDays(run.today, -1);
  // Days before the new cursor are never read again: write them per customer once.
  const finishing = daysBetween(run.window.from, addDays(yesterday, -1));
  const finished = await deps.usage.finish(finishing, now);
  stats.written.finished += finished.items;
  stats.writeRequests += finished.requests;
  await deps.pollState.advanceCursor(POLL_USAGE, yesterday, now);
  const cursor = previous === undefined ? yesterday : later(previous, yesterday);
  const health = await deps.pollState.recordSuccess(POLL_USAGE, now);
  return { outcome: { ...common(run, cursor), ok: true, complete: true }, health };
}
