import type { ReconciliationReport } from '../../../functions/commons/reconcile/report-store.ts';
import { reconcile } from '../../../functions/commons/reconcile/run.ts';
import { parseUpstreamDateTime } from '../../../functions/commons/units.ts';
import { dayOption, defineCommand, expectPositionals, printJson } from '../command.ts';
import { EXIT, UsageError } from '../errors.ts';
import { fields, shortTime, table } from '../format.ts';
import { orderKeyText, parseOrderKey } from './orders.ts';

type ReconcileArgs = { window: { from: string; to: string } | undefined };

/** `ORDER#stripe#cs_1` as every other command shows it: `stripe:cs_1`. */
function keyText(pk: string): string {
  try {
    return orderKeyText(parseOrderKey(pk));
  } catch {
    return pk;
  }
}

/** The report for people: keys as `provider:paymentId`, every time in UTC like the rest. */
export function reportText(r: ReconciliationReport, timeZone: string): string {
  const c = r.counts;
  // The upstream writes wall-clock times in its own zone; shown here in UTC like the rest.
  const upstreamTime = (text: string) => {
    try {
      return shortTime(parseUpstreamDateTime(text, timeZone).toISOString());
    } catch {
      return `${text} (${timeZone})`;
    }
  };
  let out = fields([
    ['report', shortTime(r.id)],
    ['window', `${r.window.from} to ${r.window.to} (days in ${timeZone})`],
    ['ledger credits', String(c.ledger)],
    ['upstream recharges', String(c.upstream)],
    ['matched', String(c.matched)],
    ['missing upstream', String(c.missingUpstream)],
    ['amount differences', String(c.amountDifferences)],
    ['manual top-ups', String(c.manualTopUps)],
    ['verdict', r.alerted ? 'DIFFERENCES FOUND (alert raised)' : 'ledger and upstream agree'],
  ]);
  if (r.missingUpstream.length) {
    out += '\ncredited in the ledger, missing upstream:\n';
    out += table(r.missingUpstream, [
      { header: 'ORDER', value: (m) => keyText(m.orderKey) },
      { header: 'CUSTOMER', value: (m) => m.customerId },
      { header: 'GB', value: (m) => m.gb, align: 'right' },
      { header: 'CREDITED', value: (m) => shortTime(m.creditedAt) },
    ]);
  }
  if (r.amountDifferences.length) {
    out += '\namounts that differ:\n';
    out += table(r.amountDifferences, [
      { header: 'ORDER', value: (d) => keyText(d.orderKey) },
      { header: 'CUSTOMER', value: (d) => d.customerId },
      { header: 'LEDGER MB', value: (d) => d.ledgerMb, align: 'right' },
      { header: 'UPSTREAM MB', value: (d) => d.upstreamMb, align: 'right' },
      { header: 'UPSTREAM TIME', value: (d) => upstreamTime(d.upstreamTime) },
    ]);
  }
  if (r.manualTopUps.length) {
    out += '\nupstream recharges with no ledger entry (manual top-ups):\n';
    out += table(r.manualTopUps, [
      { header: 'CUSTOMER', value: (m) => m.customerId },
      { header: 'ACCOUNT', value: (m) => m.account },
      { header: 'MB', value: (m) => m.mb, align: 'right' },
      { header: 'TIME', value: (m) => upstreamTime(m.createTime) },
    ]);
  }
  return out;
}

export const reconcileCommand = defineCommand<ReconcileArgs>({
  name: 'reconcile',
  summary: "compare the ledger's credits with the upstream's recharge records",
  usage: 'flowpilot reconcile [--from yyyy-MM-dd --to yyyy-MM-dd] [--json]',
  details:
    'Without a window: the configured days ending yesterday (upstream calendar), as the daily\n' +
    'run does. The report is kept in DynamoDB; differences raise an alert. Exit 0 either way:\n' +
    'read "alerted" in --json output.',
  options: { from: { type: 'string' }, to: { type: 'string' } },
  parse(args) {
    expectPositionals(args, []);
    const from = dayOption(args, 'from');
    const to = dayOption(args, 'to');
    if ((from === undefined) !== (to === undefined)) {
      throw new UsageError('give both --from and --to, or neither');
    }
    if (from !== undefined && to !== undefined) {
      if (from > to) throw new UsageError(`--from ${from} is after --to ${to}`);
      return { window: { from, to } };
    }
    return { window: undefined };
  },
  async run(args, ctx) {
    const report = await reconcile(
      {
        upstream: ctx.upstream(),
        credits: ctx.stores.ledger,
        reports: ctx.stores.reports,
        sink: ctx.sink,
        clock: ctx.clock,
        config: { timeZone: ctx.config.upstream.timeZone, ...ctx.config.reconcile },
      },
      args.window,
    );
    if (ctx.json) printJson(ctx, report);
    else ctx.io.stdout.write(reportText(report, ctx.config.upstream.timeZone));
    return EXIT.ok;
  },
});
