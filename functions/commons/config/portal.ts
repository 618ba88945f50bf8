import { z } from 'zod';

/** The customer page (`/portal/…`) and the signed links that open it. */
export const portalSchema = z.strictObject({
  /**
   * Where customers reach the page, without the `/portal` path: the HTTP API's URL or a
   * custom domain in front of it. Links are built from it; absent, the CLI uses the running
   * local runtime's address.
   */
  baseUrl: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .transform((u) => u.replace(/\/+$/, ''))
    .optional()
    .describe(
      "Where customers reach the page, without `/portal`; absent: the CLI uses the local runtime's.",
    ),
  linkDays: z
    .int()
    .min(1)
    .max(90)
    .default(30)
    .describe(
      'How long a link printed by `flowpilot customer link` stays valid, unless `--days` says.',
    ),
  sessionHours: z
    .int()
    .min(1)
    .max(24)
    .default(8)
    .describe('Lifetime of the session a link opens: hours, not days.'),
  rateLimit: z
    .strictObject({
      perCustomerPerMinute: z
        .int()
        .min(5)
        .max(10_000)
        .default(60)
        .describe('Requests per minute of one customer.'),
      perAddressPerMinute: z
        .int()
        .min(5)
        .max(10_000)
        .default(120)
        .describe('Requests per minute of one source address.'),
    })
    .prefault({})
    .describe('Requests per minute of one customer, and of one source address, before 429.'),
});

export type PortalConfig = z.infer<typeof portalSchema>;
