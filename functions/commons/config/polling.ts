import { z } from 'zod';

export const pollingSchema = z.strictObject({
  /** First run of poll-usage reads this many days back. */
  backfillDays: z.int().min(1).max(366).default(30),
  /** flowReport's documented maximum page. */
  pageSize: z.int().min(1).max(2000).default(2000),
  /** Pages fetched at once. */
  maxPagesInFlight: z.int().min(1).max(16).default(4),
  /** Stop this long before the Lambda's deadline and resume next run. */
  safetyMarginMs: z.int().min(0).max(120_000).default(10_000),
  /** Snapshots and usage rows expire after this many days (DynamoDB TTL). */
  retentionDays: z.int().min(7).max(3650).default(400),
});

export type PollingConfig = z.infer<typeof pollingSchema>;
