import type { SeriesStore } from '../../../functions/commons/pollers/store/series.ts';
import type { UsageRecord, UsageStore } from '../../../functions/commons/pollers/store/usage.ts';
import { dayInZone } from '../../../functions/commons/units.ts';
import { flowReportPages } from '../../../functions/commons/upstream/paginate.ts';
import type { DynamicTrafficApi } from '../../../functions/commons/upstream/types.ts';
import {
  dayOption,
  defineCommand,
  expectPositionals,
  printJson,
  requiredOption,
} from '../command.ts';
import { EXIT, UsageError } from '../errors.ts';
import { fields } from '../format.ts';
import { Progress } from '../progress.ts';

export interface BackfillDeps {
  upstream: DynamicTrafficApi;
  usage: UsageStore;
  series: SeriesStore;
  /** Rows per flowReport page (at most 2000). */
  pageSize: number;
  pagesInFlight: number;
  clock: () => Date;
  signal?: AbortSignal;
}

export interface BackfillResult {
  from: string;
  to: string;
  pages: number;
  rows: number;
  written: { usage: number; series: number };
}

export type BackfillProgress = (p: { pages: number; totalPages: number; rows: number }) => void;

/**
 * Re-reads usage for [from, to] from the upstream and upserts every row, with the two daily
 * series for the same days. It does not move poll-usage's cursor: the incremental poll
 * carries on where it was, and finds the rows written here unchanged.
 */
export async function backfillUsage(
  deps: BackfillDeps,
  range: { from: string; to: string },
  onProgress: BackfillProgress = () => {},
): Promise<BackfillResult> {
  const now = deps.clock();
  const query = { startDate: range.from, endDate: range.to };
  const result: BackfillResult = { ...range, pages: 0, rows: 0, written: { usage: 0, series: 0 } };
  const pages = flowReportPages(deps.upstream, query, {
    pageSize: deps.pageSize,
    concurrency: deps.pagesInFlight,
    ...(deps.signal ? { signal: deps.signal } : {}),
  });
  for await (const page of pages) {
    result.pages++;
    result.rows += page.rows.length;
    // One write may not hold the same key twice; the last row of a pair wins.
    const rows = new Map<string, UsageRecord>();
    for (const r of page.rows) {
      rows.set(`${r.customerId}#${r.reportDate}`, {
        customerId: r.customerId,
        day: r.reportDate,
        userName: r.userName,
        uploadMb: r.uploadMb,
        downloadMb: r.downloadMb,
      });
    }
    if (rows.size) result.written.usage += (await deps.usage.put([...rows.values()], now)).items;
    const totalPages = Math.max(result.pages, Math.ceil(page.total / deps.pageSize));
    onProgress({ pages: result.pages, totalPages, rows: result.rows });
  }
  const callOpts = deps.signal ? { signal: deps.signal } : undefined;
  const [consume, nni] = await Promise.all([
    deps.upstream.getFlowConsumeDetail(query, callOpts),
    deps.upstream.getNNIFlowConsumeDetail(query, callOpts),
  ]);
  const written = await Promise.all([
    deps.series.putConsume(
      consume.map((d) => ({ day: d.date, uploadMb: d.uploadMb, downloadMb: d.downloadMb })),
      now,
    ),
    deps.series.putNni(
      nni.map((d) => ({ day: d.date, flowMb: d.flowMb })),
      now,
    ),
  ]);
  result.written.series = written[0].items + written[1].items;
  return result;
}

type BackfillArgs = { from: string; to: string | undefined };

export const backfillCommand = defineCommand<BackfillArgs>({
  name: 'backfill',
  summary: 're-read per-customer usage and daily series for a range of days',
  usage: 'flowpilot backfill --from yyyy-MM-dd [--to yyyy-MM-dd] [--json]',
  details:
    '--to defaults to today in the upstream calendar. Needs the upstream. Progress goes to\n' +
    'stderr: a bar on a terminal, a line per page otherwise. The poll cursor is not moved.',
  options: { from: { type: 'string' }, to: { type: 'string' } },
  parse(args) {
    expectPositionals(args, []);
    requiredOption(args, 'from');
    const from = dayOption(args, 'from') ?? '';
    const to = dayOption(args, 'to');
    if (to !== undefined && from > to) throw new UsageError(`--from ${from} is after --to ${to}`);
    return { from, to };
  },
  async run(args, ctx) {
    const today = dayInZone(ctx.clock(), ctx.config.upstream.timeZone);
    const to = args.to ?? today;
    if (to > today)
      throw new UsageError(`--to ${to} is in the future (today is ${today} upstream)`);
    if (args.from > to) throw new UsageError(`--from ${args.from} is after ${to}`);
    const upstream = ctx.upstream();
    const progress = new Progress(ctx.io.stderr, `backfill ${args.from}..${to}`);
    let result: BackfillResult;
    try {
      result = await backfillUsage(
        {
          upstream,
          usage: ctx.stores.usage,
          series: ctx.stores.series,
          pageSize: ctx.config.polling.pageSize,
          pagesInFlight: ctx.config.polling.maxPagesInFlight,
          clock: ctx.clock,
        },
        { from: args.from, to },
        (p) => progress.update(p.pages, p.totalPages, `pages, ${p.rows} rows`),
      );
    } finally {
      progress.done();
    }
    if (ctx.json) printJson(ctx, result);
    else {
      ctx.io.stdout.write(
        fields([
          ['range', `${result.from} to ${result.to}`],
          ['pages read', String(result.pages)],
          ['usage rows', `${result.rows} read, ${result.written.usage} written`],
          ['series days', `${result.written.series} written`],
        ]),
      );
    }
    return EXIT.ok;
  },
});
