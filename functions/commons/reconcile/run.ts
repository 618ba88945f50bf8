import type { OpsEventSink } from '../ops-events.ts';
import { addDays, dayInZone, parseDay, parseUpstreamDateTime } from '../units.ts';
import type { DynamicTrafficApi, RechargeRecord } from '../upstream/types.ts';
import { type LedgerCredit, matchRecharges, type UpstreamRecharge } from './match.ts';
import type { ReconciliationReport, ReportStore } from './report-store.ts';

/** Where the ledger's credits come from (the payments ledger implements it). */
export interface CreditSource {
  listCredited(from: Date, to: Date): Promise<LedgerCredit[]>;
}

export interface ReconcileDeps {
  upstream: DynamicTrafficApi;
  credits: CreditSource;
  reports: ReportStore;
  sink: OpsEventSink;
  clock: () => Date;
  config: { timeZone: string; windowDays: number; toleranceMinutes: number };
  signal?: AbortSignal;
}

const PAGE_SIZE = 500;

async function upstreamRecharges(
  deps: ReconcileDeps,
  startDate: string,
  endDate: string,
): Promise<RechargeRecord[]> {
  const rows: RechargeRecord[] = [];
  for (let pageNum = 1; ; pageNum++) {
    const page = await deps.upstream.myRechargeFlowList(
      { pageNum, pageSize: PAGE_SIZE, type: 0, startDate, endDate },
      { signal: deps.signal },
    );
    rows.push(...page.rows);
    if (page.rows.length < PAGE_SIZE || rows.length >= page.total) return rows;
  }
}

/** Start of a day in the upstream's zone, as an instant. */
function startOf(day: string, zone: string): Date {
  return parseUpstreamDateTime(`${day} 00:00:00`, zone);
}

/** The days reconciled, their instants in the upstream's zone, and what falls inside. */
interface Window {
  from: string;
  to: string;
  has: (at: Date) => boolean;
}

function windowOf(deps: ReconcileDeps, now: Date, asked?: { from: string; to: string }): Window {
  const { timeZone, windowDays } = deps.config;
  const yesterday = addDays(dayInZone(now, timeZone), -1);
  const to = asked ? parseDay(asked.to) : yesterday;
  const from = asked ? parseDay(asked.from) : addDays(to, 1 - windowDays);
  const start = startOf(from, timeZone);
  const end = startOf(addDays(to, 1), timeZone);
  return { from, to, has: (at) => at >= start && at < end };
}

/** Both sides, read one day wider than the window so a credit near midnight finds its record. */
async function readBothSides(
  deps: ReconcileDeps,
  w: Window,
): Promise<{ credits: LedgerCredit[]; upstream: UpstreamRecharge[] }> {
  const { timeZone } = deps.config;
  const [records, credits] = await Promise.all([
    upstreamRecharges(deps, addDays(w.from, -1), addDays(w.to, 1)),
    deps.credits.listCredited(
      startOf(addDays(w.from, -1), timeZone),
      startOf(addDays(w.to, 2), timeZone),
    ),
  ]);
  const upstream = records
    .filter((r) => r.flowMb.gt(0))
    .map((r) => ({
      customerId: r.customerId,
      account: r.account,
      mb: r.flowMb,
      at: parseUpstreamDateTime(r.createTime, timeZone),
      createTime: r.createTime,
    }));
  return { credits, upstream };
}

/** The report of what falls inside the window. */
function reportOf(
  now: Date,
  w: Window,
  sides: { credits: LedgerCredit[]; upstream: UpstreamRecharge[] },
  result: ReturnType<typeof matchRecharges>,
): ReconciliationReport {
  const missingUpstream = result.missingUpstream.filter((c) => w.has(c.creditedAt));
  const amountDifferences = result.amountDifferences.filter((d) => w.has(d.credit.creditedAt));
  const manualTopUps = result.manualTopUps.filter((r) => w.has(r.at));
  return {
    id: now.toISOString(),
    ranAt: now.toISOString(),
    window: { from: w.from, to: w.to },
    counts: {
      ledger: sides.credits.filter((c) => w.has(c.creditedAt)).length,
      upstream: sides.upstream.filter((r) => w.has(r.at)).length,
      matched: result.matched.filter((m) => w.has(m.credit.creditedAt)).length,
      missingUpstream: missingUpstream.length,
      amountDifferences: amountDifferences.length,
      manualTopUps: manualTopUps.length,
    },
    missingUpstream: missingUpstream.map((c) => ({
      orderKey: c.orderKey,
      customerId: c.customerId,
      gb: c.gb.toFixed(),
      creditedAt: c.creditedAt.toISOString(),
    })),
    amountDifferences: amountDifferences.map((d) => ({
      orderKey: d.credit.orderKey,
      customerId: d.credit.customerId,
      ledgerMb: d.ledgerMb,
      upstreamMb: d.upstreamMb,
      upstreamTime: d.upstream.createTime,
    })),
    manualTopUps: manualTopUps.map((r) => ({
      customerId: r.customerId,
      account: r.account,
      mb: r.mb.toFixed(),
      createTime: r.createTime,
    })),
    alerted: missingUpstream.length > 0 || amountDifferences.length > 0,
  };
}

/** One warning naming every credit missing upstream and every amount that differs. */
async function alertDifferences(deps: ReconcileDeps, report: ReconciliationReport): Promise<void> {
  const { from, to } = report.window;
  const { missingUpstream, amountDifferences } = report;
  await deps.sink.raise({
    kind: 'reconciliation-difference',
    severity: 'warning',
    subject: `${from}..${to}`,
    summary: `Reconciliation ${from}..${to}: ${missingUpstream.length} credit(s) missing upstream, ${amountDifferences.length} amount difference(s)`,
    details: {
      window: `${from} to ${to}`,
      missingUpstream:
        missingUpstream
          .map((c) => `${c.orderKey} (customer ${c.customerId}, ${c.gb} GB)`)
          .join('; ') || 'none',
      amountDifferences:
        amountDifferences
          .map((d) => `${d.orderKey}: ledger ${d.ledgerMb} MB, upstream ${d.upstreamMb} MB`)
          .join('; ') || 'none',
      report: report.id,
    },
  });
}

/**
 * Compares the ledger's credits in [from, to] (upstream calendar days) with the upstream's
 * own recharge records; saves the report and warns when anything differs.
 */
export async function reconcile(
  deps: ReconcileDeps,
  window?: { from: string; to: string },
): Promise<ReconciliationReport> {
  const now = deps.clock();
  const w = windowOf(deps, now, window);
  const sides = await readBothSides(deps, w);
  const result = matchRecharges(
    sides.credits,
    sides.upstream,
    deps.config.toleranceMinutes * 60_000,
  );
  const report = reportOf(now, w, sides, result);
  await deps.reports.save(report);
  if (report.alerted) await alertDifferences(deps, report);
  return report;
}
