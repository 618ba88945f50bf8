import { canonicalCustomerId } from '../../../functions/commons/customer-id.ts';
import type { UsageRecord } from '../../../functions/commons/pollers/store/usage.ts';
import { formatGb, mbToGb, sum } from '../../../functions/commons/units.ts';
import {
  dayOption,
  defineCommand,
  expectPositionals,
  printJson,
  requiredOption,
} from '../command.ts';
import { EXIT, UsageError } from '../errors.ts';
import { csv, table } from '../format.ts';

type UsageArgs = { customerId: string; from: string; to: string; csv: boolean };

/** Longest range read at once: the store keeps about this much anyway (retention). */
const MAX_DAYS = 800;

const totalMb = (r: UsageRecord) => r.uploadMb.plus(r.downloadMb);

export function usageCsv(rows: readonly UsageRecord[]): string {
  return csv(
    ['day', 'customerId', 'userName', 'uploadMb', 'downloadMb', 'totalMb'],
    rows.map((r) => [
      r.day,
      r.customerId,
      r.userName,
      r.uploadMb.toFixed(),
      r.downloadMb.toFixed(),
      totalMb(r).toFixed(),
    ]),
  );
}

export const usageCommand = defineCommand<UsageArgs>({
  name: 'usage',
  summary: "one customer's daily traffic over a range of days",
  usage: 'flowpilot usage --customer ID --from yyyy-MM-dd --to yyyy-MM-dd [--csv | --json]',
  details:
    'Days are in the upstream calendar, both ends included. --csv writes MB as exact decimals\n' +
    '(day,customerId,userName,uploadMb,downloadMb,totalMb); the table shows GB.',
  options: {
    customer: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    csv: { type: 'boolean' },
  },
  parse(args) {
    expectPositionals(args, []);
    const raw = requiredOption(args, 'customer');
    const customerId = canonicalCustomerId(raw);
    if (customerId === undefined) {
      throw new UsageError(`--customer must be a customer id (digits), got ${JSON.stringify(raw)}`);
    }
    requiredOption(args, 'from');
    requiredOption(args, 'to');
    const from = dayOption(args, 'from') ?? '';
    const to = dayOption(args, 'to') ?? '';
    if (from > to) throw new UsageError(`--from ${from} is after --to ${to}`);
    const span = (Date.parse(to) - Date.parse(from)) / 86_400_000;
    if (span >= MAX_DAYS) throw new UsageError(`the range is longer than ${MAX_DAYS} days`);
    const asCsv = args.values.csv === true;
    if (asCsv && args.values.json === true) throw new UsageError('give --csv or --json, not both');
    return { customerId, from, to, csv: asCsv };
  },
  async run(args, ctx) {
    const rows = await ctx.stores.usage.byCustomer(args.customerId, args.from, args.to);
    if (args.csv) {
      ctx.io.stdout.write(usageCsv(rows));
    } else if (ctx.json) {
      printJson(ctx, {
        customerId: args.customerId,
        from: args.from,
        to: args.to,
        totalMb: sum(rows.map(totalMb)).toFixed(),
        days: rows.map((r) => ({
          day: r.day,
          userName: r.userName,
          uploadMb: r.uploadMb.toFixed(),
          downloadMb: r.downloadMb.toFixed(),
          totalMb: totalMb(r).toFixed(),
        })),
      });
    } else {
      const gb = (mb: Parameters<typeof mbToGb>[0]) => formatGb(mbToGb(mb), 2);
      ctx.io.stdout.write(
        table(rows, [
          { header: 'DAY', value: (r) => r.day },
          { header: 'UPLOAD', value: (r) => gb(r.uploadMb), align: 'right' },
          { header: 'DOWNLOAD', value: (r) => gb(r.downloadMb), align: 'right' },
          { header: 'TOTAL', value: (r) => gb(totalMb(r)), align: 'right' },
        ]),
      );
      const name = rows.find((r) => r.userName)?.userName;
      ctx.io.stdout.write(
        `customer ${args.customerId}${name ? ` (${name})` : ''}: ${gb(sum(rows.map(totalMb)))} ` +
          `over ${rows.length} day(s) with traffic, ${args.from} to ${args.to}\n`,
      );
    }
    return EXIT.ok;
  },
});
