import { z } from 'zod';

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
