import { z } from 'zod';

/**
 * CloudWatch Logs retentions of a year or more (AWS Control Tower's CT.CLOUDWATCH.PR.2, which
 * synth enforces, refuses shorter ones): the values CloudWatch accepts from 365 days up.
 */
export const LOG_RETENTION_DAYS = [
  365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

export const logsSchema = z.strictObject({
  retentionDays: z
    .union(
      LOG_RETENTION_DAYS.map((d) => z.literal(d)),
      `must be one of ${LOG_RETENTION_DAYS.join(', ')} (days; at least a year)`,
    )
    .default(365)
    .describe('How long every log group (functions, webhook access logs) keeps its events.'),
});

export type LogsConfig = z.infer<typeof logsSchema>;
