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
      warning: z.number().min(0).max(max).default(defaults.warning),
      critical: z.number().min(0).max(max).default(defaults.critical),
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
    /** Off for a pool the agent does not use: no low-residual or forecast alert for it. */
    enabled: z.boolean().default(true),
    /** Residual traffic in GB. */
    residualGb: levels({ warning: 200, critical: 50 }, 10_000_000, 'GB'),
    /** Residual traffic as a percent of what was recharged into the pool. */
    residualPercent: levels({ warning: 15, critical: 5 }, 100, '%'),
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
    name: z.string().min(1).max(100),
    days: z
      .array(z.enum(WEEKDAYS))
      .min(1)
      .default([...WEEKDAYS]),
    start: clockTime,
    end: clockTime,
    timeZone: zone.default('UTC'),
    /** Absent: every poll rule (money and reconciliation events only when named). */
    rules: z.array(z.enum(ALERT_RULES)).min(1).optional(),
    /** Absent: every subject (pool, `upstream`, order key). */
    subjects: z.array(z.string().min(1)).min(1).optional(),
  })
  .refine((w) => w.start !== w.end, { path: ['end'], message: 'must differ from start' });

export const alertsSchema = z.strictObject({
  /** Repeat a notification this often while a problem lasts. */
  reminderMinutes: z.int().min(5).max(10_080).default(240),
  /**
   * A threshold alert clears only once the figure is this many percent above the level that
   * fired it (e.g. 5: a 50 GB alert clears at 52.5 GB), so a figure hovering at a threshold
   * does not flap.
   */
  hysteresisPercent: z.number().min(0).max(100).default(5),
  /** A threshold alert (low residual, forecast) fires only after this many polls in a row. */
  holdPolls: z.int().min(1).max(100).default(1),
  /** ... and is resolved only after the figure stayed clear for this many polls in a row. */
  clearPolls: z.int().min(1).max(100).default(2),
  /**
   * Flap detection per rule and subject: when the share of status changes over the last
   * `windowPolls` polls reaches `startPercent`, one "flapping" notice, then none until the
   * status held for `stablePolls` polls in a row, then one "settled" notice.
   */
  flap: z
    .strictObject({
      enabled: z.boolean().default(true),
      windowPolls: z.int().min(3).max(100).default(21),
      startPercent: z.number().min(1).max(100).default(30),
      stablePolls: z.int().min(1).max(100).default(6),
    })
    .refine((f) => f.stablePolls <= f.windowPolls, {
      path: ['stablePolls'],
      message: 'must be at most windowPolls (the polls kept), or flapping never ends',
    })
    .prefault({}),
  /** Recurring windows in which notifications are held. */
  maintenance: z.array(maintenanceWindowSchema).max(50).default([]),
  /** A daily email of everything open, at a local time (not by SMS: it is never critical). */
  digest: z
    .strictObject({
      enabled: z.boolean().default(false),
      time: clockTime.default('08:00'),
      timeZone: zone.default('UTC'),
    })
    .prefault({}),
  pools: z.strictObject({ primary: poolSchema, secondary: poolSchema }).prefault({}),
  /** Days left = residual ÷ daily burn; fires only when the 1-day and 7-day burns agree. */
  forecast: z
    .strictObject({
      enabled: z.boolean().default(true),
      daysLeft: levels({ warning: 7, critical: 2 }, 3650, 'days'),
    })
    .prefault({}),
  /** The upstream rejected the access token: always critical. */
  tokenRejected: z.strictObject({ enabled: z.boolean().default(true) }).prefault({}),
  /** No fresh figures: N failed polls in a row, or the last good one older than T. */
  stale: z
    .strictObject({
      enabled: z.boolean().default(true),
      failedPolls: z.int().min(1).max(1000).default(6),
      maxAgeMinutes: z.int().min(1).max(10_080).default(45),
      severity: z.enum(['warning', 'critical']).default('critical'),
    })
    .prefault({}),
});

export type AlertsConfig = z.infer<typeof alertsSchema>;
export type AlertsConfigInput = z.input<typeof alertsSchema>;
export type MaintenanceWindow = z.infer<typeof maintenanceWindowSchema>;
