import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ackActive } from '../../functions/commons/alerts/lifecycle.ts';
import type { AlertState } from '../../functions/commons/alerts/types.ts';
import type { Config } from '../../functions/commons/config/schema.ts';
import { type CustomerRow, customerRows, isLow } from '../../functions/commons/customers/view.ts';
import { logger } from '../../functions/commons/logger.ts';
import { SilenceStore } from '../../functions/commons/store/alert-silences.ts';
import { AlertStateStore } from '../../functions/commons/store/alert-state.ts';
import { CustomerBalanceStore } from '../../functions/commons/store/customer-balances.ts';
import { PollStateStore } from '../../functions/commons/store/poll-state.ts';
import { PoolRefillStore } from '../../functions/commons/store/pool-refills.ts';
import { SeriesStore } from '../../functions/commons/store/series.ts';
import {
  POOLS,
  type PoolSnapshot,
  SnapshotStore,
} from '../../functions/commons/store/snapshots.ts';
import {
  addDays,
  type Decimal,
  dayInZone,
  formatGb,
  mbToGb,
} from '../../functions/commons/units.ts';
import { barChart, lineChart, type Series } from './charts.ts';
import {
  collectStatus,
  type PoolStatus,
  type StatusDeps,
  type StatusOverview,
} from './overview.ts';

/**
 * The local runtime's status page at `/`: one HTML document with inline CSS and inline SVG
 * charts, no scripts and nothing fetched, so it renders the same offline and in a screenshot.
 */

export interface StatusPageDeps extends StatusDeps {
  /** Days of history in the charts. @default 30 */
  days?: number;
  /** When each scheduled function runs next (the local runtime's scheduler). */
  nextRuns?: () => { name: string; expression: string; at: Date }[];
  /** Customer balances, for "customers running low"; the section is left out without them. */
  customers?: {
    balances: Pick<CustomerBalanceStore, 'list'>;
    lowList: Config['customers']['lowList'];
  };
  /** The pool ledger, for "pool refilled +X GB at T" under the pools. */
  refills?: Pick<PoolRefillStore, 'since'>;
}

/** Rows in "customers running low"; the rest are counted. */
const MAX_LOW_CUSTOMERS = 50;

/** Points per pool in the residual chart; a poll every few minutes gives far more. */
const MAX_POINTS = 240;

const POOL_COLORS: Record<string, string> = { primary: '#2563eb', secondary: '#16a34a' };

export function statusDepsFor(
  doc: DynamoDBDocumentClient,
  tableName: string,
  config: Pick<Config, 'upstream' | 'polling' | 'customers'> & {
    alerts?: Pick<Config['alerts'], 'maintenance'>;
  },
  clock: () => Date = () => new Date(),
): StatusPageDeps {
  const { retentionDays } = config.polling;
  return {
    customers: {
      balances: new CustomerBalanceStore(doc, tableName),
      lowList: config.customers.lowList,
    },
    refills: new PoolRefillStore(doc, tableName, retentionDays),
    snapshots: new SnapshotStore(doc, tableName, { retentionDays }),
    series: new SeriesStore(doc, tableName, { retentionDays }),
    pollState: new PollStateStore(doc, tableName),
    alerts: new AlertStateStore({ tableName, client: doc }),
    silences: new SilenceStore(doc, tableName),
    maintenance: config.alerts?.maintenance ?? [],
    timeZone: config.upstream.timeZone,
    clock,
  };
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Keeps the last snapshot of each of at most `max` equal time slices, oldest first. */
export function downsample(snaps: readonly PoolSnapshot[], max: number): PoolSnapshot[] {
  if (snaps.length <= max) return [...snaps];
  const first = Date.parse(snaps[0]?.at ?? '');
  const last = Date.parse(snaps[snaps.length - 1]?.at ?? '');
  const width = (last - first) / max || 1;
  const buckets = new Map<number, PoolSnapshot>();
  for (const s of snaps) {
    buckets.set(Math.min(max - 1, Math.floor((Date.parse(s.at) - first) / width)), s);
  }
  return [...buckets.values()];
}

const gbNumber = (mb: Decimal) => mbToGb(mb).toNumber(); // display only, never summed
const shortDay = (iso: string) => iso.slice(0, 10);
const shortTime = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')} UTC`;

function poolRows(pools: readonly PoolStatus[]): string {
  return pools
    .map((p) => {
      const pct = p.residualPercent ? `${p.residualPercent.toDecimalPlaces(1).toFixed(1)}%` : '–';
      const days = p.daysLeft ? p.daysLeft.toDecimalPlaces(1).toFixed(1) : '–';
      const burn = p.burnMbPerDay ? `${formatGb(mbToGb(p.burnMbPerDay))} (${p.burnBasis})` : '–';
      return `<tr data-pool="${esc(p.pool)}"><th scope="row">${esc(p.pool)}</th><td class="num">${esc(formatGb(mbToGb(p.residualMb)))}</td><td class="num">${pct}</td><td class="num">${days}</td><td class="num">${esc(burn)}</td><td>${esc(shortTime(p.at))}</td></tr>`;
    })
    .join('');
}

function pollLine(name: string, h: StatusOverview['polls']['totals']): string {
  const last = h.lastSuccessAt ? shortTime(h.lastSuccessAt) : 'never';
  const failures = h.consecutiveFailures
    ? ` <span class="bad">${h.consecutiveFailures} failure(s) since${h.lastError ? `: ${esc(h.lastError.kind)} – ${esc(h.lastError.message)}` : ''}</span>`
    : '';
  return `<li>${esc(name)}: last success ${esc(last)}${failures}</li>`;
}

/** What holds an alert's notices back now: a silence, a window, an ack, flapping. */
export function alertQuiet(a: AlertState, o: Pick<StatusOverview, 'at' | 'quieting'>): string {
  const now = new Date(o.at);
  const silence = o.quieting.silenceFor(a.rule, a.subject);
  const window = o.quieting.windowFor(a.rule, a.subject);
  return [
    silence &&
      `silenced until ${shortTime(silence.endsAt.toISOString())} (${silence.id}: ${silence.reason})`,
    window && `maintenance window ${window.name}`,
    a.ack && ackActive(a.ack, now) && `acknowledged${a.ack.by ? ` by ${a.ack.by}` : ''}`,
    a.flapping && `flapping since ${shortTime(a.flapping.since.toISOString())}`,
    !silence && !window && a.quieted === 'inhibited' && a.heldNotice && 'held by a worse alert',
  ]
    .filter((t): t is string => typeof t === 'string')
    .join('; ');
}

function lowCustomerRows(rows: readonly CustomerRow[], all: number): string {
  if (rows.length === 0) {
    return `<p class="ok">No customer running low (of ${all} with a balance).</p>`;
  }
  const body = rows
    .slice(0, MAX_LOW_CUSTOMERS)
    .map((r) => {
      const f = r.figures;
      const days = f.daysLeft === null ? '–' : f.daysLeft.toFixed(1);
      const last = f.lastCreditMb
        ? `${formatGb(mbToGb(f.lastCreditMb))} ${shortTime(f.lastCreditAt ?? '')}`
        : '–';
      return `<tr data-customer="${esc(f.customerId)}"><th scope="row">${esc(f.customerId)}</th><td>${esc(f.account ?? '–')}</td><td class="num">${esc(formatGb(mbToGb(f.balanceMb), 2))}</td><td class="num">${days}</td><td>${esc(last)}</td><td>${esc(r.noticeState ?? '')}</td></tr>`;
    })
    .join('');
  const more =
    rows.length > MAX_LOW_CUSTOMERS
      ? `<p class="meta">and ${rows.length - MAX_LOW_CUSTOMERS} more: flowpilot customers --low</p>`
      : '';
  return `<table class="customers"><thead><tr><th>Customer</th><th>Account</th><th class="num">Balance</th><th class="num">Days left</th><th>Last top-up</th><th>Notice</th></tr></thead><tbody>${body}</tbody></table>${more}`;
}

/** Customers with no balance to show yet: their usage exceeds every credit known. */
function notCalibrated(rows: readonly CustomerRow[]): string {
  if (rows.length === 0) return '';
  const ids = rows.slice(0, MAX_LOW_CUSTOMERS).map((r) => r.figures.customerId);
  const more = rows.length > ids.length ? ` and ${rows.length - ids.length} more` : '';
  return `<p class="meta" data-not-calibrated="${rows.length}">Not calibrated (${rows.length}): ${esc(ids.join(', '))}${more}. Their usage exceeds every credit known, so their balance needs an opening: <code>flowpilot customer calibrate &lt;id&gt; --gb &lt;GB&gt;</code></p>\n`;
}

function alertRows(o: StatusOverview): string {
  if (o.openAlerts.length === 0) return '<p class="ok">No open alerts.</p>';
  const rows = o.openAlerts
    .map(
      (a) =>
        `<tr class="${esc(a.status)}"><td>${esc(a.status)}</td><td>${esc(a.rule)}</td><td>${esc(a.subject)}</td><td>${esc(a.openedAt ? shortTime(a.openedAt.toISOString()) : '–')}</td><td>${esc(a.summary ?? '')}</td><td>${esc(alertQuiet(a, o) || '–')}</td></tr>`,
    )
    .join('');
  return `<table class="alerts"><thead><tr><th>Status</th><th>Rule</th><th>Subject</th><th>Since</th><th>Summary</th><th>Silence / ack</th></tr></thead><tbody>${rows}</tbody></table>`;
}

const STYLE = `
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;color:#111827;margin:24px auto;max-width:1340px;padding:0 16px;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.meta{color:#6b7280;margin:0 0 16px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #e5e7eb}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.charts{display:flex;flex-wrap:wrap;gap:16px}
figure{margin:0;border:1px solid #e5e7eb;border-radius:6px;padding:8px}
figcaption{font-weight:600;margin:0 0 4px}
.bad{color:#b91c1c}.ok{color:#15803d}
tr.critical td:first-child{color:#b91c1c;font-weight:600}tr.warning td:first-child{color:#b45309;font-weight:600}
`;

/** The whole page as one HTML document. */
export async function renderStatusPage(deps: StatusPageDeps): Promise<string> {
  const days = deps.days ?? 30;
  const now = deps.clock();
  const since = new Date(now.getTime() - days * 86_400_000);
  const yesterday = addDays(dayInZone(now, deps.timeZone), -1);
  const [overview, histories, consumption, customers, refills] = await Promise.all([
    collectStatus(deps),
    Promise.all(POOLS.map((pool) => deps.snapshots.range(pool, since, now))),
    deps.series.consume(addDays(yesterday, 1 - days), yesterday),
    deps.customers ? customerRows(deps.customers.balances, deps.timeZone, now) : undefined,
    deps.refills ? deps.refills.since(since) : [],
  ]);
  const refillLines = refills
    .slice(-5)
    .reverse()
    .map(
      (r) =>
        `<li>${esc(r.pool)} pool refilled +${esc(formatGb(mbToGb(r.addedMb)))} at ${esc(shortTime(r.at))}</li>`,
    )
    .join('');
  const lowList = deps.customers?.lowList;
  const low = customers && lowList ? customers.filter((r) => isLow(r.figures, lowList)) : [];
  const uncalibrated = customers?.filter((r) => r.figures.uncalibrated) ?? [];
  const customerSection = customers
    ? `<h2>Customers running low (${low.length})</h2>\n${lowCustomerRows(low, customers.length)}\n${notCalibrated(uncalibrated)}`
    : '';

  const series: Series[] = POOLS.map((pool, i) => ({
    name: pool,
    color: POOL_COLORS[pool] ?? '#6b7280',
    points: downsample(histories[i] ?? [], MAX_POINTS).map((s) => ({
      x: Date.parse(s.at),
      y: gbNumber(s.residualMb),
    })),
  })).filter((s) => s.points.length > 0);
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const xLabels: [string, string] = xs.length
    ? [
        shortDay(new Date(Math.min(...xs)).toISOString()),
        shortDay(new Date(Math.max(...xs)).toISOString()),
      ]
    : ['', ''];
  const residualChart = lineChart(
    `Residual traffic per pool, last ${days} days`,
    'GB',
    series,
    xLabels,
  );
  // One bar per day of the window, empty where the series has no figure, so "last 30
  // days" shows 30 slots whatever has been read so far.
  const byDay = new Map(consumption.map((d) => [d.day, d]));
  const consumptionChart = barChart(
    `Daily consumption, last ${days} full days`,
    'GB',
    Array.from({ length: days }, (_, i) => {
      const day = addDays(yesterday, i + 1 - days);
      const d = byDay.get(day);
      return { label: day, value: d ? gbNumber(d.uploadMb.plus(d.downloadMb)) : null };
    }),
    '#f59e0b',
  );
  const next = deps.nextRuns?.() ?? [];
  const nextLine = next.length
    ? `<p class="meta next-runs">Next runs: ${next.map((r) => `${esc(r.name)} ${esc(shortTime(r.at.toISOString()))}`).join(' · ')}.</p>`
    : '';

  const missing = overview.missingPools.length
    ? `<p class="meta">No snapshot yet for: ${esc(overview.missingPools.join(', '))}.</p>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="60">
<title>FlowPilot status</title>
<style>${STYLE}</style>
</head>
<body>
<h1>FlowPilot status</h1>
<p class="meta">Generated ${esc(shortTime(overview.at))}; refreshes every minute. Days left divide the residual by the daily consumption.</p>
<h2>Pools</h2>
<table class="pools"><thead><tr><th>Pool</th><th class="num">Residual</th><th class="num">Left</th><th class="num">Days left</th><th class="num">Burn per day</th><th>Snapshot</th></tr></thead><tbody>${poolRows(overview.pools)}</tbody></table>
${missing}
${refillLines ? `<ul class="refills">${refillLines}</ul>` : ''}
<ul class="polls">${pollLine('Totals poll', overview.polls.totals)}${pollLine('Usage poll', overview.polls.usage)}</ul>
${nextLine}
<h2>Charts</h2>
<div class="charts">
<figure id="residual-chart"><figcaption>Residual per pool (GB; dates UTC)</figcaption>${residualChart}</figure>
<figure id="consumption-chart"><figcaption>Daily consumption (GB; days of the upstream's calendar, ${esc(deps.timeZone)})</figcaption>${consumptionChart}</figure>
</div>
${customerSection}<h2>Open alerts (${overview.openAlerts.length})</h2>
${alertRows(overview)}
</body>
</html>
`;
}

export interface PageResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const HEADERS: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  // Nothing on the page may load or run anything.
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
  'x-content-type-options': 'nosniff',
};

/**
 * For the local runtime's HTTP server: `GET /` (and HEAD) answer the page; a store failure
 * answers a plain 500 without internals (the error goes to the log).
 */
export function statusPageHandler(deps: StatusPageDeps): (method: string) => Promise<PageResponse> {
  return async (method): Promise<PageResponse> => {
    if (method !== 'GET' && method !== 'HEAD') {
      return {
        status: 405,
        headers: { 'content-type': 'text/plain; charset=utf-8', allow: 'GET, HEAD' },
        body: 'method not allowed\n',
      };
    }
    try {
      return { status: 200, headers: HEADERS, body: await renderStatusPage(deps) };
    } catch (err) {
      logger.error('status page failed', { error: err as Error });
      return {
        status: 500,
        headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' },
        body: 'the status page could not be built; see the runtime log\n',
      };
    }
  };
}
