import { z } from 'zod';

// Owned by the alerting work: thresholds, forecast, staleness, reminders, hysteresis.
export const alertsSchema = z.strictObject({
  /** Repeat a notification this often while a problem lasts. */
  reminderMinutes: z.int().min(5).max(10_080).default(240),
});

export type AlertsConfig = z.infer<typeof alertsSchema>;
