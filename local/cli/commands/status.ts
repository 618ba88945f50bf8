import { type Decimal, formatGb, mbToGb } from '../../../functions/commons/units.ts';
import { collectStatus, type PoolStatus, type StatusOverview } from '../../status/overview.ts';
import { defineCommand, expectPositionals, printJson } from '../command.ts';
import { EXIT } from '../errors.ts';
import { ago, fields, shortTime, table } from '../format.ts';

const percent = (d: Decimal | undefined) => (d ? `${d.toDecimalPlaces(1).toFixed(1)}%` : '-');
const days = (d: Decimal | undefined) => (d ? d.toDecimalPlaces(1).toFixed(1) : '-');

/** The overview as plain JSON: MB and GB as decimal text, never binary floats. */
export function statusJson(o: StatusOverview) {
  return {
    at: o.at,
    pools: o.pools.map((p) => ({
      pool: p.pool,
      snapshotAt: p.at,
      residualMb: p.residualMb.toFixed(),
      residualGb: mbToGb(p.residualMb).toDecimalPlaces(3).toFixed(),
      rechargedMb: p.rechargedMb.toFixed(),
      consumedMb: p.consumedMb.toFixed(),
      residualPercent: p.residualPercent?.toDecimalPlaces(2).toFixed() ?? null,
      burnGbPerDay: p.burnMbPerDay ? mbToGb(p.burnMbPerDay).toDecimalPlaces(3).toFixed() : null,
      burnBasis: p.burnBasis ?? null,
      daysLeft: p.daysLeft?.toDecimalPlaces(1).toFixed() ?? null,
    })),
    missingPools: o.missingPools,
    polls: o.polls,
    openAlerts: o.openAlerts.map((a) => ({
      rule: a.rule,
      subject: a.subject,
      status: a.status,
      openedAt: a.openedAt?.toISOString() ?? null,
      summary: a.summary ?? null,
    })),
  };
}

export function statusText(o: StatusOverview): string {
  const now = new Date(o.at);
  let out = table<PoolStatus>(o.pools, [
    { header: 'POOL', value: (p) => p.pool },
    { header: 'RESIDUAL', value: (p) => formatGb(mbToGb(p.residualMb)), align: 'right' },
    { header: 'LEFT', value: (p) => percent(p.residualPercent), align: 'right' },
    { header: 'DAYS LEFT', value: (p) => days(p.daysLeft), align: 'right' },
    {
      header: 'BURN/DAY',
      value: (p) => (p.burnMbPerDay ? `${formatGb(mbToGb(p.burnMbPerDay))} (${p.burnBasis})` : '-'),
      align: 'right',
    },
    { header: 'SNAPSHOT', value: (p) => `${shortTime(p.at)} (${ago(new Date(p.at), now)})` },
  ]);
  if (o.missingPools.length) out += `no snapshot yet for: ${o.missingPools.join(', ')}\n`;
  const { totals, usage } = o.polls;
  const poll = (h: typeof totals) =>
    h.lastSuccessAt
      ? `${shortTime(h.lastSuccessAt)} (${ago(new Date(h.lastSuccessAt), now)})` +
        (h.consecutiveFailures ? `, ${h.consecutiveFailures} failure(s) since` : '')
      : `never${h.consecutiveFailures ? ` (${h.consecutiveFailures} failure(s))` : ''}`;
  out += `\n${fields([
    ['last totals poll', poll(totals)],
    ['last usage poll', poll(usage)],
    [
      'last poll error',
      totals.lastError && `${totals.lastError.kind}: ${totals.lastError.message}`,
    ],
  ])}`;
  out += `\nopen alerts (${o.openAlerts.length}):\n`;
  out += table(o.openAlerts, [
    { header: 'STATUS', value: (a) => a.status },
    { header: 'RULE', value: (a) => a.rule },
    { header: 'SUBJECT', value: (a) => a.subject },
    { header: 'SINCE', value: (a) => shortTime(a.openedAt?.toISOString()) },
    { header: 'SUMMARY', value: (a) => a.summary ?? '' },
  ]);
  return out;
}

export const statusCommand = defineCommand({
  name: 'status',
  summary: 'each pool: residual GB and %, days left, last poll, open alerts',
  usage: 'flowpilot status [--json]',
  details:
    'Days left divide the residual by the daily burn (7-day average, or the last day until a\n' +
    'week is known), as the forecast alert does: the consumption series for the primary pool,\n' +
    'the NNI series for the secondary one.',
  options: {},
  parse: (args) => {
    expectPositionals(args, []);
    return {};
  },
  async run(_args, ctx) {
    const overview = await collectStatus(ctx.stores);
    if (ctx.json) printJson(ctx, statusJson(overview));
    else ctx.io.stdout.write(statusText(overview));
    return EXIT.ok;
  },
});
