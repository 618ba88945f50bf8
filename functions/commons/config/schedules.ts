import { z } from 'zod';

/** EventBridge schedule expressions; the local runtime reads the same ones. */
const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const CRON = /^cron\(\S+ \S+ \S+ \S+ \S+ \S+\)$/;

export const scheduleExpression = z.string().refine((s) => RATE.test(s) || CRON.test(s), {
  message: 'must be rate(N minutes|hours|days) or cron(min hour dom month dow year)',
});

export const schedulesSchema = z.strictObject({
  pollTotals: scheduleExpression.default('rate(5 minutes)'),
  pollUsage: scheduleExpression.default('rate(1 hour)'),
  reconcile: scheduleExpression.default('cron(30 1 * * ? *)'),
  /** Customer balances: how late a top-up shows (README "Customer balances" on the cost). */
  pollCustomers: scheduleExpression.default('rate(15 minutes)'),
});

export type SchedulesConfig = z.infer<typeof schedulesSchema>;
