import { z } from 'zod';

/**
 * Automatic top-up (docs/auto-top-up.md): when a customer who opted in runs low, FlowPilot
 * charges the saved card off-session and credits through the webhook once Stripe confirms.
 * Per-customer settings (package, threshold, monthly limit) live in DynamoDB; these are the
 * rules around every customer's charges.
 */
export const autoTopupSchema = z.strictObject({
  actionWaitHours: z
    .number()
    .min(1)
    .max(168)
    .default(24)
    .describe(
      'A 3-D Secure request the customer leaves this long is canceled and an agent told (hours).',
    ),
  cooldownHours: z
    .number()
    .min(0)
    .max(720)
    .default(6)
    .describe('No new episode starts this long after the last one started (hours).'),
  defaultMaxPerMonth: z
    .int()
    .min(1)
    .max(100)
    .default(3)
    .describe(
      'Charges (episodes) one customer may have per calendar month unless set per customer.',
    ),
  maxDeclines: z
    .int()
    .min(1)
    .max(10)
    .default(3)
    .describe('Declined attempts in one episode before auto top-up turns itself off.'),
  retryBackoffMinutes: z
    .int()
    .min(1)
    .max(10_080)
    .default(60)
    .describe('Wait before retrying a declined card; doubles with each further decline (minutes).'),
  /**
   * How long a run owns a started charge. A run that crashed between asking Stripe and
   * recording the answer is retried after it, with the same idempotency key.
   */
  claimSeconds: z
    .int()
    .min(10)
    .max(900)
    .default(120)
    .describe('How long a run owns a started charge.'),
  pendingCheckMinutes: z
    .int()
    .min(5)
    .max(1440)
    .default(60)
    .describe('A charge still not credited this long after Stripe took it is looked up at Stripe.'),
  /**
   * Which paid Checkout Sessions may save a card and turn auto top-up on
   * (`metadata.autoTopup`): `created-by-flowpilot`, only those FlowPilot created for that
   * customer (its customer page); `any`, also those your own shop created (whoever it lets
   * name a customer id can then opt that customer in); `off`, none (the operator's CLI only).
   * Whichever: a card of another Stripe customer than the one on file is refused.
   */
  checkoutOptIn: z
    .enum(['off', 'created-by-flowpilot', 'any'])
    .default('created-by-flowpilot')
    .describe(
      'Which paid Checkout Sessions may turn auto top-up on: those FlowPilot created, any, or none.',
    ),
  pool: z
    .enum(['primary', 'secondary'])
    .default('primary')
    .describe(
      'The agent pool customer top-ups are drawn from (its residual must cover the package).',
    ),
  actionUrl: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .refine((u) => u.includes('{paymentIntentId}') || u.includes('{customerId}'), {
      message: 'must contain {paymentIntentId} or {customerId}',
    })
    .optional()
    .describe(
      'Where a customer completes a 3-D Secure payment; `{customerId}`, `{paymentIntentId}` substituted.',
    ),
});

export type AutoTopupConfig = z.infer<typeof autoTopupSchema>;
