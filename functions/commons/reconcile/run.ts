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

/**
 * Compares the ledger's credits in [from, to] (upstream calendar days) with the upstream's
 * own recharge records. Both sides are read one day wider than the window so a credit
 * near midnight finds its record; only what falls inside the window is reported.
 */
export async function reconcile(
  deps: ReconcileDeps,
  window?: { from: string; to: string },
): Promise<ReconciliationReport> {
  const { timeZone, windowDays, toleranceMinutes } = deps.config;
  const now = deps.clock();
  const yesterday = addDays(dayInZone(now, timeZone), -1);
  const to = window ? parseDay(window.to) : yesterday;
  const from = window ? parseDay(window.from) : addDays(to, 1 - windowDays);
  const windowStart = startOf(from, timeZone);
  const windowEnd = startOf(addDays(to, 1), timeZone);
  const inWindow = (at: Date) => at >= windowStart && at < windowEnd;

  const [records, credits] = await Promise.all([
    upstreamRecharges(deps, addDays(from, -1), addDays(to, 1)),
    deps.credits.listCredited(
      startOf(addDays(from, -1), timeZone),
      startOf(addDays(to, 2), timeZone),
    ),
  ]);
  const upstream: UpstreamRecharge[] = records
    .filter((r) => r.flowMb.gt(0))
    .map((r) => ({
      customerId: r.customerId,
      account: r.account,
      mb: r.flowMb,
      at: parseUpstreamDateTime(r.createTime, timeZone),
      createTime: r.createTime,
    }));
  const result = matchRecharges(credits, upstream, toleranceMinutes * 60_000);

  const missingUpstream = result.missingUpstream.filter((c) => inWindow(c.creditedAt));
  const amountDifferences = result.amountDifferences.filter((d) => inWindow(d.credit.creditedAt));
  const manualTopUps = result.manualTopUps.filter((r) => inWindow(r.at));
  const alerted = missingUpstream.length > 0 || amountDifferences.length > 0;
  const report: ReconciliationReport = {
    id: now.toISOString(),
    ranAt: now.toISOString(),
    window: { from, to },
    counts: {
      ledger: credits.filter((c) => inWindow(c.creditedAt)).length,
      upstream: upstream.filter((r) => inWindow(r.at)).length,
      matched: result.matched.filter((m) => inWindow(m.credit.creditedAt)).length,
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
    alerted,
  };
  await deps.reports.save(report);
  if (alerted) {
    await deps.sink.raise({
      kind: 'reconciliation-difference',
      severity: 'warning',
      subject: `${from}..${to}`,
      summary: `Reconciliation ${from}..${to}: ${missingUpstream.length} credit(s) missing upstream, ${amountDifferences.length} amount difference(s)`,
      details: {
        window: `${from} to ${to}`,
        missingUpstream:
          missingUpstream
            .map((c) => `${c.orderKey} (customer ${c.customerId}, ${c.gb.toFixed()} GB)`)
            .join('; ') || 'none',
        amountDifferences:
          amountDifferences
            .map(
              (d) => `${d.credit.orderKey}: ledger ${d.ledgerMb} MB, upstream ${d.upstreamMb} MB`,
            )
            .join('; ') || 'none',
        report: report.id,
      },
    });
  }
  return report;
}
