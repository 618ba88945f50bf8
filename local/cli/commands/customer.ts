import { forgetCustomer } from '../../../functions/commons/customer-notices/forget.ts';
import { balanceFigures, usageMb } from '../../../functions/commons/customers/balance.ts';
import { calibrate } from '../../../functions/commons/customers/calibrate.ts';
import { canonicalCustomerId } from '../../../functions/commons/customers/ids.ts';
import type { CustomerRecord } from '../../../functions/commons/store/customer-records.ts';
import { addDays, Decimal, dayInZone, formatGb, mbToGb } from '../../../functions/commons/units.ts';
import {
  dayOption,
  defineCommand,
  type ParsedArgs,
  positiveIntOption,
  printJson,
  stringOption,
} from '../command.ts';
import { EXIT, NotFoundError, UsageError } from '../errors.ts';
import { fields, shortTime, table } from '../format.ts';
import { type LinkArgs, runLink } from './customer-link.ts';

type CustomerArgs =
  | { action: 'show'; customerId: string; days: number }
  | { action: 'calibrate'; customerId: string; gb: Decimal; asOf?: string }
  | { action: 'forget'; customerId: string }
  | ({ action: 'link' } & LinkArgs);

/** What `customer forget` leaves, and why: amounts under the id, no way to reach anyone. */
const KEPT_ON_FORGET = [
  'balance, ledger lines, orders and daily usage: amounts and dates under the customer id, no contact; exactly-once crediting, refunds and reconciliation depend on them',
  'notice episodes (ok / running low / used up): no contact',
  'auto top-up settings: Stripe ids of the card, no contact (flowpilot autotopup off <id> to stop charges)',
];

const BAR_WIDTH = 40;

function customerIdArg(text: string | undefined): string {
  if (text === undefined) throw new UsageError('missing <customerId>');
  try {
    return canonicalCustomerId(text);
  } catch {
    throw new UsageError(`<customerId> must be digits, got ${JSON.stringify(text)}`);
  }
}

/** Daily usage as horizontal bars, one line a day, the longest bar the busiest day. */
export function usageChart(days: readonly { day: string; mb: Decimal }[]): string {
  const max = Decimal.max(0, ...days.map((d) => d.mb));
  return days
    .map((d) => {
      const n = max.isZero() ? 0 : d.mb.div(max).mul(BAR_WIDTH).toDecimalPlaces(0).toNumber();
      const bar = '█'.repeat(n) || (d.mb.gt(0) ? '▏' : '');
      return `${d.day} ${bar.padEnd(BAR_WIDTH)} ${formatGb(mbToGb(d.mb), 2)}\n`;
    })
    .join('');
}

export const customerCommand = defineCommand<CustomerArgs>({
  name: 'customer',
  summary: "one customer's balance, ledger and daily usage; or set its opening balance",
  usage:
    'flowpilot customer <customerId> [--days N] [--json]\n' +
    '       flowpilot customer calibrate <customerId> --gb GB [--as-of yyyy-MM-dd]\n' +
    '       flowpilot customer forget <customerId> [--json]\n' +
    '       flowpilot customer link <customerId> [--days N] [--revoke]',
  details:
    'Shows the balance, the ledger lines it is made of (opening, credits and deductions from\n' +
    "the upstream's records, any channel, the vendor console included) and the daily usage\n" +
    'of the last --days days (default 14) as a chart.\n' +
    'calibrate sets the opening balance: the customer had --gb GB at the end of --as-of (a\n' +
    "day of the upstream's calendar), or now when --as-of is not given; records and usage\n" +
    'after it count. The balance is recomputed at once.\n' +
    "forget erases the customer's personal data: the contact (addresses, name, preferences)\n" +
    'is removed, and in the notice outbox every recipient is masked and every text erased\n' +
    '(open notices are dropped). It says what it kept and why.\n' +
    "link prints a signed link to the customer's own page, valid --days days (default\n" +
    'portal.linkDays); --revoke makes every earlier link and session of the customer invalid.',
  options: {
    days: { type: 'string' },
    gb: { type: 'string' },
    'as-of': { type: 'string' },
    revoke: { type: 'boolean' },
  },
  parse(args: ParsedArgs): CustomerArgs {
    const [first, second, ...rest] = args.positionals;
    if (first === 'forget') {
      if (rest.length) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
      for (const name of ['gb', 'as-of', 'days']) {
        if (stringOption(args, name) !== undefined) {
          throw new UsageError(`--${name} does not belong to flowpilot customer forget`);
        }
      }
      return { action: 'forget', customerId: customerIdArg(second) };
    }
    if (first === 'link') {
      if (rest.length) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
      const days =
        stringOption(args, 'days') === undefined
          ? undefined
          : positiveIntOption(args, 'days', 30, 90);
      return {
        action: 'link',
        customerId: customerIdArg(second),
        days,
        revoke: args.values.revoke === true,
      };
    }
    if (args.values.revoke !== undefined) {
      throw new UsageError('--revoke belongs to flowpilot customer link');
    }
    if (first === 'calibrate') {
      if (rest.length) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
      const customerId = customerIdArg(second);
      const gbText = stringOption(args, 'gb');
      if (gbText === undefined) throw new UsageError('--gb is required');
      if (!/^\d+(\.\d+)?$/.test(gbText)) {
        throw new UsageError(
          `--gb must be a number of GB like 120.5, got ${JSON.stringify(gbText)}`,
        );
      }
      const asOf = dayOption(args, 'as-of');
      return { action: 'calibrate', customerId, gb: new Decimal(gbText), ...(asOf && { asOf }) };
    }
    if (second !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(second)}`);
    for (const name of ['gb', 'as-of']) {
      if (stringOption(args, name) !== undefined) {
        throw new UsageError(`--${name} belongs to flowpilot customer calibrate`);
      }
    }
    return {
      action: 'show',
      customerId: customerIdArg(first),
      days: positiveIntOption(args, 'days', 14, 400),
    };
  },
  async run(args, ctx) {
    const { timeZone } = ctx.config.upstream;
    const now = ctx.clock();
    const today = dayInZone(now, timeZone);
    const gb = (mb: Decimal.Value) => formatGb(mbToGb(mb), 2);
    const { balances, records, usage, pollState } = ctx.stores;
    if (args.action === 'link') return runLink(args, ctx);

    if (args.action === 'forget') {
      const done = await forgetCustomer(ctx.stores, args.customerId, now);
      if (ctx.json) {
        printJson(ctx, { ...done, kept: KEPT_ON_FORGET });
        return EXIT.ok;
      }
      ctx.io.stdout.write(
        `customer ${args.customerId}: ${done.contactRemoved ? 'contact removed' : 'no contact stored'}; ` +
          `${done.outboxEntriesMasked} notice outbox entries kept with the recipient masked and the text erased (they expire after customers.notices.outboxRetentionDays)\n` +
          `kept:\n${KEPT_ON_FORGET.map((k) => `  - ${k}\n`).join('')}` +
          'A later payment that names this customer captures its payer contact again (receipts only, until confirmed).\n',
      );
      return EXIT.ok;
    }

    if (args.action === 'calibrate') {
      if (args.asOf !== undefined && args.asOf >= today) {
        throw new UsageError(`--as-of must be a day before today (${today}), got ${args.asOf}`);
      }
      const { opening, figures } = await calibrate(
        {
          balances,
          records,
          usage,
          pollState,
          timeZone,
          usageCounts: ctx.config.customers.usageCounts,
          clock: ctx.clock,
        },
        { customerId: args.customerId, gb: args.gb, ...(args.asOf && { asOf: args.asOf }) },
      );
      if (ctx.json)
        printJson(ctx, {
          opening: { ...opening, mb: opening.mb.toFixed(), dayBaseMb: opening.dayBaseMb.toFixed() },
          balance: figures,
        });
      else {
        ctx.io.stdout.write(
          `customer ${args.customerId}: opening ${gb(opening.mb)} as of ${shortTime(opening.at)}; ` +
            `balance now ${gb(figures.balanceMb)}\n`,
        );
      }
      return EXIT.ok;
    }

    const stored = await balances.get(args.customerId);
    if (!stored) {
      throw new NotFoundError(
        `no balance for customer ${args.customerId} yet (poll-customers has not seen it)`,
      );
    }
    const { state } = stored;
    const figures = balanceFigures(state, today, now);
    const from = addDays(today, 1 - args.days);
    const [all, rows] = await Promise.all([
      records.byCustomer(args.customerId),
      usage.byCustomer(args.customerId, from, today),
    ]);
    const counted = all.filter((r) => !state.opening || r.at > state.opening.at);
    const byDay = new Map(rows.map((r) => [r.day, r.uploadMb.plus(r.downloadMb)]));
    const days = Array.from({ length: args.days }, (_, i) => addDays(from, i)).map((day) => ({
      day,
      mb: byDay.get(day) ?? new Decimal(0),
    }));
    const line = (r: CustomerRecord) => ({
      at: r.at,
      kind: r.type === 0 ? 'credit' : 'deduction',
      mb: (r.type === 0 ? r.mb : r.mb.negated()).toFixed(),
      by: r.createBy,
    });

    if (ctx.json) {
      printJson(ctx, {
        balance: figures,
        opening: state.opening ? { mb: state.opening.mb.toFixed(), at: state.opening.at } : null,
        creditsMb: state.creditsMb.toFixed(),
        deductionsMb: state.deductionsMb.toFixed(),
        usageMb: usageMb(state).toFixed(),
        ledger: counted.map(line),
        days: days.map((d) => ({ day: d.day, totalMb: d.mb.toFixed() })),
      });
      return EXIT.ok;
    }
    ctx.io.stdout.write(
      fields([
        ['customer', `${figures.customerId}${figures.account ? ` (${figures.account})` : ''}`],
        [
          'balance',
          figures.uncalibrated
            ? `not calibrated: usage exceeds every credit known by ${gb(new Decimal(figures.balanceMb).negated())}; ` +
              `set the opening: flowpilot customer calibrate ${figures.customerId} --gb <GB they have now>`
            : gb(figures.balanceMb),
        ],
        [
          'opening',
          state.opening
            ? `${gb(state.opening.mb)} as of ${shortTime(state.opening.at)}`
            : '0 GB (not calibrated)',
        ],
        ['credits', gb(state.creditsMb)],
        ['deductions', gb(state.deductionsMb)],
        ['usage', gb(usageMb(state))],
        [
          'burn',
          `${figures.burn1dMb ? gb(figures.burn1dMb) : '-'} yesterday, ${figures.burn7dMb ? gb(figures.burn7dMb) : '-'} a day over 7 days`,
        ],
        ['days left', figures.daysLeft === null ? '-' : figures.daysLeft.toFixed(1)],
        ['computed', shortTime(stored.updatedAt)],
      ]),
    );
    ctx.io.stdout.write('\nledger\n');
    ctx.io.stdout.write(
      table(counted, [
        { header: 'AT', value: (r) => shortTime(r.at) },
        { header: 'KIND', value: (r) => (r.type === 0 ? 'credit' : 'deduction') },
        { header: 'GB', value: (r) => `${r.type === 0 ? '+' : '-'}${gb(r.mb)}`, align: 'right' },
        { header: 'BY', value: (r) => r.createBy },
      ]),
    );
    ctx.io.stdout.write(`\ndaily usage, last ${args.days} days\n${usageChart(days)}`);
    return EXIT.ok;
  },
});
