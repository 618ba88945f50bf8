import { z } from 'zod';

export const pollingSchema = z.strictObject({
  backfillDays: z
    .int()
    .min(1)
    .max(366)
    .default(30)
    .describe('First run of poll-usage reads this many days back.'),
  pageSize: z
    .int()
    .min(1)
    .max(2000)
    .default(2000)
    .describe("flowReport's documented maximum page."),
  maxPagesInFlight: z.int().min(1).max(16).default(4).describe('Pages fetched at once.'),
  safetyMarginMs: z
    .int()
    .min(0)
    .max(120_000)
    .default(10_000)
    .describe("Stop this long before the Lambda's deadline and resume next run."),
  retentionDays: z
    .int()
    .min(7)
    .max(3650)
    .default(400)
    .describe('Snapshots and usage rows expire after this many days (DynamoDB TTL).'),
});

export type PollingConfig = z.infer<typeof pollingSchema>;
