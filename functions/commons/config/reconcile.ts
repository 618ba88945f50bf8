import { z } from 'zod';

export const reconcileSchema = z.strictObject({
  windowDays: z
    .int()
    .min(1)
    .max(31)
    .default(2)
    .describe("Days checked by each daily run, ending yesterday in the upstream's calendar."),
  toleranceMinutes: z
    .int()
    .min(1)
    .max(1440)
    .default(15)
    .describe(
      "How far outside an order's time, first claim to credit, the upstream's record may be stamped.",
    ),
});

export type ReconcileConfig = z.infer<typeof reconcileSchema>;
