import { z } from 'zod';

// Owned by the payments work: catalog, limits, provider settings.
export const paymentsSchema = z.strictObject({
  /** Largest webhook body accepted, in bytes; larger answers 413. */
  maxBodyBytes: z.int().min(1024).max(1_048_576).default(65_536),
});

export type PaymentsConfig = z.infer<typeof paymentsSchema>;
