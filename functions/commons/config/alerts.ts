import { z } from 'zod';
import { assertTimeZone } from '../units.ts';
import { WEEKDAYS } from './weekdays.ts';

/**
 * A warning and a critical level for a figure that is worse when lower (GB left, percent
 * left, days left). The warning level must be above the critical one, or warning never fires.
 */
function levels(defaults: { warning: number; critical: number }, max: number, unit: string) {
  return z
    .strictObject({
      warning: z
        .number()
        .min(0)
        .max(max)
        .default(defaults.warning)
        .describe('The warning level; must be above `critical`.'),
      critical: z
        .number()
        .min(0)
        .max(max)
        .default(defaults.critical)
        .describe('The critical level.'),
    })
    .superRefine((v, ctx) => {
      const show = (n: number) => (unit === '%' ? `${n}%` : `${n} ${unit}`);
      if (!(v.warning > v.critical)) {
        ctx.addIssue({
          code: 'custom',
          path: ['warning'],
          message: `must be above critical (${show(v.critical)}), got ${show(v.warning)}`,
        });
      }
    })
    .prefault({});
}

const poolSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe('Off for a pool the agent does not use: no low-residual or forecast alert for it.'),
    residualGb: levels({ warning: 200, critical: 50 }, 10_000_000, 'GB').describe(
      'Residual traffic in GB.',
    ),
    residualPercent: levels({ warning: 15, critical: 5 }, 100, '%').describe(
      'Residual traffic as a percent of what was recharged into the pool.',
    ),
  })
  .prefault({});

/** Every rule and event kind an alert can be about (silences and windows name them). */
export const ALERT_RULES = [
  'low-residual',
  'forecast',
  'token-rejected',
  'data-stale',
  'topup-failed',
  'deduction-unknown',
  'amount-mismatch',
  'order-held',
  'reconciliation-difference',
] as const;

const clockTime = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time of day as HH:mm (24-hour), e.g. 02:30');

const zone = z.string().refine(
  (value) => {
    try {
      assertTimeZone(value);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be an IANA time zone, e.g. Europe/Berlin or Asia/Shanghai' },
);

/**
 * A recurring window in which notifications are held (a planned upstream maintenance, the
 * night the pools are refilled). Alerts are still evaluated and recorded; what they would
 * have said is sent when the window ends, if it still holds. `end` before `start` runs
 * past midnight into the next day.
 */
const maintenanceWindowSchema = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .max(100)
      .describe('Name of the window, shown with the alerts it holds.'),
    days: z
      .array(z.enum(WEEKDAYS))
      .min(1)
      .default([...WEEKDAYS])
      .describe('Weekdays on which the window recurs.'),
    start: clockTime.describe('Start of the window, HH:mm in `timeZone`.'),
    end: clockTime.describe(
      'End of the window, HH:mm in `timeZone`; before `start`: runs past midnight.',
    ),
    timeZone: zone.default('UTC').describe('IANA time zone of `start` and `end`.'),
    rules: z
      .array(z.enum(ALERT_RULES))
      .min(1)
      .optional()
      .describe('Absent: every poll rule (money and reconciliation events only when named).'),
    subjects: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe('Absent: every subject (pool, `upstream`, order key).'),
  })
  .refine((w) => w.start !== w.end, { path: ['end'], message: 'must differ from start' });

export const alertsSchema = z.strictObject({
  reminderMinutes: z
    .int()
    .min(5)
    .max(10_080)
    .default(240)
    .describe('Repeat a notification this often while a problem lasts.'),
  hysteresisPercent: z
    .number()
    .min(0)
    .max(100)
    .default(5)
    .describe(
      'A threshold alert clears only this many percent above its level (5: 50 GB clears at 52.5 GB).',
    ),
  holdPolls: z
    .int()
    .min(1)
    .max(100)
    .default(1)
    .describe(
      'A threshold alert (low residual, forecast) fires only after this many polls in a row.',
    ),
  /** ... and is resolved only after the figure stayed clear for this many polls in a row. */
  clearPolls: z
    .int()
    .min(1)
    .max(100)
    .default(2)
    .describe(
      'A threshold alert resolves only after the figure stayed clear this many polls in a row.',
    ),
  flap: z
    .strictObject({
      enabled: z
        .boolean()
        .default(true)
        .describe('Detect flapping and send one notice instead of a stream.'),
      windowPolls: z
        .int()
        .min(3)
        .max(100)
        .default(21)
        .describe('Polls whose statuses are kept to count changes.'),
      startPercent: z
        .number()
        .min(1)
        .max(100)
        .default(30)
        .describe('Share of status changes in the window that starts flapping (percent).'),
      stablePolls: z
        .int()
        .min(1)
        .max(100)
        .default(6)
        .describe('Polls in a row with one status that end flapping.'),
    })
    .refine((f) => f.stablePolls <= f.windowPolls, {
      path: ['stablePolls'],
      message: 'must be at most windowPolls (the polls kept), or flapping never ends',
    })
    .prefault({})
    .describe(
      'Flap detection per rule and subject: one "flapping" notice, then one "settled" notice.',
    ),
  maintenance: z
    .array(maintenanceWindowSchema)
    .max(50)
    .default([])
    .describe('Recurring windows in which notifications are held.'),
  digest: z
    .strictObject({
      enabled: z.boolean().default(false).describe('Send the daily digest email.'),
      time: clockTime.default('08:00').describe('Local time of day the digest goes out, HH:mm.'),
      timeZone: zone.default('UTC').describe('IANA time zone of `time`.'),
    })
    .prefault({})
    .describe(
      'A daily email of everything open, at a local time (not by SMS: it is never critical).',
    ),
  pools: z
    .strictObject({
      primary: poolSchema.describe('Low-residual alert levels of the primary pool.'),
      secondary: poolSchema.describe('Low-residual alert levels of the secondary pool.'),
    })
    .prefault({})
    .describe('Low-residual alert levels per pool.'),
  forecast: z
    .strictObject({
      enabled: z.boolean().default(true).describe('Fire forecast alerts.'),
      daysLeft: levels({ warning: 7, critical: 2 }, 3650, 'days').describe(
        'Days left at the current burn.',
      ),
    })
    .prefault({})
    .describe(
      'Days left = residual ÷ daily burn; fires only when the 1-day and 7-day burns agree.',
    ),
  tokenRejected: z
    .strictObject({
      enabled: z
        .boolean()
        .default(true)
        .describe('Alert when the upstream rejects the access token.'),
    })
    .prefault({})
    .describe('The upstream rejected the access token: always critical.'),
  stale: z
    .strictObject({
      enabled: z.boolean().default(true).describe('Fire the data-stale alert.'),
      failedPolls: z
        .int()
        .min(1)
        .max(1000)
        .default(6)
        .describe('Failed polls in a row that fire it.'),
      maxAgeMinutes: z
        .int()
        .min(1)
        .max(10_080)
        .default(45)
        .describe('Fire it when the last good figures are older than this (minutes).'),
      severity: z
        .enum(['warning', 'critical'])
        .default('critical')
        .describe('Severity of the data-stale alert.'),
    })
    .prefault({})
    .describe('No fresh figures: N failed polls in a row, or the last good one older than T.'),
});

export type AlertsConfig = z.infer<typeof alertsSchema>;
export type AlertsConfigInput = z.input<typeof alertsSchema>;
export type MaintenanceWindow = z.infer<typeof maintenanceWindowSchema>;
