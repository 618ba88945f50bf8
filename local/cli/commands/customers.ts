import {
  type CustomerRow,
  customerRows,
  isLow,
} from '../../../functions/commons/customers/view.ts';
import { formatGb, mbToGb } from '../../../functions/commons/units.ts';
import { defineCommand, expectPositionals, printJson } from '../command.ts';
import { EXIT } from '../errors.ts';
import { shortTime, table } from '../format.ts';

type CustomersArgs = { low: boolean };

/** Why a customer shows no balance, and the command that gives it one. */
export const NOT_CALIBRATED = (n: number) =>
  `${n} customer(s) not calibrated: their usage exceeds every credit known, so the balance needs an opening:\n` +
  '  flowpilot customer calibrate <id> --gb <GB they have now>   (or --as-of yyyy-MM-dd for the end of a day)\n';

export function customerJson(r: CustomerRow) {
  return { ...r.figures, noticeState: r.noticeState ?? null, updatedAt: r.updatedAt || null };
}

export const customersCommand = defineCommand<CustomersArgs>({
  name: 'customers',
  summary: "every customer's traffic balance, days left and last top-up",
  usage: 'flowpilot customers [--low] [--json]',
  details:
    'Balance = opening (flowpilot customer calibrate) + credits − deductions − usage, as\n' +
    'poll-customers last computed it; days left only when the last day and the 7-day burn\n' +
    'agree. --low keeps the customers at or under customers.lowList (GB or days left).\n' +
    'A customer whose usage exceeds every credit known and who has no opening shows "not\n' +
    'calibrated" (JSON: uncalibrated: true) until flowpilot customer calibrate gives it one.\n' +
    'Lowest days left first. --json gives MB as exact decimals.',
  options: { low: { type: 'boolean' } },
  parse(args) {
    expectPositionals(args, []);
    return { low: args.values.low === true };
  },
  async run(args, ctx) {
    const { lowList } = ctx.config.customers;
    const all = await customerRows(ctx.stores.balances, ctx.config.upstream.timeZone, ctx.clock());
    const rows = args.low ? all.filter((r) => isLow(r.figures, lowList)) : all;
    if (ctx.json) {
      printJson(ctx, { customers: rows.map(customerJson) });
      return EXIT.ok;
    }
    const gb = (mb: string) => formatGb(mbToGb(mb), 2);
    ctx.io.stdout.write(
      table(rows, [
        { header: 'ID', value: (r) => r.figures.customerId, align: 'right' },
        { header: 'ACCOUNT', value: (r) => r.figures.account ?? '-' },
        {
          header: 'BALANCE',
          value: (r) => (r.figures.uncalibrated ? 'not calibrated' : gb(r.figures.balanceMb)),
          align: 'right',
        },
        {
          header: 'DAYS LEFT',
          value: (r) => (r.figures.daysLeft === null ? '-' : r.figures.daysLeft.toFixed(1)),
          align: 'right',
        },
        {
          header: 'LAST TOP-UP',
          value: (r) =>
            r.figures.lastCreditMb
              ? `${gb(r.figures.lastCreditMb)} ${shortTime(r.figures.lastCreditAt ?? undefined)}`
              : '-',
        },
        { header: 'NOTICE', value: (r) => r.noticeState || '-' },
      ]),
    );
    if (args.low) ctx.io.stdout.write(`${rows.length} of ${all.length} customer(s) running low\n`);
    const uncalibrated = rows.filter((r) => r.figures.uncalibrated).length;
    if (uncalibrated > 0) ctx.io.stdout.write(NOT_CALIBRATED(uncalibrated));
    return EXIT.ok;
  },
});
