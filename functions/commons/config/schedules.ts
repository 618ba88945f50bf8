import { z } from 'zod';

/** EventBridge schedule expressions; the local runtime reads the same ones. */
const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const CRON = /^cron\(\S+ \S+ \S+ \S+ \S+ \S+\)$/;

export const scheduleExpression = z.string().refine((s) => RATE.test(s) || CRON.test(s), {
  message: 'must be rate(N minutes|hours|days) or cron(min hour dom month dow year)',
});

export const schedulesSchema = z.strictObject({
  pollTotals: scheduleExpression
    .default('rate(5 minutes)')
    .describe('When poll-totals polls the pools (EventBridge expression, UTC).'),
  pollUsage: scheduleExpression
    .default('rate(1 hour)')
    .describe('When poll-usage polls per-customer usage.'),
  reconcile: scheduleExpression
    .default('cron(30 1 * * ? *)')
    .describe('When the daily reconciliation runs.'),
  pollCustomers: scheduleExpression
    .default('rate(15 minutes)')
    .describe('When poll-customers computes balances: how late a top-up shows.'),
});

export type SchedulesConfig = z.infer<typeof schedulesSchema>;
